//! `Config::from_env` takes the documented values and rejects everything
//! else with one line on stderr, keeping the default: `0` for a limit, any
//! spelling of a switch but the six documented ones.
//!
//! Each case runs in a child process (this test binary, re-run with
//! `LOCKDEP_ENV_CHILD` and the variable under test set): the environment is
//! the process's, and the child's stderr shows the lines.

use std::process::Command;

use lockdep::Config;

const CHILD: &str = "LOCKDEP_ENV_CHILD";
const VARS: [&str; 9] = [
    "LOCKDEP_BACKTRACE",
    "LOCKDEP_UNWINDER",
    "LOCKDEP_BACKTRACE_FRAMES",
    "LOCKDEP_RECORD_EVENTS",
    "LOCKDEP_MAX_DEPTH",
    "LOCKDEP_MAX_CLASSES",
    "LOCKDEP_MAX_DEPENDENCIES",
    "LOCKDEP_MAX_CHAINS",
    "LOCKDEP_NESTED_SITES",
];

/// The settings this file checks, as one line.
fn render(c: &Config) -> String {
    format!(
        "config: backtraces={} frames={} unwinder={:?} events={} depth={} classes={} dependencies={} chains={} nested=[{}]",
        c.backtraces,
        c.backtrace_frames,
        c.unwinder,
        c.record_events,
        c.max_depth,
        c.max_classes,
        c.max_dependencies,
        c.max_chains,
        c.nested_sites.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
    )
}

/// `render` of the defaults with `field` set to `value`.
fn expect(field: &str, value: &str) -> String {
    let d = render(&Config::default());
    let out: Vec<String> = d
        .split(' ')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k == field => format!("{k}={value}"),
            _ => kv.to_owned(),
        })
        .collect();
    assert_ne!(out.join(" "), d, "{field}={value} is the default: the case could not fail");
    out.join(" ")
}

/// Runs `Config::from_env` in a child with `var=value`; returns its
/// rendering and the lines it printed on stderr.
fn from_env_with(var: &str, value: &str) -> (String, Vec<String>) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "from_env_takes_documented_values_only", "--nocapture", "--test-threads=1"]);
    for v in VARS {
        cmd.env_remove(v);
    }
    let out = cmd.env(CHILD, "1").env(var, value).output().unwrap();
    assert!(out.status.success(), "{var}={value}: {out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // (After libtest's "test … " on the same line.)
    let config =
        stdout.lines().find_map(|l| l.find("config: ").map(|i| l[i..].to_owned())).expect("the child's config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    (config, stderr.lines().filter(|l| l.starts_with("lockdep:")).map(str::to_owned).collect())
}

#[test]
fn from_env_takes_documented_values_only() {
    if std::env::var_os(CHILD).is_some() {
        println!("{}", render(&Config::from_env()));
        return;
    }
    let default = render(&Config::default());
    // Taken, each with the setting it makes.
    let taken = [
        ("LOCKDEP_BACKTRACE", "0", "backtraces", "false"),
        ("LOCKDEP_BACKTRACE", "false", "backtraces", "false"),
        ("LOCKDEP_BACKTRACE", "off", "backtraces", "false"),
        ("LOCKDEP_RECORD_EVENTS", "1", "events", "true"),
        ("LOCKDEP_RECORD_EVENTS", "true", "events", "true"),
        ("LOCKDEP_RECORD_EVENTS", "on", "events", "true"),
        ("LOCKDEP_MAX_DEPTH", "1", "depth", "1"),
        ("LOCKDEP_MAX_CLASSES", "100", "classes", "100"),
        ("LOCKDEP_MAX_DEPENDENCIES", "7", "dependencies", "7"),
        ("LOCKDEP_MAX_CHAINS", "99", "chains", "99"),
        ("LOCKDEP_BACKTRACE_FRAMES", "8", "frames", "8"),
        ("LOCKDEP_BACKTRACE_FRAMES", "1", "frames", "1"),
        ("LOCKDEP_UNWINDER", "libgcc", "unwinder", "Libgcc"),
        ("LOCKDEP_NESTED_SITES", "src/sync/value_initializer.rs:98", "nested", "[src/sync/value_initializer.rs:98]"),
        ("LOCKDEP_NESTED_SITES", "a.rs:3, src/b.rs:4:5,", "nested", "[a.rs:3,src/b.rs:4:5]"),
    ];
    for (var, value, field, set) in taken {
        let (config, lines) = from_env_with(var, value);
        assert_eq!(config, expect(field, set), "{var}={value}");
        assert!(lines.is_empty(), "{var}={value}: {lines:?}");
    }
    // The switches' other documented spellings, equal to the defaults.
    for (var, value) in [
        ("LOCKDEP_BACKTRACE", "1"),
        ("LOCKDEP_BACKTRACE", "on"),
        ("LOCKDEP_RECORD_EVENTS", "off"),
        ("LOCKDEP_UNWINDER", "cached"),
    ] {
        let (config, lines) = from_env_with(var, value);
        assert_eq!(config, default, "{var}={value}");
        assert!(lines.is_empty(), "{var}={value}: {lines:?}");
    }
    // Rejected: one line naming the variable and the value; the default stays.
    let rejected = [
        ("LOCKDEP_MAX_DEPTH", "0"),
        ("LOCKDEP_MAX_CLASSES", "0"),
        ("LOCKDEP_MAX_DEPENDENCIES", "0"),
        ("LOCKDEP_MAX_CHAINS", "0"),
        ("LOCKDEP_MAX_CHAINS", "-1"),
        ("LOCKDEP_BACKTRACE_FRAMES", "0"),
        ("LOCKDEP_BACKTRACE_FRAMES", "many"),
        ("LOCKDEP_MAX_DEPTH", "lots"),
        ("LOCKDEP_BACKTRACE", "no"),
        ("LOCKDEP_BACKTRACE", "2"),
        ("LOCKDEP_BACKTRACE", ""),
        ("LOCKDEP_BACKTRACE", "OFF"),
        ("LOCKDEP_RECORD_EVENTS", "yes"),
        ("LOCKDEP_RECORD_EVENTS", "enabled"),
        ("LOCKDEP_NESTED_SITES", "src/a.rs"),
        ("LOCKDEP_NESTED_SITES", "a.rs:3,b.rs:x"),
        ("LOCKDEP_NESTED_SITES", "a.rs:0"),
        ("LOCKDEP_UNWINDER", "gcc"),
        ("LOCKDEP_UNWINDER", "Cached"),
    ];
    for (var, value) in rejected {
        let (config, lines) = from_env_with(var, value);
        assert_eq!(config, default, "{var}={value}");
        assert_eq!(lines.len(), 1, "{var}={value}: {lines:?}");
        assert!(lines[0].starts_with(&format!("lockdep: ignoring {var}={value:?} (expected ")), "{lines:?}");
    }
}
