#!/usr/bin/env bash
# `make run`: a dev PKI, the demo Go service and nginx with the module in
# front of it on https://127.0.0.1:8443.  Foreground until Ctrl-C.
#
# The PKI, the audit key and the API key are kept in build/demo and reused
# by the next run while the certificates have a day left, so clients set
# up once keep working; rm -r build/demo (or make clean) makes new ones.
# PPROF_DEMO_DIR, PPROF_DEMO_PORT and PPROF_DEMO_UPSTREAM move the demo
# elsewhere, and PPROF_MODULE, PPROF_TARGET and NGINX replace what it runs
# (the tests run it beside a user's demo, with the nginx under test).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
demo=${PPROF_DEMO_DIR:-$root/build/demo}
module=${PPROF_MODULE:-$root/build/ngx_http_pprof_module.so}
target=${PPROF_TARGET:-$root/build/pprof-target}
nginx=${NGINX:-/usr/sbin/nginx}
unset NGINX                 # to nginx, NGINX lists inherited sockets
port=${PPROF_DEMO_PORT:-8443}
upstream=${PPROF_DEMO_UPSTREAM:-127.0.0.1:6060}

for p in $port ${upstream#*:}; do
    if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
        echo "port $p is in use; stop whatever listens there first" >&2
        exit 1
    fi
done

mkdir -p "$demo"
chmod 755 "$demo"
cd "$demo"

# Everything a client is given, reused while every certificate is valid
# for another day.
keys_usable() {
    local f
    for f in ca.key audit.key audit.pub api.keys scraper.apikey; do
        [ -s "$f" ] || return 1
    done
    for f in ca server operator viewer; do
        [ -s "$f.key" ] && openssl x509 -in "$f.crt" -noout -checkend 86400 \
            >/dev/null 2>&1 || return 1
    done
}

make_keys() {
    # Dev PKI: one CA for the server and the clients, EC P-256 keys.
    cat > pki.cnf <<'CNF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
[server]
subjectAltName = DNS:localhost, IP:127.0.0.1
extendedKeyUsage = serverAuth
[operator]
subjectAltName = URI:spiffe://demo.local/ns/sre/operator
extendedKeyUsage = clientAuth
[viewer]
subjectAltName = URI:spiffe://demo.local/ns/dev/viewer
extendedKeyUsage = clientAuth
CNF

    key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

    key ca
    openssl req -x509 -new -key ca.key -subj "/CN=pprof-gateway dev CA" \
        -days 30 -config pki.cnf -extensions ca -out ca.crt
    for name in server operator viewer; do
        key $name
        openssl req -new -key $name.key -subj "/CN=$name" -config pki.cnf \
            -out $name.csr
        openssl x509 -req -in $name.csr -CA ca.crt -CAkey ca.key \
            -CAcreateserial -days 30 -extfile pki.cnf -extensions $name \
            -out $name.crt 2>/dev/null
    done
    openssl genpkey -algorithm ed25519 -out audit.key 2>/dev/null
    openssl pkey -in audit.key -pubout -out audit.pub
    chmod 644 ./*.key

    # An API key for tools that take only a URL; the file holds its digest.
    openssl rand -hex 16 | tr -d '\n' > scraper.apikey
    printf '%s scraper scraper\n' "$(sha256sum < scraper.apikey | cut -d' ' -f1)" \
        > api.keys
}

if keys_usable; then
    keys="reused from the last run (rm -r $demo makes new ones)"
else
    # New keys: the old audit log was signed with the old audit key.
    rm -rf ./*.crt ./*.key ./*.csr ./*.srl audit.pub api.keys scraper.apikey logs
    make_keys
    keys="new; kept in $demo for the next run"
fi
apikey=$(cat scraper.apikey)
rm -f nginx.pid

mkdir -p logs
cat > nginx.conf <<CONF
load_module $module;
worker_processes 2;
pid $demo/nginx.pid;
error_log $demo/logs/error.log info;
events { worker_connections 256; }
http {
    access_log $demo/logs/access.log;
    client_body_temp_path $demo/client_body_temp;
    proxy_temp_path $demo/proxy_temp;

    pprof_audit_log $demo/logs/pprof_audit.jsonl;
    pprof_audit_signing_key $demo/audit.key;
    pprof_audit_checkpoint 5;

    pprof_role viewer index cmdline symbol;
    pprof_role oncall index cmdline symbol snapshot capture;
    pprof_role scraper snapshot capture;
    pprof_bind ~^spiffe://demo\.local/ns/sre/ oncall source=cert;
    pprof_bind ~^spiffe://demo\.local/ns/dev/ viewer source=cert;

    server {
        listen 127.0.0.1:$port ssl;
        server_name localhost;
        ssl_certificate $demo/server.crt;
        ssl_certificate_key $demo/server.key;
        ssl_client_certificate $demo/ca.crt;
        ssl_verify_client optional;

        location /debug/pprof/ {
            pprof on;
            pprof_identity cert apikey;
            pprof_api_keys $demo/api.keys;
            pprof_max_seconds 30;
            # The scraper's key on Parca's or Alloy's default schedule
            # (docs/capture-control.md); people share the rate and the slot.
            pprof_rate capture 7r/m burst=2;
            proxy_pass http://$upstream;
        }
    }
}
CONF

pids=()
names=()
stop_all() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
# Ctrl-C and kill are how the demo is meant to end.
stopped() {
    trap - INT TERM EXIT
    stop_all
    echo
    echo "stopped"
    exit 0
}
trap stopped INT TERM
trap stop_all EXIT

"$target" -listen "$upstream" -log "$demo/logs/target.log" \
    -api-token demo-token-123 -db-password hunter2 2>"$demo/logs/target.err" &
pids+=($!)
names+=("the demo Go service")

"$nginx" -p "$demo/" -c "$demo/nginx.conf" -g 'daemon off;' &
pids+=($!)
names+=(nginx)

for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
    sleep 0.1
done
if ! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "nginx did not start:" >&2
    cat "$demo/logs/error.log" >&2
    exit 1
fi

d=$demo
cat <<TXT

  pprof gateway: https://localhost:$port/debug/pprof/  ->  demo Go service on $upstream
  dev PKI and logs in $d
  its keys and certificates: $keys

  # cmdline as the operator (spiffe://demo.local/ns/sre/operator, role oncall)
  curl --cacert $d/ca.crt --cert $d/operator.crt --key $d/operator.key \\
       https://localhost:$port/debug/pprof/cmdline | tr '\\0' ' '; echo

  # a heap profile, then open it
  curl --cacert $d/ca.crt --cert $d/operator.crt --key $d/operator.key \\
       -o heap.pb.gz https://localhost:$port/debug/pprof/heap
  go tool pprof -top heap.pb.gz

  # a 5-second CPU profile
  curl --cacert $d/ca.crt --cert $d/operator.crt --key $d/operator.key \\
       -o cpu.pb.gz 'https://localhost:$port/debug/pprof/profile?seconds=5'
  go tool pprof -top cpu.pb.gz

  # the profile says who fetched it, and the gateway's seal proves it
  go tool pprof -comments cpu.pb.gz
  $root/build/pprof-audit verify-profile cpu.pb.gz --pubkey $d/audit.pub

  # go tool pprof straight from the gateway with the scraper's API key in
  # the URL (it sends no client certificate; the key is echoed on stderr)
  SSL_CERT_FILE=$d/ca.crt go tool pprof -top \\
       https://scraper:$apikey@localhost:$port/debug/pprof/heap

  # the viewer (role viewer) may read cmdline, with its secrets as ***
  curl -s --cacert $d/ca.crt --cert $d/viewer.crt --key $d/viewer.key \\
       https://localhost:$port/debug/pprof/cmdline | tr '\\0' ' '; echo

  # but gets 403 on heap
  curl -i --cacert $d/ca.crt --cert $d/viewer.crt --key $d/viewer.key \\
       https://localhost:$port/debug/pprof/heap

  # every request above left a hash-chained record; check the trail
  tail -n 2 $d/logs/pprof_audit.jsonl
  $root/build/pprof-audit verify $d/logs/pprof_audit.jsonl --pubkey $d/audit.pub

  Ctrl-C stops the gateway and the demo service.
TXT

status=0
wait -n "${pids[@]}" || status=$?
for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
        echo "${names[$i]} exited (status $status); see $d/logs" >&2
    fi
done
exit 1
