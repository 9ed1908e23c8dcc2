//! The dump files of a report (`Config::dump_dir`) go to predictable names,
//! possibly in a shared directory: they are created new, never through a
//! planted symlink nor over an existing file, and a directory that another
//! user owns or may write to is refused (the report is kept, without a dump).
//!
//! (Validation compiled in, unix only: `required-features = ["enabled"]`.)
#![cfg(unix)]

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lockdep::{Config, LockClassKey, LockdepMap, Report, ReportKind, Validator};

/// The tests here predict the next dump name (`lockdep-<pid>-<n>`, `n`
/// process-wide): one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

static KA: LockClassKey = LockClassKey::new();
static KB: LockClassKey = LockClassKey::new();

/// A fresh private directory for one test.
fn private_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockdep-dump-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    dir
}

/// One AB-BA report in a new validator dumping to `dir`.
fn report_into(dir: &Path) -> Report {
    let (a, b) = (LockdepMap::new("A", &KA), LockdepMap::new("B", &KB));
    let v = Validator::new(Config::collect().with_backtraces(false).with_dump_dir(dir));
    v.scope(|| {
        lockdep::mutex_acquire(&a, 0, false);
        lockdep::mutex_acquire(&b, 0, false);
        lockdep::mutex_release(&b);
        lockdep::mutex_release(&a);
        lockdep::mutex_acquire(&b, 0, false);
        lockdep::mutex_acquire(&a, 0, false);
        lockdep::mutex_release(&a);
        lockdep::mutex_release(&b);
    });
    let reports = v.reports();
    assert_eq!(reports.iter().map(|r| r.kind()).collect::<Vec<_>>(), [ReportKind::CircularDependency]);
    reports.into_iter().next().unwrap()
}

/// The `n` of a dump file `lockdep-<pid>-<n>.<ext>`.
fn seq(path: &Path) -> u64 {
    let stem = path.file_stem().unwrap().to_str().unwrap();
    let prefix = format!("lockdep-{}-", std::process::id());
    stem.strip_prefix(&prefix).unwrap().parse().unwrap()
}

fn name(dir: &Path, n: u64, ext: &str) -> PathBuf {
    dir.join(format!("lockdep-{}-{n}.{ext}", std::process::id()))
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn a_symlink_at_the_next_name_is_not_followed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = private_dir("symlink");
    let elsewhere = private_dir("symlink-target");
    let target = elsewhere.join("precious");
    std::fs::write(&target, "precious").unwrap();
    let n0 = seq(&report_into(&dir).dump().expect("first dump").dot);
    // Links at the next eight names of both files, to the precious file.
    for n in n0 + 1..=n0 + 8 {
        for ext in ["dot", "txt", "svg"] {
            std::os::unix::fs::symlink(&target, name(&dir, n, ext)).unwrap();
        }
    }
    let files = report_into(&dir).dump().expect("second dump").clone();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious", "written through a link");
    assert!(seq(&files.dot) > n0 + 8, "{files:?}");
    for p in [&files.dot, &files.text, files.svg.as_ref().expect("a cycle is drawn")] {
        let meta = std::fs::symlink_metadata(p).unwrap();
        assert!(meta.file_type().is_file(), "{p:?}");
        assert_eq!(meta.mode() & 0o777, 0o600, "{p:?}");
    }
    assert!(std::fs::read_to_string(&files.dot).unwrap().starts_with("digraph"));
    for n in n0 + 1..=n0 + 8 {
        assert_eq!(std::fs::read_link(name(&dir, n, "dot")).unwrap(), target, "links left alone");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&elsewhere).unwrap();
}

#[test]
fn an_existing_file_at_the_next_name_is_not_overwritten() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = private_dir("existing");
    let n0 = seq(&report_into(&dir).dump().expect("first dump").dot);
    // The next DOT name is taken; the one after has only its text name taken.
    std::fs::write(name(&dir, n0 + 1, "dot"), "mine").unwrap();
    std::fs::write(name(&dir, n0 + 2, "txt"), "mine too").unwrap();
    let files = report_into(&dir).dump().expect("second dump").clone();
    assert_eq!(seq(&files.dot), n0 + 3, "{files:?}");
    assert_eq!(std::fs::read_to_string(name(&dir, n0 + 1, "dot")).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(name(&dir, n0 + 2, "txt")).unwrap(), "mine too");
    // Nothing is left of the half-taken name.
    assert!(!name(&dir, n0 + 2, "dot").exists());
    // Only the picture's name taken: the next name again, nothing left.
    std::fs::write(name(&dir, n0 + 4, "svg"), "mine as well").unwrap();
    let third = report_into(&dir).dump().expect("third dump").clone();
    assert_eq!(seq(&third.dot), n0 + 5, "{third:?}");
    assert_eq!(std::fs::read_to_string(name(&dir, n0 + 4, "svg")).unwrap(), "mine as well");
    assert!(!name(&dir, n0 + 4, "dot").exists() && !name(&dir, n0 + 4, "txt").exists());
    assert!(std::fs::read_to_string(&files.text).unwrap().contains("possible circular locking dependency"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_directory_others_can_write_is_refused_and_the_report_kept() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for mode in [0o777, 0o1777, 0o770, 0o702] {
        let dir = private_dir("shared");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let r = report_into(&dir);
        assert_eq!(r.dump(), None, "mode {mode:o}");
        assert!(r.to_string().contains("circular locking dependency"));
        assert_eq!(entries(&dir), Vec::<String>::new(), "mode {mode:o}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_directory_of_another_user_is_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mine = private_dir("owner");
    let me = std::fs::metadata(&mine).unwrap().uid();
    // Root can give a directory away; anyone else finds one owned by root.
    let theirs = if me == 0 {
        let d = mine.join("theirs");
        std::fs::DirBuilder::new().mode(0o700).create(&d).unwrap();
        std::os::unix::fs::chown(&d, Some(65534), None).unwrap();
        d
    } else {
        PathBuf::from("/")
    };
    assert_ne!(std::fs::metadata(&theirs).unwrap().uid(), me);
    let r = report_into(&theirs);
    assert_eq!(r.dump(), None);
    if me == 0 {
        assert_eq!(entries(&theirs), Vec::<String>::new());
    }
    std::fs::remove_dir_all(&mine).unwrap();
}

#[test]
fn a_missing_directory_is_created_private() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let base = private_dir("missing");
    let dir = base.join("a").join("b");
    let files = report_into(&dir).dump().expect("dump").clone();
    assert!(files.dot.starts_with(&dir));
    for d in [base.join("a"), dir.clone()] {
        assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o777, 0o700, "{d:?}");
    }
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn a_cycle_is_drawn_beside_the_dump() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = private_dir("svg");
    let r = report_into(&dir);
    let files = r.dump().expect("dump").clone();
    let svg_path = files.svg.clone().expect("a circular dependency is drawn");
    assert_eq!(seq(&svg_path), seq(&files.dot));
    assert_eq!(std::fs::metadata(&svg_path).unwrap().mode() & 0o777, 0o600);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{svg}");
    assert!(svg.contains("circular dependency of 2 classes"), "{svg}");
    // Both classes in red boxes; A -> B learned (solid), B -> A refused (dashed).
    assert_eq!(svg.matches(r#"class="node cycle""#).count(), 2, "{svg}");
    assert!(svg.contains(">A</text>") && svg.contains(">B</text>"), "{svg}");
    assert_eq!(svg.matches(r#"class="edge cycle""#).count(), 1, "{svg}");
    assert_eq!(svg.matches(r#"class="edge cycle closing""#).count(), 1, "{svg}");
    // The report names the picture once.
    let text = r.to_string();
    let shown = svg_path.file_name().unwrap().to_str().unwrap();
    assert_eq!(text.matches(shown).count(), 1, "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_report_without_a_cycle_has_no_picture() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = private_dir("nosvg");
    let a = LockdepMap::new("A", &KA);
    let v = Validator::new(Config::collect().with_backtraces(false).with_dump_dir(&dir));
    v.scope(|| {
        lockdep::mutex_release(&a);
    });
    let reports = v.reports();
    assert_eq!(reports.iter().map(|r| r.kind()).collect::<Vec<_>>(), [ReportKind::UnlockImbalance]);
    let files = reports[0].dump().expect("dump").clone();
    assert_eq!(files.svg, None);
    assert!(!reports[0].to_string().contains(".svg"));
    assert_eq!(entries(&dir).iter().filter(|e| e.ends_with(".svg")).count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
