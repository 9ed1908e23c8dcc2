//! §5.3, the VMA read-lock scenarios that need lockdep compiled in (S21's
//! RCU events): built with the `lockdep` feature only (`required-features`).

mod common;

use common::*;
use vmalock::*;

#[test]
fn s21_rcu_events_are_recorded() {
    let fx = Fix::new();
    let a = fx.main(|| lock_vma_under_rcu(&fx.m, 0x1800)).unwrap();
    assert_eq!(fx.rcu_events(), 2, "rcu_read_lock + rcu_read_unlock");
    fx.main(|| vma_end_read(&a));
}
