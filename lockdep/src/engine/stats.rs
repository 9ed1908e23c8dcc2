//! Statistics and the `/proc`-style dumps, plus the Graphviz rendering and
//! the dump written when a report fires.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use petgraph::dot::{Config as DotConfig, Dot};
use petgraph::graph::{DiGraph, NodeIndex};

use super::graph::{ClassId, Graph};
use super::inner::{Inner, Shared, lock};
use crate::class::KeyId;
use crate::dump::Stats;
use crate::report::{DepTypes, DumpFiles, Report};

/// Classes beyond which a dump on violation keeps only the neighbourhood of the cycle.
const TRIM_ABOVE: usize = 200;
/// Hops around the cycle a trimmed dump keeps.
const TRIM_HOPS: usize = 2;

fn key_text(k: KeyId) -> String {
    match k {
        KeyId::Key { addr, .. } => format!("{addr:016x}"),
        KeyId::Site { file, line, col } => format!("{file}:{line}:{col}"),
    }
}

/// Number of classes reachable from `c` (itself included), forward or backward.
fn reach(g: &Graph, c: ClassId, forward: bool) -> usize {
    let mut seen = HashSet::from([c]);
    let mut q = VecDeque::from([c]);
    while let Some(x) = q.pop_front() {
        let cls = g.class(x);
        let list = if forward { &cls.after } else { &cls.before };
        for e in list {
            let edge = g.edge(*e);
            if !edge.alive {
                continue;
            }
            let y = if forward { edge.to } else { edge.from };
            if seen.insert(y) {
                q.push_back(y);
            }
        }
    }
    seen.len()
}

fn live_classes(g: &Graph) -> impl Iterator<Item = (ClassId, &super::graph::Class)> {
    g.classes.iter().enumerate().filter(|(_, c)| c.alive).filter_map(|(i, c)| ClassId::new(i).map(|id| (id, c)))
}

fn stats_of(inner: &Inner, sh: &Shared) -> Stats {
    let g = &sh.graph;
    Stats {
        classes: g.nr_classes,
        direct_dependencies: g.nr_dependencies,
        indirect_dependencies: live_classes(g).map(|(id, _)| reach(g, id, true)).sum(),
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

pub(crate) fn stats(inner: &Inner) -> Stats {
    let sh = lock(&inner.shared);
    stats_of(inner, &sh)
}

fn classes_text(sh: &Shared) -> String {
    let g = &sh.graph;
    let mut out = String::from("all lock classes:\n");
    for (id, c) in live_classes(g) {
        let _ = writeln!(
            out,
            "{} FD:{:>5} BD:{:>5} ....: {}",
            key_text(c.key),
            reach(g, id, true),
            reach(g, id, false),
            c.display_name()
        );
        for e in &c.after {
            let edge = g.edge(*e);
            if edge.alive && edge.distance == 1 {
                let to = g.class(edge.to);
                let _ = writeln!(out, " -> [{}] {} ({})", key_text(to.key), to.display_name(), DepTypes(edge.dep));
            }
        }
        out.push('\n');
    }
    out
}

fn chains_text(sh: &Shared) -> String {
    let g = &sh.graph;
    let mut chains = sh.chains.validated();
    chains.sort();
    let mut out = String::from("all lock chains:\n");
    for ids in chains {
        out.push_str("irq_context: 0\n");
        for id in ids {
            let (c, read, trylock) = super::held::elem_parts(id);
            let key = g.classes.get(c.index()).map_or_else(|| "?".to_owned(), |c| key_text(c.key));
            let mode = match (read.is_read(), trylock) {
                (false, false) => String::new(),
                (true, false) => format!(" ({read})"),
                (false, true) => " (trylock)".to_owned(),
                (true, true) => format!(" ({read}, trylock)"),
            };
            let _ = writeln!(out, "[{key}] {}{mode}", g.class_name(c));
        }
        out.push('\n');
    }
    out
}

fn stats_text(inner: &Inner, sh: &Shared) -> String {
    let s = stats_of(inner, sh);
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
    classes_text(&lock(&inner.shared))
}

pub(crate) fn dump_chains(inner: &Inner) -> String {
    chains_text(&lock(&inner.shared))
}

pub(crate) fn dump_stats(inner: &Inner) -> String {
    let sh = lock(&inner.shared);
    stats_text(inner, &sh)
}

/// Classes within `hops` undirected hops of `seeds`.
fn neighbourhood(g: &Graph, seeds: &[ClassId], hops: usize) -> HashSet<ClassId> {
    let mut seen: HashSet<ClassId> = seeds.iter().copied().collect();
    let mut frontier: Vec<ClassId> = seeds.to_vec();
    for _ in 0..hops {
        let mut next = Vec::new();
        for c in frontier {
            let cls = g.class(c);
            for e in cls.after.iter().chain(&cls.before) {
                let edge = g.edge(*e);
                for y in [edge.from, edge.to] {
                    if edge.alive && seen.insert(y) {
                        next.push(y);
                    }
                }
            }
        }
        frontier = next;
    }
    seen
}

fn dot_text(g: &Graph, cycle: &[(u32, u32)]) -> String {
    let cycle: HashSet<(u32, u32)> = cycle.iter().copied().collect();
    let total = g.nr_classes;
    let keep: Option<HashSet<ClassId>> = (total > TRIM_ABOVE && !cycle.is_empty()).then(|| {
        let seeds: Vec<ClassId> =
            cycle.iter().flat_map(|&(a, b)| [ClassId::from_raw(a), ClassId::from_raw(b)]).collect();
        neighbourhood(g, &seeds, TRIM_HOPS)
    });
    let mut pg: DiGraph<String, (String, bool)> = DiGraph::new();
    let mut nodes: HashMap<ClassId, NodeIndex> = HashMap::new();
    for (id, c) in live_classes(g) {
        if keep.as_ref().is_some_and(|k| !k.contains(&id)) {
            continue;
        }
        nodes.insert(id, pg.add_node(c.display_name()));
    }
    for e in &g.edges {
        if !e.alive {
            continue;
        }
        if let (Some(&a), Some(&b)) = (nodes.get(&e.from), nodes.get(&e.to)) {
            let hot = cycle.contains(&(e.from.raw(), e.to.raw()));
            pg.add_edge(a, b, (DepTypes(e.dep).to_string(), hot));
        }
    }
    // The closing edge of a reported cycle was rejected, so it is not in the
    // graph: draw it dashed.
    for &(a, b) in &cycle {
        let (ca, cb) = (ClassId::from_raw(a), ClassId::from_raw(b));
        if g.find_edge(ca, cb).is_none() {
            if let (Some(&na), Some(&nb)) = (nodes.get(&ca), nodes.get(&cb)) {
                pg.add_edge(na, nb, ("new".to_owned(), true));
            }
        }
    }
    let edge_attr = |_: &DiGraph<String, (String, bool)>, e: petgraph::graph::EdgeReference<'_, (String, bool)>| {
        let (label, hot) = e.weight();
        let style = if label == "new" { ", style=dashed" } else { "" };
        if *hot {
            format!("label=\"{label}\", color=red, fontcolor=red, penwidth=2{style}")
        } else {
            format!("label=\"{label}\"")
        }
    };
    let node_attr = |_: &DiGraph<String, (String, bool)>, (_, name): (NodeIndex, &String)| {
        format!("label=\"{}\", shape=box", name.replace('"', "\\\""))
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

pub(crate) fn dump_dot(inner: &Inner, cycle: &[(u32, u32)]) -> String {
    dot_text(&lock(&inner.shared).graph, cycle)
}

pub(crate) fn dump_held(inner: &Arc<Inner>) -> String {
    super::thread::held_text(inner)
}

static DUMP_SEQ: AtomicU64 = AtomicU64::new(1);

/// Writes the dump files for `report` into `dir`; errors are reported on
/// stderr and give no dump (the report itself is never lost).
pub(crate) fn write_dump(inner: &Inner, report: &Report, dir: &Path) -> Option<DumpFiles> {
    let n = DUMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let stem = format!("lockdep-{}-{n}", std::process::id());
    // Render the report (which resolves symbols) before taking the graph lock.
    let report_text = report.to_string();
    let (dot, text) = {
        let sh = lock(&inner.shared);
        let dot = dot_text(&sh.graph, &report.cycle);
        let text = format!("{report_text}\n{}\n{}\n{}", classes_text(&sh), chains_text(&sh), stats_text(inner, &sh));
        (dot, text)
    };
    let files = DumpFiles { dot: dir.join(format!("{stem}.dot")), text: dir.join(format!("{stem}.txt")) };
    let res = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&files.dot, dot))
        .and_then(|()| std::fs::write(&files.text, text));
    match res {
        Ok(()) => Some(files),
        Err(e) => {
            eprintln!("lockdep: could not write the graph dump to {}: {e}", dir.display());
            None
        }
    }
}
