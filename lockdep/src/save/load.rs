//! Reading a saved graph: untrusted input (CI artifacts, other machines),
//! so every limit is checked and every problem is one [`LoadError`], never a
//! panic.

use std::collections::HashSet;
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::format::{FORMAT, SavedGraph, VERSION, clip};
use crate::class::MAX_SUBCLASSES;

/// How much a saved graph may hold; a file beyond any of these is refused.
///
/// The defaults ([`Limits::default`]) are far above what a validator with
/// its default limits saves (8192 classes, 16384 dependencies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// File size in bytes (default 64 MiB).
    pub max_bytes: u64,
    /// Classes (default 1,000,000).
    pub max_classes: usize,
    /// Dependencies (default 4,000,000).
    pub max_edges: usize,
    /// Runs (default 100,000).
    pub max_runs: usize,
    /// Origins of one dependency (default 64).
    pub max_origins: usize,
    /// Frames of one stack trace (default 256).
    pub max_frames: usize,
    /// Bytes of one string: a name, a path, a function (default 16 KiB).
    pub max_string: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 << 20,
            max_classes: 1_000_000,
            max_edges: 4_000_000,
            max_runs: 100_000,
            max_origins: 64,
            max_frames: 256,
            max_string: 16 << 10,
        }
    }
}

impl Limits {
    /// The default limits with another file size limit.
    pub fn with_max_bytes(mut self, n: u64) -> Self {
        self.max_bytes = n;
        self
    }
}

/// What went wrong reading a saved graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoadErrorKind {
    /// The file could not be read.
    Io,
    /// Larger than [`Limits`] allow.
    TooLarge,
    /// Not JSON, truncated JSON, or JSON of another shape.
    Syntax,
    /// JSON, but not a saved lockdep graph (`format` is not [`FORMAT`]).
    NotAGraph,
    /// A saved graph of a format version this lockdep does not read.
    Version,
    /// A saved graph whose contents contradict themselves (an index out of
    /// range, a duplicate class or dependency, an invalid subclass, …).
    Invalid,
}

/// A saved graph that could not be read: one sentence saying why, with the
/// file it came from.
#[derive(Clone, Debug)]
pub struct LoadError {
    kind: LoadErrorKind,
    path: Option<PathBuf>,
    message: String,
}

impl LoadError {
    pub(crate) fn new(kind: LoadErrorKind, message: impl Into<String>) -> LoadError {
        LoadError { kind, path: None, message: message.into() }
    }

    fn at(mut self, path: &Path) -> LoadError {
        self.path = Some(path.to_owned());
        self
    }

    /// What kind of problem it is.
    pub fn kind(&self) -> LoadErrorKind {
        self.kind
    }

    /// The file, when the graph was read from one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The reason, without the file name.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}: ", p.display())?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

impl SavedGraph {
    /// Reads a saved graph from JSON text, within the default [`Limits`].
    pub fn from_json(bytes: &[u8]) -> Result<SavedGraph, LoadError> {
        SavedGraph::from_json_with(bytes, &Limits::default())
    }

    /// Reads a saved graph from JSON text, within `limits`.
    pub fn from_json_with(bytes: &[u8], limits: &Limits) -> Result<SavedGraph, LoadError> {
        if bytes.len() as u64 > limits.max_bytes {
            return Err(too_large(bytes.len() as u64, limits));
        }
        // The header first, so that another format or version is named as
        // such rather than as whichever field it lacks.
        #[derive(serde::Deserialize)]
        struct Header {
            format: Option<serde_json::Value>,
            version: Option<serde_json::Value>,
        }
        let header: Header = serde_json::from_slice(bytes).map_err(|e| syntax(&e))?;
        match header.format {
            Some(serde_json::Value::String(f)) if f == FORMAT => {}
            _ => {
                return Err(LoadError::new(
                    LoadErrorKind::NotAGraph,
                    format!("not a saved lockdep graph (no \"format\": \"{FORMAT}\")"),
                ));
            }
        }
        match header.version.as_ref().and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(VERSION) => {}
            Some(1) => {
                return Err(LoadError::new(
                    LoadErrorKind::Version,
                    format!(
                        "saved graph format version 1, whose classes are keyed by construction site only; \
                         this lockdep keys them by site and data type (version {VERSION}): save the graph again"
                    ),
                ));
            }
            Some(v) => {
                return Err(LoadError::new(
                    LoadErrorKind::Version,
                    format!("saved graph format version {v}; this lockdep reads version {VERSION}"),
                ));
            }
            None => return Err(LoadError::new(LoadErrorKind::Version, "saved graph without a format version")),
        }
        let g: SavedGraph = serde_json::from_slice(bytes).map_err(|e| syntax(&e))?;
        g.validate(limits)?;
        Ok(g)
    }

    /// Reads a saved graph from a file, within the default [`Limits`].
    pub fn read(path: impl AsRef<Path>) -> Result<SavedGraph, LoadError> {
        SavedGraph::read_with(path, &Limits::default())
    }

    /// Reads a saved graph from a file, within `limits`. The size limit is
    /// enforced while reading (a file that grows, or a FIFO, is cut off).
    pub fn read_with(path: impl AsRef<Path>, limits: &Limits) -> Result<SavedGraph, LoadError> {
        let path = path.as_ref();
        let io = |e: std::io::Error| LoadError::new(LoadErrorKind::Io, format!("cannot read: {e}")).at(path);
        let file = std::fs::File::open(path).map_err(io)?;
        if let Ok(m) = file.metadata() {
            if m.is_dir() {
                return Err(LoadError::new(LoadErrorKind::Io, "is a directory").at(path));
            }
            if m.len() > limits.max_bytes {
                return Err(too_large(m.len(), limits).at(path));
            }
        }
        let mut bytes = Vec::new();
        file.take(limits.max_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
        SavedGraph::from_json_with(&bytes, limits).map_err(|e| e.at(path))
    }

    /// Checks what the types cannot say.
    fn validate(&self, limits: &Limits) -> Result<(), LoadError> {
        let invalid = |m: String| Err(LoadError::new(LoadErrorKind::Invalid, m));
        let count = |what: &str, n: usize, max: usize| {
            if n > max {
                Err(LoadError::new(LoadErrorKind::TooLarge, format!("{n} {what}, more than the limit of {max}")))
            } else {
                Ok(())
            }
        };
        count("runs", self.runs.len(), limits.max_runs)?;
        count("classes", self.classes.len(), limits.max_classes)?;
        count("dependencies", self.edges.len(), limits.max_edges)?;
        let long = |s: &str| s.len() > limits.max_string;
        let long_string = |what: &str| {
            Err(LoadError::new(
                LoadErrorKind::TooLarge,
                format!("a {what} longer than the limit of {} bytes", limits.max_string),
            ))
        };
        if self.runs.is_empty() && !self.edges.is_empty() {
            return invalid("dependencies without any run".into());
        }
        for r in &self.runs {
            if long(&r.name) || r.validator.as_deref().is_some_and(long) || r.source.as_deref().is_some_and(long) {
                return long_string("run name");
            }
        }
        let mut identities = HashSet::with_capacity(self.classes.len());
        for (i, c) in self.classes.iter().enumerate() {
            if long(&c.name) {
                return long_string("class name");
            }
            match &c.key {
                super::Key::Site(s) if long(&s.file) => return long_string("file name"),
                super::Key::Addr(a) if long(a) => return long_string("key address"),
                _ => {}
            }
            match (&c.key, &c.ty) {
                (_, Some(ty)) if long(ty) => return long_string("type name"),
                (super::Key::Addr(_), Some(_)) => {
                    return invalid(format!("class {i} ({}) has a type but no site key", clip(&c.name)));
                }
                _ => {}
            }
            if c.subclass >= MAX_SUBCLASSES {
                return invalid(format!("class {i} ({}) has subclass {}", clip(&c.name), c.subclass));
            }
            if !identities.insert(c.identity()) {
                return invalid(format!("class {i} ({}) appears twice", clip(&c.display_name())));
            }
        }
        let mut pairs = HashSet::with_capacity(self.edges.len());
        for (i, e) in self.edges.iter().enumerate() {
            let n = self.classes.len();
            if e.from >= n || e.to >= n {
                return invalid(format!("dependency {i} names class {} of {n}", e.from.max(e.to)));
            }
            if !pairs.insert((e.from, e.to)) {
                return invalid(format!("dependency {i} ({} -> {}) appears twice", e.from, e.to));
            }
            if e.seen.is_empty() {
                return invalid(format!("dependency {i} was seen by no run"));
            }
            count("origins of one dependency", e.seen.len(), limits.max_origins)?;
            for o in &e.seen {
                if o.run >= self.runs.len() {
                    return invalid(format!("dependency {i} names run {} of {}", o.run, self.runs.len()));
                }
                count("frames in one stack trace", o.trace.len(), limits.max_frames)?;
                let strings = [&o.held.instance, &o.taken.instance, &o.held.site.file, &o.taken.site.file];
                if strings.into_iter().any(|s| long(s)) || o.thread.as_deref().is_some_and(long) {
                    return long_string("name or path");
                }
                if o.trace.iter().any(|f| long(&f.function) || f.file.as_deref().is_some_and(long)) {
                    return long_string("stack frame");
                }
            }
        }
        Ok(())
    }
}

fn too_large(n: u64, limits: &Limits) -> LoadError {
    LoadError::new(LoadErrorKind::TooLarge, format!("{n} bytes, more than the limit of {} bytes", limits.max_bytes))
}

fn syntax(e: &serde_json::Error) -> LoadError {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "truncated",
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "not a valid saved lockdep graph",
        serde_json::error::Category::Io => "unreadable",
    };
    // serde_json's message names the field and position; untrusted text in
    // it (an unknown variant, say) is clipped.
    LoadError::new(LoadErrorKind::Syntax, format!("{what}: {}", clip_message(&e.to_string())))
}

fn clip_message(s: &str) -> String {
    let mut out: String = s.chars().take(300).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
