#!/bin/sh
# Throw-away variants of the uncontended lock+unlock fast path, timed against
# the unpatched code and parking_lot (docs/PERFORMANCE.md, round 6, helper
# h14z). Each `fast_path_variants/<name>.diff` is applied to a temporary copy
# of the code they were written against (`git archive` of 5f47a6c, the last
# revision with the 56-byte held entry; round 7 replaced it, and most patches
# no longer apply to HEAD: set FAST_PATH_VARIANTS_REV to use another
# revision); `lock_cost` is built for each and all binaries are run one
# after another in each round: user CPU time (/usr/bin/time -f %U) of N
# lock+unlock, and callgrind's instructions per lock+unlock. Most variants are
# UNSOUND (they write part of an entry): timing only, never to be merged.
#
# Usage: lockdep/benches/fast_path_variants.sh [rounds] [iterations]
set -eu
ROUNDS=${1:-11}
N=${2:-50000000}
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
PATCHES="$ROOT/lockdep/benches/fast_path_variants"
TMP=$(mktemp -d)
WT="$TMP/wt"
trap 'rm -rf "$TMP"' EXIT
mkdir "$WT"
git archive "${FAST_PATH_VARIANTS_REV:-5f47a6c}" | tar -x -C "$WT"
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
        --toggle-collect='*lockdep_lock_unlock*' "$TMP/$name" lockdep 1000 >/dev/null 2>&1
    echo "instructions $name $(($(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$TMP/$name.cg") / 1000))"
done
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
while [ "$i" -lt "$ROUNDS" ]; do
    for name in $NAMES; do
        /usr/bin/time -f "time $name %U" "$TMP/$name" lockdep "$N" 2>&1 >/dev/null
    done
    /usr/bin/time -f "time parking_lot %U" "$TMP/base" parking_lot "$N" 2>&1 >/dev/null
    i=$((i + 1))
done | sort -k2,2 -k3,3n | awk '
    { t[$2] = t[$2] " " $3; v[$2, ++n[$2]] = $3 }
    END { for (k in n) print "median", k, v[k, int((n[k] + 1) / 2)], "runs:" t[k] }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
