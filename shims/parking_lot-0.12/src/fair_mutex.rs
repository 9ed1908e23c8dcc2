//! [`FairMutex`]: a [`Mutex`](crate::Mutex) that always unlocks fairly.

use lockdep::sync::RawLockdep;
use lockdep::sync::park;

use crate::mutex::GenericMutex;

/// The raw fair mutex: lockdep's parking mutex unlocking fairly, instrumented.
pub type RawFairMutex = RawLockdep<park::RawFairMutex>;

/// A mutex whose unlock always hands the lock to the longest waiter, checked
/// by lockdep like [`Mutex`](crate::Mutex).
pub type FairMutex<T> = GenericMutex<RawFairMutex, T>;

/// The guard of a [`FairMutex`].
pub type FairMutexGuard<'a, T> = lock_api::MutexGuard<'a, RawFairMutex, T>;

/// A [`FairMutexGuard`] mapped to a part of the data.
pub type MappedFairMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawFairMutex, T>;

/// A new [`FairMutex`] in a `const` context; its class is the caller's location.
#[track_caller]
pub const fn const_fair_mutex<T>(val: T) -> FairMutex<T> {
    FairMutex::new(val)
}
