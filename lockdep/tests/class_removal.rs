//! Removing classes (a `DynamicKey` dropped, `LockClassKey::unregister`)
//! must never change a verdict about the classes that remain or come later:
//! nothing that names a removed class may be taken for a new one, and
//! removing one class costs what that class owns.

use std::sync::{Arc, mpsc};

use lockdep::*;

fn kinds(v: &Validator) -> Vec<ReportKind> {
    v.reports().iter().map(Report::kind).collect()
}

fn abba(a: &LockdepMap, b: &LockdepMap) {
    mutex_acquire(a, 0, false);
    mutex_acquire(b, 0, false);
    mutex_release(b);
    mutex_release(a);
    mutex_acquire(b, 0, false);
    mutex_acquire(a, 0, false);
    mutex_release(a);
    mutex_release(b);
}

/// A removed class's "already reported" signature must not swallow the same
/// problem of a class created after it.
#[test]
fn a_deadlock_of_a_new_dynamic_class_is_reported_after_an_old_ones() {
    static A: LockClassKey = LockClassKey::new();
    let a = LockdepMap::new("A", &A);
    let v = Validator::new(Config::collect());
    v.scope(|| {
        let d1 = LockdepMap::new_dynamic("plugin1");
        abba(&a, &d1);
        drop(d1);
        let d2 = LockdepMap::new_dynamic("plugin2");
        abba(&a, &d2);
    });
    let reports = v.reports();
    assert_eq!(kinds(&v), [ReportKind::CircularDependency; 2], "{reports:#?}");
    assert!(reports[0].to_string().contains("plugin1"));
    assert!(reports[1].to_string().contains("plugin2"), "{}", reports[1]);
}

/// A lock held while its key is unregistered must not be taken for the
/// class that a later key gets.
#[test]
fn a_lock_held_across_its_keys_removal_is_not_another_class() {
    static X: LockClassKey = LockClassKey::new();
    static Y: LockClassKey = LockClassKey::new();
    let (x, y) = (LockdepMap::new("X", &X), LockdepMap::new("Y", &Y));
    let v = Validator::new(Config::collect());
    v.scope(|| {
        mutex_acquire(&x, 0, false);
        X.unregister();
        mutex_acquire(&y, 0, false);
        assert!(lock_is_held(&x) && lock_is_held(&y));
        mutex_release(&y);
        mutex_release(&x);
    });
    assert_eq!(kinds(&v), [], "{:#?}", v.reports());
}

/// The same across threads: a map freed (and its dynamic class removed)
/// while another thread holds it.
#[test]
fn a_lock_freed_under_another_thread_is_not_taken_for_a_new_class() {
    let v = Validator::new(Config::collect());
    let m = Arc::new(LockdepMap::new_dynamic("freed"));
    let (to_main, from_t2) = mpsc::channel::<Arc<LockdepMap>>();
    let (to_t2, from_main) = mpsc::channel::<Arc<LockdepMap>>();
    std::thread::scope(|s| {
        let v = &v;
        let m2 = m.clone();
        s.spawn(move || {
            v.scope(|| {
                mutex_acquire(&m2, 0, false);
                to_main.send(m2).unwrap(); // still held here
                let fresh = from_main.recv().unwrap();
                mutex_acquire(&fresh, 0, false);
                mutex_release(&fresh);
            });
        });
        v.scope(|| {
            let m2 = from_t2.recv().unwrap();
            drop(m2);
            drop(m); // freed while the other thread holds it: its class goes
            let fresh = Arc::new(LockdepMap::new_dynamic("fresh"));
            to_t2.send(fresh).unwrap();
        });
    });
    let k = kinds(&v);
    assert!(k.contains(&ReportKind::HeldLockFreed), "{k:?}");
    assert!(!k.contains(&ReportKind::RecursiveLocking), "{:#?}", v.reports());
    assert!(!k.contains(&ReportKind::CircularDependency), "{:#?}", v.reports());
}

/// Thread-exit reports follow the once-per-distinct-problem rule.
#[test]
fn threads_exiting_with_the_same_locks_held_are_reported_once() {
    static LEAKED: LockClassKey = LockClassKey::new();
    static OTHER: LockClassKey = LockClassKey::new();
    let v = Validator::new(Config::collect());
    let maps: Vec<LockdepMap> = (0..50).map(|_| LockdepMap::new("leaked", &LEAKED)).collect();
    let other = LockdepMap::new("other", &OTHER);
    std::thread::scope(|s| {
        for m in &maps {
            // One at a time, so that each exit is over before the next starts.
            s.spawn(|| v.scope(|| mutex_acquire(m, 0, false))).join().unwrap();
        }
        s.spawn(|| v.scope(|| mutex_acquire(&other, 0, false))).join().unwrap();
    });
    let exits = kinds(&v).iter().filter(|k| **k == ReportKind::HeldLocksAtThreadExit).count();
    assert_eq!(exits, 2, "one per distinct set of held classes: {:#?}", v.reports());
}

/// Dropping a used dynamic key leaves other classes' validated chains on
/// the fast path: re-running them takes nothing from the shared store.
#[test]
fn removing_a_dynamic_class_keeps_other_chains_cached() {
    static A: LockClassKey = LockClassKey::new();
    static B: LockClassKey = LockClassKey::new();
    let (a, b) = (LockdepMap::new("A", &A), LockdepMap::new("B", &B));
    let v = Validator::new(Config::collect());
    let nest = |x: &LockdepMap, y: &LockdepMap| {
        mutex_acquire(x, 0, false);
        mutex_acquire(y, 0, false);
        mutex_release(y);
        mutex_release(x);
    };
    v.scope(|| {
        nest(&a, &b);
        nest(&a, &b);
        let before = v.stats();
        let d = LockdepMap::new_dynamic("short-lived");
        nest(&a, &d);
        drop(d);
        assert_eq!(v.stats().zapped_classes, before.zapped_classes + 1);
        let after_zap = v.stats();
        for _ in 0..10 {
            nest(&a, &b);
        }
        let again = v.stats();
        assert_eq!(again.chain_hits, after_zap.chain_hits, "A -> B was taken from the thread's cache");
        assert_eq!(again.chain_misses, after_zap.chain_misses);
    });
    assert!(v.reports().is_empty());
}

/// An explicit `unregister` of a key whose maps live on gives those maps a
/// fresh class, validated as any other.
#[test]
fn maps_of_an_unregistered_key_get_a_new_class() {
    static K: LockClassKey = LockClassKey::new();
    static B: LockClassKey = LockClassKey::new();
    let (k, b) = (LockdepMap::new("K", &K), LockdepMap::new("B", &B));
    let v = Validator::new(Config::collect());
    v.scope(|| {
        mutex_acquire(&k, 0, false);
        mutex_acquire(&b, 0, false);
        mutex_release(&b);
        mutex_release(&k);
        K.unregister();
        // Learned afresh: B -> K alone is no inversion now...
        mutex_acquire(&b, 0, false);
        mutex_acquire(&k, 0, false);
        mutex_release(&k);
        mutex_release(&b);
        assert!(v.reports().is_empty(), "{:#?}", v.reports());
        // ...and K -> B against it is.
        mutex_acquire(&k, 0, false);
        mutex_acquire(&b, 0, false);
        mutex_release(&b);
        mutex_release(&k);
    });
    assert_eq!(kinds(&v), [ReportKind::CircularDependency]);
}

/// A dynamic key's drop skips the unregister only while no validator has a
/// class of it: a key whose first map was never taken but whose second map
/// was still has its class removed, in the validator that made it, when the
/// last of them goes; a key never taken leaves every count as it was.
#[test]
fn a_dynamic_key_is_unregistered_exactly_when_some_lock_of_it_was_taken() {
    let (v1, v2) = (Validator::new(Config::collect()), Validator::new(Config::collect()));
    let base = v1.stats();
    // Never taken: created and dropped, nothing registered or removed.
    drop(LockdepMap::new_dynamic("idle"));
    let after_idle = v1.stats();
    assert_eq!((after_idle.classes, after_idle.zapped_classes), (base.classes, base.zapped_classes));
    // One key, two maps: the first never taken, the second taken in v1.
    let key = DynamicKey::new();
    let (unused, used) = (LockdepMap::with_dynamic_key("shared", &key), LockdepMap::with_dynamic_key("shared", &key));
    drop(key);
    v1.scope(|| {
        mutex_acquire(&used, 0, false);
        mutex_release(&used);
    });
    assert_eq!(v1.stats().classes, base.classes + 1);
    drop(unused);
    assert_eq!(v1.stats().classes, base.classes + 1, "the key lives on in the other map");
    drop(used);
    let gone = v1.stats();
    assert_eq!(gone.classes, base.classes, "the last map took the key's class with it");
    assert_eq!(gone.zapped_classes, base.zapped_classes + 1);
    assert_eq!(v2.stats().classes, 0, "v2 never had it");
    // Taken after a drop of another never-taken key of the same name: a
    // class of its own as before, removed with it.
    let d = LockdepMap::new_dynamic("idle");
    v2.scope(|| {
        mutex_acquire(&d, 0, false);
        mutex_release(&d);
    });
    assert_eq!(v2.stats().classes, 1);
    drop(d);
    assert_eq!((v2.stats().classes, v2.stats().zapped_classes), (0, 1));
}

fn take(m: &LockdepMap) {
    mutex_acquire(m, 0, false);
    mutex_release(m);
}

/// A dynamic key whose locks were taken in two validators has a class in
/// each: dropping the key (after its last map) removes both, and nothing
/// while a map of it lives.
#[test]
fn a_dynamic_key_taken_in_two_validators_leaves_both() {
    let (v1, v2) = (Validator::new(Config::collect()), Validator::new(Config::collect()));
    let key = DynamicKey::new();
    let (a, b) = (LockdepMap::with_dynamic_key("two", &key), LockdepMap::with_dynamic_key("two", &key));
    drop(key);
    v1.scope(|| take(&a));
    v2.scope(|| take(&b));
    v1.scope(|| take(&b));
    assert_eq!((v1.stats().classes, v2.stats().classes), (1, 1));
    drop(a);
    assert_eq!((v1.stats().classes, v2.stats().classes), (1, 1), "b lives on");
    drop(b);
    for v in [&v1, &v2] {
        let s = v.stats();
        assert_eq!((s.classes, s.zapped_classes, s.chains), (0, 1, 0));
    }
}

/// A map's own key (`LockdepMap::new_dynamic`, kept in the map) moves with
/// the map: taken again after the map moved it is the same class, and
/// every validator that made a class of it loses that class when the map
/// goes (one validator, or several: the removal then walks them all).
/// Two such maps never share a class.
#[test]
fn a_map_s_own_key_moves_with_it_and_goes_with_it_from_every_validator() {
    let (v1, v2) = (Validator::new(Config::collect()), Validator::new(Config::collect()));
    let first = Box::new(LockdepMap::new_dynamic("own"));
    v1.scope(|| take(&first));
    v2.scope(|| take(&first));
    let before = first.addr();
    let moved = Box::new(*first); // (a new box while the old one is still allocated)
    assert_ne!(moved.addr(), before, "the map moved");
    v1.scope(|| take(&moved));
    assert_eq!((v1.stats().classes, v2.stats().classes), (1, 1), "the same class after the move");
    let other = LockdepMap::new_dynamic("own");
    v1.scope(|| take(&other));
    assert_eq!(v1.stats().classes, 2, "another map's own key is another class");
    drop(moved);
    assert_eq!((v1.stats().classes, v1.stats().zapped_classes), (1, 1));
    let s = v2.stats();
    assert_eq!((s.classes, s.zapped_classes, s.chains), (0, 1, 0), "removed from the second validator too");
    drop(other);
    let s = v1.stats();
    assert_eq!((s.classes, s.zapped_classes, s.chains), (0, 2, 0));
}

/// A map's own key is removed from the validator that made its class
/// whichever validator is the dropping thread's current one: its own (the
/// removal then takes the thread's validator, known alive, without
/// upgrading the key's weak pointer to it), another one (whose classes stay
/// as they are), or none but the global one.
#[test]
fn a_map_s_own_key_goes_from_its_validator_whichever_is_current_when_dropped() {
    static OUTER: LockClassKey = LockClassKey::new();
    let outer = LockdepMap::new("outer", &OUTER);
    let (v1, v2) = (Validator::new(Config::collect()), Validator::new(Config::collect()));
    v2.scope(|| take(&outer));
    let under_outer = |m: &LockdepMap| {
        mutex_acquire(&outer, 0, false);
        take(m);
        mutex_release(&outer);
    };
    v1.scope(|| {
        let m = LockdepMap::new_dynamic("own");
        under_outer(&m);
        assert_eq!((v1.stats().classes, v1.stats().chains), (2, 2));
        drop(m); // in its own validator's scope
        let s = v1.stats();
        assert_eq!((s.classes, s.zapped_classes, s.chains), (1, 1, 1), "removed where it was made");
    });
    let m = LockdepMap::new_dynamic("own");
    v1.scope(|| under_outer(&m));
    v2.scope(|| {
        take(&outer);
        drop(m); // in another validator's scope
    });
    let s = v1.stats();
    assert_eq!((s.classes, s.zapped_classes, s.chains), (1, 2, 1), "removed from the validator that made it");
    let s = v2.stats();
    assert_eq!((s.classes, s.zapped_classes), (1, 0), "and nothing of the current one's");
    let m = LockdepMap::new_dynamic("own");
    v1.scope(|| under_outer(&m));
    drop(m); // outside any scope
    let s = v1.stats();
    assert_eq!((s.classes, s.zapped_classes, s.chains), (1, 3, 1));
    for v in [&v1, &v2] {
        assert!(v.reports().is_empty(), "{:?}", kinds(v));
    }
}

/// A map's own key's number is reused by the thread's next one once the
/// map is gone (as a freed key's address is): the new map's class is a new
/// class, with none of the old one's dependencies, in every validator the
/// old one was taken in.
#[test]
fn a_reused_own_key_number_names_a_new_class() {
    static OUTER: LockClassKey = LockClassKey::new();
    let outer = LockdepMap::new("outer", &OUTER);
    let (v1, v2) = (Validator::new(Config::collect()), Validator::new(Config::collect()));
    for round in 0..20 {
        let old = LockdepMap::new_dynamic("own");
        for v in [&v1, &v2] {
            v.scope(|| {
                mutex_acquire(&outer, 0, false);
                take(&old);
                mutex_release(&outer);
            });
        }
        drop(old);
        let new = LockdepMap::new_dynamic("own");
        for v in [&v1, &v2] {
            v.scope(|| {
                mutex_acquire(&new, 0, false);
                take(&outer); // the other way round: no cycle with a class of its own
                mutex_release(&new);
            });
            assert!(v.reports().is_empty(), "round {round}: {:?}", kinds(v));
        }
        drop(new);
    }
    for v in [&v1, &v2] {
        let s = v.stats();
        assert_eq!((s.classes, s.zapped_classes), (1, 40));
    }
}

/// A dynamic key that outlives the validator its class was made in has
/// nothing left to remove: its drop neither fails nor touches another
/// validator.
#[test]
fn a_dynamic_key_outliving_its_validator_is_dropped_quietly() {
    let d = LockdepMap::new_dynamic("orphan");
    let other = Validator::new(Config::collect());
    other.scope(|| take(&LockdepMap::new_dynamic("orphan")));
    {
        let v = Validator::new(Config::collect());
        v.scope(|| take(&d));
        assert_eq!(v.stats().classes, 1);
    }
    drop(d);
    let s = other.stats();
    assert_eq!((s.classes, s.zapped_classes), (0, 1), "only its own key was removed there");
}

/// The class names of dynamic keys of one name: a removed key's version is
/// not handed out again while a later one of the name lives, and versions
/// start again once none does — as before removal was made cheaper.
#[test]
fn a_removed_dynamic_classs_name_is_reused_by_version() {
    let v = Validator::new(Config::collect());
    let lines = |v: &Validator| v.dump_classes();
    v.scope(|| {
        let c1 = LockdepMap::new_dynamic("conn");
        let c2 = LockdepMap::new_dynamic("conn");
        take(&c1);
        take(&c2);
        let both = lines(&v);
        assert!(both.contains(" conn\n") || both.contains(" conn "), "{both}");
        assert!(both.contains("conn#2"), "{both}");
        drop(c1);
        let c3 = LockdepMap::new_dynamic("conn");
        take(&c3);
        let after = lines(&v);
        assert!(after.contains("conn#3") && after.contains("conn#2"), "{after}");
        drop(c2);
        drop(c3);
        let c4 = LockdepMap::new_dynamic("conn");
        take(&c4);
        let fresh = lines(&v);
        assert!(!fresh.contains("conn#"), "{fresh}");
        assert!(fresh.contains("conn"), "{fresh}");
    });
}

/// A dynamic class taken under a static lock: each new dependency into it
/// is counted as a skipped cycle search, as before the check of a class no
/// edge touches was skipped; with a third lock above it the search for the
/// dependency out of it is counted too.
#[test]
fn dependencies_into_new_dynamic_classes_keep_their_counts() {
    static OUTER: LockClassKey = LockClassKey::new();
    static TOP: LockClassKey = LockClassKey::new();
    let (outer, top) = (LockdepMap::new("outer", &OUTER), LockdepMap::new("top", &TOP));
    let v = Validator::new(Config::collect());
    v.scope(|| {
        let before = v.stats();
        for i in 0..10u64 {
            let d = LockdepMap::new_dynamic("d");
            mutex_acquire(&outer, 0, false);
            mutex_acquire(&d, 0, false);
            mutex_acquire(&top, 0, false);
            mutex_release(&top);
            mutex_release(&d);
            mutex_release(&outer);
            drop(d);
            let s = v.stats();
            // outer -> d (d untouched), d -> top (d now has an edge in).
            assert_eq!(s.cycle_searches_skipped, before.cycle_searches_skipped + 2 * (i + 1));
            assert_eq!(s.cycle_searches, before.cycle_searches);
            assert_eq!((s.classes, s.direct_dependencies), (2, 0));
        }
    });
    assert!(v.reports().is_empty());
}
