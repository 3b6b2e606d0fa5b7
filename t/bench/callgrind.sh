#!/usr/bin/env bash
# `make bench-cpu`: the gateway's instructions per allowed cmdline request,
# counted by callgrind, for the three configs of configs.sh.  nginx runs as
# one process (master_process off) under valgrind; one client connection,
# mTLS and kept alive, sends a warm-up, then callgrind's counters are
# zeroed, then N requests, then a dump: the dump holds those N requests and
# nothing else.  Instruction counts do not depend on the machine's load,
# unlike the CPU times of `make bench`, so one run is enough.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build
dir=$build/bench-cpu
nginx=${NGINX:-/usr/sbin/nginx}
n=${BENCH_REQUESTS:-400}
warmup=${BENCH_WARMUP:-40}
path=/debug/pprof/cmdline

if ! command -v valgrind >/dev/null; then
    ${SUDO:-} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        valgrind >/dev/null
fi

. "$root/t/bench/configs.sh"

rm -rf "$dir"
mkdir -p "$dir"
chmod 755 "$dir"
bench_pki "$dir"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

target_port=$(free_port)
"$build/pprof-target" -listen 127.0.0.1:$target_port 2>/dev/null &
target_pid=$!
nginx_pid=
trap 'kill $nginx_pid $target_pid 2>/dev/null; wait 2>/dev/null || true' EXIT

wait_port() {
    local i
    for i in $(seq 1 600); do
        (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
        sleep 0.1
    done
    echo "callgrind.sh: nothing listens on port $1" >&2
    return 1
}

wait_port "$target_port"

declare -A ir
for kind in plain stock module; do
    port=$(free_port)
    {
        [ "$kind" = module ] \
            && echo "load_module $build/ngx_http_pprof_module.so;"
        cat <<CONF
master_process off;
daemon off;
pid $dir/$kind.pid;
error_log $dir/$kind-error.log;
events { worker_connections 64; }
http {
    access_log off;
CONF
        bench_upstream "$dir" "$target_port"
        bench_http "$kind"
        bench_server "$kind" "$dir" "$port"
        echo "}"
    } > "$dir/$kind.conf"

    valgrind --tool=callgrind --callgrind-out-file="$dir/$kind.callgrind" \
        "$nginx" -p "$dir/" -c "$dir/$kind.conf" 2>"$dir/$kind-valgrind.log" &
    nginx_pid=$!
    wait_port "$port"

    python3 "$root/t/bench/mtls_client.py" "$port" "$dir/alice.crt" \
        "$dir/alice.key" "$dir/ca.crt" "$path" "$warmup" "$n" \
        "callgrind_control -z $nginx_pid" "callgrind_control -d $nginx_pid"

    kill -QUIT "$nginx_pid"
    wait "$nginx_pid" || true
    nginx_pid=

    # The dump asked for is the file's first numbered one.
    ir[$kind]=$(awk '/^summary:/ { print $2 }' "$dir/$kind.callgrind.1")
done

printf '\n%s, %d requests on one mTLS keep-alive connection (after %d):\n' \
    "GET $path" "$n" "$warmup"
printf '%-8s %16s %16s\n' config Ir/request "over plain"
for kind in plain stock module; do
    awk -v k="$kind" -v ir="${ir[$kind]}" -v plain="${ir[plain]}" -v n="$n" '
        BEGIN { printf "%-8s %16.0f %+16.0f\n", k, ir / n, (ir - plain) / n }'
done
awk -v s="${ir[stock]}" -v m="${ir[module]}" -v p="${ir[plain]}" 'BEGIN {
    printf "module added / stock added: %.2f (target <= 2)\n",
           (m - p) / (s - p) }'

# callgrind_annotate 3.19 charges the calls that were under way when the
# counters were zeroed (calls=0) to their caller's own cost, so that
# __libc_start_main would hold everything: leave them out.
awk '/^calls=0 / { skip = 1; next } skip { skip = 0; next } { print }' \
    "$dir/module.callgrind.1" > "$dir/module.annotate"

# "1,234,000 (1.2%)  file:function [object]" as instructions per request.
per_request() {
    awk -v n="$n" '$1 ~ /^[0-9,]+$/ && /%\)  / && !/TOTALS/ {
        ir = $1; gsub(",", "", ir)
        fn = $0; sub(/^.*%\)  /, "", fn); sub(/ \[.*$/, "", fn)
        sub(/^.*:/, "", fn)
        obj = $0; sub(/^.*\//, "", obj); sub(/\]$/, "", obj)
        printf "%10.0f  %s (%s)\n", ir / n, fn, obj }'
}

echo
echo "module: instructions per request, own cost, top 25"
callgrind_annotate --inclusive=no "$dir/module.annotate" 2>/dev/null \
    | per_request | sed -n 1,25p
echo
echo "module: instructions per request, with callees, the module's functions"
callgrind_annotate --inclusive=yes "$dir/module.annotate" 2>/dev/null \
    | grep 'ngx_http_pprof_module.so\]$' | per_request | sed -n 1,25p
