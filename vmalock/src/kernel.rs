//! [`Kernel`]: one simulated kernel — its configuration knobs, warning log,
//! per-thread fatal-signal flags, blocked-thread registry, pause points and
//! VMA-lock event counters. Every [`Mm`](crate::Mm) belongs to one.

use std::collections::HashSet;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::ThreadId;

use crate::hang;
use crate::pause::{self, PauseHandle, PauseHook, PausePoint};
use crate::vma::Vma;
use crate::warn::{WarnLog, Warning, WarningId};

/// The kernel's configuration knobs (§0.1) that are runtime choices in the
/// model. `LOCKDEP` is the compile-time [`lockdep::ENABLED`]; `debug_locks`
/// is the validator's own state ([`lockdep::Validator::is_validating`]).
#[derive(Clone, Debug)]
pub struct VmConfig {
    /// `CONFIG_DEBUG_VM`: enables every `VM_WARN_ON_ONCE*` check. Off, the
    /// checked condition is not even evaluated (so `vma_assert_write_locked`
    /// does nothing at all, including its embedded mmap assertion).
    pub debug_vm: bool,
    /// Kernel-faithful "once" semantics: a `*_ONCE` warning is logged only the
    /// first time per (id, call site). Default: log every occurrence.
    pub warn_once: bool,
    /// `CONFIG_LOCK_STAT`: emit the `lock_contended` / `lock_acquired` hooks.
    pub lock_stat: bool,
    /// `CONFIG_PROVE_RCU`: check that `vma_start_read` / `lock_next_vma` run
    /// inside an RCU read section (only effective with lockdep compiled in).
    pub prove_rcu: bool,
    /// Detect waits that can never end and abandon them with a
    /// [`WarningId::WaitWouldHang`] instead of hanging.
    pub detect_hangs: bool,
    /// `CONFIG_PER_VMA_LOCK`. Off, the per-VMA scheme is stubbed out as in
    /// §2.30: the sequence helpers do nothing, `lock_vma_under_rcu` returns
    /// `None`, the VMA write/attach/detach calls are no-ops and the VMA
    /// assertions become the corresponding mmap assertions. Default on.
    pub per_vma_lock: bool,
    /// Check the §1.5 invariants as the model runs (default: in builds with
    /// debug assertions). Violations go to their own log
    /// ([`Kernel::invariant_violations`]), never to the warning log, so the
    /// reports a scenario expects are unchanged.
    pub check_invariants: bool,
    /// How many times in a row the RCU lookups may find the *same* detached
    /// VMA (`-EAGAIN`) before giving up with [`WarningId::EagainLoop`].
    pub eagain_retry_limit: u32,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            debug_vm: true,
            warn_once: false,
            lock_stat: true,
            prove_rcu: true,
            detect_hangs: true,
            per_vma_lock: true,
            check_invariants: cfg!(debug_assertions),
            eagain_retry_limit: 4,
        }
    }
}

impl VmConfig {
    /// Sets [`VmConfig::debug_vm`].
    pub fn with_debug_vm(mut self, on: bool) -> Self {
        self.debug_vm = on;
        self
    }
    /// Sets [`VmConfig::warn_once`].
    pub fn with_warn_once(mut self, on: bool) -> Self {
        self.warn_once = on;
        self
    }
    /// Sets [`VmConfig::lock_stat`].
    pub fn with_lock_stat(mut self, on: bool) -> Self {
        self.lock_stat = on;
        self
    }
    /// Sets [`VmConfig::per_vma_lock`].
    pub fn with_per_vma_lock(mut self, on: bool) -> Self {
        self.per_vma_lock = on;
        self
    }
    /// Sets [`VmConfig::detect_hangs`].
    pub fn with_detect_hangs(mut self, on: bool) -> Self {
        self.detect_hangs = on;
        self
    }
}

/// A kernel error code, as the operations that can fail return it.
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Errno {
    /// `-EINTR`: a killable wait was interrupted by a fatal signal (or, in the
    /// model, abandoned because it could never end).
    EINTR,
    /// `-EAGAIN`: the VMA was detached under an RCU reader; look it up again.
    EAGAIN,
}

impl Errno {
    /// The kernel's (negative) value.
    pub fn as_i32(self) -> i32 {
        match self {
            Errno::EINTR => -4,
            Errno::EAGAIN => -11,
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Errno::EINTR => "-EINTR",
            Errno::EAGAIN => "-EAGAIN",
        })
    }
}

impl std::error::Error for Errno {}

/// A broken §1.5 invariant, as recorded by [`Kernel::invariant_violations`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantViolation {
    /// The invariant's number in §1.5 (1 flag ownership, 4 write-lock
    /// definition, 5 parity, 6 write lock implies mmap write lock).
    pub invariant: u8,
    /// The thread that broke it.
    pub thread: ThreadId,
    /// What was seen.
    pub message: String,
}

/// The VMA-lock event counters (the kernel's `VMA_LOCK_*` vm events).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct VmaLockEvents {
    /// `VMA_LOCK_ABORT`: an RCU lookup gave up (caller falls back to the mmap lock).
    pub abort: u64,
    /// `VMA_LOCK_MISS`: an RCU lookup found a detached VMA and retried.
    pub miss: u64,
}

/// One simulated kernel: configuration, warning log, signals, test hooks.
///
/// Create one per test scenario; every [`Mm`](crate::Mm) made from it
/// reports into its warning log.
pub struct Kernel {
    pub(crate) cfg: VmConfig,
    log: WarnLog,
    signals: parking_lot::Mutex<HashSet<ThreadId>>,
    invariants: parking_lot::Mutex<Vec<InvariantViolation>>,
    pub(crate) waits: hang::Registry,
    pauses: Arc<pause::Registry>,
    abort: AtomicU64,
    miss: AtomicU64,
    next_id: AtomicU64,
}

impl fmt::Debug for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kernel").field("config", &self.cfg).field("events", &self.vma_lock_events()).finish()
    }
}

impl Kernel {
    /// A kernel with the given configuration.
    pub fn new(cfg: VmConfig) -> Arc<Kernel> {
        Arc::new(Kernel::with_config(cfg))
    }

    fn with_config(cfg: VmConfig) -> Kernel {
        Kernel {
            cfg,
            log: WarnLog::default(),
            signals: parking_lot::Mutex::new(HashSet::new()),
            invariants: parking_lot::Mutex::new(Vec::new()),
            waits: hang::Registry::new(),
            pauses: Arc::new(pause::Registry::default()),
            abort: AtomicU64::new(0),
            miss: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &VmConfig {
        &self.cfg
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    // -- warnings ----------------------------------------------------------

    /// Registers the current thread as about to sleep on `on` with the hang
    /// detector. A sleep that closes a wait-for cycle through *another*
    /// thread's exclusion wait aborts that wait (warning `WAIT_WOULD_HANG`,
    /// at the caller's location) and goes ahead; one the detector cannot
    /// break that way is `Err` with the cycle, for the caller to abandon.
    #[track_caller]
    pub(crate) fn block(&self, on: hang::WaitOn) -> Result<Arc<hang::WaitRecord>, String> {
        match self.waits.block(on, self.cfg.detect_hangs) {
            hang::Verdict::Sleep { rec, broke } => {
                if let Some(b) = broke {
                    self.warn(WarningId::WaitWouldHang, b.desc.clone());
                    b.abort();
                }
                Ok(rec)
            }
            hang::Verdict::Abandon(desc) => Err(desc),
        }
    }

    /// Logs a warning at the caller's (propagated) location.
    #[track_caller]
    pub(crate) fn warn(&self, id: WarningId, message: String) {
        self.log.push(id, Location::caller(), message, self.cfg.warn_once);
    }

    /// Every warning so far, oldest first.
    pub fn warnings(&self) -> Vec<Warning> {
        self.log.all()
    }

    /// Removes and returns every warning so far.
    pub fn take_warnings(&self) -> Vec<Warning> {
        self.log.take()
    }

    /// The ids of every warning so far, oldest first.
    pub fn warning_ids(&self) -> Vec<WarningId> {
        self.log.all().iter().map(Warning::id).collect()
    }

    /// How many warnings with `id` were logged so far.
    pub fn count_warnings(&self, id: WarningId) -> usize {
        self.log.all().iter().filter(|w| w.id() == id).count()
    }

    /// Forgets every warning so far.
    pub fn clear_warnings(&self) {
        self.log.take();
    }

    // -- invariants ----------------------------------------------------------

    /// Records a broken invariant (only with [`VmConfig::check_invariants`]).
    pub(crate) fn invariant(&self, invariant: u8, message: String) {
        let thread = std::thread::current().id();
        self.invariants.lock().push(InvariantViolation { invariant, thread, message });
    }

    /// Every §1.5 invariant violation seen so far (checked when
    /// [`VmConfig::check_invariants`] is on). Correct use never breaks one;
    /// the misuse scenarios do (e.g. S10 breaks parity, S19 flag ownership).
    pub fn invariant_violations(&self) -> Vec<InvariantViolation> {
        self.invariants.lock().clone()
    }

    // -- fatal signals -----------------------------------------------------

    /// Delivers a fatal signal to `thread` (it stays pending until
    /// [`Kernel::clear_fatal_signal`]). A killable wait of that thread is woken
    /// and fails with `-EINTR` if its condition is still false.
    pub fn send_fatal_signal(&self, thread: ThreadId) {
        self.signals.lock().insert(thread);
        self.waits.wake_thread(thread);
    }

    /// Clears a pending fatal signal of `thread`.
    pub fn clear_fatal_signal(&self, thread: ThreadId) {
        self.signals.lock().remove(&thread);
    }

    /// Whether the current thread has a fatal signal pending
    /// (`fatal_signal_pending(current)`).
    pub fn fatal_signal_pending(&self) -> bool {
        let me = std::thread::current().id();
        self.signals.lock().contains(&me)
    }

    // -- blocked threads ---------------------------------------------------

    /// Blocks until `thread` is asleep in a model wait (the mmap rwsem or an
    /// exclude-readers wait). Tests use it to order steps without sleeping.
    pub fn wait_until_blocked(&self, thread: ThreadId) {
        self.waits.wait_until_blocked(thread)
    }

    /// Whether `thread` is asleep in a model wait now.
    pub fn is_blocked(&self, thread: ThreadId) -> bool {
        self.waits.is_blocked(thread)
    }

    // -- pause points ------------------------------------------------------

    /// Arms a one-shot pause: the first thread to reach `point` parks there.
    pub fn pause_at(&self, point: PausePoint) -> PauseHandle {
        self.pauses.arm(point, None, None)
    }

    /// Arms a one-shot pause for `thread` only.
    pub fn pause_thread_at(&self, point: PausePoint, thread: ThreadId) -> PauseHandle {
        self.pauses.arm(point, Some(thread), None)
    }

    /// Arms a one-shot pause for `thread` (any thread if `None`) at `point`
    /// on `vma` only.
    pub fn pause_vma_at(&self, point: PausePoint, thread: Option<ThreadId>, vma: &Vma) -> PauseHandle {
        self.pauses.arm(point, thread, Some(vma.id()))
    }

    /// Installs (or removes) a closure run at every pause point.
    pub fn set_pause_hook(&self, hook: Option<PauseHook>) {
        self.pauses.set_hook(hook)
    }

    #[inline]
    pub(crate) fn pause_point(&self, point: PausePoint, vma: &Vma) {
        self.pauses.point(point, vma)
    }

    // -- counters ----------------------------------------------------------

    /// The VMA-lock event counters.
    pub fn vma_lock_events(&self) -> VmaLockEvents {
        VmaLockEvents { abort: self.abort.load(Ordering::Relaxed), miss: self.miss.load(Ordering::Relaxed) }
    }

    pub(crate) fn count_abort(&self) {
        self.abort.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_miss(&self) {
        self.miss.fetch_add(1, Ordering::Relaxed);
    }
}
