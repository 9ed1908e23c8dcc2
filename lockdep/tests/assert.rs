//! The assertion macros, each passing and failing, on lock wrappers, guards
//! and bare `LockdepMap`s. Compiled out they must do nothing at all.

use std::sync::{Arc, Barrier};

use lockdep::sync::{Mutex, RwLock};
use lockdep::{
    Config, LockClassKey, LockdepMap, Report, ReportKind, Validator, lockdep_assert_held, lockdep_assert_held_read,
    lockdep_assert_held_write, lockdep_assert_none_held, lockdep_assert_not_held,
};

fn collect() -> Validator {
    Validator::new(Config::collect())
}

/// The single assertion failure the validator holds (`None` when compiled out).
fn failure(v: &Validator) -> Option<Report> {
    let reports = v.reports();
    if !lockdep::ENABLED {
        assert!(reports.is_empty());
        return None;
    }
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind(), ReportKind::AssertionFailed);
    Some(reports[0].clone())
}

#[test]
fn assert_held_passes_when_held_and_fails_when_not() {
    let v = collect();
    let m = Mutex::named(0, "counter");
    v.scope(|| {
        let g = m.lock();
        lockdep_assert_held!(m);
        lockdep_assert_held!(&m);
        lockdep_assert_held!(g); // a guard names its lock too
        drop(g);
    });
    assert!(v.reports().is_empty());

    let line = line!() + 1;
    v.scope(|| lockdep_assert_held!(m));
    if let Some(r) = failure(&v) {
        assert_eq!(r.location().line(), line);
        assert!(r.location().file().ends_with("assert.rs"));
        assert_eq!(r.lock().unwrap().instance(), "counter");
        assert!(r.other_thread().is_none());
        assert!(r.message().contains("not held"), "{}", r.message());
        assert!(r.to_string().contains("lock assertion failed"));
    }
}

#[test]
fn assert_held_read_and_write_check_the_mode() {
    let v = collect();
    let l = RwLock::named(0, "table");
    v.scope(|| {
        let r = l.read();
        lockdep_assert_held!(l);
        lockdep_assert_held_read!(l);
        drop(r);
        let r = l.read_recursive();
        lockdep_assert_held_read!(l);
        drop(r);
        let w = l.write();
        lockdep_assert_held!(l);
        lockdep_assert_held_write!(l);
        drop(w);
    });
    assert!(v.reports().is_empty());

    // Held, but for write where a reader was expected.
    let v = collect();
    let line = line!() + 3;
    v.scope(|| {
        let _w = l.write();
        lockdep_assert_held_read!(l);
    });
    if let Some(r) = failure(&v) {
        assert_eq!(r.location().line(), line);
        assert!(r.message().contains("held for write"), "{}", r.message());
        assert_eq!(r.held().len(), 1);
    }

    // Held for read where a writer was expected.
    let v = collect();
    v.scope(|| {
        let _r = l.read();
        lockdep_assert_held_write!(l);
    });
    if let Some(r) = failure(&v) {
        assert!(r.message().contains("held for read"), "{}", r.message());
    }

    // Not held at all.
    let v = collect();
    v.scope(|| lockdep_assert_held_write!(l));
    failure(&v);
}

#[test]
fn assert_not_held_and_none_held() {
    let v = collect();
    let a = Mutex::named(0, "a");
    let b = Mutex::named(0, "b");
    v.scope(|| {
        lockdep_assert_none_held!();
        let _a = a.lock();
        lockdep_assert_not_held!(b);
    });
    assert!(v.reports().is_empty());

    let v = collect();
    let line = line!() + 3;
    v.scope(|| {
        let _a = a.lock();
        lockdep_assert_not_held!(a);
    });
    if let Some(r) = failure(&v) {
        assert_eq!(r.location().line(), line);
        assert_eq!(r.lock().unwrap().instance(), "a");
        // The entry shows where the lock was taken.
        assert_eq!(r.lock().unwrap().location().line(), line - 1);
    }

    let v = collect();
    v.scope(|| {
        let _a = a.lock();
        let _b = b.lock();
        lockdep_assert_none_held!();
    });
    if let Some(r) = failure(&v) {
        assert_eq!(r.held().len(), 2);
        assert!(r.message().contains("2 locks"), "{}", r.message());
    }
}

#[test]
fn assertions_accept_a_bare_lockdep_map() {
    static KEY: LockClassKey = LockClassKey::new();
    let map = LockdepMap::new("pseudo", &KEY);
    let v = collect();
    v.scope(|| {
        lockdep::lock_map_acquire(&map);
        lockdep_assert_held!(map);
        lockdep_assert_held_write!(&map);
        lockdep::lock_map_release(&map);
        lockdep_assert_not_held!(map);
        lockdep::rwsem_acquire_read(&map, 0, false);
        lockdep_assert_held_read!(map);
        lockdep::rwsem_release(&map);
    });
    assert!(v.reports().is_empty());
    v.scope(|| lockdep_assert_held!(map));
    if let Some(r) = failure(&v) {
        assert_eq!(r.lock().unwrap().instance(), "pseudo");
    }
}

#[test]
fn assert_held_names_the_other_thread_that_holds_the_lock() {
    let v = collect();
    let m = Arc::new(Mutex::named(0, "device"));
    let (taken, checked) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let holder = {
        let (v, m, taken, checked) = (v.clone(), m.clone(), taken.clone(), checked.clone());
        std::thread::Builder::new()
            .name("irq-thread".into())
            .spawn(move || {
                v.scope(|| {
                    let _g = m.lock();
                    taken.wait();
                    checked.wait();
                })
            })
            .unwrap()
    };
    taken.wait();
    v.scope(|| lockdep_assert_held!(m));
    checked.wait();
    holder.join().unwrap();
    if let Some(r) = failure(&v) {
        assert_eq!(r.other_thread().and_then(|t| t.name()), Some("irq-thread"));
        assert!(r.to_string().contains("held by thread \"irq-thread\""), "{r}");
    }
}

#[test]
fn failed_assertion_follows_the_validator_action() {
    let v = Validator::new(Config::collect().with_action(lockdep::Action::Panic));
    let m = Mutex::new(());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| v.scope(|| lockdep_assert_held!(m))));
    assert_eq!(result.is_err(), lockdep::ENABLED);
}

#[test]
fn compiled_out_assertions_do_not_evaluate_their_argument() {
    let mut evaluated = false;
    let m = Mutex::new(());
    let v = collect();
    v.scope(|| {
        lockdep_assert_not_held!({
            evaluated = true;
            &m
        })
    });
    assert_eq!(evaluated, lockdep::ENABLED);
    assert!(v.reports().is_empty());
}

#[test]
fn a_failed_assertion_warns_but_keeps_a_one_shot_validator_on() {
    let v = Validator::new(Config::kernel());
    let (a, b) = (Mutex::named((), "a"), Mutex::named((), "b"));
    v.scope(|| {
        lockdep_assert_held!(a); // a WARN, not debug_locks_off()
        assert_eq!(v.is_validating(), lockdep::ENABLED);
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock(); // still found: the one-shot report
    });
    let kinds: Vec<_> = v.reports().iter().map(Report::kind).collect();
    if lockdep::ENABLED {
        assert_eq!(kinds, [ReportKind::AssertionFailed, ReportKind::CircularDependency]);
        assert!(!v.is_validating());
    } else {
        assert!(kinds.is_empty());
    }
}

#[test]
fn assertions_are_quiet_once_the_validator_is_off() {
    // After a one-shot report the answer is "unknown", which counts as held.
    let v = Validator::new(Config::kernel());
    let (a, b) = (Mutex::named((), "a"), Mutex::named((), "b"));
    v.scope(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        {
            let _b = b.lock();
            let _a = a.lock(); // the one report; the validator turns off
        }
        lockdep_assert_held!(a);
        lockdep_assert_held_write!(b);
        let _a = a.lock();
        lockdep_assert_not_held!(a);
        lockdep_assert_none_held!();
    });
    assert_eq!(v.reports().len(), usize::from(lockdep::ENABLED));
}

#[test]
fn held_once_is_held() {
    let v = collect();
    let m = Mutex::new(());
    v.scope(|| {
        let _g = m.lock();
        lockdep::lockdep_assert_held_once!(m);
    });
    assert!(v.reports().is_empty());
    v.scope(|| {
        for _ in 0..3 {
            lockdep::lockdep_assert_held_once!(m); // reported once
        }
    });
    failure(&v);
}
