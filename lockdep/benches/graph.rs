//! The cost of a *new* dependency as the class graph grows: a chain of 1,000
//! or 10,000 classes built forwards (A->B, B->C, ...) and in reverse (the
//! same edges, last first), with stack-trace capture off and on. The
//! uninstrumented baseline takes the same locks with parking_lot alone;
//! tracing-mutex (every mutex its own node) learns the same chain, with fresh
//! mutexes for every chain (made and dropped outside the timed steps), and so
//! does lockdep with every lock a class of its own (`lockdep-notrace-dynamic`:
//! one validator, the chain's classes removed after each chain).
//!
//! One criterion iteration is one new edge; a fresh validator is started
//! whenever a chain is complete. Only meaningful with validation compiled in.
//!
//! `class-removal-N`: a lock with a class of its own (a `DynamicKey`) created,
//! taken under a static lock and dropped — which removes its class — while
//! the validator holds N other validated chains; removal must cost what the
//! class owns, flat in N. tracing-mutex does the same with a mutex of its own
//! (each is its own node), its graph holding N edges as well.
//! `stall-during-dump`: the same churn on one thread
//! while another dumps an 8,192-class graph (`dump_classes`) in a loop: the
//! dump computes outside the graph lock, so the churn barely notices.

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
            // `LOCKDEP_UNWINDER=libgcc`: the traced rows with libgcc's unwinder.
            unwinder: Config::from_env().unwinder,
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

/// [`run`] with every lock a class of its own (`LockdepMap::new_dynamic`,
/// tracing-mutex's per-instance semantics) in one validator for the whole
/// run: each chain's maps are made before its timed steps and dropped after
/// them (which removes their classes), so the validator's tables keep their
/// size from chain to chain, as tracing-mutex's graph does.
fn run_dynamic(v: &Validator, raw: &[parking_lot::Mutex<()>], iters: u64, reverse: bool) -> Duration {
    let n = raw.len();
    let mut total = Duration::ZERO;
    let mut done = 0u64;
    v.scope(|| {
        while done < iters {
            let maps: Vec<LockdepMap> = (0..n).map(|_| LockdepMap::new_dynamic("chain")).collect();
            let steps = ((iters - done) as usize).min(n - 1);
            let before = v.stats().direct_dependencies;
            let t = Instant::now();
            for s in 0..steps {
                let i = edge_index(s, n, reverse);
                let (a, b) = (raw[i].lock(), raw[i + 1].lock());
                lockdep::mutex_acquire(&maps[i], 0, false);
                lockdep::mutex_acquire(&maps[i + 1], 0, false);
                lockdep::mutex_release(&maps[i + 1]);
                lockdep::mutex_release(&maps[i]);
                drop((b, a));
            }
            total += t.elapsed();
            assert_eq!(v.stats().direct_dependencies, before + steps);
            drop(maps);
            done += steps as u64;
        }
    });
    total
}

type TmMutex = tracing_mutex::stdsync::tracing::Mutex<()>;

/// [`run`] for tracing-mutex: the same steps over `n` fresh mutexes a chain.
///
/// tracing-mutex hands a dropped node's topological order to the next new
/// node (last freed, first reused), and a finished chain's orders follow the
/// chain whichever way it was learned: the mutexes are dropped last first, so
/// the next chain's nodes get ascending orders as in a fresh graph (as every
/// lockdep chain starts in a fresh validator). Dropped first first, a chain
/// learned in reverse would reuse orders that already fit it.
fn run_tm(n: usize, iters: u64, reverse: bool) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0u64;
    while done < iters {
        let mut ms: Vec<TmMutex> = (0..n).map(|_| TmMutex::new(())).collect();
        let steps = ((iters - done) as usize).min(n - 1);
        let t = Instant::now();
        for s in 0..steps {
            let i = edge_index(s, n, reverse);
            let a = ms[i].lock().unwrap();
            let b = ms[i + 1].lock().unwrap();
            drop((b, a));
        }
        total += t.elapsed();
        while ms.pop().is_some() {}
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
            g.bench_function(BenchmarkId::new("lockdep-notrace-dynamic", dir), |b| {
                let v = Validator::new(Config {
                    max_classes: 30_000,
                    max_dependencies: 30_000,
                    max_chains: 100_000,
                    ..Config::collect().with_backtraces(false)
                });
                b.iter_custom(|i| run_dynamic(&v, &ch.raw, i, reverse));
                assert!(v.reports().is_empty());
            });
            g.bench_function(BenchmarkId::new("tracing-mutex", dir), |b| b.iter_custom(|i| run_tm(n, i, reverse)));
        }
        g.finish();
    }
}

/// Validates `n` distinct two-lock chains among static classes.
fn fill_chains(n: usize) -> Vec<LockdepMap> {
    let side = (n as f64).sqrt().ceil() as usize + 1;
    let keys: &'static [LockClassKey] = Box::leak((0..side).map(|_| LockClassKey::new()).collect());
    let maps: Vec<LockdepMap> = keys.iter().map(|k| LockdepMap::new("filler", k)).collect();
    // Only i < j pairs: no inversions, and n distinct chains.
    let pairs = (0..side).flat_map(|i| (i + 1..side).map(move |j| (i, j))).take(n);
    for (i, j) in pairs {
        lockdep::mutex_acquire(&maps[i], 0, false);
        lockdep::mutex_acquire(&maps[j], 0, false);
        lockdep::mutex_release(&maps[j]);
        lockdep::mutex_release(&maps[i]);
    }
    maps
}

/// One create + lock-under-a-static-lock + drop of a lock with its own class.
fn churn_once(outer: &LockdepMap, raw_outer: &parking_lot::Mutex<()>, instrumented: bool) {
    let inner = parking_lot::Mutex::new(());
    let _o = raw_outer.lock();
    let _i = inner.lock();
    if instrumented {
        let map = LockdepMap::new_dynamic("churn");
        lockdep::mutex_acquire(outer, 0, false);
        lockdep::mutex_acquire(&map, 0, false);
        lockdep::mutex_release(&map);
        lockdep::mutex_release(outer);
    }
}

/// [`churn_once`] for tracing-mutex.
fn churn_once_tm(outer: &TmMutex) {
    let inner = TmMutex::new(());
    let _o = outer.lock().unwrap();
    let _i = inner.lock().unwrap();
}

/// tracing-mutex's graph with `n` edges among `side` mutexes, kept alive.
fn fill_tm(n: usize) -> Vec<TmMutex> {
    let side = (n as f64).sqrt().ceil() as usize + 1;
    let ms: Vec<TmMutex> = (0..side).map(|_| TmMutex::new(())).collect();
    let pairs = (0..side).flat_map(|i| (i + 1..side).map(move |j| (i, j))).take(n);
    for (i, j) in pairs {
        let a = ms[i].lock().unwrap();
        let b = ms[j].lock().unwrap();
        drop((b, a));
    }
    ms
}

fn big_validator() -> Validator {
    Validator::new(Config {
        max_classes: 100_000,
        max_dependencies: 200_000,
        max_chains: 200_000,
        ..Config::collect().with_backtraces(false)
    })
}

fn class_removal(c: &mut Criterion) {
    if !lockdep::ENABLED {
        return;
    }
    static OUTER: LockClassKey = LockClassKey::new();
    let outer = LockdepMap::new("outer", &OUTER);
    let raw_outer = parking_lot::Mutex::new(());
    for n in [0usize, 10_000, 50_000] {
        let v = big_validator();
        v.scope(|| {
            let _fill = fill_chains(n);
            let mut g = c.benchmark_group(format!("class-removal-{n}"));
            g.bench_function("parking_lot", |b| b.iter(|| churn_once(&outer, &raw_outer, false)));
            g.bench_function("lockdep-notrace", |b| b.iter(|| churn_once(&outer, &raw_outer, true)));
            let tm_outer = TmMutex::new(());
            let _tm_fill = fill_tm(n);
            g.bench_function("tracing-mutex", |b| b.iter(|| churn_once_tm(&tm_outer)));
            g.finish();
        });
        assert!(v.reports().is_empty());
    }
}

fn stall_during_dump(c: &mut Criterion) {
    if !lockdep::ENABLED {
        return;
    }
    static OUTER: LockClassKey = LockClassKey::new();
    let outer = LockdepMap::new("outer", &OUTER);
    let raw_outer = parking_lot::Mutex::new(());
    let v = big_validator();
    let ch = chain(8_192);
    v.scope(|| {
        for w in ch.maps.windows(2) {
            lockdep::mutex_acquire(&w[0], 0, false);
            lockdep::mutex_acquire(&w[1], 0, false);
            lockdep::mutex_release(&w[1]);
            lockdep::mutex_release(&w[0]);
        }
    });
    let mut g = c.benchmark_group("stall-during-dump-8192");
    for dumping in [false, true] {
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            if dumping {
                s.spawn(|| {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::black_box(v.dump_classes());
                    }
                });
            }
            let (base, name) = if dumping {
                ("parking_lot-while-dumping", "lockdep-notrace-while-dumping")
            } else {
                ("parking_lot", "lockdep-notrace")
            };
            v.scope(|| {
                g.bench_function(base, |b| b.iter(|| churn_once(&outer, &raw_outer, false)));
                g.bench_function(name, |b| b.iter(|| churn_once(&outer, &raw_outer, true)));
            });
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(10);
    targets = growth, class_removal, stall_during_dump
}
criterion_main!(benches);
