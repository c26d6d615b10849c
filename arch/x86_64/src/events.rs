//! The guest's "interrupt flag" for event upcalls, the same interface in both modes.
//!
//! PV: `cli`/`sti` do not exist; `vcpu_info.evtchn_upcall_mask` (1 = upcalls blocked) is the
//! interrupt flag. Xen sets it on every event-callback entry and `HYPERVISOR_iret` restores it
//! from the saved RFLAGS.IF.
//!
//! PVH: upcalls are a real interrupt (the callback vector), so the flag is RFLAGS.IF: `cli` and
//! `sti`. Xen injects the vector whenever `evtchn_upcall_pending` is set and IF=1 (the mask
//! byte is not consulted), so enabling needs no "force" step: a pending upcall is taken as
//! soon as IF is 1.

use core::arch::asm;
use core::sync::atomic::{compiler_fence, Ordering};

use crate::{hypercall, time, BootMode};

const RFLAGS_IF: u64 = 1 << 9;

fn pvh() -> bool {
    crate::mode() == BootMode::Pvh
}

/// Blocks event upcalls; returns whether they were enabled before.
pub fn disable() -> bool {
    if pvh() {
        let flags: u64;
        // SAFETY: reads RFLAGS and clears IF at CPL0 (PVH kernel); `pushfq` uses the stack,
        // so `nostack` is not claimed; the asm is a compiler barrier (no `nomem`).
        unsafe { asm!("pushfq", "pop {}", "cli", out(reg) flags) };
        return flags & RFLAGS_IF != 0;
    }
    let Some(s) = time::shared_info() else {
        return false;
    };
    let was = s.vcpu_info[0].evtchn_upcall_mask.swap(1, Ordering::AcqRel) == 0;
    compiler_fence(Ordering::SeqCst);
    was
}

/// Enables event upcalls; if one became pending while they were blocked, it runs now.
pub fn enable() {
    if pvh() {
        // SAFETY: sets IF at CPL0 (PVH kernel) with the IDT installed; a barrier for the
        // compiler (no `nomem`), so no access moves out of the blocked section.
        unsafe { asm!("sti", options(nostack)) };
        return;
    }
    let Some(s) = time::shared_info() else {
        return;
    };
    let v = &s.vcpu_info[0];
    compiler_fence(Ordering::SeqCst);
    v.evtchn_upcall_mask.store(0, Ordering::Release);
    core::sync::atomic::fence(Ordering::SeqCst);
    if v.evtchn_upcall_pending.load(Ordering::Acquire) != 0 {
        force_upcall();
    }
}

/// Restores the state `disable` returned (explicitly both ways: `SCHEDOP_block` and
/// `HYPERVISOR_iret` may have changed the mask in between).
pub fn restore(was_enabled: bool) {
    if was_enabled {
        enable();
    } else {
        disable();
    }
}

/// Runs `f` with event upcalls blocked (the way to take a lock the upcall handler takes too).
pub fn without_events<R>(f: impl FnOnce() -> R) -> R {
    let was = disable();
    let r = f();
    restore(was);
    r
}

/// Makes Xen deliver pending events now (Mini-OS's `force_evtchn_callback`). PV: the
/// cheapest hypercall, on whose return Xen runs the upcall if events are enabled and pending.
/// PVH: nothing to do; the vector is injected whenever one is pending and IF is 1.
pub fn force_upcall() {
    if !pvh() {
        let _ = hypercall::xen_version();
    }
}
