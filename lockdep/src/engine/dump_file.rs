//! Writing the dump files of a report (`Config::dump_dir`,
//! `LOCKDEP_DUMP_DIR`) without letting anyone else choose what they
//! overwrite.
//!
//! The names are predictable (`lockdep-<pid>-<n>.dot` / `.txt`, and `.svg`
//! for a cycle) and the
//! directory may be shared, so:
//!
//! * each file is created new (`O_CREAT | O_EXCL`, mode 0600): an existing
//!   file or a symlink planted at that name is never followed, truncated or
//!   overwritten — the next `n` is tried instead;
//! * a directory that does not exist is created private (0700);
//! * on unix, a directory that another user owns, or that anyone but its
//!   owner may write to (group or others, sticky bit or not), is refused —
//!   so is a symlink to it that another user owns: one line on stderr, the
//!   report has no dump, it is kept and dispatched as usual.
//!
//! Errors never reach the host either: they are one line on stderr (see
//! [`output`](crate::output)), printed with no engine lock held.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::inner::Inner;
use crate::output::say;
use crate::report::{DumpFiles, Report};

/// The `n` of the next dump name (process-wide).
static DUMP_SEQ: AtomicU64 = AtomicU64::new(1);

/// Names tried for one dump before giving up (a clash only comes from
/// files left by an earlier process with the same pid, or planted ones).
const MAX_TRIES: usize = 64;

/// Writes the dump files for `report` into `dir`. A refused directory or an
/// error gives no dump and one line on stderr; the report itself is never
/// lost.
pub(crate) fn write_dump(inner: &Inner, report: &Report, dir: &Path) -> Option<DumpFiles> {
    if let Err(why) = prepare_dir(dir) {
        say!("lockdep: no graph dump for this report: {why}");
        return None;
    }
    let (dot, text, svg) = super::stats::dump_texts(inner, report);
    match create_files(dir, dot.as_bytes(), text.as_bytes(), svg.as_deref().map(str::as_bytes)) {
        Ok(files) => Some(files),
        Err(e) => {
            say!("lockdep: could not write the graph dump to {}: {e}", dir.display());
            None
        }
    }
}

/// Makes sure `dir` is a directory the dump may go to (see the module
/// docs), creating it private if it does not exist.
fn prepare_dir(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_private_dir(dir).map_err(|e| format!("could not create the dump directory {shown}: {e}"))?;
            std::fs::metadata(dir).map_err(|e| format!("the dump directory {shown}: {e}"))?
        }
        Err(e) => return Err(format!("the dump directory {shown}: {e}")),
    };
    if !meta.is_dir() {
        return Err(format!("the dump directory {shown} is not a directory"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let me = sys::euid();
        // A symlink in a shared directory can be re-pointed by its owner.
        if let Ok(link) = std::fs::symlink_metadata(dir) {
            if link.file_type().is_symlink() && link.uid() != me && link.uid() != 0 {
                return Err(format!(
                    "the dump directory {shown} is a symlink owned by another user (uid {}); use a directory of your own",
                    link.uid()
                ));
            }
        }
        if meta.uid() != me {
            return Err(format!(
                "the dump directory {shown} belongs to another user (uid {}); use a directory of your own",
                meta.uid()
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!(
                "the dump directory {shown} can be written by other users (mode {:o}); make it private \
                 (chmod go-w) or use another one",
                meta.mode() & 0o7777
            ));
        }
    }
    Ok(())
}

/// Creates `dir` (and missing parents) readable and writable by this user only.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Creates `path`, which must not exist (a symlink there counts as existing
/// and is not followed), readable and writable by this user only.
fn create_new(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// Creates the files (two, or three with a picture) under the first free
/// `lockdep-<pid>-<n>` stem and writes them.
fn create_files(dir: &Path, dot: &[u8], text: &[u8], svg: Option<&[u8]>) -> io::Result<DumpFiles> {
    let pid = std::process::id();
    'names: for _ in 0..MAX_TRIES {
        let n = DUMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let files = DumpFiles {
            dot: dir.join(format!("lockdep-{pid}-{n}.dot")),
            text: dir.join(format!("lockdep-{pid}-{n}.txt")),
            svg: svg.map(|_| dir.join(format!("lockdep-{pid}-{n}.svg"))),
        };
        let wanted: Vec<(&std::path::PathBuf, &[u8])> =
            [(Some(&files.dot), dot), (Some(&files.text), text), (files.svg.as_ref(), svg.unwrap_or_default())]
                .into_iter()
                .filter_map(|(p, b)| Some((p?, b)))
                .collect();
        let mut created: Vec<(File, &[u8])> = Vec::with_capacity(wanted.len());
        for (i, &(path, bytes)) in wanted.iter().enumerate() {
            match create_new(path) {
                Ok(f) => created.push((f, bytes)),
                Err(e) => {
                    // Ours, just created, in a directory nobody else writes.
                    drop(created);
                    for (p, _) in &wanted[..i] {
                        let _ = std::fs::remove_file(p);
                    }
                    if e.kind() == io::ErrorKind::AlreadyExists {
                        continue 'names;
                    }
                    return Err(e);
                }
            }
        }
        let written = created.into_iter().try_for_each(|(f, bytes)| fill(f, bytes));
        if let Err(e) = written {
            remove_all(&files);
            return Err(e);
        }
        return Ok(files);
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{MAX_TRIES} dump names in a row were taken by existing files"),
    ))
}

fn fill(mut f: File, bytes: &[u8]) -> io::Result<()> {
    f.write_all(bytes)?;
    f.flush()
}

fn remove_all(files: &DumpFiles) {
    for p in [Some(&files.dot), Some(&files.text), files.svg.as_ref()].into_iter().flatten() {
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(unix)]
mod sys {
    unsafe extern "C" {
        // Safe to call: no arguments, cannot fail (POSIX).
        safe fn geteuid() -> u32;
    }

    /// The effective user id of this process.
    pub(super) fn euid() -> u32 {
        geteuid()
    }
}
