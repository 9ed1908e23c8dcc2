//! What a validator does with a report: every `Action`.

use std::sync::{Arc, Mutex};

use lockdep::*;

fn imbalance(v: &Validator) {
    static K: LockClassKey = LockClassKey::new();
    let m = LockdepMap::new("never-taken", &K);
    v.scope(|| mutex_release(&m));
}

#[test]
fn panic_action_panics_with_the_report() {
    let v = Validator::new(Config::collect().with_action(Action::Panic).with_backtraces(false));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| imbalance(&v))).expect_err("panics");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("WARNING: bad unlock balance detected!"), "{msg}");
    assert_eq!(v.reports().len(), 1, "the report is stored before the panic");
    // The validator is still usable afterwards.
    assert!(v.is_validating());
}

#[test]
fn callback_action_gets_each_report() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let v = Validator::new(Config::collect().with_action(Action::Callback(Arc::new(move |r: &Report| {
        s2.lock().unwrap().push(r.kind());
    }))));
    imbalance(&v);
    assert_eq!(*seen.lock().unwrap(), [ReportKind::UnlockImbalance]);
}

/// A `tracing` subscriber that records the fields of warning events.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?};", field.name(), value));
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        let mut f = Fields(format!("{} {}: ", e.metadata().level(), e.metadata().target()));
        e.record(&mut f);
        self.0.lock().unwrap().push(f.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn warn_action_emits_a_structured_tracing_event() {
    let rec = Arc::new(Recorder::default());
    let v = Validator::new(Config::default().with_backtraces(false));
    tracing::subscriber::with_default(rec.clone(), || imbalance(&v));
    let events = rec.0.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert!(e.starts_with("WARN lockdep: "), "{e}");
    assert!(e.contains("kind=UnlockImbalance;"), "{e}");
    assert!(e.contains("lock=\"never-taken\";"), "{e}");
    assert!(e.contains("location="), "{e}");
    assert_eq!(v.reports().len(), 1);
}

/// The abort action ends the process: checked in a child process (this same
/// test binary, re-run with an environment variable).
#[test]
fn abort_action_prints_the_report_and_aborts() {
    if std::env::var_os("LOCKDEP_ABORT_CHILD").is_some() {
        let v = Validator::new(Config::collect().with_action(Action::Abort).with_backtraces(false));
        imbalance(&v);
        unreachable!("Action::Abort returned");
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["abort_action_prints_the_report_and_aborts", "--exact", "--nocapture", "--test-threads=1"])
        .env("LOCKDEP_ABORT_CHILD", "1")
        .output()
        .expect("run the child");
    assert!(!out.status.success());
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(6), "SIGABRT: {:?}", out.status);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("WARNING: bad unlock balance detected!"), "{stderr}");
}
