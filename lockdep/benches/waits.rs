//! What waits and events cost (book chapter 16), against their
//! uninstrumented baselines in the same run. Groups are suffixed `-on` or
//! `-off` after whether validation is compiled in.
//!
//! * `waits-*`: one thread, a lock `outer` held throughout (so that every
//!   hook has something to depend on), in the steady state:
//!   - `lock-under-outer`: a lockdep mutex lock + unlock under `outer` —
//!     "one lock acquisition", the budget of a wait;
//!   - `lock_wait`: the wait hook alone (pseudo-lock acquire + release);
//!   - `notify-parking_lot` / `notify-lockdep`: a notify with no waiter (the
//!     event hook);
//!   - `mpsc-std` / `mpsc-lockdep`: a send then a receive that finds the
//!     message (an event and a wait), with no lock held.
//! * `condvar-pingpong-*`: a notify/wait round trip between two threads,
//!   parking_lot's condvar and mutex against lockdep's.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use lockdep::{Config, LockClassKey, LockdepMap, Validator};

fn suffix() -> &'static str {
    if lockdep::ENABLED { "on" } else { "off" }
}

fn validator() -> Validator {
    Validator::new(Config::collect().with_name("bench").with_backtraces(false))
}

static OUTER: LockClassKey = LockClassKey::new();
static INNER: LockClassKey = LockClassKey::new();
static WAITABLE: LockClassKey = LockClassKey::new();

fn single_thread(c: &mut Criterion) {
    let v = validator();
    v.scope(|| {
        let mut g = c.benchmark_group(format!("waits-{}", suffix()));
        let outer = lockdep::Mutex::with_key((), &OUTER);
        let pl_outer = parking_lot::Mutex::new(());
        let inner = lockdep::Mutex::with_key(0u64, &INNER);
        let wait_map = LockdepMap::new("waitable", &WAITABLE);
        let pl_cv = parking_lot::Condvar::new();
        let ld_cv = lockdep::Condvar::new();
        let (std_tx, std_rx) = std::sync::mpsc::channel::<u64>();
        let (ld_tx, ld_rx) = lockdep::std_sync::mpsc::channel::<u64>();
        {
            let _o = outer.lock();
            g.bench_function("lock-under-outer", |b| b.iter(|| *black_box(&inner).lock() += 1));
            g.bench_function("lock_wait", |b| b.iter(|| lockdep::lock_wait(black_box(&wait_map))));
            g.bench_function("notify-lockdep", |b| b.iter(|| black_box(&ld_cv).notify_one()));
        }
        {
            let _o = pl_outer.lock();
            g.bench_function("notify-parking_lot", |b| b.iter(|| black_box(&pl_cv).notify_one()));
        }
        // No lock held: a send and a receive under one lock would be the
        // very cycle the channel reports.
        g.bench_function("mpsc-lockdep", |b| {
            b.iter(|| {
                ld_tx.send(black_box(1)).unwrap();
                ld_rx.recv().unwrap()
            })
        });
        g.bench_function("mpsc-std", |b| {
            b.iter(|| {
                std_tx.send(black_box(1)).unwrap();
                std_rx.recv().unwrap()
            })
        });
        g.finish();
    });
    assert!(v.reports().is_empty(), "{:?}", v.reports());
}

/// `iters` round trips: the main thread flips the flag to `true` and waits
/// for the partner to flip it back, each side notifying the other.
fn pingpong<M, C>(
    iters: u64,
    pair: Arc<(M, C)>,
    flip: impl Fn(&(M, C), bool) + Send + Sync + Copy + 'static,
) -> Duration
where
    M: Send + Sync + 'static,
    C: Send + Sync + 'static,
{
    let partner = {
        let pair = Arc::clone(&pair);
        std::thread::spawn(move || {
            for _ in 0..iters {
                flip(&pair, false);
            }
        })
    };
    let start = Instant::now();
    for _ in 0..iters {
        flip(&pair, true);
    }
    let elapsed = start.elapsed();
    partner.join().unwrap();
    elapsed
}

/// Waits until the flag is `!to`, sets it to `to`, notifies.
fn flip_pl(pair: &(parking_lot::Mutex<bool>, parking_lot::Condvar), to: bool) {
    let mut f = pair.0.lock();
    while *f == to {
        pair.1.wait(&mut f);
    }
    *f = to;
    pair.1.notify_one();
}

fn flip_ld(pair: &(lockdep::Mutex<bool>, lockdep::Condvar), to: bool) {
    let mut f = pair.0.lock();
    while *f == to {
        pair.1.wait(&mut f);
    }
    *f = to;
    pair.1.notify_one();
}

fn condvar_pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group(format!("condvar-pingpong-{}", suffix()));
    g.bench_function("parking_lot", |b| {
        b.iter_custom(|i| pingpong(i, Arc::new((parking_lot::Mutex::new(true), parking_lot::Condvar::new())), flip_pl))
    });
    g.bench_function("lockdep", |b| {
        b.iter_custom(|i| pingpong(i, Arc::new((lockdep::Mutex::new(true), lockdep::Condvar::new())), flip_ld))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    targets = single_thread, condvar_pingpong
}
criterion_main!(benches);
