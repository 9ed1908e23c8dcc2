//! [`lockdep::sync`](crate::sync)'s lock types on `lock_api` **0.5**
//! (parking_lot **0.13**'s API), with features `lock_api-0.5` or
//! `parking_lot-0.13`.
//!
//! [`Mutex`], [`RwLock`], [`ReentrantMutex`] and [`Condvar`] validate exactly
//! as `lockdep::sync`'s do — the same [`RawLockdep`] under them (as
//! [`RawLockdep05`], its `lock_api` 0.5 face), the same classes, annotations
//! and refusals — but their guards are `lock_api` 0.5's
//! ([`MutexGuard`] is `lock_api::MutexGuard` of 0.5, with `map`,
//! `unlocked`, …), and each lock dereferences to the `lock_api` 0.5 lock
//! inside it ([`GenericMutex::as_lock_api`]), so code generic over
//! `lock_api::Mutex<R, T>` 0.5 takes it. The raw rwlock and the reentrant
//! mutex's thread ids are parking_lot 0.13's with the `parking_lot-0.13`
//! feature ([`Compat`] lets [`RawLockdep`] wrap them), lockdep's own
//! ([`park`](super::park)) with `lock_api-0.5` alone; the raw mutex is
//! lockdep's own in both (see [`DefaultRawMutex`]).
//!
//! ```toml
//! lockdep = { path = "…/lockdep", features = ["enabled", "parking_lot-0.13"] }
//! ```
//!
//! ```
//! use lockdep::sync::lock_api05::{Mutex, MutexGuard};
//! use lockdep::{Config, ReportKind, Validator};
//!
//! let accounts = Mutex::new(vec![100]);
//! let audit_log = Mutex::new(0);
//! let v = Validator::new(Config::collect());
//! v.scope(|| {
//!     {
//!         let a = accounts.lock();
//!         *audit_log.lock() += a.len(); // accounts -> audit_log
//!     }
//!     let _log = audit_log.lock();
//!     let first = MutexGuard::map(accounts.lock(), |a| &mut a[0]); // lock_api 0.5's guard
//!     assert_eq!(*first, 100); // audit_log -> accounts: reported
//! });
//! if lockdep::ENABLED {
//!     assert_eq!(v.reports()[0].kind(), ReportKind::CircularDependency);
//! }
//! ```
//!
//! **Why a module, not a switch.** Cargo unifies features across a build:
//! if a feature turned `lockdep::sync`'s guards into `lock_api` 0.5's, one
//! crate asking for it would break every other crate of the build written
//! against 0.4's. So `lockdep::sync` stays on `lock_api` 0.4 (parking_lot
//! 0.12), the default, which also keeps lockdep building with Rust 1.85
//! (lock_api 0.5 needs 1.95) and is what the workspace's crates and the
//! parking_lot 0.12 shim are written against; this module adds 0.5 next to
//! it, and both can be used in one program (they are validated together).
//!
//! **Differences from `lockdep::sync`.** Methods not written here are
//! `lock_api` 0.5's, reached through `Deref` (`try_lock_for`, `is_locked`,
//! `force_unlock(guard)`, the `*_arc` methods, …); lock_api 0.5 is
//! `#[track_caller]` throughout, so they too report the caller's line.
//! lock_api 0.5 has no recursive-read trait: [`RwLock::read_recursive`]
//! exists over raw rwlocks with one (lockdep's own, without
//! `parking_lot-0.13`), not over parking_lot 0.13's, whose recursive reads
//! are a separate `RecursiveRwLock` type with no counterpart here yet (the
//! 0.13 shim, `shims/parking_lot-0.13`, has one).
//!
//! **Cost when compiled out:** every lock, guard and the condvar has the size
//! of parking_lot 0.13's (asserted at compile time with `parking_lot-0.13`).

use std::num::NonZeroUsize;

mod condvar;
mod mutex;
mod reentrant;
mod rwlock;

pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{GenericMutex, MappedMutexGuard, Mutex, MutexGuard};
pub use reentrant::{GenericReentrantMutex, ReentrantMutex, ReentrantMutexGuard};
pub use rwlock::{
    GenericRwLock, MappedRwLockReadGuard, MappedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard,
    RwLockWriteGuard,
};

pub use super::raw::RawLockdep05;
pub use super::{RawLockdep, SINGLE_DEPTH_NESTING};
/// The `lock_api` 0.5 crate (its guard types, `GuardNoSend`, the raw traits).
pub use lock_api05 as lock_api;

/// The raw mutex under [`Mutex<T>`] and [`ReentrantMutex<T>`]: lockdep's own
/// [`park::RawMutex`](super::park::RawMutex), with or without the
/// `parking_lot-0.13` feature, as under `lockdep::sync`'s
/// ([`sync::DefaultRawMutex`](super::DefaultRawMutex), which says why: its
/// trylock, which every validated `lock` tries first, is one
/// compare-and-swap). It is parking_lot 0.13's one-byte mutex in size and
/// behaviour; `GenericMutex<Compat<parking_lot013::RawMutex>, T>` still
/// instruments parking_lot 0.13's own.
pub type DefaultRawMutex = super::park::RawMutex;

/// The raw rwlock under [`RwLock<T>`]: parking_lot 0.13's with the
/// `parking_lot-0.13` feature, lockdep's own
/// [`park::RawRwLock`](super::park::RawRwLock) without it.
#[cfg(feature = "parking_lot-0.13")]
pub type DefaultRawRwLock = Compat<parking_lot013::RawRwLock>;
/// The raw rwlock under [`RwLock<T>`]: parking_lot 0.13's with the
/// `parking_lot-0.13` feature, lockdep's own
/// [`park::RawRwLock`](super::park::RawRwLock) without it.
#[cfg(not(feature = "parking_lot-0.13"))]
pub type DefaultRawRwLock = super::park::RawRwLock;

/// The thread identity of [`ReentrantMutex<T>`] (`lock_api` 0.5's
/// `GetThreadId`): parking_lot 0.13's with the `parking_lot-0.13` feature,
/// [`park::RawThreadId`](super::park::RawThreadId) without it.
#[cfg(feature = "parking_lot-0.13")]
pub type DefaultThreadId = parking_lot013::RawThreadId;
/// The thread identity of [`ReentrantMutex<T>`] (`lock_api` 0.5's
/// `GetThreadId`): parking_lot 0.13's with the `parking_lot-0.13` feature,
/// [`park::RawThreadId`](super::park::RawThreadId) without it.
#[cfg(not(feature = "parking_lot-0.13"))]
pub type DefaultThreadId = super::park::RawThreadId;

// SAFETY: the lock_api 0.4 implementation upholds the same contract (a
// non-zero id, distinct for every live thread).
unsafe impl lock_api05::GetThreadId for super::park::RawThreadId {
    const INIT: Self = super::park::RawThreadId;

    #[inline]
    fn nonzero_thread_id(&self) -> NonZeroUsize {
        ::lock_api::GetThreadId::nonzero_thread_id(self)
    }
}

// ---------------------------------------------------------------------------
// A lock_api 0.5 raw lock seen through lock_api 0.4's traits.

/// A `lock_api` 0.5 raw lock (parking_lot 0.13's, say) seen through
/// `lock_api` 0.4's raw traits, which [`RawLockdep`] wraps: `RawLockdep<Compat<R>>`
/// is an instrumented `R` with 0.4's traits, and
/// [`RawLockdep05`]`<Compat<R>>` the same with 0.5's.
///
/// Only raw locks whose guard state is empty qualify (`lock_api` 0.5's
/// `GuardSend` and `GuardNoSend`, see [`StatelessGuard`]): lock_api 0.4's
/// unlock has no state to hand back, so it makes an empty one. Same size and
/// code as `R` (`repr(transparent)`).
#[repr(transparent)]
pub struct Compat<R>(R);

impl<R> Compat<R> {
    /// Wraps `raw`.
    pub const fn new(raw: R) -> Self {
        Compat(raw)
    }

    /// The wrapped raw lock.
    pub fn inner(&self) -> &R {
        &self.0
    }
}

impl<R> std::fmt::Debug for Compat<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compat").finish_non_exhaustive()
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for lock_api05::GuardSend {}
    impl Sealed for lock_api05::GuardNoSend {}
}

/// A `lock_api` 0.5 guard state that carries nothing, so that one can be
/// made again at unlock (see [`Compat`]): `GuardSend` and `GuardNoSend`.
pub trait StatelessGuard: sealed::Sealed + Sized {
    /// An empty state.
    fn empty() -> Self;
}

impl StatelessGuard for lock_api05::GuardSend {
    #[inline(always)]
    fn empty() -> Self {
        lock_api05::GuardSend::new()
    }
}

impl StatelessGuard for lock_api05::GuardNoSend {
    #[inline(always)]
    fn empty() -> Self {
        lock_api05::GuardNoSend::new()
    }
}

/// `R`'s guard state taken by an acquisition: empty, so nothing is lost.
#[inline(always)]
fn taken<G: StatelessGuard>(guard: G) {
    std::mem::forget(guard);
}

// SAFETY: every method delegates to `R`, which upholds the same contract;
// the guard states are empty, so the one handed back at unlock is as good as
// the one the acquisition returned.
unsafe impl<R> ::lock_api::RawMutex for Compat<R>
where
    R: lock_api05::RawMutex,
    R::Guard: StatelessGuard,
{
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Compat(R::INIT);
    type GuardMarker = ::lock_api::GuardNoSend;

    #[inline]
    fn lock(&self) {
        taken(self.0.lock());
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.0.try_lock().map(taken).is_some()
    }

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.unlock(StatelessGuard::empty()) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.0.is_locked()
    }
}

// SAFETY: as above.
unsafe impl<R> ::lock_api::RawMutexFair for Compat<R>
where
    R: lock_api05::RawMutexFair,
    R::Guard: StatelessGuard,
{
    #[inline]
    unsafe fn unlock_fair(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.unlock_fair(StatelessGuard::empty()) }
    }

    #[inline]
    unsafe fn bump(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.bump(&mut StatelessGuard::empty()) }
    }
}

// SAFETY: as above.
unsafe impl<R> ::lock_api::RawMutexTimed for Compat<R>
where
    R: lock_api05::RawMutexTimed,
    R::Guard: StatelessGuard,
{
    type Duration = R::Duration;
    type Instant = R::Instant;

    #[inline]
    fn try_lock_for(&self, timeout: R::Duration) -> bool {
        self.0.try_lock_for(timeout).map(taken).is_some()
    }

    #[inline]
    fn try_lock_until(&self, timeout: R::Instant) -> bool {
        self.0.try_lock_until(timeout).map(taken).is_some()
    }
}

// SAFETY: as above.
unsafe impl<R> ::lock_api::RawRwLock for Compat<R>
where
    R: lock_api05::RawRwLock,
    R::SharedGuard: StatelessGuard,
    R::ExclusiveGuard: StatelessGuard,
{
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Compat(R::INIT);
    type GuardMarker = ::lock_api::GuardNoSend;

    #[inline]
    fn lock_shared(&self) {
        taken(self.0.lock_shared());
    }

    #[inline]
    fn try_lock_shared(&self) -> bool {
        self.0.try_lock_shared().map(taken).is_some()
    }

    #[inline]
    unsafe fn unlock_shared(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.unlock_shared(StatelessGuard::empty()) }
    }

    #[inline]
    fn lock_exclusive(&self) {
        taken(self.0.lock_exclusive());
    }

    #[inline]
    fn try_lock_exclusive(&self) -> bool {
        self.0.try_lock_exclusive().map(taken).is_some()
    }

    #[inline]
    unsafe fn unlock_exclusive(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.unlock_exclusive(StatelessGuard::empty()) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.0.is_locked()
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        self.0.is_locked_exclusive()
    }
}

// SAFETY: as above.
unsafe impl<R> ::lock_api::RawRwLockFair for Compat<R>
where
    R: lock_api05::RawRwLockFair,
    R::SharedGuard: StatelessGuard,
    R::ExclusiveGuard: StatelessGuard,
{
    #[inline]
    unsafe fn unlock_shared_fair(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.unlock_shared_fair(StatelessGuard::empty()) }
    }

    #[inline]
    unsafe fn unlock_exclusive_fair(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.unlock_exclusive_fair(StatelessGuard::empty()) }
    }

    #[inline]
    unsafe fn bump_shared(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.bump_shared(&mut StatelessGuard::empty()) }
    }

    #[inline]
    unsafe fn bump_exclusive(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.bump_exclusive(&mut StatelessGuard::empty()) }
    }
}

// SAFETY: as above.
unsafe impl<R> ::lock_api::RawRwLockDowngrade for Compat<R>
where
    R: lock_api05::RawRwLockDowngrade,
    R::SharedGuard: StatelessGuard,
    R::ExclusiveGuard: StatelessGuard,
{
    #[inline]
    unsafe fn downgrade(&self) {
        // SAFETY: forwarded from the caller.
        taken(unsafe { self.0.downgrade(StatelessGuard::empty()) });
    }
}

// SAFETY: as above.
unsafe impl<R> ::lock_api::RawRwLockTimed for Compat<R>
where
    R: lock_api05::RawRwLockTimed,
    R::SharedGuard: StatelessGuard,
    R::ExclusiveGuard: StatelessGuard,
{
    type Duration = R::Duration;
    type Instant = R::Instant;

    #[inline]
    fn try_lock_shared_for(&self, timeout: R::Duration) -> bool {
        self.0.try_lock_shared_for(timeout).map(taken).is_some()
    }

    #[inline]
    fn try_lock_shared_until(&self, timeout: R::Instant) -> bool {
        self.0.try_lock_shared_until(timeout).map(taken).is_some()
    }

    #[inline]
    fn try_lock_exclusive_for(&self, timeout: R::Duration) -> bool {
        self.0.try_lock_exclusive_for(timeout).map(taken).is_some()
    }

    #[inline]
    fn try_lock_exclusive_until(&self, timeout: R::Instant) -> bool {
        self.0.try_lock_exclusive_until(timeout).map(taken).is_some()
    }
}

// SAFETY: as above.
unsafe impl<R> ::lock_api::RawRwLockUpgrade for Compat<R>
where
    R: lock_api05::RawRwLockUpgrade,
    R::SharedGuard: StatelessGuard,
    R::ExclusiveGuard: StatelessGuard,
    R::UpgradableGuard: StatelessGuard,
{
    #[inline]
    fn lock_upgradable(&self) {
        taken(self.0.lock_upgradable());
    }

    #[inline]
    fn try_lock_upgradable(&self) -> bool {
        self.0.try_lock_upgradable().map(taken).is_some()
    }

    #[inline]
    unsafe fn unlock_upgradable(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.unlock_upgradable(StatelessGuard::empty()) }
    }

    #[inline]
    unsafe fn upgrade(&self) {
        // SAFETY: forwarded from the caller.
        taken(unsafe { self.0.upgrade(StatelessGuard::empty()) });
    }

    #[inline]
    unsafe fn try_upgrade(&self) -> bool {
        // SAFETY: forwarded from the caller; on failure the upgradable lock
        // is still held and its (empty) state is handed back.
        unsafe { self.0.try_upgrade(StatelessGuard::empty()) }.map(taken).is_ok()
    }
}

// SAFETY: as above.
unsafe impl<R> ::lock_api::RawRwLockUpgradeFair for Compat<R>
where
    R: lock_api05::RawRwLockUpgradeFair,
    R::SharedGuard: StatelessGuard,
    R::ExclusiveGuard: StatelessGuard,
    R::UpgradableGuard: StatelessGuard,
{
    #[inline]
    unsafe fn unlock_upgradable_fair(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.unlock_upgradable_fair(StatelessGuard::empty()) }
    }

    #[inline]
    unsafe fn bump_upgradable(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.bump_upgradable(&mut StatelessGuard::empty()) }
    }
}

// SAFETY: as above.
unsafe impl<R> ::lock_api::RawRwLockUpgradeDowngrade for Compat<R>
where
    R: lock_api05::RawRwLockUpgradeDowngrade,
    R::SharedGuard: StatelessGuard,
    R::ExclusiveGuard: StatelessGuard,
    R::UpgradableGuard: StatelessGuard,
{
    #[inline]
    unsafe fn downgrade_upgradable(&self) {
        // SAFETY: forwarded from the caller.
        taken(unsafe { self.0.downgrade_upgradable(StatelessGuard::empty()) });
    }

    #[inline]
    unsafe fn downgrade_to_upgradable(&self) {
        // SAFETY: forwarded from the caller.
        taken(unsafe { self.0.downgrade_to_upgradable(StatelessGuard::empty()) });
    }
}

// SAFETY: as above.
unsafe impl<R> ::lock_api::RawRwLockUpgradeTimed for Compat<R>
where
    R: lock_api05::RawRwLockUpgradeTimed,
    R::SharedGuard: StatelessGuard,
    R::ExclusiveGuard: StatelessGuard,
    R::UpgradableGuard: StatelessGuard,
{
    #[inline]
    fn try_lock_upgradable_for(&self, timeout: R::Duration) -> bool {
        self.0.try_lock_upgradable_for(timeout).map(taken).is_some()
    }

    #[inline]
    fn try_lock_upgradable_until(&self, timeout: R::Instant) -> bool {
        self.0.try_lock_upgradable_until(timeout).map(taken).is_some()
    }

    #[inline]
    unsafe fn try_upgrade_for(&self, timeout: R::Duration) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.try_upgrade_for(StatelessGuard::empty(), timeout) }.map(taken).is_ok()
    }

    #[inline]
    unsafe fn try_upgrade_until(&self, timeout: R::Instant) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.try_upgrade_until(StatelessGuard::empty(), timeout) }.map(taken).is_ok()
    }
}

// ---------------------------------------------------------------------------
// Zero cost when compiled out: the same sizes as parking_lot 0.13's types.

#[cfg(all(not(lockdep_on), feature = "parking_lot-0.13"))]
const _: () = {
    use std::mem::size_of;
    assert!(size_of::<Mutex<u64>>() == size_of::<parking_lot013::Mutex<u64>>());
    assert!(size_of::<Mutex<[u8; 3]>>() == size_of::<parking_lot013::Mutex<[u8; 3]>>());
    assert!(size_of::<MutexGuard<'static, u64>>() == size_of::<parking_lot013::MutexGuard<'static, u64>>());
    assert!(size_of::<RwLock<u64>>() == size_of::<parking_lot013::RwLock<u64>>());
    assert!(size_of::<RwLock<(u8, u16)>>() == size_of::<parking_lot013::RwLock<(u8, u16)>>());
    assert!(size_of::<RwLockReadGuard<'static, u64>>() == size_of::<parking_lot013::RwLockReadGuard<'static, u64>>());
    assert!(size_of::<RwLockWriteGuard<'static, u64>>() == size_of::<parking_lot013::RwLockWriteGuard<'static, u64>>());
    assert!(
        size_of::<RwLockUpgradableReadGuard<'static, u64>>()
            == size_of::<parking_lot013::RwLockUpgradableReadGuard<'static, u64>>()
    );
    assert!(size_of::<ReentrantMutex<u64>>() == size_of::<parking_lot013::ReentrantMutex<u64>>());
    assert!(
        size_of::<ReentrantMutexGuard<'static, u64>>()
            == size_of::<parking_lot013::ReentrantMutexGuard<'static, u64>>()
    );
    assert!(size_of::<Condvar>() == size_of::<parking_lot013::Condvar>());
};

// Compiled out, the condvar is one word, like parking_lot 0.13's (compiled
// in, it also names its construction site, as a waitable object).
#[cfg(not(lockdep_on))]
const _: () = assert!(std::mem::size_of::<Condvar>() == std::mem::size_of::<usize>());

// Guards are never `Send`, in every configuration (see `lockdep::sync`).
const _: () = <MutexGuard<'static, u64> as super::AmbiguousIfSend<_>>::NOT_SEND;
const _: () = <RwLockReadGuard<'static, u64> as super::AmbiguousIfSend<_>>::NOT_SEND;
const _: () = <RwLockWriteGuard<'static, u64> as super::AmbiguousIfSend<_>>::NOT_SEND;
const _: () = <RwLockUpgradableReadGuard<'static, u64> as super::AmbiguousIfSend<_>>::NOT_SEND;
const _: () = <ReentrantMutexGuard<'static, u64> as super::AmbiguousIfSend<_>>::NOT_SEND;
const _: () = <MappedMutexGuard<'static, u64> as super::AmbiguousIfSend<_>>::NOT_SEND;
