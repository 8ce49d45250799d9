#!/usr/bin/env bash
# Runs the hot-reload swap test (100 clients, 20 swaps between two module versions) RUNS times
# in a row (default 20) while two busy loops keep both cores of a 2-core machine busy; stops
# at the first failure and prints its output. The CI flake this guards against (a panic inside
# wasmtime-wizer while preparing a snapshot under load) showed in one run of four.
#
#   tests/stress-reload.sh [RUNS]
set -euo pipefail

runs="${1:-20}"
test_name=swaps_between_two_versions_under_load_without_a_failed_or_stale_decision
cd "$(dirname "$0")/.."

# Built once; the runs start the test binary itself, so that editing sources meanwhile changes
# nothing.
binary="$(cargo test -p wicket-tests --test reload --no-run 2>&1 |
    sed -n 's/.*Executable tests\/reload.rs (\(.*\))$/\1/p')"
if [[ ! -x "$binary" ]]; then
    echo "cannot find the built reload test" >&2
    exit 2
fi

busy=()
log="$(mktemp)"
cleanup() {
    for pid in "${busy[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for _ in 1 2; do
    yes >/dev/null &
    busy+=("$!")
done

for run in $(seq 1 "$runs"); do
    started=$SECONDS
    if ! "$binary" --exact "$test_name" >"$log" 2>&1; then
        echo "run $run of $runs FAILED:"
        cat "$log"
        exit 1
    fi
    echo "run $run of $runs passed ($((SECONDS - started)) s)"
done
echo "all $runs runs passed with both cores busy"
