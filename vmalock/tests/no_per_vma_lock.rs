//! §2.30: the scheme with PER_VMA_LOCK configured out.

use vmalock::WarningId::*;
use vmalock::*;

#[test]
fn stubs_without_per_vma_lock() {
    let k = Kernel::new(VmConfig::default().with_per_vma_lock(false));
    let m = Mm::new(&k);
    mmap_write_lock(&m).unwrap();
    assert_eq!(m.mm_lock_seq(), 0, "sequence helpers are no-ops");
    assert_eq!(mmap_lock_speculate_try_begin(&m), None);
    assert!(mmap_lock_speculate_retry(&m, 0));
    let a = Vma::new(&m, 0x1000, 0x2000);
    vma_start_write(&a).unwrap();
    vma_mark_attached(&a);
    m.insert_vma(&a);
    assert_eq!((a.vm_refcnt(), a.vm_lock_seq()), (0, u32::MAX), "no-ops");
    assert_eq!(vma_start_write_killable(&a), Ok(()));
    vma_assert_write_locked(&a);
    vma_assert_locked(&a);
    vma_assert_stabilised(&a);
    vma_assert_attached(&a);
    vma_assert_detached(&a);
    mmap_write_unlock(&m);
    assert_eq!(m.mm_lock_seq(), 0);
    assert!(k.warnings().is_empty(), "{:?}", k.warnings());

    assert!(lock_vma_under_rcu(&m, 0x1800).is_none());
    // The VMA assertions become mmap assertions.
    vma_assert_write_locked(&a);
    vma_assert_locked(&a);
    vma_assert_stabilised(&a);
    assert_eq!(k.warning_ids(), [MmapNotWriteHeld, MmapNotHeld, MmapNotHeld]);
}

#[test]
fn warning_log_helpers() {
    let k = Kernel::new(VmConfig::default());
    let m = Mm::new(&k);
    mmap_assert_locked(&m);
    mmap_assert_locked(&m);
    mmap_assert_write_locked(&m);
    assert_eq!(k.count_warnings(MmapNotHeld), 2);
    let w = &k.warnings()[0];
    assert_eq!(w.thread(), std::thread::current().id());
    assert_eq!(w.id().name(), "MMAP_NOT_HELD");
    assert_eq!(w.location().file(), file!(), "the caller's site");
    assert!(w.to_string().starts_with("WARNING: MMAP_NOT_HELD"));
    k.clear_warnings();
    assert!(k.warnings().is_empty());
}
