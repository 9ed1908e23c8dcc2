//! The class dependency graph: classes, typed edges, and the exact
//! strong-path search used by the circular-dependency check.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::class::{KeyId, Read};
use crate::report::{DepTypes, LockInfo, ThreadInfo, Trace};

/// Index of a class in a validator's class table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub(crate) struct ClassId(u32);

impl ClassId {
    /// Largest index a class may have (the map cache keeps 32 bits).
    const MAX: u32 = u32::MAX - 1;

    pub(crate) fn new(idx: usize) -> Option<ClassId> {
        u32::try_from(idx).ok().filter(|&i| i <= Self::MAX).map(ClassId)
    }
    pub(crate) fn from_raw(raw: u32) -> ClassId {
        ClassId(raw)
    }
    pub(crate) fn raw(self) -> u32 {
        self.0
    }
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// Index of an edge in a validator's edge table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct EdgeId(u32);

impl EdgeId {
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

pub(crate) struct Class {
    pub(crate) key: KeyId,
    pub(crate) subclass: u32,
    pub(crate) name: &'static str,
    /// `#version` suffix when several keys share the name (0 = none).
    pub(crate) version: u32,
    pub(crate) after: Vec<EdgeId>,
    pub(crate) before: Vec<EdgeId>,
    pub(crate) alive: bool,
    #[allow(dead_code)] // per-class operation count, for the dumps
    pub(crate) ops: u64,
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

/// Where and by whom a dependency was first seen.
#[derive(Clone, Debug)]
pub(crate) struct EdgeOrigin {
    pub(crate) from: LockInfo,
    pub(crate) to: LockInfo,
    pub(crate) thread: ThreadInfo,
    pub(crate) trace: Option<Trace>,
}

pub(crate) struct Edge {
    pub(crate) from: ClassId,
    pub(crate) to: ClassId,
    pub(crate) dep: u8,
    pub(crate) distance: u32,
    pub(crate) origin: EdgeOrigin,
    pub(crate) alive: bool,
}

/// A closed strong path found by [`Graph::find_strong_path`]: the edges from
/// the root to the target, in order.
pub(crate) type Path = Vec<EdgeId>;

#[derive(Default)]
pub(crate) struct Graph {
    pub(crate) classes: Vec<Class>,
    by_key: HashMap<(KeyId, u32), ClassId>,
    name_keys: HashMap<&'static str, Vec<KeyId>>,
    pub(crate) edges: Vec<Edge>,
    by_pair: HashMap<(ClassId, ClassId), EdgeId>,
    pub(crate) nr_classes: usize,
    pub(crate) nr_dependencies: usize,
    pub(crate) nr_zapped_classes: usize,
    /// Search scratch: visit stamp per (class, arrived-via-recursive-read) state.
    stamp: Vec<u32>,
    parent: Vec<(u32, EdgeId)>,
    generation: u32,
    queue: VecDeque<u32>,
    pub(crate) max_bfs_queue: usize,
}

impl Graph {
    pub(crate) fn lookup(&self, key: KeyId, subclass: u32) -> Option<ClassId> {
        self.by_key.get(&(key, subclass)).copied()
    }

    /// Registers a class; `None` when `limit` classes exist already.
    pub(crate) fn register(&mut self, key: KeyId, subclass: u32, name: &'static str, limit: usize) -> Option<ClassId> {
        if let Some(c) = self.lookup(key, subclass) {
            return Some(c);
        }
        if self.nr_classes >= limit {
            return None;
        }
        let id = ClassId::new(self.classes.len())?;
        let keys = self.name_keys.entry(name).or_default();
        let version = match keys.iter().position(|k| *k == key) {
            Some(p) => p as u32 + 1,
            None => {
                keys.push(key);
                keys.len() as u32
            }
        };
        self.classes.push(Class {
            key,
            subclass,
            name,
            version,
            after: Vec::new(),
            before: Vec::new(),
            alive: true,
            ops: 0,
        });
        self.by_key.insert((key, subclass), id);
        self.nr_classes += 1;
        Some(id)
    }

    pub(crate) fn class(&self, id: ClassId) -> &Class {
        &self.classes[id.index()]
    }

    pub(crate) fn class_name(&self, id: ClassId) -> String {
        self.classes.get(id.index()).map_or_else(|| format!("<class {}>", id.raw()), Class::display_name)
    }

    pub(crate) fn edge(&self, id: EdgeId) -> &Edge {
        &self.edges[id.index()]
    }

    pub(crate) fn find_edge(&self, from: ClassId, to: ClassId) -> Option<EdgeId> {
        self.by_pair.get(&(from, to)).copied()
    }

    /// ORs `dep` into the existing edge `from -> to`; false if there is none.
    pub(crate) fn update_edge(&mut self, from: ClassId, to: ClassId, dep: DepTypes, distance: u32) -> bool {
        match self.find_edge(from, to) {
            Some(e) => {
                let edge = &mut self.edges[e.index()];
                edge.dep |= dep.bits();
                edge.distance = edge.distance.min(distance);
                true
            }
            None => false,
        }
    }

    /// Inserts a new edge `from -> to`; `None` when `limit` dependencies exist.
    pub(crate) fn insert_edge(
        &mut self,
        from: ClassId,
        to: ClassId,
        dep: DepTypes,
        distance: u32,
        origin: EdgeOrigin,
        limit: usize,
    ) -> Option<EdgeId> {
        if self.nr_dependencies >= limit {
            return None;
        }
        let id = EdgeId(u32::try_from(self.edges.len()).ok()?);
        self.edges.push(Edge { from, to, dep: dep.bits(), distance, origin, alive: true });
        self.classes[from.index()].after.push(id);
        self.classes[to.index()].before.push(id);
        self.by_pair.insert((from, to), id);
        self.nr_dependencies += 1;
        Some(id)
    }

    /// Searches for a *strong* path from `root` to `target` (spec §2.7).
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
        let state = |c: ClassId, xr: bool| c.raw() * 2 + xr as u32;
        let matches = |c: ClassId, xr: bool| c == target && (target_exclusive || !xr);

        self.queue.clear();
        let root_state = state(root, root_xr);
        self.stamp[root_state as usize] = generation;
        self.parent[root_state as usize] = (u32::MAX, EdgeId(0));
        if matches(root, root_xr) {
            return Some(Vec::new());
        }
        self.queue.push_back(root_state);
        while let Some(s) = self.queue.pop_front() {
            let class = ClassId(s / 2);
            let xr = s % 2 == 1;
            for &e in &self.classes[class.index()].after {
                let edge = &self.edges[e.index()];
                if !edge.alive {
                    continue;
                }
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

    /// Removes a class with every edge touching it (the kernel's `zap_class`).
    pub(crate) fn zap(&mut self, id: ClassId) {
        let class = &mut self.classes[id.index()];
        if !class.alive {
            return;
        }
        class.alive = false;
        let key = class.key;
        let subclass = class.subclass;
        let edges: Vec<EdgeId> = class.after.drain(..).chain(class.before.drain(..)).collect();
        self.by_key.remove(&(key, subclass));
        let mut dead = HashSet::new();
        for e in edges {
            let edge = &mut self.edges[e.index()];
            if edge.alive {
                edge.alive = false;
                self.nr_dependencies -= 1;
                dead.insert(e);
                self.by_pair.remove(&(edge.from, edge.to));
            }
        }
        for c in &mut self.classes {
            c.after.retain(|e| !dead.contains(e));
            c.before.retain(|e| !dead.contains(e));
        }
        self.nr_classes -= 1;
        self.nr_zapped_classes += 1;
    }

    /// Classes of a key (every subclass).
    pub(crate) fn classes_of(&self, key: KeyId) -> Vec<ClassId> {
        (0..crate::class::MAX_SUBCLASSES).filter_map(|s| self.lookup(key, s)).collect()
    }

    /// Direct successors of a class with the edge's types.
    #[allow(dead_code)]
    pub(crate) fn successors(&self, id: ClassId) -> impl Iterator<Item = (ClassId, u8)> + '_ {
        self.classes[id.index()].after.iter().map(|e| self.edge(*e)).filter(|e| e.alive).map(|e| (e.to, e.dep))
    }
}

/// The id a held entry contributes to a chain: class and read mode.
pub(crate) fn chain_id(class: ClassId, read: Read) -> u64 {
    ((class.raw() as u64) << 2) | read.as_kernel() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::Location;

    fn key(n: usize) -> KeyId {
        KeyId::Key { addr: n, generation: 0 }
    }

    fn origin() -> EdgeOrigin {
        let loc = Location::caller();
        let li = LockInfo {
            instance: "x",
            addr: 0,
            class: "x".into(),
            subclass: 0,
            read: Read::Exclusive,
            trylock: false,
            location: loc,
        };
        EdgeOrigin { from: li.clone(), to: li, thread: ThreadInfo::current(), trace: None }
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
        assert_eq!(g.class(c[0]).after.len(), 1);
    }

    #[test]
    fn exact_search_finds_strong_arrival_after_weak_one() {
        // Spec §2.7: N -ER-> P, N -EN-> D, D -EN-> P; closing P(R) -> N(W).
        let (mut g, c) = graph(3);
        let (n, p, d) = (c[0], c[1], c[2]);
        add(&mut g, n, p, Read::Exclusive, Read::SharedRecursive);
        add(&mut g, n, d, Read::Exclusive, Read::Exclusive);
        add(&mut g, d, p, Read::Exclusive, Read::Exclusive);
        let path = g.find_strong_path(n, false, p, false).expect("strong path N->D->P");
        let hops: Vec<(ClassId, ClassId)> = path.iter().map(|e| (g.edge(*e).from, g.edge(*e).to)).collect();
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
}
