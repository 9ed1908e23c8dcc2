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

/// Sets of the front of the per-thread cache (a power of two), two slots
/// (ways) each: 512 slots, 8 KiB.
const SET_BITS: u32 = 8;
const FRONT: usize = 2 << SET_BITS;

/// The first slot of `key`'s set (the second is the next one, in the same
/// cache line).
#[inline(always)]
fn front_set(key: u64) -> usize {
    ((key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SET_BITS)) as usize) * 2
}

/// Whether `key` names a chain head (its parent is the empty stack).
fn is_head(key: u64) -> bool {
    key >> 32 == u64::from(ROOT)
}

/// Per-thread cache of chains that need no validation when pushed: a small
/// two-way set-associative array (a hash, then one or two compares) in front
/// of a map of every such chain this thread met. The fast path reads the
/// front only; a miss there takes the full path, which reads the map and
/// refills the front, so two chains that share a set never evict each other.
pub(crate) struct ThreadChainCache {
    /// `(link(parent, elem), node)`, most recently filled way first. Chain
    /// heads (parent [`ROOT`]) live in the map only: the fast path never
    /// looks them up, and this way key 0 never fills a slot, so an empty
    /// slot never matches.
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
    /// The front alone (the fast path).
    #[inline(always)]
    pub(crate) fn get_front(&self, key: u64) -> Option<u32> {
        let set = front_set(key);
        let [a, b] = [&self.front[set], &self.front[set + 1]];
        if a.0 == key {
            Some(a.1)
        } else if b.0 == key {
            Some(b.1)
        } else {
            None
        }
    }

    /// The node of the chain `key` names, if this thread may push it without
    /// validation (front, then map; a map hit refills the front).
    pub(crate) fn get(&mut self, key: u64) -> Option<u32> {
        if !is_head(key) {
            if let Some(node) = self.get_front(key) {
                return Some(node);
            }
        }
        let node = *self.map.get(&key)?;
        self.fill(key, node);
        Some(node)
    }

    /// Puts `key` in the first way of its set, the previous first way in
    /// the second (chain heads stay out, see `front`).
    fn fill(&mut self, key: u64, node: u32) {
        let set = front_set(key);
        if !is_head(key) && self.front[set].0 != key {
            self.front[set + 1] = self.front[set];
            self.front[set] = (key, node);
        }
    }

    pub(crate) fn insert(&mut self, key: u64, node: u32) {
        // The fast path relies on it: a parent without an id always misses.
        debug_assert!(key >> 32 != u64::from(NO_NODE));
        self.fill(key, node);
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
}

/// The validator-wide chain store: interned chain nodes and which chains
/// were validated (the kernel's chain hash table).
///
/// Node ids are never reused: a thread may still hold an entry whose chain
/// was zapped (a key unregistered while one of its locks is held), and its
/// stale id must not name some later chain. Zapped nodes are freed.
#[derive(Default)]
pub(crate) struct ChainStore {
    nodes: IdMap<u32, Node>,
    index: IdMap<u64, u32>,
    /// The last id handed out (ids start at 1; 0 is [`ROOT`]).
    last: u32,
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
    /// when `limit` interned chains exist already (or, after 2^31 chains,
    /// ids ran out).
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
        if self.index.len() >= limit || self.last + 1 >= HEAD {
            return None;
        }
        self.last += 1;
        let id = self.last;
        let len = self.len_of(parent) + 1;
        self.nodes.insert(id, Node { parent, elem, len, validated: false });
        self.index.insert(key, id);
        Some(id)
    }

    fn len_of(&self, node: u32) -> u32 {
        if node & HEAD != 0 { 1 } else { self.nodes.get(&node).map_or(0, |n| n.len) }
    }

    pub(crate) fn is_validated(&self, node: u32) -> bool {
        if node & HEAD != 0 {
            self.heads.contains(&(node & !HEAD))
        } else {
            self.nodes.get(&node).is_some_and(|n| n.validated)
        }
    }

    /// Records that the chain `node` was validated.
    pub(crate) fn set_validated(&mut self, node: u32) {
        let newly = if node & HEAD != 0 {
            self.heads.insert(node & !HEAD)
        } else {
            match self.nodes.get_mut(&node) {
                Some(n) if !n.validated => {
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

    /// The elements of chain `node`, bottom first (empty for a zapped one).
    pub(crate) fn elems(&self, mut node: u32) -> Vec<u32> {
        let mut out = Vec::new();
        loop {
            if node & HEAD != 0 {
                out.push(node & !HEAD);
                break;
            }
            match self.nodes.get(&node) {
                Some(n) => {
                    out.push(n.elem);
                    node = n.parent;
                }
                None => return Vec::new(),
            }
        }
        out.reverse();
        out
    }

    /// Removes every chain containing a class for which `dead` holds.
    pub(crate) fn zap(&mut self, dead: &dyn Fn(u32) -> bool) {
        // Ids grow, so a parent always has a smaller id than its children:
        // one pass in id order decides each node from its parent. A node
        // whose parent is already gone (interned above a stale entry) goes too.
        let mut ids: Vec<u32> = self.nodes.keys().copied().collect();
        ids.sort_unstable();
        let mut gone: HashSet<u32, BuildHasherDefault<IdHasher>> = HashSet::default();
        for id in ids {
            let n = self.nodes[&id];
            let parent_gone = if n.parent & HEAD != 0 {
                dead(elem_class(n.parent & !HEAD))
            } else {
                gone.contains(&n.parent) || !self.nodes.contains_key(&n.parent)
            };
            if parent_gone || dead(elem_class(n.elem)) {
                gone.insert(id);
            }
        }
        for id in gone {
            let Some(n) = self.nodes.remove(&id) else { continue };
            self.index.remove(&link(n.parent, n.elem));
            if n.validated {
                self.count -= 1;
                self.hlocks -= n.len as usize;
                self.zapped += 1;
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
        for (id, n) in &self.nodes {
            if n.validated {
                out.push(self.elems(*id));
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
    fn interning_is_exact_and_zap_never_reuses_ids() {
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
        // Class 11 dies: every chain through it goes.
        s.zap(&|c| c == 11);
        assert_eq!((s.count, s.hlocks, s.zapped), (1, 1, 1));
        assert!(!s.is_validated(abc));
        assert_eq!(s.elems(abc), Vec::<u32>::new());
        assert_eq!(s.interned(), 1); // a -> 12
        // New chains get new ids: a stale id held somewhere names nothing.
        let ad = s.intern(a, 13 << 4, 100).unwrap();
        assert!(ad != ab && ad != abc);
        assert_eq!(s.elems(ad), vec![10 << 4, 13 << 4]);
        assert_eq!(s.intern(ab, 14 << 4, 100).map(|n| s.elems(n).len()), Some(0));
        // The head of a chain dies: the whole chain goes.
        s.zap(&|c| c == 10);
        assert_eq!((s.interned(), s.count, s.hlocks), (0, 0, 0));
        // The limit.
        let b = s.intern(ROOT, 20 << 4, 100).unwrap();
        assert!(s.intern(b, 21 << 4, 1).is_some());
        assert_eq!(s.intern(b, 22 << 4, 1), None);
        assert_eq!(s.intern(NO_NODE, 15 << 4, 100), None);
    }

    #[test]
    fn thread_cache_front_and_back() {
        let mut c = ThreadChainCache::default();
        assert_eq!(c.get(link(5, 7)), None);
        c.insert(link(5, 7), 9);
        assert_eq!(c.get(link(5, 7)), Some(9));
        assert_eq!(c.get_front(link(5, 7)), Some(9));
        // Two keys of one set both stay in the front; a third evicts the
        // older, which the map still knows (and `get` puts back).
        let set = front_set(link(5, 7));
        let same: Vec<u64> = (8..100_000u32).map(|e| link(5, e)).filter(|k| front_set(*k) == set).take(2).collect();
        c.insert(same[0], 10);
        assert_eq!((c.get_front(link(5, 7)), c.get_front(same[0])), (Some(9), Some(10)));
        c.insert(same[1], 11);
        assert_eq!((c.get_front(link(5, 7)), c.get_front(same[0]), c.get_front(same[1])), (None, Some(10), Some(11)));
        assert_eq!(c.get(link(5, 7)), Some(9));
        assert_eq!(c.get_front(link(5, 7)), Some(9));
        // Many keys: some share front slots, all are found through the map.
        for i in 0..2000u32 {
            c.insert(link(HEAD | i, i), i + 1);
        }
        for i in 0..2000u32 {
            assert_eq!(c.get(link(HEAD | i, i)), Some(i + 1));
        }
        // Chain heads are kept in the map only: an empty front slot (key 0)
        // must never answer for the head of class 0.
        let head = link(ROOT, 0);
        assert_eq!(c.get(head), None);
        c.insert(head, HEAD);
        assert_eq!(c.get(head), Some(HEAD));
        assert!(c.front.iter().all(|s| s.0 != head || s.1 == 0));
        c.reset(3);
        assert_eq!((c.get(link(5, 7)), c.get(head), c.epoch), (None, None, 3));
    }
}
