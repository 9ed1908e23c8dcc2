//! `lockdep::std_sync` with validation compiled in: what the validator sees
//! through std's API — inversions named at your lines, one class per
//! construction site (statics included), non-recursive readers, condvar
//! waits, and poisoned or unwinding guards kept in step.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::Duration;

use lockdep::std_sync::{Arc, Condvar, Mutex, RwLock};
use lockdep::{Action, Config, Hook, Read, Report, ReportKind, Validator};

fn collect() -> Validator {
    Validator::new(Config::collect())
}

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// The class name of a lock of `kind` over a `ty` made at `line` of this
/// file (the only such lock made on its line, so no column).
fn made_at(kind: &str, ty: &str, line: u32) -> String {
    format!("{kind}<{ty}>@{}:{line}", file!())
}

#[test]
fn abba_is_reported_at_the_users_lines() {
    let v = collect();
    let (line_a, a) = (line!(), Mutex::new(1));
    let (line_b, b) = (line!(), Mutex::new(2));
    let mut second_a = 0;
    v.scope(|| {
        {
            let _a = a.lock().unwrap();
            let _b = b.lock().unwrap(); // a -> b
        }
        let _b = b.lock().unwrap();
        second_a = line!() + 1;
        let _a = a.lock().unwrap(); // b -> a: reported here
    });
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency], "{reports:#?}");
    let r = &reports[0];
    let lock = r.lock().unwrap();
    assert_eq!(lock.class(), made_at("Mutex", "i32", line_a));
    assert_eq!((lock.location().file(), lock.location().line()), (file!(), second_a));
    let held = r.other().unwrap();
    assert_eq!(held.class(), made_at("Mutex", "i32", line_b));
    // The text names both construction sites and the acquisition line.
    let text = r.to_string();
    assert!(text.contains(&format!("{}:{second_a}:", file!())), "{text}");
    assert!(text.contains(&made_at("Mutex", "i32", line_b)), "{text}");
}

static FIRST: Mutex<u32> = Mutex::new(0);
static SECOND: Mutex<u32> = Mutex::new(0);
const FIRST_LINE: u32 = line!() - 2;
const SECOND_LINE: u32 = line!() - 2;

#[test]
fn two_statics_are_two_classes_and_their_abba_is_reported() {
    let v = collect();
    v.scope(|| {
        {
            let _f = FIRST.lock().unwrap();
            *SECOND.lock().unwrap() += 1; // FIRST -> SECOND: no report, so not one class
        }
        let _s = SECOND.lock().unwrap();
        *FIRST.lock().unwrap() += 1; // SECOND -> FIRST
    });
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency], "{reports:#?}");
    assert_eq!(reports[0].lock().unwrap().class(), made_at("Mutex", "u32", FIRST_LINE));
    assert_eq!(reports[0].other().unwrap().class(), made_at("Mutex", "u32", SECOND_LINE));
}

#[test]
fn one_construction_site_is_one_class() {
    fn account() -> Mutex<i64> {
        Mutex::new(0)
    }
    let (a, b) = (account(), account());
    let v = collect();
    v.scope(|| {
        let _a = a.lock().unwrap();
        let _b = b.lock().unwrap(); // same class, nested: std has no lock_nested
    });
    assert_eq!(kinds(&v.reports()), [ReportKind::RecursiveLocking]);
}

#[test]
fn default_and_from_take_the_callers_line() {
    let v = collect();
    let (line_a, a) = (line!(), Mutex::<u8>::default());
    let (line_b, b) = (line!(), RwLock::from(1));
    v.scope(|| {
        {
            let _a = a.lock().unwrap();
            let _b = b.write().unwrap();
        }
        let _b = b.write().unwrap();
        let _a = a.lock().unwrap();
    });
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert_eq!(reports[0].lock().unwrap().class(), made_at("Mutex", "u8", line_a));
    assert_eq!(reports[0].other().unwrap().class(), made_at("RwLock", "i32", line_b));
}

/// A generic helper that makes every lock of a program (tokio's
/// `loom::std::parking_lot::Mutex::new`, in the std facade's terms) makes
/// them all at one line; the class is the site *and* the data type, so
/// its locks of two types are two classes and nest without a report —
/// while two of one type are still one class.
#[test]
fn a_generic_helpers_locks_are_one_class_per_type() {
    struct Users(u32);
    struct Groups(u32);
    fn new_lock<T>(t: T) -> Mutex<T> {
        Mutex::new(t)
    }
    let (users, groups) = (new_lock(Users(1)), new_lock(Groups(2)));
    let v = collect();
    v.scope(|| {
        let u = users.lock().unwrap();
        let g = groups.lock().unwrap(); // Users -> Groups: two classes
        assert_eq!(u.0 + g.0, 3);
    });
    assert!(v.reports().is_empty(), "{:#?}", v.reports());
    let other_users = new_lock(Users(3));
    v.scope(|| {
        let _u = users.lock().unwrap();
        let _o = other_users.lock().unwrap(); // Users twice: one class
    });
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert!(reports[0].lock().unwrap().class().starts_with("Mutex<Users>@"), "{reports:#?}");
}

#[test]
fn taking_a_read_lock_twice_is_reported() {
    let l = RwLock::new(0);
    let v = collect();
    v.scope(|| {
        let _r1 = l.read().unwrap();
        let _r2 = l.read().unwrap(); // may deadlock behind a waiting writer
    });
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert_eq!(reports[0].lock().unwrap().read(), Read::Shared);
}

#[test]
fn readers_in_opposite_orders_are_reported() {
    // With writers queued on both locks, r(a) r(b) against r(b) r(a)
    // deadlocks on std's writer-preferring lock: non-recursive readers.
    let (a, b) = (RwLock::new(0), RwLock::new(0));
    let v = collect();
    v.scope(|| {
        {
            let _a = a.read().unwrap();
            let _b = b.read().unwrap();
        }
        let _b = b.read().unwrap();
        let _a = a.read().unwrap();
    });
    assert_eq!(kinds(&v.reports()), [ReportKind::CircularDependency]);
}

#[test]
fn hooks_name_the_mode_and_trylocks_only_on_success() {
    let v = Validator::new(Config::collect().with_events(true));
    let (m, l) = (Mutex::new(0), RwLock::new(0));
    v.scope(|| {
        drop(l.read().unwrap());
        drop(l.write().unwrap());
        let g = m.try_lock().unwrap();
        // Busy (held by this thread): no hook at all.
        assert!(matches!(m.try_lock(), Err(lockdep::std_sync::TryLockError::WouldBlock)));
        drop(g);
        drop(l.try_read().unwrap());
    });
    assert!(v.reports().is_empty(), "{:#?}", v.reports());
    let acquire = |read, trylock| Hook::Acquire { subclass: 0, trylock, read, check: true, nest_lock: None };
    let hooks: Vec<_> = v.events().iter().map(|e| e.hook).collect();
    assert_eq!(
        hooks,
        [
            acquire(Read::Shared, false),
            Hook::Acquired,
            Hook::Release,
            acquire(Read::Exclusive, false),
            Hook::Acquired,
            Hook::Release,
            acquire(Read::Exclusive, true),
            Hook::Release,
            acquire(Read::Shared, true),
            Hook::Release,
        ]
    );
}

#[test]
fn condvar_wait_releases_and_reacquires_at_the_wait_site() {
    let v = Validator::new(Config::collect().with_events(true));
    let m = Mutex::new(false);
    let cv = Condvar::new();
    let line = line!() + 3;
    v.scope(|| {
        let g = m.lock().unwrap();
        let (g, _) = cv.wait_timeout(g, Duration::ZERO).unwrap();
        lockdep::lockdep_assert_held!(g);
        drop(g);
        lockdep::lockdep_assert_not_held!(m);
    });
    assert!(v.reports().is_empty(), "{:#?}", v.reports());
    let events = v.events();
    let acquire = Hook::Acquire { subclass: 0, trylock: false, read: Read::Exclusive, check: true, nest_lock: None };
    let hooks: Vec<_> = events.iter().map(|e| e.hook).collect();
    assert_eq!(hooks, [acquire, Hook::Acquired, Hook::Release, acquire, Hook::Acquired, Hook::Release]);
    assert_eq!(events[2].location.line(), line);
    assert_eq!(events[3].location.line(), line);
}

/// The condition of `wait_while` runs with the mutex held for the validator
/// too: a lock taken inside it is ordered after the mutex.
#[test]
fn wait_while_condition_runs_with_the_mutex_held() {
    let v = collect();
    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let inner = Arc::new(Mutex::new(()));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let notifier = {
        let pair = Arc::clone(&pair);
        std::thread::spawn(move || {
            for () in go_rx {
                *pair.0.lock().unwrap() += 1;
                pair.1.notify_one();
            }
        })
    };
    v.scope(|| {
        let (m, cv) = &*pair;
        let g = m.lock().unwrap();
        go_tx.send(()).unwrap();
        let g = cv
            .wait_while(g, |n| {
                lockdep::lockdep_assert_held!(m);
                if *n > 0 {
                    drop(inner.lock().unwrap()); // after a wake-up: m -> inner
                }
                *n == 0
            })
            .unwrap();
        drop(g);
        // inner -> m: the inversion of what the condition did.
        let _i = inner.lock().unwrap();
        drop(m.lock().unwrap());
    });
    drop(go_tx);
    notifier.join().unwrap();
    assert_eq!(kinds(&v.reports()), [ReportKind::CircularDependency], "{:#?}", v.reports());
}

/// Waiting on `a`'s condvar while holding `c`, taken after `a`: the re-lock
/// of `a` inside std's wait is `c -> a`, against `a -> c`. It is reported
/// before the thread blocks: here the notifier only notifies once it has
/// seen the report, and the wait (bounded at a minute) must end notified.
#[test]
fn an_inversion_through_the_wait_is_reported_before_blocking() {
    let (seen_tx, seen_rx) = mpsc::channel::<ReportKind>();
    let seen_tx = std::sync::Mutex::new(seen_tx);
    let v = Validator::new(Config::collect().with_action(Action::Callback(std::sync::Arc::new(move |r: &Report| {
        let _ = seen_tx.lock().unwrap().send(r.kind());
    }))));
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let c = Mutex::new(());
    let notifier = {
        let pair = Arc::clone(&pair);
        std::thread::spawn(move || {
            let kind = seen_rx.recv().unwrap();
            *pair.0.lock().unwrap() = true;
            pair.1.notify_one();
            kind
        })
    };
    let timed_out = v.scope(|| {
        let (a, cv) = &*pair;
        let g = a.lock().unwrap();
        let _c = c.lock().unwrap(); // a -> c
        let (g, r) = cv.wait_timeout_while(g, Duration::from_secs(60), |ready| !*ready).unwrap();
        drop(g);
        r.timed_out()
    });
    assert!(!timed_out, "the report came only after the wait");
    assert_eq!(notifier.join().unwrap(), ReportKind::CircularDependency);
    assert_eq!(kinds(&v.reports()), [ReportKind::CircularDependency], "reported once: {:#?}", v.reports());
}

#[test]
fn a_guard_dropped_by_a_panic_is_released_and_the_lock_poisoned() {
    let m = Mutex::new(0);
    let v = collect();
    v.scope(|| {
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _g = m.lock().unwrap();
            panic!("while holding");
        }));
        assert!(r.is_err());
        lockdep::lockdep_assert_not_held!(m);
        let g = m.lock().unwrap_err().into_inner(); // poisoned, and no recursive locking
        lockdep::lockdep_assert_held!(m);
        drop(g);
    });
    assert!(m.is_poisoned());
    assert!(v.reports().is_empty(), "{:#?}", v.reports());
}

#[test]
fn a_panicking_wait_condition_leaves_the_validator_in_step() {
    let (m, cv) = (Mutex::new(1), Condvar::new());
    let v = collect();
    v.scope(|| {
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _g = cv.wait_while(m.lock().unwrap(), |_| panic!("in the condition"));
        }));
        assert!(r.is_err());
        lockdep::lockdep_assert_not_held!(m);
        assert!(m.is_poisoned());
        m.clear_poison();
        drop(m.lock().unwrap());
    });
    assert!(v.reports().is_empty(), "{:#?}", v.reports());
}

#[test]
fn dropping_a_held_facade_lock_is_reported() {
    let v = collect();
    v.scope(|| {
        let m = Box::new(Mutex::new(0));
        let g = m.lock().unwrap();
        std::mem::forget(g);
        drop(m);
    });
    assert_eq!(kinds(&v.reports()), [ReportKind::HeldLockFreed]);
}
