#!/bin/sh
# Instruction counts of the validator's slow paths (validation compiled in),
# from examples/edge_cost.rs under callgrind: a new edge in a growing chain
# (forward and reverse, traces off and on, and on against the frame cap; and
# forward in a validator made after a first one was dropped, `reuse`) and
# a dynamic-class lock created and dropped (never locked, locked alone, locked
# under a static lock), with N validated chains in the store. Counts do not
# depend on the machine's load; docs/PERFORMANCE.md ("Round 2", "Round 3") records them.
#
# Usage: lockdep/benches/edge_cost.sh
set -eu
cd "$(dirname "$0")/../.."
unset RUST_BACKTRACE LOCKDEP_BACKTRACE_FRAMES
cargo build --quiet --release -p lockdep --features enabled-in-release --example edge_cost
BIN=target/release/examples/edge_cost
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
count() { # $1: the function callgrind counts, then the example's arguments
    f=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.out" --toggle-collect="*$f*" "$BIN" "$@" \
        >/dev/null 2>"$OUT/cg.err" || {
        cat "$OUT/cg.err" >&2
        exit 1
    }
    sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$OUT/cg.out"
}
for args in "edge 1000 1000" "edge 10000 1000" "redge 1000 1000" "redge 10000 1000" \
    "edge 1000 1000 reuse" "edge 10000 1000 reuse" \
    "edge 1000 300 trace" "edge 10000 300 trace" "redge 10000 300 trace"; do
    # shellcheck disable=SC2086
    set -- $args
    total=$(count new_counted "$@")
    echo "$args: $((total / $3)) instructions per new edge"
done
# Capture's cost against the frame cap, 40 frames deeper than the example's
# own 17-frame stack (57 in all, a program's stack rather than a bench's).
for frames in 48 32 16 8; do
    export LOCKDEP_BACKTRACE_FRAMES=$frames
    total=$(count new_counted edge 1000 300 trace 40)
    echo "edge 1000 300 trace, 40 frames deeper, LOCKDEP_BACKTRACE_FRAMES=$frames: $((total / 300)) instructions per new edge"
done
unset LOCKDEP_BACKTRACE_FRAMES
for n in 0 10000 50000; do
    total=$(count idle idle "$n" 1000)
    echo "idle with $n chains: $((total / 1000)) instructions per create + drop (never locked)"
    total=$(count solo solo "$n" 1000)
    echo "solo with $n chains: $((total / 1000)) instructions per create + lock alone + drop"
    total=$(count churn churn "$n" 1000)
    echo "churn with $n chains: $((total / 1000)) instructions per create + lock + drop"
done
