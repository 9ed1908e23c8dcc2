//! Per-thread state: the scope stack, one held-lock stack and chain cache per
//! validator, and the "inside the validator" flag that makes re-entry a no-op.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::chain::ThreadChainCache;
use super::ctx::{Ctx, PerValidator};
use super::fast::disarm;
use super::held::HeldStack;
use super::inner::Inner;
use super::registry::global;
use super::signature::Signature;
use crate::report::{Report, ReportKind, TaskInfo, ThreadInfo};

pub(crate) struct ThreadData {
    pub(crate) info: ThreadInfo,
    /// `info` as new dependencies record their origin, shared by all of
    /// them (made by the first; `exchange`, which changes `info`'s task,
    /// drops it): each new edge then takes a reference instead of comparing
    /// `info` with the graph's last origin thread (`Graph::shared_thread`).
    origin: Option<Arc<ThreadInfo>>,
    /// The engine's number for this thread (never reused).
    pub(crate) num: u64,
    scopes: Vec<Arc<Inner>>,
    /// Boxed: the fast path keeps a pointer to the current one, which must
    /// not move when the vector does.
    #[allow(clippy::vec_box)]
    validators: Vec<Box<PerValidator>>,
    /// Reports waiting for dispatch (kept to reuse its allocation).
    out: Vec<Report>,
    /// Instances among the held locks that may be held across an `.await`
    /// (the async locks of `crate::tokio`); see `task`.
    awaitable: Vec<usize>,
    /// Per-validator states of ended tasks, their held stacks emptied, for
    /// the next task that starts here: a chain cache says which chains were
    /// validated, which holds whoever pushes them, so a new task starts
    /// warm (see `task`). At most [`SPARES`].
    #[allow(clippy::vec_box)] // see `validators`
    spare: Vec<Box<PerValidator>>,
}

/// How many ended tasks' per-validator states a thread keeps.
const SPARES: usize = 4;

/// What an instrumented task carries from poll to poll and exchanges with
/// the polling thread's (see [`exchange`] and `task`): the engine number,
/// the held-lock stacks and chain caches, the validator scopes, the task's
/// name and id for reports, and the awaitable held locks.
#[derive(Default)]
pub(crate) struct Swappable {
    pub(crate) num: u64,
    #[allow(clippy::vec_box)] // see `ThreadData::validators`
    pub(crate) validators: Vec<Box<PerValidator>>,
    pub(crate) scopes: Vec<Arc<Inner>>,
    pub(crate) task: Option<TaskInfo>,
    pub(crate) awaitable: Vec<usize>,
}

/// Which way [`exchange`] goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    /// A task comes in. Inside another task (a future instrumented within
    /// an instrumented task and polled by it) one that holds nothing of its
    /// own does not: it runs in the outer task, whose locks order its own.
    In,
    /// The task goes out.
    Out,
    /// The task goes out after returning `Pending`: unless it holds locks
    /// of the current validator that are not awaitable.
    OutChecked,
}

/// What [`exchange`] did.
pub(crate) enum Exchange {
    /// The states were exchanged.
    Done,
    /// Nothing was exchanged: the thread is inside the validator, its
    /// state is being torn down, or (`Way::In`) a task is current already.
    Skipped,
    /// Nothing was exchanged: the current held-lock stack holds these
    /// instances, none of them awaitable (only when asked to check).
    Holding(Vec<usize>),
}

struct ThreadState {
    busy: Cell<bool>,
    data: RefCell<Option<ThreadData>>,
}

thread_local! {
    static STATE: ThreadState = const { ThreadState { busy: Cell::new(false), data: RefCell::new(None) } };
}

/// Every thread the engine has seen that has not exited, by number.
pub(crate) fn live_threads() -> &'static Mutex<HashMap<u64, ThreadInfo>> {
    static LIVE: OnceLock<Mutex<HashMap<u64, ThreadInfo>>> = OnceLock::new();
    LIVE.get_or_init(Default::default)
}

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

impl ThreadData {
    fn new() -> ThreadData {
        // The global validator and its exit hooks (fork, save, summary)
        // exist from a thread's first hook on, scoped or not.
        global();
        let info = ThreadInfo::current();
        let num = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
        super::inner::lock(live_threads()).insert(num, info.clone());
        ThreadData {
            info,
            origin: None,
            num,
            scopes: Vec::new(),
            validators: Vec::new(),
            out: Vec::new(),
            awaitable: Vec::new(),
            spare: Vec::new(),
        }
    }
}

/// A new engine number, as threads get (for a task: see `task`).
pub(crate) fn new_num() -> u64 {
    NEXT_THREAD.fetch_add(1, Ordering::Relaxed)
}

/// Exchanges the current thread's number, held-lock stacks, scopes, task
/// and awaitable locks with `other`'s, re-arming the fast path for what is
/// now current (see [`Way`] for when it does not).
pub(crate) fn exchange(other: &mut Swappable, way: Way) -> Exchange {
    STATE
        .try_with(|st| {
            if st.busy.get() {
                return Exchange::Skipped;
            }
            let Ok(mut slot) = st.data.try_borrow_mut() else { return Exchange::Skipped };
            let data = slot.get_or_insert_with(ThreadData::new);
            if way == Way::In && data.info.task.is_some() && other.validators.iter().all(|p| p.held.locks.is_empty()) {
                return Exchange::Skipped;
            }
            if way == Way::OutChecked {
                let inner = current(&data.scopes);
                if let Some(pv) = data.validators.iter().find(|p| p.is_for(inner)) {
                    let bad: Vec<usize> =
                        pv.held.locks.iter().map(|h| h.instance()).filter(|i| !data.awaitable.contains(i)).collect();
                    if !bad.is_empty() {
                        return Exchange::Holding(bad);
                    }
                }
            }
            disarm();
            std::mem::swap(&mut data.num, &mut other.num);
            std::mem::swap(&mut data.validators, &mut other.validators);
            if data.validators.is_empty() && other.task.is_some() {
                // A task coming in (`other` is still its, for what is not
                // swapped yet) with no state of its own: its first poll. A
                // warm spare, if this thread has one for its validator.
                let inner = current(&other.scopes);
                if let Some(i) = data.spare.iter().position(|p| p.is_for(inner)) {
                    data.validators.push(data.spare.swap_remove(i));
                }
            }
            std::mem::swap(&mut data.scopes, &mut other.scopes);
            std::mem::swap(&mut data.info.task, &mut other.task);
            data.origin = None;
            std::mem::swap(&mut data.awaitable, &mut other.awaitable);
            arm(&mut slot);
            Exchange::Done
        })
        .unwrap_or(Exchange::Skipped)
}

/// Keeps an ended task's per-validator states as spares for the next task
/// to start on this thread (see `ThreadData::spare`).
#[allow(clippy::vec_box)] // see `ThreadData::validators`
pub(crate) fn recycle(validators: Vec<Box<PerValidator>>) {
    let _ = STATE.try_with(|st| {
        if st.busy.get() {
            return;
        }
        let Ok(mut slot) = st.data.try_borrow_mut() else { return };
        let Some(data) = slot.as_mut() else { return };
        for mut pv in validators {
            if data.spare.len() < SPARES && pv.inner.strong_count() > 0 {
                pv.held.locks.clear();
                data.spare.push(pv);
            }
        }
    });
}

/// The current thread's validator scopes (what a task made here inherits).
pub(crate) fn scopes() -> Vec<Arc<Inner>> {
    STATE
        .try_with(|st| st.data.try_borrow().ok().and_then(|d| d.as_ref().map(|d| d.scopes.clone())))
        .ok()
        .flatten()
        .unwrap_or_default()
}

#[cfg(feature = "tokio")]
/// Runs `f` on the current task's list of awaitable held locks (`None`
/// outside an instrumented task, where nothing reads the list — and where a
/// guard released on another worker would leave its entry behind for ever —
/// and when the thread is inside the validator or being torn down).
pub(crate) fn with_awaitable<R>(f: impl FnOnce(&mut Vec<usize>) -> R) -> Option<R> {
    STATE
        .try_with(|st| {
            if st.busy.get() {
                return None;
            }
            let mut slot = st.data.try_borrow_mut().ok()?;
            let data = slot.as_mut().filter(|d| d.info.task.is_some())?;
            Some(f(&mut data.awaitable))
        })
        .ok()
        .flatten()
}

/// The engine's number for the current thread, if it has one.
pub(crate) fn current_num() -> Option<u64> {
    STATE.try_with(|st| st.data.try_borrow().ok().and_then(|d| d.as_ref().map(|d| d.num))).ok().flatten()
}

/// Clears the busy flag when dropped (also on unwind).
struct Busy<'a>(&'a Cell<bool>);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Runs `f` in the current thread's context for its current validator.
///
/// Returns `None` without calling `f` when the thread is already inside the
/// validator (re-entry from a report callback or a `tracing` subscriber) or
/// its thread-local state is being torn down.
pub(crate) fn with_ctx<R>(f: impl FnOnce(&mut Ctx<'_>) -> R) -> Option<R> {
    if crate::fork::in_forked_child() {
        return None; // see `fork`: the engine's locks may be held forever
    }
    STATE
        .try_with(|st| {
            if st.busy.replace(true) {
                return None;
            }
            // What was armed, for the re-arm below when nothing it was made
            // from changed.
            let was = super::fast::armed();
            disarm();
            let _busy = Busy(&st.busy);
            let mut slot = st.data.try_borrow_mut().ok()?;
            let data = match slot.as_mut() {
                Some(d) => d,
                None => slot.insert(ThreadData::new()),
            };
            let ThreadData { info, origin, num, scopes, validators, out, .. } = data;
            let inner = current(scopes);
            let pv = per_validator(validators, inner, scopes);
            sync_epoch(inner, pv);
            let r = f(&mut Ctx { inner, pv: &mut *pv, thread: info, origin, thread_num: *num, out });
            if !out.is_empty() {
                let (inner, reports) = (inner.clone(), std::mem::take(out));
                drop(slot);
                dispatch_all(&inner, reports);
                inner.flush_message();
                if let Ok(mut slot) = st.data.try_borrow_mut() {
                    arm(&mut slot);
                }
            } else {
                inner.flush_message();
                if !super::fast::rearm_unchanged(was, pv, inner) {
                    arm(&mut slot);
                }
            }
            Some(r)
        })
        .ok()
        .flatten()
}

/// Empties `pv`'s chain cache if classes were zapped since it was filled.
#[inline]
fn sync_epoch(inner: &Inner, pv: &mut PerValidator) {
    let epoch = inner.epoch();
    if pv.cache.epoch != epoch {
        pv.cache.reset(epoch);
    }
}

/// Arms the fast path for the thread's current validator when it may run:
/// the validator validates, learns and does not record events, and it is
/// the first entry of `validators` (where `with_ctx` keeps the current one).
fn arm(slot: &mut Option<ThreadData>) {
    let Some(data) = slot.as_mut() else { return };
    let inner = current(&data.scopes);
    let Some(pv) = data.validators.first_mut() else { return };
    let hot = inner.hot();
    // Also once a limit stopped learning: the fast path only pushes classes
    // and chains that were looked up and validated before.
    let usable = hot & super::inner::VALIDATING != 0 && !inner.config.record_events;
    if !usable || !pv.is_for(inner) || pv.cache.epoch != hot >> 2 {
        return;
    }
    pv.hot = hot;
    pv.thread_num = data.num;
    // Below the validator's limit and within the held stack's capacity (the
    // fast path never allocates).
    let fast_depth = inner.config.max_depth.min(pv.held.locks.capacity());
    let p: *mut PerValidator = &mut **pv;
    super::fast::arm(p, inner, fast_depth);
}

/// The thread's current validator: the innermost scope's, or the global one.
/// (The global one is looked up only when no scope is entered: `global()`
/// also checks its one-time hooks, and this runs twice per slow-path hook.
/// A thread's first hook has made it, in `ThreadData::new`.)
#[inline]
fn current(scopes: &[Arc<Inner>]) -> &Arc<Inner> {
    match scopes.last() {
        Some(inner) => inner,
        None => global(),
    }
}

/// Hands reports to their validator, outside every engine lock (the thread
/// is still marked busy, so hooks from report actions are no-ops).
#[cold]
#[inline(never)]
fn dispatch_all(inner: &Inner, reports: Vec<Report>) {
    for report in reports {
        inner.dispatch(report, false);
    }
}

#[inline(always)]
#[allow(clippy::vec_box)] // see `ThreadData::validators`
fn per_validator<'a>(
    validators: &'a mut Vec<Box<PerValidator>>,
    inner: &Arc<Inner>,
    scopes: &[Arc<Inner>],
) -> &'a mut PerValidator {
    // The current validator's entry is kept first (where `arm` looks).
    if !validators.first().is_some_and(|p| p.is_for(inner)) {
        let pos = validators.iter().position(|p| p.is_for(inner)).unwrap_or_else(|| {
            // A dropped validator's state, emptied, is the next scoped
            // validator's: its chain cache's map keeps its capacity, which a
            // new one would grow again by doubling (~80 instructions a new
            // edge in a validator made after a dropped one). Not the global
            // validator's (made once a thread, often only for a map's drop
            // between two scoped validators): the state then waits, one at
            // most, for the next.
            let dropped = validators.iter().position(|p| p.inner.strong_count() == 0);
            let dropped = dropped.map(|i| validators.swap_remove(i));
            validators.retain(|p| p.inner.strong_count() > 0);
            let (reuse, keep) = if !scopes.is_empty() { (dropped, None) } else { (None, dropped) };
            validators.push(new_per_validator(inner, reuse));
            let pos = validators.len() - 1;
            validators.extend(keep);
            pos
        });
        validators.swap(0, pos);
    }
    &mut validators[0]
}

/// This thread's state for `inner`, in `reuse` (a dropped validator's,
/// emptied: no held lock, an empty chain cache) if given.
#[cold]
#[inline(never)]
fn new_per_validator(inner: &Arc<Inner>, reuse: Option<Box<PerValidator>>) -> Box<PerValidator> {
    let (id, ptr, weak) = (inner.id, Arc::as_ptr(inner) as usize, Arc::downgrade(inner));
    match reuse {
        Some(mut pv) => {
            // (Field by field: every one is set, as a new state's would be.)
            let PerValidator { id: i, ptr: p, inner: w, held, cache, hot, thread_num } = &mut *pv;
            (*i, *p, *w) = (id, ptr, weak);
            held.locks.clear();
            cache.reset(0);
            (*hot, *thread_num) = (0, 0);
            pv
        }
        None => Box::new(PerValidator {
            id,
            ptr,
            inner: weak,
            held: HeldStack { locks: Vec::with_capacity(16) },
            cache: ThreadChainCache::default(),
            hot: 0,
            thread_num: 0,
        }),
    }
}

/// Pops the scope pushed by [`enter_scope`] when dropped.
pub(crate) struct ScopeGuard(());

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        disarm();
        let _ = STATE.try_with(|st| {
            if let Ok(mut slot) = st.data.try_borrow_mut() {
                if let Some(d) = slot.as_mut() {
                    d.scopes.pop();
                }
            }
        });
    }
}

/// The validator of this thread's innermost scope (`None`: the global
/// one), for a lockdep-aware spawn to enter in the new thread.
pub(crate) fn current_scope() -> Option<Arc<Inner>> {
    STATE.try_with(|st| st.data.try_borrow().ok()?.as_ref()?.scopes.last().cloned()).ok().flatten()
}

/// Routes this thread's hooks to `inner` until the guard is dropped.
pub(crate) fn enter_scope(inner: &Arc<Inner>) -> ScopeGuard {
    if crate::fork::in_forked_child() {
        return ScopeGuard(());
    }
    disarm();
    let _ = STATE.try_with(|st| {
        if let Ok(mut slot) = st.data.try_borrow_mut() {
            let data = slot.get_or_insert_with(ThreadData::new);
            data.scopes.push(inner.clone());
        }
    });
    ScopeGuard(())
}

impl Drop for ThreadState {
    fn drop(&mut self) {
        // Thread exit: report the locks each live validator still sees held.
        if crate::fork::in_forked_child_quiet() {
            return;
        }
        self.busy.set(true);
        disarm();
        let Some(data) = self.data.get_mut().take() else {
            return;
        };
        super::inner::lock(live_threads()).remove(&data.num);
        for pv in data.validators.into_iter().map(|b| *b) {
            let Some(inner) = pv.inner.upgrade() else {
                continue;
            };
            if pv.held.locks.is_empty() || !inner.is_validating() {
                continue;
            }
            let mut shared = super::inner::lock(&inner.shared);
            let held = super::emit::held_infos(&shared.graph, &pv.held);
            // Once per distinct set of held classes, as for every other kind
            // (a one-shot validator has one report in all).
            let classes = pv.held.locks.iter().map(|h| h.class).collect();
            let first = inner.config.one_shot || shared.seen.insert(Signature::HeldLocksAtThreadExit(classes));
            drop(shared);
            if !first {
                continue;
            }
            let n = held.len();
            let report = Report {
                kind: ReportKind::HeldLocksAtThreadExit,
                validator: inner.config.name.clone(),
                one_shot: inner.config.one_shot,
                thread: data.info.clone(),
                location: held.last().map(|h| h.location).unwrap_or(std::panic::Location::caller()),
                lock: held.last().cloned(),
                other: None,
                other_thread: None,
                chain: Vec::new(),
                held,
                backtrace: None,
                dump: None,
                cycle: Vec::new(),
                message: format!("exited with {n} lock{} held", if n == 1 { "" } else { "s" }),
            };
            // One-shot: only if this report is the one that turns it off
            // (a report racing from another thread may have come first).
            if inner.config.one_shot && !inner.turn_off() {
                continue;
            }
            inner.dispatch(report, true);
        }
    }
}

/// The current thread's held locks in `inner`, as text.
pub(crate) fn held_text(inner: &Arc<Inner>) -> String {
    STATE
        .try_with(|st| {
            let slot = st.data.try_borrow().ok()?;
            let data = slot.as_ref()?;
            let pv = data.validators.iter().find(|p| p.is_for(inner))?;
            let sh = super::inner::lock(&inner.shared);
            let held = super::emit::held_infos(&sh.graph, &pv.held);
            let mut out = String::new();
            let _ = crate::report::write_held(&mut out, &held, &data.info);
            Some(out)
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| "no locks held.\n".to_owned())
}
