//! A real ABBA between two threads, reported without deadlocking.
//!
//! Run with `cargo run -p lockdep --features enabled --example abba`.
use std::sync::{Arc, Barrier};

use lockdep::{Config, LockClassKey, LockdepMap, Validator};

static ACCOUNT: LockClassKey = LockClassKey::new();
static LEDGER: LockClassKey = LockClassKey::new();

fn main() {
    if !lockdep::ENABLED {
        eprintln!("validation is compiled out: run with --features enabled in a debug build");
        return;
    }
    let account: &'static LockdepMap = Box::leak(Box::new(LockdepMap::new("account", &ACCOUNT)));
    let ledger: &'static LockdepMap = Box::leak(Box::new(LockdepMap::new("ledger", &LEDGER)));
    let v = Validator::new(Config::collect().with_name("abba-example"));
    let barrier = Arc::new(Barrier::new(2));

    let (v1, b1) = (v.clone(), barrier.clone());
    let t1 = std::thread::Builder::new()
        .name("transfer".into())
        .spawn(move || {
            v1.scope(|| {
                lockdep::mutex_acquire(account, 0, false);
                lockdep::mutex_acquire(ledger, 0, false);
                lockdep::mutex_release(ledger);
                lockdep::mutex_release(account);
            });
            b1.wait();
        })
        .unwrap();
    let (v2, b2) = (v.clone(), barrier);
    let t2 = std::thread::Builder::new()
        .name("audit".into())
        .spawn(move || {
            b2.wait(); // run strictly after "transfer": the program never hangs
            v2.scope(|| {
                lockdep::mutex_acquire(ledger, 0, false);
                lockdep::mutex_acquire(account, 0, false);
                lockdep::mutex_release(account);
                lockdep::mutex_release(ledger);
            });
        })
        .unwrap();
    t1.join().unwrap();
    t2.join().unwrap();
    for r in v.reports() {
        println!("{r}");
    }
}
