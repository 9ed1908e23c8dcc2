//! The per-thread held-lock stack and its chain key.

use std::panic::Location;

use super::graph::{ClassId, chain_id};
use crate::class::Read;

/// The chain key of an empty stack (the kernel's `INITIAL_CHAIN_KEY`).
pub(crate) const INITIAL_CHAIN_KEY: u64 = u64::MAX;

/// Mixes one entry's id into a chain key (a strong 64-bit incremental hash;
/// cache hits are verified against the stored ids anyway).
pub(crate) fn iterate_chain_key(key: u64, id: u64) -> u64 {
    let mut z = key.rotate_left(23) ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One held lock (the kernel's `struct held_lock`).
#[derive(Clone, Debug)]
pub(crate) struct HeldLock {
    pub(crate) class: ClassId,
    pub(crate) instance: usize,
    pub(crate) name: &'static str,
    pub(crate) subclass: u32,
    pub(crate) read: Read,
    pub(crate) trylock: bool,
    pub(crate) check: bool,
    pub(crate) nest: Option<(usize, &'static str)>,
    /// Merged same-class nest entries (0: a plain entry).
    pub(crate) references: u32,
    pub(crate) location: &'static Location<'static>,
    /// Chain key before this entry was pushed.
    pub(crate) prev_chain_key: u64,
    /// Chain key including this entry.
    pub(crate) chain_key: u64,
}

impl HeldLock {
    pub(crate) fn id(&self) -> u64 {
        chain_id(self.class, self.read, self.trylock)
    }
}

#[derive(Default, Debug)]
pub(crate) struct HeldStack {
    pub(crate) locks: Vec<HeldLock>,
}

impl HeldStack {
    pub(crate) fn curr_chain_key(&self) -> u64 {
        self.locks.last().map_or(INITIAL_CHAIN_KEY, |h| h.chain_key)
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

    /// The chain ids of the whole stack followed by `next`.
    pub(crate) fn chain_ids(&self, next: u64) -> Vec<u64> {
        let mut ids: Vec<u64> = self.locks.iter().map(HeldLock::id).collect();
        ids.push(next);
        ids
    }

    /// Whether the stack followed by `next` has exactly the ids `ids`.
    pub(crate) fn chain_matches(&self, ids: &[u64], next: u64) -> bool {
        ids.len() == self.locks.len() + 1
            && ids.last() == Some(&next)
            && self.locks.iter().zip(ids).all(|(h, id)| h.id() == *id)
    }
}
