//! Soak: the fault storm plus random traffic on instrumented locks, for a
//! bounded time (`LOCKDEP_SOAK_SECS`, default 45): no false report, no hang,
//! flat memory.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use integration::workload::{self, Length, Options, Rng, World};
use lockdep::{Config, DynamicKey, LockClassKey, LockdepMap, Validator};

fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

static KEYS: [LockClassKey; 8] = [const { LockClassKey::new() }; 8];

/// Random lock traffic that respects one global order (so it must stay
/// silent): mutexes and rwlocks in every mode, trylocks, nesting, and
/// dynamic classes created and dropped.
fn traffic(seed: u64, stop: &AtomicBool, ops: &AtomicU64) {
    let mutexes: Vec<lockdep::Mutex<u64>> = (0..6).map(|i| lockdep::Mutex::with_key(0, &KEYS[i])).collect();
    let rw = [lockdep::RwLock::with_key(0u64, &KEYS[6]), lockdep::RwLock::with_key(0u64, &KEYS[7])];
    let mut rng = Rng::new(seed, 77);
    while !stop.load(Ordering::Relaxed) {
        // Ascending subset of the mutexes, then one rwlock mode.
        let mut guards = Vec::new();
        for m in &mutexes {
            match rng.below(4) {
                0 => guards.push(m.lock()),
                1 => guards.extend(m.try_lock()),
                _ => {}
            }
        }
        let which = &rw[rng.below(2) as usize];
        match rng.below(3) {
            0 => *which.write() += 1,
            1 => {
                let _ = *which.read();
            }
            _ => {
                let _ = *which.read_recursive();
            }
        }
        drop(guards);
        if rng.below(64) == 0 {
            let key = DynamicKey::new();
            let maps: Vec<LockdepMap> = (0..4).map(|_| LockdepMap::with_dynamic_key("soak.dyn", &key)).collect();
            for m in &maps {
                lockdep::mutex_acquire(m, 0, false);
                lockdep::mutex_release(m);
            }
        }
        ops.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn soak_storm_and_random_traffic() {
    let secs: u64 = std::env::var("LOCKDEP_SOAK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(45);
    let v = Validator::new(Config::collect().with_name("soak").with_backtraces(false));
    let world = World::new(24);
    let opts = Options {
        fault_threads: 2,
        writer_threads: 1,
        vmas: 24,
        length: Length::Time(Duration::from_secs(secs)),
        seed: 11,
    };
    let stop = AtomicBool::new(false);
    let traffic_ops = AtomicU64::new(0);
    let mut samples = Vec::new();
    let summary = std::thread::scope(|s| {
        let t = s.spawn(|| v.scope(|| traffic(5, &stop, &traffic_ops)));
        let summary = workload::run(&world, &opts, &v, &mut |_, _| samples.push(rss()));
        stop.store(true, Ordering::Relaxed);
        t.join().expect("traffic thread");
        summary
    });
    assert_eq!(summary.violations, 0);
    assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
    let reports = v.reports();
    assert!(reports.is_empty(), "false positives:\n{}", reports.iter().map(|r| r.to_string()).collect::<String>());
    assert!(traffic_ops.load(Ordering::Relaxed) > 0 && summary.writer_ops > 0 && summary.per_vma > 0);
    // Flat memory: from the first third of the run to the end.
    if samples.len() >= 3 {
        let early = samples[samples.len() / 3];
        let late = *samples.last().unwrap();
        assert!(late <= early + 16 * 1024 * 1024, "RSS grew from {early} to {late} bytes: {samples:?}");
    }
    if lockdep::ENABLED {
        let s = v.stats();
        // Dynamic classes come and go; the rest is a handful of classes.
        assert!(s.classes < 32, "{s:?}");
        eprintln!(
            "soak: {secs}s, {} faults, {} writer ops, {} traffic rounds, {} classes, {} dependencies, {} zapped",
            summary.per_vma + summary.fallback,
            summary.writer_ops,
            traffic_ops.load(Ordering::Relaxed),
            s.classes,
            s.direct_dependencies,
            s.zapped_classes
        );
    }
}
