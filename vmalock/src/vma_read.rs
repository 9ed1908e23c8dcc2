//! The VMA read side (§2.14–§2.19): the per-VMA read-lock functions of
//! `include/linux/mmap_lock.h` and `mm/mmap_lock.c` under the kernel's
//! names — [`vma_start_read`], [`lock_vma_under_rcu`], [`lock_next_vma`]
//! (with `lock_next_vma_under_mmap_lock`), [`vma_start_read_locked_nested`],
//! [`vma_start_read_locked`], [`vma_end_read`] — and the refcount helpers
//! they share (`vma_refcount_put`, [`__vma_refcount_put_return`],
//! [`__vma_are_readers_excluded`]).
//!
//! The lockdep view (§1.5 invariant 7): a VMA *read* lock is a shared
//! trylock entry for the VMA's map `V` (`ACQ(V,0,1,1,1)`) from after the
//! successful increment until just before the decrement.

use std::sync::Arc;

use crate::kernel::Errno;
use crate::mm::{Mm, VmaIterator};
use crate::mmap_lock::{
    mmap_assert_locked, mmap_lock_speculate_retry, mmap_lock_speculate_try_begin, mmap_read_lock_killable,
    mmap_read_unlock,
};
use crate::pause::PausePoint;
use crate::rcu::{rcu_read_lock, rcu_read_lock_held, rcu_read_unlock};
use crate::sync::{Ordering, forget_vma_ref, note_vma_ref};
use crate::vma::{VM_REFCNT_EXCLUDE_READERS_FLAG, VM_REFCNT_LIMIT, Vma};
use crate::warn::WarningId;

const F: i32 = VM_REFCNT_EXCLUDE_READERS_FLAG;

// -- lockdep helpers (the series' __vma_lockdep_* wrappers) -----------------

/// `__vma_lockdep_acquire_read`: `ACQ(V,0,1,1,1)`.
#[track_caller]
fn vma_lockdep_acquire_read(vma: &Vma) {
    lockdep::rwsem_acquire_read(&vma.vmlock_dep_map, 0, true);
}

/// `__vma_lockdep_release_read`: `REL(V)`.
#[track_caller]
fn vma_lockdep_release_read(vma: &Vma) {
    lockdep::rwsem_release(&vma.vmlock_dep_map);
}

/// The lockdep-RCU check (`RCU_LOCKDEP_WARN(!rcu_read_lock_held(), …)`).
#[track_caller]
fn rcu_lockdep_check(mm: &Mm, what: &str) {
    if lockdep::ENABLED && mm.kernel().cfg.prove_rcu && !rcu_read_lock_held() {
        mm.kernel().warn(WarningId::RcuNotHeld, format!("{what} without rcu_read_lock"));
    }
}

// -- refcount helpers ---------------------------------------------------------

/// `__vma_are_readers_excluded(refcnt)`: the flag is set and the count is at
/// most `F + 1` ("exclusion may just have completed").
pub fn __vma_are_readers_excluded(refcnt: i32) -> bool {
    refcnt & F != 0 && refcnt <= F + 1
}

/// `__vma_refcount_put_return(vma)`: decrements `vm_refcnt`; 0 if it hit
/// zero, otherwise the new value. No hooks, no wake-up.
#[track_caller]
pub fn __vma_refcount_put_return(vma: &Vma) -> i32 {
    vma.refcnt_put_return()
}

/// `vma_refcount_put(vma)`: drop a reader reference — `REL(V)` *before* the
/// decrement, then wake the mm's writer if readers may now be excluded
/// (logged as a [`WaitEventKind::WakeUp`](crate::WaitEventKind::WakeUp)).
#[track_caller]
fn vma_refcount_put(vma: &Vma) {
    // Remember the mm first: once the count drops the VMA may be recycled.
    // (A guard, not a clone of the `Weak`: no write to the mm's counts on
    // every put; it is upgraded only on the rare wake-up.)
    let mm = vma.vm_mm_guard();
    vma_lockdep_release_read(vma);
    if !forget_vma_ref(vma.id()) {
        vma.unattributed.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let newcnt = vma.refcnt_put_return();
    if newcnt != 0 && __vma_are_readers_excluded(newcnt) {
        if let Some(mm) = mm.upgrade() {
            mm.vma_writer_wait.wake_up(&mm, vma.id(), newcnt);
        }
    }
}

// -- read locks ---------------------------------------------------------------

/// `vma_start_read(mm, vma)` (§2.14): try to read-lock `vma`, which was
/// found in `mm`'s tree under RCU and may be stale or recycled.
///
/// * `Ok(Some(vma))`: read-locked (`vm_refcnt` +1, `ACQ(V,0,1,1,1)`), RCU
///   still held;
/// * `Ok(None)`: locked by a writer, being excluded, at the ceiling, or
///   recycled into another mm — fall back to the mmap lock;
/// * `Err(EAGAIN)`: the VMA is detached — look it up again.
///
/// On every failure the RCU read section has been **ended**. Never blocks.
#[track_caller]
pub fn vma_start_read(mm: &Mm, vma: &Arc<Vma>) -> Result<Option<Arc<Vma>>, Errno> {
    Ok(start_read(mm, vma)?.then(|| vma.clone()))
}

/// [`vma_start_read`] for callers that already own the `Arc`: `Ok(true)`
/// when read-locked.
#[track_caller]
fn start_read(mm: &Mm, vma: &Vma) -> Result<bool, Errno> {
    let k = mm.kernel();
    rcu_lockdep_check(mm, "vma_start_read");
    // Early, unordered, pessimistic check.
    if vma.vm_lock_seq.load(Ordering::Relaxed) == mm.mm_lock_seq.load(Ordering::Relaxed) {
        rcu_read_unlock();
        return Ok(false);
    }
    k.pause_point(PausePoint::P1, vma);
    if let Err(old) = vma.refcnt_inc_not_zero_limited_acquire(VM_REFCNT_LIMIT) {
        rcu_read_unlock();
        return if old == 0 { Err(Errno::EAGAIN) } else { Ok(false) };
    }
    note_vma_ref(vma.id());
    vma_lockdep_acquire_read(vma);
    k.pause_point(PausePoint::P2, vma);
    if !vma.is_of(mm) {
        // Recycled into another mm: pin that mm across the put, which may
        // wake its writer.
        let other = vma.vm_mm();
        rcu_read_unlock();
        vma_refcount_put(vma);
        drop(other);
        return Ok(false);
    }
    // Authoritative check, ordered after the increment.
    if vma.vm_lock_seq.load(Ordering::Relaxed) == mm.mm_lock_seq.load(Ordering::Acquire) {
        vma_refcount_put(vma);
        rcu_read_unlock();
        return Ok(false);
    }
    Ok(true)
}

/// Tracks repeated `-EAGAIN` on one VMA (the kernel would retry forever).
struct AgainGuard {
    last: Option<u64>,
    count: u32,
}

impl AgainGuard {
    fn new() -> Self {
        AgainGuard { last: None, count: 0 }
    }

    /// Notes an `-EAGAIN` on `vma`; true when the limit is reached.
    #[track_caller]
    fn again(&mut self, mm: &Mm, vma: &Vma) -> bool {
        if self.last == Some(vma.id()) {
            self.count += 1;
        } else {
            self.last = Some(vma.id());
            self.count = 1;
        }
        let limit = mm.kernel().cfg.eagain_retry_limit.max(1);
        if self.count >= limit {
            mm.kernel().warn(
                WarningId::EagainLoop,
                format!(
                    "VMA {} is detached but still found in mm {} ({} times in a row)",
                    vma.id(),
                    mm.id(),
                    self.count
                ),
            );
            return true;
        }
        false
    }
}

/// `lock_vma_under_rcu(mm, address)` (§2.15): the lock-free read-lock entry
/// point. Returns the VMA containing `address` read-locked, or `None` (the
/// caller falls back to the mmap lock). Counts `abort` / `miss` events.
/// Never blocks.
#[track_caller]
pub fn lock_vma_under_rcu(mm: &Mm, address: u64) -> Option<Arc<Vma>> {
    let k = mm.kernel();
    if !k.cfg.per_vma_lock {
        return None;
    }
    let mut again = AgainGuard::new();
    loop {
        rcu_read_lock();
        let Some(vma) = mm.mm_mt.walk(address) else {
            rcu_read_unlock();
            k.count_abort();
            return None;
        };
        k.pause_point(PausePoint::P0, &vma);
        match start_read(mm, &vma) {
            Err(_) => {
                // -EAGAIN: detached under us (RCU already ended); retry.
                k.count_miss();
                if again.again(mm, &vma) {
                    k.count_abort();
                    return None;
                }
                continue;
            }
            Ok(false) => {
                k.count_abort();
                return None;
            }
            Ok(true) => {
                rcu_read_unlock();
                if !vma.contains(address) {
                    // Recycled into another range of this mm.
                    vma_end_read(&vma);
                    k.count_abort();
                    return None;
                }
                return Some(vma);
            }
        }
    }
}

/// `lock_next_vma(mm, iter, from_addr)` (§2.16): the /proc maps iterator.
/// Called in an RCU read section, returns in one in every case:
/// `Ok(Some(vma))` read-locked, `Ok(None)` at the end, `Err(EINTR)` if the
/// mmap-lock fallback was interrupted, `Err(EAGAIN)` if the fallback found
/// the next VMA at the reader ceiling.
#[track_caller]
pub fn lock_next_vma(mm: &Mm, vmi: &mut VmaIterator, from_addr: u64) -> Result<Option<Arc<Vma>>, Errno> {
    rcu_lockdep_check(mm, "lock_next_vma");
    let mut again = AgainGuard::new();
    loop {
        let speculation = mmap_lock_speculate_try_begin(mm);
        let Some(vma) = vmi.next(mm) else {
            return Ok(None);
        };
        match start_read(mm, &vma) {
            Err(_) => {
                // -EAGAIN: RCU was ended; re-enter it and start over.
                rcu_read_lock();
                vmi.set(from_addr);
                if again.again(mm, &vma) {
                    rcu_read_unlock();
                    return lock_next_vma_fallback(mm, vmi, from_addr);
                }
                continue;
            }
            Ok(false) => return lock_next_vma_fallback(mm, vmi, from_addr),
            Ok(true) => {}
        }
        // The VMA shrank behind us.
        if from_addr >= vma.vm_end() {
            return lock_next_vma_fallback_unlock(mm, vmi, from_addr, &vma);
        }
        // A gap before the VMA: make sure no VMA appeared in it, unless the
        // address space certainly did not change since the lookup.
        if from_addr < vma.vm_start() {
            let changed = match speculation {
                None => true,
                Some(seq) => mmap_lock_speculate_retry(mm, seq),
            };
            if changed {
                vmi.set(from_addr);
                let same = vmi.next(mm).is_some_and(|n| Arc::ptr_eq(&n, &vma));
                if !same {
                    return lock_next_vma_fallback_unlock(mm, vmi, from_addr, &vma);
                }
            }
        }
        return Ok(Some(vma));
    }
}

#[track_caller]
fn lock_next_vma_fallback_unlock(
    mm: &Mm,
    vmi: &mut VmaIterator,
    from_addr: u64,
    vma: &Vma,
) -> Result<Option<Arc<Vma>>, Errno> {
    rcu_read_unlock();
    vma_end_read(vma);
    lock_next_vma_fallback(mm, vmi, from_addr)
}

/// The fallback of `lock_next_vma`: entered with RCU ended, returns with it
/// re-entered and the iterator past the result (or at `from_addr`).
#[track_caller]
fn lock_next_vma_fallback(mm: &Mm, vmi: &mut VmaIterator, from_addr: u64) -> Result<Option<Arc<Vma>>, Errno> {
    let r = lock_next_vma_under_mmap_lock(mm, vmi, from_addr);
    rcu_read_lock();
    vmi.set(match &r {
        Ok(Some(v)) => v.vm_end(),
        _ => from_addr,
    });
    r
}

/// `lock_next_vma_under_mmap_lock`: read-lock the next VMA under the mmap
/// read lock.
#[track_caller]
fn lock_next_vma_under_mmap_lock(mm: &Mm, vmi: &mut VmaIterator, from_addr: u64) -> Result<Option<Arc<Vma>>, Errno> {
    mmap_read_lock_killable(mm)?;
    vmi.set(from_addr);
    let r = match vmi.next(mm) {
        Some(vma) => {
            if vma_start_read_locked(&vma) {
                Ok(Some(vma))
            } else {
                Err(Errno::EAGAIN)
            }
        }
        None => Ok(None),
    };
    mmap_read_unlock(mm);
    r
}

/// `vma_start_read_locked_nested(vma, subclass)` (§2.17): converts an mmap
/// lock hold into a VMA read lock. Asserts the mmap lock
/// ([`mmap_assert_locked`]), then increments `vm_refcnt`; the only failure
/// is the reader ceiling (false, no hooks). On success `ACQ(V,0,1,1,1)` —
/// **the subclass is ignored** (always 0). No `vm_lock_seq` check. Never
/// blocks.
#[track_caller]
pub fn vma_start_read_locked_nested(vma: &Vma, subclass: u32) -> bool {
    let _ = subclass;
    mmap_assert_locked(&vma.mm());
    if vma.refcnt_inc_not_zero_limited_acquire(VM_REFCNT_LIMIT).is_err() {
        return false;
    }
    note_vma_ref(vma.id());
    vma_lockdep_acquire_read(vma);
    true
}

/// `vma_start_read_locked(vma)` (§2.18): [`vma_start_read_locked_nested`]
/// with subclass 0.
#[track_caller]
pub fn vma_start_read_locked(vma: &Vma) -> bool {
    vma_start_read_locked_nested(vma, 0)
}

/// `vma_end_read(vma)` (§2.19): releases a read lock — `REL(V)`, then the
/// decrement, then a wake-up of the mm's writer if readers may now be
/// excluded (`rcuwait_wake_up`, in the wait-event log as a
/// [`WaitEventKind::WakeUp`](crate::WaitEventKind::WakeUp) naming the thread it targets). Without a read
/// lock this is a validator `UNLOCK_IMBALANCE` and corrupts `vm_refcnt` (as
/// in the kernel). Never blocks.
#[track_caller]
pub fn vma_end_read(vma: &Vma) {
    if !vma.per_vma_lock() {
        return;
    }
    vma_refcount_put(vma);
}
