//! The lockdep-rs book, with every code block run as a doctest.
