//! Lock classes: the keys that name them and the read modes they are taken in.
//!
//! The validator reasons about *classes*, never instances: every lock instance
//! (a [`LockdepMap`](crate::LockdepMap)) belongs to the class named by its key
//! and a subclass. A [`LockClassKey`] is compared by address, exactly like the
//! kernel's `struct lock_class_key`; subclasses `0..MAX_SUBCLASSES` of one key
//! are distinct classes, used to tell nesting levels apart (parent/child).

use std::fmt;
use std::panic::Location;
#[cfg(lockdep_on)]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicU32, Ordering};

/// Number of subclasses of one key (the kernel's `MAX_LOCKDEP_SUBCLASSES`).
pub const MAX_SUBCLASSES: u32 = 8;

/// The identity of a lock class, compared by address.
///
/// Declare one per kind of lock as a `static`:
///
/// ```
/// use lockdep::{LockClassKey, LockdepMap};
/// static INODE_KEY: LockClassKey = LockClassKey::new();
/// let map = LockdepMap::new("inode.i_rwsem", &INODE_KEY);
/// # let _ = map;
/// ```
///
/// A leaked `Box<LockClassKey>` is a valid *dynamic* key: its classes can be
/// removed again with [`LockClassKey::unregister`].
pub struct LockClassKey {
    /// Bumped each time the key is unregistered, so that classes created for
    /// an earlier life of the same address are never confused with new ones.
    generation: AtomicU32,
}

impl LockClassKey {
    /// A new key. `const`, so that `static KEY: LockClassKey = LockClassKey::new();` works.
    pub const fn new() -> Self {
        LockClassKey { generation: AtomicU32::new(0) }
    }

    /// Starts the key's next life (after its classes were removed: see
    /// `LockClassKey::unregister`, with the hooks).
    pub(crate) fn next_generation(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn generation(&self) -> u32 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn addr(&self) -> usize {
        self as *const Self as usize
    }

    /// The engine's identity of this key as it is now (address and generation).
    #[cfg_attr(not(lockdep_on), allow(dead_code))]
    pub(crate) fn id(&self) -> KeyId {
        KeyId::Key { addr: self.addr(), generation: self.generation() }
    }
}

impl Default for LockClassKey {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LockClassKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LockClassKey({:#x})", self.addr())
    }
}

/// A key that is created at run time and removed again (with its classes,
/// dependencies and cached chains, in every validator) when the last
/// [`LockdepMap`](crate::LockdepMap) using it, and the last clone of it, is
/// dropped — for locks embedded in objects created and destroyed in large
/// numbers that each need a class of their own (the kernel's
/// `lockdep_register_key` / `lockdep_unregister_key`). Zero-sized when
/// validation is compiled out.
///
/// ```
/// use lockdep::{DynamicKey, LockdepMap};
/// let key = DynamicKey::new();
/// let a = LockdepMap::with_dynamic_key("conn.lock", &key);
/// drop(key); // the class lives on while `a` does
/// drop(a); // ... and is removed here
/// ```
#[derive(Clone, Default)]
pub struct DynamicKey {
    #[cfg(lockdep_on)]
    pub(crate) inner: std::sync::Arc<DynKeyInner>,
}

#[cfg(not(lockdep_on))]
const _: () = assert!(std::mem::size_of::<DynamicKey>() == 0);

impl DynamicKey {
    /// A new key, distinct from every other.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for DynamicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(lockdep_on)]
        {
            write!(f, "DynamicKey({:#x})", self.inner.key.addr())
        }
        #[cfg(not(lockdep_on))]
        {
            f.write_str("DynamicKey")
        }
    }
}

/// The shared part of a [`DynamicKey`]: unregisters the key when dropped
/// (its `Drop` is with the hooks).
#[cfg(lockdep_on)]
#[derive(Default)]
pub(crate) struct DynKeyInner {
    pub(crate) key: LockClassKey,
    /// The validators that registered a class of this key: none (its locks
    /// were never taken, and dropping the key costs nothing), one (removal
    /// goes straight to it) or several (removal walks the registry).
    pub(crate) owners: KeyOwners,
}

/// The validators holding classes of one [`DynamicKey`] (part of its shared
/// state), so that removing its classes when the key dies goes straight to
/// the one validator that has them — nearly always one. Plain data: the
/// engine reads and writes it (`engine::registry`'s `note_owner`,
/// `first_owner`, `release_owners`), which keeps this module free of the
/// engine's types.
///
/// Set under the graph lock of the validator that registers a class of the
/// key (`Ctx::register_lock_class`, the only place classes of run-time keys
/// are made); read when the key is dropped, after the last map using it,
/// which orders every registration before it (the key's `Arc`).
#[cfg(lockdep_on)]
#[derive(Default)]
pub(crate) struct KeyOwners {
    /// The first validator that registered a class of the key: a pointer
    /// made by `Weak::into_raw` on the engine's validator state, whose weak
    /// count this struct owns (null: none yet), given back by
    /// `release_owners` when the key is dropped. An atomic pointer rather
    /// than a `OnceLock<Weak<_>>`: the first registration of every dynamic
    /// class sets it, and the `Once` machinery cost more than the rest of
    /// this together. Its low bit (the state is aligned to 8) is set when
    /// another validator registered one too: removal then walks the
    /// registry, as for a static key. (One word, so that a map's own key,
    /// [`OwnedKey`], keeps [`KeySource`] at its size.)
    pub(crate) first: std::sync::atomic::AtomicPtr<()>,
}

/// The run-time key of a map made by
/// [`LockdepMap::new_dynamic`](crate::LockdepMap::new_dynamic), kept in the
/// map itself: the map is its only user, so it needs no shared allocation
/// (a [`DynamicKey`]'s `Arc`), and its classes are removed when the map is
/// dropped (with the hooks). Its identity is a number ([`KeyId::Owned`]),
/// not an address: the map may move. A number is handed out again only
/// after its key's classes were removed, as a freed key's address may be
/// a new key's (see [`OwnedKey::free`]).
#[cfg(lockdep_on)]
pub(crate) struct OwnedKey {
    pub(crate) id: u64,
    pub(crate) owners: KeyOwners,
}

#[cfg(lockdep_on)]
impl OwnedKey {
    /// Freed numbers kept per thread for reuse (see [`OwnedKey::free`]).
    const REUSE: usize = 16;

    pub(crate) fn new() -> Self {
        // (64 bits: never wraps, so no two live keys ever share a number.)
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = FREED.try_with(Freed::pop).ok().flatten();
        let id = id.unwrap_or_else(|| NEXT.fetch_add(1, Ordering::Relaxed));
        OwnedKey { id, owners: KeyOwners::default() }
    }

    /// The key's map is gone and its classes were removed from every
    /// validator (or none had any): its number may name the next key made
    /// on this thread, as a freed key's address may be a new key's (the
    /// tables keyed by it then find a recently used line, where a new
    /// number each time costs the large tables a cache miss). Not in a
    /// child of `fork()`, where classes are not removed.
    pub(crate) fn free(&self) {
        let _ = FREED.try_with(|f| f.push(self.id));
    }
}

/// A thread's freed [`OwnedKey`] numbers, last freed on top: plain cells
/// with no destructor, so that reaching them is an address computation.
#[cfg(lockdep_on)]
struct Freed {
    len: std::cell::Cell<usize>,
    ids: [std::cell::Cell<u64>; OwnedKey::REUSE],
}

#[cfg(lockdep_on)]
impl Freed {
    fn pop(&self) -> Option<u64> {
        let n = self.len.get().checked_sub(1)?;
        self.len.set(n);
        Some(self.ids[n].get())
    }

    /// Keeps `id` unless [`OwnedKey::REUSE`] are kept already.
    fn push(&self, id: u64) {
        let n = self.len.get();
        if let Some(slot) = self.ids.get(n) {
            slot.set(id);
            self.len.set(n + 1);
        }
    }
}

#[cfg(lockdep_on)]
thread_local! {
    static FREED: Freed = const {
        Freed { len: std::cell::Cell::new(0), ids: [const { std::cell::Cell::new(0) }; OwnedKey::REUSE] }
    };
}

/// What a [`LockdepMap`](crate::LockdepMap) takes its class from.
pub(crate) enum KeySource {
    /// An explicit key object.
    Key(&'static LockClassKey),
    /// A run-time key shared by the maps that use it.
    #[cfg(lockdep_on)]
    Dynamic(std::sync::Arc<DynKeyInner>),
    /// A key of the map's own ([`LockdepMap::new_dynamic`](crate::LockdepMap::new_dynamic)).
    #[cfg(lockdep_on)]
    Owned(OwnedKey),
    /// The source location that constructed the lock, and the type of the
    /// data it protects when the constructor knows it
    /// (`std::any::type_name::<T>`, as a `fn` pointer so that a `const fn`
    /// can store it): one class per construction site and type, like one
    /// static key per `*_init()` call site — and a generic helper that
    /// makes locks of many types for its callers (`fn new<T>(t: T) ->
    /// Mutex<T>`) still makes one class per type.
    Site(&'static Location<'static>, Option<fn() -> &'static str>),
}

/// The identity of a key inside the engine: the key's address and generation,
/// a map's own key's number (`OwnedKey`), or a construction site (compared
/// by file, line and column) with the protected data's type name when known
/// (compared by its text).
///
/// (`Hash` and `PartialEq` are written out, with the results the derived
/// ones gave, so that the two small variants are compared and hashed
/// inline: with `Site`'s text in the same function, the key table's hash
/// and compare were out-of-line calls at every registration and removal.)
#[derive(Clone, Copy, Eq, Debug)]
#[cfg_attr(not(lockdep_on), allow(dead_code))] // (`Owned` is made by maps only when validation is compiled in)
pub(crate) enum KeyId {
    Key { addr: usize, generation: u32 },
    Owned(u64),
    Site { file: &'static str, line: u32, col: u32, ty: Option<&'static str> },
}

impl PartialEq for KeyId {
    #[inline]
    fn eq(&self, other: &KeyId) -> bool {
        match (self, other) {
            (KeyId::Key { addr: a, generation: g }, KeyId::Key { addr: b, generation: h }) => a == b && g == h,
            (KeyId::Owned(a), KeyId::Owned(b)) => a == b,
            (KeyId::Site { .. }, KeyId::Site { .. }) => self.same_site(other),
            _ => false,
        }
    }
}

impl std::hash::Hash for KeyId {
    /// (What `#[derive(Hash)]` writes: the variant's index as an `isize`,
    /// then each field.)
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            KeyId::Key { addr, generation } => {
                state.write_isize(0);
                addr.hash(state);
                generation.hash(state);
            }
            KeyId::Owned(n) => {
                state.write_isize(1);
                n.hash(state);
            }
            KeyId::Site { .. } => self.hash_site(state),
        }
    }
}

impl KeyId {
    /// [`eq`](PartialEq::eq) of two `Site`s: file, line, column and type
    /// name, the texts by content.
    #[inline(never)]
    fn same_site(&self, other: &KeyId) -> bool {
        match (self, other) {
            (KeyId::Site { file: f, line: l, col: c, ty: t }, KeyId::Site { file: g, line: m, col: d, ty: u }) => {
                f == g && l == m && c == d && t == u
            }
            _ => false,
        }
    }

    /// [`hash`](std::hash::Hash::hash) of a `Site`.
    #[inline(never)]
    fn hash_site<H: std::hash::Hasher>(&self, state: &mut H) {
        use std::hash::Hash as _;
        if let KeyId::Site { file, line, col, ty } = self {
            state.write_isize(2);
            file.hash(state);
            line.hash(state);
            col.hash(state);
            ty.hash(state);
        }
    }
}

impl KeySource {
    /// The validators holding classes of a dynamic key (see
    /// `DynKeyInner::owners`); `None` for the other sources.
    #[cfg(lockdep_on)]
    pub(crate) fn dynamic_owners(&self) -> Option<&KeyOwners> {
        match self {
            KeySource::Dynamic(d) => Some(&d.owners),
            KeySource::Owned(k) => Some(&k.owners),
            _ => None,
        }
    }

    #[cfg_attr(not(lockdep_on), allow(dead_code))]
    pub(crate) fn id(&self) -> KeyId {
        match self {
            KeySource::Key(k) => k.id(),
            KeySource::Site(l, ty) => {
                KeyId::Site { file: l.file(), line: l.line(), col: l.column(), ty: ty.map(|name| name()) }
            }
            #[cfg(lockdep_on)]
            KeySource::Dynamic(d) => d.key.id(),
            #[cfg(lockdep_on)]
            KeySource::Owned(k) => KeyId::Owned(k.id),
        }
    }
}

/// How a lock is acquired: the kernel's `read` argument, as an enum.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Read {
    /// Exclusive (a writer, a mutex, a spinlock): kernel `read = 0`.
    Exclusive,
    /// Shared, non-recursive (rwsem `down_read`): a reader that queues behind a
    /// *waiting* writer, so taking it twice can deadlock. Kernel `read = 1`.
    Shared,
    /// Shared, recursive (rwlock `read_lock`, RCU): a reader only a writer
    /// *holder* blocks. Kernel `read = 2`.
    SharedRecursive,
}

impl Read {
    /// The kernel's integer for this mode (0, 1 or 2).
    pub const fn as_kernel(self) -> u8 {
        match self {
            Read::Exclusive => 0,
            Read::Shared => 1,
            Read::SharedRecursive => 2,
        }
    }

    /// Whether this is one of the two reader modes.
    pub const fn is_read(self) -> bool {
        !matches!(self, Read::Exclusive)
    }

    /// The mode for the kernel's integer, if it is one of 0, 1, 2.
    pub const fn from_kernel(read: u8) -> Option<Read> {
        match read {
            0 => Some(Read::Exclusive),
            1 => Some(Read::Shared),
            2 => Some(Read::SharedRecursive),
            _ => None,
        }
    }
}

impl Read {
    /// The word reports use: `write`, `read`, `read-recursive`.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Read::Exclusive => "write",
            Read::Shared => "read",
            Read::SharedRecursive => "read-recursive",
        }
    }
}

impl fmt::Display for Read {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod key_id_tests {
    use super::KeyId;
    use std::hash::{BuildHasher, BuildHasherDefault};

    /// `KeyId` as it was declared with `#[derive(PartialEq, Hash)]`.
    #[derive(PartialEq, Hash)]
    enum Derived {
        Key { addr: usize, generation: u32 },
        Owned(u64),
        Site { file: &'static str, line: u32, col: u32, ty: Option<&'static str> },
    }

    /// A hasher that folds in which `write_*` was called with what, so that
    /// two values hash the same only by the same calls.
    #[derive(Default)]
    struct Calls(u64);

    impl Calls {
        fn call(&mut self, which: u64, n: u64) {
            self.0 = (self.0.rotate_left(7) ^ which ^ n.rotate_left(17)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    impl std::hash::Hasher for Calls {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.call(1, u64::from(b));
            }
        }
        fn write_u8(&mut self, n: u8) {
            self.call(2, u64::from(n));
        }
        fn write_u32(&mut self, n: u32) {
            self.call(3, u64::from(n));
        }
        fn write_u64(&mut self, n: u64) {
            self.call(4, n);
        }
        fn write_usize(&mut self, n: usize) {
            self.call(5, n as u64);
        }
        fn write_isize(&mut self, n: isize) {
            self.call(6, n as u64);
        }
    }

    fn derived(k: &KeyId) -> Derived {
        match *k {
            KeyId::Key { addr, generation } => Derived::Key { addr, generation },
            KeyId::Owned(n) => Derived::Owned(n),
            KeyId::Site { file, line, col, ty } => Derived::Site { file, line, col, ty },
        }
    }

    #[test]
    fn key_ids_hash_and_compare_as_the_derived_impls_did() {
        // (Texts equal by content at other addresses, as the derived
        // impls compared them.)
        let (file, ty) = (String::from("src/a.rs"), String::from("u8"));
        let (file, ty): (&'static str, &'static str) =
            (Box::leak(file.into_boxed_str()), Box::leak(ty.into_boxed_str()));
        let keys = [
            KeyId::Key { addr: 0x1000, generation: 0 },
            KeyId::Key { addr: 0x1000, generation: 1 },
            KeyId::Key { addr: 0x1008, generation: 0 },
            KeyId::Owned(0),
            KeyId::Owned(1),
            KeyId::Owned(0x1000),
            KeyId::Site { file: "src/a.rs", line: 1, col: 2, ty: None },
            KeyId::Site { file, line: 1, col: 2, ty: None },
            KeyId::Site { file: "src/a.rs", line: 1, col: 2, ty: Some("u8") },
            KeyId::Site { file, line: 1, col: 2, ty: Some(ty) },
            KeyId::Site { file: "src/a.rs", line: 1, col: 3, ty: Some("u8") },
            KeyId::Site { file: "src/a.rs", line: 2, col: 2, ty: None },
            KeyId::Site { file: "src/b.rs", line: 1, col: 2, ty: None },
            KeyId::Site { file: "src/a.rs", line: 1, col: 2, ty: Some("u16") },
        ];
        let calls = BuildHasherDefault::<Calls>::default();
        let std = std::hash::RandomState::new();
        for a in &keys {
            assert_eq!(calls.hash_one(a), calls.hash_one(derived(a)), "{a:?}");
            assert_eq!(std.hash_one(a), std.hash_one(derived(a)), "{a:?}");
            for b in &keys {
                assert_eq!(a == b, derived(a) == derived(b), "{a:?} == {b:?}");
            }
        }
    }
}

#[cfg(all(test, lockdep_on))]
mod tests {
    use super::*;

    #[test]
    fn a_freed_own_key_number_is_reused_on_its_thread_and_a_few_are_kept() {
        FREED.with(|f| f.len.set(0)); // (a test may run on a thread used before)
        // (A key gives its number back when dropped: each is kept alive
        // until the test means to free it.)
        let (a, b) = (OwnedKey::new(), OwnedKey::new());
        assert_ne!(a.id, b.id);
        let (a_id, b_id) = (a.id, b.id);
        drop(a);
        drop(b);
        let again_b = OwnedKey::new();
        assert_eq!(again_b.id, b_id, "the last freed first");
        let again_a = OwnedKey::new();
        assert_eq!(again_a.id, a_id);
        let fresh = OwnedKey::new();
        assert!(fresh.id > a_id.max(b_id), "then new numbers");
        let many: Vec<OwnedKey> = (0..40).map(|_| OwnedKey::new()).collect();
        let many_ids: Vec<u64> = many.iter().map(|k| k.id).collect();
        drop(many);
        let again: Vec<OwnedKey> = (0..40).map(|_| OwnedKey::new()).collect();
        let reused = again.iter().filter(|k| many_ids.contains(&k.id)).count();
        assert_eq!(reused, OwnedKey::REUSE, "only a few are kept");
    }
}
