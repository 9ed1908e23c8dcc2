//! The stack-trace store: traces are captured unresolved (instruction
//! pointers only) when a dependency is created, stored once however many
//! edges share them, and resolved only when a report is printed.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

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
    traces: HashSet<Arc<[usize]>, BuildHasherDefault<IpHasher>>,
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

/// The store's hasher: a multiply-rotate over the trace's words (the scheme
/// of rustc's FxHash). A trace is hashed at every new dependency with
/// capture on, and SipHash (std's default, ~25 instructions a word) guards
/// against chosen keys, which return addresses of the program's own code
/// are not.
#[derive(Default, Clone, Copy)]
pub(crate) struct IpHasher(u64);

impl IpHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for IpHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.add(u64::from_ne_bytes(word));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
