//! Statistics and the `/proc`-style dumps, plus the Graphviz rendering and
//! the dump written when a report fires.
//!
//! Everything here copies what it needs under the graph lock — a
//! [`Snapshot`], in time linear in the graph — and computes and renders
//! after releasing it, so that a dump of a large graph never stalls the
//! threads taking locks. The per-class reachability counts (the kernel's
//! forward/backward dependency counts and "indirect dependencies") are
//! computed for all classes at once over the graph's strongly connected
//! components with bit sets, in `O((classes + edges) * classes / 64)`.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use petgraph::dot::{Config as DotConfig, Dot};
use petgraph::graph::{DiGraph, NodeIndex};

use super::graph::Graph;
use super::inner::{Inner, Shared, lock};
use crate::class::{KeyId, Read};
use crate::report::{DepTypes, Report};
use crate::stats::Stats;

/// Classes beyond which a dump on violation keeps only the neighbourhood of the cycle.
const TRIM_ABOVE: usize = 200;
/// Hops around the cycle a trimmed dump keeps.
const TRIM_HOPS: usize = 2;

fn key_text(k: KeyId) -> String {
    match k {
        KeyId::Key { addr, .. } => format!("{addr:016x}"),
        KeyId::Owned(n) => format!("{n:016x}"),
        KeyId::Site { file, line, col, ty: None } => format!("{file}:{line}:{col}"),
        KeyId::Site { file, line, col, ty: Some(ty) } => format!("{file}:{line}:{col}<{ty}>"),
    }
}

/// One live class as a snapshot keeps it.
pub(crate) struct ClassSnap {
    /// The class id (as report cycles name classes).
    id: u32,
    key: String,
    name: String,
    /// A waitable object's pseudo-lock (drawn as a diamond).
    wait: bool,
}

/// One live dependency between two snapshot classes (indices into
/// [`Snapshot::classes`]).
pub(crate) struct EdgeSnap {
    from: usize,
    to: usize,
    dep: u8,
    distance: u32,
}

/// A chain entry: the class (an index, `None` for a class removed since)
/// and its mode.
type ChainEntry = (Option<usize>, Read, bool);

/// What the dumps read of a validator, copied under its graph lock.
pub(crate) struct Snapshot {
    classes: Vec<ClassSnap>,
    edges: Vec<EdgeSnap>,
    /// Validated chains, bottom first, in the order of their elements.
    chains: Vec<Vec<ChainEntry>>,
    /// The counters, with `indirect_dependencies` still to be computed.
    stats: Stats,
}

impl Snapshot {
    /// Copies the graph (and, if `with_chains`, the chains) of `sh`.
    pub(crate) fn take(inner: &Inner, sh: &Shared, with_chains: bool) -> Snapshot {
        let g = &sh.graph;
        let mut index: HashMap<u32, usize> = HashMap::with_capacity(g.nr_classes);
        let mut dense = vec![usize::MAX; g.classes.len()];
        let mut classes = Vec::with_capacity(g.nr_classes);
        let keys = g.keys_by_slot();
        for (slot, c) in g.live() {
            // (Every live class has its key in the key table.)
            let key = keys[slot.index()];
            debug_assert!(key.is_some(), "a live class without a key");
            index.insert(c.id.raw(), classes.len());
            dense[slot.index()] = classes.len();
            classes.push(ClassSnap {
                id: c.id.raw(),
                key: key.map_or_else(|| "?".to_owned(), key_text),
                name: c.display_name(),
                wait: key.is_some_and(super::waitable::is_wait_key),
            });
        }
        let edges = g
            .edges
            .iter()
            .filter(|e| e.alive)
            .map(|e| EdgeSnap {
                from: dense[e.from.index()],
                to: dense[e.to.index()],
                dep: e.dep,
                distance: e.distance,
            })
            .collect();
        let chains: Vec<Vec<ChainEntry>> = if with_chains {
            let mut validated = sh.chains.validated();
            validated.sort_unstable();
            validated
                .into_iter()
                .map(|ids| {
                    ids.into_iter()
                        .map(|e| {
                            let (c, read, trylock) = e.parts();
                            (index.get(&c.raw()).copied(), read, trylock)
                        })
                        .collect()
                })
                .collect()
        } else {
            Vec::new()
        };
        Snapshot { classes, edges, chains, stats: counters(inner, sh, g) }
    }

    /// Classes reachable from each class (itself included), forward along
    /// dependencies or backward.
    fn reach(&self, forward: bool) -> Vec<usize> {
        let adj = |from: &EdgeSnap| if forward { (from.from, from.to) } else { (from.to, from.from) };
        reach_counts(self.classes.len(), self.edges.iter().map(adj))
    }
}

/// For each of `n` nodes, how many nodes it reaches along `edges` (itself
/// included): Tarjan's components, then bit sets of reached nodes
/// propagated from the sinks up, one block of nodes at a time to bound the
/// memory.
pub(crate) fn reach_counts(n: usize, edges: impl Iterator<Item = (usize, usize)>) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let mut g: DiGraph<(), ()> = DiGraph::with_capacity(n, 0);
    for _ in 0..n {
        g.add_node(());
    }
    for (a, b) in edges {
        g.add_edge(NodeIndex::new(a), NodeIndex::new(b), ());
    }
    // Components in reverse topological order: every component's
    // successors come before it.
    let sccs = petgraph::algo::tarjan_scc(&g);
    let mut comp = vec![0usize; n];
    for (i, members) in sccs.iter().enumerate() {
        for m in members {
            comp[m.index()] = i;
        }
    }
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); sccs.len()];
    for e in g.raw_edges() {
        let (a, b) = (comp[e.source().index()], comp[e.target().index()]);
        if a != b {
            succ[a].push(b);
        }
    }
    for s in &mut succ {
        s.sort_unstable();
        s.dedup();
    }
    const BLOCK: usize = 4096;
    let words = BLOCK.min(n).div_ceil(64);
    let mut bits = vec![0u64; sccs.len() * words];
    let mut counts = vec![0usize; n];
    for lo in (0..n).step_by(BLOCK) {
        let hi = (lo + BLOCK).min(n);
        bits.iter_mut().for_each(|w| *w = 0);
        for (i, members) in sccs.iter().enumerate() {
            let (done, rest) = bits.split_at_mut(i * words);
            let mine = &mut rest[..words];
            for m in members {
                let x = m.index();
                if (lo..hi).contains(&x) {
                    mine[(x - lo) / 64] |= 1 << ((x - lo) % 64);
                }
            }
            for &t in &succ[i] {
                for (w, o) in mine.iter_mut().zip(&done[t * words..(t + 1) * words]) {
                    *w |= o;
                }
            }
        }
        for (x, c) in counts.iter_mut().enumerate() {
            let b = &bits[comp[x] * words..(comp[x] + 1) * words];
            *c += b.iter().map(|w| w.count_ones() as usize).sum::<usize>();
        }
    }
    counts
}

fn counters(inner: &Inner, sh: &Shared, g: &Graph) -> Stats {
    Stats {
        classes: g.nr_classes,
        direct_dependencies: g.nr_dependencies,
        indirect_dependencies: 0,
        chains: sh.chains.count,
        chain_hlocks: sh.chains.hlocks,
        stack_trace_entries: sh.traces.entries,
        stack_traces: sh.traces.count(),
        max_depth: sh.max_depth_seen,
        max_bfs_queue: g.max_bfs_queue,
        max_class_index: g.classes.len().saturating_sub(1),
        chain_hits: sh.chain_hits,
        chain_misses: sh.chain_misses,
        chain_collisions: 0,
        zapped_classes: g.nr_zapped_classes,
        zapped_chains: sh.chains.zapped,
        cycle_searches_skipped: g.searches_skipped,
        cycle_searches: g.searches_run,
        order_broken: g.order_broken,
        validating: inner.is_validating(),
    }
}

/// Takes a snapshot under `inner`'s graph lock and releases it.
pub(crate) fn snapshot(inner: &Inner, with_chains: bool) -> Snapshot {
    let sh = lock(&inner.shared);
    Snapshot::take(inner, &sh, with_chains)
}

/// The counters of a snapshot, indirect dependencies included.
pub(crate) fn stats_of(snap: &Snapshot) -> Stats {
    let mut s = snap.stats.clone();
    s.indirect_dependencies = snap.reach(true).iter().sum();
    s
}

pub(crate) fn stats(inner: &Inner) -> Stats {
    stats_of(&snapshot(inner, false))
}

pub(crate) fn classes_text(snap: &Snapshot) -> String {
    let (fwd, bwd) = (snap.reach(true), snap.reach(false));
    let mut after: Vec<Vec<&EdgeSnap>> = vec![Vec::new(); snap.classes.len()];
    for e in &snap.edges {
        after[e.from].push(e);
    }
    let mut out = String::from("all lock classes:\n");
    for (i, c) in snap.classes.iter().enumerate() {
        let _ = writeln!(out, "{} FD:{:>5} BD:{:>5} ....: {}", c.key, fwd[i], bwd[i], c.name);
        for e in &after[i] {
            if e.distance == 1 {
                let to = &snap.classes[e.to];
                let _ = writeln!(out, " -> [{}] {} ({})", to.key, to.name, DepTypes(e.dep));
            }
        }
        out.push('\n');
    }
    out
}

pub(crate) fn chains_text(snap: &Snapshot) -> String {
    let mut out = String::from("all lock chains:\n");
    for chain in &snap.chains {
        out.push_str("irq_context: 0\n");
        for &(c, read, trylock) in chain {
            let (key, name) = match c {
                Some(i) => (snap.classes[i].key.as_str(), snap.classes[i].name.as_str()),
                None => ("?", "<removed class>"),
            };
            let mode = match (read.is_read(), trylock) {
                (false, false) => String::new(),
                (true, false) => format!(" ({read})"),
                (false, true) => " (trylock)".to_owned(),
                (true, true) => format!(" ({read}, trylock)"),
            };
            let _ = writeln!(out, "[{key}] {name}{mode}");
        }
        out.push('\n');
    }
    out
}

pub(crate) fn stats_text(inner: &Inner, s: &Stats) -> String {
    let c = &inner.config;
    let mut out = String::new();
    let mut line = |label: &str, v: u64, max: Option<usize>| {
        if label.is_empty() {
            out.push('\n');
            return;
        }
        let _ = write!(out, " {:<31}{v:>11}", format!("{label}:"));
        if let Some(m) = max {
            let _ = write!(out, " [max: {m}]");
        }
        out.push('\n');
    };
    line("lock-classes", s.classes as u64, Some(c.max_classes));
    line("direct dependencies", s.direct_dependencies as u64, Some(c.max_dependencies));
    line("indirect dependencies", s.indirect_dependencies as u64, None);
    line("dependency chains", s.chains as u64, Some(c.max_chains));
    line("dependency chain hlocks used", s.chain_hlocks as u64, None);
    line("stack-trace entries", s.stack_trace_entries as u64, None);
    line("number of stack traces", s.stack_traces as u64, None);
    line("max locking depth", s.max_depth as u64, Some(c.max_depth));
    line("max bfs queue depth", s.max_bfs_queue as u64, None);
    line("max lock class index", s.max_class_index as u64, None);
    line("chain lookup hits", s.chain_hits, None);
    line("chain lookup misses", s.chain_misses, None);
    line("chain key collisions", s.chain_collisions, None);
    line("cycle searches", s.cycle_searches, None);
    line("cycle searches skipped", s.cycle_searches_skipped, None);
    line("debug_locks", s.validating as u64, None);
    line("", 0, None);
    line("zapped classes", s.zapped_classes as u64, None);
    line("zapped lock chains", s.zapped_chains as u64, None);
    out
}

pub(crate) fn dump_classes(inner: &Inner) -> String {
    classes_text(&snapshot(inner, false))
}

pub(crate) fn dump_chains(inner: &Inner) -> String {
    chains_text(&snapshot(inner, true))
}

pub(crate) fn dump_stats(inner: &Inner) -> String {
    stats_text(inner, &stats(inner))
}

/// Classes within `hops` undirected hops of `seeds`.
fn neighbourhood(snap: &Snapshot, seeds: &[usize], hops: usize) -> HashSet<usize> {
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); snap.classes.len()];
    for e in &snap.edges {
        adj[e.from].push(e.to);
        adj[e.to].push(e.from);
    }
    let mut seen: HashSet<usize> = seeds.iter().copied().collect();
    let mut frontier: Vec<usize> = seeds.to_vec();
    for _ in 0..hops {
        let mut next = Vec::new();
        for c in frontier {
            for &y in &adj[c] {
                if seen.insert(y) {
                    next.push(y);
                }
            }
        }
        frontier = next;
    }
    seen
}

pub(crate) fn dot_text(snap: &Snapshot, cycle: &[(u32, u32)]) -> String {
    let by_id: HashMap<u32, usize> = snap.classes.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    // The cycle's edges between classes still in the graph, as indices.
    let cycle: HashSet<(usize, usize)> =
        cycle.iter().filter_map(|(a, b)| Some((*by_id.get(a)?, *by_id.get(b)?))).collect();
    let total = snap.classes.len();
    let keep: Option<HashSet<usize>> = (total > TRIM_ABOVE && !cycle.is_empty()).then(|| {
        let seeds: Vec<usize> = cycle.iter().flat_map(|&(a, b)| [a, b]).collect();
        neighbourhood(snap, &seeds, TRIM_HOPS)
    });
    let mut pg: DiGraph<(String, bool), (String, bool)> = DiGraph::new();
    let mut nodes: HashMap<usize, NodeIndex> = HashMap::new();
    for (i, c) in snap.classes.iter().enumerate() {
        if keep.as_ref().is_some_and(|k| !k.contains(&i)) {
            continue;
        }
        nodes.insert(i, pg.add_node((c.name.clone(), c.wait)));
    }
    let mut present: HashSet<(usize, usize)> = HashSet::new();
    for e in &snap.edges {
        present.insert((e.from, e.to));
        if let (Some(&a), Some(&b)) = (nodes.get(&e.from), nodes.get(&e.to)) {
            let hot = cycle.contains(&(e.from, e.to));
            pg.add_edge(a, b, (DepTypes(e.dep).to_string(), hot));
        }
    }
    // The closing edge of a reported cycle was rejected, so it is not in the
    // graph: draw it dashed.
    let mut closing: Vec<&(usize, usize)> = cycle.iter().filter(|p| !present.contains(p)).collect();
    closing.sort_unstable();
    for &(a, b) in closing {
        if let (Some(&na), Some(&nb)) = (nodes.get(&a), nodes.get(&b)) {
            pg.add_edge(na, nb, ("new".to_owned(), true));
        }
    }
    let edge_attr = |_: &DiGraph<(String, bool), (String, bool)>,
                     e: petgraph::graph::EdgeReference<'_, (String, bool)>| {
        let (label, hot) = e.weight();
        let style = if label == "new" { ", style=dashed" } else { "" };
        if *hot {
            format!("label=\"{label}\", color=red, fontcolor=red, penwidth=2{style}")
        } else {
            format!("label=\"{label}\"")
        }
    };
    // A waitable object's pseudo-lock (condvar, channel, thread, once
    // cell, barrier) is a diamond; a lock is a box.
    let node_attr = |_: &DiGraph<(String, bool), (String, bool)>, (_, (name, wait)): (NodeIndex, &(String, bool))| {
        let shape = if *wait { "diamond" } else { "box" };
        format!("label=\"{}\", shape={shape}", name.replace('"', "\\\""))
    };
    let dot = Dot::with_attr_getters(&pg, &[DotConfig::EdgeNoLabel, DotConfig::NodeNoLabel], &edge_attr, &node_attr);
    let mut out = String::new();
    if keep.is_some() {
        let _ = writeln!(
            out,
            "// trimmed: {} of {total} classes, those within {TRIM_HOPS} hops of the cycle",
            pg.node_count()
        );
    }
    let _ = write!(out, "{dot:?}");
    out
}

/// The SVG picture of a report's cycle and the classes one dependency away
/// from it (see [`svg`](super::svg)); `None` when `cycle` is not one cycle
/// of classes still in the graph.
pub(crate) fn svg_text(snap: &Snapshot, cycle: &[(u32, u32)]) -> Option<String> {
    use super::svg::{Edge, EdgeKind, MAX_NEIGHBOURS, Node, Picture, cycle_order, render};
    let by_id: HashMap<u32, usize> = snap.classes.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    let pairs: Vec<(usize, usize)> =
        cycle.iter().map(|(a, b)| Some((*by_id.get(a)?, *by_id.get(b)?))).collect::<Option<_>>()?;
    let order = cycle_order(&pairs)?;
    // Snapshot index -> picture index.
    let mut at: HashMap<usize, usize> = order.iter().enumerate().map(|(p, &i)| (i, p)).collect();
    let mut nodes: Vec<Node> = Vec::new();
    let node = |i: usize, in_cycle: bool| Node {
        name: snap.classes[i].name.clone(),
        key: snap.classes[i].key.clone(),
        in_cycle,
    };
    nodes.extend(order.iter().map(|&i| node(i, true)));
    // Neighbours, each beside the first cycle class (in cycle order) it
    // shares a dependency with.
    let mut found: Vec<(usize, usize)> = snap
        .edges
        .iter()
        .filter_map(|e| match (at.get(&e.from), at.get(&e.to)) {
            (Some(&a), None) => Some((a, e.to)),
            (None, Some(&b)) => Some((b, e.from)),
            _ => None,
        })
        .collect();
    found.sort_unstable();
    let mut anchor = HashMap::new();
    let mut left_out = 0;
    for (a, n) in found {
        if at.contains_key(&n) {
            continue;
        }
        if anchor.len() == MAX_NEIGHBOURS {
            left_out += 1;
            // Counted once: mark it seen without drawing it.
            at.insert(n, usize::MAX);
            continue;
        }
        at.insert(n, nodes.len());
        anchor.insert(nodes.len(), a);
        nodes.push(node(n, false));
    }
    let cycle_set: HashSet<(usize, usize)> = pairs.iter().copied().collect();
    let mut present: HashSet<(usize, usize)> = HashSet::new();
    let mut edges = Vec::new();
    for e in &snap.edges {
        present.insert((e.from, e.to));
        let (Some(&a), Some(&b)) = (at.get(&e.from), at.get(&e.to)) else { continue };
        if a == usize::MAX || b == usize::MAX {
            continue;
        }
        let kind = if cycle_set.contains(&(e.from, e.to)) { EdgeKind::Cycle } else { EdgeKind::Other };
        edges.push(Edge { from: a, to: b, label: DepTypes(e.dep).to_string(), kind });
    }
    for &(a, b) in &pairs {
        if !present.contains(&(a, b)) {
            edges.push(Edge { from: at[&a], to: at[&b], label: "new".to_owned(), kind: EdgeKind::Closing });
        }
    }
    Some(render(&Picture { nodes, anchor, edges, left_out }))
}

pub(crate) fn dump_dot(inner: &Inner, cycle: &[(u32, u32)]) -> String {
    dot_text(&snapshot(inner, false), cycle)
}

/// The two files of the dump written when a report fires: the DOT graph (the
/// report's cycle in red) and the report followed by the three `/proc` views.
/// Written to disk by [`dump_file`](super::dump_file).
/// The dump files' contents for `report`: the DOT graph, the text (report,
/// classes, chains, statistics) and, for a cycle, its SVG picture.
pub(crate) fn dump_texts(inner: &Inner, report: &Report) -> (String, String, Option<String>) {
    // Render the report (which resolves symbols) before taking the graph lock.
    let report_text = report.to_string();
    let snap = snapshot(inner, true);
    let dot = dot_text(&snap, &report.cycle);
    let svg = svg_text(&snap, &report.cycle);
    let stats = stats_of(&snap);
    let text = format!("{report_text}\n{}\n{}\n{}", classes_text(&snap), chains_text(&snap), stats_text(inner, &stats));
    (dot, text, svg)
}

#[cfg(test)]
mod tests {
    use super::reach_counts;
    use std::collections::{HashSet, VecDeque};

    /// Breadth-first reach of every node (the obvious way).
    fn brute(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
        let mut adj = vec![Vec::new(); n];
        for &(a, b) in edges {
            adj[a].push(b);
        }
        (0..n)
            .map(|s| {
                let mut seen = HashSet::from([s]);
                let mut q = VecDeque::from([s]);
                while let Some(x) = q.pop_front() {
                    for &b in &adj[x] {
                        if seen.insert(b) {
                            q.push_back(b);
                        }
                    }
                }
                seen.len()
            })
            .collect()
    }

    #[test]
    fn reach_counts_match_a_search_from_every_node() {
        // Pseudo-random graphs with cycles, self-loops and parallel edges,
        // some larger than one bit-set block.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % m as u64) as usize
        };
        for (n, m) in [(1, 0), (2, 1), (7, 12), (60, 90), (300, 200), (4200, 5000)] {
            let edges: Vec<(usize, usize)> = (0..m).map(|_| (next(n), next(n))).collect();
            assert_eq!(reach_counts(n, edges.iter().copied()), brute(n, &edges), "n={n} m={m}");
        }
        assert!(reach_counts(0, std::iter::empty()).is_empty());
    }
}
