# Shared by fast_path_variants.sh and nest_variants.sh (sourced, not run):
# builds `lock_cost` from a `git archive` of $REV and once more with each
# $PATCHES/*.diff applied, counts instructions with callgrind, then times all
# binaries one after another in each of $ROUNDS rounds (user CPU time,
# /usr/bin/time -f %U, of $N iterations) with parking_lot as the baseline,
# and prints each one's median.
#
# The caller sets, then sources this file from the repository's root:
#   ROUNDS, N   rounds and iterations
#   PATCHES     the directory of *.diff variants
#   REV         the revision the patches apply to
#   MODE        lock_cost's argument for lockdep (`lockdep`, `lockdep-nest4`)
#   BASE_MODE   its argument for parking_lot (`parking_lot`, `parking_lot-nest4`)
#   COUNTED     the function callgrind counts in (`lockdep_lock_unlock`, ...)
#   BASE_COUNTED  the parking_lot function to count as well, or empty
ROOT=$(pwd)
TMP=$(mktemp -d)
WT="$TMP/wt"
trap 'rm -rf "$TMP"' EXIT
mkdir "$WT"
git archive "$REV" | tar -x -C "$WT"
# (tar keeps the commit's mtimes, which can be older than the last build's
# artefacts: touch the sources so that cargo rebuilds from this copy.)
find "$WT" -name '*.rs' -exec touch {} +
export CARGO_TARGET_DIR="$ROOT/target-variants"
build() { # $1: name
    (cd "$WT" && cargo build --quiet --release -p lockdep --example lock_cost --features enabled-in-release)
    cp "$CARGO_TARGET_DIR/release/examples/lock_cost" "$TMP/$1"
}
count() { # $1: label, $2: binary, $3: lock_cost's argument, $4: the counted function
    valgrind --tool=callgrind --callgrind-out-file="$TMP/$1.cg" \
        --toggle-collect="*$4*" "$TMP/$2" "$3" 1000 >/dev/null 2>&1
    echo "instructions $1 $(($(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$TMP/$1.cg") / 1000))"
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
    count "$name" "$name" "$MODE" "$COUNTED"
done
if [ -n "$BASE_COUNTED" ]; then
    count parking_lot base "$BASE_MODE" "$BASE_COUNTED"
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
i=0
while [ "$i" -lt "$ROUNDS" ]; do
    for name in $NAMES; do
        /usr/bin/time -f "time $name %U" "$TMP/$name" "$MODE" "$N" 2>&1 >/dev/null
    done
    /usr/bin/time -f "time parking_lot %U" "$TMP/base" "$BASE_MODE" "$N" 2>&1 >/dev/null
    i=$((i + 1))
done | sort -k2,2 -k3,3n | awk '
    { t[$2] = t[$2] " " $3; v[$2, ++n[$2]] = $3 }
    END { for (k in n) print "median", k, v[k, int((n[k] + 1) / 2)], "runs:" t[k] }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
