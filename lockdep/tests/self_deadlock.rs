//! A lock this thread already holds, taken again in a mode that must wait
//! for itself: the lock wrappers refuse to block for ever and panic at the
//! caller's line, whatever the validator's action, with the validator's
//! recursive-locking report stored. Acquisitions that cannot hang for
//! certain (read after read, trylocks, reentrant mutexes, an upgradable read
//! under a read) do not panic.
//!
//! (Validation compiled in only: `required-features = ["enabled"]`;
//! compiled out, nothing is known about who holds what.)

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Barrier, Once};

use lockdep::sync::{Mutex, ReentrantMutex, RwLock, RwLockUpgradableReadGuard};
use lockdep::{Action, Config, Hook, Read, ReportKind, Validator};

fn collect() -> Validator {
    Validator::new(Config::collect().with_backtraces(false))
}

fn kinds(v: &Validator) -> Vec<ReportKind> {
    v.reports().iter().map(|r| r.kind()).collect()
}

thread_local! {
    /// Where this thread's last panic happened, as the panic hook saw it.
    static PANICKED_AT: RefCell<Option<(String, u32)>> = const { RefCell::new(None) };
}

/// Runs `f`, which must panic; returns the panic's message and the
/// `file:line` the panic hook was given (the "panicked at" location).
fn panic_of(f: impl FnOnce()) -> (String, String) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let at = info.location().map(|l| (l.file().to_owned(), l.line()));
            PANICKED_AT.with(|p| *p.borrow_mut() = at);
            default(info);
        }))
    });
    PANICKED_AT.with(|p| p.borrow_mut().take());
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("must panic rather than block");
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    let (file, line) = PANICKED_AT.with(|p| p.borrow_mut().take()).expect("the hook saw the panic");
    (msg, format!("{file}:{line}"))
}

fn here(line: u32) -> String {
    format!("{}:{line}", file!())
}

#[test]
fn relocking_a_mutex_panics_at_the_callers_line_with_the_report_stored() {
    let v = collect();
    let m = Mutex::named(0u32, "balance");
    v.scope(|| {
        let (first, g) = (line!(), m.lock());
        let (again, (msg, at)) = (line!(), panic_of(|| drop(m.lock())));
        assert_eq!(at, here(again), "{msg}");
        assert!(msg.contains("self-deadlock") && msg.contains("balance"), "{msg}");
        assert!(msg.contains(&format!("taken at {}", here(first))), "{msg}");
        assert!(msg.contains(&format!("at {}", here(again))), "{msg}");
        // The refused acquisition left the held-lock stack as it was.
        let held = v.held_locks();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].location().line(), first);
        drop(g);
        assert!(v.held_locks().is_empty());
        // The mutex works as before.
        *m.lock() += 1;
    });
    assert_eq!(*m.lock(), 1);
    let reports = v.reports();
    assert_eq!(kinds(&v), [ReportKind::RecursiveLocking], "{reports:#?}");
    let (lock, other) = (reports[0].lock().unwrap(), reports[0].other().unwrap());
    assert_eq!(lock.addr(), other.addr(), "the same instance");
    assert_eq!(lock.location().line(), other.location().line() + 1);
    assert!(reports[0].to_string().contains("this thread will deadlock on itself now"), "{}", reports[0]);
}

#[test]
fn write_after_read_panics() {
    let v = collect();
    let l = RwLock::named(0u32, "config");
    v.scope(|| {
        let (first, r) = (line!(), l.read());
        let (again, (msg, at)) = (line!(), panic_of(|| drop(l.write())));
        assert_eq!(at, here(again), "{msg}");
        assert!(msg.contains(&format!("config (read, taken at {}", here(first))), "{msg}");
        assert!(msg.contains("upgradable_read"), "the fix is named: {msg}");
        drop(r);
        *l.write() += 1; // free again
    });
    assert_eq!(kinds(&v), [ReportKind::RecursiveLocking]);
    let r = &v.reports()[0];
    assert_eq!((r.other().unwrap().read(), r.lock().unwrap().read()), (Read::Shared, Read::Exclusive));
}

#[test]
fn read_after_write_panics_recursive_or_not() {
    let v = collect();
    let l = RwLock::named(0u32, "table");
    v.scope(|| {
        let _w = l.write();
        let (line, (msg, at)) = (line!(), panic_of(|| drop(l.read())));
        assert_eq!(at, here(line), "{msg}");
        let (line, (msg, at)) = (line!(), panic_of(|| drop(l.read_recursive())));
        assert_eq!(at, here(line), "{msg}");
        let (line, (msg, at)) = (line!(), panic_of(|| drop(l.upgradable_read())));
        assert_eq!(at, here(line), "{msg}");
    });
    // Three distinct problems, each reported once.
    assert_eq!(kinds(&v), [ReportKind::RecursiveLocking; 3], "{:#?}", v.reports());
}

#[test]
fn write_after_write_and_after_an_upgradable_read_panic() {
    let v = collect();
    let l = RwLock::named(0u32, "index");
    v.scope(|| {
        let w = l.write();
        let (line, (msg, at)) = (line!(), panic_of(|| drop(l.write())));
        assert_eq!(at, here(line), "{msg}");
        drop(w);
        let _u = l.upgradable_read();
        let (line, (msg, at)) = (line!(), panic_of(|| drop(l.write())));
        assert_eq!(at, here(line), "{msg}");
        let (line, (msg, at)) = (line!(), panic_of(|| drop(l.upgradable_read())));
        assert_eq!(at, here(line), "{msg}");
    });
    // Exclusive after exclusive, three times: one problem, reported once.
    assert_eq!(kinds(&v), [ReportKind::RecursiveLocking], "{:#?}", v.reports());
}

#[test]
fn what_cannot_hang_for_certain_does_not_panic() {
    let v = collect();
    let l = RwLock::named(0u32, "shared");
    let m = Mutex::named(0u32, "m");
    let re = ReentrantMutex::named(0u32, "re");
    v.scope(|| {
        {
            // Read after read: hangs only if a writer queues in between
            // (reported, not refused).
            let _a = l.read();
            let _b = l.read();
            let _c = l.read_recursive();
        }
        {
            // An upgradable read shares with readers, either way round.
            let u = l.upgradable_read();
            let _r = l.read();
            drop(u);
            let _u = l.upgradable_read();
        }
        {
            // Trylocks fail instead of waiting.
            let _g = m.lock();
            assert!(m.try_lock().is_none());
            let _w = l.write();
            assert!(l.try_read().is_none() && l.try_write().is_none() && l.try_upgradable_read().is_none());
        }
        {
            // A reentrant mutex is made to be taken again.
            let _a = re.lock();
            let _b = re.lock();
        }
        {
            // Upgrading, downgrading: one lock, one entry, never waits on itself.
            let u = l.upgradable_read();
            let w = RwLockUpgradableReadGuard::upgrade(u);
            let r = lockdep::sync::RwLockWriteGuard::downgrade(w);
            let _r2 = l.read(); // read after (downgraded) read
            drop(r);
        }
    });
    assert!(kinds(&v).iter().all(|k| *k == ReportKind::RecursiveLocking), "{:#?}", v.reports());
}

/// Runs `wait` on this thread while another thread holds a lock (taken by
/// `take`, released by dropping what it returns) whose map is at `addr`.
/// The holder lets go only once `v` recorded one more acquisition of that
/// lock by this thread than before `wait` ran: `wait` found the lock taken,
/// passed the wrapper's check and announced it before blocking. (`v` must
/// record events.)
fn while_held_elsewhere<G>(v: &Validator, addr: usize, take: impl FnOnce() -> G + Send, wait: impl FnOnce()) {
    let me = std::thread::current().id();
    let acquires = || {
        v.events()
            .iter()
            .filter(|e| e.thread == me && e.instance == addr && matches!(e.hook, Hook::Acquire { .. }))
            .count()
    };
    let before = acquires();
    let taken = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            let guard = take();
            taken.wait();
            while acquires() == before {
                std::thread::yield_now();
            }
            drop(guard);
        });
        taken.wait();
        wait();
    });
}

#[test]
fn a_released_instance_still_named_by_a_merged_nest_entry_is_waited_for() {
    // Under a nest lock, same-class entries merge into one, under the first
    // instance's address. After that instance is released the entry stays
    // (the others still hold it): the address must not make the free
    // instance, contended by another thread, look held by this one.
    let v = Validator::new(Config::collect().with_backtraces(false).with_events(true));
    let all = Mutex::named((), "all");
    fn node() -> Mutex<u32> {
        Mutex::named(0, "node")
    }
    let (a, b) = (node(), node());
    v.scope(|| {
        let g = all.lock();
        let first = a.lock_nest_lock(&g);
        let _b = b.lock_nest_lock(&g); // merged into `a`'s entry
        drop(first);
        assert!(v.held_locks().iter().any(|l| l.addr() == a.lockdep_map().addr()), "the merged entry");
        while_held_elsewhere(&v, a.lockdep_map().addr(), || a.lock(), || *a.lock_nest_lock(&g) += 1);
    });
    assert_eq!(*a.lock(), 1);
    assert_eq!(kinds(&v), [], "{:#?}", v.reports());
}

#[test]
fn a_contended_instance_of_a_merged_nest_class_is_waited_for() {
    // The merged entry answers "held" for its whole class: another free
    // instance of the class that another thread holds must be waited for.
    let v = Validator::new(Config::collect().with_backtraces(false).with_events(true));
    let all = Mutex::named((), "all");
    fn node() -> Mutex<u32> {
        Mutex::named(0, "node")
    }
    let (a, b, c) = (node(), node(), node());
    v.scope(|| {
        let g = all.lock();
        let _a = a.lock_nest_lock(&g);
        let _b = b.lock_nest_lock(&g); // merged with `a`
        while_held_elsewhere(&v, c.lockdep_map().addr(), || c.lock(), || *c.lock_nest_lock(&g) += 1);
    });
    assert_eq!(*c.lock(), 1);
    assert_eq!(kinds(&v), [], "{:#?}", v.reports());
}

#[test]
fn under_action_panic_the_panic_is_still_at_the_callers_line() {
    // The report's own panic (Action::Panic) would point inside lockdep; the
    // wrapper panics first, at the caller's line, and the validator, seeing
    // the acquisition while unwinding, stores the report and prints it.
    let v = Validator::new(Config::default().with_action(Action::Panic).with_backtraces(false));
    let m = Mutex::named(0u32, "journal");
    v.scope(|| {
        let _g = m.lock();
        let (line, (msg, at)) = (line!(), panic_of(|| drop(m.lock())));
        assert_eq!(at, here(line), "{msg}");
        assert!(msg.contains("self-deadlock") && msg.contains("journal"), "{msg}");
    });
    assert_eq!(kinds(&v), [ReportKind::RecursiveLocking]);
}

#[test]
fn a_validator_that_stopped_refuses_nothing() {
    // Kernel mode stops after its first report; its held-lock stack is not
    // kept up to date from then on, so it must not be trusted.
    let v = Validator::new(Config::kernel().with_backtraces(false).with_events(true));
    let (a, b) = (Mutex::named(0u32, "a"), Mutex::named(0u32, "b"));
    v.scope(|| {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let g = b.lock();
        let h = a.lock(); // b -> a: reported, validation stops
        drop(h);
        drop(g); // not taken off the (stopped) stack
        assert_eq!(v.held_locks().len(), 1);
        // Free, contended: waited for, not taken for a relock.
        while_held_elsewhere(&v, b.lockdep_map().addr(), || b.lock(), || *b.lock() += 1);
    });
    assert_eq!(kinds(&v), [ReportKind::CircularDependency]);
    assert!(!v.is_validating());
    assert_eq!(*b.lock(), 1);
}
