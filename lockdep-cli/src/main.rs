//! `lockdep`: the lock graphs saved by lockdep's validator
//! (`LOCKDEP_SAVE`, `Validator::save`) across runs — merged, checked for
//! cycles that no single run saw, compared against a committed baseline,
//! and drawn as one HTML page.
//!
//! Every command takes saved graphs as files or directories (every `*.json`
//! in them). Exit status: 0 nothing found, 1 a finding (a cycle, a new lock
//! order), 2 an error (a file that is not a valid saved graph, no graph at
//! all, a usage error). See the book chapter "The lock graph across runs".

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use lockdep::save::{Limits, SavedGraph};

mod html;

#[derive(Parser)]
#[command(name = "lockdep", version, about = "Merge, check, diff and draw lock graphs saved by lockdep")]
struct Cli {
    /// Refuse a saved graph larger than this many bytes.
    #[arg(long, global = true, value_name = "BYTES", default_value_t = Limits::default().max_bytes)]
    max_size: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Merge saved graphs into one (every run's dependencies, with where each run saw them).
    Merge {
        /// Saved graphs: files, or directories of `*.json` files.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// Write here (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Search the union of saved graphs for cycles, with the validator's own search; exit 1 if any.
    Check {
        /// Saved graphs: files, or directories of `*.json` files.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
    },
    /// List the lock orders of the runs that the baseline lacks; exit 1 on any (or, with
    /// `--fail-on cycles`, only on a new cycle).
    Diff {
        /// The baseline (written by `lockdep baseline`).
        #[arg(long, value_name = "FILE")]
        baseline: PathBuf,
        /// What makes the exit status 1.
        #[arg(long, value_enum, default_value_t = FailOn::Orders)]
        fail_on: FailOn,
        /// Saved graphs: files, or directories of `*.json` files.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
    },
    /// Write (or, with `--update`, extend) a baseline: the runs' lock orders, sorted, for committing.
    Baseline {
        /// The baseline file to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Keep the orders of the existing baseline too (default: replace it).
        #[arg(long)]
        update: bool,
        /// Saved graphs: files, or directories of `*.json` files.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
    },
    /// Draw the union of saved graphs as one self-contained HTML page, cycles highlighted.
    Html {
        /// Saved graphs: files, or directories of `*.json` files.
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The page to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Above this many classes, draw only those within two hops of a cycle (or of the
        /// most connected classes when there is no cycle).
        #[arg(long, default_value_t = 400)]
        max_classes: usize,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    /// Any new lock order (or new dependency type of a known one).
    Orders,
    /// Only a cycle that uses a new lock order.
    Cycles,
}

/// A failure that ends the command with status 2.
struct Fatal(String);

impl<E: std::fmt::Display> From<E> for Fatal {
    fn from(e: E) -> Fatal {
        Fatal(e.to_string())
    }
}

/// `writeln!` into the output buffer (writing to a `String` cannot fail).
macro_rules! wl {
    ($out:expr, $($arg:tt)*) => {{
        let _ = writeln!($out, $($arg)*);
    }};
}

/// `write!` into the output buffer.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let limits = Limits::default().with_max_bytes(cli.max_size);
    let mut out = String::new();
    let result = run(cli.command, &limits, &mut out);
    // Written whole, ignoring a closed pipe (`lockdep check runs/ | head`).
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    match result {
        Ok(found) => ExitCode::from(u8::from(found)),
        Err(Fatal(msg)) => {
            let _ = writeln!(std::io::stderr(), "lockdep: error: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Runs a command; `Ok(true)` when it found something (exit status 1).
fn run(command: Command, limits: &Limits, out: &mut String) -> Result<bool, Fatal> {
    if !lockdep::ENABLED {
        return Err(Fatal("this lockdep was built without validation; the search needs it".into()));
    }
    match command {
        Command::Merge { runs, output } => {
            let g = load_all(&runs, limits)?;
            match output {
                Some(path) => {
                    g.write(&path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    wl!(out, "{}", summary(&g, &format!("wrote {}", path.display())));
                }
                None => wl!(out, "{}", g.to_json()),
            }
            Ok(false)
        }
        Command::Check { runs } => {
            let g = load_all(&runs, limits)?;
            let cycles = g.cycles();
            for c in &cycles {
                w!(out, "{}", c.render(&g));
            }
            wl!(out, "{}", summary(&g, &format!("{} {}", cycles.len(), plural(cycles.len(), "cycle", "cycles"))));
            Ok(!cycles.is_empty())
        }
        Command::Diff { baseline, fail_on, runs } => diff(&baseline, fail_on, &runs, limits, out),
        Command::Baseline { output, update, runs } => {
            let mut inputs = Vec::new();
            if update && output.exists() {
                inputs.push(SavedGraph::read_with(&output, limits)?);
            }
            inputs.push(load_all(&runs, limits)?);
            let g = SavedGraph::merge(&inputs).to_baseline("baseline");
            let cycles = g.cycles().len();
            g.write(&output).map_err(|e| format!("cannot write {}: {e}", output.display()))?;
            wl!(out, "{}", summary(&g, &format!("wrote baseline {}", output.display())));
            if cycles > 0 {
                wl!(
                    out,
                    "note: the baseline holds {cycles} {} (`lockdep check {}` shows them)",
                    plural(cycles, "cycle", "cycles"),
                    output.display()
                );
            }
            Ok(false)
        }
        Command::Html { runs, output, max_classes } => {
            let g = load_all(&runs, limits)?;
            let page = html::page(&g, max_classes);
            std::fs::write(&output, page).map_err(|e| format!("cannot write {}: {e}", output.display()))?;
            wl!(out, "{}", summary(&g, &format!("wrote {}", output.display())));
            Ok(false)
        }
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn summary(g: &SavedGraph, head: &str) -> String {
    format!(
        "{head}: {} {}, {} {}, {} {}",
        g.runs.len(),
        plural(g.runs.len(), "run", "runs"),
        g.classes.len(),
        plural(g.classes.len(), "class", "classes"),
        g.edges.len(),
        plural(g.edges.len(), "lock order", "lock orders")
    )
}

/// The saved graph files named by `paths`: files as given, directories as
/// their `*.json` files (not hidden ones: temporary files of a save in
/// progress), sorted by name.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Fatal> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    name.ends_with(".json") && !name.starts_with('.') && f.is_file()
                })
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    if out.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Fatal(format!(
            "no saved graph in {} (was the program run with LOCKDEP_SAVE set and validation compiled in?)",
            names.join(", ")
        )));
    }
    Ok(out)
}

/// Reads one file, naming it as the source of its runs.
fn load(path: &Path, limits: &Limits) -> Result<SavedGraph, Fatal> {
    let mut g = SavedGraph::read_with(path, limits)?;
    for r in &mut g.runs {
        if r.source.is_none() {
            r.source = Some(path.display().to_string());
        }
    }
    Ok(g)
}

/// The union of every saved graph named by `paths`, in order.
fn load_all(paths: &[PathBuf], limits: &Limits) -> Result<SavedGraph, Fatal> {
    let graphs = files(paths)?.iter().map(|f| load(f, limits)).collect::<Result<Vec<_>, _>>()?;
    Ok(SavedGraph::merge(&graphs))
}

fn diff(baseline: &Path, fail_on: FailOn, runs: &[PathBuf], limits: &Limits, out: &mut String) -> Result<bool, Fatal> {
    let base = load(baseline, limits)?;
    let now = load_all(runs, limits)?;
    let new = now.new_orders(&base);
    wl!(out, "{} new lock {} since {}", new.len(), plural(new.len(), "order", "orders"), baseline.display());
    for n in &new {
        let e = &now.edges[n.edge];
        let (from, to) = (now.classes[e.from].display_name(), now.classes[e.to].display_name());
        let what =
            if n.new_pair { format!("[{}]", e.types) } else { format!("[+{}] (the baseline has the order)", n.added) };
        wl!(out, "  {from} -> {to}  {what}");
        if let Some(o) = e.seen.first() {
            let thread = o.thread.as_deref().map_or_else(|| "<unnamed>".to_owned(), |t| format!("\"{t}\""));
            let run = now.runs.get(o.run).map_or_else(String::new, |r| r.to_string());
            wl!(out, "      {from} ({}) held since {}", o.held.read, o.held.site);
            wl!(out, "      {to} ({}) taken at    {}", o.taken.read, o.taken.site);
            wl!(out, "      first seen in thread {thread} of run #{} {run}", o.run);
        }
    }
    // New cycles: those of the baseline and the runs together that use a new order.
    let both = SavedGraph::merge([&base, &now]);
    let new_in_both: std::collections::HashSet<usize> = both.new_orders(&base).iter().map(|n| n.edge).collect();
    let cycles: Vec<_> =
        both.cycles().into_iter().filter(|c| c.edges.iter().any(|e| new_in_both.contains(e))).collect();
    wl!(out, "{} new {}", cycles.len(), plural(cycles.len(), "cycle", "cycles"));
    for c in &cycles {
        w!(out, "{}", c.render(&both));
    }
    Ok(match fail_on {
        FailOn::Orders => !new.is_empty(),
        FailOn::Cycles => !cycles.is_empty(),
    })
}
