//! # vmalock — the kernel's `mmap_lock` and per-VMA locks, executable
//!
//! An executable model of the Linux per-VMA lock scheme as of the v7.0
//! cycle (after the series *"mm: add and use vma_assert_stabilised()
//! helper"*), validated by [`lockdep`]. Every operation emits exactly the
//! lockdep hooks the kernel emits, at the same points, so the validator
//! sees what the kernel's lockdep sees; every assertion has its two forms —
//! exact and per thread with lockdep compiled in, approximate and global
//! (with the kernel's documented false negatives) without.
//!
//! Section (`§2.2`), invariant and scenario (`S57`) numbers in these docs and
//! the tests are those of the behavioural specification in
//! `docs/spec/vmalock.md` (in the repository).
//!
//! ## The principal types
//!
//! * [`Kernel`] — one simulated kernel: the [`VmConfig`] knobs (DEBUG_VM,
//!   "once" warnings, LOCK_STAT, …), the typed warning log ([`Warning`],
//!   [`WarningId`]), per-thread fatal signals ([`FatalSignal`]), the pause
//!   points ([`PausePoint`], [`PauseHandle`]), where each thread is blocked
//!   ([`BlockedOn`]), the wait-event log ([`WaitEvent`]: every
//!   `rcuwait_wake_up` and whom it wakes, every sleep and wake-up) and the
//!   VMA-lock event counters. Use one per test scenario.
//! * [`Mm`] — an address space: the mmap lock (a real reader/writer
//!   semaphore with writer preference and lockdep map `M`), `mm_lock_seq`,
//!   the single-waiter `vma_writer_wait` slot and the VMA tree, whose
//!   lock-free lookups may return stale or recycled VMAs.
//! * [`Vma`] — a virtual memory area: `vm_refcnt` with the exclude-readers
//!   flag, `vm_lock_seq`, the range, `vm_mm` and the lockdep map `V` (one
//!   class, `"vm_lock"`, for every VMA).
//! * The free functions under the kernel's names — [`mmap_read_lock`],
//!   [`lock_vma_under_rcu`], [`vma_start_write`], [`vma_assert_stabilised`],
//!   … — which take the mm or VMA explicitly and allow the misuse the
//!   specification's scenarios exercise (an unbalanced [`vma_end_read`] is
//!   expressible, and reported).
//!
//! Lockdep is chosen at compile time: the `lockdep` feature turns on
//! `lockdep/enabled`, and the assertion branch is picked with
//! [`lockdep::ENABLED`]. Validator reports (`RECURSIVE_LOCKING`,
//! `CIRCULAR_DEPENDENCY`, `UNLOCK_IMBALANCE`) come from the
//! [`lockdep::Validator`] whose scope the calling thread is in; the kernel's
//! `debug_locks` is that validator's [`is_validating`](lockdep::Validator::is_validating).
//!
//! Where the kernel would hang on misuse — waiting in exclusion for a read
//! lock the caller holds itself, detaching a detached VMA, a read of the
//! mmap lock under one's own write hold, retrying forever on a VMA an
//! unbalanced [`vma_end_read`] made look detached — the model reports
//! ([`WarningId::WaitWouldHang`], [`WarningId::EagainLoop`]) and returns
//! instead, and the caller cannot miss it: the operations whose wait cannot
//! be interrupted ([`vma_start_write`], [`vma_mark_detached`],
//! [`mmap_read_lock`], [`mmap_write_lock`]) return a `#[must_use]`
//! `Result<(), `[`WouldHang`]`>`, `Err` when the operation did not happen;
//! the killable ones return their kernel `Err(`[`Errno::EINTR`]`)`; the RCU
//! lookups fall back (`None`) as the kernel's callers do on any failure.
//!
//! ## Example
//!
//! ```
//! use vmalock::*;
//!
//! let kernel = Kernel::new(VmConfig::default());
//! let mm = Mm::new(&kernel);
//!
//! // Map a VMA: write-lock it while detached, attach it, publish it. The
//! // waits return an error only where the kernel would hang (see below).
//! mmap_write_lock(&mm).unwrap();
//! let vma = Vma::new(&mm, 0x1000, 0x2000);
//! vma_start_write(&vma).unwrap();
//! vma_mark_attached(&vma);
//! mm.insert_vma(&vma);
//! mmap_write_unlock(&mm);
//!
//! // A page fault takes the per-VMA read lock without the mmap lock.
//! let locked = lock_vma_under_rcu(&mm, 0x1800).expect("not write-locked");
//! assert_eq!(locked.vm_refcnt(), 2);
//! vma_assert_stabilised(&locked); // stabilised by the VMA read lock
//! vma_end_read(&locked);
//!
//! // Nobody holds anything now: the assertion reports.
//! vma_assert_stabilised(&vma);
//! assert_eq!(
//!     kernel.warning_ids(),
//!     [WarningId::MmapNotWriteHeld, WarningId::VmaNotWriteLocked]
//! );
//! ```
//!
//! ## Where the kernel's code is
//!
//! The sources follow the kernel's families (`include/linux/mmap_lock.h`,
//! `mm/mmap_lock.c`), so a kernel reader can find each function by name:
//!
//! | file | kernel counterpart |
//! |---|---|
//! | `mmap_lock.rs` | the `mmap_*` functions and `mm_lock_seqcount_*` (§2.1–§2.13, §2.29), `mmap_assert_*` (§3.1, §3.2) |
//! | `vma_read.rs` | the VMA read side (§2.14–§2.19): `vma_start_read`, `lock_vma_under_rcu`, `lock_next_vma` (+ `_under_mmap_lock`), `vma_start_read_locked[_nested]`, `vma_end_read`, `vma_refcount_put`, `__vma_refcount_put_return`, `__vma_are_readers_excluded`, `__vma_lockdep_{acquire,release}_read` |
//! | `vma_write.rs` | the VMA write side (§2.20–§2.28): `vma_lock_init`, `struct vma_exclude_readers_state`, `__vma_start_exclude_readers` / `__vma_end_exclude_readers`, `__vma_raw_mm_seqnum`, `__is_vma_write_locked`, `__vma_start_write`, `vma_start_write[_killable]`, `vma_is_attached`, `vma_mark_attached`, `vma_mark_detached`, `__vma_exclude_readers_for_detach`, `__vma_lockdep_*_exclusive` |
//! | `vma_assert.rs` | the VMA assertions (§3.3–§3.6): `vma_assert_attached`, `vma_assert_detached`, `vma_assert_write_locked`, `vma_assert_locked`, `vma_assert_stabilised` |
//! | `model_wait.rs` | the exclusion's `rcuwait_wait_event(&mm->vma_writer_wait, …)`, with what only the model has: the would-hang check before the first sleep, abandoned-wait outcomes, the wait-event log |
//! | `hang.rs` | none (model only): the blocked-thread registry and the would-hang detector |
//! | `mm.rs` | `struct mm_struct`, its `struct rcuwait vma_writer_wait`, `struct vma_iterator` |
//! | `vma.rs` | `struct vm_area_struct` and its `refcount_t` primitives (§2.0); `anon_vma_name`, `vma_flag_set_atomic` (§4) |
//! | `rwsem.rs` | `struct rw_semaphore` (the mmap lock's semaphore) |
//! | `tree.rs` | the maple tree `mm->mm_mt` (RCU-style lookups) |
//! | `rcu.rs` | `rcu_read_lock`, `rcu_read_unlock`, `rcu_read_lock_held` |
//! | `keys.rs` | the lock classes (`"mmap_lock"`, `"vm_lock"`, RCU) |
//! | `kernel.rs`, `warn.rs`, `events.rs`, `pause.rs` | the model's kernel: configuration, `WARN*` log, fatal signals, invariant checks, wait-event log, pause points |
//! | `sync.rs`, `sync/common.rs` | the primitives a loom model swaps (`tests/loom.rs`) |
//!
//! ## Kernel functions and their counterparts
//!
//! | kernel | here | notes |
//! |---|---|---|
//! | `mm_init` / `mmap_init_lock` | [`Mm::new`] | seq 0, no hooks |
//! | `mm_lock_seqcount_init/begin/end` | inside [`Mm::new`], [`mmap_write_lock`], [`vma_end_write_all`] | private |
//! | `mmap_read_lock` | [`mmap_read_lock`] | `ACQ(M,0,0,1,1)` [`CONTENDED`] `ACQUIRED` |
//! | `guard(mmap_read_lock)` | [`MmapReadGuard`] (also [`MmapWriteGuard`]) | RAII |
//! | `mmap_read_lock_killable` | [`mmap_read_lock_killable`] | `Err(EINTR)` after `REL(M)` |
//! | `mmap_read_trylock` | [`mmap_read_trylock`] | `ACQ(M,0,1,1,1)` on success only |
//! | `mmap_read_unlock` | [`mmap_read_unlock`] | `REL(M)` then unlock |
//! | `mmap_read_unlock_non_owner` | [`mmap_read_unlock_non_owner`] | no hook |
//! | `mmap_write_lock` / `_nested` / `_killable` | [`mmap_write_lock`], [`mmap_write_lock_nested`], [`mmap_write_lock_killable`] | seq → odd after `ACQUIRED` |
//! | (none in this kernel) | [`mmap_write_trylock`] | model extension |
//! | `vma_end_write_all` | [`vma_end_write_all`] | assert + seq → even |
//! | `mmap_write_unlock` | [`mmap_write_unlock`] | seq++ **then** `REL(M)` |
//! | `mmap_write_downgrade` | [`mmap_write_downgrade`] | seq++ then `DOWNGRADE(M)` |
//! | `mmap_lock_is_contended` | [`mmap_lock_is_contended`] | |
//! | `mmap_lock_speculate_try_begin` / `_retry` | [`mmap_lock_speculate_try_begin`] (`Option<u32>`), [`mmap_lock_speculate_retry`] | |
//! | `rwsem_is_locked(&mm->mmap_lock)` | [`Mm::mmap_lock_is_locked`] | |
//! | `mmap_assert_locked` | [`mmap_assert_locked`] | `MMAP_NOT_HELD` |
//! | `mmap_assert_write_locked` | [`mmap_assert_write_locked`] | `MMAP_NOT_WRITE_HELD` |
//! | `rcu_read_lock` / `rcu_read_unlock` / `rcu_read_lock_held` | [`rcu_read_lock`], [`rcu_read_unlock`], [`rcu_read_lock_held`] | map `R` |
//! | `vma_start_read` | [`vma_start_read`] | `Ok(Some)` / `Ok(None)` (NULL) / `Err(EAGAIN)` |
//! | `lock_vma_under_rcu` | [`lock_vma_under_rcu`] | `abort` / `miss` counters in [`Kernel::vma_lock_events`] |
//! | `lock_next_vma` (+ `lock_next_vma_under_mmap_lock`) | [`lock_next_vma`] with [`VmaIterator`] | |
//! | `vma_iter_init` / `vma_iter_set` / `vma_next` | [`VmaIterator::new`] / [`VmaIterator::set`] / [`VmaIterator::next`] | |
//! | `vma_start_read_locked_nested` / `vma_start_read_locked` | [`vma_start_read_locked_nested`], [`vma_start_read_locked`] | subclass ignored |
//! | `vma_end_read` / `vma_refcount_put` | [`vma_end_read`] | `REL(V)` before the decrement |
//! | `__vma_refcount_put_return` | [`__vma_refcount_put_return`] | |
//! | `__vma_are_readers_excluded` | [`__vma_are_readers_excluded`] | |
//! | `__vma_raw_mm_seqnum` / `__is_vma_write_locked` | [`__vma_raw_mm_seqnum`], [`__is_vma_write_locked`] | assert the mmap write lock |
//! | `vma_lock_init` | [`vma_lock_init`] | |
//! | `struct vma_exclude_readers_state`, `get_target_refcnt` | [`VmaExcludeReadersState`], [`VmaExcludeReadersState::target_refcnt`] | |
//! | `__vma_start_exclude_readers` / `__vma_end_exclude_readers` | [`__vma_start_exclude_readers`], [`__vma_end_exclude_readers`] | pre-series `__vma_enter/exit_locked` |
//! | `__vma_start_write` | [`__vma_start_write`] | with a [`TaskState`] |
//! | `vma_start_write` / `vma_start_write_killable` | [`vma_start_write`], [`vma_start_write_killable`] | |
//! | `vma_is_attached` | [`vma_is_attached`] | |
//! | `vma_mark_attached` / `vma_mark_detached` | [`vma_mark_attached`], [`vma_mark_detached`] | |
//! | `__vma_exclude_readers_for_detach` | [`__vma_exclude_readers_for_detach`] | |
//! | `vma_assert_write_locked` / `vma_assert_locked` | [`vma_assert_write_locked`], [`vma_assert_locked`] | DEBUG_VM-gated |
//! | `vma_assert_attached` / `vma_assert_detached` | [`vma_assert_attached`], [`vma_assert_detached`] | always on |
//! | `vma_assert_stabilised` | [`vma_assert_stabilised`] | mmap lock first |
//! | `anon_vma_name` | [`anon_vma_name`] | asserts stabilised |
//! | `vma_flag_set_atomic` / `vma_set_atomic_flag` | [`vma_flag_set_atomic`], [`vma_set_atomic_flag`] | asserts stabilised |
//! | `vma_flag_test_atomic` / `vma_test_atomic_flag` | [`vma_flag_test_atomic`], [`vma_test_atomic_flag`] | no lock |
//! | `find_vma` / `vma_lookup` | [`Mm::find_vma`], [`Mm::vma_lookup`] | |
//! | `lock_mm_and_find_vma` | [`lock_mm_and_find_vma`] | |
//! | `vm_area_alloc` | [`Vma::new`] | detached, seq `UINT_MAX` |
//! | `fatal_signal_pending` / a fatal signal | [`Kernel::fatal_signal_pending`] / [`Kernel::send_fatal_signal`] | pending while the [`FatalSignal`] guard lives |
//! | `rcuwait_wake_up(&mm->vma_writer_wait)` | inside [`vma_end_read`] | logged: [`WaitEventKind::WakeUp`] with its target |
//! | `rcuwait_wait_event` (the exclude-readers wait) | inside [`__vma_start_exclude_readers`] | logged: [`WaitEventKind::Sleep`] / [`WaitEventKind::Woken`]; [`BlockedOn::ExcludeReaders`] |
//! | `WARN*` / `VM_WARN_ON_ONCE*` | [`Kernel::warnings`] | typed log |
//! | `lockdep_print_held_locks(current)` | [`lockdep::held_locks`] (data), [`lockdep::Validator::dump_held`] (text) | the §1.5 invariant 7 view, per thread |
//!
//! ## Configurations and test hooks
//!
//! | knob (§0.1) | here |
//! |---|---|
//! | `LOCKDEP` | the `lockdep` cargo feature, read as [`lockdep::ENABLED`] |
//! | `DEBUG_VM` | [`VmConfig::debug_vm`] |
//! | `LOCK_STAT` | [`VmConfig::lock_stat`] |
//! | `PER_VMA_LOCK` | [`VmConfig::per_vma_lock`] (§2.30 stubs when off) |
//! | `debug_locks` | the scope's [`lockdep::Validator::is_validating`] |
//! | `WARN_ON_ONCE` semantics | [`VmConfig::warn_once`] (default: every occurrence) |
//! | §1.5 invariant checks | [`VmConfig::check_invariants`], [`Kernel::invariant_violations`] ([`Invariant`]) |
//!
//! Test hooks (§5.0): [`Kernel::pause_at`] (P0–P4) and
//! [`Kernel::set_pause_hook`]; [`Kernel::send_fatal_signal`]; the raw state
//! setters [`Vma::set_vm_refcnt`], [`Vma::set_vm_lock_seq`],
//! [`Mm::set_mm_lock_seq`]; the tree edits [`Mm::insert_vma`] /
//! [`Mm::remove_vma`]; [`Vma::recycle`]; and fixture F0 ([`testing::F0`]).
//!
//! Observing a scenario, without sleeping:
//!
//! | to assert | use |
//! |---|---|
//! | where a thread is blocked: the mmap rwsem, an exclude-readers wait (with its target), a pause point | [`Kernel::blocked_on`] → [`BlockedOn`]; [`Kernel::wait_until_blocked`] returns it |
//! | "no wake-up", "woken, re-evaluates, sleeps again", "the wake-up targets N's writer" | [`Kernel::wait_events`] ([`WaitEventKind::WakeUp`] with `mm` and `target`, `Sleep` with the `vm_refcnt` seen, `Woken`); [`Kernel::wait_for_wait_events`] to block until, e.g., the second sleep |
//! | a thread reached a pause point | [`PauseHandle::wait_reached`] |
//! | the lockdep entries this thread holds (class, instance, read mode, subclass, site) | [`lockdep::held_locks`] — no parsing of [`dump_held`](lockdep::Validator::dump_held) text |
//! | an abandoned wait and what it waited for | the [`WouldHang`] error ([`WouldHang::wait`], [`WouldHang::reason`]) |
//!
//! Every test-side wait has a deadline ([`VmConfig::wait_deadline`], 30 s;
//! `*_timeout` variants take their own) after which it panics naming the
//! pause point or thread it waited for, so one wrong step fails its test
//! instead of hanging the test binary.
//!
//! Waits are real (condition variables), never spins. Before a thread first
//! sleeps, the model checks whether the sleep can end
//! ([`VmConfig::detect_hangs`]): a writer or detacher waiting for a read
//! reference it holds itself, or a wait-for cycle of sleeping threads
//! (reader references are attributed per thread for this purpose only),
//! is reported as [`WarningId::WaitWouldHang`] and broken by abandoning an
//! exclude-readers wait as if a fatal signal had arrived. In a cycle of
//! mmap-lock waits alone, a reader held back only by a queued writer (a
//! recursive read while a writer waits) is let in past it; any other
//! hopeless mmap-lock wait is abandoned the same way: [`WouldHang`], or
//! `-EINTR` if killable.
//!
//! A [`Vma`] refers to its [`Mm`] weakly: [`Vma::vm_mm`] is `None` once the
//! mm was dropped, and an operation that needs the mm panics then (see
//! [`Vma`]'s contract).
//!
//! The loom models of the refcount protocol (`tests/loom.rs`) run with
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p vmalock --release --test loom`.
//!
//! [`CONTENDED`]: lockdep::lock_contended

#![warn(missing_docs)]

mod events;
mod hang;
mod kernel;
pub mod keys;
mod mm;
mod mmap_lock;
mod model_wait;
mod pause;
mod rcu;
mod rwsem;
mod sync;
pub mod testing;
mod tree;
mod vma;
mod vma_assert;
mod vma_read;
mod vma_write;
mod warn;

pub use events::{BlockedOn, WaitEvent, WaitEventKind};
pub use kernel::{Errno, FatalSignal, Invariant, InvariantViolation, Kernel, VmConfig, VmaLockEvents, WouldHang};
pub use mm::{Mm, VmaIterator};
pub use mmap_lock::*;
pub use pause::{PauseHandle, PauseHook, PausePoint};
pub use rcu::{rcu_lock_map, rcu_read_lock, rcu_read_lock_held, rcu_read_unlock};
pub use vma::*;
pub use vma_assert::*;
pub use vma_read::*;
pub use vma_write::*;
pub use warn::{Warning, WarningId};
