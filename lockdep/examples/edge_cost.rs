//! The instruction cost of the validator's slow paths, for callgrind to count
//! (validation compiled in: `--features enabled-in-release`):
//!
//! * `edge N M [trace]`: a chain of `N` classes is learned (edges `i -> i+1`),
//!   then `M` more new edges are counted inside `new_edges`; `redge`: the
//!   same, every chain built last edge first;
//! * `churn N M`: with `N` validated chains in the store, `M` locks with a
//!   class of their own (`LockdepMap::new_dynamic`) are created, taken under a
//!   static lock and dropped, counted inside `churn`;
//! * `solo N M`: the same, but each lock is taken with nothing held (it
//!   takes part in no dependency), counted inside `solo`;
//! * `idle N M`: the same, but each lock is never taken, counted inside `idle`.
//!
//! With `reuse` (instead of `trace`), a first validator learns a chain as
//! long, uncounted, and is dropped before the counted one is made: the
//! counted validator starts from the first one's emptied tables.
//!
//! With `trace`, `LOCKDEP_BACKTRACE_FRAMES` caps each capture as it does
//! for the global validator (and `LOCKDEP_UNWINDER` picks the unwinder), and a fifth argument `D` runs the counted edges
//! `D` frames deeper (a program's stack is deeper than this example's 17 frames).
//!
//! `valgrind --tool=callgrind --toggle-collect='*new_counted*' target/release/examples/edge_cost edge 10000 1000`
//! (see docs/PERFORMANCE.md, "Round 2"). Run directly it checks that the
//! paths work and prints the validator's counts.
use std::hint::black_box;

use lockdep::{Config, LockClassKey, LockdepMap, Validator};

fn pair(a: &LockdepMap, b: &LockdepMap) {
    lockdep::mutex_acquire(a, 0, false);
    lockdep::mutex_acquire(b, 0, false);
    lockdep::mutex_release(b);
    lockdep::mutex_release(a);
}

/// The counted new edges: `maps[i] -> maps[i+1]` for `i` in `from..to`,
/// last first if `reverse`.
#[inline(never)]
fn new_edges(maps: &[LockdepMap], from: usize, to: usize, reverse: bool) {
    for k in 0..to - from {
        let i = if reverse { to - 1 - k } else { from + k };
        pair(black_box(&maps[i]), &maps[i + 1]);
    }
}

/// The counted part of the chain (a separate symbol for callgrind).
#[inline(never)]
fn new_counted(maps: &[LockdepMap], from: usize, to: usize, reverse: bool) {
    new_edges(maps, from, to, reverse);
}

/// The counted churn: `m` dynamic-class locks taken under `outer`.
#[inline(never)]
fn churn(outer: &LockdepMap, m: usize) {
    for _ in 0..m {
        let map = LockdepMap::new_dynamic("churn");
        pair(black_box(outer), &map);
    }
}

/// The counted solo churn: `m` dynamic-class locks taken alone.
#[inline(never)]
fn solo(m: usize) {
    for _ in 0..m {
        let map = LockdepMap::new_dynamic("solo");
        lockdep::mutex_acquire(black_box(&map), 0, false);
        lockdep::mutex_release(&map);
    }
}

/// The counted idle churn: `m` dynamic-class locks created and dropped.
#[inline(never)]
fn idle(m: usize) {
    for _ in 0..m {
        drop(black_box(LockdepMap::new_dynamic("idle")));
    }
}

/// Runs `f` under `depth` more frames.
#[inline(never)]
fn at_depth(depth: usize, f: &mut dyn FnMut()) -> usize {
    if depth == 0 {
        f();
        return 0;
    }
    // Not a tail call: the frame stays on the stack.
    black_box(at_depth(black_box(depth - 1), f)) + 1
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("edge", String::as_str);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let m: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1_000);
    let traces = args.get(4).is_some_and(|s| s == "trace");
    let depth: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(0);
    let config = || Config {
        max_classes: 2 * (n + m) + 10,
        max_dependencies: 2 * (n + m) + 10,
        max_chains: 4 * (n + m) + 10,
        // `LOCKDEP_BACKTRACE_FRAMES` (the frame cap of a capture) and
        // `LOCKDEP_UNWINDER` (cached or libgcc) are read from the
        // environment, the rest is this example's.
        backtrace_frames: Config::from_env().backtrace_frames,
        unwinder: Config::from_env().unwinder,
        ..Config::collect().with_backtraces(traces)
    };
    if args.get(4).is_some_and(|s| s == "reuse") {
        // The same chain, uncounted, in a validator that is then dropped:
        // the counted one starts from its emptied tables, as each validator
        // after the first of a test suite does (engine/spare.rs).
        let keys: &'static [LockClassKey] = Box::leak((0..n + m).map(|_| LockClassKey::new()).collect());
        let maps: Vec<LockdepMap> = keys.iter().map(|k| LockdepMap::new("chain", k)).collect();
        let first = Validator::new(config());
        first.scope(|| new_edges(&maps, 0, n + m - 1, mode == "redge"));
    }
    let v = Validator::new(config());
    v.scope(|| match mode {
        "churn" | "solo" | "idle" => {
            let keys: &'static [LockClassKey] = Box::leak((0..n + 1).map(|_| LockClassKey::new()).collect());
            let maps: Vec<LockdepMap> = keys.iter().map(|k| LockdepMap::new("filler", k)).collect();
            for w in maps.windows(2) {
                pair(&w[0], &w[1]);
            }
            static OUTER: LockClassKey = LockClassKey::new();
            let outer = LockdepMap::new("outer", &OUTER);
            // The static class, once, outside the counted function.
            pair(&outer, &LockdepMap::new_dynamic("churn"));
            match mode {
                "solo" => solo(m),
                "idle" => idle(m),
                _ => churn(&outer, m),
            }
        }
        _ => {
            let total = n + m;
            let keys: &'static [LockClassKey] = Box::leak((0..total).map(|_| LockClassKey::new()).collect());
            let maps: Vec<LockdepMap> = keys.iter().map(|k| LockdepMap::new("chain", k)).collect();
            let reverse = mode == "redge";
            // The counted edges come after (forward) or before (reverse) the
            // learned ones, continuing the same chain.
            let (learned, counted) = if reverse { (m..total - 1, 0..m) } else { (0..n - 1, n - 1..total - 1) };
            new_edges(&maps, learned.start, learned.end, reverse);
            at_depth(depth, &mut || new_counted(&maps, counted.start, counted.end, reverse));
        }
    });
    let s = v.stats();
    println!("{mode}: {} classes, {} dependencies, {} chains", s.classes, s.direct_dependencies, s.chains);
    if s.stack_traces > 0 {
        println!("{} stack traces, {} frames each on average", s.stack_traces, s.stack_trace_entries / s.stack_traces);
    }
    assert!(v.reports().is_empty());
}
