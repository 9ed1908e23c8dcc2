//! What the lock types cost in each configuration. Compiled out they must be
//! parking_lot's locks exactly (the sizes are also asserted at compile time
//! inside the crate); compiled in they carry a map and an owner.

use std::mem::size_of;

use lockdep::sync::{
    Mutex, MutexGuard, ReentrantMutex, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
};
use lockdep::{Config, Validator};

#[test]
fn sizes_match_parking_lot_when_compiled_out() {
    let same = [
        size_of::<Mutex<u64>>() == size_of::<parking_lot::Mutex<u64>>(),
        size_of::<Mutex<()>>() == size_of::<parking_lot::Mutex<()>>(),
        size_of::<RwLock<[u8; 7]>>() == size_of::<parking_lot::RwLock<[u8; 7]>>(),
        size_of::<ReentrantMutex<u8>>() == size_of::<parking_lot::ReentrantMutex<u8>>(),
    ];
    assert_eq!(same, [!lockdep::ENABLED; 4]);
    // Guards are one reference in every configuration.
    assert_eq!(size_of::<MutexGuard<'static, u64>>(), size_of::<parking_lot::MutexGuard<'static, u64>>());
    assert_eq!(size_of::<RwLockReadGuard<'static, u64>>(), size_of::<parking_lot::RwLockReadGuard<'static, u64>>());
    assert_eq!(size_of::<RwLockWriteGuard<'static, u64>>(), size_of::<parking_lot::RwLockWriteGuard<'static, u64>>());
    assert_eq!(
        size_of::<RwLockUpgradableReadGuard<'static, u64>>(),
        size_of::<parking_lot::RwLockUpgradableReadGuard<'static, u64>>()
    );
    assert_eq!(size_of::<lockdep::LockdepMap>() == 0, !lockdep::ENABLED);
    // Compiled out the condvar carries no map: parking_lot's size. Compiled
    // in it also names its construction site, as a waitable object (book
    // chapter 16).
    assert_eq!(size_of::<lockdep::sync::Condvar>() == size_of::<parking_lot::Condvar>(), !lockdep::ENABLED);
}

#[test]
fn compiled_out_locks_tell_the_validator_nothing() {
    let v = Validator::new(Config::collect().with_events(true));
    let m = Mutex::new(0);
    let l = RwLock::new(0);
    v.scope(|| {
        *m.lock() += 1;
        let _r = l.read();
        let _r2 = l.read(); // a recursive read: reported only when compiled in
    });
    assert_eq!(v.events().is_empty(), !lockdep::ENABLED);
    assert_eq!(v.reports().is_empty(), !lockdep::ENABLED);
    // "Unknown" answers "held", as in the kernel.
    if !lockdep::ENABLED {
        assert!(lockdep::lock_is_held(m.lockdep_map()));
        assert_eq!(m.lockdep_map().name(), "<lockdep off>");
    }
}

#[test]
fn static_locks_need_no_runtime_initialisation() {
    static KEY: lockdep::LockClassKey = lockdep::LockClassKey::new();
    static TABLE: RwLock<[u32; 2]> = RwLock::with_key([1, 2], &KEY);
    assert_eq!(TABLE.read().iter().sum::<u32>(), 3);
    TABLE.write()[0] = 5;
    assert_eq!(TABLE.read_recursive()[0], 5);
}
