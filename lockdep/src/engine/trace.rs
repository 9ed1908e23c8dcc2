//! The stack-trace store: traces are captured unresolved (instruction
//! pointers only) when a dependency is created, stored once however many
//! edges share them, and resolved only when a report is printed.

use std::collections::HashSet;
use std::sync::Arc;

use crate::report::Trace;

/// Deepest trace kept, in frames.
const MAX_FRAMES: usize = 48;

/// Captures the current stack, unresolved.
pub(crate) fn capture() -> Vec<usize> {
    let mut ips = Vec::with_capacity(32);
    backtrace::trace(|frame| {
        ips.push(frame.ip() as usize);
        ips.len() < MAX_FRAMES
    });
    ips
}

/// De-duplicating store (the kernel's `stack_trace_hash`).
#[derive(Default)]
pub(crate) struct TraceStore {
    traces: HashSet<Arc<[usize]>>,
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
