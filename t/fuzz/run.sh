#!/bin/bash
#
# t/fuzz/run.sh replay|fuzz BUILD_DIR HARNESS...
#
#   replay  runs each harness (BUILD_DIR/bin/HARNESS) once on every file of
#           t/fuzz/corpus/HARNESS/: a regression check, failing on any
#           abort, sanitizer report or leak.
#   fuzz    fuzzes a scratch copy of each corpus (BUILD_DIR/work/HARNESS/)
#           for FUZZ_SECONDS, one harness after the other, and prints the
#           executions per harness.  A crash is kept there, named in the
#           table, and fails the run.

set -u

mode=$1
build=$2
shift 2

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

corpus_of() { echo "t/fuzz/corpus/$1"; }
failed=()

# libFuzzer stops at the first input that fails: the inputs after it are
# run again, so that every failing input is named.
replay() {
    local h=$1 bin=$build/bin/$1 log=$build/replay-$1.log dir last i n
    local -a files
    dir=$(corpus_of "$h")
    files=("$dir"/*)
    n=${#files[@]}

    if [ ! -e "${files[0]}" ]; then
        echo "replay $h: no corpus in $dir" >&2
        failed+=("$h")
        return
    fi

    while [ ${#files[@]} -gt 0 ]; do
        if "$bin" -artifact_prefix="$build/replay-$h-" "${files[@]}" \
            >"$log" 2>&1
        then
            break
        fi

        last=$(sed -n 's/^Running: //p' "$log" | tail -1)
        printf 'replay %-16s FAILED on %s\n' "$h" "${last:-?}"
        grep -E 'property does not hold|ERROR:|SUMMARY:|runtime error' \
            "$log" | head -4 | sed 's/^/    /'
        cp "$log" "$build/replay-$h-$(basename "${last:-unknown}").log"
        failed+=("$h:$(basename "${last:-?}")")

        for ((i = 0; i < ${#files[@]}; i++)); do
            [ "${files[$i]}" = "$last" ] && break
        done
        [ $i -ge ${#files[@]} ] && break
        files=("${files[@]:$((i + 1))}")
    done

    printf 'replay %-16s %3d inputs\n' "$h" "$n"
}

fuzz() {
    local h=$1 bin=$build/bin/$1 work=$build/work/$1 execs rate result
    rm -rf "$work"
    mkdir -p "$work"
    cp -r "$(corpus_of "$h")" "$work/corpus"

    "$bin" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=30 \
        -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" \
        >"$work/log" 2>&1
    result=$?

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")

    if [ $result -eq 0 ]; then
        result=ok
    else
        result="FAILED: $(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* \
                             "$work"/oom-* 2>/dev/null | head -1)"
        failed+=("$h")
    fi

    printf '%-16s %12s %10s  %s\n' "$h" "${execs:-?}" "${rate:-?}" "$result"
}

case $mode in
replay)
    for h in "$@"; do replay "$h"; done
    ;;
fuzz)
    printf '%-16s %12s %10s  %s\n' harness execs execs/s result
    for h in "$@"; do fuzz "$h"; done
    ;;
*)
    echo "usage: $0 replay|fuzz BUILD_DIR HARNESS..." >&2
    exit 2
    ;;
esac

if [ ${#failed[@]} -gt 0 ]; then
    echo "t/fuzz: $mode failed: ${failed[*]}" >&2
    exit 1
fi
