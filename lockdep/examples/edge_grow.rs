//! Where a new edge's time goes as the graph grows, measured the way the
//! `graph-growth` bench does (validation compiled in: `--features
//! enabled-in-release`): `R` rounds, each a fresh validator learning a chain
//! of `N` classes (`edge`: `i -> i+1` in order; `redge`: last edge first).
//! Prints, per round, the wall time per new edge and the minor page faults
//! per new edge (`/proc/self/stat`, Linux; 0 elsewhere): the faults of
//! first-touched memory are part of a growing graph's cost that instruction
//! and cache-miss counts do not show.
//!
//! `target/release/examples/edge_grow edge 10000 5`
use std::time::Instant;

use lockdep::{Config, LockClassKey, LockdepMap, Validator};

fn minor_faults() -> u64 {
    // Field 10 of /proc/self/stat (after the parenthesised command name).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| s.rsplit(')').next().and_then(|r| r.split_whitespace().nth(7)?.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    if !lockdep::ENABLED {
        eprintln!("edge_grow needs validation compiled in (--features enabled-in-release)");
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("edge", String::as_str);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let reverse = mode == "redge";
    let keys: &'static [LockClassKey] = Box::leak((0..n).map(|_| LockClassKey::new()).collect());
    let maps: Vec<LockdepMap> = keys.iter().map(|k| LockdepMap::new("chain", k)).collect();
    for round in 0..rounds {
        let v = Validator::new(Config {
            max_classes: 20_000,
            max_dependencies: 20_000,
            max_chains: 100_000,
            ..Config::collect().with_backtraces(false)
        });
        let faults = minor_faults();
        let t = Instant::now();
        v.scope(|| {
            for s in 0..n - 1 {
                let i = if reverse { n - 2 - s } else { s };
                lockdep::mutex_acquire(&maps[i], 0, false);
                lockdep::mutex_acquire(&maps[i + 1], 0, false);
                lockdep::mutex_release(&maps[i + 1]);
                lockdep::mutex_release(&maps[i]);
            }
        });
        let ns = t.elapsed().as_nanos() as f64 / (n - 1) as f64;
        let f = (minor_faults() - faults) as f64 / (n - 1) as f64;
        println!("{mode} {n} round {round}: {ns:.0} ns, {f:.3} minor faults per new edge");
        assert_eq!(v.stats().direct_dependencies, n - 1);
    }
}
