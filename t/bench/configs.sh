# The three gateways the benches compare, each an mTLS server on its own
# port in front of the Go target, sourced by run.sh and callgrind.sh so
# that the throughput and the instruction counts measure the same configs:
#
#   plain   proxy_pass only;
#   stock   what an operator writes by hand with stock nginx: allow/deny,
#           RBAC by a map on $ssl_client_s_dn and the URI, limit_req per
#           client DN, and a JSON access_log;
#   module  pprof on: certificate identity, pprof_allow, a rate on
#           cmdline, and the audit log.
#
# Both limits are far above any rate the benches reach: the figures are of
# the bookkeeping, never of a refusal.

# bench_pki DIR: a CA, the server's certificate, and alice's client
# certificate, whose subject the stock map reads and whose URI SAN the
# module binds.
bench_pki() {
    local d=$1 ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

    openssl req -x509 $ec -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 \
        -subj /CN=bench-ca 2>/dev/null
    openssl req -x509 $ec -keyout "$d/server.key" -out "$d/server.crt" \
        -days 2 -subj /CN=localhost -CA "$d/ca.crt" -CAkey "$d/ca.key" \
        2>/dev/null
    openssl req -x509 $ec -keyout "$d/alice.key" -out "$d/alice.crt" \
        -days 2 -subj /O=example/CN=alice \
        -addext subjectAltName=URI:spiffe://prod.example/ns/sre/alice \
        -CA "$d/ca.crt" -CAkey "$d/ca.key" 2>/dev/null
}

# bench_upstream DIR TARGET_PORT: what every config's http block holds.
bench_upstream() {
    cat <<CONF
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    upstream target { server 127.0.0.1:$2; keepalive 16; }
CONF
}

# bench_http KIND: the http-level part of KIND.
bench_http() {
    case $1 in
    stock)
        cat <<'CONF'
    map $ssl_client_s_dn $pprof_role {
        default                     "";
        "CN=alice,O=example"        sre;
        ~^CN=[^,]+,OU=dev,O=example$ viewer;
    }
    map "$pprof_role $uri" $pprof_allowed {
        default 0;
        "~^(sre|viewer) /debug/pprof/(|cmdline|symbol)$" 1;
        "~^sre /debug/pprof/(heap|goroutine|allocs|block|mutex|threadcreate|profile|trace)$" 1;
    }
    limit_req_zone $ssl_client_s_dn zone=per_dn:10m rate=100000r/s;
    log_format pprof_json escape=json '{"time":"$time_iso8601",'
        '"client":"$remote_addr","dn":"$ssl_client_s_dn",'
        '"role":"$pprof_role","method":"$request_method",'
        '"uri":"$request_uri","status":$status,"bytes":$bytes_sent,'
        '"upstream":"$upstream_addr","request_time":$request_time}';
CONF
        ;;
    module)
        cat <<'CONF'
    pprof_role viewer index cmdline symbol;
    pprof_role sre index cmdline symbol snapshot capture;
    pprof_bind ~^spiffe://prod\.example/ns/sre/ sre;
    pprof_bind ~^spiffe://prod\.example/ns/dev/ viewer;
CONF
        ;;
    esac
}

# bench_server KIND DIR PORT: KIND's server.
bench_server() {
    local kind=$1 d=$2 port=$3

    cat <<CONF
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $d/server.crt;
        ssl_certificate_key $d/server.key;
        ssl_client_certificate $d/ca.crt;
        ssl_verify_client on;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /debug/pprof/ {
CONF

    case $kind in
    stock)
        cat <<CONF
            allow 127.0.0.1;
            deny all;
            if (\$pprof_allowed = 0) {
                return 403;
            }
            limit_req zone=per_dn burst=100000 nodelay;
            access_log $d/stock-access.jsonl pprof_json;
CONF
        ;;
    module)
        cat <<CONF
            pprof on;
            pprof_allow 127.0.0.1;
            pprof_identity cert;
            pprof_rate cmdline 100000r/s burst=100000;
            pprof_audit_log $d/audit.jsonl;
CONF
        ;;
    esac

    cat <<'CONF'
            proxy_pass http://target;
        }
    }
CONF
}
