//! The raw locks: lockdep's instrumented locks ([`RawLockdep`] over
//! `lockdep::sync::park`), behind lock_api 0.5's guard-passing raw traits.
//!
//! lockdep's raw layer speaks lock_api 0.4 (stateless unlock); lock_api 0.5
//! hands a guard state from each acquisition to its release. The state here
//! is [`GuardNoSend`]: nothing to carry, and never `Send`, since a lock must
//! be released by the thread whose held-lock stack has it. Every acquiring
//! method is `#[track_caller]`, as are lock_api 0.5's own, so lockdep reports
//! acquisitions at the user's call site.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lock_api::GuardNoSend;
use lock_api04::{
    RawMutex as _, RawMutexFair as _, RawRwLock as _, RawRwLockDowngrade as _, RawRwLockFair as _,
    RawRwLockRecursiveTimed as _, RawRwLockTimed as _, RawRwLockUpgrade as _, RawRwLockUpgradeDowngrade as _,
    RawRwLockUpgradeFair as _, RawRwLockUpgradeTimed as _,
};
use lockdep::sync::{RawLockdep, park};
use lockdep::{LockClassKey, LockdepMap};

/// The one class of every lock built from a raw type's `INIT` (that is,
/// through `lock_api`'s own constructors rather than the shim's).
static INIT_KEY: LockClassKey = LockClassKey::new();

/// The raw mutex: lockdep's parking mutex, instrumented.
pub struct RawMutex(pub(crate) RawLockdep<park::RawMutex>);

/// The raw fair mutex: lockdep's parking mutex unlocking fairly, instrumented.
pub struct RawFairMutex(pub(crate) RawLockdep<park::RawFairMutex>);

/// The raw rwlock: lockdep's writer-preferring parking rwlock, instrumented.
/// `RawRwLock<true>` ([`RawRwLockRecursive`]) takes its read locks as
/// recursive readers, which a waiting writer does not hold back.
pub struct RawRwLock<const RECURSIVE: bool = false>(pub(crate) RawLockdep<park::RawRwLock>);

/// The raw rwlock of [`RecursiveRwLock`](crate::RecursiveRwLock).
pub type RawRwLockRecursive = RawRwLock<true>;

impl RawMutex {
    pub(crate) const fn with_map(map: LockdepMap) -> Self {
        RawMutex(RawLockdep::new(park::RawMutex::new(), map))
    }

    /// The map lockdep knows this lock by.
    pub fn lockdep_map(&self) -> &LockdepMap {
        self.0.map()
    }
}

impl RawFairMutex {
    pub(crate) const fn with_map(map: LockdepMap) -> Self {
        RawFairMutex(RawLockdep::new(park::RawFairMutex::new(), map))
    }

    /// The map lockdep knows this lock by.
    pub fn lockdep_map(&self) -> &LockdepMap {
        self.0.map()
    }
}

impl<const RECURSIVE: bool> RawRwLock<RECURSIVE> {
    pub(crate) const fn with_map(map: LockdepMap) -> Self {
        RawRwLock(RawLockdep::new(park::RawRwLock::new(), map))
    }

    /// The map lockdep knows this lock by.
    pub fn lockdep_map(&self) -> &LockdepMap {
        self.0.map()
    }
}

/// Implements lock_api 0.5's mutex traits for a newtype over `RawLockdep<$park>`.
macro_rules! raw_mutex {
    ($ty:ident, $name:literal) => {
        // SAFETY: every method delegates to the instrumented lock_api 0.4
        // raw mutex, which upholds the same contract; the guard carries no
        // state.
        unsafe impl lock_api::RawMutex for $ty {
            #[allow(clippy::declare_interior_mutable_const)]
            const INIT: Self = $ty::with_map(LockdepMap::new($name, &INIT_KEY));

            type Guard = GuardNoSend;

            #[inline]
            #[track_caller]
            fn lock(&self) -> GuardNoSend {
                self.0.lock_with(0, None);
                GuardNoSend::new()
            }

            #[inline]
            #[track_caller]
            fn try_lock(&self) -> Option<GuardNoSend> {
                self.0.try_lock_with(0, None).then(GuardNoSend::new)
            }

            #[inline]
            #[track_caller]
            unsafe fn unlock(&self, _guard: GuardNoSend) {
                // SAFETY: the guard proves this thread holds the lock.
                unsafe { self.0.unlock_hooked() }
            }

            #[inline]
            fn is_locked(&self) -> bool {
                self.0.is_locked()
            }
        }

        // SAFETY: as above.
        unsafe impl lock_api::RawMutexFair for $ty {
            #[inline]
            unsafe fn unlock_fair(&self, _guard: GuardNoSend) {
                // SAFETY: the guard proves this thread holds the lock.
                unsafe { self.0.unlock_fair() }
            }

            #[inline]
            unsafe fn bump(&self, _guard: &mut GuardNoSend) {
                // SAFETY: the guard proves this thread holds the lock.
                unsafe { self.0.bump() }
            }
        }

        // SAFETY: as above.
        unsafe impl lock_api::RawMutexTimed for $ty {
            type Duration = Duration;
            type Instant = Instant;

            #[inline]
            #[track_caller]
            fn try_lock_for(&self, timeout: Duration) -> Option<GuardNoSend> {
                self.0.try_lock_for_with(0, timeout).then(GuardNoSend::new)
            }

            #[inline]
            #[track_caller]
            fn try_lock_until(&self, timeout: Instant) -> Option<GuardNoSend> {
                self.0.try_lock_until_with(0, timeout).then(GuardNoSend::new)
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($ty)).field(&self.0).finish()
            }
        }
    };
}

raw_mutex!(RawMutex, "parking_lot::RawMutex::INIT");
raw_mutex!(RawFairMutex, "parking_lot::RawFairMutex::INIT");

// SAFETY: every method delegates to the instrumented lock_api 0.4 raw rwlock,
// which upholds the same contract; the guards carry no state.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLock for RawRwLock<RECURSIVE> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawRwLock::with_map(LockdepMap::new("parking_lot::RawRwLock::INIT", &INIT_KEY));

    type SharedGuard = GuardNoSend;
    type ExclusiveGuard = GuardNoSend;

    #[inline]
    #[track_caller]
    fn lock_shared(&self) -> GuardNoSend {
        if RECURSIVE {
            self.0.lock_shared_recursive_with(0);
        } else {
            self.0.lock_shared_with(0, None);
        }
        GuardNoSend::new()
    }

    #[inline]
    #[track_caller]
    fn try_lock_shared(&self) -> Option<GuardNoSend> {
        let ok = if RECURSIVE { self.0.try_lock_shared_recursive_with(0) } else { self.0.try_lock_shared_with(0) };
        ok.then(GuardNoSend::new)
    }

    #[inline]
    #[track_caller]
    unsafe fn unlock_shared(&self, _guard: GuardNoSend) {
        // SAFETY: the guard proves this thread holds a shared lock.
        unsafe { self.0.unlock_shared() }
    }

    #[inline]
    #[track_caller]
    fn lock_exclusive(&self) -> GuardNoSend {
        self.0.lock_exclusive_with(0, None);
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
        // SAFETY: the guard proves this thread holds the exclusive lock.
        unsafe { self.0.unlock_exclusive() }
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

// SAFETY: as for `RawRwLock`.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockFair for RawRwLock<RECURSIVE> {
    #[inline]
    unsafe fn unlock_shared_fair(&self, _guard: GuardNoSend) {
        // SAFETY: the guard proves this thread holds a shared lock.
        unsafe { self.0.unlock_shared_fair() }
    }

    #[inline]
    unsafe fn unlock_exclusive_fair(&self, _guard: GuardNoSend) {
        // SAFETY: the guard proves this thread holds the exclusive lock.
        unsafe { self.0.unlock_exclusive_fair() }
    }

    #[inline]
    unsafe fn bump_shared(&self, _guard: &mut GuardNoSend) {
        // SAFETY: the guard proves this thread holds a shared lock.
        unsafe { self.0.bump_shared() }
    }

    #[inline]
    unsafe fn bump_exclusive(&self, _guard: &mut GuardNoSend) {
        // SAFETY: the guard proves this thread holds the exclusive lock.
        unsafe { self.0.bump_exclusive() }
    }
}

// SAFETY: as for `RawRwLock`.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockDowngrade for RawRwLock<RECURSIVE> {
    #[inline]
    unsafe fn downgrade(&self, guard: GuardNoSend) -> GuardNoSend {
        // SAFETY: the guard proves this thread holds the exclusive lock.
        unsafe { self.0.downgrade() };
        guard
    }
}

// SAFETY: as for `RawRwLock`.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockTimed for RawRwLock<RECURSIVE> {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_shared_for(&self, timeout: Duration) -> Option<GuardNoSend> {
        let ok =
            if RECURSIVE { self.0.try_lock_shared_recursive_for(timeout) } else { self.0.try_lock_shared_for(timeout) };
        ok.then(GuardNoSend::new)
    }

    #[inline]
    fn try_lock_shared_until(&self, timeout: Instant) -> Option<GuardNoSend> {
        let ok = if RECURSIVE {
            self.0.try_lock_shared_recursive_until(timeout)
        } else {
            self.0.try_lock_shared_until(timeout)
        };
        ok.then(GuardNoSend::new)
    }

    #[inline]
    fn try_lock_exclusive_for(&self, timeout: Duration) -> Option<GuardNoSend> {
        self.0.try_lock_exclusive_for(timeout).then(GuardNoSend::new)
    }

    #[inline]
    fn try_lock_exclusive_until(&self, timeout: Instant) -> Option<GuardNoSend> {
        self.0.try_lock_exclusive_until(timeout).then(GuardNoSend::new)
    }
}

// SAFETY: as for `RawRwLock`.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockUpgrade for RawRwLock<RECURSIVE> {
    type UpgradableGuard = GuardNoSend;

    #[inline]
    #[track_caller]
    fn lock_upgradable(&self) -> GuardNoSend {
        self.0.lock_upgradable_with(0);
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
        // SAFETY: the guard proves this thread holds the upgradable lock.
        unsafe { self.0.unlock_upgradable() }
    }

    #[inline]
    unsafe fn upgrade(&self, guard: GuardNoSend) -> GuardNoSend {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        unsafe { self.0.upgrade() };
        guard
    }

    #[inline]
    unsafe fn try_upgrade(&self, guard: GuardNoSend) -> Result<GuardNoSend, GuardNoSend> {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        if unsafe { self.0.try_upgrade() } { Ok(guard) } else { Err(guard) }
    }
}

// SAFETY: as for `RawRwLock`.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockUpgradeFair for RawRwLock<RECURSIVE> {
    #[inline]
    unsafe fn unlock_upgradable_fair(&self, _guard: GuardNoSend) {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        unsafe { self.0.unlock_upgradable_fair() }
    }

    #[inline]
    unsafe fn bump_upgradable(&self, _guard: &mut GuardNoSend) {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        unsafe { self.0.bump_upgradable() }
    }
}

// SAFETY: as for `RawRwLock`.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockUpgradeDowngrade for RawRwLock<RECURSIVE> {
    #[inline]
    unsafe fn downgrade_upgradable(&self, guard: GuardNoSend) -> GuardNoSend {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        unsafe { self.0.downgrade_upgradable() };
        guard
    }

    #[inline]
    unsafe fn downgrade_to_upgradable(&self, guard: GuardNoSend) -> GuardNoSend {
        // SAFETY: the guard proves this thread holds the exclusive lock.
        unsafe { self.0.downgrade_to_upgradable() };
        guard
    }
}

// SAFETY: as for `RawRwLock`.
unsafe impl<const RECURSIVE: bool> lock_api::RawRwLockUpgradeTimed for RawRwLock<RECURSIVE> {
    #[inline]
    fn try_lock_upgradable_for(&self, timeout: Duration) -> Option<GuardNoSend> {
        self.0.try_lock_upgradable_for(timeout).then(GuardNoSend::new)
    }

    #[inline]
    fn try_lock_upgradable_until(&self, timeout: Instant) -> Option<GuardNoSend> {
        self.0.try_lock_upgradable_until(timeout).then(GuardNoSend::new)
    }

    #[inline]
    unsafe fn try_upgrade_for(&self, guard: GuardNoSend, timeout: Duration) -> Result<GuardNoSend, GuardNoSend> {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        if unsafe { self.0.try_upgrade_for(timeout) } { Ok(guard) } else { Err(guard) }
    }

    #[inline]
    unsafe fn try_upgrade_until(&self, guard: GuardNoSend, timeout: Instant) -> Result<GuardNoSend, GuardNoSend> {
        // SAFETY: the guard proves this thread holds the upgradable lock.
        if unsafe { self.0.try_upgrade_until(timeout) } { Ok(guard) } else { Err(guard) }
    }
}

impl<const RECURSIVE: bool> std::fmt::Debug for RawRwLock<RECURSIVE> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RawRwLock").field(&self.0).finish()
    }
}

/// Identifies threads for [`ReentrantMutex`](crate::ReentrantMutex): the
/// address of a thread-local, distinct for every live thread.
#[derive(Debug)]
pub struct RawThreadId;

// SAFETY: two threads alive at the same time have distinct thread-locals, so
// distinct addresses; an address is never zero.
unsafe impl lock_api::GetThreadId for RawThreadId {
    const INIT: RawThreadId = RawThreadId;

    fn nonzero_thread_id(&self) -> NonZeroUsize {
        thread_local!(static MARK: u8 = const { 0 });
        MARK.with(|m| NonZeroUsize::new(m as *const u8 as usize).expect("a thread-local's address is never zero"))
    }
}
