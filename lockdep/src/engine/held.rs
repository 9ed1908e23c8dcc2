//! The per-thread held-lock stack and the chain node of each entry.
//!
//! Every entry carries the id of its *chain*: the exact sequence of (class,
//! mode) entries from the bottom of the stack up to and including it. Chain
//! ids are interned per validator (see [`chain`](super::chain)), so "this
//! thread validated exactly this chain before" is one lookup of (the chain
//! below, the new entry) — no hashing of the whole stack, no comparison of it.

use std::panic::Location;

use super::ids::ClassId;
use crate::class::Read;

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

    /// The chain the key extends.
    pub(crate) fn parent(self) -> ChainNode {
        ChainNode((self.0 >> 32) as u32)
    }

    /// A well-mixed hash of the key (the front of the thread's cache).
    #[inline(always)]
    pub(crate) fn mix(self) -> u64 {
        self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// One held lock (the kernel's `struct held_lock`).
///
/// `repr(C)`, in this order: the fields the release fast path reads
/// (`instance`, `nest`, `references`) must each lie within one store of the
/// acquire that wrote them. With `references` followed by the one-byte flags
/// the compiler wrote the seven zero bytes as two overlapping 4-byte stores,
/// and the 4-byte load of `references` at the release could be forwarded
/// from neither (a store-forwarding stall on every uncontended lock+unlock).
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct HeldLock {
    pub(crate) instance: usize,
    pub(crate) name: &'static str,
    pub(crate) location: &'static Location<'static>,
    /// The nest lock this entry was taken under: address and name (boxed:
    /// rare, and it keeps the entry small).
    pub(crate) nest: Option<Box<(usize, &'static str)>>,
    /// The id of the chain ending at this entry (see the module docs).
    pub(crate) node: ChainNode,
    /// Merged same-class nest entries (0: a plain entry).
    pub(crate) references: u32,
    pub(crate) class: ClassId,
    pub(crate) subclass: u8,
    pub(crate) read: Read,
    pub(crate) trylock: bool,
    pub(crate) check: bool,
}

impl HeldLock {
    /// The element this entry adds to a chain.
    pub(crate) fn elem(&self) -> Option<Elem> {
        Elem::new(self.class, self.read, self.trylock, self.check)
    }

    pub(crate) fn nest_addr(&self) -> Option<usize> {
        self.nest.as_ref().map(|n| n.0)
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
        self.locks.iter().rposition(|h| h.instance == instance || (h.references > 0 && Some(h.class) == class))
    }

    pub(crate) fn holds_instance(&self, instance: usize) -> bool {
        self.locks.iter().any(|h| h.instance == instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
