//! The chain cache: every distinct held-lock sequence (class and mode of
//! each entry) is validated once.
//!
//! A chain is named by a node id, interned per validator from (the node of
//! the chain below, the new entry's element); a chain of one entry needs no
//! interning (its node is [`ChainNode::head`] of the element). Two levels:
//!
//! * the validator's [`ChainStore`] (under the graph lock) interns nodes and
//!   knows which chains were validated;
//! * a per-thread [`ThreadChainCache`] read without any lock maps
//!   (parent node, element) to the node of a chain that needs no further
//!   validation. Its keys are exact, so a hit never needs verifying.

use std::collections::hash_map::Entry;
use std::mem::size_of;

use super::graph::Slot;
use super::held::{ChainKey, ChainNode, Elem};
use super::ids::{ClassId, IdIndex, IdMap, SmallList, prefetch_write};

/// Sets of the front of the per-thread cache (a power of two), two slots
/// (ways) each: 512 slots, 8 KiB.
const SET_BITS: u32 = 8;
const FRONT: usize = 2 << SET_BITS;

/// Slots of the per-depth memo in front of the front (a power of two; see
/// [`ThreadChainCache::memo`]): a nest deeper than this shares slots.
const MEMO: usize = 16;

/// A slot of [`ThreadChainCache::memo`]: 32 bytes, a held entry's size, so
/// that the fast path indexes it with the scaled depth it indexes the held
/// stack with.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct MemoSlot {
    key: ChainKey,
    node: ChainNode,
}

/// The first slot of `key`'s set (the second is the next one, in the same
/// cache line).
#[inline(always)]
fn front_set(key: ChainKey) -> usize {
    (key.front_hash() & ((1 << SET_BITS) - 1)) as usize * 2
}

/// A class with at most this many chains (its [`ClassChains::nodes`]) has
/// them found by a scan of that list; a longer list's chains are found
/// through [`ChainStore::index`].
const SCAN: usize = 8;

/// How many entries of [`ChainStore::by_class`] are made at once, at most
/// (see [`ChainStore::grow`]).
const GROW: usize = 64;

/// Most chains one thread's cache map keeps (1 MiB or so).
const MAP_CAP: usize = 1 << 16;

/// Most chains an emptied cache map keeps room for ([`ThreadChainCache::reset`]):
/// what a 10,000-class chain's validator grows it to (~20,000 chains, 32,768
/// buckets, ~512 KiB). A map grown past it (to [`MAP_CAP`], by a long-lived
/// validator whose removed classes' chains pile up) is made smaller when it
/// is emptied: its few new chains would otherwise be spread over megabytes,
/// and the next validator to take the thread's state over (`thread.rs`)
/// would pay a cache miss for most of them (criterion's `graph-growth-10000`
/// after the dynamic rows: ~410 ns a new edge instead of ~250).
const KEEP_CAP: usize = 1 << 14;

/// Whether `key` names a chain head (its parent is the empty stack).
fn is_head(key: ChainKey) -> bool {
    key.parent() == ChainNode::ROOT
}

/// Per-thread cache of chains that need no validation when pushed: a small
/// two-way set-associative array (a hash, then one or two compares) in front
/// of a map of every such chain this thread met. The fast path reads the
/// front only; a miss there takes the full path, which reads the map and
/// refills the front, so two chains that share a set never evict each other.
pub(crate) struct ThreadChainCache {
    /// `(key, node)`, most recently filled way first. Chain
    /// heads (parent [`ChainNode::ROOT`]) live in the map only: the fast path never
    /// looks them up, and this way the empty key never fills a slot, so an empty
    /// slot never matches. Inline (the cache is in the thread's boxed
    /// `PerValidator`): the look-up indexes from the pointer the fast path
    /// already has, no load of a box's pointer first.
    front: [(ChainKey, ChainNode); FRONT],
    /// `(key, node)` of the last nested chain the fast path found in the
    /// front at each held-stack depth (modulo [`MEMO`]): a steady-state nest
    /// asks the same key at the same depth every time, and the slot's
    /// offset is the held entry's scaled depth masked, so a hit costs no
    /// hash of the key and no set index (four instructions fewer than the
    /// front's look-up). Only ever a copy of a front entry, emptied with the
    /// front by [`reset`](Self::reset), so it holds no chain the front has
    /// not held since; whole keys are compared, so a slot shared by two
    /// depths only misses, and an empty slot's key (0) never matches.
    memo: [MemoSlot; MEMO],
    /// Every chain of the cache, front or not (see [`ChainMap`]).
    map: ChainMap,
    /// The validator epoch the cache is valid for (a zap starts a new one).
    pub(crate) epoch: u64,
}

impl Default for ThreadChainCache {
    fn default() -> Self {
        ThreadChainCache {
            front: [Default::default(); FRONT],
            memo: [Default::default(); MEMO],
            map: ChainMap::default(),
            epoch: 0,
        }
    }
}

impl ThreadChainCache {
    /// The fast path's look-up of the nested chain `key` pushed at held-stack
    /// depth `depth` (> 0): the depth's [`memo`](Self::memo) slot, then the
    /// front, whose hit is copied into the slot.
    #[inline(always)]
    pub(crate) fn get_nested(&mut self, depth: usize, key: ChainKey) -> Option<ChainNode> {
        // The slot's offset, `depth % MEMO` slots, written as the held
        // entry's scaled depth masked: the fast path has `depth * 32` for
        // the parent's entry, and LLVM shares it (as `depth % MEMO`, it
        // masked and scaled a copy of the depth: four instructions more).
        let at = depth.wrapping_mul(size_of::<MemoSlot>()) & (size_of::<[MemoSlot; MEMO]>() - 1);
        // SAFETY: `at` is a multiple of the slot's size below the array's.
        let m = unsafe { *self.memo.as_ptr().byte_add(at) };
        if m.key == key {
            return Some(m.node);
        }
        let node = self.get_front(key)?;
        // SAFETY: as above.
        unsafe { *self.memo.as_mut_ptr().byte_add(at) = MemoSlot { key, node } };
        Some(node)
    }

    /// The front alone (the fast path).
    #[inline(always)]
    pub(crate) fn get_front(&self, key: ChainKey) -> Option<ChainNode> {
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
    pub(crate) fn get(&mut self, key: ChainKey) -> Option<ChainNode> {
        if !is_head(key) {
            if let Some(node) = self.get_front(key) {
                return Some(node);
            }
        }
        let node = self.map.get(key)?;
        self.fill(key, node);
        Some(node)
    }

    /// Puts `key` in the first way of its set, the previous first way in
    /// the second (chain heads stay out, see `front`).
    fn fill(&mut self, key: ChainKey, node: ChainNode) {
        let set = front_set(key);
        if !is_head(key) && self.front[set].0 != key {
            self.front[set + 1] = self.front[set];
            self.front[set] = (key, node);
        }
    }

    /// Adds the chain `key`, which the cache does not hold: the caller
    /// looked it up and missed ([`get`](Self::get), then the validation),
    /// or its element is of a class just made (ids are never reused).
    pub(crate) fn insert(&mut self, key: ChainKey, node: ChainNode) {
        // The fast path relies on it: a parent without an id always misses.
        debug_assert!(key.parent() != ChainNode::NONE);
        debug_assert!(self.map.get(key).is_none(), "a chain the cache holds was inserted again");
        if self.map.len() >= MAP_CAP {
            // Chains of removed classes are never met again but stay here
            // until the map is emptied: start over (the validator's store
            // still knows every validated chain, so this costs refills only).
            self.map.clear();
        }
        self.fill(key, node);
        self.map.insert_new(key, node);
    }

    /// Asks the processor to fetch, for writing, the line of the map where
    /// `key` would go (its first probe), as soon as the key is known and
    /// long before its [`insert`](Self::insert): a new chain's key is
    /// random in a map of up to ~512 KiB that the rest of a new edge's work
    /// evicts from the caches. A hint: no effect on what the map holds.
    #[inline(always)]
    pub(crate) fn prefetch(&self, key: ChainKey) {
        self.map.prefetch(key);
    }

    /// Empties the cache for `epoch`, with room for [`KEEP_CAP`] chains at
    /// most.
    pub(crate) fn reset(&mut self, epoch: u64) {
        self.map.clear();
        self.map.shrink_to(KEEP_CAP);
        self.front.iter_mut().for_each(|s| *s = Default::default());
        self.memo.iter_mut().for_each(|s| *s = Default::default());
        self.epoch = epoch;
    }
}

/// The map of a thread's chain cache: its entries in one open-addressed
/// array (linear probing, a power of two long, at most 3/4 full), an
/// entry's place picked by the high bits of its key times an odd constant.
/// The cache never removes one chain, only all of them at once
/// ([`clear`](Self::clear)), so a look-up stops at the first free slot.
///
/// (hashbrown's table, used before, keeps its one-byte tags apart from its
/// entries: a new chain's insert wrote two random lines, a tag's and an
/// entry's, and where the entry would go was not known before the insert.
/// Here it is one line, known from the key alone, which
/// [`prefetch`](Self::prefetch) fetches ahead.)
#[derive(Default)]
struct ChainMap {
    slots: Box<[MapEntry]>,
    /// 64 − log2 of `slots.len()` (the shift that picks a key's slot).
    shift: u32,
    /// The era of the entries in the map: a slot whose `era` differs
    /// is free. Emptying the map starts a new one (no write of the array,
    /// up to ~512 KiB when a 10,000-class validator's thread state is
    /// emptied for the next one); never 0 once the map has an array, whose
    /// new slots are of era 0.
    era: u32,
    len: usize,
}

/// A slot of a [`ChainMap`] (16 bytes: the era takes the room the
/// key and the node leave).
#[derive(Clone, Copy, Default)]
struct MapEntry {
    key: ChainKey,
    node: ChainNode,
    era: u32,
}

impl ChainMap {
    /// Slots of an array when the map first gets one.
    const MIN_SLOTS: usize = 64;

    /// The first slot to probe for `key` (`slots` is not empty).
    #[inline(always)]
    fn home(&self, key: ChainKey) -> usize {
        (key.raw().wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    #[inline]
    fn get(&self, key: ChainKey) -> Option<ChainNode> {
        if self.len == 0 {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let e = self.slots[i];
            if e.era != self.era {
                return None;
            }
            if e.key == key {
                return Some(e.node);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `key`, which the map does not hold (the caller looked it up).
    #[inline]
    fn insert_new(&mut self, key: ChainKey, node: ChainNode) {
        if 4 * (self.len + 1) > 3 * self.slots.len() {
            self.grow();
        }
        let at = self.place(key);
        self.slots[at] = MapEntry { key, node, era: self.era };
        self.len += 1;
    }

    /// The free slot `key` goes to (there is one: the map is at most 3/4
    /// full).
    #[inline(always)]
    fn place(&self, key: ChainKey) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        while self.slots[i].era == self.era {
            i = (i + 1) & mask;
        }
        i
    }

    /// Doubles the array (or makes the first), every entry placed anew.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let (old, era) = (std::mem::take(&mut self.slots), self.era);
        self.alloc((2 * old.len()).max(Self::MIN_SLOTS));
        for e in old.iter().filter(|e| e.era == era) {
            let at = self.place(e.key);
            self.slots[at] = MapEntry { era: self.era, ..*e };
        }
    }

    /// A free array of `n` slots (a power of two), era 1. Out of line: inlined
    /// into `grow` (which it was, once the fast path's memo changed the
    /// inliner's sums) its zeroing became a call of `memset`, whose `rep
    /// stosb` callgrind counts by the byte: +59 instructions a new edge by
    /// `edge_cost.sh` at 1,000 classes, no change of the code's work.
    #[inline(never)]
    fn alloc(&mut self, n: usize) {
        debug_assert!(n.is_power_of_two());
        self.slots = vec![MapEntry::default(); n].into_boxed_slice();
        self.shift = 64 - n.trailing_zeros();
        self.era = 1;
    }

    /// Empties the map (its array kept).
    fn clear(&mut self) {
        if self.len == 0 {
            return;
        }
        self.len = 0;
        self.era = self.era.wrapping_add(1);
        if self.era == 0 {
            // (Every 2^32 − 1 emptyings: the old eras' slots could
            // otherwise be taken for entries again.)
            self.slots.fill(MapEntry::default());
            self.era = 1;
        }
    }

    /// Makes the array of an empty map no longer than `cap` entries need.
    fn shrink_to(&mut self, cap: usize) {
        debug_assert_eq!(self.len, 0);
        let n = (4 * cap).div_ceil(3).next_power_of_two().max(Self::MIN_SLOTS);
        if self.slots.len() > n {
            self.alloc(n);
        }
    }

    /// Entries the array takes before it grows.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        3 * self.slots.len() / 4
    }

    fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// See [`ThreadChainCache::prefetch`].
    #[inline(always)]
    fn prefetch(&self, key: ChainKey) {
        if self.slots.is_empty() {
            return;
        }
        let at: *const MapEntry = &self.slots[self.home(key)];
        prefetch_write(at as usize);
    }
}

/// One interned chain: the chain below it and its top element, and the
/// chains extending it.
struct Node {
    parent: ChainNode,
    elem: Elem,
    /// The graph slot of `elem`'s class (where its [`ClassChains`] entry
    /// is: the class outlives the node).
    at: Slot,
    /// When `parent` is a chain head, the graph slot of its class (whose
    /// entry lists this node among its heads' `head_children`); unused
    /// otherwise.
    parent_at: Slot,
    /// Entries in the chain.
    len: u32,
    /// Positions of this node in its parent's list (the parent node's
    /// `children`, or its head's class's `head_children`) and in its
    /// class's `nodes` list (removal is O(1) in both).
    at_parent: u32,
    at_class: u32,
    validated: bool,
    /// The nodes extending this one (kept with it: interning above a node
    /// reads the node anyway, for its length, and removing it takes them).
    children: SmallList<ChainNode>,
}

/// Where a removed [`Node`] was listed (its fields that
/// [`ChainStore::unlist`] needs), copied out of it before it goes.
#[derive(Clone, Copy)]
struct Links {
    parent: ChainNode,
    elem: Elem,
    at: Slot,
    parent_at: Slot,
    at_parent: u32,
    at_class: u32,
}

impl Links {
    #[inline(always)]
    fn of(n: &Node) -> Links {
        let Node { parent, elem, at, parent_at, at_parent, at_class, .. } = *n;
        Links { parent, elem, at, parent_at, at_parent, at_class }
    }
}

/// The interned chains' nodes, by id: the nodes in a dense vector (a
/// removal moves the last one into the gap) and each id's place in it in an
/// [`IdIndex`] (node ids are handed out once, from 1, and never reused), so
/// interning and removing a node write the index's array instead of a hash
/// table's insert and remove when the id's entry is free.
#[derive(Default)]
struct Nodes {
    at: IdIndex,
    list: Vec<(ChainNode, Node)>,
}

impl Nodes {
    #[inline]
    fn get(&self, id: &ChainNode) -> Option<&Node> {
        let i = self.at.get(id.raw())?;
        Some(&self.list[i as usize].1)
    }

    /// (The last node first: a chain just interned is marked validated
    /// next, and is last in `list`, found without a probe of `at`.)
    #[inline(always)]
    fn get_mut(&mut self, id: &ChainNode) -> Option<&mut Node> {
        let i = match self.list.last() {
            Some((last, _)) if last == id => self.list.len() - 1,
            _ => self.at.get(id.raw())? as usize,
        };
        Some(&mut self.list[i].1)
    }

    /// Adds the node of the new id `id` (ids are handed out once).
    fn insert(&mut self, id: ChainNode, node: Node) {
        self.at.insert(id.raw(), self.list.len() as u32);
        self.list.push((id, node));
        // The line of the next node's last byte, fetched for writing ahead
        // of the next new chain (the list is written in order; its first
        // byte is in that line or in this node's last one).
        if self.list.len() < self.list.capacity() {
            let next = self.list.as_ptr().wrapping_add(self.list.len());
            prefetch_write(next as usize + size_of::<(ChainNode, Node)>() - 1);
        }
    }

    /// Drops the node at `i` of `list`, whose id was removed from `at`
    /// (the last node takes its place; a node removed right after it was
    /// interned is the last one, and nothing moves).
    #[inline(always)]
    fn drop_at(&mut self, i: usize) {
        let last = self.list.len() - 1;
        if i < last {
            let moved = self.list[last].0;
            self.list.swap_remove(i);
            self.at.set(moved.raw(), i as u32);
        } else {
            self.list.truncate(last);
        }
    }

    fn iter(&self) -> impl Iterator<Item = (&ChainNode, &Node)> {
        self.list.iter().map(|(id, n)| (id, n))
    }

    #[cfg(test)]
    fn values(&self) -> impl Iterator<Item = &Node> {
        self.list.iter().map(|(_, n)| n)
    }

    fn len(&self) -> usize {
        self.list.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// What the chain store keeps per class, in the entry of the class's graph
/// slot (see [`ChainStore::by_class`]).
#[derive(Default)]
struct ClassChains {
    /// The class the entry is for (raw; 0 in an entry no class used yet).
    class: u32,
    /// The nodes whose top element is of this class.
    nodes: SmallList<ChainNode>,
    /// The nodes extending a chain head of this class (any of its
    /// elements: the heads of a class go together, with the class).
    head_children: SmallList<ChainNode>,
    /// A bit for each of the class's elements whose chain head (the chain of
    /// that one entry) was recorded as validated. (Kept here rather than in
    /// a set of its own: the class's entry is found by its slot.)
    validated_heads: u16,
    /// Whether the class's chains are in [`ChainStore::index`]: set when
    /// `nodes` grows past [`SCAN`] (every node in it then gets its entry,
    /// and every later one too), kept while the class lives. A class that
    /// never had more than `SCAN` chains — a dynamic class under churn, a
    /// new class's first chains — has its chains found by scanning `nodes`
    /// and costs the index no insert or remove.
    indexed: bool,
}

/// A chain head's record in the [`ChainStore`] (see [`ChainStore::head`]).
pub(crate) struct Head<'a> {
    chains: &'a mut ClassChains,
    bit: u16,
    count: &'a mut usize,
    hlocks: &'a mut usize,
}

impl Head<'_> {
    pub(crate) fn is_validated(&self) -> bool {
        self.chains.validated_heads & self.bit != 0
    }

    /// Validated chains in the store (the `max_chains` limit's count).
    pub(crate) fn count(&self) -> usize {
        *self.count
    }

    /// Records the head as validated (counted once).
    pub(crate) fn set_validated(self) {
        if self.chains.validated_heads & self.bit == 0 {
            self.chains.validated_heads |= self.bit;
            *self.count += 1;
            *self.hlocks += 1;
        }
    }
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
    nodes: Nodes,
    /// (parent, element) → node, for the chains of the classes with more
    /// than [`SCAN`] chains ([`ClassChains::indexed`]); the others are
    /// found in their class's list.
    index: IdMap<ChainKey, ChainNode>,
    /// Per class, by the class's graph slot: the nodes whose top element
    /// is of it, the nodes extending its heads, its validated heads (see
    /// [`ClassChains`]). The caller knows
    /// the slot wherever the store needs a class's entry (the graph looked
    /// it up or made it), so no table is probed for it; a removed class's
    /// entry is emptied with it ([`zap_class`](Self::zap_class)), so the
    /// class that takes the slot next starts from nothing. (Class ids are
    /// never reused, so a vector by id would grow without bound under
    /// class churn; slots are reused.)
    by_class: Vec<ClassChains>,
    /// The last id handed out (ids start at 1; 0 is [`ChainNode::ROOT`]).
    last: u32,
    /// The chains a removal is taking down (kept to save an allocation per
    /// removal).
    doomed: Vec<ChainNode>,
    /// Validated chains.
    pub(crate) count: usize,
    /// Entries over all validated chains.
    pub(crate) hlocks: usize,
    pub(crate) zapped: usize,
}

/// A dropped chain store's largest tables, emptied (their capacity kept),
/// for the next validator's store to start from (see `spare.rs`): the
/// nodes and their ids' places, the chain index and the per-class entries.
pub(crate) struct ChainTables {
    list: Vec<(ChainNode, Node)>,
    at: IdIndex,
    index: IdMap<ChainKey, ChainNode>,
    by_class: Vec<ClassChains>,
}

impl ChainTables {
    /// The tables' capacity in bytes (entries, as [`GraphTables::bytes`](super::graph::GraphTables::bytes)).
    pub(crate) fn bytes(&self) -> usize {
        use std::mem::size_of;
        self.list.capacity() * size_of::<(ChainNode, Node)>()
            + self.at.bytes()
            + self.index.capacity() * size_of::<(ChainKey, ChainNode)>()
            + self.by_class.capacity() * size_of::<ClassChains>()
    }
}

impl ChainStore {
    /// An empty store whose tables are `tables` (emptied: see
    /// [`ChainTables`]); the same as `ChainStore::default()` but for their
    /// capacity.
    pub(crate) fn with_tables(tables: ChainTables) -> ChainStore {
        let ChainTables { list, at, index, by_class } = tables;
        debug_assert!(list.is_empty() && at.len == 0 && index.is_empty() && by_class.is_empty());
        // (Spelled out, as `Graph::with_tables` for the same reason.)
        ChainStore {
            nodes: Nodes { at, list },
            index,
            by_class,
            last: 0,
            doomed: Vec::new(),
            count: 0,
            hlocks: 0,
            zapped: 0,
        }
    }

    /// Takes the store's largest tables out, emptied (what they held is
    /// dropped here), leaving empty ones; for a store that is being dropped.
    pub(crate) fn take_tables(&mut self) -> ChainTables {
        let nodes = std::mem::take(&mut self.nodes);
        let mut t = ChainTables {
            list: nodes.list,
            at: nodes.at,
            index: std::mem::take(&mut self.index),
            by_class: std::mem::take(&mut self.by_class),
        };
        t.list.clear();
        t.at.clear();
        t.index.clear();
        t.by_class.clear();
        t
    }

    /// The node of `parent` followed by `elem`, interning it if new; `None`
    /// when `limit` interned chains exist already, when `parent` is a chain
    /// that was removed (a stale entry: nothing above it is cached), or,
    /// after 2^31 chains, when ids ran out.
    /// `at`: the graph slot of `elem`'s class; `parent_at`: that of the
    /// class of `parent`'s top element, needed when `parent` is a head
    /// (`None` for a head: nothing is interned).
    #[cfg(test)]
    pub(crate) fn intern(
        &mut self,
        parent: ChainNode,
        parent_at: Option<Slot>,
        elem: Elem,
        at: Slot,
        limit: usize,
    ) -> Option<ChainNode> {
        self.intern_validated(parent, parent_at, elem, at, limit).map(|(node, _)| node)
    }

    /// [`intern`](Self::intern), and whether the chain was validated (what
    /// [`is_validated`](Self::is_validated) says of it, without a second
    /// probe: a chain interned here was not).
    pub(crate) fn intern_validated(
        &mut self,
        parent: ChainNode,
        parent_at: Option<Slot>,
        elem: Elem,
        at: Slot,
        limit: usize,
    ) -> Option<(ChainNode, bool)> {
        if parent == ChainNode::NONE {
            return None;
        }
        if parent == ChainNode::ROOT {
            return Some((ChainNode::head(elem), self.head_validated(elem, at)));
        }
        let parent_head = match parent.head_elem() {
            Some(e) => Some((e, parent_at?)),
            None => None,
        };
        let key = ChainKey::new(parent, elem);
        let interned = self.nodes.len();
        // The chain is among its class's: a scan of a short list, else one
        // probe of `index`, which also finds the place of a new one.
        let class = (self.by_class.get(at.index())).filter(|c| c.class == elem.class().raw());
        let indexed = class.is_some_and(|c| c.indexed);
        let slot = if indexed {
            match self.index.entry(key) {
                Entry::Occupied(o) => {
                    let n = *o.get();
                    return Some((n, self.nodes.get(&n).is_some_and(|n| n.validated)));
                }
                Entry::Vacant(v) => Some(v),
            }
        } else {
            for id in class.map_or(&[][..], |c| &c.nodes[..]) {
                if let Some(n) = self.nodes.get(id).filter(|n| n.parent == parent && n.elem == elem) {
                    return Some((*id, n.validated));
                }
            }
            None
        };
        if interned >= limit {
            return None;
        }
        // The list the new node joins: its parent's, or its parent head's
        // class's.
        let (len, siblings, parent_at) = match parent_head {
            None => {
                let below = self.nodes.get_mut(&parent)?; // a removed chain
                (below.len + 1, &mut below.children, at)
            }
            Some((e, parent_at)) => {
                (2, &mut Self::entry(&mut self.by_class, parent_at, e.class()).head_children, parent_at)
            }
        };
        let id = ChainNode::interned(self.last + 1)?;
        self.last += 1;
        if let Some(slot) = slot {
            slot.insert(id);
        }
        let at_parent = siblings.len() as u32;
        siblings.push(id);
        let same_class = Self::entry(&mut self.by_class, at, elem.class());
        let at_class = same_class.nodes.len() as u32;
        same_class.nodes.push(id);
        let grown = !same_class.indexed && same_class.nodes.len() > SCAN;
        let children = SmallList::default();
        let node = Node { parent, elem, at, parent_at, len, at_parent, at_class, validated: false, children };
        // (`id` is new: node ids are handed out once, from `last`.)
        self.nodes.insert(id, node);
        if grown {
            self.index_class(at);
        }
        Some((id, false))
    }

    /// Gives every chain of the class in slot `at` its entry in `index`
    /// (its list just grew past [`SCAN`]; once per class).
    #[cold]
    #[inline(never)]
    fn index_class(&mut self, at: Slot) {
        let chains = &mut self.by_class[at.index()];
        chains.indexed = true;
        for id in chains.nodes.iter() {
            if let Some(n) = self.nodes.get(id) {
                self.index.insert(ChainKey::new(n.parent, n.elem), *id);
            }
        }
    }

    /// The entry of the live class `class` in its graph slot `at` (the
    /// vector grows to it if need be).
    #[inline]
    fn entry(by_class: &mut Vec<ClassChains>, at: Slot, class: ClassId) -> &mut ClassChains {
        if at.index() >= by_class.len() {
            Self::grow(by_class, at);
        }
        let c = &mut by_class[at.index()];
        debug_assert!(c.class == 0 || c.class == class.raw(), "a removed class's entry was not emptied");
        c.class = class.raw();
        c
    }

    /// Makes `at`'s entry, and up to [`GROW`] - 1 more within the vector's
    /// capacity: a growing graph's new classes take slot after slot, and a
    /// `resize_with` per class cost ~57 instructions a new class (an entry
    /// no class used is empty, `class` 0, as a removed class's is).
    #[cold]
    #[inline(never)]
    fn grow(by_class: &mut Vec<ClassChains>, at: Slot) {
        let len = (by_class.len() + GROW).min(by_class.capacity()).max(at.index() + 1);
        by_class.resize_with(len, ClassChains::default);
    }

    /// Whether the chain head `e` (its class in slot `at`) was validated.
    fn head_validated(&self, e: Elem, at: Slot) -> bool {
        (self.by_class.get(at.index()))
            .is_some_and(|c| c.class == e.class().raw() && c.validated_heads & (1 << e.low_bits()) != 0)
    }

    /// Whether the chain `node` was validated; `at`: the graph slot of the
    /// class of its top element.
    #[cfg(test)]
    pub(crate) fn is_validated(&self, node: ChainNode, at: Slot) -> bool {
        if let Some(e) = node.head_elem() {
            self.head_validated(e, at)
        } else {
            self.nodes.get(&node).is_some_and(|n| n.validated)
        }
    }

    /// Records that the chain `node` was validated; `at`: the graph slot of
    /// the class of its top element.
    pub(crate) fn set_validated(&mut self, node: ChainNode, at: Slot) {
        // The chain's length if it was not validated yet, from the one
        // probe that marks it.
        let newly = if let Some(e) = node.head_elem() {
            let chains = Self::entry(&mut self.by_class, at, e.class());
            let bit = 1 << e.low_bits();
            let newly = chains.validated_heads & bit == 0;
            chains.validated_heads |= bit;
            newly.then_some(1)
        } else {
            match self.nodes.get_mut(&node) {
                Some(n) if !n.validated => {
                    n.validated = true;
                    Some(n.len)
                }
                _ => None,
            }
        };
        if let Some(len) = newly {
            self.count += 1;
            self.hlocks += len as usize;
        }
    }

    /// The record of the chain head `e` (the chain of that one entry), its
    /// class in graph slot `at`: its class's entry answers whether it was
    /// validated and records it (what [`is_validated`](Self::is_validated)
    /// and [`set_validated`](Self::set_validated) do for a head, in two).
    pub(crate) fn head(&mut self, e: Elem, at: Slot) -> Head<'_> {
        Head {
            chains: Self::entry(&mut self.by_class, at, e.class()),
            bit: 1 << e.low_bits(),
            count: &mut self.count,
            hlocks: &mut self.hlocks,
        }
    }

    /// The elements of chain `node`, bottom first (empty for a zapped one).
    pub(crate) fn elems(&self, mut node: ChainNode) -> Vec<Elem> {
        let mut out = Vec::new();
        loop {
            if let Some(e) = node.head_elem() {
                out.push(e);
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
    /// `remove_class_from_lock_chains`), in time proportional to those
    /// chains, and empties the entry of its graph slot `at` (which the
    /// graph frees: the next class in it starts from nothing).
    #[inline(never)] // (inlined into its one caller it cost more: register pressure)
    pub(crate) fn zap_class(&mut self, class: ClassId, at: Slot) {
        // (A class no chain was recorded for has no entry: nothing to do.)
        let Some(entry) = self.by_class.get_mut(at.index()) else { return };
        debug_assert!(entry.class == 0 || entry.class == class.raw(), "slot {at:?} is not class {class:?}'s");
        // (The entry emptied for the slot's next class, field by field;
        // every field named, so that a new one is not forgotten here. Its
        // lists are emptied in place, below.)
        let ClassChains { class: c, nodes: _, head_children: _, validated_heads, indexed } = entry;
        let (validated_heads, indexed) = (std::mem::take(validated_heads), std::mem::take(indexed));
        *c = 0;
        if validated_heads != 0 {
            let heads = validated_heads.count_ones() as usize;
            self.count -= heads;
            self.hlocks -= heads;
            self.zapped += heads;
        }
        // The class's own chains popped off its lists, last first (nothing
        // else writes them: `unlist` leaves the lists of the class being
        // removed alone); only chains above them (rare for a class that
        // dies young: a lock taken under it) go through `doomed`, depth
        // first. (The order is the one a single stack of all of them gave.)
        loop {
            let entry = &mut self.by_class[at.index()];
            let Some(id) = entry.head_children.pop().or_else(|| entry.nodes.pop()) else { break };
            if let Some(children) = self.zap_node(id, class, indexed) {
                self.zap_above(children, class, indexed);
            }
        }
        // (A list that outgrew its inline room gives its box back, as the
        // next class in the slot starts from nothing.)
        let entry = &mut self.by_class[at.index()];
        if let SmallList::Heap(_) = entry.head_children {
            entry.head_children = SmallList::default();
        }
        if let SmallList::Heap(_) = entry.nodes {
            entry.nodes = SmallList::default();
        }
    }

    /// Removes the chains above a removed one (`children`, and theirs), for
    /// [`zap_class`](Self::zap_class).
    #[cold]
    #[inline(never)]
    fn zap_above(&mut self, children: SmallList<ChainNode>, class: ClassId, indexed: bool) {
        let mut doomed = std::mem::take(&mut self.doomed);
        doomed.extend_from_slice(&children);
        while let Some(id) = doomed.pop() {
            if let Some(more) = self.zap_node(id, class, indexed) {
                doomed.extend_from_slice(&more);
            }
        }
        self.doomed = doomed;
    }

    /// Removes the node `id` (a chain containing the removed class `class`,
    /// whose chains are in `index` if `indexed`) from the store and from
    /// the lists of what stays; the nodes extending it, which go too
    /// (`None` if it was gone already or has none).
    #[inline(always)]
    fn zap_node(&mut self, id: ChainNode, class: ClassId, indexed: bool) -> Option<SmallList<ChainNode>> {
        // The node's links are read where it is and its children taken if
        // it has any; it leaves the dense vector without being moved out
        // whole.
        let i = self.nodes.at.remove(id.raw())? as usize;
        let n = &mut self.nodes.list[i].1;
        let children = if n.children.is_empty() { None } else { Some(std::mem::take(&mut n.children)) };
        let (validated, len) = (n.validated, n.len);
        let n = Links::of(n);
        self.nodes.drop_at(i);
        // (Its class's entry says whether it has an index entry: the
        // removed class's was taken by the caller.)
        let in_index = match n.elem.class() == class {
            true => indexed,
            false => self.by_class.get(n.at.index()).is_some_and(|c| c.indexed),
        };
        if in_index {
            self.index.remove(&ChainKey::new(n.parent, n.elem));
        }
        self.unlist(&n, class);
        if validated {
            self.count -= 1;
            self.hlocks -= len as usize;
            self.zapped += 1;
        }
        children
    }

    /// Takes a removed node (its [`Links`]) out of its parent's and its
    /// class's lists (those being removed themselves are gone already:
    /// `zapped`'s lists, and the lists of nodes removed before it). A
    /// head's list stays, with its class, when it empties.
    #[inline(always)]
    fn unlist(&mut self, n: &Links, zapped: ClassId) {
        let siblings = match n.parent.head_elem() {
            Some(e) if e.class() == zapped => None,
            Some(_) => self.by_class.get_mut(n.parent_at.index()).map(|c| &mut c.head_children),
            None => self.nodes.get_mut(&n.parent).map(|p| &mut p.children),
        };
        if let Some(list) = siblings {
            list.swap_remove(n.at_parent as usize);
            if let Some(&moved) = list.get(n.at_parent as usize) {
                if let Some(m) = self.nodes.get_mut(&moved) {
                    m.at_parent = n.at_parent;
                }
            }
        }
        let class = n.elem.class();
        if class == zapped {
            return;
        }
        // (The entry stays, empty, while its class lives.)
        if let Some(chains) = self.by_class.get_mut(n.at.index()) {
            let list = &mut chains.nodes;
            list.swap_remove(n.at_class as usize);
            if let Some(&moved) = list.get(n.at_class as usize) {
                if let Some(m) = self.nodes.get_mut(&moved) {
                    m.at_class = n.at_class;
                }
            }
        }
    }

    /// Every validated chain, as its elements (bottom first).
    pub(crate) fn validated(&self) -> Vec<Vec<Elem>> {
        let mut out: Vec<Vec<Elem>> = (self.by_class.iter())
            .filter(|c| c.validated_heads != 0)
            .flat_map(|c| {
                Elem::all_of(ClassId::from_raw(c.class)).filter(|e| c.validated_heads & (1 << e.low_bits()) != 0)
            })
            .map(|e| vec![e])
            .collect();
        for (id, n) in self.nodes.iter() {
            if n.validated {
                out.push(self.elems(*id));
            }
        }
        out
    }

    /// Interned chains (validated or not).
    #[cfg(test)]
    pub(crate) fn interned(&self) -> usize {
        self.nodes.len()
    }

    /// Checks that every node is listed exactly where it says (tests).
    #[cfg(test)]
    fn lists_are_consistent(&self) -> bool {
        let listed: usize = self.nodes.values().map(|n| n.children.len()).sum::<usize>()
            + self.by_class.iter().map(|c| c.head_children.len()).sum::<usize>();
        let by_class: usize = self.by_class.iter().map(|l| l.nodes.len()).sum();
        // The index holds the chains of the indexed classes, and only them;
        // a class with more than `SCAN` chains is indexed.
        let indexed: usize = self.by_class.iter().filter(|c| c.indexed).map(|l| l.nodes.len()).sum();
        listed == self.nodes.len()
            && by_class == self.nodes.len()
            && indexed == self.index.len()
            && self.by_class.iter().all(|c| c.indexed || c.nodes.len() <= SCAN)
            && self.nodes.iter().all(|(id, n)| {
                let entry = self.by_class.get(n.at.index());
                let siblings = match n.parent.head_elem() {
                    Some(e) => self
                        .by_class
                        .get(n.parent_at.index())
                        .filter(|c| c.class == e.class().raw())
                        .map(|c| &c.head_children[..]),
                    None => self.nodes.get(&n.parent).map(|p| &p.children[..]),
                };
                siblings.and_then(|l| l.get(n.at_parent as usize)) == Some(id)
                    && entry.is_some_and(|c| c.class == n.elem.class().raw())
                    && entry.and_then(|l| l.nodes.get(n.at_class as usize)) == Some(id)
                    && (!entry.is_some_and(|c| c.indexed)
                        || self.index.get(&ChainKey::new(n.parent, n.elem)) == Some(id))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::held::HeldLock;
    use super::*;
    use crate::class::Read;

    /// The element of class `c` (exclusive, blocking, checked).
    fn el(c: u32) -> Elem {
        Elem::new(ClassId::from_raw(c), Read::Exclusive, false, true).unwrap()
    }

    fn cls(c: u32) -> ClassId {
        ClassId::from_raw(c)
    }

    /// Class `c`'s graph slot in these tests: `c` itself.
    fn sl(c: u32) -> Slot {
        Slot::from_index(c)
    }

    fn at_of(e: Elem) -> Slot {
        sl(e.class().raw())
    }

    /// The graph slot of the class of `node`'s top element, for a head
    /// (any slot for an interned node: its own is kept with it).
    fn top_at(node: ChainNode) -> Slot {
        node.head_elem().map_or(sl(0), at_of)
    }

    fn intern(s: &mut ChainStore, parent: ChainNode, e: Elem, limit: usize) -> Option<ChainNode> {
        s.intern(parent, parent.head_elem().map(at_of), e, at_of(e), limit)
    }

    fn set_validated(s: &mut ChainStore, node: ChainNode) {
        s.set_validated(node, top_at(node));
    }

    fn valid(s: &ChainStore, node: ChainNode) -> bool {
        s.is_validated(node, top_at(node))
    }

    #[test]
    fn nodes_are_found_by_id_through_growth_and_churn() {
        // A chain of 500 nodes (the node index's array doubles), then churn:
        // ten classes live at a time, each interned above a node of the
        // chain and removed oldest first, so the ids move on through the
        // index's array and meet the chain's entries (the index's map), and
        // a removal moves the last node into its place.
        let mut s = ChainStore::default();
        let mut chain = vec![ChainNode::head(el(1))];
        for c in 2..=500 {
            chain.push(intern(&mut s, *chain.last().unwrap(), el(c), usize::MAX).unwrap());
        }
        let (mut live, mut gone) = (std::collections::VecDeque::new(), Vec::new());
        let mut in_map = 0;
        for i in 0..3000u32 {
            let c = 1000 + i;
            let below = chain[(i as usize * 7) % chain.len()];
            let n = intern(&mut s, below, el(c), usize::MAX).unwrap();
            in_map += usize::from(s.nodes.at.more.contains_key(&n.raw()));
            live.push_back((c, n, s.elems(below).len() + 1));
            if live.len() > 10 {
                let (c, n, _) = live.pop_front().unwrap();
                s.zap_class(cls(c), sl(c));
                gone.push(n);
            }
        }
        assert!(in_map > 0, "some ids met a taken entry");
        assert!(s.lists_are_consistent());
        for (i, &n) in chain.iter().enumerate() {
            assert_eq!(s.elems(n), (1..=i as u32 + 1).map(el).collect::<Vec<_>>());
        }
        for &(c, n, len) in &live {
            let elems = s.elems(n);
            assert_eq!((elems.len(), elems.last()), (len, Some(&el(c))));
        }
        assert!(gone.iter().all(|&n| s.elems(n).is_empty()));
        assert_eq!(s.nodes.len(), 499 + live.len());
    }

    #[test]
    fn a_class_s_chains_are_found_by_a_scan_or_the_index_and_never_interned_twice() {
        // Class 100 taken under 30 heads and above a chain of two, in two
        // modes: its list crosses `SCAN` (indexed from then on), then
        // shrinks as the heads' classes go; every chain is found again, by
        // a scan or by the index, at every step.
        let mut s = ChainStore::default();
        let shared = Elem::new(cls(100), Read::Shared, false, true).unwrap();
        let mid = intern(&mut s, ChainNode::head(el(40)), el(41), usize::MAX).unwrap();
        let mut known: Vec<(ChainNode, Elem, ChainNode)> = Vec::new();
        let check = |s: &mut ChainStore, known: &[(ChainNode, Elem, ChainNode)]| {
            assert!(s.lists_are_consistent());
            let before = s.interned();
            for &(parent, e, n) in known {
                assert_eq!(intern(s, parent, e, usize::MAX), Some(n), "{parent:?} + {e:?} found again");
            }
            assert_eq!(s.interned(), before, "nothing interned twice");
        };
        for p in 1..=30u32 {
            for e in [el(100), shared] {
                let parent = if p == 30 { mid } else { ChainNode::head(el(p)) };
                let n = intern(&mut s, parent, e, usize::MAX).unwrap();
                known.push((parent, e, n));
                assert_eq!(s.by_class[100].indexed, known.len() > SCAN);
                check(&mut s, &known);
            }
        }
        assert_eq!(s.index.len(), 60, "the indexed class's chains, and no other");
        // Its list shrinks below `SCAN`: still indexed, still found.
        for p in 1..=27u32 {
            s.zap_class(cls(p), sl(p));
            known.retain(|&(parent, _, _)| parent != ChainNode::head(el(p)));
            check(&mut s, &known);
        }
        assert_eq!((s.by_class[100].nodes.len(), s.index.len()), (6, 6));
        // The chain below one of them goes, then the class itself.
        s.zap_class(cls(41), sl(41));
        known.retain(|&(parent, _, _)| parent != mid);
        check(&mut s, &known);
        s.zap_class(cls(100), sl(100));
        assert!(s.index.is_empty() && !s.by_class[100].indexed);
        // The slot's next class starts with a scan.
        let n = s.intern(ChainNode::head(el(1)), Some(sl(1)), el(200), sl(100), usize::MAX).unwrap();
        assert!(!s.by_class[100].indexed && s.index.is_empty());
        assert_eq!(s.intern(ChainNode::head(el(1)), Some(sl(1)), el(200), sl(100), usize::MAX), Some(n));
        assert!(s.lists_are_consistent());
    }

    #[test]
    fn a_removed_class_takes_every_chain_above_its_own_however_deep() {
        // Class 5 heads chains four deep (5 1 2 3, 5 1 4, 5 2), is the top
        // of chains under others (1 5, 2 3 5) and the middle of deeper ones
        // (1 5 2 3, 2 3 5 4): its removal takes its own chains and every
        // chain above them, and nothing else; the counts of validated
        // chains and their entries follow.
        let mut s = ChainStore::default();
        let h = |c| ChainNode::head(el(c));
        let path = |s: &mut ChainStore, cs: &[u32]| {
            let mut n = h(cs[0]);
            let mut all = vec![n];
            for &c in &cs[1..] {
                n = intern(s, n, el(c), usize::MAX).unwrap();
                all.push(n);
            }
            all
        };
        let mut doomed = Vec::new();
        let mut kept = Vec::new();
        for cs in [&[5, 1, 2, 3][..], &[5, 1, 4], &[5, 2], &[1, 5, 2, 3], &[2, 3, 5, 4]] {
            let at = cs.iter().position(|&c| c == 5).unwrap();
            let nodes = path(&mut s, cs);
            for &n in &nodes {
                set_validated(&mut s, n);
            }
            kept.extend(nodes[..at].iter().copied().map(|n| (n, s.elems(n))));
            doomed.extend(nodes[at..].iter().copied());
        }
        kept.extend([1, 2].map(|c| path(&mut s, &[c, 6, 7])).concat().into_iter().map(|n| (n, s.elems(n))));
        for n in kept.iter().map(|k| k.0).collect::<Vec<_>>() {
            set_validated(&mut s, n);
        }
        kept.sort_unstable_by_key(|k| k.0.raw());
        kept.dedup_by_key(|k| k.0);
        doomed.sort_unstable_by_key(|n| n.raw());
        doomed.dedup();
        let entries = |s: &ChainStore, ns: &[ChainNode]| ns.iter().map(|&n| s.elems(n).len()).sum::<usize>();
        let (count, hlocks) = (s.count, s.hlocks);
        let doomed_entries = entries(&s, &doomed);
        assert!(s.lists_are_consistent());
        s.zap_class(cls(5), sl(5));
        assert!(s.lists_are_consistent());
        for &n in &doomed {
            assert!(!valid(&s, n), "{n:?} went");
            if n.head_elem().is_none() {
                assert_eq!(s.elems(n), Vec::<Elem>::new(), "{n:?} went");
            }
        }
        for (n, elems) in &kept {
            assert_eq!(&s.elems(*n), elems, "{n:?} stayed");
            assert!(valid(&s, *n));
        }
        assert_eq!(s.interned(), kept.iter().filter(|k| k.0.head_elem().is_none()).count());
        assert_eq!((s.count, s.hlocks), (count - doomed.len(), hlocks - doomed_entries));
        assert_eq!(s.zapped, doomed.len());
    }

    #[test]
    fn a_removed_class_s_long_lists_leave_its_slot_empty_and_the_nodes_that_move_are_found() {
        // Class 5 heads six chains (5 10..16) and tops six (20..26 5): both
        // its lists outgrow their inline room. Other classes' chains are
        // interned between them, so class 5's nodes are in the middle of
        // the dense vector and others move into their places.
        let mut s = ChainStore::default();
        let h = |c| ChainNode::head(el(c));
        let mut kept = Vec::new();
        let mut all = Vec::new();
        for c in 0..6 {
            all.push(intern(&mut s, h(5), el(10 + c), usize::MAX).unwrap());
            kept.push(intern(&mut s, h(30 + c), el(40 + c), usize::MAX).unwrap());
            all.push(intern(&mut s, h(20 + c), el(5), usize::MAX).unwrap());
        }
        all.extend(&kept);
        for &n in &all {
            set_validated(&mut s, n);
        }
        assert!(
            matches!(s.by_class[5].nodes, SmallList::Heap(_))
                && matches!(s.by_class[5].head_children, SmallList::Heap(_))
        );
        let before: Vec<_> = kept.iter().map(|&n| (n, s.elems(n))).collect();
        let (count, hlocks) = (s.count, s.hlocks);
        s.zap_class(cls(5), sl(5));
        assert!(s.lists_are_consistent());
        for (n, elems) in &before {
            assert_eq!(&s.elems(*n), elems, "{n:?} stayed");
            assert!(valid(&s, *n));
        }
        assert_eq!(s.interned(), kept.len());
        assert_eq!((s.count, s.hlocks, s.zapped), (count - 12, hlocks - 24, 12));
        let entry = &s.by_class[5];
        assert!(
            matches!(entry.nodes, SmallList::Inline(0, _)) && matches!(entry.head_children, SmallList::Inline(0, _)),
            "the slot's lists start from nothing, their boxes freed"
        );
        assert_eq!((entry.class, entry.validated_heads, entry.indexed), (0, 0, false));
        // A new class in slot 5 interns its chains from nothing.
        let new = Elem::new(cls(99), Read::Exclusive, false, true).unwrap();
        let n = s.intern(h(30), Some(sl(30)), new, sl(5), usize::MAX).unwrap();
        assert_eq!(s.elems(n), vec![el(30), new]);
        assert_eq!(&s.by_class[5].nodes[..], &[n]);
        assert!(s.lists_are_consistent());
    }

    #[test]
    fn interning_is_exact_and_zap_never_reuses_ids() {
        let mut s = ChainStore::default();
        let a = intern(&mut s, ChainNode::ROOT, el(10), 100).unwrap();
        assert_eq!(a, ChainNode::head(el(10)));
        let ab = intern(&mut s, a, el(11), 100).unwrap();
        let abc = intern(&mut s, ab, el(12), 100).unwrap();
        assert_eq!(intern(&mut s, a, el(11), 100), Some(ab));
        assert_ne!(intern(&mut s, a, el(12), 100), Some(ab));
        assert_eq!(s.elems(abc), vec![el(10), el(11), el(12)]);
        set_validated(&mut s, a);
        set_validated(&mut s, abc);
        set_validated(&mut s, abc);
        assert_eq!((s.count, s.hlocks), (2, 4));
        assert!(valid(&s, abc) && !valid(&s, ab));
        // Class 11 dies: every chain through it goes.
        s.zap_class(cls(11), sl(11));
        assert!(s.lists_are_consistent());
        assert_eq!((s.count, s.hlocks, s.zapped), (1, 1, 1));
        assert!(!valid(&s, abc));
        assert_eq!(s.elems(abc), Vec::<Elem>::new());
        assert_eq!(s.interned(), 1); // a -> 12
        // New chains get new ids: a stale id held somewhere names nothing.
        let ad = intern(&mut s, a, el(13), 100).unwrap();
        assert!(ad != ab && ad != abc);
        assert_eq!(s.elems(ad), vec![el(10), el(13)]);
        assert_eq!(intern(&mut s, ab, el(14), 100), None, "nothing is interned above a removed chain");
        // The head of a chain dies: the whole chain goes.
        s.zap_class(cls(10), sl(10));
        assert!(s.lists_are_consistent());
        assert_eq!((s.interned(), s.count, s.hlocks), (0, 0, 0));
        // The limit.
        let b = intern(&mut s, ChainNode::ROOT, el(20), 100).unwrap();
        assert!(intern(&mut s, b, el(21), 1).is_some());
        assert_eq!(intern(&mut s, b, el(22), 1), None);
        assert_eq!(intern(&mut s, ChainNode::NONE, el(15), 100), None);
    }

    #[test]
    fn removing_one_class_keeps_every_other_chain() {
        // A long-lived head with many short-lived classes above it, some
        // with a chain of their own on top.
        let mut s = ChainStore::default();
        let head = intern(&mut s, ChainNode::ROOT, el(1), usize::MAX).unwrap();
        set_validated(&mut s, head);
        let top = Elem::new(cls(1000), Read::Shared, false, true).unwrap();
        let mut tops = Vec::new();
        for c in 2..500u32 {
            let n = intern(&mut s, head, el(c), usize::MAX).unwrap();
            set_validated(&mut s, n);
            let m = intern(&mut s, n, top, usize::MAX).unwrap();
            set_validated(&mut s, m);
            tops.push((c, n, m));
        }
        assert_eq!(s.count, 1 + 2 * 498);
        for &(c, _, _) in tops.iter().filter(|(c, _, _)| c % 3 == 0) {
            s.zap_class(cls(c), sl(c));
            assert!(s.lists_are_consistent());
        }
        for &(c, n, m) in &tops {
            assert_eq!(valid(&s, n), c % 3 != 0);
            assert_eq!(valid(&s, m), c % 3 != 0);
        }
        // The shared top class goes from under every chain at once.
        s.zap_class(cls(1000), sl(1000));
        assert!(s.lists_are_consistent());
        assert!(tops.iter().all(|&(_, _, m)| !valid(&s, m)));
        assert!(valid(&s, head));
    }

    #[test]
    fn a_heads_list_stays_while_its_class_lives_and_goes_with_it() {
        let mut s = ChainStore::default();
        let head = intern(&mut s, ChainNode::ROOT, el(1), usize::MAX).unwrap();
        set_validated(&mut s, head);
        // Short-lived classes above a long-lived head, one at a time.
        for c in 2..50u32 {
            let n = intern(&mut s, head, el(c), usize::MAX).unwrap();
            set_validated(&mut s, n);
            s.zap_class(cls(c), sl(c));
            assert!(s.lists_are_consistent());
            assert_eq!((s.count, s.hlocks, s.zapped), (1, 1, c as usize - 1));
        }
        assert_eq!(s.by_class[1].class, 1);
        assert!(s.by_class[1].head_children.is_empty(), "the head's list stays, empty");
        // Removing the middle class of a three-entry chain takes the top
        // with it (the middle chain was extended).
        let n = intern(&mut s, head, el(60), usize::MAX).unwrap();
        let m = intern(&mut s, n, el(61), usize::MAX).unwrap();
        set_validated(&mut s, n);
        set_validated(&mut s, m);
        assert_eq!((s.count, s.hlocks), (3, 6));
        s.zap_class(cls(60), sl(60));
        assert!(s.lists_are_consistent());
        assert!(!valid(&s, m) && !valid(&s, n));
        assert_eq!((s.interned(), s.count, s.hlocks), (0, 1, 1));
        assert!(s.by_class[61].nodes.is_empty(), "class 61's list emptied with its last chain");
        // The head's class goes: nothing of it is left.
        s.zap_class(cls(1), sl(1));
        assert!(s.nodes.is_empty() && s.index.is_empty());
        assert!(s.by_class.iter().all(|c| c.nodes.is_empty() && c.head_children.is_empty() && c.validated_heads == 0));
        assert_eq!(s.by_class[1].class, 0, "the removed class's entry is emptied for the slot's next class");
        assert_eq!((s.count, s.hlocks), (0, 0));
    }

    #[test]
    fn a_head_is_recorded_with_its_class_and_goes_with_it() {
        let mut s = ChainStore::default();
        let shared = Elem::new(cls(7), Read::Shared, false, true).unwrap();
        assert!(!s.head(el(7), at_of(el(7))).is_validated());
        s.head(el(7), at_of(el(7))).set_validated();
        s.head(el(7), at_of(el(7))).set_validated(); // counted once
        assert!(s.head(el(7), at_of(el(7))).is_validated() && valid(&s, ChainNode::head(el(7))));
        assert!(!s.head(shared, at_of(shared)).is_validated());
        set_validated(&mut s, ChainNode::head(shared)); // the two ways agree
        assert!(s.head(shared, at_of(shared)).is_validated());
        s.head(el(8), at_of(el(8))).set_validated();
        assert_eq!((s.count, s.hlocks, s.head(el(9), at_of(el(9))).count()), (3, 3, 3));
        let mut heads = s.validated();
        heads.sort();
        assert_eq!(heads, vec![vec![el(7)], vec![shared], vec![el(8)]]);
        // A chain above a recorded head, then the head's class goes.
        let n = intern(&mut s, ChainNode::head(el(7)), el(8), usize::MAX).unwrap();
        set_validated(&mut s, n);
        assert_eq!((s.count, s.hlocks), (4, 5));
        s.zap_class(cls(7), sl(7));
        assert!(s.lists_are_consistent());
        assert_eq!((s.count, s.hlocks, s.zapped), (1, 1, 3));
        assert!(!valid(&s, ChainNode::head(el(7))) && !valid(&s, n));
        assert_eq!(s.validated(), vec![vec![el(8)]]);
    }

    #[test]
    fn a_slot_s_next_class_starts_from_nothing() {
        // Class 5 in slot 3: a validated head with a chain above it, and a
        // chain of its own above another class's head.
        let (a, b, c) = (ChainNode::head(el(1)), el(5), el(9));
        let mut s = ChainStore::default();
        s.head(el(1), sl(1)).set_validated();
        s.head(b, sl(3)).set_validated();
        let above = s.intern(ChainNode::head(b), Some(sl(3)), el(2), sl(2), usize::MAX).unwrap();
        let own = s.intern(a, Some(sl(1)), b, sl(3), usize::MAX).unwrap();
        s.set_validated(above, sl(2));
        s.set_validated(own, sl(3));
        assert_eq!((s.count, s.hlocks), (4, 6));
        s.zap_class(cls(5), sl(3));
        assert!(s.lists_are_consistent());
        assert_eq!((s.count, s.hlocks, s.zapped), (1, 1, 3));
        // Class 9 takes slot 3: nothing of class 5 answers for it.
        assert!(!s.head(c, sl(3)).is_validated());
        assert!(!s.is_validated(ChainNode::head(b), sl(3)), "a removed head is not validated");
        let n = s.intern(a, Some(sl(1)), c, sl(3), usize::MAX).unwrap();
        assert!(n != own && !s.is_validated(n, sl(3)));
        assert!(s.lists_are_consistent());
        assert_eq!(s.by_class[3].nodes.len(), 1);
        assert!(s.by_class[3].head_children.is_empty());
        s.zap_class(cls(9), sl(3));
        assert!(s.lists_are_consistent());
        assert_eq!((s.interned(), s.count), (0, 1));
    }

    #[test]
    fn thread_cache_map_is_bounded() {
        let mut c = ThreadChainCache::default();
        let parent = ChainNode::head(el(3));
        let node = |i: u32| ChainNode::interned(i + 1).unwrap();
        for i in 0..(MAP_CAP as u32 + 10) {
            c.insert(ChainKey::new(parent, el(i)), node(i));
        }
        assert!(c.map.len() <= MAP_CAP);
        let last = MAP_CAP as u32 + 9;
        assert_eq!(c.get(ChainKey::new(parent, el(last))), Some(node(last)));
        // Emptied, a map grown past `KEEP_CAP` is made smaller (one kept
        // within it keeps its room, so a validator's chains of the next
        // size do not grow it again).
        assert!(c.map.capacity() > 2 * KEEP_CAP);
        c.reset(1);
        assert!(c.map.is_empty() && c.map.capacity() >= KEEP_CAP && c.map.capacity() < 2 * KEEP_CAP);
        for i in 0..KEEP_CAP as u32 {
            c.insert(ChainKey::new(parent, el(i)), node(i));
        }
        let room = c.map.capacity();
        c.reset(2);
        assert_eq!((c.map.len(), c.map.capacity(), c.epoch), (0, room, 2));
        assert_eq!(c.get(ChainKey::new(parent, el(5))), None);
    }

    #[test]
    fn chain_map_finds_its_keys_through_growth_clears_and_eras() {
        let key = |p: u32, c: u32| ChainKey::new(ChainNode::interned(p).unwrap(), el(c));
        let node = |i: u32| ChainNode::interned(i).unwrap();
        let mut m = ChainMap::default();
        assert_eq!(m.get(key(1, 1)), None);
        // Keys that share high bits and low bits (a nest's and a class's
        // chains), through several growths.
        let keys: Vec<_> = (1..60).flat_map(|p| (1..60).map(move |c| key(p, c))).collect();
        for (i, &k) in keys.iter().enumerate() {
            m.insert_new(k, node(i as u32 + 1));
        }
        assert_eq!(m.len(), keys.len());
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(m.get(k), Some(node(i as u32 + 1)));
        }
        assert_eq!(m.get(key(60, 1)), None);
        assert_eq!(m.get(key(1, 60)), None);
        // Emptied (a new era, the array kept): nothing is found, and a key
        // inserted again takes its new node.
        let room = m.capacity();
        m.clear();
        assert!(m.is_empty() && m.capacity() == room);
        assert!(keys.iter().all(|&k| m.get(k).is_none()));
        for (i, &k) in keys.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            m.insert_new(k, node(i as u32 + 7));
        }
        for (i, &k) in keys.iter().enumerate() {
            assert_eq!(m.get(k), (i % 3 == 0).then(|| node(i as u32 + 7)));
        }
        // The last era before the count wraps: the array is freed in full.
        m.clear();
        m.era = u32::MAX;
        m.insert_new(key(3, 3), node(1));
        m.clear();
        assert_eq!(m.era, 1);
        assert!(keys.iter().all(|&k| m.get(k).is_none()));
        m.insert_new(key(3, 3), node(2));
        assert_eq!((m.get(key(3, 3)), m.get(key(3, 4)), m.len()), (Some(node(2)), None, 1));
        // Shrunk when empty, to the room asked for.
        m.clear();
        m.shrink_to(100);
        assert!(m.capacity() >= 100 && m.capacity() < 200);
        assert_eq!(m.get(key(3, 3)), None);
    }

    /// How many keys share the most-used set of the front.
    fn fullest_set(keys: &[ChainKey]) -> usize {
        let mut sets = std::collections::HashMap::new();
        for k in keys {
            *sets.entry(front_set(*k)).or_insert(0) += 1;
        }
        sets.into_values().max().unwrap_or(0)
    }

    #[test]
    fn front_sets_of_typical_nests_do_not_collide() {
        // Pairs: every ordered pair of 16 classes met one after another, as
        // chain heads and the class taken under them (a nest of two), low
        // class ids and ids in the thousands: one key a set.
        for base in [1, 1000, 100_000] {
            let pairs: Vec<ChainKey> = (base..base + 16)
                .flat_map(|a| (base..base + 16).filter(move |b| *b != a).map(move |b| (a, b)))
                .filter(|(a, b)| a < b)
                .map(|(a, b)| ChainKey::new(ChainNode::head(el(a)), el(b)))
                .collect();
            assert_eq!(pairs.len(), 120);
            assert_eq!(fullest_set(&pairs), 1, "pairs of classes {base}..");
        }
        // A nest of eight in order, its chains interned one after another (the
        // benches' nests of 2, 4 and 8 share its prefix): one key a set.
        for (class_base, node_base) in [(1, 1), (1000, 1), (1000, 5000), (7, 123_456)] {
            let mut parent = ChainNode::head(el(class_base));
            let mut nest = Vec::new();
            for (i, c) in (class_base + 1..class_base + 8).enumerate() {
                nest.push(ChainKey::new(parent, el(c)));
                parent = ChainNode::interned(node_base + i as u32).unwrap();
            }
            assert_eq!(fullest_set(&nest), 1, "a nest of eight from class {class_base}, node {node_base}");
        }
        // Modes: every ordered pair of 8 classes, the second taken in each of
        // four modes (exclusive, shared, recursive read, a trylock): at most
        // two keys a set, which its two ways hold.
        let modes =
            [(Read::Exclusive, false), (Read::Shared, false), (Read::SharedRecursive, false), (Read::Exclusive, true)];
        let mixed: Vec<ChainKey> = (1..9u32)
            .flat_map(|a| (1..9u32).filter(move |b| *b != a).map(move |b| (a, b)))
            .flat_map(|(a, b)| {
                modes.iter().map(move |&(read, trylock)| {
                    ChainKey::new(ChainNode::head(el(a)), Elem::new(cls(b), read, trylock, true).unwrap())
                })
            })
            .collect();
        assert_eq!(mixed.len(), 224);
        assert!(fullest_set(&mixed) <= 2, "modes: {}", fullest_set(&mixed));
    }

    #[test]
    fn thread_cache_front_and_back() {
        let mut c = ThreadChainCache::default();
        let p = ChainNode::interned(5).unwrap();
        let n = |i: u32| ChainNode::interned(i).unwrap();
        let k7 = ChainKey::new(p, el(7));
        assert_eq!(c.get(k7), None);
        c.insert(k7, n(9));
        assert_eq!(c.get(k7), Some(n(9)));
        assert_eq!(c.get_front(k7), Some(n(9)));
        // Two keys of one set both stay in the front; a third evicts the
        // older, which the map still knows (and `get` puts back).
        let set = front_set(k7);
        let same: Vec<ChainKey> =
            (8..100_000u32).map(|e| ChainKey::new(p, el(e))).filter(|k| front_set(*k) == set).take(2).collect();
        c.insert(same[0], n(10));
        assert_eq!((c.get_front(k7), c.get_front(same[0])), (Some(n(9)), Some(n(10))));
        c.insert(same[1], n(11));
        assert_eq!((c.get_front(k7), c.get_front(same[0]), c.get_front(same[1])), (None, Some(n(10)), Some(n(11))));
        assert_eq!(c.get(k7), Some(n(9)));
        assert_eq!(c.get_front(k7), Some(n(9)));
        // Many keys: some share front slots, all are found through the map.
        for i in 0..2000u32 {
            c.insert(ChainKey::new(ChainNode::head(el(i)), el(i)), n(i + 1));
        }
        for i in 0..2000u32 {
            assert_eq!(c.get(ChainKey::new(ChainNode::head(el(i)), el(i))), Some(n(i + 1)));
        }
        // Chain heads are kept in the map only: an empty front slot must
        // never answer for the head of class 0.
        let head = ChainKey::new(ChainNode::ROOT, el(0));
        assert_eq!(c.get(head), None);
        c.insert(head, ChainNode::head(el(0)));
        assert_eq!(c.get(head), Some(ChainNode::head(el(0))));
        assert!(c.front.iter().all(|s| s.0 != head || s.1 == ChainNode::default()));
        c.reset(3);
        assert_eq!((c.get(k7), c.get(head), c.epoch), (None, None, 3));
    }

    #[test]
    fn the_depth_memo_holds_front_entries_only() {
        let mut c = ThreadChainCache::default();
        let n = |i: u32| ChainNode::interned(i).unwrap();
        let k = |p: u32, e: u32| ChainKey::new(n(p), el(e));
        assert_eq!(size_of::<MemoSlot>(), size_of::<HeldLock>());
        // Not in the front: a miss, and the memo stays empty.
        assert_eq!(c.get_nested(1, k(1, 2)), None);
        assert!(c.memo.iter().all(|m| m.key == ChainKey::default()));
        c.insert(k(1, 2), n(3));
        c.insert(k(3, 4), n(5));
        // A front hit fills the depth's slot; the next look-up hits it.
        assert_eq!(c.get_nested(1, k(1, 2)), Some(n(3)));
        assert_eq!((c.memo[1].key, c.memo[1].node), (k(1, 2), n(3)));
        assert_eq!(c.get_nested(1, k(1, 2)), Some(n(3)));
        // Another key at the same depth: the whole key is compared.
        assert_eq!(c.get_nested(1, k(3, 4)), Some(n(5)));
        assert_eq!(c.memo[1].key, k(3, 4));
        assert_eq!(c.get_nested(1, k(1, 4)), None);
        // Depth MEMO + 1 shares depth 1's slot: still exact answers.
        assert_eq!(c.get_nested(MEMO + 1, k(1, 2)), Some(n(3)));
        assert_eq!(c.get_nested(1, k(1, 2)), Some(n(3)));
        assert_eq!(c.get_nested(MEMO + 1, k(1, 4)), None);
        // Emptied with the front: the chain is not found again until the
        // cache holds it again.
        c.reset(7);
        assert!(c.memo.iter().all(|m| m.key == ChainKey::default() && m.node == ChainNode::default()));
        assert_eq!(c.get_nested(1, k(1, 2)), None);
        assert_eq!(c.get_nested(MEMO + 1, k(1, 2)), None);
    }
}
