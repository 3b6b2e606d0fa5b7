#!/usr/bin/env bash
# `make soak`: the gateway under mixed load for SOAK_SECONDS (600), with a
# reload every SOAK_RELOAD seconds (60): Debian's nginx with the module
# and two workers, in front of the Go target, over mTLS, with a signed
# audit log.  The load (t/bench/soak_client.py):
#
#   cmdline   SOAK_CONNS (6) kept-alive mTLS connections as alice, each
#             asking again as soon as it has its answer;
#   captures  SOAK_LOOPS (2) loops, each alternating a heap snapshot and
#             profile?seconds=2 on new connections from rotating
#             identities (three certificates, two JWTs, an API key), a
#             third of the profiles aborted after 0.2-1.5 s.
#
# Every SOAK_SAMPLE seconds (10) it records the RSS and open descriptors
# of the master and of every worker, those shutting down after a reload
# included.  Then it stops nginx, verifies the audit log with its public
# key, and t/bench/soak_report.py prints the figures and writes
# build/soak/summary.json.  The exit status is 1 when error.log has an
# [alert], a request got no answer within SOAK_TIMEOUT seconds (30), Go's
# 500 reached a client, or the audit log does not verify.
#
# Everything is under build/soak/, kept for reading; a new run starts
# afresh.  The audit log grows by about 1 GB every two minutes of the full
# load.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build
dir=$build/soak
nginx=${NGINX:-/usr/sbin/nginx}
seconds=${SOAK_SECONDS:-600}
reload=${SOAK_RELOAD:-60}
every=${SOAK_SAMPLE:-10}
timeout=${SOAK_TIMEOUT:-30}
conns=${SOAK_CONNS:-6}
loops=${SOAK_LOOPS:-2}

rm -rf "$dir"
mkdir -p "$dir"
chmod 755 "$dir"

pids=""
cleanup() {
    [ -z "$pids" ] || kill $pids 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo "soak: interrupted; build/soak/ holds what ran" >&2; exit 130' \
    INT TERM

# The PKI: bench_pki's CA, server and alice (cmdline), and three more
# client certificates of the same kind for the captures.
. "$root/t/bench/configs.sh"
bench_pki "$dir"
for name in carol dave erin; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/$name.key" -out "$dir/$name.crt" -days 2 \
        -subj "/O=example/CN=$name" \
        -addext "subjectAltName=URI:spiffe://prod.example/ns/sre/$name" \
        -CA "$dir/ca.crt" -CAkey "$dir/ca.key" 2>/dev/null
done

# Two JWTs signed by one ES256 key, valid for the run and an hour more.
jwt=$build/pprof-jwt
"$jwt" keygen ES256 "$dir/jwt"
printf '{"keys":[%s]}\n' "$("$jwt" jwk ES256 "$dir/jwt" soak alg)" \
    > "$dir/jwks.json"
exp=$(( $(date +%s) + seconds + 3600 ))
token() {
    "$jwt" sign ES256 "$dir/jwt" '{"alg":"ES256","typ":"JWT","kid":"soak"}' \
        "{\"sub\":\"$1\",\"exp\":$exp}"
}

# An API key, listed by its digest.
apikey=$(openssl rand -hex 24)
printf '%s parca oncall\n' "$(printf %s "$apikey" | sha256sum | cut -d' ' -f1)" \
    > "$dir/api_keys"

# The audit log's signing key and the public key that verifies it.
openssl genpkey -algorithm ed25519 -out "$dir/audit.key"
openssl pkey -in "$dir/audit.key" -pubout -out "$dir/audit.pub"

cat > "$dir/identities.json" <<JSON
[
 {"name": "carol (cert)", "cert": "$dir/carol.crt", "key": "$dir/carol.key"},
 {"name": "frank (jwt)", "authorization": "Bearer $(token frank@example.com)"},
 {"name": "dave (cert)", "cert": "$dir/dave.crt", "key": "$dir/dave.key"},
 {"name": "parca (apikey)", "authorization": "Bearer $apikey"},
 {"name": "erin (cert)", "cert": "$dir/erin.crt", "key": "$dir/erin.key"},
 {"name": "grace (jwt)", "authorization": "Bearer $(token grace@example.com)"}
]
JSON

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
target_port=$(free_port)
port=$(free_port)

# Rates per identity above what the loops ask for, so that the 429s are
# the slots' (capture_busy) and not the buckets'.
cat > "$dir/nginx.conf" <<CONF
load_module $build/ngx_http_pprof_module.so;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log notice;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    upstream target { server 127.0.0.1:$target_port; keepalive 16; }

    pprof_role oncall index cmdline symbol snapshot capture;
    pprof_bind ~^spiffe://prod\.example/ns/sre/ oncall source=cert;
    pprof_bind ~^[a-z]+@example\.com$ oncall source=jwt;
    pprof_jwt_keys $dir/jwks.json;
    pprof_api_keys $dir/api_keys;
    pprof_audit_log $dir/audit.jsonl;
    pprof_audit_signing_key $dir/audit.key;

    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $dir/server.crt;
        ssl_certificate_key $dir/server.key;
        ssl_client_certificate $dir/ca.crt;
        ssl_verify_client optional;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /debug/pprof/ {
            pprof on;
            pprof_identity cert jwt apikey;
            pprof_rate capture 60r/m burst=10;
            pprof_rate snapshot 120r/m burst=20;
            proxy_pass http://target;
        }
    }
}
CONF

"$build/pprof-target" -listen 127.0.0.1:$target_port \
    2>"$dir/target.stderr" &
pids="$pids $!"
"$nginx" -p "$dir/" -c "$dir/nginx.conf" -g 'daemon off;' \
    2>"$dir/nginx.stderr" &
master=$!
pids="$pids $master"

up() { (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; }
for _ in $(seq 100); do
    up "$port" && up "$target_port" && break
    sleep 0.1
done
if ! up "$port" || ! up "$target_port"; then
    cat "$dir/nginx.stderr" "$dir/error.log" "$dir/target.stderr" >&2
    echo "soak: nginx or the target did not start" >&2
    exit 1
fi

echo "soak: ${seconds}s of load on 127.0.0.1:$port, a reload every" \
    "${reload}s, samples every ${every}s; $(nproc) cores, load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg); files in $dir"

client=$root/t/bench/soak_client.py
python3 "$client" cmdline "$port" "$dir/ca.crt" "$dir/alice.crt" \
    "$dir/alice.key" "$conns" "$seconds" "$timeout" "$dir/cmdline.json" &
cmdline_pid=$!
python3 "$client" captures "$port" "$dir/ca.crt" "$dir/identities.json" \
    "$loops" "$seconds" "$timeout" "$dir/captures.json" &
captures_pid=$!
pids="$pids $cmdline_pid $captures_pid"

# sample: one line per nginx process: seconds since the start, pid, role
# (master, worker, or exiting for a worker shutting down after a
# reload), RSS in kB, open descriptors.
start=$(date +%s)
sample() {
    local t=$(( $(date +%s) - start )) pid role rss fds

    for pid in $master $(pgrep -P "$master" || true); do
        case $(tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null) in
        *master*) role=master ;;
        *shutting*) role=exiting ;;
        *worker*) role=worker ;;
        *) continue ;;
        esac
        rss=$(awk '/^VmRSS:/ { print $2 }' /proc/$pid/status 2>/dev/null) \
            || continue
        # Gone since its RSS was read (an old worker exiting): under
        # pipefail, ls's failure would otherwise end the whole soak.
        fds=$(ls /proc/$pid/fd 2>/dev/null | wc -l) || continue
        echo "$t $pid $role ${rss:-0} $fds" >> "$dir/samples"
    done
}

# Samples and reloads, once a second, while the clients run.
next_sample=0
next_reload=$reload
while kill -0 $cmdline_pid 2>/dev/null || kill -0 $captures_pid 2>/dev/null
do
    if ! kill -0 "$master" 2>/dev/null; then
        echo "soak: nginx exited during the run" >> "$dir/stop-problems"
        kill $cmdline_pid $captures_pid 2>/dev/null || true
        break
    fi
    t=$(( $(date +%s) - start ))
    if [ "$t" -ge "$next_sample" ]; then
        sample
        next_sample=$(( next_sample + every ))
    fi
    if [ "$t" -ge "$next_reload" ] && [ "$t" -lt "$seconds" ]; then
        kill -HUP "$master" 2>/dev/null || true
        echo "$t" >> "$dir/reloads"
        next_reload=$(( next_reload + reload ))
    fi
    sleep 1
done
sample
wait $cmdline_pid $captures_pid || true

# A graceful stop, so that an exiting worker's problems are seen as well
# and the master writes the final checkpoint.
kill -QUIT "$master" 2>/dev/null || true
for _ in $(seq 600); do
    kill -0 "$master" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$master" 2>/dev/null; then
    echo "soak: nginx did not stop within 60 s of QUIT" >> "$dir/stop-problems"
    kill -KILL $(pgrep -P "$master") "$master" 2>/dev/null || true
fi
wait "$master" || echo "soak: nginx exited with status $?" \
    >> "$dir/stop-problems"

set +e
"$build/pprof-audit" verify "$dir/audit.jsonl" --pubkey "$dir/audit.pub" \
    > "$dir/verify.out" 2>&1
echo $? > "$dir/verify.rc"
set -e

python3 "$root/t/bench/soak_report.py" "$dir" "$seconds" "$reload" \
    "$timeout"
