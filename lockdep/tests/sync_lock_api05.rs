//! The scenarios of `sync_mutex.rs`, `sync_rwlock.rs` and `sync_condvar.rs`
//! again, on `lockdep::sync::lock_api05`'s lock types: `lock_api` 0.5 guards
//! over the same validator. The raw locks are lockdep's own here whatever the
//! features (`read_recursive` needs them); `sync_parking_lot013.rs` covers
//! parking_lot 0.13's. Each included file names its lock types
//! `crate::flavour::*`, which is this module.

#[allow(dead_code)]
mod flavour {
    use lockdep::sync::lock_api05::{self as l, RawLockdep05};
    use lockdep::sync::park;

    pub use l::{Condvar, SINGLE_DEPTH_NESTING};

    pub type Mutex<T> = l::GenericMutex<park::RawMutex, T>;
    pub type ReentrantMutex<T> = l::GenericReentrantMutex<park::RawMutex, park::RawThreadId, T>;
    pub type RwLock<T> = l::GenericRwLock<park::RawRwLock, T>;
    pub type RwLockWriteGuard<'a, T> = l::lock_api::RwLockWriteGuard<'a, RawLockdep05<park::RawRwLock>, T>;
    pub type RwLockUpgradableReadGuard<'a, T> =
        l::lock_api::RwLockUpgradableReadGuard<'a, RawLockdep05<park::RawRwLock>, T>;

    /// lock_api 0.5's `force_unlock`, which takes the guard state back.
    ///
    /// # Safety
    ///
    /// As for `lock_api::Mutex::force_unlock`: this thread holds `m`, and
    /// its guard is gone.
    pub unsafe fn force_unlock<T>(m: &Mutex<T>) {
        // SAFETY: forwarded from the caller; lockdep's guard state is empty.
        unsafe { m.force_unlock(l::lock_api::GuardNoSend::new()) }
    }
}

#[path = "sync_mutex.rs"]
mod mutex;

#[path = "sync_rwlock.rs"]
mod rwlock;

#[path = "sync_condvar.rs"]
mod condvar;

/// The `lock_api` 0.5 face is a newtype (`RawLockdep05`), not 0.5 impls on
/// `RawLockdep`: code with both majors' raw traits in scope (as the 0.13
/// shim has) calls each type's methods unambiguously, whatever the features
/// of the build. (With both impls on one type, this would not compile.)
#[test]
fn both_majors_raw_traits_in_scope_stay_unambiguous() {
    use lock_api::RawMutex as _;
    use lockdep::sync::lock_api05::RawLockdep05;
    use lockdep::sync::lock_api05::lock_api::RawMutex as _;
    use lockdep::sync::{RawLockdep, park};
    use lockdep::{Config, LockClassKey, LockdepMap, Validator};

    static KEY: LockClassKey = LockClassKey::new();
    let v = Validator::new(Config::collect());
    v.scope(|| {
        let raw = RawLockdep::new(park::RawMutex::new(), LockdepMap::new("raw", &KEY));
        raw.lock(); // lock_api 0.4's
        assert!(raw.is_locked());
        // SAFETY: locked just above by this thread.
        unsafe { raw.unlock() };
        let raw = RawLockdep05::new(raw);
        let state = raw.lock(); // lock_api 0.5's: a guard state
        assert!(raw.is_locked());
        lockdep::lockdep_assert_held!(raw);
        // SAFETY: locked just above by this thread, with this state.
        unsafe { raw.unlock(state) };
        assert!(!raw.is_locked());
    });
    assert!(v.reports().is_empty());
}
