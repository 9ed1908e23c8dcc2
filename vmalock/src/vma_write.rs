//! The VMA write side (§2.20–§2.28): the per-VMA write-lock, attach and
//! detach functions of `include/linux/mmap_lock.h` and `mm/mmap_lock.c`
//! under the kernel's names — [`vma_lock_init`], the exclude-readers pair
//! ([`__vma_start_exclude_readers`], [`__vma_end_exclude_readers`]),
//! [`__vma_raw_mm_seqnum`], [`__is_vma_write_locked`],
//! [`__vma_start_write`], [`vma_start_write`], [`vma_start_write_killable`],
//! [`vma_is_attached`], [`vma_mark_attached`], [`vma_mark_detached`] and
//! [`__vma_exclude_readers_for_detach`]. The wait inside the exclusion is
//! in `model_wait.rs`.
//!
//! The lockdep view (§1.5 invariant 7): the exclude-readers window is an
//! exclusive entry for the VMA's map `V` (`ACQ(V,0,0,0,1)`, which is where
//! the validator learns `mmap_lock → vm_lock`). A finished VMA write lock,
//! attach references and the detached paths leave no trace in lockdep.

use crate::kernel::{Errno, Invariant, WaitError, WouldHang};
use crate::mm::Mm;
use crate::mmap_lock::mmap_assert_write_locked;
use crate::model_wait::exclude_readers_wait;
use crate::pause::PausePoint;
use crate::sync::Ordering;
use crate::vma::{VM_LOCK_SEQ_INIT, VM_REFCNT_EXCLUDE_READERS_FLAG, Vma};
use crate::vma_assert::{vma_assert_attached, vma_assert_detached, vma_assert_write_locked};
use crate::warn::WarningId;

const F: i32 = VM_REFCNT_EXCLUDE_READERS_FLAG;

// -- lockdep helpers (the series' __vma_lockdep_* wrappers) -----------------

/// `__vma_lockdep_acquire_exclusive`: `ACQ(V,0,0,0,1)`.
#[track_caller]
fn vma_lockdep_acquire_exclusive(vma: &Vma) {
    lockdep::rwsem_acquire(&vma.vmlock_dep_map, 0, false);
}

/// `__vma_lockdep_release_exclusive`: `REL(V)`.
#[track_caller]
fn vma_lockdep_release_exclusive(vma: &Vma) {
    lockdep::rwsem_release(&vma.vmlock_dep_map);
}

/// `__vma_lockdep_stat_mark_acquired`: `ACQUIRED(V)` (LOCK_STAT).
#[track_caller]
fn vma_lockdep_stat_mark_acquired(vma: &Vma) {
    if vma.kernel().cfg.lock_stat {
        lockdep::lock_acquired(&vma.vmlock_dep_map);
    }
}

// -- initialisation ---------------------------------------------------------

/// `vma_lock_init(vma, reset_refcnt)` (§2.21): `vm_lock_seq = UINT_MAX`, and
/// `vm_refcnt = 0` if `reset_refcnt`. (The lockdep map `V` is part of the
/// VMA object and already in the `"vm_lock"` class.)
pub fn vma_lock_init(vma: &Vma, reset_refcnt: bool) {
    if !vma.per_vma_lock() {
        return;
    }
    if reset_refcnt {
        vma.vm_refcnt.store(0, Ordering::SeqCst);
    }
    vma.vm_lock_seq.store(VM_LOCK_SEQ_INIT, Ordering::SeqCst);
}

// -- write locks and the exclude-readers path ---------------------------------

/// The wait mode of an exclude-readers wait.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum TaskState {
    /// `TASK_UNINTERRUPTIBLE`: only the condition ends the wait.
    Uninterruptible,
    /// `TASK_KILLABLE`: a fatal signal ends it with `-EINTR` (the condition
    /// is checked first).
    Killable,
}

/// `struct vma_exclude_readers_state` (§2.22): shared by
/// [`__vma_start_exclude_readers`] and [`__vma_end_exclude_readers`].
#[derive(Debug)]
pub struct VmaExcludeReadersState<'a> {
    /// In: the target VMA.
    pub vma: &'a Vma,
    /// In: the wait mode.
    pub state: TaskState,
    /// In: called from detach (target `F`) rather than write-lock (`F + 1`).
    pub detaching: bool,
    /// Out: the VMA is, or became, detached (the count is or was 0).
    pub detached: bool,
    /// Out: readers were excluded; the caller must call the end function.
    pub exclusive: bool,
}

impl<'a> VmaExcludeReadersState<'a> {
    /// A fresh state record.
    pub fn new(vma: &'a Vma, state: TaskState, detaching: bool) -> Self {
        VmaExcludeReadersState { vma, state, detaching, detached: false, exclusive: false }
    }

    /// `get_target_refcnt`: `F` when detaching, `F + 1` when write-locking.
    pub fn target_refcnt(&self) -> i32 {
        if self.detaching { F } else { F + 1 }
    }
}

/// `__vma_start_exclude_readers(ves)` (§2.22, pre-series
/// `__vma_enter_locked`): asserts the mmap write lock, adds `F` unless the
/// count is 0 (then `detached`, no hooks, no wait), `ACQ(V,0,0,0,1)`, waits
/// until `vm_refcnt` reaches the target, `ACQUIRED(V)`, `exclusive`. On an
/// interrupted (killable) wait the end function runs and `Err(EINTR)` is
/// returned with `exclusive` false — also when the model abandoned a wait
/// that could never end (in either mode), with a
/// [`WarningId::WaitWouldHang`].
#[track_caller]
pub fn __vma_start_exclude_readers(ves: &mut VmaExcludeReadersState<'_>) -> Result<(), Errno> {
    start_exclude_readers(ves).map_err(Errno::from)
}

/// [`__vma_start_exclude_readers`] telling a signal from an abandoned wait.
#[track_caller]
fn start_exclude_readers(ves: &mut VmaExcludeReadersState<'_>) -> Result<(), WaitError> {
    let vma = ves.vma;
    let mm = vma.mm();
    let target = ves.target_refcnt();
    mmap_assert_write_locked(&mm);
    if !vma.refcnt_add_not_zero(F) {
        // Detached: only attach (which needs the mmap write lock we hold)
        // could raise the count from 0, so there is nobody to exclude.
        ves.detached = true;
        return Ok(());
    }
    check_exclusion_invariants(&mm, vma);
    vma_lockdep_acquire_exclusive(vma);
    mm.kernel().pause_point(PausePoint::P3, vma);
    if let Err(e) = exclude_readers_wait(&mm, vma, target, ves.state) {
        __vma_end_exclude_readers(ves);
        return Err(e);
    }
    vma_lockdep_stat_mark_acquired(vma);
    ves.exclusive = true;
    Ok(())
}

/// [`Invariant::FlagOwnership`] (§1.5 invariant 1): the flag is added only
/// by the mm's mmap write holder.
/// (Adding it twice overflows `vm_refcnt`, which the refcount primitives
/// already report as `REFCOUNT_MISUSE`.)
fn check_exclusion_invariants(mm: &Mm, vma: &Vma) {
    let k = mm.kernel();
    if k.cfg.check_invariants && !mm.mmap_lock.is_write_owner() {
        k.invariant(
            Invariant::FlagOwnership,
            format!("VMA {}: readers excluded without holding the mmap write lock", vma.id()),
        );
    }
}

/// [`Invariant::WriteLockDefinition`] and
/// [`Invariant::WriteLockImpliesMmapWriteLock`] (§1.5 invariants 4 and 6):
/// `vm_lock_seq` is only ever assigned the current odd value, by the thread
/// holding the mmap write lock.
fn check_write_lock_invariants(vma: &Vma, seq: u32) {
    let k = vma.kernel();
    if !k.cfg.check_invariants {
        return;
    }
    if seq & 1 == 0 {
        k.invariant(
            Invariant::WriteLockDefinition,
            format!("VMA {}: vm_lock_seq assigned the even value {seq}", vma.id()),
        );
    }
    if !vma.mm().mmap_lock.is_write_owner() {
        k.invariant(
            Invariant::WriteLockImpliesMmapWriteLock,
            format!("VMA {}: write-locked without holding the mmap write lock", vma.id()),
        );
    }
}

/// `__vma_end_exclude_readers(ves)` (§2.22, pre-series `__vma_exit_locked`):
/// removes `F` (`detached` = the count became 0), then `REL(V)`.
#[track_caller]
pub fn __vma_end_exclude_readers(ves: &mut VmaExcludeReadersState<'_>) {
    let vma = ves.vma;
    if vma.kernel().cfg.debug_vm && ves.detached {
        vma.kernel().warn(WarningId::EndExcludeAlreadyDetached, format!("VMA {}", vma.id()));
    }
    ves.detached = vma.refcnt_sub_and_test(F);
    vma_lockdep_release_exclusive(vma);
}

/// `__vma_raw_mm_seqnum(vma)` (§2.20): asserts the mmap write lock, then the
/// raw `mm_lock_seq` (the write holder needs no ordering).
#[track_caller]
pub fn __vma_raw_mm_seqnum(vma: &Vma) -> u32 {
    let mm = vma.mm();
    mmap_assert_write_locked(&mm);
    mm.mm_lock_seq.load(Ordering::Relaxed)
}

/// `__is_vma_write_locked(vma)` (§2.20): `vm_lock_seq == mm_lock_seq`, for
/// the mmap write holder. Always evaluates the mmap-write assertion.
#[track_caller]
pub fn __is_vma_write_locked(vma: &Vma) -> bool {
    let seq = __vma_raw_mm_seqnum(vma);
    vma.vm_lock_seq.load(Ordering::Relaxed) == seq
}

/// `__vma_start_write(vma, state)` (§2.23): the slow path of
/// [`vma_start_write`]: excludes readers, stores `vm_lock_seq` (whether or
/// not the VMA was detached), ends the exclusion. `Err(EINTR)` as for
/// [`__vma_start_exclude_readers`]: the VMA is not write-locked.
#[track_caller]
pub fn __vma_start_write(vma: &Vma, state: TaskState) -> Result<(), Errno> {
    start_write(vma, state).map_err(Errno::from)
}

/// [`__vma_start_write`] telling a signal from an abandoned wait.
#[track_caller]
fn start_write(vma: &Vma, state: TaskState) -> Result<(), WaitError> {
    let seq = __vma_raw_mm_seqnum(vma);
    let mut ves = VmaExcludeReadersState::new(vma, state, false);
    if let Err(e) = start_exclude_readers(&mut ves) {
        if ves.detached {
            vma.kernel().warn(WarningId::StartWriteErrButDetached, format!("VMA {}", vma.id()));
        }
        return Err(e);
    }
    vma.vm_lock_seq.store(seq, Ordering::Relaxed);
    check_write_lock_invariants(vma, seq);
    if ves.exclusive {
        __vma_end_exclude_readers(&mut ves);
        if ves.detached {
            vma.kernel().warn(WarningId::StartWriteBecameDetached, format!("VMA {}", vma.id()));
        }
    }
    Ok(())
}

/// `vma_start_write(vma)` (§2.24): write-locks `vma` for the mmap-write
/// holder. Fast path (already locked in this write hold): no hooks. Slow
/// path on an attached VMA: `ACQ(V,0,0,0,1)`, sleep (uninterruptibly)
/// until current readers leave, `ACQUIRED(V)`, `REL(V)`. The lock ends with
/// the write hold ([`mmap_write_unlock`](crate::mmap_write_unlock) /
/// [`mmap_write_downgrade`](crate::mmap_write_downgrade)).
///
/// `Ok` once the VMA is write-locked. `Err` only where the kernel would
/// hang: the wait can never end (the caller holds a read lock on `vma`, a
/// wait-for cycle, a poisoned count). The model then abandons it with a
/// [`WarningId::WaitWouldHang`], removes the flag, releases `V` (hooks
/// `ACQ(V,0,0,0,1)`, `REL(V)`) and leaves the VMA **not** write-locked —
/// which the caller must not miss.
#[track_caller]
#[must_use = "on Err the VMA is not write-locked"]
pub fn vma_start_write(vma: &Vma) -> Result<(), WouldHang> {
    if !vma.per_vma_lock() {
        return Ok(());
    }
    if __is_vma_write_locked(vma) {
        return Ok(());
    }
    start_write(vma, TaskState::Uninterruptible).map_err(|e| match e {
        WaitError::WouldHang(h) => h,
        WaitError::Interrupted => unreachable!("an uninterruptible wait ignores signals"),
    })
}

/// `vma_start_write_killable(vma)` (§2.25): as [`vma_start_write`], but a
/// fatal signal while readers remain fails with `Err(EINTR)`, the VMA not
/// write-locked (hooks `ACQ(V,0,0,0,1)`, `REL(V)`). A wait that could never
/// end fails the same way, with a [`WarningId::WaitWouldHang`].
#[track_caller]
#[must_use = "the VMA is not write-locked on error"]
pub fn vma_start_write_killable(vma: &Vma) -> Result<(), Errno> {
    if !vma.per_vma_lock() {
        return Ok(());
    }
    if __is_vma_write_locked(vma) {
        return Ok(());
    }
    __vma_start_write(vma, TaskState::Killable)
}

// -- attach / detach ------------------------------------------------------------

/// `vma_is_attached(vma)` (§2.26): `vm_refcnt != 0` (racy).
pub fn vma_is_attached(vma: &Vma) -> bool {
    vma.vm_refcnt.load(Ordering::Relaxed) != 0
}

/// `vma_mark_attached(vma)` (§2.27): asserts the VMA write-locked (DEBUG_VM)
/// and detached, then release-stores `vm_refcnt = 1`. No hooks.
#[track_caller]
pub fn vma_mark_attached(vma: &Vma) {
    if !vma.per_vma_lock() {
        return;
    }
    vma_assert_write_locked(vma);
    vma_assert_detached(vma);
    vma.vm_refcnt.store(1, Ordering::Release);
}

/// `vma_mark_detached(vma)` (§2.28): asserts the VMA write-locked (DEBUG_VM)
/// and attached, drops the attach reference (no hook, no wake-up) and, if
/// transient readers remain, waits for them
/// ([`__vma_exclude_readers_for_detach`]). Afterwards `vm_refcnt == 0`.
///
/// `Err` only where the kernel would hang: the wait for the remaining
/// readers can never end (the caller holds one of them, a wait-for cycle,
/// a count poisoned by detaching a detached VMA). It is abandoned with a
/// [`WarningId::WaitWouldHang`] and a [`WarningId::DetachNotComplete`],
/// and the VMA is **not** detached.
#[track_caller]
#[must_use = "on Err the VMA is not detached"]
pub fn vma_mark_detached(vma: &Vma) -> Result<(), WouldHang> {
    if !vma.per_vma_lock() {
        return Ok(());
    }
    vma_assert_write_locked(vma);
    vma_assert_attached(vma);
    if vma.refcnt_put_return() == 0 {
        return Ok(());
    }
    vma.kernel().pause_point(PausePoint::P4, vma);
    __vma_exclude_readers_for_detach(vma)
}

/// `__vma_exclude_readers_for_detach(vma)` (§2.28): excludes the remaining
/// (transient) readers with target `F`, then removes the flag (count 0).
/// [`WarningId::DetachNotComplete`] if the count did not reach 0; `Err` if
/// that is because the wait was abandoned (see [`vma_mark_detached`]).
#[track_caller]
#[must_use = "on Err the VMA is not detached"]
pub fn __vma_exclude_readers_for_detach(vma: &Vma) -> Result<(), WouldHang> {
    let mut ves = VmaExcludeReadersState::new(vma, TaskState::Uninterruptible, true);
    let r = start_exclude_readers(&mut ves);
    if r.is_ok() && ves.exclusive {
        __vma_end_exclude_readers(&mut ves);
    }
    if !ves.detached {
        vma.kernel().warn(WarningId::DetachNotComplete, format!("VMA {}: vm_refcnt {:#x}", vma.id(), vma.vm_refcnt()));
    }
    match r {
        Ok(()) => Ok(()),
        Err(WaitError::WouldHang(h)) => Err(h),
        Err(WaitError::Interrupted) => unreachable!("an uninterruptible wait ignores signals"),
    }
}
