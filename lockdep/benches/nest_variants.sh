#!/bin/sh
# Throw-away variants of a nested acquisition's fast path (the thread chain
# cache's look-up in `fast_acquire`), timed against the unpatched code and
# parking_lot on a nest of four (docs/PERFORMANCE.md, round 7, helper h14r).
# The sibling of fast_path_variants.sh (round 6, a lone lock+unlock), which
# stays as it was. Each `nest_variants/<name>.diff` is applied to a temporary
# copy of HEAD (`git archive`; set NEST_VARIANTS_REV to use another
# revision: the patches were written against 220a98d); `lock_cost` is built
# for each and all binaries are run one after another in each round: user
# CPU time (/usr/bin/time -f %U) of N nests of four (`lock_cost
# lockdep-nest4 N`, and the base's `parking_lot-nest4 N` as the baseline),
# and callgrind's instructions per nest. The variants are UNSOUND (they skip
# or reorder the look-up): timing only, never to be merged.
#
# Usage: lockdep/benches/nest_variants.sh [rounds] [iterations]
set -eu
ROUNDS=${1:-11}
N=${2:-20000000}
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
PATCHES="$ROOT/lockdep/benches/nest_variants"
TMP=$(mktemp -d)
WT="$TMP/wt"
trap 'rm -rf "$TMP"' EXIT
mkdir "$WT"
git archive "${NEST_VARIANTS_REV:-HEAD}" | tar -x -C "$WT"
# (tar keeps the commit's mtimes, which can be older than the last build's
# artefacts: touch the sources so that cargo rebuilds from this copy.)
find "$WT" -name '*.rs' -exec touch {} +
export CARGO_TARGET_DIR="$ROOT/target-variants"
build() { # $1: name
    (cd "$WT" && cargo build --quiet --release -p lockdep --example lock_cost --features enabled-in-release)
    cp "$CARGO_TARGET_DIR/release/examples/lock_cost" "$TMP/$1"
}
build base
NAMES=base
for p in "$PATCHES"/*.diff; do
    name=$(basename "$p" .diff)
    (cd "$WT" && git apply "$p")
    build "$name"
    (cd "$WT" && git apply -R "$p")
    NAMES="$NAMES $name"
done
for name in $NAMES; do
    valgrind --tool=callgrind --callgrind-out-file="$TMP/$name.cg" \
        --toggle-collect='*lockdep_nest4*' "$TMP/$name" lockdep-nest4 1000 >/dev/null 2>&1
    echo "instructions $name $(($(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$TMP/$name.cg") / 1000))"
done
valgrind --tool=callgrind --callgrind-out-file="$TMP/parking_lot.cg" \
    --toggle-collect='*parking_lot_nest4*' "$TMP/base" parking_lot-nest4 1000 >/dev/null 2>&1
echo "instructions parking_lot $(($(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$TMP/parking_lot.cg") / 1000))"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
while [ "$i" -lt "$ROUNDS" ]; do
    for name in $NAMES; do
        /usr/bin/time -f "time $name %U" "$TMP/$name" lockdep-nest4 "$N" 2>&1 >/dev/null
    done
    /usr/bin/time -f "time parking_lot %U" "$TMP/base" parking_lot-nest4 "$N" 2>&1 >/dev/null
    i=$((i + 1))
done | sort -k2,2 -k3,3n | awk '
    { t[$2] = t[$2] " " $3; v[$2, ++n[$2]] = $3 }
    END { for (k in n) print "median", k, v[k, int((n[k] + 1) / 2)], "runs:" t[k] }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
