//! Cross-crate tests and workloads for lockdep-rs.
