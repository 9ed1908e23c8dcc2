//! Cross-crate tests and realistic workloads for lockdep-rs.
//!
//! [`workload`] is the fault-handlers-versus-mmap-writers simulation used by
//! the `fault_storm` demo, the workload tests and the soak test.

pub mod workload;
