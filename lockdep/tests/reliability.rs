//! The validator runs inside other people's programs: limits are budgets,
//! dynamic classes go away, and nothing it does breaks the host.

use std::sync::mpsc;
use std::sync::{Arc, Barrier};

use lockdep::*;

macro_rules! keys {
    ($($k:ident),*) => { $( static $k: LockClassKey = LockClassKey::new(); )* };
}

fn kinds(v: &Validator) -> Vec<ReportKind> {
    v.reports().iter().map(Report::kind).collect()
}

/// After a limit: one report, learning stops, held locks are still tracked.
fn assert_budget_semantics(v: &Validator, a: &LockdepMap) {
    assert!(!v.is_validating(), "a limit ends learning");
    v.scope(|| {
        mutex_acquire(a, 0, false);
        assert!(lock_is_held(a), "held locks are still tracked");
        mutex_release(a);
        assert!(!lock_is_held(a), "and their release too");
        mutex_release(a); // imbalance is still caught
    });
    let k = kinds(v);
    assert_eq!(k.iter().filter(|k| **k == ReportKind::LimitExceeded).count(), 1, "{k:?}");
    assert_eq!(k.last(), Some(&ReportKind::UnlockImbalance), "{k:?}");
}

#[test]
fn class_limit() {
    keys!(K1, K2, K3);
    let maps = [LockdepMap::new("1", &K1), LockdepMap::new("2", &K2), LockdepMap::new("3", &K3)];
    let v = Validator::new(Config { max_classes: 2, ..Config::collect() });
    v.scope(|| {
        for m in &maps {
            mutex_acquire(m, 0, false);
        }
        for m in maps.iter().rev() {
            mutex_release(m);
        }
    });
    assert!(v.reports()[0].message().contains("max_classes"));
    assert_budget_semantics(&v, &maps[2]);
}

#[test]
fn dependency_limit() {
    keys!(K1, K2, K3);
    let maps = [LockdepMap::new("1", &K1), LockdepMap::new("2", &K2), LockdepMap::new("3", &K3)];
    let v = Validator::new(Config { max_dependencies: 1, ..Config::collect() });
    v.scope(|| {
        for m in &maps {
            mutex_acquire(m, 0, false);
        }
        for m in maps.iter().rev() {
            mutex_release(m);
        }
    });
    assert_eq!(v.stats().direct_dependencies, 1);
    assert!(v.reports()[0].message().contains("max_dependencies"));
    assert_budget_semantics(&v, &maps[0]);
}

#[test]
fn chain_limit() {
    keys!(K1, K2);
    let maps = [LockdepMap::new("1", &K1), LockdepMap::new("2", &K2)];
    let v = Validator::new(Config { max_chains: 1, ..Config::collect() });
    v.scope(|| {
        mutex_acquire(&maps[0], 0, false);
        mutex_acquire(&maps[1], 0, false);
        mutex_release(&maps[1]);
        mutex_release(&maps[0]);
    });
    assert!(v.reports()[0].message().contains("max_chains"));
    assert_budget_semantics(&v, &maps[1]);
}

#[test]
fn depth_limit() {
    keys!(K);
    let maps: Vec<LockdepMap> = (0..6).map(|_| LockdepMap::new("deep", &K)).collect();
    let v = Validator::new(Config { max_depth: 4, ..Config::collect() });
    v.scope(|| {
        for (i, m) in maps.iter().enumerate() {
            mutex_acquire(m, i as u32, false);
        }
        // Beyond the limit, locks are still tracked.
        assert!(maps.iter().all(lock_is_held));
        for m in maps.iter().rev() {
            mutex_release(m);
        }
    });
    assert_eq!(kinds(&v), vec![ReportKind::LimitExceeded]);
    assert!(v.reports()[0].message().contains("max_depth"));
    assert_budget_semantics(&v, &maps[0]);
}

#[test]
fn dynamic_classes_are_removed_with_their_last_map() {
    keys!(KOUTER);
    let outer = LockdepMap::new("outer", &KOUTER);
    let v = Validator::new(Config::collect().with_backtraces(false));
    v.scope(|| {
        for _ in 0..100_000 {
            let m = LockdepMap::new_dynamic("conn.lock");
            mutex_acquire(&outer, 0, false);
            mutex_acquire(&m, 0, false);
            mutex_release(&m);
            mutex_release(&outer);
        }
    });
    let s = v.stats();
    assert!(v.reports().is_empty());
    assert_eq!(s.zapped_classes, 100_000);
    assert_eq!((s.classes, s.direct_dependencies), (1, 0), "{s:?}");
    assert!(s.max_class_index <= 2, "class slots are reused: {s:?}");
    assert!(s.chains <= 2, "chains of dead classes are dropped: {s:?}");

    // A key shared by several maps lives until the last one goes.
    let key = DynamicKey::new();
    let (a, b) = (LockdepMap::with_dynamic_key("shared", &key), LockdepMap::with_dynamic_key("shared", &key));
    #[allow(clippy::drop_non_drop)] // zero-sized when validation is compiled out
    drop(key);
    v.scope(|| {
        mutex_acquire(&outer, 0, false);
        mutex_acquire(&a, 0, false);
        mutex_release(&a);
        mutex_release(&outer);
    });
    drop(a);
    assert_eq!(v.stats().classes, 2, "b still uses the class");
    drop(b);
    assert_eq!(v.stats().classes, 1);
}

#[test]
fn sliding_window_stress_with_nesting_annotations() {
    // Abseil-style: 131,072 locks of one class, each step locks a window of 5
    // consecutive ones, annotated with their position in the window.
    const N: usize = 131_072;
    const W: usize = 5;
    keys!(KNODE);
    let maps: Vec<LockdepMap> = (0..N).map(|_| LockdepMap::new("node", &KNODE)).collect();
    let v = Validator::new(Config::collect().with_backtraces(false));
    v.scope(|| {
        for start in 0..N - W {
            for (pos, m) in maps[start..start + W].iter().enumerate() {
                mutex_acquire(m, pos as u32, false);
            }
            for m in maps[start..start + W].iter().rev() {
                mutex_release(m);
            }
        }
    });
    assert!(v.reports().is_empty(), "{:?}", kinds(&v));
    assert_eq!(v.stats().classes, W);
    // Dropping a lock is fine when nobody holds it; the maps go quietly.
    drop(maps);
    assert!(v.reports().is_empty());
}

#[test]
fn freeing_a_lock_another_thread_holds_is_reported() {
    keys!(KA);
    let v = Validator::new(Config::collect().with_backtraces(false));
    let map = Arc::new(LockdepMap::new("shared", &KA));
    let (held_tx, held_rx) = mpsc::channel();
    let done = Arc::new(Barrier::new(2));
    let (v2, m2, done2) = (v.clone(), map.clone(), done.clone());
    let holder = std::thread::Builder::new()
        .name("holder".into())
        .spawn(move || {
            v2.scope(|| {
                mutex_acquire(&m2, 0, false);
                drop(m2);
                held_tx.send(()).unwrap();
                done2.wait(); // keep holding until the map was dropped elsewhere
            });
        })
        .unwrap();
    held_rx.recv().unwrap();
    v.scope(|| drop(map));
    done.wait();
    holder.join().unwrap();
    let r = v.reports();
    assert_eq!(r[0].kind(), ReportKind::HeldLockFreed);
    assert_eq!(r[0].other_thread().and_then(|t| t.name()), Some("holder"));
    assert!(r[0].to_string().contains("held by thread \"holder\""), "{}", r[0]);
}

/// A `tracing` subscriber that takes an instrumented lock for every event.
struct LockingSubscriber {
    map: LockdepMap,
}

impl tracing::Subscriber for LockingSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {
        // Inside the validator's own report path: these hooks must be no-ops.
        mutex_acquire(&self.map, 0, false);
        mutex_acquire(&self.map, 0, false);
        mutex_release(&self.map);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_tracing_subscriber_that_locks_neither_recurses_nor_deadlocks() {
    keys!(KA, KSUB);
    let a = LockdepMap::new("a", &KA);
    let v = Validator::new(Config::default().with_backtraces(false)); // Warn: stderr + tracing event
    let sub = LockingSubscriber { map: LockdepMap::new("subscriber", &KSUB) };
    tracing::subscriber::with_default(sub, || {
        v.scope(|| {
            mutex_release(&a);
            mutex_acquire(&a, 0, false);
            mutex_release(&a);
        })
    });
    assert_eq!(kinds(&v), vec![ReportKind::UnlockImbalance]);
    assert!(v.is_validating());
}

thread_local! {
    static LATE: LateLocker = const { LateLocker };
}

struct LateLocker;

impl Drop for LateLocker {
    fn drop(&mut self) {
        // Runs during thread-local teardown, possibly after the validator's
        // own thread state is gone: must be a harmless no-op then.
        static KLATE: LockClassKey = LockClassKey::new();
        let m = LockdepMap::new("late", &KLATE);
        mutex_acquire(&m, 0, false);
        let _ = lock_is_held(&m);
        mutex_release(&m);
    }
}

#[test]
fn hooks_during_thread_local_teardown_are_safe() {
    let v = Validator::new(Config::collect());
    for _ in 0..8 {
        let v = v.clone();
        std::thread::spawn(move || {
            LATE.with(|_| {});
            v.scope(|| {
                static K: LockClassKey = LockClassKey::new();
                let m = LockdepMap::new("m", &K);
                mutex_acquire(&m, 0, false);
                mutex_release(&m);
            });
        })
        .join()
        .expect("thread exits cleanly");
    }
    // Every hook in the scope and at teardown is balanced: nothing to report.
    assert_eq!(kinds(&v), [], "{:#?}", v.reports());
}
