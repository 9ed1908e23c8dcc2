//! The steady-state fast path's way in: a thread-local pointer to this
//! thread's state for its current validator (see [`FAST`]), armed by
//! `thread` when the fast path may run and disarmed by anything that must
//! make it take the full path (a scope change, the slow path itself, a
//! `fork()` child).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ctx::PerValidator;
use super::held::HeldLock;
use super::inner::Inner;

thread_local! {
    /// The fast path's way in: this thread's state for its current validator
    /// with the copies in [`Armed`], or [`Armed::NONE`] (a null state) when
    /// the fast path must not run. A `const` cell without a destructor, so
    /// reaching a field is one thread-pointer-relative load and it stays
    /// readable while thread-locals are torn down.
    ///
    /// Invariant: non-null only while (1) the pointee, a `Box` in this
    /// thread's `ThreadData::validators`, is alive and nothing else borrows
    /// it (`with_ctx` nulls it on entry and re-arms it on exit; the thread's
    /// teardown nulls it first), (2) it belongs to the thread's *current*
    /// validator (entering or leaving a scope nulls it), which is therefore
    /// alive (held by the scope stack, or the global validator), and (3) that
    /// validator does not record events.
    static FAST: Cell<Armed> = const { Cell::new(Armed::NONE) };
}

/// What the acquire and release fast paths read first, copied into [`FAST`]
/// when it is armed so that each is one thread-pointer-relative load: the
/// state's address, the validator's hot word's address (not the state's
/// `ptr` and then the word: one dependent load fewer before the check), the
/// held stack's address, the state's `hot` and `thread_num` (see
/// `PerValidator`), the class tag and the depth limit.
///
/// Disarmed ([`Armed::NONE`]) it still points somewhere readable, so that
/// the fast paths need no separate test for it: the hot word at
/// [`DISARMED`], which never equals `hot_seen`, and the held stack at
/// [`EMPTY_HELD`], which has no entry to release. (Each such test was a
/// branch on every acquisition or release; in criterion's recursive nest,
/// where one frame's code serves every depth, the branches cost more than
/// their instructions: PERFORMANCE.md, round 9.)
#[derive(Clone, Copy)]
pub(crate) struct Armed {
    /// This thread's state for its current validator (null: disarmed).
    pv: *mut PerValidator,
    /// The validator's hot word ([`DISARMED`]: disarmed).
    hot: *const AtomicU64,
    /// `pv`'s held stack, derived from `pv` without a reference
    /// ([`EMPTY_HELD`]: disarmed).
    held: *mut Vec<HeldLock>,
    /// `PerValidator::hot`: never 0 (see [`DISARMED`]), also when disarmed
    /// (`u64::MAX` at first, then the last armed state's).
    hot_seen: u64,
    /// `LockdepMap::class_tag` of `hot_seen`'s epoch (what a map's class
    /// cache is compared with).
    pub(crate) class_tag: u64,
    /// `PerValidator::thread_num`.
    pub(crate) thread_num: u64,
    /// The depth the fast path may push to: below the validator's limit
    /// and within the held stack's capacity (it never allocates).
    pub(crate) fast_depth: usize,
}

/// A disarmed [`Armed`]'s hot word: 0, never a `hot_seen` (a validator's
/// hot word has a non-zero epoch; `Armed::NONE`'s is `u64::MAX`).
static DISARMED: AtomicU64 = AtomicU64::new(0);

/// A disarmed [`Armed`]'s held stack: empty, only ever read.
static EMPTY_HELD: Vec<HeldLock> = Vec::new();

impl Armed {
    const NONE: Armed = Armed {
        pv: std::ptr::null_mut(),
        hot: &DISARMED,
        held: &EMPTY_HELD as *const Vec<HeldLock> as *mut Vec<HeldLock>,
        hot_seen: u64::MAX,
        class_tag: 0,
        thread_num: 0,
        fast_depth: 0,
    };

    /// Whether the fast path is armed and the validator's hot word is as it
    /// was when it was armed (false when disarmed: see [`DISARMED`]).
    #[inline(always)]
    pub(crate) fn hot_unchanged(&self) -> bool {
        // SAFETY: `hot` is `DISARMED`, or the armed validator's word, alive
        // while armed (FAST's invariant (2)).
        unsafe { (*self.hot).load(Ordering::Acquire) == self.hot_seen }
    }

    /// The armed state.
    ///
    /// # Safety
    ///
    /// [`hot_unchanged`](Self::hot_unchanged) returned true (so armed);
    /// then as for [`fast`].
    #[inline(always)]
    pub(crate) unsafe fn pv(&self) -> &'static mut PerValidator {
        // SAFETY: armed: by FAST's invariant a live, unborrowed
        // `PerValidator` of this thread; the caller keeps the borrow short
        // and unique.
        unsafe { &mut *self.pv }
    }

    /// The held stack to read: the armed state's, or (disarmed) an empty one.
    ///
    /// # Safety
    ///
    /// As for [`fast`]; the reference must end before
    /// [`held_mut`](Self::held_mut) is called.
    #[inline(always)]
    pub(crate) unsafe fn held(&self) -> &'static Vec<HeldLock> {
        // SAFETY: `EMPTY_HELD`, or the armed state's stack (as in `pv`).
        unsafe { &*self.held }
    }

    /// The held stack to change.
    ///
    /// # Safety
    ///
    /// Armed: [`held`](Self::held) has an entry (`EMPTY_HELD` has none and
    /// is never written); then as for [`fast`].
    #[inline(always)]
    pub(crate) unsafe fn held_mut(&self) -> &'static mut Vec<HeldLock> {
        // SAFETY: armed (the caller's contract): the state's stack, as in `pv`.
        unsafe { &mut *self.held }
    }
}

/// The current thread's fast-path state, if armed (see [`FAST`]).
///
/// # Safety
///
/// The caller must not keep the reference past the current hook, call
/// anything that can re-enter the engine while holding it, nor hold two.
#[inline(always)]
pub(crate) unsafe fn fast() -> Option<&'static mut PerValidator> {
    let p = FAST.with(|f| f.get().pv);
    // SAFETY: by FAST's invariant a non-null pointer is a live, unborrowed
    // `PerValidator` of this thread; the caller keeps the borrow short and
    // unique.
    unsafe { p.as_mut() }
}

/// The fast path's copies (see [`Armed`]; `Armed::NONE` when disarmed).
#[inline(always)]
pub(crate) fn armed() -> Armed {
    FAST.with(Cell::get)
}

/// The validator a fast-path state belongs to.
///
/// # Safety
///
/// `pv` must come from [`fast`] during the current hook.
#[inline(always)]
pub(crate) unsafe fn fast_inner(pv: &PerValidator) -> &Inner {
    // SAFETY: FAST's invariant (2): the armed entry's validator is the
    // thread's current one and is kept alive while it is armed.
    unsafe { &*(pv.ptr as *const Inner) }
}

pub(crate) fn disarm() {
    // Only what tells a disarmed state (the other fields are read only
    // after `hot_unchanged`, or after an entry was found): three stores on
    // every slow-path hook, not seven.
    FAST.with(|f| {
        let p = f.as_ptr();
        // SAFETY: the cell is this thread's and no reference into it is
        // alive (`armed` copies it out).
        unsafe {
            (*p).pv = Armed::NONE.pv;
            (*p).hot = Armed::NONE.hot;
            (*p).held = Armed::NONE.held;
        }
    });
}

/// Re-arms the fast path after a slow-path hook as it was armed when the
/// hook began, `was` (what [`armed`] gave before [`disarm`]), when the hook
/// changed nothing the armed copies were made from, and says whether it did
/// (false: the caller arms it from scratch, or leaves it disarmed): `was`
/// was armed with `pv` (the same box: the thread's state for its current
/// validator, which the hook ran in, so the state is for the validator and
/// the scope is the same), the validator's hot word is still `hot_seen` (so
/// it still validates, its epoch — the chain cache's, which the hook synced
/// to it, and the class tag's — is the same, and `PerValidator::hot` is
/// still it), and `fast_depth` is still what the held stack's capacity
/// allows (a push on the slow path may have grown it). Then every copy in
/// the cell but the three `disarm` cleared is still right, and only those
/// are written, with pointers made from `pv` as [`arm`] makes them: four
/// stores fewer than `arm`, and none of its tests of what was true when
/// `was` was armed. (`thread_num`: the hook does not change the thread's
/// number; `exchange`, which does, arms from scratch.)
///
/// `pv` must satisfy [`FAST`]'s invariant for as long as it stays armed,
/// as for [`arm`].
#[inline(always)]
pub(crate) fn rearm_unchanged(was: Armed, pv: &mut PerValidator, inner: &Inner) -> bool {
    let p: *mut PerValidator = pv;
    // (Addresses only: `was.pv` is not used, the pointers are made anew.)
    if !std::ptr::eq(was.pv, p)
        || inner.hot() != was.hot_seen
        || inner.config.max_depth.min(pv.held.locks.capacity()) != was.fast_depth
    {
        return false;
    }
    debug_assert!(pv.is_for(inner) && pv.hot == was.hot_seen && pv.cache.epoch == was.hot_seen >> 2);
    FAST.with(|f| {
        let c = f.as_ptr();
        // SAFETY: the cell is this thread's and no reference into it is
        // alive (`armed` copies it out). `p` is live and unborrowed once the
        // caller's borrow ends (its contract); the held stack's address is
        // taken without a reference, as in `arm`.
        unsafe {
            (*c).held = &raw mut (*p).held.locks;
            (*c).hot = &inner.hot.0;
            (*c).pv = p;
        }
    });
    true
}

/// Arms the fast path with `p`, the thread's state for `inner`, which may
/// push to `fast_depth` (within its held stack's capacity).
///
/// `p` must satisfy [`FAST`]'s invariant for as long as it stays armed.
pub(crate) fn arm(p: *mut PerValidator, inner: &Inner, fast_depth: usize) {
    // SAFETY: `p` is live and unborrowed (the caller's contract): its
    // fields are read, and the held stack's address taken without a
    // reference (so that it shares `p`'s permission, as `Armed::pv` does).
    let (held, pv) = unsafe { (&raw mut (*p).held.locks, &*p) };
    debug_assert!(pv.hot != 0, "a hot word has a non-zero epoch (see `DISARMED`)");
    debug_assert!(pv.is_for(inner));
    let a = Armed {
        pv: p,
        hot: &inner.hot.0,
        held,
        hot_seen: pv.hot,
        class_tag: crate::map::LockdepMap::class_tag(pv.hot >> 2),
        thread_num: pv.thread_num,
        fast_depth,
    };
    FAST.with(|f| f.set(a));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, LockClassKey, LockdepMap, Validator};

    fn maps(n: usize) -> Vec<LockdepMap> {
        let keys: &'static [LockClassKey] = Box::leak((0..n).map(|_| LockClassKey::new()).collect());
        keys.iter().map(|k| LockdepMap::new("fast-test", k)).collect()
    }

    /// The armed copies after a hook: armed, with the hot word's current
    /// value and the depth the held stack's current capacity allows.
    fn armed_as_made(v: &Validator) {
        let a = armed();
        assert!(!a.pv.is_null(), "armed after a hook");
        assert!(a.hot_unchanged(), "the hot word as it is now");
        // SAFETY: armed (above); the borrow ends here, nothing is called.
        let cap = unsafe { a.held() }.capacity();
        assert_eq!(a.fast_depth, v.config().max_depth.min(cap), "the depth the stack's capacity allows");
    }

    #[test]
    fn a_hook_that_grows_the_held_stack_re_arms_with_its_room() {
        let v = Validator::new(Config::collect());
        let ms = maps(40);
        v.scope(|| {
            // Each a new class: a slow-path hook, whose push grows the stack
            // past its first capacity (16) and again (32).
            for m in &ms {
                crate::mutex_acquire(m, 0, false);
                armed_as_made(&v);
            }
            for m in ms.iter().rev() {
                crate::mutex_release(m);
            }
        });
        assert!(v.reports().is_empty());
    }

    #[test]
    fn a_hook_after_the_hot_word_changed_re_arms_with_the_new_one() {
        let v = Validator::new(Config::collect());
        let keys: &'static [LockClassKey] = Box::leak((0..3).map(|_| LockClassKey::new()).collect());
        let ms: Vec<LockdepMap> = keys.iter().map(|k| LockdepMap::new("fast-test", k)).collect();
        v.scope(|| {
            for m in &ms[..2] {
                crate::mutex_acquire(m, 0, false);
                crate::mutex_release(m);
            }
            armed_as_made(&v);
            // A new epoch, outside every hook (maps of the key may remain):
            // the fast path declines from here on, and the next hook must
            // arm it with the new hot word.
            keys[1].unregister();
            assert!(!armed().hot_unchanged());
            crate::mutex_acquire(&ms[2], 0, false); // a new class: the slow path
            armed_as_made(&v);
            crate::mutex_release(&ms[2]);
        });
        assert!(v.reports().is_empty());
    }
}
