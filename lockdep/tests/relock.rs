//! A temporary release — a `Condvar` wait, `lock_api`'s `MutexGuard::unlocked`
//! — re-acquires the lock with the annotations its guard was taken with (the
//! subclass of `lock_nested`, the nest lock of `lock_nest_lock`), as the
//! kernel re-acquires with the same `lockdep_map` arguments. Re-acquired as a
//! plain lock, a child taken under its same-class parent would be reported
//! as recursive locking.
//!
//! (Validation compiled in only: `required-features = ["enabled"]`.)

use std::sync::Arc;
use std::time::Duration;

use lockdep::sync::{Condvar, Mutex, MutexGuard, RwLock, SINGLE_DEPTH_NESTING};
use lockdep::{Config, ReportKind, Validator, lockdep_assert_held};

/// Two calls, one class: every node comes from this one constructor call.
fn node(v: u32) -> Mutex<u32> {
    Mutex::named(v, "node")
}

fn collect() -> Validator {
    Validator::new(Config::collect().with_backtraces(false))
}

fn kinds(v: &Validator) -> Vec<ReportKind> {
    v.reports().iter().map(|r| r.kind()).collect()
}

/// Class and mode of each lock the current thread holds in `v`, bottom
/// first, from `dump_held` (" #0: node@0x… (node/1, write) at …").
fn held(v: &Validator) -> Vec<String> {
    let text = v.dump_held();
    text.lines().skip(1).map(|l| l[l.find('(').unwrap() + 1..l.find(')').unwrap()].to_owned()).collect()
}

#[test]
fn condvar_wait_for_timeout_keeps_the_subclass() {
    let v = collect();
    let (parent, child) = (node(0), node(1));
    let cv = Condvar::new();
    v.scope(|| {
        let _p = parent.lock();
        let mut c = child.lock_nested(SINGLE_DEPTH_NESTING);
        assert_eq!(held(&v), ["node, write", "node/1, write"]);
        assert!(cv.wait_for(&mut c, Duration::from_millis(1)).timed_out());
        lockdep_assert_held!(child);
        assert_eq!(held(&v), ["node, write", "node/1, write"]);
    });
    assert_eq!(kinds(&v), [], "{:#?}", v.reports());
}

#[test]
fn condvar_wait_notified_keeps_the_subclass() {
    let v = collect();
    let parent = node(0);
    let child = Arc::new(node(1));
    let cv = Arc::new(Condvar::new());
    let notifier = {
        let (v, child, cv) = (v.clone(), child.clone(), cv.clone());
        std::thread::spawn(move || {
            v.scope(|| {
                // Gets the lock only once the waiter released it in its wait.
                *child.lock() = 42;
                cv.notify_all();
            })
        })
    };
    v.scope(|| {
        let _p = parent.lock();
        let mut c = child.lock_nested(SINGLE_DEPTH_NESTING);
        while *c != 42 {
            assert!(!cv.wait_for(&mut c, Duration::from_secs(60)).timed_out(), "never notified");
        }
        assert_eq!(held(&v), ["node, write", "node/1, write"]);
    });
    notifier.join().unwrap();
    assert_eq!(kinds(&v), [], "{:#?}", v.reports());
}

#[test]
fn condvar_wait_keeps_the_nest_lock() {
    let v = collect();
    let all = Mutex::named((), "all");
    let (a, b) = (node(0), node(1));
    let cv = Condvar::new();
    v.scope(|| {
        let g = all.lock();
        let _a = a.lock_nest_lock(&g);
        let mut b = b.lock_nest_lock(&g);
        assert!(cv.wait_for(&mut b, Duration::from_millis(1)).timed_out());
        lockdep_assert_held!(b);
        // Still taken under `all`: a third node under it is fine too.
        let c = node(2);
        drop(c.lock_nest_lock(&g));
    });
    assert_eq!(kinds(&v), [], "{:#?}", v.reports());
}

#[test]
fn condvar_wait_on_a_plain_guard_stays_plain() {
    let v = collect();
    let (parent, child) = (node(0), node(1));
    let cv = Condvar::new();
    v.scope(|| {
        let _p = parent.lock_nested(SINGLE_DEPTH_NESTING);
        let mut c = child.lock();
        assert!(cv.wait_for(&mut c, Duration::ZERO).timed_out());
        assert_eq!(held(&v), ["node/1, write", "node, write"]);
    });
    assert_eq!(kinds(&v), [], "{:#?}", v.reports());
}

#[test]
fn mutex_guard_unlocked_keeps_the_subclass() {
    let v = collect();
    let (parent, child) = (node(0), node(1));
    let other = Mutex::named(0, "other");
    v.scope(|| {
        let _p = parent.lock();
        let mut c = child.lock_nested(SINGLE_DEPTH_NESTING);
        let n = MutexGuard::unlocked(&mut c, || {
            assert_eq!(held(&v), ["node, write"], "released while unlocked");
            // Other locks, plain and annotated, come and go meanwhile.
            *other.lock() += 1;
            let sibling = node(2);
            *sibling.lock_nested(SINGLE_DEPTH_NESTING) + 1
        });
        assert_eq!(n, 3);
        assert_eq!(held(&v), ["node, write", "node/1, write"]);
        MutexGuard::unlocked_fair(&mut c, || ());
        assert_eq!(held(&v), ["node, write", "node/1, write"]);
    });
    assert_eq!(kinds(&v), [], "{:#?}", v.reports());
}

#[test]
fn mutex_guard_unlocked_keeps_the_nest_lock() {
    let v = collect();
    let all = Mutex::named((), "all");
    let (a, b) = (node(0), node(1));
    v.scope(|| {
        let g = all.lock();
        let _a = a.lock_nest_lock(&g);
        let mut b = b.lock_nest_lock(&g);
        MutexGuard::unlocked(&mut b, || ());
        lockdep_assert_held!(b);
        drop(b);
        lockdep_assert_held!(a);
    });
    assert_eq!(kinds(&v), [], "{:#?}", v.reports());
}

#[test]
fn rwlock_write_guard_unlocked_keeps_the_subclass() {
    fn dir() -> RwLock<u32> {
        RwLock::named(0, "dir")
    }
    let v = collect();
    let (parent, child) = (dir(), dir());
    v.scope(|| {
        let _p = parent.write();
        let mut c = child.write_nested(SINGLE_DEPTH_NESTING);
        lockdep::RwLockWriteGuard::unlocked(&mut c, || ());
        assert_eq!(held(&v), ["dir, write", "dir/1, write"]);
    });
    assert_eq!(kinds(&v), [], "{:#?}", v.reports());
}

#[test]
fn a_plain_release_forgets_the_annotations() {
    // The annotations are kept for the re-lock of an `unlocked` only: once
    // the lock was taken and released plainly, a raw-trait acquisition of it
    // is plain again — and collides with its same-class parent.
    let v = collect();
    let (parent, child) = (node(0), node(1));
    v.scope(|| {
        let _p = parent.lock();
        drop(child.lock_nested(SINGLE_DEPTH_NESTING));
        drop(child.try_lock().unwrap()); // a plain entry, released through the raw trait
        drop(child.as_lock_api().lock());
    });
    assert_eq!(kinds(&v), [ReportKind::RecursiveLocking], "{:#?}", v.reports());
}
