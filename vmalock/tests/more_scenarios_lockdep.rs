//! Further scenarios (see `more_scenarios.rs`) that need lockdep compiled
//! in: `debug_locks` going off, the inversion found from the writer side.
//! Built with the `lockdep` feature only (`required-features`).

mod common;

use common::*;
use vmalock::WarningId::*;
use vmalock::*;

#[test]
fn debug_locks_off_silences_the_lockdep_assertions() {
    // §0.1/§3.7: after the validator's first report, HELD answers UNKNOWN
    // and the lockdep-based assertions go silent; the DEBUG_VM sequence
    // check does not depend on lockdep.
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| vma_end_read(&fx.b)); // UNLOCK_IMBALANCE: debug_locks off
        fx.b.set_vm_refcnt(1);
        assert!(!fx.v.is_validating());
        t1.run(|| {
            mmap_assert_locked(&fx.m);
            mmap_assert_write_locked(&fx.m);
            vma_assert_stabilised(&fx.a);
            vma_assert_write_locked(&fx.a);
        });
        // Only the sequence mismatch of vma_assert_write_locked remains.
        fx.expect_warnings(&[("T1", VmaNotWriteLocked)]);
    });
}

#[test]
fn inversion_found_from_the_writer_side() {
    // The reverse order of S57: the vm_lock -> mmap_lock edge comes first
    // (a VMA reader taking the mmap lock), then a writer's exclusion
    // closes the cycle at its ACQ(V,0,0,0,1).
    let fx = &Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        let b = t1.run(|| lock_vma_under_rcu(&fx.m, 0x2800)).expect("B");
        t1.run(|| mmap_read_lock(&fx.m).unwrap());
        fx.expect_reports(&[]);
        fx.expect_invariants_hold();
        t1.run(move || {
            mmap_read_unlock(&fx.m);
            vma_end_read(&b);
        });
        t2.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
            mmap_write_unlock(&fx.m);
        });
        fx.expect_reports(&[lockdep::ReportKind::CircularDependency]);
        let r = &fx.v.reports()[0];
        assert_eq!(r.thread().name(), Some("T2"));
        assert_eq!(r.lock().map(|l| l.instance()), Some(keys::VM_LOCK_NAME));
    });
    fx.expect_no_warnings();
}
