//! Task-aware validation (`tokio` feature, validation compiled in): held
//! locks that follow an instrumented task across threads and are not mixed
//! with other tasks on the same thread, ABBA between tasks with the tasks'
//! names, `Pending` while holding a synchronous lock, assertions at await
//! points, on both tokio runtimes. No sleeps: tasks are ordered with
//! `Notify`, oneshots and joins.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use lockdep::task::{instrument, instrument_named, spawn_named};
use lockdep::{Config, Report, ReportKind, Validator};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::{Notify, oneshot};

fn collect() -> Validator {
    Validator::new(Config::collect())
}

fn kinds(reports: &[Report]) -> Vec<ReportKind> {
    reports.iter().map(Report::kind).collect()
}

fn current_thread() -> Runtime {
    Builder::new_current_thread().build().unwrap()
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread().worker_threads(2).build().unwrap()
}

/// A future that is `Pending` once, then ready (an `.await` that waits,
/// without a runtime).
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// A task holds an async lock across a `Pending`, polled first on this
/// thread and then on another: the release finds the lock on the task's
/// stack; neither thread's stack ever shows it.
#[test]
fn a_held_lock_follows_its_task_to_another_thread() {
    for instrumented in [true, false] {
        let v = collect();
        let m = Arc::new(lockdep::tokio::Mutex::new(0));
        let m2 = m.clone();
        let body = async move {
            let mut g = m2.lock().await;
            YieldOnce(false).await;
            *g += 1;
        };
        let mut fut: Pin<Box<dyn Future<Output = ()> + Send>> =
            if instrumented { Box::pin(instrument(body)) } else { Box::pin(body) };
        let held_here = v.scope(|| {
            assert!(poll_once(fut.as_mut()).is_pending());
            lockdep::held_locks().len()
        });
        let v2 = v.clone();
        std::thread::spawn(move || v2.scope(|| assert!(poll_once(fut.as_mut()).is_ready()))).join().unwrap();
        let reports = v.reports();
        if instrumented {
            assert_eq!(held_here, 0, "the thread's stack shows the task's lock");
            assert!(reports.is_empty(), "{reports:#?}");
        } else {
            // The control: without the wrapper the lock stays on the first
            // thread's stack and the second thread's release is unbalanced.
            assert_eq!(held_here, 1);
            assert_eq!(kinds(&reports), [ReportKind::UnlockImbalance], "{reports:#?}");
        }
        assert_eq!(*m.try_lock().unwrap(), 1);
    }
}

/// The same on a multi-thread runtime: many tasks hold a lock across
/// yields (and so across workers); no unbalanced unlock, no report.
#[test]
fn tasks_on_a_multi_thread_runtime_keep_their_locks() {
    let v = collect();
    let rt = multi_thread();
    let locks: Arc<Vec<lockdep::tokio::Mutex<u64>>> = Arc::new((0..4).map(|_| lockdep::tokio::Mutex::new(0)).collect());
    v.scope(|| {
        rt.block_on(async {
            let mut handles = Vec::new();
            for i in 0..16 {
                let locks = locks.clone();
                handles.push(spawn_named(&format!("t{i}"), async move {
                    for _ in 0..20 {
                        let mut g = locks[i % 4].lock().await;
                        tokio::task::yield_now().await;
                        *g += 1;
                        drop(g);
                        tokio::task::yield_now().await;
                    }
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
        })
    });
    let reports = v.reports();
    assert!(reports.is_empty(), "{reports:#?}");
    let total: u64 = locks.iter().map(|m| *m.try_lock().unwrap()).sum();
    assert_eq!(total, 16 * 20);
}

/// Two tasks on one thread: while `a_holder` holds `a` across an await,
/// `b_taker` takes `b`. Instrumented, no `a -> b` is learned, so a later
/// `b -> a` is no cycle. The control (plain `tokio::spawn`) shares the
/// worker's stack and learns the false `a -> b`.
#[test]
fn two_tasks_on_one_thread_are_not_confused() {
    for instrumented in [true, false] {
        let v = collect();
        let rt = current_thread();
        let a = Arc::new(lockdep::tokio::Mutex::named(0, "a"));
        let b = Arc::new(lockdep::tokio::Mutex::named(0, "b"));
        v.scope(|| {
            rt.block_on(async {
                let (held_tx, held_rx) = oneshot::channel();
                let go = Arc::new(Notify::new());
                let (a1, go1) = (a.clone(), go.clone());
                let holder = async move {
                    let _a = a1.lock().await;
                    held_tx.send(()).unwrap();
                    go1.notified().await;
                };
                let b1 = b.clone();
                let taker = async move {
                    held_rx.await.unwrap();
                    *b1.lock().await += 1;
                };
                let (h1, h2) = if instrumented {
                    (spawn_named("a_holder", holder), spawn_named("b_taker", taker))
                } else {
                    (tokio::spawn(holder), tokio::spawn(taker))
                };
                h2.await.unwrap();
                go.notify_one();
                h1.await.unwrap();
                // b, then a: a cycle only if `a -> b` was learned.
                let (a2, b2) = (a.clone(), b.clone());
                let check = async move {
                    let _b = b2.lock().await;
                    let _a = a2.lock().await;
                };
                if instrumented { spawn_named("check", check) } else { tokio::spawn(check) }.await.unwrap();
            })
        });
        let reports = v.reports();
        if instrumented {
            assert!(reports.is_empty(), "{reports:#?}");
        } else {
            assert_eq!(kinds(&reports), [ReportKind::CircularDependency], "{reports:#?}");
        }
    }
}

/// An ABBA between two tasks, reported as between two threads, naming the
/// tasks, on both runtimes.
#[test]
fn abba_between_tasks_names_the_tasks() {
    for rt in [current_thread(), multi_thread()] {
        let v = collect();
        let a = Arc::new(lockdep::tokio::Mutex::named(0, "alpha"));
        let b = Arc::new(lockdep::tokio::RwLock::named(0, "beta"));
        let mut line = 0;
        v.scope(|| {
            rt.block_on(async {
                let (a1, b1) = (a.clone(), b.clone());
                spawn_named("left", async move {
                    let _a = a1.lock().await;
                    let _b = b1.write().await; // alpha -> beta
                })
                .await
                .unwrap();
                let (a2, b2) = (a.clone(), b.clone());
                line = line!() + 4;
                spawn_named("right", async move {
                    let _b = b2.read().await;
                    tokio::task::yield_now().await; // beta is held across an await: fine
                    let _a = a2.lock().await; // beta -> alpha: reported
                })
                .await
                .unwrap();
            })
        });
        let reports = v.reports();
        assert_eq!(kinds(&reports), [ReportKind::CircularDependency], "{reports:#?}");
        let r = &reports[0];
        assert_eq!(r.thread().task().and_then(|t| t.name()), Some("right"));
        assert_eq!(r.lock().unwrap().instance(), "alpha");
        assert_eq!((r.location().file(), r.location().line()), (file!(), line));
        let first = &r.chain()[0];
        assert_eq!(first.thread().task().and_then(|t| t.name()), Some("left"), "{r}");
        let text = r.to_string();
        assert!(text.contains("in task \"right\" #"), "{text}");
        assert!(text.contains("in task \"left\" #"), "{text}");
        // The scenario table has a column per task.
        assert!(text.contains("       left"), "{text}");
    }
}

/// A task that awaits (returns `Pending`) holding a synchronous lock is
/// reported at that await, naming the lock and where it was taken; once per
/// site, however often it happens.
#[test]
#[allow(clippy::await_holding_lock)] // the bug under test (clippy finds it statically)
fn pending_while_holding_a_sync_lock_is_reported_with_its_site() {
    let v = collect();
    let rt = current_thread();
    let m = lockdep::Mutex::named(0, "sync_state");
    let std_m = lockdep::std_sync::Mutex::new(0);
    let mut line = 0;
    let mut std_line = 0;
    v.scope(|| {
        rt.block_on(instrument_named("holder", async {
            for _ in 0..3 {
                line = line!() + 1;
                let g = m.lock();
                tokio::task::yield_now().await; // reported (once)
                drop(g);
            }
            std_line = line!() + 1;
            let g = std_m.lock().unwrap();
            tokio::task::yield_now().await; // the std facade too
            drop(g);
        }))
    });
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::HeldAcrossAwait, ReportKind::HeldAcrossAwait], "{reports:#?}");
    let r = &reports[0];
    let lock = r.lock().unwrap();
    assert_eq!(lock.instance(), "sync_state");
    assert_eq!((lock.location().file(), lock.location().line()), (file!(), line));
    assert_eq!(r.thread().task().and_then(|t| t.name()), Some("holder"));
    assert_eq!(r.held().len(), 1);
    let text = r.to_string();
    assert!(text.starts_with("\n=") && text.contains(ReportKind::HeldAcrossAwait.headline()), "{text}");
    assert!(text.contains(&format!("{}:{line}:", file!())), "{text}");
    let s = &reports[1];
    assert_eq!(s.lock().unwrap().location().line(), std_line);
}

/// The control: async locks across awaits, synchronous locks released
/// before them, plain work between: silent.
#[test]
fn async_locks_across_awaits_and_sync_locks_within_a_poll_are_silent() {
    let v = collect();
    let rt = multi_thread();
    let sync = Arc::new(lockdep::Mutex::new(0));
    let a = Arc::new(lockdep::tokio::Mutex::new(0));
    let r = Arc::new(lockdep::tokio::RwLock::new(0));
    v.scope(|| {
        rt.block_on(async {
            let mut hs = Vec::new();
            for i in 0..4 {
                let (sync, a, r) = (sync.clone(), a.clone(), r.clone());
                hs.push(spawn_named(&format!("w{i}"), async move {
                    let _read = r.read().await;
                    let mut g = a.lock().await;
                    tokio::task::yield_now().await;
                    {
                        let mut s = sync.lock(); // taken and released within one poll
                        *s += 1;
                    }
                    *g += 1;
                    lockdep::lockdep_assert_held!(*a);
                    drop(g);
                    lockdep::lockdep_assert_not_held!(*a);
                }));
            }
            for h in hs {
                h.await.unwrap();
            }
        })
    });
    let reports = v.reports();
    assert!(reports.is_empty(), "{reports:#?}");
    assert_eq!(*sync.lock(), 4);
}

/// `lockdep_assert_none_held!` at an await point checks the task's stack:
/// not the thread's (which holds a lock here), but what the task took.
#[test]
fn assert_none_held_at_an_await_checks_the_task() {
    let v = collect();
    let rt = current_thread();
    let outer = lockdep::Mutex::named(0, "outer");
    let inner = lockdep::tokio::Mutex::named(0, "inner");
    let mut failing_line = 0;
    v.scope(|| {
        let _outer = outer.lock(); // the thread's, not the task's
        rt.block_on(instrument(async {
            lockdep::lockdep_assert_none_held!(); // passes: the task holds nothing
            tokio::task::yield_now().await;
            lockdep::lockdep_assert_none_held!(); // still nothing
            let _g = inner.lock().await;
            failing_line = line!() + 1;
            lockdep::lockdep_assert_none_held!(); // fails: the task holds `inner`
            tokio::task::yield_now().await;
        }));
        // Back on the thread: its own lock again.
        assert_eq!(lockdep::held_locks().len(), 1);
    });
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::AssertionFailed], "{reports:#?}");
    assert_eq!(reports[0].location().line(), failing_line);
    assert_eq!(reports[0].held()[0].instance(), "inner");
}

/// Taking an async lock the task already holds would wait for ever: the
/// recursion is reported and the task panics instead of hanging.
#[test]
fn relocking_an_async_mutex_in_the_same_task_panics_instead_of_hanging() {
    let v = collect();
    let rt = current_thread();
    let m = Arc::new(lockdep::tokio::Mutex::named(0, "twice"));
    let joined = v.scope(|| {
        rt.block_on(async {
            let m = m.clone();
            spawn_named("relocker", async move {
                let _g = m.lock().await;
                let _h = m.lock().await;
            })
            .await
        })
    });
    let err = joined.unwrap_err();
    assert!(err.is_panic());
    let msg = err.into_panic();
    let msg = msg.downcast_ref::<String>().unwrap();
    assert!(msg.contains("twice") && msg.contains("wait for ever"), "{msg}");
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::RecursiveLocking], "{reports:#?}");
    // The task's stack went with it: the lock is free and nobody holds it.
    assert!(m.try_lock().is_ok());
}

/// A lock future dropped while it waits (a cancelled `lock().await`)
/// leaves nothing held; its acquisition hooks are undone.
#[test]
fn a_cancelled_wait_leaves_nothing_held() {
    let v = collect();
    let m = lockdep::tokio::Mutex::named(0, "contended");
    v.scope(|| {
        let held = m.try_lock().unwrap();
        let mut fut = pin!(instrument(async {
            {
                let mut wait = pin!(m.lock());
                assert!(poll_once(wait.as_mut()).is_pending());
                assert_eq!(lockdep::held_locks().len(), 1);
            } // cancelled
            assert!(lockdep::held_locks().is_empty());
        }));
        assert!(poll_once(fut.as_mut()).is_ready());
        drop(held);
    });
    let reports = v.reports();
    assert!(reports.is_empty(), "{reports:#?}");
}

/// Dropping an instrumented future that holds a lock releases it from the
/// task's stack, not the dropping thread's.
#[test]
fn dropping_a_task_mid_way_releases_its_locks_in_the_task() {
    let v = collect();
    let m = Arc::new(lockdep::tokio::Mutex::named(0, "dropped"));
    let m2 = m.clone();
    v.scope(|| {
        let mut fut = Box::pin(instrument(async move {
            let _g = m2.lock().await;
            YieldOnce(false).await;
            YieldOnce(false).await;
        }));
        assert!(poll_once(fut.as_mut()).is_pending());
        drop(fut);
        assert!(lockdep::held_locks().is_empty());
    });
    let reports = v.reports();
    assert!(reports.is_empty(), "{reports:#?}");
    assert!(m.try_lock().is_ok());
}

/// A task whose future is dropped still holding a lock (here a leaked
/// guard) is reported as a thread exiting with locks held, naming the task.
#[test]
fn a_task_that_ends_holding_a_lock_is_reported() {
    let v = collect();
    let rt = current_thread();
    let m = lockdep::Mutex::named(0, "leaked");
    let line = v.scope(|| {
        rt.block_on(instrument_named("leaker", async {
            let line = line!() + 1;
            std::mem::forget(m.lock());
            line
        }))
    });
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::HeldLocksAtThreadExit], "{reports:#?}");
    let r = &reports[0];
    assert_eq!(r.thread().task().and_then(|t| t.name()), Some("leaker"));
    assert_eq!(r.lock().unwrap().location().line(), line);
    assert!(r.message().starts_with("ended with 1 lock held"), "{}", r.message());
    // The thread's own stack never held it, and the next task on this
    // thread (which may reuse the ended task's state) starts empty.
    v.scope(|| {
        assert!(lockdep::held_locks().is_empty());
        let next = rt.block_on(instrument(async { lockdep::held_locks().len() }));
        assert_eq!(next, 0);
    });
    // Still locked, and held by a task that is gone: not dropped, so that
    // its drop is not checked against a holder that no longer exists.
    std::mem::forget(m);
}

/// With `Action::Panic`, the report made as a poll returns `Pending`
/// panics out of the poll: the thread still gets its own state back (its
/// lock, not the task's), and dropping the task on the way out releases the
/// task's lock from the task's stack.
#[test]
#[allow(clippy::await_holding_lock)] // the bug under test
fn a_panicking_report_at_an_await_leaves_the_thread_state_intact() {
    let v = Validator::new(Config::collect().with_action(lockdep::Action::Panic));
    let outer = lockdep::Mutex::named(0, "outer");
    let inner = lockdep::Mutex::named(0, "inner");
    v.scope(|| {
        let _outer = outer.lock();
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut fut = pin!(instrument_named("panicky", async {
                let g = inner.lock();
                YieldOnce(false).await;
                drop(g);
            }));
            poll_once(fut.as_mut()).is_pending()
        }));
        assert!(polled.is_err(), "the report's action did not panic");
        let held: Vec<&str> = lockdep::held_locks().iter().map(|l| l.instance()).collect();
        assert_eq!(held, ["outer"]);
    });
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::HeldAcrossAwait], "{reports:#?}");
    assert!(inner.try_lock().is_some(), "the task's guard was not dropped");
}

/// A future instrumented inside an instrumented task (a library that
/// instruments what it runs, say) and awaited by it is part of that task:
/// the outer task's held lock orders the inner future's locks.
#[test]
fn a_future_instrumented_inside_a_task_joins_it() {
    let v = collect();
    let rt = current_thread();
    let outer = Arc::new(lockdep::tokio::Mutex::named(0, "outer"));
    let inner = Arc::new(lockdep::tokio::Mutex::named(0, "inner"));
    v.scope(|| {
        rt.block_on(async {
            let (o, i) = (outer.clone(), inner.clone());
            spawn_named("caller", async move {
                let _o = o.lock().await;
                instrument(async move {
                    *i.lock().await += 1; // outer -> inner
                    tokio::task::yield_now().await;
                })
                .await;
            })
            .await
            .unwrap();
            let (o, i) = (outer.clone(), inner.clone());
            spawn_named("reverse", async move {
                let _i = i.lock().await;
                let _o = o.lock().await; // inner -> outer: reported
            })
            .await
            .unwrap();
        })
    });
    let reports = v.reports();
    assert_eq!(kinds(&reports), [ReportKind::CircularDependency], "{reports:#?}");
    assert_eq!(reports[0].chain()[0].thread().task().and_then(|t| t.name()), Some("caller"));
}
