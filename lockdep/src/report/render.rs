//! Reports as text, in the kernel's grammar: the headline, both locks, the
//! dependency chain with both acquisition sites, the scenario table, the held
//! locks (kernel `print_circular_bug`, `print_deadlock_bug`,
//! `lockdep_print_held_locks`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::thread::ThreadId;

use super::{ChainStep, LockInfo, Report, ReportKind, ThreadInfo};
use crate::class::Read;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(self, f)
    }
}

/// `lock(` for writers, `rlock(` for readers, as the scenario table writes them.
fn scenario_verb(read: Read) -> &'static str {
    if read.is_read() { "rlock" } else { "lock" }
}

/// The kinds of waitable objects' pseudo-locks, as their class names begin
/// (book chapter 16; `crate::waits` names them).
const WAITABLE_KINDS: [&str; 7] = ["Condvar@", "thread@", "mpsc@", "mpsc space@", "Once@", "OnceLock@", "Barrier@"];

/// Whether `l` is a waitable object's pseudo-lock rather than a lock.
fn waitable(l: &LockInfo) -> bool {
    WAITABLE_KINDS.iter().any(|k| l.class.starts_with(k))
}

/// How `event.rs` begins the message of a cycle closed by an event.
pub(crate) const EVENT_MESSAGE: &str = "the event on ";

/// The instance names that stand for more than one address among `locks`:
/// only those are shown with their address (`name@0x…`), which is what
/// tells them apart. A name alone is clearer everywhere else.
fn ambiguous<'a>(locks: impl IntoIterator<Item = &'a LockInfo>) -> HashSet<&'static str> {
    let mut first: HashMap<&'static str, usize> = HashMap::new();
    let mut out = HashSet::new();
    for l in locks {
        if *first.entry(l.instance).or_insert(l.addr) != l.addr {
            out.insert(l.instance);
        }
    }
    out
}

/// A lock instance as text: its name, and its address if the name is
/// `ambiguous` in the text it appears in.
struct Instance<'a>(&'a LockInfo, &'a HashSet<&'static str>);

impl fmt::Display for Instance<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Instance(l, ambiguous) = self;
        if ambiguous.contains(l.instance) { write!(f, "{}@{:#x}", l.instance, l.addr) } else { f.write_str(l.instance) }
    }
}

/// One lock of a report: instance, class (when it is not named like the
/// instance), subclass, mode, and where it was taken.
fn lock_line(f: &mut fmt::Formatter<'_>, l: &LockInfo, ambiguous: &HashSet<&'static str>) -> fmt::Result {
    let mut what = String::new();
    if l.class != l.instance {
        what.push_str(&format!("class {}, ", l.class));
    }
    if l.subclass != 0 {
        what.push_str(&format!("subclass {}, ", l.subclass));
    }
    what.push_str(l.read.as_str());
    if l.trylock {
        what.push_str(", trylock");
    }
    let left = format!("{} ({what})", Instance(l, ambiguous));
    writeln!(f, "  {left:<56} at {}", l.location)
}

/// The kernel's `lockdep_print_held_locks`: `N locks held by <thread>:` and
/// one line a lock (reports and `Validator::dump_held`).
#[cfg_attr(not(lockdep_on), allow(dead_code))]
pub(crate) fn write_held(f: &mut dyn fmt::Write, held: &[LockInfo], thread: &ThreadInfo) -> fmt::Result {
    write_held_among(f, held, thread, &ambiguous(held))
}

fn write_held_among(
    f: &mut dyn fmt::Write,
    held: &[LockInfo],
    thread: &ThreadInfo,
    ambiguous: &HashSet<&'static str>,
) -> fmt::Result {
    if held.is_empty() {
        return writeln!(f, "no locks held by {thread}.");
    }
    let n = held.len();
    writeln!(f, "{n} lock{} held by {thread}:", if n == 1 { "" } else { "s" })?;
    for (i, l) in held.iter().enumerate() {
        write!(f, " #{i}: {} ({}, {}", Instance(l, ambiguous), l.class, l.read.as_str())?;
        if l.trylock {
            f.write_str(", trylock")?;
        }
        writeln!(f, ") at {}", l.location)?;
    }
    Ok(())
}

/// The "possible unsafe locking scenario" table: one column per dependency of
/// the cycle, each thread first taking the earlier lock of its dependency,
/// then the later one.
fn scenario(f: &mut fmt::Formatter<'_>, chain: &[ChainStep]) -> fmt::Result {
    // A column per thread, or per task for dependencies recorded by
    // instrumented tasks (two tasks may share a worker thread).
    let who = |s: &ChainStep| (s.thread.id, s.thread.task.as_ref().map(|t| t.id));
    let distinct = chain.iter().map(who).collect::<HashSet<(ThreadId, Option<u64>)>>().len() == chain.len();
    let labels: Vec<String> = chain
        .iter()
        .enumerate()
        .map(|(i, s)| match (&s.thread.task, &s.thread.name, distinct) {
            (Some(t), _, true) => t.name.as_deref().map_or_else(|| format!("task #{}", t.id), str::to_owned),
            (None, Some(n), true) => n.to_string(),
            (None, None, true) => format!("{:?}", s.thread.id),
            _ => format!("Thread {}", (b'A' + (i % 26) as u8) as char),
        })
        .collect();
    // A wait is `wait(C);` after the locks it is made under; an event's
    // dependency (`C -> L`) is its thread taking `L`, then the event.
    let cell = |s: &ChainStep, later: bool| match (waitable(&s.from), later) {
        (true, false) => String::new(),
        (true, true) => format!("{}({}); event({});", scenario_verb(s.to.read), s.to.class, s.from.class),
        (false, _) => {
            let l = if later { &s.to } else { &s.from };
            let verb = if later && waitable(l) { "wait" } else { scenario_verb(l.read) };
            format!("{verb}({});", l.class)
        }
    };
    let cells: Vec<[String; 2]> = chain.iter().map(|s| [cell(s, false), cell(s, true)]).collect();
    scenario_table(f, &labels, &cells)?;
    writeln!(f, " *** DEADLOCK ***")?;
    writeln!(f)
}

/// The scenario table's text: a column per label, each column's two cells
/// (the earlier lock, then the later one) on rows of their own, staggered
/// left to right; an empty cell is no row. Shared with the report of a
/// cycle found in saved graphs (`save::render`).
pub(crate) fn scenario_table(out: &mut impl fmt::Write, labels: &[String], cells: &[[String; 2]]) -> fmt::Result {
    let width = labels.iter().zip(cells).map(|(l, [a, b])| l.len().max(a.len()).max(b.len())).max().unwrap_or(8) + 4;
    writeln!(out, " Possible unsafe locking scenario:")?;
    writeln!(out)?;
    let mut head = String::from("       ");
    let mut rule = String::from("       ");
    for l in labels {
        head.push_str(&format!("{l:<width$}"));
        rule.push_str(&format!("{:<width$}", "-".repeat(l.len())));
    }
    writeln!(out, "{}", head.trim_end())?;
    writeln!(out, "{}", rule.trim_end())?;
    for later in [0, 1] {
        for (col, c) in cells.iter().enumerate() {
            let indent = if col == 0 { 2 } else { 7 + col * width };
            if !c[later].is_empty() {
                writeln!(out, "{:indent$}{}", "", c[later])?;
            }
        }
    }
    writeln!(out)
}

fn chain_text(f: &mut fmt::Formatter<'_>, chain: &[ChainStep]) -> fmt::Result {
    writeln!(f, "which lock already depends on the new lock.")?;
    writeln!(f)?;
    writeln!(f, "the existing dependency chain (in reverse order) is:")?;
    writeln!(
        f,
        "([XY]: X = how the earlier lock was held, E exclusive or S shared; Y = how the later one was taken, \
         N blocking or R recursive read)"
    )?;
    writeln!(f)?;
    let n = chain.len();
    for (k, step) in chain.iter().enumerate() {
        let idx = n - 1 - k;
        let head = format!("-> #{idx} ({}){{{}}}:", step.to.class, step.to.read.as_str());
        let when = if step.is_new { "now, in thread" } else { "first seen in thread" };
        writeln!(f, "{head:<28} {when} {}   [{}]", step.thread, step.types)?;
        let w = step.from.class.len().max(step.to.class.len());
        writeln!(f, "       {:<w$} ({}) held since  {}", step.from.class, step.from.read.as_str(), step.from.location)?;
        writeln!(f, "       {:<w$} ({}) taken at    {}", step.to.class, step.to.read.as_str(), step.to.location)?;
        if let Some(t) = &step.trace {
            write!(f, "{t}")?;
        }
        writeln!(f)?;
    }
    Ok(())
}

/// Renders a report in the kernel's grammar, with both ends of every
/// dependency and a scenario column per thread.
fn render(r: &Report, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let every_lock = r.lock.iter().chain(&r.other).chain(&r.held).chain(r.chain.iter().flat_map(|s| [&s.from, &s.to]));
    let ambiguous = &ambiguous(every_lock);
    let headline = r.kind.headline();
    let width = headline.len().max(54);
    writeln!(f)?;
    writeln!(f, "{}", "=".repeat(width))?;
    writeln!(f, "{headline}")?;
    writeln!(
        f,
        "lockdep {} - validator: {}, mode: {}",
        env!("CARGO_PKG_VERSION"),
        r.validator,
        if r.one_shot { "kernel (one-shot)" } else { "continue" }
    )?;
    writeln!(f, "{}", "-".repeat(width))?;
    match r.kind {
        ReportKind::CircularDependency | ReportKind::RecursiveLocking => {
            let event = r.message.starts_with(EVENT_MESSAGE);
            if event {
                // Closed by an event (`other` is the waitable object).
                writeln!(f, "thread {}: {}", r.thread, r.message)?;
                writeln!(f)?;
                writeln!(f, "the lock held:")?;
            } else if r.lock.as_ref().is_some_and(waitable) {
                writeln!(f, "thread {} is about to wait on:", r.thread)?;
            } else {
                writeln!(f, "thread {} is trying to acquire lock:", r.thread)?;
            }
            if let Some(l) = &r.lock {
                lock_line(f, l, ambiguous)?;
            }
            writeln!(f)?;
            if event {
                writeln!(f, "and the event's object:")?;
            } else {
                writeln!(f, "but this thread already holds lock:")?;
            }
            if let Some(l) = &r.other {
                lock_line(f, l, ambiguous)?;
            }
            writeln!(f)?;
            if !r.chain.is_empty() {
                chain_text(f, &r.chain)?;
            }
            writeln!(f, "other info that might help us debug this:")?;
            writeln!(f)?;
            if r.chain.len() > 2 {
                let mut names: Vec<&str> = r.chain.iter().map(|s| s.from.class.as_str()).collect();
                names.push(&r.chain[0].from.class);
                writeln!(f, "Chain exists of:")?;
                writeln!(f, "  {}", names.join(" --> "))?;
                writeln!(f)?;
            }
            if r.chain.is_empty() {
                if let (Some(l), Some(o)) = (&r.lock, &r.other) {
                    writeln!(f, " Possible unsafe locking scenario:")?;
                    writeln!(f)?;
                    let label = r.thread.name.as_deref().unwrap_or("Thread A");
                    writeln!(f, "       {label}")?;
                    writeln!(f, "       {}", "-".repeat(label.len()))?;
                    writeln!(f, "  {}({});", scenario_verb(o.read), o.class)?;
                    writeln!(f, "  {}({});", scenario_verb(l.read), l.class)?;
                    writeln!(f)?;
                    writeln!(f, " *** DEADLOCK ***")?;
                    writeln!(f)?;
                    if l.addr != o.addr {
                        writeln!(f, " May be due to missing lock nesting notation")?;
                    } else if l.read.is_read() && o.read.is_read() {
                        writeln!(
                            f,
                            " This is the same lock, read twice: it deadlocks as soon as a writer queues between \
                             the two reads."
                        )?;
                    } else {
                        writeln!(f, " This is the same lock: this thread will deadlock on itself now.")?;
                        if o.read.is_read() {
                            writeln!(
                                f,
                                " To write under a read lock, take it upgradable (`upgradable_read`, then \
                                 `upgrade`), or release the read lock first."
                            )?;
                        } else {
                            writeln!(f, " Release it before taking it again, or restructure so it is taken once.")?;
                        }
                    }
                    writeln!(f)?;
                }
            } else {
                scenario(f, &r.chain)?;
            }
        }
        ReportKind::UnlockImbalance => {
            let name = r.lock.as_ref().map_or("?", |l| l.instance);
            writeln!(f, "thread {} is trying to release lock ({name}) at:", r.thread)?;
            writeln!(f, "  {}", r.location)?;
            writeln!(f, "but there are no more locks to release!")?;
            writeln!(f)?;
            if !r.message.is_empty() {
                writeln!(f, "{}", r.message)?;
                writeln!(f)?;
            }
        }
        ReportKind::NestLockNotHeld => {
            writeln!(f, "thread {} is trying to lock:", r.thread)?;
            if let Some(l) = &r.lock {
                lock_line(f, l, ambiguous)?;
            }
            writeln!(f, "but this thread is not holding:")?;
            if let Some(o) = &r.other {
                writeln!(f, "  {}", Instance(o, ambiguous))?;
            }
            writeln!(f)?;
        }
        ReportKind::HeldLockFreed => {
            writeln!(f, "thread {}: {}", r.thread, r.message)?;
            if let Some(l) = &r.lock {
                lock_line(f, l, ambiguous)?;
            }
            if let Some(t) = &r.other_thread {
                writeln!(f, "held by thread {t}")?;
            }
            writeln!(f)?;
        }
        _ => {
            writeln!(f, "thread {}: {}", r.thread, r.message)?;
            if let Some(l) = &r.lock {
                lock_line(f, l, ambiguous)?;
            }
            if let Some(o) = &r.other {
                writeln!(f, "other lock:")?;
                lock_line(f, o, ambiguous)?;
            }
            if let Some(t) = &r.other_thread {
                writeln!(f, "held by thread {t}")?;
            }
            writeln!(f, "called at {}", r.location)?;
            writeln!(f)?;
        }
    }
    write_held_among(f, &r.held, &r.thread, ambiguous)?;
    if let Some(t) = &r.backtrace {
        writeln!(f)?;
        writeln!(f, "stack backtrace:")?;
        write!(f, "{t}")?;
        if t.frames().iter().take(12).any(|fr| fr.file.is_none()) {
            writeln!(
                f,
                " (frames without file:line: build with `debug = \"line-tables-only\"` in the profile, e.g. \
                 [profile.release])"
            )?;
        }
    }
    if let Some(d) = &r.dump {
        writeln!(f)?;
        let red = if r.cycle.is_empty() { "" } else { ", the cycle in red" };
        let text = d.text.file_name().map_or_else(|| d.text.display().to_string(), |n| n.to_string_lossy().into());
        writeln!(
            f,
            "graph dump: {} (render with `dot -Tsvg`{red}); classes, chains and stats beside it in {text}",
            d.dot.display()
        )?;
        if let Some(svg) = &d.svg {
            let name = svg.file_name().map_or_else(|| svg.display().to_string(), |n| n.to_string_lossy().into());
            writeln!(f, "the cycle drawn: {name} (open it in a browser)")?;
        }
    }
    Ok(())
}
