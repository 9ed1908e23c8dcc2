//! Threads whose joins are waits: [`spawn`] and [`scope`] with std's API.
//!
//! The kernel's work-item model: a thread spawned here runs its body
//! *holding* a pseudo-lock of its spawn site (`thread@src/main.rs:12:5`),
//! and [`JoinHandle::join`] (or [`ScopedJoinHandle::join`], or the implicit
//! join at the end of [`scope`]) acquires and releases it, as `flush_work`
//! does with a work item's `lockdep_map`. So every lock the body takes comes
//! after the thread, every lock held at a join comes before it, and joining
//! under a lock the body takes is reported as a cycle — from a run in which
//! the body happened to finish first, too.
//!
//! ```
//! use std::sync::Arc;
//! use lockdep::{Config, Mutex, ReportKind, Validator};
//!
//! // Every worker is spawned on this line: one class.
//! fn worker(state: &Arc<Mutex<u32>>, touch: bool) -> lockdep::thread::JoinHandle<()> {
//!     let state = Arc::clone(state);
//!     lockdep::thread::spawn(move || {
//!         if touch {
//!             *state.lock() += 1;
//!         }
//!     })
//! }
//!
//! let state = Arc::new(Mutex::new(0));
//! let v = Validator::new(Config::collect());
//! v.scope(|| {
//!     worker(&state, true).join().unwrap(); // the body takes `state`
//!     let idle = worker(&state, false);
//!     let guard = state.lock();
//!     idle.join().unwrap(); // joined under `state`: reported, though it returned
//!     drop(guard);
//! });
//! if lockdep::ENABLED {
//!     assert_eq!(v.reports()[0].kind(), ReportKind::CircularDependency);
//! }
//! ```
//!
//! The spawned body runs in the validator the spawner was in (its
//! innermost [`Validator::scope`](crate::Validator::scope)).
//!
//! A thread spawned by plain `std::thread::spawn` has no pseudo-lock: its
//! locks are checked as usual, but a join of it is invisible. Bodies nested
//! inside bodies (a thread spawned by a thread spawned here) use one
//! subclass per nesting level, so recursive spawning from one site is not
//! mistaken for a thread joining itself; from the 9th level on, threads are
//! not annotated. Inside a body, [`held_locks`](crate::held_locks) lists the
//! thread's pseudo-lock at the bottom.

use std::fmt;
use std::panic::Location;

#[cfg(lockdep_on)]
use crate::map::LockdepMap;

/// A spawned thread's pseudo-lock and its subclass (`None`: nested too
/// deep to be annotated).
#[cfg(lockdep_on)]
#[derive(Clone)]
struct Body {
    map: &'static LockdepMap,
    subclass: Option<u32>,
    /// The spawner's validator scope, entered by the new thread.
    scope: Option<std::sync::Arc<crate::engine::Inner>>,
}

#[cfg(lockdep_on)]
impl Body {
    /// The pseudo-lock of a thread spawned at `site` by the current thread.
    fn new(site: &'static Location<'static>) -> Body {
        let map = crate::waits::WaitSite::new("thread", site).map();
        let depth = crate::waits::thread_depth();
        Body {
            map,
            subclass: (depth < crate::waits::MAX_NESTING).then_some(depth),
            scope: crate::engine::current_scope(),
        }
    }

    /// Wraps `f`: the new thread's depth, and the pseudo-lock held while `f` runs.
    fn run<T>(self, site: &'static Location<'static>, f: impl FnOnce() -> T) -> T {
        let _scope = self.scope.as_ref().map(crate::engine::enter_scope);
        crate::waits::set_thread_depth(self.subclass.map_or(crate::waits::MAX_NESTING, |s| s + 1));
        let Some(sub) = self.subclass else { return f() };
        crate::engine::acquire(self.map, sub, false, crate::Read::Exclusive, true, None, site);
        // Released when the body returns or unwinds (after its own guards).
        struct Release(&'static LockdepMap, &'static Location<'static>);
        impl Drop for Release {
            fn drop(&mut self) {
                crate::engine::release(self.0, self.1);
            }
        }
        let _release = Release(self.map, site);
        f()
        // (`_release` drops before `_scope`: the release goes to the same
        // validator as the acquisition.)
    }

    /// A join at `loc`: the pseudo-lock acquired and released.
    fn join(&self, loc: &'static Location<'static>) {
        if let Some(sub) = self.subclass {
            crate::waits::wait_on(self.map, sub, loc);
        }
    }
}

/// `std::thread::spawn`, with the body run holding the thread's
/// pseudo-lock (see the [module docs](self)).
///
/// # Panics
///
/// As `std::thread::spawn`: if the OS fails to create a thread.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    #[cfg(lockdep_on)]
    {
        let site = Location::caller();
        let body = Body::new(site);
        let run = body.clone();
        JoinHandle { inner: std::thread::spawn(move || run.run(site, f)), body }
    }
    #[cfg(not(lockdep_on))]
    {
        JoinHandle { inner: std::thread::spawn(f) }
    }
}

/// An owned permission to join a thread spawned by [`spawn`]: std's
/// `JoinHandle`, whose [`join`](Self::join) is a wait.
pub struct JoinHandle<T> {
    inner: std::thread::JoinHandle<T>,
    #[cfg(lockdep_on)]
    body: Body,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish (`std::thread::JoinHandle::join`);
    /// every lock held here comes before the thread's body.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        #[cfg(lockdep_on)]
        self.body.join(Location::caller());
        self.inner.join()
    }

    /// The thread's handle.
    pub fn thread(&self) -> &std::thread::Thread {
        self.inner.thread()
    }

    /// Whether the thread's body has returned.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// std's handle; joining it is no longer seen by the validator.
    pub fn into_inner(self) -> std::thread::JoinHandle<T> {
        self.inner
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}

/// `std::thread::scope`, for threads spawned with [`Scope::spawn`]: their
/// joins, explicit or implicit at the end of the scope (at this call's
/// site, with the locks held around it), are waits.
///
/// ```
/// let mut n = 0;
/// lockdep::thread::scope(|s| {
///     s.spawn(|| n += 1);
/// });
/// assert_eq!(n, 1);
/// ```
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let loc = Location::caller();
    std::thread::scope(|s| {
        // SAFETY: `Scope` is a `repr(transparent)` wrapper of std's scope,
        // so the reference may be reinterpreted, for the same lifetime.
        let ours: &Scope<'_, 'env> = unsafe { &*(s as *const std::thread::Scope<'_, 'env>).cast::<Scope<'_, 'env>>() };
        #[cfg(lockdep_on)]
        let children = children::Entry::new(s as *const _ as usize);
        let result = f(ours);
        #[cfg(lockdep_on)]
        for child in children.take() {
            child.join(loc);
        }
        let _ = loc;
        result
    })
}

/// The threads spawned in each live lockdep-aware scope (by the address of
/// std's scope), joined as waits when it ends. A side table, so that
/// [`Scope`] can be std's scope itself, as std's closures expect.
#[cfg(lockdep_on)]
mod children {
    use std::collections::HashMap;
    use std::sync::{Mutex, MutexGuard, OnceLock};

    use super::Body;

    /// A plain std mutex, never seen by the validator.
    fn table() -> MutexGuard<'static, HashMap<usize, Vec<Body>>> {
        static TABLE: OnceLock<Mutex<HashMap<usize, Vec<Body>>>> = OnceLock::new();
        TABLE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One scope's entry, removed when dropped (also on unwind, so that a
    /// later scope at the same address starts empty).
    pub(super) struct Entry(usize);

    impl Entry {
        pub(super) fn new(scope: usize) -> Entry {
            table().insert(scope, Vec::new());
            Entry(scope)
        }

        pub(super) fn take(&self) -> Vec<Body> {
            table().remove(&self.0).unwrap_or_default()
        }
    }

    impl Drop for Entry {
        fn drop(&mut self) {
            table().remove(&self.0);
        }
    }

    /// Records a thread spawned in `scope` (one per class and subclass is
    /// enough for the implicit join).
    pub(super) fn add(scope: usize, body: &Body) {
        if let Some(list) = table().get_mut(&scope) {
            if !list.iter().any(|c| std::ptr::eq(c.map, body.map) && c.subclass == body.subclass) {
                list.push(body.clone());
            }
        }
    }
}

/// A scope to spawn scoped threads in: std's `Scope`, whose spawns run
/// holding their pseudo-locks.
#[repr(transparent)]
pub struct Scope<'scope, 'env> {
    inner: std::thread::Scope<'scope, 'env>,
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a scoped thread (`std::thread::Scope::spawn`) that runs holding
    /// its pseudo-lock, as [`spawn`] does.
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        #[cfg(lockdep_on)]
        {
            let site = Location::caller();
            let body = Body::new(site);
            children::add(&self.inner as *const _ as usize, &body);
            let run = body.clone();
            ScopedJoinHandle { inner: self.inner.spawn(move || run.run(site, f)), body }
        }
        #[cfg(not(lockdep_on))]
        {
            ScopedJoinHandle { inner: self.inner.spawn(f) }
        }
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

/// An owned permission to join a scoped thread (`std::thread::ScopedJoinHandle`).
pub struct ScopedJoinHandle<'scope, T> {
    inner: std::thread::ScopedJoinHandle<'scope, T>,
    #[cfg(lockdep_on)]
    body: Body,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the thread to finish; every lock held here comes before the
    /// thread's body.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        #[cfg(lockdep_on)]
        self.body.join(Location::caller());
        self.inner.join()
    }

    /// The thread's handle.
    pub fn thread(&self) -> &std::thread::Thread {
        self.inner.thread()
    }

    /// Whether the thread's body has returned.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle").finish_non_exhaustive()
    }
}

#[cfg(not(lockdep_on))]
const _: () = {
    use std::mem::size_of;
    assert!(size_of::<JoinHandle<u64>>() == size_of::<std::thread::JoinHandle<u64>>());
    assert!(size_of::<ScopedJoinHandle<'static, u64>>() == size_of::<std::thread::ScopedJoinHandle<'static, u64>>());
};
