//! `LOCKDEP_SUMMARY=<path>`: a process that used the global validator
//! appends one JSON line to `<path>` at exit, with the counts the validator
//! learned and its reports.
//!
//! Each case runs this test binary again as a child (`LOCKDEP_SUMMARY_CHILD`
//! set, the variable pointing into a fresh directory), since the line is
//! written at the child's exit. The child prints the counts it sees through
//! `Validator::global().stats()` just before exiting; the line must carry
//! the same.
//!
//! (Validation compiled in, unix only: `required-features = ["enabled"]`.)
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::Command;

use lockdep::Validator;
use lockdep::sync::Mutex;

const CHILD: &str = "LOCKDEP_SUMMARY_CHILD";

/// A directory of its own for one case.
fn scratch(case: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockdep-summary-{}-{case}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the child case `name` with `LOCKDEP_SUMMARY=file` (or unset);
/// returns the counts line it printed.
fn run_child(name: &str, file: Option<&Path>) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"]).env(CHILD, "1").env("LOCKDEP_ACTION", "collect");
    match file {
        Some(f) => cmd.env("LOCKDEP_SUMMARY", f),
        None => cmd.env_remove("LOCKDEP_SUMMARY"),
    };
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout.lines().find_map(|l| l.find("counts: ").map(|i| l[i + 8..].to_owned())).expect("the child's counts")
}

/// The counts of the global validator, as the summary line writes them.
fn counts() -> String {
    let s = Validator::global().stats();
    format!(
        "\"classes\":{},\"direct_dependencies\":{},\"indirect_dependencies\":{},\"chains\":{},\"max_depth\":{},\
         \"validating\":{}",
        s.classes, s.direct_dependencies, s.indirect_dependencies, s.chains, s.max_depth, s.validating
    )
}

/// The value of `"key":` in a summary line, up to the next `,` or `}`
/// (numbers, booleans, null).
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let pat = format!("\"{key}\":");
    let at = line.find(&pat).unwrap_or_else(|| panic!("no {key} in {line}")) + pat.len();
    let rest = &line[at..];
    &rest[..rest.find([',', '}']).unwrap()]
}

#[test]
fn summary_line_has_the_counts_and_the_reports() {
    if std::env::var_os(CHILD).is_some() {
        let a = Mutex::named(0, "summary_a");
        let b = Mutex::named(0, "summary_b");
        {
            let _ga = a.lock();
            let _gb = b.lock();
        }
        {
            let _gb = b.lock();
            let _ga = a.lock(); // closes the cycle: one report (collected)
        }
        assert_eq!(Validator::global().reports().len(), 1);
        println!("counts: {}", counts());
        return;
    }
    let dir = scratch("counts");
    let file = dir.join("summary.jsonl");
    let expected = run_child("summary_line_has_the_counts_and_the_reports", Some(&file));
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line = lines[0];
    assert!(text.ends_with("}\n"), "{text}");
    assert!(line.starts_with("{\"lockdep_summary\":1,\"pid\":"), "{line}");
    assert_eq!(field(line, "complete"), "true");
    assert!(line.contains(&expected), "the line has the counts the child saw:\n{expected}\n{line}");
    // Two classes and one dependency, a -> b (b -> a closed a cycle: reported, not added).
    assert_eq!(field(line, "classes"), "2");
    assert_eq!(field(line, "direct_dependencies"), "1");
    let exe = std::env::current_exe().unwrap();
    let exe = exe.file_name().unwrap().to_string_lossy();
    assert!(line.contains(&format!("\"exe\":\"{exe}\"")), "{line}");
    let reports = &line[line.find("\"reports\":[").expect("a report list")..];
    assert_eq!(reports.matches("\"kind\":").count(), 1, "{line}");
    assert!(reports.contains("\"kind\":\"CircularDependency\""), "{line}");
    assert!(reports.contains("\"headline\":\"WARNING: possible circular locking dependency detected\""), "{line}");
    assert!(reports.contains("\"summary_a\"") && reports.contains("\"summary_b\""), "{line}");
    assert!(reports.contains(&format!("\"sites\":[\"{}:", file!())), "the acquisition sites: {line}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn each_process_appends_its_own_line() {
    if std::env::var_os(CHILD).is_some() {
        let m = Mutex::named(0, "summary_one");
        drop(m.lock());
        println!("counts: {}", counts());
        return;
    }
    let dir = scratch("append");
    let file = dir.join("summary.jsonl");
    let first = run_child("each_process_appends_its_own_line", Some(&file));
    let second = run_child("each_process_appends_its_own_line", Some(&file));
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains(&first) && lines[1].contains(&second), "{text}");
    assert_eq!(field(lines[0], "classes"), "1");
    assert_ne!(field(lines[0], "pid"), field(lines[1], "pid"));
    assert!(lines.iter().all(|l| l.ends_with("\"reports\":[]}")), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_variable_no_file() {
    if std::env::var_os(CHILD).is_some() {
        let m = Mutex::named(0, "summary_none");
        drop(m.lock());
        println!("counts: {}", counts());
        return;
    }
    let dir = scratch("none");
    // The child runs in `dir` with the variable unset, then set empty:
    // nothing is written in it (nor anywhere else: there is no path).
    for value in [None, Some("")] {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "no_variable_no_file", "--nocapture"]).env(CHILD, "1").current_dir(&dir);
        match value {
            Some(v) => cmd.env("LOCKDEP_SUMMARY", v),
            None => cmd.env_remove("LOCKDEP_SUMMARY"),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("counts: \"classes\":1,"), "{out:?}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{value:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
