#!/bin/bash
# Run published crates' own test suites twice — as published, and with
# parking_lot replaced by this repository's lockdep-validated shim — and
# tabulate tests passed, wall time, what the validator learned and every
# report. See docs/REAL-WORLD.md and the book's chapter 12.
#
# usage: scripts/real-world.sh [--ci] [--out DIR] [--prepare] [--unoptimized] [--table] [TARGET...]
#   TARGET    moka, tokio, salsa, stretto (default: all four)
#   --ci      the one target small enough for CI (stretto)
#   --out DIR where sources, builds, logs and the table go
#             (default: target/real-world of this repository)
#   --prepare fetch and prepare the sources again even if present
#   --unoptimized  build the lock crates as the suites' dev profile has them
#             (by default lockdep, parking_lot, parking_lot_core and lock_api
#             are built with opt-level 3 in both runs, as the book recommends
#             for a validated build; the table says which)
#   --table   run nothing: the table of the TARGETs' last runs
# Environment: RW_TIMEOUT (seconds per suite run, default 3600); LOCKDEP_*
# variables other than ACTION and SUMMARY pass through to the shimmed run
# (e.g. LOCKDEP_BACKTRACE=0); LOCKDEP_NESTED_SITES too, except for a target
# that sets its own (moka: see NESTED below). The exit status is non-zero if a suite
# failed to build, or the two runs of a suite passed different numbers of
# tests.
set -uo pipefail
unset RUST_BACKTRACE

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$REPO/target/real-world
PREPARE=0
TABLE_ONLY=0
OPT=1
TARGETS=()
while [ $# -gt 0 ]; do
    case "$1" in
    --ci) TARGETS+=(stretto) ;;
    --out) OUT=$(realpath -m "$2"); shift ;;
    --prepare) PREPARE=1 ;;
    --table) TABLE_ONLY=1 ;;
    --unoptimized) OPT=0 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    moka | tokio | salsa | stretto) TARGETS+=("$1") ;;
    *) echo "real-world.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(moka tokio salsa stretto)

# Each suite's cargo arguments (as published, the subsets README.md names),
# and the parking_lot major it uses.
declare -A ARGS=(
    [moka]="--features sync"
    [tokio]="--features full,parking_lot --lib --test rt_threaded --test rt_common --test sync_mutex
             --test sync_rwlock --test sync_semaphore --test sync_notify --test sync_broadcast --test sync_mpsc
             --test sync_once_cell --test task_join_set --test rt_spawn_blocking"
    [salsa]="--lib --test parallel --test cycle"
    [stretto]=""
)
# Whole suites (with doctests) and subsets.
declare -A DOCS=([moka]=1 [tokio]=0 [salsa]=0 [stretto]=1)
declare -A SHIM=([moka]=0.12 [tokio]=0.12 [salsa]=0.13 [stretto]=0.12)
# LOCKDEP_NESTED_SITES of the shimmed run: construction sites whose locks
# nest one level in each other by design, which the crate cannot say
# through parking_lot's API (docs/REAL-WORLD.md, "moka"): moka's waiters,
# in try_init_or_read (:99) and try_compute (:197).
declare -A NESTED=(
    [moka]="src/sync/value_initializer.rs:99,src/sync/value_initializer.rs:197"
)
TIMEOUT=${RW_TIMEOUT:-3600}
# The lock crates, optimized in both runs (unless --unoptimized): what is
# compared is the validator, not rustc's unoptimized code for it. Separate
# target dirs per setting, so that switching does not rebuild.
PROFILE=()
BUILD_SUFFIX=-debuglocks
if [ $OPT = 1 ]; then
    for p in lockdep parking_lot parking_lot_core lock_api; do
        PROFILE+=(--config "profile.dev.package.$p.opt-level=3")
    done
    BUILD_SUFFIX=
fi
LOGS=$OUT/logs
mkdir -p "$OUT/src" "$OUT/shim" "$OUT/build" "$LOGS" "$OUT/results"
status=0

say() { echo "real-world: $*" >&2; }

# prepare T: the published sources in src/T, and the shimmed copy in shim/T
# (the same files, the same Cargo.lock, plus the [patch]).
prepare() {
    local t=$1
    if [ $PREPARE = 1 ] || [ ! -f "$OUT/src/$t/.prepared" ]; then
        "$REPO/scripts/real-world/prepare.sh" "$OUT/src" "$t" >&2 || return 1
        (cd "$OUT/src/$t" && cargo generate-lockfile -q) || return 1
        touch "$OUT/src/$t/.prepared"
        rm -rf "${OUT:?}/shim/$t"
    fi
    if [ ! -f "$OUT/shim/$t/.prepared" ]; then
        rm -rf "${OUT:?}/shim/$t"
        cp -r "$OUT/src/$t" "$OUT/shim/$t"
        local line="parking_lot = { path = \"$REPO/shims/parking_lot-${SHIM[$t]}\" }"
        if grep -q '^\[patch\.crates-io\]' "$OUT/shim/$t/Cargo.toml"; then
            # tokio already has the table: the line goes under it.
            sed -i "/^\[patch\.crates-io\]/a $line" "$OUT/shim/$t/Cargo.toml"
        else
            printf '\n[patch.crates-io]\n%s\n' "$line" >> "$OUT/shim/$t/Cargo.toml"
        fi
    fi
}

# suite T MODE: build (not timed), then run the suite (timed; doctests apart).
# Writes results/T-MODE.env: build status, run seconds, doctest seconds.
suite() {
    local t=$1 mode=$2 dir log res build=ok built run=0 doc=0 s e
    dir=$OUT/$([ "$mode" = plain ] && echo src || echo shim)/$t
    log=$LOGS/$t-$mode.log
    res=$OUT/results/$t-$mode.env
    # shellcheck disable=SC2206
    local args=(${ARGS[$t]} "${PROFILE[@]}") tests=() docs=${DOCS[$t]}
    # A whole suite (cargo's default targets) runs without its doctests
    # first, then the doctests apart: rustdoc compiles each one during the run.
    [ "$docs" = 1 ] && tests=(--lib --bins --tests)
    local envs=(env -u LOCKDEP_SUMMARY -u LOCKDEP_ACTION CARGO_TARGET_DIR="$OUT/build/$t-$mode$BUILD_SUFFIX")
    : > "$log"
    say "$t ($mode): building"
    s=$(date +%s.%N)
    (cd "$dir" && "${envs[@]}" cargo test "${args[@]}" "${tests[@]}" --no-run) >> "$log" 2>&1
    local rc=$?
    e=$(date +%s.%N)
    built=$(awk "BEGIN { print $e - $s }")
    if [ $rc != 0 ]; then
        build=failed
        status=1
        say "$t ($mode): build failed, see $log"
    else
        local summary=$LOGS/$t-$mode.summary.jsonl
        rm -f "$summary"
        [ "$mode" = shim ] && envs+=(LOCKDEP_ACTION=warn LOCKDEP_SUMMARY="$summary")
        [ "$mode" = shim ] && [ -n "${NESTED[$t]:-}" ] && envs+=(LOCKDEP_NESTED_SITES="${NESTED[$t]}")
        say "$t ($mode): running"
        s=$(date +%s.%N)
        (cd "$dir" && timeout -k 30 "$TIMEOUT" "${envs[@]}" cargo test "${args[@]}" "${tests[@]}" --no-fail-fast) \
            >> "$log" 2>&1
        echo "real-world: exit status $?" >> "$log"
        e=$(date +%s.%N)
        run=$(awk "BEGIN { print $e - $s }")
        if [ $docs = 1 ]; then
            s=$(date +%s.%N)
            (cd "$dir" && timeout -k 30 "$TIMEOUT" "${envs[@]}" cargo test "${args[@]}" --doc --no-fail-fast) \
                >> "$log" 2>&1
            echo "real-world: exit status $? (doctests)" >> "$log"
            e=$(date +%s.%N)
            doc=$(awk "BEGIN { print $e - $s }")
        fi
    fi
    local nested=
    [ "$mode" = shim ] && nested=${NESTED[$t]:-}
    printf 'build=%s\nbuild_s=%s\nrun=%s\ndoc=%s\nopt=%s\nnested=%s\n' "$build" "$built" "$run" "$doc" "$OPT" \
        "$nested" > "$res"
}

for t in "${TARGETS[@]}"; do
    [ $TABLE_ONLY = 1 ] && continue
    if ! prepare "$t"; then
        say "$t: preparing failed"
        status=1
        continue
    fi
    suite "$t" plain
    suite "$t" shim
done

python3 "$REPO/scripts/real-world/table.py" "$OUT" "$REPO" "${TARGETS[@]}" | tee "$OUT/real-world.md"
[ "${PIPESTATUS[0]}" = 0 ] || status=1
say "table in $OUT/real-world.md, logs in $LOGS"
exit $status
