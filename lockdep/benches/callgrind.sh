#!/bin/sh
# Instruction counts of one uncontended lock + unlock: lockdep::Mutex against
# parking_lot::Mutex (the baseline), counted by callgrind inside the two
# measured functions only. With validation compiled out the counts must be
# equal; docs/zero-cost.md records the result.
#
# Usage: lockdep/benches/callgrind.sh [extra cargo flags, e.g. --features enabled-in-release]
set -eu
cd "$(dirname "$0")/../.."
N=1000
cargo build --quiet --release -p lockdep --example lock_cost "$@"
BIN=target/release/examples/lock_cost
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
count() { # $1: which mutex, $2: the function callgrind counts
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$1.out" \
        --toggle-collect="*$2*" "$BIN" "$1" "$N" >/dev/null 2>"$OUT/$1.err" || {
        cat "$OUT/$1.err" >&2
        exit 1
    }
    sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$OUT/$1.out"
}
ours=$(count lockdep lockdep_lock_unlock)
base=$(count parking_lot parking_lot_lock_unlock)
"$BIN" both 1 | sed 's/;.*//'
echo "instructions for $N lock+unlock: lockdep::Mutex $ours, parking_lot::Mutex $base"
echo "per lock+unlock: lockdep::Mutex $((ours / N)), parking_lot::Mutex $((base / N))"
if [ "$ours" = "$base" ]; then echo "equal"; else echo "different"; fi
