//! What a report says in the cases where the kernel's words would mislead a
//! Rust user: the same lock instance taken again, and the dump line.

use lockdep::*;

fn only_report(v: &Validator) -> String {
    let r = v.reports();
    assert_eq!(r.len(), 1, "{r:#?}");
    r[0].to_string()
}

#[test]
fn write_after_read_of_the_same_lock_is_a_certain_self_deadlock() {
    let m = LockdepMap::here("table");
    let v = Validator::new(Config::collect());
    v.scope(|| {
        rwsem_acquire_read(&m, 0, false);
        rwsem_acquire(&m, 0, false);
    });
    let text = only_report(&v);
    assert!(text.contains("this thread will deadlock on itself now"), "{text}");
    assert!(text.contains("upgradable_read"), "{text}");
    assert!(!text.contains("nesting notation"), "{text}");
}

#[test]
fn relocking_the_same_mutex_is_a_certain_self_deadlock() {
    let m = LockdepMap::here("m");
    let v = Validator::new(Config::collect());
    v.scope(|| {
        mutex_acquire(&m, 0, false);
        mutex_acquire(&m, 0, false);
    });
    let text = only_report(&v);
    assert!(text.contains("this thread will deadlock on itself now"), "{text}");
    assert!(!text.contains("upgradable_read"), "{text}");
}

#[test]
fn reading_the_same_lock_twice_deadlocks_only_behind_a_writer() {
    let m = LockdepMap::here("table");
    let v = Validator::new(Config::collect());
    v.scope(|| {
        rwsem_acquire_read(&m, 0, false);
        rwsem_acquire_read(&m, 0, false);
    });
    let text = only_report(&v);
    assert!(text.contains("read twice"), "{text}");
    assert!(!text.contains("deadlock on itself now"), "{text}");
}

#[test]
fn two_locks_of_one_class_may_miss_a_nesting_annotation() {
    static K: LockClassKey = LockClassKey::new();
    let (a, b) = (LockdepMap::new("one", &K), LockdepMap::new("two", &K));
    let v = Validator::new(Config::collect());
    v.scope(|| {
        mutex_acquire(&a, 0, false);
        mutex_acquire(&b, 0, false);
    });
    let text = only_report(&v);
    assert!(text.contains("missing lock nesting notation"), "{text}");
    assert!(!text.contains("deadlock on itself"), "{text}");
}

#[test]
fn the_dump_is_named_once_and_red_only_with_a_cycle() {
    let dir = std::env::temp_dir().join(format!("lockdep-report-text-{}", std::process::id()));
    static A: LockClassKey = LockClassKey::new();
    static B: LockClassKey = LockClassKey::new();
    let (a, b) = (LockdepMap::new("a", &A), LockdepMap::new("b", &B));
    let v = Validator::new(Config::collect().with_dump_dir(&dir));
    v.scope(|| {
        for (x, y) in [(&a, &b), (&b, &a)] {
            mutex_acquire(x, 0, false);
            mutex_acquire(y, 0, false);
            mutex_release(y);
            mutex_release(x);
        }
        mutex_release(&a); // an imbalance: a report without a cycle
    });
    let r = v.reports();
    assert_eq!(r.len(), 2, "{r:#?}");
    for (report, cycle) in [(&r[0], true), (&r[1], false)] {
        let text = report.to_string();
        let dot = report.dump().expect("a dump was written").dot.display().to_string();
        assert_eq!(text.matches(&dot).count(), 1, "the path once:\n{text}");
        assert_eq!(text.contains("in red"), cycle, "{text}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
