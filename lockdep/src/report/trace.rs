//! Stack traces: captured as instruction pointers when a dependency is first
//! recorded, resolved to functions and lines only when a report is printed.

use std::fmt;
use std::sync::Arc;

use crate::config::Unwinder;

/// A stack trace, captured unresolved and resolved on demand. Clones share
/// the stored trace.
#[derive(Clone, PartialEq, Eq)]
pub struct Trace {
    pub(crate) ips: Arc<[usize]>,
}

/// One resolved frame of a [`Trace`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The demangled function name.
    pub function: String,
    /// The source file, when debug info has it.
    pub file: Option<String>,
    /// The line, when debug info has it.
    pub line: Option<u32>,
}

impl Trace {
    /// Captures the current stack as the validator does for a new
    /// dependency (unresolved, at most `max_frames` frames, at least 1),
    /// with `unwinder` alone: `None` when [`Unwinder::Cached`] cannot walk
    /// this stack (the validator then captures with [`Unwinder::Libgcc`]),
    /// and always when validation is compiled out.
    ///
    /// The first frame is the return address into the function that called
    /// `capture`'s internal walk (lockdep's own, a few frames above the
    /// caller of `Trace::capture`; [`frames`](Trace::frames) trims them).
    pub fn capture(max_frames: usize, unwinder: Unwinder) -> Option<Trace> {
        #[cfg(lockdep_on)]
        {
            crate::engine::capture_trace(max_frames, unwinder).map(|ips| Trace { ips: ips.into() })
        }
        #[cfg(not(lockdep_on))]
        {
            let _ = (max_frames, unwinder);
            None
        }
    }

    /// The captured frames' addresses, innermost first: return addresses
    /// (each one past the call it returns to), as libgcc's unwinder reports
    /// them.
    pub fn ips(&self) -> &[usize] {
        &self.ips
    }

    /// Number of captured frames (before trimming).
    pub fn len(&self) -> usize {
        self.ips.len()
    }

    /// Whether nothing was captured.
    pub fn is_empty(&self) -> bool {
        self.ips.is_empty()
    }

    /// Resolves the frames, trimming the validator's own frames at the top
    /// and the runtime's start-up frames at the bottom. (Empty when
    /// validation is compiled out: no trace is ever captured then, and the
    /// resolver is not compiled in.)
    pub fn frames(&self) -> Vec<Frame> {
        let mut out: Vec<Frame> = Vec::new();
        #[cfg(lockdep_on)]
        for &ip in self.ips.iter() {
            backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
                let function = sym.name().map(|n| format!("{n:#}")).unwrap_or_else(|| format!("{ip:#x}"));
                let file = sym.filename().map(|p| p.display().to_string());
                out.push(Frame { function, file, line: sym.lineno() });
            });
        }
        // The validator's own frames (and the std/core glue between them) sit
        // on top; the first frame outside them is the caller's.
        let internal = |f: &Frame| {
            let n = f.function.trim_start_matches('<');
            ["lockdep::", "backtrace::", "lock_api::", "parking_lot::", "core::", "std::", "alloc::"]
                .iter()
                .any(|p| n.starts_with(p))
        };
        let start = out.iter().position(|f| !internal(f)).unwrap_or(out.len());
        let mut frames: Vec<Frame> =
            out.drain(start..).filter(|f| !f.function.trim_start_matches('<').starts_with("lockdep::")).collect();
        if let Some(end) = frames.iter().position(|f| {
            f.function.contains("__rust_begin_short_backtrace")
                || f.function.starts_with("std::rt::")
                || f.function.starts_with("std::panicking::")
                || f.function.starts_with("test::run_test")
        }) {
            frames.truncate(end);
        }
        frames
    }
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Trace({} frames)", self.ips.len())
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, fr) in self.frames().iter().enumerate().take(12) {
            write!(f, "         {i}: {}", fr.function)?;
            if let Some(file) = &fr.file {
                write!(f, "   {}", short_path(file))?;
                if let Some(l) = fr.line {
                    write!(f, ":{l}")?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// A path relative to the current directory when it is inside it.
fn short_path(p: &str) -> String {
    if let Ok(cwd) = std::env::current_dir() {
        if let Some(rest) = p.strip_prefix(&*cwd.to_string_lossy()) {
            return rest.trim_start_matches('/').to_owned();
        }
    }
    p.to_owned()
}
