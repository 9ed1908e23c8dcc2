//! How long `Validator::stats()` and `dump_classes()` take on large graphs
//! (a chain of N classes, the worst case for per-class reachability counts),
//! and how long they hold the graph lock (only the snapshot).
//!
//! ```text
//! cargo run --release -p lockdep --features enabled-in-release --example dump_cost
//! ```

use std::time::Instant;

use lockdep::{Config, LockClassKey, LockdepMap, Validator};

fn main() {
    if !lockdep::ENABLED {
        eprintln!("needs validation compiled in: --features enabled-in-release");
        return;
    }
    for n in [8_192usize, 32_768] {
        let keys: &'static [LockClassKey] = Box::leak((0..n).map(|_| LockClassKey::new()).collect());
        let maps: Vec<LockdepMap> = keys.iter().map(|k| LockdepMap::new("chain", k)).collect();
        let v = Validator::new(Config {
            max_classes: n + 1,
            max_dependencies: n + 1,
            max_chains: 2 * n,
            ..Config::collect().with_backtraces(false)
        });
        v.scope(|| {
            for w in maps.windows(2) {
                lockdep::mutex_acquire(&w[0], 0, false);
                lockdep::mutex_acquire(&w[1], 0, false);
                lockdep::mutex_release(&w[1]);
                lockdep::mutex_release(&w[0]);
            }
        });
        let t = Instant::now();
        let s = v.stats();
        let stats = t.elapsed();
        let t = Instant::now();
        let text = v.dump_classes();
        let dump = t.elapsed();
        println!(
            "{n:>6} classes: stats() {stats:>10.2?} ({} indirect dependencies), dump_classes() {dump:>10.2?} ({} KiB)",
            s.indirect_dependencies,
            text.len() / 1024
        );
    }
}
