//! Ownership assertions (`lockdep_assert_held!` and friends); placeholder until the lock-types issue lands.
