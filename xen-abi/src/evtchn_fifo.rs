//! The FIFO event-channel ABI's shared control block (event_channel.h). Its constants are in
//! [`crate::consts::evtchn_fifo`].

use core::sync::atomic::AtomicU32;

use crate::{assert_offset, assert_size};

/// `struct evtchn_fifo_control_block`: per vCPU, anywhere 8-aligned in a guest page that is
/// registered with `EVTCHNOP_init_control`. Xen writes `head` and sets `ready` bits; the guest
/// exchanges `ready` with 0 and follows the LINK fields of the event words.
#[repr(C)]
#[derive(Debug)]
pub struct EvtchnFifoControlBlock {
    /// Bit q: queue q has a new HEAD.
    pub ready: AtomicU32,
    pub rsvd: AtomicU32,
    /// First port of each queue (0 = none); may be stale once the guest walks the LINKs.
    pub head: [AtomicU32; 16],
}
assert_size!(EvtchnFifoControlBlock, 72);
assert_offset!(EvtchnFifoControlBlock, head, 8);

impl EvtchnFifoControlBlock {
    /// An all-zero control block (what the guest registers).
    pub const fn zeroed() -> Self {
        Self {
            ready: AtomicU32::new(0),
            rsvd: AtomicU32::new(0),
            head: [const { AtomicU32::new(0) }; 16],
        }
    }
}
