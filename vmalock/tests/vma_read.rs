//! §5.3: VMA read locking (S21–S34).

mod common;

use std::sync::Arc;

use common::*;
use lockdep::ReportKind;
use vmalock::WarningId::*;
use vmalock::*;

#[test]
fn s21_rcu_read_lock_round_trip() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        let a = t1.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A");
        assert!(Arc::ptr_eq(&a, &fx.a));
        assert_eq!(fx.a.vm_refcnt(), 2);
        fx.expect_events(&["T1 ACQ(VA,0,1,1,1)"]);
        t1.run(|| {
            vma_assert_locked(&fx.a);
            vma_assert_stabilised(&fx.a);
        });
        fx.expect_no_warnings();
        t1.run(|| vma_end_read(&fx.a));
        fx.expect_events(&["T1 REL(VA)"]);
        assert_eq!(fx.a.vm_refcnt(), 1);
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s22_lookup_miss() {
    let fx = Fix::new();
    let before = fx.k.vma_lock_events();
    assert!(fx.main(|| lock_vma_under_rcu(&fx.m, 0x4000)).is_none());
    assert_eq!(fx.k.vma_lock_events().abort, before.abort + 1);
    fx.expect_events(&[]);
    fx.expect_no_warnings();
}

#[test]
fn s24_detached_vma_triggers_a_retry() {
    let fx = Fix::new();
    let a2 = fx.new_vma(0x1000, 0x2000, "VA2");
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        let p0 = fx.k.pause_thread_at(PausePoint::P0, t2.id());
        let r = t2.start(|| lock_vma_under_rcu(&fx.m, 0x1800));
        p0.wait_reached();
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
            vma_start_write(&a2).unwrap();
            vma_mark_attached(&a2);
            let displaced = fx.m.insert_vma(&a2);
            assert!(displaced.len() == 1 && Arc::ptr_eq(&displaced[0], &fx.a));
            vma_mark_detached(&fx.a).unwrap();
            mmap_write_unlock(&fx.m);
        });
        assert_eq!((fx.a.vm_refcnt(), fx.m.mm_lock_seq()), (0, 4));
        fx.v.clear_events();
        let before = fx.k.vma_lock_events();
        p0.resume();
        let got = r.wait().expect("A2 after the retry");
        assert!(Arc::ptr_eq(&got, &a2));
        assert_eq!(a2.vm_refcnt(), 2);
        assert_eq!(fx.a.vm_refcnt(), 0);
        fx.expect_events(&["T2 ACQ(VA2,0,1,1,1)"]);
        let after = fx.k.vma_lock_events();
        assert_eq!((after.miss, after.abort), (before.miss + 1, before.abort));
        t2.run(move || vma_end_read(&got));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s24_vma_start_read_on_a_detached_vma() {
    let fx = Fix::new();
    fx.main(|| {
        mmap_write_lock(&fx.m).unwrap();
        vma_start_write(&fx.a).unwrap();
        fx.m.remove_vma(&fx.a);
        vma_mark_detached(&fx.a).unwrap();
        mmap_write_unlock(&fx.m);
        fx.v.clear_events();
        rcu_read_lock();
        assert_eq!(vma_start_read(&fx.m, &fx.a).unwrap_err(), Errno::EAGAIN);
        // RCU was ended by vma_start_read.
        if lockdep::ENABLED {
            assert!(!rcu_read_lock_held());
        }
    });
    fx.expect_events(&[]);
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s26_vma_recycled_into_another_range() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        let p0 = fx.k.pause_thread_at(PausePoint::P0, t2.id());
        let r = t2.start(|| lock_vma_under_rcu(&fx.m, 0x1800));
        p0.wait_reached();
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
            fx.m.remove_vma(&fx.a);
            vma_mark_detached(&fx.a).unwrap();
            fx.a.recycle(&fx.m, 0x7000, 0x8000);
            vma_start_write(&fx.a).unwrap();
            vma_mark_attached(&fx.a);
            fx.m.insert_vma(&fx.a);
            mmap_write_unlock(&fx.m);
        });
        fx.v.clear_events();
        let before = fx.k.vma_lock_events();
        p0.resume();
        assert!(r.wait().is_none());
        fx.expect_events(&["T2 ACQ(VA,0,1,1,1)", "T2 REL(VA)"]);
        assert_eq!(fx.a.vm_refcnt(), 1);
        let after = fx.k.vma_lock_events();
        assert_eq!((after.miss, after.abort), (before.miss, before.abort + 1), "no retry");
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s26_vma_recycled_into_another_mm() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        let p0 = fx.k.pause_thread_at(PausePoint::P0, t2.id());
        let r = t2.start(|| lock_vma_under_rcu(&fx.m, 0x1800));
        p0.wait_reached();
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
            fx.m.remove_vma(&fx.a);
            vma_mark_detached(&fx.a).unwrap();
            mmap_write_unlock(&fx.m);
            mmap_write_lock(&fx.n).unwrap();
            fx.a.recycle(&fx.n, 0x1000, 0x2000);
            vma_start_write(&fx.a).unwrap();
            vma_mark_attached(&fx.a);
            fx.n.insert_vma(&fx.a);
            mmap_write_unlock(&fx.n);
        });
        assert_eq!((fx.a.vm_lock_seq(), fx.n.mm_lock_seq(), fx.m.mm_lock_seq()), (1, 2, 4));
        fx.v.clear_events();
        p0.resume();
        assert!(r.wait().is_none(), "vm_mm != mm");
        fx.expect_events(&["T2 ACQ(VA,0,1,1,1)", "T2 REL(VA)"]);
        assert_eq!(fx.a.vm_refcnt(), 1);
        // In N it is an ordinary VMA.
        let a = t2.run(|| lock_vma_under_rcu(&fx.n, 0x1800)).expect("A in N");
        t2.run(move || vma_end_read(&a));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s28_vma_start_read_locked_under_the_mmap_read_lock() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        assert!(t1.run(|| {
            mmap_read_lock(&fx.m).unwrap();
            let ok = vma_start_read_locked(&fx.a);
            mmap_read_unlock(&fx.m);
            ok
        }));
        fx.expect_events(&["T1 ACQ(M,0,0,1,1)", "T1 ACQUIRED(M)", "T1 ACQ(VA,0,1,1,1)", "T1 REL(M)"]);
        assert_eq!(fx.a.vm_refcnt(), 2);
        t1.run(|| {
            vma_assert_locked(&fx.a);
            vma_assert_stabilised(&fx.a);
        });
        fx.expect_no_warnings();
        t1.run(|| vma_end_read(&fx.a));
        assert_eq!(fx.a.vm_refcnt(), 1);
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s29_vma_start_read_locked_at_the_ceiling_and_lock_next_vma() {
    let fx = Fix::new();
    fx.a.set_vm_refcnt(VM_REFCNT_LIMIT);
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        assert!(!t1.run(|| {
            mmap_read_lock(&fx.m).unwrap();
            let ok = vma_start_read_locked(&fx.a);
            mmap_read_unlock(&fx.m);
            ok
        }));
        fx.expect_events(&["T1 ACQ(M,0,0,1,1)", "T1 ACQUIRED(M)", "T1 REL(M)"]);
        let r = t1.run(|| {
            rcu_read_lock();
            let mut it = VmaIterator::new(0);
            let r = lock_next_vma(&fx.m, &mut it, 0);
            let held = rcu_read_lock_held();
            rcu_read_unlock();
            (r, held, it.index())
        });
        assert_eq!(r.0.unwrap_err(), Errno::EAGAIN);
        assert!(r.1, "RCU re-entered");
        assert_eq!(r.2, 0, "iterator at from_addr");
        fx.expect_events(&["T1 ACQ(M,0,0,1,1)", "T1 ACQUIRED(M)", "T1 REL(M)"]);
        assert_eq!(fx.a.vm_refcnt(), VM_REFCNT_LIMIT);
    });
    fx.a.set_vm_refcnt(1);
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s30_vma_start_read_locked_without_any_mmap_lock() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        assert!(t1.run(|| vma_start_read_locked(&fx.a)));
        fx.expect_warnings(&[("T1", MmapNotHeld)]);
        fx.expect_events(&["T1 ACQ(VA,0,1,1,1)"]);
        assert_eq!(fx.a.vm_refcnt(), 2);
        t1.run(|| vma_end_read(&fx.a));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s30_another_thread_holding_the_mmap_lock_hides_it_without_lockdep() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t2.run(|| mmap_read_lock(&fx.m).unwrap());
        assert!(t1.run(|| vma_start_read_locked(&fx.a)));
        if lockdep::ENABLED {
            fx.expect_warnings(&[("T1", MmapNotHeld)]);
        } else {
            fx.expect_no_warnings(); // [!L]: somebody holds it
        }
        t1.run(|| vma_end_read(&fx.a));
        t2.run(|| mmap_read_unlock(&fx.m));
    });
}

#[test]
fn s31_nested_read_locks_of_two_vmas() {
    for b_first in [true, false] {
        let fx = Fix::new();
        std::thread::scope(|s| {
            let t1 = fx.actor(s, "T1");
            assert_eq!(
                t1.run(|| {
                    mmap_read_lock(&fx.m).unwrap();
                    let a = vma_start_read_locked(&fx.a);
                    let b = vma_start_read_locked_nested(&fx.b, 1);
                    mmap_read_unlock(&fx.m);
                    (a, b)
                }),
                (true, true)
            );
            fx.expect_events(&[
                "T1 ACQ(M,0,0,1,1)",
                "T1 ACQUIRED(M)",
                "T1 ACQ(VA,0,1,1,1)",
                "T1 ACQ(VB,0,1,1,1)",
                "T1 REL(M)",
            ]);
            if b_first {
                t1.run(|| {
                    vma_end_read(&fx.b);
                    vma_end_read(&fx.a);
                });
                fx.expect_events(&["T1 REL(VB)", "T1 REL(VA)"]);
            } else {
                t1.run(|| {
                    vma_end_read(&fx.a);
                    vma_end_read(&fx.b);
                });
                fx.expect_events(&["T1 REL(VA)", "T1 REL(VB)"]);
            }
            assert_eq!((fx.a.vm_refcnt(), fx.b.vm_refcnt()), (1, 1));
        });
        fx.expect_reports(&[]);
        fx.expect_invariants_hold();
        fx.expect_no_warnings();
    }
}

#[test]
fn s33_unbalanced_vma_end_read() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| vma_end_read(&fx.a));
        fx.expect_reports(&[ReportKind::UnlockImbalance]);
        assert_eq!(fx.a.vm_refcnt(), 0);
        assert!(!vma_is_attached(&fx.a));
        assert!(fx.m.vma_lookup(0x1800).is_some_and(|v| Arc::ptr_eq(&v, &fx.a)), "still in the tree");
        assert_eq!(
            t1.run(|| {
                rcu_read_lock();
                vma_start_read(&fx.m, &fx.a)
            })
            .unwrap_err(),
            Errno::EAGAIN
        );
        fx.expect_no_warnings();
        // The kernel would retry forever; the model gives up and reports.
        let before = fx.k.vma_lock_events();
        assert!(t1.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).is_none());
        fx.expect_warnings(&[("T1", EagainLoop)]);
        let after = fx.k.vma_lock_events();
        let limit = u64::from(fx.k.config().eagain_retry_limit);
        assert_eq!((after.miss, after.abort), (before.miss + limit, before.abort + 1));
    });
}

#[test]
fn s34_lock_next_vma_iteration() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        let got = t1.run(|| {
            rcu_read_lock();
            let mut it = VmaIterator::new(0);
            let mut got = Vec::new();
            for from in [0, 0x2000, 0x3000, 0x6000] {
                let r = lock_next_vma(&fx.m, &mut it, from).expect("no error");
                assert!(rcu_read_lock_held());
                got.push(r);
            }
            rcu_read_unlock();
            got
        });
        assert!(Arc::ptr_eq(got[0].as_ref().unwrap(), &fx.a));
        assert!(Arc::ptr_eq(got[1].as_ref().unwrap(), &fx.b));
        assert!(Arc::ptr_eq(got[2].as_ref().unwrap(), &fx.c));
        assert!(got[3].is_none());
        fx.expect_events(&["T1 ACQ(VA,0,1,1,1)", "T1 ACQ(VB,0,1,1,1)", "T1 ACQ(VC,0,1,1,1)"]);
        for x in [&fx.a, &fx.b, &fx.c] {
            assert_eq!(x.vm_refcnt(), 2);
        }
        t1.run(|| {
            for x in [&fx.a, &fx.b, &fx.c] {
                vma_end_read(x);
            }
        });
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s34_gap_recheck_during_a_write_hold() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        // A write hold is in progress (odd sequence), but C is not locked:
        // the gap before C is re-checked and C is still the next VMA.
        t2.run(|| mmap_write_lock(&fx.m).unwrap());
        let got = t1.run(|| {
            rcu_read_lock();
            let mut it = VmaIterator::new(0x3000);
            let r = lock_next_vma(&fx.m, &mut it, 0x3000);
            rcu_read_unlock();
            (r, it.index())
        });
        let c = got.0.unwrap().expect("C");
        assert!(Arc::ptr_eq(&c, &fx.c));
        assert_eq!(got.1, 0x6000);
        t1.run(move || vma_end_read(&c));
        t2.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
}

#[test]
fn s34_lock_next_vma_falls_back_for_a_write_locked_vma() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t2.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.b).unwrap();
        });
        // The fallback needs the mmap read lock: it blocks until T2 unlocks.
        let r = t1.start(|| {
            rcu_read_lock();
            let mut it = VmaIterator::new(0x2000);
            let r = lock_next_vma(&fx.m, &mut it, 0x2000);
            rcu_read_unlock();
            (r, it.index())
        });
        fx.k.wait_until_blocked(t1.id());
        fx.v.clear_events();
        t2.run(|| mmap_write_unlock(&fx.m));
        let (r, idx) = r.wait();
        let b = r.unwrap().expect("B via the fallback");
        assert!(Arc::ptr_eq(&b, &fx.b));
        assert_eq!(idx, 0x3000);
        fx.expect_events(&["T2 REL(M)", "T1 ACQUIRED(M)", "T1 ACQ(VB,0,1,1,1)", "T1 REL(M)"]);
        t1.run(move || vma_end_read(&b));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn rcu_not_held_is_reported_with_lockdep() {
    let fx = Fix::new();
    let a = fx.main(|| {
        let mut it = VmaIterator::new(0);
        lock_next_vma(&fx.m, &mut it, 0).unwrap().unwrap()
    });
    if lockdep::ENABLED {
        // lock_next_vma checks, and so does the vma_start_read it calls.
        fx.expect_warnings(&[("main", RcuNotHeld), ("main", RcuNotHeld)]);
    } else {
        fx.expect_no_warnings();
    }
    fx.main(|| vma_end_read(&a));
}
