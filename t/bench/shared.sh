#!/usr/bin/env bash
# `make bench`, last part: what pprof_shared_state costs a capture.  Two
# gateways of one worker each, alike but for pprof_shared_state, admit
# profile?seconds=1 and proxy it to a stand-in that answers at once (a
# `return 200` nginx), so that what differs between them is the capture's
# admission, not Go's profiling:
#
#   latency     one connection: p50 and p99 of a capture, local zone only
#               and through a Redis on loopback;
#   throughput  16 connections on the one worker: admissions per second,
#               the worker's and Redis's CPU per admission.
#
# Each is measured in two locations: `slot`, the capture's slot alone
# (pprof_rate off, no budget), and `full`, a rate and a budget as well,
# far above anything the bench reaches, so that Redis runs every part of
# its script.  Slots are 64 per endpoint, above the connections, so that
# no capture is refused.  Local and Redis alternate, twice, so that a
# change in the machine's load shows as a difference between rounds.
#
# Run by run.sh, or alone once `make module` has built the module:
# BENCH_SECONDS=3 bash t/bench/shared.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
dir=$root/build/bench/shared
nginx=${NGINX:-/usr/sbin/nginx}
duration=${BENCH_SECONDS:-5}
module=$root/build/ngx_http_pprof_module.so

need=""
command -v wrk >/dev/null || need="$need wrk"
command -v redis-server >/dev/null || need="$need redis-server"
command -v redis-cli >/dev/null || need="$need redis-tools"
command -v curl >/dev/null || need="$need curl"
if [ -n "$need" ]; then
    ${SUDO:-} env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    ${SUDO:-} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        $need >/dev/null
fi

rm -rf "$dir"
mkdir -p "$dir"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
standin_port=$(free_port)
declare -A gw_port
gw_port[local]=$(free_port)
gw_port[redis]=$(free_port)

pids=""
cleanup() {
    [ -z "$pids" ] || kill $pids 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
    --appendonly no --daemonize no --dir "$dir" \
    --logfile "$dir/redis.log" &
redis_pid=$!
pids="$pids $redis_pid"
rcli() { redis-cli -p "$redis_port" "$@"; }

# The stand-in of the Go target, in an nginx of its own so that the
# gateway's worker does the gateway's work only.
mkdir -p "$dir/standin"
cat > "$dir/standin/nginx.conf" <<CONF
worker_processes 1;
pid $dir/standin/nginx.pid;
error_log $dir/standin/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$standin_port;
        location / { return 200 "profile\n"; }
    }
}
CONF

# gateway_conf NAME EXTRA: a gateway, with EXTRA at http level.
gateway_conf() {
    local name=$1 extra=$2 d=$dir/$1

    mkdir -p "$d"
    cat > "$d/nginx.conf" <<CONF
load_module $module;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log error;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    pprof_role capturer capture;
    pprof_bind anonymous capturer;
    pprof_gateway_id bench-$name;
$extra
    upstream standin { server 127.0.0.1:$standin_port; keepalive 16; }
    server {
        listen 127.0.0.1:${gw_port[$name]};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        pprof_tls off;
        pprof_identity anonymous;
        pprof_capture_concurrency 64;
        location /slot/debug/pprof/ {
            pprof on;
            pprof_prefix /slot/debug/pprof/;
            pprof_target slot;
            pprof_rate off;
            proxy_pass http://standin/debug/pprof/;
        }
        location /full/debug/pprof/ {
            pprof on;
            pprof_prefix /full/debug/pprof/;
            pprof_target full;
            pprof_rate capture 1000000r/s burst=100000;
            pprof_capture_budget 1000d per 1d;
            proxy_pass http://standin/debug/pprof/;
        }
        location = /status {
            pprof_status;
        }
    }
}
CONF
}
gateway_conf local ""
gateway_conf redis "    pprof_shared_state redis://127.0.0.1:$redis_port timeout=200ms;"

# Their startup warnings (no pprof_audit_log: the bench keeps no trail)
# go to a file; a gateway that does not start is shown below.
declare -A master
for name in standin local redis; do
    "$nginx" -p "$dir/$name/" -c "$dir/$name/nginx.conf" \
        -g 'daemon off;' 2>"$dir/$name/stderr.log" &
    master[$name]=$!
    pids="$pids $!"
done

# Ready when each answers; the Redis gateway's worker then connects and
# loads the script with its first capture, outside the figures.
ready() {
    rcli ping >/dev/null 2>&1 \
        && curl -sf "http://127.0.0.1:${gw_port[local]}/status" >/dev/null \
        && curl -sf "http://127.0.0.1:${gw_port[redis]}/status" >/dev/null \
        && curl -sf "http://127.0.0.1:$standin_port/" >/dev/null
}
for _ in $(seq 50); do
    ready && break
    sleep 0.1
done
if ! ready; then
    cat "$dir"/*/stderr.log "$dir"/*/error.log "$dir/redis.log" >&2
    echo "shared.sh: the gateways or Redis did not start" >&2
    exit 1
fi
for name in local redis; do
    for loc in slot full; do
        curl -sf -o /dev/null \
            "http://127.0.0.1:${gw_port[$name]}/$loc/debug/pprof/profile?seconds=1"
    done
done

hz=$(getconf CLK_TCK)

# ticks PID...: CPU time (utime + stime) of the processes.
ticks() {
    local t=0 pid
    for pid in "$@"; do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$t"
}

# The Redis gateway's view of its admissions: the latency histogram's
# sum (seconds) and count, and its errors.
shared_stats() {
    curl -sf "http://127.0.0.1:${gw_port[redis]}/status" | awk '
        /^pprof_shared_state_latency_seconds_sum/ { s = $2 }
        /^pprof_shared_state_latency_seconds_count/ { c = $2 }
        /^pprof_shared_state_errors_total/ { e += $2 }
        END { print s + 0, c + 0, e + 0 }'
}

# run NAME LOC CONNECTIONS: wrk on NAME's LOC for $duration seconds.
# Prints: requests/s, p50 and p99 (us), refused (non-2xx and errors),
# worker CPU us per request, Redis CPU us per request, EVALSHA
# usec_per_call, calls per request, mean Redis wait us, Redis errors.
run() {
    local name=$1 loc=$2 conns=$3 out w0 w1 r0 r1 s0 s1 worker

    worker=$(pgrep -P "${master[$name]}")
    rcli config resetstat >/dev/null
    w0=$(ticks $worker); r0=$(ticks "$redis_pid"); s0=$(shared_stats)
    out=$(wrk -t1 -c"$conns" -d"${duration}s" --latency \
        "http://127.0.0.1:${gw_port[$name]}/$loc/debug/pprof/profile?seconds=1")
    w1=$(ticks $worker); r1=$(ticks "$redis_pid"); s1=$(shared_stats)
    {
        echo "$out"
        echo "ticks $((w1 - w0)) $((r1 - r0))"
        echo "shared $s0 $s1"
        rcli info commandstats | tr -d '\r'
    } | awk -v hz="$hz" -v name="$name" '
        function us(v) {
            if (v ~ /us$/) return v + 0
            if (v ~ /ms$/) return v * 1000
            if (v ~ /s$/) return v * 1000000
            return v
        }
        /^ +50%/ { p50 = us($2) }
        /^ +99%/ { p99 = us($2) }
        /requests in/ { n = $1 }
        /Requests\/sec/ { rps = $2 }
        /Non-2xx/ { bad += $NF }
        /Socket errors/ { gsub(/[^0-9 ]/, " "); bad += $1 + $2 + $3 + $4 }
        /^ticks/ { wt = $2; rt = $3 }
        /^shared/ { ds = $5 - $2; dc = $6 - $3; de = $7 - $4 }
        /^cmdstat_evalsha:/ {
            split($0, f, /[=,]/)
            calls = f[2]; upc = f[6]
        }
        END {
            redis = name == "redis"
            printf "%.0f %.0f %.0f %d %.1f %s %s %s %s %s\n", rps, p50, p99,
                bad, wt / hz / n * 1e6,
                redis ? sprintf("%.1f", rt / hz / n * 1e6) : "-",
                redis ? sprintf("%.1f", upc) : "-",
                redis ? sprintf("%.2f", calls / n) : "-",
                redis && dc ? sprintf("%.0f", ds / dc * 1e6) : "-",
                redis ? de : "-"
        }'
}

echo
echo "pprof_shared_state: profile?seconds=1 to a return-200 stand-in;" \
    "one gateway worker,"
echo "Redis $(redis-server --version | awk '{ print $3 }' | tr -d v=) on" \
    "loopback; $(nproc) cores for wrk, the stand-in, the gateway and Redis"
echo "(load average before: $(cut -d' ' -f1-3 /proc/loadavg)); ${duration}s a run"

# Each run's line goes to the screen as it comes, and to results for the
# summary: the mean of the rounds.
results=$dir/results
for conns in 1 16; do
    echo
    if [ "$conns" = 1 ]; then
        printf '%-20s %8s %8s %8s %14s\n' "latency, 1 conn" "p50 us" \
            "p99 us" refused "Redis wait us"
    else
        printf '%-20s %8s %14s %13s %11s %10s %14s\n' \
            "throughput, 16 conns" adm/s "worker us/adm" "Redis us/adm" \
            "EVALSHA us" calls/adm "Redis wait us"
    fi
    for _ in 1 2; do
        for loc in slot full; do
            for name in local redis; do
                read -r rps p50 p99 bad wcpu rcpu upc calls wait errs \
                    <<< "$(run "$name" "$loc" "$conns")"
                echo "$conns $name $loc $rps $p50 $p99 $wcpu $rcpu $upc $wait" \
                    >> "$results"
                if [ "$conns" = 1 ]; then
                    printf '%-20s %8s %8s %8s %14s\n' "$name $loc" "$p50" \
                        "$p99" "$bad" "$wait"
                else
                    printf '%-20s %8s %14s %13s %11s %10s %14s\n' \
                        "$name $loc" "$rps" "$wcpu" "$rcpu" "$upc" "$calls" \
                        "$wait"
                fi
                # A refusal or a Redis failure would be measured instead
                # of an admission.
                [ "$bad" = 0 ] || echo "  $bad requests refused or failed"
                [ "$errs" = 0 ] || [ "$errs" = - ] \
                    || echo "  $errs admissions Redis did not answer"
            done
        done
    done
done

echo
echo "summary, the mean of the rounds (us; adm/s with 16 connections):"
printf '%-6s %-6s %6s %7s %10s %8s %14s %13s %11s\n' "" "" "p50" "p99" \
    "Redis wait" "adm/s" "worker us/adm" "Redis us/adm" "EVALSHA us"
awk '
    function add(k, i, v) { if (v != "-") { sum[k, i] += v; cnt[k, i]++ } }
    function mean(k, i) { return cnt[k, i] ? sum[k, i] / cnt[k, i] : "-" }
    function f(fmt, v) { return v == "-" ? "-" : sprintf(fmt, v) }
    {
        k = $2 " " $3
        if ($1 == 1) { add(k, "p50", $5); add(k, "p99", $6); add(k, "wait", $10) }
        else { add(k, "rps", $4); add(k, "w", $7); add(k, "r", $8); add(k, "e", $9) }
    }
    END {
        split("local slot,redis slot,local full,redis full", keys, ",")
        for (j = 1; j <= 4; j++) {
            k = keys[j]; split(k, nl, " ")
            printf "%-6s %-6s %6s %7s %10s %8s %14s %13s %11s\n", nl[1], nl[2],
                f("%.0f", mean(k, "p50")), f("%.0f", mean(k, "p99")),
                f("%.0f", mean(k, "wait")), f("%.0f", mean(k, "rps")),
                f("%.1f", mean(k, "w")), f("%.1f", mean(k, "r")),
                f("%.1f", mean(k, "e"))
        }
        for (j = 1; j <= 3; j += 2) {
            l = keys[j]; r = keys[j + 1]; split(l, nl, " ")
            printf "Redis adds, %s: p50 %+.0f us, p99 %+.0f us, worker CPU %+.1f us per admission; %.0f%% of local adm/s\n",
                nl[2], mean(r, "p50") - mean(l, "p50"),
                mean(r, "p99") - mean(l, "p99"), mean(r, "w") - mean(l, "w"),
                100 * mean(r, "rps") / mean(l, "rps")
        }
    }' "$results"
