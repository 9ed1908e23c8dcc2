//! The per-thread held-lock stack and the chain node of each entry.
//!
//! Every entry carries the id of its *chain*: the exact sequence of (class,
//! mode) entries from the bottom of the stack up to and including it. Chain
//! ids are interned per validator (see [`chain`](super::chain)), so "this
//! thread validated exactly this chain before" is one lookup of (the chain
//! below, the new entry) — no hashing of the whole stack, no comparison of it.

use std::panic::Location;
use std::ptr::NonNull;

use super::ids::ClassId;
use crate::class::Read;
use crate::names::NameId;

/// The id of a chain of held locks (see the module docs). Interned chains
/// are numbered from 1 by the validator's chain store; a chain of one entry
/// is not interned: its id is a flag bit and the entry's [`Elem`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Default)]
#[repr(transparent)]
pub(crate) struct ChainNode(u32);

impl ChainNode {
    /// The chain of an entry that has no id (learning stopped, an untracked
    /// class, a class removed below it): locks above it always take the
    /// full path.
    pub(crate) const NONE: ChainNode = ChainNode(u32::MAX);
    /// The parent of a chain head (the empty stack).
    pub(crate) const ROOT: ChainNode = ChainNode(0);
    /// Set in the id of a chain of one entry.
    const HEAD: u32 = 1 << 31;

    /// The chain of the one entry `e`.
    #[inline(always)]
    pub(crate) fn head(e: Elem) -> ChainNode {
        ChainNode(Self::HEAD | e.0)
    }

    /// The `n`-th interned chain (`None` once ids run out).
    pub(crate) fn interned(n: u32) -> Option<ChainNode> {
        (n != 0 && n < Self::HEAD).then_some(ChainNode(n))
    }

    /// The `n` of an interned chain (see [`interned`](Self::interned)).
    pub(crate) fn raw(self) -> u32 {
        self.0
    }

    /// The element of a chain of one entry; `None` for an interned chain
    /// (and for [`ChainNode::NONE`]).
    pub(crate) fn head_elem(self) -> Option<Elem> {
        (self.0 & Self::HEAD != 0 && self != Self::NONE).then_some(Elem(self.0 & !Self::HEAD))
    }

    /// Whether this is an interned chain (neither a head, the root, nor none).
    #[cfg(test)]
    pub(crate) fn is_interned(self) -> bool {
        self.0 != 0 && self.0 & Self::HEAD == 0
    }
}

/// What a chain records of one entry: the class, the read mode, whether it
/// was a trylock and whether it was taken without checking (bits, low to
/// high: read mode (2), trylock, unchecked, then the class).
///
/// The trylock bit is kept, unlike the kernel's chain key: caching a chain
/// with a blocking entry makes a later identical chain with a *trylock* entry
/// in its place skip validation — yet the walk past a trylock adds
/// dependencies from the locks below it that the blocking version never
/// needed, so a real deadlock could go unreported (found by the property test
/// against a brute-force oracle). Keeping the bit costs a few more chains.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
#[repr(transparent)]
pub(crate) struct Elem(u32);

impl Elem {
    /// Bits of an element below the class.
    pub(crate) const CLASS_SHIFT: u32 = 4;
    /// Largest class an element can hold (a head's id keeps the top bit):
    /// larger classes are validated on every acquisition, never cached.
    pub(crate) const MAX_CLASS: u32 = (ChainNode::HEAD >> Self::CLASS_SHIFT) - 2;

    /// The element of an entry; `None` for classes that cannot be encoded
    /// (the untracked class, or past [`Elem::MAX_CLASS`]).
    #[inline(always)]
    pub(crate) fn new(class: ClassId, read: Read, trylock: bool, check: bool) -> Option<Elem> {
        (class.raw() <= Self::MAX_CLASS).then(|| Self::new_unchecked(class, read, trylock, check))
    }

    /// [`Elem::new`] for a class known to fit (a map's class cache only
    /// holds classes that do).
    #[inline(always)]
    pub(crate) fn new_unchecked(class: ClassId, read: Read, trylock: bool, check: bool) -> Elem {
        Elem(
            (class.raw() << Self::CLASS_SHIFT)
                | ((!check as u32) << 3)
                | ((trylock as u32) << 2)
                | read.as_kernel() as u32,
        )
    }

    /// Every element of `class` (each mode, trylock and unchecked bit).
    pub(crate) fn all_of(class: ClassId) -> impl Iterator<Item = Elem> {
        (0..1u32 << Self::CLASS_SHIFT).map(move |low| Elem((class.raw() << Self::CLASS_SHIFT) | low))
    }

    /// The parts of an element: class, read mode, trylock.
    pub(crate) fn parts(self) -> (ClassId, Read, bool) {
        let read = Read::from_kernel((self.0 & 3) as u8).unwrap_or(Read::Exclusive);
        (self.class(), read, self.0 & 4 != 0)
    }

    /// The bits below the class (mode, trylock, unchecked): `0..1 << CLASS_SHIFT`.
    pub(crate) fn low_bits(self) -> u32 {
        self.0 & ((1 << Self::CLASS_SHIFT) - 1)
    }

    /// The class of an element.
    pub(crate) fn class(self) -> ClassId {
        ClassId::from_raw(self.0 >> Self::CLASS_SHIFT)
    }
}

/// The key of the chain `parent` followed by `elem`, as the chain caches
/// look it up: exact, both halves are ids.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[repr(transparent)]
pub(crate) struct ChainKey(u64);

impl ChainKey {
    #[inline(always)]
    pub(crate) fn new(parent: ChainNode, elem: Elem) -> ChainKey {
        ChainKey((u64::from(parent.0) << 32) | u64::from(elem.0))
    }

    /// The key as one word (never 0: its element is of a class, whose id
    /// is at least 1).
    #[inline(always)]
    pub(crate) fn raw(self) -> u64 {
        self.0
    }

    /// The chain the key extends.
    pub(crate) fn parent(self) -> ChainNode {
        ChainNode((self.0 >> 32) as u32)
    }

    /// A cheap hash of the key for the front of the thread's cache (its low
    /// bits pick the set): no multiply of the whole key, so that the nested
    /// acquisition's look-up waits one add for it once the parent node is
    /// loaded (the element's part, `elem * 3 + elem / 16`, is computed from
    /// the class meanwhile). Both halves are ids that grow together along a
    /// nest (classes and interned chains are numbered in the order they are
    /// met), so they are added, not xored (the xor of two ids that grow
    /// together keeps few distinct low bits); `* 3` folds the mode bits in.
    /// A collision in the front costs a refill from the thread's map, never
    /// a wrong answer (the front compares whole keys); `chain::tests` checks
    /// the spread over typical nests.
    #[inline(always)]
    pub(crate) fn front_hash(self) -> u32 {
        let (parent, elem) = ((self.0 >> 32) as u32, self.0 as u32);
        parent.wrapping_add(elem.wrapping_mul(3).wrapping_add(elem >> 4))
    }
}

/// One held lock (the kernel's `struct held_lock`), in 32 bytes.
///
/// The acquire fast path writes a whole entry and the release fast path
/// reads two of its words back (the instance, and `site` to tell a plain
/// entry): the time of an uncontended lock+unlock goes with the bytes
/// written and read back (PERFORMANCE.md, round 6, h14z), so everything
/// is packed: the instance name is a 4-byte [`NameId`], and the rare
/// parts — a nest lock, merged references — live in a boxed [`Extra`]
/// that `site` points to instead of the location (see [`Site`]). A plain
/// entry (no nest lock, no references: every fast-path entry) is one whose
/// `site` is a location, and its first word is its instance exactly; a
/// non-plain entry's first word has [`HeldLock::NOT_PLAIN`] set, so the
/// release fast path's one compare of that word with the map's address
/// says both "this instance" and "plain".
///
/// `repr(C)`: the word the release fast path reads is written by one store
/// at the acquire, so that the load is forwarded from it.
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct HeldLock {
    /// The map's address, with [`HeldLock::NOT_PLAIN`] set in a non-plain
    /// entry (see [`HeldLock::instance`]).
    instance: usize,
    site: Site,
    /// The id of the chain ending at this entry (see the module docs).
    pub(crate) node: ChainNode,
    pub(crate) class: ClassId,
    name: NameId,
    pub(crate) subclass: u8,
    pub(crate) read: Read,
    pub(crate) trylock: bool,
    pub(crate) check: bool,
}

const _: () = assert!(std::mem::size_of::<HeldLock>() == 32);
// A map's address has its lowest bit clear (see `HeldLock::NOT_PLAIN`).
const _: () = assert!(std::mem::align_of::<crate::map::LockdepMap>() >= 2);

impl HeldLock {
    /// Set in the first word of an entry that has a nest lock or
    /// references (a map's address never has it).
    const NOT_PLAIN: usize = 1;

    /// A plain entry (no nest lock, no references).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn new(
        instance: usize,
        class: ClassId,
        node: ChainNode,
        name: NameId,
        location: &'static Location<'static>,
        subclass: u8,
        read: Read,
        trylock: bool,
        check: bool,
    ) -> HeldLock {
        HeldLock { instance, site: Site::plain(location), node, class, name, subclass, read, trylock, check }
    }

    /// The held map's address.
    #[inline(always)]
    pub(crate) fn instance(&self) -> usize {
        self.instance & !Self::NOT_PLAIN
    }

    /// Whether this is a plain entry of the map at `instance`: one compare
    /// of one word (the release fast path's whole check).
    #[inline(always)]
    pub(crate) fn is_plain_of(&self, instance: usize) -> bool {
        self.instance == instance
    }

    /// The element this entry adds to a chain.
    pub(crate) fn elem(&self) -> Option<Elem> {
        Elem::new(self.class, self.read, self.trylock, self.check)
    }

    /// The instance name.
    pub(crate) fn name(&self) -> &'static str {
        self.name.name()
    }

    /// The instance name's id.
    pub(crate) fn name_id(&self) -> NameId {
        self.name
    }

    /// Where the lock was taken.
    pub(crate) fn location(&self) -> &'static Location<'static> {
        self.site.location()
    }

    pub(crate) fn set_location(&mut self, location: &'static Location<'static>) {
        match self.site.extra_mut() {
            Some(e) => e.location = location,
            None => self.site = Site::plain(location),
        }
    }

    /// Whether the entry has neither a nest lock nor merged references.
    #[inline(always)]
    pub(crate) fn is_plain(&self) -> bool {
        self.instance & Self::NOT_PLAIN == 0
    }

    /// The nest lock this entry was taken under: address and name.
    pub(crate) fn nest(&self) -> Option<(usize, &'static str)> {
        self.site.extra().and_then(|e| e.nest)
    }

    pub(crate) fn nest_addr(&self) -> Option<usize> {
        self.nest().map(|n| n.0)
    }

    #[inline]
    pub(crate) fn set_nest(&mut self, nest: Option<(usize, &'static str)>) {
        // (Every slow-path acquisition sets it, nearly always to none.)
        if nest.is_some() || !self.is_plain() {
            self.update_extra(|e| e.nest = nest);
        }
    }

    /// Merged same-class nest entries (0: none).
    pub(crate) fn references(&self) -> u32 {
        self.site.extra().map_or(0, |e| e.references)
    }

    #[inline]
    pub(crate) fn set_references(&mut self, references: u32) {
        // (Every slow-path push sets it, nearly always to 0.)
        if references != 0 || !self.is_plain() {
            self.update_extra(|e| e.references = references);
        }
    }

    /// Changes the rare parts; an entry left with none is plain again.
    fn update_extra(&mut self, f: impl FnOnce(&mut Extra)) {
        let mut extra = match self.site.extra() {
            Some(e) => *e,
            None => Extra { location: self.site.location(), nest: None, references: 0 },
        };
        f(&mut extra);
        let plain = extra.nest.is_none() && extra.references == 0;
        self.site = if plain { Site::plain(extra.location) } else { Site::boxed(extra) };
        self.instance = self.instance() | if plain { 0 } else { Self::NOT_PLAIN };
    }
}

/// The rare parts of a held entry, with its location (see [`Site`]).
#[derive(Clone, Copy, Debug)]
struct Extra {
    location: &'static Location<'static>,
    /// The nest lock this entry was taken under: address and name.
    nest: Option<(usize, &'static str)>,
    /// Merged same-class nest entries (0: none).
    references: u32,
}

/// A held entry's location, or its [`Extra`] (which has the location):
/// one word, a `&'static Location` (a plain entry) or an owned
/// `Box<Extra>` with its lowest address bit set (both are aligned to 8,
/// so the bit is free). Never a `&Location` with the bit set, never an
/// `Extra` without it; `Drop` frees the box, `Clone` copies it.
struct Site(NonNull<u8>);

const _: () = assert!(std::mem::align_of::<Location<'static>>() >= 2 && std::mem::align_of::<Extra>() >= 2);

// SAFETY: a `Site` is a `&'static Location` (Send and Sync) or an owned
// `Box<Extra>` whose fields are plain data and `&'static`s (Send and Sync):
// it has no shared mutable state and nothing tied to a thread.
unsafe impl Send for Site {}
// SAFETY: as for `Send`; `&Site` only reads.
unsafe impl Sync for Site {}

impl Site {
    const TAG: usize = 1;

    #[inline(always)]
    fn plain(location: &'static Location<'static>) -> Site {
        Site(NonNull::from(location).cast())
    }

    fn boxed(extra: Extra) -> Site {
        let p = NonNull::from(Box::leak(Box::new(extra))).cast::<u8>();
        Site(p.map_addr(|a| a | Self::TAG))
    }

    #[inline(always)]
    fn is_plain(&self) -> bool {
        self.0.addr().get() & Self::TAG == 0
    }

    fn extra_ptr(&self) -> Option<NonNull<Extra>> {
        if self.is_plain() {
            return None;
        }
        NonNull::new(self.0.as_ptr().map_addr(|a| a & !Self::TAG).cast())
    }

    fn location(&self) -> &'static Location<'static> {
        match self.extra() {
            Some(e) => e.location,
            // SAFETY: an untagged `Site` is a `&'static Location` (see the type).
            None => unsafe { self.0.cast::<Location<'static>>().as_ref() },
        }
    }

    fn extra(&self) -> Option<&Extra> {
        // SAFETY: a tagged `Site` owns a live `Box<Extra>`, borrowed here
        // for as long as `self` is.
        self.extra_ptr().map(|p| unsafe { p.as_ref() })
    }

    fn extra_mut(&mut self) -> Option<&mut Extra> {
        // SAFETY: as in `extra`; `&mut self` makes the borrow unique.
        self.extra_ptr().map(|mut p| unsafe { p.as_mut() })
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(p) = self.extra_ptr() {
            // SAFETY: a tagged `Site` owns the box it was made from (by
            // `Site::extra`); it is freed once, here.
            drop(unsafe { Box::from_raw(p.as_ptr()) });
        }
    }
}

impl Clone for Site {
    fn clone(&self) -> Site {
        match self.extra() {
            Some(e) => Site::boxed(*e),
            None => Site(self.0),
        }
    }
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.extra() {
            Some(e) => e.fmt(f),
            None => self.location().fmt(f),
        }
    }
}

#[derive(Default, Debug)]
pub(crate) struct HeldStack {
    pub(crate) locks: Vec<HeldLock>,
}

impl HeldStack {
    /// The node a new entry's chain extends.
    pub(crate) fn curr_node(&self) -> ChainNode {
        self.locks.last().map_or(ChainNode::ROOT, |h| h.node)
    }

    pub(crate) fn depth(&self) -> usize {
        self.locks.len()
    }

    /// Index of the top-most entry matching `instance`, or a merged entry of
    /// `class` (the kernel's `match_held_lock`).
    pub(crate) fn find(&self, instance: usize, class: Option<ClassId>) -> Option<usize> {
        self.locks.iter().rposition(|h| h.instance() == instance || (h.references() > 0 && Some(h.class) == class))
    }

    pub(crate) fn holds_instance(&self, instance: usize) -> bool {
        self.locks.iter().any(|h| h.instance() == instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_entry_is_32_bytes() {
        // The fast paths write and read it back: a larger entry costs time
        // (PERFORMANCE.md, round 7).
        assert_eq!(std::mem::size_of::<HeldLock>(), 32);
        assert_eq!(std::mem::size_of::<Option<HeldLock>>(), 32);
    }

    fn entry(loc: &'static Location<'static>) -> HeldLock {
        let name = crate::names::names().intern("held-entry-test", false);
        HeldLock::new(0x1000, ClassId::from_raw(7), ChainNode::ROOT, name, loc, 2, Read::Shared, true, false)
    }

    #[test]
    fn an_entry_keeps_its_rare_parts_exactly_and_is_plain_without_them() {
        let here = Location::caller();
        let there = Location::caller();
        let mut e = entry(here);
        assert!(e.is_plain());
        assert_eq!((e.name(), e.location(), e.nest(), e.references()), ("held-entry-test", here, None, 0));
        assert_eq!(
            (e.instance(), e.class, e.subclass, e.read, e.trylock, e.check),
            (0x1000, ClassId::from_raw(7), 2, Read::Shared, true, false)
        );
        assert!(e.is_plain_of(0x1000) && !e.is_plain_of(0x1001));
        e.set_nest(Some((0x2000, "nest")));
        assert!(!e.is_plain() && !e.is_plain_of(0x1000), "the release fast path declines it");
        assert_eq!(e.instance(), 0x1000);
        assert_eq!(
            (e.location(), e.nest(), e.nest_addr(), e.references()),
            (here, Some((0x2000, "nest")), Some(0x2000), 0)
        );
        e.set_references(u32::MAX);
        e.set_location(there);
        let copy = e.clone();
        e.set_references(0);
        assert_eq!((e.location(), e.nest(), e.references()), (there, Some((0x2000, "nest")), 0));
        assert_eq!((copy.location(), copy.nest(), copy.references()), (there, Some((0x2000, "nest")), u32::MAX));
        e.set_nest(None);
        assert!(e.is_plain() && e.is_plain_of(0x1000), "an entry with neither part is plain again");
        assert_eq!(e.location(), there);
        let mut merged = copy.clone();
        merged.set_nest(None);
        assert!(!merged.is_plain(), "references alone make an entry non-plain");
        assert_eq!((merged.references(), merged.location()), (u32::MAX, there));
        drop(copy);
        assert_eq!(merged.references(), u32::MAX, "a clone owns its own parts");
        assert_eq!(format!("{:?}", entry(here).location()), format!("{here:?}"));
    }

    #[test]
    fn elements_round_trip_and_keep_every_bit() {
        let c = ClassId::from_raw(12345);
        let mut seen = std::collections::HashSet::new();
        for read in [Read::Exclusive, Read::Shared, Read::SharedRecursive] {
            for trylock in [false, true] {
                for check in [false, true] {
                    let e = Elem::new(c, read, trylock, check).unwrap();
                    assert_eq!(e.parts(), (c, read, trylock));
                    assert_eq!(e.class(), c);
                    assert!(Elem::all_of(c).any(|x| x == e));
                    assert_eq!(ChainNode::head(e).head_elem(), Some(e));
                    assert!(!ChainNode::head(e).is_interned());
                    assert!(seen.insert(e), "two entries share an element");
                }
            }
        }
        assert_eq!(Elem::new(ClassId::UNTRACKED, Read::Exclusive, false, true), None);
        let top = Elem::new(ClassId::from_raw(Elem::MAX_CLASS), Read::SharedRecursive, true, false).unwrap();
        assert_ne!(ChainNode::head(top), ChainNode::NONE);
        assert_eq!(ChainNode::NONE.head_elem(), None);
        assert_eq!(ChainKey::new(ChainNode::head(top), top).parent(), ChainNode::head(top));
    }
}
