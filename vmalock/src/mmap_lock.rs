//! The mmap lock family (§2.1–§2.13, §2.29) and its assertions (§3.1,
//! §3.2): the `mmap_*` functions of `include/linux/mmap_lock.h`, with the
//! lockdep hooks exactly where the kernel's rwsem emits them.

use std::marker::PhantomData;
use std::sync::Arc;

use lockdep::Read;

use crate::kernel::{Errno, Invariant, WaitError, WouldHang};
use crate::mm::Mm;
use crate::sync::Ordering;
use crate::vma::{VMA_GROWSDOWN_BIT, Vma};
use crate::vma_write::vma_start_write;
use crate::warn::WarningId;

// -- the sequence count (§2.13) ---------------------------------------------

/// `mm_lock_seqcount_begin`: even → odd when a write hold starts (checks
/// [`Invariant::MmLockSeqParity`]).
fn mm_lock_seqcount_begin(mm: &Mm) {
    if !mm.kernel().cfg.per_vma_lock {
        return;
    }
    let seq = mm.mm_lock_seq.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
    if mm.kernel().cfg.check_invariants && seq & 1 == 0 {
        mm.kernel().invariant(
            Invariant::MmLockSeqParity,
            format!("mm {}: mm_lock_seq {seq} is even after a write hold began", mm.id()),
        );
    }
}

/// `mm_lock_seqcount_end`: the increment that ends a write hold, with
/// RELEASE semantics: it releases every VMA write lock of the mm at once
/// (checks [`Invariant::MmLockSeqParity`]).
fn mm_lock_seqcount_end(mm: &Mm) {
    if !mm.kernel().cfg.per_vma_lock {
        return;
    }
    let seq = mm.mm_lock_seq.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
    if mm.kernel().cfg.check_invariants && seq & 1 == 1 {
        mm.kernel().invariant(
            Invariant::MmLockSeqParity,
            format!("mm {}: mm_lock_seq {seq} is odd after a write hold ended", mm.id()),
        );
    }
}

#[inline]
fn lock_stat(mm: &Mm) -> bool {
    mm.kernel().cfg.lock_stat
}

// -- read side ----------------------------------------------------------------

/// `mmap_read_lock(mm)` (§2.2): `ACQ(M,0,0,1,1)`, `CONTENDED(M)` if it must
/// block, `ACQUIRED(M)`. Readers queue behind a waiting writer, so taking it
/// twice can deadlock (the validator reports `RECURSIVE_LOCKING` first).
///
/// `Err` only where the kernel would hang: the wait can never end (a
/// wait-for cycle of mmap-lock waits only, e.g. a read while holding it for
/// write). The model then logs a [`WarningId::WaitWouldHang`], emits
/// `REL(M)` (undoing the acquire hook, no `ACQUIRED`) and returns without
/// the lock. A recursive read held back only by a queued writer is let in
/// past it instead (`Ok`, with the warning).
#[track_caller]
#[must_use = "on Err the mmap lock is not held"]
pub fn mmap_read_lock(mm: &Mm) -> Result<(), WouldHang> {
    let map = &mm.mmap_lock.dep_map;
    lockdep::rwsem_acquire_read(map, 0, false);
    if !mm.mmap_lock.try_read() {
        if lock_stat(mm) {
            lockdep::lock_contended(map);
        }
        if let Err(e) = mm.mmap_lock.read_slow(mm, false) {
            lockdep::rwsem_release(map);
            return Err(would_hang(e));
        }
    }
    if lock_stat(mm) {
        lockdep::lock_acquired(map);
    }
    Ok(())
}

/// The error of a non-killable wait: it can only have been abandoned.
fn would_hang(e: WaitError) -> WouldHang {
    match e {
        WaitError::WouldHang(h) => h,
        WaitError::Interrupted => unreachable!("a non-killable wait ignores signals"),
    }
}

/// `mmap_read_lock_killable(mm)` (§2.3): as [`mmap_read_lock`], but a fatal
/// signal aborts the wait: `REL(M)`, no `ACQUIRED`, `Err(EINTR)`. A wait
/// that could never end is abandoned the same way (with a
/// [`WarningId::WaitWouldHang`]).
#[track_caller]
pub fn mmap_read_lock_killable(mm: &Mm) -> Result<(), Errno> {
    let map = &mm.mmap_lock.dep_map;
    lockdep::rwsem_acquire_read(map, 0, false);
    if !mm.mmap_lock.try_read() {
        if lock_stat(mm) {
            lockdep::lock_contended(map);
        }
        if let Err(e) = mm.mmap_lock.read_slow(mm, true) {
            lockdep::rwsem_release(map);
            return Err(e.into());
        }
    }
    if lock_stat(mm) {
        lockdep::lock_acquired(map);
    }
    Ok(())
}

/// `mmap_read_trylock(mm)` (§2.4): on success `ACQ(M,0,1,1,1)` only; on
/// failure (write-held or anybody queued) no hooks.
#[track_caller]
pub fn mmap_read_trylock(mm: &Mm) -> bool {
    if mm.mmap_lock.try_read() {
        lockdep::rwsem_acquire_read(&mm.mmap_lock.dep_map, 0, true);
        true
    } else {
        false
    }
}

/// `mmap_read_unlock(mm)` (§2.5): `REL(M)`, then drop the read hold.
#[track_caller]
pub fn mmap_read_unlock(mm: &Mm) {
    lockdep::rwsem_release(&mm.mmap_lock.dep_map);
    mm.mmap_lock.up_read();
}

/// `mmap_read_unlock_non_owner(mm)` (§2.6): drops a read hold without any
/// lockdep hook (the acquirer already released its entry explicitly).
pub fn mmap_read_unlock_non_owner(mm: &Mm) {
    mm.mmap_lock.up_read();
}

// -- write side ---------------------------------------------------------------

#[track_caller]
fn write_lock(mm: &Mm, subclass: u32, killable: bool) -> Result<(), WaitError> {
    let map = &mm.mmap_lock.dep_map;
    lockdep::rwsem_acquire(map, subclass, false);
    if !mm.mmap_lock.try_write() {
        if lock_stat(mm) {
            lockdep::lock_contended(map);
        }
        if let Err(e) = mm.mmap_lock.write_slow(mm, killable) {
            lockdep::rwsem_release(map);
            return Err(e);
        }
    }
    if lock_stat(mm) {
        lockdep::lock_acquired(map);
    }
    mm_lock_seqcount_begin(mm);
    Ok(())
}

/// `mmap_write_lock(mm)` (§2.7): `ACQ(M,0,0,0,1)`, `CONTENDED(M)` if it must
/// block, `ACQUIRED(M)`, then `mm_lock_seq` becomes odd.
///
/// `Err` only where the kernel would hang, as for [`mmap_read_lock`]:
/// `REL(M)`, the sequence untouched, the lock not held.
#[track_caller]
#[must_use = "on Err the mmap lock is not held"]
pub fn mmap_write_lock(mm: &Mm) -> Result<(), WouldHang> {
    write_lock(mm, 0, false).map_err(would_hang)
}

/// `mmap_write_lock_nested(mm, subclass)`: as [`mmap_write_lock`] with
/// `ACQ(M,subclass,0,0,1)`.
#[track_caller]
#[must_use = "on Err the mmap lock is not held"]
pub fn mmap_write_lock_nested(mm: &Mm, subclass: u32) -> Result<(), WouldHang> {
    write_lock(mm, subclass, false).map_err(would_hang)
}

/// `mmap_write_lock_killable(mm)`: on a fatal signal `REL(M)`, no
/// `ACQUIRED`, the sequence untouched, `Err(EINTR)` — also when the model
/// abandons a wait that could never end (with a
/// [`WarningId::WaitWouldHang`]).
#[track_caller]
pub fn mmap_write_lock_killable(mm: &Mm) -> Result<(), Errno> {
    write_lock(mm, 0, true).map_err(Errno::from)
}

/// A model extension (the kernel has no `mmap_write_trylock`): on success
/// `ACQ(M,0,1,0,1)` and the sequence becomes odd; nothing on failure.
#[track_caller]
pub fn mmap_write_trylock(mm: &Mm) -> bool {
    if mm.mmap_lock.try_write() {
        lockdep::rwsem_acquire(&mm.mmap_lock.dep_map, 0, true);
        mm_lock_seqcount_begin(mm);
        true
    } else {
        false
    }
}

/// `vma_end_write_all(mm)` (§2.8): asserts the mmap write lock, then ends the
/// write side of `mm_lock_seq` (odd → even), releasing every VMA write lock
/// of the mm. Called manually it releases them while the write hold goes
/// on; the model increments unconditionally, like the kernel.
#[track_caller]
pub fn vma_end_write_all(mm: &Mm) {
    mmap_assert_write_locked(mm);
    mm_lock_seqcount_end(mm);
}

/// `mmap_write_unlock(mm)` (§2.9): [`vma_end_write_all`], then `REL(M)` and
/// release the write hold.
#[track_caller]
pub fn mmap_write_unlock(mm: &Mm) {
    vma_end_write_all(mm);
    lockdep::rwsem_release(&mm.mmap_lock.dep_map);
    mm.mmap_lock.up_write();
}

/// `mmap_write_downgrade(mm)` (§2.10): [`vma_end_write_all`], then
/// `DOWNGRADE(M)` and turn the write hold into a read hold.
#[track_caller]
pub fn mmap_write_downgrade(mm: &Mm) {
    vma_end_write_all(mm);
    lockdep::lock_downgrade(&mm.mmap_lock.dep_map);
    mm.mmap_lock.downgrade();
}

/// `mmap_lock_is_contended(mm)` (§2.11): waiters are queued. No hooks.
pub fn mmap_lock_is_contended(mm: &Mm) -> bool {
    mm.mmap_lock.is_contended()
}

/// `mmap_lock_speculate_try_begin(mm, &seq)` (§2.12): `None` if a write hold
/// is in progress (odd sequence), else the sequence to pass to
/// [`mmap_lock_speculate_retry`].
/// Without PER_VMA_LOCK always `None`.
pub fn mmap_lock_speculate_try_begin(mm: &Mm) -> Option<u32> {
    if !mm.kernel().cfg.per_vma_lock {
        return None;
    }
    let seq = mm.mm_lock_seq.load(Ordering::Acquire);
    if seq & 1 == 1 { None } else { Some(seq) }
}

/// `mmap_lock_speculate_retry(mm, seq)` (§2.12): whether a write hold began
/// or ended since `seq` was taken.
/// Without PER_VMA_LOCK always `true`.
pub fn mmap_lock_speculate_retry(mm: &Mm, seq: u32) -> bool {
    if !mm.kernel().cfg.per_vma_lock {
        return true;
    }
    crate::sync::fence(Ordering::Acquire);
    mm.mm_lock_seq.load(Ordering::Acquire) != seq
}

// -- assertions ---------------------------------------------------------------

/// `mmap_assert_locked(mm)` (§3.1): [`WarningId::MmapNotHeld`] unless the
/// mmap lock is held — by the current thread, in any mode, with lockdep
/// (silent while lockdep is not validating); by anybody without.
#[track_caller]
pub fn mmap_assert_locked(mm: &Mm) {
    if !mmap_lock_held(mm) {
        mm.kernel().warn(WarningId::MmapNotHeld, format!("mm {}", mm.id()));
    }
}

/// What `mmap_assert_locked` checks: the mmap lock is held in any mode — by
/// the current thread with lockdep (true while lockdep is not validating),
/// by anybody without.
pub(crate) fn mmap_lock_held(mm: &Mm) -> bool {
    if lockdep::ENABLED { lockdep::lock_is_held_type(&mm.mmap_lock.dep_map, None) } else { mm.mmap_lock.is_locked() }
}

/// `mmap_assert_write_locked(mm)` (§3.2): [`WarningId::MmapNotWriteHeld`]
/// unless the mmap lock is held for write — by the current thread with
/// lockdep; by anybody without.
#[track_caller]
pub fn mmap_assert_write_locked(mm: &Mm) {
    let held = if lockdep::ENABLED {
        lockdep::lock_is_held_type(&mm.mmap_lock.dep_map, Some(Read::Exclusive))
    } else {
        mm.mmap_lock.is_write_locked()
    };
    if !held {
        mm.kernel().warn(WarningId::MmapNotWriteHeld, format!("mm {}", mm.id()));
    }
}

// -- scoped guards -------------------------------------------------------------

/// A scoped mmap read hold (`guard(mmap_read_lock)(mm)`): unlocks on drop.
/// `!Send`, like every lock guard.
#[must_use = "the lock is released when the guard is dropped"]
#[derive(Debug)]
pub struct MmapReadGuard<'a> {
    mm: &'a Mm,
    _not_send: PhantomData<*const ()>,
}

impl<'a> MmapReadGuard<'a> {
    /// [`mmap_read_lock`] now, [`mmap_read_unlock`] on drop; its error if
    /// the wait was abandoned.
    #[track_caller]
    pub fn new(mm: &'a Mm) -> Result<Self, WouldHang> {
        mmap_read_lock(mm)?;
        Ok(MmapReadGuard { mm, _not_send: PhantomData })
    }
}

impl Drop for MmapReadGuard<'_> {
    fn drop(&mut self) {
        mmap_read_unlock(self.mm);
    }
}

/// A scoped mmap write hold: unlocks on drop.
#[must_use = "the lock is released when the guard is dropped"]
#[derive(Debug)]
pub struct MmapWriteGuard<'a> {
    mm: &'a Mm,
    _not_send: PhantomData<*const ()>,
}

impl<'a> MmapWriteGuard<'a> {
    /// [`mmap_write_lock`] now, [`mmap_write_unlock`] on drop; its error if
    /// the wait was abandoned.
    #[track_caller]
    pub fn new(mm: &'a Mm) -> Result<Self, WouldHang> {
        mmap_write_lock(mm)?;
        Ok(MmapWriteGuard { mm, _not_send: PhantomData })
    }
}

impl Drop for MmapWriteGuard<'_> {
    fn drop(&mut self) {
        mmap_write_unlock(self.mm);
    }
}

// -- the page-fault helper (§2.29) --------------------------------------------

/// `lock_mm_and_find_vma(mm, addr, regs)` (§2.29): returns the VMA for a
/// fault at `addr` with the mmap *read* lock held, or `None` with no lock
/// held. `may_sleep` stands for "the fault may sleep" (the `regs` checks).
/// A fault just below a grows-down VMA expands it, under the write lock,
/// then downgrades.
#[track_caller]
pub fn lock_mm_and_find_vma(mm: &Mm, addr: u64, may_sleep: bool) -> Option<Arc<Vma>> {
    if !mmap_read_trylock(mm) && (!may_sleep || mmap_read_lock_killable(mm).is_err()) {
        return None;
    }
    let vma = mm.find_vma(addr);
    if let Some(v) = &vma {
        if v.vm_start() <= addr {
            return vma;
        }
    }
    let grows_down = |v: &Vma| v.flags() & (1 << VMA_GROWSDOWN_BIT) != 0;
    if !vma.as_deref().is_some_and(grows_down) {
        mmap_read_unlock(mm);
        return None;
    }
    // No upgrade in an rwsem: drop the read lock and take the write lock.
    mmap_read_unlock(mm);
    if mmap_write_lock_killable(mm).is_err() {
        return None;
    }
    let Some(vma) = mm.find_vma(addr) else {
        mmap_write_unlock(mm);
        return None;
    };
    if vma.vm_start() > addr {
        if !grows_down(&vma) {
            mmap_write_unlock(mm);
            return None;
        }
        // expand_stack_locked: write-lock the VMA, then grow it down (not
        // if the write lock could never be had: the caller holds the VMA).
        if vma_start_write(&vma).is_err() {
            mmap_write_unlock(mm);
            return None;
        }
        let page = addr & !0xfff;
        vma.set_range(page, vma.vm_end());
        // Re-storing the VMA under its new range displaces its old slot.
        mm.insert_vma(&vma);
    }
    mmap_write_downgrade(mm);
    Some(vma)
}
