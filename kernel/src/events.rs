//! Event channels for the kernel and applications: the global [`EventChannels`] (chosen ABI,
//! port table, handlers), the upcall, timers and blocking idle.
//!
//! The port table is behind a lock that the upcall takes too, so it is only ever taken with
//! event upcalls blocked (`arch::events::without_events`): an upcall can then never find it
//! held by the code it interrupted.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicBool, Ordering};

use arch::{events as ev, hypercall, Xen};
pub use evtchn::{Abi, AbiChoice, EvtchnError, Port};
use evtchn::{EventChannels, PageSource, SharedPage};

use crate::println;

static EVTCHN: spin::Mutex<Option<EventChannels<Xen>>> = spin::Mutex::new(None);

/// Pages for ABI structures (FIFO event array and control block, 3-level bitmaps), from the
/// kernel's page allocator, named to Xen by frame number (PV: the MFN; PVH: the GFN).
struct KernelPages;

impl PageSource for KernelPages {
    fn alloc_shared_page(&mut self) -> Option<SharedPage> {
        let page = crate::boot::alloc_page()?;
        let pfn = arch::virt_to_pfn(page);
        let gfn = arch::mm::pfn_to_frame(pfn)?;
        Some(SharedPage {
            words: arch::page_into_words(page),
            gfn,
        })
    }
}

fn with<R>(f: impl FnOnce(&mut EventChannels<Xen>) -> R) -> R {
    ev::without_events(|| {
        let mut g = EVTCHN.lock();
        f(g.as_mut().expect("event channels are set up at boot"))
    })
}

/// Runs `f` with event upcalls blocked (nests: an inner section leaves them blocked).
pub fn without_events<R>(f: impl FnOnce() -> R) -> R {
    ev::without_events(f)
}

/// Upcalls that arrived while the interrupted code had events blocked and were deferred until
/// it enabled them again (`arch::traps::deferred_upcalls`): 0 unless the platform delivered
/// an interrupt the guest had masked (seen under QEMU's emulated SVM). Reported at poweroff.
pub fn deferred_upcalls() -> u64 {
    arch::traps::deferred_upcalls().0
}

/// Test hook (PVH): raises the event callback vector in software, as a platform that ignores
/// the guest's interrupt flag would. False in PV mode, where only Xen raises the callback.
pub fn raise_upcall_vector() -> bool {
    arch::traps::raise_event_vector()
}

/// The upcall: runs with events blocked (Xen masks them on entry). An upcall that interrupted
/// code with events blocked never gets here: the arch layer defers it.
fn upcall() {
    match EVTCHN.try_lock() {
        Some(mut g) => match g.as_mut() {
            Some(e) => {
                e.handle_upcall();
            }
            None => arch::time::ack_upcall(),
        },
        // Held by the code this upcall interrupted, which had events enabled (an upcall into
        // blocked code is deferred before it gets here): a taker that did not block upcalls
        // first, a kernel bug; discarding events would hide it.
        None => panic!("event upcall found the event-channel table locked"),
    }
}

static TIMER_FIRED: AtomicBool = AtomicBool::new(false);

/// Sets up event channels with the ABI `choice`, binds the timer VIRQ, enables upcalls.
pub(crate) fn init(shared: &'static xen_abi::SharedInfo, choice: AbiChoice) {
    let (evtchn, sel) = EventChannels::new(Xen, shared, &mut KernelPages, choice);
    println!("event channels: {} ABI", sel.abi);
    if let Some(note) = sel.fallback_note {
        println!("event channels: {note}");
    }
    *EVTCHN.lock() = Some(evtchn);
    arch::traps::set_event_handler(upcall);
    let timer = with(|e| {
        e.bind_virq(
            xen_abi::consts::virq::TIMER,
            &mut KernelPages,
            Box::new(|_| TIMER_FIRED.store(true, Ordering::Release)),
        )
    });
    if let Err(e) = timer {
        panic!("cannot bind the timer VIRQ: {e}");
    }
    ev::enable();
}

/// The ABI in use.
pub fn abi() -> Abi {
    with(|e| e.abi())
}

/// Binds a VIRQ on vCPU 0.
pub fn bind_virq(
    virq: u32,
    handler: impl FnMut(Port) + Send + 'static,
) -> Result<Port, EvtchnError> {
    with(|e| e.bind_virq(virq, &mut KernelPages, Box::new(handler)))
}

/// Allocates a port for `remote_dom` to bind to (`DOMID_SELF` for a loopback pair).
pub fn alloc_unbound(
    remote_dom: u16,
    handler: impl FnMut(Port) + Send + 'static,
) -> Result<Port, EvtchnError> {
    with(|e| e.alloc_unbound(remote_dom, &mut KernelPages, Box::new(handler)))
}

/// Binds to a port that `remote_dom` allocated for us.
pub fn bind_interdomain(
    remote_dom: u16,
    remote_port: Port,
    handler: impl FnMut(Port) + Send + 'static,
) -> Result<Port, EvtchnError> {
    with(|e| e.bind_interdomain(remote_dom, remote_port, &mut KernelPages, Box::new(handler)))
}

/// Attaches a handler to a port the toolstack bound (console, xenstore).
pub fn bind_existing(
    port: Port,
    handler: impl FnMut(Port) + Send + 'static,
) -> Result<(), EvtchnError> {
    with(|e| e.bind_existing(port, &mut KernelPages, Box::new(handler)))
}

/// Notifies the other end of `port`.
pub fn send(port: Port) -> Result<(), EvtchnError> {
    with(|e| e.send(port))
}

/// Closes `port` and drops its handler.
pub fn close(port: Port) -> Result<(), EvtchnError> {
    with(|e| e.close(port))
}

pub fn mask(port: Port) {
    with(|e| e.mask(port))
}

pub fn unmask(port: Port) -> Result<(), EvtchnError> {
    with(|e| e.unmask(port))
}

/// Ports bound (with a handler).
pub fn bound_ports() -> usize {
    with(|e| e.bound_ports())
}

/// Nanoseconds of Xen's system time (since the host booted), from the pvclock.
pub fn now_ns() -> u64 {
    arch::time::now_ns()
}

/// Blocks in the hypervisor until an event arrives or `deadline_ns` (system time) passes.
/// Returns whether the deadline has passed. Handlers of arriving events run before it returns.
pub fn block_until(deadline_ns: u64) -> bool {
    let mut first = true;
    // One block: the condition is "an event arrived", which the first wake-up satisfies.
    !wait_deadline(deadline_ns, || !core::mem::replace(&mut first, false))
}

/// Sleeps for `ns` nanoseconds, blocked in the hypervisor (no busy waiting).
pub fn sleep_ns(ns: u64) {
    let deadline = now_ns().saturating_add(ns);
    while !block_until(deadline) {}
}

/// Blocks until `cond()` holds or `timeout_ns` passes; returns whether it held.
pub fn wait_until(timeout_ns: u64, cond: impl FnMut() -> bool) -> bool {
    wait_deadline(now_ns().saturating_add(timeout_ns), cond)
}

/// Blocks until `cond()` holds or the system time reaches `deadline_ns`.
///
/// `cond` is checked with upcalls blocked, and `SCHEDOP_block` unblocks them and sleeps in one
/// step (returning at once if an event is already pending), so an event that arrives between
/// the check and the sleep cannot be missed.
pub fn wait_deadline(deadline_ns: u64, mut cond: impl FnMut() -> bool) -> bool {
    loop {
        let was = ev::disable();
        if cond() {
            ev::restore(was);
            return true;
        }
        if now_ns() >= deadline_ns {
            ev::restore(was);
            return false;
        }
        let _ = hypercall::set_timer_op(deadline_ns);
        // Upcalls of the events that woke us run on the way back from the hypercall.
        hypercall::sched_block();
        ev::restore(was);
    }
}

/// Idles for good: blocked in the hypervisor with no timer armed, so an idle instance costs
/// no CPU; event handlers (console, xenstore, devices) still run when their events arrive.
pub fn idle_forever() -> ! {
    loop {
        let was = ev::disable();
        // 0 cancels the one-shot timer: nothing but a real event wakes us.
        let _ = hypercall::set_timer_op(0);
        hypercall::sched_block();
        ev::restore(was);
    }
}
