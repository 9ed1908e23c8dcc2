//! A thread's state for a dropped validator (its held-lock stack and chain
//! cache) is taken over, emptied, by the next validator the thread enters
//! through a scope (`engine/thread.rs`, `per_validator`). The new validator
//! must see nothing of the old one: class ids and chain numbers start over in
//! every validator, so a cache entry left behind would name a chain of the
//! new one and skip its validation.

use lockdep::*;

/// A validator that collects its reports (no traces: none is read here).
fn collecting() -> Validator {
    Validator::new(Config::collect().with_backtraces(false))
}

fn pair(a: &LockdepMap, b: &LockdepMap) {
    mutex_acquire(a, 0, false);
    mutex_acquire(b, 0, false);
    mutex_release(b);
    mutex_release(a);
}

/// `a -> b` in a new validator, then `b -> a` if `invert`: the reports'
/// count and the validator's counters.
fn run(a: &LockdepMap, b: &LockdepMap, invert: bool) -> (usize, Stats) {
    let v = collecting();
    v.scope(|| {
        pair(a, b);
        if invert {
            pair(b, a);
        }
    });
    (v.reports().len(), v.stats())
}

#[test]
fn a_validator_after_a_dropped_one_learns_and_reports_as_a_fresh_one() {
    static A: LockClassKey = LockClassKey::new();
    static B: LockClassKey = LockClassKey::new();
    let (a, b) = (LockdepMap::new("a", &A), LockdepMap::new("b", &B));
    let fresh = run(&a, &b, true);
    if ENABLED {
        assert_eq!(fresh.0, 1, "b -> a after a -> b is a cycle");
        assert_eq!(fresh.1.direct_dependencies, 1);
    }
    // The same program, on this thread, after a validator that learned
    // `a -> b` (the same class ids and chains) was dropped.
    let _ = run(&a, &b, false);
    assert_eq!(run(&a, &b, true), fresh);
    // And with a hook of the global validator in between (a map dropped
    // outside any scope: the global validator's state is made then).
    let _ = run(&a, &b, false);
    static C: LockClassKey = LockClassKey::new();
    drop(LockdepMap::new("c", &C));
    assert_eq!(run(&a, &b, true), fresh);
}

#[test]
fn a_steady_nest_of_a_dropped_validator_is_not_trusted_by_the_next() {
    static A: LockClassKey = LockClassKey::new();
    static B: LockClassKey = LockClassKey::new();
    let (a, b) = (LockdepMap::new("a", &A), LockdepMap::new("b", &B));
    {
        // `a -> b` learned, then taken from this thread's caches until its
        // chain is the fast path's memo for depth 1 (`engine/chain.rs`).
        let v = collecting();
        v.scope(|| (0..4).for_each(|_| pair(&a, &b)));
        assert!(v.reports().is_empty());
    }
    // In the next validator `a` and `b` get the same class ids (each taken
    // alone first), then `b -> a` is learned: `a -> b` has the key the
    // dropped validator's memo holds, and here it closes a cycle.
    let v = collecting();
    v.scope(|| {
        for m in [&a, &b] {
            mutex_acquire(m, 0, false);
            mutex_release(m);
        }
        pair(&b, &a);
        pair(&a, &b);
    });
    if ENABLED {
        assert_eq!(v.reports().len(), 1, "a -> b after b -> a is a cycle");
        assert_eq!(v.stats().direct_dependencies, 1, "b -> a only: the cycle is not added");
    }
}

#[test]
fn a_lock_held_when_its_validator_was_dropped_is_not_held_in_the_next() {
    static A: LockClassKey = LockClassKey::new();
    static B: LockClassKey = LockClassKey::new();
    let (a, b) = (LockdepMap::new("a", &A), LockdepMap::new("b", &B));
    {
        let v = collecting();
        v.scope(|| mutex_acquire(&a, 0, false));
        // `a` stays held in the dropped validator's state.
    }
    let v = collecting();
    v.scope(|| {
        mutex_acquire(&b, 0, false);
        mutex_release(&b);
    });
    if ENABLED {
        assert_eq!(v.stats().direct_dependencies, 0, "a -> b learned from a lock of the dropped validator");
    }
    assert!(v.reports().is_empty(), "{:?}", v.reports());
}
