//! The lockdep-rs book, with every code block run as a doctest.
//!
//! Each chapter is a Markdown file in this directory, included below as the
//! documentation of an empty module so that `cargo test -p lockdep-docs`
//! compiles and runs every ```` ```rust ```` block in it. The examples assume
//! what this crate's `Cargo.toml` asks for: validation compiled in (the
//! `enabled` feature, in a build with debug assertions — the default for
//! `cargo test`), and `parking_lot-0.13` for the quick start's `lock_api` 0.5
//! example.

#[doc = include_str!("../../README.md")]
pub mod readme {}

#[doc = include_str!("01-what-lockdep-proves.md")]
pub mod what_lockdep_proves {}

#[doc = include_str!("02-quick-start.md")]
pub mod quick_start {}

#[doc = include_str!("03-classes.md")]
pub mod classes {}

#[doc = include_str!("04-read-write-rules.md")]
pub mod read_write_rules {}

#[doc = include_str!("05-annotations.md")]
pub mod annotations {}

#[doc = include_str!("06-reading-a-report.md")]
pub mod reading_a_report {}

#[doc = include_str!("07-graph-dump.md")]
pub mod graph_dump {}

#[doc = include_str!("08-vma-locks.md")]
pub mod vma_locks {}

#[doc = include_str!("09-performance.md")]
pub mod performance {}

#[doc = include_str!("10-comparison.md")]
pub mod comparison {}

#[doc = include_str!("11-reliability.md")]
pub mod reliability {}

#[doc = include_str!("12-whole-tree.md")]
pub mod whole_tree {}

#[doc = include_str!("13-std-facade.md")]
pub mod std_facade {}

#[doc = include_str!("14-contributing.md")]
pub mod contributing {}

#[doc = include_str!("15-across-runs.md")]
pub mod across_runs {}

#[doc = include_str!("16-waits.md")]
pub mod waits {}

#[doc = include_str!("17-async.md")]
pub mod async_tasks {}
