//! parking_lot's deadlock detector API (feature `deadlock_detection`).
//!
//! The shim's locks do not report to parking_lot_core's detector, so
//! [`check_deadlock`] finds nothing: lockdep reports the lock orders that can
//! deadlock when it first sees them, before any thread is stuck.

pub use parking_lot_core::deadlock::check_deadlock;
