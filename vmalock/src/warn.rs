//! The typed warning log: the kernel's `WARN*` reports of §0.3 as data.
//!
//! Every warning names its [`WarningId`], the thread that raised it and the
//! call site (the public `vmalock` entry point the caller used, propagated
//! with `#[track_caller]`). The log belongs to a [`Kernel`](crate::Kernel),
//! so concurrently running tests never see each other's warnings.
//!
//! Validator reports (`RECURSIVE_LOCKING`, `CIRCULAR_DEPENDENCY`,
//! `UNLOCK_IMBALANCE`, …) are not warnings: they come from the `lockdep`
//! [`Validator`](lockdep::Validator).

use std::collections::HashSet;
use std::fmt;
use std::panic::Location;
use std::thread::ThreadId;

use parking_lot::Mutex;

/// What a warning reports: the ids of the specification's §0.3, plus a few
/// the model adds where the real kernel would hang or misbehave silently.
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum WarningId {
    /// `mmap_assert_locked`: the mmap lock is not held (per thread with
    /// lockdep, by anybody without).
    MmapNotHeld,
    /// `mmap_assert_write_locked`: the mmap lock is not held for write.
    MmapNotWriteHeld,
    /// `vma_assert_write_locked`: `vm_lock_seq != mm_lock_seq` (DEBUG_VM, once).
    VmaNotWriteLocked,
    /// The non-lockdep `vma_assert_locked` found `vm_refcnt == 0` (DEBUG_VM, once).
    VmaDetachedInLockedAssert,
    /// `vma_assert_attached`: `vm_refcnt == 0` (always, once).
    VmaNotAttached,
    /// `vma_assert_detached`: `vm_refcnt != 0` (always, once).
    VmaNotDetached,
    /// `__vma_start_write` failed and saw the VMA detached (always, once).
    StartWriteErrButDetached,
    /// `__vma_start_write` ended the exclusion and found the VMA detached (always, once).
    StartWriteBecameDetached,
    /// `__vma_end_exclude_readers` entered with `detached` already set (DEBUG_VM, once).
    EndExcludeAlreadyDetached,
    /// `__vma_exclude_readers_for_detach` finished without reaching 0 (always, once).
    DetachNotComplete,
    /// `vma_start_read` / `lock_next_vma` outside an RCU read section
    /// (lockdep-RCU: only with lockdep compiled in, once).
    RcuNotHeld,
    /// A `refcount_t` saturation, underflow or use-after-free on `vm_refcnt`.
    RefcountMisuse,
    /// Model: `vma_flag_set_atomic` with a bit outside the atomic set (once).
    AtomicFlagNotAllowed,
    /// Model: a wait that could never end (a thread waiting for references
    /// it holds itself, a wait-for cycle between threads, a poisoned
    /// refcount) was abandoned instead of hanging like the kernel would.
    /// The abandoned operation also fails: [`WouldHang`](crate::WouldHang)
    /// or `-EINTR`.
    WaitWouldHang,
    /// Model: `lock_vma_under_rcu` / `lock_next_vma` kept finding the same
    /// detached VMA (the kernel would retry forever).
    EagainLoop,
}

impl WarningId {
    /// The specification's name for this id (`"MMAP_NOT_HELD"`, …).
    pub fn name(self) -> &'static str {
        match self {
            WarningId::MmapNotHeld => "MMAP_NOT_HELD",
            WarningId::MmapNotWriteHeld => "MMAP_NOT_WRITE_HELD",
            WarningId::VmaNotWriteLocked => "VMA_NOT_WRITE_LOCKED",
            WarningId::VmaDetachedInLockedAssert => "VMA_DETACHED_IN_LOCKED_ASSERT",
            WarningId::VmaNotAttached => "VMA_NOT_ATTACHED",
            WarningId::VmaNotDetached => "VMA_NOT_DETACHED",
            WarningId::StartWriteErrButDetached => "START_WRITE_ERR_BUT_DETACHED",
            WarningId::StartWriteBecameDetached => "START_WRITE_BECAME_DETACHED",
            WarningId::EndExcludeAlreadyDetached => "END_EXCLUDE_ALREADY_DETACHED",
            WarningId::DetachNotComplete => "DETACH_NOT_COMPLETE",
            WarningId::RcuNotHeld => "RCU_NOT_HELD",
            WarningId::RefcountMisuse => "REFCOUNT_MISUSE",
            WarningId::AtomicFlagNotAllowed => "ATOMIC_FLAG_NOT_ALLOWED",
            WarningId::WaitWouldHang => "WAIT_WOULD_HANG",
            WarningId::EagainLoop => "EAGAIN_LOOP",
        }
    }

    /// Whether the kernel reports this only once per call site
    /// (`WARN_ON_ONCE` / `VM_WARN_ON_ONCE*`). Only honoured in
    /// [`VmConfig::warn_once`](crate::VmConfig::warn_once) mode.
    pub fn is_once(self) -> bool {
        !matches!(
            self,
            WarningId::MmapNotHeld
                | WarningId::MmapNotWriteHeld
                | WarningId::RefcountMisuse
                | WarningId::WaitWouldHang
                | WarningId::EagainLoop
        )
    }

    /// Whether the check only runs with DEBUG_VM.
    pub fn needs_debug_vm(self) -> bool {
        matches!(
            self,
            WarningId::VmaNotWriteLocked | WarningId::VmaDetachedInLockedAssert | WarningId::EndExcludeAlreadyDetached
        )
    }
}

impl fmt::Display for WarningId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One warning in the log.
#[derive(Clone, Debug)]
pub struct Warning {
    id: WarningId,
    thread: ThreadId,
    thread_name: Option<String>,
    location: &'static Location<'static>,
    message: String,
}

impl Warning {
    /// What was reported.
    pub fn id(&self) -> WarningId {
        self.id
    }
    /// The thread that raised it.
    pub fn thread(&self) -> ThreadId {
        self.thread
    }
    /// That thread's name, if it has one.
    pub fn thread_name(&self) -> Option<&str> {
        self.thread_name.as_deref()
    }
    /// The call site: the `vmalock` entry point the caller used.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
    /// Details (the VMA, the values compared).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WARNING: {} at {} on thread ", self.id, self.location)?;
        match &self.thread_name {
            Some(n) => write!(f, "\"{n}\"")?,
            None => write!(f, "{:?}", self.thread)?,
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// The log itself.
#[derive(Default)]
pub(crate) struct WarnLog {
    entries: Mutex<Vec<Warning>>,
    once: Mutex<HashSet<(WarningId, usize)>>,
}

impl WarnLog {
    pub(crate) fn push(&self, id: WarningId, location: &'static Location<'static>, message: String, once_mode: bool) {
        if once_mode && id.is_once() && !self.once.lock().insert((id, location as *const Location<'static> as usize)) {
            return;
        }
        let t = std::thread::current();
        tracing::warn!(target: "vmalock", id = id.name(), location = %location, "{message}");
        self.entries.lock().push(Warning {
            id,
            thread: t.id(),
            thread_name: t.name().map(str::to_owned),
            location,
            message,
        });
    }

    pub(crate) fn all(&self) -> Vec<Warning> {
        self.entries.lock().clone()
    }

    pub(crate) fn take(&self) -> Vec<Warning> {
        std::mem::take(&mut *self.entries.lock())
    }
}
