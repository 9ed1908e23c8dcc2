//! Merging saved graphs of many runs into one, and comparing one against a
//! baseline.

use std::collections::HashMap;

use super::format::{FORMAT, Identity, Run, SavedClass, SavedEdge, SavedGraph, VERSION};
use crate::report::DepTypes;

/// Origins kept per dependency in a merge (the first runs that saw it).
pub const MAX_MERGED_ORIGINS: usize = 32;

impl SavedGraph {
    /// A graph with nothing in it.
    pub fn empty() -> SavedGraph {
        SavedGraph {
            format: FORMAT.to_owned(),
            version: VERSION,
            runs: Vec::new(),
            classes: Vec::new(),
            edges: Vec::new(),
        }
    }

    /// The union of `graphs`, in their order: one class per
    /// [`Identity`](super::Identity), one dependency per ordered pair of
    /// classes carrying every type any run saw, the fewest locks between
    /// them, and where each run (up to [`MAX_MERGED_ORIGINS`]) saw it. The
    /// runs of every input are kept, in order.
    pub fn merge<'a>(graphs: impl IntoIterator<Item = &'a SavedGraph>) -> SavedGraph {
        let mut m = Merger::default();
        for g in graphs {
            m.add(g);
        }
        m.graph
    }

    /// The index of each class by identity.
    pub(crate) fn identities(&self) -> HashMap<Identity, usize> {
        self.classes.iter().enumerate().map(|(i, c)| (c.identity(), i)).collect()
    }

    /// What this graph knows that `baseline` does not: each dependency
    /// between two classes that the baseline has no dependency between (in
    /// that order), or that carries a type the baseline's does not.
    pub fn new_orders(&self, baseline: &SavedGraph) -> Vec<NewOrder> {
        let ids = baseline.identities();
        let known: HashMap<(usize, usize), DepTypes> =
            baseline.edges.iter().map(|e| ((e.from, e.to), e.types)).collect();
        let mut out = Vec::new();
        for (i, e) in self.edges.iter().enumerate() {
            let pair = ids
                .get(&self.classes[e.from].identity())
                .zip(ids.get(&self.classes[e.to].identity()))
                .and_then(|(&a, &b)| known.get(&(a, b)));
            let added = match pair {
                None => Some(e.types),
                Some(old) if e.types.bits() & !old.bits() != 0 => Some(DepTypes(e.types.bits() & !old.bits())),
                Some(_) => None,
            };
            if let Some(added) = added {
                out.push(NewOrder { edge: i, new_pair: pair.is_none(), added });
            }
        }
        out
    }

    /// A copy for committing as a baseline: classes and dependencies sorted
    /// by identity (so that a baseline's diff in review shows the orders
    /// that changed, nothing else), one run named `name`, the first origin
    /// of each dependency without its stack trace, no pids or times.
    pub fn to_baseline(&self, name: &str) -> SavedGraph {
        let mut order: Vec<usize> = (0..self.classes.len()).collect();
        order.sort_by_cached_key(|&i| self.classes[i].identity());
        let mut new_index = vec![0; self.classes.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        let classes: Vec<SavedClass> = order.iter().map(|&i| self.classes[i].clone()).collect();
        let mut edges: Vec<SavedEdge> = self
            .edges
            .iter()
            .map(|e| {
                let mut seen: Vec<_> = e.seen.iter().take(1).cloned().collect();
                for o in &mut seen {
                    o.run = 0;
                    o.trace.clear();
                }
                SavedEdge { from: new_index[e.from], to: new_index[e.to], types: e.types, distance: e.distance, seen }
            })
            .collect();
        edges.sort_by_key(|e| (e.from, e.to));
        SavedGraph { runs: vec![Run::named(name)], classes, edges, ..SavedGraph::empty() }
    }
}

/// A dependency of a graph that its baseline does not have (see
/// [`SavedGraph::new_orders`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewOrder {
    /// The dependency (index into the newer graph's edges).
    pub edge: usize,
    /// Whether the baseline has no dependency between the two classes at
    /// all (false: it has one, with fewer types).
    pub new_pair: bool,
    /// The types the baseline lacks.
    pub added: DepTypes,
}

/// Builds a merged graph one input at a time.
#[derive(Default)]
struct Merger {
    graph: SavedGraph,
    classes: HashMap<Identity, usize>,
    edges: HashMap<(usize, usize), usize>,
}

impl Default for SavedGraph {
    fn default() -> Self {
        SavedGraph::empty()
    }
}

impl Merger {
    fn add(&mut self, g: &SavedGraph) {
        let run_base = self.graph.runs.len();
        self.graph.runs.extend(g.runs.iter().cloned());
        let class_map: Vec<usize> = g
            .classes
            .iter()
            .map(|c| {
                *self.classes.entry(c.identity()).or_insert_with(|| {
                    self.graph.classes.push(c.clone());
                    self.graph.classes.len() - 1
                })
            })
            .collect();
        for e in &g.edges {
            let (from, to) = (class_map[e.from], class_map[e.to]);
            let seen = e.seen.iter().map(|o| {
                let mut o = o.clone();
                o.run += run_base;
                o
            });
            match self.edges.get(&(from, to)) {
                Some(&i) => {
                    let m = &mut self.graph.edges[i];
                    m.types = DepTypes(m.types.bits() | e.types.bits());
                    m.distance = m.distance.min(e.distance);
                    let room = MAX_MERGED_ORIGINS.saturating_sub(m.seen.len());
                    m.seen.extend(seen.take(room));
                }
                None => {
                    self.edges.insert((from, to), self.graph.edges.len());
                    let seen = seen.take(MAX_MERGED_ORIGINS).collect();
                    self.graph.edges.push(SavedEdge { from, to, types: e.types, distance: e.distance, seen });
                }
            }
        }
    }
}
