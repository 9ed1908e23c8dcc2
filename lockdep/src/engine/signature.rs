//! What makes two reports "the same problem": in continue mode each distinct
//! problem is reported once per validator, and a [`Signature`] names it.
//!
//! Classes appear by [`ClassId`], which a validator never hands out twice
//! (see [`graph`](super::graph)): a signature recorded for a removed class can
//! never match a problem of a class created later.

use std::panic::Location;

use super::ids::ClassId;
use crate::class::Read;

/// A call site, compared by address (each `#[track_caller]` location is one
/// static).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Site(usize);

impl Site {
    pub(crate) fn of(loc: &'static Location<'static>) -> Site {
        Site(loc as *const Location<'static> as usize)
    }
}

/// One problem, as deduplication sees it.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Signature {
    /// A circular dependency: the set of its edges (sorted), wherever it was
    /// closed and whichever thread closed it.
    Cycle(Vec<(ClassId, ClassId)>),
    /// A class taken again while held: both entries' classes and modes.
    Recursive { held: ClassId, next: ClassId, held_read: Read, next_read: Read },
    /// A release (or downgrade, or re-class) of a lock that is not held, per call site.
    Imbalance(Site),
    /// Freeing a lock that is held: by this thread (per class), or by
    /// another thread (`None`: the class was never looked up here).
    HeldLockFreed { class: Option<ClassId>, elsewhere: bool },
    /// Taking a lock under a nest lock the thread does not hold.
    NestLockNotHeld { class: ClassId, site: Site },
    /// An out-of-range subclass, per call site.
    InvalidSubclass(Site),
    /// Downgrading a lock held for read, per call site.
    BadDowngrade(Site),
    /// A limit ran out (one report per validator, whichever limit).
    LimitExceeded,
    /// A thread exited holding locks: the classes it held, bottom first.
    HeldLocksAtThreadExit(Vec<ClassId>),
    /// A failed assertion: which assertion (and whether another thread was
    /// named), per call site.
    Assertion { which: u8, site: Site },
    /// A task awaited holding a synchronous lock: its class and where it was taken.
    HeldAcrossAwait { class: ClassId, site: Site },
}
