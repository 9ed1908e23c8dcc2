//! Every step of the protocol observable, every misuse visible to the caller
//! (issue 17): the wait-event log (`rcuwait_wake_up` calls and their target,
//! sleeps, wake-ups), where a thread is blocked, deadlines on the test-side
//! waits, the lockdep held-lock stack as data, the typed outcome of a wait
//! the model abandons, `vm_mm` of a VMA whose mm is gone, and the scope of
//! a fatal signal.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use lockdep::{LockInfo, Read};
use vmalock::WarningId::*;
use vmalock::*;

/// The log as `(thread name, kind)` (the actors are named).
fn log(events: &[WaitEvent]) -> Vec<(String, WaitEventKind)> {
    events.iter().map(|e| (e.thread_name().unwrap_or("?").to_owned(), e.kind())).collect()
}

fn sleep(on: BlockedOn, c: i32) -> WaitEventKind {
    WaitEventKind::Sleep { on, vm_refcnt: Some(c) }
}

fn woken(on: BlockedOn) -> WaitEventKind {
    WaitEventKind::Woken { on }
}

fn wake_up(mm: &Mm, vma: &Vma, c: i32, target: Option<std::thread::ThreadId>) -> WaitEventKind {
    WaitEventKind::WakeUp { mm: mm.id(), vma: vma.id(), vm_refcnt: c, target }
}

fn excluding(mm: &Mm, vma: &Vma, target: i32) -> BlockedOn {
    BlockedOn::ExcludeReaders { mm: mm.id(), vma: vma.id(), target }
}

/// The panic message of `f`, which must panic.
#[track_caller]
fn panic_message(f: impl FnOnce()) -> String {
    let p = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

// -- wake-ups and sleeps ------------------------------------------------------

#[test]
fn s21_a_read_round_trip_wakes_nobody() {
    // §2.19: a put that leaves 1 (no flag) calls no rcuwait_wake_up.
    let fx = Fix::new();
    let a = fx.main(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A");
    fx.main(|| vma_end_read(&a));
    assert_eq!(fx.a.vm_refcnt(), 1);
    assert_eq!(fx.k.wait_events(), [], "no wake-up, no sleep");
}

#[test]
fn s16_the_last_reader_wakes_the_writer() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2, t3) = (fx.actor(s, "T1"), fx.actor(s, "T2"), fx.actor(s, "T3"));
        let a = t3.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A");
        t1.run(|| mmap_write_lock(&fx.m)).unwrap();
        let w = t1.start(|| vma_start_write(&fx.a));
        let on = excluding(&fx.m, &fx.a, F + 1);
        assert_eq!(fx.k.wait_until_blocked(t1.id()), on);
        // The refused reader neither sleeps nor wakes anybody.
        assert!(t2.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).is_none());
        fx.k.wait_for_wait_events(|l| l.iter().any(WaitEvent::is_sleep));
        t3.run(move || vma_end_read(&a));
        w.wait().expect("write-locked");
        assert_eq!(
            log(&fx.k.take_wait_events()),
            [
                ("T1".into(), sleep(on, F + 2)),
                ("T3".into(), wake_up(&fx.m, &fx.a, F + 1, Some(t1.id()))),
                ("T1".into(), woken(on)),
            ]
        );
        assert!(!fx.k.is_blocked(t1.id()));
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_invariants_hold();
}

#[test]
fn detacher_woken_at_f_plus_1_reevaluates_and_sleeps_again() {
    // §1.4/§2.19: a put wakes the writer whenever the result satisfies
    // __vma_are_readers_excluded, which for a detacher (target F) includes
    // F + 1: a spurious wake-up. The detacher re-checks and sleeps again;
    // the last straggler's put (F) wakes it for good.
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2, t3) = (fx.actor(s, "T1"), fx.actor(s, "T2"), fx.actor(s, "T3"));
        t1.run(|| mmap_write_lock(&fx.m)).unwrap();
        // Two stragglers pass the early check, then the VMA is write-locked.
        let (p1a, p1b) = (fx.k.pause_thread_at(PausePoint::P1, t2.id()), fx.k.pause_thread_at(PausePoint::P1, t3.id()));
        let (p2a, p2b) = (fx.k.pause_thread_at(PausePoint::P2, t2.id()), fx.k.pause_thread_at(PausePoint::P2, t3.id()));
        let r2 = t2.start(|| lock_vma_under_rcu(&fx.m, 0x1800));
        let r3 = t3.start(|| lock_vma_under_rcu(&fx.m, 0x1800));
        p1a.wait_reached();
        p1b.wait_reached();
        t1.run(|| vma_start_write(&fx.a)).unwrap();
        p1a.resume();
        p1b.resume();
        p2a.wait_reached();
        p2b.wait_reached();
        assert_eq!(fx.a.vm_refcnt(), 3);
        assert!(fx.m.remove_vma(&fx.a));
        let d = t1.start(|| vma_mark_detached(&fx.a));
        let on = excluding(&fx.m, &fx.a, F);
        assert_eq!(fx.k.wait_until_blocked(t1.id()), on);
        fx.k.wait_for_wait_events(|l| l.iter().any(WaitEvent::is_sleep));
        // The first straggler leaves: F + 1, a wake-up the re-check rejects.
        p2a.resume();
        assert!(r2.wait().is_none());
        fx.k.wait_for_wait_events(|l| l.iter().filter(|e| e.is_sleep()).count() == 2);
        assert_eq!(fx.k.blocked_on(t1.id()), Some(on), "asleep again");
        // The second one leaves: F, the wait ends.
        p2b.resume();
        assert!(r3.wait().is_none());
        d.wait().expect("detached");
        assert_eq!(
            log(&fx.k.take_wait_events()),
            [
                ("T1".into(), sleep(on, F + 2)),
                ("T2".into(), wake_up(&fx.m, &fx.a, F + 1, Some(t1.id()))),
                ("T1".into(), woken(on)),
                ("T1".into(), sleep(on, F + 1)),
                ("T3".into(), wake_up(&fx.m, &fx.a, F, Some(t1.id()))),
                ("T1".into(), woken(on)),
            ]
        );
        assert_eq!(fx.a.vm_refcnt(), 0);
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn a_stale_reader_of_a_recycled_vma_wakes_the_other_mms_writer() {
    // §2.14 step 4: T2 found A in M; A was freed and recycled into N, where
    // T1 now write-locks it and waits for T2's transient reference. T2's
    // put targets N's wait slot, and so T1.
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        let p0 = fx.k.pause_thread_at(PausePoint::P0, t2.id());
        let p2 = fx.k.pause_thread_at(PausePoint::P2, t2.id());
        let r = t2.start(|| lock_vma_under_rcu(&fx.m, 0x1800));
        p0.wait_reached();
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
            fx.m.remove_vma(&fx.a);
            vma_mark_detached(&fx.a).unwrap();
            mmap_write_unlock(&fx.m);
            mmap_write_lock(&fx.n).unwrap();
            fx.a.recycle(&fx.n, 0x7000, 0x8000);
            vma_start_write(&fx.a).unwrap();
            vma_mark_attached(&fx.a);
            fx.n.insert_vma(&fx.a);
            mmap_write_unlock(&fx.n);
            mmap_write_lock(&fx.n).unwrap();
        });
        p0.resume();
        p2.wait_reached();
        assert_eq!(fx.k.blocked_on(t2.id()), Some(BlockedOn::Pause { point: PausePoint::P2, vma: fx.a.id() }));
        assert_eq!(fx.a.vm_refcnt(), 2, "the stale reader's increment landed on N's VMA");
        let w = t1.start(|| vma_start_write(&fx.a));
        let on = excluding(&fx.n, &fx.a, F + 1);
        assert_eq!(fx.k.wait_until_blocked(t1.id()), on);
        p2.resume();
        assert!(r.wait().is_none(), "vm_mm != M");
        w.wait().expect("write-locked in N");
        let wake_ups: Vec<_> = fx.k.wait_events().into_iter().filter(WaitEvent::is_wake_up).collect();
        assert_eq!(log(&wake_ups), [("T2".into(), wake_up(&fx.n, &fx.a, F + 1, Some(t1.id())))]);
        assert_eq!(fx.a.vm_lock_seq(), fx.n.mm_lock_seq());
        t1.run(|| mmap_write_unlock(&fx.n));
    });
    fx.expect_no_warnings();
}

#[test]
fn a_wake_up_before_the_writer_sleeps_targets_nobody() {
    // The writer is paused at P3 (flag added, not yet in the wait slot)
    // when the last reader leaves: rcuwait_wake_up finds no waiter. The
    // writer's first check then sees F + 1 and never sleeps.
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t3) = (fx.actor(s, "T1"), fx.actor(s, "T3"));
        let a = t3.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A");
        t1.run(|| mmap_write_lock(&fx.m)).unwrap();
        let p3 = fx.k.pause_thread_at(PausePoint::P3, t1.id());
        let w = t1.start(|| vma_start_write(&fx.a));
        p3.wait_reached();
        assert_eq!(fx.a.vm_refcnt(), F + 2);
        t3.run(move || vma_end_read(&a));
        assert_eq!(log(&fx.k.wait_events()), [("T3".into(), wake_up(&fx.m, &fx.a, F + 1, None))]);
        p3.resume();
        w.wait().expect("write-locked");
        assert_eq!(fx.k.wait_events().len(), 1, "T1 never slept");
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
}

#[test]
fn mmap_lock_sleeps_are_logged() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| mmap_read_lock(&fx.m)).unwrap();
        let w = t2.start(|| mmap_write_lock(&fx.m));
        let on = BlockedOn::MmapLock { mm: fx.m.id(), write: true };
        assert_eq!(fx.k.wait_until_blocked(t2.id()), on);
        fx.k.wait_for_wait_events(|l| !l.is_empty());
        t1.run(|| mmap_read_unlock(&fx.m));
        w.wait().unwrap();
        assert_eq!(
            log(&fx.k.take_wait_events()),
            [("T2".into(), WaitEventKind::Sleep { on, vm_refcnt: None }), ("T2".into(), woken(on))]
        );
        t2.run(|| mmap_write_unlock(&fx.m));
    });
}

/// S16 again: T1 write-locks A while T3 holds it for read (a sleep, a
/// wake-up, a `Woken`), with the log limited to `limit` events.
fn writer_waits_for_a_reader(limit: usize) -> Fix {
    let fx = Fix::with(VmConfig::default().with_wait_log_limit(limit));
    std::thread::scope(|s| {
        let (t1, t3) = (fx.actor(s, "T1"), fx.actor(s, "T3"));
        let a = t3.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A");
        t1.run(|| mmap_write_lock(&fx.m)).unwrap();
        let w = t1.start(|| vma_start_write(&fx.a));
        if limit > 0 {
            fx.k.wait_for_wait_events(|l| l.last().is_some_and(WaitEvent::is_sleep));
        } else {
            fx.k.wait_until_blocked(t1.id());
        }
        t3.run(move || vma_end_read(&a));
        w.wait().unwrap();
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx
}

#[test]
fn the_wait_log_keeps_the_newest_events() {
    let on = |fx: &Fix| excluding(&fx.m, &fx.a, F + 1);
    let all = writer_waits_for_a_reader(100);
    assert_eq!(
        all.k.wait_events().iter().map(WaitEvent::kind).collect::<Vec<_>>(),
        [
            sleep(on(&all), F + 2),
            wake_up(&all.m, &all.a, F + 1, Some(all.k.wait_events()[0].thread())),
            woken(on(&all)),
        ]
    );
    assert_eq!(all.k.wait_events_dropped(), 0);
    let newest = writer_waits_for_a_reader(1);
    assert_eq!(newest.k.wait_events().iter().map(WaitEvent::kind).collect::<Vec<_>>(), [woken(on(&newest))]);
    assert_eq!(newest.k.wait_events_dropped(), 2, "the sleep and the wake-up");
    let off = writer_waits_for_a_reader(0);
    assert!(off.k.wait_events().is_empty());
    assert_eq!(off.k.wait_events_dropped(), 0);
}

// -- where a thread is blocked -------------------------------------------------

#[test]
fn blocked_on_names_the_wait() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2, t3) = (fx.actor(s, "T1"), fx.actor(s, "T2"), fx.actor(s, "T3"));
        assert_eq!(fx.k.blocked_on(t1.id()), None);
        // A writer behind a reader, a reader behind the queued writer.
        t1.run(|| mmap_read_lock(&fx.m)).unwrap();
        let w = t2.start(|| mmap_write_lock(&fx.m));
        assert_eq!(fx.k.wait_until_blocked(t2.id()), BlockedOn::MmapLock { mm: fx.m.id(), write: true });
        let r = t3.start(|| mmap_read_lock(&fx.m));
        assert_eq!(fx.k.wait_until_blocked(t3.id()), BlockedOn::MmapLock { mm: fx.m.id(), write: false });
        assert!(fx.k.is_blocked(t2.id()) && fx.k.is_blocked(t3.id()) && !fx.k.is_blocked(t1.id()));
        t1.run(|| mmap_read_unlock(&fx.m));
        w.wait().unwrap();
        assert_eq!(fx.k.blocked_on(t2.id()), None);
        t2.run(|| mmap_write_unlock(&fx.m));
        r.wait().unwrap();
        t3.run(|| mmap_read_unlock(&fx.m));
        // A pause point, with the VMA.
        let p0 = fx.k.pause_vma_at(PausePoint::P0, Some(t1.id()), &fx.b);
        let l = t1.start(|| lock_vma_under_rcu(&fx.m, 0x2800));
        assert_eq!(fx.k.wait_until_blocked(t1.id()), BlockedOn::Pause { point: PausePoint::P0, vma: fx.b.id() });
        p0.resume();
        let b = l.wait().expect("B");
        assert_eq!(fx.k.blocked_on(t1.id()), None);
        // The exclusion wait of a writer, with its target.
        t2.run(|| mmap_write_lock(&fx.m)).unwrap();
        let w = t2.start(|| vma_start_write(&fx.b));
        assert_eq!(fx.k.wait_until_blocked(t2.id()), excluding(&fx.m, &fx.b, F + 1));
        t1.run(move || vma_end_read(&b));
        w.wait().unwrap();
        t2.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_invariants_hold();
}

#[test]
fn blocked_on_displays_for_messages() {
    let on = BlockedOn::ExcludeReaders { mm: 1, vma: 7, target: F };
    assert_eq!(on.to_string(), "the readers of VMA 7 to leave (vm_refcnt 0x40000000, wait slot of mm 1)");
    assert_eq!(BlockedOn::MmapLock { mm: 3, write: false }.to_string(), "the mmap_lock of mm 3 (read)");
    assert_eq!(BlockedOn::Pause { point: PausePoint::P4, vma: 2 }.to_string(), "pause point P4 on VMA 2");
}

// -- deadlines -------------------------------------------------------------------

#[test]
fn wait_reached_panics_naming_the_pause_point_after_its_deadline() {
    let fx = Fix::new();
    let t = std::thread::current().id();
    let p = fx.k.pause_vma_at(PausePoint::P3, Some(t), &fx.a);
    let msg = panic_message(|| {
        p.wait_reached_timeout(Duration::from_millis(20));
    });
    assert!(msg.contains("no thread reached pause point P3"), "{msg}");
    assert!(msg.contains(&format!("{t:?}")) && msg.contains(&format!("VMA {}", fx.a.id())), "{msg}");
    // The default deadline is the kernel's.
    let fx = Fix::with(VmConfig::default().with_wait_deadline(Duration::from_millis(20)));
    let p = fx.k.pause_at(PausePoint::P0);
    let msg = panic_message(|| {
        p.wait_reached();
    });
    assert!(msg.contains("no thread reached pause point P0 within 20ms"), "{msg}");
}

#[test]
fn wait_until_blocked_panics_naming_the_thread_after_its_deadline() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| mmap_write_lock(&fx.m)).unwrap();
        let w = t2.start(|| mmap_write_lock(&fx.m));
        fx.k.wait_until_blocked(t2.id());
        // T1 runs (idle): it never blocks. The message names it and the
        // threads that are blocked.
        let msg = panic_message(|| {
            fx.k.wait_until_blocked_timeout(t1.id(), Duration::from_millis(20));
        });
        assert!(msg.contains(&format!("{:?} did not block", t1.id())), "{msg}");
        assert!(msg.contains("\"T2\"") && msg.contains("the mmap_lock of mm"), "{msg}");
        t1.run(|| mmap_write_unlock(&fx.m));
        w.wait().unwrap();
        t2.run(|| mmap_write_unlock(&fx.m));
    });
}

#[test]
fn wait_for_wait_events_panics_with_the_log_after_its_deadline() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| mmap_read_lock(&fx.m)).unwrap();
        let w = t2.start(|| mmap_write_lock(&fx.m));
        fx.k.wait_for_wait_events(|l| l.iter().any(WaitEvent::is_sleep));
        // No wake-up comes while T1 holds the lock.
        let msg = panic_message(|| {
            fx.k.wait_for_wait_events_timeout(Duration::from_millis(20), |l| l.iter().any(WaitEvent::is_wake_up));
        });
        assert!(msg.contains("did not reach the expected state within 20ms"), "{msg}");
        assert!(msg.contains("T2: sleeps waiting for the mmap_lock of mm"), "the log: {msg}");
        t1.run(|| mmap_read_unlock(&fx.m));
        w.wait().unwrap();
        t2.run(|| mmap_write_unlock(&fx.m));
    });
}

// -- the held-lock stack as data -------------------------------------------------

/// `(instance, read mode, trylock, subclass)` of each held entry; the site
/// must be this file (the `#[track_caller]` chain of the vmalock calls).
fn held(locks: &[LockInfo]) -> Vec<(&'static str, Read, bool, u32)> {
    for l in locks {
        assert!(l.location().file().ends_with("observability.rs"), "{l}");
    }
    locks.iter().map(|l| (l.instance(), l.read(), l.trylock(), l.subclass())).collect()
}

#[test]
fn the_lockdep_view_of_read_locks() {
    // §1.5 invariant 7 and §2.17: shared trylock entries for V, subclass 0
    // even for the nested variant; the mmap lock's own entry.
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        let (m, v) = (keys::MMAP_LOCK_NAME, keys::VM_LOCK_NAME);
        let stacks = t1.run(|| {
            mmap_read_lock(&fx.m).unwrap();
            assert!(vma_start_read_locked(&fx.a));
            assert!(vma_start_read_locked_nested(&fx.b, 1));
            let under_mmap = lockdep::held_locks();
            mmap_read_unlock(&fx.m);
            let after = lockdep::held_locks();
            vma_end_read(&fx.b);
            vma_end_read(&fx.a);
            (under_mmap, after, lockdep::held_locks())
        });
        if lockdep::ENABLED {
            assert_eq!(
                held(&stacks.0),
                [(m, Read::Shared, false, 0), (v, Read::Shared, true, 0), (v, Read::Shared, true, 0)]
            );
            assert_eq!(stacks.0[1].addr(), fx.a.vmlock_dep_map().addr());
            assert_eq!(stacks.0[2].addr(), fx.b.vmlock_dep_map().addr());
            assert_eq!(held(&stacks.1), [(v, Read::Shared, true, 0), (v, Read::Shared, true, 0)]);
            // Asked of the validator from another thread: that thread's stack.
            assert!(fx.v.held_locks().is_empty());
        } else {
            assert!(stacks.0.is_empty() && stacks.1.is_empty());
        }
        assert!(stacks.2.is_empty());
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
}

#[test]
fn the_exclusive_entry_lives_only_inside_the_exclusion_window() {
    // §1.5 invariant 7: an exclusive V entry inside the writer's own
    // exclude-readers window (seen from P3), none once write-locked.
    let fx = Fix::new();
    let at_p3: Arc<Mutex<Vec<LockInfo>>> = Arc::default();
    {
        let at_p3 = at_p3.clone();
        fx.k.set_pause_hook(Some(Arc::new(move |p, _: &Vma| {
            if p == PausePoint::P3 {
                *at_p3.lock().unwrap() = lockdep::held_locks();
            }
        })));
    }
    let after = fx.main(|| {
        mmap_write_lock(&fx.m).unwrap();
        vma_start_write(&fx.a).unwrap();
        let after = lockdep::held_locks();
        mmap_write_unlock(&fx.m);
        after
    });
    fx.k.set_pause_hook(None);
    let (m, v) = (keys::MMAP_LOCK_NAME, keys::VM_LOCK_NAME);
    if lockdep::ENABLED {
        assert_eq!(held(&at_p3.lock().unwrap()), [(m, Read::Exclusive, false, 0), (v, Read::Exclusive, false, 0)]);
        assert_eq!(held(&after), [(m, Read::Exclusive, false, 0)], "a finished write lock is not in lockdep");
    } else {
        assert!(at_p3.lock().unwrap().is_empty() && after.is_empty());
    }
    fx.expect_no_warnings();
}

// -- abandoned waits are the caller's to see -------------------------------------

#[test]
fn a_hopeless_write_lock_wait_is_a_typed_outcome() {
    // ABBA between two mms with non-killable waits: the second waiter's
    // wait is abandoned and returned, not panicked; it emitted REL(M), no
    // ACQUIRED, and the sequence did not move.
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| mmap_write_lock(&fx.m)).unwrap();
        t2.run(|| mmap_write_lock(&fx.n)).unwrap();
        let a = t1.start(|| mmap_write_lock(&fx.n));
        fx.k.wait_until_blocked(t1.id());
        fx.v.clear_events();
        let err = t2.run(|| mmap_write_lock(&fx.m)).expect_err("the cycle");
        assert_eq!(err.wait(), BlockedOn::MmapLock { mm: fx.m.id(), write: true });
        assert!(err.reason().contains("\"T1\"") && err.reason().contains("\"T2\""), "{}", err.reason());
        assert!(err.to_string().starts_with("abandoned the wait for the mmap_lock of mm"), "{err}");
        fx.expect_events(&["T2 ACQ(M,0,0,0,1)", "T2 CONTENDED(M)", "T2 REL(M)"]);
        assert_eq!(fx.m.mm_lock_seq(), 3, "only T1's write hold");
        fx.expect_warnings(&[("T2", WaitWouldHang)]);
        // The guard form reports it too.
        assert!(t2.run(|| MmapWriteGuard::new(&fx.m).map(drop)).is_err());
        fx.expect_warnings(&[("T2", WaitWouldHang)]);
        t2.run(|| mmap_write_unlock(&fx.n));
        a.wait().unwrap();
        t1.run(|| {
            mmap_write_unlock(&fx.n);
            mmap_write_unlock(&fx.m);
        });
    });
}

#[test]
fn a_hopeless_detach_is_a_typed_outcome_and_the_vma_is_not_detached() {
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        let a = t1.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A");
        let r = t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            assert!(vma_start_write(&fx.a).is_err(), "T1's own reader");
            fx.m.remove_vma(&fx.a);
            vma_mark_detached(&fx.a)
        });
        let err = r.expect_err("T1's own reader");
        assert_eq!(err.wait(), excluding(&fx.m, &fx.a, F));
        assert_eq!(fx.a.vm_refcnt(), 1, "not detached: T1's reader is left");
        let ids: Vec<WarningId> = fx.take_warnings().into_iter().map(|(_, id)| id).collect();
        assert_eq!(ids, [WaitWouldHang, VmaNotWriteLocked, WaitWouldHang, DetachNotComplete]);
        t1.run(move || {
            mmap_write_unlock(&fx.m);
            vma_end_read(&a);
        });
    });
}

// -- vm_mm of a VMA whose mm is gone ---------------------------------------------

#[test]
fn vm_mm_is_none_once_the_mm_is_dropped_and_operations_say_why_they_panic() {
    let k = Kernel::new(VmConfig::default());
    let mm = Mm::new(&k);
    mmap_write_lock(&mm).unwrap();
    let vma = Vma::new(&mm, 0x1000, 0x2000);
    vma_start_write(&vma).unwrap();
    vma_mark_attached(&vma);
    mm.insert_vma(&vma);
    mmap_write_unlock(&mm);
    let held = lock_vma_under_rcu(&mm, 0x1800).expect("read-locked");
    assert!(vma.vm_mm().is_some_and(|m| Arc::ptr_eq(&m, &mm)));
    assert!(mm.remove_vma(&vma));
    drop(mm);
    assert!(vma.vm_mm().is_none());
    // The reader's unlock needs no mm: nobody to wake.
    vma_end_read(&held);
    assert_eq!(vma.vm_refcnt(), 1);
    // Anything that must take or check the mm's lock panics, naming the VMA.
    let msg = panic_message(|| vma_assert_stabilised(&vma));
    assert_eq!(
        msg,
        format!("vmalock: VMA {} is used after its mm was dropped (an mm must outlive its VMAs)", vma.id())
    );
    let msg = panic_message(|| {
        let _ = vma_start_write(&vma);
    });
    assert!(msg.contains("used after its mm was dropped"), "{msg}");
    assert!(k.warnings().is_empty());
}

// -- fatal signals: pending for the guard's scope ---------------------------------

#[test]
fn a_fatal_signal_is_pending_exactly_while_its_guard_lives() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t2.run(|| mmap_write_lock(&fx.m)).unwrap();
        let r = t1.start(|| mmap_read_lock_killable(&fx.m));
        fx.k.wait_until_blocked(t1.id());
        let signal = fx.k.send_fatal_signal(t1.id());
        assert_eq!(signal.thread(), t1.id());
        assert_eq!(r.wait(), Err(Errno::EINTR));
        // Sticky: the next killable wait fails without sleeping...
        fx.k.take_wait_events();
        assert!(fx.k.fatal_signal_pending_for(t1.id()));
        assert_eq!(t1.run(|| mmap_read_lock_killable(&fx.m)), Err(Errno::EINTR));
        assert!(fx.k.wait_events().is_empty(), "no sleep: the signal was already pending");
        // ...and so does a second guard's: pending until both are gone.
        let again = fx.k.send_fatal_signal(t1.id());
        signal.clear();
        assert!(fx.k.fatal_signal_pending_for(t1.id()));
        drop(again);
        assert!(!fx.k.fatal_signal_pending_for(t1.id()));
        // Without it, the killable wait blocks again, and succeeds.
        let r = t1.start(|| mmap_read_lock_killable(&fx.m));
        fx.k.wait_until_blocked(t1.id());
        t2.run(|| mmap_write_unlock(&fx.m));
        assert_eq!(r.wait(), Ok(()));
        t1.run(|| mmap_read_unlock(&fx.m));
    });
    fx.expect_no_warnings();
}

#[test]
fn a_fatal_signal_does_not_end_an_uninterruptible_wait() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t3) = (fx.actor(s, "T1"), fx.actor(s, "T3"));
        let a = t3.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A");
        t1.run(|| mmap_write_lock(&fx.m)).unwrap();
        let w = t1.start(|| vma_start_write(&fx.a));
        // Asleep (logged under the slot's lock, right before sleeping), so
        // the signal's wake-up cannot come before the sleep.
        fx.k.wait_for_wait_events(|l| l.iter().any(WaitEvent::is_sleep));
        let _signal = fx.k.send_fatal_signal(t1.id());
        // Woken by the signal, it re-checks and sleeps again.
        fx.k.wait_for_wait_events(|l| l.iter().filter(|e| e.is_sleep()).count() == 2);
        assert!(fx.k.is_blocked(t1.id()));
        t3.run(move || vma_end_read(&a));
        w.wait().expect("write-locked despite the signal");
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
}
