//! [`Mm`]: the per-address-space state (`struct mm_struct`, §1.1) — the
//! mmap rwsem with its lockdep map, `mm_lock_seq`, the single-waiter
//! `vma_writer_wait` slot and the VMA tree — and [`VmaIterator`].

use std::fmt;
use std::sync::{Arc, Weak};
use std::thread::ThreadId;

use crate::events::WaitEventKind;
use crate::kernel::Kernel;
use crate::rwsem::RwSem;
use crate::sync::{AtomicU32, Condvar, Mutex, Ordering, Tid, lock};
use crate::tree::VmaTree;
use crate::vma::Vma;

/// An address space: the kernel's `struct mm_struct`, reduced to what the
/// locking scheme uses.
///
/// Always handled through an `Arc` (the lockdep map `M` is identified by its
/// address, so an mm must not move while its lock is held).
pub struct Mm {
    kernel: Arc<Kernel>,
    id: u64,
    this: Weak<Mm>,
    pub(crate) mmap_lock: RwSem,
    pub(crate) mm_lock_seq: AtomicU32,
    pub(crate) vma_writer_wait: WaitSlot,
    pub(crate) mm_mt: VmaTree,
}

impl Mm {
    /// A new, empty mm (`mm_init` → `mmap_init_lock`): the rwsem unlocked,
    /// `mm_lock_seq == 0`, no writer waiting, no VMAs. No hooks.
    pub fn new(kernel: &Arc<Kernel>) -> Arc<Mm> {
        Arc::new_cyclic(|this| Mm {
            kernel: kernel.clone(),
            id: kernel.next_id(),
            this: this.clone(),
            mmap_lock: RwSem::new(),
            mm_lock_seq: AtomicU32::new(0),
            vma_writer_wait: WaitSlot::new(),
            mm_mt: VmaTree::new(),
        })
    }

    /// The kernel this mm belongs to.
    pub fn kernel(&self) -> &Arc<Kernel> {
        &self.kernel
    }

    /// A small unique id (for messages and debugging).
    pub fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn weak(&self) -> Weak<Mm> {
        self.this.clone()
    }

    /// The lockdep map `M` of the mmap lock.
    pub fn mmap_lock_dep_map(&self) -> &lockdep::LockdepMap {
        &self.mmap_lock.dep_map
    }

    // -- raw state (test hooks) -------------------------------------------

    /// The raw `mm_lock_seq` (odd while a write hold is in progress).
    pub fn mm_lock_seq(&self) -> u32 {
        self.mm_lock_seq.load(Ordering::SeqCst)
    }

    /// Test hook: overwrites `mm_lock_seq` (e.g. to exercise wrap-around).
    pub fn set_mm_lock_seq(&self, seq: u32) {
        self.mm_lock_seq.store(seq, Ordering::SeqCst)
    }

    /// `rwsem_is_locked(&mm->mmap_lock)`: held by anybody, in any mode.
    pub fn mmap_lock_is_locked(&self) -> bool {
        self.mmap_lock.is_locked()
    }

    /// Whether anybody holds the mmap lock for write.
    pub fn mmap_lock_is_write_locked(&self) -> bool {
        self.mmap_lock.is_write_locked()
    }

    // -- for the hang detector (model only: no hooks, no assertions) --------

    /// Whether `tid` is still queued for the mmap lock (for write or read):
    /// a waiter already granted the lock is not blocked by anybody.
    pub(crate) fn mmap_lock_is_queued(&self, tid: Tid, write: bool) -> bool {
        self.mmap_lock.is_queued(tid, write)
    }

    /// The threads a waiter for the mmap lock in this mode waits for: the
    /// holders and, for a reader, the queued writers.
    pub(crate) fn mmap_lock_blockers(&self, write: bool) -> Vec<Tid> {
        self.mmap_lock.blockers(write)
    }

    /// Wakes every mmap-lock waiter to re-check its condition (a fatal
    /// signal, an abandoned wait).
    pub(crate) fn wake_mmap_lock_waiters(&self) {
        self.mmap_lock.wake_all();
    }

    /// Wakes the exclude-readers waiter in `vma_writer_wait`
    /// unconditionally, to re-check its condition (a fatal signal, an
    /// abandoned wait).
    pub(crate) fn wake_vma_writer(&self) {
        self.vma_writer_wait.wake_all();
    }

    // -- the VMA tree (test hooks: no assertions, no hooks) -----------------

    /// Stores `vma` in the tree under its current range, displacing (and
    /// returning) every VMA whose slot overlaps it.
    pub fn insert_vma(&self, vma: &Arc<Vma>) -> Vec<Arc<Vma>> {
        self.mm_mt.insert(vma)
    }

    /// Removes `vma` from the tree; false if it was not there.
    pub fn remove_vma(&self, vma: &Vma) -> bool {
        self.mm_mt.remove(vma)
    }

    /// Every VMA in the tree, in address order.
    pub fn vmas(&self) -> Vec<Arc<Vma>> {
        self.mm_mt.all()
    }

    /// The number of VMAs in the tree (`mm->map_count`).
    pub fn map_count(&self) -> usize {
        self.mm_mt.len()
    }

    /// `find_vma`: the first VMA ending above `addr` (containing it or after
    /// it). Meant to be called under the mmap lock; asserts nothing.
    pub fn find_vma(&self, addr: u64) -> Option<Arc<Vma>> {
        self.mm_mt.next_from(addr).map(|s| s.vma)
    }

    /// `vma_lookup`: the VMA containing `addr`, if any.
    pub fn vma_lookup(&self, addr: u64) -> Option<Arc<Vma>> {
        self.mm_mt.walk(addr)
    }
}

impl fmt::Debug for Mm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (readers, writer, queued_writers, queued_readers) = self.mmap_lock.snapshot();
        f.debug_struct("Mm")
            .field("id", &self.id)
            .field("mm_lock_seq", &self.mm_lock_seq())
            .field("readers", &readers)
            .field("writer", &writer)
            .field("queued_writers", &queued_writers)
            .field("queued_readers", &queued_readers)
            .field("map_count", &self.map_count())
            .finish()
    }
}

/// The single-waiter wait slot (`struct rcuwait`): where the mmap-write
/// holder sleeps while excluding VMA readers. In correct use there is at
/// most one waiter; misuse (write-locking without the mmap write lock) can
/// put two threads here, so the slot keeps a list rather than lose a
/// wake-up.
pub(crate) struct WaitSlot {
    pub(crate) waiter: Mutex<Vec<(Tid, ThreadId)>>,
    pub(crate) cv: Condvar,
}

impl WaitSlot {
    fn new() -> WaitSlot {
        WaitSlot { waiter: Mutex::new(Vec::new()), cv: Condvar::new() }
    }

    /// `rcuwait_wake_up` on `mm`'s slot after a put left `vm_refcnt` of
    /// `vma` at `refcnt`: wakes the registered waiter, if any, and logs the
    /// call (under the slot's lock, so before the waiter's `Woken`).
    pub(crate) fn wake_up(&self, mm: &Mm, vma: u64, refcnt: i32) {
        let g = lock(&self.waiter);
        let target = g.first().map(|&(_, t)| t);
        mm.kernel.wait_event(WaitEventKind::WakeUp { mm: mm.id, vma, vm_refcnt: refcnt, target });
        if !g.is_empty() {
            self.cv.notify_all();
        }
    }

    /// Wakes the waiter unconditionally (signals, hang-detector aborts).
    pub(crate) fn wake_all(&self) {
        let _g = lock(&self.waiter);
        self.cv.notify_all();
    }
}

/// A position in an mm's VMA tree (`struct vma_iterator`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct VmaIterator {
    index: u64,
}

impl VmaIterator {
    /// An iterator positioned at `addr` (`vma_iter_init`).
    pub fn new(addr: u64) -> VmaIterator {
        VmaIterator { index: addr }
    }

    /// `vma_iter_set`: repositions the iterator at `addr`.
    pub fn set(&mut self, addr: u64) {
        self.index = addr;
    }

    /// The current position.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// `vma_next`: the next VMA at or above the position, moving past it. An
    /// RCU-style lookup: the VMA may be stale.
    pub fn next(&mut self, mm: &Mm) -> Option<Arc<Vma>> {
        let slot = mm.mm_mt.next_from(self.index)?;
        self.index = slot.end;
        Some(slot.vma)
    }
}
