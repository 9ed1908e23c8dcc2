//! §5.5: the assertions and the races (S44–S56).

mod common;

use common::*;
use vmalock::WarningId::*;
use vmalock::*;

#[test]
fn s44_mmap_read_lock_is_not_a_vma_lock() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| mmap_read_lock(&fx.m).unwrap());
        t1.run(|| vma_assert_locked(&fx.a));
        fx.expect_warnings(&[("T1", MmapNotWriteHeld), ("T1", VmaNotWriteLocked)]);
        t1.run(|| vma_assert_stabilised(&fx.a));
        fx.expect_no_warnings();
        t1.run(|| mmap_read_unlock(&fx.m));
    });
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s45_vma_write_lock_satisfies_everything() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
            vma_assert_write_locked(&fx.a);
            vma_assert_locked(&fx.a);
            vma_assert_stabilised(&fx.a);
            mmap_write_unlock(&fx.m);
        });
    });
    fx.expect_no_warnings();
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s46_mmap_write_lock_alone() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| mmap_write_lock(&fx.m).unwrap());
        t1.run(|| vma_assert_stabilised(&fx.a));
        fx.expect_no_warnings();
        t1.run(|| vma_assert_locked(&fx.a));
        fx.expect_warnings(&[("T1", VmaNotWriteLocked)]);
        t1.run(|| mmap_write_unlock(&fx.m));
    });
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s47_stabilised_by_a_vma_read_lock_only() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        let a = t1.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).unwrap();
        assert!(!fx.m.mmap_lock_is_locked());
        t1.run(|| vma_assert_stabilised(&fx.a));
        fx.expect_no_warnings();
        t1.run(move || vma_end_read(&a));
    });
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s48_not_stabilised_at_all() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| vma_assert_stabilised(&fx.a));
    });
    fx.expect_warnings(&[("T1", MmapNotWriteHeld), ("T1", VmaNotWriteLocked)]);
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s50_race_2_benign_form() {
    for cfg in [VmConfig::default(), VmConfig::default().with_debug_vm(false)] {
        let fx = Fix::with(cfg);
        std::thread::scope(|s| {
            let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
            let a = t1.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).unwrap();
            t2.run(|| mmap_read_lock(&fx.m).unwrap());
            t1.run(|| vma_assert_stabilised(&fx.a));
            fx.expect_no_warnings();
            t2.run(|| mmap_read_unlock(&fx.m));
            t1.run(move || vma_end_read(&a));
        });
    }
}

#[test]
fn s50_race_2_false_negative_without_lockdep() {
    // T1 holds nothing while T2 holds the mmap lock: without lockdep T1
    // passes (a documented false negative); with lockdep it is reported.
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t2.run(|| mmap_read_lock(&fx.m).unwrap());
        t1.run(|| vma_assert_stabilised(&fx.a));
        if lockdep::ENABLED {
            fx.expect_warnings(&[("T1", MmapNotWriteHeld), ("T1", VmaNotWriteLocked)]);
        } else {
            fx.expect_no_warnings();
        }
        t2.run(|| mmap_read_unlock(&fx.m));
    });
}

#[test]
fn s51_race_1_why_the_vma_check_cannot_come_first() {
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t3) = (fx.actor(s, "T1"), fx.actor(s, "T3"));
        t1.run(|| mmap_read_lock(&fx.m).unwrap());
        let a = t3.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).unwrap();
        assert_eq!(fx.a.vm_refcnt(), 2);
        t1.run(|| vma_assert_locked(&fx.a));
        if lockdep::ENABLED {
            // Exact: T1 holds no VMA lock.
            fx.expect_warnings(&[("T1", MmapNotWriteHeld), ("T1", VmaNotWriteLocked)]);
        } else {
            // [!L][D]: silent, because T3's reader makes the count 2.
            fx.expect_no_warnings();
        }
        t1.run(|| vma_assert_stabilised(&fx.a));
        fx.expect_no_warnings();
        t3.run(move || vma_end_read(&a));
        t1.run(|| vma_assert_locked(&fx.a));
        fx.expect_warnings(&[("T1", MmapNotWriteHeld), ("T1", VmaNotWriteLocked)]);
        t1.run(|| vma_assert_stabilised(&fx.a));
        fx.expect_no_warnings();
        t1.run(|| mmap_read_unlock(&fx.m));
    });
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s51_other_readers_hide_a_missing_lock_without_lockdep() {
    // §3.4: [!L] false negative whenever the count is > 1 because of others.
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t3) = (fx.actor(s, "T1"), fx.actor(s, "T3"));
        let a = t3.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).unwrap();
        t1.run(|| {
            vma_assert_locked(&fx.a);
            vma_assert_stabilised(&fx.a);
        });
        if lockdep::ENABLED {
            fx.expect_warnings(&[
                ("T1", MmapNotWriteHeld),
                ("T1", VmaNotWriteLocked),
                ("T1", MmapNotWriteHeld),
                ("T1", VmaNotWriteLocked),
            ]);
        } else {
            fx.expect_no_warnings();
        }
        t3.run(move || vma_end_read(&a));
    });
}

#[test]
fn s51_another_threads_write_lock_hides_a_missing_lock_without_lockdep() {
    // §3.3/§3.4: [!L] false negative when another thread write-holds the
    // mmap lock and has write-locked this VMA.
    let fx = Fix::new();
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        t2.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&fx.a).unwrap();
        });
        t1.run(|| {
            vma_assert_write_locked(&fx.a);
            vma_assert_locked(&fx.a);
        });
        if lockdep::ENABLED {
            fx.expect_warnings(&[("T1", MmapNotWriteHeld), ("T1", MmapNotWriteHeld)]);
        } else {
            fx.expect_no_warnings();
        }
        t2.run(|| mmap_write_unlock(&fx.m));
    });
}

#[test]
fn s51_detached_in_locked_assert_without_lockdep() {
    let fx = Fix::new();
    let d = fx.new_vma(0x8000, 0x9000, "VD");
    std::thread::scope(|s| {
        let t1 = fx.actor(s, "T1");
        t1.run(|| {
            mmap_write_lock(&fx.m).unwrap();
            vma_start_write(&d).unwrap();
            // Detached and write-locked.
            vma_assert_locked(&d);
            mmap_write_unlock(&fx.m);
        });
        if lockdep::ENABLED {
            fx.expect_no_warnings(); // the lockdep branch does not check detachment
        } else {
            fx.expect_warnings(&[("T1", VmaDetachedInLockedAssert)]);
        }
    });
}

fn s54(fx: &Fix) {
    std::thread::scope(|s| {
        let t2 = fx.actor(s, "T2");
        t2.run(|| {
            vma_assert_write_locked(&fx.a);
            vma_assert_locked(&fx.a);
            vma_assert_stabilised(&fx.a);
        });
        fx.expect_no_warnings();
        let d = fx.new_vma(0x8000, 0x9000, "VD");
        t2.run(move || vma_assert_attached(&d));
        fx.expect_warnings(&[("T2", VmaNotAttached)]);
    });
}

#[test]
fn s54_debug_vm_off_silences_the_vma_assertions() {
    // [L][!D] (and [!L][!D]: silent too, §3.7).
    let fx = Fix::no_debug_vm();
    s54(&fx);
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s54_mmap_assertions_are_not_gated() {
    let fx = Fix::no_debug_vm();
    fx.main(|| {
        mmap_assert_locked(&fx.m);
        mmap_assert_write_locked(&fx.m);
    });
    fx.expect_warnings(&[("main", MmapNotHeld), ("main", MmapNotWriteHeld)]);
}

#[test]
fn s56_callers_of_the_new_assertion() {
    let fx = Fix::new();
    fx.a.set_anon_name(Some("[anon:heap]"));
    std::thread::scope(|s| {
        let (t1, t2) = (fx.actor(s, "T1"), fx.actor(s, "T2"));
        let a = t1.run(|| lock_vma_under_rcu(&fx.m, 0x1800)).unwrap();
        let name = t1.run(|| {
            let n = anon_vma_name(&fx.a);
            vma_flag_set_atomic(&fx.a, VMA_MAYBE_GUARD_BIT);
            n
        });
        assert_eq!(name.as_deref(), Some("[anon:heap]"));
        assert!(vma_flag_test_atomic(&fx.a, VMA_MAYBE_GUARD_BIT));
        fx.expect_no_warnings();
        t1.run(move || vma_end_read(&a));

        fx.a.set_flags(0);
        let name = t2.run(|| {
            let n = anon_vma_name(&fx.a);
            vma_set_atomic_flag(&fx.a, VMA_MAYBE_GUARD_BIT);
            n
        });
        assert_eq!(name.as_deref(), Some("[anon:heap]"));
        assert!(vma_test_atomic_flag(&fx.a, VMA_MAYBE_GUARD_BIT), "assertions do not block the operation");
        fx.expect_warnings(&[
            ("T2", MmapNotWriteHeld),
            ("T2", VmaNotWriteLocked),
            ("T2", MmapNotWriteHeld),
            ("T2", VmaNotWriteLocked),
        ]);

        // A bit outside the atomic set: a warning, no change.
        t2.run(|| {
            mmap_read_lock(&fx.m).unwrap();
            vma_flag_set_atomic(&fx.a, VMA_GROWSDOWN_BIT);
            mmap_read_unlock(&fx.m);
        });
        assert!(!vma_flag_test_atomic(&fx.a, VMA_GROWSDOWN_BIT));
        fx.expect_warnings(&[("T2", AtomicFlagNotAllowed)]);
    });
    fx.expect_reports(&[]);
    fx.expect_invariants_hold();
}

#[test]
fn s56_callers_under_debug_vm_off_are_unchecked() {
    let fx = Fix::no_debug_vm();
    fx.main(|| {
        let _ = anon_vma_name(&fx.a);
        vma_flag_set_atomic(&fx.a, VMA_MAYBE_GUARD_BIT);
    });
    fx.expect_no_warnings();
}

#[test]
fn assertions_ask_about_the_vmas_own_mm() {
    // Holding another mm's lock does not stabilise a VMA of M.
    let fx = Fix::new();
    fx.main(|| {
        mmap_read_lock(&fx.n).unwrap();
        vma_assert_stabilised(&fx.a);
        mmap_read_unlock(&fx.n);
    });
    fx.expect_warnings(&[("main", MmapNotWriteHeld), ("main", VmaNotWriteLocked)]);
}

#[test]
fn warn_once_mode_reports_once_per_call_site() {
    let fx = Fix::with(VmConfig::default().with_warn_once(true));
    fx.main(|| {
        for _ in 0..3 {
            vma_assert_locked(&fx.a); // same call site three times
        }
        vma_assert_locked(&fx.a); // another call site
    });
    // MMAP_NOT_WRITE_HELD is not a "once" warning; VMA_NOT_WRITE_LOCKED is.
    fx.expect_warnings(&[
        ("main", MmapNotWriteHeld),
        ("main", VmaNotWriteLocked),
        ("main", MmapNotWriteHeld),
        ("main", MmapNotWriteHeld),
        ("main", MmapNotWriteHeld),
        ("main", VmaNotWriteLocked),
    ]);
}

#[test]
fn wrapped_sequence_collides_with_a_fresh_vma() {
    // §3.3: a fresh VMA (seq UINT_MAX) counts as write-locked when the mm
    // sequence is UINT_MAX (mid-write-hold after wrap).
    let fx = Fix::new();
    fx.m.set_mm_lock_seq(u32::MAX - 1);
    let d = fx.new_vma(0x8000, 0x9000, "VD");
    fx.main(|| {
        mmap_write_lock(&fx.m).unwrap();
        assert_eq!(fx.m.mm_lock_seq(), u32::MAX);
        vma_assert_write_locked(&d);
        mmap_write_unlock(&fx.m);
        assert_eq!(fx.m.mm_lock_seq(), 0, "wraps");
    });
    fx.expect_no_warnings();
}

#[test]
fn s56_with_the_spec_names_and_the_library_fixture() {
    let k = Kernel::new(VmConfig::default());
    let f = vmalock::testing::F0::build(&k);
    set_atomic_flag(&f.a, MAYBE_GUARD);
    assert!(vma_flag_test_atomic(&f.a, MAYBE_GUARD));
    // Nobody holds anything and A's count is 1: reported in both configs.
    assert_eq!(k.warning_ids(), [MmapNotWriteHeld, VmaNotWriteLocked]);
}
