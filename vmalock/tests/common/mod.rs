//! Shared test support: fixture F0 of §5.0, scripted actor threads and
//! compact renderings of hook events and warnings.
// Each test binary includes this module and uses a different part of it.
#![allow(dead_code)]

use std::any::Any;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{Scope, ThreadId};

use lockdep::{Config, Hook, ReportKind, Validator};
use vmalock::*;

pub const F: i32 = VM_REFCNT_EXCLUDE_READERS_FLAG;

/// Labels for threads and lockdep map instances, shared with the actors.
#[derive(Default)]
pub struct Labels {
    threads: HashMap<ThreadId, String>,
    maps: HashMap<usize, String>,
}

/// Fixture F0: mm `M` (seq 2) with A, B, C attached (refcnt 1, seq 1), an
/// empty mm `N` (seq 0), a fresh kernel-mode validator recording events.
pub struct Fix {
    pub k: Arc<Kernel>,
    pub v: Validator,
    pub m: Arc<Mm>,
    pub n: Arc<Mm>,
    pub a: Arc<Vma>,
    pub b: Arc<Vma>,
    pub c: Arc<Vma>,
    pub labels: Arc<Mutex<Labels>>,
    _watchdog: Watchdog,
}

/// Aborts the test process if a scenario runs for more than two minutes:
/// a failed assertion while an actor is blocked in a model wait would
/// otherwise leave the thread scope waiting forever. A safety net only;
/// no test step waits on it.
struct Watchdog(Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Watchdog {
    fn new() -> Watchdog {
        let pair = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let p = pair.clone();
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        std::thread::spawn(move || {
            let (m, cv) = &*p;
            let done = m.lock().unwrap();
            let (done, timeout) = cv.wait_timeout_while(done, std::time::Duration::from_secs(120), |d| !*d).unwrap();
            if timeout.timed_out() && !*done {
                eprintln!("test {name} is stuck (an actor is blocked after a failure?); aborting");
                std::process::abort();
            }
        });
        Watchdog(pair)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        *self.0.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.0.1.notify_all();
    }
}

impl Fix {
    pub fn new() -> Fix {
        Fix::with(VmConfig::default())
    }

    /// F0 under `[!D]`.
    pub fn no_debug_vm() -> Fix {
        Fix::with(VmConfig::default().with_debug_vm(false))
    }

    pub fn with(cfg: VmConfig) -> Fix {
        let watchdog = Watchdog::new();
        let k = Kernel::new(cfg);
        let v = Validator::new(Config::kernel().with_events(true));
        let m = Mm::new(&k);
        let n = Mm::new(&k);
        let (a, b, c) = v.scope(|| {
            mmap_write_lock(&m).unwrap();
            let mk = |s, e| {
                let x = Vma::new(&m, s, e);
                vma_start_write(&x).unwrap();
                vma_mark_attached(&x);
                m.insert_vma(&x);
                x
            };
            let vmas = (mk(0x1000, 0x2000), mk(0x2000, 0x3000), mk(0x5000, 0x6000));
            mmap_write_unlock(&m);
            vmas
        });
        assert_eq!(m.mm_lock_seq(), 2);
        assert_eq!(n.mm_lock_seq(), 0);
        for x in [&a, &b, &c] {
            assert_eq!((x.vm_refcnt(), x.vm_lock_seq()), (1, 1));
        }
        assert!(k.warnings().is_empty(), "{:?}", k.warnings());
        assert!(v.reports().is_empty());
        v.clear_events();
        let fx = Fix { k, v, m, n, a, b, c, labels: Arc::default(), _watchdog: watchdog };
        fx.label_map(fx.m.mmap_lock_dep_map().addr(), "M");
        fx.label_map(fx.n.mmap_lock_dep_map().addr(), "N");
        fx.label_vma(&fx.a, "VA");
        fx.label_vma(&fx.b, "VB");
        fx.label_vma(&fx.c, "VC");
        fx.label_thread(std::thread::current().id(), "main");
        fx
    }

    pub fn label_map(&self, addr: usize, name: &str) {
        self.labels.lock().unwrap().maps.insert(addr, name.to_owned());
    }

    pub fn label_vma(&self, vma: &Vma, name: &str) {
        self.label_map(vma.vmlock_dep_map().addr(), name);
    }

    pub fn label_thread(&self, id: ThreadId, name: &str) {
        self.labels.lock().unwrap().threads.insert(id, name.to_owned());
    }

    /// A new actor thread named `name`, in the validator's scope.
    pub fn actor<'s, 'e>(&self, scope: &'s Scope<'s, 'e>, name: &str) -> Actor<'s> {
        let a = Actor::new(scope, name, &self.v);
        self.label_thread(a.id(), name);
        a
    }

    /// A new detached VMA of `M`, labelled.
    pub fn new_vma(&self, start: u64, end: u64, label: &str) -> Arc<Vma> {
        let x = Vma::new(&self.m, start, end);
        self.label_vma(&x, label);
        x
    }

    /// The recorded `M`/`N`/`V*` hook events as `"T1 ACQ(M,0,0,1,1)"` strings
    /// (the RCU map and unlabelled maps are left out).
    pub fn events(&self) -> Vec<String> {
        let labels = self.labels.lock().unwrap();
        self.v
            .events()
            .iter()
            .filter_map(|e| {
                let map = labels.maps.get(&e.instance)?;
                let t = labels.threads.get(&e.thread).cloned().unwrap_or_else(|| format!("{:?}", e.thread));
                let h = match e.hook {
                    Hook::Acquire { subclass, trylock, read, check, .. } => {
                        format!("ACQ({map},{subclass},{},{},{})", trylock as u8, read.as_kernel(), check as u8)
                    }
                    Hook::Release => format!("REL({map})"),
                    Hook::Downgrade => format!("DOWNGRADE({map})"),
                    Hook::Contended => format!("CONTENDED({map})"),
                    Hook::Acquired => format!("ACQUIRED({map})"),
                    Hook::SetSubclass { subclass } => format!("SET_SUBCLASS({map},{subclass})"),
                };
                Some(format!("{t} {h}"))
            })
            .collect()
    }

    /// Asserts the events since the last call (only with lockdep compiled
    /// in; compiled out, hooks are no-ops) and clears them.
    #[track_caller]
    pub fn expect_events(&self, expected: &[&str]) {
        if lockdep::ENABLED {
            assert_eq!(self.events(), expected, "hook events");
        }
        self.v.clear_events();
    }

    /// The RCU events (`R`) since the last clear, for the optional checks.
    pub fn rcu_events(&self) -> usize {
        let r = rcu_lock_map().addr();
        self.v.events().iter().filter(|e| e.instance == r).count()
    }

    /// The warnings since the last call as `("T1", id)` pairs, then clears them.
    pub fn take_warnings(&self) -> Vec<(String, WarningId)> {
        let labels = self.labels.lock().unwrap();
        self.k
            .take_warnings()
            .iter()
            .map(|w| {
                let t = labels.threads.get(&w.thread()).cloned().unwrap_or_else(|| format!("{:?}", w.thread()));
                (t, w.id())
            })
            .collect()
    }

    /// Asserts the exact warnings since the last call, then clears them.
    #[track_caller]
    pub fn expect_warnings(&self, expected: &[(&str, WarningId)]) {
        let got = self.take_warnings();
        let want: Vec<(String, WarningId)> = expected.iter().map(|(t, id)| (t.to_string(), *id)).collect();
        assert_eq!(got, want, "warnings");
    }

    #[track_caller]
    pub fn expect_no_warnings(&self) {
        self.expect_warnings(&[]);
    }

    /// The validator's report kinds (empty with lockdep compiled out).
    pub fn report_kinds(&self) -> Vec<ReportKind> {
        self.v.reports().iter().map(|r| r.kind()).collect()
    }

    /// Asserts the validator reports (only with lockdep compiled in).
    #[track_caller]
    pub fn expect_reports(&self, expected: &[ReportKind]) {
        if lockdep::ENABLED {
            assert_eq!(self.report_kinds(), expected, "validator reports");
        } else {
            assert!(self.report_kinds().is_empty());
        }
    }

    /// Asserts that no §1.5 invariant was broken (debug builds check them).
    #[track_caller]
    pub fn expect_invariants_hold(&self) {
        assert!(self.k.invariant_violations().is_empty(), "{:?}", self.k.invariant_violations());
    }

    /// Runs `f` on the test's own thread in the validator's scope.
    pub fn main<R>(&self, f: impl FnOnce() -> R) -> R {
        self.v.scope(f)
    }
}

type Job<'s> = Box<dyn FnOnce() + Send + 's>;

/// A scripted thread: runs the closures it is given, one at a time, inside
/// the validator's scope. Lives in a `std::thread::scope`, so jobs may
/// borrow the fixture.
pub struct Actor<'s> {
    name: String,
    tx: Option<mpsc::Sender<Job<'s>>>,
    id: ThreadId,
}

impl<'s> Actor<'s> {
    pub fn new<'e>(scope: &'s Scope<'s, 'e>, name: &str, v: &Validator) -> Actor<'s> {
        let (tx, rx) = mpsc::channel::<Job<'s>>();
        let v = v.clone();
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn_scoped(scope, move || {
                v.scope(|| {
                    for job in rx {
                        job();
                    }
                })
            })
            .expect("spawn");
        let id = handle.thread().id();
        Actor { name: name.to_owned(), tx: Some(tx), id }
    }

    pub fn id(&self) -> ThreadId {
        self.id
    }

    /// Starts `f` on the actor; the result comes from [`Pending::wait`].
    pub fn start<R: Send + 's>(&self, f: impl FnOnce() -> R + Send + 's) -> Pending<R> {
        let (rtx, rrx) = mpsc::channel();
        let job: Job<'s> = Box::new(move || {
            let r = catch_unwind(AssertUnwindSafe(f));
            let _ = rtx.send(r);
        });
        self.tx.as_ref().unwrap().send(job).expect("actor gone");
        Pending { rx: rrx, name: self.name.clone() }
    }

    /// Runs `f` on the actor to completion.
    pub fn run<R: Send + 's>(&self, f: impl FnOnce() -> R + Send + 's) -> R {
        self.start(f).wait()
    }
}

/// A job started on an actor.
pub struct Pending<R> {
    rx: mpsc::Receiver<std::thread::Result<R>>,
    name: String,
}

impl<R> Pending<R> {
    /// The job's result (re-raising its panic).
    pub fn wait(self) -> R {
        match self.try_wait() {
            Ok(r) => r,
            Err(p) => resume_unwind(p),
        }
    }

    /// The job's result or its panic payload.
    pub fn try_wait(self) -> Result<R, Box<dyn Any + Send>> {
        self.rx.recv().unwrap_or_else(|_| panic!("actor {} is gone", self.name))
    }
}
