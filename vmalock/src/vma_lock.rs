//! The per-VMA lock (§2.14–§2.28) and the VMA assertions (§3.3–§3.6): the
//! functions of `include/linux/mmap_lock.h` and `mm/mmap_lock.c` that act
//! on one VMA, under the kernel's names.
//!
//! The lockdep view (§1.5 invariant 7): a VMA *read* lock is a shared
//! trylock entry for the VMA's map `V` (`ACQ(V,0,1,1,1)`) from after the
//! successful increment until just before the decrement; the
//! exclude-readers window is an exclusive entry (`ACQ(V,0,0,0,1)`, which is
//! where the validator learns `mmap_lock → vm_lock`). A finished VMA write
//! lock, attach references and the detached paths leave no trace in lockdep.

use std::sync::Arc;

use crate::events::WaitEventKind;
use crate::hang::{WaitOn, WaitRecord};
use crate::kernel::{Errno, WaitError, WouldHang};
use crate::mm::{Mm, VmaIterator};
use crate::mmap_lock::{
    mmap_assert_locked, mmap_assert_write_locked, mmap_lock_held, mmap_lock_speculate_retry,
    mmap_lock_speculate_try_begin, mmap_read_lock_killable, mmap_read_unlock,
};
use crate::pause::PausePoint;
use crate::rcu::{rcu_read_lock, rcu_read_lock_held, rcu_read_unlock};
use crate::sync::{Ordering, current_tid, forget_vma_ref, lock, note_vma_ref, wait};
use crate::vma::{VM_LOCK_SEQ_INIT, VM_REFCNT_EXCLUDE_READERS_FLAG, VM_REFCNT_LIMIT, Vma};
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

/// The lockdep-RCU check (`RCU_LOCKDEP_WARN(!rcu_read_lock_held(), …)`).
#[track_caller]
fn rcu_lockdep_check(mm: &Mm, what: &str) {
    if lockdep::ENABLED && mm.kernel().cfg.prove_rcu && !rcu_read_lock_held() {
        mm.kernel().warn(WarningId::RcuNotHeld, format!("{what} without rcu_read_lock"));
    }
}

// -- initialisation ---------------------------------------------------------

/// `vma_lock_init(vma, reset_refcnt)` (§2.21): `vm_lock_seq = UINT_MAX`, and
/// `vm_refcnt = 0` if `reset_refcnt`. (The lockdep map `V` is part of the
/// VMA object and already in the `"vm_lock"` class.)
pub fn vma_lock_init(vma: &Vma, reset_refcnt: bool) {
    if !per_vma(vma) {
        return;
    }
    if reset_refcnt {
        vma.vm_refcnt.store(0, Ordering::SeqCst);
    }
    vma.vm_lock_seq.store(VM_LOCK_SEQ_INIT, Ordering::SeqCst);
}

/// Whether the per-VMA scheme is configured in (§2.30 otherwise).
fn per_vma(vma: &Vma) -> bool {
    vma.kernel().cfg.per_vma_lock
}

// -- refcount helpers ---------------------------------------------------------

/// `__vma_are_readers_excluded(refcnt)`: the flag is set and the count is at
/// most `F + 1` ("exclusion may just have completed").
#[allow(non_snake_case)]
pub fn __vma_are_readers_excluded(refcnt: i32) -> bool {
    refcnt & F != 0 && refcnt <= F + 1
}

/// `__vma_refcount_put_return(vma)`: decrements `vm_refcnt`; 0 if it hit
/// zero, otherwise the new value. No hooks, no wake-up.
#[track_caller]
#[allow(non_snake_case)]
pub fn __vma_refcount_put_return(vma: &Vma) -> i32 {
    vma.refcnt_put_return()
}

/// `vma_refcount_put(vma)`: drop a reader reference — `REL(V)` *before* the
/// decrement, then wake the mm's writer if readers may now be excluded
/// (logged as a [`WaitEventKind::WakeUp`]).
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
/// [`WaitEventKind::WakeUp`] naming the thread it targets). Without a read
/// lock this is a validator `UNLOCK_IMBALANCE` and corrupts `vm_refcnt` (as
/// in the kernel). Never blocks.
#[track_caller]
pub fn vma_end_read(vma: &Vma) {
    if !per_vma(vma) {
        return;
    }
    vma_refcount_put(vma);
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

/// The exclude-readers wait (`rcuwait_wait_event` on `vma_writer_wait`
/// until `vm_refcnt == target`): the condition is checked before the
/// signal; never a `CONTENDED` hook. Every sleep and wake-up is logged
/// ([`WaitEventKind::Sleep`], [`WaitEventKind::Woken`]). Waits that can
/// never end (the caller holds one of the references itself, a wait-for
/// cycle, a poisoned count) are abandoned with a
/// [`WarningId::WaitWouldHang`] and [`WaitError::WouldHang`].
#[track_caller]
fn exclude_readers_wait(mm: &Mm, vma: &Vma, target: i32, state: TaskState) -> Result<(), WaitError> {
    enum Outcome {
        Done,
        Signal,
        Aborted(String),
        Poisoned(i32),
        Hang(String),
    }
    let k = mm.kernel();
    let slot = &mm.vma_writer_wait;
    let me = current_tid();
    let on_of = |attributed| WaitOn::Exclusion { mm: mm.weak(), mm_id: mm.id(), vma: vma.id(), target, attributed };
    let blocked_on = on_of(true).blocked_on();
    let mut rec: Option<Arc<WaitRecord>> = None;
    let mut g = lock(&slot.waiter);
    g.push((me, std::thread::current().id()));
    let outcome = loop {
        let c = vma.vm_refcnt.load(Ordering::Acquire);
        if c == target {
            break Outcome::Done;
        }
        if c < 0 {
            break Outcome::Poisoned(c);
        }
        if state == TaskState::Killable && k.fatal_signal_pending() {
            break Outcome::Signal;
        }
        if let Some(r) = rec.as_ref().filter(|r| r.is_aborted()) {
            break Outcome::Aborted(r.abort_reason());
        }
        if rec.is_none() {
            // About to sleep for the first time: register, and make sure the
            // sleep can end. Then re-check the condition before sleeping.
            drop(g);
            let on = on_of(!vma.unattributed.load(std::sync::atomic::Ordering::Relaxed));
            // (Taken without `slot.waiter`: breaking a cycle wakes the
            // victim, which may take it. An exclusion wait never breaks
            // another's — the detector abandons the exclusion wait itself.)
            let verdict = k.block(on);
            g = lock(&slot.waiter);
            match verdict {
                Ok(r) => {
                    rec = Some(r);
                    continue;
                }
                Err(desc) => break Outcome::Hang(desc),
            }
        }
        // Logged under the slot's lock: a waker logs its wake-up under it
        // too, so the log reads sleep, wake-up, woken.
        k.wait_event(WaitEventKind::Sleep { on: blocked_on, vm_refcnt: Some(c) });
        g = wait(&slot.cv, g);
        k.wait_event(WaitEventKind::Woken { on: blocked_on });
    };
    if let Some(i) = g.iter().position(|&(t, _)| t == me) {
        g.swap_remove(i);
    }
    drop(g);
    if let Some(r) = &rec {
        k.waits.unblock(r);
    }
    let hang = |reason: String| {
        k.warn(WarningId::WaitWouldHang, format!("VMA {}: {reason}", vma.id()));
        Err(WaitError::WouldHang(WouldHang::new(blocked_on, reason)))
    };
    match outcome {
        Outcome::Done => Ok(()),
        Outcome::Signal => Err(WaitError::Interrupted),
        // The thread that found the cycle logged the warning.
        Outcome::Aborted(reason) => Err(WaitError::WouldHang(WouldHang::new(blocked_on, reason))),
        Outcome::Poisoned(c) => hang(format!("waiting for vm_refcnt {target:#x} but it is saturated ({c:#x})")),
        Outcome::Hang(desc) => hang(desc),
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
#[allow(non_snake_case)]
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

/// §1.5 invariant 1: the flag is added only by the mm's mmap write holder.
/// (Adding it twice overflows `vm_refcnt`, which the refcount primitives
/// already report as `REFCOUNT_MISUSE`.)
fn check_exclusion_invariants(mm: &Mm, vma: &Vma) {
    let k = mm.kernel();
    if k.cfg.check_invariants && !mm.mmap_lock.is_write_owner() {
        k.invariant(1, format!("VMA {}: readers excluded without holding the mmap write lock", vma.id()));
    }
}

/// §1.5 invariants 4 and 6: `vm_lock_seq` is only ever assigned the current
/// odd value, by the thread holding the mmap write lock.
fn check_write_lock_invariants(vma: &Vma, seq: u32) {
    let k = vma.kernel();
    if !k.cfg.check_invariants {
        return;
    }
    if seq & 1 == 0 {
        k.invariant(4, format!("VMA {}: vm_lock_seq assigned the even value {seq}", vma.id()));
    }
    if !vma.mm().mmap_lock.is_write_owner() {
        k.invariant(6, format!("VMA {}: write-locked without holding the mmap write lock", vma.id()));
    }
}

/// `__vma_end_exclude_readers(ves)` (§2.22, pre-series `__vma_exit_locked`):
/// removes `F` (`detached` = the count became 0), then `REL(V)`.
#[track_caller]
#[allow(non_snake_case)]
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
#[allow(non_snake_case)]
pub fn __vma_raw_mm_seqnum(vma: &Vma) -> u32 {
    let mm = vma.mm();
    mmap_assert_write_locked(&mm);
    mm.mm_lock_seq.load(Ordering::Relaxed)
}

/// `__is_vma_write_locked(vma)` (§2.20): `vm_lock_seq == mm_lock_seq`, for
/// the mmap write holder. Always evaluates the mmap-write assertion.
#[track_caller]
#[allow(non_snake_case)]
pub fn __is_vma_write_locked(vma: &Vma) -> bool {
    let seq = __vma_raw_mm_seqnum(vma);
    vma.vm_lock_seq.load(Ordering::Relaxed) == seq
}

/// `__vma_start_write(vma, state)` (§2.23): the slow path of
/// [`vma_start_write`]: excludes readers, stores `vm_lock_seq` (whether or
/// not the VMA was detached), ends the exclusion. `Err(EINTR)` as for
/// [`__vma_start_exclude_readers`]: the VMA is not write-locked.
#[track_caller]
#[allow(non_snake_case)]
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
    if !per_vma(vma) {
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
    if !per_vma(vma) {
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
    if !per_vma(vma) {
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
    if !per_vma(vma) {
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
#[allow(non_snake_case)]
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

// -- assertions -----------------------------------------------------------------

/// `vma_assert_attached(vma)` (§3.5): [`WarningId::VmaNotAttached`] if
/// `vm_refcnt == 0`. Always active.
#[track_caller]
pub fn vma_assert_attached(vma: &Vma) {
    if !per_vma(vma) {
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
    if !per_vma(vma) {
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
    if !per_vma(vma) {
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
    if !per_vma(vma) {
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
    if !per_vma(vma) {
        mmap_assert_locked(&vma.mm());
        return;
    }
    if mmap_lock_held(&vma.mm()) {
        return;
    }
    vma_assert_locked(vma);
}
