//! A cycle of a saved graph as text, in the grammar of the validator's own
//! reports (`report::render`): the headline, the two locks of the closing
//! dependency, the dependency chain in reverse order with both acquisition
//! sites of every dependency, the chain summary and the scenario table —
//! and, for each dependency, the run that contributed it.
//!
//! It is a renderer of its own because a [`Report`](crate::Report) names
//! acquisition sites by `&'static Location`, which a loaded file cannot
//! provide.

use std::fmt::{self, Write as _};

use super::Cycle;
use super::format::{End, Origin, SavedGraph};
use crate::report::DepTypes;

/// Frames of a saved trace shown per dependency (as a report shows).
const FRAMES_SHOWN: usize = 12;

struct Step<'a> {
    from: String,
    to: String,
    types: DepTypes,
    origin: Option<&'a Origin>,
    also: usize,
    is_new: bool,
}

fn end_line(out: &mut String, e: &End, class: &str) -> fmt::Result {
    let mut what = format!("class {class}, {}", e.read);
    if e.trylock {
        what.push_str(", trylock");
    }
    let left = format!("{:<16} ({what})", e.instance);
    writeln!(out, "  {left:<56} at {}", e.site)
}

fn thread_name(o: Option<&Origin>) -> String {
    match o.and_then(|o| o.thread.as_deref()) {
        Some(t) => format!("\"{t}\""),
        None => "<unnamed>".to_owned(),
    }
}

fn run_name(g: &SavedGraph, o: Option<&Origin>) -> String {
    match o.and_then(|o| g.runs.get(o.run).map(|r| (o.run, r))) {
        Some((i, r)) => format!("run #{i} {r}"),
        None => "an unknown run".to_owned(),
    }
}

impl Cycle {
    /// The cycle as a report: the validator's grammar, with the run that
    /// contributed each dependency.
    pub fn render(&self, g: &SavedGraph) -> String {
        let mut out = String::new();
        let _ = render(self, g, &mut out);
        out
    }
}

fn render(c: &Cycle, g: &SavedGraph, out: &mut String) -> fmt::Result {
    let n = c.edges.len();
    let steps: Vec<Step<'_>> = c
        .edges
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let e = &g.edges[i];
            Step {
                from: g.classes[e.from].display_name(),
                to: g.classes[e.to].display_name(),
                types: if k + 1 == n { c.closing } else { e.types },
                origin: e.seen.first(),
                also: e.seen.len().saturating_sub(1),
                is_new: k + 1 == n,
            }
        })
        .collect();
    let Some(last) = steps.last() else { return Ok(()) };
    let headline = if n == 1 {
        "WARNING: possible recursive locking detected"
    } else {
        "WARNING: possible circular locking dependency detected"
    };
    let width = headline.len().max(54);
    let runs = c.runs(g).len();
    writeln!(out)?;
    writeln!(out, "{}", "=".repeat(width))?;
    writeln!(out, "{headline}")?;
    writeln!(
        out,
        "lockdep {} - saved graphs: {} run{}, this cycle assembled from {runs} of them",
        env!("CARGO_PKG_VERSION"),
        g.runs.len(),
        if g.runs.len() == 1 { "" } else { "s" }
    )?;
    writeln!(out, "{}", "-".repeat(width))?;
    writeln!(out, "thread {} of {} acquired lock:", thread_name(last.origin), run_name(g, last.origin))?;
    if let Some(o) = last.origin {
        end_line(out, &o.taken, &last.to)?;
    }
    writeln!(out)?;
    writeln!(out, "while holding lock:")?;
    if let Some(o) = last.origin {
        end_line(out, &o.held, &last.from)?;
    }
    writeln!(out)?;
    writeln!(out, "which lock already depends on the new lock.")?;
    writeln!(out)?;
    writeln!(out, "the existing dependency chain (in reverse order) is:")?;
    writeln!(
        out,
        "([XY]: X = how the earlier lock was held, E exclusive or S shared; Y = how the later one was taken, \
         N blocking or R recursive read)"
    )?;
    writeln!(out)?;
    for (k, s) in steps.iter().enumerate() {
        let idx = n - 1 - k;
        let read = s.origin.map_or("?", |o| o.taken.read.as_str());
        let head = format!("-> #{idx} ({}){{{read}}}:", s.to);
        let when = if s.is_new { "closing, seen in thread" } else { "first seen in thread" };
        writeln!(out, "{head:<28} {when} {} of {}   [{}]", thread_name(s.origin), run_name(g, s.origin), s.types)?;
        if let Some(o) = s.origin {
            let w = s.from.len().max(s.to.len());
            writeln!(out, "       {:<w$} ({}) held since  {}", s.from, o.held.read, o.held.site)?;
            writeln!(out, "       {:<w$} ({}) taken at    {}", s.to, o.taken.read, o.taken.site)?;
            for (i, f) in o.trace.iter().take(FRAMES_SHOWN).enumerate() {
                writeln!(out, "         {i}: {f}")?;
            }
        }
        if s.also > 0 {
            writeln!(out, "       (also seen in {} other run{})", s.also, if s.also == 1 { "" } else { "s" })?;
        }
        writeln!(out)?;
    }
    writeln!(out, "other info that might help us debug this:")?;
    writeln!(out)?;
    if n > 2 {
        let mut names: Vec<&str> = steps.iter().map(|s| s.from.as_str()).collect();
        names.push(&steps[0].from);
        writeln!(out, "Chain exists of:")?;
        writeln!(out, "  {}", names.join(" --> "))?;
        writeln!(out)?;
    }
    scenario(out, &steps)?;
    Ok(())
}

/// The "possible unsafe locking scenario" table: one column per dependency,
/// each thread taking the earlier lock of its dependency, then the later.
fn scenario(out: &mut String, steps: &[Step<'_>]) -> fmt::Result {
    let labels: Vec<String> = (0..steps.len()).map(|i| format!("Thread {}", (b'A' + (i % 26) as u8) as char)).collect();
    let verb = |e: Option<&End>| if e.is_some_and(|e| e.read.is_read()) { "rlock" } else { "lock" };
    let cell = |s: &Step<'_>, later: bool| {
        if later {
            format!("{}({});", verb(s.origin.map(|o| &o.taken)), s.to)
        } else {
            format!("{}({});", verb(s.origin.map(|o| &o.held)), s.from)
        }
    };
    let cells: Vec<[String; 2]> = steps.iter().map(|s| [cell(s, false), cell(s, true)]).collect();
    crate::report::scenario_table(out, &labels, &cells)?;
    writeln!(out, " *** DEADLOCK ***")?;
    writeln!(out)
}
