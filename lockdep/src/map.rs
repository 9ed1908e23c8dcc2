//! [`LockdepMap`]: the per-instance record the validator knows a lock by.
//!
//! Every instrumented lock embeds one (the kernel's `struct lockdep_map`). It
//! names the instance, says which class it belongs to and caches that class so
//! that after the first acquisition finding the class is one atomic load.
//! When validation is compiled out the map is zero-sized.

use std::fmt;
use std::panic::Location;

#[cfg(lockdep_on)]
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::class::{DynamicKey, KeySource, LockClassKey};

#[cfg(not(lockdep_on))]
static UNUSED: LockClassKey = LockClassKey::new();

/// Per-instance lock record (the kernel's `lockdep_map`).
///
/// The instance is identified by its address while it is held, as in the
/// kernel; a map must therefore not move while it is held (the lock types in
/// [`sync`](crate::sync) guarantee this because guards borrow the lock).
/// Dropping a map that the current thread (or, with validation on, any
/// thread) still holds is reported as
/// [`HeldLockFreed`](crate::ReportKind::HeldLockFreed).
pub struct LockdepMap {
    /// The name, as the address and length of a `&'static str`: given at
    /// construction, or for a typed name (see `typed`) null until it is
    /// built, then published once (see [`LockdepMap::built_name`]). Two
    /// plain loads on the acquire fast path, which stores it in the held
    /// entry, where a `&'static str` and a once-cell beside it took two
    /// branches more.
    #[cfg(lockdep_on)]
    name_ptr: AtomicPtr<u8>,
    #[cfg(lockdep_on)]
    name_len: AtomicUsize,
    /// The name's id in the global name table (`names::NameId`; 0 until
    /// the full path first interns it): what the acquire fast path stores
    /// in the held entry.
    #[cfg(lockdep_on)]
    name_id: AtomicU32,
    /// A name made from the kind, the data type and the construction site
    /// (see [`LockdepMap::with_site_typed`]), built at its first use.
    #[cfg(lockdep_on)]
    typed: Option<TypedName>,
    #[cfg(lockdep_on)]
    pub(crate) key: KeySource,
    /// Class cache: slot 0 for subclass 0, slot 1 for the last other subclass.
    #[cfg(lockdep_on)]
    pub(crate) class_cache: [AtomicU64; 2],
    /// The engine's number of the thread that took this instance last and
    /// has not released it (0: none known): lets dropping a map that
    /// *another* thread holds be reported. Plain loads and stores, no
    /// read-modify-write on the hot path; with concurrent readers only the
    /// last one is known, which can miss a case but never invents one.
    #[cfg(lockdep_on)]
    pub(crate) holder: AtomicU64,
}

#[cfg(not(lockdep_on))]
const _: () = assert!(std::mem::size_of::<LockdepMap>() == 0);

/// The parts of a typed name (built into the map's `name_ptr`/`name_len`).
#[cfg(lockdep_on)]
struct TypedName {
    /// The lock's kind (`"Mutex"`).
    kind: &'static str,
    /// `std::any::type_name` of the protected data.
    ty: fn() -> &'static str,
    site: Option<&'static Location<'static>>,
}

impl LockdepMap {
    /// A map named `name` whose class is `key` (subclass 0 unless an acquire
    /// says otherwise).
    pub const fn new(name: &'static str, key: &'static LockClassKey) -> Self {
        Self::from_source(name, KeySource::Key(key))
    }

    /// A map whose class is its construction site: every lock created at the
    /// same `file:line:col` shares one class. (The lock types in
    /// [`sync`](crate::sync) use [`with_site_typed`](Self::with_site_typed),
    /// whose class is the site *and* the data type.)
    pub const fn with_site(name: &'static str, site: &'static Location<'static>) -> Self {
        Self::from_source(name, KeySource::Site(site, None))
    }

    /// A map whose class is its construction site `site` and the protected
    /// data's type `T`: locks of one type made at one site are one class,
    /// locks of different types made at one site (by a generic helper such
    /// as `fn new_lock<T>(t: T) -> Mutex<T>`) are one class per type. It is
    /// named after what it is and where: `kind<T>@file:line`, e.g.
    /// `Mutex<Account>@src/bank.rs:12`. `T` is the protected data's type
    /// with its module paths trimmed (`Vec<String>`, not
    /// `alloc::vec::Vec<alloc::string::String>`; the class itself is keyed
    /// by the full [`type_name`](std::any::type_name)); the column is added
    /// only when another lock of the same kind and type was made on the same
    /// line, so that the names differ. The name is built when first asked
    /// for (so this is a `const fn`), once per site and type. This is what
    /// the lock types in [`sync`](crate::sync), the `std::sync` facade and
    /// the parking_lot shims use unless given an explicit key.
    pub const fn with_site_typed<T: ?Sized>(kind: &'static str, site: &'static Location<'static>) -> Self {
        Self::with_site_type_of(kind, site, std::any::type_name::<T>)
    }

    /// [`with_site_typed`](Self::with_site_typed) with the type given by its
    /// `type_name` function (for constructors that are not generic over it).
    #[allow(unused_variables)]
    pub(crate) const fn with_site_type_of(
        kind: &'static str,
        site: &'static Location<'static>,
        ty: fn() -> &'static str,
    ) -> Self {
        #[cfg(lockdep_on)]
        {
            let typed = TypedName { kind, ty, site: Some(site) };
            Self::from_parts(kind, Some(typed), KeySource::Site(site, Some(ty)))
        }
        #[cfg(not(lockdep_on))]
        {
            Self::from_source(kind, KeySource::Site(site, None))
        }
    }

    /// A map named `name` whose class is its construction site `site` and
    /// the protected data's type `T` (the `named` constructors of the lock
    /// types: one name, one class per type made there — `name#2` in reports
    /// for the second type).
    pub(crate) const fn with_site_named<T: ?Sized>(name: &'static str, site: &'static Location<'static>) -> Self {
        let ty: fn() -> &'static str = std::any::type_name::<T>;
        Self::from_source(name, KeySource::Site(site, Some(ty)))
    }

    /// A map whose class is `key`, named `kind<T>` — or, with a `site`,
    /// `kind<T>@file:line` — built as for
    /// [`with_site_typed`](Self::with_site_typed).
    #[allow(unused_variables)]
    pub const fn with_key_typed<T: ?Sized>(
        kind: &'static str,
        key: &'static LockClassKey,
        site: Option<&'static Location<'static>>,
    ) -> Self {
        Self::typed::<T>(kind, KeySource::Key(key), site)
    }

    #[allow(unused_variables)]
    const fn typed<T: ?Sized>(kind: &'static str, key: KeySource, site: Option<&'static Location<'static>>) -> Self {
        let ty: fn() -> &'static str = std::any::type_name::<T>;
        #[cfg(lockdep_on)]
        {
            Self::from_parts(kind, Some(TypedName { kind, ty, site }), key)
        }
        #[cfg(not(lockdep_on))]
        {
            Self::from_source(kind, key)
        }
    }

    /// A map whose class is the caller's location (see [`LockdepMap::with_site`]).
    #[track_caller]
    pub fn here(name: &'static str) -> Self {
        Self::with_site(name, Location::caller())
    }

    /// A map whose class is the run-time key `key` (see [`DynamicKey`]).
    #[cfg_attr(not(lockdep_on), allow(unused_variables))] // compiled out, a map keeps nothing
    pub fn with_dynamic_key(name: &'static str, key: &DynamicKey) -> Self {
        #[cfg(lockdep_on)]
        {
            Self::from_source(name, KeySource::Dynamic(key.inner.clone()))
        }
        #[cfg(not(lockdep_on))]
        {
            Self::from_source(name, KeySource::Key(&UNUSED))
        }
    }

    /// A map with a class of its own, removed when the map is dropped (as
    /// with a fresh [`DynamicKey`] used by this map only).
    pub fn new_dynamic(name: &'static str) -> Self {
        // The key is the map's alone: kept in the map, with no allocation
        // (a `DynamicKey` is an `Arc`), and removed by the map's drop.
        #[cfg(lockdep_on)]
        {
            Self::from_source(name, KeySource::Owned(crate::class::OwnedKey::new()))
        }
        #[cfg(not(lockdep_on))]
        {
            Self::with_dynamic_key(name, &DynamicKey::new())
        }
    }

    #[cfg_attr(not(lockdep_on), allow(unused_variables))] // compiled out, a map keeps nothing
    const fn from_source(name: &'static str, key: KeySource) -> Self {
        #[cfg(lockdep_on)]
        {
            Self::from_parts(name, None, key)
        }
        #[cfg(not(lockdep_on))]
        {
            LockdepMap {}
        }
    }

    #[cfg(lockdep_on)]
    const fn from_parts(name: &'static str, typed: Option<TypedName>, key: KeySource) -> Self {
        // A typed name is built at its first use: until then, none.
        let (name_ptr, name_len) = match typed {
            None => (name.as_ptr() as *mut u8, name.len()),
            Some(_) => (std::ptr::null_mut(), 0),
        };
        LockdepMap {
            name_ptr: AtomicPtr::new(name_ptr),
            name_len: AtomicUsize::new(name_len),
            name_id: AtomicU32::new(0),
            typed,
            key,
            class_cache: [AtomicU64::new(0), AtomicU64::new(0)],
            holder: AtomicU64::new(0),
        }
    }

    #[cfg(lockdep_on)]
    #[inline(always)]
    pub(crate) fn note_acquire(&self, thread: u64) {
        self.holder.store(thread, Ordering::Relaxed);
    }

    #[cfg(lockdep_on)]
    #[inline(always)]
    pub(crate) fn note_release(&self, thread: u64) {
        if self.holder.load(Ordering::Relaxed) == thread {
            self.holder.store(0, Ordering::Relaxed);
        }
    }

    /// The engine thread number of the last holder still holding, or 0.
    #[cfg(lockdep_on)]
    pub(crate) fn holder(&self) -> u64 {
        self.holder.load(Ordering::Relaxed)
    }

    /// The instance name given at construction, or built from its parts
    /// for [`with_site_typed`](Self::with_site_typed) and
    /// [`with_key_typed`](Self::with_key_typed) (`"<lockdep off>"` when
    /// validation is compiled out, since the map then stores nothing).
    #[inline]
    pub fn name(&self) -> &'static str {
        #[cfg(lockdep_on)]
        {
            self.built_name().unwrap_or_else(|| self.build_name())
        }
        #[cfg(not(lockdep_on))]
        {
            "<lockdep off>"
        }
    }

    /// [`name`](Self::name) when it needs no building (plain, or typed and
    /// built): what the fast path stores, which must not call out.
    #[cfg(lockdep_on)]
    #[inline(always)]
    pub(crate) fn built_name(&self) -> Option<&'static str> {
        // Acquire: pairs with the Release store in `build_name`, after
        // which `name_len` holds the published name's length.
        let ptr = self.name_ptr.load(Ordering::Acquire);
        if ptr.is_null() {
            return None;
        }
        let len = self.name_len.load(Ordering::Relaxed);
        // SAFETY: a non-null `name_ptr` and `name_len` are the address and
        // length of one `&'static str`: given together at construction, or
        // published by `build_name`, which stores the length (only the
        // thread that claimed it, once) before the address, with Release.
        Some(unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr, len)) })
    }

    /// The id of [`name`](Self::name) in the global name table, interned
    /// (and cached in the map) at the first call. The caller holds no
    /// engine lock (a full table prints a line, once).
    #[cfg(lockdep_on)]
    pub(crate) fn name_id(&self) -> crate::names::NameId {
        if let Some(id) = self.cached_name_id() {
            return id;
        }
        self.intern_name()
    }

    #[cfg(lockdep_on)]
    #[cold]
    #[inline(never)]
    fn intern_name(&self) -> crate::names::NameId {
        let id = crate::names::intern(self.name());
        // (In a fork child the table may have been only tried: a stand-in
        // is not kept.)
        if !(id == crate::names::NameId::FULL && crate::fork::in_forked_child()) {
            // Release: pairs with the Acquire in `cached_name_id` (the
            // table's slot for the id is written before).
            self.name_id.store(id.raw(), Ordering::Release);
        }
        id
    }

    /// The cached id of the name, if interned: what the fast path stores.
    #[cfg(lockdep_on)]
    #[inline(always)]
    pub(crate) fn cached_name_id(&self) -> Option<crate::names::NameId> {
        crate::names::NameId::from_raw(self.name_id.load(Ordering::Acquire))
    }

    #[cfg(lockdep_on)]
    #[cold]
    #[inline(never)]
    fn build_name(&self) -> &'static str {
        // Only a typed name is ever unbuilt (a plain one is published at
        // construction).
        let Some(t) = &self.typed else { return "" };
        // In a child of fork() the names' table may be locked for ever by a
        // thread that no longer exists: the kind will do (nothing is
        // validated there anyway).
        if crate::fork::in_forked_child() {
            return t.kind;
        }
        let name = crate::names::typed_name(t.kind, (t.ty)(), t.site);
        // Publish: the first thread to claim the length (0 while unbuilt; a
        // built name is never empty) stores it, then the address. Another
        // thread building at the same time gets the same interned name and
        // just returns it.
        if !name.is_empty()
            && self.name_len.compare_exchange(0, name.len(), Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            self.name_ptr.store(name.as_ptr() as *mut u8, Ordering::Release);
        }
        name
    }

    /// The identity of this instance: its address.
    #[inline]
    pub fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// The cached class for `subclass` in `epoch` (the validator's, see
    /// `Inner::epoch`). Slot 0 caches subclass 0, slot
    /// 1 the last non-zero subclass used. Layout:
    /// `epoch << 30 | subclass << 27 | class + 1`; a slot filled in another
    /// validator, or before a zap, carries another epoch and never matches.
    #[cfg(lockdep_on)]
    #[inline(always)]
    pub(crate) fn cached_class(&self, epoch: u64, subclass: u32) -> Option<u32> {
        self.cached_class_tagged(Self::class_tag(epoch), subclass)
    }

    /// The bits above a slot's class for subclass 0 in `epoch` (`epoch <<
    /// 30`): what [`cached_class_tagged`](Self::cached_class_tagged) takes,
    /// computed once when the fast path is armed.
    #[cfg(lockdep_on)]
    pub(crate) const fn class_tag(epoch: u64) -> u64 {
        epoch << 3 << CLASS_BITS
    }

    /// [`cached_class`](Self::cached_class) with the epoch's
    /// [`class_tag`](Self::class_tag): the slot xor the expected bits above
    /// the class is the class itself (plus one) exactly when they match, so
    /// the check is one xor and one compare (epochs fit in 32 bits, so the
    /// tag loses none).
    #[cfg(lockdep_on)]
    #[inline(always)]
    pub(crate) fn cached_class_tagged(&self, tag: u64, subclass: u32) -> Option<u32> {
        let slot = (subclass != 0) as usize;
        let x = self.class_cache[slot].load(Ordering::Relaxed) ^ (tag | (subclass as u64) << CLASS_BITS);
        if x <= CLASS_MASK { Some(x as u32 - 1) } else { None }
    }

    #[cfg(lockdep_on)]
    pub(crate) fn set_cached_class(&self, epoch: u64, subclass: u32, class: u32) {
        if subclass >= 8 || class as u64 >= CLASS_MASK {
            return;
        }
        let slot = (subclass != 0) as usize;
        let v = (epoch << 3 | subclass as u64) << CLASS_BITS | (class as u64 + 1);
        self.class_cache[slot].store(v, Ordering::Relaxed);
    }

    /// Whether any validator ever looked this map's class up (a map never
    /// acquired cannot be held, so dropping it needs no check).
    #[cfg(lockdep_on)]
    pub(crate) fn ever_used(&self) -> bool {
        self.class_cache.iter().any(|s| s.load(Ordering::Relaxed) != 0)
    }
}

/// Bits of a class-cache slot holding the class id (+ 1): classes past
/// 2^27 - 3 are not cached (they take the slow path). The bound matches the
/// class bits of a chain element, which the fast path builds from a cached
/// class without checking. Class ids are never reused, so a program that
/// creates that many classes in one run degrades to the slow path rather
/// than to wrong answers.
#[cfg(lockdep_on)]
const CLASS_BITS: u32 = 27;
#[cfg(lockdep_on)]
const CLASS_MASK: u64 = (1 << CLASS_BITS) - 1;
/// Epochs are kept to 32 bits (a slot has 64 - 3 - 27 left).
#[cfg(lockdep_on)]
pub(crate) const EPOCH_MASK: u64 = (1 << 32) - 1;

impl fmt::Debug for LockdepMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockdepMap")
            .field("name", &self.name())
            .field("addr", &format_args!("{:#x}", self.addr()))
            .finish()
    }
}
