//! [`Vma`]: the per-VMA state (`struct vm_area_struct`, §1.2), its
//! refcount primitives (§2.0), and the two model callers of
//! `vma_assert_stabilised` (§4): [`anon_vma_name`] and
//! [`vma_flag_set_atomic`].

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};

use arc_swap::ArcSwapWeak;
use lockdep::LockdepMap;

use crate::kernel::Kernel;
use crate::keys::{VM_LOCK_KEY, VM_LOCK_NAME};
use crate::mm::Mm;
use crate::sync::{AtomicI32, AtomicU32, Ordering, fence};
use crate::vma_assert::vma_assert_stabilised;
use crate::warn::WarningId;

/// `VM_REFCNT_EXCLUDE_READERS_BIT`: bit 30 of `vm_refcnt`.
pub const VM_REFCNT_EXCLUDE_READERS_BIT: u32 = 30;
/// `VM_REFCNT_EXCLUDE_READERS_FLAG` (`F` = `1 << 30`), added by a thread
/// that excludes readers (write-locking or detaching).
pub const VM_REFCNT_EXCLUDE_READERS_FLAG: i32 = 1 << VM_REFCNT_EXCLUDE_READERS_BIT;
/// `VM_REFCNT_LIMIT` (`F - 1`): the ceiling for reader increments.
pub const VM_REFCNT_LIMIT: i32 = VM_REFCNT_EXCLUDE_READERS_FLAG - 1;
/// The value `refcount_t` saturates to on misuse (`REFCOUNT_SATURATED`).
/// A saturated `vm_refcnt` is *poisoned*: readers are refused and waits on
/// it are abandoned with a warning.
pub const REFCOUNT_SATURATED: i32 = i32::MIN / 2;
/// The initial `vm_lock_seq` (`UINT_MAX`).
pub const VM_LOCK_SEQ_INIT: u32 = u32::MAX;

/// Bit of the VMA flags that may be set atomically under a read-side lock:
/// "maybe has guard regions" (the only member of the atomic set).
pub const VMA_MAYBE_GUARD_BIT: u32 = 8;
/// Bit of the VMA flags: the VMA is a stack that grows down.
pub const VMA_GROWSDOWN_BIT: u32 = 1;
/// The bits [`vma_flag_set_atomic`] accepts.
pub const VMA_ATOMIC_SET_ALLOWED: u64 = 1 << VMA_MAYBE_GUARD_BIT;

/// A virtual memory area: the kernel's `struct vm_area_struct`, reduced to
/// what the locking scheme uses.
///
/// Always handled through an `Arc` (the lockdep map `V` is identified by its
/// address). The `Arc` also models the kernel's type-stable VMA memory: a
/// stale RCU reader's pointer stays valid, and "free + reallocate" is
/// [`Vma::recycle`] on the same object.
///
/// # The mm must outlive the VMA's use
///
/// A VMA refers to its mm weakly (the mm's tree owns its VMAs). In the
/// kernel an mm is torn down only after all its VMAs are freed, so a VMA
/// never outlives its mm; here a test could drop the [`Mm`] first.
/// [`Vma::vm_mm`] answers `None` then, and every operation that needs the
/// mm — write-locking or detaching the VMA, `vma_start_read_locked*`, the
/// lock assertions — **panics** with a message naming the VMA: there is no
/// mm whose lock it could take or check. The reader paths do not need it:
/// [`vma_end_read`](crate::vma_end_read) finds no writer to wake, and
/// [`lock_vma_under_rcu`](crate::lock_vma_under_rcu) on a live mm that
/// finds a VMA recycled into a dropped mm backs off (`None`) as for any
/// other mm.
pub struct Vma {
    kernel: Arc<Kernel>,
    id: u64,
    vm_mm: ArcSwapWeak<Mm>,
    vm_start: AtomicU64,
    vm_end: AtomicU64,
    flags: AtomicU64,
    anon_name: parking_lot::Mutex<Option<Arc<str>>>,
    pub(crate) vm_lock_seq: AtomicU32,
    pub(crate) vm_refcnt: AtomicI32,
    pub(crate) vmlock_dep_map: LockdepMap,
    /// Reader references released by a thread that did not take them (or
    /// not at all): the hang detector cannot attribute this VMA's readers.
    pub(crate) unattributed: std::sync::atomic::AtomicBool,
}

impl Vma {
    /// `vm_area_alloc` + `vma_lock_init(vma, true)`: a new detached VMA
    /// (`vm_refcnt == 0`, `vm_lock_seq == UINT_MAX`) of `mm` covering
    /// `[start, end)`, not in the tree. No hooks.
    pub fn new(mm: &Arc<Mm>, start: u64, end: u64) -> Arc<Vma> {
        let k = mm.kernel();
        Arc::new(Vma {
            kernel: k.clone(),
            id: k.next_id(),
            vm_mm: ArcSwapWeak::new(Arc::downgrade(mm)),
            vm_start: AtomicU64::new(start),
            vm_end: AtomicU64::new(end),
            flags: AtomicU64::new(0),
            anon_name: parking_lot::Mutex::new(None),
            vm_lock_seq: AtomicU32::new(VM_LOCK_SEQ_INIT),
            vm_refcnt: AtomicI32::new(0),
            vmlock_dep_map: LockdepMap::new(VM_LOCK_NAME, &VM_LOCK_KEY),
            unattributed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// A small unique id (for messages and pause filters).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The kernel the VMA was created in.
    pub fn kernel(&self) -> &Arc<Kernel> {
        &self.kernel
    }

    /// `vm_start`.
    pub fn vm_start(&self) -> u64 {
        self.vm_start.load(std::sync::atomic::Ordering::Acquire)
    }

    /// `vm_end`.
    pub fn vm_end(&self) -> u64 {
        self.vm_end.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether `addr` is in `[vm_start, vm_end)`.
    pub fn contains(&self, addr: u64) -> bool {
        self.vm_start() <= addr && addr < self.vm_end()
    }

    /// Sets the range (a model of `vma_set_range`; no locking or checks).
    pub fn set_range(&self, start: u64, end: u64) {
        self.vm_start.store(start, std::sync::atomic::Ordering::Release);
        self.vm_end.store(end, std::sync::atomic::Ordering::Release);
    }

    /// `vm_mm`: the owning mm, or `None` if that mm was dropped while the
    /// VMA is still in use (see [the contract](Vma#the-mm-must-outlive-the-vmas-use)).
    pub fn vm_mm(&self) -> Option<Arc<Mm>> {
        self.vm_mm.load().upgrade()
    }

    /// The owning mm, for an operation that needs it.
    ///
    /// # Panics
    ///
    /// If the mm was dropped (the documented contract of [`Vma`]).
    #[track_caller]
    pub(crate) fn mm(&self) -> Arc<Mm> {
        match self.vm_mm() {
            Some(mm) => mm,
            None => panic!("vmalock: VMA {} is used after its mm was dropped (an mm must outlive its VMAs)", self.id),
        }
    }

    /// `vma.vm_mm == mm`, read the way an unstable reader reads it.
    pub(crate) fn is_of(&self, mm: &Mm) -> bool {
        std::ptr::eq(self.vm_mm.load().as_ptr(), mm)
    }

    /// Whether the per-VMA lock scheme is configured in (`PER_VMA_LOCK`;
    /// the §2.30 stubs otherwise).
    pub(crate) fn per_vma_lock(&self) -> bool {
        self.kernel.cfg.per_vma_lock
    }

    /// The current `vm_mm`, held without touching the mm's reference counts
    /// (a read of the pointer; keep it only for a few steps).
    pub(crate) fn vm_mm_guard(&self) -> arc_swap::Guard<Weak<Mm>> {
        self.vm_mm.load()
    }

    /// The lockdep map `V` (class `"vm_lock"`).
    pub fn vmlock_dep_map(&self) -> &LockdepMap {
        &self.vmlock_dep_map
    }

    // -- raw state (test hooks) -------------------------------------------

    /// The raw `vm_refcnt`.
    pub fn vm_refcnt(&self) -> i32 {
        self.vm_refcnt.load(Ordering::SeqCst)
    }

    /// Test hook: overwrites `vm_refcnt`.
    pub fn set_vm_refcnt(&self, v: i32) {
        self.vm_refcnt.store(v, Ordering::SeqCst)
    }

    /// The raw `vm_lock_seq`.
    pub fn vm_lock_seq(&self) -> u32 {
        self.vm_lock_seq.load(Ordering::SeqCst)
    }

    /// Test hook: overwrites `vm_lock_seq`.
    pub fn set_vm_lock_seq(&self, v: u32) {
        self.vm_lock_seq.store(v, Ordering::SeqCst)
    }

    /// Test hook ("recycle VMA", §5.0): the VMA's memory is freed and reused
    /// for a VMA of `mm` covering `[start, end)` — `vma_lock_init(vma, true)`
    /// plus a new `vm_mm` and range, keeping the same identity (so stale RCU
    /// readers still holding it now see the new incarnation). The flags and
    /// the anonymous name are cleared. Not inserted in any tree.
    pub fn recycle(&self, mm: &Arc<Mm>, start: u64, end: u64) {
        crate::vma_write::vma_lock_init(self, true);
        self.unattributed.store(false, std::sync::atomic::Ordering::Relaxed);
        self.flags.store(0, std::sync::atomic::Ordering::Relaxed);
        *self.anon_name.lock() = None;
        self.set_range(start, end);
        self.vm_mm.store(Arc::downgrade(mm));
    }

    // -- flags and name ------------------------------------------------------

    /// The VMA flags (bit set).
    pub fn flags(&self) -> u64 {
        self.flags.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Sets the flags (as a write-locked modification would; checks nothing).
    pub fn set_flags(&self, flags: u64) {
        self.flags.store(flags, std::sync::atomic::Ordering::Release)
    }

    /// Sets the anonymous name (as `prctl(PR_SET_VMA)` would under the mmap
    /// write lock; checks nothing).
    pub fn set_anon_name(&self, name: Option<&str>) {
        *self.anon_name.lock() = name.map(Arc::from);
    }

    // -- refcount primitives (§2.0) ---------------------------------------

    /// `__refcount_inc_not_zero_limited_acquire(&vm_refcnt, &old, limit)`:
    /// `Ok(old)` after an increment, `Err(old)` when refused (0: detached;
    /// `>= limit`: flag set or ceiling). A poisoned (negative) count is
    /// refused with a `REFCOUNT_MISUSE` warning.
    #[track_caller]
    pub(crate) fn refcnt_inc_not_zero_limited_acquire(&self, limit: i32) -> Result<i32, i32> {
        let mut old = self.vm_refcnt.load(Ordering::Relaxed);
        loop {
            if old == 0 || old >= limit {
                return Err(old);
            }
            if old < 0 {
                self.kernel.warn(
                    WarningId::RefcountMisuse,
                    format!("VMA {}: increment of saturated vm_refcnt {old:#x}", self.id),
                );
                return Err(old);
            }
            match self.vm_refcnt.compare_exchange_weak(old, old + 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Ok(old),
                Err(cur) => old = cur,
            }
        }
    }

    /// `__refcount_dec_and_test(&vm_refcnt, &old)` as
    /// `__vma_refcount_put_return` uses it: the new value, 0 if it hit zero.
    /// Decrementing from `<= 0` is a `REFCOUNT_MISUSE` and saturates.
    #[track_caller]
    pub(crate) fn refcnt_put_return(&self) -> i32 {
        let old = self.vm_refcnt.fetch_sub(1, Ordering::Release);
        if old == 1 {
            fence(Ordering::Acquire);
            return 0;
        }
        if old <= 0 {
            self.vm_refcnt.store(REFCOUNT_SATURATED, Ordering::Relaxed);
            self.kernel.warn(WarningId::RefcountMisuse, format!("VMA {}: vm_refcnt underflow from {old:#x}", self.id));
        }
        old.wrapping_sub(1)
    }

    /// `refcount_add_not_zero(F, &vm_refcnt)`.
    #[track_caller]
    pub(crate) fn refcnt_add_not_zero(&self, i: i32) -> bool {
        let mut old = self.vm_refcnt.load(Ordering::Relaxed);
        loop {
            if old == 0 {
                return false;
            }
            match self.vm_refcnt.compare_exchange_weak(old, old.wrapping_add(i), Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => break,
                Err(cur) => old = cur,
            }
        }
        if old < 0 || old.checked_add(i).is_none() {
            self.vm_refcnt.store(REFCOUNT_SATURATED, Ordering::Relaxed);
            self.kernel.warn(
                WarningId::RefcountMisuse,
                format!("VMA {}: vm_refcnt overflow adding {i:#x} to {old:#x}", self.id),
            );
        }
        true
    }

    /// `refcount_sub_and_test(i, &vm_refcnt)`.
    #[track_caller]
    pub(crate) fn refcnt_sub_and_test(&self, i: i32) -> bool {
        let old = self.vm_refcnt.fetch_sub(i, Ordering::Release);
        if old == i {
            fence(Ordering::Acquire);
            return true;
        }
        if old <= 0 || old < i {
            self.vm_refcnt.store(REFCOUNT_SATURATED, Ordering::Relaxed);
            self.kernel.warn(
                WarningId::RefcountMisuse,
                format!("VMA {}: vm_refcnt underflow subtracting {i:#x} from {old:#x}", self.id),
            );
        }
        false
    }
}

impl fmt::Debug for Vma {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vma")
            .field("id", &self.id)
            .field("range", &format_args!("{:#x}..{:#x}", self.vm_start(), self.vm_end()))
            .field("vm_refcnt", &format_args!("{:#x}", self.vm_refcnt()))
            .field("vm_lock_seq", &self.vm_lock_seq())
            .finish()
    }
}

/// `anon_vma_name(vma)`: the VMA's anonymous name, after
/// [`vma_assert_stabilised`]. The returned `Arc` is the caller's own
/// reference (the kernel's `anon_vma_name_get`).
#[track_caller]
pub fn anon_vma_name(vma: &Vma) -> Option<Arc<str>> {
    vma_assert_stabilised(vma);
    vma.anon_name.lock().clone()
}

/// `vma_flag_set_atomic(vma, bit)` (later `vma_set_atomic_flag`): after
/// [`vma_assert_stabilised`], sets `bit` atomically if it is in
/// [`VMA_ATOMIC_SET_ALLOWED`]; otherwise warns
/// ([`WarningId::AtomicFlagNotAllowed`]) and changes nothing. Assertions do
/// not block the operation.
#[track_caller]
pub fn vma_flag_set_atomic(vma: &Vma, bit: u32) {
    vma_assert_stabilised(vma);
    let mask = 1u64.checked_shl(bit).unwrap_or(0);
    if mask == 0 || mask & VMA_ATOMIC_SET_ALLOWED == 0 {
        vma.kernel
            .warn(WarningId::AtomicFlagNotAllowed, format!("VMA {}: bit {bit} may not be set atomically", vma.id));
        return;
    }
    vma.flags.fetch_or(mask, std::sync::atomic::Ordering::AcqRel);
}

/// The later name of [`vma_flag_set_atomic`].
#[track_caller]
pub fn vma_set_atomic_flag(vma: &Vma, bit: u32) {
    vma_flag_set_atomic(vma, bit)
}

/// The model caller `set_atomic_flag(vma, bit)` of §4 / S56: the same as
/// [`vma_flag_set_atomic`].
#[track_caller]
pub fn set_atomic_flag(vma: &Vma, bit: u32) {
    vma_flag_set_atomic(vma, bit)
}

/// `MAYBE_GUARD` as S56 names it: [`VMA_MAYBE_GUARD_BIT`].
pub const MAYBE_GUARD: u32 = VMA_MAYBE_GUARD_BIT;

/// `vma_flag_test_atomic(vma, bit)` (later `vma_test_atomic_flag`): needs no
/// lock and asserts nothing.
pub fn vma_flag_test_atomic(vma: &Vma, bit: u32) -> bool {
    let mask = 1u64.checked_shl(bit).unwrap_or(0);
    vma.flags() & mask != 0
}

/// The later name of [`vma_flag_test_atomic`].
pub fn vma_test_atomic_flag(vma: &Vma, bit: u32) -> bool {
    vma_flag_test_atomic(vma, bit)
}
