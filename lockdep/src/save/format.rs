//! The saved graph as data: the types the JSON format is made of.
//!
//! Every type here is (de)serialized with serde; the field names are the
//! JSON keys. What a value may hold beyond what its type says (indices in
//! range, no duplicate class, …) is checked when a graph is read, by
//! [`SavedGraph::from_json`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::class::Read;
use crate::report::DepTypes;

/// The value of the `format` key of every saved graph.
pub const FORMAT: &str = "lockdep-graph";

/// The format version this lockdep writes and reads: 2 since classes made
/// by the lock types are keyed by construction site *and* data type
/// ([`SavedClass::ty`]). A version-1 graph keyed them by site only, so its
/// site classes would match none of this lockdep's: it is refused, with a
/// message saying to save it again.
pub const VERSION: u32 = 2;

/// A learned class graph: the classes, the dependencies between them, and
/// the runs (processes) that learned them. A graph saved by one process has
/// one run; a merged graph or a baseline has one per input run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SavedGraph {
    /// Always [`FORMAT`].
    pub format: String,
    /// The format version, [`VERSION`].
    pub version: u32,
    /// The runs the graph was learned from; edges name them by index.
    pub runs: Vec<Run>,
    /// The classes; edges name them by index.
    pub classes: Vec<SavedClass>,
    /// The dependencies, each a distinct ordered pair of classes.
    pub edges: Vec<SavedEdge>,
}

/// One run: a process (or a merged file) that contributed dependencies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Run {
    /// A name for people: the program's file name when the graph was saved
    /// by a process.
    pub name: String,
    /// The process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The name of the validator that learned the graph.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validator: Option<String>,
    /// When the graph was saved, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved_at: Option<u64>,
    /// The file the run was read from (set by a merge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Run {
    /// A run named `name`, with nothing else known.
    pub fn named(name: impl Into<String>) -> Run {
        Run { name: name.into(), pid: None, validator: None, saved_at: None, source: None }
    }
}

/// `name (pid N, validator V, source)`, each part when known (the
/// validator when it is not the global one).
impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        let mut parts = Vec::new();
        if let Some(pid) = self.pid {
            parts.push(format!("pid {pid}"));
        }
        if let Some(v) = self.validator.as_deref().filter(|v| *v != "global") {
            parts.push(format!("validator {v}"));
        }
        if let Some(src) = &self.source {
            parts.push(src.clone());
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// A source location, `file:line:column`, as the JSON writes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Site {
    /// The file, as the compiler named it.
    pub file: String,
    /// The line (from 1).
    pub line: u32,
    /// The column (from 1).
    pub col: u32,
}

impl Site {
    /// A site from its parts.
    pub fn new(file: impl Into<String>, line: u32, col: u32) -> Site {
        Site { file: file.into(), line, col }
    }

    #[cfg_attr(not(lockdep_on), allow(dead_code))]
    pub(crate) fn of(loc: &std::panic::Location<'_>) -> Site {
        Site::new(loc.file(), loc.line(), loc.column())
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

impl From<Site> for String {
    fn from(s: Site) -> String {
        s.to_string()
    }
}

impl TryFrom<String> for Site {
    type Error = String;
    fn try_from(s: String) -> Result<Site, String> {
        // The file may itself contain ':' (a Windows drive): split from the right.
        let mut parts = s.rsplitn(3, ':');
        let col = parts.next().and_then(|c| c.parse().ok());
        let line = parts.next().and_then(|l| l.parse().ok());
        match (parts.next(), line, col) {
            (Some(file), Some(line), Some(col)) if !file.is_empty() => Ok(Site::new(file, line, col)),
            _ => Err(format!("a site must be \"file:line:column\", not {:?}", clip(&s))),
        }
    }
}

/// What a class's key was in the process that saved it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Key {
    /// A construction site (the default of the lock types of
    /// [`sync`](crate::sync) and [`std_sync`](crate::std_sync), and of
    /// [`LockdepMap::here`](crate::LockdepMap::here)): the same in every
    /// process built from the same source, so classes of different runs
    /// with the same site are one class.
    Site(Site),
    /// The address of a [`LockClassKey`](crate::LockClassKey) (static or
    /// dynamic), in hex. Meaningless in another process: classes of
    /// different runs with such keys are one class when their names (with
    /// `#version` and `/subclass`) are equal.
    Addr(String),
}

/// One lock class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SavedClass {
    /// The class name (the name of the first lock of the class).
    pub name: String,
    /// The key.
    pub key: Key,
    /// For a site key, the protected data's type
    /// ([`std::any::type_name`]) when the lock's constructor knew it (the
    /// lock types of [`sync`](crate::sync) and [`std_sync`](crate::std_sync),
    /// the parking_lot shims): part of the class's identity, so that locks
    /// of different types made at one site are different classes. JSON key
    /// `type`; absent for [`LockdepMap::here`](crate::LockdepMap::here) and
    /// [`LockdepMap::with_site`](crate::LockdepMap::with_site) classes and
    /// for address keys.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// The subclass (`0..8`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub subclass: u32,
    /// The `#version` suffix when several keys shared the name in the saving
    /// process (0 or 1: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl SavedClass {
    /// The name as reports show it: `name`, `#version` when several keys
    /// shared the name, `/subclass` when the subclass is not 0.
    pub fn display_name(&self) -> String {
        let mut s = self.name.clone();
        if self.version > 1 {
            s.push_str(&format!("#{}", self.version));
        }
        if self.subclass != 0 {
            s.push_str(&format!("/{}", self.subclass));
        }
        s
    }

    /// What makes two classes of different runs one class: the site, type
    /// and subclass for a site key, the displayed name for an address key
    /// (see [`Key`]).
    pub fn identity(&self) -> Identity {
        match &self.key {
            Key::Site(s) => Identity::Site(s.clone(), self.ty.clone(), self.subclass),
            Key::Addr(_) => Identity::Name(self.display_name()),
        }
    }
}

/// A class's identity across runs (see [`SavedClass::identity`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identity {
    /// A construction site, the data type when known ([`SavedClass::ty`])
    /// and the subclass.
    Site(Site, Option<String>, u32),
    /// A displayed name.
    Name(String),
}

/// One dependency `from -> to`: a lock of class `to` was taken while one of
/// class `from` was held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SavedEdge {
    /// The earlier class (index into [`SavedGraph::classes`]).
    pub from: usize,
    /// The later class.
    pub to: usize,
    /// The dependency types seen (`["EN", "SR", …]`).
    #[serde(with = "dep_types")]
    pub types: DepTypes,
    /// The fewest held locks between the two when seen (1: directly on top).
    pub distance: u32,
    /// Where and by whom it was seen: at most one entry per run, the first
    /// run first.
    pub seen: Vec<Origin>,
}

/// Where and by whom a dependency was first seen in one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Origin {
    /// The run (index into [`SavedGraph::runs`]).
    pub run: usize,
    /// The thread's name (`None`: unnamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// The earlier lock: held, and where it was taken.
    pub held: End,
    /// The later lock: taken, and where.
    pub taken: End,
    /// The stack where it was recorded, resolved (empty when none was
    /// captured).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trace: Vec<SavedFrame>,
}

/// One end of a dependency as it was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct End {
    /// The lock instance's name.
    pub instance: String,
    /// The mode: `"write"`, `"read"` or `"read-recursive"`.
    #[serde(with = "read_mode")]
    pub read: Read,
    /// Whether it was a trylock.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trylock: bool,
    /// Where it was acquired.
    pub site: Site,
}

/// One resolved frame of a saved stack trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SavedFrame {
    /// The demangled function name.
    pub function: String,
    /// The source file, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The line, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl fmt::Display for SavedFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.function)?;
        if let Some(file) = &self.file {
            write!(f, "   {file}")?;
            if let Some(l) = self.line {
                write!(f, ":{l}")?;
            }
        }
        Ok(())
    }
}

/// `Read` as the words reports use.
mod read_mode {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use crate::class::Read;

    pub(super) fn serialize<S: Serializer>(r: &Read, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(r.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Read, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "write" => Ok(Read::Exclusive),
            "read" => Ok(Read::Shared),
            "read-recursive" => Ok(Read::SharedRecursive),
            _ => Err(D::Error::custom(format!(
                "a read mode is \"write\", \"read\" or \"read-recursive\", not {:?}",
                super::clip(&s)
            ))),
        }
    }
}

/// `DepTypes` as a list of names.
mod dep_types {
    use serde::ser::SerializeSeq as _;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    use crate::report::DepTypes;

    const NAMES: [(u8, &str); 4] =
        [(DepTypes::EN, "EN"), (DepTypes::ER, "ER"), (DepTypes::SN, "SN"), (DepTypes::SR, "SR")];

    pub(super) fn serialize<S: Serializer>(t: &DepTypes, s: S) -> Result<S::Ok, S::Error> {
        let names: Vec<&str> = NAMES.iter().filter(|(b, _)| t.contains(*b)).map(|(_, n)| *n).collect();
        let mut seq = s.serialize_seq(Some(names.len()))?;
        for n in names {
            seq.serialize_element(n)?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DepTypes, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        let mut bits = 0;
        for n in &names {
            match NAMES.iter().find(|(_, name)| name == n) {
                Some((b, _)) => bits |= b,
                None => {
                    return Err(D::Error::custom(format!(
                        "a dependency type is EN, ER, SN or SR, not {:?}",
                        super::clip(n)
                    )));
                }
            }
        }
        if bits == 0 {
            return Err(D::Error::custom("an edge needs at least one dependency type"));
        }
        Ok(DepTypes(bits))
    }
}

/// A cycle of a saved graph: the dependencies in order, each leading from
/// the class the previous one led to, the last closing it (see
/// [`SavedGraph::cycles`](SavedGraph::cycles)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cycle {
    /// The dependencies (indices into [`SavedGraph::edges`]); the last one
    /// closes the cycle.
    pub edges: Vec<usize>,
    /// The type of the closing dependency that closed it.
    pub closing: DepTypes,
}

impl Cycle {
    /// The runs that contributed its dependencies (each dependency counts
    /// for the first run that saw it), in order.
    pub fn runs(&self, g: &SavedGraph) -> Vec<usize> {
        let mut runs: Vec<usize> =
            self.edges.iter().filter_map(|&e| g.edges.get(e)?.seen.first().map(|o| o.run)).collect();
        runs.sort_unstable();
        runs.dedup();
        runs
    }
}

/// What [`Validator::load`](crate::Validator::load) added to a validator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadSummary {
    /// Classes added (classes the validator knew already are not counted).
    pub classes: usize,
    /// Dependencies added or given more types.
    pub edges: usize,
    /// Classes skipped: keyed by address, which names nothing in this
    /// process (or everything, when the validator does not learn or
    /// validation is compiled out).
    pub skipped_classes: usize,
    /// Dependencies skipped with them.
    pub skipped_edges: usize,
    /// Dependency types left out because they would close a cycle with what
    /// the validator knew (the validator would have reported them).
    pub cycles: usize,
    /// Whether a class or dependency limit of the validator cut the load short.
    pub limited: bool,
}

/// At most 80 characters of `s`, for quoting untrusted text in a message.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}
