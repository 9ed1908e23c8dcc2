//! The exclude-readers wait as the model runs it: the kernel's
//! `rcuwait_wait_event(&mm->vma_writer_wait, vm_refcnt == target, state)`
//! inside `__vma_start_exclude_readers`, on the mm's single-waiter slot,
//! plus what only the model has — the would-hang detector's check before
//! the first sleep (`hang.rs`), the abandoned-wait outcomes and the
//! wait-event log. The kernel counterpart of everything else in this file
//! is "sleep until the count is right".

use std::sync::Arc;

use crate::events::WaitEventKind;
use crate::hang::{WaitOn, WaitRecord};
use crate::kernel::{WaitError, WouldHang};
use crate::mm::Mm;
use crate::sync::{Ordering, current_tid, lock, wait};
use crate::vma::Vma;
use crate::vma_write::TaskState;
use crate::warn::WarningId;

/// The exclude-readers wait (`rcuwait_wait_event` on `vma_writer_wait`
/// until `vm_refcnt == target`): the condition is checked before the
/// signal; never a `CONTENDED` hook. Every sleep and wake-up is logged
/// ([`WaitEventKind::Sleep`], [`WaitEventKind::Woken`]). Waits that can
/// never end (the caller holds one of the references itself, a wait-for
/// cycle, a poisoned count) are abandoned with a
/// [`WarningId::WaitWouldHang`] and [`WaitError::WouldHang`].
#[track_caller]
pub(crate) fn exclude_readers_wait(mm: &Mm, vma: &Vma, target: i32, state: TaskState) -> Result<(), WaitError> {
    enum Outcome {
        Done,
        Signal,
        Aborted(String),
        Poisoned(i32),
        Hang(String),
    }
    let k = mm.kernel();
    let slot = &mm.vma_writer_wait;
    let me = current_tid();
    let on_of = |attributed| WaitOn::Exclusion { mm: mm.weak(), mm_id: mm.id(), vma: vma.id(), target, attributed };
    let blocked_on = on_of(true).blocked_on();
    let mut rec: Option<Arc<WaitRecord>> = None;
    let mut g = lock(&slot.waiter);
    g.push((me, std::thread::current().id()));
    let outcome = loop {
        let c = vma.vm_refcnt.load(Ordering::Acquire);
        if c == target {
            break Outcome::Done;
        }
        if c < 0 {
            break Outcome::Poisoned(c);
        }
        if state == TaskState::Killable && k.fatal_signal_pending() {
            break Outcome::Signal;
        }
        if let Some(r) = rec.as_ref().filter(|r| r.is_aborted()) {
            break Outcome::Aborted(r.abort_reason());
        }
        if rec.is_none() {
            // About to sleep for the first time: register, and make sure the
            // sleep can end. Then re-check the condition before sleeping.
            drop(g);
            let on = on_of(!vma.unattributed.load(std::sync::atomic::Ordering::Relaxed));
            // (Taken without `slot.waiter`: breaking a cycle wakes the
            // victim, which may take it. An exclusion wait never breaks
            // another's — the detector abandons the exclusion wait itself.)
            let verdict = k.block(on);
            g = lock(&slot.waiter);
            match verdict {
                Ok(r) => {
                    rec = Some(r);
                    continue;
                }
                Err(desc) => break Outcome::Hang(desc),
            }
        }
        // Logged under the slot's lock: a waker logs its wake-up under it
        // too, so the log reads sleep, wake-up, woken.
        k.wait_event(WaitEventKind::Sleep { on: blocked_on, vm_refcnt: Some(c) });
        g = wait(&slot.cv, g);
        k.wait_event(WaitEventKind::Woken { on: blocked_on });
    };
    if let Some(i) = g.iter().position(|&(t, _)| t == me) {
        g.swap_remove(i);
    }
    drop(g);
    if let Some(r) = &rec {
        k.waits.unblock(r);
    }
    let hang = |reason: String| {
        k.warn(WarningId::WaitWouldHang, format!("VMA {}: {reason}", vma.id()));
        Err(WaitError::WouldHang(WouldHang::new(blocked_on, reason)))
    };
    match outcome {
        Outcome::Done => Ok(()),
        Outcome::Signal => Err(WaitError::Interrupted),
        // The thread that found the cycle logged the warning.
        Outcome::Aborted(reason) => Err(WaitError::WouldHang(WouldHang::new(blocked_on, reason))),
        Outcome::Poisoned(c) => hang(format!("waiting for vm_refcnt {target:#x} but it is saturated ({c:#x})")),
        Outcome::Hang(desc) => hang(desc),
    }
}
