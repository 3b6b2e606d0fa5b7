#!/usr/bin/env bash
# `make bench`: the core's decision cost in a loop, then nginx proxying to
# the Go target with and without the module in front (wrk, loopback, plain
# HTTP so that TLS cost does not hide the difference).
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

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
target_port=$(free_port)
gw_port=$(free_port)

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
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    upstream target { server 127.0.0.1:$target_port; keepalive 16; }
    pprof_role viewer index cmdline symbol;
    pprof_bind anonymous viewer;
    pprof_bind ~^spiffe://prod\.example/ns/sre/ viewer;
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
    }
}
CONF

"$nginx" -p "$dir/" -c "$dir/nginx.conf" -g 'daemon off;' &
nginx_pid=$!
trap 'kill $nginx_pid $target_pid 2>/dev/null; wait 2>/dev/null || true' EXIT
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

printf '%-28s %12s %14s %22s\n' location req/s "latency avg" "nginx CPU per request"
for path in /plain/debug/pprof/cmdline /debug/pprof/cmdline \
            /zone/debug/pprof/cmdline /audit/debug/pprof/cmdline \
            /plain/debug/pprof/cmdline /debug/pprof/cmdline \
            /zone/debug/pprof/cmdline /audit/debug/pprof/cmdline; do
    before=$(nginx_ticks)
    out=$(wrk -t1 -c16 -d"${duration}s" "http://127.0.0.1:$gw_port$path")
    after=$(nginx_ticks)
    requests=$(echo "$out" | awk '/requests in/ { print $1 }')
    echo "$out" | awk -v path="$path" -v ticks=$((after - before)) \
        -v hz="$hz" -v n="$requests" '
        /Latency/ { lat = $2 }
        /Requests\/sec/ { rps = $2 }
        END { printf "%-28s %12s %14s %19.1f us\n", path, rps, lat,
                     ticks / hz / n * 1e6 }'
done
