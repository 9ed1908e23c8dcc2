//! `lockdep::sync::park`: the raw locks built on `parking_lot_core` alone,
//! which the drop-in parking_lot shims instrument. Mutual exclusion under
//! contention, the rwlock's modes and writer preference, timeouts, fair
//! hand-over, the condvar and `Once`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use lock_api::{
    RawMutex as _, RawMutexFair as _, RawMutexTimed as _, RawRwLock as _, RawRwLockRecursive as _, RawRwLockTimed as _,
    RawRwLockUpgrade as _, RawRwLockUpgradeTimed as _,
};
use lockdep::sync::park::{Once, OnceState, RawFairMutex, RawMutex, RawRwLock};

type Mutex<T> = lock_api::Mutex<RawMutex, T>;
type RwLock<T> = lock_api::RwLock<RawRwLock, T>;

/// Spins (yielding) until `cond` holds: waits for another thread to reach a
/// state this one can observe, without sleeping.
fn until(cond: impl Fn() -> bool) {
    while !cond() {
        thread::yield_now();
    }
}

#[test]
fn mutex_excludes_under_contention() {
    let m = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..20_000 {
                    // A read-modify-write that loses updates without exclusion.
                    let mut g = m.lock();
                    let v = *g;
                    *g = v + 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.lock(), 80_000);
}

#[test]
fn fair_mutex_excludes_under_contention() {
    let m = Arc::new(lock_api::Mutex::<RawFairMutex, u64>::new(0));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..5_000 {
                    let mut g = m.lock();
                    let v = *g;
                    *g = v + 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.lock(), 15_000);
}

#[test]
fn mutex_try_and_timed_lock_fail_while_held_and_succeed_after() {
    let raw = Arc::new(RawMutex::new());
    raw.lock();
    assert!(raw.is_locked());
    assert!(!raw.try_lock());
    let r = raw.clone();
    let start = Instant::now();
    let timed_out = thread::spawn(move || r.try_lock_for(Duration::from_millis(20))).join().unwrap();
    assert!(!timed_out);
    assert!(start.elapsed() >= Duration::from_millis(20));
    // A waiter that times out leaves the mutex usable.
    // SAFETY: locked above by this thread.
    unsafe { raw.unlock() };
    assert!(!raw.is_locked());
    assert!(raw.try_lock_until(Instant::now() + Duration::from_millis(20)));
    // SAFETY: just locked.
    unsafe { raw.unlock() };
}

#[test]
fn mutex_timed_lock_gets_it_when_released() {
    let raw = Arc::new(RawMutex::new());
    raw.lock();
    let (tx, rx) = mpsc::channel();
    let r = raw.clone();
    let t = thread::spawn(move || {
        tx.send(()).unwrap();
        let got = r.try_lock_for(Duration::from_secs(60));
        if got {
            // SAFETY: just locked by this thread.
            unsafe { r.unlock() };
        }
        got
    });
    rx.recv().unwrap();
    // SAFETY: locked above by this thread.
    unsafe { raw.unlock() };
    assert!(t.join().unwrap());
}

#[test]
fn bump_hands_the_mutex_to_a_waiter() {
    let m = Arc::new(Mutex::new(Vec::new()));
    let mut g = m.lock();
    let m2 = m.clone();
    let t = thread::spawn(move || m2.lock().push("waiter"));
    // Once the waiter parked, a bump must let it in before we continue.
    while g.is_empty() {
        lock_api::MutexGuard::bump(&mut g);
        thread::yield_now();
    }
    g.push("bumper");
    drop(g);
    t.join().unwrap();
    assert_eq!(*m.lock(), ["waiter", "bumper"]);
}

#[test]
fn unlock_fair_wakes_a_waiter() {
    let raw = Arc::new(RawMutex::new());
    raw.lock();
    let r = raw.clone();
    let entered = Arc::new(AtomicBool::new(false));
    let e = entered.clone();
    let t = thread::spawn(move || {
        r.lock();
        e.store(true, Ordering::SeqCst);
        // SAFETY: just locked.
        unsafe { r.unlock() };
    });
    // SAFETY: locked above by this thread.
    unsafe { raw.unlock_fair() };
    t.join().unwrap();
    assert!(entered.load(Ordering::SeqCst));
    assert!(!raw.is_locked());
}

#[test]
fn rwlock_readers_share_and_writers_exclude() {
    let lock = Arc::new(RwLock::new(0u64));
    let readers_in = Arc::new(AtomicUsize::new(0));
    // Two readers inside at once: each waits for the other.
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (lock, barrier) = (lock.clone(), barrier.clone());
            thread::spawn(move || {
                let g = lock.read();
                barrier.wait();
                *g
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 0);
    }
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let (lock, readers_in) = (lock.clone(), readers_in.clone());
            thread::spawn(move || {
                for i in 0..5_000 {
                    if i % 4 == 0 {
                        let mut w = lock.write();
                        assert_eq!(readers_in.load(Ordering::SeqCst), 0, "a reader inside with a writer");
                        let v = *w;
                        *w = v + 1;
                    } else {
                        let _r = lock.read();
                        readers_in.fetch_add(1, Ordering::SeqCst);
                        readers_in.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for t in writers {
        t.join().unwrap();
    }
    assert_eq!(*lock.read(), 3 * 1_250);
}

#[test]
fn rwlock_waiting_writer_blocks_new_readers_but_not_recursive_ones() {
    let raw = Arc::new(RawRwLock::new());
    raw.lock_shared();
    let r = raw.clone();
    let writer = thread::spawn(move || {
        r.lock_exclusive();
        // SAFETY: just locked.
        unsafe { r.unlock_exclusive() };
    });
    // The writer has claimed the lock and waits for our read lock to go.
    until(|| raw.is_locked_exclusive());
    assert!(!raw.try_lock_shared(), "a new reader must queue behind the waiting writer");
    assert!(raw.try_lock_shared_recursive(), "a recursive reader must not");
    // SAFETY: both read locks are held by this thread.
    unsafe {
        raw.unlock_shared();
        raw.unlock_shared();
    }
    writer.join().unwrap();
    assert!(!raw.is_locked());
}

#[test]
fn rwlock_upgradable_excludes_writers_and_upgrade_waits_for_readers() {
    let raw = Arc::new(RawRwLock::new());
    raw.lock_upgradable();
    assert!(raw.try_lock_shared(), "readers coexist with the upgradable reader");
    assert!(!raw.try_lock_upgradable());
    assert!(!raw.try_lock_exclusive());
    // SAFETY: the upgradable lock is held; a reader is inside.
    assert!(!unsafe { raw.try_upgrade() });
    // SAFETY: as above.
    assert!(!unsafe { raw.try_upgrade_for(Duration::from_millis(10)) });
    // The failed upgrade left the upgradable lock held, readers welcome.
    assert!(raw.try_lock_shared());
    // SAFETY: taken just above.
    unsafe { raw.unlock_shared() };
    let r = raw.clone();
    let (tx, rx) = mpsc::channel();
    let upgrader = thread::spawn(move || {
        // SAFETY: the upgradable lock is handed to this thread below, which
        // the lock allows (it keeps no owner).
        unsafe { r.upgrade() };
        tx.send(()).unwrap();
        // SAFETY: upgraded above.
        unsafe { r.unlock_exclusive() };
    });
    until(|| raw.is_locked_exclusive());
    assert!(rx.try_recv().is_err(), "the upgrade must wait for the reader");
    // SAFETY: the read lock taken above.
    unsafe { raw.unlock_shared() };
    rx.recv().unwrap();
    upgrader.join().unwrap();
    assert!(!raw.is_locked());
}

#[test]
fn rwlock_timeouts_give_the_claim_back() {
    let raw = Arc::new(RawRwLock::new());
    raw.lock_shared();
    let r = raw.clone();
    // The writer claims, waits for our reader, times out, and must leave the
    // lock as it found it.
    assert!(!thread::spawn(move || r.try_lock_exclusive_for(Duration::from_millis(20))).join().unwrap());
    assert!(!raw.is_locked_exclusive());
    assert!(raw.try_lock_shared(), "readers are welcome again");
    // SAFETY: two read locks held by this thread.
    unsafe {
        raw.unlock_shared();
        raw.unlock_shared();
    }
    raw.lock_exclusive();
    let r = raw.clone();
    assert!(!thread::spawn(move || r.try_lock_shared_for(Duration::from_millis(10))).join().unwrap());
    let r = raw.clone();
    assert!(!thread::spawn(move || r.try_lock_upgradable_for(Duration::from_millis(10))).join().unwrap());
    // SAFETY: held exclusively by this thread.
    unsafe { raw.unlock_exclusive() };
    assert!(raw.try_lock_exclusive_until(Instant::now() + Duration::from_millis(10)));
    // SAFETY: just locked.
    unsafe { raw.unlock_exclusive() };
}

#[test]
fn rwlock_downgrades_let_waiting_readers_in() {
    let lock = Arc::new(RwLock::new(1));
    let mut w = lock.write();
    let l = lock.clone();
    let reader = thread::spawn(move || *l.read());
    *w = 2;
    let r = lock_api::RwLockWriteGuard::downgrade(w);
    assert_eq!(reader.join().unwrap(), 2);
    drop(r);
    let u = lock.upgradable_read();
    let l = lock.clone();
    let reader = thread::spawn(move || *l.read());
    assert_eq!(reader.join().unwrap(), 2, "readers pass an upgradable reader");
    let mut w = lock_api::RwLockUpgradableReadGuard::upgrade(u);
    *w = 3;
    let u = lock_api::RwLockWriteGuard::downgrade_to_upgradable(w);
    let r = lock_api::RwLockUpgradableReadGuard::downgrade(u);
    assert_eq!(*r, 3);
    assert!(lock.try_upgradable_read().is_some());
}

#[test]
fn condvar_through_the_instrumented_one_wakes_and_counts() {
    // `park::Condvar` is internal; the instrumented condvar runs on it.
    let pair = Arc::new((lockdep::sync::Mutex::new(0usize), lockdep::sync::Condvar::new()));
    let (tx, rx) = mpsc::channel();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let (pair, tx) = (pair.clone(), tx.clone());
            thread::spawn(move || {
                let mut g = pair.0.lock();
                *g += 1;
                tx.send(()).unwrap();
                pair.1.wait_while(&mut g, |n| *n != 0);
            })
        })
        .collect();
    for _ in 0..3 {
        rx.recv().unwrap();
    }
    // All three counted themselves under the mutex and released it only by
    // waiting, so all three wait now.
    let mut g = pair.0.lock();
    *g = 0;
    assert_eq!(pair.1.notify_all(), 3);
    drop(g);
    for t in waiters {
        t.join().unwrap();
    }
    assert!(!pair.1.notify_one());
    let mut g = pair.0.lock();
    assert!(pair.1.wait_for(&mut g, Duration::from_millis(5)).timed_out());
}

#[test]
fn once_runs_once_and_waiters_wait_for_it() {
    static O: Once = Once::new();
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            thread::spawn(|| {
                O.call_once(|| {
                    RUNS.fetch_add(1, Ordering::SeqCst);
                });
                // Whoever returns sees the run completed.
                assert_eq!(RUNS.load(Ordering::SeqCst), 1);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(O.state(), OnceState::Done);
    assert!(O.state().done());
}

#[test]
fn once_poisoned_by_a_panic_and_forced_again() {
    let o = Once::new();
    assert_eq!(format!("{o:?}"), "Once { state: New }");
    let r = std::panic::catch_unwind(|| o.call_once(|| panic!("first try")));
    assert!(r.is_err());
    assert_eq!(o.state(), OnceState::Poisoned);
    assert!(std::panic::catch_unwind(|| o.call_once(|| {})).is_err());
    let mut seen = None;
    o.call_once_force(|s| seen = Some(s));
    assert_eq!(seen, Some(OnceState::Poisoned));
    assert_eq!(o.state(), OnceState::Done);
    o.wait_done(false);
    assert_eq!(Once::new_completed().state(), OnceState::Done);
}

#[test]
fn bumping_one_of_two_reads_under_a_waiting_writer_does_not_deadlock() {
    // The fair bump of a read while this thread holds a second read and a
    // writer waits: re-entering behind the writer would wait for ever (the
    // writer waits for the other read). Checked against a deadline, since
    // the failure is a hang.
    let lock = Arc::new(RwLock::new(()));
    let (done_tx, done_rx) = mpsc::channel();
    let l = Arc::clone(&lock);
    thread::spawn(move || {
        let first = l.read_recursive();
        let mut second = l.read_recursive();
        let l2 = Arc::clone(&l);
        let writer = thread::spawn(move || drop(l2.write()));
        until(|| l.is_locked_exclusive());
        // The writer spins before it parks; bumping until well after that
        // reaches the parked case.
        for _ in 0..2_000 {
            lock_api::RwLockReadGuard::bump(&mut second);
            thread::yield_now();
        }
        drop(first);
        drop(second);
        writer.join().unwrap();
        done_tx.send(()).unwrap();
    });
    assert!(done_rx.recv_timeout(Duration::from_secs(60)).is_ok(), "bump deadlocked against the waiting writer");
}
