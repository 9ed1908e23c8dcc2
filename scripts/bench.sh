#!/usr/bin/env bash
# Runs every benchmark, validation compiled in and out, and prints the ratios
# to each group's uninstrumented baseline. Stack-trace capture in the lockdep
# benchmarks is set by the benchmarks themselves; RUST_BACKTRACE is unset so
# that nothing else captures backtraces.
set -euo pipefail
cd "$(dirname "$0")/.."
unset RUST_BACKTRACE
cargo bench -p lockdep --features enabled-in-release --bench locks
cargo bench -p lockdep --bench locks
cargo bench -p lockdep --features enabled-in-release --bench graph
cargo bench -p lockdep --features enabled-in-release --bench memory
cargo bench -p lockdep --bench memory
cargo bench -p integration --bench fault_path
cargo bench -p vmalock --bench fault_path
cargo bench -p vmalock --features lockdep,lockdep/enabled-in-release --bench fault_path
python3 scripts/bench-ratios.py target/criterion
