//! `lockdep::std_sync` is `std::sync` with one import changed: the same code,
//! written once against a `sync` path, compiles against both, and run
//! side by side it observes the same results — poisoning included. Holds
//! with validation compiled in or out.

use std::fmt::Debug;
use std::sync::mpsc as chan;
use std::time::Duration;

/// A module body written against `std::sync` only, through the name `sync`.
/// Instantiated below once with `use std::sync as sync;` and once with
/// `use lockdep::std_sync as sync;`: that import is the only difference.
macro_rules! written_against_std_sync {
    () => {
        use std::fmt::Write as _;
        use std::panic::{AssertUnwindSafe, catch_unwind};
        use std::time::Duration;

        /// Every item of `std::sync` this body names, so that each must
        /// exist under the other path too.
        #[allow(dead_code, deprecated)]
        pub struct Everything {
            pub mutex: sync::Mutex<u8>,
            pub rwlock: sync::RwLock<u8>,
            pub condvar: sync::Condvar,
            pub once: sync::Once,
            pub once_lock: sync::OnceLock<u8>,
            pub lazy: sync::LazyLock<u8>,
            pub barrier: sync::Barrier,
            pub arc: sync::Arc<u8>,
            pub weak: sync::Weak<u8>,
            pub atomic: sync::atomic::AtomicUsize,
            pub sender: sync::mpsc::Sender<u8>,
            pub unsized_data: sync::Arc<sync::Mutex<[u8]>>,
            pub once_init: fn() -> sync::Once,
        }

        pub fn everything() -> Everything {
            let arc = sync::Arc::new(1u8);
            #[allow(deprecated)]
            Everything {
                mutex: sync::Mutex::default(),
                rwlock: sync::RwLock::from(2),
                condvar: sync::Condvar::default(),
                once: sync::Once::new(),
                once_lock: sync::OnceLock::new(),
                lazy: sync::LazyLock::new(|| 3),
                barrier: sync::Barrier::new(1),
                weak: sync::Arc::downgrade(&arc),
                arc,
                atomic: sync::atomic::AtomicUsize::new(4),
                sender: sync::mpsc::channel().0,
                unsized_data: sync::Arc::new(sync::Mutex::new([1u8, 2, 3])),
                once_init: || sync::ONCE_INIT,
            }
        }

        /// A lock in a `static`, built by the `const fn new`.
        pub static COUNTER: sync::Mutex<u32> = sync::Mutex::new(0);
        pub static TABLE: sync::RwLock<Vec<u32>> = sync::RwLock::new(Vec::new());
        pub static READY: sync::Condvar = sync::Condvar::new();
        pub static LAZY: sync::LazyLock<u32> = sync::LazyLock::new(|| 40 + 2);

        /// Generic over the data, naming the guard and result types.
        pub fn bump<T: Copy + std::ops::AddAssign>(m: &sync::Mutex<T>, by: T) -> sync::LockResult<T> {
            let r: sync::LockResult<sync::MutexGuard<'_, T>> = m.lock();
            match r {
                Ok(mut g) => {
                    *g += by;
                    Ok(*g)
                }
                Err(poisoned) => {
                    let mut g = poisoned.into_inner();
                    *g += by;
                    Err(sync::PoisonError::new(*g))
                }
            }
        }

        /// Reads through poisoning, the common idiom.
        pub fn read_anyway<T: Clone>(m: &sync::Mutex<T>) -> T {
            m.lock().unwrap_or_else(sync::PoisonError::into_inner).clone()
        }

        /// `try_lock`, matched on std's error type.
        pub fn try_bump(m: &sync::Mutex<u32>) -> String {
            let r: sync::TryLockResult<sync::MutexGuard<'_, u32>> = m.try_lock();
            match r {
                Ok(mut g) => {
                    *g += 1;
                    format!("ok {}", *g)
                }
                Err(sync::TryLockError::WouldBlock) => "would block".to_string(),
                Err(sync::TryLockError::Poisoned(p)) => format!("poisoned {}", *p.get_ref()),
            }
        }

        pub fn write_all<T: Clone>(
            l: &sync::RwLock<T>,
            v: T,
        ) -> Result<(), sync::PoisonError<sync::RwLockWriteGuard<'_, T>>> {
            *l.write()? = v;
            Ok(())
        }

        pub fn read_len<T>(l: &sync::RwLock<Vec<T>>) -> usize {
            let g: sync::RwLockReadGuard<'_, Vec<T>> = l.read().unwrap();
            g.len()
        }

        /// Waits on a condvar, naming its types in a generic helper.
        pub fn wait_for_flag<'a, T>(
            cv: &sync::Condvar,
            g: sync::MutexGuard<'a, T>,
            mut done: impl FnMut(&T) -> bool,
        ) -> sync::LockResult<sync::MutexGuard<'a, T>> {
            cv.wait_while(g, |t| !done(t))
        }

        /// Everything poisoning does, as a trace of what each step observed.
        pub fn poisoning_trace() -> String {
            let mut t = String::new();
            let m = sync::Arc::new(sync::Mutex::new(1u32));
            let _ = writeln!(t, "fresh: poisoned={} {:?}", m.is_poisoned(), m);
            // A panic while holding the guard poisons (in another thread).
            let m2 = sync::Arc::clone(&m);
            let joined = std::thread::spawn(move || {
                let mut g = m2.lock().unwrap();
                *g = 2;
                panic!("poison it");
            })
            .join();
            let _ = writeln!(t, "thread panicked: {}", joined.is_err());
            let _ = writeln!(t, "after panic: poisoned={} {:?}", m.is_poisoned(), m);
            match m.lock() {
                Ok(_) => t.push_str("lock: ok\n"),
                Err(e) => {
                    let _ = writeln!(t, "lock: {e} / {e:?} / data={}", **e.get_ref());
                    let g = e.into_inner();
                    let _ = writeln!(t, "guard: {g:?} {g}");
                }
            }
            let _ = writeln!(t, "try_bump: {}", try_bump(&m));
            let _ = writeln!(t, "bump: {:?}", bump(&m, 10).map_err(|e| e.into_inner()));
            let _ = writeln!(t, "read_anyway: {}", read_anyway(&m));
            // A panic on this thread, caught, poisons too.
            let m3 = sync::Mutex::new(vec![1]);
            let caught = catch_unwind(AssertUnwindSafe(|| {
                let _g = m3.lock().unwrap();
                panic!("again");
            }));
            let _ = writeln!(t, "caught: {} poisoned={}", caught.is_err(), m3.is_poisoned());
            m3.clear_poison();
            let _ = writeln!(t, "cleared: poisoned={} lock_ok={}", m3.is_poisoned(), m3.lock().is_ok());
            // A guard dropped normally leaves it clean.
            drop(m3.lock().unwrap());
            let _ = writeln!(t, "clean drop: poisoned={}", m3.is_poisoned());
            // `get_mut` and `into_inner` report poisoning too.
            let mut m = sync::Arc::try_unwrap(m).unwrap();
            let _ = writeln!(t, "get_mut: {:?}", m.get_mut().map_err(|e| *e.into_inner()));
            let _ = writeln!(t, "into_inner: {:?}", m.into_inner().map_err(|e| e.into_inner()));
            // RwLock: a panicking writer poisons, a panicking reader does not.
            let l = sync::RwLock::new(5u8);
            let _ = catch_unwind(AssertUnwindSafe(|| {
                let _r = l.read().unwrap();
                panic!("reader");
            }));
            let _ = writeln!(t, "reader panic: poisoned={}", l.is_poisoned());
            let _ = catch_unwind(AssertUnwindSafe(|| {
                let _w = l.write().unwrap();
                panic!("writer");
            }));
            let _ = writeln!(t, "writer panic: poisoned={} {:?}", l.is_poisoned(), l);
            let _ = writeln!(t, "read: {:?}", l.read().map(|g| *g).map_err(|e| *e.into_inner()));
            let _ = writeln!(t, "try_read: {:?}", l.try_read().map(|g| *g).map_err(|e| e.to_string()));
            let _ = writeln!(t, "try_write: {:?}", l.try_write().map(|g| *g).map_err(|e| e.to_string()));
            let _ = writeln!(t, "write_all: {:?}", write_all(&l, 9).map_err(|e| *e.into_inner()));
            l.clear_poison();
            let _ = writeln!(t, "rw cleared: {:?} {:?}", l.is_poisoned(), l.into_inner());
            t
        }

        /// `try_lock` and `try_read`/`try_write` while another thread holds
        /// the lock: handshakes by channel, no sleeps.
        pub fn contention_trace() -> String {
            let mut t = String::new();
            let m = sync::Arc::new(sync::Mutex::new(7u32));
            let l = sync::Arc::new(sync::RwLock::new(8u32));
            let (locked_tx, locked_rx) = std::sync::mpsc::channel();
            let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
            let holder = {
                let (m, l) = (sync::Arc::clone(&m), sync::Arc::clone(&l));
                std::thread::spawn(move || {
                    let g = m.lock().unwrap();
                    let r = l.read().unwrap();
                    locked_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    drop((g, r));
                })
            };
            locked_rx.recv().unwrap();
            let _ = writeln!(t, "held elsewhere: {:?}", m);
            let _ = writeln!(t, "try_bump: {}", try_bump(&m));
            let e = m.try_lock().err().unwrap();
            let _ = writeln!(t, "error: {e} / {e:?} / would_block={}", matches!(e, sync::TryLockError::WouldBlock));
            let _ = writeln!(t, "try_read while read: {}", l.try_read().map(|g| *g).is_ok());
            let _ = writeln!(t, "try_write while read: {:?}", l.try_write().map(|g| *g).map_err(|e| e.to_string()));
            release_tx.send(()).unwrap();
            holder.join().unwrap();
            let _ = writeln!(t, "released: {}", try_bump(&m));
            let _ = writeln!(t, "try_write: {:?}", l.try_write().map(|g| *g).map_err(|e| e.to_string()));
            t
        }

        /// Condvar hand-off with a real second thread.
        pub fn condvar_trace() -> String {
            let mut t = String::new();
            let pair = sync::Arc::new((sync::Mutex::new((false, 0u32)), sync::Condvar::new()));
            let start = sync::Arc::new(sync::Barrier::new(2));
            let notifier = {
                let (pair, start) = (sync::Arc::clone(&pair), sync::Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    let (m, cv) = &*pair;
                    let mut g = m.lock().unwrap();
                    g.0 = true;
                    g.1 = 99;
                    drop(g);
                    cv.notify_all();
                })
            };
            let (m, cv) = &*pair;
            let g = m.lock().unwrap();
            start.wait(); // the notifier needs the mutex, which only the wait releases
            let g = wait_for_flag(cv, g, |s| s.0).unwrap();
            let _ = writeln!(t, "woken with {:?}", *g);
            // Timeouts: the condition already false, and never true.
            let (g, r) = cv.wait_timeout_while(g, Duration::from_secs(60), |s| !s.0).unwrap();
            let r: sync::WaitTimeoutResult = r;
            let _ = writeln!(t, "already done: timed_out={}", r.timed_out());
            let (g, r) = cv.wait_timeout_while(g, Duration::from_millis(1), |s| s.0).unwrap();
            let _ = writeln!(t, "never done: timed_out={} {:?}", r.timed_out(), *g);
            // (A zero timeout may still report a spurious wake-up: only the data is compared.)
            let (g, _) = cv.wait_timeout(g, Duration::ZERO).unwrap();
            let _ = writeln!(t, "zero wait_timeout: data={:?}", *g);
            drop(g);
            cv.notify_one();
            let _ = writeln!(t, "{:?}", cv);
            notifier.join().unwrap();
            t
        }

        /// The statics, `Default`/`From`, `Once*`, `LazyLock`, `Arc`/`Weak`,
        /// atomics and channels through the `sync` path.
        pub fn statics_and_re_exports_trace() -> String {
            let mut t = String::new();
            *COUNTER.lock().unwrap() += 1;
            TABLE.write().unwrap().push(3);
            READY.notify_all();
            // One at a time: everything a macro expands to has the macro's
            // location, so in this body all facade locks are one class.
            let counted = *COUNTER.lock().unwrap() > 0;
            let _ = writeln!(t, "statics: {} {} {}", counted, read_len(&TABLE) > 0, *LAZY);
            let e = everything();
            let _ = writeln!(t, "default/from: {:?} {:?} {:?}", e.mutex, e.rwlock, e.condvar);
            let _ = writeln!(t, "unsized: {:?}", &*e.unsized_data.lock().unwrap());
            e.once.call_once(|| t.push_str("once ran\n"));
            e.once.call_once(|| t.push_str("once ran twice\n"));
            let _ = writeln!(t, "once_lock: {} lazy: {}", e.once_lock.get_or_init(|| 5), *e.lazy);
            let _ = writeln!(t, "weak: {:?} barrier leader: {}", e.weak.upgrade(), e.barrier.wait().is_leader());
            e.atomic.fetch_add(1, sync::atomic::Ordering::SeqCst);
            let _ = writeln!(t, "atomic: {:?} sent: {}", e.atomic, e.sender.send(1).is_err());
            let (tx, rx) = sync::mpsc::sync_channel(1);
            tx.send(6u8).unwrap();
            let _ = writeln!(t, "channel: {:?}", rx.recv());
            t
        }
    };
}

mod with_std {
    use std::sync;
    written_against_std_sync!();
}

mod with_lockdep {
    use lockdep::std_sync as sync;
    written_against_std_sync!();
}

fn validator() -> lockdep::Validator {
    lockdep::Validator::new(lockdep::Config::collect())
}

/// Runs `f` inside a collecting validator and checks that the facade made no
/// report (these are all correct lock patterns).
fn silently<R>(f: impl FnOnce() -> R) -> R {
    let v = validator();
    let r = v.scope(f);
    assert!(v.reports().is_empty(), "{:#?}", v.reports());
    r
}

#[test]
fn poisoning_is_std_poisoning() {
    let std_trace = with_std::poisoning_trace();
    let ours = silently(with_lockdep::poisoning_trace);
    assert_eq!(ours, std_trace);
    // And the trace is the one std documents (a trace that says nothing
    // would be equal too).
    assert!(std_trace.contains("after panic: poisoned=true Mutex { data: 2, poisoned: true, .. }"), "{std_trace}");
    assert!(std_trace.contains("lock: poisoned lock: another task failed inside"), "{std_trace}");
    assert!(std_trace.contains("try_bump: poisoned 2"), "{std_trace}");
    assert!(std_trace.contains("bump: Err(12)"), "{std_trace}");
    assert!(std_trace.contains("cleared: poisoned=false lock_ok=true"), "{std_trace}");
    assert!(std_trace.contains("get_mut: Err(12)"), "{std_trace}");
    assert!(std_trace.contains("reader panic: poisoned=false"), "{std_trace}");
    assert!(std_trace.contains("writer panic: poisoned=true"), "{std_trace}");
    assert!(std_trace.contains("write_all: Err(5)"), "{std_trace}");
    assert!(std_trace.contains("rw cleared: false Ok(5)"), "{std_trace}");
}

#[test]
fn try_lock_would_block_as_std() {
    let std_trace = with_std::contention_trace();
    let ours = silently(with_lockdep::contention_trace);
    assert_eq!(ours, std_trace);
    assert!(std_trace.contains("try_bump: would block"), "{std_trace}");
    assert!(std_trace.contains("would_block=true"), "{std_trace}");
    assert!(std_trace.contains("held elsewhere: Mutex { data: ") && std_trace.contains("<locked>"), "{std_trace}");
    assert!(std_trace.contains("try_read while read: true"), "{std_trace}");
    assert!(std_trace.contains("released: ok 8"), "{std_trace}");
}

#[test]
fn condvar_hand_off_as_std() {
    let std_trace = with_std::condvar_trace();
    let ours = silently(with_lockdep::condvar_trace);
    assert_eq!(ours, std_trace);
    assert!(std_trace.contains("woken with (true, 99)"), "{std_trace}");
    assert!(std_trace.contains("already done: timed_out=false"), "{std_trace}");
    assert!(std_trace.contains("never done: timed_out=true"), "{std_trace}");
    assert!(std_trace.contains("Condvar { .. }"), "{std_trace}");
}

#[test]
fn statics_and_re_exports_as_std() {
    let std_trace = with_std::statics_and_re_exports_trace();
    let ours = silently(with_lockdep::statics_and_re_exports_trace);
    assert_eq!(ours, std_trace);
    assert!(std_trace.contains("statics: true true 42"), "{std_trace}");
    assert!(std_trace.contains("once ran\n") && !std_trace.contains("twice"), "{std_trace}");
}

/// The items that are std's own are the same types, not look-alikes.
#[test]
fn re_exports_are_std_items() {
    fn same<T: 'static, U: 'static>() -> bool {
        std::any::TypeId::of::<T>() == std::any::TypeId::of::<U>()
    }
    use lockdep::std_sync as ours;
    assert!(same::<ours::Arc<u8>, std::sync::Arc<u8>>());
    assert!(same::<ours::LockResult<u8>, std::sync::LockResult<u8>>());
    assert!(same::<ours::TryLockError<u8>, std::sync::TryLockError<u8>>());
    assert!(same::<ours::PoisonError<u8>, std::sync::PoisonError<u8>>());
    assert!(same::<ours::WaitTimeoutResult, std::sync::WaitTimeoutResult>());
    assert!(same::<ours::atomic::AtomicBool, std::sync::atomic::AtomicBool>());
    assert!(same::<ours::mpsc::RecvError, std::sync::mpsc::RecvError>());
    assert!(same::<ours::mpsc::TrySendError<u8>, std::sync::mpsc::TrySendError<u8>>());
    assert!(same::<ours::BarrierWaitResult, std::sync::BarrierWaitResult>());
    assert!(same::<ours::LazyLock<u8>, std::sync::LazyLock<u8>>());
    // ... and the locks and waitable objects are not (they carry the
    // validator's hooks; book chapter 16).
    assert!(!same::<ours::Mutex<u8>, std::sync::Mutex<u8>>());
    assert!(!same::<ours::OnceLock<u8>, std::sync::OnceLock<u8>>());
    assert!(!same::<ours::mpsc::Sender<u8>, std::sync::mpsc::Sender<u8>>());
    assert!(!same::<ours::Barrier, std::sync::Barrier>());
}

#[test]
fn debug_and_display_match_std() {
    fn both<T: Debug>(ours: &T, std: &impl Debug) {
        assert_eq!(format!("{ours:?}"), format!("{std:?}"));
        assert_eq!(format!("{ours:#?}"), format!("{std:#?}"));
    }
    let (a, b) = (lockdep::std_sync::Mutex::new(vec![1, 2]), std::sync::Mutex::new(vec![1, 2]));
    both(&a, &b);
    {
        let (ga, gb) = (a.lock().unwrap(), b.lock().unwrap());
        both(&ga, &gb);
        both(&a, &b); // "<locked>"
    }
    let (a, b) = (lockdep::std_sync::RwLock::new("x"), std::sync::RwLock::new("x"));
    both(&a, &b);
    {
        let (ra, rb) = (a.read().unwrap(), b.read().unwrap());
        both(&ra, &rb);
        assert_eq!(format!("{ra}"), format!("{rb}"));
    }
    {
        let (wa, wb) = (a.write().unwrap(), b.write().unwrap());
        both(&wa, &wb);
        assert_eq!(format!("{wa}"), format!("{wb}"));
        both(&a, &b);
    }
    let (ma, mb) = (lockdep::std_sync::Mutex::new(3.5), std::sync::Mutex::new(3.5));
    assert_eq!(format!("{}", ma.lock().unwrap()), format!("{}", mb.lock().unwrap()));
    both(&lockdep::std_sync::Condvar::new(), &std::sync::Condvar::new());
}

/// A condvar waiter and a notifier on two threads, through a queue: the
/// classic use, many times over, with every wait form.
#[test]
fn condvar_queue_across_threads() {
    use lockdep::std_sync::{Arc, Condvar, Mutex};
    let v = validator();
    let shared = Arc::new((Mutex::new(Vec::<u32>::new()), Condvar::new()));
    let (done_tx, done_rx) = chan::channel();
    let consumer = {
        let (shared, v) = (Arc::clone(&shared), v.clone());
        std::thread::spawn(move || {
            v.scope(|| {
                let (m, cv) = &*shared;
                let mut sum = 0;
                let mut got = 0;
                while got < 300 {
                    let mut q = m.lock().unwrap();
                    q = match got % 3 {
                        0 => cv.wait_while(q, |q| q.is_empty()).unwrap(),
                        1 => cv.wait_timeout_while(q, Duration::from_secs(60), |q| q.is_empty()).unwrap().0,
                        _ => {
                            while q.is_empty() {
                                q = cv.wait(q).unwrap();
                            }
                            q
                        }
                    };
                    sum += q.pop().unwrap();
                    got += 1;
                }
                done_tx.send(sum).unwrap();
            })
        })
    };
    v.scope(|| {
        let (m, cv) = &*shared;
        for i in 1..=300 {
            m.lock().unwrap().push(i);
            cv.notify_one();
        }
    });
    assert_eq!(done_rx.recv().unwrap(), 300 * 301 / 2);
    consumer.join().unwrap();
    assert!(v.reports().is_empty(), "{:#?}", v.reports());
}
