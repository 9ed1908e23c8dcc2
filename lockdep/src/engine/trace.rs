//! The stack-trace store: traces are captured unresolved (instruction
//! pointers only) when a dependency is created, stored once however many
//! edges share them, and resolved only when a report is printed.

use std::sync::Arc;

use super::ids::FastSet;
use crate::config::Unwinder;
use crate::report::Trace;

/// Captures the current stack, unresolved, at most `max_frames` frames
/// (`Config::backtrace_frames`): the unwind stops there, since each frame
/// the unwinder steps through is what a capture costs. With
/// [`Unwinder::Cached`], the cached unwinder (`unwind.rs`) walks it where it
/// can vouch for the walk, libgcc's (`backtrace::trace`) otherwise.
pub(crate) fn capture(max_frames: usize, unwinder: Unwinder) -> Vec<usize> {
    capture_with(max_frames, unwinder).or_else(|| capture_with(max_frames, Unwinder::Libgcc)).unwrap_or_default()
}

/// [`capture`] with `unwinder` alone: `None` when the cached unwinder
/// cannot walk this stack (or is not built on this platform).
#[inline(never)]
pub(crate) fn capture_with(max_frames: usize, unwinder: Unwinder) -> Option<Vec<usize>> {
    let max_frames = max_frames.max(1);
    let mut ips = Vec::with_capacity(max_frames.min(64));
    match unwinder {
        Unwinder::Cached => super::unwind::capture(max_frames, &mut ips).then_some(ips),
        Unwinder::Libgcc => {
            backtrace::trace(|frame| {
                ips.push(frame.ip() as usize);
                ips.len() < max_frames
            });
            Some(ips)
        }
    }
}

/// De-duplicating store (the kernel's `stack_trace_hash`).
#[derive(Default)]
pub(crate) struct TraceStore {
    /// With the engine's fast hasher: a trace is hashed at every new
    /// dependency with capture on, and SipHash's guard against chosen keys
    /// is not needed for the program's own return addresses.
    traces: FastSet<Arc<[usize]>>,
    pub(crate) entries: usize,
}

impl TraceStore {
    pub(crate) fn intern(&mut self, ips: Vec<usize>) -> Trace {
        if let Some(t) = self.traces.get(ips.as_slice()) {
            return Trace { ips: t.clone() };
        }
        let t: Arc<[usize]> = ips.into();
        self.entries += t.len();
        self.traces.insert(t.clone());
        Trace { ips: t }
    }

    pub(crate) fn count(&self) -> usize {
        self.traces.len()
    }
}
