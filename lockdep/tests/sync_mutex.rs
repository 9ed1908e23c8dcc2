//! `lockdep::sync::Mutex` (and its std-backed and reentrant siblings) in
//! realistic patterns, each with the verdict expected when validation is
//! compiled in; compiled out, every scenario must run and report nothing.

use std::sync::{Arc, Barrier};

use crate::flavour::{Mutex, ReentrantMutex, SINGLE_DEPTH_NESTING};
use lockdep::sync::StdMutex;
use lockdep::{Config, Hook, Read, Report, ReportKind, Validator};

/// The lock types under test: `lockdep::sync`'s. `sync_lock_api05.rs` runs
/// this file's tests again with `lockdep::sync::lock_api05`'s (`lock_api`
/// 0.5 guards), through its own `flavour` module.
#[allow(dead_code, unused_imports)]
mod flavour {
    pub use lockdep::sync::{Mutex, ReentrantMutex, SINGLE_DEPTH_NESTING};

    /// `force_unlock` (its signature differs between the `lock_api` majors).
    ///
    /// # Safety
    ///
    /// As for `Mutex::force_unlock`: this thread holds `m`, its guard is gone.
    pub unsafe fn force_unlock<T>(m: &Mutex<T>) {
        // SAFETY: forwarded from the caller.
        unsafe { m.force_unlock() }
    }
}

fn collect() -> Validator {
    Validator::new(Config::collect())
}

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

/// What a test expects: `on` when validation is compiled in, nothing otherwise.
fn expect(v: &Validator, on: &[ReportKind]) -> Vec<Report> {
    let reports = v.reports();
    if lockdep::ENABLED {
        assert_eq!(kinds(&reports), on, "reports: {reports:#?}");
    } else {
        assert!(reports.is_empty());
    }
    reports
}

// ---------------------------------------------------------------------------
// Bank transfers.

struct Bank {
    checking: Mutex<i64>,
    savings: Mutex<i64>,
}

impl Bank {
    fn new() -> Bank {
        // Two construction sites: two classes.
        Bank { checking: Mutex::named(100, "checking"), savings: Mutex::named(100, "savings") }
    }
}

/// The line of `to.lock()` in [`transfer`].
const TRANSFER_TO_LINE: u32 = line!() + 4;

fn transfer(from: &Mutex<i64>, to: &Mutex<i64>, amount: i64) {
    let mut from = from.lock();
    let mut to = to.lock();
    *from -= amount;
    *to += amount;
}

#[test]
fn bank_transfer_abba_across_two_threads_is_reported_once_at_the_inner_acquisition() {
    let v = collect();
    let bank = Arc::new(Bank::new());
    // The barrier orders the two transfers: the inversion is found, the
    // program never actually deadlocks.
    let barrier = Arc::new(Barrier::new(2));
    let t1 = {
        let (v, bank, barrier) = (v.clone(), bank.clone(), barrier.clone());
        std::thread::Builder::new()
            .name("to-savings".into())
            .spawn(move || {
                v.scope(|| transfer(&bank.checking, &bank.savings, 10));
                barrier.wait();
            })
            .unwrap()
    };
    let t2 = {
        let (v, bank, barrier) = (v.clone(), bank.clone(), barrier.clone());
        std::thread::Builder::new()
            .name("to-checking".into())
            .spawn(move || {
                barrier.wait();
                v.scope(|| {
                    transfer(&bank.savings, &bank.checking, 5);
                    // The same inversion again is not reported twice.
                    transfer(&bank.savings, &bank.checking, 5);
                });
            })
            .unwrap()
    };
    t1.join().unwrap();
    t2.join().unwrap();
    assert_eq!(*bank.checking.lock() + *bank.savings.lock(), 200);

    let reports = expect(&v, &[ReportKind::CircularDependency]);
    if let Some(r) = reports.first() {
        assert_eq!(r.thread().name(), Some("to-checking"));
        assert_eq!(r.location().line(), TRANSFER_TO_LINE);
        assert!(r.location().file().ends_with("sync_mutex.rs"));
        let lock = r.lock().unwrap();
        assert_eq!(lock.instance(), "checking");
        assert_eq!(lock.read(), Read::Exclusive);
        assert_eq!(r.other().unwrap().instance(), "savings");
        // The first transfer's dependency, first seen by the other thread.
        let old = r.chain().iter().find(|s| !s.is_new()).unwrap();
        assert_eq!(old.thread().name(), Some("to-savings"));
        assert_eq!(old.to().location().line(), TRANSFER_TO_LINE);
    }
}

#[test]
fn bank_transfers_in_one_global_order_are_silent() {
    let v = collect();
    let bank = Bank::new();
    v.scope(|| {
        for _ in 0..3 {
            transfer(&bank.checking, &bank.savings, 1);
        }
        transfer(&bank.checking, &bank.savings, -3);
    });
    expect(&v, &[]);
}

/// Accounts built by one constructor share one class (one construction site).
struct Account {
    balance: Mutex<i64>,
}

impl Account {
    fn new(balance: i64) -> Account {
        Account { balance: Mutex::new(balance) }
    }
}

#[test]
fn two_accounts_of_one_class_without_annotation_are_recursive_locking() {
    let v = collect();
    let (a, b) = (Account::new(10), Account::new(10));
    v.scope(|| {
        let _ga = a.balance.lock();
        let _gb = b.balance.lock();
    });
    let reports = expect(&v, &[ReportKind::RecursiveLocking]);
    if let Some(r) = reports.first() {
        // One class, named after its construction site.
        assert_eq!(r.lock().unwrap().class(), r.other().unwrap().class());
        assert!(r.lock().unwrap().instance().starts_with("Mutex<i64>@"), "{}", r.lock().unwrap().instance());
        assert!(r.lock().unwrap().instance().contains("sync_mutex.rs"));
    }
}

#[test]
fn two_accounts_of_one_class_with_lock_nested_are_silent() {
    let v = collect();
    let (a, b) = (Account::new(10), Account::new(10));
    v.scope(|| {
        let mut ga = a.balance.lock();
        let mut gb = b.balance.lock_nested(SINGLE_DEPTH_NESTING);
        *ga -= 1;
        *gb += 1;
    });
    expect(&v, &[]);
    assert_eq!(*a.balance.lock() + *b.balance.lock(), 20);
}

#[test]
fn many_accounts_under_a_nest_lock_are_silent_and_without_it_reported() {
    let v = collect();
    let bank_lock = Mutex::named((), "bank_lock");
    let accounts: Vec<Account> = (0..4).map(Account::new).collect();
    v.scope(|| {
        let _all = bank_lock.lock();
        // Any number of same-class locks, in any order, serialised by the nest lock.
        let guards: Vec<_> = accounts.iter().rev().map(|a| a.balance.lock_nest_lock(&bank_lock)).collect();
        assert_eq!(guards.iter().map(|g| **g).sum::<i64>(), 6);
    });
    expect(&v, &[]);

    let v = collect();
    v.scope(|| {
        let _g = accounts[0].balance.lock_nest_lock(&bank_lock);
    });
    expect(&v, &[ReportKind::NestLockNotHeld]);
}

// ---------------------------------------------------------------------------
// Trylocks.

#[test]
fn trylock_in_the_inverse_order_is_not_reported() {
    let v = collect();
    let bank = Bank::new();
    v.scope(|| {
        transfer(&bank.checking, &bank.savings, 1);
        // Inverse order, but the inner acquisition cannot block: back off on failure.
        let mut s = bank.savings.lock();
        match bank.checking.try_lock() {
            Some(mut c) => {
                *c += 1;
                *s -= 1;
            }
            None => panic!("nobody else holds it"),
        }
    });
    expect(&v, &[]);

    // The same inversion with a blocking lock is reported: the test above is
    // silent because of the trylock, not because the validator saw nothing.
    let v = collect();
    v.scope(|| {
        transfer(&bank.checking, &bank.savings, 1);
        transfer(&bank.savings, &bank.checking, 1);
    });
    expect(&v, &[ReportKind::CircularDependency]);
}

#[test]
fn failed_trylock_is_not_recorded() {
    let v = Validator::new(Config::collect().with_events(true));
    let m = Mutex::new(0);
    let holder = m.lock();
    v.scope(|| assert!(m.try_lock().is_none()));
    drop(holder);
    assert!(v.events().is_empty());
    expect(&v, &[]);
}

// ---------------------------------------------------------------------------
// Hook order and locations.

#[test]
fn hooks_are_called_in_kernel_order_at_the_callers_location() {
    let v = Validator::new(Config::collect().with_events(true));
    let m = Mutex::named(0, "m");
    let line = line!() + 2;
    v.scope(|| {
        let g = m.lock();
        drop(g);
        let t = m.try_lock().unwrap();
        drop(t);
        let n = m.lock_nested(3);
        drop(n);
    });
    let events = v.events();
    if !lockdep::ENABLED {
        assert!(events.is_empty());
        return;
    }
    let hooks: Vec<Hook> = events.iter().map(|e| e.hook).collect();
    let acq =
        |subclass, trylock| Hook::Acquire { subclass, trylock, read: Read::Exclusive, check: true, nest_lock: None };
    assert_eq!(
        hooks,
        [
            acq(0, false),
            Hook::Acquired,
            Hook::Release,
            acq(0, true),
            Hook::Release,
            acq(3, false),
            Hook::Acquired,
            Hook::Release,
        ]
    );
    for (e, expected) in
        events.iter().filter(|e| matches!(e.hook, Hook::Acquire { .. })).zip([line, line + 2, line + 4])
    {
        assert_eq!(e.location.line(), expected, "{e:?}");
        assert!(e.location.file().ends_with("sync_mutex.rs"));
        assert_eq!(e.map, "m");
    }
    expect(&v, &[]);
}

#[test]
fn timed_lock_is_validated_before_waiting_and_released_on_timeout() {
    let v = Validator::new(Config::collect().with_events(true));
    let bank = Arc::new(Bank::new());
    v.scope(|| transfer(&bank.checking, &bank.savings, 1)); // checking -> savings
    v.clear_events();
    let (taken, done) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let holder = {
        let (bank, taken, done) = (bank.clone(), taken.clone(), done.clone());
        std::thread::spawn(move || {
            let _c = bank.checking.lock();
            taken.wait();
            done.wait();
        })
    };
    taken.wait();
    v.scope(|| {
        let _s = bank.savings.lock();
        // A timed wait can stall for its whole timeout: it is validated like
        // a blocking acquisition (savings -> checking inverts the transfer).
        assert!(bank.checking.try_lock_for(std::time::Duration::ZERO).is_none());
    });
    done.wait();
    holder.join().unwrap();
    expect(&v, &[ReportKind::CircularDependency]);
    if lockdep::ENABLED {
        let hooks: Vec<_> = v.events().into_iter().filter(|e| e.map == "checking").map(|e| e.hook).collect();
        // Announced before waiting, released again when it timed out: balanced.
        assert!(matches!(hooks[0], Hook::Acquire { trylock: false, .. }), "{hooks:?}");
        assert_eq!(hooks[1..], [Hook::Release]);
    }
}

#[test]
fn a_panicking_report_leaves_the_lock_free_and_the_held_stack_true() {
    let v = Validator::new(Config::collect().with_action(lockdep::Action::Panic));
    let bank = Bank::new();
    v.scope(|| {
        transfer(&bank.checking, &bank.savings, 1);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            transfer(&bank.savings, &bank.checking, 1); // panics at the inner lock when validating
        }));
        assert_eq!(result.is_err(), lockdep::ENABLED);
        // The unwinding dropped the outer guard; the inner lock was never taken.
        assert!(!bank.checking.is_locked());
        assert!(!bank.savings.is_locked());
        lockdep::lockdep_assert_none_held!();
    });
    expect(&v, &[ReportKind::CircularDependency]);
    assert_eq!(*bank.checking.lock() + *bank.savings.lock(), 200);
}

#[test]
fn a_report_callback_runs_before_the_lock_is_taken() {
    // The lock types take a free lock before the validator's fast path
    // records it; an acquisition the fast path does not take (here a new,
    // inverted chain) is validated with the lock let go again, so the
    // report's callback finds the lock it reports free, as the kernel's
    // order (acquire hook, then lock) has it.
    use std::sync::atomic::{AtomicUsize, Ordering};
    let bank = Arc::new(Bank::new());
    let free_in_callback = Arc::new(AtomicUsize::new(0));
    let action = {
        let (bank, free) = (bank.clone(), free_in_callback.clone());
        lockdep::Action::Callback(Arc::new(move |_: &Report| {
            if bank.checking.try_lock().is_some() {
                free.fetch_add(1, Ordering::SeqCst);
            }
        }))
    };
    let v = Validator::new(Config::collect().with_action(action));
    v.scope(|| {
        transfer(&bank.checking, &bank.savings, 1);
        transfer(&bank.savings, &bank.checking, 1); // reported at `checking`'s lock
        assert!(!bank.checking.is_locked() && !bank.savings.is_locked());
    });
    expect(&v, &[ReportKind::CircularDependency]);
    assert_eq!(free_in_callback.load(Ordering::SeqCst), usize::from(lockdep::ENABLED));
    assert_eq!(*bank.checking.lock() + *bank.savings.lock(), 200);
}

// ---------------------------------------------------------------------------
// Lifetimes.

#[test]
fn forgotten_guard_counts_as_held_until_force_unlock() {
    let v = collect();
    let m = Mutex::new(1);
    v.scope(|| {
        std::mem::forget(m.lock());
        assert!(m.is_locked());
        assert!(lockdep::lock_is_held(m.lockdep_map()));
        lockdep::lockdep_assert_held!(m);
        // SAFETY: this thread holds the lock; its guard was forgotten.
        unsafe { crate::flavour::force_unlock(&m) };
        lockdep::lockdep_assert_not_held!(m);
        lockdep::lockdep_assert_none_held!();
    });
    expect(&v, &[]);
    assert!(!m.is_locked());
}

#[test]
fn dropping_a_held_mutex_is_reported() {
    let v = collect();
    v.scope(|| {
        // A heap object freed while its lock is held (the lock is identified
        // by its address, so it must not move while held: box it).
        let session = Box::new(Mutex::named(0, "session"));
        std::mem::forget(session.lock());
        drop(session);
        // A lock going out of scope, dropped in place.
        let local = Mutex::named(0, "local");
        std::mem::forget(local.lock());
    });
    let reports = expect(&v, &[ReportKind::HeldLockFreed, ReportKind::HeldLockFreed]);
    if lockdep::ENABLED {
        assert_eq!(reports[0].lock().unwrap().instance(), "session");
        assert_eq!(reports[1].lock().unwrap().instance(), "local");
    }
}

#[test]
fn thread_exiting_with_a_mutex_held_is_reported() {
    let v = collect();
    let m = Arc::new(Mutex::named(0, "leaked"));
    let t = {
        let (v, m) = (v.clone(), m.clone());
        std::thread::Builder::new().name("leaker".into()).spawn(move || v.scope(|| std::mem::forget(m.lock()))).unwrap()
    };
    t.join().unwrap();
    let reports = expect(&v, &[ReportKind::HeldLocksAtThreadExit]);
    if let Some(r) = reports.first() {
        assert_eq!(r.thread().name(), Some("leaker"));
        assert_eq!(r.held().len(), 1);
        assert_eq!(r.held()[0].instance(), "leaked");
    }
    // The lock really is still held by the dead thread.
    assert!(m.try_lock().is_none());
}

// ---------------------------------------------------------------------------
// Explicit keys and statics.

static REGISTRY_KEY: lockdep::LockClassKey = lockdep::LockClassKey::new();
static REGISTRY: Mutex<Vec<u32>> = Mutex::named_with_key(Vec::new(), "registry", &REGISTRY_KEY);

#[test]
fn explicit_keys_make_one_class_across_construction_sites() {
    let v = collect();
    static KEY: lockdep::LockClassKey = lockdep::LockClassKey::new();
    let a = Mutex::with_key(1, &KEY);
    let b = Mutex::with_key(2, &KEY);
    v.scope(|| {
        let _a = a.lock();
        let _b = b.lock(); // same class: recursive
    });
    expect(&v, &[ReportKind::RecursiveLocking]);

    // A macro-minted key is one class per macro call site.
    let v = collect();
    let make = || lockdep::new_mutex!(0u8, "minted");
    let (c, d) = (make(), make());
    let e = lockdep::new_mutex!(0u8);
    v.scope(|| {
        let _e = e.lock();
        let _c = c.lock();
        let _d = d.lock_nested(SINGLE_DEPTH_NESTING);
        REGISTRY.lock().push(1);
    });
    expect(&v, &[]);
}

// ---------------------------------------------------------------------------
// Other raw locks.

#[test]
fn std_backed_mutex_is_validated_the_same_way() {
    let v = collect();
    let (a, b) = (StdMutex::new(1), StdMutex::new(2));
    v.scope(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock();
    });
    expect(&v, &[ReportKind::CircularDependency]);
    assert_eq!(*a.lock() + *b.lock(), 3);
}

#[test]
fn reentrant_mutex_relock_by_owner_is_silent_and_its_order_still_checked() {
    let v = Validator::new(Config::collect().with_events(true));
    let r = ReentrantMutex::named(String::from("log"), "console");
    let m = Mutex::named(0, "state");
    let line = line!() + 2;
    v.scope(|| {
        let outer = r.lock();
        let inner = r.lock(); // the owner locks again: no recursion report
        assert_eq!(inner.len(), 3);
        drop(inner);
        let _m = m.lock(); // console -> state
        drop(outer);
    });
    if lockdep::ENABLED {
        let acquires: Vec<_> =
            v.events().into_iter().filter(|e| e.map == "console" && matches!(e.hook, Hook::Acquire { .. })).collect();
        assert_eq!(acquires.len(), 1, "only the outermost acquisition reaches the validator");
        assert_eq!(acquires[0].location.line(), line);
        let releases = v.events().iter().filter(|e| e.map == "console" && e.hook == Hook::Release).count();
        assert_eq!(releases, 1);
    }
    expect(&v, &[]);

    v.scope(|| {
        let _m = m.lock();
        let g = r.try_lock().unwrap(); // a trylock: not reported
        drop(g);
        let _r = r.lock(); // state -> console closes the cycle
    });
    expect(&v, &[ReportKind::CircularDependency]);
}
