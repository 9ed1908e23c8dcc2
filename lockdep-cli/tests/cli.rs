//! The `lockdep` command on graphs saved by real processes: two child
//! processes of this test binary each take one half of a lock-order cycle
//! with `LOCKDEP_SAVE` set; `lockdep check` finds the cycle neither saw,
//! `lockdep diff` gates on a baseline with the documented exit statuses,
//! and bad input is one error line with status 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lockdep::save::SavedGraph;
use lockdep::sync::Mutex;

/// The locks both halves take: one construction site each, so the two
/// processes' classes are the same classes.
fn locks() -> (Mutex<()>, Mutex<()>, Mutex<()>) {
    (Mutex::named((), "alpha"), Mutex::named((), "beta"), Mutex::named((), "gamma"))
}

#[test]
#[ignore = "a child process of the tests below (alpha, then beta)"]
fn half_alpha_then_beta() {
    let (alpha, beta, _) = locks();
    let _a = alpha.lock();
    let _b = beta.lock();
}

#[test]
#[ignore = "a child process of the tests below (beta, then alpha)"]
fn half_beta_then_alpha() {
    let (alpha, beta, _) = locks();
    let _b = beta.lock();
    let _a = alpha.lock();
}

#[test]
#[ignore = "a child process of the tests below (alpha, then gamma: no cycle)"]
fn half_alpha_then_gamma() {
    let (alpha, _, gamma) = locks();
    let _a = alpha.lock();
    let _g = gamma.lock();
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lockdep-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the test `name` of this binary as a child process saving its global
/// graph into `dir`.
fn run_half(name: &str, dir: &Path) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", name, "--test-threads=1"])
        .env("LOCKDEP_SAVE", format!("{}/", dir.display()))
        .env_remove("LOCKDEP_SAVE_TRACES")
        .output()
        .unwrap();
    assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
}

fn lockdep(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lockdep")).args(args.iter().map(|a| a.as_ref())).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_cycle_split_across_two_processes_is_found_and_gated() {
    let root = temp_dir("cross");
    let (a, b) = (root.join("a"), root.join("b"));
    run_half("half_alpha_then_beta", &a);
    run_half("half_beta_then_alpha", &b);
    for d in [&a, &b] {
        let files: Vec<_> = std::fs::read_dir(d).unwrap().collect();
        assert_eq!(files.len(), 1, "one saved graph per process in {}", d.display());
    }

    // Each half alone has no cycle.
    for d in [&a, &b] {
        let o = lockdep(&[&"check", d]);
        assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
        assert!(stdout(&o).contains("0 cycles"), "{}", stdout(&o));
    }
    // Together they do: the validator's report, naming the run of each edge.
    let o = lockdep(&[&"check", &a, &b]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}{}", stderr(&o));
    assert!(text.contains("WARNING: possible circular locking dependency detected"), "{text}");
    assert!(text.ends_with("1 cycle: 2 runs, 2 classes, 2 lock orders\n"), "{text}");
    let step =
        |to: &str| text.lines().find(|l| l.starts_with("-> #") && l.contains(&format!("({to})"))).map(str::to_owned);
    let (to_beta, to_alpha) = (step("beta").expect(&text), step("alpha").expect(&text));
    assert!(to_beta.contains("of run #0 cli-"), "alpha -> beta came from the first run: {to_beta}");
    assert!(to_alpha.contains("of run #1 cli-"), "beta -> alpha from the second: {to_alpha}");
    assert!(to_beta.contains(&a.display().to_string()) && to_alpha.contains(&b.display().to_string()), "{text}");
    assert!(to_beta.contains("\"half_alpha_then_beta\""), "the thread is named: {to_beta}");
    assert!(text.contains(&format!("held since  {}:", file!())), "acquisition sites: {text}");

    // A baseline of the first half: diffing the first half finds nothing new ...
    let base = root.join("lockdep-baseline.json");
    let o = lockdep(&[&"baseline", &"-o", &base, &a]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = lockdep(&[&"diff", &"--baseline", &base, &a]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("0 new lock orders since"), "{}", stdout(&o));
    // ... the second half is a new order closing a new cycle: status 1 either way.
    for fail_on in ["orders", "cycles"] {
        let o = lockdep(&[&"diff", &"--baseline", &base, &"--fail-on", &fail_on, &a, &b]);
        let text = stdout(&o);
        assert_eq!(o.status.code(), Some(1), "--fail-on {fail_on}: {text}");
        assert!(text.contains("1 new lock order since"), "{text}");
        assert!(text.contains("  beta -> alpha  [EN]"), "{text}");
        assert!(text.contains("1 new cycle\n"), "{text}");
    }
    // A new order that closes no cycle: status 1 by default, 0 with --fail-on cycles.
    let c = root.join("c");
    run_half("half_alpha_then_gamma", &c);
    let o = lockdep(&[&"diff", &"--baseline", &base, &c]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("  alpha -> gamma  [EN]"), "{}", stdout(&o));
    let o = lockdep(&[&"diff", &"--baseline", &base, &"--fail-on", &"cycles", &c]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("0 new cycles"), "{}", stdout(&o));
    // Accepting it: baseline --update keeps alpha -> beta and adds alpha -> gamma.
    let o = lockdep(&[&"baseline", &"--update", &"-o", &base, &c]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let g = SavedGraph::read(&base).unwrap();
    assert_eq!(g.edges.len(), 2);
    let o = lockdep(&[&"diff", &"--baseline", &base, &a, &c]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));

    // merge writes one graph with both runs.
    let merged = root.join("merged.json");
    let o = lockdep(&[&"merge", &a, &b, &"-o", &merged]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let g = SavedGraph::read(&merged).unwrap();
    assert_eq!((g.runs.len(), g.edges.len()), (2, 2));
    assert_eq!(g.cycles().len(), 1);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn bad_input_is_one_error_line_and_status_2() {
    let root = temp_dir("bad");
    let good = root.join("good.json");
    let mut g = SavedGraph::empty();
    g.runs.push(lockdep::save::Run::named("r"));
    g.write(&good).unwrap();
    let truncated = root.join("truncated.json");
    let text = std::fs::read_to_string(&good).unwrap();
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let hostile = root.join("hostile.json");
    std::fs::write(&hostile, text.replace("\"runs\": [", "\"runs\": [{\"name\": \"</script>\"}, ")).unwrap();
    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();

    let (missing, page) = (root.join("missing.json"), root.join("x.html"));
    let cases: Vec<(Vec<&dyn AsRef<std::ffi::OsStr>>, &str)> = vec![
        (vec![&"check", &good, &truncated], "truncated.json: truncated"),
        (vec![&"check", &missing], "missing.json: cannot read"),
        (vec![&"check", &empty], "no saved graph in"),
        (vec![&"--max-size", &"10", &"check", &good], "more than the limit of 10 bytes"),
        (vec![&"diff", &"--baseline", &truncated, &good], "truncated.json: truncated"),
        (vec![&"html", &truncated, &"-o", &page], "truncated.json"),
    ];
    for (args, needle) in cases {
        let o = lockdep(&args);
        assert_eq!(o.status.code(), Some(2), "{needle}: {}", stdout(&o));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("lockdep: error: ") && err.contains(needle), "{needle}: {err}");
    }
    // A hostile but valid file is just data.
    let o = lockdep(&[&"check", &hostile]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Usage errors are status 2 too (clap).
    assert_eq!(lockdep(&[&"diff", &good]).status.code(), Some(2));
    std::fs::remove_dir_all(&root).unwrap();
}
