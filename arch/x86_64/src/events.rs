//! The PV "interrupt flag": `vcpu_info.evtchn_upcall_mask` (1 = event upcalls blocked).
//!
//! `cli`/`sti` do not exist for a PV guest; the mask byte is the interrupt flag. Xen sets it on
//! every event-callback entry and `HYPERVISOR_iret` restores it from the saved RFLAGS.IF.

use core::sync::atomic::{compiler_fence, Ordering};

use crate::{hypercall, time};

/// Blocks event upcalls; returns whether they were enabled before.
pub fn disable() -> bool {
    let Some(s) = time::shared_info() else {
        return false;
    };
    let was = s.vcpu_info[0].evtchn_upcall_mask.swap(1, Ordering::AcqRel) == 0;
    compiler_fence(Ordering::SeqCst);
    was
}

/// Enables event upcalls; if one became pending while they were blocked, has Xen deliver it
/// now (any hypercall returns through Xen's event check).
pub fn enable() {
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

/// Makes Xen deliver pending events now (Mini-OS's `force_evtchn_callback`): the cheapest
/// hypercall, on whose return Xen runs the upcall if events are enabled and pending.
pub fn force_upcall() {
    let _ = hypercall::xen_version();
}
