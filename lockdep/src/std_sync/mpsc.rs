//! `std::sync::mpsc` whose blocking operations are waits: the same API and
//! error types (std's own), std's channel inside.
//!
//! A channel is two waitable objects of its construction site: its *data*
//! (`mpsc@src/jobs.rs:8:5`), which a blocking receive waits for and every
//! send is the event of, and, for a [`sync_channel`], its *space*
//! (`mpsc space@…`), which a send into a full channel waits for and every
//! receive is the event of. The locks held at a send are its context (book
//! chapter 16). A blocking receive is a wait for data *and* an event of
//! space at once, with one set of held locks, so the context of a receive
//! is only the held locks that a sender of this channel held when it found
//! it full (the same instances). So a `recv` under a lock that senders hold
//! when they send is reported, and so is a `send` into a full channel under
//! a lock that the receiver holds when it receives — from runs that did not
//! hang.
//!
//! Only waits that can last forever count: `recv`, iteration, and a send
//! that found the channel full; `try_*` and `*_timeout` never wait.

use std::fmt;
use std::panic::Location;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

use crate::map::LockdepMap;

/// A channel's pseudo-locks (compiled in only).
#[derive(Clone)]
#[cfg_attr(not(lockdep_on), allow(dead_code))]
pub(crate) struct Chan {
    pub(crate) data: &'static LockdepMap,
    /// `None` for an unbounded channel, whose sends never wait.
    pub(crate) space: Option<Space>,
}

/// A bounded channel's space: its pseudo-lock, and which thread held which
/// lock when it sent into the full channel and when it received.
#[derive(Clone)]
#[cfg_attr(not(lockdep_on), allow(dead_code))]
pub(crate) struct Space {
    map: &'static LockdepMap,
    #[cfg(lockdep_on)]
    holders: std::sync::Arc<[crate::waits::Holders; 2]>,
}

#[cfg(lockdep_on)]
const SENDERS: usize = 0;
#[cfg(lockdep_on)]
const RECEIVER: usize = 1;

impl Chan {
    #[cfg(lockdep_on)]
    fn new(site: &'static Location<'static>, bounded: bool) -> Chan {
        use crate::waits::WaitSite;
        Chan {
            data: WaitSite::new("mpsc", site).map(),
            space: bounded.then(|| Space { map: WaitSite::new("mpsc space", site).map(), holders: Default::default() }),
        }
    }
}

impl Space {
    /// A send found the channel full: a wait for space, which the receive
    /// depends on if its thread held one of these locks when it received.
    #[track_caller]
    pub(crate) fn wait(&self) {
        #[cfg(lockdep_on)]
        {
            let loc = Location::caller();
            crate::hooks::lock_wait(self.map);
            self.event(loc, SENDERS, RECEIVER);
        }
    }

    /// A receive: an event of space, in the context of the held locks a
    /// sender held when it found the channel full.
    #[track_caller]
    pub(crate) fn received(&self) {
        #[cfg(lockdep_on)]
        self.event(Location::caller(), RECEIVER, SENDERS);
    }

    /// Notes the held locks as `mine`'s, and adds the event's dependencies
    /// on those `theirs` held too.
    #[cfg(lockdep_on)]
    fn event(&self, loc: &'static Location<'static>, mine: usize, theirs: usize) {
        let held = crate::engine::held_instances();
        if held.is_empty() {
            return;
        }
        for lock in self.holders[theirs].others(&held) {
            crate::engine::event(self.map, 0, Some(lock), loc);
        }
        self.holders[mine].note(&held);
    }
}

/// The channel's pseudo-locks, or nothing when compiled out.
#[cfg(lockdep_on)]
pub(crate) type Waits = Chan;
/// Compiled out: nothing (zero-sized).
#[cfg(not(lockdep_on))]
#[derive(Clone)]
pub(crate) struct Waits;

#[cfg(lockdep_on)]
pub(crate) fn waits(w: &Waits) -> Option<&Chan> {
    Some(w)
}
#[cfg(not(lockdep_on))]
pub(crate) fn waits(_: &Waits) -> Option<&Chan> {
    None
}

#[cfg(lockdep_on)]
pub(crate) fn make(site: &'static Location<'static>, bounded: bool) -> Waits {
    Chan::new(site, bounded)
}
#[cfg(not(lockdep_on))]
pub(crate) fn make(_: &'static Location<'static>, _: bool) -> Waits {
    Waits
}

/// `std::sync::mpsc::channel`: an unbounded channel whose class is the
/// caller's line.
#[track_caller]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let w = make(Location::caller(), false);
    let (tx, rx) = std_mpsc::channel();
    (Sender { inner: tx, waits: w.clone() }, Receiver { inner: rx, waits: w })
}

/// `std::sync::mpsc::sync_channel`: a channel of `bound` messages (0: a
/// rendezvous) whose class is the caller's line.
#[track_caller]
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let w = make(Location::caller(), true);
    let (tx, rx) = std_mpsc::sync_channel(bound);
    (SyncSender { inner: tx, waits: w.clone() }, Receiver { inner: rx, waits: w })
}

/// The sending half of a [`channel`] (`std::sync::mpsc::Sender`).
pub struct Sender<T> {
    inner: std_mpsc::Sender<T>,
    waits: Waits,
}

impl<T> Sender<T> {
    /// Sends `t` (never blocks); an event of the channel's data, in the
    /// context of the locks held here.
    #[track_caller]
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        if let Some(c) = waits(&self.waits) {
            crate::hooks::lock_event(c.data);
        }
        self.inner.send(t)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender { inner: self.inner.clone(), waits: self.waits.clone() }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The sending half of a [`sync_channel`] (`std::sync::mpsc::SyncSender`).
pub struct SyncSender<T> {
    inner: std_mpsc::SyncSender<T>,
    waits: Waits,
}

impl<T> SyncSender<T> {
    /// Sends `t`, blocking while the channel is full. A send that finds it
    /// full waits for the channel's space (the locks held here come before
    /// every receive); every send is an event of the channel's data.
    #[track_caller]
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        let Some(c) = waits(&self.waits) else { return self.inner.send(t) };
        crate::hooks::lock_event(c.data);
        match self.inner.try_send(t) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(t)) => Err(SendError(t)),
            Err(TrySendError::Full(t)) => {
                if let Some(space) = &c.space {
                    space.wait();
                }
                self.inner.send(t)
            }
        }
    }

    /// Sends `t` if there is room now; never blocks. A send that happened is
    /// an event of the channel's data.
    #[track_caller]
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        let r = self.inner.try_send(t);
        if let (Ok(()), Some(c)) = (&r, waits(&self.waits)) {
            crate::hooks::lock_event(c.data);
        }
        r
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> Self {
        SyncSender { inner: self.inner.clone(), waits: self.waits.clone() }
    }
}

impl<T> fmt::Debug for SyncSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSender").finish_non_exhaustive()
    }
}

/// The receiving half of a channel (`std::sync::mpsc::Receiver`).
pub struct Receiver<T> {
    inner: std_mpsc::Receiver<T>,
    waits: Waits,
}

impl<T> Receiver<T> {
    /// A message received frees a slot of a bounded channel: the event of
    /// its space, in the context of the locks held here.
    #[track_caller]
    fn received(&self) {
        if let Some(space) = waits(&self.waits).and_then(|c| c.space.as_ref()) {
            space.received();
        }
    }

    /// Blocks until a message arrives (or every sender is gone): a wait for
    /// the channel's data, so the locks held here come before every send.
    #[track_caller]
    pub fn recv(&self) -> Result<T, RecvError> {
        if let Some(c) = waits(&self.waits) {
            crate::hooks::lock_wait(c.data);
        }
        let r = self.inner.recv();
        if r.is_ok() {
            self.received();
        }
        r
    }

    /// Receives a message if one is there now; never blocks.
    #[track_caller]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let r = self.inner.try_recv();
        if r.is_ok() {
            self.received();
        }
        r
    }

    /// Waits for a message at most `timeout` (not a wait the validator
    /// counts: it ends by itself).
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let r = self.inner.recv_timeout(timeout);
        if r.is_ok() {
            self.received();
        }
        r
    }

    /// Blocking iteration (every `next` is a [`recv`](Self::recv)).
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// Iteration over the messages there now (every `next` is a
    /// [`try_recv`](Self::try_recv)).
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

/// Blocking iterator over a [`Receiver`]'s messages.
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// Non-blocking iterator over a [`Receiver`]'s messages.
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Blocking iterator that owns its [`Receiver`].
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

#[cfg(not(lockdep_on))]
const _: () = {
    use std::mem::size_of;
    assert!(size_of::<Sender<u64>>() == size_of::<std_mpsc::Sender<u64>>());
    assert!(size_of::<SyncSender<u64>>() == size_of::<std_mpsc::SyncSender<u64>>());
    assert!(size_of::<Receiver<u64>>() == size_of::<std_mpsc::Receiver<u64>>());
};
