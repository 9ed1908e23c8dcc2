//! Instrumented `tokio::sync` locks (`tokio` feature): [`Mutex`] and
//! [`RwLock`], with tokio's API (`lock().await`, `read().await`,
//! `write().await`, `try_*`) and the validator's checks — an ABBA between
//! two tasks is reported as between two threads, naming the tasks when they
//! are [instrumented](crate::task).
//!
//! These locks are *async*: holding one across an `.await` is what they are
//! for, and is not reported (an instrumented task that returns `Pending`
//! holding a *synchronous* lock is; see [`crate::task`]). Their order
//! against every other lock is validated as usual: an async mutex taken
//! while holding a synchronous one, and the other way round elsewhere, is a
//! cycle like any other.
//!
//! **Modes.** [`RwLock::read`] is a non-recursive read
//! ([`Read::Shared`]): tokio's `RwLock` is fair, so a read taken again by a
//! task that holds one waits behind any queued writer — reported as
//! recursive locking, as for the kernel's `rwsem`.
//!
//! **Hooks.** A blocking acquisition is checked before it waits, and the
//! check is undone if the waiting future is dropped. A `lock()` (or
//! `write()`, or `read()`) that finds the lock taken while the *same* task
//! holds it would wait for ever: it is reported (recursive locking) and
//! then refused with a panic at the caller's line, like the synchronous
//! locks do. Guards release in their destructor and must be dropped by the
//! task that took them (they are `Send`, as tokio's are: a guard moved to
//! another task is released from that task's stack, an unlock imbalance).
//!
//! **Not instrumented:** owned guards (`lock_owned` and friends) and
//! `tokio::sync::Semaphore`. An owned guard exists to be moved — most often
//! into another task, which a held-lock stack per task cannot follow: every
//! such hand-over would be reported as an unlock imbalance (and they would
//! need the lock in an `Arc` of tokio's own type). A semaphore is not a lock in the validator's model: a permit is routinely
//! acquired by one task and released by another (or forgotten, or added),
//! and with more than one permit nothing is exclusive — as the kernel,
//! which leaves `struct semaphore` out of lockdep, we do not guess an order
//! for it.
//!
//! Compiled out, each type is tokio's with a zero-sized map beside it, and
//! each method is tokio's.
//!
//! ```
//! use lockdep::tokio::Mutex;
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let m = Mutex::new(1);
//! rt.block_on(async {
//!     *m.lock().await += 1;
//!     assert_eq!(*m.lock().await, 2);
//! });
//! ```

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

pub use ::tokio::sync::TryLockError;

use crate::class::{LockClassKey, Read};
use crate::engine;
use crate::map::LockdepMap;

type Loc = &'static Location<'static>;

// Compiled out, the locks and guards have tokio's sizes.
#[cfg(not(lockdep_on))]
const _: () = {
    use std::mem::size_of;
    assert!(size_of::<Mutex<u64>>() == size_of::<::tokio::sync::Mutex<u64>>());
    assert!(size_of::<MutexGuard<'static, u64>>() == size_of::<::tokio::sync::MutexGuard<'static, u64>>());
    assert!(size_of::<RwLock<u64>>() == size_of::<::tokio::sync::RwLock<u64>>());
    assert!(size_of::<RwLockWriteGuard<'static, u64>>() == size_of::<::tokio::sync::RwLockWriteGuard<'static, u64>>());
};

/// One held acquisition of an async lock: its hooks were called (acquire,
/// and "awaitable" so that `Pending` while holding it is fine); dropping it
/// releases them. Taken before a blocking wait, so a cancelled wait (the
/// future dropped) undoes them.
struct Hold<'a> {
    #[cfg(lockdep_on)]
    map: &'a LockdepMap,
    _lock: PhantomData<&'a LockdepMap>,
}

impl<'a> Hold<'a> {
    #[inline]
    #[cfg_attr(not(lockdep_on), allow(unused_variables))]
    fn acquire(map: &'a LockdepMap, read: Read, trylock: bool, loc: Loc) -> Hold<'a> {
        engine::acquire(map, 0, trylock, read, true, None, loc);
        #[cfg(lockdep_on)]
        engine::awaitable_acquired(map.addr());
        Hold {
            #[cfg(lockdep_on)]
            map,
            _lock: PhantomData,
        }
    }
}

impl Drop for Hold<'_> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(lockdep_on)]
        {
            engine::awaitable_released(self.map.addr());
            engine::release(self.map, Location::caller());
        }
    }
}

/// A blocking acquisition found the lock taken: if this task already holds
/// it, waiting would never end. Checked before the acquire hook (which then
/// reports the recursion); the caller panics after it.
#[inline]
#[cfg_attr(not(lockdep_on), allow(unused_variables))]
fn holds(map: &LockdepMap) -> bool {
    crate::ENABLED && engine::is_held(map, None) == Some(true)
}

#[cold]
#[inline(never)]
fn refuse(map: &LockdepMap, loc: Loc) -> ! {
    panic!(
        "lockdep: {} is taken at {loc} by the task (or thread) that already holds it, which would wait for ever; \
         lockdep panics instead of hanging (see its recursive-locking report)",
        map.name()
    )
}

/// Acquires through `try_now`, or else checks, hooks and awaits `wait`.
async fn acquire<'a, G, W: Future<Output = G>>(
    map: &'a LockdepMap,
    read: Read,
    loc: Loc,
    try_now: impl FnOnce() -> Option<G>,
    wait: impl FnOnce() -> W,
) -> (Hold<'a>, G) {
    if let Some(g) = try_now() {
        return (Hold::acquire(map, read, false, loc), g);
    }
    let held = holds(map);
    let hold = Hold::acquire(map, read, false, loc);
    if held {
        refuse(map, loc);
    }
    let g = wait().await;
    (hold, g)
}

/// An instrumented `tokio::sync::Mutex` (see the [module docs](self)).
///
/// **Class:** as for [`crate::Mutex`], every mutex made on one source line
/// is one class (`tokio::Mutex<T>@file:line`), unless made with a key.
pub struct Mutex<T: ?Sized> {
    map: LockdepMap,
    inner: ::tokio::sync::Mutex<T>,
}

/// The guard of a [`Mutex`]: releases it when dropped.
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized> {
    // Dropped first: the release hook runs before the unlock.
    _hold: Hold<'a>,
    inner: ::tokio::sync::MutexGuard<'a, T>,
}

impl<T> Mutex<T> {
    /// A new mutex whose class is this call site.
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self::from_map(value, LockdepMap::with_site_typed::<T>("tokio::Mutex", Location::caller()))
    }

    /// A new mutex named `name` in reports, whose class is this call site.
    #[track_caller]
    pub fn named(value: T, name: &'static str) -> Self {
        Self::from_map(value, LockdepMap::with_site(name, Location::caller()))
    }

    /// A new mutex of the class `key` (usable in `static`s).
    pub const fn with_key(value: T, key: &'static LockClassKey) -> Self {
        Self::from_map(value, LockdepMap::with_key_typed::<T>("tokio::Mutex", key, None))
    }

    /// A new mutex known to the validator by `map`.
    pub const fn from_map(value: T, map: LockdepMap) -> Self {
        Mutex { map, inner: ::tokio::sync::Mutex::const_new(value) }
    }

    /// Consumes the mutex, returning the data.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, waiting (asynchronously) while another task holds
    /// it. Checked before it waits; reported at the caller's line.
    #[track_caller]
    pub fn lock(&self) -> impl Future<Output = MutexGuard<'_, T>> {
        let loc = Location::caller();
        async move {
            let (hold, inner) =
                acquire(&self.map, Read::Exclusive, loc, || self.inner.try_lock().ok(), || self.inner.lock()).await;
            MutexGuard { _hold: hold, inner }
        }
    }

    /// Locks the mutex if it is free (a trylock: not checked itself, but
    /// later acquisitions depend on it).
    #[track_caller]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        let inner = self.inner.try_lock()?;
        Ok(MutexGuard { _hold: Hold::acquire(&self.map, Read::Exclusive, true, Location::caller()), inner })
    }

    /// The data, through a unique reference (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// What the validator knows this mutex by.
    pub fn map(&self) -> &LockdepMap {
        &self.map
    }
}

impl<T: ?Sized> crate::AsLockdepMap for Mutex<T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        &self.map
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").field("map", &self.map).field("inner", &self.inner).finish()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}

/// An instrumented `tokio::sync::RwLock` (see the [module docs](self)):
/// reads are non-recursive ([`Read::Shared`]).
pub struct RwLock<T: ?Sized> {
    map: LockdepMap,
    inner: ::tokio::sync::RwLock<T>,
}

/// The read guard of a [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    _hold: Hold<'a>,
    inner: ::tokio::sync::RwLockReadGuard<'a, T>,
}

/// The write guard of a [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    _hold: Hold<'a>,
    inner: ::tokio::sync::RwLockWriteGuard<'a, T>,
}

impl<T> RwLock<T> {
    /// A new lock whose class is this call site.
    #[track_caller]
    pub fn new(value: T) -> Self {
        Self::from_map(value, LockdepMap::with_site_typed::<T>("tokio::RwLock", Location::caller()))
    }

    /// A new lock named `name` in reports, whose class is this call site.
    #[track_caller]
    pub fn named(value: T, name: &'static str) -> Self {
        Self::from_map(value, LockdepMap::with_site(name, Location::caller()))
    }

    /// A new lock of the class `key` (usable in `static`s).
    pub const fn with_key(value: T, key: &'static LockClassKey) -> Self {
        Self::from_map(value, LockdepMap::with_key_typed::<T>("tokio::RwLock", key, None))
    }

    /// A new lock known to the validator by `map`.
    pub const fn from_map(value: T, map: LockdepMap) -> Self {
        RwLock { map, inner: ::tokio::sync::RwLock::const_new(value) }
    }

    /// Consumes the lock, returning the data.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for reading, waiting (asynchronously) while a writer holds or
    /// waits for it.
    #[track_caller]
    pub fn read(&self) -> impl Future<Output = RwLockReadGuard<'_, T>> {
        let loc = Location::caller();
        async move {
            let (hold, inner) =
                acquire(&self.map, Read::Shared, loc, || self.inner.try_read().ok(), || self.inner.read()).await;
            RwLockReadGuard { _hold: hold, inner }
        }
    }

    /// Locks for writing, waiting (asynchronously) while anyone holds it.
    #[track_caller]
    pub fn write(&self) -> impl Future<Output = RwLockWriteGuard<'_, T>> {
        let loc = Location::caller();
        async move {
            let (hold, inner) =
                acquire(&self.map, Read::Exclusive, loc, || self.inner.try_write().ok(), || self.inner.write()).await;
            RwLockWriteGuard { _hold: hold, inner }
        }
    }

    /// Locks for reading if no writer holds or waits for it (a trylock).
    #[track_caller]
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        let inner = self.inner.try_read()?;
        Ok(RwLockReadGuard { _hold: Hold::acquire(&self.map, Read::Shared, true, Location::caller()), inner })
    }

    /// Locks for writing if it is free (a trylock).
    #[track_caller]
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        let inner = self.inner.try_write()?;
        Ok(RwLockWriteGuard { _hold: Hold::acquire(&self.map, Read::Exclusive, true, Location::caller()), inner })
    }

    /// The data, through a unique reference (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// What the validator knows this lock by.
    pub fn map(&self) -> &LockdepMap {
        &self.map
    }
}

impl<T: ?Sized> crate::AsLockdepMap for RwLock<T> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        &self.map
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock").field("map", &self.map).field("inner", &self.inner).finish()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}
