//! The pause points P0–P4 of the specification's §5.0: places inside the
//! read and exclusion paths where a test can stop a thread to build a
//! deterministic interleaving.
//!
//! Two mechanisms, both per [`Kernel`](crate::Kernel):
//!
//! * [`Kernel::pause_at`](crate::Kernel::pause_at) arms a one-shot
//!   [`PauseHandle`]: the first matching thread to reach the point parks
//!   there until the handle is resumed (or dropped). The test blocks on
//!   [`PauseHandle::wait_reached`] — a real handshake, no sleeps, with a
//!   deadline ([`VmConfig::wait_deadline`](crate::VmConfig::wait_deadline),
//!   or [`PauseHandle::wait_reached_timeout`]'s own) after which it panics
//!   naming the point. While parked, the thread is blocked on
//!   [`BlockedOn::Pause`](crate::BlockedOn::Pause) for
//!   [`Kernel::blocked_on`](crate::Kernel::blocked_on).
//! * [`Kernel::set_pause_hook`](crate::Kernel::set_pause_hook) installs a
//!   closure that runs at every point.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::vma::Vma;

/// A pause point (§5.0).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PausePoint {
    /// In `lock_vma_under_rcu`, after the tree lookup, before `vma_start_read`.
    P0,
    /// In `vma_start_read`, after the early check, before the increment.
    P1,
    /// In `vma_start_read`, after the increment and `ACQ(V…)`, before the `vm_mm` check.
    P2,
    /// In `__vma_start_exclude_readers`, after the flag add and `ACQ`, before
    /// the first condition evaluation.
    P3,
    /// In `vma_mark_detached`, after dropping the attach reference with a
    /// non-zero result, before the flag add.
    P4,
}

/// A closure run at every pause point: the point, the VMA concerned.
pub type PauseHook = Arc<dyn Fn(PausePoint, &Vma) + Send + Sync>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Armed,
    Reached(ThreadId),
    Resumed,
}

pub(crate) struct PauseInner {
    point: PausePoint,
    thread: Option<ThreadId>,
    vma: Option<u64>,
    state: Mutex<State>,
    cv: Condvar,
}

impl PauseInner {
    /// "pause point P2 (for ThreadId(3), VMA 7)".
    fn describe(&self) -> String {
        let mut s = format!("pause point {:?}", self.point);
        match (self.thread, self.vma) {
            (None, None) => {}
            (Some(t), None) => s += &format!(" (armed for {t:?})"),
            (None, Some(v)) => s += &format!(" (armed for VMA {v})"),
            (Some(t), Some(v)) => s += &format!(" (armed for {t:?} on VMA {v})"),
        }
        s
    }

    fn matches(&self, point: PausePoint, thread: ThreadId, vma: u64) -> bool {
        self.point == point && self.thread.is_none_or(|t| t == thread) && self.vma.is_none_or(|v| v == vma)
    }

    fn set(&self, s: State) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = s;
        self.cv.notify_all();
    }

    /// Parks the calling thread until resumed.
    pub(crate) fn park(&self) {
        let me = std::thread::current().id();
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if *st == State::Resumed {
            return;
        }
        *st = State::Reached(me);
        self.cv.notify_all();
        while *st != State::Resumed {
            st = self.cv.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A one-shot pause armed with [`Kernel::pause_at`](crate::Kernel::pause_at).
///
/// Dropping the handle resumes a parked thread (and disarms the pause if no
/// thread reached it), so a failing test cannot leave a thread parked.
#[must_use = "dropping the handle disarms the pause"]
pub struct PauseHandle {
    inner: Arc<PauseInner>,
    registry: Arc<Registry>,
}

impl PauseHandle {
    /// Blocks until a thread is parked at the point; returns that thread.
    ///
    /// # Panics
    ///
    /// If the pause was resumed before any thread reached it, or after the
    /// kernel's [`VmConfig::wait_deadline`](crate::VmConfig::wait_deadline)
    /// with a message naming the point (and the thread and VMA it is armed
    /// for).
    #[track_caller]
    pub fn wait_reached(&self) -> ThreadId {
        self.wait_reached_timeout(self.registry.deadline)
    }

    /// [`PauseHandle::wait_reached`] with its own deadline.
    ///
    /// # Panics
    ///
    /// As [`PauseHandle::wait_reached`], after `timeout`.
    #[track_caller]
    pub fn wait_reached_timeout(&self, timeout: Duration) -> ThreadId {
        let deadline = Instant::now() + timeout;
        let mut st = self.inner.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match *st {
                State::Reached(t) => return t,
                State::Resumed => panic!("vmalock: {} was resumed before any thread reached it", self.inner.describe()),
                State::Armed => {
                    let now = Instant::now();
                    if now >= deadline {
                        drop(st);
                        panic!("vmalock: no thread reached {} within {timeout:?}", self.inner.describe());
                    }
                    st = self.inner.cv.wait_timeout(st, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
                }
            }
        }
    }

    /// Whether a thread is parked at the point now.
    pub fn is_reached(&self) -> bool {
        matches!(*self.inner.state.lock().unwrap_or_else(PoisonError::into_inner), State::Reached(_))
    }

    /// Lets the parked thread go on (or disarms the pause if none reached it yet).
    pub fn resume(&self) {
        self.registry.disarm(&self.inner);
        self.inner.set(State::Resumed);
    }

    /// The point this handle pauses at.
    pub fn point(&self) -> PausePoint {
        self.inner.point
    }
}

impl Drop for PauseHandle {
    fn drop(&mut self) {
        self.resume();
    }
}

impl fmt::Debug for PauseHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PauseHandle")
            .field("point", &self.inner.point)
            .field("thread", &self.inner.thread)
            .field("state", &*self.inner.state.lock().unwrap_or_else(PoisonError::into_inner))
            .finish()
    }
}

/// Every armed pause and the hook of one kernel.
pub(crate) struct Registry {
    armed: Mutex<Vec<Arc<PauseInner>>>,
    hook: Mutex<Option<PauseHook>>,
    any: std::sync::atomic::AtomicBool,
    /// The default deadline of [`PauseHandle::wait_reached`].
    deadline: Duration,
}

impl Registry {
    pub(crate) fn new(deadline: Duration) -> Registry {
        Registry { armed: Mutex::default(), hook: Mutex::default(), any: Default::default(), deadline }
    }

    fn refresh(&self, armed: usize, hook: bool) {
        self.any.store(armed > 0 || hook, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn arm(self: &Arc<Self>, point: PausePoint, thread: Option<ThreadId>, vma: Option<u64>) -> PauseHandle {
        let inner = Arc::new(PauseInner { point, thread, vma, state: Mutex::new(State::Armed), cv: Condvar::new() });
        let mut armed = self.armed.lock().unwrap_or_else(PoisonError::into_inner);
        armed.push(inner.clone());
        let hook = self.hook.lock().unwrap_or_else(PoisonError::into_inner).is_some();
        self.refresh(armed.len(), hook);
        PauseHandle { inner, registry: self.clone() }
    }

    fn disarm(&self, inner: &Arc<PauseInner>) {
        let mut armed = self.armed.lock().unwrap_or_else(PoisonError::into_inner);
        armed.retain(|p| !Arc::ptr_eq(p, inner));
        let hook = self.hook.lock().unwrap_or_else(PoisonError::into_inner).is_some();
        self.refresh(armed.len(), hook);
    }

    pub(crate) fn set_hook(&self, hook: Option<PauseHook>) {
        let armed = self.armed.lock().unwrap_or_else(PoisonError::into_inner);
        let mut h = self.hook.lock().unwrap_or_else(PoisonError::into_inner);
        *h = hook;
        self.refresh(armed.len(), h.is_some());
    }

    /// Runs the hook; the matching armed pause, if any, now disarmed, for
    /// the caller to park at.
    #[inline]
    pub(crate) fn point(&self, point: PausePoint, vma: &Vma) -> Option<Arc<PauseInner>> {
        if self.any.load(std::sync::atomic::Ordering::SeqCst) { self.point_slow(point, vma) } else { None }
    }

    #[cold]
    fn point_slow(&self, point: PausePoint, vma: &Vma) -> Option<Arc<PauseInner>> {
        let hook = self.hook.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(h) = hook {
            h(point, vma);
        }
        let me = std::thread::current().id();
        let mut armed = self.armed.lock().unwrap_or_else(PoisonError::into_inner);
        let i = armed.iter().position(|p| p.matches(point, me, vma.id()));
        let hit = i.map(|i| armed.remove(i));
        let hook = self.hook.lock().unwrap_or_else(PoisonError::into_inner).is_some();
        self.refresh(armed.len(), hook);
        hit
    }
}
