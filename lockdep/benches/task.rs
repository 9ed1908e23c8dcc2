//! What a poll of an instrumented task costs (`lockdep::task::instrument`)
//! against the same future polled bare, in one run (`tokio` feature).
//!
//! `cargo bench -p lockdep --features enabled-in-release,tokio --bench task`
//! (with `RUST_BACKTRACE` unset) measures it with validation compiled in;
//! without `enabled-in-release` the wrapper is compiled out and the two
//! should not differ. Groups are suffixed `-on` or `-off` accordingly.
//!
//! * `idle`: a future that returns `Pending` at once and holds no lock —
//!   what the wrapper adds to every poll (the exchange of the task's state
//!   with the thread's, in and out);
//! * `sync-lock`: a poll that takes and releases one synchronous lock;
//! * `short-task`: a task made, polled once (taking one lock) and dropped:
//!   what instrumenting costs per task (its state, its first acquisition);
//! * `async-held`: a poll of a task that holds an async lock across its
//!   `Pending` (the exchange, plus the check of what it holds).

use std::future::Future;
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, criterion_group, criterion_main};
use lockdep::{Config, Validator};

fn suffix() -> &'static str {
    if lockdep::ENABLED { "on" } else { "off" }
}

fn validator() -> Validator {
    Validator::new(Config::collect().with_name("bench").with_backtraces(false))
}

/// Never ready; each poll runs `f` once.
struct Forever<F>(F);

impl<F: FnMut() + Unpin> Future for Forever<F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        (self.0)();
        Poll::Pending
    }
}

fn polls(c: &mut Criterion) {
    let v = validator();
    v.scope(|| {
        let mut cx = Context::from_waker(Waker::noop());
        let mut g = c.benchmark_group(format!("poll-{}", suffix()));

        let mut bare = pin!(Forever(|| {}));
        g.bench_function("idle/bare", |b| b.iter(|| black_box(bare.as_mut().poll(&mut cx))));
        let mut inst = pin!(lockdep::task::instrument(Forever(|| {})));
        g.bench_function("idle/instrumented", |b| b.iter(|| black_box(inst.as_mut().poll(&mut cx))));

        let m = lockdep::Mutex::new(0u64);
        let mut bare = pin!(Forever(|| *m.lock() += 1));
        g.bench_function("sync-lock/bare", |b| b.iter(|| black_box(bare.as_mut().poll(&mut cx))));
        let mut inst = pin!(lockdep::task::instrument(Forever(|| *m.lock() += 1)));
        g.bench_function("sync-lock/instrumented", |b| b.iter(|| black_box(inst.as_mut().poll(&mut cx))));

        // A whole short task: made, polled once (one lock), dropped.
        g.bench_function("short-task/bare", |b| {
            b.iter(|| {
                let mut t = pin!(async { *m.lock() += 1 });
                black_box(t.as_mut().poll(&mut cx))
            })
        });
        g.bench_function("short-task/instrumented", |b| {
            b.iter(|| {
                let mut t = pin!(lockdep::task::instrument(async { *m.lock() += 1 }));
                black_box(t.as_mut().poll(&mut cx))
            })
        });

        // A task holding an async lock across every `Pending`.
        let a = lockdep::tokio::Mutex::new(0u64);
        let mut inst = pin!(lockdep::task::instrument(async {
            let _g = a.lock().await;
            Forever(|| {}).await;
        }));
        g.bench_function("async-held/instrumented", |b| b.iter(|| black_box(inst.as_mut().poll(&mut cx))));
        g.finish();
    });
}

criterion_group!(benches, polls);
criterion_main!(benches);
