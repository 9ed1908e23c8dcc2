//! The shim's own tests: what lockdep sees through it. Validation is always
//! compiled in here (the shim turns on `enabled-in-release`), so these run
//! in every profile.

use std::sync::Arc;
use std::thread;

use lockdep::{Config, Read, Report, ReportKind, Validator};
use parking_lot::{Condvar, FairMutex, Mutex, ReentrantMutex, RwLock, const_mutex, const_rwlock};

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// Runs `f` under a fresh collecting validator; its reports.
fn collect(f: impl FnOnce()) -> Vec<Report> {
    let v = Validator::new(Config::collect());
    v.scope(f);
    v.reports()
}

// The shim compiles validation in whatever the profile.
const _: () = assert!(lockdep::ENABLED);

#[test]
fn abba_between_two_construction_sites_is_reported() {
    let a = Mutex::new(0);
    let b = Mutex::new(0);
    let reports = collect(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    // The acquisition is reported at this file's call site, not inside the shim.
    assert_eq!(reports[0].location().file(), file!());
}

#[test]
fn locks_from_one_site_are_one_class() {
    fn make() -> Mutex<u32> {
        Mutex::new(0)
    }
    let (x, y) = (make(), make());
    let reports = collect(|| {
        let _x = x.lock();
        let _y = y.lock();
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
}

static FIRST: Mutex<u32> = Mutex::new(0);
static SECOND: Mutex<u32> = const_mutex(0);
static TABLE: RwLock<u32> = const_rwlock(0);

#[test]
fn each_static_is_its_own_class() {
    // Nested statics from `new` and `const_mutex`: distinct classes, so no
    // recursive locking; their two orders are an inversion.
    let reports = collect(|| {
        let _t = TABLE.write();
        let _f = FIRST.lock();
        let _s = SECOND.lock();
    });
    assert!(reports.is_empty(), "{reports:?}");
    let reports = collect(|| {
        {
            let _f = FIRST.lock();
            let _s = SECOND.lock();
        }
        let _s = SECOND.lock();
        let _f = FIRST.lock();
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
}

#[test]
fn read_twice_is_reported_read_recursive_is_not() {
    let lock = RwLock::new(0);
    let reports = collect(|| {
        let _r1 = lock.read_recursive();
        let _r2 = lock.read_recursive();
    });
    assert!(reports.is_empty(), "{reports:?}");
    let reports = collect(|| {
        let _r1 = lock.read();
        let _r2 = lock.read();
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    let held = reports[0].lock().expect("the lock being taken");
    assert_eq!(held.read(), Read::Shared);
}

#[test]
fn release_in_any_order() {
    let a = Mutex::new(0);
    let b = RwLock::new(0);
    let c = FairMutex::new(0);
    let reports = collect(|| {
        let ga = a.lock();
        let gb = b.write();
        let gc = c.lock();
        // Release the oldest first, then the newest, then the middle one.
        drop(ga);
        drop(gc);
        lockdep::assert::held(&b);
        lockdep::assert::not_held(&a);
        drop(gb);
        lockdep::assert::none_held();
        // The same order again: known, no report.
        let _a = a.lock();
        let _b = b.write();
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn reentrant_mutex_reports_only_the_outermost_acquisition() {
    let outer = Mutex::new(0);
    let re = ReentrantMutex::new(0);
    let reports = collect(|| {
        {
            let _r1 = re.lock();
            let _r2 = re.lock(); // not a recursion: the owner locks again
            let _o = outer.lock();
        }
        let _o = outer.lock();
        let _r = re.lock(); // outer -> re against re -> outer
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
}

#[test]
fn condvar_wait_reacquires_the_mutex_in_the_validator() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let v = Validator::new(Config::collect());
    let (p, v2) = (pair.clone(), v.clone());
    let waiter = thread::spawn(move || {
        v2.scope(|| {
            let mut ready = p.0.lock();
            p.1.wait_while(&mut ready, |r| !*r);
            // Held again after the wait, for the validator as for the lock.
            lockdep::assert::held(&p.0);
            drop(ready);
            lockdep::assert::none_held();
        })
    });
    v.scope(|| {
        *pair.0.lock() = true;
        pair.1.notify_one();
    });
    waiter.join().unwrap();
    assert!(v.reports().is_empty(), "{:?}", v.reports());
}

#[test]
fn guards_are_lock_api_guards_over_the_instrumented_raw_locks() {
    let m = Mutex::new(vec![1, 2]);
    let g = m.lock();
    let mapped = parking_lot::MutexGuard::map(g, |v| &mut v[0]);
    assert_eq!(*mapped, 1);
    drop(mapped);
    let l = RwLock::new(1);
    let u = l.upgradable_read();
    let mut w = parking_lot::RwLockUpgradableReadGuard::upgrade(u);
    *w = 2;
    let r = parking_lot::RwLockWriteGuard::downgrade(w);
    assert_eq!(*r, 2);
}

#[test]
fn locks_are_named_after_their_data_type_and_line() {
    #[allow(dead_code)]
    struct Account(i64);
    use lockdep::AsLockdepMap;
    let (line, m) = (line!(), Mutex::new(Account(0)));
    assert_eq!(m.as_lockdep_map().name(), format!("Mutex<Account>@{}:{line}", file!()));
    let (line, l) = (line!(), RwLock::new(vec![String::new()]));
    assert_eq!(l.as_lockdep_map().name(), format!("RwLock<Vec<String>>@{}:{line}", file!()));
    static LINE: u32 = line!() + 1;
    static TABLE: RwLock<u32> = RwLock::new(0);
    assert_eq!(TABLE.as_lockdep_map().name(), format!("RwLock<u32>@{}:{LINE}", file!()));
}

#[test]
fn relocking_panics_at_the_callers_line_instead_of_hanging() {
    let m = Mutex::new(0);
    let v = Validator::new(Config::collect());
    v.scope(|| {
        let _g = m.lock();
        let line = line!() + 1;
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(m.lock()))).unwrap_err();
        let msg = err.downcast_ref::<String>().expect("a formatted message");
        assert!(msg.contains("self-deadlock") && msg.contains(&format!("at {}:{line}:", file!())), "{msg}");
    });
    assert_eq!(kinds(&v.reports()), [ReportKind::RecursiveLocking]);
}
