//! Property-based checks of the validator against an independent brute-force
//! model (issues 8 and 19). Public hooks only.
//!
//! * `programs_match_the_model`: random well-formed programs over 2–4 keys
//!   with two lock instances each (two keys are [`LockClassKey`]s, two are
//!   [`DynamicKey`]s), subclasses 0–2 and 1–3 real threads, using every hook
//!   the engine accepts: acquisitions in the three read modes, trylocks,
//!   `lock_acquire_nocheck`, nest locks (with the merge of same-class
//!   entries), re-acquisition of held classes and instances, releases in any
//!   order (with the replay of the locks above), `lock_downgrade`,
//!   `lock_set_subclass`, `might_lock*`, `lock_is_held_type` queries, and key
//!   removal ([`LockClassKey::unregister`], or dropping every map of a
//!   `DynamicKey`). The main thread hands one operation at a time to
//!   long-lived workers, so the interleaving is the program's order.
//!
//!   The model (held stacks with merges and replays, a typed dependency
//!   graph, the prev-walk, the chain cache, zapping) says at each operation
//!   which problems the engine must find. In *continue* mode every report is
//!   compared, in order: a recursive-locking report names the two locks the
//!   model names; a circular dependency is checked as a closed walk of the
//!   model's graph (every hop's type set equal to the model's) that is strong
//!   by brute force (some choice of one type per hop obeys the rule of
//!   `docs/src/04-read-write-rules.md`), and a cycle the engine does not
//!   report must be the duplicate of an earlier report (continue mode reports
//!   each problem once). The class set and the typed dependency set (read
//!   back from `dump_dot`) must equal the model's at the end and before every
//!   key removal, and held-lock queries must answer as the model does. The
//!   same program under a *one-shot* validator must report first at the
//!   model's first problem.
//!
//!   The model's strong-cycle test is a reachability fixpoint over states
//!   (class, type of the edge that arrived there) — four per class, where the
//!   engine keeps two per class with a dominance rule and a BFS.
//! * `spec_examples_agree_with_the_model`: hand-written programs from the
//!   rules' worked examples, each with the operation that must report,
//!   checking the model itself, then the validator against it.
//! * `concurrent_programs_match_the_model`: real threads running at once, on
//!   programs where every thread takes locks in one global class order. Under
//!   any interleaving: no report, and exactly the classes and typed
//!   dependencies the model learns running the threads one after another.
//! * `random_graphs_match_dfs_oracle`: random exclusive-only graphs of up to
//!   1,000 classes, built pair by pair on one thread; adding `a -> b` must be
//!   reported iff `b` already reaches `a` (a plain DFS).
//!
//! Each property asserts that it ran cases and that its generator exercised
//! what it is about. `PROPTEST_CASES` overrides the case counts (for longer
//! local runs; 0 fails).
//!
//! The widened generator found two engine bugs, now fixed, each with a
//! regression test in `tests/engine_paths.rs`
//! (`merged_nest_member_release_after_unrelated_unregister`,
//! `report_dedup_survives_class_removal`); key removal is generated with
//! merged entries held and after problems were reported. The programs the
//! generator drops are misuse the engine reports by design (releasing an
//! unheld lock, a nest lock not held, downgrading a reader, removing a key
//! whose lock is held).
//!
//! Needs validation compiled in (`required-features = ["enabled"]`).

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;

use lockdep::{Config, DynamicKey, LockClassKey, LockdepMap, Read, Report, ReportKind, Validator};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestError, TestRunner};

use Read::{Exclusive as W, Shared as R, SharedRecursive as RR};

/// Keys a program may use: even ones are `LockClassKey`s, odd ones `DynamicKey`s.
const KEYS: usize = 4;
/// Lock instances (maps) per key.
const MAPS_PER_KEY: usize = 2;
/// Subclasses a program uses (0..SUBCLASSES).
const SUBCLASSES: u32 = 3;
/// Threads a program runs on.
const THREADS: usize = 3;
/// Longest generated program (before dropping ill-formed operations).
const MAX_OPS: usize = 32;
/// Deepest held-lock stack a program builds.
const MAX_DEPTH: usize = 24;
/// The class name of each key (all maps of a key share it).
const NAMES: [&str; KEYS] = ["K0", "K1", "K2", "K3"];

fn key_of(map: usize) -> usize {
    map / MAPS_PER_KEY
}

fn is_dynamic(key: usize) -> bool {
    key % 2 == 1
}

/// Cases for a property: `PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn needs_validation() {
    // A test that needs validation fails visibly where it is compiled out
    // (a release build with only `enabled`).
    if !lockdep::ENABLED {
        panic!(
            "the oracle needs validation compiled in: a debug build with --features enabled, or --features \
             enabled-in-release"
        );
    }
}

fn proptest_config(cases: u32) -> ProptestConfig {
    needs_validation();
    // Persistence needs a source-file anchor the manual runner does not have;
    // a failure prints the shrunk program instead.
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Runs the property and panics with the shrunk input on failure.
fn check<S: Strategy>(config: ProptestConfig, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: fmt::Debug,
{
    let mut runner = TestRunner::new(config);
    match runner.run(&strategy, test) {
        Ok(()) => {}
        Err(TestError::Fail(why, input)) => panic!("{why}\nminimal failing input:\n{input:?}"),
        Err(TestError::Abort(why)) => panic!("proptest aborted: {why}"),
    }
}

fn bump(c: &Cell<u64>, by: u64) {
    c.set(c.get() + by);
}

// ---------------------------------------------------------------------------
// The locks of a case.

/// Static keys for one test (leaked: unregistering them must not disturb
/// other tests, so each test has its own).
fn leak_keys() -> &'static [LockClassKey] {
    Box::leak((0..KEYS).map(|_| LockClassKey::new()).collect())
}

/// The maps of one case: `maps[key * MAPS_PER_KEY + i]` is instance `i` of `key`.
struct Universe {
    statics: &'static [LockClassKey],
    maps: Vec<Arc<LockdepMap>>,
}

impl Universe {
    fn new(statics: &'static [LockClassKey]) -> Universe {
        Universe { statics, maps: (0..KEYS).flat_map(|k| Self::maps_of(statics, k)).collect() }
    }

    fn maps_of(statics: &'static [LockClassKey], key: usize) -> Vec<Arc<LockdepMap>> {
        if is_dynamic(key) {
            let dynamic = DynamicKey::new(); // dropped here: the maps keep it alive
            (0..MAPS_PER_KEY).map(|_| Arc::new(LockdepMap::with_dynamic_key(NAMES[key], &dynamic))).collect()
        } else {
            (0..MAPS_PER_KEY).map(|_| Arc::new(LockdepMap::new(NAMES[key], &statics[key]))).collect()
        }
    }

    /// Removes `key`'s classes: unregisters a static key; drops the maps of
    /// a dynamic one (the key goes with its last map) and makes new ones.
    /// Call it inside the validator's scope.
    fn remove(&mut self, key: usize) {
        if is_dynamic(key) {
            let fresh = Self::maps_of(self.statics, key);
            let range = key * MAPS_PER_KEY..(key + 1) * MAPS_PER_KEY;
            let old: Vec<Arc<LockdepMap>> = self.maps.splice(range, fresh).collect();
            drop(old);
        } else {
            self.statics[key].unregister();
        }
    }
}

// ---------------------------------------------------------------------------
// Programs.

/// One operation of a program. `map` indexes [`Universe::maps`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Acquire {
        t: usize,
        map: usize,
        sub: u32,
        read: Read,
        trylock: bool,
        check: bool,
        nest: Option<usize>,
    },
    Release {
        t: usize,
        map: usize,
    },
    Downgrade {
        t: usize,
        map: usize,
    },
    SetSubclass {
        t: usize,
        map: usize,
        sub: u32,
    },
    Might {
        t: usize,
        map: usize,
        read: Read,
        sub: u32,
    },
    Query {
        t: usize,
        map: usize,
        read: Option<Read>,
    },
    /// Removes the key's classes (done by the main thread).
    Remove {
        key: usize,
    },
}

fn mode_name(read: Read) -> &'static str {
    match read {
        W => "W",
        R => "R",
        RR => "RR",
    }
}

fn map_name(map: usize) -> String {
    format!("K{}.{}", key_of(map), map % MAPS_PER_KEY)
}

fn with_sub(map: usize, sub: u32) -> String {
    if sub == 0 { map_name(map) } else { format!("{}/{sub}", map_name(map)) }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Acquire { t, map, sub, read, trylock, check, nest } => {
                write!(f, "T{t}: {}({})", mode_name(read), with_sub(map, sub))?;
                if trylock {
                    f.write_str(" try")?;
                }
                if !check {
                    f.write_str(" nocheck")?;
                }
                if let Some(n) = nest {
                    write!(f, " nest {}", map_name(n))?;
                }
                Ok(())
            }
            Op::Release { t, map } => write!(f, "T{t}: unlock {}", map_name(map)),
            Op::Downgrade { t, map } => write!(f, "T{t}: downgrade {}", map_name(map)),
            Op::SetSubclass { t, map, sub } => write!(f, "T{t}: set_subclass {} -> {sub}", map_name(map)),
            Op::Might { t, map, read, sub } => {
                write!(f, "T{t}: might_lock {}({})", mode_name(read), with_sub(map, sub))
            }
            Op::Query { t, map, read } => {
                let mode = read.map_or("any", mode_name);
                write!(f, "T{t}: is_held {} {mode}", map_name(map))
            }
            Op::Remove { key } if is_dynamic(key) => write!(f, "drop the maps of dynamic key K{key}"),
            Op::Remove { key } => write!(f, "unregister K{key}"),
        }
    }
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A program, printed one numbered operation per line.
#[derive(Clone)]
struct Program {
    threads: usize,
    ops: Vec<Op>,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, op) in self.ops.iter().enumerate() {
            writeln!(f, "  #{i:<2} {op}")?;
        }
        Ok(())
    }
}

/// A generated operation before it is made well-formed: `pick` chooses one
/// of the thread's outstanding acquisitions, `nest` one of its held entries.
#[derive(Clone, Copy, Debug)]
enum Raw {
    /// Nothing: what shrinking turns an operation into to drop it.
    Skip,
    Acquire {
        t: usize,
        map: usize,
        sub: u32,
        read: Read,
        trylock: bool,
        check: bool,
        nest: Option<usize>,
    },
    Release {
        t: usize,
        pick: usize,
    },
    Downgrade {
        t: usize,
        pick: usize,
    },
    SetSubclass {
        t: usize,
        pick: usize,
        sub: u32,
    },
    Might {
        t: usize,
        map: usize,
        read: Read,
        sub: u32,
    },
    Query {
        t: usize,
        map: usize,
        read: Option<Read>,
    },
    Remove {
        key: usize,
    },
}

fn any_read() -> impl Strategy<Value = Read> + Clone {
    prop_oneof![Just(W), Just(R), Just(RR)]
}

fn any_sub() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![6 => Just(0u32), 1 => Just(1u32), 1 => Just(2u32)]
}

fn raw_op(keys: usize, threads: usize) -> impl Strategy<Value = Raw> {
    let maps = keys * MAPS_PER_KEY;
    let acquire = (
        0..threads,
        0..maps,
        any_sub(),
        any_read(),
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.9),
        prop::option::weighted(0.2, 0..8usize),
    )
        .prop_map(|(t, map, sub, read, trylock, check, nest)| Raw::Acquire {
            t,
            map,
            sub,
            read,
            trylock,
            check,
            nest,
        });
    let might = (0..threads, 0..maps, prop_oneof![Just(W), Just(R)], any_sub()).prop_map(|(t, map, read, sub)| {
        // might_lock_read has no subclass argument
        Raw::Might { t, map, read, sub: if read == W { sub } else { 0 } }
    });
    let query = (0..threads, 0..maps, prop::option::of(prop_oneof![Just(W), Just(R)]))
        .prop_map(|(t, map, read)| Raw::Query { t, map, read });
    prop_oneof![
        1 => Just(Raw::Skip),
        14 => acquire,
        8 => (0..threads, 0..8usize).prop_map(|(t, pick)| Raw::Release { t, pick }),
        1 => (0..threads, 0..8usize).prop_map(|(t, pick)| Raw::Downgrade { t, pick }),
        1 => (0..threads, 0..8usize, 0..SUBCLASSES).prop_map(|(t, pick, sub)| Raw::SetSubclass { t, pick, sub }),
        1 => might,
        1 => query,
        1 => (0..keys).prop_map(|key| Raw::Remove { key }),
    ]
}

/// The thread's outstanding acquisitions, bottom first (what `pick` indexes).
fn acquisitions(model: &Model, t: usize) -> Vec<usize> {
    model.held[t].iter().flat_map(|e| e.members.iter().copied()).collect()
}

/// Makes a raw sequence a well-formed program: each operation is tried on
/// the model and dropped if the model rejects it; then every thread releases
/// what it still holds, from the top down.
fn normalize(raw: &[Raw], threads: usize) -> Program {
    let mut model = Model::new(threads);
    let mut ops = Vec::new();
    for r in raw {
        let op = match *r {
            Raw::Skip => None,
            Raw::Acquire { t, map, sub, read, trylock, check, nest } => {
                let held = &model.held[t];
                // A nest lock is one of the thread's held entries (nest locks
                // are used with subclass 0, like the kernel's).
                let nest = nest.filter(|_| check && sub == 0 && !held.is_empty()).map(|i| held[i % held.len()].map);
                Some(Op::Acquire { t, map, sub, read, trylock, check, nest })
            }
            Raw::Release { t, pick } | Raw::Downgrade { t, pick } | Raw::SetSubclass { t, pick, .. } => {
                let acq = acquisitions(&model, t);
                (!acq.is_empty()).then(|| {
                    let map = acq[acq.len() - 1 - pick % acq.len()];
                    match *r {
                        Raw::Release { .. } => Op::Release { t, map },
                        Raw::Downgrade { .. } => Op::Downgrade { t, map },
                        Raw::SetSubclass { sub, .. } => Op::SetSubclass { t, map, sub },
                        _ => unreachable!(),
                    }
                })
            }
            Raw::Might { t, map, read, sub } => Some(Op::Might { t, map, read, sub }),
            Raw::Query { t, map, read } => Some(Op::Query { t, map, read }),
            Raw::Remove { key } => Some(Op::Remove { key }),
        };
        if let Some(op) = op {
            let mut trial = model.clone();
            if trial.step(op).is_ok() {
                model = trial;
                ops.push(op);
            }
        }
    }
    release_all(&mut model, &mut ops);
    Program { threads, ops }
}

/// Appends releases of everything the model's threads hold, top down.
fn release_all(model: &mut Model, ops: &mut Vec<Op>) {
    for t in 0..model.held.len() {
        while let Some(top) = model.held[t].last() {
            let op = Op::Release { t, map: *top.members.last().expect("an entry stands for an acquisition") };
            let before = model.held[t].clone();
            if let Err(e) = model.step(op) {
                panic!("releasing from the top down is always well-formed: {op}: {e}\n{before:#?}\n{ops:?}");
            }
            ops.push(op);
        }
    }
}

/// A program over 2..=4 keys and 1..=3 threads.
fn program() -> impl Strategy<Value = Program> {
    (2..=KEYS, 1..=THREADS)
        .prop_flat_map(|(keys, threads)| (Just(threads), prop::collection::vec(raw_op(keys, threads), 8..=MAX_OPS)))
        .prop_map(|(threads, raw)| normalize(&raw, threads))
}

// ---------------------------------------------------------------------------
// The model: an independent simulation of the rules for these programs
// (docs/src/04-read-write-rules.md and 05-annotations.md; the kernel's
// lockdep for the rest).

/// Dependency types, numbered as the bits of `DepTypes` (bit index).
const SR: u8 = 0;
const ER: u8 = 1;
const SN: u8 = 2;
const EN: u8 = 3;

/// The type of the dependency `prev -> next` for these two modes.
fn dep_type(prev: Read, next: Read) -> u8 {
    match (prev, next) {
        (W, RR) => ER,
        (W, _) => EN,
        (_, RR) => SR,
        (_, _) => SN,
    }
}

/// Whether an edge of type `b` may follow one of type `a` on a strong path:
/// forbidden is `*R` (arriving at a lock as a recursive reader) followed by
/// `S*` (leaving it as a reader).
fn may_follow(a: u8, b: u8) -> bool {
    let arrives_recursive = a == SR || a == ER;
    let leaves_shared = b == SR || b == SN;
    !(arrives_recursive && leaves_shared)
}

/// A class: a key (in one life: `life` counts its removals) and a subclass.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
struct Class {
    key: usize,
    life: u32,
    sub: u32,
}

impl Class {
    /// The name the validator gives it.
    fn name(self) -> String {
        if self.sub == 0 { NAMES[self.key].to_owned() } else { format!("{}/{}", NAMES[self.key], self.sub) }
    }
}

/// `deps[(prev, next)]`: the set of types (bit `1 << type`) of `prev -> next`.
type Deps = BTreeMap<(Class, Class), u8>;

/// A held entry.
#[derive(Clone, Debug)]
struct Entry {
    /// The instance (the first acquisition of a merged entry).
    map: usize,
    class: Class,
    read: Read,
    trylock: bool,
    check: bool,
    nest: Option<usize>,
    /// Merged acquisitions (0: a plain entry).
    refs: u32,
    /// The acquisitions the entry stands for (not validator state: it keeps
    /// generated programs releasing what they acquired).
    members: Vec<usize>,
}

/// What a chain records of an entry: class, mode, trylock, check.
type Elem = (Class, Read, bool, bool);

fn elem(e: &Entry) -> Elem {
    (e.class, e.read, e.trylock, e.check)
}

/// A problem the validator must find during an operation, in order.
#[derive(Clone, Debug)]
enum Expect {
    /// A held lock of the next lock's class (not exempted). `new`: not
    /// reported before (continue mode reports each such pair once).
    Recursive { prev: (Class, Read), next: (Class, Read), new: bool },
    /// `prev -> next` (of type `ty`) closes a strong cycle in `deps`.
    Cycle { prev: (Class, Read), next: (Class, Read), ty: u8, deps: Deps },
}

/// What the model saw, for the coverage statistics.
#[derive(Default, Clone, Copy)]
struct ModelStats {
    /// Dependencies accepted although they closed a (weak) cycle.
    weak_cycles: u64,
    /// Dependencies added from a trylocked entry.
    trylock_edges: u64,
    /// Dependencies added while replaying (release, downgrade, set_subclass).
    replay_edges: u64,
    /// Blocking acquisitions skipped by the chain cache.
    cache_hits: u64,
    /// Same-class entries merged under a nest lock.
    merges: u64,
    /// Same-class acquisitions exempted by a nest lock lower down.
    nest_exempt: u64,
    /// Recursive reads of a held class exempted by the read rule.
    read_exempt: u64,
    /// Unchecked acquisitions.
    nocheck: u64,
    /// Downgrades and set_subclass calls with locks above.
    downgrades_above: u64,
    set_subclass_above: u64,
    /// Removals of a static / dynamic key that had classes.
    unregisters: u64,
    dynamic_drops: u64,
    might: u64,
    queries_held: u64,
}

#[derive(Clone)]
struct Model {
    held: Vec<Vec<Entry>>,
    deps: Deps,
    /// Validated chains (the stack's elements then the new one's).
    validated: HashSet<Vec<Elem>>,
    /// Classes registered (any lookup registers).
    registered: BTreeSet<Class>,
    life: [u32; KEYS],
    /// Recursive-locking problems reported so far: (prev, next, modes).
    seen_recursive: HashSet<(Class, Class, Read, Read)>,
    /// The problems of the current operation.
    expect: Vec<Expect>,
    /// Problems found so far (reported or not).
    problems: u64,
    replaying: bool,
    stats: ModelStats,
}

/// A step: `Ok(answer)` (a query's answer) or `Err(why)` for an operation
/// the generator must not produce.
type Step = Result<Option<bool>, String>;

impl Model {
    fn new(threads: usize) -> Model {
        Model {
            held: vec![Vec::new(); threads],
            deps: Deps::new(),
            validated: HashSet::new(),
            registered: BTreeSet::new(),
            life: [0; KEYS],
            seen_recursive: HashSet::new(),
            expect: Vec::new(),
            problems: 0,
            replaying: false,
            stats: ModelStats::default(),
        }
    }

    fn class_of(&self, map: usize, sub: u32) -> Class {
        let key = key_of(map);
        Class { key, life: self.life[key], sub }
    }

    /// Looks up (registering) the class of `map` for `sub`.
    fn register(&mut self, map: usize, sub: u32) -> Class {
        let class = self.class_of(map, sub);
        self.registered.insert(class);
        class
    }

    fn step(&mut self, op: Op) -> Step {
        self.expect.clear();
        match op {
            Op::Acquire { t, map, sub, read, trylock, check, nest } => {
                if self.held[t].len() >= MAX_DEPTH {
                    return Err("deep enough".into());
                }
                if nest.is_some() && !check {
                    return Err("lock_acquire_nocheck takes no nest lock".into());
                }
                let class = self.register(map, sub);
                self.stats.nocheck += u64::from(!check);
                let entry = Entry { map, class, read, trylock, check, nest, refs: 0, members: vec![map] };
                self.push(t, entry, 0)?;
                Ok(None)
            }
            Op::Release { t, map } => {
                let i = self.find_acquisition(t, map)?;
                let e = &mut self.held[t][i];
                let m = e.members.iter().position(|&m| m == map).expect("checked by find_acquisition");
                e.members.remove(m);
                if e.refs > 0 {
                    e.refs -= 1;
                    if e.refs > 0 {
                        return Ok(None);
                    }
                }
                let above = self.held[t].split_off(i + 1);
                self.held[t].pop();
                self.replay(t, above)?;
                Ok(None)
            }
            Op::Downgrade { t, map } => {
                let i = self.find_acquisition(t, map)?;
                if self.held[t][i].read != W {
                    return Err("downgrading a reader is misuse".into());
                }
                let mut removed = self.held[t].split_off(i);
                let mut first = removed.remove(0);
                self.stats.downgrades_above += u64::from(!removed.is_empty());
                first.read = R;
                removed.insert(0, first);
                self.replay(t, removed)?;
                Ok(None)
            }
            Op::SetSubclass { t, map, sub } => {
                let i = self.find_acquisition(t, map)?;
                let e = &self.held[t][i];
                if (e.refs > 0 || e.nest.is_some()) && sub != 0 {
                    // Nest locks are used with subclass 0 (merged members are
                    // found through it).
                    return Err("a nest-locked entry keeps subclass 0".into());
                }
                let class = self.register(map, sub);
                let mut removed = self.held[t].split_off(i);
                self.stats.set_subclass_above += u64::from(removed.len() > 1);
                removed[0].class = class;
                self.replay(t, removed)?;
                Ok(None)
            }
            Op::Might { t, map, read, sub } => {
                if self.held[t].len() >= MAX_DEPTH {
                    return Err("deep enough".into());
                }
                let class = self.register(map, sub);
                let entry =
                    Entry { map, class, read, trylock: false, check: true, nest: None, refs: 0, members: vec![] };
                let depth = self.held[t].len();
                self.push(t, entry, 0)?;
                if self.held[t].len() > depth && self.held[t].last().is_some_and(|e| e.map == map) {
                    self.held[t].pop();
                }
                self.stats.might += 1;
                Ok(None)
            }
            Op::Query { t, map, read } => {
                let i = self.find(t, map);
                let mode = i.map(|i| self.held[t][i].read);
                self.stats.queries_held += u64::from(mode.is_some());
                Ok(Some(match (mode, read) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(m), Some(W)) => m == W,
                    (Some(m), Some(_)) => m != W,
                }))
            }
            Op::Remove { key } => {
                if self.held.iter().flatten().any(|e| e.class.key == key) {
                    return Err("removing a key whose lock is held".into());
                }
                let had = self.registered.iter().any(|c| c.key == key);
                if had {
                    if is_dynamic(key) {
                        self.stats.dynamic_drops += 1;
                    } else {
                        self.stats.unregisters += 1;
                    }
                }
                self.deps.retain(|(a, b), _| a.key != key && b.key != key);
                self.validated.retain(|chain| chain.iter().all(|e| e.0.key != key));
                self.registered.retain(|c| c.key != key);
                self.life[key] += 1;
                Ok(None)
            }
        }
    }

    /// The entry `map` names: the top-most one of this instance, or a merged
    /// entry of the map's subclass-0 class (the kernel's `match_held_lock`).
    fn find(&self, t: usize, map: usize) -> Option<usize> {
        let class0 = Some(self.class_of(map, 0)).filter(|c| self.registered.contains(c));
        self.held[t].iter().rposition(|e| e.map == map || (e.refs > 0 && Some(e.class) == class0))
    }

    /// The entry of one of the thread's acquisitions of `map`, for a release,
    /// downgrade or set_subclass; an error when `map` would name another
    /// entry, or the two lookups differ.
    fn find_acquisition(&self, t: usize, map: usize) -> Result<usize, String> {
        let i = self.find(t, map).ok_or("not held")?;
        if !self.held[t][i].members.contains(&map) {
            return Err("the map names another acquisition's entry".into());
        }
        Ok(i)
    }

    /// Re-pushes entries (with their merge counts), as the validator does
    /// for the locks above a released, downgraded or re-classed one.
    fn replay(&mut self, t: usize, entries: Vec<Entry>) -> Result<(), String> {
        self.replaying = true;
        let r = entries.into_iter().try_for_each(|e| {
            let refs = e.refs;
            self.push(t, e, refs)
        });
        self.replaying = false;
        r
    }

    /// The acquire path from the merge on.
    fn push(&mut self, t: usize, mut entry: Entry, refs: u32) -> Result<(), String> {
        if entry.nest.is_some() {
            if let Some(top) = self.held[t].last_mut().filter(|top| top.class == entry.class) {
                top.refs = top.refs.max(1) + refs.max(1);
                top.members.append(&mut entry.members);
                self.stats.merges += 1;
                return Ok(());
            }
        }
        entry.refs = refs;
        if let Some(nest) = entry.nest {
            if !self.held[t].iter().any(|e| e.map == nest) {
                return Err("nest lock not held".into());
            }
        }
        // Trylocks and unchecked locks are never validated; a chain is
        // validated once (a report leaves it unvalidated).
        if !entry.trylock && entry.check {
            let chain: Vec<Elem> = self.held[t].iter().map(elem).chain([elem(&entry)]).collect();
            if self.validated.contains(&chain) {
                self.stats.cache_hits += 1;
            } else if self.validate(t, &entry) {
                self.validated.insert(chain);
            }
        }
        self.held[t].push(entry);
        Ok(())
    }

    /// Validates `next` against the thread's held locks; false when a
    /// problem was found.
    fn validate(&mut self, t: usize, next: &Entry) -> bool {
        let held = self.held[t].clone();
        // The same-class check: the stack bottom up.
        let mut nest_seen = false;
        for prev in &held {
            if next.nest == Some(prev.map) {
                nest_seen = true;
            }
            if prev.class != next.class {
                continue;
            }
            if next.read == RR && prev.read != W {
                self.stats.read_exempt += 1;
                continue; // a recursive read under any read
            }
            if nest_seen {
                self.stats.nest_exempt += 1;
                return true; // serialised by the nest lock: no dependency either
            }
            let new = self.seen_recursive.insert((prev.class, next.class, prev.read, next.read));
            self.expect.push(Expect::Recursive { prev: (prev.class, prev.read), next: (next.class, next.read), new });
            self.problems += 1;
            return false;
        }
        // The prev-walk: from the top down, skipping unchecked entries,
        // through trylocked ones to and including the first blocking one.
        for prev in held.iter().rev() {
            if !prev.check {
                continue;
            }
            let ty = dep_type(prev.read, next.read);
            if strong_cycle(&self.deps, prev.class, next.class, ty, &|_, _| true) {
                let (prev, next) = ((prev.class, prev.read), (next.class, next.read));
                self.expect.push(Expect::Cycle { prev, next, ty, deps: self.deps.clone() });
                self.problems += 1;
                return false;
            }
            if prev.class == next.class || reaches(&self.deps, next.class, prev.class) {
                self.stats.weak_cycles += 1;
            }
            *self.deps.entry((prev.class, next.class)).or_default() |= 1 << ty;
            self.stats.replay_edges += u64::from(self.replaying);
            if !prev.trylock {
                break;
            }
            self.stats.trylock_edges += 1;
        }
        true
    }
}

/// Whether `from` reaches `to` through `deps` (any types).
fn reaches(deps: &Deps, from: Class, to: Class) -> bool {
    let mut seen = HashSet::from([from]);
    let mut todo = vec![from];
    while let Some(c) = todo.pop() {
        for &(a, b) in deps.keys() {
            if a == c {
                if b == to {
                    return true;
                }
                if seen.insert(b) {
                    todo.push(b);
                }
            }
        }
    }
    false
}

/// Whether the edge `prev -> next` of type `ty` closes a strong cycle over
/// the edges of `deps` that `allowed` admits: some walk `next -> .. -> prev`
/// and one type per hop such that each hop may follow the one before, the
/// first may follow `ty` and `ty` may follow the last (for `prev == next`,
/// the empty walk counts). Brute force over states (class, type of the hop
/// that arrived there): a fixpoint, four states per class.
fn strong_cycle(deps: &Deps, prev: Class, next: Class, ty: u8, allowed: &dyn Fn(Class, Class) -> bool) -> bool {
    let mut seen = HashSet::from([(next, ty)]);
    let mut todo = vec![(next, ty)];
    while let Some((c, arrived)) = todo.pop() {
        if c == prev && may_follow(arrived, ty) {
            return true;
        }
        for (&(a, b), &types) in deps {
            if a != c || !allowed(a, b) {
                continue;
            }
            for hop in [SR, ER, SN, EN] {
                if types & (1 << hop) != 0 && may_follow(arrived, hop) && seen.insert((b, hop)) {
                    todo.push((b, hop));
                }
            }
        }
    }
    false
}

/// Whether hops with the type sets `hops` (in order) can each be given one
/// type so that each may follow the one before (`before` for the first) and
/// `closing` may follow the last.
fn assignable(hops: &[u8], before: u8, closing: u8) -> bool {
    let Some((&types, rest)) = hops.split_first() else {
        return may_follow(before, closing);
    };
    (0..4u8).filter(|t| types & (1 << t) != 0).any(|t| may_follow(before, t) && assignable(rest, t, closing))
}

// ---------------------------------------------------------------------------
// Running operations through the hooks.

/// Calls the hooks of `op` (not `Remove`), spreading acquisitions over the
/// kernel-named shorthands; a query's answer.
fn run_hook(op: Op, map: &LockdepMap, nest: Option<&LockdepMap>) -> Option<bool> {
    match op {
        Op::Acquire { map: idx, sub, read, trylock, check, .. } => {
            match (check, nest, read, idx % 3) {
                (false, ..) => lockdep::lock_acquire_nocheck(map, sub, trylock, read),
                (true, Some(n), W, 0) => lockdep::mutex_acquire_nest(map, sub, trylock, n),
                (true, Some(n), W, _) => lockdep::spin_acquire_nest(map, sub, trylock, n),
                (true, Some(n), ..) => lockdep::lock_acquire(map, sub, trylock, read, Some(n)),
                (true, None, W, 0) => lockdep::mutex_acquire(map, sub, trylock),
                (true, None, W, 1) => lockdep::rwsem_acquire(map, sub, trylock),
                (true, None, W, _) if sub == 0 && !trylock => lockdep::lock_map_acquire(map),
                (true, None, W, _) => lockdep::spin_acquire(map, sub, trylock),
                (true, None, R, 0) => lockdep::lock_acquire(map, sub, trylock, R, None),
                (true, None, R, _) => lockdep::rwsem_acquire_read(map, sub, trylock),
                (true, None, RR, 0) if sub == 0 && !trylock => lockdep::lock_map_acquire_read(map),
                (true, None, RR, 1) => lockdep::lock_acquire(map, sub, trylock, RR, None),
                (true, None, RR, _) => lockdep::rwlock_acquire_read(map, sub, trylock),
            }
            None
        }
        Op::Release { map: idx, .. } => {
            match idx % 3 {
                0 => lockdep::lock_release(map),
                1 => lockdep::mutex_release(map),
                _ => lockdep::rwsem_release(map),
            }
            None
        }
        Op::Downgrade { .. } => {
            lockdep::lock_downgrade(map);
            None
        }
        Op::SetSubclass { sub, .. } => {
            lockdep::lock_set_subclass(map, sub);
            None
        }
        Op::Might { read, sub, .. } => {
            match (read, sub) {
                (W, 0) => lockdep::might_lock(map),
                (W, sub) => lockdep::might_lock_nested(map, sub),
                _ => lockdep::might_lock_read(map),
            }
            None
        }
        Op::Query { read: None, .. } => Some(lockdep::lock_is_held(map)),
        Op::Query { read, .. } => Some(lockdep::lock_is_held_type(map, read)),
        Op::Remove { .. } => unreachable!("the main thread removes keys"),
    }
}

/// Runs hooks, catching a panic (a validator bug) so that the worker
/// survives it and the case fails with the message.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
        let msg = e.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| e.downcast_ref::<String>().cloned());
        format!("hook panicked: {}", msg.unwrap_or_default())
    })
}

enum Msg {
    Begin(Validator),
    Op(Op, Arc<LockdepMap>, Option<Arc<LockdepMap>>),
    /// Ends the case; `true`: the thread must hold nothing in the validator.
    End(bool),
}

type Ack = Result<Option<bool>, String>;

/// A worker: per case, enters the case's validator scope and runs the
/// operations it is sent, acknowledging each.
fn worker(rx: Receiver<Msg>, ack: Sender<Ack>) {
    while let Ok(msg) = rx.recv() {
        let Msg::Begin(v) = msg else { panic!("worker protocol: expected Begin") };
        let end = v.scope(|| {
            loop {
                let done = match rx.recv().expect("main thread hung up mid-case") {
                    Msg::Op(op, map, nest) => guarded(|| run_hook(op, &map, nest.as_deref())),
                    Msg::End(empty) => {
                        let held = v.dump_held();
                        return if !empty || held.starts_with("no locks held") {
                            Ok(None)
                        } else {
                            Err(format!("the validator still tracks locks after the program:\n{held}"))
                        };
                    }
                    Msg::Begin(_) => panic!("worker protocol: Begin inside a case"),
                };
                ack.send(done).expect("main thread gone");
            }
        });
        drop(v);
        ack.send(end).expect("main thread gone");
    }
}

/// Long-lived worker threads, driven one operation at a time.
struct Workers {
    txs: Vec<Sender<Msg>>,
    acks: Vec<Receiver<Ack>>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    fn new() -> Workers {
        let (mut txs, mut acks, mut handles) = (Vec::new(), Vec::new(), Vec::new());
        for t in 0..THREADS {
            let (tx, rx) = channel();
            let (ack_tx, ack_rx) = channel();
            let h = std::thread::Builder::new()
                .name(format!("oracle-T{t}"))
                .spawn(move || worker(rx, ack_tx))
                .expect("spawn worker");
            txs.push(tx);
            acks.push(ack_rx);
            handles.push(h);
        }
        Workers { txs, acks, handles }
    }

    fn send(&self, t: usize, msg: Msg) -> Ack {
        self.txs[t].send(msg).expect("worker gone");
        self.acks[t].recv().expect("worker died").map_err(|e| format!("T{t}: {e}"))
    }

    fn begin(&self, v: &Validator) {
        for tx in &self.txs {
            tx.send(Msg::Begin(v.clone())).expect("worker gone");
        }
    }

    /// Runs `op` on its thread (or, for a removal, here in `v`'s scope).
    fn run(&self, op: Op, uni: &mut Universe, v: &Validator) -> Ack {
        let (t, map, nest) = match op {
            Op::Remove { key } => {
                v.scope(|| uni.remove(key));
                return Ok(None);
            }
            Op::Acquire { t, map, nest, .. } => (t, map, nest),
            Op::Release { t, map }
            | Op::Downgrade { t, map }
            | Op::SetSubclass { t, map, .. }
            | Op::Might { t, map, .. }
            | Op::Query { t, map, .. } => (t, map, None),
        };
        self.send(t, Msg::Op(op, uni.maps[map].clone(), nest.map(|n| uni.maps[n].clone())))
    }

    /// Ends the case on every worker.
    fn end(&self, empty: bool) -> Result<(), String> {
        (0..THREADS).map(|t| self.send(t, Msg::End(empty)).map(drop)).fold(Ok(()), Result::and)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.txs.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

// ---------------------------------------------------------------------------
// Checking the validator against the model.

/// The model's class named `name` by the validator (its current life).
fn class_named(model: &Model, name: &str) -> Option<Class> {
    let (base, sub) = match name.split_once('/') {
        Some((b, s)) => (b, s.parse().ok()?),
        None => (name, 0),
    };
    let key = NAMES.iter().position(|n| *n == base)?;
    Some(Class { key, life: model.life[key], sub })
}

fn lock_is(model: &Model, info: Option<&lockdep::LockInfo>, want: (Class, Read)) -> bool {
    info.is_some_and(|i| class_named(model, i.class()) == Some(want.0) && i.read() == want.1)
}

fn show(c: (Class, Read)) -> String {
    format!("{}({})", mode_name(c.1), c.0.name())
}

/// A cycle report: the classes of its closing dependency.
fn closes(model: &Model, r: &Report, prev: (Class, Read), next: (Class, Read)) -> bool {
    matches!(r.kind(), ReportKind::CircularDependency | ReportKind::RecursiveLocking)
        && r.chain().last().is_some_and(|s| {
            s.is_new()
                && class_named(model, s.from().class()) == Some(prev.0)
                && class_named(model, s.to().class()) == Some(next.0)
        })
}

/// Checks a cycle report against the model's graph at the time (`deps`):
/// a closed walk of existing dependencies with their exact types, strong,
/// and new; returns its key (the set of its dependencies).
fn check_cycle(
    model: &Model,
    r: &Report,
    prev: (Class, Read),
    next: (Class, Read),
    ty: u8,
    deps: &Deps,
) -> Result<Vec<(Class, Class)>, String> {
    let want_kind = if prev.0 == next.0 { ReportKind::RecursiveLocking } else { ReportKind::CircularDependency };
    if r.kind() != want_kind {
        return Err(format!("a cycle reported as {:?}:\n{r}", r.kind()));
    }
    let (last, path) = r.chain().split_last().expect("closes() saw a chain");
    if last.from().read() != prev.1 || last.to().read() != next.1 || last.types().bits() != 1 << ty {
        return Err(format!("the closing dependency is not {} -> {}:\n{r}", show(prev), show(next)));
    }
    let mut at = next.0;
    let mut hops = Vec::new();
    let mut key = vec![(prev.0, next.0)];
    for s in path {
        let (from, to) = (class_named(model, s.from().class()), class_named(model, s.to().class()));
        let (Some(from), Some(to)) = (from, to) else { return Err(format!("unknown class in\n{r}")) };
        if from != at {
            return Err(format!("the chain is not a walk at {}:\n{r}", from.name()));
        }
        let types = deps.get(&(from, to)).copied().unwrap_or(0);
        if s.types().bits() != types {
            return Err(format!(
                "{} -> {} has types {} in the report, {types:04b} in the model:\n{r}",
                from.name(),
                to.name(),
                s.types()
            ));
        }
        hops.push(types);
        key.push((from, to));
        at = to;
    }
    if at != prev.0 {
        return Err(format!("the chain does not end at {}:\n{r}", prev.0.name()));
    }
    if !assignable(&hops, ty, ty) {
        return Err(format!("the reported cycle is not strong:\n{r}"));
    }
    key.sort();
    Ok(key)
}

/// Counts over every case run (shrinking included).
#[derive(Default)]
struct Tally {
    cases: Cell<u64>,
    ops: Cell<u64>,
    /// Cases where the model found a problem, and cases where it found none.
    with_problems: Cell<u64>,
    clean: Cell<u64>,
    recursive: Cell<u64>,
    recursive_dup: Cell<u64>,
    cycles: Cell<u64>,
    cycle_dup: Cell<u64>,
    queries: Cell<u64>,
    model: Cell<ModelStats>,
}

impl Tally {
    fn add(&self, s: &ModelStats) {
        let mut t = self.model.get();
        t.weak_cycles += s.weak_cycles;
        t.trylock_edges += s.trylock_edges;
        t.replay_edges += s.replay_edges;
        t.cache_hits += s.cache_hits;
        t.merges += s.merges;
        t.nest_exempt += s.nest_exempt;
        t.read_exempt += s.read_exempt;
        t.nocheck += s.nocheck;
        t.downgrades_above += s.downgrades_above;
        t.set_subclass_above += s.set_subclass_above;
        t.unregisters += s.unregisters;
        t.dynamic_drops += s.dynamic_drops;
        t.might += s.might;
        t.queries_held += s.queries_held;
        self.model.set(t);
    }
}

/// Matches the reports of one operation, in order, with the model's problems.
fn check_reports(
    model: &Model,
    reports: &[Report],
    seen_cycles: &mut HashSet<Vec<(Class, Class)>>,
    tally: &Tally,
) -> Result<(), String> {
    let mut rest = reports.iter().peekable();
    for e in &model.expect {
        match e {
            Expect::Recursive { new: false, .. } => bump(&tally.recursive_dup, 1),
            Expect::Recursive { prev, next, new: true } => {
                let Some(r) = rest.next() else {
                    return Err(format!(
                        "no report; expected recursive locking: {} while holding {}",
                        show(*next),
                        show(*prev)
                    ));
                };
                if r.kind() != ReportKind::RecursiveLocking
                    || !r.chain().is_empty()
                    || !lock_is(model, r.lock(), *next)
                    || !lock_is(model, r.other(), *prev)
                {
                    return Err(format!(
                        "expected recursive locking: {} while holding {}; got:\n{r}",
                        show(*next),
                        show(*prev)
                    ));
                }
                bump(&tally.recursive, 1);
            }
            Expect::Cycle { prev, next, ty, deps } => {
                if let Some(r) = rest.next_if(|r| closes(model, r, *prev, *next)) {
                    let key = check_cycle(model, r, *prev, *next, *ty, deps)?;
                    if !seen_cycles.insert(key) {
                        return Err(format!("the same cycle was reported twice:\n{r}"));
                    }
                    bump(&tally.cycles, 1);
                } else {
                    // Continue mode reports a cycle once: silence is right only
                    // if an earlier report's dependencies close a strong cycle
                    // with this one.
                    let dup = seen_cycles.iter().any(|k| {
                        k.contains(&(prev.0, next.0))
                            && strong_cycle(deps, prev.0, next.0, *ty, &|a, b| k.contains(&(a, b)))
                    });
                    if !dup {
                        return Err(format!(
                            "{} -> {} closes a strong cycle, not reported before; got {}",
                            show(*prev),
                            show(*next),
                            rest.peek().map_or_else(|| "no report".to_owned(), |r| format!("\n{r}"))
                        ));
                    }
                    bump(&tally.cycle_dup, 1);
                }
            }
        }
    }
    match rest.next() {
        Some(r) => Err(format!("unexpected report:\n{r}")),
        None => Ok(()),
    }
}

/// The validator's classes and typed dependencies, read back from its DOT dump.
fn engine_graph(v: &Validator, model: &Model) -> Result<(BTreeSet<Class>, Deps), String> {
    let dot = v.dump_dot();
    let label = |attrs: &str| attrs.split("label=\"").nth(1).and_then(|s| s.split('"').next()).map(str::to_owned);
    let mut nodes: HashMap<String, Class> = HashMap::new();
    let mut deps = Deps::new();
    for line in dot.lines().map(str::trim) {
        let Some(open) = line.find('[') else { continue };
        let head = line[..open].trim();
        let text = label(&line[open + 1..]).ok_or_else(|| format!("no label: {line}"))?;
        match head.split_once("->") {
            None => {
                let class = class_named(model, &text).ok_or_else(|| format!("unknown class {text}"))?;
                nodes.insert(head.to_owned(), class);
            }
            Some((a, b)) => {
                let (a, b) = (nodes[a.trim()], nodes[b.trim()]);
                let mut bits = 0;
                for t in text.split('|') {
                    bits |= 1 << ["SR", "ER", "SN", "EN"].iter().position(|n| *n == t).ok_or(format!("type {t}"))?;
                }
                if deps.insert((a, b), bits).is_some() {
                    return Err(format!("two edges {} -> {}", a.name(), b.name()));
                }
            }
        }
    }
    Ok((nodes.into_values().collect(), deps))
}

fn show_deps(deps: &Deps) -> String {
    deps.iter().map(|((a, b), t)| format!("{}->{}:{t:04b}", a.name(), b.name())).collect::<Vec<_>>().join(" ")
}

/// The validator's classes and dependencies equal the model's.
fn compare_graph(v: &Validator, model: &Model) -> Result<(), String> {
    let (classes, deps) = engine_graph(v, model)?;
    if classes != model.registered {
        let names = |s: &BTreeSet<Class>| s.iter().map(|c| c.name()).collect::<Vec<_>>().join(" ");
        return Err(format!("classes: validator [{}], model [{}]", names(&classes), names(&model.registered)));
    }
    if deps != model.deps {
        return Err(format!(
            "dependencies (types as SN,SN,ER,SR bits):\n validator {}\n model     {}",
            show_deps(&deps),
            show_deps(&model.deps)
        ));
    }
    Ok(())
}

/// Runs `prog` under a continue-mode validator, checking every operation
/// against the model; returns the operation of the model's first problem.
fn run_continue(
    workers: &Workers,
    keys: &'static [LockClassKey],
    prog: &Program,
    tally: &Tally,
) -> Result<Option<usize>, String> {
    let mut uni = Universe::new(keys);
    let v = Validator::new(Config::collect().with_backtraces(false));
    workers.begin(&v);
    let mut model = Model::new(prog.threads);
    let mut seen_cycles = HashSet::new();
    let mut first = None;
    let mut run = || -> Result<(), String> {
        for (i, &op) in prog.ops.iter().enumerate() {
            let at = |e: String| format!("#{i} ({op}): {e}");
            if let Op::Remove { .. } = op {
                compare_graph(&v, &model).map_err(|e| at(format!("before the removal: {e}")))?;
            }
            let want = model.step(op).map_err(|e| at(format!("the model rejects the program: {e}")))?;
            let got = workers.run(op, &mut uni, &v).map_err(at)?;
            if got != want {
                return Err(at(format!("held-lock query answered {got:?}, the model {want:?}")));
            }
            bump(&tally.queries, u64::from(want.is_some()));
            if !model.expect.is_empty() && first.is_none() {
                first = Some(i);
            }
            check_reports(&model, &v.take_reports(), &mut seen_cycles, tally).map_err(at)?;
        }
        compare_graph(&v, &model).map_err(|e| format!("after the program: {e}"))
    };
    let outcome = run();
    let end = workers.end(outcome.is_ok());
    v.scope(|| drop(uni)); // freeing the maps must report nothing
    outcome?;
    end?;
    if let Some(r) = v.take_reports().first() {
        return Err(format!("reported after the program:\n{r}"));
    }
    tally.add(&model.stats);
    Ok(first)
}

/// Runs `prog` under a one-shot validator up to the model's first problem
/// (`first`), which must be where it reports, once.
fn run_one_shot(
    workers: &Workers,
    keys: &'static [LockClassKey],
    prog: &Program,
    first: Option<usize>,
) -> Result<(), String> {
    let mut uni = Universe::new(keys);
    let v = Validator::new(Config::kernel().with_backtraces(false));
    workers.begin(&v);
    let mut got = None;
    let mut outcome = Ok(());
    for (i, &op) in prog.ops.iter().enumerate().take(first.map_or(usize::MAX, |f| f + 1)) {
        if let Err(e) = workers.run(op, &mut uni, &v) {
            outcome = Err(format!("#{i} ({op}): {e}"));
            break;
        }
        if !v.reports().is_empty() {
            got = Some(i);
            break;
        }
    }
    let end = workers.end(first.is_none() && outcome.is_ok());
    v.scope(|| drop(uni));
    outcome?;
    end?;
    let at = |i: Option<usize>| i.map_or_else(|| "never".to_owned(), |i| format!("at #{i} ({})", prog.ops[i]));
    if got != first {
        return Err(format!("one-shot: first report {}, the model's first problem {}", at(got), at(first)));
    }
    match v.reports().len() {
        0 | 1 => Ok(()),
        n => Err(format!("one-shot validator reported {n} times")),
    }
}

fn run_program(workers: &Workers, keys: &'static [LockClassKey], prog: &Program, tally: &Tally) -> Result<(), String> {
    bump(&tally.cases, 1);
    bump(&tally.ops, prog.ops.len() as u64);
    let first = run_continue(workers, keys, prog, tally)?;
    bump(if first.is_some() { &tally.with_problems } else { &tally.clean }, 1);
    run_one_shot(workers, keys, prog, first)
}

#[test]
fn programs_match_the_model() {
    let config = proptest_config(cases(8_000));
    let keys = leak_keys();
    let workers = Workers::new();
    let tally = Tally::default();
    check(config, program(), |prog| run_program(&workers, keys, &prog, &tally).map_err(TestCaseError::fail));
    let s = tally.model.get();
    let n = tally.cases.get();
    eprintln!(
        "oracle programs: {n} cases, {} operations, {} with a problem, {} without; reports: {} recursive ({} more \
         deduplicated), {} cycles ({} more deduplicated); {} queries ({} held). Model: weak cycles accepted {}, \
         trylock edges {}, replay edges {}, chain-cache hits {}, nest merges {}, nest exemptions {}, read \
         exemptions {}, unchecked {}, downgrades / set_subclass with locks above {} / {}, removals static / \
         dynamic {} / {}, might_lock {}",
        tally.ops.get(),
        tally.with_problems.get(),
        tally.clean.get(),
        tally.recursive.get(),
        tally.recursive_dup.get(),
        tally.cycles.get(),
        tally.cycle_dup.get(),
        tally.queries.get(),
        s.queries_held,
        s.weak_cycles,
        s.trylock_edges,
        s.replay_edges,
        s.cache_hits,
        s.merges,
        s.nest_exempt,
        s.read_exempt,
        s.nocheck,
        s.downgrades_above,
        s.set_subclass_above,
        s.unregisters,
        s.dynamic_drops,
        s.might,
    );
    assert!(n > 0, "no case ran (PROPTEST_CASES=0?): the property was not checked");
    // The generator must keep exercising what the property is about.
    assert!(tally.with_problems.get() * 20 >= n, "fewer than 5% of the cases have a problem");
    assert!(tally.clean.get() * 20 >= n, "fewer than 5% of the cases are clean");
    if n >= 1_000 {
        let all = [
            ("recursive reports", tally.recursive.get()),
            ("deduplicated recursive problems", tally.recursive_dup.get()),
            ("cycle reports", tally.cycles.get()),
            ("deduplicated cycles", tally.cycle_dup.get()),
            ("weak cycles", s.weak_cycles),
            ("trylock edges", s.trylock_edges),
            ("replay edges", s.replay_edges),
            ("chain-cache hits", s.cache_hits),
            ("nest merges", s.merges),
            ("nest exemptions", s.nest_exempt),
            ("read exemptions", s.read_exempt),
            ("unchecked acquisitions", s.nocheck),
            ("downgrades with locks above", s.downgrades_above),
            ("set_subclass with locks above", s.set_subclass_above),
            ("unregistered keys", s.unregisters),
            ("dropped dynamic keys", s.dynamic_drops),
            ("might_lock", s.might),
            ("queries of held locks", s.queries_held),
        ];
        for (what, count) in all {
            assert!(count > 0, "the generator produced no {what}");
        }
    }
}

// ---------------------------------------------------------------------------
// The rules' worked examples.

/// A named program and the operation of its first problem.
type Example = (&'static str, Vec<Op>, Option<usize>);

#[test]
fn spec_examples_agree_with_the_model() {
    needs_validation();
    // Instance 0 of key k is map 2k, instance 1 is map 2k + 1.
    let acq = |t, k: usize, read| Op::Acquire { t, map: 2 * k, sub: 0, read, trylock: false, check: true, nest: None };
    let acq_i = |t, map, sub, read| Op::Acquire { t, map, sub, read, trylock: false, check: true, nest: None };
    let try_acq =
        |t, k: usize, read| Op::Acquire { t, map: 2 * k, sub: 0, read, trylock: true, check: true, nest: None };
    let nocheck =
        |t, k: usize| Op::Acquire { t, map: 2 * k, sub: 0, read: W, trylock: false, check: false, nest: None };
    let nest = |t, map, outer| Op::Acquire { t, map, sub: 0, read: W, trylock: false, check: true, nest: Some(outer) };
    let unlock = |t, k: usize| Op::Release { t, map: 2 * k };
    let unlock_i = |t, map| Op::Release { t, map };
    #[rustfmt::skip]
    let examples: Vec<Example> = vec![
        ("ABBA", vec![acq(0, 0, W), acq(0, 1, W), unlock(0, 1), unlock(0, 0),
                      acq(1, 1, W), acq(1, 0, W)], Some(5)),
        // RL(X); L(Y) + L(Y); RL(X) is safe (rlock_ABBA2).
        ("rlock_ABBA2", vec![acq(0, 0, RR), acq(0, 1, W), unlock(0, 1), unlock(0, 0),
                             acq(1, 1, W), acq(1, 0, RR)], None),
        // RSL(X); ML(Y) + ML(Y); RSL(X) deadlocks with a queued writer (rwsem_ABBA2).
        ("rwsem_ABBA2", vec![acq(0, 0, R), acq(0, 1, W), unlock(0, 1), unlock(0, 0),
                             acq(1, 1, W), acq(1, 0, R)], Some(5)),
        // After L(Y); RL(X) is cached, L(Y); WL(X) is validated (rlock_chaincache_ABBA1).
        ("rlock_chaincache_ABBA1", vec![acq(0, 0, RR), acq(0, 1, W), unlock(0, 1), unlock(0, 0),
                                        acq(0, 1, W), acq(0, 0, RR), unlock(0, 0), unlock(0, 1),
                                        acq(0, 1, W), acq(0, 0, W)], Some(9)),
        // N -ER-> P, N -EN-> D -EN-> P, then P(R) -> N(W): a strong cycle
        // through D that a per-class-visited BFS misses.
        ("weak arrival first", vec![acq(0, 0, W), acq(0, 1, RR), unlock(0, 1), unlock(0, 0),
                                    acq(0, 0, W), acq(0, 2, W), unlock(0, 2), unlock(0, 0),
                                    acq(0, 2, W), acq(0, 1, W), unlock(0, 1), unlock(0, 2),
                                    acq(0, 1, R), acq(0, 0, W)], Some(13)),
        // Types accumulate on an edge: ER alone would make the cycle weak, EN makes it strong.
        ("accumulated types", vec![acq(0, 0, W), acq(0, 1, RR), unlock(0, 1), unlock(0, 0),
                                   acq(0, 0, W), acq(0, 1, W), unlock(0, 1), unlock(0, 0),
                                   acq(1, 1, R), acq(1, 0, W)], Some(9)),
        // W(A); T(B); W(C) records B -> C and A -> C.
        ("trylock walk", vec![acq(0, 0, W), try_acq(0, 1, W), acq(0, 2, W),
                              unlock(0, 2), unlock(0, 1), unlock(0, 0),
                              acq(1, 2, W), acq(1, 0, W)], Some(7)),
        // Releasing B from A, RR(B), C replays C and records A -EN-> C.
        ("replay edge", vec![acq(0, 0, W), acq(0, 1, RR), acq(0, 2, W), unlock(0, 1),
                             unlock(0, 2), unlock(0, 0), acq(1, 2, W), acq(1, 0, W)], Some(7)),
        // ... and the replay itself can report.
        ("replay report", vec![acq(1, 2, W), acq(1, 0, W), unlock(1, 0), unlock(1, 2),
                               acq(0, 0, W), acq(0, 1, RR), acq(0, 2, W), unlock(0, 1)], Some(7)),
        // In the kernel the chain id has no trylock bit, so W(A) try-RR(B) W(C)
        // hits the chain cached by W(A) RR(B) W(C), A -EN-> C is never recorded
        // and the C -> A inversion goes unreported. Our chain ids keep the bit.
        ("trylock chain-cache hit", vec![acq(0, 0, W), acq(0, 1, RR), acq(0, 2, W), unlock(0, 2),
                                         unlock(0, 1), try_acq(0, 1, RR), acq(0, 2, W), unlock(0, 2),
                                         unlock(0, 1), unlock(0, 0), acq(1, 2, W), acq(1, 0, W)],
         Some(11)),
        // Recursive reads: RR under R of the same class is fine, R under R is not.
        ("read after read", vec![acq_i(0, 0, 0, R), acq_i(0, 1, 0, RR), unlock_i(0, 1),
                                 acq_i(0, 1, 0, R)], Some(3)),
        ("recursive read after write", vec![acq_i(0, 0, 0, W), acq_i(0, 1, 0, RR)], Some(1)),
        // Subclasses are classes: K0 then K0/1 is fine.
        ("subclass nesting", vec![acq_i(0, 0, 0, W), acq_i(0, 1, 1, W), unlock_i(0, 1), unlock_i(0, 0)], None),
        // W(P) W(Y1, nest P) W(B) W(Y2, nest P): exempted, and no B -> Y
        // (the graphs are compared).
        ("nest lock with a lock between", vec![acq(0, 0, W), nest(0, 2, 0), acq(0, 2, W), nest(0, 3, 0),
                                               unlock_i(0, 3), unlock(0, 2), unlock_i(0, 2), unlock(0, 0)],
         None),
        // Unchecked locks: no recursion check, no dependency into or out of
        // them (C then A would close A -> C).
        ("nocheck", vec![acq(0, 1, W), nocheck(0, 0), nocheck(0, 0), acq(0, 2, W), unlock(0, 2),
                         unlock(0, 0), unlock(0, 0), unlock(0, 1), acq(1, 2, W), acq(1, 0, W)], None),
        // set_subclass re-validates the lock above: K1 -> K0/1 exists, K0/1 -> K1 closes it.
        ("set_subclass above", vec![acq(1, 1, W), acq_i(1, 0, 1, W), unlock_i(1, 0), unlock(1, 1),
                                    acq(0, 0, W), acq(0, 1, W), Op::SetSubclass { t: 0, map: 0, sub: 1 }],
         Some(6)),
        // downgrade re-validates the lock above: K0 -> K1 gains SN (the graphs are compared).
        ("downgrade above", vec![acq(0, 0, W), acq(0, 1, R), Op::Downgrade { t: 0, map: 0 },
                                 unlock(0, 1), unlock(0, 0)], None),
    ];
    let keys = leak_keys();
    let workers = Workers::new();
    let tally = Tally::default();
    for (name, ops, expected) in examples {
        let prog = Program { threads: THREADS, ops };
        let mut model = Model::new(THREADS);
        let mut first = None;
        for (i, &op) in prog.ops.iter().enumerate() {
            model.step(op).unwrap_or_else(|e| panic!("{name}: #{i} ({op}) is ill-formed: {e}"));
            if !model.expect.is_empty() && first.is_none() {
                first = Some(i);
            }
        }
        assert_eq!(first, expected, "{name}: the model's first problem\n{prog:?}");
        // The validator gets the program completed (everything released).
        let mut ops = prog.ops.clone();
        release_all(&mut model, &mut ops);
        let prog = Program { ops, ..prog };
        let got = run_continue(&workers, keys, &prog, &tally).unwrap_or_else(|e| panic!("{name}: {e}\n{prog:?}"));
        assert_eq!(got, expected);
        run_one_shot(&workers, keys, &prog, expected).unwrap_or_else(|e| panic!("{name}: {e}\n{prog:?}"));
    }
    assert!(tally.cycles.get() > 0 && tally.recursive.get() > 0);
}

// ---------------------------------------------------------------------------
// Real threads at once, one global lock order.

/// Per-thread programs (with each query's answer) that take locks in one
/// global class order.
#[derive(Clone)]
struct Ordered {
    threads: Vec<Vec<(Op, Option<bool>)>>,
}

impl fmt::Debug for Ordered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (t, ops) in self.threads.iter().enumerate() {
            writeln!(f, "  T{t}: {}", ops.iter().map(|(op, _)| op.to_string()).collect::<Vec<_>>().join("; "))?;
        }
        Ok(())
    }
}

/// Makes `raw` (thread `t`'s operations) well-formed and ordered: a lock is
/// taken only above every class the thread holds (or merged into the top
/// entry under a nest lock), set_subclass keeps the stack in order, no key
/// is removed.
fn normalize_ordered(raw: &[Raw], t: usize) -> Vec<(Op, Option<bool>)> {
    let mut model = Model::new(THREADS);
    let mut ops = Vec::new();
    for r in raw {
        let held = &model.held[t];
        let top = held.iter().map(|e| e.class).max();
        let above = |map: usize, sub: u32| top.is_none_or(|c| model.class_of(map, sub) > c);
        let op = match *r {
            Raw::Acquire { map, sub, read, trylock, check, nest, .. } => {
                let nest = nest.filter(|_| check && sub == 0 && !held.is_empty()).map(|i| held[i % held.len()].map);
                let merges = nest.is_some() && held.last().is_some_and(|e| e.class == model.class_of(map, sub));
                (above(map, sub) || merges).then_some(Op::Acquire { t, map, sub, read, trylock, check, nest })
            }
            Raw::Might { map, read, sub, .. } => above(map, sub).then_some(Op::Might { t, map, read, sub }),
            Raw::Query { map, read, .. } => Some(Op::Query { t, map, read }),
            Raw::Release { pick, .. } | Raw::Downgrade { pick, .. } | Raw::SetSubclass { pick, .. } => {
                let acq = acquisitions(&model, t);
                (!acq.is_empty()).then_some(()).and_then(|()| {
                    let map = acq[acq.len() - 1 - pick % acq.len()];
                    match *r {
                        Raw::Release { .. } => Some(Op::Release { t, map }),
                        Raw::Downgrade { .. } => Some(Op::Downgrade { t, map }),
                        Raw::SetSubclass { sub, .. } => {
                            let i = model.find(t, map)?;
                            let class = model.class_of(map, sub);
                            let below = i.checked_sub(1).map(|j| held[j].class);
                            let after = held.get(i + 1).map(|e| e.class);
                            let fits = below.is_none_or(|b| b < class) && after.is_none_or(|a| class < a);
                            fits.then_some(Op::SetSubclass { t, map, sub })
                        }
                        _ => unreachable!(),
                    }
                })
            }
            Raw::Skip | Raw::Remove { .. } => None,
        };
        if let Some(op) = op {
            let mut trial = model.clone();
            if let Ok(answer) = trial.step(op) {
                assert!(trial.expect.is_empty(), "an ordered program has a problem at {op}");
                model = trial;
                ops.push((op, answer));
            }
        }
    }
    let mut tail = Vec::new();
    release_all(&mut model, &mut tail);
    ops.extend(tail.into_iter().map(|op| (op, None)));
    ops
}

fn ordered_programs() -> impl Strategy<Value = Ordered> {
    (2..=KEYS, 2..=THREADS)
        .prop_flat_map(|(keys, threads)| {
            prop::collection::vec(prop::collection::vec(raw_op(keys, 1), 4..=MAX_OPS / 2), threads)
        })
        .prop_map(|raw| Ordered { threads: raw.iter().enumerate().map(|(t, r)| normalize_ordered(r, t)).collect() })
}

/// Times each thread runs its program (they end with nothing held).
const REPEAT: usize = 8;

fn run_ordered(keys: &'static [LockClassKey], case: &Ordered) -> Result<(), String> {
    let uni = Universe::new(keys);
    let v = Validator::new(Config::collect().with_backtraces(false));
    let start = Barrier::new(case.threads.len());
    let outcomes: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = case
            .threads
            .iter()
            .enumerate()
            .map(|(t, ops)| {
                let (uni, v, start) = (&uni, &v, &start);
                std::thread::Builder::new()
                    .name(format!("ordered-T{t}"))
                    .spawn_scoped(s, move || {
                        v.scope(|| {
                            start.wait();
                            for _ in 0..REPEAT {
                                for &(op, want) in ops {
                                    let nest = match op {
                                        Op::Acquire { nest, .. } => nest.map(|n| &*uni.maps[n]),
                                        _ => None,
                                    };
                                    let map = match op {
                                        Op::Acquire { map, .. }
                                        | Op::Release { map, .. }
                                        | Op::Downgrade { map, .. }
                                        | Op::SetSubclass { map, .. }
                                        | Op::Might { map, .. }
                                        | Op::Query { map, .. } => map,
                                        Op::Remove { .. } => unreachable!(),
                                    };
                                    let got = guarded(|| run_hook(op, &uni.maps[map], nest))?;
                                    if got != want {
                                        return Err(format!("T{t}: {op} answered {got:?}, the model {want:?}"));
                                    }
                                }
                            }
                            Ok(())
                        })
                    })
                    .expect("spawn")
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into()))).collect()
    });
    outcomes.into_iter().collect::<Result<(), String>>()?;
    if let Some(r) = v.reports().first() {
        return Err(format!("a globally ordered program was reported:\n{r}"));
    }
    // The same classes and dependencies as the threads one after another.
    let mut model = Model::new(THREADS);
    for ops in &case.threads {
        for &(op, _) in ops {
            model.step(op).map_err(|e| format!("model: {op}: {e}"))?;
            assert!(model.expect.is_empty());
        }
    }
    compare_graph(&v, &model)?;
    v.scope(|| drop(uni));
    Ok(())
}

#[test]
fn concurrent_programs_match_the_model() {
    let config = proptest_config(cases(300));
    let keys = leak_keys();
    let ran = Cell::new(0u64);
    let deps = Cell::new(0u64);
    check(config, ordered_programs(), |case| {
        bump(&ran, 1);
        run_ordered(keys, &case).map_err(TestCaseError::fail)?;
        bump(&deps, 1);
        Ok(())
    });
    eprintln!("oracle concurrent: {} cases", ran.get());
    assert!(ran.get() > 0, "no case ran (PROPTEST_CASES=0?): the property was not checked");
    assert!(deps.get() > 0);
}

// ---------------------------------------------------------------------------
// Random graphs against a plain DFS.

/// Classes available to the graph property.
const GRAPH_CLASSES: usize = 1000;

fn graph_maps() -> &'static [LockdepMap] {
    static MAPS: std::sync::OnceLock<&'static [LockdepMap]> = std::sync::OnceLock::new();
    MAPS.get_or_init(|| {
        let keys: &'static [LockClassKey] = Box::leak((0..GRAPH_CLASSES).map(|_| LockClassKey::new()).collect());
        Box::leak(keys.iter().enumerate().map(|(i, k)| LockdepMap::new(format!("g{i}").leak(), k)).collect())
    })
}

/// Edges `a -> b` to add in order, over classes `0..n`.
#[derive(Clone)]
struct GraphCase {
    n: usize,
    edges: Vec<(usize, usize)>,
}

impl fmt::Debug for GraphCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} classes, edges in order: {:?}", self.n, self.edges)
    }
}

/// A prefix of forward edges (`a < b`, added in random order: acyclic, so
/// long paths build up while the insertion order keeps contradicting any
/// topological order found so far), then a few arbitrary edges that may close
/// a cycle through it. A small share of the prefix is arbitrary too, so
/// cycles can also close early.
fn graph_case() -> impl Strategy<Value = GraphCase> {
    (2..=GRAPH_CLASSES)
        .prop_flat_map(|n| {
            let prefix = (0..n, 0..n, prop::bool::weighted(0.995));
            let probes = (0..n, 0..n, prop::bool::ANY);
            (Just(n), prop::collection::vec(prefix, 0..=3 * n), prop::collection::vec(probes, 1..=8))
        })
        .prop_map(|(n, prefix, probes)| {
            let prefix = prefix.into_iter().map(|(a, b, forward)| if forward { (a.min(b), a.max(b)) } else { (a, b) });
            // A probe is either a backward edge (it closes a cycle iff the
            // prefix made `min` reach `max`) or an arbitrary one.
            let probes = probes.into_iter().map(|(a, b, back)| if back { (a.max(b), a.min(b)) } else { (a, b) });
            let edges = prefix.chain(probes).filter(|&(a, b)| a != b).collect();
            GraphCase { n, edges }
        })
}

/// Whether `from` reaches `to` in `adj` (iterative DFS).
fn dfs_reaches(adj: &[Vec<usize>], from: usize, to: usize, seen: &mut [bool]) -> bool {
    seen.iter_mut().for_each(|s| *s = false);
    let mut stack = vec![from];
    seen[from] = true;
    while let Some(c) = stack.pop() {
        if c == to {
            return true;
        }
        for &d in &adj[c] {
            if !seen[d] {
                seen[d] = true;
                stack.push(d);
            }
        }
    }
    false
}

/// Totals over every graph case run.
#[derive(Default)]
struct GraphTotals {
    cases: Cell<u64>,
    reported: Cell<u64>,
    edges: Cell<u64>,
    max_edges: Cell<u64>,
}

fn run_graph(case: &GraphCase, totals: &GraphTotals) -> Result<(), TestCaseError> {
    let maps = graph_maps();
    let v = Validator::new(Config::kernel().with_backtraces(false));
    let mut adj = vec![Vec::new(); case.n];
    let mut seen = vec![false; case.n];
    let mut added = 0;
    bump(&totals.cases, 1);
    let result = v.scope(|| {
        for (i, &(a, b)) in case.edges.iter().enumerate() {
            let expected = dfs_reaches(&adj, b, a, &mut seen);
            lockdep::mutex_acquire(&maps[a], 0, false);
            lockdep::mutex_acquire(&maps[b], 0, false);
            let got = !v.reports().is_empty();
            lockdep::mutex_release(&maps[b]);
            lockdep::mutex_release(&maps[a]);
            prop_assert_eq!(got, expected, "edge #{} g{} -> g{}: reported {}, b reaches a {}", i, a, b, got, expected);
            if got {
                bump(&totals.reported, 1);
                let r = &v.reports()[0];
                prop_assert_eq!(r.kind(), ReportKind::CircularDependency, "report:\n{}", r);
                break;
            }
            if !adj[a].contains(&b) {
                adj[a].push(b);
                added += 1;
            }
        }
        Ok(())
    });
    bump(&totals.edges, added);
    totals.max_edges.set(totals.max_edges.get().max(added));
    result
}

#[test]
fn random_graphs_match_dfs_oracle() {
    let totals = GraphTotals::default();
    check(proptest_config(cases(200)), graph_case(), |case| run_graph(&case, &totals));
    eprintln!(
        "oracle graphs: {} cases, {} closed a cycle; {} edges added in all, at most {} in one case",
        totals.cases.get(),
        totals.reported.get(),
        totals.edges.get(),
        totals.max_edges.get()
    );
    assert!(totals.cases.get() > 0, "no case ran (PROPTEST_CASES=0?): the property was not checked");
    assert!(totals.reported.get() > 0, "no graph case closed a cycle");
}
