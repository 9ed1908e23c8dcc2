#!/bin/sh
# Cache misses and instructions of a new edge as the graph grows, from
# examples/edge_cost.rs under callgrind's cache simulator (D1 = 48 KiB,
# LL = 2 MiB, this machine's L1d and L2 per core: the last-level misses are
# what leaves the L2). Two shapes per size and direction:
#   "from empty": all N edges of a chain counted (what the graph-growth bench
#                 averages: it includes every table's growth);
#   "at N":       1,000 new edges counted after N were learned (the marginal
#                 cost at that size).
# Counts do not depend on the machine's load; docs/PERFORMANCE.md ("Round 4")
# records them. Page faults, which they do not show, are measured by
# examples/edge_grow.rs.
#
# Usage: lockdep/benches/edge_misses.sh
set -eu
cd "$(dirname "$0")/../.."
unset RUST_BACKTRACE LOCKDEP_BACKTRACE_FRAMES
cargo build --quiet --release -p lockdep --features enabled-in-release --example edge_cost
BIN=target/release/examples/edge_cost
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "shape: per new edge: Ir D1mr D1mw LLmr LLmw"
for args in "edge 2 1000" "edge 2 10000" "redge 2 1000" "redge 2 10000" \
    "edge 1000 1000" "edge 10000 1000" "redge 1000 1000" "redge 10000 1000"; do
    # shellcheck disable=SC2086
    set -- $args
    valgrind --tool=callgrind --cache-sim=yes --D1=49152,12,64 --LL=2097152,16,64 \
        --callgrind-out-file="$OUT/cg.out" --toggle-collect='*new_counted*' "$BIN" "$@" \
        >/dev/null 2>"$OUT/cg.err" || {
        cat "$OUT/cg.err" >&2
        exit 1
    }
    if [ "$2" = 2 ]; then shape="$1 from empty to $3"; else shape="$1 at $2"; fi
    # totals: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
    sed -n 's/^totals: *//p' "$OUT/cg.out" | awk -v m="$3" -v s="$shape" \
        '{printf "%s: %d %.1f %.1f %.2f %.2f\n", s, $1 / m, $5 / m, $6 / m, $8 / m, $9 / m}'
done
