//! The lockdep side of the facade's locks: a lock's map, made on first use
//! from its construction site ([`SiteMap`]), the guards' reference to it
//! ([`Held`]), and the hooks with an explicit location for the places
//! `#[track_caller]` cannot reach (closures that std's condvar loops call).
//!
//! Compiled out, [`SiteMap`] and [`Held`] are zero-sized and every map they
//! hand out is one shared static the empty hooks never read.

#[cfg(not(lockdep_on))]
use std::marker::PhantomData;
use std::panic::Location;

use crate::class::Read;
use crate::map::LockdepMap;
use crate::{ENABLED, engine};

#[cfg(lockdep_on)]
use std::sync::OnceLock;

/// The map handed out when validation is compiled out (zero-sized, never read).
#[cfg(not(lockdep_on))]
static OFF: LockdepMap = LockdepMap::new("lockdep::std_sync", &OFF_KEY);
#[cfg(not(lockdep_on))]
static OFF_KEY: crate::LockClassKey = crate::LockClassKey::new();

/// What a facade lock is known by: its kind, construction site and data
/// type, and the map built from them on first use.
///
/// The map is built lazily so that `new` can stay a `const fn` and still
/// name the class after its type and site (`"Mutex<Users>@src/db.rs:12"`):
/// a name built at run time cannot be made in a constant.
pub(super) struct SiteMap {
    #[cfg(lockdep_on)]
    kind: &'static str,
    #[cfg(lockdep_on)]
    site: &'static Location<'static>,
    /// `std::any::type_name` of the protected data: part of the class.
    #[cfg(lockdep_on)]
    ty: fn() -> &'static str,
    /// Built once, then at the same address for as long as the lock lives
    /// (the engine knows an instance by its map's address while it is held).
    #[cfg(lockdep_on)]
    map: OnceLock<LockdepMap>,
}

#[cfg(not(lockdep_on))]
const _: () = assert!(std::mem::size_of::<SiteMap>() == 0);

impl SiteMap {
    /// A lock of `kind` over a `T` whose class is `site` and `T`.
    #[allow(unused_variables)]
    #[cfg_attr(not(lockdep_on), allow(clippy::extra_unused_type_parameters))] // compiled out, nothing is kept
    pub(super) const fn new<T: ?Sized>(kind: &'static str, site: &'static Location<'static>) -> Self {
        SiteMap {
            #[cfg(lockdep_on)]
            kind,
            #[cfg(lockdep_on)]
            site,
            #[cfg(lockdep_on)]
            ty: std::any::type_name::<T>,
            #[cfg(lockdep_on)]
            map: OnceLock::new(),
        }
    }

    /// The map (built now if this is its first use).
    #[inline(always)]
    pub(super) fn map(&self) -> &LockdepMap {
        #[cfg(lockdep_on)]
        {
            self.map.get_or_init(|| LockdepMap::with_site_type_of(self.kind, self.site, self.ty))
        }
        #[cfg(not(lockdep_on))]
        {
            &OFF
        }
    }
}

/// A guard's way back to its lock's map; zero-sized when compiled out, so
/// that the facade's guards have the size of std's.
#[derive(Clone, Copy)]
pub(super) struct Held<'a> {
    #[cfg(lockdep_on)]
    map: &'a LockdepMap,
    #[cfg(not(lockdep_on))]
    map: PhantomData<&'a LockdepMap>,
}

#[cfg(not(lockdep_on))]
const _: () = assert!(std::mem::size_of::<Held<'static>>() == 0);

impl<'a> Held<'a> {
    #[inline(always)]
    pub(super) fn new(map: &'a LockdepMap) -> Self {
        #[cfg(lockdep_on)]
        {
            Held { map }
        }
        #[cfg(not(lockdep_on))]
        {
            let _ = map;
            Held { map: PhantomData }
        }
    }

    #[inline(always)]
    pub(super) fn map(self) -> &'a LockdepMap {
        #[cfg(lockdep_on)]
        {
            self.map
        }
        #[cfg(not(lockdep_on))]
        {
            &OFF
        }
    }
}

/// Runs its closure when dropped, also while unwinding, unless forgotten.
pub(super) struct Finally<F: FnMut()>(pub(super) F);

impl<F: FnMut()> Drop for Finally<F> {
    #[inline(always)]
    fn drop(&mut self) {
        (self.0)()
    }
}

// ---------------------------------------------------------------------------
// Hooks at an explicit location.

/// `lock_release` at `loc`.
#[inline(always)]
pub(super) fn release_at(map: &LockdepMap, loc: &'static Location<'static>) {
    if ENABLED {
        engine::release(map, loc);
    }
}

/// A blocking exclusive acquisition at `loc` that has already happened (a
/// condvar's re-lock inside std): the acquire hook, then `lock_acquired`.
#[inline(always)]
pub(super) fn reacquired_at(map: &LockdepMap, loc: &'static Location<'static>) {
    if ENABLED {
        engine::acquire(map, 0, false, Read::Exclusive, true, None, loc);
        engine::acquired(map, loc);
    }
}

/// `might_lock` at `loc`: validates taking `map` exclusively without taking it.
#[inline(always)]
pub(super) fn might_lock_at(map: &LockdepMap, loc: &'static Location<'static>) {
    if ENABLED {
        engine::might_lock(map, Read::Exclusive, loc);
    }
}
