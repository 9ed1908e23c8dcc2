//! The lockdep-rs demo: page-fault handlers racing mmap writers on the
//! `vmalock` model with lockdep on, then a real lock-order bug, caught.
//!
//! ```text
//! cargo run --release -p integration --example fault_storm -- --help
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use integration::workload::{self, Length, Options, Progress, Rng, World};
use lockdep::{Config, Report, ReportKind, Validator};

const HELP: &str = "\
fault_storm: page-fault handlers (lock_vma_under_rcu, falling back to
mmap_read_lock) race mmap writers (mmap_write_lock + vma_start_write:
mprotect-like flag changes, and munmap-like detach + replace) on the vmalock
model, with the lock validator on. Then one fault handler runs with a real
lock-order bug (it takes the mmap lock while holding a VMA read lock) and the
validator's report is printed.

USAGE:
    cargo run --release -p integration --example fault_storm -- [OPTIONS]

OPTIONS:
    --threads N     fault-handler threads (default 3)
    --writers N     mmap writer threads (default 1; with 0, one writer
                    operation runs alone before the bug, which inverts
                    the order the writers teach)
    --vmas N        VMAs in the address space (default 32)
    --seconds S     how long the storm runs (default 3)
    --seed X        seed of the address generators (default 1)
    --dump-dir DIR  where the graph dump goes (default: a new private directory
                    under <tmp>, named at the start)
    --no-bug        skip the injected bug
    -h, --help      this text

Exit status: 0 when the storm was clean and (unless --no-bug) the bug was
reported; 1 otherwise.";

struct Args {
    opts: Options,
    bug: bool,
    /// `None`: a new private directory for this run.
    dump_dir: Option<PathBuf>,
}

fn parse() -> Result<Option<Args>, String> {
    let mut opts = Options::default();
    let mut bug = true;
    let mut dump_dir = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or_else(|| format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("{name}: not a number: {v}"))
        };
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--threads" => opts.fault_threads = num("--threads")? as usize,
            "--writers" => opts.writer_threads = num("--writers")? as usize,
            "--vmas" => opts.vmas = num("--vmas")?.max(1) as usize,
            "--seconds" => opts.length = Length::Time(Duration::from_secs(num("--seconds")?)),
            "--seed" => opts.seed = num("--seed")?,
            "--dump-dir" => dump_dir = Some(it.next().ok_or("--dump-dir needs a value")?.into()),
            "--no-bug" => bug = false,
            other => return Err(format!("unknown option {other} (see --help)")),
        }
    }
    Ok(Some(Args { opts, bug, dump_dir }))
}

/// A new directory under the temporary directory, for this run only: a
/// fresh name, created (never reused: an existing name, or a symlink planted
/// there, is skipped) readable and writable by this user only. A fixed,
/// shared name would let another local user pre-create it.
fn private_run_dir() -> std::io::Result<PathBuf> {
    let tmp = std::env::temp_dir();
    let salt = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    for i in 0..100 {
        let dir = tmp.join(format!("lockdep-fault-storm-{}-{salt:x}-{i}", std::process::id()));
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        match b.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "no free name for a new directory"))
}

/// Runs the injected bug alone (so it cannot really deadlock) and returns
/// its reports. The bug inverts the order mmap_lock -> vm_lock that the
/// writers teach lockdep; when no writer operation ran in the storm
/// (`--writers 0`, or too short a storm), one runs first, alone, so that
/// the bug can still be shown.
pub fn injected_bug(world: &World, validator: &Validator, writers_ran: bool, seed: u64) -> Vec<Report> {
    if writers_ran {
        println!("(run alone, so it cannot really deadlock; the writers above taught lockdep mmap_lock -> vm_lock)");
    } else {
        println!(
            "(no mmap writer ran in the storm, so lockdep has not seen the order mmap_lock -> vm_lock that this bug \
             inverts, and the bug cannot be shown without it: one writer operation runs first, alone, to teach it. \
             Then the bug runs alone too, so it cannot really deadlock.)"
        );
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("writer-0".into())
                .spawn_scoped(s, || {
                    validator.scope(|| workload::writer_op(world, &mut Rng::new(seed, 1000), &Progress::default()))
                })
                .expect("spawn the writer thread");
        });
    }
    workload::run_injected_bug(world, validator)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("fault_storm: {e}");
            return ExitCode::from(2);
        }
    };
    if !lockdep::ENABLED {
        eprintln!("fault_storm: the validator is compiled out; build with lockdep's `enabled-in-release` feature");
        return ExitCode::FAILURE;
    }
    let dump_dir = match &args.dump_dir {
        Some(d) => d.clone(),
        None => match private_run_dir() {
            Ok(d) => d,
            Err(e) => {
                eprintln!("fault_storm: could not create a private directory for the graph dump: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    println!("graph dumps go to {}", dump_dir.display());
    let o = &args.opts;
    let Length::Time(secs) = o.length else { unreachable!("the command line sets a time") };
    println!(
        "fault storm: {} fault handlers, {} writers, {} VMAs, {:.0?}, seed {}",
        o.fault_threads, o.writer_threads, o.vmas, secs, o.seed
    );
    let validator =
        Validator::new(Config::collect().with_name("fault-storm").with_dump_dir(&dump_dir).with_backtraces(true));
    let world = World::new(o.vmas);
    let summary = workload::run(&world, o, &validator, &mut |p, t| {
        use std::sync::atomic::Ordering::Relaxed;
        println!(
            "  [{:>2}s] faults: {} per-VMA, {} fallback; writer ops: {}; checks: {}",
            t.as_secs(),
            p.per_vma.load(Relaxed),
            p.fallback.load(Relaxed),
            p.writer_ops.load(Relaxed),
            p.checks.load(Relaxed)
        );
    });
    let faults = summary.per_vma + summary.fallback;
    println!();
    println!("storm over after {:.2?}:", summary.elapsed);
    println!(
        "  faults served:     {faults} ({} per-VMA lock = {:.1}%, {} mmap_lock fallback)",
        summary.per_vma,
        100.0 * summary.per_vma as f64 / faults.max(1) as f64,
        summary.fallback
    );
    println!("  writer operations: {} ({} VMAs replaced)", summary.writer_ops, summary.replaced);
    println!("  invariant checks:  {} passed, {} failed", summary.checks, summary.violations);
    println!("  kernel warnings:   {}", summary.warnings.len());
    println!("  validator reports: {}", summary.reports.len());
    let stats = validator.stats();
    println!(
        "  lockdep learned:   {} classes, {} dependencies, {} chains",
        stats.classes, stats.direct_dependencies, stats.chains
    );
    let clean = summary.violations == 0 && summary.warnings.is_empty() && summary.reports.is_empty();
    for w in &summary.warnings {
        println!("  warning: {w:?}");
    }
    for r in &summary.reports {
        println!("{r}");
    }
    if !args.bug {
        println!("\nresult: {}", if clean { "clean storm, no problem found" } else { "PROBLEMS FOUND (above)" });
        return if clean { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }

    println!("\nnow the injected bug: a fault handler takes mmap_read_lock while holding a VMA read lock.");
    let reports = injected_bug(&world, &validator, summary.writer_ops > 0, o.seed);
    for r in &reports {
        println!("{r}");
    }
    let found = reports.iter().any(|r| r.kind() == ReportKind::CircularDependency);
    // (The report above names its graph dump, once.)
    println!(
        "\nresult: storm {}; injected bug {}",
        if clean { "clean" } else { "had PROBLEMS (above)" },
        if found { "reported as a circular locking dependency" } else { "NOT reported" }
    );
    if clean && found { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
