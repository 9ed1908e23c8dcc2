//! The scenarios of `sync_mutex.rs`, `sync_rwlock.rs` and `sync_condvar.rs`
//! again, on `lockdep::sync::lock_api05`'s lock types: `lock_api` 0.5 guards
//! over the same validator. The raw locks are lockdep's own here whatever the
//! features (`read_recursive` needs them); `sync_parking_lot013.rs` covers
//! parking_lot 0.13's. Each included file names its lock types
//! `crate::flavour::*`, which is this module.

#[allow(dead_code)]
mod flavour {
    use lockdep::sync::lock_api05::{self as l, RawLockdep};
    use lockdep::sync::park;

    pub use l::{Condvar, SINGLE_DEPTH_NESTING};

    pub type Mutex<T> = l::GenericMutex<park::RawMutex, T>;
    pub type ReentrantMutex<T> = l::GenericReentrantMutex<park::RawMutex, park::RawThreadId, T>;
    pub type RwLock<T> = l::GenericRwLock<park::RawRwLock, T>;
    pub type RwLockWriteGuard<'a, T> = l::lock_api::RwLockWriteGuard<'a, RawLockdep<park::RawRwLock>, T>;
    pub type RwLockUpgradableReadGuard<'a, T> =
        l::lock_api::RwLockUpgradableReadGuard<'a, RawLockdep<park::RawRwLock>, T>;

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
