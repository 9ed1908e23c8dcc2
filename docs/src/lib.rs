//! The lockdep-rs book, with every code block run as a doctest.
#[doc = include_str!("../../README.md")]
pub mod readme {}
