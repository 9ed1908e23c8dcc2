//! `LOCKDEP_SUMMARY=<path>`: one line about the global validator, appended
//! to `<path>` when the process exits.
//!
//! A test suite runs one process per test binary, and each has its own
//! global validator; this is how a script running the suite learns what
//! each learned and reported without parsing stderr. The line is JSON,
//! written by hand (no serialisation dependency):
//!
//! ```text
//! {"lockdep_summary":1,"pid":4242,"exe":"sync_mutex-1a2b","complete":true,
//!  "classes":12,"direct_dependencies":9,"indirect_dependencies":30,"chains":21,
//!  "max_depth":3,"validating":true,"reports":[{"kind":"CircularDependency",
//!  "headline":"WARNING: possible circular locking dependency detected",
//!  "classes":["src/a.rs","src/b.rs"],"sites":["src/a.rs:10:9","src/b.rs:20:9"]}]}
//! ```
//!
//! (one line in the file). `classes` … `validating` are those of
//! [`Stats`](crate::Stats); each report has its kind (the `ReportKind`
//! variant), its headline, the classes involved — the cycle's for a circular
//! dependency, else the lock and the one it conflicts with — and the sites
//! where those were acquired, in the same order (duplicates removed).
//!
//! The line is written by an `atexit` handler, registered the first time the
//! global validator is created when the variable is set (so only on unix,
//! and only for exits that run `atexit` handlers: returning from `main`,
//! `std::process::exit`; not `abort` or a signal). Other threads may still
//! run then and may hold the validator's locks forever, so the handler only
//! *tries* them: if the graph is busy the counters are `null`, if the
//! reports are busy `reports` is `null`, and `complete` is false. It never
//! panics (a panic cannot unwind out of the handler), ignores write errors,
//! and writes nothing in a child of `fork()` (see `fork`). The path and the
//! executable's name are read when the handler is registered, not at exit.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{OnceLock, TryLockError};

use super::inner::Inner;
use crate::report::Report;
use crate::stats::Stats;

/// What the handler needs, fixed when it is registered.
struct Settings {
    path: PathBuf,
    exe: String,
    /// The global validator.
    global: &'static std::sync::Arc<Inner>,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Registers the exit handler if `LOCKDEP_SUMMARY` is set (once per
/// process; `global` is the global validator).
pub(crate) fn install(global: &'static std::sync::Arc<Inner>) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| install_once(global));
}

fn install_once(global: &'static std::sync::Arc<Inner>) {
    let Some(path) = std::env::var_os("LOCKDEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let exe = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    if SETTINGS.set(Settings { path: path.into(), exe, global }).is_ok() {
        register();
    }
}

#[cfg(unix)]
fn register() {
    // SAFETY: `at_exit` is a plain function that lives as long as the
    // program and never unwinds (it catches panics). A failed registration
    // (the table is full) only loses the summary.
    let _ = unsafe { sys::atexit(at_exit) };
}

#[cfg(not(unix))]
fn register() {}

/// The exit handler.
#[cfg(unix)]
extern "C" fn at_exit() {
    let _ = std::panic::catch_unwind(write_summary);
}

#[cfg_attr(not(unix), allow(dead_code))]
fn write_summary() {
    if crate::fork::in_forked_child_quiet() {
        return;
    }
    let Some(s) = SETTINGS.get() else { return };
    let v = s.global;
    let line = render(std::process::id(), &s.exe, try_stats(v), try_reports(v).as_deref());
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(&s.path) {
        // One write of the whole line: lines of concurrent processes do not interleave.
        let _ = f.write_all(line.as_bytes());
    }
}

/// The counters, unless another thread holds the graph lock.
fn try_stats(inner: &Inner) -> Option<Stats> {
    let sh = match inner.shared.try_lock() {
        Ok(g) => g,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return None,
    };
    let snap = super::stats::Snapshot::take(inner, &sh, false);
    drop(sh);
    Some(super::stats::stats_of(&snap))
}

/// The reports, unless another thread holds their lock.
fn try_reports(inner: &Inner) -> Option<Vec<Report>> {
    inner.try_reports()
}

/// The summary line (with its newline).
pub(crate) fn render(pid: u32, exe: &str, stats: Option<Stats>, reports: Option<&[Report]>) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(out, "{{\"lockdep_summary\":1,\"pid\":{pid},\"exe\":");
    string(&mut out, exe);
    let _ = write!(out, ",\"complete\":{}", stats.is_some() && reports.is_some());
    let counts = stats.as_ref().map(|s| {
        [
            s.classes.to_string(),
            s.direct_dependencies.to_string(),
            s.indirect_dependencies.to_string(),
            s.chains.to_string(),
            s.max_depth.to_string(),
            s.validating.to_string(),
        ]
    });
    let names = ["classes", "direct_dependencies", "indirect_dependencies", "chains", "max_depth", "validating"];
    for (i, name) in names.iter().enumerate() {
        let value = counts.as_ref().map_or("null", |c| c[i].as_str());
        let _ = write!(out, ",\"{name}\":{value}");
    }
    out.push_str(",\"reports\":");
    match reports {
        None => out.push_str("null"),
        Some(reports) => {
            out.push('[');
            for (i, r) in reports.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                report(&mut out, r);
            }
            out.push(']');
        }
    }
    out.push_str("}\n");
    out
}

/// One report: kind, headline, the classes involved and their sites.
fn report(out: &mut String, r: &Report) {
    let mut locks = Vec::new();
    if r.chain().is_empty() {
        locks.extend(r.lock());
        locks.extend(r.other());
    } else {
        for step in r.chain() {
            locks.push(step.from());
            locks.push(step.to());
        }
    }
    let mut classes: Vec<&str> = Vec::new();
    let mut sites: Vec<String> = Vec::new();
    for l in locks {
        if !classes.contains(&l.class()) {
            classes.push(l.class());
        }
        let at = l.location();
        let site = format!("{}:{}:{}", at.file(), at.line(), at.column());
        if !sites.contains(&site) {
            sites.push(site);
        }
    }
    let _ = write!(out, "{{\"kind\":\"{:?}\",\"headline\":", r.kind());
    string(out, r.kind().headline());
    out.push_str(",\"classes\":");
    list(out, classes.iter().copied());
    out.push_str(",\"sites\":");
    list(out, sites.iter().map(String::as_str));
    out.push('}');
}

fn list<'a>(out: &mut String, items: impl Iterator<Item = &'a str>) {
    out.push('[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, s);
    }
    out.push(']');
}

/// `s` as a JSON string.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The C library function used here (std links the C library on unix).
#[cfg(unix)]
mod sys {
    use std::ffi::c_int;

    unsafe extern "C" {
        pub(super) fn atexit(f: extern "C" fn()) -> c_int;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let mut out = String::new();
        string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn busy_locks_give_nulls() {
        let line = render(7, "t", None, None);
        assert_eq!(
            line,
            "{\"lockdep_summary\":1,\"pid\":7,\"exe\":\"t\",\"complete\":false,\"classes\":null,\
             \"direct_dependencies\":null,\"indirect_dependencies\":null,\"chains\":null,\"max_depth\":null,\
             \"validating\":null,\"reports\":null}\n"
        );
    }
}
