//! [`Once`]: one-time initialisation on the parking lot.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN, SpinWait};

/// The closure ran to completion.
const DONE: u8 = 1;
/// The last closure panicked (and no later one completed).
const POISONED: u8 = 2;
/// A closure is running.
const RUNNING: u8 = 4;
/// Threads are parked until the running closure ends.
const WAITERS: u8 = 8;

/// Where a [`Once`] stands.
#[derive(Copy, Clone, Eq, PartialEq, Debug)]
pub enum OnceState {
    /// No closure has run yet.
    New,
    /// A closure panicked; the next `call_once` panics, `call_once_force`
    /// runs again.
    Poisoned,
    /// A closure is running now.
    InProgress,
    /// A closure completed.
    Done,
}

impl OnceState {
    /// Whether a closure panicked and none completed since.
    #[inline]
    pub fn poisoned(self) -> bool {
        matches!(self, OnceState::Poisoned)
    }

    /// Whether a closure completed.
    #[inline]
    pub fn done(self) -> bool {
        matches!(self, OnceState::Done)
    }
}

/// Runs one closure once, however many threads ask: the others wait until
/// it completed. A panic in the closure poisons the `Once`. Not instrumented:
/// waiting for another thread's initialisation is not seen by the validator.
///
/// ```
/// use lockdep::sync::park::Once;
/// static INIT: Once = Once::new();
/// let mut runs = 0;
/// INIT.call_once(|| runs += 1);
/// INIT.call_once(|| runs += 1);
/// assert_eq!(runs, 1);
/// ```
pub struct Once(AtomicU8);

impl Once {
    /// A `Once` whose closure has not run.
    pub const fn new() -> Once {
        Once(AtomicU8::new(0))
    }

    /// A `Once` that counts as completed already.
    pub const fn new_completed() -> Once {
        Once(AtomicU8::new(DONE))
    }

    /// Where it stands now.
    pub fn state(&self) -> OnceState {
        let state = self.0.load(Ordering::Acquire);
        if state & DONE != 0 {
            OnceState::Done
        } else if state & RUNNING != 0 {
            OnceState::InProgress
        } else if state & POISONED != 0 {
            OnceState::Poisoned
        } else {
            OnceState::New
        }
    }

    /// Runs `f` unless a closure completed already; waits while another
    /// thread runs one. Panics if the `Once` is poisoned.
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.0.load(Ordering::Acquire) == DONE {
            return;
        }
        let mut f = Some(f);
        self.run_slow(false, &mut |_| {
            if let Some(f) = f.take() {
                f()
            }
        });
    }

    /// Like [`call_once`](Once::call_once), but also runs on a poisoned
    /// `Once`, telling `f` whether it is.
    pub fn call_once_force<F: FnOnce(OnceState)>(&self, f: F) {
        if self.0.load(Ordering::Acquire) == DONE {
            return;
        }
        let mut f = Some(f);
        self.run_slow(true, &mut |state| {
            if let Some(f) = f.take() {
                f(state)
            }
        });
    }

    /// Waits until a closure completed (panics if the `Once` is poisoned
    /// with no closure running, unless `ignore_poison`).
    pub fn wait_done(&self, ignore_poison: bool) {
        let mut spin = SpinWait::new();
        loop {
            let state = self.0.load(Ordering::Acquire);
            if state & DONE != 0 {
                return;
            }
            if state & RUNNING == 0 {
                if state & POISONED != 0 && !ignore_poison {
                    panic!("Once instance has previously been poisoned");
                }
                if spin.spin() {
                    continue;
                }
            }
            self.park_while(|s| s & DONE == 0, state);
            spin.reset();
        }
    }

    /// Sets [`WAITERS`] (from `state`) and parks while `keep_waiting` holds.
    fn park_while(&self, keep_waiting: impl Fn(u8) -> bool, state: u8) {
        if state & WAITERS == 0
            && self.0.compare_exchange(state, state | WAITERS, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return;
        }
        // SAFETY: the key is this `Once`'s own address; the callbacks neither
        // panic nor call into the parking lot.
        unsafe {
            parking_lot_core::park(
                self.key(),
                || {
                    let now = self.0.load(Ordering::Relaxed);
                    now & WAITERS != 0 && keep_waiting(now)
                },
                || {},
                |_, _| {},
                DEFAULT_PARK_TOKEN,
                None,
            );
        }
    }

    fn key(&self) -> usize {
        self as *const Self as usize
    }

    #[cold]
    fn run_slow(&self, ignore_poison: bool, f: &mut dyn FnMut(OnceState)) {
        let mut spin = SpinWait::new();
        let previous = loop {
            let state = self.0.load(Ordering::Acquire);
            if state & DONE != 0 {
                return;
            }
            if state & RUNNING == 0 {
                if state & POISONED != 0 && !ignore_poison {
                    panic!("Once instance has previously been poisoned");
                }
                if self
                    .0
                    .compare_exchange_weak(state, (state | RUNNING) & !POISONED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    break state;
                }
                continue;
            }
            if state & WAITERS == 0 && spin.spin() {
                continue;
            }
            self.park_while(|s| s & RUNNING != 0, state);
            spin.reset();
        };

        /// Ends the run: `DONE`, or `POISONED` if the closure unwound; wakes
        /// every waiter.
        struct Finish<'a> {
            once: &'a Once,
            outcome: u8,
        }
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                let before = self.once.0.swap(self.outcome, Ordering::Release);
                if before & WAITERS != 0 {
                    // SAFETY: the key is this `Once`'s own address.
                    unsafe { parking_lot_core::unpark_all(self.once.key(), DEFAULT_UNPARK_TOKEN) };
                }
            }
        }
        let mut finish = Finish { once: self, outcome: POISONED };
        f(if previous & POISONED != 0 { OnceState::Poisoned } else { OnceState::New });
        finish.outcome = DONE;
    }
}

impl Default for Once {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").field("state", &self.state()).finish()
    }
}
