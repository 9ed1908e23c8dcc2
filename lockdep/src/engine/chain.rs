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

use super::held::{ELEM_CLASS_SHIFT, HEAD, NO_NODE, ROOT, elem_class, link};

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

pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

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

/// Most chains one thread's cache map keeps (1 MiB or so).
const MAP_CAP: usize = 1 << 16;

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
        if self.map.len() >= MAP_CAP {
            // Chains of removed classes are never met again but stay here
            // until the map is emptied: start over (the validator's store
            // still knows every validated chain, so this costs refills only).
            self.map.clear();
        }
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
    /// Positions of this node in its parent's `children` list and in its
    /// class's `by_class` list (removal is O(1) in both).
    at_parent: u32,
    at_class: u32,
}

/// The validator-wide chain store: interned chain nodes and which chains
/// were validated (the kernel's chain hash table).
///
/// Node ids are never reused: a thread may still hold an entry whose chain
/// was zapped (a key unregistered while one of its locks is held), and its
/// stale id must not name some later chain. Zapped nodes are freed.
///
/// Every node is listed under its parent and under the class of its top
/// element, so removing a class visits exactly the chains that contain it.
#[derive(Default)]
pub(crate) struct ChainStore {
    nodes: IdMap<u32, Node>,
    index: IdMap<u64, u32>,
    /// The nodes extending each node (chain heads included, by their
    /// `HEAD | elem` id).
    children: IdMap<u32, Vec<u32>>,
    /// The nodes whose top element is of each class.
    by_class: IdMap<u32, Vec<u32>>,
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

/// Every element a class can appear as (read mode, trylock and unchecked
/// bits below the class).
fn elems_of_class(class: u32) -> impl Iterator<Item = u32> {
    (0..1u32 << ELEM_CLASS_SHIFT).map(move |low| (class << ELEM_CLASS_SHIFT) | low)
}

impl ChainStore {
    /// The node of `parent` followed by `elem`, interning it if new; `None`
    /// when `limit` interned chains exist already, when `parent` is a chain
    /// that was removed (a stale entry: nothing above it is cached), or,
    /// after 2^31 chains, when ids ran out.
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
        if parent & HEAD == 0 && !self.nodes.contains_key(&parent) {
            return None;
        }
        if self.index.len() >= limit || self.last + 1 >= HEAD {
            return None;
        }
        self.last += 1;
        let id = self.last;
        let len = self.len_of(parent) + 1;
        let siblings = self.children.entry(parent).or_default();
        let at_parent = siblings.len() as u32;
        siblings.push(id);
        let same_class = self.by_class.entry(elem_class(elem)).or_default();
        let at_class = same_class.len() as u32;
        same_class.push(id);
        self.nodes.insert(id, Node { parent, elem, len, validated: false, at_parent, at_class });
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

    /// Removes every chain containing `class` (the kernel's
    /// `remove_class_from_lock_chains`), in time proportional to those chains.
    pub(crate) fn zap_class(&mut self, class: u32) {
        let mut doomed = self.by_class.remove(&class).unwrap_or_default();
        for e in elems_of_class(class) {
            if self.heads.remove(&e) {
                self.count -= 1;
                self.hlocks -= 1;
                self.zapped += 1;
            }
            doomed.extend(self.children.remove(&(HEAD | e)).unwrap_or_default());
        }
        while let Some(id) = doomed.pop() {
            let Some(n) = self.nodes.remove(&id) else { continue };
            self.index.remove(&link(n.parent, n.elem));
            self.unlist(n);
            if n.validated {
                self.count -= 1;
                self.hlocks -= n.len as usize;
                self.zapped += 1;
            }
            doomed.extend(self.children.remove(&id).unwrap_or_default());
        }
    }

    /// Takes a removed node out of its parent's and its class's lists (those
    /// being removed themselves are gone already).
    fn unlist(&mut self, n: Node) {
        if let Some(list) = self.children.get_mut(&n.parent) {
            list.swap_remove(n.at_parent as usize);
            if let Some(&moved) = list.get(n.at_parent as usize) {
                if let Some(m) = self.nodes.get_mut(&moved) {
                    m.at_parent = n.at_parent;
                }
            }
            if list.is_empty() {
                self.children.remove(&n.parent);
            }
        }
        let class = elem_class(n.elem);
        if let Some(list) = self.by_class.get_mut(&class) {
            list.swap_remove(n.at_class as usize);
            if let Some(&moved) = list.get(n.at_class as usize) {
                if let Some(m) = self.nodes.get_mut(&moved) {
                    m.at_class = n.at_class;
                }
            }
            if list.is_empty() {
                self.by_class.remove(&class);
            }
        }
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
    #[cfg(test)]
    pub(crate) fn interned(&self) -> usize {
        self.index.len()
    }

    /// Checks that every node is listed exactly where it says (tests).
    #[cfg(test)]
    fn lists_are_consistent(&self) -> bool {
        let listed: usize = self.children.values().map(Vec::len).sum();
        let by_class: usize = self.by_class.values().map(Vec::len).sum();
        listed == self.nodes.len()
            && by_class == self.nodes.len()
            && self.nodes.iter().all(|(id, n)| {
                self.children.get(&n.parent).and_then(|l| l.get(n.at_parent as usize)) == Some(id)
                    && self.by_class.get(&elem_class(n.elem)).and_then(|l| l.get(n.at_class as usize)) == Some(id)
            })
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
        s.zap_class(11);
        assert!(s.lists_are_consistent());
        assert_eq!((s.count, s.hlocks, s.zapped), (1, 1, 1));
        assert!(!s.is_validated(abc));
        assert_eq!(s.elems(abc), Vec::<u32>::new());
        assert_eq!(s.interned(), 1); // a -> 12
        // New chains get new ids: a stale id held somewhere names nothing.
        let ad = s.intern(a, 13 << 4, 100).unwrap();
        assert!(ad != ab && ad != abc);
        assert_eq!(s.elems(ad), vec![10 << 4, 13 << 4]);
        assert_eq!(s.intern(ab, 14 << 4, 100), None, "nothing is interned above a removed chain");
        // The head of a chain dies: the whole chain goes.
        s.zap_class(10);
        assert!(s.lists_are_consistent());
        assert_eq!((s.interned(), s.count, s.hlocks), (0, 0, 0));
        // The limit.
        let b = s.intern(ROOT, 20 << 4, 100).unwrap();
        assert!(s.intern(b, 21 << 4, 1).is_some());
        assert_eq!(s.intern(b, 22 << 4, 1), None);
        assert_eq!(s.intern(NO_NODE, 15 << 4, 100), None);
    }

    #[test]
    fn removing_one_class_keeps_every_other_chain() {
        // A long-lived head with many short-lived classes above it, some
        // with a chain of their own on top.
        let mut s = ChainStore::default();
        let head = s.intern(ROOT, 1 << 4, usize::MAX).unwrap();
        s.set_validated(head);
        let mut tops = Vec::new();
        for c in 2..500u32 {
            let n = s.intern(head, c << 4, usize::MAX).unwrap();
            s.set_validated(n);
            let m = s.intern(n, 1000 << 4 | 1, usize::MAX).unwrap();
            s.set_validated(m);
            tops.push((c, n, m));
        }
        assert_eq!(s.count, 1 + 2 * 498);
        for &(c, _, _) in tops.iter().filter(|(c, _, _)| c % 3 == 0) {
            s.zap_class(c);
            assert!(s.lists_are_consistent());
        }
        for &(c, n, m) in &tops {
            assert_eq!(s.is_validated(n), c % 3 != 0);
            assert_eq!(s.is_validated(m), c % 3 != 0);
        }
        // The shared top class goes from under every chain at once.
        s.zap_class(1000);
        assert!(s.lists_are_consistent());
        assert!(tops.iter().all(|&(_, _, m)| !s.is_validated(m)));
        assert!(s.is_validated(head));
    }

    #[test]
    fn thread_cache_map_is_bounded() {
        let mut c = ThreadChainCache::default();
        for i in 0..(MAP_CAP as u32 + 10) {
            c.insert(link(HEAD | 3, i), i + 1);
        }
        assert!(c.map.len() <= MAP_CAP);
        let last = MAP_CAP as u32 + 9;
        assert_eq!(c.get(link(HEAD | 3, last)), Some(last + 1));
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
