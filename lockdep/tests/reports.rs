//! Golden-text tests of every report kind, and the graph dump parsed back.
//!
//! Addresses, thread ids and line:column numbers are normalised. Regenerate
//! the golden files with `UPDATE_GOLDEN=1 cargo test -p lockdep --features enabled --test reports`
//! (exactly `1`: any other value is an error, so that `UPDATE_GOLDEN=0` can
//! never rewrite them and pass; CI fails when the variable is set at all).

use std::path::PathBuf;

use lockdep::*;

macro_rules! keys {
    ($($k:ident),*) => { $( static $k: LockClassKey = LockClassKey::new(); )* };
}

/// Replaces what changes from run to run: hex addresses, thread ids, the
/// line and column of locations.
fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"0x") {
            let mut j = i + 2;
            while j < b.len() && b[j].is_ascii_hexdigit() {
                j += 1;
            }
            out.push_str("0xADDR");
            i = j;
        } else if b[i..].starts_with(b"ThreadId(") {
            let j = i + s[i..].find(')').unwrap_or(0);
            out.push_str("ThreadId(N)");
            i = j + 1;
        } else if b[i] == b':' && i + 1 < b.len() && b[i + 1].is_ascii_digit() && s[..i].ends_with(".rs") {
            let mut j = i + 1;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b':') {
                j += 1;
            }
            out.push_str(":L:C");
            i = j;
        } else {
            let ch = s[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Whether `UPDATE_GOLDEN` (its value, if set) asks to rewrite the golden
/// files: only `1` does; unset compares; anything else is an error.
fn update_requested(value: Option<&std::ffi::OsStr>) -> Result<bool, String> {
    match value.map(|v| v.to_str()) {
        None => Ok(false),
        Some(Some("1")) => Ok(true),
        Some(v) => Err(format!(
            "UPDATE_GOLDEN={v:?}: only UPDATE_GOLDEN=1 rewrites the golden files; unset it to compare with them"
        )),
    }
}

fn golden(name: &str, report: &Report) {
    let text = normalise(&report.to_string());
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{name}.txt"));
    if update_requested(std::env::var_os("UPDATE_GOLDEN").as_deref()).unwrap_or_else(|e| panic!("{e}")) {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(text, want, "report text differs from {}", path.display());
}

#[test]
fn golden_files_are_rewritten_only_with_update_golden_1() {
    use std::ffi::OsStr;
    assert_eq!(update_requested(None), Ok(false));
    assert_eq!(update_requested(Some(OsStr::new("1"))), Ok(true));
    for other in ["0", "", "true", "yes", " 1", "2"] {
        let err = update_requested(Some(OsStr::new(other))).unwrap_err();
        assert!(err.contains("only UPDATE_GOLDEN=1"), "{other:?}: {err}");
    }
}

fn validator() -> Validator {
    Validator::new(Config::collect().with_name("golden").with_backtraces(false))
}

/// Runs `f` on a thread with a fixed name (test harness thread names vary).
fn named(f: impl FnOnce() + Send) {
    std::thread::scope(|s| std::thread::Builder::new().name("main".into()).spawn_scoped(s, f).unwrap().join().unwrap());
}

fn only(v: &Validator, kind: ReportKind) -> Report {
    let r = v.reports();
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].kind(), kind);
    r[0].clone()
}

#[test]
fn circular_two_threads() {
    keys!(MMAP, VMA);
    let mmap: &'static LockdepMap = Box::leak(Box::new(LockdepMap::new("mmap_lock", &MMAP)));
    let vma: &'static LockdepMap = Box::leak(Box::new(LockdepMap::new("vm_lock", &VMA)));
    let v = validator();
    let v2 = v.clone();
    std::thread::Builder::new()
        .name("writer-0".into())
        .spawn(move || {
            v2.scope(|| {
                rwsem_acquire(mmap, 0, false);
                rwsem_acquire(vma, 0, false);
                rwsem_release(vma);
                rwsem_release(mmap);
            })
        })
        .unwrap()
        .join()
        .unwrap();
    let v3 = v.clone();
    std::thread::Builder::new()
        .name("fault-2".into())
        .spawn(move || {
            v3.scope(|| {
                rwsem_acquire_read(vma, 0, true);
                rwsem_acquire_read(mmap, 0, false);
                rwsem_release(mmap);
                rwsem_release(vma);
            })
        })
        .unwrap()
        .join()
        .unwrap();
    let r = only(&v, ReportKind::CircularDependency);
    assert_eq!(r.chain().len(), 2);
    let step = &r.chain()[0];
    assert_eq!((step.from().class(), step.to().class()), ("mmap_lock", "vm_lock"));
    assert_eq!(step.thread().name(), Some("writer-0"));
    assert_eq!(step.types().bits(), DepTypes::EN);
    let new = &r.chain()[1];
    assert!(new.is_new() && new.from().trylock() && new.to().read() == Read::Shared);
    assert_eq!(new.types().bits(), DepTypes::SN);
    golden("circular_two_threads", &r);
}

#[test]
fn circular_three_locks_one_thread() {
    keys!(KA, KB, KC);
    let (a, b, c) = (LockdepMap::new("A", &KA), LockdepMap::new("B", &KB), LockdepMap::new("C", &KC));
    let v = validator();
    named(|| {
        v.scope(|| {
            for (x, y) in [(&a, &b), (&b, &c), (&c, &a)] {
                mutex_acquire(x, 0, false);
                mutex_acquire(y, 0, false);
                mutex_release(y);
                mutex_release(x);
            }
        });
    });
    let r = only(&v, ReportKind::CircularDependency);
    let text = r.to_string();
    assert!(text.contains("A --> B --> C --> A") || text.contains("C --> A --> B --> C"), "{text}");
    assert!(text.contains("Thread A") && text.contains("Thread C"), "one thread: lettered columns\n{text}");
    golden("circular_three_locks", &r);
}

#[test]
fn recursive_locking() {
    keys!(KX);
    let (x1, x2) = (LockdepMap::new("X1", &KX), LockdepMap::new("X2", &KX));
    let v = validator();
    named(|| {
        v.scope(|| {
            rwsem_acquire_read(&x1, 0, false);
            rwsem_acquire_read(&x2, 0, false);
            rwsem_release(&x2);
            rwsem_release(&x1);
        });
    });
    let r = only(&v, ReportKind::RecursiveLocking);
    assert_eq!(r.other().unwrap().instance(), "X1");
    assert_eq!(r.lock().unwrap().instance(), "X2");
    assert_eq!(r.held().len(), 1);
    golden("recursive_locking", &r);
}

#[test]
fn unlock_imbalance() {
    keys!(KA);
    let a = LockdepMap::new("A", &KA);
    let v = validator();
    named(|| {
        v.scope(|| {
            spin_acquire(&a, 0, false);
            spin_release(&a);
            spin_release(&a);
        });
    });
    golden("unlock_imbalance", &only(&v, ReportKind::UnlockImbalance));
}

#[test]
fn held_lock_freed() {
    keys!(KA);
    let v = validator();
    named(|| {
        v.scope(|| {
            let a = Box::new(LockdepMap::new("A", &KA));
            spin_acquire(&a, 0, false);
        });
    });
    golden("held_lock_freed", &only(&v, ReportKind::HeldLockFreed));
}

#[test]
fn nest_lock_not_held() {
    keys!(KO, KA);
    let (o, a) = (LockdepMap::new("O", &KO), LockdepMap::new("A", &KA));
    let v = validator();
    named(|| {
        v.scope(|| {
            spin_acquire_nest(&a, 0, false, &o);
            spin_release(&a);
        });
    });
    golden("nest_lock_not_held", &only(&v, ReportKind::NestLockNotHeld));
}

#[test]
fn held_locks_at_thread_exit() {
    keys!(KA);
    let a: &'static LockdepMap = Box::leak(Box::new(LockdepMap::new("A", &KA)));
    let v = validator();
    let v2 = v.clone();
    std::thread::Builder::new()
        .name("quitter".into())
        .spawn(move || v2.scope(|| mutex_acquire(a, 0, false)))
        .unwrap()
        .join()
        .unwrap();
    golden("held_locks_at_thread_exit", &only(&v, ReportKind::HeldLocksAtThreadExit));
}

#[test]
fn assertion_failed() {
    keys!(KA, KB);
    let (a, b) = (LockdepMap::new("A", &KA), LockdepMap::new("B", &KB));
    let v = validator();
    named(|| {
        v.scope(|| {
            mutex_acquire(&b, 0, false);
            lockdep_assert_held!(a); // B is held, A is not
            mutex_release(&b);
        });
    });
    let r = only(&v, ReportKind::AssertionFailed);
    assert_eq!(r.lock().unwrap().instance(), "A");
    assert_eq!(r.held().iter().map(LockInfo::instance).collect::<Vec<_>>(), ["B"]);
    golden("assertion_failed", &r);
}

#[test]
fn limit_exceeded() {
    keys!(KA, KB);
    let (a, b) = (LockdepMap::new("A", &KA), LockdepMap::new("B", &KB));
    let v = Validator::new(Config { max_classes: 1, ..Config::collect().with_name("golden").with_backtraces(false) });
    named(|| {
        v.scope(|| {
            mutex_acquire(&a, 0, false);
            mutex_acquire(&b, 0, false);
            mutex_release(&b);
            mutex_release(&a);
        });
    });
    golden("limit_exceeded", &only(&v, ReportKind::LimitExceeded));
}

#[test]
fn invalid_subclass() {
    keys!(KA);
    let a = LockdepMap::new("A", &KA);
    let v = validator();
    named(|| {
        v.scope(|| {
            mutex_acquire(&a, 9, false);
            mutex_release(&a);
        });
    });
    golden("invalid_subclass", &only(&v, ReportKind::InvalidSubclass));
}

#[test]
fn bad_downgrade() {
    keys!(KA);
    let a = LockdepMap::new("A", &KA);
    let v = validator();
    named(|| {
        v.scope(|| {
            rwsem_acquire_read(&a, 0, false);
            lock_downgrade(&a);
            rwsem_release(&a);
        });
    });
    golden("bad_downgrade", &only(&v, ReportKind::BadDowngrade));
}

#[test]
fn backtraces_show_both_ends_and_skip_lockdep_frames() {
    keys!(KA, KB);
    let (a, b) = (LockdepMap::new("A", &KA), LockdepMap::new("B", &KB));
    let v = Validator::new(Config::collect().with_backtraces(true));
    #[inline(never)]
    fn take_in_order(x: &LockdepMap, y: &LockdepMap) {
        mutex_acquire(x, 0, false);
        mutex_acquire(y, 0, false);
        mutex_release(y);
        mutex_release(x);
    }
    v.scope(|| {
        take_in_order(&a, &b);
        take_in_order(&b, &a);
    });
    let r = only(&v, ReportKind::CircularDependency);
    for step in r.chain() {
        let frames = step.trace().expect("trace captured").frames();
        assert!(!frames.is_empty());
        assert!(frames.iter().all(|f| !f.function.starts_with("lockdep::")), "{frames:?}");
        assert!(frames[0].function.contains("take_in_order"), "{frames:?}");
    }
    // The same acquisition site gives the same stored trace (deduplicated).
    assert_eq!(v.stats().stack_traces, 2);
    assert!(r.backtrace().is_some());
}

/// (node id, label)
type Nodes = Vec<(String, String)>;
/// (from id, to id, attributes)
type Edges = Vec<(String, String, String)>;

/// Minimal DOT reader: node ids with labels, and edges with their attributes.
fn parse_dot(dot: &str) -> (Nodes, Edges) {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for line in dot.lines().map(str::trim) {
        let Some(open) = line.find('[') else { continue };
        let head = line[..open].trim();
        let attrs = line[open + 1..line.rfind(']').unwrap()].to_owned();
        if let Some((a, b)) = head.split_once("->") {
            edges.push((a.trim().to_owned(), b.trim().to_owned(), attrs));
        } else {
            let label = attrs.split("label=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_owned();
            nodes.push((head.to_owned(), label));
        }
    }
    (nodes, edges)
}

#[test]
fn dot_dump_on_violation_parses_back_with_the_cycle_in_red() {
    keys!(KA, KB, KC, KD);
    let maps =
        [LockdepMap::new("A", &KA), LockdepMap::new("B", &KB), LockdepMap::new("C", &KC), LockdepMap::new("D", &KD)];
    let dir = std::env::temp_dir().join(format!("lockdep-dot-test-{}", std::process::id()));
    let v = Validator::new(Config::collect().with_backtraces(false).with_dump_dir(&dir));
    v.scope(|| {
        // A -> B (EN), B -> C (SR, then EN too), A -> D; then C -> A closes A -> B -> C -> A.
        mutex_acquire(&maps[0], 0, false);
        mutex_acquire(&maps[1], 0, false);
        mutex_release(&maps[1]);
        mutex_acquire(&maps[3], 0, false);
        mutex_release(&maps[3]);
        mutex_release(&maps[0]);
        rwlock_acquire_read(&maps[1], 0, false);
        rwlock_acquire_read(&maps[2], 0, false);
        rwlock_release(&maps[2]);
        rwlock_release(&maps[1]);
        mutex_acquire(&maps[1], 0, false);
        mutex_acquire(&maps[2], 0, false);
        mutex_release(&maps[2]);
        mutex_release(&maps[1]);
        mutex_acquire(&maps[2], 0, false);
        mutex_acquire(&maps[0], 0, false);
        mutex_release(&maps[0]);
        mutex_release(&maps[2]);
    });
    let r = only(&v, ReportKind::CircularDependency);
    let files = r.dump().expect("dump written").clone();
    let text = r.to_string();
    assert!(text.contains(&files.dot.display().to_string()) && text.contains("dot -Tsvg"), "{text}");
    let dot = std::fs::read_to_string(&files.dot).unwrap();
    let (nodes, edges) = parse_dot(&dot);
    let label = |id: &str| nodes.iter().find(|(n, _)| n == id).map(|(_, l)| l.clone()).unwrap();
    let mut labels: Vec<String> = nodes.iter().map(|(_, l)| l.clone()).collect();
    labels.sort();
    assert_eq!(labels, ["A", "B", "C", "D"]);
    let named: Vec<(String, String, String)> =
        edges.iter().map(|(a, b, attrs)| (label(a), label(b), attrs.clone())).collect();
    assert_eq!(named.len(), 4, "A->B, A->D, B->C and the rejected C->A: {named:?}");
    for (a, b, attrs) in &named {
        let red = attrs.contains("color=red");
        let in_cycle = matches!((a.as_str(), b.as_str()), ("A", "B") | ("B", "C") | ("C", "A"));
        assert_eq!(red, in_cycle, "{a}->{b}: {attrs}");
    }
    let bc = named.iter().find(|(a, b, _)| a == "B" && b == "C").unwrap();
    assert!(bc.2.contains("label=\"EN|SR\""), "accumulated types: {}", bc.2);
    let ca = named.iter().find(|(a, b, _)| a == "C" && b == "A").unwrap();
    assert!(ca.2.contains("dashed"), "the closing edge was not added: {}", ca.2);
    let txt = std::fs::read_to_string(&files.text).unwrap();
    assert!(txt.contains("all lock classes:") && txt.contains("all lock chains:") && txt.contains("lock-classes:"));
    std::fs::remove_dir_all(&dir).ok();
}
