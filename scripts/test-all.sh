#!/usr/bin/env bash
# Runs every test of the workspace, each crate in both feature states.
# This is the README's "run all tests" command. It ends with one line that
# sums every test binary and doctest group of the run: "N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() { echo "+ $*"; "$@" 2>&1 | tee -a "$log"; }
run cargo test --workspace
run cargo test -p lockdep
run cargo test -p lockdep --features enabled
run cargo test -p lockdep --release --features enabled-in-release
run cargo test -p lockdep --no-default-features --features enabled
# lockdep::sync::lock_api05 (lock_api 0.5): on parking_lot 0.13's raw locks,
# compiled in and out, and on lockdep's own.
run cargo test -p lockdep --features enabled,parking_lot-0.13 --test sync_lock_api05 --test sync_parking_lot013
run cargo test -p lockdep --features enabled,parking_lot-0.13 --doc lock_api05
run cargo test -p lockdep --features parking_lot-0.13 --test sync_lock_api05 --test sync_parking_lot013
run cargo test -p lockdep --no-default-features --features enabled,lock_api-0.5 --test sync_lock_api05
run cargo test -p lockdep --release --features enabled-in-release,parking_lot-0.13 --test sync_lock_api05 --test sync_parking_lot013
# The optional integrations: tokio (tasks, async locks) and crossbeam's
# channels as waitable objects (compiled out: the doctests of the API).
run cargo test -p lockdep --features enabled,tokio,crossbeam-channel
run cargo test -p lockdep --release --features enabled-in-release,tokio
run cargo test -p lockdep --features crossbeam-channel --doc crossbeam_channel
run cargo test -p vmalock
run cargo test -p vmalock --features lockdep
# The parking_lot 0.13 shim is a workspace of its own (cargo allows one
# member named parking_lot per workspace); it builds under target/ too.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/shim-0.13" \
  run cargo test --manifest-path shims/parking_lot-0.13/Cargo.toml
if [ -f vmalock/tests/loom.rs ]; then
  # loom needs its own cfg, hence its own target directory (under the one in use).
  LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom" \
    run cargo test -p vmalock --release --test loom
fi
# Every step above stopped the script on failure (pipefail), so reaching
# here means no test failed; the sum says how many ran.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
