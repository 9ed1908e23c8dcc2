//! [`StdRawMutex`]: a `lock_api` raw mutex built from `std` alone.
//!
//! `std::sync::Mutex` has no raw interface (it can only be unlocked by
//! dropping its guard), so it cannot be wrapped directly; this raw mutex is a
//! `bool` flag under a `std` mutex and condvar instead. It exists for programs
//! that want no parking_lot locks of their own under the instrumentation, and
//! to show that [`RawLockdep`](super::RawLockdep) wraps any raw mutex. There is
//! no std-backed `RwLock` for the same reason: `std::sync::RwLock` exposes no
//! raw operations, and a hand-written one would only re-implement parking_lot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex as StdInner};

use lock_api::{GuardNoSend, RawMutex};

/// A raw mutex made of a `std::sync::Mutex<bool>` and a `std::sync::Condvar`.
///
/// ```
/// use lockdep::sync::StdMutex;
/// let m: StdMutex<u32> = StdMutex::new(1);
/// *m.lock() += 1;
/// assert_eq!(*m.lock(), 2);
/// ```
pub struct StdRawMutex {
    locked: StdInner<bool>,
    /// Mirrors `locked` for `is_locked` without taking the inner mutex.
    flag: AtomicBool,
    cv: Condvar,
}

/// An instrumented mutex over [`StdRawMutex`].
pub type StdMutex<T> = super::GenericMutex<StdRawMutex, T>;

impl StdRawMutex {
    fn state(&self) -> std::sync::MutexGuard<'_, bool> {
        // No code panics while holding it, but never propagate poisoning.
        self.locked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

// SAFETY: `locked` is only set by the thread that observed it false under the
// inner std mutex, so at most one thread holds the lock at a time.
unsafe impl RawMutex for StdRawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = StdRawMutex { locked: StdInner::new(false), flag: AtomicBool::new(false), cv: Condvar::new() };

    type GuardMarker = GuardNoSend;

    fn lock(&self) {
        let mut locked = self.state();
        while *locked {
            locked = self.cv.wait(locked).unwrap_or_else(|e| e.into_inner());
        }
        *locked = true;
        self.flag.store(true, Ordering::Relaxed);
    }

    fn try_lock(&self) -> bool {
        let mut locked = self.state();
        if *locked {
            return false;
        }
        *locked = true;
        self.flag.store(true, Ordering::Relaxed);
        true
    }

    unsafe fn unlock(&self) {
        let mut locked = self.state();
        *locked = false;
        self.flag.store(false, Ordering::Relaxed);
        drop(locked);
        self.cv.notify_one();
    }

    fn is_locked(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for StdRawMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdRawMutex").field("locked", &self.is_locked()).finish()
    }
}
