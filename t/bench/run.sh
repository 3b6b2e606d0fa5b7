#!/usr/bin/env bash
# `make bench`: the core's decision cost in a loop, then nginx proxying to
# the Go target with and without the module in front (wrk, loopback, plain
# HTTP so that TLS cost does not hide the difference), then the three
# mTLS gateways of configs.sh side by side: plain proxying, the stock
# secure config, and the module; last, shared.sh: what a capture's
# admission through Redis (pprof_shared_state) costs.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build
dir=$build/bench
nginx=${NGINX:-/usr/sbin/nginx}
duration=${BENCH_SECONDS:-5}

if ! command -v wrk >/dev/null; then
    ${SUDO:-} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

rm -rf "$dir"
mkdir -p "$dir"
chmod 755 "$dir"

cc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror -I"$root" \
    -I"$build/gen" -o "$dir/bench_core" "$root/t/bench/bench_core.c" \
    "$root"/policy/*.c "$root"/proxy/*.c "$build/gen/proxy/profile.pb-c.c" \
    -lssl -lcrypto -lpcre2-8 -ljansson -lz -lprotobuf-c
"$dir/bench_core"

cc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror -I"$root" \
    -o "$dir/bench_jwt" "$root/t/bench/bench_jwt.c" \
    "$root/t/tools/jwt_sign.c" "$root"/auth/*.c "$root"/policy/*.c \
    -lssl -lcrypto -lpcre2-8 -ljansson
"$dir/bench_jwt"

# The annotator on a 50 MiB profile (the target's synthetic heap), against
# plain inflating of the same bytes.
"$build/pprof-target" -write-synthetic "$dir/heap-50m.pb.gz" \
    -synthetic-heap-mb 50
cc -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -Werror -I"$root" \
    -I"$build/gen" -o "$dir/bench_annotate" "$root/t/bench/bench_annotate.c" \
    "$root"/policy/*.c "$root"/proxy/*.c "$build/gen/proxy/profile.pb-c.c" \
    -lssl -lcrypto -lpcre2-8 -ljansson -lz -lprotobuf-c
"$dir/bench_annotate" "$dir/heap-50m.pb.gz"

. "$root/t/bench/configs.sh"
bench_pki "$dir"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
target_port=$(free_port)
gw_port=$(free_port)
front_port=$(free_port)
declare -A tls_port
for kind in plain stock module; do
    tls_port[$kind]=$(free_port)
done

"$build/pprof-target" -listen 127.0.0.1:$target_port 2>/dev/null &
target_pid=$!

cat > "$dir/nginx.conf" <<CONF
load_module $build/ngx_http_pprof_module.so;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
    access_log off;
$(bench_upstream "$dir" "$target_port")
$(bench_http stock)
$(bench_http module)
    pprof_bind anonymous viewer;
$(bench_server plain "$dir" ${tls_port[plain]})
$(bench_server stock "$dir" ${tls_port[stock]})
$(bench_server module "$dir" ${tls_port[module]})
    server {
        listen 127.0.0.1:$gw_port;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        location /debug/pprof/ {
            pprof on;
            pprof_tls off;
            pprof_identity anonymous;
            pprof_rate off;
            proxy_pass http://target;
        }
        # The same with the zone's work on every request: lock, lookup,
        # rate update (a rate no request reaches).
        location /zone/debug/pprof/ {
            pprof on;
            pprof_tls off;
            pprof_prefix /zone/debug/pprof/;
            pprof_identity anonymous;
            pprof_rate cmdline 1000000r/s burst=100000;
            proxy_pass http://target/debug/pprof/;
        }
        # And with both audit records of every request written.
        location /audit/debug/pprof/ {
            pprof on;
            pprof_tls off;
            pprof_prefix /audit/debug/pprof/;
            pprof_identity anonymous;
            pprof_rate cmdline 1000000r/s burst=100000;
            pprof_audit_log $dir/audit.jsonl;
            proxy_pass http://target/debug/pprof/;
        }
        location /plain/debug/pprof/ {
            proxy_pass http://target/debug/pprof/;
        }
        # The authorization service's check against the cheapest answer
        # nginx can give; both audited checks and not.
        location = /ok {
            return 200;
        }
        location /authz/ {
            pprof_authz envoy;
            pprof_authz_prefix /authz;
            pprof_trusted_proxies 127.0.0.1;
            pprof_tls off;
            pprof_identity anonymous;
        }
        location /authz-audit/ {
            pprof_authz envoy;
            pprof_authz_prefix /authz-audit;
            pprof_trusted_proxies 127.0.0.1;
            pprof_tls off;
            pprof_identity anonymous;
            pprof_audit_log $dir/authz-audit.jsonl;
        }
    }
}
CONF

# wrk speaks no mTLS: a second nginx takes its plain requests to the
# gateways over mTLS keep-alive connections, as alice.  Its own CPU is
# not counted.
mkdir -p "$dir/front"
cat > "$dir/front/nginx.conf" <<CONF
worker_processes 1;
pid $dir/front/nginx.pid;
error_log $dir/front/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/front/body;
    proxy_temp_path $dir/front/proxy;
    upstream plain { server 127.0.0.1:${tls_port[plain]}; keepalive 16; }
    upstream stock { server 127.0.0.1:${tls_port[stock]}; keepalive 16; }
    upstream module { server 127.0.0.1:${tls_port[module]}; keepalive 16; }
    server {
        listen 127.0.0.1:$front_port;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_ssl_certificate $dir/alice.crt;
        proxy_ssl_certificate_key $dir/alice.key;
        location /plain/ { proxy_pass https://plain/; }
        location /stock/ { proxy_pass https://stock/; }
        location /module/ { proxy_pass https://module/; }
    }
}
CONF

"$nginx" -p "$dir/" -c "$dir/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
"$nginx" -p "$dir/front/" -c "$dir/front/nginx.conf" -g 'daemon off;' &
front_pid=$!
trap 'kill $nginx_pid $front_pid $target_pid 2>/dev/null; wait 2>/dev/null || true' EXIT
sleep 1

# nginx's own CPU per request (workers' utime + stime), so the module's
# share is visible apart from the target's and wrk's.
nginx_ticks() {
    local t=0 pid
    for pid in $(pgrep -P "$nginx_pid"); do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$t"
}
hz=$(getconf CLK_TCK)

# wrk on one URL for $duration seconds: its rate, latency, and the
# gateway's CPU per request.
measure() {
    local label=$1 url=$2 before after out requests

    before=$(nginx_ticks)
    out=$(wrk -t1 -c16 -d"${duration}s" "$url")
    after=$(nginx_ticks)
    requests=$(echo "$out" | awk '/requests in/ { print $1 }')
    echo "$out" | awk -v label="$label" -v ticks=$((after - before)) \
        -v hz="$hz" -v n="$requests" '
        /Latency/ { lat = $2 }
        /Requests\/sec/ { rps = $2 }
        END { printf "%-28s %12s %14s %19.1f us\n", label, rps, lat,
                     ticks / hz / n * 1e6 }'
}

printf '%-28s %12s %14s %22s\n' location req/s "latency avg" "nginx CPU per request"
for path in /plain/debug/pprof/cmdline /debug/pprof/cmdline \
            /zone/debug/pprof/cmdline /audit/debug/pprof/cmdline \
            /plain/debug/pprof/cmdline /debug/pprof/cmdline \
            /zone/debug/pprof/cmdline /audit/debug/pprof/cmdline; do
    measure "$path" "http://127.0.0.1:$gw_port$path"
done

# The mTLS gateways, alternated twice so that a change in the machine's
# load shows as a difference between the rounds.
echo
printf '%-28s %12s %14s %22s\n' "mTLS cmdline, as alice" req/s \
    "latency avg" "gateway CPU per request"
for kind in plain stock module plain stock module; do
    measure "$kind" "http://127.0.0.1:$front_port/$kind/debug/pprof/cmdline"
done

# The authorization service answering checks, beside nginx's "return 200".
echo
printf '%-28s %12s %14s %22s\n' "authorization checks" req/s "latency avg" \
    "nginx CPU per check"
for path in /ok /authz/debug/pprof/cmdline /authz-audit/debug/pprof/cmdline \
            /ok /authz/debug/pprof/cmdline /authz-audit/debug/pprof/cmdline; do
    measure "$path" "http://127.0.0.1:$gw_port$path"
done

# Its own gateways, stand-in target and Redis.
bash "$root/t/bench/shared.sh"
