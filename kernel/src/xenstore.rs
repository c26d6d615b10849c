//! The xenstore client of the kernel: the ring from start_info, the store event channel, and
//! waiting that blocks in the hypervisor until xenstored notifies us (never a busy loop).
//!
//! Use it through [`with`]. The client is never touched by event handlers (the store port's
//! handler only sets a flag), so its lock is a plain one, taken with upcalls enabled: waiting
//! for a reply needs them.

use core::sync::atomic::{AtomicBool, Ordering};

pub use xenstore_client::{WatchEvent, XsError};
use xenstore_client::{Xenstore, XsPlatform};

use crate::events::{self, Port};

/// Set by the store port's handler; consumed by the waiting client.
static STORE_EVENT: AtomicBool = AtomicBool::new(false);

/// The kernel's side of the client: notify xenstored, block until it notifies us.
#[derive(Debug)]
pub struct KernelXs {
    port: Port,
}

impl XsPlatform for KernelXs {
    fn notify(&self) -> Result<(), xen_hal::XenError> {
        arch::hypercall::evtchn_send(self.port)
    }

    fn wait_event(&self, deadline_ns: u64) -> bool {
        events::wait_deadline(deadline_ns, || STORE_EVENT.swap(false, Ordering::AcqRel))
    }

    fn now_ns(&self) -> u64 {
        events::now_ns()
    }
}

static XS: spin::Mutex<Option<Xenstore<KernelXs>>> = spin::Mutex::new(None);

/// Consumes the "xenstored notified us" flag. For a loop that sleeps on other events (the
/// network's) and must also wake for watch events, which it then reads with a zero timeout:
/// the client always reads the ring before it waits, so taking the flag here loses nothing.
pub fn take_store_event() -> bool {
    STORE_EVENT.swap(false, Ordering::AcqRel)
}

/// Connects to xenstored over the ring and port from start_info.
pub(crate) fn init(ring: &'static xen_abi::XenstoreDomainInterface, port: Port) {
    if let Err(e) = events::bind_existing(port, |_| STORE_EVENT.store(true, Ordering::Release)) {
        panic!("cannot attach to the xenstore event channel {port}: {e}");
    }
    *XS.lock() = Some(Xenstore::new(ring, KernelXs { port }));
}

/// Runs `f` with the xenstore client.
pub fn with<R>(f: impl FnOnce(&mut Xenstore<KernelXs>) -> R) -> R {
    let mut g = XS.lock();
    f(g.as_mut().expect("xenstore is set up at boot"))
}
