//! [`Barrier`]: `std::sync::Barrier`, whose wait is both an arrival (an
//! event) and a wait for the other participants.
//!
//! A barrier is a waitable object of its construction site
//! (`Barrier@src/sim.rs:9:15`). Every `wait` is a wait for the other
//! participants (the locks held there come before the barrier) and an
//! arrival, an event whose context is the locks held there that *another*
//! participant held at its own `wait` of this barrier — the same lock
//! instance, in any generation. So a participant that waits holding a lock
//! that another participant holds when it arrives is reported, from a run
//! in which the two happened in different generations; a thread holding a
//! lock across its own waits, or participants each holding their own lock,
//! are not.
//!
//! Known limit: only locks *held* at arrival are the arrival's context; a
//! participant that takes a lock and drops it before arriving is not seen
//! as needing it.

use std::fmt;
#[cfg(lockdep_on)]
use std::panic::Location;

pub use std::sync::BarrierWaitResult;

#[cfg(lockdep_on)]
use crate::waits::WaitSite;

/// `std::sync::Barrier`.
///
/// A barrier is a waitable object of its construction site
/// (`Barrier@src/sim.rs:9:15`). Every `wait` is a wait for the other
/// participants (the locks held there come before the barrier) and an
/// arrival, an event whose context is the locks held there that *another*
/// participant held at its own `wait` of this barrier — the same lock
/// instance, in any generation. So a participant that waits holding a lock
/// that another participant holds when it arrives is reported, from a run
/// in which the two happened in different generations; a thread holding a
/// lock across its own waits, or participants each holding their own lock,
/// are not.
///
/// Known limit: only locks *held* at arrival are the arrival's context; a
/// participant that takes a lock and drops it before arriving is not seen
/// as needing it.
pub struct Barrier {
    inner: std::sync::Barrier,
    #[cfg(lockdep_on)]
    site: WaitSite,
    /// Who held which lock at a wait of this barrier.
    #[cfg(lockdep_on)]
    holders: crate::waits::Holders,
}

impl Barrier {
    /// A barrier for `n` threads, whose class is the caller's line.
    #[track_caller]
    pub fn new(n: usize) -> Barrier {
        Barrier {
            inner: std::sync::Barrier::new(n),
            #[cfg(lockdep_on)]
            site: WaitSite::new("Barrier", Location::caller()),
            #[cfg(lockdep_on)]
            holders: crate::waits::Holders::default(),
        }
    }

    /// Blocks until all `n` threads have called `wait`; one of them is told
    /// it is the leader (`std::sync::Barrier::wait`).
    #[track_caller]
    pub fn wait(&self) -> BarrierWaitResult {
        #[cfg(lockdep_on)]
        self.annotate(Location::caller());
        self.inner.wait()
    }

    #[cfg(lockdep_on)]
    fn annotate(&self, loc: &'static Location<'static>) {
        let map = self.site.map();
        self.site.wait_at(loc);
        let held = crate::engine::held_instances();
        if held.is_empty() {
            return;
        }
        for lock in self.holders.others(&held) {
            crate::engine::event(map, 0, Some(lock), loc);
        }
        self.holders.note(&held);
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

#[cfg(not(lockdep_on))]
const _: () = assert!(std::mem::size_of::<Barrier>() == std::mem::size_of::<std::sync::Barrier>());
