//! Default lock names say what a lock is and where it was made:
//! `Mutex<Account>@file:line`, the data type with its module paths
//! trimmed, the column only when two locks of one kind and type were made on
//! one line; reports show an address only where two locks share a name.
//!
//! (Validation compiled in only: `required-features = ["enabled"]`;
//! compiled out, maps store no name.)

use lockdep::sync::{Mutex, ReentrantMutex, RwLock};
use lockdep::{Config, LockClassKey, LockdepMap, ReportKind, Validator};

#[allow(dead_code)]
struct Account {
    balance: i64,
}

fn at(line: u32) -> String {
    format!("{}:{line}", file!())
}

#[test]
fn new_is_named_after_the_data_type_and_the_line() {
    let (line, m) = (line!(), Mutex::new(Account { balance: 0 }));
    assert_eq!(m.lockdep_map().name(), format!("Mutex<Account>@{}", at(line)));
    let (line, l) = (line!(), RwLock::new(vec![String::new()]));
    assert_eq!(l.lockdep_map().name(), format!("RwLock<Vec<String>>@{}", at(line)));
    let (line, r) = (line!(), ReentrantMutex::new(std::collections::HashMap::<u8, Option<Account>>::new()));
    assert_eq!(r.lockdep_map().name(), format!("ReentrantMutex<HashMap<u8, Option<Account>>>@{}", at(line)));
}

#[test]
fn two_locks_of_one_type_on_one_line_get_their_columns() {
    let (line, a, b) = (line!(), Mutex::new(1u32), Mutex::new(2u32));
    let (na, nb) = (a.lockdep_map().name(), b.lockdep_map().name());
    assert_ne!(na, nb);
    for n in [na, nb] {
        let rest = n.strip_prefix(&format!("Mutex<u32>@{}:", at(line))).unwrap_or_else(|| panic!("{n}"));
        assert!(rest.parse::<u32>().is_ok(), "a column: {n}");
    }
    // Another type on one line needs no column: the names differ already.
    let (line, c, d) = (line!(), Mutex::new(1u8), RwLock::new(1u8));
    assert_eq!(c.lockdep_map().name(), format!("Mutex<u8>@{}", at(line)));
    assert_eq!(d.lockdep_map().name(), format!("RwLock<u8>@{}", at(line)));
}

#[test]
fn locks_made_at_one_site_share_the_name_of_their_class() {
    fn account() -> Mutex<Account> {
        Mutex::new(Account { balance: 0 }) // the site of every account
    }
    let (a, b) = (account(), account());
    assert_eq!(a.lockdep_map().name(), b.lockdep_map().name());
    assert!(a.lockdep_map().name().starts_with("Mutex<Account>@"));
}

#[test]
fn keyed_and_macro_made_locks_are_named_after_their_type() {
    static KEY: LockClassKey = LockClassKey::new();
    let m = Mutex::with_key(0u64, &KEY);
    assert_eq!(m.lockdep_map().name(), "Mutex<u64>");
    let (line, n) = (line!(), lockdep::new_mutex!(Vec::<u8>::new()));
    assert_eq!(n.lockdep_map().name(), format!("Mutex<Vec<u8>>@{}", at(line)));
    let (line, r) = (line!(), lockdep::new_rwlock!(0i32));
    assert_eq!(r.lockdep_map().name(), format!("RwLock<i32>@{}", at(line)));
    // A name given is kept.
    assert_eq!(Mutex::named(0, "ledger").lockdep_map().name(), "ledger");
    static STATIC_LINE: u32 = line!() + 1;
    static TABLE: RwLock<u32> = lockdep::new_rwlock!(0);
    assert_eq!(TABLE.lockdep_map().name(), format!("RwLock<u32>@{}", at(STATIC_LINE)));
}

#[test]
fn typed_maps_for_lock_implementers() {
    struct Page;
    let site = std::panic::Location::caller();
    let map = LockdepMap::with_site_typed::<Page>("SpinLock", site);
    assert_eq!(map.name(), format!("SpinLock<Page>@{}:{}", site.file(), site.line()));
    static KEY: LockClassKey = LockClassKey::new();
    assert_eq!(LockdepMap::with_key_typed::<[u8]>("SeqLock", &KEY, None).name(), "SeqLock<[u8]>");
}

#[test]
fn reports_show_an_address_only_to_tell_two_locks_of_one_name_apart() {
    fn account() -> Mutex<Account> {
        Mutex::new(Account { balance: 0 })
    }
    let (a, b) = (account(), account());
    let other = Mutex::new(0u32);
    let v = Validator::new(Config::collect().with_backtraces(false));
    v.scope(|| {
        let _o = other.lock();
        let _a = a.lock();
        let _b = b.lock(); // same class, not annotated: recursive locking
    });
    let reports = v.reports();
    assert_eq!(reports.iter().map(|r| r.kind()).collect::<Vec<_>>(), [ReportKind::RecursiveLocking]);
    let text = reports[0].to_string();
    let name = a.lockdep_map().name();
    for m in [&a, &b] {
        let shown = format!("{name}@{:#x}", m.lockdep_map().addr());
        assert!(text.contains(&shown), "{shown} in\n{text}");
    }
    // The other lock's name is unique in the report: no address.
    let other_name = other.lockdep_map().name();
    assert!(text.contains(&format!(" #0: {other_name} (")), "{text}");
    assert!(!text.contains(&format!("{other_name}@0x")), "{text}");
    // The class is not repeated when the lock is named like it.
    assert!(text.contains(&format!("{name}@{:#x} (write)", a.lockdep_map().addr())), "{text}");
}

/// A lock whose class is cached before it is ever taken (here by a lock
/// event under another lock) is named right in a report once the acquire
/// fast path has taken it: the class cached without the name must not give
/// the held entry a missing or wrong name. (It guards the fast path's name
/// test and any change that drops it: round 9, helper h9n2.)
#[test]
fn a_lock_whose_class_was_cached_by_an_event_is_named_right_by_the_fast_path() {
    static KA: LockClassKey = LockClassKey::new();
    static KB: LockClassKey = LockClassKey::new();
    static KC: LockClassKey = LockClassKey::new();
    let a = Mutex::with_key(0u8, &KA);
    let b = Mutex::with_key(0u16, &KB); // a typed name, built at its first use
    let c = Mutex::with_key(0u32, &KC);
    let v = Validator::new(Config::collect().with_backtraces(false));
    v.scope(|| {
        {
            let _a = a.lock();
            lockdep::lock_event(b.lockdep_map()); // b's class cached, b not taken
        }
        for _ in 0..2 {
            let _b = b.lock(); // a chain head: the fast path from the second
        }
        {
            let _c = c.lock();
            let _b = b.lock(); // c -> b
        }
        let _b = b.lock(); // the fast path again
        let _c = c.lock(); // b -> c: a cycle, with b held
    });
    let reports = v.reports();
    assert_eq!(reports.iter().map(|r| r.kind()).collect::<Vec<_>>(), [ReportKind::CircularDependency]);
    let text = reports[0].to_string();
    assert_eq!(b.lockdep_map().name(), "Mutex<u16>");
    assert!(text.contains(" #0: Mutex<u16> ("), "{text}");
}
