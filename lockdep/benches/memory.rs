//! Memory, measured from the process's resident set (`/proc/self/status`):
//!
//! * churn: 1,000,000 same-class locks created, locked and dropped, with
//!   parking_lot alone and with `lockdep::Mutex` — the validator must add no
//!   memory (peak RSS within 1 MiB of the uninstrumented run);
//! * a 10,000-class chain with stack-trace capture on: bytes per class.
//!
//! Run: `cargo bench -p lockdep --features enabled-in-release --bench memory`.

use lockdep::{Config, LockClassKey, LockdepMap, Validator};

fn status(field: &str) -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(0, |kib| kib * 1024)
}

static CHURN: LockClassKey = LockClassKey::new();

fn churn_parking_lot() {
    for i in 0..1_000_000u64 {
        let m = Box::new(parking_lot::Mutex::new(i));
        *m.lock() += 1;
        drop(std::hint::black_box(m));
    }
}

fn churn_lockdep() {
    for i in 0..1_000_000u64 {
        let m = Box::new(lockdep::Mutex::with_key(i, &CHURN));
        *m.lock() += 1;
        drop(std::hint::black_box(m));
    }
}

fn main() {
    // Criterion-style invocations pass flags; this harness takes none.
    println!("validation compiled {}", if lockdep::ENABLED { "in" } else { "out" });
    let v = Validator::new(Config {
        max_classes: 20_000,
        max_dependencies: 20_000,
        max_chains: 100_000,
        ..Config::collect()
    });
    v.scope(|| {
        let base = status("VmHWM:");
        churn_parking_lot();
        let after_pl = status("VmHWM:");
        churn_lockdep();
        let after_ld = status("VmHWM:");
        let (pl, ld) = (after_pl - base, after_ld - base);
        println!(
            "churn 1M locks: peak RSS growth parking_lot {pl} B, lockdep {ld} B, difference {} B",
            ld.saturating_sub(pl)
        );

        let n = 10_000;
        let keys: &'static [LockClassKey] = Box::leak((0..n).map(|_| LockClassKey::new()).collect());
        let maps: Vec<LockdepMap> = keys.iter().map(|k| LockdepMap::new("chain", k)).collect();
        let before = status("VmRSS:");
        for i in 0..n - 1 {
            lockdep::mutex_acquire(&maps[i], 0, false);
            lockdep::mutex_acquire(&maps[i + 1], 0, false);
            lockdep::mutex_release(&maps[i + 1]);
            lockdep::mutex_release(&maps[i]);
        }
        let after = status("VmRSS:");
        let s = v.stats();
        println!(
            "10,000-class chain with traces: {} B per class ({} classes, {} dependencies, {} stored traces)",
            after.saturating_sub(before) / n,
            s.classes,
            s.direct_dependencies,
            s.stack_traces
        );
    });
    for r in v.reports() {
        eprintln!("{r}");
    }
    assert!(v.reports().is_empty());
}
