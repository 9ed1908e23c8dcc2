//! §5.4: detach (S36–S41).

mod common;

use common::*;
use vmalock::WarningId::*;
use vmalock::*;

#[test]
fn s36_detach_with_no_readers() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
            assert!(fx.m.remove_vma(&fx.a));
        });
        fx.v.clear_events();
        t1.run(|| vma_mark_detached(&fx.a).unwrap());
        fx.expect_events(&[]);
        assert_eq!(fx.a.vm_refcnt(), 0);
        assert!(!fx.k.is_blocked(t1.id()));
        fx.expect_no_warnings();
        t1.run(|| vma_assert_detached(&fx.a));
        fx.expect_no_warnings();
        t1.run(|| vma_assert_attached(&fx.a));
        fx.expect_warnings(&[("T1", VmaNotAttached)]);
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s37_detach_waits_for_a_transient_reader() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        assert_eq!(fx.m.mm_lock_seq(), 3);
        let p1 = fx.k.pause_thread_at(PausePoint::P1, t2.id());
        let p2 = fx.k.pause_thread_at(PausePoint::P2, t2.id());
        let r = t2.start(|| lock_vma_under_rcu(&fx.m, 0x1800));
        p1.wait_reached();
        t1.run(|| vma_start_write(&fx.a).unwrap());
        assert_eq!(fx.a.vm_lock_seq(), 3);
        fx.v.clear_events();
        p1.resume();
        p2.wait_reached();
        assert_eq!(fx.a.vm_refcnt(), 2);
        fx.expect_events(&["T2 ACQ(VA,0,1,1,1)"]);
        assert!(fx.m.remove_vma(&fx.a));
        let d = t1.start(|| vma_mark_detached(&fx.a).unwrap());
        fx.k.wait_until_blocked(t1.id());
        assert_eq!(fx.a.vm_refcnt(), F + 1, "attach reference dropped (1), flag added, sleeping for target F");
        p2.resume();
        d.wait();
        assert!(r.wait().is_none());
        fx.expect_events(&["T1 ACQ(VA,0,0,0,1)", "T2 REL(VA)", "T1 ACQUIRED(VA)", "T1 REL(VA)"]);
        assert_eq!(fx.a.vm_refcnt(), 0);
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s37_straggler_leaves_before_the_flag_add() {
    // P4: the attach reference is dropped with one straggler left; the
    // straggler leaves before the flag add, which then fails (count 0):
    // detached, no hooks, no wait.
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        let p1 = fx.k.pause_thread_at(PausePoint::P1, t2.id());
        let p2 = fx.k.pause_thread_at(PausePoint::P2, t2.id());
        let r = t2.start(|| lock_vma_under_rcu(&fx.m, 0x1800));
        p1.wait_reached();
        t1.run(|| vma_start_write(&fx.a).unwrap());
        p1.resume();
        p2.wait_reached();
        fx.m.remove_vma(&fx.a);
        let p4 = fx.k.pause_thread_at(PausePoint::P4, t1.id());
        fx.v.clear_events();
        let d = t1.start(|| vma_mark_detached(&fx.a).unwrap());
        p4.wait_reached();
        assert_eq!(fx.a.vm_refcnt(), 1, "one straggler, no attach reference");
        p2.resume();
        assert!(r.wait().is_none());
        assert_eq!(fx.a.vm_refcnt(), 0);
        p4.resume();
        d.wait();
        fx.expect_events(&["T2 REL(VA)"]);
        assert_eq!(fx.a.vm_refcnt(), 0);
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

fn s40(fx: &Fix) {
    std::thread::scope(|s| {
        let (t1, t3) = (fx.actor(s, "T1"), fx.actor(s, "T3"));
        assert!(t3.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).is_some());
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            fx.m.remove_vma(&fx.a);
        });
        fx.v.clear_events();
        let d = t1.start(|| vma_mark_detached(&fx.a).unwrap());
        fx.k.wait_until_blocked(t1.id());
        assert_eq!(fx.a.vm_refcnt(), F + 1);
        t3.run(|| vma_end_read(&fx.a));
        d.wait();
        assert_eq!(fx.a.vm_refcnt(), 0);
        fx.expect_events(&["T1 ACQ(VA,0,0,0,1)", "T3 REL(VA)", "T1 ACQUIRED(VA)", "T1 REL(VA)"]);
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s40_detach_while_a_real_reader_holds_the_vma() {
    let fx = Fix::new();
    s40(&fx);
    fx.expect_warnings(&[("T1", VmaNotWriteLocked)]);
}

#[test]
fn s40_detach_while_a_real_reader_holds_the_vma_no_debug_vm() {
    let fx = Fix::no_debug_vm();
    s40(&fx);
    fx.expect_no_warnings();
}

#[test]
fn s41_detach_a_detached_vma() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
            fx.m.remove_vma(&fx.a);
            vma_mark_detached(&fx.a).unwrap();
        });
        fx.expect_no_warnings();
        // Again: the kernel saturates the counter and waits forever; the
        // model poisons it and tells the caller.
        let err = t1.run(|| vma_mark_detached(&fx.a)).expect_err("no detach of a detached VMA");
        assert_eq!(err.wait(), BlockedOn::ExcludeReaders { mm: fx.m.id(), vma: fx.a.id(), target: F });
        assert!(err.reason().contains("saturated"), "{}", err.reason());
        let ids: Vec<WarningId> = fx.take_warnings().into_iter().map(|(_, id)| id).collect();
        assert!(ids.contains(&VmaNotAttached), "{ids:?}");
        assert!(ids.contains(&RefcountMisuse), "{ids:?}");
        assert!(ids.contains(&WaitWouldHang), "{ids:?}");
        assert_eq!(ids.first(), Some(&VmaNotAttached));
        assert_eq!(ids.last(), Some(&DetachNotComplete));
        assert!(fx.a.vm_refcnt() < 0, "poisoned");
        // A poisoned VMA refuses readers and does not hang writers.
        assert!(!t1.run(|| vma_start_read_locked(&fx.a)));
        t1.run(|| mmap_write_unlock(&fx.m));
    });
}
