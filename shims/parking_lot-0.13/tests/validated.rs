//! The shim's own tests: what lockdep sees through it. Validation is always
//! compiled in here (the shim turns on `enabled-in-release`).

use std::sync::Arc;
use std::thread;

use lockdep::{Config, Read, Report, ReportKind, Validator};
use parking_lot::{Condvar, FairMutex, Mutex, RecursiveRwLock, ReentrantMutex, RwLock};

// The shim compiles validation in whatever the profile.
const _: () = assert!(lockdep::ENABLED);

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// Runs `f` under a fresh collecting validator; its reports.
fn collect(f: impl FnOnce()) -> Vec<Report> {
    let v = Validator::new(Config::collect());
    v.scope(f);
    v.reports()
}

#[test]
fn abba_between_two_construction_sites_is_reported_at_the_callers_line() {
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
    // lock_api 0.5's `lock` and the shim's raw locks are `#[track_caller]`:
    // the acquisition is reported here, not inside lock_api or the shim.
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

/// A crate's generic helper makes all its locks at one line; the class is
/// the site *and* the data type, so locks of two types made there are two
/// classes (an inversion between them is reported as one, not as a
/// recursion), two of one type one class.
#[test]
fn a_generic_helpers_locks_are_one_class_per_type() {
    fn new_lock<T>(t: T) -> RwLock<T> {
        RwLock::new(t)
    }
    let (names, ids) = (new_lock(Vec::<String>::new()), new_lock(Vec::<u64>::new()));
    let reports = collect(|| {
        {
            let _n = names.write();
            let _i = ids.write();
        }
        let _i = ids.write();
        let _n = names.write();
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    assert!(reports[0].lock().unwrap().class().starts_with("RwLock<Vec<String>>@"), "{reports:?}");
    let more_ids = new_lock(Vec::<u64>::new());
    let reports = collect(|| {
        let _i = ids.read();
        let _m = more_ids.read();
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
}

static FIRST: Mutex<u32> = Mutex::new(0);
static SECOND: FairMutex<u32> = FairMutex::new(0);

#[test]
fn each_static_is_its_own_class() {
    // Nested statics: distinct classes, so no recursive locking; their two
    // orders are an inversion.
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
fn rwlock_reads_twice_reported_recursive_rwlock_not() {
    let plain = RwLock::new(0);
    let reports = collect(|| {
        let _r1 = plain.read();
        let _r2 = plain.read();
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert_eq!(reports[0].lock().expect("the lock being taken").read(), Read::Shared);
    let recursive = RecursiveRwLock::new(0);
    let reports = collect(|| {
        let _r1 = recursive.read();
        let _r2 = recursive.read();
    });
    assert!(reports.is_empty(), "{reports:?}");
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
        drop(ga);
        drop(gc);
        lockdep::assert::held(&b);
        lockdep::assert::not_held(&a);
        drop(gb);
        lockdep::assert::none_held();
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
            let _r2 = re.lock();
            let _o = outer.lock();
        }
        let _o = outer.lock();
        let _r = re.lock();
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

/// The condvar is a waitable object (lockdep's chapter 16): a thread that
/// waits on it while holding `outer`, where a notifier of the same condvar
/// holds `outer`, can wait forever. Both halves run at different times (no
/// hang); the control differs only in the lock the notifier holds.
fn condvar_wait_then_notify(notifier_holds_outer: bool) -> Vec<Report> {
    let flag = Mutex::new(false);
    let cv = Condvar::new();
    let (outer, other) = (Mutex::new(()), Mutex::new(()));
    let v = Validator::new(Config::collect().with_backtraces(false));
    let (ready, is_ready) = std::sync::mpsc::channel();
    thread::scope(|s| {
        s.spawn(|| {
            v.scope(|| {
                let _outer = outer.lock();
                let mut f = flag.lock();
                ready.send(()).unwrap();
                // The flag's mutex is given up only inside the wait: once the
                // helper sets the flag, the wait has happened.
                cv.wait_while(&mut f, |f| !*f);
            })
        });
        is_ready.recv().unwrap();
        v.scope(|| {
            *flag.lock() = true;
            cv.notify_all();
        });
    });
    thread::scope(|s| {
        s.spawn(|| {
            v.scope(|| {
                let _l = if notifier_holds_outer { outer.lock() } else { other.lock() };
                cv.notify_one();
            })
        });
    });
    v.reports()
}

#[test]
fn condvar_wait_under_a_lock_a_notifier_holds_is_reported() {
    let reports = condvar_wait_then_notify(true);
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency], "{reports:#?}");
    let text = reports[0].to_string();
    assert!(text.contains("the event on Condvar@"), "{text}");
    // Both ends of the dependencies are this file's lines, not lock_api's
    // or the shim's.
    for step in reports[0].chain() {
        assert_eq!(step.from().location().file(), file!(), "{text}");
        assert_eq!(step.to().location().file(), file!(), "{text}");
    }
}

#[test]
fn condvar_control_a_notifier_holding_another_lock_is_silent() {
    let reports = condvar_wait_then_notify(false);
    assert!(reports.is_empty(), "{reports:#?}");
}

#[test]
fn condvar_relock_is_validated_at_the_waits_line() {
    let outer = Mutex::new(());
    let pair = (Mutex::new(false), Condvar::new());
    let v = Validator::new(Config::collect().with_backtraces(false));
    v.scope(|| {
        let mut g = pair.0.lock();
        let _o = outer.lock(); // pair.0 -> outer
        // The wait gives pair.0 up and takes it back while outer is held:
        // outer -> pair.0 closes the cycle, at the wait's line.
        let line = line!() + 1;
        let r = pair.1.wait_for(&mut g, std::time::Duration::from_millis(1));
        assert!(r.timed_out());
        let reports = v.reports();
        assert_eq!(kinds(&reports), [ReportKind::CircularDependency], "{reports:#?}");
        assert_eq!((reports[0].location().file(), reports[0].location().line()), (file!(), line));
    });
}
