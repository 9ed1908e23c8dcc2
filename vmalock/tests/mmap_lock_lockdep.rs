//! §5.1, the mmap-lock scenarios that need lockdep compiled in (S3, S6):
//! built with the `lockdep` feature only (`required-features`).

mod common;

use common::*;
use lockdep::ReportKind;
use vmalock::WarningId::*;
use vmalock::*;

#[test]
fn s03_sequence_moves_before_rel_and_downgrade() {
    // S3: the sequence is incremented *before* REL(M) (and before
    // DOWNGRADE(M)). Observed at the hook itself: the acquisition is
    // recorded by one validator, the release by another, where it is an
    // imbalance whose report callback runs synchronously inside the hook.
    use std::sync::{Arc, Mutex};
    let k = Kernel::new(VmConfig::default());
    let m = Mm::new(&k);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let cb = {
        let (m, seen) = (m.clone(), seen.clone());
        lockdep::Action::Callback(Arc::new(move |_: &lockdep::Report| seen.lock().unwrap().push(m.mm_lock_seq())))
    };
    let acquirer = lockdep::Validator::new(lockdep::Config::collect());
    let releaser = lockdep::Validator::new(lockdep::Config::collect().with_action(cb));
    std::thread::scope(|s| {
        s.spawn(|| {
            acquirer.scope(|| mmap_write_lock(&m).unwrap());
            assert_eq!(m.mm_lock_seq(), 1);
            releaser.scope(|| mmap_write_unlock(&m));
            acquirer.scope(|| mmap_write_lock(&m).unwrap());
            assert_eq!(m.mm_lock_seq(), 3);
            releaser.scope(|| mmap_write_downgrade(&m));
            acquirer.scope(|| mmap_read_unlock(&m));
        });
    });
    assert_eq!(*seen.lock().unwrap(), [2, 4], "seq at REL(M), at DOWNGRADE(M)");
    // The releasing validator does not see the write hold either.
    assert_eq!(k.warning_ids(), [MmapNotWriteHeld, MmapNotWriteHeld]);
}

#[test]
fn s06_recursive_mmap_read_lock_is_flagged() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| {
            mmap_read_lock(&fx.m).unwrap();
            mmap_read_lock(&fx.m).unwrap(); // no writer queued: does not block
        });
        fx.expect_reports(&[ReportKind::RecursiveLocking]);
        assert!(!fx.v.is_validating(), "debug_locks is off after the first report");
        t1.run(|| {
            mmap_read_unlock(&fx.m);
            mmap_read_unlock(&fx.m);
        });
    });
    fx.expect_no_warnings();
}
