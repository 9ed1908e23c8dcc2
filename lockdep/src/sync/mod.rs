//! Instrumented lock types over `lock_api` (placeholder until the lock-types issue lands).
