#!/usr/bin/env bash
# Runs every test of the workspace, each crate in both feature states.
# This is the README's "run all tests" command.
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
run() { echo "+ $*"; "$@"; }
run cargo test --workspace
run cargo test -p lockdep
run cargo test -p lockdep --features enabled
run cargo test -p lockdep --release --features enabled-in-release
run cargo test -p vmalock
run cargo test -p vmalock --features lockdep
if [ -f vmalock/tests/loom.rs ]; then
  LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom run cargo test -p vmalock --release --test loom
fi
