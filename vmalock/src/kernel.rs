//! [`Kernel`]: one simulated kernel — its configuration knobs, warning log,
//! per-thread fatal signals, blocked-thread registry, wait-event log, pause
//! points and VMA-lock event counters. Every [`Mm`](crate::Mm) belongs to
//! one. Also the outcome types of the model's waits: [`Errno`] for the
//! kernel's error returns and [`WouldHang`] for a wait the model abandoned.

use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::ThreadId;
use std::time::Duration;

use crate::events::{BlockedOn, EventLog, WaitEvent, WaitEventKind};
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
    /// How long the test-side waits ([`Kernel::wait_until_blocked`],
    /// [`PauseHandle::wait_reached`], [`Kernel::wait_for_wait_events`]) wait
    /// before they panic naming what they waited for. Default 30 s: far
    /// beyond any legitimate step of a scenario, short enough that one
    /// wrong step fails its test instead of hanging the test binary.
    pub wait_deadline: Duration,
    /// How many events the wait-event log ([`Kernel::wait_events`]) keeps;
    /// older ones are dropped and counted ([`Kernel::wait_events_dropped`]).
    /// 0 turns the log off. Default 10 000.
    pub wait_log_limit: usize,
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
            wait_deadline: Duration::from_secs(30),
            wait_log_limit: 10_000,
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
    /// Sets [`VmConfig::wait_deadline`].
    pub fn with_wait_deadline(mut self, deadline: Duration) -> Self {
        self.wait_deadline = deadline;
        self
    }
    /// Sets [`VmConfig::wait_log_limit`].
    pub fn with_wait_log_limit(mut self, limit: usize) -> Self {
        self.wait_log_limit = limit;
        self
    }
}

/// A kernel error code, as the operations that can fail return it.
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

impl From<WouldHang> for Errno {
    /// A killable operation reports an abandoned wait as `-EINTR`, as if a
    /// fatal signal had ended it.
    fn from(_: WouldHang) -> Errno {
        Errno::EINTR
    }
}

/// A wait the model abandoned because it could never end — where the
/// kernel would hang. The operation did not happen (the VMA is not
/// write-locked, not detached; the mmap lock is not held), the lockdep
/// entry of the attempt was released, and the kernel's warning log has the
/// matching [`WarningId::WaitWouldHang`] with the same reason.
///
/// Returned by the operations whose wait cannot be interrupted:
/// [`vma_start_write`](crate::vma_start_write),
/// [`vma_mark_detached`](crate::vma_mark_detached),
/// [`mmap_read_lock`](crate::mmap_read_lock),
/// [`mmap_write_lock`](crate::mmap_write_lock) and their relatives. The
/// killable ones report it as [`Errno::EINTR`] (their kernel contract),
/// with the same warning.
#[derive(Clone, PartialEq, Eq)]
pub struct WouldHang(Box<WouldHangInner>);

#[derive(Clone, PartialEq, Eq)]
struct WouldHangInner {
    wait: BlockedOn,
    reason: String,
}

impl WouldHang {
    pub(crate) fn new(wait: BlockedOn, reason: String) -> WouldHang {
        WouldHang(Box::new(WouldHangInner { wait, reason }))
    }

    /// The wait that was abandoned.
    pub fn wait(&self) -> BlockedOn {
        self.0.wait
    }

    /// Why it could never end: the wait-for cycle (each thread and what it
    /// waits for), or the poisoned count.
    pub fn reason(&self) -> &str {
        &self.0.reason
    }
}

impl fmt::Debug for WouldHang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WouldHang").field("wait", &self.0.wait).field("reason", &self.0.reason).finish()
    }
}

impl fmt::Display for WouldHang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "abandoned the wait for {} (it could never end: {})", self.0.wait, self.0.reason)
    }
}

impl std::error::Error for WouldHang {}

/// How a model wait failed (internal: the public functions return
/// [`Errno`] or [`WouldHang`]).
pub(crate) enum WaitError {
    /// A fatal signal (killable waits only).
    Interrupted,
    /// Abandoned: it could never end.
    WouldHang(WouldHang),
}

impl From<WaitError> for Errno {
    fn from(_: WaitError) -> Errno {
        Errno::EINTR
    }
}

/// A fatal signal pending on a thread, from
/// [`Kernel::send_fatal_signal`] until this guard is dropped (or
/// [`cleared`](FatalSignal::clear)).
///
/// As in the kernel, a fatal signal is sticky: while it is pending, every
/// killable wait of the thread fails with `-EINTR` unless its condition is
/// already true — the one it interrupted and every later one. The guard
/// makes that span visible in the test: it is exactly the guard's scope.
#[must_use = "the signal is withdrawn when the guard is dropped"]
pub struct FatalSignal<'k> {
    kernel: &'k Kernel,
    thread: ThreadId,
}

impl FatalSignal<'_> {
    /// The thread the signal is pending on.
    pub fn thread(&self) -> ThreadId {
        self.thread
    }

    /// Withdraws the signal now (the same as dropping the guard).
    pub fn clear(self) {}
}

impl Drop for FatalSignal<'_> {
    fn drop(&mut self) {
        let mut signals = self.kernel.signals.lock();
        if let Some(n) = signals.get_mut(&self.thread) {
            *n -= 1;
            if *n == 0 {
                signals.remove(&self.thread);
            }
        }
    }
}

impl fmt::Debug for FatalSignal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FatalSignal").field("thread", &self.thread).finish()
    }
}

/// An invariant of the specification (`docs/spec/vmalock.md` §1.5) that
/// the model checks as it runs ([`VmConfig::check_invariants`]). The
/// discriminant is the invariant's number in §1.5 ([`Invariant::number`]).
///
/// Invariants 2 (reader ceiling), 3 (detached is terminal), 7 (the lockdep
/// view) and 8 (refcount attribution) have no run-time check of this kind;
/// the tests check them from outside ([`lockdep::held_locks`],
/// [`Vma::vm_refcnt`](crate::Vma::vm_refcnt)).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum Invariant {
    /// §1.5 invariant 1, *flag ownership*: the exclude-readers flag `F` is
    /// added to `vm_refcnt` only by a thread that holds the VMA's mm's
    /// mmap lock for write. Checked when `__vma_start_exclude_readers`
    /// adds the flag.
    FlagOwnership = 1,
    /// §1.5 invariant 4, *write lock definition*: `vm_lock_seq` is only
    /// ever assigned the current **odd** `mm_lock_seq`, so that a VMA is
    /// write-locked (`vm_lock_seq == mm_lock_seq`) only while a write hold
    /// is in progress. Checked when `__vma_start_write` stores it.
    WriteLockDefinition = 4,
    /// §1.5 invariant 5, *parity*: `mm_lock_seq` is odd exactly while some
    /// thread holds the mmap lock for write. Checked at each
    /// `mm_lock_seqcount_begin` / `mm_lock_seqcount_end`; only a manual
    /// `vma_end_write_all` breaks it (§2.8).
    MmLockSeqParity = 5,
    /// §1.5 invariant 6, *write lock implies mmap write lock*: a VMA is
    /// write-locked only by the thread holding its mm's mmap lock for
    /// write. Checked when `__vma_start_write` stores `vm_lock_seq`.
    WriteLockImpliesMmapWriteLock = 6,
}

impl Invariant {
    /// The invariant's number in §1.5.
    pub fn number(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Invariant::FlagOwnership => "flag ownership",
            Invariant::WriteLockDefinition => "write lock definition",
            Invariant::MmLockSeqParity => "parity",
            Invariant::WriteLockImpliesMmapWriteLock => "write lock implies mmap write lock",
        };
        write!(f, "§1.5 invariant {} ({name})", self.number())
    }
}

/// A broken §1.5 invariant, as recorded by [`Kernel::invariant_violations`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantViolation {
    /// Which invariant.
    pub invariant: Invariant,
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
    events: EventLog,
    /// Pending fatal signals: the number of live [`FatalSignal`] guards per thread.
    signals: parking_lot::Mutex<HashMap<ThreadId, usize>>,
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
            log: WarnLog::default(),
            events: EventLog::new(cfg.wait_log_limit),
            signals: parking_lot::Mutex::new(HashMap::new()),
            invariants: parking_lot::Mutex::new(Vec::new()),
            waits: hang::Registry::new(),
            pauses: Arc::new(pause::Registry::new(cfg.wait_deadline)),
            cfg,
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
    pub(crate) fn invariant(&self, invariant: Invariant, message: String) {
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

    /// Delivers a fatal signal to `thread`. It stays pending — sticky, as in
    /// the kernel — until the returned guard is dropped: a killable wait of
    /// that thread is woken and fails with `-EINTR` if its condition is
    /// still false, and so does every killable wait it enters while the
    /// guard lives (a wait whose condition is already true succeeds: the
    /// condition is checked first). Non-killable waits ignore it.
    ///
    /// ```
    /// # use vmalock::*;
    /// let kernel = Kernel::new(VmConfig::default());
    /// let me = std::thread::current().id();
    /// {
    ///     let _signal = kernel.send_fatal_signal(me);
    ///     assert!(kernel.fatal_signal_pending());
    /// }
    /// assert!(!kernel.fatal_signal_pending()); // withdrawn with the guard
    /// ```
    pub fn send_fatal_signal(&self, thread: ThreadId) -> FatalSignal<'_> {
        *self.signals.lock().entry(thread).or_insert(0) += 1;
        self.waits.wake_thread(thread);
        FatalSignal { kernel: self, thread }
    }

    /// Whether the current thread has a fatal signal pending
    /// (`fatal_signal_pending(current)`).
    pub fn fatal_signal_pending(&self) -> bool {
        self.fatal_signal_pending_for(std::thread::current().id())
    }

    /// Whether `thread` has a fatal signal pending.
    pub fn fatal_signal_pending_for(&self, thread: ThreadId) -> bool {
        self.signals.lock().contains_key(&thread)
    }

    // -- blocked threads ---------------------------------------------------

    /// Where `thread` is blocked now: asleep in a model wait (the mmap
    /// rwsem, an exclude-readers wait) or parked at a pause point; `None`
    /// while it runs. A thread counts as in its model wait from just before
    /// its first sleep to the end of the wait, including the moments it is
    /// awake re-checking the condition (the wait-event log,
    /// [`Kernel::wait_events`], has each sleep and wake-up).
    pub fn blocked_on(&self, thread: ThreadId) -> Option<BlockedOn> {
        self.waits.blocked_on(thread)
    }

    /// Whether `thread` is blocked ([`Kernel::blocked_on`] is `Some`).
    pub fn is_blocked(&self, thread: ThreadId) -> bool {
        self.blocked_on(thread).is_some()
    }

    /// Blocks until `thread` is blocked (see [`Kernel::blocked_on`]) and
    /// says where. Tests use it to order steps without sleeping.
    ///
    /// # Panics
    ///
    /// After [`VmConfig::wait_deadline`], naming the thread and every
    /// thread blocked then.
    #[track_caller]
    pub fn wait_until_blocked(&self, thread: ThreadId) -> BlockedOn {
        self.wait_until_blocked_timeout(thread, self.cfg.wait_deadline)
    }

    /// [`Kernel::wait_until_blocked`] with its own deadline.
    ///
    /// # Panics
    ///
    /// After `timeout`, naming the thread and every thread blocked then.
    #[track_caller]
    pub fn wait_until_blocked_timeout(&self, thread: ThreadId, timeout: Duration) -> BlockedOn {
        self.waits.wait_until_blocked(thread, timeout)
    }

    // -- the wait-event log --------------------------------------------------

    /// Logs a wait event of the current thread.
    pub(crate) fn wait_event(&self, kind: WaitEventKind) {
        self.events.push(kind);
    }

    /// Every wait event so far, oldest first (at most
    /// [`VmConfig::wait_log_limit`]): each `rcuwait_wake_up` call and the
    /// thread it targets, each sleep and each wake-up in a model wait. See
    /// [`WaitEvent`].
    pub fn wait_events(&self) -> Vec<WaitEvent> {
        self.events.all()
    }

    /// Removes and returns every wait event so far.
    pub fn take_wait_events(&self) -> Vec<WaitEvent> {
        self.events.take()
    }

    /// How many events the log dropped to stay within
    /// [`VmConfig::wait_log_limit`].
    pub fn wait_events_dropped(&self) -> u64 {
        self.events.dropped()
    }

    /// Blocks until `pred` holds for the wait-event log (checked now and
    /// after every new event) and returns the log then — e.g. until a
    /// thread went back to sleep after a wake-up.
    ///
    /// # Panics
    ///
    /// After [`VmConfig::wait_deadline`], with the log.
    #[track_caller]
    pub fn wait_for_wait_events(&self, pred: impl FnMut(&[WaitEvent]) -> bool) -> Vec<WaitEvent> {
        self.events.wait_for(self.cfg.wait_deadline, pred)
    }

    /// [`Kernel::wait_for_wait_events`] with its own deadline.
    ///
    /// # Panics
    ///
    /// After `timeout`, with the log.
    #[track_caller]
    pub fn wait_for_wait_events_timeout(
        &self,
        timeout: Duration,
        pred: impl FnMut(&[WaitEvent]) -> bool,
    ) -> Vec<WaitEvent> {
        self.events.wait_for(timeout, pred)
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

    /// Runs the hook and parks at a matching armed pause, registered as
    /// blocked there meanwhile.
    #[inline]
    pub(crate) fn pause_point(&self, point: PausePoint, vma: &Vma) {
        if let Some(pause) = self.pauses.point(point, vma) {
            let rec = self.waits.register(hang::WaitOn::Pause { point, vma: vma.id() });
            pause.park();
            self.waits.unblock(&rec);
        }
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
