//! The chain cache: every distinct held-lock sequence (class and mode of
//! each entry) is validated once.
//!
//! A chain is named by a node id, interned per validator from (the node of
//! the chain below, the new entry's element); a chain of one entry needs no
//! interning (its node is [`HEAD`] | element). Two levels:
//!
//! * the validator's [`ChainStore`] (under the graph lock) interns nodes and
//!   knows which chains were validated;
//! * a per-thread [`ThreadChainCache`] read without any lock maps
//!   (parent node, element) to the node of a chain that needs no further
//!   validation. Its keys are exact, so a hit never needs verifying.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use super::held::{HEAD, NO_NODE, ROOT, elem_class, link};

/// A multiplicative hasher for keys that are already ids (two `u32`s).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Slots of the direct-mapped front of the per-thread cache (a power of two).
const FRONT_BITS: u32 = 9;
const FRONT: usize = 1 << FRONT_BITS;

/// The front slot of `key`.
#[inline(always)]
fn front_slot(key: u64) -> usize {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - FRONT_BITS)) as usize
}

/// Per-thread cache of chains that need no validation when pushed: a small
/// direct-mapped array (one probe, one compare) in front of a map of every
/// such chain this thread met.
pub(crate) struct ThreadChainCache {
    /// `(link(parent, elem), node)`; key 0 is never a real key (the parent
    /// of a cached chain is never [`ROOT`]).
    front: Box<[(u64, u32); FRONT]>,
    map: IdMap<u64, u32>,
    /// The validator epoch the cache is valid for (a zap starts a new one).
    pub(crate) epoch: u64,
}

impl Default for ThreadChainCache {
    fn default() -> Self {
        ThreadChainCache { front: Box::new([(0, 0); FRONT]), map: IdMap::default(), epoch: 0 }
    }
}

impl ThreadChainCache {
    /// The node of the chain `key` names, if this thread may push it without
    /// validation.
    #[inline(always)]
    pub(crate) fn get(&mut self, key: u64) -> Option<u32> {
        let slot = &self.front[front_slot(key)];
        if slot.0 == key { Some(slot.1) } else { self.get_back(key) }
    }

    #[inline(never)]
    fn get_back(&mut self, key: u64) -> Option<u32> {
        let node = *self.map.get(&key)?;
        self.front[front_slot(key)] = (key, node);
        Some(node)
    }

    pub(crate) fn insert(&mut self, key: u64, node: u32) {
        debug_assert!(key >> 32 != u64::from(ROOT));
        self.front[front_slot(key)] = (key, node);
        self.map.insert(key, node);
    }

    /// Empties the cache for `epoch`.
    pub(crate) fn reset(&mut self, epoch: u64) {
        self.map.clear();
        self.front.iter_mut().for_each(|s| *s = (0, 0));
        self.epoch = epoch;
    }
}

/// One interned chain: the chain below it and its top element.
#[derive(Clone, Copy)]
struct Node {
    parent: u32,
    elem: u32,
    /// Entries in the chain.
    len: u32,
    validated: bool,
    live: bool,
}

/// The validator-wide chain store: interned chain nodes and which chains
/// were validated (the kernel's chain hash table).
#[derive(Default)]
pub(crate) struct ChainStore {
    /// Indexed by node id; id 0 is [`ROOT`] (never interned).
    nodes: Vec<Node>,
    free: Vec<u32>,
    index: IdMap<u64, u32>,
    /// Chain heads (chains of one entry) recorded as validated, by element.
    heads: HashSet<u32, BuildHasherDefault<IdHasher>>,
    /// Validated chains.
    pub(crate) count: usize,
    /// Entries over all validated chains.
    pub(crate) hlocks: usize,
    pub(crate) zapped: usize,
}

impl ChainStore {
    /// The node of `parent` followed by `elem`, interning it if new; `None`
    /// when `limit` interned chains exist already.
    pub(crate) fn intern(&mut self, parent: u32, elem: u32, limit: usize) -> Option<u32> {
        if parent == NO_NODE {
            return None;
        }
        if parent == ROOT {
            return Some(HEAD | elem);
        }
        let key = link(parent, elem);
        if let Some(&n) = self.index.get(&key) {
            return Some(n);
        }
        if self.index.len() >= limit {
            return None;
        }
        let len = self.len_of(parent) + 1;
        let node = Node { parent, elem, len, validated: false, live: true };
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                if self.nodes.is_empty() {
                    self.nodes.push(Node { parent: ROOT, elem: 0, len: 0, validated: false, live: false });
                }
                let id = u32::try_from(self.nodes.len()).ok().filter(|&id| id < HEAD)?;
                self.nodes.push(node);
                id
            }
        };
        self.index.insert(key, id);
        Some(id)
    }

    fn len_of(&self, node: u32) -> u32 {
        if node & HEAD != 0 { 1 } else { self.nodes.get(node as usize).map_or(0, |n| n.len) }
    }

    pub(crate) fn is_validated(&self, node: u32) -> bool {
        if node & HEAD != 0 {
            self.heads.contains(&(node & !HEAD))
        } else {
            self.nodes.get(node as usize).is_some_and(|n| n.live && n.validated)
        }
    }

    /// Records that the chain `node` was validated.
    pub(crate) fn set_validated(&mut self, node: u32) {
        let newly = if node & HEAD != 0 {
            self.heads.insert(node & !HEAD)
        } else {
            match self.nodes.get_mut(node as usize) {
                Some(n) if n.live && !n.validated => {
                    n.validated = true;
                    true
                }
                _ => false,
            }
        };
        if newly {
            self.count += 1;
            self.hlocks += self.len_of(node) as usize;
        }
    }

    /// The elements of chain `node`, bottom first.
    pub(crate) fn elems(&self, mut node: u32) -> Vec<u32> {
        let mut out = Vec::new();
        loop {
            if node & HEAD != 0 {
                out.push(node & !HEAD);
                break;
            }
            match self.nodes.get(node as usize) {
                Some(n) if n.live => {
                    out.push(n.elem);
                    node = n.parent;
                }
                _ => break,
            }
        }
        out.reverse();
        out
    }

    /// Removes every chain containing a class for which `dead` holds.
    pub(crate) fn zap(&mut self, dead: &dyn Fn(u32) -> bool) {
        // 0: not known yet, 1: keep, 2: remove. Parents may have larger ids
        // than their children (ids are reused), so resolve up the chain.
        let mut state = vec![0u8; self.nodes.len()];
        let mut path = Vec::new();
        for id in 1..self.nodes.len() {
            let mut cur = id as u32;
            let verdict = loop {
                if cur & HEAD != 0 {
                    break if dead(elem_class(cur & !HEAD)) { 2 } else { 1 };
                }
                let n = self.nodes[cur as usize];
                if !n.live {
                    break 2;
                }
                match state[cur as usize] {
                    0 if dead(elem_class(n.elem)) => {
                        state[cur as usize] = 2;
                        break 2;
                    }
                    0 => {
                        path.push(cur);
                        cur = n.parent;
                    }
                    s => break s,
                }
            };
            for p in path.drain(..) {
                state[p as usize] = verdict;
            }
        }
        for (id, s) in state.iter().enumerate().skip(1) {
            let n = self.nodes[id];
            if *s == 2 && n.live {
                self.index.remove(&link(n.parent, n.elem));
                if n.validated {
                    self.count -= 1;
                    self.hlocks -= n.len as usize;
                    self.zapped += 1;
                }
                self.nodes[id].live = false;
                self.free.push(id as u32);
            }
        }
        let before = self.heads.len();
        self.heads.retain(|e| !dead(elem_class(*e)));
        let removed = before - self.heads.len();
        self.count -= removed;
        self.hlocks -= removed;
        self.zapped += removed;
    }

    /// Every validated chain, as its elements (bottom first).
    pub(crate) fn validated(&self) -> Vec<Vec<u32>> {
        let mut out: Vec<Vec<u32>> = self.heads.iter().map(|e| vec![*e]).collect();
        for (id, n) in self.nodes.iter().enumerate().skip(1) {
            if n.live && n.validated {
                out.push(self.elems(id as u32));
            }
        }
        out
    }

    /// Interned chains (validated or not).
    #[allow(dead_code)] // used by tests
    pub(crate) fn interned(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_exact_and_zap_frees_ids_for_reuse() {
        let mut s = ChainStore::default();
        let a = s.intern(ROOT, 10 << 4, 100).unwrap();
        assert_eq!(a, HEAD | 10 << 4);
        let ab = s.intern(a, 11 << 4, 100).unwrap();
        let abc = s.intern(ab, 12 << 4, 100).unwrap();
        assert_eq!(s.intern(a, 11 << 4, 100), Some(ab));
        assert_ne!(s.intern(a, 12 << 4, 100), Some(ab));
        assert_eq!(s.elems(abc), vec![10 << 4, 11 << 4, 12 << 4]);
        s.set_validated(a);
        s.set_validated(abc);
        s.set_validated(abc);
        assert_eq!((s.count, s.hlocks), (2, 4));
        assert!(s.is_validated(abc) && !s.is_validated(ab));
        // Class 11 dies: every chain through it goes, its ids come back.
        s.zap(&|c| c == 11);
        assert_eq!((s.count, s.hlocks, s.zapped), (1, 1, 1));
        assert!(!s.is_validated(abc));
        assert_eq!(s.interned(), 1); // a -> 12
        let reused = s.intern(a, 13 << 4, 100).unwrap();
        assert!(reused == ab || reused == abc);
        assert_eq!(s.elems(reused), vec![10 << 4, 13 << 4]);
        // A reused id below its parent's id is still resolved by the zap.
        let child = s.intern(reused, 14 << 4, 100).unwrap();
        s.zap(&|c| c == 13);
        assert_eq!(s.elems(child), Vec::<u32>::new());
        assert_eq!(s.interned(), 1);
        // The limit.
        assert_eq!(s.intern(a, 15 << 4, 1), None);
        assert_eq!(s.intern(NO_NODE, 15 << 4, 100), None);
    }

    #[test]
    fn thread_cache_front_and_back() {
        let mut c = ThreadChainCache::default();
        assert_eq!(c.get(link(5, 7)), None);
        c.insert(link(5, 7), 9);
        assert_eq!(c.get(link(5, 7)), Some(9));
        // Many keys: some share front slots, all are found through the map.
        for i in 0..2000u32 {
            c.insert(link(HEAD | i, i), i + 1);
        }
        for i in 0..2000u32 {
            assert_eq!(c.get(link(HEAD | i, i)), Some(i + 1));
        }
        c.reset(3);
        assert_eq!((c.get(link(5, 7)), c.epoch), (None, 3));
    }
}
