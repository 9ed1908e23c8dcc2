//! The engine's side of saved graphs (feature `save`): copying a validator's
//! graph out, the strong-path search over a loaded graph, seeding a
//! validator from one, and `LOCKDEP_SAVE` at process exit.
//!
//! Like the dumps (`stats`), a save copies what it needs under the graph
//! lock — in time linear in the graph — and resolves stack traces, builds
//! and writes the file after releasing it. Nothing here prints under an
//! engine lock or panics: a failed save is one line on stderr.

use std::collections::{HashMap, HashSet};
use std::panic::Location;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use super::graph::{ClassId, EdgeEnd, EdgeOrigin, Graph, Plain};
use super::inner::{Inner, lock};
use crate::class::{KeyId, Read};
use crate::output::say;
use crate::report::{DepTypes, ThreadInfo, Trace};
use crate::save::format::{
    Cycle, End, Key, LoadSummary, Origin, Run, SavedClass, SavedEdge, SavedFrame, SavedGraph, Site,
};

/// Frames of a stack trace a save keeps (the caller's end: the validator's
/// own frames are trimmed first).
const SAVED_FRAMES: usize = 32;

/// One live class as copied under the lock.
struct ClassCopy {
    key: KeyId,
    subclass: u32,
    name: &'static str,
    version: u32,
}

/// One live dependency as copied under the lock (class indices into the copy).
struct EdgeCopy {
    from: usize,
    to: usize,
    dep: u8,
    distance: u32,
    origin: EdgeOrigin,
}

/// `inner`'s class graph as a saved graph of one run.
pub(crate) fn saved_graph(inner: &Inner) -> SavedGraph {
    let (classes, edges) = {
        let sh = lock(&inner.shared);
        copy(&sh.graph)
    };
    build(inner, classes, edges, true)
}

fn copy(g: &Graph) -> (Vec<ClassCopy>, Vec<EdgeCopy>) {
    let mut dense = vec![usize::MAX; g.classes.len()];
    let mut classes = Vec::with_capacity(g.nr_classes);
    let keys = g.keys_by_slot();
    for (slot, c) in g.live() {
        // (Every live class has its key in the key table; a number stands
        // in were one missing, rather than a panic under the graph lock.)
        debug_assert!(keys[slot.index()].is_some(), "a live class without a key");
        let key = keys[slot.index()].unwrap_or(KeyId::Owned(0));
        dense[slot.index()] = classes.len();
        classes.push(ClassCopy { key, subclass: c.subclass, name: c.name, version: c.version });
    }
    let edges = g
        .edges
        .iter()
        .filter(|e| e.alive)
        .map(|e| EdgeCopy {
            from: dense[e.from.index()],
            to: dense[e.to.index()],
            dep: e.dep,
            distance: e.distance,
            origin: e.origin.clone(),
        })
        .collect();
    (classes, edges)
}

/// Builds the saved graph from the copy, outside the lock, with the stack
/// traces resolved if `traces` (which loads the program's debug info: up to
/// a second for a large binary).
fn build(inner: &Inner, classes: Vec<ClassCopy>, edges: Vec<EdgeCopy>, traces: bool) -> SavedGraph {
    let run = Run {
        name: program_name(),
        pid: Some(std::process::id()),
        validator: Some(inner.config.name.clone()),
        saved_at: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs()),
        source: None,
    };
    let classes = classes
        .into_iter()
        .map(|c| SavedClass {
            name: c.name.to_owned(),
            key: match c.key {
                KeyId::Site { file, line, col, .. } => Key::Site(Site::new(file, line, col)),
                KeyId::Key { addr, .. } => Key::Addr(format!("{addr:#x}")),
                KeyId::Owned(n) => Key::Addr(format!("{n:#x}")),
            },
            ty: match c.key {
                KeyId::Site { ty, .. } => ty.map(str::to_owned),
                KeyId::Key { .. } | KeyId::Owned(_) => None,
            },
            subclass: c.subclass,
            version: c.version,
        })
        .collect();
    let mut cache: HashMap<*const [usize], Vec<SavedFrame>> = HashMap::new();
    let edges = edges
        .into_iter()
        .map(|e| {
            let o = &e.origin;
            let trace = o.trace.as_ref().filter(|_| traces).map(|t| resolve(t, &mut cache)).unwrap_or_default();
            SavedEdge {
                from: e.from,
                to: e.to,
                types: DepTypes(e.dep),
                distance: e.distance,
                seen: vec![Origin {
                    run: 0,
                    thread: o.thread.name.as_deref().map(str::to_owned),
                    held: end_of(&o.from),
                    taken: end_of(&o.to),
                    trace,
                }],
            }
        })
        .collect();
    SavedGraph { runs: vec![run], classes, edges, ..SavedGraph::empty() }
}

/// A trace's frames, resolved once per stored trace (edges recorded by one
/// acquisition share it).
fn resolve(t: &Trace, cache: &mut HashMap<*const [usize], Vec<SavedFrame>>) -> Vec<SavedFrame> {
    cache
        .entry(std::sync::Arc::as_ptr(&t.ips))
        .or_insert_with(|| {
            t.frames()
                .into_iter()
                .take(SAVED_FRAMES)
                .map(|f| SavedFrame { function: f.function, file: f.file, line: f.line })
                .collect()
        })
        .clone()
}

fn end_of(l: &EdgeEnd) -> End {
    End { instance: l.instance.name().to_owned(), read: l.read, trylock: l.trylock, site: Site::of(l.location) }
}

/// The program's file name (a run's default name).
pub(crate) fn program_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .or_else(|| std::env::args_os().next().map(|a| a.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The order dependency types are inserted in: the strongest first, as a
/// validator that saw them all would have learned the first that closes a
/// cycle.
const TYPES: [u8; 4] = [DepTypes::EN, DepTypes::ER, DepTypes::SN, DepTypes::SR];

/// What one dependency type of an edge says about its two ends: whether the
/// earlier lock was held exclusively, and whether the later one was a
/// recursive read.
fn ends_of(bit: u8) -> (bool, bool) {
    (bit & (DepTypes::EN | DepTypes::ER) != 0, bit & (DepTypes::ER | DepTypes::SR) != 0)
}

/// Adds the dependency type `bit` of `p -> n` to `graph` exactly as the
/// validator would when it first sees it (`check_noncircular`, then the
/// edge): `Err(path)` when it closes a strong cycle (and is not added),
/// `Ok(false)` when the limit refused it.
fn add_checked(
    graph: &mut Graph,
    (p, n): (ClassId, ClassId),
    bit: u8,
    distance: u32,
    origin: impl FnOnce() -> EdgeOrigin,
    limit: usize,
) -> Result<bool, Vec<super::graph::EdgeId>> {
    let (prev_exclusive, next_recursive) = ends_of(bit);
    let known = graph.find_edge(p, n).is_some() && !graph.order_broken;
    let search = !known && matches!(graph.plain_check(p, n), Plain::Search);
    if search {
        if let Some(path) = graph.find_strong_path(n, next_recursive, p, prev_exclusive) {
            return Err(path);
        }
    }
    if graph.update_edge(p, n, DepTypes(bit), distance) {
        return Ok(true);
    }
    Ok(graph.insert_edge(p, n, DepTypes(bit), distance, origin(), limit).is_some())
}

/// The cycles of a saved graph, found by inserting its dependencies one type
/// at a time, in file order, into an empty class graph with the validator's
/// own check: each cycle is reported by the dependency that closes it, which
/// is left out (as the validator leaves out a dependency it reports), and a
/// cycle is reported once whatever edge closes it.
pub(crate) fn cycles(g: &SavedGraph) -> Vec<Cycle> {
    let mut graph = Graph::default();
    let ids: Vec<Option<ClassId>> = (0..g.classes.len())
        .map(|i| graph.register(KeyId::Key { addr: i + 1, generation: 0 }, 0, "saved", usize::MAX))
        .collect();
    let index: HashMap<ClassId, usize> = ids.iter().enumerate().filter_map(|(i, c)| Some(((*c)?, i))).collect();
    let mut edge_index: HashMap<(usize, usize), usize> = HashMap::new();
    let placeholder = || {
        let l = EdgeEnd {
            instance: crate::names::intern(""),
            addr: 0,
            subclass: 0,
            read: Read::Exclusive,
            trylock: false,
            location: Location::caller(),
        };
        EdgeOrigin { from: l, to: l, thread: ThreadInfo::current().into(), trace: None }
    };
    let mut found = Vec::new();
    let mut seen: HashSet<Vec<usize>> = HashSet::new();
    for (i, e) in g.edges.iter().enumerate() {
        let (Some(p), Some(n)) = (ids[e.from], ids[e.to]) else { continue };
        edge_index.insert((e.from, e.to), i);
        for bit in TYPES.into_iter().filter(|b| e.types.contains(*b)) {
            if let Err(path) = add_checked(&mut graph, (p, n), bit, e.distance, placeholder, usize::MAX) {
                let mut edges: Vec<usize> = path
                    .iter()
                    .filter_map(|id| {
                        let (a, b) = graph.edge_classes(*id);
                        edge_index.get(&(*index.get(&a)?, *index.get(&b)?)).copied()
                    })
                    .collect();
                edges.push(i);
                let mut key = edges.clone();
                key.sort_unstable();
                if seen.insert(key) {
                    found.push(Cycle { edges, closing: DepTypes(bit) });
                }
            }
        }
    }
    found
}

/// Interns a string for the life of the process (class, instance and file
/// names of seeded classes must be `'static`): each distinct string is
/// leaked once.
fn intern(s: &str) -> &'static str {
    static STRINGS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = lock(STRINGS.get_or_init(Default::default));
    if let Some(&k) = set.get(s) {
        return k;
    }
    let k: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(k);
    k
}

/// A seeded class: its key and name, ready for the graph.
struct SeedClass {
    key: KeyId,
    subclass: u32,
    name: &'static str,
}

/// Adds the classes and dependencies of `g` to `inner`'s graph, as if it
/// had learned them, each checked as a new dependency would be. Only
/// classes keyed by construction site can be matched with the locks of this
/// process; the others, and the dependencies touching them, are skipped.
/// `loc` stands for the acquisition sites in reports (the saved ones, which
/// are no `Location`s, are named in the thread label).
pub(crate) fn seed(inner: &Inner, g: &SavedGraph, loc: &'static Location<'static>) -> LoadSummary {
    let mut summary = LoadSummary::default();
    // Everything that takes the interner's lock or allocates much is
    // prepared before the graph lock.
    let classes: Vec<Option<SeedClass>> = g
        .classes
        .iter()
        .map(|c| match &c.key {
            Key::Site(s) => Some(SeedClass {
                key: KeyId::Site { file: intern(&s.file), line: s.line, col: s.col, ty: c.ty.as_deref().map(intern) },
                subclass: c.subclass,
                name: intern(&c.name),
            }),
            Key::Addr(_) => None,
        })
        .collect();
    summary.skipped_classes = classes.iter().filter(|c| c.is_none()).count();
    let current = ThreadInfo::current();
    let origins: Vec<Option<EdgeOrigin>> = g
        .edges
        .iter()
        .map(|e| {
            if classes[e.from].is_none() || classes[e.to].is_none() {
                return None;
            }
            let o = e.seen.first()?;
            let run = g.runs.get(o.run).map_or_else(|| "?".to_owned(), |r| r.to_string());
            let info = |end: &End, class: &SavedClass| EdgeEnd {
                instance: crate::names::intern(intern(&end.instance)),
                addr: 0,
                // (A class of a subclass past the range is never
                // registered, so no edge of it is inserted.)
                subclass: u8::try_from(class.subclass).unwrap_or(u8::MAX),
                read: end.read,
                trylock: end.trylock,
                location: loc,
            };
            let thread = o.thread.as_deref().unwrap_or("<unnamed>");
            let name = format!("{thread} (saved run {run}: {} -> {})", o.held.site, o.taken.site);
            Some(EdgeOrigin {
                from: info(&o.held, &g.classes[e.from]),
                to: info(&o.taken, &g.classes[e.to]),
                thread: ThreadInfo { name: Some(name.into()), id: current.id, task: None }.into(),
                trace: None,
            })
        })
        .collect();
    summary.skipped_edges = origins.iter().filter(|o| o.is_none()).count();
    if !inner.is_learning() || !inner.is_validating() {
        summary.skipped_classes = g.classes.len();
        summary.skipped_edges = g.edges.len();
        return summary;
    }
    let mut sh = lock(&inner.shared);
    let graph = &mut sh.graph;
    let mut ids = Vec::with_capacity(classes.len());
    for c in &classes {
        let id = c.as_ref().and_then(|c| {
            let known = graph.lookup(c.key, c.subclass).is_some();
            let id = graph.register(c.key, c.subclass, c.name, inner.config.max_classes);
            if id.is_some() && !known {
                summary.classes += 1;
            }
            id
        });
        if c.is_some() && id.is_none() {
            summary.limited = true;
        }
        ids.push(id);
    }
    for (e, origin) in g.edges.iter().zip(origins) {
        let (Some(origin), Some(p), Some(n)) = (origin, ids[e.from], ids[e.to]) else { continue };
        let mut added = false;
        for bit in TYPES.into_iter().filter(|b| e.types.contains(*b)) {
            match add_checked(graph, (p, n), bit, e.distance, || origin.clone(), inner.config.max_dependencies) {
                Ok(true) => added = true,
                Ok(false) => summary.limited = true,
                Err(_) => summary.cycles += 1,
            }
        }
        if added {
            summary.edges += 1;
        }
    }
    summary
}

/// Where `LOCKDEP_SAVE` asked the global validator's graph to be saved, and
/// whether `LOCKDEP_SAVE_TRACES` asked for stack traces.
static AT_EXIT: OnceLock<(PathBuf, bool, &'static Arc<Inner>)> = OnceLock::new();

/// Reads `LOCKDEP_SAVE` and `LOCKDEP_SAVE_TRACES` and, when the first is
/// set, registers the save at process exit. Called once, when the global
/// validator is created.
pub(crate) fn install_at_exit(global: &'static Arc<Inner>) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| install(global));
}

fn install(global: &'static Arc<Inner>) {
    let Some(path) = std::env::var_os("LOCKDEP_SAVE").filter(|p| !p.is_empty()) else { return };
    let traces = match std::env::var_os("LOCKDEP_SAVE_TRACES") {
        None => false,
        Some(v) if v == "1" || v == "true" || v == "on" => true,
        Some(v) if v == "0" || v == "false" || v == "off" => false,
        Some(v) => {
            say!("lockdep: ignoring LOCKDEP_SAVE_TRACES={v:?} (expected 1, true, on, 0, false or off)");
            false
        }
    };
    if AT_EXIT.set((PathBuf::from(path), traces, global)).is_err() {
        return;
    }
    #[cfg(unix)]
    {
        // SAFETY: `save_at_exit` is a plain function, valid for the life of
        // the program; it catches every panic, so none unwinds into libc.
        if unsafe { sys::atexit(save_at_exit) } != 0 {
            say!("lockdep: LOCKDEP_SAVE: could not register the save at exit; the graph will not be saved");
        }
    }
    #[cfg(not(unix))]
    say!("lockdep: LOCKDEP_SAVE is only supported on unix; call Validator::save instead");
}

/// The exit handler: saves the global validator's graph. Never panics into
/// libc, never blocks for long on the graph lock (a thread that exits the
/// process from inside the validator would hold it forever).
#[cfg(unix)]
extern "C" fn save_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        let Some((path, traces, inner)) = AT_EXIT.get() else { return };
        if crate::fork::in_forked_child_quiet() {
            return; // the parent saves; the child learned nothing
        }
        let Some((classes, edges)) = copy_within(inner, std::time::Duration::from_secs(2)) else {
            say!("lockdep: LOCKDEP_SAVE: the graph was busy at exit; not saved");
            return;
        };
        let g = build(inner, classes, edges, *traces);
        if let Err(e) = crate::save::write::write_graph(&g, path) {
            say!("lockdep: LOCKDEP_SAVE: could not save the lock graph to {}: {e}", path.display());
        }
    });
}

/// [`copy`] under the graph lock, if it can be had within `patience`.
#[cfg(unix)]
fn copy_within(inner: &Inner, patience: std::time::Duration) -> Option<(Vec<ClassCopy>, Vec<EdgeCopy>)> {
    let start = std::time::Instant::now();
    loop {
        match inner.shared.try_lock() {
            Ok(sh) => return Some(copy(&sh.graph)),
            Err(std::sync::TryLockError::Poisoned(p)) => return Some(copy(&p.into_inner().graph)),
            Err(std::sync::TryLockError::WouldBlock) if start.elapsed() < patience => std::thread::yield_now(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        }
    }
}

#[cfg(unix)]
mod sys {
    unsafe extern "C" {
        /// C's `atexit` (libc is linked by std on every unix).
        pub(super) fn atexit(f: extern "C" fn()) -> std::ffi::c_int;
    }
}
