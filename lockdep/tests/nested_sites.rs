//! `Config::nested_sites` / `LOCKDEP_NESTED_SITES`: the one-level nesting
//! annotation for locks of one construction site, supplied from outside the
//! code that takes them (moka's waiters, docs/REAL-WORLD.md). A lock of a
//! listed site taken while another lock of its class is held is validated
//! as subclass 1; the same lock twice, and a third level, are still
//! reported.

use std::process::Command;

use lockdep::sync::RwLock;
use lockdep::{Config, NestedSite, Read, Report, ReportKind, Validator};

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// Every waiter is made here: one construction site, one class.
fn waiter() -> RwLock<u32> {
    RwLock::new(0)
}
/// The line of `RwLock::new(0)` in `waiter`.
const WAITER_LINE: u32 = line!() - 3;

/// Another site of the same type.
fn other() -> RwLock<u32> {
    RwLock::new(0)
}
/// The line of `RwLock::new(0)` in `other` (column 5).
const OTHER_LINE: u32 = line!() - 3;

fn waiter_site() -> NestedSite {
    format!("{}:{WAITER_LINE}", file!()).parse().unwrap()
}

/// Holds `mine` for write and reads `theirs`: moka's `try_init_or_read`
/// reading another thread's waiter while holding its own, unpublished one.
fn read_theirs_under_mine(v: &Validator, mine: &RwLock<u32>, theirs: &RwLock<u32>) -> u32 {
    v.scope(|| {
        let _mine = mine.write();
        *theirs.read()
    })
}

#[test]
fn another_lock_of_a_nested_site_nests_one_level() {
    let (mine, theirs) = (waiter(), waiter());
    // Not listed: the kernel's "possible recursive locking".
    let v = Validator::new(Config::collect());
    read_theirs_under_mine(&v, &mine, &theirs);
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    let (taking, held) = (reports[0].lock().unwrap(), reports[0].other().unwrap());
    assert_ne!(taking.addr(), held.addr());
    assert_eq!((taking.read(), held.read()), (Read::Shared, Read::Exclusive));

    // Listed: subclass 1 under subclass 0, no report — and the order is
    // learned as a dependency between the two subclasses.
    let v = Validator::new(Config::collect().with_nested_site(waiter_site()));
    read_theirs_under_mine(&v, &mine, &theirs);
    read_theirs_under_mine(&v, &theirs, &mine); // either way round: both "one level down"
    assert!(v.reports().is_empty(), "{:#?}", v.reports());
    let s = v.stats();
    assert_eq!((s.classes, s.direct_dependencies), (2, 1), "the class and its subclass 1, one order");
    assert!(v.dump_classes().contains(&format!("RwLock<u32>@{}:{WAITER_LINE}/1", file!())), "{}", v.dump_classes());
}

#[test]
fn the_same_lock_twice_is_still_reported() {
    let mine = waiter();
    let v = Validator::new(Config::collect().with_nested_site(waiter_site()));
    v.scope(|| {
        let _first = mine.read();
        let _again = mine.read(); // rwsem semantics: can deadlock behind a writer
    });
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    assert_eq!(reports[0].lock().unwrap().addr(), reports[0].other().unwrap().addr());
}

#[test]
fn a_third_level_is_still_reported() {
    let (a, b, c) = (waiter(), waiter(), waiter());
    let v = Validator::new(Config::collect().with_nested_site(waiter_site()));
    v.scope(|| {
        let _a = a.write();
        let _b = b.write(); // one level down: subclass 1
        let _c = c.write(); // subclass 1 again, under b: reported
    });
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking]);
    let (taking, held) = (reports[0].lock().unwrap(), reports[0].other().unwrap());
    assert_eq!((taking.addr(), held.addr()), (std::ptr::addr_of!(c) as usize, std::ptr::addr_of!(b) as usize));
    assert!(held.class().ends_with("/1"), "{}", held.class());
}

/// Only the listed site's class: a lock of another site, or another line of
/// this file, or a file name that is only the end of a component, is not
/// annotated.
#[test]
fn only_the_listed_site_is_annotated() {
    let (a, b) = (other(), other());
    for site in [
        waiter_site(),
        NestedSite::new(file!(), WAITER_LINE + 1),
        NestedSite::new("ested_sites.rs", OTHER_LINE),
        waiter_site().at_column(1),
    ] {
        let v = Validator::new(Config::collect().with_nested_site(site.clone()));
        read_theirs_under_mine(&v, &a, &b);
        assert_eq!(kinds(&v.reports()), [ReportKind::RecursiveLocking], "{site}");
    }
    // The file's last component, or the whole path, and the right column.
    let other_line = OTHER_LINE;
    for site in [
        NestedSite::new("nested_sites.rs", other_line),
        NestedSite::new(file!(), other_line).at_column(5),
        NestedSite::new(format!("/any/prefix/{}", file!()), other_line),
    ] {
        let v = Validator::new(Config::collect().with_nested_site(site.clone()));
        read_theirs_under_mine(&v, &a, &b);
        let expected: &[ReportKind] = if site.file.starts_with("/any") { &[ReportKind::RecursiveLocking] } else { &[] };
        assert_eq!(kinds(&v.reports()), expected, "{site}");
    }
}

#[test]
fn sites_parse_as_documented() {
    let s: NestedSite = "src/sync/value_initializer.rs:98".parse().unwrap();
    assert_eq!(s, NestedSite::new("src/sync/value_initializer.rs", 98));
    let s: NestedSite = "src/a.rs:98:31".parse().unwrap();
    assert_eq!(s, NestedSite::new("src/a.rs", 98).at_column(31));
    assert_eq!(s.to_string(), "src/a.rs:98:31");
    let s: NestedSite = r"C:\src\a.rs:7".parse().unwrap();
    assert_eq!(s, NestedSite::new(r"C:\src\a.rs", 7));
    for bad in ["", "a.rs", "a.rs:", ":12", "a.rs:0", "a.rs:x", "a.rs:12:", "src/:3", "a.rs:-1"] {
        assert!(bad.parse::<NestedSite>().is_err(), "{bad:?}");
    }
    assert!(NestedSite::new("src/a.rs", 3).matches("/home/me/crate/src/a.rs", 3, 9));
    assert!(!NestedSite::new("src/a.rs", 3).matches("/home/me/crate/xsrc/a.rs", 3, 9));
    assert!(!NestedSite::new("src/a.rs", 3).matches("/home/me/crate/src/a.rs", 4, 9));
}

/// The global validator takes the list from `LOCKDEP_NESTED_SITES` (in a
/// child process: the environment must be set before the global validator
/// is first used).
#[test]
fn the_global_validator_reads_lockdep_nested_sites() {
    const CHILD: &str = "LOCKDEP_NESTED_SITES_CHILD";
    if let Some(expect) = std::env::var_os(CHILD) {
        let (mine, theirs) = (waiter(), waiter());
        {
            let _mine = mine.write();
            let _theirs = theirs.read(); // no scope: the global validator
        }
        let got = kinds(&Validator::global().reports());
        let expected: &[ReportKind] = if expect == "listed" { &[] } else { &[ReportKind::RecursiveLocking] };
        assert_eq!(got, expected);
        return;
    }
    let listed = format!("src/other.rs:3, {}:{WAITER_LINE}", file!());
    for (value, expect) in [(listed.as_str(), "listed"), ("src/other.rs:3", "not listed")] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "the_global_validator_reads_lockdep_nested_sites", "--nocapture", "--test-threads=1"])
            .env(CHILD, expect)
            .env("LOCKDEP_NESTED_SITES", value)
            .env("LOCKDEP_ACTION", "collect")
            .output()
            .unwrap();
        assert!(out.status.success(), "LOCKDEP_NESTED_SITES={value}: {}", String::from_utf8_lossy(&out.stdout));
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "the child ran the test");
    }
}
