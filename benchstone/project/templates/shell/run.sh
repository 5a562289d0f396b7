#!/bin/sh
# The runner benchstone calls for this project; it speaks benchstone's JSON-over-files protocol
# with POSIX sh, sed and awk only (no Python needed). benchstone runs, from the project's root,
# in a fresh copy of the committed tree:
#     sh bench/run.sh ENTRY_POINT CONFIG_JSON OUTPUT_JSON
# CONFIG_JSON holds the benchmark name, the seed and the corpus path; OUTPUT_JSON receives
# {"status": "ok", "metric": ...} or {"status": "error", "message": ...}.
# Replace `workload` with the command you want to measure; keep the rest.
set -eu
entry=$1 config=$2 output=$3

workload() {
    # What is timed. Replace this with your project's command, e.g.: ./build/solver input.txt
    awk -v seed="$1" 'BEGIN { srand(seed); for (i = 0; i < 1000000; i++) s += rand() }'
}

fail() {
    # an error row with a one-line reason (quotes and backslashes dropped to keep it JSON)
    printf '{"status": "error", "message": "%s"}\n' "$(printf '%s' "$1" | tr -d '"\\')" > "$output"
    exit 0
}

now() {
    # seconds since the epoch; with nanoseconds where date knows %N (GNU, busybox)
    t=$(date +%s.%N)
    case $t in *N) date +%s ;; *) echo "$t" ;; esac
}

seed=$(sed -n 's/.*"seed": *\([0-9][0-9]*\).*/\1/p' "$config")
[ -n "$seed" ] || fail "no seed in the config file"
case $entry in
    @BENCHMARK@) ;;
    *) fail "unknown entry point: $entry" ;;
esac

start=$(now)
workload "$seed" > /dev/null || fail "the workload exited with status $?"
end=$(now)
seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f", b - a }')
printf '{"status": "ok", "metric": %s, "wall_clock_seconds": %s}\n' "$seconds" "$seconds" > "$output"
