//! The FIFO ABI, guest side (reference §4): one `u32` event word per port in guest pages
//! added with `EVTCHNOP_expand_array`, and a control block per vCPU (`ready` + 16 `head`s).
//!
//! The consumer is Linux's `events_fifo.c`: local heads (a HEAD is read from the control block
//! only when the local head is 0, never while walking a chain, because Xen leaves HEAD stale),
//! `consume_one` unlinks with a cmpxchg loop, and `ready` is re-exchanged after each event.

use alloc::vec::Vec;
use core::sync::atomic::{fence, AtomicU32, AtomicU8, Ordering::Acquire, Ordering::SeqCst};

use xen_abi::consts::evtchn_fifo as c;

use crate::{Port, XenError};

/// PENDING bit of an event word.
pub const PENDING: u32 = 1 << c::PENDING;
/// MASKED bit.
pub const MASKED: u32 = 1 << c::MASKED;
/// LINKED bit.
pub const LINKED: u32 = 1 << c::LINKED;
/// BUSY bit.
pub const BUSY: u32 = 1 << c::BUSY;
/// The LINK field.
pub const LINK_MASK: u32 = c::LINK_MASK;
/// Ports of the FIFO ABI.
pub const NR_CHANNELS: u32 = c::NR_CHANNELS;
/// Event words per page.
pub const WORDS_PER_PAGE: u32 = 1024;
/// Most event-array pages.
pub const MAX_PAGES: usize = (NR_CHANNELS / WORDS_PER_PAGE) as usize;
/// Queues per vCPU.
pub const QUEUES: usize = c::MAX_QUEUES as usize;

/// Index of `ready` in a control block, in 32-bit words.
pub const CB_READY: usize = 0;
/// Index of `head[0]` in a control block, in 32-bit words.
pub const CB_HEAD: usize = 2;

/// A control block as words of a shared page (`offset` in bytes, 8-aligned).
#[derive(Debug, Clone, Copy)]
pub struct ControlBlock {
    pub page: &'static [AtomicU32; 1024],
    /// Offset in 32-bit words.
    pub base: usize,
}

impl ControlBlock {
    pub fn new(page: &'static [AtomicU32; 1024], offset_bytes: usize) -> Self {
        Self {
            page,
            base: offset_bytes / 4,
        }
    }
    pub fn ready(&self) -> &'static AtomicU32 {
        &self.page[self.base + CB_READY]
    }
    pub fn head(&self, q: usize) -> &'static AtomicU32 {
        &self.page[self.base + CB_HEAD + q]
    }
}

/// The event array: pages of 1024 event words.
#[derive(Debug, Clone, Default)]
pub struct EventArray {
    pub pages: Vec<&'static [AtomicU32; 1024]>,
}

impl EventArray {
    /// The event word of `port`, if its page is there.
    pub fn word(&self, port: Port) -> Option<&'static AtomicU32> {
        let page = self.pages.get((port / WORDS_PER_PAGE) as usize)?;
        Some(&page[(port % WORDS_PER_PAGE) as usize])
    }
    /// Ports covered by the pages so far.
    pub fn nr_ports(&self) -> u32 {
        self.pages.len() as u32 * WORDS_PER_PAGE
    }
}

/// Guest state of the FIFO ABI for vCPU 0.
#[derive(Debug)]
pub struct Fifo {
    pub control: ControlBlock,
    pub array: EventArray,
    /// Linux's `local_head[q]`: where the guest is in each queue (0 = read HEAD next time).
    local_head: [Port; QUEUES],
    /// `ready` bits taken from the control block but not yet drained (only when a scan
    /// stopped early, see [`Fifo::scan`]).
    leftover_ready: u32,
    /// How many times a HEAD was read from the control block (tests: a stale HEAD is never
    /// re-read while a local head is held).
    pub head_reads: usize,
}

impl Fifo {
    /// After a successful `EVTCHNOP_init_control` with `control`.
    pub fn new(control: ControlBlock) -> Self {
        Self {
            control,
            array: EventArray::default(),
            local_head: [0; QUEUES],
            leftover_ready: 0,
            head_reads: 0,
        }
    }

    /// Linux's `local_head[q]`.
    pub fn local_head(&self, q: usize) -> Port {
        self.local_head[q]
    }

    /// Sets MASKED.
    pub fn mask(&self, port: Port) {
        if let Some(w) = self.array.word(port) {
            w.fetch_or(MASKED, SeqCst);
        }
    }

    /// Whether LINKED is set (the port is still on a queue).
    pub fn is_linked(&self, port: Port) -> bool {
        self.array
            .word(port)
            .is_some_and(|w| w.load(SeqCst) & LINKED != 0)
    }

    /// Unmask, post-XSA-332 (§4.4): if MASKED is already clear, done; if PENDING is set, leave
    /// MASKED alone and issue `EVTCHNOP_unmask` (Xen clears MASKED and links the event);
    /// otherwise clear MASKED with a cmpxchg whose expected value has BUSY clear, so it spins
    /// while Xen holds BUSY on the word.
    pub fn unmask(
        &self,
        port: Port,
        hv_unmask: impl FnOnce(Port) -> Result<(), XenError>,
    ) -> Result<(), XenError> {
        let word = self.array.word(port).ok_or(XenError::EINVAL)?;
        let mut w = word.load(SeqCst);
        loop {
            if w & MASKED == 0 {
                return Ok(());
            }
            if w & PENDING != 0 {
                return hv_unmask(port);
            }
            let old = w & !BUSY;
            match word.compare_exchange(old, old & !MASKED, SeqCst, SeqCst) {
                Ok(_) => return Ok(()),
                Err(now) => {
                    if now & BUSY != 0 {
                        core::hint::spin_loop();
                    }
                    w = now;
                }
            }
        }
    }

    /// One pass of Linux's `__evtchn_fifo_handle_events` (§4.4), after the caller cleared
    /// `upcall_pending`. Each event that is PENDING and not MASKED has PENDING cleared, then
    /// `handle(port)` runs. Stops early when `*budget` reaches 0; the queues not yet drained
    /// are kept (`leftover_ready`, local heads) for the next pass, and `upcall_pending` is
    /// raised so that a kernel comes back.
    pub fn scan(
        &mut self,
        upcall_pending: &AtomicU8,
        budget: &mut usize,
        handle: &mut dyn FnMut(Port),
    ) {
        let mut ready = self.leftover_ready | self.control.ready().swap(0, SeqCst);
        self.leftover_ready = 0;
        while ready != 0 {
            if *budget == 0 {
                self.leftover_ready = ready;
                upcall_pending.store(1, SeqCst);
                return;
            }
            let q = ready.trailing_zeros() as usize;
            self.consume_one(q, &mut ready, budget, handle);
            ready |= self.control.ready().swap(0, SeqCst);
        }
    }

    /// Linux's `consume_one_event`.
    fn consume_one(
        &mut self,
        q: usize,
        ready: &mut u32,
        budget: &mut usize,
        handle: &mut dyn FnMut(Port),
    ) {
        let mut head = self.local_head[q];
        if head == 0 {
            // Reached the tail last time: take the (new) HEAD Xen wrote. Order the read after
            // the read of `ready` that told us about it.
            fence(Acquire);
            head = self.control.head(q).load(SeqCst);
            self.head_reads += 1;
        }
        let port = head;
        let Some(word) = self.array.word(port).filter(|_| port != 0) else {
            // HEAD 0 (or beyond the array: a confused hypervisor): nothing on this queue.
            *ready &= !(1 << q);
            self.local_head[q] = 0;
            return;
        };
        // Unlink: clear LINKED and LINK in one go; the LINK read is the next event.
        let mut w = word.load(SeqCst);
        let old = loop {
            match word.compare_exchange_weak(w, w & !(LINKED | LINK_MASK), SeqCst, SeqCst) {
                Ok(old) => break old,
                Err(now) => w = now,
            }
        };
        let next = old & LINK_MASK;
        if next == 0 {
            // Drained, as far as the guest knows: Xen will write a new HEAD and set READY.
            *ready &= !(1 << q);
        }
        let now = word.load(SeqCst);
        if now & (PENDING | MASKED) == PENDING && word.fetch_and(!PENDING, SeqCst) & PENDING != 0 {
            handle(port);
            *budget = budget.saturating_sub(1);
        }
        self.local_head[q] = next;
    }
}
