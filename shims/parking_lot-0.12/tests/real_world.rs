//! What running published crates' suites against the shim showed about the
//! shim itself (`scripts/real-world.sh`, `docs/REAL-WORLD.md`).

use lockdep::{Config, Report, ReportKind, Validator};
use parking_lot::{Mutex, const_mutex};

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// Runs `f` under a fresh collecting validator; its reports.
fn collect(f: impl FnOnce()) -> Vec<Report> {
    let v = Validator::new(Config::collect());
    v.scope(f);
    v.reports()
}

/// tokio 1.54 (feature `parking_lot`) builds every mutex through its own
/// wrapper, `loom::std::parking_lot::Mutex::new` (src/loom/std/parking_lot.rs:50),
/// which calls `parking_lot::Mutex::new` and is not `#[track_caller]`.
fn wrapper_new<T>(t: T) -> Mutex<T> {
    Mutex::new(t)
}
/// The line of `Mutex::new(t)` above: the site of every lock `wrapper_new` makes.
const NEW_LINE: u32 = line!() - 3;

/// And its statics through `const_new` (:56), over `const_mutex`.
const fn wrapper_const_new<T>(t: T) -> Mutex<T> {
    const_mutex(t)
}

/// tokio's orphan-process queue: two mutexes of one struct, built by the
/// wrapper; `reap_orphans` try-locks `sigchild`, then locks `queue`
/// (src/process/unix/orphan.rs:85 and :93).
struct OrphanQueue {
    sigchild: Mutex<Option<u32>>,
    queue: Mutex<Vec<u32>>,
}

static ORPHANS: OrphanQueue = OrphanQueue { sigchild: wrapper_const_new(None), queue: wrapper_const_new(Vec::new()) };

fn reap_orphans(q: &OrphanQueue) -> usize {
    match q.sigchild.try_lock() {
        Some(_sigchild) => q.queue.lock().len(),
        None => 0,
    }
}

/// The class of a lock is its construction site *and* its data type: the
/// locks a wrapper builds all have the wrapper's line as their site, but
/// one class per type. So tokio's wrapper-made mutexes of one type are one
/// class (two of them nested is still "recursive locking", as for any
/// class), locks of two types nested in both orders are a real lock
/// inversion, and the class names say which type each is. (Before classes
/// had a type, every lock of the wrapper was one class: tokio's suite
/// reported its nested locks of different types as recursive locking, and
/// the inversion below was a recursion report about one class.)
#[test]
fn locks_built_by_a_wrapper_are_one_class_per_type() {
    let (a, b) = (wrapper_new(1u8), wrapper_new(2u8));
    let reports = collect(|| {
        let _a = a.lock();
        let _b = b.lock(); // two `Mutex<u8>` of one site: one class
    });
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    let (taking, held) = (reports[0].lock().unwrap(), reports[0].other().unwrap());
    assert_ne!(taking.addr(), held.addr());
    let class = format!("Mutex<u8>@{}:{NEW_LINE}", file!());
    assert_eq!((taking.class(), held.class()), (class.as_str(), class.as_str()));

    // Two types of one site, nested both ways: two classes, one inversion.
    let (names, ids) = (wrapper_new(Vec::<String>::new()), wrapper_new(Vec::<u32>::new()));
    let reports = collect(|| {
        {
            let _n = names.lock();
            ids.lock().push(1); // Vec<String> -> Vec<u32>
        }
        let _i = ids.lock();
        names.lock().push(String::new()); // Vec<u32> -> Vec<String>
    });
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency]);
    let site = format!("@{}:{NEW_LINE}", file!());
    assert_eq!(reports[0].lock().unwrap().class(), format!("Mutex<Vec<String>>{site}"));
    assert_eq!(reports[0].other().unwrap().class(), format!("Mutex<Vec<u32>>{site}"));
}

/// tokio's orphan queue, under the class rule above: its two mutexes are of
/// two types, hence two classes though one wrapper line built both — no
/// report, for the locks of `new` as for those of `const_new` (statics).
#[test]
fn wrapper_constructor_collapses_classes() {
    let orphans = OrphanQueue { sigchild: wrapper_new(None), queue: wrapper_new(Vec::new()) };
    let reports = collect(|| assert_eq!(reap_orphans(&orphans), 0));
    assert!(reports.is_empty(), "{reports:?}");
    let reports = collect(|| assert_eq!(reap_orphans(&ORPHANS), 0));
    assert!(reports.is_empty(), "{reports:?}");
    // (Built directly, the two are two classes as well.)
    let direct = OrphanQueue { sigchild: Mutex::new(None), queue: Mutex::new(Vec::new()) };
    let reports = collect(|| assert_eq!(reap_orphans(&direct), 0));
    assert!(reports.is_empty(), "{reports:?}");
}
