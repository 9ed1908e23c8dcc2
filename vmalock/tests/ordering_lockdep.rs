//! §5.6, the lock-order scenarios that only lockdep can see (S57, S61):
//! built with the `lockdep` feature only (`required-features`).

mod common;

use common::*;
use lockdep::ReportKind;
use vmalock::*;

#[test]
fn s57_vma_read_lock_then_mmap_lock_inversion() {
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t2.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap(); // records mmap_lock -> vm_lock
            mmap_write_unlock(&fx.m);
        });
        fx.expect_reports(&[]);
        fx.expect_invariants_hold();
        fx.v.clear_events();
        let b = t1.run(|| lock_vma_under_rcu(&fx.m, 0x2800)).expect("B");
        fx.expect_reports(&[]);
        fx.expect_invariants_hold();
        t1.run(|| mmap_read_lock(&fx.m).unwrap());
        fx.expect_reports(&[ReportKind::CircularDependency]);
        let r = &fx.v.reports()[0];
        assert_eq!(r.lock().map(|l| l.instance()), Some(keys::MMAP_LOCK_NAME), "at T1's ACQ(M,0,0,1,1)");
        assert_eq!(r.thread().name(), Some("T1"));
        fx.expect_events(&["T1 ACQ(VB,0,1,1,1)", "T1 ACQ(M,0,0,1,1)", "T1 ACQUIRED(M)"]);
        t1.run(move || {
            mmap_read_unlock(&fx.m);
            vma_end_read(&b);
        });
    });
    fx.expect_no_warnings();
}

#[test]
fn s61_holding_another_vmas_read_lock_while_write_locking() {
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        let b = t1.run(|| lock_vma_under_rcu(&fx.m, 0x2800)).expect("B");
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        fx.expect_reports(&[]);
        fx.expect_invariants_hold();
        fx.v.clear_events();
        t1.run(|| vma_start_write(&fx.a).unwrap());
        fx.expect_reports(&[ReportKind::RecursiveLocking]);
        let r = &fx.v.reports()[0];
        assert_eq!(r.lock().map(|l| l.instance()), Some(keys::VM_LOCK_NAME));
        fx.expect_events(&["T1 ACQ(VA,0,0,0,1)", "T1 ACQUIRED(VA)", "T1 REL(VA)"]);
        assert_eq!(fx.a.vm_lock_seq(), 3, "different VMA: no real wait");
        t1.run(move || {
            mmap_write_unlock(&fx.m);
            vma_end_read(&b);
        });
    });
    fx.expect_no_warnings();
}
