//! The cost of a *new* dependency as the class graph grows: a chain of 1,000
//! or 10,000 classes built forwards (A->B, B->C, ...) and in reverse (the
//! same edges, last first), with stack-trace capture off and on. The
//! uninstrumented baseline takes the same locks with parking_lot alone.
//!
//! One criterion iteration is one new edge; a fresh validator is started
//! whenever a chain is complete. Only meaningful with validation compiled in.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lockdep::{Config, LockClassKey, LockdepMap, Validator};

struct Chain {
    maps: Vec<LockdepMap>,
    raw: Vec<parking_lot::Mutex<()>>,
}

fn chain(n: usize) -> Chain {
    let keys: &'static [LockClassKey] = Box::leak((0..n).map(|_| LockClassKey::new()).collect());
    Chain {
        maps: keys.iter().map(|k| LockdepMap::new("chain", k)).collect(),
        raw: (0..n).map(|_| parking_lot::Mutex::new(())).collect(),
    }
}

/// Edge `i -> i+1` for the i-th step, forwards or in reverse.
fn edge_index(step: usize, n: usize, reverse: bool) -> usize {
    if reverse { n - 2 - step } else { step }
}

fn run(c: &Chain, iters: u64, reverse: bool, backtraces: bool, instrumented: bool) -> Duration {
    let n = c.maps.len();
    let mut total = Duration::ZERO;
    let mut done = 0u64;
    while done < iters {
        let v = Validator::new(Config {
            max_classes: 20_000,
            max_dependencies: 20_000,
            max_chains: 100_000,
            ..Config::collect().with_backtraces(backtraces)
        });
        let steps = ((iters - done) as usize).min(n - 1);
        v.scope(|| {
            let t = Instant::now();
            for s in 0..steps {
                let i = edge_index(s, n, reverse);
                let (a, b) = (c.raw[i].lock(), c.raw[i + 1].lock());
                if instrumented {
                    lockdep::mutex_acquire(&c.maps[i], 0, false);
                    lockdep::mutex_acquire(&c.maps[i + 1], 0, false);
                    lockdep::mutex_release(&c.maps[i + 1]);
                    lockdep::mutex_release(&c.maps[i]);
                }
                drop((b, a));
            }
            total += t.elapsed();
        });
        if instrumented && lockdep::ENABLED {
            assert_eq!(v.stats().direct_dependencies, steps);
        }
        done += steps as u64;
    }
    total
}

fn growth(c: &mut Criterion) {
    if !lockdep::ENABLED {
        eprintln!("graph benchmarks need validation compiled in (--features enabled-in-release)");
        return;
    }
    for n in [1_000usize, 10_000] {
        let ch = chain(n);
        let mut g = c.benchmark_group(format!("graph-growth-{n}"));
        for (dir, reverse) in [("forward", false), ("reverse", true)] {
            g.bench_function(BenchmarkId::new("parking_lot", dir), |b| {
                b.iter_custom(|i| run(&ch, i, reverse, false, false))
            });
            g.bench_function(BenchmarkId::new("lockdep-notrace", dir), |b| {
                b.iter_custom(|i| run(&ch, i, reverse, false, true))
            });
            g.bench_function(BenchmarkId::new("lockdep-trace", dir), |b| {
                b.iter_custom(|i| run(&ch, i, reverse, true, true))
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(10);
    targets = growth
}
criterion_main!(benches);
