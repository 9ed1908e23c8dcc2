//! §5.2: VMA write locking (S11–S19).

mod common;

use common::*;
use vmalock::WarningId::*;
use vmalock::*;

#[test]
fn s11_attach_flow_for_a_new_vma() {
    let fx = Fix::new();
    fx.main(|| {
        mmap_write_lock(&fx.m).unwrap();
        assert_eq!(fx.m.mm_lock_seq(), 3);
        let d = fx.new_vma(0x8000, 0x9000, "VD");
        assert_eq!((d.vm_refcnt(), d.vm_lock_seq()), (0, u32::MAX));
        fx.v.clear_events();
        vma_start_write(&d).unwrap();
        fx.expect_events(&[]);
        assert_eq!(d.vm_lock_seq(), 3);
        vma_mark_attached(&d);
        fx.expect_events(&[]);
        assert_eq!(d.vm_refcnt(), 1);
        vma_assert_attached(&d);
        mmap_write_unlock(&fx.m);
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

fn s12(fx: &Fix) {
    fx.main(|| {
        mmap_write_lock(&fx.m).unwrap();
        let d = fx.new_vma(0x8000, 0x9000, "VD");
        vma_mark_attached(&d); // without vma_start_write
        assert_eq!(d.vm_refcnt(), 1, "the store happens anyway");
        mmap_write_unlock(&fx.m);
    });
}

#[test]
fn s12_attach_without_write_lock() {
    let fx = Fix::new();
    s12(&fx);
    fx.expect_warnings(&[("main", VmaNotWriteLocked)]);
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s12_attach_without_write_lock_no_debug_vm() {
    let fx = Fix::no_debug_vm();
    s12(&fx);
    fx.expect_no_warnings();
}

#[test]
fn s14_write_lock_of_an_attached_idle_vma() {
    let fx = Fix::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let seen = seen.clone();
        fx.k.set_pause_hook(Some(std::sync::Arc::new(move |p, v: &Vma| {
            if p == PausePoint::P3 {
                seen.lock().unwrap().push(v.vm_refcnt());
            }
        })));
    }
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        fx.v.clear_events();
        t1.run(|| vma_start_write(&fx.a).unwrap());
        fx.expect_events(&["T1 ACQ(VA,0,0,0,1)", "T1 ACQUIRED(VA)", "T1 REL(VA)"]);
        assert_eq!(*seen.lock().unwrap(), [F + 1]);
        assert_eq!((fx.a.vm_refcnt(), fx.a.vm_lock_seq()), (1, 3));
        assert!(!fx.k.is_blocked(t1.id()));
        // Again: the fast path.
        t1.run(|| vma_start_write(&fx.a).unwrap());
        fx.expect_events(&[]);
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert_eq!(fx.a.vm_refcnt(), 1);
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.k.set_pause_hook(None);
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s15_stale_write_lock_from_an_earlier_cycle() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
            mmap_write_unlock(&fx.m);
            mmap_write_lock(&fx.m).unwrap();
        });
        assert_eq!((fx.a.vm_lock_seq(), fx.m.mm_lock_seq()), (3, 5));
        fx.v.clear_events();
        t1.run(|| vma_start_write(&fx.a).unwrap());
        fx.expect_events(&["T1 ACQ(VA,0,0,0,1)", "T1 ACQUIRED(VA)", "T1 REL(VA)"]);
        assert_eq!(fx.a.vm_lock_seq(), 5);
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s16_writer_waits_for_a_real_reader() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2, t3) = (fx.actor(s, "T1"), fx.actor(s, "T2"), fx.actor(s, "T3"));
        assert!(t3.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).is_some());
        assert_eq!(fx.a.vm_refcnt(), 2);
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        fx.v.clear_events();
        let w = t1.start(|| vma_start_write(&fx.a).unwrap());
        fx.k.wait_until_blocked(t1.id());
        fx.expect_events(&["T1 ACQ(VA,0,0,0,1)"]);
        assert_eq!(fx.a.vm_refcnt(), F + 2);
        let before = fx.k.vma_lock_events();
        assert!(t2.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).is_none());
        assert_eq!(fx.k.vma_lock_events().miss, before.miss, "not a retry");
        assert_eq!(fx.a.vm_refcnt(), F + 2);
        fx.expect_events(&[]);
        t3.run(|| vma_end_read(&fx.a));
        w.wait();
        fx.expect_events(&["T3 REL(VA)", "T1 ACQUIRED(VA)", "T1 REL(VA)"]);
        assert_eq!((fx.a.vm_refcnt(), fx.a.vm_lock_seq()), (1, 3));
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s18_killable_with_signal_pending_but_no_readers() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        let signal = fx.k.send_fatal_signal(t1.id());
        assert_eq!(t1.run(|| vma_start_write_killable(&fx.a)), Ok(()));
        assert_eq!(fx.a.vm_lock_seq(), 3);
        assert!(t1.run(|| __is_vma_write_locked(&fx.a)));
        signal.clear();
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s18_killable_interrupted_while_readers_remain() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t3) = (fx.actor(s, "T1"), fx.actor(s, "T3"));
        assert!(t3.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).is_some());
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        fx.v.clear_events();
        let w = t1.start(|| vma_start_write_killable(&fx.a));
        fx.k.wait_until_blocked(t1.id());
        let signal = fx.k.send_fatal_signal(t1.id());
        assert_eq!(w.wait(), Err(Errno::EINTR));
        fx.expect_events(&["T1 ACQ(VA,0,0,0,1)", "T1 REL(VA)"]);
        assert_eq!(fx.a.vm_refcnt(), 2, "flag removed, reader still there");
        assert_eq!(fx.a.vm_lock_seq(), 1, "not write-locked");
        signal.clear();
        t3.run(|| vma_end_read(&fx.a));
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s18_detached_vma_killable_always_succeeds() {
    let fx = Fix::new();
    let d = fx.new_vma(0x8000, 0x9000, "VD");
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        let signal = fx.k.send_fatal_signal(t1.id());
        fx.v.clear_events();
        assert_eq!(t1.run(|| vma_start_write_killable(&d)), Ok(()));
        fx.expect_events(&[]);
        assert_eq!(d.vm_lock_seq(), 3);
        signal.clear();
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_no_warnings();
}

#[test]
fn s19_write_lock_without_the_mmap_write_lock() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t1.run(|| mmap_read_lock(&fx.m).unwrap());
        fx.v.clear_events();
        t1.run(|| vma_start_write(&fx.a).unwrap());
        fx.expect_warnings(&[("T1", MmapNotWriteHeld), ("T1", MmapNotWriteHeld), ("T1", MmapNotWriteHeld)]);
        fx.expect_events(&["T1 ACQ(VA,0,0,0,1)", "T1 ACQUIRED(VA)", "T1 REL(VA)"]);
        assert_eq!(fx.a.vm_lock_seq(), 2, "the current even value");
        let broken: Vec<Invariant> = fx.k.invariant_violations().iter().map(|v| v.invariant).collect();
        assert_eq!(
            broken,
            [Invariant::FlagOwnership, Invariant::WriteLockDefinition, Invariant::WriteLockImpliesMmapWriteLock],
            "flag ownership, odd seq, write lock implies mmap write lock"
        );
        assert_eq!(broken.iter().map(|i| i.number()).collect::<Vec<_>>(), [1, 4, 6], "their numbers in §1.5");
        assert!(t2.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).is_none());
        t1.run(|| mmap_read_unlock(&fx.m));
        assert!(t2.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).is_none(), "until the sequence changes");
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            mmap_write_unlock(&fx.m);
        });
        let a = t2.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).expect("seq moved on");
        t2.run(move || vma_end_read(&a));
    });
    fx.expect_no_warnings();
}
