//! [`RawLockdep05`]: [`RawLockdep`] behind `lock_api` 0.5's raw traits: the
//! same hooks in the same order, over the same lock_api 0.4 raw lock `R`.
//!
//! A newtype rather than 0.5 impls on `RawLockdep` itself: code that calls
//! `RawLockdep`'s lock_api 0.4 trait methods by method syntax (the 0.13 shim
//! does) would find two candidates for each as soon as any crate of the
//! build turned the `lock_api-0.5` feature on.
//!
//! lock_api 0.5 hands a guard state from each acquisition to its release;
//! here it is [`GuardNoSend`] (no state, never `Send`: a lock must be
//! released by the thread whose held-lock stack has it). Unlike 0.4's, the
//! acquiring methods are `#[track_caller]`, as are lock_api 0.5's own
//! `Mutex::lock` and friends, so acquisitions made through lock_api 0.5's
//! types are reported at the caller's line.

use lock_api05::GuardNoSend;

use super::{INIT_KEY, RawLockdep, note_unlock};
use crate::assert::AsLockdepMap;
use crate::class::Read;
use crate::hooks;
use crate::map::LockdepMap;

/// [`RawLockdep<R>`] seen through `lock_api` 0.5's raw traits: what the
/// lock types of [`sync::lock_api05`](crate::sync::lock_api05) are made of.
/// Same size and code as `RawLockdep<R>` (`repr(transparent)`). Its guard
/// state is `GuardNoSend` (empty, never `Send`), and its acquiring methods
/// are `#[track_caller]`, like lock_api 0.5's own `Mutex::lock` and friends,
/// so acquisitions made through lock_api 0.5's types are reported at the
/// caller's line.
#[repr(transparent)]
pub struct RawLockdep05<R>(RawLockdep<R>);

impl<R> RawLockdep05<R> {
    /// Wraps `raw`.
    pub const fn new(raw: RawLockdep<R>) -> Self {
        RawLockdep05(raw)
    }

    /// The same lock through `lock_api` 0.4's traits and `RawLockdep`'s
    /// methods (`map`, `lock_with`, …).
    pub fn as_lock_api04(&self) -> &RawLockdep<R> {
        &self.0
    }

    /// The map the validator knows this lock by.
    pub fn map(&self) -> &LockdepMap {
        self.0.map()
    }
}

impl<R> std::fmt::Debug for RawLockdep05<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RawLockdep05").field(&self.0).finish()
    }
}

impl<R> AsLockdepMap for RawLockdep05<R> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        self.map()
    }
}

// SAFETY: every method delegates to `R`'s lock_api 0.4 counterpart, which
// upholds the same contract; the guard carries no state, and the hooks only
// record what happens (an acquisition whose hook unwinds is undone first).
unsafe impl<R: lock_api::RawMutex> lock_api05::RawMutex for RawLockdep05<R> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawLockdep05(RawLockdep::new(R::INIT, LockdepMap::new("lockdep::RawLockdep::INIT", &INIT_KEY)));

    type Guard = GuardNoSend;

    #[inline]
    #[track_caller]
    fn lock(&self) -> GuardNoSend {
        if self.0.take_prehooked() {
            self.0.inner.lock();
        } else if let Some(held) = self.0.take_relock() {
            self.0.reacquire_blocking(held, Read::Exclusive, || self.0.inner.try_lock(), || self.0.inner.lock());
        } else {
            self.0.lock_with(0, None);
        }
        GuardNoSend::new()
    }

    #[inline]
    #[track_caller]
    fn try_lock(&self) -> Option<GuardNoSend> {
        let ok = if self.0.take_prehooked() { self.0.inner.try_lock() } else { self.0.try_lock_with(0, None) };
        ok.then(GuardNoSend::new)
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock(&self, _guard: GuardNoSend) {
        note_unlock(&self.0.map);
        // SAFETY: the guard proves this thread holds the lock.
        unsafe { self.0.unlock_hooked() }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.0.inner.is_locked()
    }
}

// SAFETY: as above.
unsafe impl<R: lock_api::RawMutexFair> lock_api05::RawMutexFair for RawLockdep05<R> {
    #[inline]
    #[track_caller]
    unsafe fn unlock_fair(&self, _guard: GuardNoSend) {
        note_unlock(&self.0.map);
        self.0.release_then(|| {
            // SAFETY: the guard proves this thread holds the lock.
            unsafe { self.0.inner.unlock_fair() }
        });
    }

    #[inline]
    unsafe fn bump(&self, _guard: &mut GuardNoSend) {
        // The lock stays held for the validator across a bump.
        // SAFETY: the guard proves this thread holds the lock.
        unsafe { self.0.inner.bump() }
    }
}

// SAFETY: as above.
unsafe impl<R: lock_api::RawMutexTimed> lock_api05::RawMutexTimed for RawLockdep05<R> {
    type Duration = R::Duration;
    type Instant = R::Instant;

    #[inline]
    #[track_caller]
    fn try_lock_for(&self, timeout: R::Duration) -> Option<GuardNoSend> {
        self.0.try_lock_for_with(0, timeout).then(GuardNoSend::new)
    }

    #[inline]
    #[track_caller]
    fn try_lock_until(&self, timeout: R::Instant) -> Option<GuardNoSend> {
        self.0.try_lock_until_with(0, timeout).then(GuardNoSend::new)
    }
}

// SAFETY: as above.
unsafe impl<R: lock_api::RawRwLock> lock_api05::RawRwLock for RawLockdep05<R> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawLockdep05(RawLockdep::new(R::INIT, LockdepMap::new("lockdep::RawLockdep::INIT", &INIT_KEY)));

    type SharedGuard = GuardNoSend;
    type ExclusiveGuard = GuardNoSend;

    #[inline]
    #[track_caller]
    fn lock_shared(&self) -> GuardNoSend {
        match self.0.take_relock() {
            Some(held) => self.0.reacquire_blocking(
                held,
                Read::Shared,
                || self.0.inner.try_lock_shared(),
                || self.0.inner.lock_shared(),
            ),
            None => self.0.lock_shared_with(0, None),
        }
        GuardNoSend::new()
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared(&self) -> Option<GuardNoSend> {
        self.0.try_lock_shared_with(0).then(GuardNoSend::new)
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_shared(&self, _guard: GuardNoSend) {
        note_unlock(&self.0.map);
        self.0.release_then(|| {
            // SAFETY: the guard proves this thread holds a shared lock.
            unsafe { self.0.inner.unlock_shared() }
        });
    }

    #[inline]
    #[track_caller]
    fn lock_exclusive(&self) -> GuardNoSend {
        match self.0.take_relock() {
            Some(held) => self.0.reacquire_blocking(
                held,
                Read::Exclusive,
                || self.0.inner.try_lock_exclusive(),
                || self.0.inner.lock_exclusive(),
            ),
            None => self.0.lock_exclusive_with(0, None),
        }
        GuardNoSend::new()
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive(&self) -> Option<GuardNoSend> {
        self.0.try_lock_exclusive_with(0).then(GuardNoSend::new)
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_exclusive(&self, _guard: GuardNoSend) {
        note_unlock(&self.0.map);
        self.0.release_then(|| {
            // SAFETY: the guard proves this thread holds the exclusive lock.
            unsafe { self.0.inner.unlock_exclusive() }
        });
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.0.inner.is_locked()
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        self.0.inner.is_locked_exclusive()
    }
}

// SAFETY: as above.
unsafe impl<R: lock_api::RawRwLockFair> lock_api05::RawRwLockFair for RawLockdep05<R> {
    #[inline]
    #[track_caller]
    unsafe fn unlock_shared_fair(&self, _guard: GuardNoSend) {
        note_unlock(&self.0.map);
        self.0.release_then(|| {
            // SAFETY: the guard proves this thread holds a shared lock.
            unsafe { self.0.inner.unlock_shared_fair() }
        });
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_exclusive_fair(&self, _guard: GuardNoSend) {
        note_unlock(&self.0.map);
        self.0.release_then(|| {
            // SAFETY: the guard proves this thread holds the exclusive lock.
            unsafe { self.0.inner.unlock_exclusive_fair() }
        });
    }

    #[inline]
    unsafe fn bump_shared(&self, _guard: &mut GuardNoSend) {
        // SAFETY: the guard proves this thread holds a shared lock.
        unsafe { self.0.inner.bump_shared() }
    }

    #[inline]
    unsafe fn bump_exclusive(&self, _guard: &mut GuardNoSend) {
        // SAFETY: the guard proves this thread holds the exclusive lock.
        unsafe { self.0.inner.bump_exclusive() }
    }
}

// SAFETY: as above.
unsafe impl<R: lock_api::RawRwLockDowngrade> lock_api05::RawRwLockDowngrade for RawLockdep05<R> {
    #[inline]
    #[track_caller]
    unsafe fn downgrade(&self, guard: GuardNoSend) -> GuardNoSend {
        hooks::lock_downgrade(&self.0.map);
        // SAFETY: the guard proves this thread holds the exclusive lock.
        unsafe { self.0.inner.downgrade() };
        guard
    }
}

// SAFETY: as above.
unsafe impl<R: lock_api::RawRwLockTimed> lock_api05::RawRwLockTimed for RawLockdep05<R> {
    type Duration = R::Duration;
    type Instant = R::Instant;

    #[inline]
    #[track_caller]
    fn try_lock_shared_for(&self, timeout: R::Duration) -> Option<GuardNoSend> {
        self.0.acquire_timed(0, Read::Shared, || self.0.inner.try_lock_shared_for(timeout)).then(GuardNoSend::new)
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared_until(&self, timeout: R::Instant) -> Option<GuardNoSend> {
        self.0.acquire_timed(0, Read::Shared, || self.0.inner.try_lock_shared_until(timeout)).then(GuardNoSend::new)
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive_for(&self, timeout: R::Duration) -> Option<GuardNoSend> {
        self.0.acquire_timed(0, Read::Exclusive, || self.0.inner.try_lock_exclusive_for(timeout)).then(GuardNoSend::new)
    }

    #[inline]
    #[track_caller]
    fn try_lock_exclusive_until(&self, timeout: R::Instant) -> Option<GuardNoSend> {
        self.0
            .acquire_timed(0, Read::Exclusive, || self.0.inner.try_lock_exclusive_until(timeout))
            .then(GuardNoSend::new)
    }
}

// SAFETY: as above. Upgrading keeps the validator's exclusive entry (an
// upgradable read is validated as exclusive), so it needs no hook.
unsafe impl<R: lock_api::RawRwLockUpgrade> lock_api05::RawRwLockUpgrade for RawLockdep05<R> {
    type UpgradableGuard = GuardNoSend;

    #[inline]
    #[track_caller]
    fn lock_upgradable(&self) -> GuardNoSend {
        match self.0.take_relock() {
            Some(held) => self.0.reacquire_blocking(
                held,
                Read::Exclusive,
                || self.0.inner.try_lock_upgradable(),
                || self.0.inner.lock_upgradable(),
            ),
            None => self.0.lock_upgradable_with(0),
        }
        GuardNoSend::new()
    }

    #[inline]
    #[track_caller]
    fn try_lock_upgradable(&self) -> Option<GuardNoSend> {
        self.0.try_lock_upgradable_with(0).then(GuardNoSend::new)
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_upgradable(&self, _guard: GuardNoSend) {
        note_unlock(&self.0.map);
        self.0.release_then(|| {
            // SAFETY: the guard proves this thread holds the upgradable lock.
            unsafe { self.0.inner.unlock_upgradable() }
        });
    }

    #[inline]
    unsafe fn upgrade(&self, guard: GuardNoSend) -> GuardNoSend {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        unsafe { self.0.inner.upgrade() };
        guard
    }

    #[inline]
    unsafe fn try_upgrade(&self, guard: GuardNoSend) -> Result<GuardNoSend, GuardNoSend> {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        if unsafe { self.0.inner.try_upgrade() } { Ok(guard) } else { Err(guard) }
    }
}

// SAFETY: as above.
unsafe impl<R: lock_api::RawRwLockUpgradeFair> lock_api05::RawRwLockUpgradeFair for RawLockdep05<R> {
    #[inline]
    #[track_caller]
    unsafe fn unlock_upgradable_fair(&self, _guard: GuardNoSend) {
        note_unlock(&self.0.map);
        self.0.release_then(|| {
            // SAFETY: the guard proves this thread holds the upgradable lock.
            unsafe { self.0.inner.unlock_upgradable_fair() }
        });
    }

    #[inline]
    unsafe fn bump_upgradable(&self, _guard: &mut GuardNoSend) {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        unsafe { self.0.inner.bump_upgradable() }
    }
}

// SAFETY: as above.
unsafe impl<R: lock_api::RawRwLockUpgradeDowngrade> lock_api05::RawRwLockUpgradeDowngrade for RawLockdep05<R> {
    #[inline]
    #[track_caller]
    unsafe fn downgrade_upgradable(&self, guard: GuardNoSend) -> GuardNoSend {
        // Exclusive (upgradable) -> shared reader.
        hooks::lock_downgrade(&self.0.map);
        // SAFETY: the guard proves this thread holds the upgradable lock.
        unsafe { self.0.inner.downgrade_upgradable() };
        guard
    }

    #[inline]
    unsafe fn downgrade_to_upgradable(&self, guard: GuardNoSend) -> GuardNoSend {
        // Writer -> upgradable: both are validated as exclusive.
        // SAFETY: the guard proves this thread holds the exclusive lock.
        unsafe { self.0.inner.downgrade_to_upgradable() };
        guard
    }
}

// SAFETY: as above.
unsafe impl<R: lock_api::RawRwLockUpgradeTimed> lock_api05::RawRwLockUpgradeTimed for RawLockdep05<R> {
    #[inline]
    #[track_caller]
    fn try_lock_upgradable_for(&self, timeout: R::Duration) -> Option<GuardNoSend> {
        self.0
            .acquire_timed(0, Read::Exclusive, || self.0.inner.try_lock_upgradable_for(timeout))
            .then(GuardNoSend::new)
    }

    #[inline]
    #[track_caller]
    fn try_lock_upgradable_until(&self, timeout: R::Instant) -> Option<GuardNoSend> {
        self.0
            .acquire_timed(0, Read::Exclusive, || self.0.inner.try_lock_upgradable_until(timeout))
            .then(GuardNoSend::new)
    }

    #[inline]
    unsafe fn try_upgrade_for(&self, guard: GuardNoSend, timeout: R::Duration) -> Result<GuardNoSend, GuardNoSend> {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        if unsafe { self.0.inner.try_upgrade_for(timeout) } { Ok(guard) } else { Err(guard) }
    }

    #[inline]
    unsafe fn try_upgrade_until(&self, guard: GuardNoSend, timeout: R::Instant) -> Result<GuardNoSend, GuardNoSend> {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        if unsafe { self.0.inner.try_upgrade_until(timeout) } { Ok(guard) } else { Err(guard) }
    }
}
