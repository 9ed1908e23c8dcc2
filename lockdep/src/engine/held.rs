//! The per-thread held-lock stack and the chain node of each entry.
//!
//! Every entry carries the id of its *chain*: the exact sequence of (class,
//! mode) entries from the bottom of the stack up to and including it. Chain
//! ids are interned per validator (see [`chain`](super::chain)), so "this
//! thread validated exactly this chain before" is one lookup of (the chain
//! below, the new entry) — no hashing of the whole stack, no comparison of it.

use std::panic::Location;

use super::graph::ClassId;
use crate::class::Read;

/// The node of a stack entry whose chain has no id (learning stopped, or
/// an untracked class): locks above it always take the full path.
pub(crate) const NO_NODE: u32 = u32::MAX;
/// The parent of a chain head (the empty stack).
pub(crate) const ROOT: u32 = 0;
/// Chains of one entry are not interned: their node is this bit and the
/// entry's element.
pub(crate) const HEAD: u32 = 1 << 31;

/// Bits of an element below the class index.
pub(crate) const ELEM_CLASS_SHIFT: u32 = 4;
/// Largest class index an element can hold (the rest are untracked here).
const ELEM_MAX_CLASS: u32 = (HEAD >> ELEM_CLASS_SHIFT) - 2;

/// What a chain records of one entry: the class, the read mode, whether it
/// was a trylock and whether it was taken without checking. `None` for
/// classes that cannot be encoded (the untracked class).
///
/// The trylock bit is kept, unlike the kernel's chain key: caching a chain
/// with a blocking entry makes a later identical chain with a *trylock* entry
/// in its place skip validation — yet the walk past a trylock adds
/// dependencies from the locks below it that the blocking version never
/// needed, so a real deadlock could go unreported (found by the property test
/// against a brute-force oracle). Keeping the bit costs a few more chains.
#[inline(always)]
pub(crate) fn elem(class: ClassId, read: Read, trylock: bool, check: bool) -> Option<u32> {
    (class.raw() <= ELEM_MAX_CLASS).then(|| elem_unchecked(class, read, trylock, check))
}

/// [`elem`] for a class known to fit (cached classes always do).
#[inline(always)]
pub(crate) fn elem_unchecked(class: ClassId, read: Read, trylock: bool, check: bool) -> u32 {
    (class.raw() << ELEM_CLASS_SHIFT) | ((!check as u32) << 3) | ((trylock as u32) << 2) | read.as_kernel() as u32
}

/// The parts of an element: class, read mode, trylock.
pub(crate) fn elem_parts(e: u32) -> (ClassId, Read, bool) {
    let read = Read::from_kernel((e & 3) as u8).unwrap_or(Read::Exclusive);
    (ClassId::from_raw(e >> ELEM_CLASS_SHIFT), read, e & 4 != 0)
}

/// The class of an element.
pub(crate) fn elem_class(e: u32) -> u32 {
    e >> ELEM_CLASS_SHIFT
}

/// The key of the chain `parent` followed by `elem`, as the chain caches
/// look it up: exact, both halves are ids.
#[inline(always)]
pub(crate) fn link(parent: u32, elem: u32) -> u64 {
    (u64::from(parent) << 32) | u64::from(elem)
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
    pub(crate) node: u32,
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
    pub(crate) fn elem(&self) -> Option<u32> {
        elem(self.class, self.read, self.trylock, self.check)
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
    pub(crate) fn curr_node(&self) -> u32 {
        self.locks.last().map_or(ROOT, |h| h.node)
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
                    let e = elem(c, read, trylock, check).unwrap();
                    assert_eq!(elem_parts(e), (c, read, trylock));
                    assert_eq!(elem_class(e), 12345);
                    assert!(e < HEAD);
                    assert!(seen.insert(e), "two entries share an element");
                }
            }
        }
        assert_eq!(elem(ClassId::UNTRACKED, Read::Exclusive, false, true), None);
        assert!(elem(ClassId::from_raw(ELEM_MAX_CLASS), Read::SharedRecursive, true, false).unwrap() | HEAD != NO_NODE);
    }
}
