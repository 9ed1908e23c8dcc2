//! Engine paths that no other test exercised (issue 19): each test here
//! failed when a one-line bug was planted in the path it names (the
//! mutations are in `scripts/mutants.txt`), and passes on the real engine.
//!
//! | path | test |
//! |---|---|
//! | the nest-lock exemption with a lock of another class in between | [`nest_exemption_holds_with_another_class_in_between`] |
//! | the `check` flag (`lock_acquire_nocheck`) | [`nocheck_acquisitions_are_tracked_but_never_validated`] |
//! | `lock_set_subclass` with locks held above | [`set_subclass_keeps_and_revalidates_the_locks_above`] |
//! | `lock_downgrade` with locks held above | [`downgrade_keeps_and_revalidates_the_locks_above`] |
//! | freeing a held map with locks above, continue mode | [`freeing_a_held_map_keeps_the_locks_above`] |
//! | a new dependency's origin thread after a task came in and went out | [`a_dependency_records_the_task_it_was_made_in`] |
//!
//! The file also keeps regression tests for the engine bugs the widened
//! oracle found (see `tests/oracle.rs`), each stating the correct behaviour.
//!
//! Needs validation compiled in (`required-features = ["enabled"]`).

use std::collections::BTreeSet;

use lockdep::*;

macro_rules! keys {
    ($($k:ident),*) => { $( static $k: LockClassKey = LockClassKey::new(); )* };
}

fn collect() -> Validator {
    // A test that needs validation fails visibly where it is compiled out
    // (a release build with only `enabled`).
    if !ENABLED {
        panic!(
            "these tests need validation compiled in: a debug build with --features enabled, or --features \
             enabled-in-release"
        );
    }
    Validator::new(Config::collect().with_backtraces(false))
}

fn kinds(v: &Validator) -> Vec<ReportKind> {
    v.reports().iter().map(Report::kind).collect()
}

/// The dependencies of `v` as `(from, to, types)` with class names, read
/// back from the DOT dump.
fn deps(v: &Validator) -> BTreeSet<(String, String, String)> {
    let dot = v.dump_dot();
    let mut names = std::collections::HashMap::new();
    let mut edges = BTreeSet::new();
    let label = |attrs: &str| attrs.split("label=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_owned();
    for line in dot.lines().map(str::trim) {
        let Some(open) = line.find('[') else { continue };
        let head = line[..open].trim();
        let attrs = &line[open + 1..];
        match head.split_once("->") {
            Some((a, b)) => {
                edges.insert((a.trim().to_owned(), b.trim().to_owned(), label(attrs)));
            }
            None => {
                names.insert(head.to_owned(), label(attrs));
            }
        }
    }
    edges.into_iter().map(|(a, b, l)| (names[&a].clone(), names[&b].clone(), l)).collect()
}

fn dep(from: &str, to: &str, types: &str) -> (String, String, String) {
    (from.to_owned(), to.to_owned(), types.to_owned())
}

// ---------------------------------------------------------------------------
// The five paths.

/// `W(P) W(Y1, nest P) W(B) W(Y2, nest P)`: Y2 cannot merge with Y1 (B is on
/// top), so the same-class check runs and must find P below Y1: no report, and
/// no dependency for Y2 at all (spec: the exempted acquisition adds none, or
/// Y -> B -> Y would be a cycle).
#[test]
fn nest_exemption_holds_with_another_class_in_between() {
    keys!(KP, KY, KB);
    let p = LockdepMap::new("P", &KP);
    let (y1, y2) = (LockdepMap::new("Y", &KY), LockdepMap::new("Y", &KY));
    let b = LockdepMap::new("B", &KB);
    let v = collect();
    v.scope(|| {
        mutex_acquire(&p, 0, false);
        mutex_acquire_nest(&y1, 0, false, &p);
        mutex_acquire(&b, 0, false);
        mutex_acquire_nest(&y2, 0, false, &p);
        assert!(v.dump_held().starts_with("4 locks held"), "Y2 is an entry of its own:\n{}", v.dump_held());
        assert!(lock_is_held(&y2));
        mutex_release(&y2);
        mutex_release(&b);
        mutex_release(&y1);
        mutex_release(&p);
    });
    assert_eq!(kinds(&v), []);
    assert_eq!(deps(&v), BTreeSet::from([dep("P", "Y", "EN"), dep("Y", "B", "EN")]));
    // Without the nest lock the same sequence is recursive locking.
    let v = collect();
    v.scope(|| {
        mutex_acquire(&y1, 0, false);
        mutex_acquire(&b, 0, false);
        mutex_acquire(&y2, 0, false);
        mutex_release(&y2);
        mutex_release(&b);
        mutex_release(&y1);
    });
    assert_eq!(kinds(&v), [ReportKind::RecursiveLocking]);
}

/// `lock_acquire_nocheck` (kernel `check = 0`): the lock is on the held-lock
/// stack (it can be asserted and released) but is never validated itself
/// (no recursion check, no dependency into it) and is skipped by the walk of
/// later acquisitions (no dependency out of it).
#[test]
fn nocheck_acquisitions_are_tracked_but_never_validated() {
    keys!(KA, KB, KC);
    let (a1, a2) = (LockdepMap::new("A", &KA), LockdepMap::new("A", &KA));
    let b = LockdepMap::new("B", &KB);
    let c = LockdepMap::new("C", &KC);
    let v = collect();
    v.scope(|| {
        // B, then unchecked A twice: no B -> A, no recursion.
        mutex_acquire(&b, 0, false);
        lock_acquire_nocheck(&a1, 0, false, Read::Exclusive);
        lock_acquire_nocheck(&a2, 0, false, Read::Exclusive);
        assert!(lock_is_held_type(&a2, Some(Read::Exclusive)));
        // C above the unchecked locks: its walk skips them and stops at B.
        mutex_acquire(&c, 0, false);
        mutex_release(&c);
        mutex_release(&a2);
        mutex_release(&a1);
        mutex_release(&b);
        assert!(!lock_is_held(&a1));
        // C then A, checked: fine only if the unchecked acquisitions left
        // no A -> C behind.
        mutex_acquire(&c, 0, false);
        mutex_acquire(&a1, 0, false);
        mutex_release(&a1);
        mutex_release(&c);
    });
    assert_eq!(kinds(&v), []);
    assert_eq!(
        deps(&v),
        BTreeSet::from([dep("B", "C", "EN"), dep("C", "A", "EN")]),
        "the unchecked acquisitions added no dependency"
    );
}

/// `lock_set_subclass` on a lock with locks above it: the locks above stay
/// held, and are validated again under the new class (a new dependency, and
/// a report when that dependency closes a cycle).
#[test]
fn set_subclass_keeps_and_revalidates_the_locks_above() {
    keys!(KNODE, KB);
    let node = LockdepMap::new("node", &KNODE);
    let b = LockdepMap::new("B", &KB);
    let v = collect();
    v.scope(|| {
        // An earlier B -> node/1.
        mutex_acquire(&b, 0, false);
        mutex_acquire(&node, 1, false);
        mutex_release(&node);
        mutex_release(&b);
        mutex_acquire(&node, 0, false);
        mutex_acquire(&b, 0, false);
        lock_set_subclass(&node, 1); // node/1 -> B closes B -> node/1 -> B
        assert!(lock_is_held(&b), "B is still held");
        assert!(lock_is_held(&node));
        mutex_release(&b); // balanced
        mutex_release(&node);
        assert!(!lock_is_held(&b) && !lock_is_held(&node));
    });
    assert_eq!(kinds(&v), [ReportKind::CircularDependency]);
    let r = &v.reports()[0];
    assert_eq!((r.other().unwrap().class(), r.lock().unwrap().class()), ("node/1", "B"));
    assert_eq!(deps(&v), BTreeSet::from([dep("B", "node/1", "EN"), dep("node", "B", "EN")]));

    // Without a cycle the re-validation records node/1 -> B.
    let v = collect();
    v.scope(|| {
        mutex_acquire(&node, 0, false);
        mutex_acquire(&b, 0, false);
        lock_set_subclass(&node, 1);
        mutex_release(&b);
        mutex_release(&node);
    });
    assert_eq!(kinds(&v), []);
    assert_eq!(deps(&v), BTreeSet::from([dep("node", "B", "EN"), dep("node/1", "B", "EN")]));
}

/// `lock_downgrade` with locks above: they stay held and are validated again
/// under the reader (the dependency gains the SN type).
#[test]
fn downgrade_keeps_and_revalidates_the_locks_above() {
    keys!(KSEM, KB);
    let sem = LockdepMap::new("sem", &KSEM);
    let b = LockdepMap::new("B", &KB);
    let v = collect();
    v.scope(|| {
        rwsem_acquire(&sem, 0, false);
        mutex_acquire(&b, 0, false);
        lock_downgrade(&sem);
        assert!(lock_is_held(&b), "B is still held");
        assert!(lock_is_held_type(&sem, Some(Read::Shared)));
        mutex_release(&b); // balanced
        rwsem_release(&sem);
        assert!(!lock_is_held(&b) && !lock_is_held(&sem));
    });
    assert_eq!(kinds(&v), []);
    assert_eq!(deps(&v), BTreeSet::from([dep("sem", "B", "EN|SN")]));
}

/// Dropping a held map in continue mode: reported, the entry goes, and the
/// locks above it stay held (validated again without it).
#[test]
fn freeing_a_held_map_keeps_the_locks_above() {
    keys!(KA, KB, KC);
    let b = LockdepMap::new("B", &KB);
    let c = LockdepMap::new("C", &KC);
    let v = collect();
    v.scope(|| {
        let a = Box::new(LockdepMap::new("A", &KA));
        mutex_acquire(&a, 0, false);
        mutex_acquire(&b, 0, false);
        mutex_acquire(&c, 0, false);
        drop(a);
        assert!(lock_is_held(&b) && lock_is_held(&c), "B and C are still held");
        assert!(v.dump_held().starts_with("2 locks held"), "{}", v.dump_held());
        mutex_release(&c); // balanced
        mutex_release(&b);
    });
    assert_eq!(kinds(&v), [ReportKind::HeldLockFreed]);
    assert_eq!(deps(&v), BTreeSet::from([dep("A", "B", "EN"), dep("B", "C", "EN")]));
}

// ---------------------------------------------------------------------------
// Engine bugs found by the oracle, kept out of its generator (see
// `tests/oracle.rs`). Each asserts the correct behaviour.

/// A merged nest-lock member was found by its class through the map's class
/// cache only: after *any* key with classes in this validator was
/// unregistered (a new epoch), releasing the member was reported as an
/// unlock imbalance (then its nest lock's release replayed the merged entry
/// without its nest lock: "nest lock not held"). Expected: no report (the
/// kernel looks the subclass-0 class up when the cache is empty).
#[test]
fn merged_nest_member_release_after_unrelated_unregister() {
    keys!(KP, KY, KZ);
    let p = LockdepMap::new("P", &KP);
    let (y1, y2) = (LockdepMap::new("Y", &KY), LockdepMap::new("Y", &KY));
    let z = LockdepMap::new("Z", &KZ);
    let v = collect();
    v.scope(|| {
        mutex_acquire(&z, 0, false);
        mutex_release(&z);
        mutex_acquire(&p, 0, false);
        mutex_acquire_nest(&y1, 0, false, &p);
        mutex_acquire_nest(&y2, 0, false, &p); // merged into Y1's entry
        KZ.unregister(); // Z is not held: a legal removal
        mutex_release(&y2);
        mutex_release(&y1);
        mutex_release(&p);
    });
    assert_eq!(kinds(&v), [], "{:#?}", v.reports());
}

/// Continue mode reports "each distinct problem once", keyed by class ids;
/// a zapped class's id was reused by the next new class, and the old key
/// still remembered, so a *different* problem on the new class was dropped
/// (class ids are never reused now). Expected: two recursive-locking
/// reports, one for A and one for B.
#[test]
fn report_dedup_survives_class_removal() {
    keys!(KA, KB);
    let (a1, a2) = (LockdepMap::new("A", &KA), LockdepMap::new("A", &KA));
    let (b1, b2) = (LockdepMap::new("B", &KB), LockdepMap::new("B", &KB));
    let v = collect();
    v.scope(|| {
        mutex_acquire(&a1, 0, false);
        mutex_acquire(&a2, 0, false); // recursive locking on A
        mutex_release(&a2);
        mutex_release(&a1);
        KA.unregister();
        mutex_acquire(&b1, 0, false); // B's class takes A's old id
        mutex_acquire(&b2, 0, false); // recursive locking on B
        mutex_release(&b2);
        mutex_release(&b1);
    });
    let got: Vec<(ReportKind, String)> =
        v.reports().iter().map(|r| (r.kind(), r.lock().unwrap().class().to_owned())).collect();
    assert_eq!(got, [(ReportKind::RecursiveLocking, "A".to_owned()), (ReportKind::RecursiveLocking, "B".to_owned())]);
}

/// A held entry keeps its lock's name as an id in a global table (round 7,
/// issue 14), not the name itself: it must still read back exactly once the
/// map is gone, for a name made at run time, and whether the entry was
/// pushed by the fast path or the full one. Two strings with one text are
/// one name.
#[test]
fn a_held_entry_names_its_lock_after_the_map_is_gone() {
    keys!(KB);
    let b = LockdepMap::new("B", &KB);
    let v = collect();
    v.scope(|| {
        for i in 0..3 {
            // A class of its own each time: each drop is a distinct problem.
            let name: &'static str = Box::leak(format!("conn-{}", 7).into_boxed_str());
            let a = Box::new(LockdepMap::new_dynamic(name));
            // The first acquisition of each map takes the full path (its name
            // is interned there); the second, a chain head with its class and
            // name cached in the map, the fast one.
            mutex_acquire(&a, 0, false);
            mutex_release(&a);
            mutex_acquire(&a, 0, false);
            mutex_acquire(&b, 0, false);
            let held = v.dump_held();
            assert!(held.contains("conn-7") && held.starts_with("2 locks held"), "{held}");
            drop(a); // freed while held: reported with its name
            mutex_release(&b);
            assert_eq!(v.reports().len(), i + 1);
        }
    });
    let reports = v.reports();
    assert_eq!(kinds(&v), [ReportKind::HeldLockFreed; 3]);
    for r in &reports {
        assert_eq!(r.lock().unwrap().instance(), "conn-7");
    }
}

/// `lock_is_held_type` answers from the held stack itself while the fast
/// path is armed (no merged entry), and through the full path otherwise:
/// the same answers either way — each mode, a lock below the top, a lock
/// not held, a lock read twice (the top-most entry
/// answers), and a merged entry's members, known by class.
#[test]
fn is_held_answers_the_same_on_the_fast_and_the_full_path() {
    keys!(KA, KR, KP, KY);
    let a = LockdepMap::new("A", &KA);
    let (r, r2) = (LockdepMap::new("R", &KR), LockdepMap::new("R", &KR));
    let p = LockdepMap::new("P", &KP);
    let (y1, y2, y3) = (LockdepMap::new("Y", &KY), LockdepMap::new("Y", &KY), LockdepMap::new("Y", &KY));
    let (w, rd) = (Some(Read::Exclusive), Some(Read::Shared));
    let v = collect();
    v.scope(|| {
        for round in 0..2 {
            // (The second round's acquisitions are cached: the fast path.)
            mutex_acquire(&a, 0, false);
            rwlock_acquire_read(&r, 0, false);
            assert!(lock_is_held(&a) && lock_is_held_type(&a, w) && !lock_is_held_type(&a, rd), "round {round}");
            assert!(lock_is_held_type(&r, rd) && !lock_is_held_type(&r, w), "round {round}");
            assert!(!lock_is_held(&r2) && !lock_is_held(&p) && !lock_is_held(&y1), "round {round}");
            rwlock_acquire_read(&r, 0, false); // a recursive read of R: its top-most entry answers
            assert!(lock_is_held_type(&r, rd), "round {round}");
            rwlock_release(&r);
            rwlock_release(&r);
            assert!(!lock_is_held(&r) && lock_is_held(&a), "round {round}");
            mutex_release(&a);
            assert!(!lock_is_held(&a), "round {round}");
        }
        mutex_acquire(&p, 0, false);
        mutex_acquire_nest(&y1, 0, false, &p);
        mutex_acquire_nest(&y2, 0, false, &p); // merged into Y1's entry
        assert!(lock_is_held(&y1) && lock_is_held(&y2) && lock_is_held(&p));
        // A merged entry holds its class: any Y answers held (kernel
        // `match_held_lock`), the full path's answer.
        assert!(lock_is_held(&y3));
        mutex_release(&y2);
        mutex_release(&y1);
        mutex_release(&p);
        assert!(!lock_is_held(&y1) && !lock_is_held(&p));
    });
    assert_eq!(kinds(&v), [], "{:#?}", v.reports());
}

/// Polls `fut` once; it must be ready then (an instrumented task run to its
/// end on this thread, no runtime).
fn run_task(fut: impl std::future::Future<Output = ()>) {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_ready());
}

/// A new dependency records the thread it was made on with the task the
/// thread was polling then: the thread keeps its origin copy from its
/// first new dependency on (`engine/thread.rs`, `ThreadData::origin`), and
/// a task coming in or going out must drop it (fails without that).
#[test]
fn a_dependency_records_the_task_it_was_made_in() {
    keys!(A, B, C, D);
    let (a, b) = (LockdepMap::new("a", &A), LockdepMap::new("b", &B));
    let (c, d) = (LockdepMap::new("c", &C), LockdepMap::new("d", &D));
    let pair = |x: &LockdepMap, y: &LockdepMap| {
        mutex_acquire(x, 0, false);
        mutex_acquire(y, 0, false);
        mutex_release(y);
        mutex_release(x);
    };
    let v = collect();
    v.scope(|| {
        pair(&a, &b); // outside any task
        run_task(task::instrument_named("inner", async { pair(&c, &d) }));
        pair(&d, &c); // reported: c -> d was made in "inner"
        run_task(task::instrument_named("other", async { pair(&b, &a) })); // reported: a -> b outside any task
    });
    let reports = v.reports();
    assert_eq!(kinds(&v), [ReportKind::CircularDependency, ReportKind::CircularDependency], "{reports:#?}");
    let task_of = |t: &ThreadInfo| t.task().and_then(|t| t.name()).map(str::to_owned);
    assert_eq!(task_of(reports[0].thread()), None);
    assert_eq!(task_of(reports[0].chain()[0].thread()), Some("inner".to_owned()), "{}", reports[0]);
    assert_eq!(task_of(reports[1].thread()), Some("other".to_owned()));
    assert_eq!(task_of(reports[1].chain()[0].thread()), None, "{}", reports[1]);
}
