//! Two threads transfer money between two accounts in opposite orders — a
//! classic ABBA. A barrier orders them so the program never deadlocks, and
//! the validator still reports the inversion, at the inner `lock()`.
//!
//! Run with `cargo run -p lockdep --features enabled --example bank`.
use std::sync::{Arc, Barrier};

use lockdep::sync::Mutex;
use lockdep::{Config, Validator};

struct Bank {
    checking: Mutex<i64>,
    savings: Mutex<i64>,
}

fn transfer(from: &Mutex<i64>, to: &Mutex<i64>, amount: i64) {
    let mut from = from.lock();
    let mut to = to.lock();
    *from -= amount;
    *to += amount;
}

fn main() {
    if !lockdep::ENABLED {
        eprintln!("validation is compiled out: run with --features enabled in a debug build");
        return;
    }
    let v = Validator::new(Config::collect().with_name("bank-example"));
    let bank = Arc::new(Bank { checking: Mutex::named(100, "checking"), savings: Mutex::named(100, "savings") });
    let barrier = Arc::new(Barrier::new(2));
    let spawn = |name: &str, first: bool| {
        let (v, bank, barrier) = (v.clone(), bank.clone(), barrier.clone());
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                if !first {
                    barrier.wait();
                }
                v.scope(|| {
                    if first {
                        transfer(&bank.checking, &bank.savings, 10);
                    } else {
                        transfer(&bank.savings, &bank.checking, 5);
                    }
                });
                if first {
                    barrier.wait();
                }
            })
            .unwrap()
    };
    let (a, b) = (spawn("to-savings", true), spawn("to-checking", false));
    a.join().unwrap();
    b.join().unwrap();
    println!("balances: checking {}, savings {}", *bank.checking.lock(), *bank.savings.lock());
    for r in v.reports() {
        println!("{r}");
    }
}
