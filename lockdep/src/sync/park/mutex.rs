//! [`RawMutex`] and [`RawFairMutex`]: a one-byte raw mutex on the parking lot.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use lock_api::{GuardNoSend, RawMutexFair, RawMutexTimed};
use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN, ParkResult, SpinWait, UnparkToken};

/// Bit 0: the mutex is held.
const HELD: u8 = 1;
/// Bit 1: at least one thread is (or is about to be) parked on the mutex.
const WAITERS: u8 = 2;
/// The token a fair unlock hands to the thread it wakes: "the lock is yours
/// already" (the held bit was never cleared).
const HANDED_OVER: UnparkToken = UnparkToken(1);

/// A raw mutex of one byte: a held bit and a waiters bit.
///
/// Locking is one compare-and-swap when uncontended, then a short spin, then
/// parking. Unlocking is one compare-and-swap when nobody waits; otherwise it
/// wakes one waiter, and (about every half millisecond per lock, as the
/// parking lot decides, or always for [`unlock_fair`](RawMutexFair::unlock_fair))
/// hands the lock straight to it so that no thread starves.
pub struct RawMutex {
    state: AtomicU8,
}

impl RawMutex {
    /// An unlocked mutex.
    pub const fn new() -> Self {
        RawMutex { state: AtomicU8::new(0) }
    }

    fn key(&self) -> usize {
        self as *const Self as usize
    }

    /// Waits for the mutex until `deadline` (forever without one); whether it
    /// was acquired.
    #[cold]
    fn lock_slow(&self, deadline: Option<Instant>) -> bool {
        let mut spin = SpinWait::new();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & HELD == 0 {
                match self.state.compare_exchange_weak(state, state | HELD, Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => return true,
                    Err(now) => state = now,
                }
                continue;
            }
            if state & WAITERS == 0 {
                // Spin while nobody sleeps: the holder may be about to leave.
                if spin.spin() {
                    state = self.state.load(Ordering::Relaxed);
                    continue;
                }
                if let Err(now) =
                    self.state.compare_exchange_weak(state, state | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                {
                    state = now;
                    continue;
                }
            }
            // SAFETY: the key is this mutex's own address; the callbacks
            // neither panic nor call into the parking lot.
            let parked = unsafe {
                parking_lot_core::park(
                    self.key(),
                    || self.state.load(Ordering::Relaxed) == HELD | WAITERS,
                    || {},
                    |_, was_last| {
                        if was_last {
                            self.state.fetch_and(!WAITERS, Ordering::Relaxed);
                        }
                    },
                    DEFAULT_PARK_TOKEN,
                    deadline,
                )
            };
            match parked {
                ParkResult::Unparked(HANDED_OVER) => return true,
                ParkResult::Unparked(_) | ParkResult::Invalid => {}
                ParkResult::TimedOut => return false,
            }
            spin.reset();
            state = self.state.load(Ordering::Relaxed);
        }
    }

    /// Unlocks with waiters present: wakes one, handing the lock over if
    /// `fair` (or if the parking lot says it is time to be fair).
    #[cold]
    fn unlock_slow(&self, fair: bool) {
        // SAFETY: the key is this mutex's own address; the callback neither
        // panics nor calls into the parking lot.
        unsafe {
            parking_lot_core::unpark_one(self.key(), |woken| {
                if woken.unparked_threads != 0 && (fair || woken.be_fair) {
                    // Still held: it now belongs to the woken thread.
                    if !woken.have_more_threads {
                        self.state.store(HELD, Ordering::Relaxed);
                    }
                    return HANDED_OVER;
                }
                let waiters = if woken.have_more_threads { WAITERS } else { 0 };
                self.state.store(waiters, Ordering::Release);
                DEFAULT_UNPARK_TOKEN
            });
        }
    }

    /// Yields the mutex to a waiter, if there is one, and takes it back.
    fn bump_slow(&self) {
        if self.state.load(Ordering::Relaxed) & WAITERS != 0 {
            self.unlock_slow(true);
            lock_api::RawMutex::lock(self);
        }
    }
}

impl Default for RawMutex {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: the held bit is set only by a successful compare-and-swap from a
// state without it, or kept set while handing the lock to exactly one woken
// thread; so at most one thread holds the mutex.
unsafe impl lock_api::RawMutex for RawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawMutex = RawMutex::new();

    type GuardMarker = GuardNoSend;

    #[inline]
    fn lock(&self) {
        if self.state.compare_exchange_weak(0, HELD, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_slow(None);
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        // The free mutex in one compare-and-swap, as in `lock`: no load of
        // the state first (a load, a test and the new state made from it
        // before the locked instruction, which parking_lot's trylock has).
        // `lockdep::sync::Mutex` tries first on every `lock`, so this is on
        // the validated lock path: ~0.15 ns a lock in a nest
        // (docs/PERFORMANCE.md, round 13). A waiters bit, or a weak
        // compare-and-swap that failed spuriously, goes the loop.
        self.state.compare_exchange_weak(0, HELD, Ordering::Acquire, Ordering::Relaxed).is_ok() || self.try_lock_slow()
    }

    #[inline]
    unsafe fn unlock(&self) {
        if self.state.compare_exchange(HELD, 0, Ordering::Release, Ordering::Relaxed).is_err() {
            self.unlock_slow(false);
        }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & HELD != 0
    }
}

impl RawMutex {
    /// [`try_lock`](lock_api::RawMutex::try_lock) when the state was not 0:
    /// held (false), or free with waiters (taken if the held bit can be set).
    #[cold]
    #[inline(never)]
    fn try_lock_slow(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & HELD != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(state, state | HELD, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }
}

// SAFETY: as for `RawMutex`.
unsafe impl RawMutexFair for RawMutex {
    #[inline]
    unsafe fn unlock_fair(&self) {
        if self.state.compare_exchange(HELD, 0, Ordering::Release, Ordering::Relaxed).is_err() {
            self.unlock_slow(true);
        }
    }

    #[inline]
    unsafe fn bump(&self) {
        self.bump_slow();
    }
}

// SAFETY: as for `RawMutex`; a timed-out wait leaves the mutex as it was.
unsafe impl RawMutexTimed for RawMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> bool {
        lock_api::RawMutex::try_lock(self) || self.lock_slow(Instant::now().checked_add(timeout))
    }

    #[inline]
    fn try_lock_until(&self, deadline: Instant) -> bool {
        lock_api::RawMutex::try_lock(self) || self.lock_slow(Some(deadline))
    }
}

impl std::fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawMutex").field("locked", &lock_api::RawMutex::is_locked(self)).finish()
    }
}

/// A [`RawMutex`] that always unlocks fairly: the lock goes to the thread
/// that waited longest, never back to a thread that just released it.
#[derive(Default)]
pub struct RawFairMutex(RawMutex);

impl RawFairMutex {
    /// An unlocked fair mutex.
    pub const fn new() -> Self {
        RawFairMutex(RawMutex::new())
    }
}

// SAFETY: delegates to `RawMutex`.
unsafe impl lock_api::RawMutex for RawFairMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawFairMutex = RawFairMutex::new();

    type GuardMarker = GuardNoSend;

    #[inline]
    fn lock(&self) {
        lock_api::RawMutex::lock(&self.0);
    }

    #[inline]
    fn try_lock(&self) -> bool {
        lock_api::RawMutex::try_lock(&self.0)
    }

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.unlock_fair() }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        lock_api::RawMutex::is_locked(&self.0)
    }
}

// SAFETY: delegates to `RawMutex`.
unsafe impl RawMutexFair for RawFairMutex {
    #[inline]
    unsafe fn unlock_fair(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.unlock_fair() }
    }

    #[inline]
    unsafe fn bump(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.bump() }
    }
}

// SAFETY: delegates to `RawMutex`.
unsafe impl RawMutexTimed for RawFairMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> bool {
        self.0.try_lock_for(timeout)
    }

    #[inline]
    fn try_lock_until(&self, deadline: Instant) -> bool {
        self.0.try_lock_until(deadline)
    }
}

impl std::fmt::Debug for RawFairMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawFairMutex").field("locked", &lock_api::RawMutex::is_locked(self)).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lock_api::RawMutex as _;

    #[test]
    fn try_lock_takes_a_free_mutex_and_refuses_a_held_one_whatever_the_waiters_bit() {
        let m = RawMutex::new();
        assert!(m.try_lock(), "free: the one compare-and-swap takes it");
        assert_eq!(m.state.load(Ordering::Relaxed), HELD);
        assert!(!m.try_lock(), "held: refused");
        // SAFETY: held by this test.
        unsafe { m.unlock() };
        // Free with the waiters bit (a thread about to park, or one just
        // woken): the fast compare-and-swap from 0 fails, the loop takes it
        // and keeps the bit for the waiter's wake-up.
        m.state.store(WAITERS, Ordering::Relaxed);
        assert!(m.try_lock(), "free with waiters: taken");
        assert_eq!(m.state.load(Ordering::Relaxed), HELD | WAITERS);
        assert!(!m.try_lock(), "held with waiters: refused");
        assert_eq!(m.state.load(Ordering::Relaxed), HELD | WAITERS, "a refused trylock changes nothing");
    }
}
