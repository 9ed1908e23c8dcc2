//! §5.6: lock ordering and deadlocks (S57–S61), and the misuse that hangs
//! the real kernel (Appendix B): reported, never hung.

mod common;

use common::*;
use lockdep::ReportKind;
use vmalock::WarningId::*;
use vmalock::*;

#[test]
fn s59_the_real_deadlock_the_rule_prevents() {
    // Without validation both threads would block forever (T1 on the rwsem,
    // T2 on the refcount). The model reports the cycle and abandons T2's
    // exclusion wait, which is the only wait with an error path.
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        let a = t1.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A");
        t2.run(|| mmap_write_lock(&fx.m).unwrap());
        fx.v.clear_events();
        let w = t2.start(|| vma_start_write(&fx.a));
        let excluding = BlockedOn::ExcludeReaders { mm: fx.m.id(), vma: fx.a.id(), target: F + 1 };
        assert_eq!(fx.k.wait_until_blocked(t2.id()), excluding);
        fx.expect_events(&["T2 ACQ(VA,0,0,0,1)"]);
        let r = t1.start(|| mmap_read_lock(&fx.m).unwrap());
        // T1's wait closes the cycle; T2's wait is the one abandoned, and
        // its caller is told so.
        let err = w.wait().expect_err("the VMA write lock could never be had");
        assert_eq!(err.wait(), excluding);
        assert!(err.reason().contains("waits for the mmap_lock of mm"), "{}", err.reason());
        fx.expect_reports(&[ReportKind::CircularDependency]);
        if lockdep::ENABLED {
            let rep = &fx.v.reports()[0];
            assert_eq!(rep.thread().name(), Some("T1"));
            assert_eq!(rep.lock().map(|l| l.instance()), Some(keys::MMAP_LOCK_NAME));
        }
        fx.expect_warnings(&[("T1", WaitWouldHang)]);
        assert_eq!(fx.a.vm_lock_seq(), 1, "T2 did not get the VMA write lock");
        assert_eq!(fx.a.vm_refcnt(), 2, "flag removed, T1's reader remains");
        t2.run(|| mmap_write_unlock(&fx.m));
        r.wait();
        t1.run(move || {
            mmap_read_unlock(&fx.m);
            vma_end_read(&a);
        });
        assert_eq!(fx.a.vm_refcnt(), 1);
    });
    fx.expect_no_warnings();
}

#[test]
fn s59_without_hang_detection_signals_still_work() {
    // With hang detection off the model blocks like the kernel; a killable
    // writer can still be interrupted.
    let fx = &Fix::with(VmConfig::default().with_detect_hangs(false));
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        let a = t1.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A");
        t2.run(|| mmap_write_lock(&fx.m).unwrap());
        let w = t2.start(|| vma_start_write_killable(&fx.a));
        fx.k.wait_until_blocked(t2.id());
        let signal = fx.k.send_fatal_signal(t2.id());
        assert_eq!(w.wait(), Err(Errno::EINTR));
        signal.clear();
        t2.run(|| mmap_write_unlock(&fx.m));
        t1.run(move || vma_end_read(&a));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s60_write_locking_a_vma_you_hold_for_read() {
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        let a = t1.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A");
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        fx.v.clear_events();
        // The kernel would wait forever for T1's own reference; the model
        // abandons the wait and says so to the caller.
        let err = t1.run(|| vma_start_write(&fx.a)).expect_err("T1 holds the reader it waits for");
        assert_eq!(err.wait(), BlockedOn::ExcludeReaders { mm: fx.m.id(), vma: fx.a.id(), target: F + 1 });
        fx.expect_reports(&[ReportKind::RecursiveLocking]);
        fx.expect_warnings(&[("T1", WaitWouldHang)]);
        fx.expect_events(&["T1 ACQ(VA,0,0,0,1)", "T1 REL(VA)"]);
        assert_eq!(fx.a.vm_refcnt(), 2);
        assert!(!t1.run(|| __is_vma_write_locked(&fx.a)));
        assert_eq!(t1.run(|| vma_start_write_killable(&fx.a)), Err(Errno::EINTR));
        fx.expect_warnings(&[("T1", WaitWouldHang)]);
        t1.run(move || {
            mmap_write_unlock(&fx.m);
            vma_end_read(&a);
        });
        assert_eq!(fx.a.vm_refcnt(), 1);
    });
    fx.expect_no_warnings();
}

#[test]
fn s60_detaching_a_vma_you_hold_for_read() {
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        let a = t1.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A");
        let r = t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            fx.m.remove_vma(&fx.a);
            vma_mark_detached(&fx.a)
        });
        let err = r.expect_err("T1 holds the straggler it waits for");
        assert_eq!(err.wait(), BlockedOn::ExcludeReaders { mm: fx.m.id(), vma: fx.a.id(), target: F });
        let ids: Vec<WarningId> = fx.take_warnings().into_iter().map(|(_, id)| id).collect();
        assert_eq!(ids, [VmaNotWriteLocked, WaitWouldHang, DetachNotComplete]);
        assert_eq!(fx.a.vm_refcnt(), 1, "only T1's own reference is left");
        t1.run(move || {
            mmap_write_unlock(&fx.m);
            vma_end_read(&a);
        });
        assert_eq!(fx.a.vm_refcnt(), 0);
    });
}

#[test]
fn recursive_read_behind_a_queued_writer_is_reported_not_hung() {
    // S6 with a writer queued: a writer-preferring rwsem would deadlock.
    // Lockdep reports the recursion; the model reports the hopeless wait
    // and lets the reader in past the queued writer.
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| mmap_read_lock(&fx.m).unwrap());
        let w = t2.start(|| mmap_write_lock(&fx.m).unwrap());
        fx.k.wait_until_blocked(t2.id());
        t1.run(|| mmap_read_lock(&fx.m).unwrap());
        fx.expect_warnings(&[("T1", WaitWouldHang)]);
        fx.expect_reports(&[ReportKind::RecursiveLocking]);
        assert_eq!(t1.run(|| mmap_read_lock_killable(&fx.m)), Ok(()));
        fx.expect_warnings(&[("T1", WaitWouldHang)]);
        t1.run(|| {
            mmap_read_unlock(&fx.m);
            mmap_read_unlock(&fx.m);
            mmap_read_unlock(&fx.m);
        });
        w.wait();
        t2.run(|| mmap_write_unlock(&fx.m));
        assert!(!fx.m.mmap_lock_is_locked() && !mmap_lock_is_contended(&fx.m));
    });
}

#[test]
fn read_while_holding_the_write_lock_is_reported_not_hung() {
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        assert_eq!(t1.run(|| mmap_read_lock_killable(&fx.m)), Err(Errno::EINTR));
        fx.expect_warnings(&[("T1", WaitWouldHang)]);
        fx.expect_reports(&[ReportKind::RecursiveLocking]);
        // Not killable: the same outcome as every other would-hang, typed.
        fx.v.clear_events();
        let err = t1.run(|| mmap_read_lock(&fx.m)).expect_err("a read under one's own write lock");
        assert_eq!(err.wait(), BlockedOn::MmapLock { mm: fx.m.id(), write: false });
        assert!(err.reason().contains("\"T1\""), "the cycle is T1 waiting for itself: {}", err.reason());
        fx.expect_warnings(&[("T1", WaitWouldHang)]);
        // The acquire hook is undone; the lock is still T1's write hold only.
        fx.expect_events(&["T1 ACQ(M,0,0,1,1)", "T1 CONTENDED(M)", "T1 REL(M)"]);
        assert!(fx.m.mmap_lock_is_write_locked());
        t1.run(|| mmap_write_unlock(&fx.m));
        assert!(!fx.m.mmap_lock_is_locked() && !mmap_lock_is_contended(&fx.m));
    });
}

#[test]
fn abba_between_two_mms_is_reported_not_hung() {
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        t2.run(|| mmap_write_lock(&fx.n).unwrap());
        let a = t1.start(|| mmap_write_lock(&fx.n).unwrap());
        fx.k.wait_until_blocked(t1.id());
        assert_eq!(t2.run(|| mmap_write_lock_killable(&fx.m)), Err(Errno::EINTR));
        fx.expect_warnings(&[("T2", WaitWouldHang)]);
        t2.run(|| mmap_write_unlock(&fx.n));
        a.wait();
        t1.run(|| {
            mmap_write_unlock(&fx.n);
            mmap_write_unlock(&fx.m);
        });
    });
    // mmap_lock -> mmap_lock of the same class: lockdep sees recursion.
    fx.expect_reports(&[ReportKind::RecursiveLocking]);
}

#[test]
fn a_foreign_release_does_not_fake_a_cycle() {
    // T1's read lock on A is released by T2 (misuse: a lockdep imbalance).
    // Later T1 waits for the mmap lock held by a writer that waits for T4's
    // real reader: no cycle, and none may be reported.
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let (t1, t2, t3, t4) = (fx.actor(s, "T1"), fx.actor(s, "T2"), fx.actor(s, "T3"), fx.actor(s, "T4"));
        let a = t1.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A");
        t2.run(move || vma_end_read(&a));
        let a4 = t4.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A");
        t3.run(|| mmap_write_lock(&fx.m).unwrap());
        let w = t3.start(|| vma_start_write(&fx.a).unwrap());
        fx.k.wait_until_blocked(t3.id());
        let r = t1.start(|| mmap_read_lock(&fx.m).unwrap());
        fx.k.wait_until_blocked(t1.id());
        t4.run(move || vma_end_read(&a4));
        w.wait();
        assert_eq!(fx.a.vm_lock_seq(), 3, "the writer was not aborted");
        t3.run(|| mmap_write_unlock(&fx.m));
        r.wait();
        t1.run(|| mmap_read_unlock(&fx.m));
    });
    let ids: Vec<WarningId> = fx.take_warnings().into_iter().map(|(_, id)| id).collect();
    assert!(!ids.contains(&WaitWouldHang), "{ids:?}");
}
