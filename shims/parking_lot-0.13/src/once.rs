//! [`Once`]: parking_lot 0.13's one-time initialisation.

use core::fmt;

use lockdep::sync::park;

/// Where a [`Once`] stands.
#[derive(Copy, Clone, Eq, PartialEq, Debug)]
pub enum OnceState {
    /// No closure has run yet.
    New,
    /// A closure panicked; `call_once` panics, `call_once_force` runs again.
    Poisoned,
    /// A closure is running now.
    InProgress,
    /// A closure completed.
    Done,
}

impl OnceState {
    /// Whether a closure panicked and none completed since.
    #[inline]
    pub const fn is_poisoned(self) -> bool {
        matches!(self, OnceState::Poisoned)
    }

    /// The same as [`is_poisoned`](Self::is_poisoned).
    #[inline]
    pub const fn poisoned(self) -> bool {
        self.is_poisoned()
    }

    /// Whether a closure completed.
    #[inline]
    pub const fn is_completed(self) -> bool {
        matches!(self, OnceState::Done)
    }

    /// The same as [`is_completed`](Self::is_completed).
    #[inline]
    pub const fn done(self) -> bool {
        self.is_completed()
    }

    fn from_park(state: park::OnceState) -> OnceState {
        match state {
            park::OnceState::New => OnceState::New,
            park::OnceState::Poisoned => OnceState::Poisoned,
            park::OnceState::InProgress => OnceState::InProgress,
            park::OnceState::Done => OnceState::Done,
        }
    }
}

/// Runs one closure once, however many threads ask; a panic in it poisons
/// the `Once`. lockdep's parking `Once`; not validated (waiting for another
/// thread's initialisation is not seen as waiting for a lock).
///
/// ```
/// use parking_lot::Once;
/// static START: Once = Once::new();
/// START.call_once(|| {});
/// assert!(START.is_completed());
/// ```
pub struct Once(park::Once);

impl Once {
    /// A `Once` whose closure has not run.
    #[inline]
    pub const fn new() -> Once {
        Once(park::Once::new())
    }

    /// A `Once` that is completed already.
    #[inline]
    pub const fn new_completed() -> Once {
        Once(park::Once::new_completed())
    }

    /// A snapshot of the state.
    #[inline]
    pub fn state(&self) -> OnceState {
        OnceState::from_park(self.0.state())
    }

    /// Whether a closure completed.
    #[inline]
    pub fn is_completed(&self) -> bool {
        self.0.state() == park::OnceState::Done
    }

    /// Blocks until a closure completed; panics if the `Once` is poisoned.
    #[inline]
    pub fn wait(&self) {
        self.0.wait_done(false);
    }

    /// Blocks until a closure completed, whether or not it is poisoned.
    #[inline]
    pub fn wait_force(&self) {
        self.0.wait_done(true);
    }

    /// Runs `f` unless a closure completed; waits while another runs one.
    /// Panics if the `Once` is poisoned.
    #[inline]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        self.0.call_once(f);
    }

    /// Like [`call_once`](Self::call_once), but also on a poisoned `Once`.
    #[inline]
    pub fn call_once_force<F: FnOnce(OnceState)>(&self, f: F) {
        self.0.call_once_force(|s| f(OnceState::from_park(s)));
    }
}

impl Default for Once {
    #[inline]
    fn default() -> Once {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").field("state", &self.state()).finish()
    }
}
