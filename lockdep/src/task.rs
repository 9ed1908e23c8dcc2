//! Held-lock stacks that follow async tasks.
//!
//! The validator keeps one held-lock stack per *thread*. An async task is
//! not a thread: a multi-thread runtime polls it on whichever worker is
//! free, and one worker polls many tasks in turn. [`instrument`] wraps a
//! future so that it keeps a held-lock stack of its own: on each poll the
//! wrapper installs the task's stack (with its engine identity, its
//! validator scope and its name) as the thread's, and takes it back when
//! the poll returns. A lock taken in one poll and released in a later one,
//! on another worker, is then released from the stack that holds it, and
//! the locks of two tasks polled on one thread are never mixed. Reports
//! made in the task name it (`ThreadInfo::task`, shown as
//! `"tokio-runtime-worker" (ThreadId(3)) in task "fetch" #2`).
//!
//! With the `tokio` feature, `spawn` and `spawn_named` (here) are
//! `tokio::spawn` of an instrumented future, and `lockdep::tokio` has
//! instrumented `tokio::sync` locks. [`instrument`] itself works with any
//! executor.
//!
//! **Awaiting while holding a synchronous lock.** When an instrumented
//! future returns `Pending` while it holds a lock that is not an async one
//! (a [`Mutex`](crate::Mutex) or [`RwLock`](crate::RwLock) of lockdep, the
//! [`std_sync`](crate::std_sync) facade, the parking_lot shims, any lock
//! through the [hooks](crate::hooks)), it is reported as
//! [`HeldAcrossAwait`](crate::ReportKind::HeldAcrossAwait), naming the lock
//! and where it was taken: another task that wants that lock blocks its
//! worker thread until the holder is polled again — on a current-thread
//! runtime, never. Locks of `lockdep::tokio` may be held across an
//! `.await`. Each (class, acquisition site) is reported once per validator.
//!
//! **Plain `tokio::spawn`.** A future that is not instrumented runs on the
//! stack of whichever worker polls it, shared with every other such task
//! that worker polls. As long as every lock is released within the poll
//! that took it (no lock held across an `.await`), that is exact. A lock
//! held across an `.await` stays on the *worker's* stack: the task may be
//! resumed on another worker, whose release of it is reported as an
//! unlock imbalance; other tasks polled on the first worker meanwhile
//! appear to hold it (false dependencies, even false cycles, from locks
//! they never saw); and `Pending` while holding a synchronous lock is not
//! noticed. Instrument every task that holds a lock across an `.await`.
//!
//! **Scopes.** A task reports to the validator whose
//! [`scope`](crate::Validator::scope) was in effect where it was
//! instrumented (the global one outside any), whichever thread polls it.
//!
//! **Costs.** A poll pays one thread-local exchange on the way in and one
//! on the way out, whatever the task holds. A task that takes locks keeps a
//! chain cache of its own (a few KiB); when a task ends, its cache is kept
//! by the thread for the next task that starts there, so short tasks start
//! warm. Compiled out, [`Instrumented`] polls the future and nothing else.
//!
//! **Limits.** A lock must be released by the task that took it: a guard
//! sent to another task (tokio's guards are `Send`), or returned as the
//! task's output, is released from another stack (an unlock imbalance).
//! When an instrumented future is dropped (completed or not) still holding
//! locks, that is reported as
//! [`HeldLocksAtThreadExit`](crate::ReportKind::HeldLocksAtThreadExit)
//! naming the task.
//!
//! **Nesting.** A future instrumented inside an instrumented task and
//! polled by it (a library that instruments what it runs, say) is part of
//! that task while it holds nothing of its own: it uses the task's stack,
//! so the task's locks order its locks. The same goes for tasks polled
//! *inside* an instrumented future (a `LocalSet` driven by it): instrument
//! those tasks, not the future that drives them.
//! `lockdep_assert_none_held!()` at an await point inside an instrumented
//! task checks the task's stack.
//!
//! ```
//! use lockdep::{Config, Mutex, ReportKind, Validator};
//! use std::future::Future;
//! use std::pin::pin;
//! use std::task::{Context, Poll, Waker};
//!
//! /// A future that is `Pending` once (an `.await` that waits).
//! struct YieldOnce(bool);
//! impl Future for YieldOnce {
//!     type Output = ();
//!     fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
//!         if self.0 {
//!             return Poll::Ready(());
//!         }
//!         self.0 = true;
//!         cx.waker().wake_by_ref();
//!         Poll::Pending
//!     }
//! }
//!
//! let m = Mutex::new(0);
//! let v = Validator::new(Config::collect());
//! v.scope(|| {
//!     let mut fut = pin!(lockdep::task::instrument_named("worker", async {
//!         let g = m.lock();
//!         YieldOnce(false).await; // reported: `Pending` holding `m`
//!         drop(g);
//!     }));
//!     let mut cx = Context::from_waker(Waker::noop());
//!     while fut.as_mut().poll(&mut cx).is_pending() {}
//! });
//! if lockdep::ENABLED {
//!     let r = &v.reports()[0];
//!     assert_eq!(r.kind(), ReportKind::HeldAcrossAwait);
//!     assert_eq!(r.thread().task().unwrap().name(), Some("worker"));
//! }
//! ```

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A future with a held-lock stack of its own (see the [module docs](self)):
/// made by [`instrument`] or [`instrument_named`].
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F> {
    /// Pinned structurally: never moved out, dropped in place by `Drop`.
    fut: ManuallyDrop<F>,
    #[cfg(lockdep_on)]
    state: crate::engine::TaskState,
}

// Compiled out, the wrapper is the future.
#[cfg(not(lockdep_on))]
const _: () = assert!(
    std::mem::size_of::<Instrumented<std::future::Ready<u64>>>() == std::mem::size_of::<std::future::Ready<u64>>()
);

/// Wraps `fut` so that its held locks are its own, whichever thread polls
/// it (see the [module docs](self)). The task reports to the validator in
/// scope here, and is named after this call site in its reports' details.
#[track_caller]
pub fn instrument<F: Future>(fut: F) -> Instrumented<F> {
    Instrumented::new(fut, None, Location::caller())
}

/// [`instrument`], with a name for the task in reports
/// (`in task "name" #3`).
#[track_caller]
pub fn instrument_named<F: Future>(name: &str, fut: F) -> Instrumented<F> {
    Instrumented::new(fut, Some(Arc::from(name)), Location::caller())
}

impl<F> Instrumented<F> {
    #[cfg_attr(not(lockdep_on), allow(unused_variables))]
    fn new(fut: F, name: Option<Arc<str>>, site: &'static Location<'static>) -> Self {
        Instrumented {
            fut: ManuallyDrop::new(fut),
            #[cfg(lockdep_on)]
            state: crate::engine::TaskState::new(name, site),
        }
    }
}

/// Takes the task's state back from the thread when dropped (also on
/// unwind, when nothing is reported).
#[cfg(lockdep_on)]
struct Leave<'a> {
    state: &'a mut crate::engine::TaskState,
    pending: bool,
}

#[cfg(lockdep_on)]
impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.state.leave(self.pending && !std::thread::panicking());
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `fut` is pinned structurally (it is never moved out of
        // `self`, only dropped in place by `Drop`); `state` is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above: `this.fut` stays where it is until dropped.
        let fut = unsafe { Pin::new_unchecked(&mut *this.fut) };
        #[cfg(lockdep_on)]
        {
            this.state.enter();
            let mut leave = Leave { state: &mut this.state, pending: false };
            let r = fut.poll(cx);
            leave.pending = r.is_pending();
            drop(leave);
            r
        }
        #[cfg(not(lockdep_on))]
        fut.poll(cx)
    }
}

impl<F> Drop for Instrumented<F> {
    fn drop(&mut self) {
        // The future's destructor releases what it holds (the guards in its
        // state): in the task's context, like its polls.
        #[cfg(lockdep_on)]
        self.state.enter();
        #[cfg(lockdep_on)]
        let leave = Leave { state: &mut self.state, pending: false };
        // SAFETY: dropped once, here, in place; `fut` is not used again.
        unsafe { ManuallyDrop::drop(&mut self.fut) };
        // What is still held now leaves with the task: reported.
        #[cfg(lockdep_on)]
        if !std::thread::panicking() {
            leave.state.ended();
        }
    }
}

impl<F> fmt::Debug for Instrumented<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented").finish_non_exhaustive()
    }
}

/// `tokio::spawn` of [`instrument`]`(fut)`: a task whose held locks are its
/// own (see the [module docs](self)). Needs a tokio runtime, as
/// `tokio::spawn` does.
#[cfg(feature = "tokio")]
#[track_caller]
pub fn spawn<F>(fut: F) -> ::tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    ::tokio::spawn(instrument(fut))
}

/// [`spawn`], with a name for the task in reports.
#[cfg(feature = "tokio")]
#[track_caller]
pub fn spawn_named<F>(name: &str, fut: F) -> ::tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    ::tokio::spawn(instrument_named(name, fut))
}
