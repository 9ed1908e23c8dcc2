//! Further scenarios written from sections 0–4 (beyond the worked examples
//! of §5): attach misuse, read-locked conversion under the write lock,
//! iterator corner cases, the exclusion error paths and the documented
//! false negatives of the non-lockdep assertions.

mod common;

use std::sync::Arc;

use common::*;
use vmalock::WarningId::*;
use vmalock::*;

#[test]
fn attaching_an_attached_vma() {
    let fx = &Fix::new();
    fx.main(|| {
        mmap_write_lock(&fx.m).unwrap();
        vma_start_write(&fx.a).unwrap();
        vma_mark_attached(&fx.a);
        mmap_write_unlock(&fx.m);
    });
    fx.expect_warnings(&[("main", VmaNotDetached)]);
    assert_eq!(fx.a.vm_refcnt(), 1, "the store happens anyway");
}

#[test]
fn read_locked_conversion_under_the_write_lock_on_a_write_locked_vma() {
    // §2.17: no vm_lock_seq check, so it succeeds even on a VMA the caller
    // has write-locked.
    let fx = &Fix::new();
    fx.main(|| {
        mmap_write_lock(&fx.m).unwrap();
        vma_start_write(&fx.a).unwrap();
        fx.v.clear_events();
        assert!(vma_start_read_locked(&fx.a));
        assert_eq!(fx.a.vm_refcnt(), 2);
        vma_end_read(&fx.a);
        mmap_write_unlock(&fx.m);
    });
    fx.expect_events(&["main ACQ(VA,0,1,1,1)", "main REL(VA)", "main REL(M)"]);
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn lookup_during_an_exclusion_is_refused_not_retried() {
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        // Pause the writer right after the flag add.
        let p3 = fx.k.pause_thread_at(PausePoint::P3, t1.id());
        let w = t1.start(|| vma_start_write(&fx.a).unwrap());
        p3.wait_reached();
        assert_eq!(fx.a.vm_refcnt(), F + 1);
        let before = fx.k.vma_lock_events();
        // The early check passes (A.seq 1, mm seq 3); the increment is refused.
        assert!(t2.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).is_none());
        let after = fx.k.vma_lock_events();
        assert_eq!((after.abort, after.miss), (before.abort + 1, before.miss));
        assert_eq!(fx.a.vm_refcnt(), F + 1);
        p3.resume();
        w.wait();
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
}

#[test]
fn lock_next_vma_retries_after_a_replacement() {
    let fx = &Fix::new();
    let b2 = fx.new_vma(0x2000, 0x3000, "VB2");
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        let p1 = fx.k.pause_vma_at(PausePoint::P1, Some(t2.id()), &fx.b);
        let r = t2.start(|| {
            rcu_read_lock();
            let mut it = VmaIterator::new(0x2000);
            let r = lock_next_vma(&fx.m, &mut it, 0x2000);
            rcu_read_unlock();
            r
        });
        p1.wait_reached();
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.b).unwrap();
            vma_start_write(&b2).unwrap();
            vma_mark_attached(&b2);
            fx.m.insert_vma(&b2);
            vma_mark_detached(&fx.b).unwrap();
            mmap_write_unlock(&fx.m);
        });
        fx.v.clear_events();
        p1.resume();
        let got = r.wait().unwrap().expect("B2 after the retry");
        assert!(Arc::ptr_eq(&got, &b2));
        fx.expect_events(&["T2 ACQ(VB2,0,1,1,1)"]);
        t2.run(move || vma_end_read(&got));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn lock_next_vma_falls_back_when_the_vma_shrank() {
    // from_addr >= vm_end after locking: unlock and take the mmap lock.
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        // The tree still maps A at [0x1000, 0x2000), but A itself now ends
        // at 0x1800 (shrunk after the lookup).
        fx.a.set_range(0x1000, 0x1800);
        let r = t1.run(|| {
            rcu_read_lock();
            let mut it = VmaIterator::new(0x1900);
            let r = lock_next_vma(&fx.m, &mut it, 0x1900);
            rcu_read_unlock();
            (r, it.index())
        });
        let got = r.0.unwrap().expect("a VMA via the fallback");
        // Under the mmap lock the tree walk from 0x1900 finds A's slot again.
        assert!(Arc::ptr_eq(&got, &fx.a));
        assert_eq!(r.1, 0x1800, "iterator at the new vm_end");
        fx.expect_events(&[
            "T1 ACQ(VA,0,1,1,1)",
            "T1 REL(VA)",
            "T1 ACQ(M,0,0,1,1)",
            "T1 ACQUIRED(M)",
            "T1 ACQ(VA,0,1,1,1)",
            "T1 REL(M)",
        ]);
        t1.run(move || vma_end_read(&got));
    });
    fx.expect_no_warnings();
}

#[test]
fn lock_next_vma_fallback_interrupted() {
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t2.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
        });
        let r = t1.start(|| {
            rcu_read_lock();
            let mut it = VmaIterator::new(0);
            let r = lock_next_vma(&fx.m, &mut it, 0);
            let held = rcu_read_lock_held();
            rcu_read_unlock();
            (r, held)
        });
        fx.k.wait_until_blocked(t1.id());
        let signal = fx.k.send_fatal_signal(t1.id());
        let (r, held) = r.wait();
        assert_eq!(r.unwrap_err(), Errno::EINTR);
        assert!(held, "RCU re-entered on every return");
        signal.clear();
        t2.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
}

#[test]
fn start_write_error_but_detached() {
    // A killable writer interrupted when the count (corrupted under it, as
    // an unbalanced vma_end_read would) is exactly F: removing the flag
    // reaches 0.
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let (t1, t3) = (fx.actor(s, "T1"), fx.actor(s, "T3"));
        assert!(t3.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).is_some());
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        let w = t1.start(|| vma_start_write_killable(&fx.a));
        fx.k.wait_until_blocked(t1.id());
        assert_eq!(fx.a.vm_refcnt(), F + 2);
        fx.a.set_vm_refcnt(F);
        let signal = fx.k.send_fatal_signal(t1.id());
        assert_eq!(w.wait(), Err(Errno::EINTR));
        assert_eq!(fx.a.vm_refcnt(), 0);
        signal.clear();
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_warnings(&[("T1", StartWriteErrButDetached)]);
}

#[test]
fn end_exclude_with_detached_already_set() {
    let fx = &Fix::new();
    fx.main(|| {
        mmap_write_lock(&fx.m).unwrap();
        let mut ves = VmaExcludeReadersState::new(&fx.a, TaskState::Uninterruptible, false);
        __vma_start_exclude_readers(&mut ves).unwrap();
        assert!(ves.exclusive && !ves.detached);
        ves.detached = true;
        __vma_end_exclude_readers(&mut ves);
        assert!(!ves.detached, "recomputed: 1 left");
        mmap_write_unlock(&fx.m);
    });
    fx.expect_warnings(&[("main", EndExcludeAlreadyDetached)]);
    assert_eq!(fx.a.vm_refcnt(), 1);
}

#[test]
fn exclusion_in_progress_counts_as_locked_without_lockdep() {
    // §3.4: [!L] treats an exclusion in progress (count > 1) as "locked" —
    // a false negative for a thread that holds nothing.
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let (t1, t2, t3) = (fx.actor(s, "T1"), fx.actor(s, "T2"), fx.actor(s, "T3"));
        let a = t3.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).unwrap();
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        let w = t1.start(|| vma_start_write(&fx.a).unwrap());
        fx.k.wait_until_blocked(t1.id());
        t2.run(|| vma_assert_locked(&fx.a));
        if lockdep::ENABLED {
            fx.expect_warnings(&[("T2", MmapNotWriteHeld), ("T2", VmaNotWriteLocked)]);
        } else {
            fx.expect_no_warnings();
        }
        t3.run(move || vma_end_read(&a));
        w.wait();
        t1.run(|| mmap_write_unlock(&fx.m));
    });
}

#[test]
fn lock_mm_and_find_vma_paths() {
    let fx = &Fix::new();
    fx.c.set_flags(1 << VMA_GROWSDOWN_BIT);
    fx.main(|| {
        let a = lock_mm_and_find_vma(&fx.m, 0x1800, true).expect("A");
        assert!(Arc::ptr_eq(&a, &fx.a));
        mmap_assert_locked(&fx.m);
        mmap_read_unlock(&fx.m);
        // In the gap below B's neighbour C, which grows down: expanded.
        let c = lock_mm_and_find_vma(&fx.m, 0x4800, true).expect("C expanded");
        assert!(Arc::ptr_eq(&c, &fx.c));
        assert_eq!(c.vm_start(), 0x4000);
        assert!(fx.m.vma_lookup(0x4800).is_some_and(|v| Arc::ptr_eq(&v, &fx.c)));
        mmap_read_unlock(&fx.m);
        // Above every VMA: nothing, no lock held.
        assert!(lock_mm_and_find_vma(&fx.m, 0x7000, true).is_none());
        assert!(!fx.m.mmap_lock_is_locked());
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn refcount_constants_and_the_excluded_helper() {
    assert_eq!(F, 0x4000_0000);
    assert_eq!(VM_REFCNT_LIMIT, 0x3FFF_FFFF);
    assert_eq!(VM_REFCNT_LIMIT.checked_add(F), Some(0x7FFF_FFFF), "never overflows");
    // §1.4: "exclusion may just have completed" iff flag set and <= F + 1.
    let cases = [(0, false), (1, false), (2, false), (F, true), (F + 1, true), (F + 2, false)];
    for (v, want) in cases {
        assert_eq!(__vma_are_readers_excluded(v), want, "{v:#x}");
    }
}

#[test]
fn reader_ceiling() {
    let fx = &Fix::new();
    fx.a.set_vm_refcnt(VM_REFCNT_LIMIT - 1);
    let a = fx.main(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("one below the ceiling");
    assert_eq!(fx.a.vm_refcnt(), VM_REFCNT_LIMIT);
    assert!(fx.main(|| lock_vma_under_rcu(&fx.m, 0x1800)).is_none(), "at the ceiling");
    fx.main(|| vma_end_read(&a));
    fx.a.set_vm_refcnt(1);
    fx.expect_no_warnings();
}

#[test]
fn downgrade_lets_queued_readers_in() {
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        let r = t2.start(|| mmap_read_lock(&fx.m).unwrap());
        fx.k.wait_until_blocked(t2.id());
        t1.run(|| mmap_write_downgrade(&fx.m));
        r.wait();
        assert_eq!(fx.m.mm_lock_seq(), 4);
        t1.run(|| mmap_read_unlock(&fx.m));
        t2.run(|| mmap_read_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn is_vma_write_locked_always_asserts() {
    // §2.20: not gated by DEBUG_VM when called directly.
    let fx = &Fix::no_debug_vm();
    assert!(!fx.main(|| __is_vma_write_locked(&fx.a)));
    fx.expect_warnings(&[("main", MmapNotWriteHeld)]);
    let _ = fx.main(|| __vma_raw_mm_seqnum(&fx.a));
    fx.expect_warnings(&[("main", MmapNotWriteHeld)]);
}

#[test]
fn transient_reader_hides_a_missing_lock_without_lockdep() {
    // §3.4/§3.8 Race 1: a transient reader (paused at P2) pushes the count
    // to 2; without lockdep a thread holding nothing passes.
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        let p2 = fx.k.pause_thread_at(PausePoint::P2, t2.id());
        let r = t2.start(|| lock_vma_under_rcu(&fx.m, 0x1800));
        p2.wait_reached();
        t1.run(|| vma_assert_locked(&fx.a));
        if lockdep::ENABLED {
            fx.expect_warnings(&[("T1", MmapNotWriteHeld), ("T1", VmaNotWriteLocked)]);
        } else {
            fx.expect_no_warnings();
        }
        p2.resume();
        let a = r.wait().expect("A");
        t2.run(move || vma_end_read(&a));
    });
}
