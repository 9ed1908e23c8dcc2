//! The time of a dynamic-class lock created, taken under a static lock and
//! dropped (`--bench graph`'s `class-removal-0` step), in a validator made
//! after a first one learned a `PRE`-class chain and was dropped (so that,
//! with `engine/spare.rs`, it starts from the first one's emptied tables):
//! the best of five rounds of `M / 5` churns.
//!
//! `target/release/examples/churn_after 10000 1000000` (validation compiled
//! in: `--features enabled-in-release`); `PRE` 0: no first validator.
use lockdep::{Config, LockClassKey, LockdepMap, Validator};

fn config() -> Config {
    Config {
        max_classes: 30_000,
        max_dependencies: 30_000,
        max_chains: 100_000,
        ..Config::collect().with_backtraces(false)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pre: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let m: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    if pre > 1 {
        let keys: &'static [LockClassKey] = Box::leak((0..pre).map(|_| LockClassKey::new()).collect());
        let maps: Vec<LockdepMap> = keys.iter().map(|k| LockdepMap::new("chain", k)).collect();
        let first = Validator::new(config());
        first.scope(|| {
            for w in maps.windows(2) {
                lockdep::mutex_acquire(&w[0], 0, false);
                lockdep::mutex_acquire(&w[1], 0, false);
                lockdep::mutex_release(&w[1]);
                lockdep::mutex_release(&w[0]);
            }
        });
    }
    let v = Validator::new(config());
    static OUTER: LockClassKey = LockClassKey::new();
    let outer = LockdepMap::new("outer", &OUTER);
    v.scope(|| {
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = std::time::Instant::now();
            for _ in 0..m / 5 {
                let map = LockdepMap::new_dynamic("churn");
                lockdep::mutex_acquire(std::hint::black_box(&outer), 0, false);
                lockdep::mutex_acquire(&map, 0, false);
                lockdep::mutex_release(&map);
                lockdep::mutex_release(&outer);
            }
            best = best.min(t.elapsed().as_nanos() as f64 / (m / 5).max(1) as f64);
        }
        println!(
            "after a {pre}-class validator: {best:.1} ns per dynamic-class lock created, locked and dropped (best of 5)"
        );
    });
    assert!(v.reports().is_empty());
}
