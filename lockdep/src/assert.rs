//! Ownership assertions: [`lockdep_assert_held!`](crate::lockdep_assert_held)
//! and friends, under the kernel's names.
//!
//! | macro | fails when the current thread… |
//! |---|---|
//! | [`lockdep_assert_held!(l)`](crate::lockdep_assert_held), [`lockdep_assert_held_once!(l)`](crate::lockdep_assert_held_once) | does not hold `l` |
//! | [`lockdep_assert_held_read!(l)`](crate::lockdep_assert_held_read) | does not hold `l` for read |
//! | [`lockdep_assert_held_write!(l)`](crate::lockdep_assert_held_write) | does not hold `l` for write |
//! | [`lockdep_assert_not_held!(l)`](crate::lockdep_assert_not_held) | holds `l` |
//! | [`lockdep_assert_none_held!()`](crate::lockdep_assert_none_held) | holds any lock |
//!
//! `l` is anything implementing [`AsLockdepMap`]: a [`LockdepMap`], any lock
//! of [`sync`](crate::sync), their guards, or a reference to one. A failure is
//! an [`AssertionFailed`](crate::ReportKind::AssertionFailed) report in the
//! current validator naming the lock, the asserting location
//! ([`Report::location`](crate::Report::location)) and the locks held; what
//! happens next is the validator's [`Action`](crate::Action). Like the
//! kernel's (plain `WARN_ON`s), a failed assertion does not switch even a
//! one-shot validator off, and each asserting location reports once per
//! validator. The answer is "held" whenever it is unknown (the validator
//! switched off), as in the kernel, so assertions never fire spuriously.
//!
//! The macros check only when validation is compiled in ([`ENABLED`]): when it
//! is out they compile to nothing and do not even evaluate their argument.
//!
//! ```
//! use lockdep::sync::Mutex;
//! use lockdep::{lockdep_assert_held, lockdep_assert_not_held};
//!
//! struct Counter { lock: Mutex<()>, }
//! fn bump_locked(c: &Counter) {
//!     lockdep_assert_held!(c.lock); // callers must hold c.lock
//! }
//! let c = Counter { lock: Mutex::new(()) };
//! lockdep_assert_not_held!(c.lock);
//! let g = c.lock.lock();
//! bump_locked(&c);
//! drop(g);
//! ```

use std::panic::Location;

use crate::class::Read;
use crate::map::LockdepMap;
use crate::report::ThreadInfo;
use crate::{ENABLED, engine};

/// Anything the validator can identify a lock by: the lock's [`LockdepMap`].
///
/// Implemented for [`LockdepMap`] itself, every lock type in
/// [`sync`](crate::sync) and their main guards, and references, boxes and
/// `Arc`s of those. Implement it for your own lock types so that the
/// assertion macros and nest-lock arguments accept them.
pub trait AsLockdepMap {
    /// The map of this lock.
    fn as_lockdep_map(&self) -> &LockdepMap;

    /// Another thread that holds this lock, if the validator knows one (it
    /// remembers the last thread that acquired each lock until that thread
    /// releases it; with validation compiled out, never). Assertion reports
    /// name it.
    fn other_holder(&self) -> Option<ThreadInfo> {
        engine::other_holder(self.as_lockdep_map())
    }
}

impl AsLockdepMap for LockdepMap {
    fn as_lockdep_map(&self) -> &LockdepMap {
        self
    }
}

impl<L: AsLockdepMap + ?Sized> AsLockdepMap for &L {
    fn as_lockdep_map(&self) -> &LockdepMap {
        (**self).as_lockdep_map()
    }
    fn other_holder(&self) -> Option<ThreadInfo> {
        (**self).other_holder()
    }
}

impl<L: AsLockdepMap + ?Sized> AsLockdepMap for &mut L {
    fn as_lockdep_map(&self) -> &LockdepMap {
        (**self).as_lockdep_map()
    }
    fn other_holder(&self) -> Option<ThreadInfo> {
        (**self).other_holder()
    }
}

impl<L: AsLockdepMap + ?Sized> AsLockdepMap for Box<L> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        (**self).as_lockdep_map()
    }
    fn other_holder(&self) -> Option<ThreadInfo> {
        (**self).other_holder()
    }
}

impl<L: AsLockdepMap + ?Sized> AsLockdepMap for std::sync::Arc<L> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        (**self).as_lockdep_map()
    }
    fn other_holder(&self) -> Option<ThreadInfo> {
        (**self).other_holder()
    }
}

impl<L: AsLockdepMap + ?Sized> AsLockdepMap for std::rc::Rc<L> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        (**self).as_lockdep_map()
    }
    fn other_holder(&self) -> Option<ThreadInfo> {
        (**self).other_holder()
    }
}

/// Reports unless the current thread holds `lock` (in any mode). What
/// [`lockdep_assert_held!`](crate::lockdep_assert_held) calls.
#[inline]
#[track_caller]
pub fn held<L: AsLockdepMap + ?Sized>(lock: &L) {
    if ENABLED {
        engine::assert_held(lock.as_lockdep_map(), None, || lock.other_holder(), Location::caller());
    }
}

/// Reports unless the current thread holds `lock` for read (either reader mode).
#[inline]
#[track_caller]
pub fn held_read<L: AsLockdepMap + ?Sized>(lock: &L) {
    if ENABLED {
        engine::assert_held(lock.as_lockdep_map(), Some(Read::Shared), || lock.other_holder(), Location::caller());
    }
}

/// Reports unless the current thread holds `lock` for write.
#[inline]
#[track_caller]
pub fn held_write<L: AsLockdepMap + ?Sized>(lock: &L) {
    if ENABLED {
        engine::assert_held(lock.as_lockdep_map(), Some(Read::Exclusive), || lock.other_holder(), Location::caller());
    }
}

/// Reports if the current thread holds `lock`.
#[inline]
#[track_caller]
pub fn not_held<L: AsLockdepMap + ?Sized>(lock: &L) {
    if ENABLED {
        engine::assert_not_held(lock.as_lockdep_map(), Location::caller());
    }
}

/// Reports if the current thread holds any lock.
#[inline]
#[track_caller]
pub fn none_held() {
    if ENABLED {
        engine::assert_none_held(Location::caller());
    }
}

/// Asserts that the current thread holds the lock (kernel
/// `lockdep_assert_held`). Accepts anything implementing
/// [`AsLockdepMap`](crate::assert::AsLockdepMap); see the
/// [`assert`](crate::assert) module.
#[macro_export]
macro_rules! lockdep_assert_held {
    ($lock:expr $(,)?) => {
        if $crate::ENABLED {
            $crate::assert::held(&$lock)
        }
    };
}

/// [`lockdep_assert_held!`](crate::lockdep_assert_held) under the kernel's
/// `lockdep_assert_held_once` name: every assertion reports once per call
/// site and validator anyway.
#[macro_export]
macro_rules! lockdep_assert_held_once {
    ($lock:expr $(,)?) => {
        if $crate::ENABLED {
            $crate::assert::held(&$lock)
        }
    };
}

/// Asserts that the current thread holds the lock for read (kernel
/// `lockdep_assert_held_read`).
#[macro_export]
macro_rules! lockdep_assert_held_read {
    ($lock:expr $(,)?) => {
        if $crate::ENABLED {
            $crate::assert::held_read(&$lock)
        }
    };
}

/// Asserts that the current thread holds the lock for write (kernel
/// `lockdep_assert_held_write`).
#[macro_export]
macro_rules! lockdep_assert_held_write {
    ($lock:expr $(,)?) => {
        if $crate::ENABLED {
            $crate::assert::held_write(&$lock)
        }
    };
}

/// Asserts that the current thread does not hold the lock (kernel
/// `lockdep_assert_not_held`).
#[macro_export]
macro_rules! lockdep_assert_not_held {
    ($lock:expr $(,)?) => {
        if $crate::ENABLED {
            $crate::assert::not_held(&$lock)
        }
    };
}

/// Asserts that the current thread holds no lock at all (kernel
/// `lockdep_assert_none_held_once`), e.g. before returning to an event loop.
#[macro_export]
macro_rules! lockdep_assert_none_held {
    () => {
        if $crate::ENABLED {
            $crate::assert::none_held()
        }
    };
}
