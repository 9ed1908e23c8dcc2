//! `crossbeam_channel` whose blocking operations are waits (feature
//! `crossbeam-channel`): the same API for the channel itself (the
//! constructors, both halves, their iterators, crossbeam's own error types),
//! crossbeam's channel inside.
//!
//! As for [`std_sync::mpsc`](crate::std_sync::mpsc) (book chapter 16), a
//! channel is two waitable objects of its construction site: its *data*
//! (`mpsc@src/jobs.rs:8:5`), which a blocking receive waits for and every
//! send is the event of, and, for a [`bounded`] channel, its *space*
//! (`mpsc space@…`), which a send into a full channel waits for and every
//! receive is the event of. Crossbeam's channels have many receivers as well
//! as many senders; the rules do not change: a `recv` under a lock that a
//! sender held when it sent is reported, and so is a `send` into a full
//! channel under a lock that a receiver held when it received — from runs
//! that did not hang.
//!
//! Only waits that can last forever count: `recv`, iteration, and a send
//! that found a bounded channel full; `try_*`, `*_timeout` and `*_deadline`
//! never wait (a message they move is still an event).
//!
//! Not wrapped: `select!` / `Select`, `after`, `tick`, `never` (a channel of
//! this module is not a crossbeam channel, so it cannot take part in a
//! crossbeam `select!`). Compiled out, every type has the size of
//! crossbeam's and every method is crossbeam's.
//!
//! ```
//! use lockdep::crossbeam_channel::{bounded, unbounded};
//! let (tx, rx) = unbounded();
//! let rx2 = rx.clone(); // many receivers
//! std::thread::spawn(move || tx.send(7).unwrap());
//! assert_eq!(rx2.recv(), Ok(7));
//! let (tx, rx) = bounded::<u32>(1);
//! tx.send(1).unwrap();
//! assert!(tx.try_send(2).is_err()); // full: never waits
//! assert_eq!(rx.iter().next(), Some(1));
//! ```

use std::fmt;
use std::panic::Location;
use std::time::{Duration, Instant};

pub use crossbeam_channel::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};

use crate::std_sync::mpsc::{Chan, Waits, make, waits};

/// `crossbeam_channel::unbounded`: a channel of unbounded capacity whose
/// class is the caller's line.
#[track_caller]
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    let w = make(Location::caller(), false);
    let (tx, rx) = crossbeam_channel::unbounded();
    (Sender { inner: tx, waits: w.clone() }, Receiver { inner: rx, waits: w })
}

/// `crossbeam_channel::bounded`: a channel of `cap` messages (0: a
/// rendezvous) whose class is the caller's line.
#[track_caller]
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let w = make(Location::caller(), true);
    let (tx, rx) = crossbeam_channel::bounded(cap);
    (Sender { inner: tx, waits: w.clone() }, Receiver { inner: rx, waits: w })
}

/// The sending half of a channel (`crossbeam_channel::Sender`).
pub struct Sender<T> {
    inner: crossbeam_channel::Sender<T>,
    waits: Waits,
}

impl<T> Sender<T> {
    /// The channel's pseudo-locks, when validation is compiled in.
    fn chan(&self) -> Option<&Chan> {
        waits(&self.waits)
    }

    /// Sends `t`, blocking while a bounded channel is full. A send that
    /// finds it full waits for the channel's space (the locks held here come
    /// before every receive); every send is an event of the channel's data,
    /// in the context of the locks held here.
    #[track_caller]
    pub fn send(&self, t: T) -> Result<(), SendError<T>> {
        let Some(c) = self.chan() else { return self.inner.send(t) };
        crate::hooks::lock_event(c.data);
        let Some(space) = &c.space else { return self.inner.send(t) };
        match self.inner.try_send(t) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(t)) => Err(SendError(t)),
            Err(TrySendError::Full(t)) => {
                space.wait();
                self.inner.send(t)
            }
        }
    }

    /// Sends `t` if there is room now; never blocks. A send that happened is
    /// an event of the channel's data.
    #[track_caller]
    pub fn try_send(&self, t: T) -> Result<(), TrySendError<T>> {
        let r = self.inner.try_send(t);
        self.sent(r.is_ok());
        r
    }

    /// Sends `t`, waiting for room at most `timeout` (not a wait the
    /// validator counts: it ends by itself).
    #[track_caller]
    pub fn send_timeout(&self, t: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        let r = self.inner.send_timeout(t, timeout);
        self.sent(r.is_ok());
        r
    }

    /// Sends `t`, waiting for room until `deadline` at the latest (not a
    /// wait the validator counts).
    #[track_caller]
    pub fn send_deadline(&self, t: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        let r = self.inner.send_deadline(t, deadline);
        self.sent(r.is_ok());
        r
    }

    /// A message that went in is an event of the channel's data.
    #[track_caller]
    fn sent(&self, ok: bool) {
        if let (true, Some(c)) = (ok, self.chan()) {
            crate::hooks::lock_event(c.data);
        }
    }

    /// Whether the channel is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Whether the channel is full (never, unbounded).
    pub fn is_full(&self) -> bool {
        self.inner.is_full()
    }

    /// The number of messages in the channel.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// The channel's capacity (`None`: unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.inner.capacity()
    }

    /// Whether both senders send into the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        self.inner.same_channel(&other.inner)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender { inner: self.inner.clone(), waits: self.waits.clone() }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Sender { .. }")
    }
}

/// The receiving half of a channel (`crossbeam_channel::Receiver`); clone
/// it for more receivers.
pub struct Receiver<T> {
    inner: crossbeam_channel::Receiver<T>,
    waits: Waits,
}

impl<T> Receiver<T> {
    /// A message received frees a slot of a bounded channel: the event of
    /// its space, in the context of the locks held here.
    #[track_caller]
    fn received(&self, ok: bool) {
        if let (true, Some(space)) = (ok, waits(&self.waits).and_then(|c| c.space.as_ref())) {
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
        self.received(r.is_ok());
        r
    }

    /// Receives a message if one is there now; never blocks.
    #[track_caller]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let r = self.inner.try_recv();
        self.received(r.is_ok());
        r
    }

    /// Waits for a message at most `timeout` (not a wait the validator
    /// counts: it ends by itself).
    #[track_caller]
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let r = self.inner.recv_timeout(timeout);
        self.received(r.is_ok());
        r
    }

    /// Waits for a message until `deadline` at the latest (not a wait the
    /// validator counts).
    #[track_caller]
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        let r = self.inner.recv_deadline(deadline);
        self.received(r.is_ok());
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

    /// Whether the channel is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Whether the channel is full (never, unbounded).
    pub fn is_full(&self) -> bool {
        self.inner.is_full()
    }

    /// The number of messages in the channel.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// The channel's capacity (`None`: unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.inner.capacity()
    }

    /// Whether both receivers receive from the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        self.inner.same_channel(&other.inner)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Receiver { inner: self.inner.clone(), waits: self.waits.clone() }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("Receiver { .. }")
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
    assert!(size_of::<Sender<u64>>() == size_of::<crossbeam_channel::Sender<u64>>());
    assert!(size_of::<Receiver<u64>>() == size_of::<crossbeam_channel::Receiver<u64>>());
};
