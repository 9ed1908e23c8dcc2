//! The VMA assertions (§3.3–§3.6) of `include/linux/mmap_lock.h` under the
//! kernel's names: [`vma_assert_attached`], [`vma_assert_detached`],
//! [`vma_assert_write_locked`], [`vma_assert_locked`] and
//! [`vma_assert_stabilised`]. Each has its two forms: exact and per thread
//! with lockdep compiled in, approximate (with the kernel's documented false
//! negatives) without.

use crate::mmap_lock::{mmap_assert_locked, mmap_assert_write_locked, mmap_lock_held};
use crate::sync::Ordering;
use crate::vma::Vma;
use crate::vma_write::__is_vma_write_locked;
use crate::warn::WarningId;

/// `vma_assert_attached(vma)` (§3.5): [`WarningId::VmaNotAttached`] if
/// `vm_refcnt == 0`. Always active.
#[track_caller]
pub fn vma_assert_attached(vma: &Vma) {
    if !vma.per_vma_lock() {
        return;
    }
    if vma.vm_refcnt.load(Ordering::Relaxed) == 0 {
        vma.kernel().warn(WarningId::VmaNotAttached, format!("VMA {}", vma.id()));
    }
}

/// `vma_assert_detached(vma)` (§3.5): [`WarningId::VmaNotDetached`] if
/// `vm_refcnt != 0`. Always active.
#[track_caller]
pub fn vma_assert_detached(vma: &Vma) {
    if !vma.per_vma_lock() {
        return;
    }
    let c = vma.vm_refcnt.load(Ordering::Relaxed);
    if c != 0 {
        vma.kernel().warn(WarningId::VmaNotDetached, format!("VMA {}: vm_refcnt {c:#x}", vma.id()));
    }
}

/// `vma_assert_write_locked(vma)` (§3.3): with DEBUG_VM, evaluates
/// [`__is_vma_write_locked`] (which first asserts the mmap write lock) and
/// reports [`WarningId::VmaNotWriteLocked`] on a sequence mismatch. Without
/// DEBUG_VM it does nothing at all.
#[track_caller]
pub fn vma_assert_write_locked(vma: &Vma) {
    if !vma.per_vma_lock() {
        // The !PER_VMA_LOCK stub: the mmap write assertion, ungated.
        mmap_assert_write_locked(&vma.mm());
        return;
    }
    if !vma.kernel().cfg.debug_vm {
        return;
    }
    if !__is_vma_write_locked(vma) {
        let mm_seq = vma.vm_mm().map(|m| m.mm_lock_seq());
        vma.kernel().warn(
            WarningId::VmaNotWriteLocked,
            format!("VMA {}: vm_lock_seq {} != mm_lock_seq {:?}", vma.id(), vma.vm_lock_seq(), mm_seq),
        );
    }
}

/// `vma_assert_locked(vma)` (§3.4): "holds a VMA read or write lock".
///
/// * lockdep compiled in: passes if the current thread holds `V` in any mode
///   (or lockdep is not validating); otherwise [`vma_assert_write_locked`].
/// * compiled out: passes if `vm_refcnt > 1` (anybody's readers, transient
///   readers or an exclusion in progress count); reports
///   [`WarningId::VmaDetachedInLockedAssert`] (DEBUG_VM) at 0; then
///   [`vma_assert_write_locked`].
#[track_caller]
pub fn vma_assert_locked(vma: &Vma) {
    if !vma.per_vma_lock() {
        mmap_assert_locked(&vma.mm());
        return;
    }
    if lockdep::ENABLED {
        if lockdep::lock_is_held_type(&vma.vmlock_dep_map, None) {
            return;
        }
    } else {
        let c = vma.vm_refcnt.load(Ordering::Relaxed);
        if c > 1 {
            return;
        }
        if c == 0 && vma.kernel().cfg.debug_vm {
            vma.kernel().warn(WarningId::VmaDetachedInLockedAssert, format!("VMA {}", vma.id()));
        }
    }
    vma_assert_write_locked(vma);
}

/// `vma_assert_stabilised(vma)` (§3.6): the VMA cannot change under the
/// caller because it holds the VMA's mm's mmap lock (any mode) or a VMA
/// lock on it. **The mmap lock is checked first** (§3.8): checking the VMA
/// first would report a thread stabilised by the mmap read lock alone.
///
/// * lockdep compiled in: passes if the current thread holds the mmap lock;
///   otherwise [`vma_assert_locked`]. Exact.
/// * compiled out: passes if anybody holds the mmap lock; otherwise
///   [`vma_assert_locked`]. False negatives only, never a false report.
#[track_caller]
pub fn vma_assert_stabilised(vma: &Vma) {
    if !vma.per_vma_lock() {
        mmap_assert_locked(&vma.mm());
        return;
    }
    if mmap_lock_held(&vma.mm()) {
        return;
    }
    vma_assert_locked(vma);
}
