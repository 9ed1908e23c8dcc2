//! Ownership assertions on the instrumented locks: a function that requires
//! its caller to hold a lock, called once correctly and once without it, and
//! once while another thread holds the lock.
//!
//! Run with `cargo run -p lockdep --features enabled --example assertions`.
use std::sync::{Arc, Barrier};

use lockdep::sync::Mutex;
use lockdep::{Config, Validator, lockdep_assert_held};

struct Device {
    regs: Mutex<[u32; 4]>,
}

/// Must be called with `dev.regs` held.
fn write_reg_locked(dev: &Device, idx: usize, val: u32) {
    lockdep_assert_held!(dev.regs);
    // Stands in for the register write the lock protects.
    let _ = (idx, val);
}

fn main() {
    if !lockdep::ENABLED {
        eprintln!("validation is compiled out: run with --features enabled in a debug build");
        return;
    }
    let v = Validator::new(Config::collect().with_name("assertions-example"));
    let dev = Arc::new(Device { regs: Mutex::named([0; 4], "dev.regs") });

    v.scope(|| {
        let regs = dev.regs.lock();
        write_reg_locked(&dev, 0, 1); // fine
        drop(regs);
        write_reg_locked(&dev, 1, 2); // forgot the lock
    });

    let (taken, done) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let t = {
        let (v, dev, taken, done) = (v.clone(), dev.clone(), taken.clone(), done.clone());
        std::thread::Builder::new()
            .name("irq".into())
            .spawn(move || {
                v.scope(|| {
                    let _regs = dev.regs.lock();
                    taken.wait();
                    done.wait();
                })
            })
            .unwrap()
    };
    taken.wait();
    v.scope(|| write_reg_locked(&dev, 2, 3)); // another thread holds it
    done.wait();
    t.join().unwrap();

    for r in v.reports() {
        println!("{r}");
    }
}
