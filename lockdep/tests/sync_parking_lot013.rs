//! `lockdep::sync::lock_api05` with the feature `parking_lot-0.13` (its
//! rwlock over parking_lot 0.13's raw rwlock, its mutex over lockdep's own
//! raw mutex, and a `GenericMutex` over parking_lot 0.13's through `Compat`):
//! its sizes against parking_lot 0.13's, its locks used as `lock_api` 0.5
//! locks, and the validation of each kind of lock over them. (`sync_lock_api05.rs` runs the general scenarios on the same
//! lock_api 0.5 layer over lockdep's own raw locks.)

use std::mem::size_of;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use lockdep::sync::lock_api05::{
    Compat, Condvar, GenericMutex, Mutex, MutexGuard, ReentrantMutex, RwLock, RwLockReadGuard,
    RwLockUpgradableReadGuard, RwLockWriteGuard, SINGLE_DEPTH_NESTING, lock_api,
};
use lockdep::{Config, Hook, Read, Report, ReportKind, Validator};

fn expect(v: &Validator, on: &[ReportKind]) -> Vec<Report> {
    let reports = v.reports();
    if lockdep::ENABLED {
        assert_eq!(reports.iter().map(Report::kind).collect::<Vec<_>>(), on, "reports: {reports:#?}");
    } else {
        assert!(reports.is_empty());
    }
    reports
}

#[test]
fn sizes_match_parking_lot_013_when_compiled_out() {
    let same = [
        size_of::<Mutex<u64>>() == size_of::<parking_lot013::Mutex<u64>>(),
        size_of::<Mutex<()>>() == size_of::<parking_lot013::Mutex<()>>(),
        size_of::<RwLock<[u8; 7]>>() == size_of::<parking_lot013::RwLock<[u8; 7]>>(),
        size_of::<ReentrantMutex<u8>>() == size_of::<parking_lot013::ReentrantMutex<u8>>(),
    ];
    assert_eq!(same, [!lockdep::ENABLED; 4]);
    // Guards are one reference in every configuration (an empty guard state).
    assert_eq!(size_of::<MutexGuard<'static, u64>>(), size_of::<parking_lot013::MutexGuard<'static, u64>>());
    assert_eq!(size_of::<RwLockReadGuard<'static, u64>>(), size_of::<parking_lot013::RwLockReadGuard<'static, u64>>());
    assert_eq!(
        size_of::<RwLockWriteGuard<'static, u64>>(),
        size_of::<parking_lot013::RwLockWriteGuard<'static, u64>>()
    );
    assert_eq!(
        size_of::<RwLockUpgradableReadGuard<'static, u64>>(),
        size_of::<parking_lot013::RwLockUpgradableReadGuard<'static, u64>>()
    );
    // The condvar: one word compiled out, like parking_lot 0.13's; compiled
    // in it also names its construction site (a waitable object, chapter 16).
    assert_eq!(size_of::<Condvar>() == size_of::<parking_lot013::Condvar>(), !lockdep::ENABLED);
    // The raw layer adds nothing but the map to parking_lot 0.13's raw lock.
    assert_eq!(
        size_of::<lockdep::sync::lock_api05::DefaultRawMutex>(),
        size_of::<parking_lot013::RawMutex>(),
        "lockdep's own raw mutex: one byte, as parking_lot 0.13's"
    );
}

/// The line of the acquisition in `add` (checked there at compile time).
const ADD_LOCK_LINE: u32 = line!() + 5;

/// Generic over `lock_api` 0.5: parking_lot 0.13's mutexes and lockdep's both fit.
fn add<R: lock_api::RawMutex>(m: &lock_api::Mutex<R, u32>, n: u32) -> u32 {
    const { assert!(ADD_LOCK_LINE == line!() + 1) };
    let mut g = m.lock();
    *g += n;
    *g
}

#[test]
fn a_lockdep_mutex_is_a_lock_api_05_mutex() {
    let v = Validator::new(Config::collect().with_events(true));
    let ours = Mutex::named(1u32, "ours");
    let theirs = parking_lot013::Mutex::new(1u32);
    let other = Mutex::named(0u32, "other");
    v.scope(|| {
        assert_eq!(add(&theirs, 1), 2);
        assert_eq!(add(&ours, 1), 2); // through `Deref` to lock_api 0.5's mutex
        assert_eq!(add(ours.as_lock_api(), 1), 3);
        {
            let _o = other.lock();
            add(&ours, 1); // other -> ours, taken through lock_api 0.5
        }
        let g = ours.lock();
        let mut first = MutexGuard::map(g, |n| n); // lock_api 0.5's guard functions
        *first += 1;
        drop(first);
        let _o = ours.lock();
        let _x = other.lock(); // ours -> other closes the cycle
    });
    expect(&v, &[ReportKind::CircularDependency]);
    assert_eq!(*ours.lock(), 5);
    if lockdep::ENABLED {
        // lock_api 0.5 is `#[track_caller]`, and so is lockdep's raw layer:
        // an acquisition made inside `add` is reported at `add`'s line.
        let generic: Vec<_> = v
            .events()
            .into_iter()
            .filter(|e| e.map == "ours" && matches!(e.hook, Hook::Acquire { .. }))
            .map(|e| e.location.line())
            .collect();
        assert_eq!(&generic[..3], [ADD_LOCK_LINE; 3], "{generic:?}");
    }
}

/// `lock_api05::Mutex` is over lockdep's own raw mutex whatever the features
/// (see `DefaultRawMutex`); parking_lot 0.13's own is still instrumented
/// through `Compat`.
type Pl013Mutex<T> = GenericMutex<Compat<parking_lot013::RawMutex>, T>;

#[test]
fn abba_on_parking_lot_013_raw_locks_is_reported_across_threads() {
    let v = Validator::new(Config::collect());
    let (a, b): (Arc<Pl013Mutex<u32>>, Arc<Pl013Mutex<u32>>) =
        (Arc::new(GenericMutex::named(0, "a")), Arc::new(GenericMutex::named(0, "b")));
    let first_done = Arc::new(Barrier::new(2));
    v.scope(|| {
        let t = {
            let (a, b, first_done) = (a.clone(), b.clone(), first_done.clone());
            let v = v.clone();
            std::thread::spawn(move || {
                v.scope(|| {
                    let _a = a.lock();
                    *b.lock() += 1; // a -> b
                });
                first_done.wait();
            })
        };
        first_done.wait(); // ordered: the run never deadlocks
        let _b = b.lock();
        *a.lock() += 1; // b -> a
        drop(_b);
        t.join().unwrap();
    });
    expect(&v, &[ReportKind::CircularDependency]);
}

#[test]
fn unlocked_relocks_with_the_guards_subclass() {
    let v = Validator::new(Config::collect().with_events(true));
    let (parent, child) = (Mutex::named(0, "parent"), Mutex::named(0, "child"));
    v.scope(|| {
        let _p = parent.lock();
        let mut c = child.lock_nested(SINGLE_DEPTH_NESTING);
        // lock_api 0.5's `unlocked` re-locks through the raw trait: the
        // validator sees the guard's subclass again.
        lock_api::MutexGuard::unlocked(&mut c, || ());
        *c += 1;
    });
    expect(&v, &[]);
    if lockdep::ENABLED {
        let subclasses: Vec<u32> = v
            .events()
            .into_iter()
            .filter(|e| e.map == "child")
            .filter_map(|e| match e.hook {
                Hook::Acquire { subclass, .. } => Some(subclass),
                _ => None,
            })
            .collect();
        assert_eq!(subclasses, [SINGLE_DEPTH_NESTING; 2]);
    }
}

#[test]
fn rwlock_modes_upgrades_and_timeouts_on_parking_lot_013() {
    let v = Validator::new(Config::collect().with_events(true));
    let table = RwLock::named(vec![1u32], "table");
    let index = Mutex::named(0usize, "index");
    v.scope(|| {
        let u = table.upgradable_read();
        lockdep::lockdep_assert_held_write!(table); // validated as exclusive
        let mut w = RwLockUpgradableReadGuard::upgrade(u);
        w.push(2);
        let r = RwLockWriteGuard::downgrade(w);
        lockdep::lockdep_assert_held_read!(table);
        *index.lock() = r.len(); // table(read) -> index
        drop(r);
        // A timed write is validated like a blocking one, and succeeds here.
        let w = table.try_write_for(Duration::from_millis(10)).unwrap();
        drop(w);
    });
    expect(&v, &[]);
    if lockdep::ENABLED {
        let hooks: Vec<_> = v.events().into_iter().filter(|e| e.map == "table").map(|e| e.hook).collect();
        let acq = |read| Hook::Acquire { subclass: 0, trylock: false, read, check: true, nest_lock: None };
        assert_eq!(
            hooks,
            [
                acq(Read::Exclusive),
                Hook::Acquired,
                Hook::Downgrade,
                Hook::Release,
                acq(Read::Exclusive),
                Hook::Acquired,
                Hook::Release
            ]
        );
    }
    // A read under this thread's own write would hang for ever: refused.
    if lockdep::ENABLED {
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            v.scope(|| {
                let _w = table.write();
                let _r = table.read();
            })
        }));
        assert!(refused.is_err());
        assert!(!table.is_locked());
    }
}

#[test]
fn reentrant_relock_is_silent_and_condvar_waits_release_the_mutex() {
    let v = Validator::new(Config::collect());
    let console = ReentrantMutex::named(0, "console");
    let pair = Arc::new((Mutex::named(false, "ready"), Condvar::new()));
    let other = Mutex::named(0, "other");
    v.scope(|| {
        let a = console.lock();
        let b = console.lock(); // the owner again: no report
        assert_eq!(*a + *b, 0);
        drop((a, b));
        let t = {
            let pair = pair.clone();
            let v = v.clone();
            std::thread::spawn(move || {
                v.scope(|| {
                    *pair.0.lock() = true;
                    pair.1.notify_one();
                })
            })
        };
        let mut ready = pair.0.lock();
        pair.1.wait_while(&mut ready, |r| !*r);
        drop(ready);
        t.join().unwrap();
        let mut g = pair.0.lock();
        let _ = pair.1.wait_for(&mut g, Duration::ZERO);
        *other.lock() += 1; // ready -> other, after the wait took `ready` back
        drop(g);
        let _o = other.lock();
        let _r = pair.0.lock(); // other -> ready: the wait kept the mutex known
    });
    expect(&v, &[ReportKind::CircularDependency]);
}

#[test]
fn both_majors_are_validated_together() {
    let v = Validator::new(Config::collect());
    let old = lockdep::sync::Mutex::named(0, "lock_api 0.4");
    let new = Mutex::named(0, "lock_api 0.5");
    v.scope(|| {
        {
            let _o = old.lock();
            *new.lock() += 1;
        }
        let _n = new.lock();
        *old.lock() += 1;
    });
    expect(&v, &[ReportKind::CircularDependency]);
}
