//! The chain cache: every distinct held-lock sequence (class and read mode of
//! each entry) is validated once.
//!
//! Two levels: a per-thread cache read without any lock, in front of the
//! validator's shared store (under the graph lock). Both verify the stored ids
//! on a hit, so a 64-bit key collision can never skip a validation.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

/// Chain keys are already well-mixed 64-bit hashes: hash them as themselves.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type KeyMap<V> = HashMap<u64, V, BuildHasherDefault<KeyHasher>>;

/// Slots of the direct-mapped front of the per-thread cache.
const FRONT: usize = 256;

/// A front slot: the chain key and the chain's ids.
type FrontSlot = (u64, Option<Rc<[u64]>>);

/// Per-thread cache of validated chains: a small direct-mapped array (one
/// probe, no hashing) in front of a map of every chain this thread validated.
pub(crate) struct ThreadChainCache {
    front: Box<[FrontSlot]>,
    map: KeyMap<Rc<[u64]>>,
    /// The validator generation the cache is valid for (zapping bumps it).
    pub(crate) generation: u64,
}

impl Default for ThreadChainCache {
    fn default() -> Self {
        ThreadChainCache { front: vec![(0, None); FRONT].into_boxed_slice(), map: KeyMap::default(), generation: 0 }
    }
}

impl ThreadChainCache {
    /// The ids stored under `key` (the caller compares them with the stack).
    #[inline]
    pub(crate) fn get(&mut self, key: u64) -> Option<&[u64]> {
        let slot = key as usize % FRONT;
        if self.front[slot].0 != key || self.front[slot].1.is_none() {
            let ids = self.map.get(&key)?.clone();
            self.front[slot] = (key, Some(ids));
        }
        self.front[slot].1.as_deref()
    }
    pub(crate) fn insert(&mut self, key: u64, ids: Box<[u64]>) {
        let ids: Rc<[u64]> = ids.into();
        self.front[key as usize % FRONT] = (key, Some(ids.clone()));
        self.map.insert(key, ids);
    }
    pub(crate) fn clear(&mut self, generation: u64) {
        self.map.clear();
        self.front.iter_mut().for_each(|s| *s = (0, None));
        self.generation = generation;
    }
}

/// The validator-wide chain store.
#[derive(Default)]
pub(crate) struct ChainStore {
    map: KeyMap<Vec<Box<[u64]>>>,
    pub(crate) count: usize,
    pub(crate) hlocks: usize,
    pub(crate) collisions: u64,
    pub(crate) zapped: usize,
}

impl ChainStore {
    pub(crate) fn contains(&self, key: u64, ids: &[u64]) -> bool {
        self.map.get(&key).is_some_and(|v| v.iter().any(|c| **c == *ids))
    }

    pub(crate) fn note_collision(&mut self, key: u64, ids: &[u64]) {
        if self.map.get(&key).is_some_and(|v| v.iter().all(|c| **c != *ids)) {
            self.collisions += 1;
        }
    }

    pub(crate) fn insert(&mut self, key: u64, ids: Box<[u64]>) {
        self.count += 1;
        self.hlocks += ids.len();
        self.map.entry(key).or_default().push(ids);
    }

    /// Removes every chain containing a class id in `dead` (ids are `class << 2 | read`).
    pub(crate) fn zap(&mut self, dead: &dyn Fn(u64) -> bool) {
        let mut removed = 0;
        let mut hl = 0;
        self.map.retain(|_, v| {
            v.retain(|c| {
                let keep = !c.iter().any(|id| dead(*id >> super::graph::CHAIN_ID_CLASS_SHIFT));
                if !keep {
                    removed += 1;
                    hl += c.len();
                }
                keep
            });
            !v.is_empty()
        });
        self.count -= removed;
        self.hlocks -= hl;
        self.zapped += removed;
    }

    #[allow(dead_code)] // used by the dumps
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[u64]> {
        self.map.values().flat_map(|v| v.iter().map(|b| &**b))
    }
}
