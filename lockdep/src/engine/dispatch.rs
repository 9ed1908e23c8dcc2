//! What happens to a report once it is found (the kernel prints; a Rust
//! program may also want it stored, handed to a callback, turned into a panic
//! or an abort): [`Inner::dispatch`], called with no engine lock held.

use super::inner::Inner;
use crate::config::Action;
use crate::output::say;
use crate::report::Report;

impl Inner {
    /// Stores a report and carries out the configured action. Called with no
    /// engine lock held and with validation suspended on this thread.
    /// `in_teardown`: the thread is exiting. A panic there would abort, and
    /// so would one while the thread is already unwinding (a lock freed by
    /// an unrelated panic's cleanup): `Panic` warns instead in both cases.
    pub(crate) fn dispatch(&self, mut report: Report, in_teardown: bool) {
        if let Some(dir) = &self.config.dump_dir {
            report.dump = super::dump_file::write_dump(self, &report, dir);
        }
        self.store(report.clone());
        match &self.config.action {
            Action::Collect => {}
            Action::Warn => warn(&report),
            Action::Panic if in_teardown || std::thread::panicking() => warn(&report),
            Action::Panic => panic!("{report}"),
            Action::Abort => {
                say!("{report}");
                std::process::abort();
            }
            Action::Callback(cb) => {
                let cb = cb.clone();
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&report))).is_err() {
                    say!("lockdep: a report callback panicked; the validator goes on");
                }
            }
        }
    }
}

fn warn(report: &Report) {
    say!("{report}");
    tracing::warn!(
        target: "lockdep",
        kind = ?report.kind(),
        thread = %report.thread(),
        location = %report.location(),
        lock = report.lock().map(|l| l.class()).unwrap_or(""),
        "{}",
        report.kind().headline()
    );
}
