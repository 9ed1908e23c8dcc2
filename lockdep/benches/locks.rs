//! Lock and unlock costs of `lockdep`'s lock types against their uninstrumented
//! baselines (std, parking_lot) and against tracing-mutex, in one run.
//!
//! Groups are suffixed `-on` or `-off` after whether validation is compiled
//! in (`--features enabled-in-release`) or out. `scripts/bench.sh` runs both
//! and prints every ratio to the parking_lot baseline of the same group.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use lockdep::{Config, LockClassKey, Validator};

fn suffix() -> &'static str {
    if lockdep::ENABLED { "on" } else { "off" }
}

static KEYS: [LockClassKey; 8] = [const { LockClassKey::new() }; 8];

fn nest_pl(ms: &[parking_lot::Mutex<u64>]) {
    if let Some((first, rest)) = ms.split_first() {
        let mut g = first.lock();
        *g += 1;
        nest_pl(rest);
    }
}

fn nest_ld(ms: &[lockdep::Mutex<u64>]) {
    if let Some((first, rest)) = ms.split_first() {
        let mut g = first.lock();
        *g += 1;
        nest_ld(rest);
    }
}

fn nest_std(ms: &[std::sync::Mutex<u64>]) {
    if let Some((first, rest)) = ms.split_first() {
        let mut g = first.lock().unwrap();
        *g += 1;
        nest_std(rest);
    }
}

fn nest_tm(ms: &[tracing_mutex::stdsync::tracing::Mutex<u64>]) {
    if let Some((first, rest)) = ms.split_first() {
        let mut g = first.lock().unwrap();
        *g += 1;
        nest_tm(rest);
    }
}

fn wnest_pl(ls: &[parking_lot::RwLock<u64>]) {
    if let Some((first, rest)) = ls.split_first() {
        let mut g = first.write();
        *g += 1;
        wnest_pl(rest);
    }
}

fn wnest_ld(ls: &[lockdep::RwLock<u64>]) {
    if let Some((first, rest)) = ls.split_first() {
        let mut g = first.write();
        *g += 1;
        wnest_ld(rest);
    }
}

fn wnest_std(ls: &[std::sync::RwLock<u64>]) {
    if let Some((first, rest)) = ls.split_first() {
        let mut g = first.write().unwrap();
        *g += 1;
        wnest_std(rest);
    }
}

fn wnest_tm(ls: &[tracing_mutex::stdsync::tracing::RwLock<u64>]) {
    if let Some((first, rest)) = ls.split_first() {
        let mut g = first.write().unwrap();
        *g += 1;
        wnest_tm(rest);
    }
}

fn rnest_pl(ls: &[parking_lot::RwLock<u64>]) -> u64 {
    ls.split_first().map_or(0, |(first, rest)| *first.read() + rnest_pl(rest))
}

fn rnest_ld(ls: &[lockdep::RwLock<u64>]) -> u64 {
    ls.split_first().map_or(0, |(first, rest)| *first.read() + rnest_ld(rest))
}

fn rnest_std(ls: &[std::sync::RwLock<u64>]) -> u64 {
    ls.split_first().map_or(0, |(first, rest)| *first.read().unwrap() + rnest_std(rest))
}

fn rnest_tm(ls: &[tracing_mutex::stdsync::tracing::RwLock<u64>]) -> u64 {
    ls.split_first().map_or(0, |(first, rest)| *first.read().unwrap() + rnest_tm(rest))
}

fn validator() -> Validator {
    Validator::new(Config::collect().with_name("bench").with_backtraces(false))
}

fn uncontended(c: &mut Criterion) {
    let v = validator();
    v.scope(|| {
        let mut g = c.benchmark_group(format!("uncontended-{}", suffix()));
        let std_m = std::sync::Mutex::new(0u64);
        let pl = parking_lot::Mutex::new(0u64);
        let ld = lockdep::Mutex::with_key(0u64, &KEYS[0]);
        let tm = tracing_mutex::stdsync::tracing::Mutex::new(0u64);
        g.bench_function("std", |b| b.iter(|| *black_box(&std_m).lock().unwrap() += 1));
        g.bench_function("parking_lot", |b| b.iter(|| *black_box(&pl).lock() += 1));
        g.bench_function("lockdep", |b| b.iter(|| *black_box(&ld).lock() += 1));
        g.bench_function("tracing-mutex", |b| b.iter(|| *black_box(&tm).lock().unwrap() += 1));
        g.finish();
    });
    assert!(v.reports().is_empty());
}

fn nests(c: &mut Criterion) {
    let v = validator();
    v.scope(|| {
        for n in [2usize, 4, 8] {
            let mut g = c.benchmark_group(format!("nest{n}-{}", suffix()));
            let std_m: Vec<_> = (0..n).map(|_| std::sync::Mutex::new(0u64)).collect();
            let pl: Vec<_> = (0..n).map(|_| parking_lot::Mutex::new(0u64)).collect();
            let ld: Vec<_> = (0..n).map(|i| lockdep::Mutex::with_key(0u64, &KEYS[i])).collect();
            let tm: Vec<_> = (0..n).map(|_| tracing_mutex::stdsync::tracing::Mutex::new(0u64)).collect();
            g.bench_function("std", |b| b.iter(|| nest_std(black_box(&std_m))));
            g.bench_function("parking_lot", |b| b.iter(|| nest_pl(black_box(&pl))));
            g.bench_function("lockdep", |b| b.iter(|| nest_ld(black_box(&ld))));
            g.bench_function("tracing-mutex", |b| b.iter(|| nest_tm(black_box(&tm))));
            g.finish();
        }
    });
    assert!(v.reports().is_empty());
}

/// Nests after a limit ran out: chains validated before stay on the fast path.
fn nest_after_limit(c: &mut Criterion) {
    let v = Validator::new(Config { max_classes: 4, ..Config::collect().with_name("bench").with_backtraces(false) });
    v.scope(|| {
        let mut g = c.benchmark_group(format!("nest4-after-limit-{}", suffix()));
        let pl: Vec<_> = (0..4).map(|_| parking_lot::Mutex::new(0u64)).collect();
        let ld: Vec<_> = (0..4).map(|i| lockdep::Mutex::with_key(0u64, &KEYS[i])).collect();
        nest_ld(&ld);
        let extra = lockdep::Mutex::with_key(0u64, &KEYS[7]);
        drop(extra.lock()); // a fifth class: the limit
        assert!(!lockdep::ENABLED || !v.is_validating(), "the limit was reached");
        g.bench_function("parking_lot", |b| b.iter(|| nest_pl(black_box(&pl))));
        g.bench_function("lockdep", |b| b.iter(|| nest_ld(black_box(&ld))));
        g.finish();
    });
}

fn rwlock_read(c: &mut Criterion) {
    let v = validator();
    v.scope(|| {
        let mut g = c.benchmark_group(format!("rwlock-read-{}", suffix()));
        let std_l = std::sync::RwLock::new(0u64);
        let pl = parking_lot::RwLock::new(0u64);
        let ld = lockdep::RwLock::with_key(0u64, &KEYS[0]);
        g.bench_function("std", |b| b.iter(|| *black_box(&std_l).read().unwrap()));
        g.bench_function("parking_lot", |b| b.iter(|| *black_box(&pl).read()));
        g.bench_function("lockdep", |b| b.iter(|| *black_box(&ld).read()));
        g.finish();
    });
}

/// The nests' shape over rwlocks: write nests of 2, 4 and 8 (each lock its
/// own class) and a read nest of 4. Each frame's guard is held across the
/// call below, as in `nests`.
fn rwlock_nests(c: &mut Criterion) {
    let v = validator();
    v.scope(|| {
        for n in [2usize, 4, 8] {
            let mut g = c.benchmark_group(format!("rwlock-write-nest{n}-{}", suffix()));
            let std_l: Vec<_> = (0..n).map(|_| std::sync::RwLock::new(0u64)).collect();
            let pl: Vec<_> = (0..n).map(|_| parking_lot::RwLock::new(0u64)).collect();
            let ld: Vec<_> = (0..n).map(|i| lockdep::RwLock::with_key(0u64, &KEYS[i])).collect();
            let tm: Vec<_> = (0..n).map(|_| tracing_mutex::stdsync::tracing::RwLock::new(0u64)).collect();
            g.bench_function("std", |b| b.iter(|| wnest_std(black_box(&std_l))));
            g.bench_function("parking_lot", |b| b.iter(|| wnest_pl(black_box(&pl))));
            g.bench_function("lockdep", |b| b.iter(|| wnest_ld(black_box(&ld))));
            g.bench_function("tracing-mutex", |b| b.iter(|| wnest_tm(black_box(&tm))));
            g.finish();
        }
        let mut g = c.benchmark_group(format!("rwlock-read-nest4-{}", suffix()));
        let std_l: Vec<_> = (0..4).map(|_| std::sync::RwLock::new(1u64)).collect();
        let pl: Vec<_> = (0..4).map(|_| parking_lot::RwLock::new(1u64)).collect();
        let ld: Vec<_> = (0..4).map(|i| lockdep::RwLock::with_key(1u64, &KEYS[i])).collect();
        let tm: Vec<_> = (0..4).map(|_| tracing_mutex::stdsync::tracing::RwLock::new(1u64)).collect();
        g.bench_function("std", |b| b.iter(|| rnest_std(black_box(&std_l))));
        g.bench_function("parking_lot", |b| b.iter(|| rnest_pl(black_box(&pl))));
        g.bench_function("lockdep", |b| b.iter(|| rnest_ld(black_box(&ld))));
        g.bench_function("tracing-mutex", |b| b.iter(|| rnest_tm(black_box(&tm))));
        g.finish();
    });
    assert!(v.reports().is_empty());
}

/// `iters` lock+unlock pairs on each of `threads` threads, each on a private
/// lock, all released together by a barrier: the wall time of the slowest.
fn on_threads<M: Send + Sync + 'static>(threads: usize, iters: u64, make: fn() -> M, op: fn(&M)) -> Duration {
    let start = Arc::new(Barrier::new(threads + 1));
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                let v = validator();
                v.scope(|| {
                    let m = make();
                    op(&m); // warm: learn the chain
                    start.wait();
                    let t = Instant::now();
                    for _ in 0..iters {
                        op(black_box(&m));
                    }
                    t.elapsed()
                })
            })
        })
        .collect();
    start.wait();
    hs.into_iter().map(|h| h.join().unwrap()).max().unwrap_or_default()
}

fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("threads-{}", suffix()));
    let pl_make = || parking_lot::Mutex::new(0u64);
    let pl_op = |m: &parking_lot::Mutex<u64>| *m.lock() += 1;
    let ld_make = || lockdep::Mutex::with_key(0u64, &KEYS[0]);
    let ld_op = |m: &lockdep::Mutex<u64>| *m.lock() += 1;
    g.bench_function("parking_lot-1", |b| b.iter_custom(|i| on_threads(1, i, pl_make, pl_op)));
    g.bench_function("parking_lot-2", |b| b.iter_custom(|i| on_threads(2, i, pl_make, pl_op)));
    g.bench_function("lockdep-1", |b| b.iter_custom(|i| on_threads(1, i, ld_make, ld_op)));
    g.bench_function("lockdep-2", |b| b.iter_custom(|i| on_threads(2, i, ld_make, ld_op)));
    g.finish();
}

/// Like [`on_threads`], but every thread runs in one shared validator and
/// its locks share one class: the steady state must write nothing another
/// thread reads (the class, the validator word and the chain are shared
/// read-only; the held-lock stack and the chain cache are per thread; the
/// only store outside the thread is its own lock's holder word).
fn on_threads_shared<M: Send + Sync + 'static>(
    v: &Validator,
    threads: usize,
    iters: u64,
    make: fn() -> M,
    op: fn(&M),
) -> Duration {
    let start = Arc::new(Barrier::new(threads + 1));
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let (start, v) = (start.clone(), v.clone());
            std::thread::spawn(move || {
                v.scope(|| {
                    let m = make();
                    op(&m); // warm: learn the chain, fill the caches
                    start.wait();
                    let t = Instant::now();
                    for _ in 0..iters {
                        op(black_box(&m));
                    }
                    t.elapsed()
                })
            })
        })
        .collect();
    start.wait();
    hs.into_iter().map(|h| h.join().unwrap()).max().unwrap_or_default()
}

/// The thread-count sweep: 1, 2, 4, 8 and 16 threads, each taking a private
/// nest of two locks (all threads' locks in the same two classes, one shared
/// validator), against parking_lot and tracing-mutex the same way. Time per
/// nest on the slowest thread; on a machine with fewer cores than threads the
/// threads time-share, so compare libraries at the same thread count.
fn thread_sweep(c: &mut Criterion) {
    let v = validator();
    let mut g = c.benchmark_group(format!("thread-sweep-{}", suffix()));
    type Pl = (parking_lot::Mutex<u64>, parking_lot::Mutex<u64>);
    type Ld = (lockdep::Mutex<u64>, lockdep::Mutex<u64>);
    type Tm = (tracing_mutex::stdsync::tracing::Mutex<u64>, tracing_mutex::stdsync::tracing::Mutex<u64>);
    for n in [1usize, 2, 4, 8, 16] {
        g.bench_function(format!("parking_lot/{n}"), |b| {
            b.iter_custom(|i| {
                on_threads_shared::<Pl>(
                    &v,
                    n,
                    i,
                    || (parking_lot::Mutex::new(0), parking_lot::Mutex::new(0)),
                    |m| {
                        let (mut a, mut b) = (m.0.lock(), m.1.lock());
                        *a += 1;
                        *b += 1;
                    },
                )
            })
        });
        g.bench_function(format!("lockdep/{n}"), |b| {
            b.iter_custom(|i| {
                on_threads_shared::<Ld>(
                    &v,
                    n,
                    i,
                    || (lockdep::Mutex::with_key(0, &KEYS[0]), lockdep::Mutex::with_key(0, &KEYS[1])),
                    |m| {
                        let (mut a, mut b) = (m.0.lock(), m.1.lock());
                        *a += 1;
                        *b += 1;
                    },
                )
            })
        });
        g.bench_function(format!("tracing-mutex/{n}"), |b| {
            b.iter_custom(|i| {
                on_threads_shared::<Tm>(
                    &v,
                    n,
                    i,
                    || (tracing_mutex::stdsync::tracing::Mutex::new(0), tracing_mutex::stdsync::tracing::Mutex::new(0)),
                    |m| {
                        let (mut a, mut b) = (m.0.lock().unwrap(), m.1.lock().unwrap());
                        *a += 1;
                        *b += 1;
                    },
                )
            })
        });
    }
    g.finish();
    assert!(v.reports().is_empty());
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = uncontended, nests, nest_after_limit, rwlock_read, rwlock_nests, two_threads, thread_sweep
}
criterion_main!(benches);
