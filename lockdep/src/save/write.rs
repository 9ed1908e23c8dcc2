//! Writing a saved graph to a file, safely when many processes write into
//! one directory at once.
//!
//! * To a **file**: the JSON goes to a new temporary file beside it
//!   (created new, never through a symlink), which is then renamed over the
//!   target — a reader sees the old file or the whole new one, never half.
//! * To a **directory** (a path that is one, or ends with `/`): each call
//!   writes a file of its own, `lockdep-<program>-<pid>-<time>-<n>.json`,
//!   through a temporary file that is hard-linked to that name (which fails
//!   rather than replace an existing file: the next `<n>` is taken) — so
//!   concurrent processes never clobber or interleave each other's graphs.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::format::SavedGraph;

/// The `<n>` of this process's next file name.
static SEQ: AtomicU64 = AtomicU64::new(0);

/// Names tried before giving up.
const MAX_TRIES: usize = 64;

/// Writes `g` to `path` (see the module docs); returns the file written.
pub(crate) fn write_graph(g: &SavedGraph, path: &Path) -> io::Result<PathBuf> {
    let bytes = serde_json::to_vec_pretty(g).map_err(io::Error::other)?;
    let to_dir = path.is_dir() || path.as_os_str().to_string_lossy().ends_with(std::path::is_separator);
    if to_dir {
        std::fs::create_dir_all(path)?;
        write_new_in(path, &bytes)
    } else {
        replace_file(path, &bytes)?;
        Ok(path.to_owned())
    }
}

/// A token that differs between any two calls in any two processes that
/// run at the same time: pid, time, sequence number.
fn unique() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

/// The program name, kept to characters that are safe in a file name.
fn program_for_file_name() -> String {
    let name = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut s: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(48).collect();
    if s.is_empty() {
        s.push_str("process");
    }
    s
}

/// Creates `path`, which must not exist (a symlink there counts as existing
/// and is not followed).
fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Writes `bytes` to a new temporary file in `dir`; returns its path.
fn write_temp(dir: &Path, stem: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    for _ in 0..MAX_TRIES {
        let tmp = dir.join(format!(".{stem}.{}.tmp", unique()));
        let mut f = match create_new(&tmp) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        if let Err(e) = f.write_all(bytes) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        return Ok(tmp);
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary file name"))
}

fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let stem = path.file_name().map_or_else(|| "lockdep".into(), |n| n.to_string_lossy().into_owned());
    let tmp = write_temp(dir, &stem, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

fn write_new_in(dir: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let program = program_for_file_name();
    let tmp = write_temp(dir, "lockdep", bytes)?;
    let result = (|| {
        for _ in 0..MAX_TRIES {
            let target = dir.join(format!("lockdep-{program}-{}.json", unique()));
            match std::fs::hard_link(&tmp, &target) {
                Ok(()) => return Ok(target),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                // A file system without hard links: the name is unique
                // (pid, time, sequence), so a rename is as good unless it
                // appeared meanwhile.
                Err(_) if !target.exists() => return std::fs::rename(&tmp, &target).map(|()| target),
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{MAX_TRIES} file names in a row were taken")))
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}
