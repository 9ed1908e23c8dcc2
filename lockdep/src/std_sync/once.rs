//! [`Once`] and [`OnceLock`]: std's, with their initialisation seen as a
//! section that holds the cell's pseudo-lock.
//!
//! A once cell is a waitable object of its construction site
//! (`OnceLock@src/config.rs:4:20`). Its initialiser runs holding the cell's
//! pseudo-lock, as a kernel work item runs holding its work's map, and a
//! thread that finds the cell uninitialised (and so may wait for another
//! thread's initialiser) acquires it too. So initialising under a lock that
//! an initialiser of the cell's class takes — on this thread or another — is
//! reported as a cycle, and initialising a cell again from its own
//! initialiser (which std leaves to deadlock) is reported and refused with
//! a panic. A cell already initialised costs what std's costs: one load.

use std::fmt;
use std::panic::Location;

pub use std::sync::OnceState;

use crate::waits::{WaitSite, init_section};

/// `std::sync::Once`.
///
/// A once cell is a waitable object of its construction site
/// (`OnceLock@src/config.rs:4:20`). Its initialiser runs holding the cell's
/// pseudo-lock, as a kernel work item runs holding its work's map, and a
/// thread that finds the cell uninitialised (and so may wait for another
/// thread's initialiser) acquires it too. So initialising under a lock that
/// an initialiser of the cell's class takes — on this thread or another — is
/// reported as a cycle, and initialising a cell again from its own
/// initialiser (which std leaves to deadlock) is reported and refused with
/// a panic. A cell already initialised costs what std's costs: one load.
pub struct Once {
    inner: std::sync::Once,
    site: WaitSite,
}

impl Once {
    /// A new `Once`, whose class is the caller's line. (No `Default`, as
    /// std's `Once` has none.)
    #[allow(clippy::new_without_default)]
    #[track_caller]
    pub const fn new() -> Once {
        Once { inner: std::sync::Once::new(), site: WaitSite::new("Once", Location::caller()) }
    }

    /// Runs `f` once, if no call has completed yet (`std::sync::Once::call_once`).
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.inner.is_completed() {
            return;
        }
        let this = self as *const Self as usize;
        init_section(&self.site, "Once", this, Location::caller(), || self.inner.call_once(f));
    }

    /// `std::sync::Once::call_once_force`: also runs after a poisoning panic.
    #[track_caller]
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        if self.inner.is_completed() {
            return;
        }
        let this = self as *const Self as usize;
        init_section(&self.site, "Once", this, Location::caller(), || self.inner.call_once_force(f));
    }

    /// Whether some call has completed.
    #[inline]
    pub fn is_completed(&self) -> bool {
        self.inner.is_completed()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// `std::sync::OnceLock`.
///
/// A once cell is a waitable object of its construction site
/// (`OnceLock@src/config.rs:4:20`). Its initialiser runs holding the cell's
/// pseudo-lock, as a kernel work item runs holding its work's map, and a
/// thread that finds the cell uninitialised (and so may wait for another
/// thread's initialiser) acquires it too. So initialising under a lock that
/// an initialiser of the cell's class takes — on this thread or another — is
/// reported as a cycle, and initialising a cell again from its own
/// initialiser (which std leaves to deadlock) is reported and refused with
/// a panic. A cell already initialised costs what std's costs: one load.
pub struct OnceLock<T> {
    inner: std::sync::OnceLock<T>,
    site: WaitSite,
}

impl<T> OnceLock<T> {
    /// A new empty cell, whose class is the caller's line.
    #[track_caller]
    pub const fn new() -> OnceLock<T> {
        OnceLock { inner: std::sync::OnceLock::new(), site: WaitSite::new("OnceLock", Location::caller()) }
    }

    /// The value, if initialised.
    #[inline]
    pub fn get(&self) -> Option<&T> {
        self.inner.get()
    }

    /// The value, mutably, if initialised.
    #[inline]
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.inner.get_mut()
    }

    /// Initialises the cell with `value` unless it is; `Err(value)` if it
    /// was. May wait for another thread's initialiser.
    #[track_caller]
    pub fn set(&self, value: T) -> Result<(), T> {
        if self.inner.get().is_some() {
            return Err(value);
        }
        let this = self as *const Self as usize;
        init_section(&self.site, "OnceLock", this, Location::caller(), || self.inner.set(value))
    }

    /// The value, initialised with `f` first if needed
    /// (`std::sync::OnceLock::get_or_init`).
    #[track_caller]
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(v) = self.inner.get() {
            return v;
        }
        let this = self as *const Self as usize;
        init_section(&self.site, "OnceLock", this, Location::caller(), || self.inner.get_or_init(f))
    }

    /// The value, if initialised, consuming the cell.
    #[inline]
    pub fn into_inner(self) -> Option<T> {
        self.inner.into_inner()
    }

    /// Takes the value out, leaving the cell uninitialised.
    #[inline]
    pub fn take(&mut self) -> Option<T> {
        self.inner.take()
    }
}

impl<T> Default for OnceLock<T> {
    #[track_caller]
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl<T> From<T> for OnceLock<T> {
    #[track_caller]
    fn from(value: T) -> OnceLock<T> {
        OnceLock { inner: std::sync::OnceLock::from(value), site: WaitSite::new("OnceLock", Location::caller()) }
    }
}

#[cfg(not(lockdep_on))]
const _: () = {
    use std::mem::size_of;
    assert!(size_of::<Once>() == size_of::<std::sync::Once>());
    assert!(size_of::<OnceLock<u64>>() == size_of::<std::sync::OnceLock<u64>>());
};
