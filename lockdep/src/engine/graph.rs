//! The class dependency graph: classes, typed edges, and the exact
//! strong-path search used by the circular-dependency check.
//!
//! A class is known outside this file by its [`ClassId`], which a validator
//! never hands out twice: held-lock entries, chains, per-map caches and
//! report signatures may outlive the class they name (a key removed while
//! another thread holds one of its locks), and must then name nothing rather
//! than some later class. Inside, classes live in reusable [`Slot`]s of the
//! class table, so that a program that creates and removes classes forever
//! keeps a table as large as its live classes.

use std::collections::VecDeque;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::panic::Location;
use std::sync::Arc;

pub(crate) use super::ids::ClassId;
use super::ids::{FastMap, FastSet, FastTable, IdIndex, MixHasher, SmallList};
use crate::class::{KeyId, MAX_SUBCLASSES, Read};
use crate::report::{DepTypes, LockInfo, ThreadInfo, Trace};
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

/// A class's place in the class table; reused once its class is removed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub(crate) struct Slot(u32);

impl Slot {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }

    /// The slot of index `i` (tests of the stores that are indexed by slot).
    #[cfg(test)]
    pub(crate) fn from_index(i: u32) -> Slot {
        Slot(i)
    }
}

/// Index of an edge in a validator's edge table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub(crate) struct EdgeId(u32);

impl EdgeId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// (A class's key is not kept here but in `Graph::by_key`, which has it
/// anyway: only dumps and saves ask for it, through
/// [`Graph::keys_by_slot`]. Without its 48-byte `KeyId` a class is 80
/// bytes, which every new class writes and a growing table copies.)
pub(crate) struct Class {
    pub(crate) id: ClassId,
    pub(crate) subclass: u32,
    pub(crate) name: &'static str,
    /// `#version` suffix when several keys share the name (0 = none).
    pub(crate) version: u32,
    /// Edges out of and into this class; each edge knows its position in
    /// both lists, so removing one costs O(1).
    pub(crate) after: SmallList<EdgeId>,
    pub(crate) before: SmallList<EdgeId>,
    pub(crate) alive: bool,
    /// Position in the incremental topological order (`None`: no edges yet).
    ord: Option<i64>,
}

impl Class {
    pub(crate) fn display_name(&self) -> String {
        let mut s = self.name.to_owned();
        if self.version > 1 {
            s.push_str(&format!("#{}", self.version));
        }
        if self.subclass != 0 {
            s.push_str(&format!("/{}", self.subclass));
        }
        s
    }
}

/// One end of a dependency as it was first seen: the lock as a report shows
/// it, less its class name, which [`Graph::origin_infos`] adds when a report
/// or a save needs it — a new dependency formats no string.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EdgeEnd {
    pub(crate) instance: crate::names::NameId,
    pub(crate) addr: usize,
    /// (A byte, as the held entry's: below `MAX_SUBCLASSES`. The edge table
    /// holds two ends an edge: 24 bytes each, not 32.)
    pub(crate) subclass: u8,
    pub(crate) read: Read,
    pub(crate) trylock: bool,
    pub(crate) location: &'static Location<'static>,
}

impl EdgeEnd {
    /// The end as a report shows it, in `class`.
    pub(crate) fn info(&self, class: String) -> LockInfo {
        LockInfo {
            instance: self.instance.name(),
            addr: self.addr,
            class,
            subclass: u32::from(self.subclass),
            read: self.read,
            trylock: self.trylock,
            location: self.location,
        }
    }
}

/// Where and by whom a dependency was first seen.
///
/// The thread is shared by the edges it added (the thread's own copy, made
/// by its first new edge through [`Graph::shared_thread`]: see
/// `Ctx::origin_thread`): a `ThreadInfo` is 56 bytes, and the edge table is
/// the largest per-dependency structure a growing graph writes.
#[derive(Clone, Debug)]
pub(crate) struct EdgeOrigin {
    pub(crate) from: EdgeEnd,
    pub(crate) to: EdgeEnd,
    pub(crate) thread: Arc<ThreadInfo>,
    pub(crate) trace: Option<Trace>,
}

pub(crate) struct Edge {
    pub(crate) from: Slot,
    pub(crate) to: Slot,
    /// Positions of this edge in `from`'s `after` and `to`'s `before` lists.
    at_from: u32,
    at_to: u32,
    pub(crate) dep: u8,
    pub(crate) distance: u32,
    pub(crate) origin: EdgeOrigin,
    pub(crate) alive: bool,
    /// The edge has an entry in [`Graph::by_pair`].
    paired: bool,
}

// `Graph::insert_edge_with` writes a new edge field by field into memory the
// vector then owns: every field must be written. This pattern names them
// all, so adding a field to `Edge` or `EdgeOrigin` stops the build here
// until that write is added too.
const _: fn(Edge) = |Edge {
                         from: _,
                         to: _,
                         at_from: _,
                         at_to: _,
                         dep: _,
                         distance: _,
                         origin: EdgeOrigin { from: _, to: _, thread: _, trace: _ },
                         alive: _,
                         paired: _,
                     }| ();

/// Adjacency lists at most this long are scanned for an edge instead of
/// probing [`Graph::by_pair`] (see [`Graph::edge_at`]).
const SCAN: usize = 8;

/// A closed strong path found by [`Graph::find_strong_path`]: the edges from
/// the root to the target, in order.
pub(crate) type Path = Vec<EdgeId>;

#[derive(Default)]
pub(crate) struct Graph {
    /// The class table, by slot.
    pub(crate) classes: Vec<Class>,
    /// Live classes' slots, by class id (see [`IdIndex`]).
    slots: IdIndex,
    /// The last class id handed out (ids start at 1).
    last_id: u32,
    /// Each key's classes, by subclass (one probe finds them all), and its
    /// `#version`.
    by_key: KeyTable,
    /// The versions of each class name's keys.
    names: Names,
    pub(crate) edges: Vec<Edge>,
    /// The edges between two classes whose lists (the first's `after`, the
    /// second's `before`) are both longer than [`SCAN`], by their ends'
    /// slots: every such edge has an entry (others may too, see
    /// [`Edge::paired`]). A pair with a short list is found by scanning it,
    /// so an edge into or out of a class with few edges — a dynamic class's
    /// one edge under churn, a new class's first — costs no insert or
    /// remove here.
    by_pair: FastTable<(Slot, Slot), EdgeId>,
    pub(crate) nr_classes: usize,
    pub(crate) nr_dependencies: usize,
    pub(crate) nr_zapped_classes: usize,
    /// Search scratch: visit stamp per (class, arrived-via-recursive-read) state.
    stamp: Vec<u32>,
    parent: Vec<(u32, EdgeId)>,
    generation: u32,
    queue: VecDeque<u32>,
    pub(crate) max_bfs_queue: usize,
    free_classes: Vec<Slot>,
    free_edges: Vec<EdgeId>,
    /// Bounds of the order labels in use.
    min_ord: i64,
    max_ord: i64,
    /// Set once an accepted edge closes a (weak) cycle: the order no longer
    /// exists and every new dependency gets the full search.
    pub(crate) order_broken: bool,
    /// Searches the order let us skip, and the ones it did not.
    pub(crate) searches_skipped: u64,
    pub(crate) searches_run: u64,
    /// The thread of the last new edge, for the next one to share.
    last_thread: Option<Arc<ThreadInfo>>,
}

/// A dropped graph's largest tables, emptied (their capacity kept), for
/// the next validator's graph to start from (see `spare.rs`): the class
/// and edge tables, the key table, the class ids' slots and the search
/// scratch, which a growing graph otherwise makes again by doubling.
pub(crate) struct GraphTables {
    classes: Vec<Class>,
    edges: Vec<Edge>,
    by_key: KeyTable,
    slots: IdIndex,
    stamp: Vec<u32>,
    parent: Vec<(u32, EdgeId)>,
}

impl GraphTables {
    /// The tables' capacity in bytes (entries, not the tables' own
    /// headers or a hash table's control bytes).
    pub(crate) fn bytes(&self) -> usize {
        use std::mem::size_of;
        self.classes.capacity() * size_of::<Class>()
            + self.edges.capacity() * size_of::<Edge>()
            + self.by_key.capacity() * size_of::<(KeyId, KeyClasses)>()
            + self.slots.bytes()
            + self.stamp.capacity() * size_of::<u32>()
            + self.parent.capacity() * size_of::<(u32, EdgeId)>()
    }
}

impl Graph {
    /// An empty graph whose tables are `tables` (emptied: see
    /// [`GraphTables`]); the same as `Graph::default()` but for their
    /// capacity.
    pub(crate) fn with_tables(tables: GraphTables) -> Graph {
        let GraphTables { classes, edges, by_key, slots, stamp, parent } = tables;
        debug_assert!(classes.is_empty() && edges.is_empty() && by_key.is_empty() && slots.len == 0);
        debug_assert!(stamp.is_empty() && parent.is_empty());
        // Every field spelled out: `..Graph::default()` would allocate an
        // index array only to drop it, and such holes in the heap move a
        // later churn's allocations (`examples/churn_after`: a dynamic-class
        // lock 255 -> ~300 ns when `Inner::new` made and dropped a default
        // graph and chain store this way; the same instructions).
        Graph {
            classes,
            slots,
            last_id: 0,
            by_key,
            names: Names::default(),
            edges,
            by_pair: FastTable::default(),
            nr_classes: 0,
            nr_dependencies: 0,
            nr_zapped_classes: 0,
            stamp,
            parent,
            generation: 0,
            queue: VecDeque::new(),
            max_bfs_queue: 0,
            free_classes: Vec::new(),
            free_edges: Vec::new(),
            min_ord: 0,
            max_ord: 0,
            order_broken: false,
            searches_skipped: 0,
            searches_run: 0,
            last_thread: None,
        }
    }

    /// Takes the graph's largest tables out, emptied (what they held is
    /// dropped here), leaving empty ones; for a graph that is being dropped.
    pub(crate) fn take_tables(&mut self) -> GraphTables {
        let mut t = GraphTables {
            classes: std::mem::take(&mut self.classes),
            edges: std::mem::take(&mut self.edges),
            by_key: std::mem::take(&mut self.by_key),
            slots: std::mem::take(&mut self.slots),
            stamp: std::mem::take(&mut self.stamp),
            parent: std::mem::take(&mut self.parent),
        };
        t.classes.clear();
        t.edges.clear();
        t.by_key.clear();
        t.slots.clear();
        t.stamp.clear();
        t.parent.clear();
        t
    }
}

/// The keys sharing one class name, for their `#version`s: a key's version
/// among the keys of the name its first class was registered under is kept
/// with its classes ([`KeyClasses`]), so that a key of one name — nearly
/// every key — is counted here, not listed; `keys` lists the versions of
/// keys that also have classes under this name although their first class
/// had another.
#[derive(Default)]
struct NameVersions {
    /// The name itself.
    name: &'static str,
    keys: FastMap<KeyId, u32>,
    /// Live keys whose first class has this name.
    firsts: u32,
    /// The last version handed out (versions start again at 1 once no live
    /// key has a class of this name).
    last: u32,
}

/// The key table: each key's classes ([`KeyClasses`]). A hashbrown
/// `HashTable` rather than a map: a registration finds the key's entry, or
/// the place of a new key, in one probe, where a map's entry probes once to
/// miss and again to insert.
#[derive(Default)]
struct KeyTable {
    table: HashTable<(KeyId, KeyClasses)>,
    /// The address just past bucket 0's entry as the last insert left it
    /// (hashbrown keeps bucket `i` at `end - (i + 1) * size`), for
    /// [`prefetch`](Self::prefetch) only; 0: none yet.
    end: usize,
}

/// The bytes of one key table entry.
const KEY_ENTRY: usize = std::mem::size_of::<(KeyId, KeyClasses)>();

/// The buckets [`KeyTable::prefetch`] asks for, from a key's first probe
/// position on.
const PREFETCH_BUCKETS: usize = 4;

/// The size from which the key table is prefetched: 4,096 buckets (1,792
/// to 3,584 keys) of 72 bytes, 288 KiB. A smaller table stays in the L2
/// with the rest of a graph that size (at 1,000 classes no read leaves the
/// L2, and the prefetch did not change the 1,000-class time).
const PREFETCH_MIN_BUCKETS: usize = 4096;

/// A key's hash in the key table ([`MixHasher`], as the engine's maps).
#[inline]
fn key_hash(key: &KeyId) -> u64 {
    BuildHasherDefault::<MixHasher>::default().hash_one(key)
}

impl KeyTable {
    #[inline]
    fn get(&self, key: &KeyId) -> Option<&KeyClasses> {
        self.table.find(key_hash(key), |e| e.0 == *key).map(|e| &e.1)
    }

    fn remove(&mut self, key: &KeyId) -> Option<KeyClasses> {
        self.table.find_entry(key_hash(key), |e| e.0 == *key).ok().map(|o| o.remove().0.1)
    }

    /// The key's entry, found or placed in one probe. The table grows (on a
    /// miss) as a map's entry does: only when the key is new, so a full
    /// table probes once more first, and a key found there does not grow it.
    #[cfg(test)]
    fn entry(&mut self, key: KeyId) -> Entry<'_, (KeyId, KeyClasses)> {
        self.entry_hashed(key, key_hash(&key))
    }

    /// [`entry`](Self::entry) with the key's hash given.
    #[inline]
    fn entry_hashed(&mut self, key: KeyId, hash: u64) -> Entry<'_, (KeyId, KeyClasses)> {
        let rehash = |e: &(KeyId, KeyClasses)| key_hash(&e.0);
        if self.table.len() == self.table.capacity() {
            return match self.table.find_entry(hash, |e| e.0 == key) {
                Ok(o) => Entry::Occupied(o),
                Err(absent) => absent.into_table().entry(hash, |e| e.0 == key, rehash),
            };
        }
        self.table.entry(hash, |e| e.0 == key, rehash)
    }

    fn iter(&self) -> impl Iterator<Item = (&KeyId, &KeyClasses)> {
        self.table.iter().map(|(k, c)| (k, c))
    }

    /// The address of the entry at the first probe position of a key of
    /// hash `hash`, in the table as the last insert left it (0: no insert
    /// yet, or a table too small to need a prefetch).
    #[inline(always)]
    fn first_place(&self, hash: u64) -> usize {
        if self.end == 0 {
            return 0;
        }
        let pos = (hash as usize) & (self.table.num_buckets() - 1);
        self.end.wrapping_sub((pos + 1) * KEY_ENTRY)
    }

    /// Asks the processor for the lines a new key's entry (of hash `hash`)
    /// is most likely written to, before the probe: the
    /// [`PREFETCH_BUCKETS`] buckets from its first probe position on
    /// (hashbrown puts a new key in the first free bucket of the group
    /// there; later buckets lie at lower addresses). At 10,000 keys a new
    /// key's entry is a random line or two of a table larger than the L2,
    /// and a store that misses holds up the stores after it
    /// (docs/PERFORMANCE.md, round 11, h11g). A hint only: an address left
    /// stale by a growth since the last insert is harmless.
    #[inline(always)]
    fn prefetch(&self, hash: u64) {
        let at = self.first_place(hash);
        if at != 0 {
            let low = at.wrapping_sub((PREFETCH_BUCKETS - 1) * KEY_ENTRY);
            let mut line = 0;
            while line < PREFETCH_BUCKETS * KEY_ENTRY {
                super::ids::prefetch_write(low.wrapping_add(line));
                line += 64;
            }
            super::ids::prefetch_write(low.wrapping_add(PREFETCH_BUCKETS * KEY_ENTRY - 1));
        }
    }

    /// Notes where the table keeps its entries after an insert put one in
    /// bucket `index` at `at` (for [`first_place`](Self::first_place)),
    /// once the table has [`PREFETCH_MIN_BUCKETS`].
    #[inline(always)]
    fn note_place(&mut self, index: usize, at: usize) {
        if self.table.num_buckets() >= PREFETCH_MIN_BUCKETS {
            self.end = at + (index + 1) * KEY_ENTRY;
        }
    }

    fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn capacity(&self) -> usize {
        self.table.capacity()
    }

    fn clear(&mut self) {
        self.table.clear();
    }
}

/// A key's classes, by subclass, and its claim on the name of its first
/// class. (Compact, as a program with many keys writes this table on every
/// registration and a large table costs cache misses: 24 bytes.)
struct KeyClasses {
    /// Subclass 0's class, raw (0: none; ids start at 1).
    first: u32,
    /// The other seven subclasses' (few keys use them), in a box made on
    /// first use.
    more: Option<Box<[u32; MAX_SUBCLASSES as usize - 1]>>,
    /// The name's place in `Graph::names` (a removal finds it without
    /// hashing the name, a registration compares its text there).
    name_at: u32,
    version: u32,
    /// Whether some class of the key was registered under another name (its
    /// version is then in that name's `NameVersions::keys`).
    other_names: bool,
}

impl KeyClasses {
    fn get(&self, subclass: u32) -> Option<ClassId> {
        let raw = match subclass {
            0 => self.first,
            s => self.more.as_ref().and_then(|m| m.get(s as usize - 1).copied()).unwrap_or(0),
        };
        (raw != 0).then(|| ClassId::from_raw(raw))
    }

    /// Sets `subclass`'s class (`subclass` in range).
    fn set(&mut self, subclass: u32, id: Option<ClassId>) {
        let raw = id.map_or(0, ClassId::raw);
        match subclass {
            0 => self.first = raw,
            _ if raw == 0 && self.more.is_none() => {}
            s => self.more.get_or_insert_with(Box::default)[s as usize - 1] = raw,
        }
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.first == 0 && self.more.as_ref().is_none_or(|m| m.iter().all(|&r| r == 0))
    }

    #[cfg(test)]
    fn all(&self) -> [Option<ClassId>; MAX_SUBCLASSES as usize] {
        std::array::from_fn(|s| self.get(s as u32))
    }
}

/// Every class name's [`NameVersions`], kept for good (one per distinct
/// name, as the names are).
#[derive(Default)]
struct Names {
    /// Each name's place in `versions`.
    by_name: FastMap<&'static str, u32>,
    versions: Vec<NameVersions>,
    /// The name asked for last, and its place: a program that makes many
    /// classes of one name (`LockdepMap::new_dynamic("conn")` in a loop)
    /// hashes the name once.
    recent: Option<(&'static str, u32)>,
}

impl Names {
    /// The versions of the keys of `name`, and their place (made if new).
    /// (The recent name's case inlined: a call cost ~20 of its ~30
    /// instructions a new class.)
    #[inline(always)]
    fn of(&mut self, name: &'static str) -> (u32, &mut NameVersions) {
        let at = match self.recent {
            Some((n, at)) if std::ptr::eq(n, name) => at,
            _ => self.find(name),
        };
        (at, &mut self.versions[at as usize])
    }

    /// The place of `name`'s versions (made if new), now the recent name.
    #[inline(never)]
    fn find(&mut self, name: &'static str) -> u32 {
        let versions = &mut self.versions;
        let at = *self.by_name.entry(name).or_insert_with(|| {
            versions.push(NameVersions { name, ..NameVersions::default() });
            (versions.len() - 1) as u32
        });
        self.recent = Some((name, at));
        at
    }
}

/// `a == b`, comparing the names' shared text by address first: a thread's
/// edges share the `Arc` of its name (see [`Graph::shared_thread`]), so the
/// text itself is compared only when the thread changed.
fn same_thread(a: &ThreadInfo, b: &ThreadInfo) -> bool {
    let names = match (&a.name, &b.name) {
        (Some(x), Some(y)) => Arc::ptr_eq(x, y) || x == y,
        (x, y) => x.is_none() && y.is_none(),
    };
    a.id == b.id && names && a.task == b.task
}

impl Graph {
    /// Puts the new edge `edge` in the freed slot `id` (for
    /// [`insert_edge_with`](Graph::insert_edge_with)).
    #[cold]
    #[inline(never)]
    fn reuse_edge(&mut self, id: EdgeId, edge: Edge) {
        self.edges[id.index()] = edge;
    }
}

/// Room for one more entry (a new edge or class written in place), out of
/// line (a doubling, seldom).
#[cold]
#[inline(never)]
fn grow_one<T>(v: &mut Vec<T>) {
    v.reserve(1);
}

/// Whether two class names are the same text (most often the same string).
fn same_name(a: &'static str, b: &'static str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// What the topological order says about a new edge `prev -> next`.
pub(crate) enum Plain {
    /// `next` cannot reach `prev`: no cycle of any kind, no search needed.
    NoPath,
    /// `next` may reach `prev`: run the strong-path search.
    Search,
}

impl Graph {
    pub(crate) fn lookup(&self, key: KeyId, subclass: u32) -> Option<ClassId> {
        self.by_key.get(&key).and_then(|c| c.get(subclass))
    }

    /// Every live class's key, by the class's slot (`None` for a free
    /// slot): the key table, turned round (for dumps and saves, which walk
    /// the classes; a new class keeps its key in the key table alone).
    pub(crate) fn keys_by_slot(&self) -> Vec<Option<KeyId>> {
        let mut keys = vec![None; self.classes.len()];
        for (key, classes) in self.by_key.iter() {
            let mut put = |raw: u32| {
                if let Some(slot) = (raw != 0).then(|| self.slot(ClassId::from_raw(raw))).flatten() {
                    keys[slot.index()] = Some(*key);
                }
            };
            put(classes.first);
            for &raw in classes.more.iter().flat_map(|m| m.iter()) {
                put(raw);
            }
        }
        keys
    }

    /// The slot of a live class.
    #[inline]
    pub(crate) fn slot(&self, id: ClassId) -> Option<Slot> {
        self.slots.get(id.raw()).map(Slot)
    }

    /// Registers a class; `None` when `limit` classes exist already (or
    /// class ids ran out, or `subclass` is out of range).
    #[cfg_attr(not(any(test, feature = "save")), allow(dead_code))] // loading a saved graph, tests; the live path uses `register_slot`
    pub(crate) fn register(&mut self, key: KeyId, subclass: u32, name: &'static str, limit: usize) -> Option<ClassId> {
        self.register_slot(key, subclass, name, limit).map(|(c, _)| c)
    }

    /// [`register`](Self::register), and the new class's slot when the
    /// class was made here (`None` when it existed: a new class's caller
    /// needs no probe of `slots` for it).
    #[inline]
    pub(crate) fn register_slot(
        &mut self,
        key: KeyId,
        subclass: u32,
        name: &'static str,
        limit: usize,
    ) -> Option<(ClassId, Option<Slot>)> {
        // One probe of `by_key` finds the class, or the key's other classes
        // and its version, or the place of a new key.
        // (The lines a new key is written to, asked for first.)
        let hash = key_hash(&key);
        self.by_key.prefetch(hash);
        let mut entry = self.by_key.entry_hashed(key, hash);
        if let Entry::Occupied(o) = &entry {
            if let Some(c) = o.get().1.get(subclass) {
                return Some((c, None));
            }
        }
        // (No lock has a subclass past the range: only a saved file could.)
        if self.nr_classes >= limit || self.last_id >= ClassId::MAX || subclass >= MAX_SUBCLASSES {
            return None;
        }
        let slot = match self.free_classes.last() {
            Some(&s) => s,
            None => Slot(u32::try_from(self.classes.len()).ok().filter(|&i| i < u32::MAX / 2)?),
        };
        self.last_id += 1;
        let id = ClassId::from_raw(self.last_id);
        let (name_at, version) = match &mut entry {
            Entry::Occupied(o)
                if self.names.versions.get(o.get().1.name_at as usize).is_some_and(|n| same_name(n.name, name)) =>
            {
                (o.get().1.name_at, o.get().1.version)
            }
            Entry::Occupied(o) => {
                o.get_mut().1.other_names = true;
                let (at, names) = self.names.of(name);
                let version = *names.keys.entry(key).or_insert_with(|| {
                    names.last += 1;
                    names.last
                });
                (at, version)
            }
            Entry::Vacant(_) => {
                let (at, names) = self.names.of(name);
                names.firsts += 1;
                names.last += 1;
                (at, names.last)
            }
        };
        let placed = entry.or_insert((key, KeyClasses { first: 0, more: None, name_at, version, other_names: false }));
        let (index, at) = (placed.bucket_index(), placed.get() as *const (KeyId, KeyClasses) as usize);
        placed.into_mut().1.set(subclass, Some(id));
        self.by_key.note_place(index, at);
        let class = || Class {
            id,
            subclass,
            name,
            version,
            after: SmallList::default(),
            before: SmallList::default(),
            alive: true,
            ord: None,
        };
        if slot.index() < self.classes.len() {
            self.free_classes.pop();
            self.classes[slot.index()] = class();
        } else {
            let len = self.classes.len();
            if len == self.classes.capacity() {
                grow_one(&mut self.classes);
            }
            // Written in place, field by field: made on the stack and
            // copied (`Vec::push`), its 16-byte loads each spanned several
            // of the fields' narrower stores, which the processor cannot
            // forward (a stall of each load until the stores reach the
            // cache).
            self.classes.spare_capacity_mut()[0].write(class());
            // SAFETY: the entry at `len` is within the capacity (made
            // above) and was just initialised.
            unsafe { self.classes.set_len(len + 1) };
        }
        // (`id` is new: ids are handed out once, from `last_id`.)
        self.slots.insert(id.raw(), slot.0);
        self.nr_classes += 1;
        Some((id, Some(slot)))
    }

    /// The class in `slot` (live or not).
    #[cfg(test)]
    pub(crate) fn class_at(&self, slot: Slot) -> &Class {
        &self.classes[slot.index()]
    }

    /// Every live class with its slot.
    pub(crate) fn live(&self) -> impl Iterator<Item = (Slot, &Class)> {
        self.classes.iter().enumerate().filter(|(_, c)| c.alive).map(|(i, c)| (Slot(i as u32), c))
    }

    pub(crate) fn is_alive(&self, id: ClassId) -> bool {
        self.slot(id).is_some()
    }

    pub(crate) fn class_name(&self, id: ClassId) -> String {
        match self.slot(id) {
            Some(s) => self.classes[s.index()].display_name(),
            None => format!("<class {}>", id.raw()),
        }
    }

    pub(crate) fn edge(&self, id: EdgeId) -> &Edge {
        &self.edges[id.index()]
    }

    /// The two ends of a live edge's origin as a report shows them, with
    /// the classes' names as they are now.
    pub(crate) fn origin_infos(&self, id: EdgeId) -> (LockInfo, LockInfo) {
        let e = &self.edges[id.index()];
        let (from, to) = (&self.classes[e.from.index()], &self.classes[e.to.index()]);
        (e.origin.from.info(from.display_name()), e.origin.to.info(to.display_name()))
    }

    /// The classes an edge joins.
    pub(crate) fn edge_classes(&self, id: EdgeId) -> (ClassId, ClassId) {
        let e = &self.edges[id.index()];
        (self.classes[e.from.index()].id, self.classes[e.to.index()].id)
    }

    #[cfg_attr(not(feature = "save"), allow(dead_code))] // loading a saved graph; the live path uses the `_at` forms
    pub(crate) fn find_edge(&self, from: ClassId, to: ClassId) -> Option<EdgeId> {
        let (from, to) = self.slot_pair(from, to)?;
        self.edge_at(from, to)
    }

    /// `thread` for a new edge's origin: the previous edge's when it is the
    /// same thread (and task), so that a thread's edges share one copy.
    pub(crate) fn shared_thread(&mut self, thread: &ThreadInfo) -> Arc<ThreadInfo> {
        match &self.last_thread {
            Some(t) if same_thread(t, thread) => Arc::clone(t),
            _ => Arc::clone(self.last_thread.insert(Arc::new(thread.clone()))),
        }
    }

    /// The slots of two live classes; `None` if either was removed. A new
    /// dependency resolves its ends once and passes the slots on (the `_at`
    /// functions), instead of a class-table probe per step.
    #[inline]
    pub(crate) fn slot_pair(&self, a: ClassId, b: ClassId) -> Option<(Slot, Slot)> {
        Some((self.slot(a)?, self.slot(b)?))
    }

    /// The edge `from -> to` between two live classes: the shorter of
    /// `from`'s `after` and `to`'s `before` scanned when it has at most
    /// [`SCAN`] edges, else `by_pair` (which then has every such edge).
    #[inline]
    pub(crate) fn edge_at(&self, from: Slot, to: Slot) -> Option<EdgeId> {
        let after = &self.classes[from.index()].after;
        let before = &self.classes[to.index()].before;
        if after.len() <= before.len() {
            if after.len() <= SCAN {
                return after.iter().copied().find(|e| self.edges[e.index()].to == to);
            }
        } else if before.len() <= SCAN {
            return before.iter().copied().find(|e| self.edges[e.index()].from == from);
        }
        self.by_pair.get(&(from, to)).copied()
    }

    /// Gives `e` its `by_pair` entry unless it has one.
    fn pair(&mut self, e: EdgeId) {
        let edge = &mut self.edges[e.index()];
        if !edge.paired {
            edge.paired = true;
            let key = (edge.from, edge.to);
            // SAFETY: (hashbrown's contract, not memory safety) an edge is
            // the only one of its pair and `paired` says whether its entry
            // is in the table: there is none for `key`.
            unsafe { self.by_pair.insert_unique_unchecked(key, e) };
        }
    }

    /// ORs `dep` into the existing edge `from -> to`; false if there is none.
    #[cfg_attr(not(feature = "save"), allow(dead_code))] // loading a saved graph; the live path uses the `_at` forms
    pub(crate) fn update_edge(&mut self, from: ClassId, to: ClassId, dep: DepTypes, distance: u32) -> bool {
        match self.find_edge(from, to) {
            Some(e) => {
                self.widen_edge(e, dep, distance);
                true
            }
            None => false,
        }
    }

    /// ORs `dep` into the live edge `e`, keeping the shorter distance.
    pub(crate) fn widen_edge(&mut self, e: EdgeId, dep: DepTypes, distance: u32) {
        let edge = &mut self.edges[e.index()];
        edge.dep |= dep.bits();
        edge.distance = edge.distance.min(distance);
    }

    /// Inserts a new edge `from -> to` between live classes; `None` when
    /// `limit` dependencies exist (or either class is gone).
    #[cfg_attr(not(feature = "save"), allow(dead_code))] // loading a saved graph; the live path uses the `_at` forms
    pub(crate) fn insert_edge(
        &mut self,
        from: ClassId,
        to: ClassId,
        dep: DepTypes,
        distance: u32,
        origin: EdgeOrigin,
        limit: usize,
    ) -> Option<EdgeId> {
        let (from, to) = self.slot_pair(from, to)?;
        self.insert_edge_at(from, to, dep, distance, origin, limit)
    }

    /// [`insert_edge`](Self::insert_edge) between two live classes' slots
    /// (the edge must not exist yet).
    #[inline(always)]
    pub(crate) fn insert_edge_at(
        &mut self,
        from: Slot,
        to: Slot,
        dep: DepTypes,
        distance: u32,
        origin: EdgeOrigin,
        limit: usize,
    ) -> Option<EdgeId> {
        self.insert_edge_with(from, to, dep, distance, move || origin, limit)
    }

    /// [`insert_edge_at`](Self::insert_edge_at) with the new edge's origin
    /// made by `origin` where the edge goes (not called when the limit
    /// refuses the edge). An origin made before and moved in was built on
    /// the stack field by field, then copied with 16-byte loads that each
    /// spanned several of those stores, which the processor cannot forward
    /// (each load waited for the stores to reach the cache); made here, its
    /// fields are stored in the edge table directly.
    #[inline(always)]
    pub(crate) fn insert_edge_with(
        &mut self,
        from: Slot,
        to: Slot,
        dep: DepTypes,
        distance: u32,
        origin: impl FnOnce() -> EdgeOrigin,
        limit: usize,
    ) -> Option<EdgeId> {
        if self.nr_dependencies >= limit {
            return None;
        }
        let at_from = self.classes[from.index()].after.len() as u32;
        let at_to = self.classes[to.index()].before.len() as u32;
        let (dep, alive, paired) = (dep.bits(), true, false);
        let id = match self.free_edges.pop() {
            // (A freed slot: seldom, out of line.)
            Some(id) => {
                self.reuse_edge(id, Edge { from, to, at_from, at_to, dep, distance, origin: origin(), alive, paired });
                id
            }
            None => {
                let len = self.edges.len();
                let id = EdgeId(u32::try_from(len).ok()?);
                if len == self.edges.capacity() {
                    grow_one(&mut self.edges);
                }
                // Written in place, field by field (`Vec::push` was an
                // out-of-line call that copied the 96-byte edge once more;
                // an edge written whole was made on the stack first).
                let EdgeOrigin { from: start, to: end, thread, trace } = origin();
                let e = self.edges.spare_capacity_mut()[0].as_mut_ptr();
                // SAFETY: `e` is the vector's first free entry (within its
                // capacity, made above), valid for writes and not read or
                // dropped before `set_len` below makes it part of the
                // vector; every field is written here, each once.
                unsafe {
                    use std::ptr::addr_of_mut;
                    addr_of_mut!((*e).from).write(from);
                    addr_of_mut!((*e).to).write(to);
                    addr_of_mut!((*e).at_from).write(at_from);
                    addr_of_mut!((*e).at_to).write(at_to);
                    addr_of_mut!((*e).dep).write(dep);
                    addr_of_mut!((*e).distance).write(distance);
                    addr_of_mut!((*e).origin.from).write(start);
                    addr_of_mut!((*e).origin.to).write(end);
                    addr_of_mut!((*e).origin.thread).write(thread);
                    addr_of_mut!((*e).origin.trace).write(trace);
                    addr_of_mut!((*e).alive).write(alive);
                    addr_of_mut!((*e).paired).write(paired);
                }
                // SAFETY: the entry at `len` is within the capacity (made
                // above) and was just initialised, every field of it.
                unsafe { self.edges.set_len(len + 1) };
                id
            }
        };
        self.place(from, to);
        debug_assert!(self.edge_at(from, to).is_none(), "insert_edge_at of an existing edge");
        self.classes[from.index()].after.push(id);
        self.classes[to.index()].before.push(id);
        // `by_pair` keeps every edge whose lists are both longer than
        // `SCAN`: this one if so, and when a list has just grown past
        // `SCAN`, its edges whose other list is long too. (Entries stay
        // when lists shrink: `paired` says which edges have one.) The
        // lists' new lengths are their old ones plus the edge (one list
        // each, also when `from` is `to`): no second read of the classes.
        let (n_after, n_before) = (at_from as usize + 1, at_to as usize + 1);
        if n_after > SCAN && n_before > SCAN {
            self.pair(id);
        }
        if n_after == SCAN + 1 {
            for i in 0..n_after {
                let e = self.classes[from.index()].after[i];
                if self.classes[self.edges[e.index()].to.index()].before.len() > SCAN {
                    self.pair(e);
                }
            }
        }
        if n_before == SCAN + 1 {
            for i in 0..n_before {
                let e = self.classes[to.index()].before[i];
                if self.classes[self.edges[e.index()].from.index()].after.len() > SCAN {
                    self.pair(e);
                }
            }
        }
        self.nr_dependencies += 1;
        Some(id)
    }

    /// Frees the live edge `e`, which the caller took off the end of its
    /// class's own list (`after` when `own_after`, else `before`, of the
    /// class being removed): here it leaves the other end's list (O(1):
    /// that list's last entry takes its place) and its slot is freed. The
    /// removed class's own list needs no such care — its edges go from
    /// its end, so nothing in it moves.
    #[inline(always)]
    fn remove_popped_edge(&mut self, e: EdgeId, own_after: bool) {
        let edge = &mut self.edges[e.index()];
        edge.alive = false;
        let Edge { from, to, at_from, at_to, .. } = *edge;
        if std::mem::take(&mut edge.paired) {
            self.by_pair.remove(&(from, to));
        }
        if own_after {
            let before = &mut self.classes[to.index()].before;
            before.swap_remove(at_to as usize);
            if let Some(&moved) = before.get(at_to as usize) {
                self.edges[moved.index()].at_to = at_to;
            }
        } else {
            let after = &mut self.classes[from.index()].after;
            after.swap_remove(at_from as usize);
            if let Some(&moved) = after.get(at_from as usize) {
                self.edges[moved.index()].at_from = at_from;
            }
        }
        self.nr_dependencies -= 1;
        self.free_edges.push(e);
    }

    /// Searches for a *strong* path from `root` to `target` (the strong-path
    /// rule, `docs/src/04-read-write-rules.md`).
    ///
    /// `root_xr`: the root is reached through a recursive-read arrival (the new
    /// edge ends in a recursive reader), so its first hop may not leave it as a
    /// reader. `target_exclusive`: the closing edge leaves `target` as a writer,
    /// so any arrival at the target counts; otherwise only a non-`*R` one does.
    ///
    /// Unlike the kernel, which marks a class visited once per search, the
    /// visit is tracked per (class, arrived-via-`*R`) state: an arrival through
    /// a non-recursive edge dominates one through a recursive edge, so each
    /// class is expanded at most twice and the answer is exact.
    pub(crate) fn find_strong_path(
        &mut self,
        root: ClassId,
        root_xr: bool,
        target: ClassId,
        target_exclusive: bool,
    ) -> Option<Path> {
        let (root, target) = (self.slot(root)?, self.slot(target)?);
        let states = self.classes.len() * 2;
        if self.stamp.len() < states {
            self.stamp.resize(states, 0);
            self.parent.resize(states, (u32::MAX, EdgeId(0)));
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        let generation = self.generation;
        let state = |c: Slot, xr: bool| c.0 * 2 + xr as u32;
        let matches = |c: Slot, xr: bool| c == target && (target_exclusive || !xr);

        self.queue.clear();
        let root_state = state(root, root_xr);
        self.stamp[root_state as usize] = generation;
        self.parent[root_state as usize] = (u32::MAX, EdgeId(0));
        if matches(root, root_xr) {
            return Some(Vec::new());
        }
        self.queue.push_back(root_state);
        while let Some(s) = self.queue.pop_front() {
            let class = Slot(s / 2);
            let xr = s % 2 == 1;
            for &e in self.classes[class.index()].after.iter() {
                let edge = &self.edges[e.index()];
                let mut dep = edge.dep;
                if xr {
                    // Arrived as a recursive reader: cannot leave as a reader.
                    dep &= !(DepTypes::SR | DepTypes::SN);
                }
                if dep == 0 {
                    continue;
                }
                let next_xr = dep & (DepTypes::SN | DepTypes::EN) == 0;
                let next = edge.to;
                let strong = state(next, false) as usize;
                if self.stamp[strong] == generation {
                    continue; // a non-recursive arrival dominates
                }
                let ns = state(next, next_xr) as usize;
                if self.stamp[ns] == generation {
                    continue;
                }
                self.stamp[ns] = generation;
                self.parent[ns] = (s, e);
                if matches(next, next_xr) {
                    return Some(self.path_to(ns as u32));
                }
                self.queue.push_back(ns as u32);
                self.max_bfs_queue = self.max_bfs_queue.max(self.queue.len());
            }
        }
        None
    }

    fn path_to(&self, mut s: u32) -> Path {
        let mut path = Vec::new();
        while self.parent[s as usize].0 != u32::MAX {
            let (p, e) = self.parent[s as usize];
            path.push(e);
            s = p;
        }
        path.reverse();
        path
    }

    /// Removes a class with every edge touching it (the kernel's
    /// `zap_class`), in time proportional to its edges. Its slot and its
    /// edges' slots are reused; its id never is. (The engine removes a
    /// key's classes together, with [`zap_key`](Self::zap_key); tests
    /// remove one subclass at a time.)
    #[cfg(test)]
    pub(crate) fn zap(&mut self, id: ClassId) {
        let Some(key) = self.slot(id).and_then(|s| self.keys_by_slot()[s.index()]) else {
            return;
        };
        let Some(slot) = self.unplace(id) else {
            return;
        };
        let subclass = self.classes[slot.index()].subclass;
        if let Entry::Occupied(mut o) = self.by_key.entry(key) {
            let classes = &mut o.get_mut().1;
            classes.set(subclass, None);
            if classes.is_empty() {
                // No class of the key is left: forget its claims on names.
                let gone = o.remove().0.1;
                self.release_names(key, gone);
            }
        }
    }

    /// Removes every class of `key` as [`zap`](Self::zap) would, one by
    /// one, but with one probe of the key's entry for all of them; returns
    /// the classes removed (for the chain store).
    #[cfg(test)]
    pub(crate) fn zap_key(&mut self, key: KeyId) -> [Option<ClassId>; MAX_SUBCLASSES as usize] {
        let mut all = [None; MAX_SUBCLASSES as usize];
        let mut n = 0;
        self.zap_key_each(key, |c, _| {
            all[n] = Some(c);
            n += 1;
        });
        all
    }

    /// [`zap_key`](Self::zap_key), calling `removed` with each class as it
    /// goes, and the slot it freed (the chain store's part: its entries are
    /// by slot), subclass 0 first: nearly every key has that class alone,
    /// and no array of eight is built and walked twice for it.
    #[inline(never)] // (inlined into its one caller it cost more: register pressure)
    pub(crate) fn zap_key_each(&mut self, key: KeyId, mut removed: impl FnMut(ClassId, Slot)) {
        let Some(gone) = self.by_key.remove(&key) else { return };
        if let Some(c) = gone.get(0) {
            if let Some(slot) = self.unplace(c) {
                removed(c, slot);
            }
        }
        if gone.more.is_some() {
            self.zap_more(&gone, &mut removed);
        }
        self.release_names(key, gone);
    }

    /// [`zap_key_each`](Self::zap_key_each)'s part for the subclasses past
    /// 0 (few keys have them; out of line, so that subclass 0's
    /// [`unplace`](Self::unplace) is inlined there once).
    #[cold]
    #[inline(never)]
    fn zap_more(&mut self, gone: &KeyClasses, removed: &mut impl FnMut(ClassId, Slot)) {
        for c in (1..MAX_SUBCLASSES).filter_map(|s| gone.get(s)) {
            if let Some(slot) = self.unplace(c) {
                removed(c, slot);
            }
        }
    }

    /// Takes a live class out of the graph with every edge touching it and
    /// frees its slot, leaving its key's entry to the caller; its slot, or
    /// `None` if it was not live.
    #[inline(always)]
    fn unplace(&mut self, id: ClassId) -> Option<Slot> {
        let slot = Slot(self.slots.remove(id.raw())?);
        // Last first, so that nothing moves in the class's own lists (an
        // edge into itself leaves its `before` as the other end's list).
        while let Some(e) = self.classes[slot.index()].after.pop() {
            self.remove_popped_edge(e, true);
        }
        while let Some(e) = self.classes[slot.index()].before.pop() {
            self.remove_popped_edge(e, false);
        }
        let class = &mut self.classes[slot.index()];
        class.alive = false;
        class.ord = None;
        self.nr_classes -= 1;
        self.nr_zapped_classes += 1;
        self.free_classes.push(slot);
        Some(slot)
    }

    /// Releases the claims of the removed key `key` on its names' versions:
    /// a name no live key claims starts its versions again, and its entry
    /// (with its table) stays for the next key of the name — a program that
    /// churns dynamic classes of one name allocates nothing here. (One entry
    /// per distinct name, as the names are.)
    fn release_names(&mut self, key: KeyId, gone: KeyClasses) {
        let restart = |names: &mut NameVersions| {
            if names.firsts == 0 && names.keys.is_empty() {
                names.last = 0;
            }
        };
        if let Some(names) = self.names.versions.get_mut(gone.name_at as usize) {
            names.firsts -= 1;
            restart(names);
        }
        if gone.other_names {
            // Rare (one key, classes under several names): every name.
            for names in &mut self.names.versions {
                if names.keys.remove(&key).is_some() {
                    restart(names);
                }
            }
        }
    }

    /// Whether `id` is a live class that no edge touches and the order never
    /// placed — most often one just registered. A new dependency into it
    /// cannot close a cycle (no path leaves it) nor exist already, and
    /// [`plain_check`](Self::plain_check) would neither search nor reorder
    /// for it: the caller may skip the check, counting it with
    /// [`count_untouched_check`](Self::count_untouched_check).
    #[cfg(test)]
    pub(crate) fn is_untouched(&self, id: ClassId) -> bool {
        self.slot(id).is_some_and(|s| self.is_untouched_at(s))
    }

    /// [`is_untouched`](Self::is_untouched) for a live class's slot (a new
    /// dependency has resolved it already: no second probe of `slots`).
    #[inline]
    pub(crate) fn is_untouched_at(&self, slot: Slot) -> bool {
        let c = &self.classes[slot.index()];
        c.ord.is_none() && c.after.is_empty() && c.before.is_empty()
    }

    /// Counts the check of a dependency into an untouched class as
    /// [`plain_check`](Self::plain_check) would have (with the order broken
    /// it runs the search, which finds nothing).
    pub(crate) fn count_untouched_check(&mut self) {
        if self.order_broken {
            self.searches_run += 1;
        } else {
            self.searches_skipped += 1;
        }
    }

    /// The topological-order check for a new edge `prev -> next`
    /// (Pearce–Kelly). When `next` cannot reach `prev` the order is repaired
    /// for the new edge here, touching only the classes between the two.
    #[cfg_attr(not(feature = "save"), allow(dead_code))] // loading a saved graph; the live path uses the `_at` forms
    pub(crate) fn plain_check(&mut self, prev: ClassId, next: ClassId) -> Plain {
        let Some((prev, next)) = self.slot_pair(prev, next) else {
            self.searches_skipped += 1;
            return Plain::NoPath; // a removed class is on no path
        };
        self.plain_check_at(prev, next)
    }

    /// [`plain_check`](Self::plain_check) for two live classes' slots.
    pub(crate) fn plain_check_at(&mut self, prev: Slot, next: Slot) -> Plain {
        if self.order_broken || prev == next {
            self.searches_run += 1;
            return Plain::Search;
        }
        let (Some(op), Some(on)) = (self.classes[prev.index()].ord, self.classes[next.index()].ord) else {
            // A class without edges cannot be on a path.
            self.searches_skipped += 1;
            return Plain::NoPath;
        };
        if op < on {
            self.searches_skipped += 1;
            return Plain::NoPath;
        }
        // Forward from next over classes ordered before prev.
        let mut fwd = vec![next];
        let mut seen: FastSet<Slot> = FastSet::default();
        seen.insert(next);
        let mut i = 0;
        while i < fwd.len() {
            let c = fwd[i];
            i += 1;
            for e in self.classes[c.index()].after.iter() {
                let to = self.edges[e.index()].to;
                if to == prev {
                    self.searches_run += 1;
                    return Plain::Search;
                }
                let o = self.classes[to.index()].ord.unwrap_or(i64::MAX);
                if o < op && seen.insert(to) {
                    fwd.push(to);
                }
            }
        }
        // Backward from prev over classes ordered after next.
        let mut bwd = vec![prev];
        seen.insert(prev);
        let mut i = 0;
        while i < bwd.len() {
            let c = bwd[i];
            i += 1;
            for e in self.classes[c.index()].before.iter() {
                let from = self.edges[e.index()].from;
                let o = self.classes[from.index()].ord.unwrap_or(i64::MIN);
                if o > on && seen.insert(from) {
                    bwd.push(from);
                }
            }
        }
        let ord = |g: &Graph, c: &Slot| g.classes[c.index()].ord.unwrap_or(0);
        fwd.sort_by_key(|c| ord(self, c));
        bwd.sort_by_key(|c| ord(self, c));
        let mut labels: Vec<i64> = fwd.iter().chain(&bwd).map(|c| ord(self, c)).collect();
        labels.sort_unstable();
        for (c, l) in bwd.iter().chain(&fwd).zip(labels) {
            self.classes[c.index()].ord = Some(l);
        }
        self.searches_skipped += 1;
        Plain::NoPath
    }

    /// Gives order positions to the ends of a new edge that had none.
    fn place(&mut self, from: Slot, to: Slot) {
        if self.order_broken {
            return;
        }
        match (self.classes[from.index()].ord, self.classes[to.index()].ord) {
            (None, None) => {
                self.classes[from.index()].ord = Some(self.max_ord + 1);
                self.classes[to.index()].ord = Some(self.max_ord + 2);
                self.max_ord += 2;
            }
            (Some(_), None) => {
                self.max_ord += 1;
                self.classes[to.index()].ord = Some(self.max_ord);
            }
            (None, Some(_)) => {
                self.min_ord -= 1;
                self.classes[from.index()].ord = Some(self.min_ord);
            }
            (Some(a), Some(b)) => {
                if a >= b {
                    // Only reached when the edge closed a weak cycle.
                    self.order_broken = true;
                }
            }
        }
    }

    /// Checks that the order is a topological order of the live edges and
    /// that every edge sits where its positions say (tests).
    #[cfg(test)]
    pub(crate) fn order_is_consistent(&self) -> bool {
        let lists = self.edges.iter().enumerate().filter(|(_, e)| e.alive).all(|(i, e)| {
            self.classes[e.from.index()].after.get(e.at_from as usize) == Some(&EdgeId(i as u32))
                && self.classes[e.to.index()].before.get(e.at_to as usize) == Some(&EdgeId(i as u32))
        });
        let keys = self.keys_by_slot();
        let keyed =
            self.live().all(|(slot, c)| keys[slot.index()].is_some_and(|k| self.lookup(k, c.subclass) == Some(c.id)));
        lists
            && keyed
            && self.pairs_are_consistent()
            && (self.order_broken
                || self.edges.iter().filter(|e| e.alive).all(|e| {
                    match (self.classes[e.from.index()].ord, self.classes[e.to.index()].ord) {
                        (Some(a), Some(b)) => a < b,
                        _ => false,
                    }
                }))
    }

    /// Checks `by_pair` (tests): an entry for exactly the live edges that
    /// say they have one, every edge between two long lists among them,
    /// and `edge_at` finding every live edge from its ends.
    #[cfg(test)]
    pub(crate) fn pairs_are_consistent(&self) -> bool {
        let live = self.edges.iter().enumerate().filter(|(_, e)| e.alive);
        let paired = live.clone().filter(|(_, e)| e.paired).count();
        paired == self.by_pair.len()
            && live.clone().all(|(i, e)| {
                let long =
                    self.classes[e.from.index()].after.len() > SCAN && self.classes[e.to.index()].before.len() > SCAN;
                (!e.paired || self.by_pair.get(&(e.from, e.to)) == Some(&EdgeId(i as u32)))
                    && (!long || e.paired)
                    && self.edge_at(e.from, e.to) == Some(EdgeId(i as u32))
            })
    }

    /// Classes of a key, one slot per subclass (a copy: nothing allocated,
    /// and the graph stays free to change while they are removed).
    #[cfg(test)]
    pub(crate) fn classes_of(&self, key: KeyId) -> [Option<ClassId>; MAX_SUBCLASSES as usize] {
        self.by_key.get(&key).map(KeyClasses::all).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> KeyId {
        KeyId::Key { addr: n, generation: 0 }
    }

    fn origin() -> EdgeOrigin {
        let loc = Location::caller();
        let li = EdgeEnd {
            instance: crate::names::intern("x"),
            addr: 0,
            subclass: 0,
            read: Read::Exclusive,
            trylock: false,
            location: loc,
        };
        EdgeOrigin { from: li, to: li, thread: ThreadInfo::current().into(), trace: None }
    }

    fn graph(n: usize) -> (Graph, Vec<ClassId>) {
        let mut g = Graph::default();
        let ids = (0..n).map(|i| g.register(key(i + 1), 0, "c", usize::MAX).unwrap()).collect();
        (g, ids)
    }

    fn add(g: &mut Graph, a: ClassId, b: ClassId, pr: Read, nr: Read) {
        if !g.update_edge(a, b, DepTypes::of(pr, nr), 1) {
            g.insert_edge(a, b, DepTypes::of(pr, nr), 1, origin(), usize::MAX).unwrap();
        }
    }

    #[test]
    fn edge_accumulates_types() {
        let (mut g, c) = graph(2);
        add(&mut g, c[0], c[1], Read::Shared, Read::SharedRecursive);
        add(&mut g, c[0], c[1], Read::Exclusive, Read::Exclusive);
        let e = g.find_edge(c[0], c[1]).unwrap();
        assert_eq!(g.edge(e).dep, DepTypes::SR | DepTypes::EN);
        assert_eq!(g.nr_dependencies, 1);
        assert_eq!(g.class_at(g.slot(c[0]).unwrap()).after.len(), 1);
    }

    #[test]
    fn exact_search_finds_strong_arrival_after_weak_one() {
        // The strong-path rule (docs/src/04-read-write-rules.md): N -ER-> P, N -EN-> D, D -EN-> P; closing P(R) -> N(W).
        let (mut g, c) = graph(3);
        let (n, p, d) = (c[0], c[1], c[2]);
        add(&mut g, n, p, Read::Exclusive, Read::SharedRecursive);
        add(&mut g, n, d, Read::Exclusive, Read::Exclusive);
        add(&mut g, d, p, Read::Exclusive, Read::Exclusive);
        let path = g.find_strong_path(n, false, p, false).expect("strong path N->D->P");
        let hops: Vec<(ClassId, ClassId)> = path.iter().map(|e| g.edge_classes(*e)).collect();
        assert_eq!(hops, vec![(n, d), (d, p)]);
    }

    #[test]
    fn recursive_arrival_cannot_leave_as_reader() {
        // A -ER-> B -SN-> C: arriving at B as a recursive reader, B cannot block C's holder.
        let (mut g, c) = graph(3);
        add(&mut g, c[0], c[1], Read::Exclusive, Read::SharedRecursive);
        add(&mut g, c[1], c[2], Read::SharedRecursive, Read::Exclusive);
        assert!(g.find_strong_path(c[0], false, c[2], true).is_none());
        // A writer edge out of B keeps the path strong.
        add(&mut g, c[1], c[2], Read::Exclusive, Read::Exclusive);
        assert!(g.find_strong_path(c[0], false, c[2], true).is_some());
    }

    #[test]
    fn long_cycle_search_and_zap() {
        let (mut g, c) = graph(50);
        for w in c.windows(2) {
            add(&mut g, w[0], w[1], Read::Exclusive, Read::Exclusive);
        }
        let path = g.find_strong_path(c[0], false, c[49], true).unwrap();
        assert_eq!(path.len(), 49);
        g.zap(c[25]);
        assert!(g.find_strong_path(c[0], false, c[49], true).is_none());
        assert_eq!(g.nr_dependencies, 47);
        assert_eq!(g.nr_classes, 49);
    }

    #[test]
    fn order_skips_searches_for_chains_built_both_ways() {
        for reverse in [false, true] {
            let (mut g, c) = graph(1000);
            let pairs: Vec<usize> = if reverse { (0..999).rev().collect() } else { (0..999).collect() };
            for i in pairs {
                assert!(matches!(g.plain_check(c[i], c[i + 1]), Plain::NoPath));
                add(&mut g, c[i], c[i + 1], Read::Exclusive, Read::Exclusive);
            }
            assert!(g.order_is_consistent());
            assert_eq!(g.searches_run, 0);
            // The closing edge needs the search, and the search finds the cycle.
            assert!(matches!(g.plain_check(c[999], c[0]), Plain::Search));
            assert!(g.find_strong_path(c[0], false, c[999], true).is_some());
        }
    }

    #[test]
    fn order_is_repaired_for_edges_against_it() {
        let (mut g, c) = graph(6);
        // Place 0..6 in order by a chain of edges 0->1, 2->3, 4->5 then join against the order.
        add(&mut g, c[4], c[5], Read::Exclusive, Read::Exclusive);
        add(&mut g, c[2], c[3], Read::Exclusive, Read::Exclusive);
        add(&mut g, c[0], c[1], Read::Exclusive, Read::Exclusive);
        for (a, b) in [(5, 2), (3, 0), (1, 4)] {
            let verdict = g.plain_check(c[a], c[b]);
            if (a, b) == (1, 4) {
                assert!(matches!(verdict, Plain::Search), "4 reaches 1 through 5, 2, 3, 0");
            } else {
                assert!(matches!(verdict, Plain::NoPath));
                add(&mut g, c[a], c[b], Read::Exclusive, Read::Exclusive);
                assert!(g.order_is_consistent());
            }
        }
    }

    #[test]
    fn a_key_keeps_its_other_subclasses_and_name_when_one_is_removed() {
        let mut g = Graph::default();
        let a0 = g.register(key(1), 0, "a", 10).unwrap();
        let a3 = g.register(key(1), 3, "a", 10).unwrap();
        let b = g.register(key(2), 0, "a", 10).unwrap();
        assert_eq!(g.classes_of(key(1)).into_iter().flatten().collect::<Vec<_>>(), vec![a0, a3]);
        assert_eq!(g.register(key(1), MAX_SUBCLASSES, "a", 10), None, "no class past the subclass range");
        g.zap(a0);
        assert_eq!((g.lookup(key(1), 0), g.lookup(key(1), 3)), (None, Some(a3)));
        assert_eq!(g.class_name(a3), "a/3", "the key still holds its name");
        assert_eq!(g.class_name(b), "a#2");
        g.zap(a3);
        assert_eq!(g.classes_of(key(1)), [None; MAX_SUBCLASSES as usize]);
    }

    #[test]
    fn a_name_versions_its_keys_while_they_live() {
        let mut g = Graph::default();
        let c1 = g.register(key(1), 0, "conn", 10).unwrap();
        let c2 = g.register(key(2), 0, "conn", 10).unwrap();
        let c2b = g.register(key(2), 2, "conn", 10).unwrap();
        assert_eq!(
            (g.class_name(c1), g.class_name(c2), g.class_name(c2b)),
            ("conn".into(), "conn#2".into(), "conn#2/2".into())
        );
        g.zap(c1);
        let c3 = g.register(key(3), 0, "conn", 10).unwrap();
        assert_eq!(g.class_name(c3), "conn#3", "conn#2 still lives: versions go on");
        g.zap(c2);
        assert_eq!(g.class_name(c2b), "conn#2/2", "the key keeps its version while a class of it lives");
        g.zap(c2b);
        g.zap(c3);
        let c4 = g.register(key(4), 0, "conn", 10).unwrap();
        assert_eq!(g.class_name(c4), "conn", "no key of the name left: versions start again");
    }

    #[test]
    fn a_key_with_classes_under_two_names_has_a_version_in_each_and_releases_both() {
        let mut g = Graph::default();
        let b0 = g.register(key(1), 0, "b", 10).unwrap();
        let a0 = g.register(key(2), 0, "a", 10).unwrap();
        let b1 = g.register(key(2), 1, "b", 10).unwrap();
        let a1 = g.register(key(2), 2, "a", 10).unwrap();
        let names: Vec<String> = [b0, a0, b1, a1].iter().map(|&c| g.class_name(c)).collect();
        assert_eq!(names, ["b", "a", "b#2/1", "a/2"]);
        for c in [a0, b1, a1] {
            g.zap(c);
        }
        let b = g.register(key(3), 0, "b", 10).unwrap();
        let a = g.register(key(4), 0, "a", 10).unwrap();
        // Key 1 still holds "b": its versions go on; "a" has no key left.
        assert_eq!((g.class_name(b), g.class_name(a)), ("b#3".into(), "a".into()), "key 2 claims neither name now");
        g.zap(b0);
        g.zap(b);
        let fresh = g.register(key(5), 0, "b", 10).unwrap();
        assert_eq!(g.class_name(fresh), "b");
    }

    #[test]
    fn only_a_class_no_edge_ever_placed_is_untouched() {
        let (mut g, c) = graph(3);
        assert!(g.is_untouched(c[0]) && g.is_untouched(c[1]));
        add(&mut g, c[0], c[1], Read::Exclusive, Read::Exclusive);
        assert!(!g.is_untouched(c[0]) && !g.is_untouched(c[1]), "an edge each way");
        g.zap(c[0]);
        assert!(!g.is_untouched(c[0]), "removed");
        // Its edges are gone but the order placed it: `plain_check` may
        // still reorder for it, so the check is not skipped.
        assert!(g.classes[g.slot(c[1]).unwrap().index()].before.is_empty());
        assert!(!g.is_untouched(c[1]));
        assert!(g.is_untouched(c[2]));
        let skipped = g.searches_skipped;
        g.count_untouched_check();
        assert_eq!((g.searches_skipped, g.searches_run), (skipped + 1, 0));
        g.order_broken = true;
        g.count_untouched_check();
        assert_eq!((g.searches_skipped, g.searches_run), (skipped + 1, 1), "with the order broken it searches");
    }

    #[test]
    fn zap_key_removes_every_subclass_with_its_edges_and_name() {
        let mut g = Graph::default();
        let a0 = g.register(key(1), 0, "a", 10).unwrap();
        let a2 = g.register(key(1), 2, "a", 10).unwrap();
        let a5 = g.register(key(1), 5, "other", 10).unwrap();
        let b = g.register(key(2), 0, "b", 10).unwrap();
        add(&mut g, a0, b, Read::Exclusive, Read::Exclusive);
        add(&mut g, b, a2, Read::Exclusive, Read::Exclusive);
        add(&mut g, a2, a5, Read::Exclusive, Read::Exclusive);
        let mut gone = g.zap_key(key(1));
        gone.sort();
        assert_eq!(gone.into_iter().flatten().collect::<Vec<_>>(), vec![a0, a2, a5]);
        assert!(!g.is_alive(a0) && !g.is_alive(a2) && !g.is_alive(a5) && g.is_alive(b));
        assert_eq!((g.nr_classes, g.nr_dependencies, g.nr_zapped_classes), (1, 0, 3));
        assert!(g.order_is_consistent());
        assert_eq!(g.zap_key(key(1)), [None; MAX_SUBCLASSES as usize], "nothing left");
        // Both of its names are free again.
        let a = g.register(key(3), 0, "a", 10).unwrap();
        let o = g.register(key(4), 0, "other", 10).unwrap();
        assert_eq!((g.class_name(a), g.class_name(o)), ("a".into(), "other".into()));
    }

    #[test]
    fn one_name_is_one_name_whatever_string_holds_it() {
        // The recent-name shortcut compares addresses; equal text at
        // another address must still find the same versions.
        let mut g = Graph::default();
        let copy: &'static str = String::from("conn").leak();
        let a = g.register(key(1), 0, "conn", 10).unwrap();
        let b = g.register(key(2), 0, copy, 10).unwrap();
        let other = g.register(key(3), 0, "other", 10).unwrap();
        let c = g.register(key(4), 0, "conn", 10).unwrap();
        let names: Vec<String> = [a, b, other, c].iter().map(|&x| g.class_name(x)).collect();
        assert_eq!(names, ["conn", "conn#2", "other", "conn#3"]);
    }

    #[test]
    fn a_class_slot_is_found_in_the_array_or_the_map_and_never_after_removal() {
        // Enough live classes for the array to double twice (re-placing
        // them), then classes made and removed while those live: their ids
        // move on through the array and meet taken entries (the map's).
        let mut g = Graph::default();
        let n = 3 * super::super::ids::ID_INDEX_MIN;
        let ids: Vec<ClassId> = (0..n).map(|i| g.register(key(i + 1), 0, "c", usize::MAX).unwrap()).collect();
        let found = |g: &Graph, id: ClassId| g.slot(id).is_some_and(|s| g.classes[s.index()].id == id);
        assert!(ids.iter().all(|&id| found(&g, id)));
        let (mut recent, mut gone) = (VecDeque::new(), Vec::new());
        let mut in_map = 0;
        for i in 0..8 * n {
            let d = g.register(key(n + 1 + i), 0, "d", usize::MAX).unwrap();
            in_map += usize::from(g.slots.more.get(&d.raw()).is_some());
            recent.push_back(d);
            if recent.len() > 5 {
                let old = recent.pop_front().unwrap();
                let slot = g.slot(old).unwrap();
                g.zap(old);
                assert_eq!((g.slot(old), g.is_alive(old)), (None, false));
                let next = g.register(key(100 * n + i), 0, "e", usize::MAX).unwrap();
                assert_eq!(g.slot(next), Some(slot), "the freed slot is reused");
                assert_eq!(g.slot(old), None, "the old id does not name the slot's new class");
                g.zap(next);
                gone.extend([old, next]);
            }
        }
        assert!(in_map > 0 && in_map < 8 * n, "some ids found their entry taken, most did not ({in_map})");
        // More live classes until one is in the map, then until the array
        // doubles: the map's classes are re-placed with the array's.
        let mut k = 0;
        let mut add_one = |g: &mut Graph, recent: &mut VecDeque<ClassId>| {
            k += 1;
            recent.push_back(g.register(key(200 * n + k), 0, "f", usize::MAX).unwrap());
        };
        while g.slots.more.is_empty() {
            add_one(&mut g, &mut recent);
        }
        let size = g.slots.array.len();
        while g.slots.array.len() == size {
            add_one(&mut g, &mut recent);
        }
        assert!(ids.iter().chain(&recent).all(|&id| found(&g, id)));
        assert!(gone.iter().all(|&id| g.slot(id).is_none() && !g.is_alive(id)));
        assert_eq!(g.slots.len, g.nr_classes);
        assert_eq!(g.slots.len, g.slots.array.iter().filter(|&&v| v != 0).count() + g.slots.more.len());
    }

    #[test]
    fn zapped_slots_are_reused() {
        let mut g = Graph::default();
        let a = g.register(key(1), 0, "a", 10).unwrap();
        let b = g.register(key(2), 0, "b", 10).unwrap();
        add(&mut g, a, b, Read::Exclusive, Read::Exclusive);
        for i in 0..100 {
            let d = g.register(key(100 + i), 0, "dyn", 10).unwrap();
            add(&mut g, a, d, Read::Exclusive, Read::Exclusive);
            add(&mut g, d, b, Read::Exclusive, Read::Exclusive);
            g.zap(d);
            assert!(g.order_is_consistent());
        }
        assert_eq!(g.classes.len(), 3);
        assert!(g.edges.len() <= 3);
        assert_eq!((g.nr_classes, g.nr_dependencies), (2, 1));
        let fresh = g.register(key(999), 0, "dyn", 10).unwrap();
        assert_eq!(g.class_name(fresh), "dyn", "no stale #version");
    }

    #[test]
    fn removed_class_ids_are_never_reused() {
        let mut g = Graph::default();
        let a = g.register(key(1), 0, "a", 10).unwrap();
        let d1 = g.register(key(2), 0, "d", 10).unwrap();
        add(&mut g, a, d1, Read::Exclusive, Read::Exclusive);
        g.zap(d1);
        let d2 = g.register(key(3), 0, "d", 10).unwrap();
        assert_eq!(g.slot(d2), Some(Slot(1)), "the slot is reused");
        assert_ne!(d1, d2, "the id is not");
        assert!(!g.is_alive(d1) && g.is_alive(d2));
        assert_eq!(g.class_name(d1), format!("<class {}>", d1.raw()));
        // Nothing that names the removed class reaches the new one.
        assert!(g.find_edge(a, d1).is_none() && g.find_edge(a, d2).is_none());
        assert!(g.find_strong_path(d1, false, a, true).is_none());
        assert!(matches!(g.plain_check(a, d1), Plain::NoPath));
        assert!(g.insert_edge(a, d1, DepTypes::of(Read::Exclusive, Read::Exclusive), 1, origin(), 10).is_none());
    }

    #[test]
    fn removing_a_class_leaves_every_other_edge_in_place() {
        // A hub with many edges each way; removing spokes in any order keeps
        // every remaining edge findable from both of its ends.
        let (mut g, c) = graph(41);
        let hub = c[0];
        for (i, &x) in c[1..].iter().enumerate() {
            if i % 2 == 0 {
                add(&mut g, hub, x, Read::Exclusive, Read::Exclusive);
            } else {
                add(&mut g, x, hub, Read::Exclusive, Read::Exclusive);
            }
        }
        add(&mut g, hub, hub, Read::SharedRecursive, Read::SharedRecursive);
        for &x in c[1..].iter().step_by(3).chain(c[2..].iter().step_by(7)) {
            g.zap(x);
            assert!(g.order_is_consistent());
        }
        let alive: Vec<ClassId> = c[1..].iter().copied().filter(|&x| g.is_alive(x)).collect();
        for &x in &alive {
            assert!(g.find_edge(hub, x).is_some() || g.find_edge(x, hub).is_some());
        }
        assert_eq!(g.nr_dependencies, alive.len() + 1);
        g.zap(hub);
        assert_eq!(g.nr_dependencies, 0);
        assert!(g.order_is_consistent());
    }

    /// The live edge `a -> b`, by a walk of the whole edge table.
    fn edge_by_walk(g: &Graph, a: ClassId, b: ClassId) -> Option<EdgeId> {
        let (a, b) = g.slot_pair(a, b)?;
        let found = g.edges.iter().enumerate().find(|(_, e)| e.alive && e.from == a && e.to == b);
        found.map(|(i, _)| EdgeId(i as u32))
    }

    #[test]
    fn edges_are_found_whether_their_lists_are_short_or_long() {
        // Twelve classes each way, every pair joined in an order that takes
        // both ends' lists past `SCAN` at different times; then spokes
        // removed and edges added again, so lists shrink below `SCAN` and
        // grow past it anew. Every pair's edge is the one the edge table
        // holds, scanned for or looked up in `by_pair`.
        let (mut g, c) = graph(24);
        let (froms, tos) = c.split_at(12);
        for k in 0..12 {
            for i in 0..12 {
                add(&mut g, froms[i], tos[(i + k) % 12], Read::Exclusive, Read::Exclusive);
            }
            check_all(&g, &c);
            // Every list has k + 1 edges: none in `by_pair` until they pass `SCAN`.
            assert_eq!(g.by_pair.is_empty(), k < SCAN, "{k}");
        }
        assert_eq!((g.nr_dependencies, g.by_pair.len()), (144, 144));
        for &x in froms.iter().step_by(3).chain(tos.iter().step_by(4)) {
            g.zap(x);
            check_all(&g, &c);
        }
        let (mut g2, d) = graph(24);
        for round in 0..3 {
            for i in 0..12 {
                for j in 0..12 {
                    if (i + j + round) % 3 != 0 && g2.is_alive(d[i]) && g2.is_alive(d[12 + j]) {
                        add(&mut g2, d[i], d[12 + j], Read::Exclusive, Read::Exclusive);
                    }
                }
            }
            check_all(&g2, &d);
            // A class goes with its edges; the next round adds the others'
            // edges again, lists growing past `SCAN` once more.
            let gone = d[round * 5];
            g2.zap(gone);
            check_all(&g2, &d);
        }
    }

    #[test]
    fn a_removed_class_s_edges_leave_the_other_ends_lists_and_free_their_slots_once() {
        // Class 0 has edges out to 1..=4 and in from 5..=8, each in the
        // middle of the other end's list (class 9 has edges on both sides
        // of it there), and an edge into itself, which is in both of its own
        // lists. Removing it takes its edges off the end of its own lists
        // and out of the others' (their last entries moving into the
        // gaps); each edge's slot is freed once, so the edges added next
        // take nine distinct slots.
        let (mut g, c) = graph(12);
        let ex = Read::Exclusive;
        for i in 1..=4 {
            add(&mut g, c[9], c[i], ex, ex);
            add(&mut g, c[0], c[i], ex, ex);
            add(&mut g, c[10], c[i], ex, ex);
        }
        for i in 5..=8 {
            add(&mut g, c[i], c[9], ex, ex);
            add(&mut g, c[i], c[0], ex, ex);
            add(&mut g, c[i], c[10], ex, ex);
        }
        add(&mut g, c[0], c[0], ex, ex);
        assert_eq!(g.nr_dependencies, 25);
        let lists_hold_the_live_edges = |g: &Graph| {
            let listed: usize = g.live().map(|(_, k)| k.after.len()).sum();
            listed == g.nr_dependencies
                && g.live().map(|(_, k)| k.before.len()).sum::<usize>() == g.nr_dependencies
                && g.edges.iter().enumerate().filter(|(_, e)| e.alive).all(|(i, e)| {
                    g.classes[e.from.index()].after.get(e.at_from as usize) == Some(&EdgeId(i as u32))
                        && g.classes[e.to.index()].before.get(e.at_to as usize) == Some(&EdgeId(i as u32))
                })
        };
        assert!(lists_hold_the_live_edges(&g));
        g.zap(c[0]);
        assert_eq!(g.nr_dependencies, 16);
        assert!(lists_hold_the_live_edges(&g) && g.pairs_are_consistent());
        for i in 1..=8 {
            assert_eq!(g.find_edge(c[0], c[i]), None);
            assert_eq!(g.find_edge(c[i], c[0]), None);
        }
        let mut free = g.free_edges.clone();
        free.sort_unstable_by_key(|e| e.index());
        free.dedup();
        assert_eq!(free.len(), 9, "each removed edge's slot freed once");
        let before = g.edges.len();
        for i in 1..=8 {
            add(&mut g, c[11], c[i], ex, ex);
        }
        add(&mut g, c[11], c[9], ex, ex);
        assert_eq!(g.edges.len(), before, "the nine new edges took the freed slots");
        assert_eq!(g.nr_dependencies, 25);
        assert!(lists_hold_the_live_edges(&g) && g.pairs_are_consistent());
        for i in 1..=9 {
            assert!(g.find_edge(c[11], c[i]).is_some());
        }
    }

    fn check_all(g: &Graph, c: &[ClassId]) {
        assert!(g.pairs_are_consistent());
        for &a in c {
            for &b in c {
                assert_eq!(g.find_edge(a, b), edge_by_walk(g, a, b), "{a:?} -> {b:?}");
            }
        }
    }

    #[test]
    fn an_edge_of_a_class_with_few_edges_has_no_pair_entry() {
        // The churn of a dynamic class taken under a static one: its one
        // edge is found by a scan, and neither its insert nor its removal
        // touches `by_pair`.
        let (mut g, c) = graph(2);
        for i in 0..20 {
            add(&mut g, c[0], c[1], Read::Exclusive, Read::Exclusive);
            let d = g.register(key(100 + i), 0, "dyn", usize::MAX).unwrap();
            add(&mut g, c[0], d, Read::Exclusive, Read::Exclusive);
            assert!(g.find_edge(c[0], d).is_some());
            assert!(g.by_pair.is_empty());
            g.zap(d);
            assert!(g.order_is_consistent());
        }
    }

    #[test]
    fn an_edge_end_is_three_words() {
        assert_eq!(std::mem::size_of::<EdgeEnd>(), 24);
        assert_eq!(std::mem::size_of::<Edge>(), 96);
    }

    #[test]
    fn a_class_keeps_no_key() {
        assert_eq!(std::mem::size_of::<Class>(), 80);
    }

    #[test]
    fn a_key_entry_is_small() {
        assert_eq!(std::mem::size_of::<KeyClasses>(), 24);
    }

    #[test]
    fn versions_restart_only_when_no_key_of_the_name_is_left() {
        let mut g = Graph::default();
        let a = g.register(key(1), 0, "n", 10).unwrap();
        let b = g.register(key(2), 0, "n", 10).unwrap();
        let b1 = g.register(key(2), 1, "other", 10).unwrap();
        assert_eq!((g.class_name(a), g.class_name(b), g.class_name(b1)), ("n".into(), "n#2".into(), "other/1".into()));
        g.zap(a);
        let c = g.register(key(3), 0, "n", 10).unwrap();
        assert_eq!(g.class_name(c), "n#3", "key 2 still holds the name");
        g.zap(b);
        assert_eq!(g.class_name(b1), "other/1", "the key keeps its version while a class of it is left");
        g.zap(b1);
        g.zap(c);
        let d = g.register(key(4), 0, "n", 10).unwrap();
        assert_eq!(g.class_name(d), "n", "versions start again");
    }

    #[test]
    fn class_names_get_versions_and_subclasses() {
        let mut g = Graph::default();
        let a = g.register(key(1), 0, "lock", 10).unwrap();
        let b = g.register(key(2), 0, "lock", 10).unwrap();
        let a1 = g.register(key(1), 1, "lock", 10).unwrap();
        assert_eq!(g.class_name(a), "lock");
        assert_eq!(g.class_name(b), "lock#2");
        assert_eq!(g.class_name(a1), "lock/1");
        assert!(g.register(key(3), 0, "z", 3).is_none(), "limit of 3 classes");
    }

    /// The key table finds a key's entry or its place in one probe, with its
    /// own rehash: through several growths every key keeps one entry, a
    /// second registration finds its class, and a removal takes the key out.
    #[test]
    fn the_key_table_keeps_one_entry_a_key_through_its_growth() {
        let mut g = Graph::default();
        let mut ids = Vec::new();
        for i in 0..3000 {
            let a = g.register(key(i + 1), 0, "k", usize::MAX).unwrap();
            // An older key's second subclass: its entry is found, not made again.
            let b = g.register(key(i / 2 + 1), 1 + (i % 2) as u32, "k", usize::MAX).unwrap();
            ids.push((a, b));
        }
        assert_eq!(g.by_key.table.len(), 3000);
        assert_eq!(g.nr_classes, 6000);
        for (i, &(a, b)) in ids.iter().enumerate() {
            assert_eq!(g.register(key(i + 1), 0, "k", usize::MAX), Some(a));
            assert_eq!(g.lookup(key(i + 1), 0), Some(a));
            assert_eq!(g.lookup(key(i / 2 + 1), 1 + (i % 2) as u32), Some(b));
        }
        assert_eq!(g.nr_classes, 6000, "no class registered twice");
        assert!(g.by_key.remove(&key(7)).is_some());
        assert!(g.by_key.get(&key(7)).is_none() && g.by_key.get(&key(8)).is_some());
        assert_eq!(g.by_key.table.len(), 2999);
    }

    /// A full key table grows for a new key only, as a map's entry does: a
    /// new subclass of a key it has leaves its capacity as it is.
    #[test]
    fn a_full_key_table_grows_for_a_new_key_only() {
        let mut g = Graph::default();
        let mut n = 0;
        loop {
            n += 1;
            g.register(key(n), 0, "k", usize::MAX).unwrap();
            if n > 2 && g.by_key.table.len() == g.by_key.capacity() {
                break;
            }
        }
        let cap = g.by_key.capacity();
        assert!(g.register(key(1), 3, "k", usize::MAX).is_some());
        assert!(g.register(key(n), 0, "k", usize::MAX).is_some(), "found, not made");
        assert_eq!(g.by_key.capacity(), cap, "a found key does not grow the table");
        assert!(g.register(key(n + 1), 0, "k", usize::MAX).is_some());
        assert!(g.by_key.capacity() > cap, "a new key grows a full table");
    }

    /// The key table's prefetch asks for the lines a new key is written
    /// to: hashbrown keeps bucket `i` at `end - (i + 1) * size` below its
    /// control bytes, and a new key most often lands within a few buckets
    /// of its first probe position. Fails if the layout assumed is not the
    /// table's (every entry's address is checked) or the buckets asked for
    /// are not where most new keys go.
    #[test]
    fn the_key_table_s_prefetch_finds_where_a_new_key_goes() {
        let mut g = Graph::default();
        let (mut near, mut asked, n) = (0, 0, 6000);
        let place = |g: &Graph, k: &KeyId| {
            let index = g.by_key.table.find_bucket_index(key_hash(k), |e| e.0 == *k).unwrap();
            (index, g.by_key.table.get_bucket(index).unwrap() as *const (KeyId, KeyClasses) as usize)
        };
        for i in 1..=n {
            let guess = g.by_key.first_place(key_hash(&key(i)));
            assert_eq!(guess == 0, g.by_key.table.num_buckets() < PREFETCH_MIN_BUCKETS || i == 1);
            let cap = g.by_key.capacity();
            g.register(key(i), 0, "k", usize::MAX).unwrap();
            let (_, at) = place(&g, &key(i));
            if guess != 0 && cap == g.by_key.capacity() {
                asked += 1;
                near += usize::from(guess.wrapping_sub(at) < PREFETCH_BUCKETS * KEY_ENTRY);
            }
        }
        for i in 1..=n {
            let (index, at) = place(&g, &key(i));
            assert_eq!(at + (index + 1) * KEY_ENTRY, g.by_key.end, "bucket {index} where the layout puts it");
        }
        // (The table's load runs from under half to seven eighths.)
        assert!(asked > 2000 && near > asked / 2, "{near} of {asked} new keys where the prefetch looked");
    }
}
