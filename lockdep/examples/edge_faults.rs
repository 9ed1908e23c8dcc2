//! Minor page faults per new edge when every chain starts a fresh validator,
//! as `--bench graph`'s `graph-growth-N/lockdep-*` rows do: `K` chains of `N`
//! classes (edges `i -> i+1`), each in a `Validator` of its own, the first
//! chain not counted (it faults in the process's heap). Faults are the
//! process's `minflt` (`/proc/self/stat`), read before and after each chain's
//! edges (outside them: the validator's creation and drop).
//!
//! `target/release/examples/edge_faults 10000 5` (validation compiled in:
//! `--features enabled-in-release`).
use lockdep::{Config, LockClassKey, LockdepMap, Validator};

fn minflt() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command's closing parenthesis; minflt is the 10th
    // field of the line, the 8th after it.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace().nth(7).and_then(|f| f.parse().ok()).unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let k: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let keys: &'static [LockClassKey] = Box::leak((0..n).map(|_| LockClassKey::new()).collect());
    let maps: Vec<LockdepMap> = keys.iter().map(|k| LockdepMap::new("chain", k)).collect();
    let (mut inside, mut outside) = (0u64, 0u64);
    let mut time = std::time::Duration::ZERO;
    for round in 0..k {
        let f0 = minflt();
        let v = Validator::new(Config {
            max_classes: 20_000,
            max_dependencies: 20_000,
            max_chains: 100_000,
            ..Config::collect().with_backtraces(false)
        });
        let f1 = minflt();
        let t = std::time::Instant::now();
        v.scope(|| {
            for w in maps.windows(2) {
                lockdep::mutex_acquire(&w[0], 0, false);
                lockdep::mutex_acquire(&w[1], 0, false);
                lockdep::mutex_release(&w[1]);
                lockdep::mutex_release(&w[0]);
            }
        });
        let f2 = minflt();
        let dt = t.elapsed();
        assert!(v.reports().is_empty());
        drop(v);
        let f3 = minflt();
        if round > 0 {
            inside += f2 - f1;
            time += dt;
            outside += (f1 - f0) + (f3 - f2);
        }
    }
    let edges = ((k.max(2) - 1) * (n - 1)) as f64;
    println!(
        "{n} classes, {} chains counted: {:.3} minor faults per new edge, {:.1} per validator outside its edges, {:.1} ns per new edge",
        k.max(2) - 1,
        inside as f64 / edges,
        outside as f64 / (k.max(2) - 1) as f64,
        time.as_nanos() as f64 / edges
    );
}
