//! Recorded hook calls ([`HookEvent`], with [`Config::record_events`](crate::Config::record_events)):
//! which hook ([`Hook`]), on which lock, from which thread and call site.

use std::thread::ThreadId;

use crate::class::Read;

/// Which hook an event records.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Hook {
    /// `lock_acquire` (and every acquire shorthand).
    Acquire {
        /// The subclass passed.
        subclass: u32,
        /// Whether it was a trylock.
        trylock: bool,
        /// The mode.
        read: Read,
        /// `check` (false for [`lock_acquire_nocheck`](crate::lock_acquire_nocheck)).
        check: bool,
        /// The address of the nest lock's map, if any.
        nest_lock: Option<usize>,
    },
    /// `lock_release`.
    Release,
    /// `lock_downgrade`.
    Downgrade,
    /// `lock_set_subclass`.
    SetSubclass {
        /// The new subclass.
        subclass: u32,
    },
    /// `lock_contended`.
    Contended,
    /// `lock_acquired`.
    Acquired,
}

/// One recorded hook call (see [`Config::record_events`](crate::Config::record_events)).
#[derive(Clone, Debug)]
pub struct HookEvent {
    /// The calling thread.
    pub thread: ThreadId,
    /// The map's name.
    pub map: &'static str,
    /// The map's address (instance identity).
    pub instance: usize,
    /// The hook and its arguments.
    pub hook: Hook,
    /// Where the hook was called.
    pub location: &'static std::panic::Location<'static>,
}
