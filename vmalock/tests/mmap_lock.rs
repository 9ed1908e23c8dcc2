//! §5.1: the mmap lock (S1–S10).

mod common;

use common::*;
use vmalock::WarningId::*;
use vmalock::*;

#[test]
fn s01_read_lock_round_trip() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| {
            mmap_read_lock(&fx.m).unwrap();
            mmap_read_unlock(&fx.m);
        });
    });
    fx.expect_events(&["T1 ACQ(M,0,0,1,1)", "T1 ACQUIRED(M)", "T1 REL(M)"]);
    assert_eq!(fx.m.mm_lock_seq(), 2);
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s01_scoped_guard() {
    let fx = Fix::new();
    fx.main(|| {
        let g = MmapReadGuard::new(&fx.m);
        mmap_assert_locked(&fx.m);
        drop(g);
    });
    fx.expect_events(&["main ACQ(M,0,0,1,1)", "main ACQUIRED(M)", "main REL(M)"]);
    assert!(!fx.m.mmap_lock_is_locked());
    fx.expect_no_warnings();
}

#[test]
fn s02_read_trylock() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t2.run(|| mmap_write_lock(&fx.m).unwrap());
        assert_eq!(fx.m.mm_lock_seq(), 3);
        fx.v.clear_events();
        assert!(!t1.run(|| mmap_read_trylock(&fx.m)));
        fx.expect_events(&[]);
        t2.run(|| mmap_write_unlock(&fx.m));
        assert_eq!(fx.m.mm_lock_seq(), 4);
        fx.v.clear_events();
        assert!(t1.run(|| mmap_read_trylock(&fx.m)));
        fx.expect_events(&["T1 ACQ(M,0,1,1,1)"]);
        t1.run(|| mmap_read_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s03_write_lock_unlock_and_the_sequence() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        fx.expect_events(&["T1 ACQ(M,0,0,0,1)", "T1 ACQUIRED(M)"]);
        assert_eq!(fx.m.mm_lock_seq(), 3);
        // The sequence is incremented before REL(M): a reader of the seq
        // that saw the lock released also sees the even value.
        t1.run(|| mmap_write_unlock(&fx.m));
        assert_eq!(fx.m.mm_lock_seq(), 4);
        fx.expect_events(&["T1 REL(M)"]);
        // Variant: nested.
        t1.run(|| mmap_write_lock_nested(&fx.m, 1).unwrap());
        fx.expect_events(&["T1 ACQ(M,1,0,0,1)", "T1 ACQUIRED(M)"]);
        assert_eq!(fx.m.mm_lock_seq(), 5);
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s04_contended_write_lock() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t2.run(|| mmap_read_lock(&fx.m).unwrap());
        fx.v.clear_events();
        let w = t1.start(|| mmap_write_lock(&fx.m).unwrap());
        fx.k.wait_until_blocked(t1.id());
        fx.expect_events(&["T1 ACQ(M,0,0,0,1)", "T1 CONTENDED(M)"]);
        assert_eq!(fx.m.mm_lock_seq(), 2);
        assert!(mmap_lock_is_contended(&fx.m));
        t2.run(|| mmap_read_unlock(&fx.m));
        w.wait();
        fx.expect_events(&["T2 REL(M)", "T1 ACQUIRED(M)"]);
        assert_eq!(fx.m.mm_lock_seq(), 3);
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s04_killable_write_lock_interrupted() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t2.run(|| mmap_read_lock(&fx.m).unwrap());
        fx.v.clear_events();
        let w = t1.start(|| mmap_write_lock_killable(&fx.m));
        fx.k.wait_until_blocked(t1.id());
        let signal = fx.k.send_fatal_signal(t1.id());
        assert_eq!(w.wait(), Err(Errno::EINTR));
        fx.expect_events(&["T1 ACQ(M,0,0,0,1)", "T1 CONTENDED(M)", "T1 REL(M)"]);
        assert_eq!(fx.m.mm_lock_seq(), 2);
        assert!(!mmap_lock_is_contended(&fx.m));
        signal.clear();
        t2.run(|| mmap_read_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s04_killable_read_lock_interrupted() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t2.run(|| mmap_write_lock(&fx.m).unwrap());
        fx.v.clear_events();
        let w = t1.start(|| mmap_read_lock_killable(&fx.m));
        fx.k.wait_until_blocked(t1.id());
        let signal = fx.k.send_fatal_signal(t1.id());
        assert_eq!(w.wait(), Err(Errno::EINTR));
        signal.clear();
        fx.expect_events(&["T1 ACQ(M,0,0,1,1)", "T1 CONTENDED(M)", "T1 REL(M)"]);
        t2.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s07_downgrade_releases_vma_write_locks() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
        });
        assert_eq!((fx.m.mm_lock_seq(), fx.a.vm_lock_seq()), (3, 3));
        fx.v.clear_events();
        t1.run(|| mmap_write_downgrade(&fx.m));
        assert_eq!(fx.m.mm_lock_seq(), 4);
        fx.expect_events(&["T1 DOWNGRADE(M)"]);
        t1.run(|| mmap_assert_locked(&fx.m));
        fx.expect_no_warnings();
        t1.run(|| mmap_assert_write_locked(&fx.m));
        fx.expect_warnings(&[("T1", MmapNotWriteHeld)]);
        let got = t2.run(|| lock_vma_under_rcu(&fx.m, 0x1800));
        assert!(got.as_ref().is_some_and(|v| std::sync::Arc::ptr_eq(v, &fx.a)));
        assert_eq!(fx.a.vm_refcnt(), 2);
        assert!(fx.m.mmap_lock_is_locked(), "T1 still holds M shared");
        t1.run(|| vma_assert_write_locked(&fx.a));
        fx.expect_warnings(&[("T1", MmapNotWriteHeld), ("T1", VmaNotWriteLocked)]);
        t2.run(|| vma_end_read(&fx.a));
        t1.run(|| mmap_read_unlock(&fx.m));
    });
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s08_write_lock_two_vmas_unlock_all() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
            vma_start_write(&fx.b).unwrap();
        });
        fx.v.clear_events();
        let before = fx.k.vma_lock_events();
        assert!(t2.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).is_none());
        assert_eq!(fx.a.vm_refcnt(), 1);
        fx.expect_events(&[]);
        assert_eq!(fx.k.vma_lock_events().abort, before.abort + 1);
        let c = t2.run(|| lock_vma_under_rcu(&fx.m, 0x5800)).expect("C is not write-locked");
        assert!(std::sync::Arc::ptr_eq(&c, &fx.c));
        t2.run(move || vma_end_read(&c));
        t1.run(|| mmap_write_unlock(&fx.m));
        assert_eq!(fx.m.mm_lock_seq(), 4);
        let a = t2.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A is unlocked");
        assert!(std::sync::Arc::ptr_eq(&a, &fx.a));
        assert_eq!(fx.a.vm_refcnt(), 2);
        assert_eq!(fx.a.vm_lock_seq(), 3, "nothing is written to the VMA at unlock");
        t2.run(move || vma_end_read(&a));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s10_manual_vma_end_write_all() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
            vma_end_write_all(&fx.m);
        });
        assert_eq!(fx.m.mm_lock_seq(), 4);
        assert!(fx.m.mmap_lock_is_write_locked());
        assert!(!t1.run(|| __is_vma_write_locked(&fx.a)));
        let a = t2.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("A was released");
        t2.run(move || vma_end_read(&a));
        t1.run(|| mmap_write_unlock(&fx.m));
        assert_eq!(fx.m.mm_lock_seq(), 5, "odd while unlocked");
        assert_eq!(mmap_lock_speculate_try_begin(&fx.m), None);
        // §1.5 invariant 5 (parity) is what a manual vma_end_write_all breaks.
        let broken: Vec<Invariant> = fx.k.invariant_violations().iter().map(|v| v.invariant).collect();
        assert_eq!(broken, [Invariant::MmLockSeqParity]);
        assert_eq!(broken[0].to_string(), "§1.5 invariant 5 (parity)");
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
}

#[test]
fn speculation_sees_write_holds() {
    let fx = Fix::new();
    fx.main(|| {
        let seq = mmap_lock_speculate_try_begin(&fx.m).expect("even");
        assert!(!mmap_lock_speculate_retry(&fx.m, seq));
        mmap_write_lock(&fx.m).unwrap();
        assert_eq!(mmap_lock_speculate_try_begin(&fx.m), None);
        assert!(mmap_lock_speculate_retry(&fx.m, seq));
        mmap_write_unlock(&fx.m);
        assert!(mmap_lock_speculate_retry(&fx.m, seq));
    });
}

#[test]
fn write_trylock_extension() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t2.run(|| mmap_read_lock(&fx.m).unwrap());
        fx.v.clear_events();
        assert!(!t1.run(|| mmap_write_trylock(&fx.m)));
        fx.expect_events(&[]);
        t2.run(|| mmap_read_unlock(&fx.m));
        fx.v.clear_events();
        assert!(t1.run(|| mmap_write_trylock(&fx.m)));
        fx.expect_events(&["T1 ACQ(M,0,1,0,1)"]);
        assert_eq!(fx.m.mm_lock_seq(), 3);
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
}

#[test]
fn writer_preference_queues_new_readers() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2, t3) = (fx.actor(s, "T1"), fx.actor(s, "T2"), fx.actor(s, "T3"));
        t1.run(|| mmap_read_lock(&fx.m).unwrap());
        let w = t2.start(|| mmap_write_lock(&fx.m).unwrap());
        fx.k.wait_until_blocked(t2.id());
        // A queued writer makes the trylock fail and new readers wait.
        assert!(!t3.run(|| mmap_read_trylock(&fx.m)));
        let r = t3.start(|| mmap_read_lock(&fx.m).unwrap());
        fx.k.wait_until_blocked(t3.id());
        t1.run(|| mmap_read_unlock(&fx.m));
        w.wait();
        assert_eq!(fx.m.mm_lock_seq(), 3);
        t2.run(|| mmap_write_unlock(&fx.m));
        r.wait();
        t3.run(|| mmap_read_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}
