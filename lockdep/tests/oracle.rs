//! Property-based checks of the validator against brute-force oracles (issue 8).
//!
//! * `programs_match_strong_cycle_oracle`: random well-formed programs of
//!   acquire / release / trylock in all three read modes, over up to 6 classes
//!   and 3 real threads, interleaved in a random but deterministic global
//!   order (the main thread hands one operation at a time to long-lived
//!   workers and waits for each). An independent simulation (held stacks,
//!   typed dependency graph, the prev-walk, the chain cache, the replay after
//!   a non-top release) enumerates every simple cycle each new dependency
//!   would close and applies the strong-path rule of spec §2.7 by trying every
//!   choice of one type per edge. The validator's first report must come at
//!   exactly the operation where the oracle's first strong cycle appears, and
//!   be a circular dependency.
//! * `spec_examples_agree_with_oracle`: the spec's worked examples, run through
//!   the oracle (checking the oracle itself) and the validator.
//! * `random_graphs_match_dfs_oracle`: random exclusive-only graphs of up to
//!   1,000 classes, built pair by pair on one thread; adding `a -> b` must be
//!   reported iff `b` already reaches `a` (a plain DFS).
//!
//! The oracle models the chain cache too. The kernel's chain id is the
//! (class, mode) sequence without the trylock bit (spec §2.4), which made the
//! cache observable: a blocking acquisition whose stack differed from a cached
//! one only in which entries were trylocked was not validated, and the
//! dependencies its prev-walk would have added through the trylocked entries
//! were never recorded — a missed deadlock (the "trylock chain-cache hit"
//! example, found by this test). The validator's chain ids now include the
//! trylock bit, and the property checks that the cache never changes a
//! verdict.
//!
//! All tests compile, and return at once, when validation is compiled out.
//! `PROPTEST_CASES` overrides the case counts for longer local runs.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use lockdep::{Config, LockClassKey, LockdepMap, Read, ReportKind, Validator};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestError, TestRunner};

/// Lock classes a program uses (one map per class).
const CLASSES: usize = 6;
/// Threads a program runs on.
const THREADS: usize = 3;
/// Longest generated program (before dropping ill-formed operations).
const MAX_OPS: usize = 24;

static KEYS: [LockClassKey; CLASSES] = [const { LockClassKey::new() }; CLASSES];
static MAPS: [LockdepMap; CLASSES] = [
    LockdepMap::new("L0", &KEYS[0]),
    LockdepMap::new("L1", &KEYS[1]),
    LockdepMap::new("L2", &KEYS[2]),
    LockdepMap::new("L3", &KEYS[3]),
    LockdepMap::new("L4", &KEYS[4]),
    LockdepMap::new("L5", &KEYS[5]),
];

/// Cases for a property: `PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn proptest_config(cases: u32) -> ProptestConfig {
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

// ---------------------------------------------------------------------------
// Programs.

/// One operation of a well-formed program.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Thread `t` acquires class `class` (blocking unless `trylock`).
    Acquire { t: usize, class: usize, read: Read, trylock: bool },
    /// Thread `t` releases class `class`, which it holds (maybe not on top).
    Release { t: usize, class: usize },
}

fn mode_name(read: Read) -> &'static str {
    match read {
        Read::Exclusive => "W",
        Read::Shared => "R",
        Read::SharedRecursive => "RR",
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Acquire { t, class, read, trylock } => {
                write!(f, "T{t}: {}{}(L{class})", if trylock { "try " } else { "" }, mode_name(read))
            }
            Op::Release { t, class } => write!(f, "T{t}: unlock L{class}"),
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
struct Program(Vec<Op>);

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, op) in self.0.iter().enumerate() {
            writeln!(f, "  #{i:<2} {op}")?;
        }
        Ok(())
    }
}

/// A generated operation before it is made well-formed.
#[derive(Clone, Copy, Debug)]
enum Raw {
    /// Nothing: what shrinking turns an operation into to drop it.
    Skip,
    Acquire {
        t: usize,
        class: usize,
        read: Read,
        trylock: bool,
    },
    /// Release the entry `from_top` positions below the top (mod depth).
    Release {
        t: usize,
        from_top: usize,
    },
}

fn raw_op(classes: usize, threads: usize) -> impl Strategy<Value = Raw> {
    let read = prop_oneof![Just(Read::Exclusive), Just(Read::Shared), Just(Read::SharedRecursive)];
    prop_oneof![
        1 => Just(Raw::Skip),
        13 => (0..threads, 0..classes, read, prop::bool::weighted(0.2))
            .prop_map(|(t, class, read, trylock)| Raw::Acquire { t, class, read, trylock }),
        7 => (0..threads, 0..4usize).prop_map(|(t, from_top)| Raw::Release { t, from_top }),
    ]
}

/// Makes a raw sequence well-formed: a skip is dropped, an acquisition of a class the thread
/// already holds is dropped, and so is a release by a thread holding nothing.
/// A release picks its entry counting from the top of the thread's stack.
fn normalize(raw: &[Raw]) -> Program {
    let mut held: [Vec<usize>; THREADS] = Default::default();
    let mut ops = Vec::new();
    for r in raw {
        match *r {
            Raw::Skip => {}
            Raw::Acquire { t, class, read, trylock } => {
                if !held[t].contains(&class) {
                    held[t].push(class);
                    ops.push(Op::Acquire { t, class, read, trylock });
                }
            }
            Raw::Release { t, from_top } => {
                if !held[t].is_empty() {
                    let i = held[t].len() - 1 - from_top % held[t].len();
                    let class = held[t].remove(i);
                    ops.push(Op::Release { t, class });
                }
            }
        }
    }
    Program(ops)
}

/// A program over 2..=6 classes and 1..=3 threads (fewer classes make
/// cycles, and so reports, more frequent).
fn program() -> impl Strategy<Value = Program> {
    (2..=CLASSES, 1..=THREADS)
        .prop_flat_map(|(classes, threads)| prop::collection::vec(raw_op(classes, threads), 8..=MAX_OPS))
        .prop_map(|raw| normalize(&raw))
}

// ---------------------------------------------------------------------------
// The oracle: an independent simulation of spec §2.3–§2.11 for these programs.

/// Dependency types as spec §2.7 numbers them (bit index in a type set).
const SR: u8 = 0;
const ER: u8 = 1;
const SN: u8 = 2;
const EN: u8 = 3;

/// The type of the dependency `prev -> next` for these two modes.
fn dep_type(prev: Read, next: Read) -> u8 {
    match (prev, next) {
        (Read::Exclusive, Read::SharedRecursive) => ER,
        (Read::Exclusive, _) => EN,
        (_, Read::SharedRecursive) => SR,
        (_, _) => SN,
    }
}

/// Whether the edge of type `b` may follow the edge of type `a` on a strong
/// path: forbidden is `*R` (arriving at a lock as a recursive reader) followed
/// by `S*` (leaving it as a reader).
fn may_follow(a: u8, b: u8) -> bool {
    let arrives_recursive = a == SR || a == ER;
    let leaves_shared = b == SR || b == SN;
    !(arrives_recursive && leaves_shared)
}

/// `deps[prev][next]`: the set of types (bit `1 << type`) of `prev -> next`.
type Deps = [[u8; CLASSES]; CLASSES];

#[derive(Clone, Copy, Debug)]
struct Held {
    class: usize,
    read: Read,
    trylock: bool,
}

/// What the oracle saw, for the coverage statistics.
#[derive(Default, Clone, Copy)]
struct OracleStats {
    /// Dependencies accepted although they closed a cycle (a weak one).
    weak_cycles: u64,
    /// Dependencies added from a trylocked entry.
    trylock_edges: u64,
    /// Dependencies added while replaying after a non-top release.
    replay_edges: u64,
    /// Blocking acquisitions skipped by the chain cache.
    cache_hits: u64,
}

struct Oracle {
    held: [Vec<Held>; THREADS],
    deps: Deps,
    /// Validated chains: the (class, mode, trylock) sequence of the stack plus the new lock.
    chains: HashSet<Vec<(usize, Read, bool)>>,
    /// Model the chain cache (spec §2.5); when false, every blocking
    /// acquisition runs the prev-walk.
    chain_cache: bool,
    replaying: bool,
    stats: OracleStats,
}

impl Oracle {
    fn new(chain_cache: bool) -> Oracle {
        Oracle {
            held: Default::default(),
            deps: [[0; CLASSES]; CLASSES],
            chains: HashSet::new(),
            chain_cache,
            replaying: false,
            stats: OracleStats::default(),
        }
    }

    /// Runs one operation; true when it must be reported (a strong cycle).
    fn step(&mut self, op: Op) -> bool {
        match op {
            Op::Acquire { t, class, read, trylock } => self.acquire(t, Held { class, read, trylock }),
            Op::Release { t, class } => self.release(t, class),
        }
    }

    fn acquire(&mut self, t: usize, next: Held) -> bool {
        // Trylocks are pushed unvalidated: no chain, no check, no edge into them.
        if !next.trylock {
            let chain: Vec<(usize, Read, bool)> = self.held[t]
                .iter()
                .map(|h| (h.class, h.read, h.trylock))
                .chain([(next.class, next.read, false)])
                .collect();
            let validate = !self.chain_cache || self.chains.insert(chain);
            if !validate {
                self.stats.cache_hits += 1;
            }
            // The prev-walk: from the top down, through trylocked entries, to
            // and including the first blocking one.
            let below: Vec<Held> = if validate { self.held[t].clone() } else { Vec::new() };
            for prev in below.iter().rev() {
                let ty = dep_type(prev.read, next.read);
                if self.closes_strong_cycle(prev.class, next.class, ty) {
                    return true;
                }
                self.deps[prev.class][next.class] |= 1 << ty;
                if self.replaying {
                    self.stats.replay_edges += 1;
                }
                if !prev.trylock {
                    break;
                }
                self.stats.trylock_edges += 1;
            }
        }
        self.held[t].push(next);
        false
    }

    /// Releases `class` and replays every entry that was above it, each like a
    /// fresh acquisition with its saved parameters (spec §2.11).
    fn release(&mut self, t: usize, class: usize) -> bool {
        let i = self.held[t].iter().position(|h| h.class == class).expect("well-formed program");
        let above = self.held[t].split_off(i + 1);
        self.held[t].pop();
        self.replaying = true;
        let reported = above.into_iter().any(|h| self.acquire(t, h));
        self.replaying = false;
        reported
    }

    /// Whether adding `prev -> next` of type `ty` closes a strong cycle: some
    /// simple path `next -> .. -> prev` in the current graph and some choice of
    /// one type per edge such that every consecutive pair of the closed cycle
    /// (wrap-around pairs included) may follow each other.
    fn closes_strong_cycle(&mut self, prev: usize, next: usize, ty: u8) -> bool {
        let mut path = vec![next];
        let mut on_path = [false; CLASSES];
        on_path[next] = true;
        let (mut any, mut strong) = (false, false);
        self.paths(prev, &mut path, &mut on_path, &mut |deps, path| {
            any = true;
            if Self::assignable(deps, path, ty, ty) {
                strong = true;
            }
            strong
        });
        if any && !strong {
            self.stats.weak_cycles += 1;
        }
        strong
    }

    /// Enumerates the simple paths from the end of `path` to `target`, calling
    /// `found` with each complete one; stops once `found` returns true.
    fn paths(
        &self,
        target: usize,
        path: &mut Vec<usize>,
        on_path: &mut [bool; CLASSES],
        found: &mut dyn FnMut(&Deps, &[usize]) -> bool,
    ) -> bool {
        let here = *path.last().unwrap();
        for to in 0..CLASSES {
            if self.deps[here][to] == 0 || on_path[to] {
                continue;
            }
            path.push(to);
            let stop = if to == target {
                found(&self.deps, path)
            } else {
                on_path[to] = true;
                let stop = self.paths(target, path, on_path, found);
                on_path[to] = false;
                stop
            };
            path.pop();
            if stop {
                return true;
            }
        }
        false
    }

    /// Whether the edges `path[0] -> path[1] -> ..` can be given one type each
    /// so that each may follow the one before (`before` for the first) and
    /// `closing` may follow the last.
    fn assignable(deps: &Deps, path: &[usize], before: u8, closing: u8) -> bool {
        let [from, to, ..] = *path else {
            return may_follow(before, closing);
        };
        (0..4u8)
            .filter(|t| deps[from][to] & (1 << t) != 0)
            .any(|t| may_follow(before, t) && Self::assignable(deps, &path[1..], t, closing))
    }
}

// ---------------------------------------------------------------------------
// The threads that run programs.

enum Msg {
    Begin(Validator),
    Acquire { class: usize, read: Read, trylock: bool },
    Release { class: usize },
    End,
}

fn hook_acquire(class: usize, read: Read, trylock: bool) {
    let map = &MAPS[class];
    match read {
        Read::Exclusive if class % 2 == 0 => lockdep::mutex_acquire(map, 0, trylock),
        Read::Exclusive => lockdep::rwsem_acquire(map, 0, trylock),
        Read::Shared => lockdep::rwsem_acquire_read(map, 0, trylock),
        Read::SharedRecursive => lockdep::rwlock_acquire_read(map, 0, trylock),
    }
}

fn hook_release(class: usize, read: Read) {
    let map = &MAPS[class];
    match read {
        Read::Exclusive if class % 2 == 0 => lockdep::mutex_release(map),
        Read::Exclusive | Read::Shared => lockdep::rwsem_release(map),
        Read::SharedRecursive => lockdep::rwlock_release(map),
    }
}

/// Runs hooks, catching a panic (a validator bug) so that the worker
/// survives it and the case fails with the message.
fn guarded(f: impl FnOnce()) -> Result<(), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
        let msg = e.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| e.downcast_ref::<String>().cloned());
        format!("hook panicked: {}", msg.unwrap_or_default())
    })
}

/// A worker: per case, enters the case's validator scope and runs the
/// operations it is sent, acknowledging each; at `End` it releases what it
/// still holds from the top down (which never re-validates).
fn worker(rx: Receiver<Msg>, ack: Sender<Result<(), String>>) {
    while let Ok(msg) = rx.recv() {
        let Msg::Begin(v) = msg else { panic!("worker protocol: expected Begin") };
        let end = v.scope(|| {
            let mut held: Vec<(usize, Read)> = Vec::new();
            loop {
                let done = match rx.recv().expect("main thread hung up mid-case") {
                    Msg::Acquire { class, read, trylock } => guarded(|| {
                        hook_acquire(class, read, trylock);
                        held.push((class, read));
                    }),
                    Msg::Release { class } => {
                        let i = held.iter().position(|h| h.0 == class).expect("releasing a held lock");
                        guarded(|| hook_release(class, held.remove(i).1))
                    }
                    Msg::End => {
                        return guarded(|| {
                            while let Some((class, read)) = held.pop() {
                                hook_release(class, read);
                            }
                        });
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

/// Three long-lived worker threads, driven one operation at a time.
struct Workers {
    txs: Vec<Sender<Msg>>,
    acks: Vec<Receiver<Result<(), String>>>,
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

    fn send(&self, t: usize, msg: Msg) -> Result<(), String> {
        self.txs[t].send(msg).expect("worker gone");
        self.acks[t].recv().expect("worker died").map_err(|e| format!("T{t}: {e}"))
    }

    fn begin(&self, v: &Validator) {
        for tx in &self.txs {
            tx.send(Msg::Begin(v.clone())).expect("worker gone");
        }
    }

    fn run(&self, op: Op) -> Result<(), String> {
        match op {
            Op::Acquire { t, class, read, trylock } => self.send(t, Msg::Acquire { class, read, trylock }),
            Op::Release { t, class } => self.send(t, Msg::Release { class }),
        }
    }

    /// Ends the case on every worker (each releases what it holds).
    fn end(&self) -> Result<(), String> {
        (0..THREADS).map(|t| self.send(t, Msg::End)).fold(Ok(()), Result::and)
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

/// Totals over every case run (shrinking included).
#[derive(Default)]
struct Totals {
    cases: Cell<u64>,
    ops: Cell<u64>,
    reported: Cell<u64>,
    oracle: Cell<OracleStats>,
    /// Cases where the oracle without a chain cache reports at another operation.
    cache_divergent: Cell<u64>,
}

fn bump(c: &Cell<u64>, by: u64) {
    c.set(c.get() + by);
}

/// The index of the first operation the oracle reports, and its statistics.
fn oracle_first(prog: &Program, chain_cache: bool) -> (Option<usize>, OracleStats) {
    let mut oracle = Oracle::new(chain_cache);
    let first = prog.0.iter().position(|&op| oracle.step(op));
    (first, oracle.stats)
}

/// Runs `prog` on the workers under a fresh one-shot validator, stopping at
/// its first report or after operation `until`. Returns the index of the
/// operation after which `v.reports()` first grew, and the reports; an error
/// if a hook panicked or the top-down releases at the end reported.
fn validator_first(workers: &Workers, prog: &Program, until: Option<usize>) -> Result<FirstReport, String> {
    let v = Validator::new(Config::kernel().with_backtraces(false));
    workers.begin(&v);
    let mut first = None;
    let mut outcome = Ok(());
    for (i, &op) in prog.0.iter().enumerate().take(until.map_or(usize::MAX, |u| u + 1)) {
        outcome = workers.run(op).map_err(|e| format!("#{i} ({op}): {e}"));
        if outcome.is_err() {
            break;
        }
        if !v.reports().is_empty() {
            first = Some(i);
            break; // one-shot: whatever follows is ignored
        }
    }
    let before_cleanup = v.reports().len();
    let end = workers.end();
    outcome?;
    end?;
    let reports = v.reports();
    if reports.len() != before_cleanup {
        return Err(format!("releasing from the top down reported:\n{}", reports[before_cleanup]));
    }
    Ok((first, reports))
}

/// The operation of the first report, and every report.
type FirstReport = (Option<usize>, Vec<lockdep::Report>);

/// Describes the operation at `i` of `prog`.
fn at(prog: &Program, i: Option<usize>) -> String {
    match i {
        Some(i) => format!("at #{i} ({})", prog.0[i]),
        None => "never".to_owned(),
    }
}

/// The property: the validator's first report comes at exactly the
/// operation of the oracle's first strong cycle, and is a circular dependency.
fn run_program(workers: &Workers, prog: &Program, totals: &Totals) -> Result<(), TestCaseError> {
    let (expected, stats) = oracle_first(prog, true);
    let (got, reports) = validator_first(workers, prog, expected).map_err(TestCaseError::fail)?;

    bump(&totals.cases, 1);
    bump(&totals.ops, got.or(expected).map_or(prog.0.len(), |i| i + 1) as u64);
    bump(&totals.reported, got.is_some() as u64);
    bump(&totals.cache_divergent, (oracle_first(prog, false).0 != expected) as u64);
    let mut s = totals.oracle.get();
    s.weak_cycles += stats.weak_cycles;
    s.trylock_edges += stats.trylock_edges;
    s.replay_edges += stats.replay_edges;
    s.cache_hits += stats.cache_hits;
    totals.oracle.set(s);

    prop_assert_eq!(
        got,
        expected,
        "first report {}, first strong cycle {}; validator said:\n{}",
        at(prog, got),
        at(prog, expected),
        reports.first().map_or_else(|| "nothing".to_owned(), |r| r.to_string())
    );
    prop_assert!(reports.len() <= 1, "one-shot validator reported {} times", reports.len());
    if let Some(r) = reports.first() {
        prop_assert_eq!(r.kind(), ReportKind::CircularDependency, "report:\n{}", r);
    }
    Ok(())
}

#[test]
fn programs_match_strong_cycle_oracle() {
    if !lockdep::ENABLED {
        return;
    }
    let workers = Workers::new();
    let totals = Totals::default();
    let n = cases(10_000);
    check(proptest_config(n), program(), |prog| run_program(&workers, &prog, &totals));
    let s = totals.oracle.get();
    eprintln!(
        "oracle programs: {} cases run, {} operations, {} reported; weak cycles accepted {}, trylock edges {}, \
         replay edges {}, chain-cache hits {}; cases where a cache-less oracle differs: {}",
        totals.cases.get(),
        totals.ops.get(),
        totals.reported.get(),
        s.weak_cycles,
        s.trylock_edges,
        s.replay_edges,
        s.cache_hits,
        totals.cache_divergent.get(),
    );
    // The generator must keep exercising what the property is about.
    let cases_run = totals.cases.get();
    assert!(totals.reported.get() * 20 >= cases_run, "fewer than 5% of the cases report");
    assert!(totals.reported.get() * 20 <= cases_run * 19, "more than 95% of the cases report");
    if n >= 1_000 {
        assert!(s.weak_cycles > 0 && s.trylock_edges > 0 && s.replay_edges > 0 && s.cache_hits > 0);
    }
    assert_eq!(totals.cache_divergent.get(), 0, "with the trylock bit in chain ids the cache never changes a verdict");
}

/// Hand-written programs from the spec's examples, each with the operation
/// that must report: checks the oracle itself against the spec, and the
/// validator against both. `ideal` is the verdict of an oracle without the
/// chain cache where it differs.
/// A named program, the operation that must report, and where an oracle
/// without the chain cache reports if that differs.
type Example = (&'static str, Vec<Op>, Option<usize>, Option<usize>);

#[test]
fn spec_examples_agree_with_oracle() {
    if !lockdep::ENABLED {
        return;
    }
    use Read::{Exclusive as W, Shared as R, SharedRecursive as RR};
    let acq = |t, class, read| Op::Acquire { t, class, read, trylock: false };
    let try_acq = |t, class, read| Op::Acquire { t, class, read, trylock: true };
    let unlock = |t, class| Op::Release { t, class };
    #[rustfmt::skip]
    let examples: Vec<Example> = vec![
        ("ABBA", vec![acq(0, 0, W), acq(0, 1, W), unlock(0, 1), unlock(0, 0),
                      acq(1, 1, W), acq(1, 0, W)], Some(5), None),
        // §2.8: RL(X); L(Y) + L(Y); RL(X) is safe (rlock_ABBA2).
        ("rlock_ABBA2", vec![acq(0, 0, RR), acq(0, 1, W), unlock(0, 1), unlock(0, 0),
                             acq(1, 1, W), acq(1, 0, RR)], None, None),
        // §2.8: RSL(X); ML(Y) + ML(Y); RSL(X) deadlocks with a queued writer (rwsem_ABBA2).
        ("rwsem_ABBA2", vec![acq(0, 0, R), acq(0, 1, W), unlock(0, 1), unlock(0, 0),
                             acq(1, 1, W), acq(1, 0, R)], Some(5), None),
        // §2.5: after L(Y); RL(X) is cached, L(Y); WL(X) is validated (rlock_chaincache_ABBA1).
        ("rlock_chaincache_ABBA1", vec![acq(0, 0, RR), acq(0, 1, W), unlock(0, 1), unlock(0, 0),
                                        acq(0, 1, W), acq(0, 0, RR), unlock(0, 0), unlock(0, 1),
                                        acq(0, 1, W), acq(0, 0, W)], Some(9), None),
        // §2.7: N -ER-> P, N -EN-> D -EN-> P, then P(R) -> N(W): a strong
        // cycle through D that a per-class-visited BFS misses.
        ("weak arrival first", vec![acq(0, 0, W), acq(0, 1, RR), unlock(0, 1), unlock(0, 0),
                                    acq(0, 0, W), acq(0, 2, W), unlock(0, 2), unlock(0, 0),
                                    acq(0, 2, W), acq(0, 1, W), unlock(0, 1), unlock(0, 2),
                                    acq(0, 1, R), acq(0, 0, W)], Some(13), None),
        // §2.7: types accumulate on an edge; ER alone would make the cycle weak, EN makes it strong.
        ("accumulated types", vec![acq(0, 0, W), acq(0, 1, RR), unlock(0, 1), unlock(0, 0),
                                   acq(0, 0, W), acq(0, 1, W), unlock(0, 1), unlock(0, 0),
                                   acq(1, 1, R), acq(1, 0, W)], Some(9), None),
        // §2.10: W(A); T(B); W(C) records B -> C and A -> C.
        ("trylock walk", vec![acq(0, 0, W), try_acq(0, 1, W), acq(0, 2, W),
                              unlock(0, 2), unlock(0, 1), unlock(0, 0),
                              acq(1, 2, W), acq(1, 0, W)], Some(7), None),
        // §2.11: releasing B from A, RR(B), C replays C and records A -EN-> C.
        ("replay edge", vec![acq(0, 0, W), acq(0, 1, RR), acq(0, 2, W), unlock(0, 1),
                             unlock(0, 2), unlock(0, 0), acq(1, 2, W), acq(1, 0, W)], Some(7), None),
        // §2.11: ... and the replay itself can report.
        ("replay report", vec![acq(1, 2, W), acq(1, 0, W), unlock(1, 0), unlock(1, 2),
                               acq(0, 0, W), acq(0, 1, RR), acq(0, 2, W), unlock(0, 1)], Some(7), None),
        // §2.4/§2.5: in the kernel the chain id has no trylock bit, so W(A) try-RR(B)
        // W(C) hits the chain cached by W(A) RR(B) W(C), A -EN-> C is never recorded
        // and the C -> A inversion goes unreported. Our chain ids keep the bit.
        ("trylock chain-cache hit", vec![acq(0, 0, W), acq(0, 1, RR), acq(0, 2, W), unlock(0, 2),
                                         unlock(0, 1), try_acq(0, 1, RR), acq(0, 2, W), unlock(0, 2),
                                         unlock(0, 1), unlock(0, 0), acq(1, 2, W), acq(1, 0, W)],
         Some(11), None),
    ];
    let workers = Workers::new();
    for (name, ops, expected, ideal) in examples {
        let prog = Program(ops);
        let ideal = ideal.or(expected);
        assert_eq!(oracle_first(&prog, true).0, expected, "{name}: oracle\n{prog:?}");
        assert_eq!(oracle_first(&prog, false).0, ideal, "{name}: oracle without chain cache\n{prog:?}");
        let (got, reports) = validator_first(&workers, &prog, None).expect(name);
        assert_eq!(got, expected, "{name}: validator {} expected {}\n{prog:?}", at(&prog, got), at(&prog, expected));
        if let Some(r) = reports.first() {
            assert_eq!(r.kind(), ReportKind::CircularDependency, "{name}:\n{r}");
        }
    }
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
fn reaches(adj: &[Vec<usize>], from: usize, to: usize, seen: &mut [bool]) -> bool {
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
            let expected = reaches(&adj, b, a, &mut seen);
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
    if !lockdep::ENABLED {
        return;
    }
    let totals = GraphTotals::default();
    check(proptest_config(cases(200)), graph_case(), |case| run_graph(&case, &totals));
    eprintln!(
        "oracle graphs: {} cases, {} closed a cycle; {} edges added in all, at most {} in one case",
        totals.cases.get(),
        totals.reported.get(),
        totals.edges.get(),
        totals.max_edges.get()
    );
    assert!(totals.reported.get() > 0, "no graph case closed a cycle");
}
