//! [`RawLockdep`]: the raw layer. It wraps any `lock_api` raw lock together
//! with a [`LockdepMap`] and calls the hooks around every raw operation.
//!
//! Two entry points reach the same code:
//!
//! * the `lock_api` raw traits ([`RawMutex`], [`RawRwLock`], …), which is what
//!   `lock_api`'s generic guards call (unlocking on drop, `unlocked`,
//!   `bump`, downgrade/upgrade) and what any third-party `lock_api` user calls;
//! * inherent `#[track_caller]` methods (`lock_with`, `lock_shared_with`, …)
//!   that the safe layer in [`sync`](super) calls so that the acquire location
//!   in reports is *your* call site. `lock_api`'s traits have no
//!   `#[track_caller]`, so acquisitions made through them are reported at a
//!   location inside this file.
//!
//! The hooks run in the kernel's order: the acquire hook before blocking (an
//! inversion is reported instead of hanging), a trylock hook only after the
//! trylock succeeded, the release hook before unlocking, `lock_downgrade`
//! before downgrading. With validation compiled in, blocking acquisitions also
//! call [`lock_contended`](crate::lock_contended) /
//! [`lock_acquired`](crate::lock_acquired) like the kernel's `LOCK_CONTENDED`;
//! compiled out, every method is exactly the wrapped raw lock's. (A
//! blocking acquisition without a nest lock and without a timeout — a
//! mutex's, or an rwlock's in any mode — tries the lock first, and the
//! validator's fast path then records it: that path never reports. Any other outcome lets the lock go again, or never took it,
//! and runs the hooks in the order above: see `RawLockdep::lock_first`.)
//!
//! A blocking acquisition this thread can never complete — it already holds
//! this very lock, and the mode asked for must wait for that hold (a mutex
//! or a write after any hold, a read or an upgradable read after a write) —
//! is refused before blocking: the wrapper panics at the caller's line,
//! naming the lock and both locations, whatever the validator's action, and
//! the validator stores its recursive-locking report as usual (see
//! `RawLockdep::refuse_self_deadlock`). Read after read, trylocks, timed
//! acquisitions and reentrant mutexes are never refused.
//!
//! A temporary release keeps the annotations: a [`Condvar`](super::Condvar)
//! wait and `lock_api`'s `*Guard::unlocked` re-acquire the lock with the
//! subclass and nest lock it was held with (see `RawLockdep::relock` and
//! the `RELOCK` note kept by the trait's unlock methods).

use std::cell::{Cell, RefCell};
use std::panic::Location;

use lock_api::{
    GuardNoSend, RawMutex, RawMutexFair, RawMutexTimed, RawRwLock, RawRwLockDowngrade, RawRwLockFair,
    RawRwLockRecursive, RawRwLockRecursiveTimed, RawRwLockTimed, RawRwLockUpgrade, RawRwLockUpgradeDowngrade,
    RawRwLockUpgradeFair, RawRwLockUpgradeTimed,
};

use crate::class::{LockClassKey, Read};
use crate::engine::{self, HeldAnnotation};
use crate::map::LockdepMap;
use crate::report::{LockInfo, ThreadInfo};
use crate::{ENABLED, hooks};

// `RawLockdep` behind lock_api 0.5's raw traits (`lockdep::sync::lock_api05`).
#[cfg(feature = "lock_api-0.5")]
mod lock_api05;
#[cfg(feature = "lock_api-0.5")]
pub use lock_api05::RawLockdep05;

/// The one class shared by every lock built from `RawLockdep::INIT` (that is,
/// through `lock_api`'s own `new`/`const_new`/`Default` instead of the
/// constructors in [`sync`](super)).
static INIT_KEY: LockClassKey = LockClassKey::new();

/// A raw lock `R` instrumented with a [`LockdepMap`].
///
/// Implements every `lock_api` raw trait that `R` implements, calling the
/// hooks around each operation, in the kernel's order: acquire before
/// blocking, a trylock only after success, release before unlocking,
/// `lock_downgrade` before downgrading. `lock_api`'s traits have no
/// `#[track_caller]`, so an acquisition made through them is reported at a
/// location inside `lockdep`; the lock types of [`sync`](super) call the
/// inherent `#[track_caller]` methods (`lock_with`, `lock_shared_with`, …)
/// instead, so that reports show *your* call site. Guards made over
/// it are never `Send` (`GuardMarker = GuardNoSend`): a lock must be released
/// by the thread that took it, or the validator's per-thread held-lock stacks
/// would be wrong.
///
/// Locks built from `RawLockdep::INIT` — through `lock_api`'s own `new`,
/// `const_new` or `Default` rather than the constructors of
/// [`sync`](super) — all share one class, `lockdep::RawLockdep::INIT`.
///
/// When validation is compiled out the map is zero-sized and
/// `RawLockdep<R>` has the size and code of `R`.
pub struct RawLockdep<R> {
    inner: R,
    map: LockdepMap,
}

impl<R> RawLockdep<R> {
    /// Wraps `inner`; the validator knows it by `map`.
    pub const fn new(inner: R, map: LockdepMap) -> Self {
        RawLockdep { inner, map }
    }

    /// The map the validator knows this lock by.
    pub fn map(&self) -> &LockdepMap {
        &self.map
    }

    /// The wrapped raw lock. Operating it directly bypasses the validator.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// A blocking acquisition: the acquire hook first, then the lock (via a
    /// trylock first when validation is on, to tell contention apart).
    ///
    /// The steady state (the validator's fast path takes it: see
    /// `engine::try_acquire_fast`) then just locks: the statistics hooks
    /// would record nothing, and the fast path never unwinds. Everything
    /// else is [`acquire_blocking_slow`](Self::acquire_blocking_slow), out of
    /// line, so that the inlined part carries no call the fast path's values
    /// must live across.
    #[inline(always)]
    #[track_caller]
    fn acquire_blocking(
        &self,
        subclass: u32,
        read: Read,
        nest: Option<&LockdepMap>,
        try_lock: impl FnOnce() -> bool,
        lock: impl FnOnce(),
    ) {
        if !ENABLED {
            lock();
            return;
        }
        if subclass != 0 || nest.is_some() {
            note_annotated(); // (folded away for the plain acquisitions)
        }
        if nest.is_none() && engine::try_acquire_fast(&self.map, subclass, false, read, true, Location::caller()) {
            lock();
        } else {
            self.acquire_blocking_slow(subclass, read, nest, try_lock, lock);
        }
    }

    /// [`acquire_blocking`](Self::acquire_blocking) past the fast path: the
    /// rest of the acquire hook (undone if it unwinds), then the trylock
    /// probe, `lock_contended` if it failed, the lock, and `lock_acquired`.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn acquire_blocking_slow(
        &self,
        subclass: u32,
        read: Read,
        nest: Option<&LockdepMap>,
        try_lock: impl FnOnce() -> bool,
        lock: impl FnOnce(),
    ) {
        let undo = Finally(|| hooks::lock_release(&self.map));
        engine::acquire_slow(&self.map, subclass, false, read, true, nest, Location::caller());
        std::mem::forget(undo);
        if !try_lock() {
            hooks::lock_contended(&self.map);
            lock();
        }
        hooks::lock_acquired(&self.map);
    }

    /// A blocking acquisition by the raw lock's trylock first (no nest lock):
    /// true when the trylock took the lock, which is then recorded; false when
    /// it did not (or `nest` is given) and nothing was done: the caller's path
    /// that may wait runs (the refusal, then the hook before the lock).
    /// Compiled out, it is `lock` and true.
    ///
    /// The steady state records the taken lock on the validator's fast path
    /// and is done. Taking the lock first costs nothing the validation needs:
    /// a chain the fast path takes was validated before (nothing can be
    /// reported), and a trylock does not take a lock that this thread's own
    /// hold would make it wait for (a mutex or a write it holds; for a read,
    /// a write it holds), so the self-deadlock refusal's look at the lock is
    /// not needed either. The fast path never unwinds. When it declines, the
    /// lock is let go again and the acquisition made as
    /// [`acquire_blocking`](Self::acquire_blocking) makes it past the fast
    /// path (see [`retake`](Self::retake)).
    #[inline(always)]
    #[track_caller]
    fn lock_first(
        &self,
        subclass: u32,
        read: Read,
        nest: Option<&LockdepMap>,
        try_lock: impl Fn() -> bool + Copy,
        unlock: impl FnOnce(),
        lock: impl FnOnce(),
    ) -> bool {
        if !ENABLED {
            lock();
            return true;
        }
        if nest.is_some() || !try_lock() {
            return false;
        }
        if subclass != 0 {
            note_annotated(); // (folded away for the plain acquisitions)
        }
        if !engine::try_acquire_fast(&self.map, subclass, false, read, true, Location::caller()) {
            self.retake(subclass, read, unlock, try_lock, lock);
        }
        true
    }

    /// [`lock_first`](Self::lock_first) when the fast path declined: the
    /// lock is released and the acquisition made in the hooks' order (the
    /// acquire hook before the lock, as [`acquire_blocking_slow`]
    /// (Self::acquire_blocking_slow)), so that every report, action and
    /// statistic is as for any other blocking acquisition; in particular a
    /// report's callback never runs with the lock taken. This thread's own
    /// holds did not make it wait (the trylock took it), so nothing is
    /// refused.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn retake(
        &self,
        subclass: u32,
        read: Read,
        unlock: impl FnOnce(),
        try_lock: impl FnOnce() -> bool,
        lock: impl FnOnce(),
    ) {
        unlock();
        self.acquire_blocking_slow(subclass, read, None, try_lock, lock);
    }

    /// Another thread holding this lock, when the validator knows one (see
    /// [`AsLockdepMap::other_holder`](crate::AsLockdepMap::other_holder)).
    pub fn other_owner(&self) -> Option<ThreadInfo> {
        crate::engine::other_holder(&self.map)
    }

    /// Before blocking on the real lock: if this thread already holds this
    /// very instance (same map) so that the acquisition in mode `read` must
    /// wait for the thread itself, blocking would never end. Refuse: panic at
    /// the caller's line (see [`self_deadlock`](Self::self_deadlock)).
    ///
    /// * `locked`: a cheap look at the raw lock's state, false when the
    ///   acquisition cannot block at all; nothing else runs then (an
    ///   uncontended lock costs one atomic load more).
    /// * `exclusive_only`: only a hold the validator has as
    ///   [`Read::Exclusive`] (a write or an upgradable read) can block this
    ///   mode (reads, upgradable reads); otherwise any hold does (a mutex, a
    ///   write).
    /// * `would_wait`: for `exclusive_only` modes, the real lock's word: it
    ///   tries the acquisition without blocking (undoing it if it succeeds)
    ///   and says whether it would wait. The held-lock stack counts this
    ///   thread's holds of an instance exactly but may mix up their modes
    ///   (a release takes off the topmost entry of the instance, whichever
    ///   mode it was taken in), so a mode alone never decides.
    #[inline(always)]
    #[track_caller]
    fn refuse_self_deadlock(
        &self,
        locked: impl FnOnce() -> bool,
        subclass: u32,
        read: Read,
        nest: Option<&LockdepMap>,
        exclusive_only: bool,
        would_wait: impl FnOnce() -> bool,
    ) {
        if ENABLED && locked() {
            self.refuse_self_deadlock_slow(subclass, read, nest, exclusive_only, would_wait);
        }
    }

    #[cold]
    #[inline(never)]
    #[track_caller]
    fn refuse_self_deadlock_slow(
        &self,
        subclass: u32,
        read: Read,
        nest: Option<&LockdepMap>,
        exclusive_only: bool,
        would_wait: impl FnOnce() -> bool,
    ) {
        // A panic now would abort (a lock taken in a destructor while
        // unwinding): leave it to the report and the hang, as before.
        if std::thread::panicking() {
            return;
        }
        // Known held, and validation on (a validator that stopped keeps a
        // stale stack)...
        if engine::is_held(&self.map, None) != Some(true) {
            return;
        }
        // ... not through an entry merged under a nest lock (it stands for
        // its whole class, under its first instance's address only) ...
        if engine::held_annotation(&self.map).and_then(|a| a.nest_lock()).is_some() {
            return;
        }
        // ... by this very instance.
        let addr = self.map.addr();
        let held: Vec<LockInfo> = hooks::held_locks().into_iter().filter(|l| l.addr() == addr).collect();
        let blocking =
            if exclusive_only { held.iter().rev().find(|l| l.read() == Read::Exclusive) } else { held.last() };
        let Some(blocking) = blocking else { return };
        if !exclusive_only || would_wait() {
            self.self_deadlock(blocking, subclass, read, nest);
        }
    }

    /// This thread already holds this lock as `held` and would block on it
    /// in mode `read` for ever. Panics at the caller's line with a message
    /// naming the lock and both locations. The validator sees the
    /// acquisition while the panic unwinds, so its report (recursive
    /// locking) is stored and goes through its action as usual, except that
    /// `Action::Panic` prints it instead of panicking a second time. (With
    /// `panic = "abort"` nothing unwinds: the message is all there is.)
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn self_deadlock(&self, held: &LockInfo, subclass: u32, read: Read, nest: Option<&LockdepMap>) -> ! {
        /// The acquisition and its undo, told to the validator on drop.
        struct TellWhileUnwinding<'a> {
            map: &'a LockdepMap,
            subclass: u32,
            read: Read,
            nest: Option<&'a LockdepMap>,
            loc: &'static Location<'static>,
        }
        impl Drop for TellWhileUnwinding<'_> {
            fn drop(&mut self) {
                engine::acquire(self.map, self.subclass, false, self.read, true, self.nest, self.loc);
                // The lock is not taken: the entry goes again (the topmost
                // entry of this instance is the one just pushed).
                engine::release(self.map, self.loc);
            }
        }
        let loc = Location::caller();
        let _tell = TellWhileUnwinding { map: &self.map, subclass, read, nest, loc };
        let hint = match (held.read().is_read(), read.is_read()) {
            (true, false) => {
                "to write under a read lock, take it upgradable (`upgradable_read`, then `upgrade`), or release \
                 the read lock first"
            }
            (false, true) => "read through the write guard you hold, or downgrade it (`downgrade`)",
            _ => "release it before taking it again, or restructure so it is taken once",
        };
        panic!(
            "lockdep: self-deadlock: this thread already holds {} ({}, taken at {}) and now takes it again ({}) \
             at {loc}, which would block for ever. lockdep panics instead of hanging; its recursive-locking report \
             has the details. Fix: {hint}.",
            self.map.name(),
            held.read().as_str(),
            held.location(),
            read.as_str(),
        )
    }

    /// The acquire hook. If it unwinds (a report under `Action::Panic`), the
    /// lock is not taken: the entry the validator pushed is taken off again,
    /// so that the thread's held-lock stack stays true.
    #[inline(always)]
    #[track_caller]
    fn announce(&self, subclass: u32, trylock: bool, read: Read, nest: Option<&LockdepMap>) {
        if ENABLED && (subclass != 0 || nest.is_some()) {
            note_annotated(); // (folded away for the plain acquisitions)
        }
        let undo = Finally(|| hooks::lock_release(&self.map));
        hooks::lock_acquire(&self.map, subclass, trylock, read, nest);
        std::mem::forget(undo);
    }

    /// The release hook, then `unlock`, which runs even if the hook unwinds
    /// (a report under `Action::Panic`): a lock whose guard is gone must not
    /// stay locked.
    ///
    /// The validator's fast path (`engine::release_fast`) never unwinds, so
    /// the steady state unlocks straight after it, without a landing pad;
    /// everything else goes through
    /// [`release_slow_then`](Self::release_slow_then), out of line. Either
    /// way this is `hooks::lock_release` followed by `unlock`.
    #[inline(always)]
    #[track_caller]
    fn release_then(&self, mut unlock: impl FnMut()) {
        if !ENABLED || engine::release_fast(&self.map) {
            unlock();
        } else {
            self.release_slow_then(Location::caller(), unlock);
        }
    }

    /// [`release_then`](Self::release_then) when the fast path declined:
    /// the rest of the release hook, then `unlock`, also if the hook unwinds.
    #[cold]
    #[inline(never)]
    fn release_slow_then(&self, loc: &'static Location<'static>, unlock: impl FnMut()) {
        let _unlock = Finally(unlock);
        engine::release_slow(&self.map, loc);
    }

    /// A trylock: the hook only after success. `unlock` undoes `try_lock`.
    #[inline(always)]
    #[track_caller]
    fn acquire_try(
        &self,
        subclass: u32,
        read: Read,
        nest: Option<&LockdepMap>,
        try_lock: impl FnOnce() -> bool,
        unlock: impl FnMut(),
    ) -> bool {
        let ok = try_lock();
        if ok {
            // Taken already: if the hook unwinds, nobody will own the lock.
            let undo = Finally(unlock);
            self.announce(subclass, true, read, nest);
            std::mem::forget(undo);
        }
        ok
    }

    /// A timed acquisition: it may wait, so it is validated like a blocking
    /// one (the kernel's `mutex_lock_interruptible`); a timeout releases again.
    #[inline(always)]
    #[track_caller]
    fn acquire_timed(&self, subclass: u32, read: Read, attempt: impl FnOnce() -> bool) -> bool {
        self.announce(subclass, false, read, None);
        let ok = attempt();
        if ok {
            hooks::lock_acquired(&self.map);
        } else {
            hooks::lock_release(&self.map);
        }
        ok
    }

    /// Whether the safe layer already ran the acquire hook for this lock's
    /// next raw acquisition on this thread (see [`prehook`]); clears the mark.
    #[inline(always)]
    fn take_prehooked(&self) -> bool {
        ENABLED && PREHOOKED.try_with(|p| p.get() == self.map.addr() && p.replace(0) != 0).unwrap_or(false)
    }
}

/// Whether an acquisition would wait: `try_lock` fails. A success is undone
/// at once with `unlock` (a look at the lock's word, nothing more).
fn would_wait(try_lock: impl FnOnce() -> bool, unlock: impl FnOnce()) -> bool {
    let taken = try_lock();
    if taken {
        unlock();
    }
    !taken
}

/// Runs its closure when dropped, also while unwinding.
struct Finally<F: FnMut()>(F);

impl<F: FnMut()> Drop for Finally<F> {
    #[inline(always)]
    fn drop(&mut self) {
        (self.0)()
    }
}

thread_local! {
    /// The map address whose next raw acquisition on this thread was already
    /// announced to the validator by the safe layer (reentrant mutexes only).
    static PREHOOKED: Cell<usize> = const { Cell::new(0) };
}

/// Marks that the caller already ran the acquire hook of `raw`'s next raw
/// acquisition on this thread (which `lock_api`'s reentrant mutex makes
/// through the raw trait, where the caller's location is lost). The raw
/// acquisition then skips its own hook. Only used with validation compiled in.
pub(super) fn prehook<R>(raw: &RawLockdep<R>) {
    let _ = PREHOOKED.try_with(|p| p.set(raw.map.addr()));
}

impl<R> RawLockdep<R> {
    /// A reentrant mutex's outermost blocking acquisition: the acquire hook
    /// at the caller's location (undone if it unwinds), then [`prehook`].
    #[track_caller]
    pub(super) fn announce_reentrant(&self) {
        self.announce(0, false, Read::Exclusive, None);
        prehook(self);
    }
}

/// Forgets a [`prehook`] mark that no raw acquisition consumed.
pub(super) fn clear_prehook() {
    let _ = PREHOOKED.try_with(|p| p.set(0));
}

// ---------------------------------------------------------------------------
// Temporary releases: re-acquiring with the annotations the lock was held with.

/// How many annotated releases a thread remembers for a trait-path re-lock.
const RELOCK_SLOTS: usize = 8;

/// `RELOCK_STATE` bit: this thread may hold an entry with annotations (set
/// by every annotated acquisition made here; recomputed at each unlock that
/// looks).
const MAY_HOLD_ANNOTATED: u8 = 1;
/// `RELOCK_STATE` bit: `RELOCK` has an entry.
const HAS_RELOCK: u8 = 2;

thread_local! {
    /// Locks this thread released through a `lock_api` unlock method while
    /// holding them with annotations (a subclass, a nest lock), by map
    /// address, oldest first. `lock_api`'s `*Guard::unlocked` releases and
    /// re-locks through the raw traits, which otherwise know nothing of the
    /// guard's annotations: the trait's next blocking acquisition of the same
    /// lock takes them from here. An entry goes away when it is used, when
    /// the lock is released again without annotations, or when newer entries
    /// push it out. (So a raw-trait acquisition made right after an annotated
    /// guard was dropped, with no plain release of that lock in between, is
    /// taken as such a re-lock too: it cannot be told apart at this layer.)
    static RELOCK: RefCell<[Option<(usize, HeldAnnotation)>; RELOCK_SLOTS]> =
        const { RefCell::new([None; RELOCK_SLOTS]) };
    /// [`MAY_HOLD_ANNOTATED`] | [`HAS_RELOCK`]: when 0 (no annotated lock
    /// taken since the last look, nothing remembered), an unlock costs one
    /// thread-local load here.
    static RELOCK_STATE: Cell<u8> = const { Cell::new(0) };
}

#[inline(always)]
fn relock_state() -> u8 {
    RELOCK_STATE.try_with(Cell::get).unwrap_or(0)
}

fn set_relock_bit(bit: u8, on: bool) {
    let _ = RELOCK_STATE.try_with(|s| s.set(if on { s.get() | bit } else { s.get() & !bit }));
}

/// Notes an annotated acquisition (see [`MAY_HOLD_ANNOTATED`]).
#[cold]
#[inline(never)]
fn note_annotated() {
    set_relock_bit(MAY_HOLD_ANNOTATED, true);
}

/// Removes and returns the `RELOCK` entry of `addr`, keeping the others in order.
fn take_relock_entry(
    slots: &mut [Option<(usize, HeldAnnotation)>; RELOCK_SLOTS],
    addr: usize,
) -> Option<HeldAnnotation> {
    let i = slots.iter().position(|s| s.is_some_and(|(a, _)| a == addr))?;
    let held = slots[i].take().map(|(_, h)| h);
    slots[i..].rotate_left(1);
    held
}

/// Runs `f` on this thread's `RELOCK` entries and updates [`HAS_RELOCK`].
fn with_relock<T>(f: impl FnOnce(&mut [Option<(usize, HeldAnnotation)>; RELOCK_SLOTS]) -> Option<T>) -> Option<T> {
    RELOCK
        .try_with(|r| {
            let mut slots = r.try_borrow_mut().ok()?;
            let out = f(&mut slots);
            set_relock_bit(HAS_RELOCK, slots[0].is_some());
            out
        })
        .ok()
        .flatten()
}

/// Before a trait-path unlock of `map`: remembers the annotations it is held
/// with if they are not plain, forgets an older entry of it otherwise.
#[inline(always)]
fn note_unlock(map: &LockdepMap) {
    if ENABLED && relock_state() != 0 {
        note_unlock_slow(map);
    }
}

#[cold]
#[inline(never)]
fn note_unlock_slow(map: &LockdepMap) {
    let Some((held, others)) = engine::unlock_annotations(map) else { return };
    set_relock_bit(MAY_HOLD_ANNOTATED, others);
    let addr = map.addr();
    match held {
        Some(held) => {
            with_relock(|slots| {
                take_relock_entry(slots, addr);
                let free = slots.iter().position(Option::is_none).unwrap_or_else(|| {
                    slots.rotate_left(1); // full: the oldest goes
                    RELOCK_SLOTS - 1
                });
                slots[free] = Some((addr, held));
                Some(())
            });
        }
        None if relock_state() & HAS_RELOCK != 0 => {
            with_relock(|slots| take_relock_entry(slots, addr));
        }
        None => {}
    }
}

impl<R> RawLockdep<R> {
    /// For a trait-path blocking acquisition: the annotations a
    /// `*Guard::unlocked` released this lock with, if this is its re-lock.
    #[inline(always)]
    fn take_relock(&self) -> Option<HeldAnnotation> {
        if !ENABLED || relock_state() & HAS_RELOCK == 0 {
            return None;
        }
        self.take_relock_slow()
    }

    #[cold]
    #[inline(never)]
    fn take_relock_slow(&self) -> Option<HeldAnnotation> {
        let held = with_relock(|slots| take_relock_entry(slots, self.map.addr()))?;
        // Held already: a recursive acquisition, not the end of a release.
        // (Under a nest lock, same-class entries are merged and may be held
        // any number of times: nothing to tell apart there.)
        (held.nest_lock().is_some() || engine::is_held(&self.map, None) != Some(true)).then_some(held)
    }

    /// A blocking re-acquisition with the annotations `held` the lock was
    /// held with before a temporary release, in mode `read`; otherwise like
    /// `acquire_blocking` (undone if the hook unwinds).
    #[track_caller]
    fn reacquire_blocking(
        &self,
        held: HeldAnnotation,
        read: Read,
        try_lock: impl FnOnce() -> bool,
        lock: impl FnOnce(),
    ) {
        let loc = Location::caller();
        let undo = Finally(|| hooks::lock_release(&self.map));
        note_annotated();
        engine::reacquire(&self.map, held, read, loc);
        std::mem::forget(undo);
        if !try_lock() {
            hooks::lock_contended(&self.map);
            lock();
        }
        hooks::lock_acquired(&self.map);
    }
}

// ---------------------------------------------------------------------------
// Mutexes.

impl<R: RawMutex> RawLockdep<R> {
    /// Locks exclusively, validating the acquisition at the caller's location
    /// with `subclass` and, if given, under the nest lock `nest`.
    #[inline(always)]
    #[track_caller]
    pub fn lock_with(&self, subclass: u32, nest: Option<&LockdepMap>) {
        let taken = self.lock_first(
            subclass,
            Read::Exclusive,
            nest,
            || self.inner.try_lock(),
            || {
                // SAFETY: only called after the trylock succeeded.
                unsafe { self.inner.unlock() }
            },
            || self.inner.lock(),
        );
        if !taken {
            self.lock_with_waiting(subclass, nest);
        }
    }

    /// [`lock_with`](Self::lock_with) when the lock was not free (held by
    /// another thread, or by this one: then it is refused), or with a nest
    /// lock: the acquire hook before blocking.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_with_waiting(&self, subclass: u32, nest: Option<&LockdepMap>) {
        self.refuse_self_deadlock(|| self.inner.is_locked(), subclass, Read::Exclusive, nest, false, || true);
        self.acquire_blocking(subclass, Read::Exclusive, nest, || self.inner.try_lock(), || self.inner.lock());
    }

    /// Tries to lock exclusively; the acquisition is recorded (as a trylock,
    /// at the caller's location) only if it succeeded.
    #[inline]
    #[track_caller]
    pub fn try_lock_with(&self, subclass: u32, nest: Option<&LockdepMap>) -> bool {
        self.acquire_try(
            subclass,
            Read::Exclusive,
            nest,
            || self.inner.try_lock(),
            || {
                // SAFETY: only called after the trylock succeeded.
                unsafe { self.inner.unlock() }
            },
        )
    }

    /// Re-locks after a temporary release (a condvar wait): validated at the
    /// caller's location with the annotations `held` the lock was held with
    /// ([`held_annotation`](crate::engine::held_annotation) before the
    /// release), or as a plain [`lock_with`](Self::lock_with)`(0, None)` when
    /// there are none.
    #[inline]
    #[track_caller]
    pub(super) fn relock(&self, held: Option<HeldAnnotation>) {
        match held {
            Some(held) => {
                self.reacquire_blocking(held, Read::Exclusive, || self.inner.try_lock(), || self.inner.lock())
            }
            None => self.lock_with(0, None),
        }
    }

    /// Releases in the validator, then unlocks (also if the release hook
    /// unwinds with a report under `Action::Panic`).
    ///
    /// # Safety
    ///
    /// The lock must be held by the current thread (as for [`RawMutex::unlock`]).
    #[inline]
    #[track_caller]
    pub unsafe fn unlock_hooked(&self) {
        self.release_then(|| {
            // SAFETY: the caller guarantees the current thread holds the lock.
            unsafe { self.inner.unlock() }
        });
    }
}

impl<R: RawMutexTimed> RawLockdep<R> {
    /// Locks with a timeout, validated like a blocking acquisition at the
    /// caller's location; a timeout releases it in the validator again.
    #[inline]
    #[track_caller]
    pub fn try_lock_for_with(&self, subclass: u32, timeout: R::Duration) -> bool {
        self.acquire_timed(subclass, Read::Exclusive, || self.inner.try_lock_for(timeout))
    }

    /// Locks with a deadline; see [`RawLockdep::try_lock_for_with`].
    #[inline]
    #[track_caller]
    pub fn try_lock_until_with(&self, subclass: u32, deadline: R::Instant) -> bool {
        self.acquire_timed(subclass, Read::Exclusive, || self.inner.try_lock_until(deadline))
    }
}

// SAFETY: every method delegates to `R`'s, which upholds the trait's contract;
// the hooks only record what happens.
unsafe impl<R: RawMutex> RawMutex for RawLockdep<R> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawLockdep::new(R::INIT, LockdepMap::new("lockdep::RawLockdep::INIT", &INIT_KEY));

    type GuardMarker = GuardNoSend;

    #[inline]
    fn lock(&self) {
        if self.take_prehooked() {
            self.inner.lock();
        } else if let Some(held) = self.take_relock() {
            self.reacquire_blocking(held, Read::Exclusive, || self.inner.try_lock(), || self.inner.lock());
        } else {
            self.lock_with(0, None);
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        if self.take_prehooked() { self.inner.try_lock() } else { self.try_lock_with(0, None) }
    }

    #[inline]
    unsafe fn unlock(&self) {
        note_unlock(&self.map);
        // SAFETY: forwarded from the caller.
        unsafe { self.unlock_hooked() }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }
}

// SAFETY: delegates to `R`.
unsafe impl<R: RawMutexFair> RawMutexFair for RawLockdep<R> {
    #[inline]
    unsafe fn unlock_fair(&self) {
        note_unlock(&self.map);
        self.release_then(|| {
            // SAFETY: forwarded from the caller.
            unsafe { self.inner.unlock_fair() }
        });
    }

    #[inline]
    unsafe fn bump(&self) {
        // The lock stays held for the validator across a bump.
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.bump() }
    }
}

// SAFETY: delegates to `R`.
unsafe impl<R: RawMutexTimed> RawMutexTimed for RawLockdep<R> {
    type Duration = R::Duration;
    type Instant = R::Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Self::Duration) -> bool {
        self.try_lock_for_with(0, timeout)
    }

    #[inline]
    fn try_lock_until(&self, timeout: Self::Instant) -> bool {
        self.try_lock_until_with(0, timeout)
    }
}

// ---------------------------------------------------------------------------
// Reader-writer locks.

impl<R: RawRwLock> RawLockdep<R> {
    /// Locks for read as [`Read::Shared`] (a reader that queues behind a
    /// waiting writer, like rwsem `down_read` and parking_lot's `read`).
    #[inline]
    #[track_caller]
    pub fn lock_shared_with(&self, subclass: u32, nest: Option<&LockdepMap>) {
        // The raw lock first, as `lock_with` does: a read the trylock takes
        // cannot be this thread's self-deadlock (no writer holds the lock),
        // and one the fast path declines is let go and made as below.
        let taken = self.lock_first(
            subclass,
            Read::Shared,
            nest,
            || self.inner.try_lock_shared(),
            || {
                // SAFETY: only called after the trylock succeeded.
                unsafe { self.inner.unlock_shared() }
            },
            || self.inner.lock_shared(),
        );
        if !taken {
            self.lock_shared_with_waiting(subclass, nest);
        }
    }

    /// [`lock_shared_with`](Self::lock_shared_with) when the trylock failed
    /// (a writer holds or waits for the lock, perhaps this thread), or with
    /// a nest lock: the refusal, then the acquire hook before blocking.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_shared_with_waiting(&self, subclass: u32, nest: Option<&LockdepMap>) {
        // Only this thread's own write lock blocks it for certain (not a
        // read: read after read is reported, not refused).
        self.refuse_self_deadlock(
            || self.inner.is_locked_exclusive(),
            subclass,
            Read::Shared,
            nest,
            true,
            || {
                would_wait(
                    || self.inner.try_lock_shared(),
                    // SAFETY: only called after the trylock succeeded.
                    || unsafe { self.inner.unlock_shared() },
                )
            },
        );
        self.acquire_blocking(
            subclass,
            Read::Shared,
            nest,
            || self.inner.try_lock_shared(),
            || self.inner.lock_shared(),
        );
    }

    /// Tries to lock for read ([`Read::Shared`]); recorded only on success.
    #[inline]
    #[track_caller]
    pub fn try_lock_shared_with(&self, subclass: u32) -> bool {
        self.acquire_try(
            subclass,
            Read::Shared,
            None,
            || self.inner.try_lock_shared(),
            || {
                // SAFETY: only called after the trylock succeeded.
                unsafe { self.inner.unlock_shared() }
            },
        )
    }

    /// Locks for write ([`Read::Exclusive`]).
    #[inline]
    #[track_caller]
    pub fn lock_exclusive_with(&self, subclass: u32, nest: Option<&LockdepMap>) {
        // The raw lock first, as `lock_with` does: a write the trylock takes
        // cannot be this thread's self-deadlock (nobody holds the lock).
        let taken = self.lock_first(
            subclass,
            Read::Exclusive,
            nest,
            || self.inner.try_lock_exclusive(),
            || {
                // SAFETY: only called after the trylock succeeded.
                unsafe { self.inner.unlock_exclusive() }
            },
            || self.inner.lock_exclusive(),
        );
        if !taken {
            self.lock_exclusive_with_waiting(subclass, nest);
        }
    }

    /// [`lock_exclusive_with`](Self::lock_exclusive_with) when the lock was
    /// not free (held by another thread, or by this one: then it is
    /// refused), or with a nest lock: the acquire hook before blocking.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_exclusive_with_waiting(&self, subclass: u32, nest: Option<&LockdepMap>) {
        self.refuse_self_deadlock(|| self.inner.is_locked(), subclass, Read::Exclusive, nest, false, || true);
        self.acquire_blocking(
            subclass,
            Read::Exclusive,
            nest,
            || self.inner.try_lock_exclusive(),
            || self.inner.lock_exclusive(),
        );
    }

    /// Tries to lock for write; recorded only on success.
    #[inline]
    #[track_caller]
    pub fn try_lock_exclusive_with(&self, subclass: u32) -> bool {
        self.acquire_try(
            subclass,
            Read::Exclusive,
            None,
            || self.inner.try_lock_exclusive(),
            || {
                // SAFETY: only called after the trylock succeeded.
                unsafe { self.inner.unlock_exclusive() }
            },
        )
    }
}

impl<R: RawRwLockRecursive> RawLockdep<R> {
    /// Locks for read as [`Read::SharedRecursive`] (a reader that only a
    /// writer *holder* blocks, like rwlock `read_lock`).
    #[inline]
    #[track_caller]
    pub fn lock_shared_recursive_with(&self, subclass: u32) {
        // The raw lock first, as `lock_shared_with`.
        let taken = self.lock_first(
            subclass,
            Read::SharedRecursive,
            None,
            || self.inner.try_lock_shared_recursive(),
            || {
                // SAFETY: only called after the trylock succeeded.
                unsafe { self.inner.unlock_shared() }
            },
            || self.inner.lock_shared_recursive(),
        );
        if !taken {
            self.lock_shared_recursive_with_waiting(subclass);
        }
    }

    /// [`lock_shared_recursive_with`](Self::lock_shared_recursive_with)
    /// when the trylock failed (a writer holds the lock, perhaps this
    /// thread): the refusal, then the acquire hook before blocking.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_shared_recursive_with_waiting(&self, subclass: u32) {
        self.refuse_self_deadlock(
            || self.inner.is_locked_exclusive(),
            subclass,
            Read::SharedRecursive,
            None,
            true,
            || {
                would_wait(
                    || self.inner.try_lock_shared_recursive(),
                    // SAFETY: only called after the trylock succeeded.
                    || unsafe { self.inner.unlock_shared() },
                )
            },
        );
        self.acquire_blocking(
            subclass,
            Read::SharedRecursive,
            None,
            || self.inner.try_lock_shared_recursive(),
            || self.inner.lock_shared_recursive(),
        );
    }

    /// Tries to lock as a recursive reader; recorded only on success.
    #[inline]
    #[track_caller]
    pub fn try_lock_shared_recursive_with(&self, subclass: u32) -> bool {
        self.acquire_try(
            subclass,
            Read::SharedRecursive,
            None,
            || self.inner.try_lock_shared_recursive(),
            || {
                // SAFETY: only called after the trylock succeeded.
                unsafe { self.inner.unlock_shared() }
            },
        )
    }
}

impl<R: RawRwLockUpgrade> RawLockdep<R> {
    /// Locks for an upgradable read. It is validated as [`Read::Exclusive`]:
    /// an upgradable reader excludes writers and other upgradable readers, and
    /// queues behind a waiting writer, so every order that can deadlock an
    /// exclusive lock can deadlock it too.
    #[inline]
    #[track_caller]
    pub fn lock_upgradable_with(&self, subclass: u32) {
        // The raw lock first, as `lock_exclusive_with`.
        let taken = self.lock_first(
            subclass,
            Read::Exclusive,
            None,
            || self.inner.try_lock_upgradable(),
            || {
                // SAFETY: only called after the trylock succeeded.
                unsafe { self.inner.unlock_upgradable() }
            },
            || self.inner.lock_upgradable(),
        );
        if !taken {
            self.lock_upgradable_with_waiting(subclass);
        }
    }

    /// [`lock_upgradable_with`](Self::lock_upgradable_with) when the trylock
    /// failed (a writer or another upgradable reader holds the lock, perhaps
    /// this thread): the refusal, then the acquire hook before blocking.
    #[cold]
    #[inline(never)]
    #[track_caller]
    fn lock_upgradable_with_waiting(&self, subclass: u32) {
        // Readers may share with an upgradable read; another upgradable
        // read or a write (both held as exclusive) may not.
        self.refuse_self_deadlock(
            || self.inner.is_locked(),
            subclass,
            Read::Exclusive,
            None,
            true,
            || {
                would_wait(
                    || self.inner.try_lock_upgradable(),
                    // SAFETY: only called after the trylock succeeded.
                    || unsafe { self.inner.unlock_upgradable() },
                )
            },
        );
        self.acquire_blocking(
            subclass,
            Read::Exclusive,
            None,
            || self.inner.try_lock_upgradable(),
            || self.inner.lock_upgradable(),
        );
    }

    /// Tries to lock for an upgradable read; recorded only on success.
    #[inline]
    #[track_caller]
    pub fn try_lock_upgradable_with(&self, subclass: u32) -> bool {
        self.acquire_try(
            subclass,
            Read::Exclusive,
            None,
            || self.inner.try_lock_upgradable(),
            || {
                // SAFETY: only called after the trylock succeeded.
                unsafe { self.inner.unlock_upgradable() }
            },
        )
    }
}

// SAFETY: delegates to `R`.
unsafe impl<R: RawRwLock> RawRwLock for RawLockdep<R> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = RawLockdep::new(R::INIT, LockdepMap::new("lockdep::RawLockdep::INIT", &INIT_KEY));

    type GuardMarker = GuardNoSend;

    #[inline]
    fn lock_shared(&self) {
        match self.take_relock() {
            Some(held) => self.reacquire_blocking(
                held,
                Read::Shared,
                || self.inner.try_lock_shared(),
                || self.inner.lock_shared(),
            ),
            None => self.lock_shared_with(0, None),
        }
    }

    #[inline]
    fn try_lock_shared(&self) -> bool {
        self.try_lock_shared_with(0)
    }

    #[inline]
    unsafe fn unlock_shared(&self) {
        note_unlock(&self.map);
        self.release_then(|| {
            // SAFETY: forwarded from the caller.
            unsafe { self.inner.unlock_shared() }
        });
    }

    #[inline]
    fn lock_exclusive(&self) {
        match self.take_relock() {
            Some(held) => self.reacquire_blocking(
                held,
                Read::Exclusive,
                || self.inner.try_lock_exclusive(),
                || self.inner.lock_exclusive(),
            ),
            None => self.lock_exclusive_with(0, None),
        }
    }

    #[inline]
    fn try_lock_exclusive(&self) -> bool {
        self.try_lock_exclusive_with(0)
    }

    #[inline]
    unsafe fn unlock_exclusive(&self) {
        note_unlock(&self.map);
        self.release_then(|| {
            // SAFETY: forwarded from the caller.
            unsafe { self.inner.unlock_exclusive() }
        });
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.inner.is_locked()
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        self.inner.is_locked_exclusive()
    }
}

// SAFETY: delegates to `R`.
unsafe impl<R: RawRwLockFair> RawRwLockFair for RawLockdep<R> {
    #[inline]
    unsafe fn unlock_shared_fair(&self) {
        note_unlock(&self.map);
        self.release_then(|| {
            // SAFETY: forwarded from the caller.
            unsafe { self.inner.unlock_shared_fair() }
        });
    }

    #[inline]
    unsafe fn unlock_exclusive_fair(&self) {
        note_unlock(&self.map);
        self.release_then(|| {
            // SAFETY: forwarded from the caller.
            unsafe { self.inner.unlock_exclusive_fair() }
        });
    }

    #[inline]
    unsafe fn bump_shared(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.bump_shared() }
    }

    #[inline]
    unsafe fn bump_exclusive(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.bump_exclusive() }
    }
}

// SAFETY: delegates to `R`.
unsafe impl<R: RawRwLockDowngrade> RawRwLockDowngrade for RawLockdep<R> {
    #[inline]
    unsafe fn downgrade(&self) {
        hooks::lock_downgrade(&self.map);
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.downgrade() }
    }
}

// SAFETY: delegates to `R`.
unsafe impl<R: RawRwLockTimed> RawRwLockTimed for RawLockdep<R> {
    type Duration = R::Duration;
    type Instant = R::Instant;

    #[inline]
    fn try_lock_shared_for(&self, timeout: Self::Duration) -> bool {
        self.acquire_timed(0, Read::Shared, || self.inner.try_lock_shared_for(timeout))
    }

    #[inline]
    fn try_lock_shared_until(&self, timeout: Self::Instant) -> bool {
        self.acquire_timed(0, Read::Shared, || self.inner.try_lock_shared_until(timeout))
    }

    #[inline]
    fn try_lock_exclusive_for(&self, timeout: Self::Duration) -> bool {
        self.acquire_timed(0, Read::Exclusive, || self.inner.try_lock_exclusive_for(timeout))
    }

    #[inline]
    fn try_lock_exclusive_until(&self, timeout: Self::Instant) -> bool {
        self.acquire_timed(0, Read::Exclusive, || self.inner.try_lock_exclusive_until(timeout))
    }
}

// SAFETY: delegates to `R`.
unsafe impl<R: RawRwLockRecursive> RawRwLockRecursive for RawLockdep<R> {
    #[inline]
    fn lock_shared_recursive(&self) {
        self.lock_shared_recursive_with(0);
    }

    #[inline]
    fn try_lock_shared_recursive(&self) -> bool {
        self.try_lock_shared_recursive_with(0)
    }
}

// SAFETY: delegates to `R`.
unsafe impl<R: RawRwLockRecursiveTimed> RawRwLockRecursiveTimed for RawLockdep<R> {
    #[inline]
    fn try_lock_shared_recursive_for(&self, timeout: Self::Duration) -> bool {
        self.acquire_timed(0, Read::SharedRecursive, || self.inner.try_lock_shared_recursive_for(timeout))
    }

    #[inline]
    fn try_lock_shared_recursive_until(&self, timeout: Self::Instant) -> bool {
        self.acquire_timed(0, Read::SharedRecursive, || self.inner.try_lock_shared_recursive_until(timeout))
    }
}

// SAFETY: delegates to `R`. Upgrading keeps the validator's exclusive entry
// (an upgradable read is validated as exclusive), so it needs no hook.
unsafe impl<R: RawRwLockUpgrade> RawRwLockUpgrade for RawLockdep<R> {
    #[inline]
    fn lock_upgradable(&self) {
        match self.take_relock() {
            Some(held) => self.reacquire_blocking(
                held,
                Read::Exclusive,
                || self.inner.try_lock_upgradable(),
                || self.inner.lock_upgradable(),
            ),
            None => self.lock_upgradable_with(0),
        }
    }

    #[inline]
    fn try_lock_upgradable(&self) -> bool {
        self.try_lock_upgradable_with(0)
    }

    #[inline]
    unsafe fn unlock_upgradable(&self) {
        note_unlock(&self.map);
        self.release_then(|| {
            // SAFETY: forwarded from the caller.
            unsafe { self.inner.unlock_upgradable() }
        });
    }

    #[inline]
    unsafe fn upgrade(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.upgrade() }
    }

    #[inline]
    unsafe fn try_upgrade(&self) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.try_upgrade() }
    }
}

// SAFETY: delegates to `R`.
unsafe impl<R: RawRwLockUpgradeFair> RawRwLockUpgradeFair for RawLockdep<R> {
    #[inline]
    unsafe fn unlock_upgradable_fair(&self) {
        note_unlock(&self.map);
        self.release_then(|| {
            // SAFETY: forwarded from the caller.
            unsafe { self.inner.unlock_upgradable_fair() }
        });
    }

    #[inline]
    unsafe fn bump_upgradable(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.bump_upgradable() }
    }
}

// SAFETY: delegates to `R`.
unsafe impl<R: RawRwLockUpgradeDowngrade> RawRwLockUpgradeDowngrade for RawLockdep<R> {
    #[inline]
    unsafe fn downgrade_upgradable(&self) {
        // Exclusive (upgradable) -> shared reader.
        hooks::lock_downgrade(&self.map);
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.downgrade_upgradable() }
    }

    #[inline]
    unsafe fn downgrade_to_upgradable(&self) {
        // Writer -> upgradable: both are validated as exclusive.
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.downgrade_to_upgradable() }
    }
}

// SAFETY: delegates to `R`.
unsafe impl<R: RawRwLockUpgradeTimed> RawRwLockUpgradeTimed for RawLockdep<R> {
    #[inline]
    fn try_lock_upgradable_for(&self, timeout: Self::Duration) -> bool {
        self.acquire_timed(0, Read::Exclusive, || self.inner.try_lock_upgradable_for(timeout))
    }

    #[inline]
    fn try_lock_upgradable_until(&self, timeout: Self::Instant) -> bool {
        self.acquire_timed(0, Read::Exclusive, || self.inner.try_lock_upgradable_until(timeout))
    }

    #[inline]
    unsafe fn try_upgrade_for(&self, timeout: Self::Duration) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.try_upgrade_for(timeout) }
    }

    #[inline]
    unsafe fn try_upgrade_until(&self, timeout: Self::Instant) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.try_upgrade_until(timeout) }
    }
}

impl<R> std::fmt::Debug for RawLockdep<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawLockdep").field("map", &self.map).finish_non_exhaustive()
    }
}

impl<R> crate::assert::AsLockdepMap for RawLockdep<R> {
    fn as_lockdep_map(&self) -> &LockdepMap {
        self.map()
    }
}
