//! The pseudo-lock of a waitable object (condvar, channel, barrier, once
//! cell, thread handle) and the nesting depths that keep bodies of one
//! class apart.
//!
//! A waitable object's class is its kind and construction site
//! (`"Condvar@src/pool.rs:12:20"`), like a facade lock's. Waits never hold
//! the pseudo-lock past the call and events never hold it at all, so every
//! object made at one site shares one map, made and leaked on first use
//! (one per site and kind) and cached in the object: compiled out,
//! [`WaitSite`] is zero-sized and nothing is made.

use std::panic::Location;

use crate::map::LockdepMap;

#[cfg(lockdep_on)]
use std::sync::atomic::{AtomicPtr, Ordering};

/// The map handed out when validation is compiled out (zero-sized, never read).
#[cfg(not(lockdep_on))]
static OFF: LockdepMap = LockdepMap::new("lockdep::wait", &OFF_KEY);
#[cfg(not(lockdep_on))]
static OFF_KEY: crate::LockClassKey = crate::LockClassKey::new();

/// What a waitable object is known by: its kind and construction site, and
/// the shared map of that pair once used.
pub(crate) struct WaitSite {
    #[cfg(lockdep_on)]
    kind: &'static str,
    #[cfg(lockdep_on)]
    site: &'static Location<'static>,
    /// Null until the first wait or event; then the site's shared map.
    #[cfg(lockdep_on)]
    map: AtomicPtr<LockdepMap>,
}

#[cfg(not(lockdep_on))]
const _: () = assert!(std::mem::size_of::<WaitSite>() == 0);

impl WaitSite {
    /// A waitable object of `kind` whose class is `site`.
    #[allow(unused_variables)]
    #[inline(always)]
    pub(crate) const fn new(kind: &'static str, site: &'static Location<'static>) -> Self {
        WaitSite {
            #[cfg(lockdep_on)]
            kind,
            #[cfg(lockdep_on)]
            site,
            #[cfg(lockdep_on)]
            map: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The pseudo-lock (made now if this is the site's first use).
    #[inline(always)]
    pub(crate) fn map(&self) -> &'static LockdepMap {
        #[cfg(lockdep_on)]
        {
            let p = self.map.load(Ordering::Acquire);
            if p.is_null() {
                let m = site_map(self.kind, self.site);
                self.map.store(m as *const LockdepMap as *mut LockdepMap, Ordering::Release);
                return m;
            }
            // SAFETY: a non-null pointer was stored from a leaked
            // `&'static LockdepMap` above and is never freed.
            unsafe { &*p }
        }
        #[cfg(not(lockdep_on))]
        {
            &OFF
        }
    }

    /// A wait on this object at `loc` (for closures `#[track_caller]`
    /// cannot reach).
    #[inline(always)]
    pub(crate) fn wait_at(&self, loc: &'static Location<'static>) {
        if crate::ENABLED {
            wait_on(self.map(), 0, loc);
        }
    }

    /// The event of this object at the caller's site ([`lock_event`](crate::lock_event)).
    #[inline(always)]
    #[track_caller]
    pub(crate) fn event(&self) {
        if crate::ENABLED {
            crate::engine::event(self.map(), 0, None, Location::caller());
        }
    }
}

/// A wait on `map` (its class for `subclass`) at `loc`: its acquisition and
/// release. The release also runs if the acquisition's report unwinds
/// (`Action::Panic`), so that no pseudo-lock stays held.
#[inline(always)]
pub(crate) fn wait_on(map: &LockdepMap, subclass: u32, loc: &'static Location<'static>) {
    struct Release<'a>(&'a LockdepMap, &'static Location<'static>);
    impl Drop for Release<'_> {
        #[inline(always)]
        fn drop(&mut self) {
            crate::engine::release(self.0, self.1);
        }
    }
    let release = Release(map, loc);
    crate::engine::acquire(map, subclass, false, crate::Read::Exclusive, true, None, loc);
    drop(release);
}

/// The one map of `kind` made at `site`: a leaked static key per pair, so
/// that two kinds made on one line (a channel's two directions) are two
/// classes.
#[cfg(lockdep_on)]
fn site_map(kind: &'static str, site: &'static Location<'static>) -> &'static LockdepMap {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Maps = Mutex<HashMap<(&'static str, &'static str, u32, u32), &'static LockdepMap>>;
    static MAPS: OnceLock<Maps> = OnceLock::new();
    // A plain std mutex, never seen by the validator; nothing under it
    // re-enters it (marking the key takes the engine's own plain lock).
    let mut maps = MAPS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    maps.entry((kind, site.file(), site.line(), site.column())).or_insert_with(|| {
        let name: &'static str = Box::leak(format!("{kind}@{site}").into_boxed_str());
        let key: &'static crate::LockClassKey = Box::leak(Box::new(crate::LockClassKey::new()));
        let map: &'static LockdepMap = Box::leak(Box::new(LockdepMap::new(name, key)));
        crate::engine::mark_wait(map);
        map
    })
}

/// Subclasses are 0..8: a body nested deeper is not annotated.
#[cfg(lockdep_on)]
pub(crate) const MAX_NESTING: u32 = crate::MAX_SUBCLASSES;

#[cfg(lockdep_on)]
thread_local! {
    /// How many lockdep-aware thread bodies this thread runs inside (0 on a
    /// thread not spawned by `lockdep::thread`).
    static THREAD_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The current thread's depth of lockdep-aware thread bodies.
#[cfg(lockdep_on)]
pub(crate) fn thread_depth() -> u32 {
    THREAD_DEPTH.try_with(std::cell::Cell::get).unwrap_or(0)
}

/// Sets the current thread's depth (its body's, for its whole life).
#[cfg(lockdep_on)]
pub(crate) fn set_thread_depth(depth: u32) {
    let _ = THREAD_DEPTH.try_with(|d| d.set(depth));
}

#[cfg(lockdep_on)]
thread_local! {
    /// The once cells this thread is initialising, innermost last, with the
    /// subclass each one's pseudo-lock is held with.
    static INITS: std::cell::RefCell<Vec<(usize, u32)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `run`, the initialisation of the once cell at `instance` (or a wait
/// for another thread's), holding the cell's pseudo-lock at `loc`: locks
/// held here come before the cell, locks its initialiser takes come after
/// it. Nested initialisations of cells of one class use one subclass per
/// level; initialising a cell again from its own initialiser would
/// deadlock, and is reported, then refused with a panic.
#[cfg(lockdep_on)]
pub(crate) fn init_section<R>(
    site: &WaitSite,
    kind: &str,
    instance: usize,
    loc: &'static Location<'static>,
    run: impl FnOnce() -> R,
) -> R {
    let map = site.map();
    let (again, depth) = INITS
        .try_with(|s| {
            let s = s.borrow();
            (s.iter().find(|e| e.0 == instance).map(|e| e.1), s.len() as u32)
        })
        .unwrap_or((None, MAX_NESTING));
    if let Some(sub) = again {
        crate::engine::might_lock_nested(map, sub, loc);
        panic!("lockdep: the {kind} at {loc} is initialised again from its own initialisation, which would deadlock");
    }
    if depth >= MAX_NESTING {
        return run();
    }
    let _ = INITS.try_with(|s| s.borrow_mut().push((instance, depth)));
    /// Ends the section, also when the initialiser (or the acquisition's
    /// report, under `Action::Panic`) unwinds.
    struct End(&'static LockdepMap, &'static Location<'static>);
    impl Drop for End {
        fn drop(&mut self) {
            let _ = INITS.try_with(|s| s.borrow_mut().pop());
            crate::engine::release(self.0, self.1);
        }
    }
    let _end = End(map, loc);
    crate::engine::acquire(map, depth, false, crate::Read::Exclusive, true, None, loc);
    run()
}

/// Compiled out: just `run`.
#[cfg(not(lockdep_on))]
#[inline(always)]
pub(crate) fn init_section<R>(
    _: &WaitSite,
    _: &str,
    _: usize,
    _: &'static Location<'static>,
    run: impl FnOnce() -> R,
) -> R {
    run()
}

/// For a waitable object one call both waits on and is an event of (a
/// barrier's wait is an arrival too; a channel's blocking receive waits for
/// data and frees space): which thread first held each lock instance at
/// such a call, by instance address.
///
/// The locks held at such a call are the context of its event *and* of its
/// wait, so taking them as the event's context outright would make every
/// thread that holds any lock there look as if it waited for itself. Such
/// an event depends only on the held locks that *another* thread held at a
/// wait of the object (or, for the wait side, at an event): a lock two
/// participants both hold at the barrier, a lock the receiver holds when
/// receiving and a sender holds when it finds the channel full.
#[cfg(lockdep_on)]
#[derive(Default)]
pub(crate) struct Holders(std::sync::Mutex<std::collections::HashMap<usize, std::thread::ThreadId>>);

#[cfg(lockdep_on)]
impl Holders {
    /// Which of `held` (the current thread's) another thread was noted
    /// holding.
    pub(crate) fn others(&self, held: &[usize]) -> Vec<usize> {
        let me = std::thread::current().id();
        // A plain std mutex, never seen by the validator.
        let t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.iter().copied().filter(|a| t.get(a).is_some_and(|&who| who != me)).collect()
    }

    /// Notes the current thread as holding `held` (the first holder of an
    /// instance stays).
    pub(crate) fn note(&self, held: &[usize]) {
        let me = std::thread::current().id();
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for &a in held {
            t.entry(a).or_insert(me);
        }
    }
}
