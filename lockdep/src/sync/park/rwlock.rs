//! [`RawRwLock`]: a writer-preferring raw reader-writer lock on the parking lot.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lock_api::{
    GuardNoSend, RawRwLockDowngrade, RawRwLockFair, RawRwLockRecursive, RawRwLockRecursiveTimed, RawRwLockTimed,
    RawRwLockUpgrade, RawRwLockUpgradeDowngrade, RawRwLockUpgradeFair, RawRwLockUpgradeTimed,
};
use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN, ParkResult, SpinWait};

/// Threads are parked on the lock's address, waiting for [`WRITER`] or
/// [`UPGRADABLE`] to clear.
const PARKED: usize = 1;
/// The one thread holding [`WRITER`] is parked on the lock's address + 1,
/// waiting for the readers to leave.
const WRITER_PARKED: usize = 2;
/// An upgradable reader holds the lock (it is not counted in the readers).
const UPGRADABLE: usize = 4;
/// A writer holds the lock, or has claimed it and waits for the readers to
/// leave: either way no new reader (but a recursive one) may enter.
const WRITER: usize = 8;
/// One shared holder; the reader count is `state / ONE_READER`.
const ONE_READER: usize = 16;

fn readers(state: usize) -> usize {
    state / ONE_READER
}

/// A raw reader-writer lock of one word.
///
/// * Readers enter while no writer holds or waits: a writer that has claimed
///   the lock (its `WRITER` bit set) keeps new readers out while it waits for the
///   present ones to leave, so writers do not starve. A *recursive* reader
///   also enters while a writer only waits (there are readers already), so a
///   thread that holds a read lock can always read-lock again.
/// * An upgradable reader excludes writers and other upgradable readers, not
///   readers; upgrading turns it into a claiming writer.
/// * Waiting for `WRITER`/`UPGRADABLE` to clear happens on the lock's address;
///   the claiming writer waits for the readers on the address + 1. Unlocks
///   that clear `WRITER`/`UPGRADABLE` wake every thread parked on the first;
///   the last reader out wakes the writer.
///
/// Fair unlocks are plain unlocks (every waiter is woken to compete), and
/// bumps unlock and re-lock when somebody waits.
pub struct RawRwLock {
    state: AtomicUsize,
}

impl RawRwLock {
    /// An unlocked rwlock.
    pub const fn new() -> Self {
        RawRwLock { state: AtomicUsize::new(0) }
    }

    fn key(&self) -> usize {
        self as *const Self as usize
    }

    fn writer_key(&self) -> usize {
        self.key() + 1
    }

    /// One attempt: applies `step` (the new state, or `None` if the caller
    /// must wait) with a compare-and-swap, retrying only on interference.
    #[inline]
    fn try_step(&self, step: impl Fn(usize) -> Option<usize>) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let Some(new) = step(state) else { return false };
            match self.state.compare_exchange_weak(state, new, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    /// Applies `step` as soon as it allows, parking on the lock's address in
    /// between; `false` if `deadline` passed first.
    #[cold]
    fn wait_step(&self, step: impl Fn(usize) -> Option<usize>, deadline: Option<Instant>) -> bool {
        let mut spin = SpinWait::new();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if let Some(new) = step(state) {
                match self.state.compare_exchange_weak(state, new, Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => return true,
                    Err(now) => state = now,
                }
                continue;
            }
            if state & PARKED == 0 {
                if spin.spin() {
                    state = self.state.load(Ordering::Relaxed);
                    continue;
                }
                if let Err(now) =
                    self.state.compare_exchange_weak(state, state | PARKED, Ordering::Relaxed, Ordering::Relaxed)
                {
                    state = now;
                    continue;
                }
            }
            // SAFETY: the key is this lock's own address; the callbacks
            // neither panic nor call into the parking lot.
            let parked = unsafe {
                parking_lot_core::park(
                    self.key(),
                    || {
                        let now = self.state.load(Ordering::Relaxed);
                        now & PARKED != 0 && step(now).is_none()
                    },
                    || {},
                    |_, was_last| {
                        if was_last {
                            self.state.fetch_and(!PARKED, Ordering::Relaxed);
                        }
                    },
                    DEFAULT_PARK_TOKEN,
                    deadline,
                )
            };
            if parked == ParkResult::TimedOut {
                return false;
            }
            spin.reset();
            state = self.state.load(Ordering::Relaxed);
        }
    }

    /// Applies `change` to the state; if the old state had [`PARKED`], clears
    /// it in the same step and wakes every thread parked on the lock.
    #[inline]
    fn release(&self, change: impl Fn(usize) -> usize) {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let new = change(state) & !PARKED;
            match self.state.compare_exchange_weak(state, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        if state & PARKED != 0 {
            self.wake_all();
        }
    }

    #[cold]
    fn wake_all(&self) {
        // SAFETY: the key is this lock's own address.
        unsafe { parking_lot_core::unpark_all(self.key(), DEFAULT_UNPARK_TOKEN) };
    }

    /// Holding [`WRITER`], waits for the readers to leave; `false` if
    /// `deadline` passed first (`WRITER` is still held then).
    fn wait_for_readers(&self, deadline: Option<Instant>) -> bool {
        let mut spin = SpinWait::new();
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if readers(state) == 0 {
                return true;
            }
            if state & WRITER_PARKED == 0 {
                if spin.spin() {
                    state = self.state.load(Ordering::Acquire);
                    continue;
                }
                if let Err(now) =
                    self.state.compare_exchange_weak(state, state | WRITER_PARKED, Ordering::Acquire, Ordering::Acquire)
                {
                    state = now;
                    continue;
                }
            }
            // SAFETY: the key is this lock's own address + 1, which no other
            // lock uses (the state word is wider than one byte); the callbacks
            // neither panic nor call into the parking lot.
            let parked = unsafe {
                parking_lot_core::park(
                    self.writer_key(),
                    || {
                        let now = self.state.load(Ordering::Relaxed);
                        now & WRITER_PARKED != 0 && readers(now) != 0
                    },
                    || {},
                    |_, _| {
                        self.state.fetch_and(!WRITER_PARKED, Ordering::Relaxed);
                    },
                    DEFAULT_PARK_TOKEN,
                    deadline,
                )
            };
            if parked == ParkResult::TimedOut {
                return false;
            }
            spin.reset();
            state = self.state.load(Ordering::Acquire);
        }
    }

    /// Takes [`WRITER`] (waiting for writers and upgradable readers to
    /// leave), then waits for the readers; on timeout gives `WRITER` back.
    fn lock_exclusive_until(&self, deadline: Option<Instant>) -> bool {
        let claim = |s: usize| if s & (WRITER | UPGRADABLE) == 0 { Some(s | WRITER) } else { None };
        if !self.try_step(claim) && !self.wait_step(claim, deadline) {
            return false;
        }
        if self.wait_for_readers(deadline) {
            return true;
        }
        self.release(|s| s & !(WRITER | WRITER_PARKED));
        false
    }

    /// Turns the held upgradable read into a claimed write, then waits for
    /// the readers; on timeout turns it back.
    fn upgrade_until(&self, deadline: Option<Instant>) -> bool {
        self.state.fetch_xor(UPGRADABLE | WRITER, Ordering::Acquire);
        if self.wait_for_readers(deadline) {
            return true;
        }
        self.release(|s| (s & !(WRITER | WRITER_PARKED)) | UPGRADABLE);
        false
    }

    // The steps never panic (they run inside `park`'s validation): a reader
    // count that would overflow (2^60 readers) waits instead.

    fn shared_step(s: usize) -> Option<usize> {
        if s & WRITER == 0 { s.checked_add(ONE_READER) } else { None }
    }

    fn recursive_step(s: usize) -> Option<usize> {
        if s & WRITER == 0 || readers(s) != 0 { s.checked_add(ONE_READER) } else { None }
    }

    fn upgradable_step(s: usize) -> Option<usize> {
        if s & (WRITER | UPGRADABLE) == 0 { Some(s | UPGRADABLE) } else { None }
    }

    fn deadline(timeout: Duration) -> Option<Instant> {
        Instant::now().checked_add(timeout)
    }

    /// Bumps: if somebody waits, runs `unlock` then `relock`.
    fn bump_with(&self, unlock: impl FnOnce(), relock: impl FnOnce()) {
        if self.state.load(Ordering::Relaxed) & (PARKED | WRITER_PARKED) != 0 {
            unlock();
            relock();
        }
    }
}

impl Default for RawRwLock {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `WRITER` is taken only by a compare-and-swap from a state without
// `WRITER` or `UPGRADABLE`, and is held exclusively only once the reader
// count it waited for is zero; readers enter only without `WRITER` (or, if
// recursive, while others still hold it shared, so no writer holds it).
unsafe impl lock_api::RawRwLock for RawRwLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawRwLock = RawRwLock::new();

    type GuardMarker = GuardNoSend;

    #[inline]
    fn lock_shared(&self) {
        if !self.try_step(Self::shared_step) {
            self.wait_step(Self::shared_step, None);
        }
    }

    #[inline]
    fn try_lock_shared(&self) -> bool {
        self.try_step(Self::shared_step)
    }

    #[inline]
    unsafe fn unlock_shared(&self) {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let mut new = state - ONE_READER;
            let last_before_writer = readers(new) == 0 && state & WRITER_PARKED != 0;
            if last_before_writer {
                new &= !WRITER_PARKED;
            }
            match self.state.compare_exchange_weak(state, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    if last_before_writer {
                        // SAFETY: the writer key of this lock.
                        unsafe { parking_lot_core::unpark_one(self.writer_key(), |_| DEFAULT_UNPARK_TOKEN) };
                    }
                    return;
                }
                Err(now) => state = now,
            }
        }
    }

    #[inline]
    fn lock_exclusive(&self) {
        self.lock_exclusive_until(None);
    }

    #[inline]
    fn try_lock_exclusive(&self) -> bool {
        // The free lock in one compare-and-swap, as the mutex's trylock
        // (`RwLock::write` tries first on every acquisition when validated);
        // a parked reader's bit, or a spurious failure, goes the loop.
        self.state.compare_exchange_weak(0, WRITER, Ordering::Acquire, Ordering::Relaxed).is_ok()
            || self.try_step(|s| if s & !PARKED == 0 { Some(s | WRITER) } else { None })
    }

    #[inline]
    unsafe fn unlock_exclusive(&self) {
        if self.state.compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed).is_err() {
            self.release(|s| s & !WRITER);
        }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & !(PARKED | WRITER_PARKED) != 0
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        self.state.load(Ordering::Relaxed) & WRITER != 0
    }
}

// SAFETY: plain unlocks are valid fair unlocks (every waiter competes).
unsafe impl RawRwLockFair for RawRwLock {
    #[inline]
    unsafe fn unlock_shared_fair(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { lock_api::RawRwLock::unlock_shared(self) }
    }

    #[inline]
    unsafe fn unlock_exclusive_fair(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { lock_api::RawRwLock::unlock_exclusive(self) }
    }

    #[inline]
    unsafe fn bump_shared(&self) {
        self.bump_with(
            // SAFETY: the caller holds a shared lock.
            || unsafe { lock_api::RawRwLock::unlock_shared(self) },
            // Back in as a recursive reader: when this thread holds another
            // read of the lock (a recursive read guard bumped under a
            // waiting writer), a plain reader would queue behind the writer,
            // which waits for that other read: a self-deadlock. When it was
            // the only reader, the waiting writer goes first either way.
            || RawRwLockRecursive::lock_shared_recursive(self),
        );
    }

    #[inline]
    unsafe fn bump_exclusive(&self) {
        self.bump_with(
            // SAFETY: the caller holds the exclusive lock.
            || unsafe { lock_api::RawRwLock::unlock_exclusive(self) },
            || lock_api::RawRwLock::lock_exclusive(self),
        );
    }
}

// SAFETY: the writer becomes one reader in a single atomic step.
unsafe impl RawRwLockDowngrade for RawRwLock {
    #[inline]
    unsafe fn downgrade(&self) {
        self.release(|s| (s & !WRITER) + ONE_READER);
    }
}

// SAFETY: as for `RawRwLock`, with deadlines.
unsafe impl RawRwLockTimed for RawRwLock {
    type Duration = Duration;
    type Instant = Instant;

    fn try_lock_shared_for(&self, timeout: Duration) -> bool {
        self.try_step(Self::shared_step) || self.wait_step(Self::shared_step, Self::deadline(timeout))
    }

    fn try_lock_shared_until(&self, deadline: Instant) -> bool {
        self.try_step(Self::shared_step) || self.wait_step(Self::shared_step, Some(deadline))
    }

    fn try_lock_exclusive_for(&self, timeout: Duration) -> bool {
        self.lock_exclusive_until(Self::deadline(timeout))
    }

    fn try_lock_exclusive_until(&self, deadline: Instant) -> bool {
        self.lock_exclusive_until(Some(deadline))
    }
}

// SAFETY: a recursive reader enters only where a reader could, or where
// other readers still hold the lock (so no writer does).
unsafe impl RawRwLockRecursive for RawRwLock {
    #[inline]
    fn lock_shared_recursive(&self) {
        if !self.try_step(Self::recursive_step) {
            self.wait_step(Self::recursive_step, None);
        }
    }

    #[inline]
    fn try_lock_shared_recursive(&self) -> bool {
        self.try_step(Self::recursive_step)
    }
}

// SAFETY: as for `RawRwLockRecursive`, with deadlines.
unsafe impl RawRwLockRecursiveTimed for RawRwLock {
    fn try_lock_shared_recursive_for(&self, timeout: Duration) -> bool {
        self.try_step(Self::recursive_step) || self.wait_step(Self::recursive_step, Self::deadline(timeout))
    }

    fn try_lock_shared_recursive_until(&self, deadline: Instant) -> bool {
        self.try_step(Self::recursive_step) || self.wait_step(Self::recursive_step, Some(deadline))
    }
}

// SAFETY: `UPGRADABLE` is taken only from a state without it or `WRITER`;
// upgrading swaps it for `WRITER` and waits for the readers like a writer.
unsafe impl RawRwLockUpgrade for RawRwLock {
    #[inline]
    fn lock_upgradable(&self) {
        if !self.try_step(Self::upgradable_step) {
            self.wait_step(Self::upgradable_step, None);
        }
    }

    #[inline]
    fn try_lock_upgradable(&self) -> bool {
        self.try_step(Self::upgradable_step)
    }

    #[inline]
    unsafe fn unlock_upgradable(&self) {
        self.release(|s| s & !UPGRADABLE);
    }

    #[inline]
    unsafe fn upgrade(&self) {
        self.upgrade_until(None);
    }

    #[inline]
    unsafe fn try_upgrade(&self) -> bool {
        self.try_step(|s| if readers(s) == 0 { Some((s & !UPGRADABLE) | WRITER) } else { None })
    }
}

// SAFETY: as for `RawRwLockUpgrade`.
unsafe impl RawRwLockUpgradeFair for RawRwLock {
    #[inline]
    unsafe fn unlock_upgradable_fair(&self) {
        self.release(|s| s & !UPGRADABLE);
    }

    #[inline]
    unsafe fn bump_upgradable(&self) {
        self.bump_with(|| self.release(|s| s & !UPGRADABLE), || lock_api::RawRwLockUpgrade::lock_upgradable(self));
    }
}

// SAFETY: each downgrade is a single atomic step between held states.
unsafe impl RawRwLockUpgradeDowngrade for RawRwLock {
    #[inline]
    unsafe fn downgrade_upgradable(&self) {
        self.release(|s| (s & !UPGRADABLE) + ONE_READER);
    }

    #[inline]
    unsafe fn downgrade_to_upgradable(&self) {
        self.release(|s| (s & !WRITER) | UPGRADABLE);
    }
}

// SAFETY: as for `RawRwLockUpgrade`, with deadlines.
unsafe impl RawRwLockUpgradeTimed for RawRwLock {
    fn try_lock_upgradable_for(&self, timeout: Duration) -> bool {
        self.try_step(Self::upgradable_step) || self.wait_step(Self::upgradable_step, Self::deadline(timeout))
    }

    fn try_lock_upgradable_until(&self, deadline: Instant) -> bool {
        self.try_step(Self::upgradable_step) || self.wait_step(Self::upgradable_step, Some(deadline))
    }

    unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
        self.upgrade_until(Self::deadline(timeout))
    }

    unsafe fn try_upgrade_until(&self, deadline: Instant) -> bool {
        self.upgrade_until(Some(deadline))
    }
}

impl std::fmt::Debug for RawRwLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.load(Ordering::Relaxed);
        f.debug_struct("RawRwLock")
            .field("readers", &readers(state))
            .field("writer", &(state & WRITER != 0))
            .field("upgradable", &(state & UPGRADABLE != 0))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lock_api::RawRwLock as _;

    #[test]
    fn try_lock_exclusive_takes_a_free_lock_and_refuses_a_held_one_whatever_the_parked_bit() {
        let l = RawRwLock::new();
        assert!(l.try_lock_exclusive(), "free: the one compare-and-swap takes it");
        assert_eq!(l.state.load(Ordering::Relaxed), WRITER);
        assert!(!l.try_lock_exclusive(), "written: refused");
        // SAFETY: held for write by this test.
        unsafe { l.unlock_exclusive() };
        assert!(l.try_lock_shared());
        assert!(!l.try_lock_exclusive(), "read: refused");
        // SAFETY: held for read by this test.
        unsafe { l.unlock_shared() };
        // Free with the parked bit: the compare-and-swap from 0 fails, the
        // loop takes it and keeps the bit for the waiters' wake-up.
        l.state.store(PARKED, Ordering::Relaxed);
        assert!(l.try_lock_exclusive(), "free with parked threads: taken");
        assert_eq!(l.state.load(Ordering::Relaxed), WRITER | PARKED);
        assert!(!l.try_lock_exclusive(), "written with parked threads: refused");
        assert_eq!(l.state.load(Ordering::Relaxed), WRITER | PARKED, "a refused trylock changes nothing");
    }
}
