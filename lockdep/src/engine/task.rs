//! Task-local held-lock state (what `crate::task` builds on): an
//! instrumented future keeps its own engine number, held-lock stacks, chain
//! caches, validator scopes and awaitable-lock list in a [`TaskState`], and
//! exchanges them with the polling thread's for the length of each poll
//! (`thread::exchange`, one thread-local access each way). On the way out
//! of a poll that returned `Pending` the same access checks that the task
//! holds no synchronous lock, and reports each one it does
//! ([`HeldAcrossAwait`](crate::ReportKind::HeldAcrossAwait)): the async
//! form of the kernel's "scheduling while atomic".

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ctx::Ctx;
use super::emit::lock_info;
use super::inner::lock;
use super::signature::{Signature, Site};
#[cfg(feature = "tokio")]
use super::thread::with_awaitable;
use super::thread::{Exchange, Swappable, Way, exchange, live_threads, new_num, recycle, scopes, with_ctx};
use crate::report::{ReportKind, TaskInfo, ThreadInfo};

type Loc = &'static Location<'static>;

static NEXT_TASK: AtomicU64 = AtomicU64::new(1);

/// One instrumented task's engine state, while it is not being polled.
pub(crate) struct TaskState {
    saved: Swappable,
    /// Whether `saved` is the thread's now (between `enter` and `leave`).
    entered: bool,
    /// Where the task was instrumented (named in its reports).
    site: Loc,
}

impl TaskState {
    /// A new task named `name`, reporting to the validator scopes in effect
    /// on this thread now (or, outside any, the global validator).
    pub(crate) fn new(name: Option<Arc<str>>, site: Loc) -> TaskState {
        let task = TaskInfo { id: NEXT_TASK.fetch_add(1, Ordering::Relaxed), name };
        let num = new_num();
        if !crate::fork::in_forked_child() {
            let mut info = ThreadInfo::current();
            info.task = Some(task.clone());
            lock(live_threads()).insert(num, info);
        }
        let saved =
            Swappable { num, validators: Vec::new(), scopes: scopes(), task: Some(task), awaitable: Vec::new() };
        TaskState { saved, entered: false, site }
    }

    /// Makes the task's state the thread's (for one poll, or the drop of
    /// the future). Does nothing inside the validator (a future polled from
    /// a report callback: its hooks are no-ops there anyway), nor inside
    /// another instrumented task while this one holds nothing: it is then
    /// part of that task (see `thread::Way::In`).
    #[inline]
    pub(crate) fn enter(&mut self) {
        if self.entered || crate::fork::in_forked_child() {
            return;
        }
        self.entered = matches!(exchange(&mut self.saved, Way::In), Exchange::Done);
    }

    /// Takes the task's state back from the thread. After a poll that
    /// returned `Pending` (`pending`), the synchronous locks the task still
    /// holds are reported first.
    #[inline]
    pub(crate) fn leave(&mut self, pending: bool) {
        if !self.entered {
            return;
        }
        let way = if pending { Way::OutChecked } else { Way::Out };
        let bad = match exchange(&mut self.saved, way) {
            Exchange::Done | Exchange::Skipped => {
                self.entered = false;
                return;
            }
            Exchange::Holding(bad) => bad,
        };
        // Reported in the task's context (its name, its held locks); the
        // thread gets its own state back afterwards, also when the report's
        // action panics.
        let site = self.site;
        let back = Back(self);
        with_ctx(|ctx| ctx.held_across_await(&bad, site));
        drop(back);
    }
}

impl TaskState {
    /// The task's future has been dropped (in the task's context): the
    /// locks it still holds leave with it, reported as at a thread's exit.
    pub(crate) fn ended(&mut self) {
        if self.entered {
            with_ctx(|ctx| ctx.held_at_task_end());
        }
    }
}

/// Gives the thread its state back when dropped.
struct Back<'a>(&'a mut TaskState);

impl Drop for Back<'_> {
    fn drop(&mut self) {
        exchange(&mut self.0.saved, Way::Out);
        self.0.entered = false;
    }
}

impl Drop for TaskState {
    fn drop(&mut self) {
        if !crate::fork::in_forked_child_quiet() {
            lock(live_threads()).remove(&self.saved.num);
            recycle(std::mem::take(&mut self.saved.validators));
        }
    }
}

#[cfg(feature = "tokio")]
/// Notes that the current task (or thread) now holds the awaitable lock
/// `addr` (an async lock: holding it across an `.await` is fine).
pub(crate) fn awaitable_acquired(addr: usize) {
    with_awaitable(|a| a.push(addr));
}

#[cfg(feature = "tokio")]
/// Notes that the current task (or thread) released the awaitable lock `addr`.
pub(crate) fn awaitable_released(addr: usize) {
    with_awaitable(|a| {
        if let Some(i) = a.iter().rposition(|&x| x == addr) {
            a.swap_remove(i);
        }
    });
}

impl Ctx<'_> {
    /// The task ended holding locks (a leaked guard, a guard returned as the
    /// task's output): one report per set of held classes, as for threads.
    fn held_at_task_end(&mut self) {
        let Some(top) = self.pv.held.locks.last() else { return };
        if !self.inner.is_validating() {
            return;
        }
        let (inner, loc) = (self.inner, top.location());
        let mut sh = lock(&inner.shared);
        let n = self.pv.held.locks.len();
        let classes = self.pv.held.locks.iter().map(|h| h.class).collect();
        let top = lock_info(&sh.graph, top);
        let msg = format!(
            "ended with {n} lock{} held (its future was dropped): a guard outlived the task (leaked, or returned as \
             its output), and will be released from another stack if at all",
            if n == 1 { "" } else { "s" }
        );
        let report =
            self.new_report(&sh.graph, ReportKind::HeldLocksAtThreadExit, loc, Some(top), None, Vec::new(), msg);
        if inner.config.one_shot {
            if !inner.turn_off() {
                return;
            }
        } else if !sh.seen.insert(Signature::HeldLocksAtThreadExit(classes)) {
            return;
        }
        self.out.push(report);
    }

    /// The task returned `Pending` holding `bad` (synchronous locks of the
    /// current validator): one report per lock, once per (class, site).
    fn held_across_await(&mut self, bad: &[usize], site: Loc) {
        if !self.inner.is_validating() {
            return;
        }
        let inner = self.inner;
        let mut sh = lock(&inner.shared);
        let found: Vec<_> = self
            .pv
            .held
            .locks
            .iter()
            .filter(|h| bad.contains(&h.instance()))
            .map(|h| (h.class, lock_info(&sh.graph, h)))
            .collect();
        for (class, info) in found {
            let loc = info.location;
            let what = if info.class == info.instance {
                info.instance.to_owned()
            } else {
                format!("{} ({})", info.instance, info.class)
            };
            let msg = format!(
                "returned Pending (an `.await` that waits) while holding {what}, a synchronous lock taken at \
                 {loc}; the task was instrumented at {site}. Whoever wants that lock blocks its thread until the \
                 task is polled again, which on a current-thread runtime (or with every worker blocked) is never. \
                 Release it before the `.await`, or use an async lock."
            );
            let signature = Signature::HeldAcrossAwait { class, site: Site::of(loc) };
            let report =
                self.new_report(&sh.graph, ReportKind::HeldAcrossAwait, loc, Some(info), None, Vec::new(), msg);
            // As `emit`, but without a stack: the stack here is the
            // executor's, after the `.await` returned, which says nothing
            // the task's name, the lock and its site do not.
            if inner.config.one_shot {
                if !inner.turn_off() {
                    return;
                }
            } else if !sh.seen.insert(signature) {
                continue;
            }
            self.out.push(report);
        }
    }
}
