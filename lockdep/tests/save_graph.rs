//! Saved graphs with validation compiled in: what `Validator::save` writes,
//! that it reads back the same, concurrent saves into one directory, the
//! cycle search over merged runs (and that it reports what the validator
//! reports), and seeding a validator from a saved graph.

use std::path::PathBuf;
use std::sync::{Arc, Barrier};

use lockdep::save::{Key, LoadErrorKind, SavedGraph};
use lockdep::sync::{Mutex, RwLock};
use lockdep::{Config, DepTypes, LockClassKey, Read, ReportKind, Validator};

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lockdep-save-graph-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn class_index(g: &SavedGraph, name: &str) -> usize {
    g.classes.iter().position(|c| c.display_name() == name).unwrap_or_else(|| panic!("no class {name}"))
}

fn edge<'a>(g: &'a SavedGraph, from: &str, to: &str) -> &'a lockdep::save::SavedEdge {
    let (a, b) = (class_index(g, from), class_index(g, to));
    g.edges.iter().find(|e| e.from == a && e.to == b).unwrap_or_else(|| panic!("no edge {from} -> {to}"))
}

#[test]
fn save_writes_classes_typed_edges_sites_threads_and_reads_back_equal() {
    static KEY: LockClassKey = LockClassKey::new();
    let v = Validator::new(Config::collect().with_name("saver"));
    let a = Mutex::named((), "a");
    let sb = RwLock::named((), "sb");
    let keyed = Mutex::named_with_key((), "keyed", &KEY);
    let (line_sb, line_a) = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("worker".into())
            .spawn_scoped(s, || {
                v.scope(|| {
                    let (_r, line_sb) = (sb.read(), line!());
                    let (_a, line_a) = (a.lock(), line!());
                    let _k = keyed.lock_nested(1);
                    (line_sb, line_a)
                })
            })
            .unwrap()
            .join()
            .unwrap()
    });
    let dir = temp_dir("roundtrip");
    let file = v.save(dir.join("g.json")).unwrap();
    assert_eq!(file, dir.join("g.json"));
    let g = SavedGraph::read(&file).unwrap();
    assert_eq!(g, SavedGraph::from_json(g.to_json().as_bytes()).unwrap(), "format round-trips");
    assert_eq!(g, v.saved_graph().tap_runs(&g), "what was written is what the validator holds");

    assert_eq!(g.runs.len(), 1);
    assert_eq!(g.runs[0].pid, Some(std::process::id()));
    assert_eq!(g.runs[0].validator.as_deref(), Some("saver"));
    assert_eq!(g.classes.len(), 3);
    let k = &g.classes[class_index(&g, "keyed/1")];
    assert!(matches!(k.key, Key::Addr(_)), "{k:?}");
    assert_eq!(k.subclass, 1);
    let sb_class = &g.classes[class_index(&g, "sb")];
    match &sb_class.key {
        Key::Site(s) => assert_eq!(s.file, file!()),
        other => panic!("sb should be keyed by site: {other:?}"),
    }
    // ... and by its data type: `RwLock::named((), ..)` protects a `()`.
    assert_eq!(sb_class.ty.as_deref(), Some("()"));
    assert_eq!(k.ty, None, "an address key has no type");

    let e = edge(&g, "sb", "a");
    assert_eq!(e.types, DepTypes::of(Read::Shared, Read::Exclusive));
    assert_eq!(e.distance, 1);
    let o = &e.seen[0];
    assert_eq!(o.run, 0);
    assert_eq!(o.thread.as_deref(), Some("worker"));
    assert_eq!((o.held.instance.as_str(), o.held.read), ("sb", Read::Shared));
    assert_eq!((o.taken.instance.as_str(), o.taken.read), ("a", Read::Exclusive));
    assert_eq!((o.held.site.file.as_str(), o.held.site.line), (file!(), line_sb));
    assert_eq!((o.taken.site.file.as_str(), o.taken.site.line), (file!(), line_a));
    // Backtraces are on by default: the saved trace names this test.
    assert!(
        o.trace.iter().any(|f| f.function.contains("save_writes_classes")),
        "trace: {:?}",
        o.trace.iter().map(|f| &f.function).collect::<Vec<_>>()
    );
    // a -> keyed/1, and sb -> keyed/1 is not direct (a is on top): one edge from a only.
    assert_eq!(g.edges.len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The run of a graph built now differs from the saved one only in its time.
trait TapRuns {
    fn tap_runs(self, like: &SavedGraph) -> SavedGraph;
}

impl TapRuns for SavedGraph {
    fn tap_runs(mut self, like: &SavedGraph) -> SavedGraph {
        self.runs[0].saved_at = like.runs[0].saved_at;
        self
    }
}

#[test]
fn concurrent_saves_into_one_directory_each_get_a_whole_file() {
    let v = Validator::new(Config::collect());
    let (a, b) = (Mutex::named((), "a"), Mutex::named((), "b"));
    v.scope(|| {
        let _a = a.lock();
        let _b = b.lock();
    });
    let dir = temp_dir("concurrent");
    const N: usize = 8;
    let barrier = Arc::new(Barrier::new(N));
    let files: Vec<PathBuf> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..N)
            .map(|_| {
                let (v, barrier, dir) = (v.clone(), barrier.clone(), dir.clone());
                s.spawn(move || {
                    barrier.wait();
                    // A trailing separator: a directory, created by whoever comes first.
                    v.save(format!("{}/", dir.display())).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut names: Vec<_> = files.iter().map(|f| f.file_name().unwrap().to_owned()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), N, "one file per save");
    let listed: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(listed.len(), N, "no temporary file left: {listed:?}");
    for f in &files {
        assert!(f.file_name().unwrap().to_string_lossy().starts_with("lockdep-"));
        assert_eq!(SavedGraph::read(f).unwrap().edges.len(), 1);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Takes the locks of `pairs` in order, each pair in its own critical
/// section, in a fresh validator; returns its graph.
fn learn(name: &str, locks: &[Mutex<()>], pairs: &[(usize, usize)]) -> (Validator, SavedGraph) {
    let v = Validator::new(Config::collect().with_name(name));
    v.scope(|| {
        for &(x, y) in pairs {
            let _x = locks[x].lock();
            let _y = locks[y].lock();
        }
    });
    let mut g = v.saved_graph();
    g.runs[0].name = name.to_owned();
    (v, g)
}

#[test]
fn a_cycle_whose_halves_two_runs_saw_is_found_in_their_merge() {
    let locks = [Mutex::named((), "a"), Mutex::named((), "b"), Mutex::named((), "c")];
    let (va, ga) = learn("run-a", &locks, &[(0, 1), (1, 2)]);
    let (vb, gb) = learn("run-b", &locks, &[(2, 0)]);
    assert!(va.reports().is_empty() && vb.reports().is_empty(), "neither run sees a cycle");
    assert!(ga.cycles().is_empty() && gb.cycles().is_empty());

    let merged = SavedGraph::merge([&ga, &gb]);
    assert_eq!((merged.runs.len(), merged.classes.len(), merged.edges.len()), (2, 3, 3));
    let cycles = merged.cycles();
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    let c = &cycles[0];
    assert_eq!(c.runs(&merged), vec![0, 1]);
    let closing = &merged.edges[*c.edges.last().unwrap()];
    assert_eq!(
        (merged.classes[closing.from].name.as_str(), merged.classes[closing.to].name.as_str()),
        ("c", "a"),
        "the later run's dependency closes it"
    );
    let text = c.render(&merged);
    assert!(text.contains("WARNING: possible circular locking dependency detected"), "{text}");
    assert!(text.contains("of run #0 run-a"), "{text}");
    assert!(text.contains("of run #1 run-b"), "{text}");
    assert!(text.contains("*** DEADLOCK ***"), "{text}");

    // The same three orders in one validator: its report has the same chain.
    let (one, _) = learn("one", &locks, &[(0, 1), (1, 2), (2, 0)]);
    let report = one.reports()[0].to_string();
    let chain = |t: &str| t.lines().skip_while(|l| !l.starts_with("Chain exists of:")).nth(1).map(str::to_owned);
    assert_eq!(chain(&text), chain(&report), "saved:\n{text}\nvalidator:\n{report}");
    assert_eq!(chain(&text).as_deref(), Some("  a --> b --> c --> a"));
    let heads = |t: &str| -> Vec<String> {
        t.lines().filter(|l| l.starts_with("-> #")).map(|l| l.split(':').next().unwrap().to_owned()).collect()
    };
    assert_eq!(heads(&text), heads(&report), "the same chain steps, in the same order");
}

#[test]
fn weak_cycles_are_not_reported_from_a_merge_either() {
    // Run A: sb read-recursive, then page. Run B: page, then sb read-recursive.
    // Arriving at sb as a recursive reader and leaving it as a reader cannot
    // block: no cycle (chapter 4).
    let sb = RwLock::named((), "sb");
    let page = Mutex::named((), "page");
    let va = Validator::new(Config::collect().with_name("a"));
    va.scope(|| {
        let _s = sb.read_recursive();
        let _p = page.lock();
    });
    let vb = Validator::new(Config::collect().with_name("b"));
    vb.scope(|| {
        let _p = page.lock();
        let _s = sb.read_recursive();
    });
    let merged = SavedGraph::merge([&va.saved_graph(), &vb.saved_graph()]);
    assert_eq!(merged.edges.len(), 2);
    assert!(merged.cycles().is_empty());
    // A writer instead closes a strong one.
    let vc = Validator::new(Config::collect().with_name("c"));
    vc.scope(|| {
        let _p = page.lock();
        let _s = sb.write();
    });
    let merged = SavedGraph::merge([&va.saved_graph(), &vb.saved_graph(), &vc.saved_graph()]);
    assert_eq!(merged.cycles().len(), 1);
}

#[test]
fn a_seeded_validator_reports_the_other_half_of_a_saved_cycle() {
    let locks = [Mutex::named((), "a"), Mutex::named((), "b")];
    let (_, g) = learn("learner", &locks, &[(0, 1)]);
    let dir = temp_dir("seed");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("learned.json");
    g.write(&file).unwrap();

    let checker = Validator::new(Config::collect().with_name("checker"));
    let summary = checker.load(&file).unwrap();
    assert_eq!((summary.classes, summary.edges, summary.skipped_classes, summary.cycles), (2, 1, 0, 0));
    checker.scope(|| {
        let _b = locks[1].lock();
        let _a = locks[0].lock(); // b -> a closes the cycle with the saved a -> b
    });
    let reports = checker.reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].kind(), ReportKind::CircularDependency);
    let saved_step = &reports[0].chain()[0];
    assert_eq!((saved_step.from().class(), saved_step.to().class()), ("a", "b"));
    let who = saved_step.thread().name().unwrap();
    assert!(who.contains("saved run learner"), "{who}");
    assert!(who.contains(file!()), "the saved sites are named: {who}");

    // Loading twice adds nothing new.
    let again = checker.load(&file).unwrap();
    assert_eq!((again.classes, again.edges), (0, 1));
    // A graph that is not one is an error.
    std::fs::write(dir.join("bad.json"), b"{\"format\": \"lockdep-graph\", \"version\": 1, \"runs\": [").unwrap();
    let err = checker.load(dir.join("bad.json")).unwrap_err();
    assert_eq!(err.kind(), LoadErrorKind::Syntax);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn seeding_skips_what_would_close_a_cycle_and_classes_keyed_by_address() {
    static K1: LockClassKey = LockClassKey::new();
    let locks = [Mutex::named((), "x"), Mutex::named((), "y")];
    let keyed = Mutex::with_key((), &K1);
    let v = Validator::new(Config::collect());
    v.scope(|| {
        let _y = locks[1].lock();
        let _k = keyed.lock();
    });
    let (_, g) = learn("xy", &locks, &[(1, 0)]);
    let (_, rev) = learn("yx", &locks, &[(0, 1)]);
    let seeded = Validator::new(Config::collect());
    assert_eq!(seeded.seed(&g).edges, 1);
    let s = seeded.seed(&rev);
    assert_eq!((s.edges, s.cycles), (0, 1), "x -> y would close a cycle with y -> x");
    assert!(seeded.reports().is_empty(), "seeding reports nothing");
    let s = seeded.seed(&v.saved_graph());
    assert_eq!((s.skipped_classes, s.skipped_edges), (1, 1));
}

/// Run as a child process by `lockdep_save_writes_the_global_graph_at_exit`
/// (ignored otherwise): takes two locks through the global validator.
#[test]
#[ignore = "a child process of lockdep_save_writes_the_global_graph_at_exit"]
fn child_takes_two_global_locks() {
    let (outer, inner) = (Mutex::named((), "global_outer"), Mutex::named((), "global_inner"));
    let _o = outer.lock();
    let _i = inner.lock();
}

#[test]
fn lockdep_save_writes_the_global_graph_at_exit() {
    let dir = temp_dir("at-exit");
    let run_with = |target: &std::path::Path, traces: &str| {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "child_takes_two_global_locks", "--test-threads=1"])
            .env("LOCKDEP_SAVE", target)
            .env("LOCKDEP_SAVE_TRACES", traces)
            .env_remove("LOCKDEP_DUMP_DIR")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let run = |target: &std::path::Path| run_with(target, "0");
    // A directory (named with a trailing separator, created on demand): one new file per process.
    let target = format!("{}/", dir.join("runs").display());
    for _ in 0..2 {
        let stderr = run(std::path::Path::new(&target));
        assert!(!stderr.contains("lockdep:"), "nothing to say: {stderr}");
    }
    let files: Vec<PathBuf> = std::fs::read_dir(dir.join("runs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let g = SavedGraph::read(f).unwrap();
        assert_eq!(g.runs[0].validator.as_deref(), Some("global"));
        let e = edge(&g, "global_outer", "global_inner");
        assert_eq!(e.seen[0].thread.as_deref(), Some("child_takes_two_global_locks"));
        assert!(e.seen[0].trace.is_empty(), "no traces unless asked for");
    }
    // A file: replaced whole.
    let file = dir.join("one.json");
    run(&file);
    run_with(&file, "1");
    let g = SavedGraph::read(&file).unwrap();
    assert_eq!(g.edges.len(), 1);
    assert!(g.edges[0].seen[0].trace.iter().any(|f| f.function.contains("child_takes_two_global_locks")));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2, "runs/ and one.json, no temporary file");
    // An unwritable target: one line on stderr, the process still succeeds.
    let blocked = dir.join("one.json").join("below-a-file.json");
    let stderr = run(&blocked);
    assert_eq!(stderr.matches("lockdep: LOCKDEP_SAVE: could not save").count(), 1, "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
