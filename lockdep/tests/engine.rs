//! Behaviour of the validation engine through the public hooks: rules,
//! annotations, misuse, modes and isolation.

use std::sync::{Arc, Barrier};

use lockdep::*;

macro_rules! keys {
    ($($k:ident),*) => { $( static $k: LockClassKey = LockClassKey::new(); )* };
}

fn collect() -> Validator {
    Validator::new(Config::collect().with_backtraces(false))
}

fn kinds(v: &Validator) -> Vec<ReportKind> {
    v.reports().iter().map(Report::kind).collect()
}

#[test]
fn continue_mode_reports_each_problem_once_and_keeps_validating() {
    keys!(KA, KB, KC);
    let (a, b, c) = (LockdepMap::new("a", &KA), LockdepMap::new("b", &KB), LockdepMap::new("c", &KC));
    let v = collect();
    v.scope(|| {
        for _ in 0..3 {
            mutex_acquire(&a, 0, false);
            mutex_acquire(&b, 0, false);
            mutex_release(&b);
            mutex_release(&a);
            mutex_acquire(&b, 0, false);
            mutex_acquire(&a, 0, false);
            mutex_release(&a);
            mutex_release(&b);
        }
        // A second, different problem is still found.
        mutex_acquire(&c, 0, false);
        mutex_acquire(&c, 0, false);
        mutex_release(&c);
        mutex_release(&c);
    });
    assert_eq!(kinds(&v), vec![ReportKind::CircularDependency, ReportKind::RecursiveLocking]);
    assert!(v.is_validating());
}

#[test]
fn kernel_mode_stops_after_first_report_and_answers_unknown() {
    keys!(KA);
    let a = LockdepMap::new("a", &KA);
    let v = Validator::new(Config::kernel());
    v.scope(|| {
        assert!(!lock_is_held(&a));
        mutex_release(&a); // imbalance: first report
        assert!(!v.is_validating());
        mutex_release(&a); // not reported again
        assert!(lock_is_held(&a), "unknown counts as held once validation is off");
    });
    assert_eq!(kinds(&v), vec![ReportKind::UnlockImbalance]);
}

#[test]
fn rejected_edge_leaves_graph_unchanged() {
    keys!(KA, KB);
    let (a, b) = (LockdepMap::new("a", &KA), LockdepMap::new("b", &KB));
    let v = collect();
    v.scope(|| {
        mutex_acquire(&a, 0, false);
        mutex_acquire(&b, 0, false);
        mutex_release(&b);
        mutex_release(&a);
        let before = (v.stats().direct_dependencies, v.dump_classes());
        mutex_acquire(&b, 0, false);
        mutex_acquire(&a, 0, false);
        mutex_release(&a);
        mutex_release(&b);
        let after = (v.stats().direct_dependencies, v.dump_classes());
        assert_eq!(before, after, "the B -> A edge was rejected");
        assert_eq!(after.0, 1);
    });
    assert_eq!(kinds(&v), vec![ReportKind::CircularDependency]);
}

#[test]
fn long_cycle_from_edges_recorded_on_different_threads() {
    const N: usize = 8;
    let keys: Vec<&'static LockClassKey> = (0..N).map(|_| &*Box::leak(Box::new(LockClassKey::new()))).collect();
    let names = ["l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7"];
    let maps: Arc<Vec<LockdepMap>> = Arc::new((0..N).map(|i| LockdepMap::new(names[i], keys[i])).collect());
    let v = collect();
    // Edge i -> i+1 recorded by thread i, one thread after the other.
    for i in 0..N - 1 {
        let (v, maps) = (v.clone(), maps.clone());
        std::thread::Builder::new()
            .name(format!("t{i}"))
            .spawn(move || {
                v.scope(|| {
                    mutex_acquire(&maps[i], 0, false);
                    mutex_acquire(&maps[i + 1], 0, false);
                    mutex_release(&maps[i + 1]);
                    mutex_release(&maps[i]);
                })
            })
            .unwrap()
            .join()
            .unwrap();
    }
    assert!(v.reports().is_empty());
    v.scope(|| {
        mutex_acquire(&maps[N - 1], 0, false);
        mutex_acquire(&maps[0], 0, false);
        mutex_release(&maps[0]);
        mutex_release(&maps[N - 1]);
    });
    let r = &v.reports()[0];
    assert_eq!(r.kind(), ReportKind::CircularDependency);
    assert_eq!(r.chain().len(), N, "every dependency of the cycle");
    for (i, step) in r.chain()[..N - 1].iter().enumerate() {
        assert_eq!(step.from().instance(), names[i]);
        assert_eq!(step.to().instance(), names[i + 1]);
        assert_eq!(step.thread().name(), Some(format!("t{i}").as_str()));
        assert!(!step.is_new());
    }
    assert!(r.chain()[N - 1].is_new());
    let text = r.to_string();
    assert!(text.contains("Chain exists of:"), "{text}");
    assert!(text.contains("t0") && text.contains("t6"), "{text}");
}

#[test]
fn trylock_is_not_validated_but_gives_edges_and_walk_continues() {
    keys!(KA, KB, KC);
    let (a, b, c) = (LockdepMap::new("a", &KA), LockdepMap::new("b", &KB), LockdepMap::new("c", &KC));
    let v = collect();
    v.scope(|| {
        // W(A) T(B) W(C): edges B -> C and A -> C.
        mutex_acquire(&a, 0, false);
        mutex_acquire(&b, 0, true);
        mutex_acquire(&c, 0, false);
        mutex_release(&c);
        mutex_release(&b);
        mutex_release(&a);
        // A trylock that inverts an order is silent: it cannot block.
        mutex_acquire(&c, 0, false);
        mutex_acquire(&a, 0, true);
        mutex_release(&a);
        mutex_release(&c);
    });
    assert!(v.reports().is_empty());
    assert_eq!(v.stats().direct_dependencies, 2);
    v.scope(|| {
        mutex_acquire(&c, 0, false);
        mutex_acquire(&a, 0, false); // C -> A against A -> C
        mutex_release(&a);
        mutex_release(&c);
    });
    assert_eq!(kinds(&v), vec![ReportKind::CircularDependency]);
}

#[test]
fn non_top_release_revalidates_the_locks_above() {
    keys!(KA, KB, KC);
    let (a, b, c) = (LockdepMap::new("a", &KA), LockdepMap::new("b", &KB), LockdepMap::new("c", &KC));
    let v = collect();
    v.scope(|| {
        mutex_acquire(&a, 0, false);
        mutex_acquire(&b, 0, false);
        mutex_acquire(&c, 0, false);
        mutex_release(&b); // A, C remain: replay records A -> C
        assert!(lock_is_held(&a) && lock_is_held(&c) && !lock_is_held(&b));
        mutex_release(&c);
        mutex_release(&a);
    });
    assert_eq!(v.stats().direct_dependencies, 3, "{}", v.dump_classes());
    v.scope(|| {
        mutex_acquire(&c, 0, false);
        mutex_acquire(&a, 0, false);
        mutex_release(&a);
        mutex_release(&c);
    });
    assert_eq!(kinds(&v), vec![ReportKind::CircularDependency]);
}

#[test]
fn nest_lock_merges_same_class_entries_and_counts_references() {
    keys!(KOUTER, KINNER, KOTHER);
    let outer = LockdepMap::new("outer", &KOUTER);
    let inner: Vec<LockdepMap> = (0..4).map(|_| LockdepMap::new("inner", &KINNER)).collect();
    let other = LockdepMap::new("other", &KOTHER);
    let v = collect();
    v.scope(|| {
        mutex_acquire(&outer, 0, false);
        for m in &inner {
            mutex_acquire_nest(m, 0, false, &outer);
        }
        assert!(v.dump_held().starts_with("2 locks held"), "{}", v.dump_held());
        mutex_acquire(&other, 0, false);
        mutex_release(&other);
        // Release in any order; the merged entry goes when the last one does.
        for m in inner.iter().rev() {
            mutex_release(m);
        }
        assert!(v.dump_held().starts_with("1 lock held"), "{}", v.dump_held());
        mutex_release(&outer);
    });
    assert!(v.reports().is_empty(), "{:?}", kinds(&v));
}

#[test]
fn nest_lock_must_be_held() {
    keys!(KOUTER, KINNER);
    let outer = LockdepMap::new("outer", &KOUTER);
    let inner = LockdepMap::new("inner", &KINNER);
    let v = collect();
    v.scope(|| {
        mutex_acquire_nest(&inner, 0, false, &outer);
        mutex_release(&inner); // still tracked: no imbalance
    });
    assert_eq!(kinds(&v), vec![ReportKind::NestLockNotHeld]);
    let r = &v.reports()[0];
    assert_eq!(r.other().unwrap().instance(), "outer");
}

#[test]
fn subclasses_are_distinct_classes() {
    keys!(KNODE);
    let parent = LockdepMap::new("node", &KNODE);
    let child = LockdepMap::new("node", &KNODE);
    let v = collect();
    v.scope(|| {
        mutex_acquire(&parent, 0, false);
        mutex_acquire(&child, 1, false); // annotated nesting: fine
        mutex_release(&child);
        mutex_release(&parent);
        mutex_acquire(&parent, 0, false);
        mutex_acquire(&child, 0, false); // same class: recursive locking
        mutex_release(&child);
        mutex_release(&parent);
    });
    assert_eq!(kinds(&v), vec![ReportKind::RecursiveLocking]);
    let r = &v.reports()[0];
    assert_eq!(r.lock().unwrap().class(), "node");
    assert!(v.dump_classes().contains("node/1"), "{}", v.dump_classes());
}

#[test]
fn set_subclass_and_downgrade_revalidate() {
    keys!(KNODE, KSEM);
    let a = LockdepMap::new("node", &KNODE);
    let b = LockdepMap::new("node", &KNODE);
    let sem = LockdepMap::new("sem", &KSEM);
    let v = collect();
    v.scope(|| {
        mutex_acquire(&a, 0, false);
        lock_set_subclass(&a, 1);
        mutex_acquire(&b, 0, false); // a is subclass 1 now: no recursion
        mutex_release(&b);
        mutex_release(&a);

        rwsem_acquire(&sem, 0, false);
        assert!(lock_is_held_type(&sem, Some(Read::Exclusive)));
        lock_downgrade(&sem);
        assert!(lock_is_held_type(&sem, Some(Read::Shared)));
        assert!(!lock_is_held_type(&sem, Some(Read::Exclusive)));
        lock_downgrade(&sem); // downgrading a read lock
        rwsem_release(&sem);
        assert!(!lock_is_held(&sem));
    });
    assert_eq!(kinds(&v), vec![ReportKind::BadDowngrade]);
}

#[test]
fn misuse_is_reported_with_lock_and_call_site() {
    keys!(KA);
    let a = LockdepMap::new("a", &KA);
    let v = collect();
    let line = line!() + 2;
    v.scope(|| {
        mutex_acquire(&a, 8, false);
        mutex_release(&a); // tracked with subclass 0: balanced
        mutex_release(&a); // never acquired (again)
    });
    let r = v.reports();
    assert_eq!(kinds(&v), vec![ReportKind::InvalidSubclass, ReportKind::UnlockImbalance]);
    assert_eq!(r[0].location().line(), line);
    assert_eq!(r[0].location().file(), file!());
    assert_eq!(r[0].lock().unwrap().instance(), "a");
    assert_eq!(r[1].location().line(), line + 2);
    assert!(r[1].to_string().contains("bad unlock balance"));
}

#[test]
fn held_lock_freed_is_reported() {
    keys!(KA);
    let v = collect();
    v.scope(|| {
        let a = Box::new(LockdepMap::new("a", &KA));
        mutex_acquire(&a, 0, false);
        drop(a);
    });
    assert_eq!(kinds(&v), vec![ReportKind::HeldLockFreed]);
}

#[test]
fn a_freed_lock_is_checked_when_the_last_hook_left_the_fast_path_armed() {
    // A map dropped right after a hook (most often its own release) is
    // checked without entering the validator when nobody holds it: the
    // same reports either way.
    keys!(KA, KB, KC);
    let v = collect();
    let b = Arc::new(LockdepMap::new("b", &KB));
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let done = Arc::new(Barrier::new(2));
    let (v2, b2, done2) = (v.clone(), b.clone(), done.clone());
    let holder = std::thread::spawn(move || {
        v2.scope(|| {
            mutex_acquire(&b2, 0, false);
            drop(b2); // the other thread frees it while this one holds it
            held_tx.send(()).unwrap();
            done2.wait();
        });
    });
    held_rx.recv().unwrap();
    v.scope(|| {
        let c = LockdepMap::new("c", &KC);
        for _ in 0..2 {
            mutex_acquire(&c, 0, false);
            mutex_release(&c);
        }
        drop(c); // nobody holds it: no report
        let dynamic = LockdepMap::new_dynamic("d");
        mutex_acquire(&dynamic, 0, false);
        mutex_release(&dynamic);
        drop(dynamic);
        assert!(v.reports().is_empty());
        drop(b); // the last reference: another thread holds it
        let a = Box::new(LockdepMap::new("a", &KA));
        mutex_acquire(&a, 0, false);
        mutex_release(&a);
        mutex_acquire(&a, 0, false); // the fast path: the class is cached
        drop(a); // this thread holds it
    });
    done.wait();
    holder.join().unwrap();
    // (The holder then exits with the freed lock held: reported too.)
    let freed: Vec<Report> = v.reports().into_iter().filter(|r| r.kind() == ReportKind::HeldLockFreed).collect();
    assert_eq!(freed.len(), 2, "{:?}", kinds(&v));
    assert!(freed[0].other_thread().is_some(), "{}", freed[0]);
    assert!(freed[1].other_thread().is_none(), "{}", freed[1]);
}

#[test]
fn thread_exit_with_held_locks_is_reported() {
    keys!(KA);
    let a: &'static LockdepMap = Box::leak(Box::new(LockdepMap::new("a", &KA)));
    let v = collect();
    let v2 = v.clone();
    std::thread::Builder::new()
        .name("leaver".into())
        .spawn(move || v2.scope(|| mutex_acquire(a, 0, false)))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(kinds(&v), vec![ReportKind::HeldLocksAtThreadExit]);
    assert_eq!(v.reports()[0].thread().name(), Some("leaver"));
}

#[test]
fn validators_are_isolated_and_scopes_nest() {
    keys!(KA, KB);
    let (a, b) = (LockdepMap::new("a", &KA), LockdepMap::new("b", &KB));
    let (v1, v2) = (collect(), collect());
    v1.scope(|| {
        mutex_acquire(&a, 0, false);
        mutex_acquire(&b, 0, false);
        mutex_release(&b);
        mutex_release(&a);
        v2.scope(|| {
            // v2 has never seen A -> B.
            mutex_acquire(&b, 0, false);
            mutex_acquire(&a, 0, false);
            mutex_release(&a);
            mutex_release(&b);
        });
    });
    assert!(v1.reports().is_empty() && v2.reports().is_empty());
    assert_eq!(v1.stats().direct_dependencies, 1);
    assert_eq!(v2.stats().direct_dependencies, 1);
}

#[test]
fn events_record_every_hook_in_order() {
    keys!(KA);
    let a = LockdepMap::new("a", &KA);
    let v = Validator::new(Config::collect().with_events(true));
    v.scope(|| {
        rwsem_acquire_read(&a, 0, false);
        lock_contended(&a);
        lock_acquired(&a);
        rwsem_release(&a);
    });
    let hooks: Vec<Hook> = v.events().iter().map(|e| e.hook).collect();
    assert_eq!(
        hooks,
        vec![
            Hook::Acquire { subclass: 0, trylock: false, read: Read::Shared, check: true, nest_lock: None },
            Hook::Contended,
            Hook::Acquired,
            Hook::Release
        ]
    );
    assert!(v.events().iter().all(|e| e.instance == a.addr() && e.map == "a"));
}

#[test]
fn might_lock_validates_without_holding() {
    keys!(KA, KB);
    let (a, b) = (LockdepMap::new("a", &KA), LockdepMap::new("b", &KB));
    let v = Validator::new(Config::collect().with_events(true));
    v.scope(|| {
        mutex_acquire(&a, 0, false);
        might_lock(&b);
        assert!(!lock_is_held(&b));
        mutex_release(&a);
        mutex_acquire(&b, 0, false);
        might_lock(&a);
        mutex_release(&b);
    });
    assert_eq!(kinds(&v), vec![ReportKind::CircularDependency]);
    assert_eq!(v.events().len(), 4, "might_lock records no hook events");
}

#[test]
fn report_callback_that_takes_locks_does_not_recurse() {
    keys!(KA, CB_LOCK);
    let a = LockdepMap::new("a", &KA);
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c2 = calls.clone();
    let action = Action::Callback(Arc::new(move |_r: &Report| {
        // Hooks from inside the validator are no-ops, never a recursion.
        let m = LockdepMap::new("in-callback", &CB_LOCK);
        mutex_acquire(&m, 0, false);
        mutex_release(&m);
        mutex_release(&m);
        c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        panic!("a panicking callback leaves the validator usable");
    }));
    let v = Validator::new(Config::collect().with_action(action));
    v.scope(|| {
        mutex_release(&a);
        mutex_acquire(&a, 0, false);
        mutex_acquire(&a, 0, false);
    });
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(kinds(&v), vec![ReportKind::UnlockImbalance, ReportKind::RecursiveLocking]);
    assert!(v.is_validating());
}

#[test]
fn stats_two_threads_a_then_b() {
    keys!(KA, KB);
    let a: &'static LockdepMap = Box::leak(Box::new(LockdepMap::new("a", &KA)));
    let b: &'static LockdepMap = Box::leak(Box::new(LockdepMap::new("b", &KB)));
    let v = collect();
    let barrier = Arc::new(Barrier::new(2));
    let hs: Vec<_> = (0..2)
        .map(|_| {
            let (v, barrier) = (v.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                v.scope(|| {
                    mutex_acquire(a, 0, false);
                    mutex_acquire(b, 0, false);
                    mutex_release(b);
                    mutex_release(a);
                })
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let s = v.stats();
    assert_eq!((s.classes, s.direct_dependencies, s.chains), (2, 1, 2));
    assert_eq!(s.indirect_dependencies, 3, "FD(a) = 2, FD(b) = 1");
    let classes = v.dump_classes();
    assert!(classes.contains("FD:    2 BD:    1 ....: a"), "{classes}");
    assert!(classes.contains("FD:    1 BD:    2 ....: b"), "{classes}");
    let stats = v.dump_stats();
    assert!(stats.contains(" lock-classes:                            2 [max: 8192]"), "{stats}");
    let chains = v.dump_chains();
    assert_eq!(chains.matches("irq_context: 0").count(), 2, "{chains}");
}

#[test]
fn unregistering_a_key_zaps_its_classes() {
    keys!(KA);
    let dynamic: &'static LockClassKey = Box::leak(Box::new(LockClassKey::new()));
    let (a, d) = (LockdepMap::new("a", &KA), LockdepMap::new("dyn", dynamic));
    let v = collect();
    v.scope(|| {
        mutex_acquire(&a, 0, false);
        mutex_acquire(&d, 0, false);
        mutex_release(&d);
        mutex_release(&a);
    });
    assert_eq!(v.stats().classes, 2);
    dynamic.unregister();
    let s = v.stats();
    assert_eq!((s.classes, s.direct_dependencies, s.chains, s.zapped_classes), (1, 0, 1, 1));
    // The key can be reused: its new classes start with no history.
    v.scope(|| {
        mutex_acquire(&d, 0, false);
        mutex_acquire(&a, 0, false);
        mutex_release(&a);
        mutex_release(&d);
    });
    assert!(v.reports().is_empty());
}

#[test]
fn a_zap_invalidates_the_chains_cached_on_the_fast_path() {
    keys!(KA);
    let dynamic: &'static LockClassKey = Box::leak(Box::new(LockClassKey::new()));
    let (a, d) = (LockdepMap::new("a", &KA), LockdepMap::new("dyn", dynamic));
    let v = collect();
    let a_then_d = || {
        mutex_acquire(&a, 0, false);
        mutex_acquire(&d, 0, false);
        mutex_release(&d);
        mutex_release(&a);
    };
    v.scope(|| {
        // Learned, then taken again from this thread's caches.
        a_then_d();
        a_then_d();
        let lookups = |s: Stats| s.chain_hits + s.chain_misses;
        let before = lookups(v.stats());
        a_then_d();
        assert_eq!(lookups(v.stats()), before, "a steady state never reaches the shared chain store");
        // The key's classes go (the new class of `d` may reuse the old
        // one's slot): the chain a -> d cached before must not be trusted.
        dynamic.unregister();
        mutex_acquire(&d, 0, false);
        mutex_acquire(&a, 0, false);
        mutex_release(&a);
        mutex_release(&d);
        assert!(v.reports().is_empty());
        a_then_d();
    });
    assert_eq!(kinds(&v), vec![ReportKind::CircularDependency]);
}

#[test]
fn out_of_order_releases_in_a_steady_state_stay_off_the_shared_store() {
    keys!(KA, KB);
    let (a, b) = (LockdepMap::new("a", &KA), LockdepMap::new("b", &KB));
    let v = collect();
    // The vmalock fault path's shape: `a` released under `b`, which is
    // re-validated as a chain of its own (a head).
    let round = || {
        mutex_acquire(&a, 0, false);
        mutex_acquire(&b, 0, false);
        mutex_release(&a);
        mutex_release(&b);
    };
    v.scope(|| {
        round();
        let lookups = |s: Stats| s.chain_hits + s.chain_misses;
        let before = lookups(v.stats());
        for _ in 0..3 {
            round();
        }
        assert_eq!(lookups(v.stats()), before, "the replayed head was found in the thread's own cache");
    });
    assert!(v.reports().is_empty());
}

#[test]
fn might_lock_leaves_no_holder_behind() {
    keys!(KA);
    let a = LockdepMap::new("a", &KA);
    let v = collect();
    let other = std::thread::scope(|s| {
        s.spawn(|| {
            v.scope(|| {
                might_lock(&a);
                a.other_holder().is_none()
            })
        })
        .join()
        .unwrap()
    });
    assert!(other, "might_lock does not hold the lock");
    // Another thread frees it: nobody holds it, nothing to report.
    v.scope(|| {
        assert!(a.other_holder().is_none());
        drop(a);
    });
    assert!(v.reports().is_empty(), "{:?}", kinds(&v));
}

/// A lock taken with nothing held whose map does not know its class yet
/// takes one pass under the graph lock for the class and the chain head it
/// starts: the head is counted as a chain exactly as the two passes did,
/// once per distinct head, whichever map of the class starts it.
#[test]
fn a_class_first_taken_under_a_held_lock_is_validated_and_counted_as_a_known_one() {
    // The lock a new dependency ends in is most often a class being
    // registered: its class and its chain are recorded in one pass. The
    // counts and verdicts are those of the two passes it replaced.
    keys!(KA, KB, KC, KD);
    let (a, b, b2) = (LockdepMap::new("a", &KA), LockdepMap::new("b", &KB), LockdepMap::new("b", &KB));
    let (c, d) = (LockdepMap::new("c", &KC), LockdepMap::new("d", &KD));
    let v = collect();
    let nest = |x: &LockdepMap, y: &LockdepMap| {
        mutex_acquire(x, 0, false);
        mutex_acquire(y, 0, false);
        mutex_release(y);
        mutex_release(x);
    };
    v.scope(|| {
        let s0 = v.stats();
        nest(&a, &b); // b's class is new, under a
        let s1 = v.stats();
        assert_eq!((s1.classes, s1.chains, s1.chain_hlocks, s1.direct_dependencies), (2, 2, 3, 1));
        assert_eq!((s1.chain_misses - s0.chain_misses, s1.chain_hits - s0.chain_hits), (2, 0));
        assert_eq!(s1.max_depth, 2);
        nest(&a, &b2); // the same class from a map that does not know it yet
        let s2 = v.stats();
        assert_eq!((s2.classes, s2.chains, s2.direct_dependencies), (2, 2, 1));
        assert_eq!((s2.chain_misses, s2.chain_hits), (s1.chain_misses, s1.chain_hits), "the thread's cache knew it");
        // Another thread: its own cache, the store's record of both chains.
        std::thread::scope(|s| {
            s.spawn(|| v.scope(|| nest(&a, &b)));
        });
        let s3 = v.stats();
        assert_eq!((s3.chains, s3.chain_hits), (2, s2.chain_hits + 2));
        // A new class taken by trylock under a held lock: a chain of its
        // own, never validated, no dependency.
        mutex_acquire(&a, 0, false);
        mutex_acquire(&d, 0, true);
        mutex_release(&d);
        mutex_release(&a);
        let s4 = v.stats();
        assert_eq!((s4.classes, s4.chains, s4.direct_dependencies), (3, 2, 1));
        // A new class under two held locks, then the order that closes
        // the cycle through the edge it was given.
        mutex_acquire(&a, 0, false);
        nest(&b, &c);
        mutex_release(&a);
        assert_eq!((v.stats().classes, v.stats().direct_dependencies), (4, 2));
        assert!(v.reports().is_empty());
        nest(&c, &a);
    });
    assert_eq!(kinds(&v), vec![ReportKind::CircularDependency]);
}

#[test]
fn a_chain_head_is_counted_once_whether_its_class_is_new_or_not() {
    keys!(KA, KB);
    let (a1, a2, b) = (LockdepMap::new("a", &KA), LockdepMap::new("a", &KA), LockdepMap::new("b", &KB));
    let v = collect();
    let alone = |m: &LockdepMap| {
        mutex_acquire(m, 0, false);
        mutex_release(m);
    };
    v.scope(|| {
        let s0 = v.stats();
        alone(&a1); // a new class, at depth 0
        let s1 = v.stats();
        assert_eq!((s1.classes, s1.chains, s1.chain_hlocks), (1, 1, 1));
        assert_eq!((s1.chain_misses - s0.chain_misses, s1.chain_hits - s0.chain_hits), (1, 0));
        assert_eq!(s1.max_depth, 1);
        alone(&a2); // the same class from a map that does not know it yet
        let s2 = v.stats();
        assert_eq!((s2.classes, s2.chains, s2.chain_hlocks), (1, 1, 1));
        assert_eq!((s2.chain_misses, s2.chain_hits), (s1.chain_misses, s1.chain_hits), "the thread's cache knew it");
        // A trylock head and a read head are chains of their own; the
        // trylock one needs no validation and is not counted. (A map that
        // knows its class takes a head on the fast path, which records
        // nothing: `b2` does not know it yet.)
        mutex_acquire(&b, 0, true);
        mutex_release(&b);
        assert_eq!(v.stats().chains, 1);
        let b2 = LockdepMap::new("b", &KB);
        lock_acquire(&b2, 0, false, Read::Shared, None);
        lock_release(&b2);
        assert_eq!(v.stats().chains, 2);
        // Another thread: its own cache, the store's record.
        let a3 = LockdepMap::new("a", &KA);
        std::thread::scope(|s| {
            s.spawn(|| v.scope(|| alone(&a3)));
        });
        let s3 = v.stats();
        assert_eq!((s3.chains, s3.chain_hlocks), (2, 2));
        assert_eq!(s3.chain_hits, s2.chain_hits + 1, "found in the store, not counted again");
        // A chain of two above the head.
        mutex_acquire(&a1, 0, false);
        mutex_acquire(&b, 0, false);
        mutex_release(&b);
        mutex_release(&a1);
        assert_eq!((v.stats().chains, v.stats().chain_hlocks, v.stats().direct_dependencies), (3, 4, 1));
    });
    assert!(v.reports().is_empty());
    // The dump lists the three validated chains: the two heads, and a -> b.
    let dump = v.dump_chains();
    assert_eq!(dump.matches("irq_context").count(), 3, "{dump}");
}

/// The chain limit meets a chain head whose class is registered in the same
/// pass: reported once, the lock still tracked, nothing more counted.
#[test]
fn a_new_chain_head_past_max_chains_is_reported_and_still_tracked() {
    keys!(KA, KB);
    let (a, b) = (LockdepMap::new("a", &KA), LockdepMap::new("b", &KB));
    let v = Validator::new(Config { max_chains: 1, ..Config::collect().with_backtraces(false) });
    v.scope(|| {
        mutex_acquire(&a, 0, false);
        mutex_release(&a);
        mutex_acquire(&b, 0, false);
        assert!(lock_is_held(&b));
        mutex_release(&b);
        assert!(!lock_is_held(&b));
    });
    let s = v.stats();
    assert_eq!((s.classes, s.chains, s.chain_hlocks), (2, 1, 1));
    let reports = v.reports();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].message().contains("max_chains"), "{}", reports[0].message());
}

/// A class's key is kept in the key table only (not in the class), and a
/// dump finds it there: each class's line shows its own key, also for a
/// class in a slot that removed classes freed.
#[test]
fn a_dump_shows_each_class_s_own_key_after_slots_are_reused() {
    static K: LockClassKey = LockClassKey::new();
    let stat = LockdepMap::new("stat", &K);
    let site_line = line!() + 1;
    let site = LockdepMap::here("site");
    let v = collect();
    v.scope(|| {
        for _ in 0..3 {
            let d = LockdepMap::new_dynamic("gone");
            mutex_acquire(&stat, 0, false);
            mutex_acquire(&d, 0, false);
            mutex_release(&d);
            mutex_release(&stat);
        }
        let kept = LockdepMap::new_dynamic("kept");
        for m in [&kept, &site] {
            mutex_acquire(&stat, 0, false);
            mutex_acquire(m, 0, false);
            mutex_release(m);
            mutex_release(&stat);
        }
        if !ENABLED {
            return;
        }
        let classes = v.dump_classes();
        let key_of = |name: &str| {
            let line = classes.lines().find(|l| l.ends_with(&format!("....: {name}")));
            line.unwrap_or_else(|| panic!("no class {name}: {classes}")).split(' ').next().unwrap().to_owned()
        };
        assert_eq!(key_of("stat"), format!("{:016x}", &K as *const LockClassKey as usize), "{classes}");
        assert!(key_of("site").starts_with(&format!("{}:{site_line}:", file!())), "{classes}");
        let kept = key_of("kept");
        assert!(kept.len() == 16 && kept.chars().all(|c| c.is_ascii_hexdigit()), "{classes}");
        assert!(!classes.contains("....: gone"), "{classes}");
        assert_eq!(v.stats().classes, 3);
    });
}
