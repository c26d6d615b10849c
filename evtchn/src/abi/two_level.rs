//! The 2-level ABI, guest side (reference §2): pending and mask bitmaps of `W` words of `W`
//! bits in shared_info, and a `W`-bit selector per vCPU in its vcpu_info.
//!
//! The scan is Linux's `evtchn_2l_handle_events` with its round-robin fairness cursor; the
//! unmask is Linux's (local resend on PV, or re-mask + `EVTCHNOP_unmask`), never the naive
//! "clear MASK then hypercall" that Xen ignores (§2.2 pitfall).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};

use crate::words::Words;
use crate::{Port, UnmaskMode, XenError};

/// The 2-level state of one vCPU, as references into shared memory.
#[derive(Debug)]
pub struct TwoLevelRefs<'a, B: Words + ?Sized, S: Words + ?Sized> {
    /// `shared_info.evtchn_pending` (`W` words).
    pub pending: &'a B,
    /// `shared_info.evtchn_mask` (`W` words).
    pub mask: &'a B,
    /// `vcpu_info.evtchn_pending_sel` (one word).
    pub sel: &'a S,
    /// `vcpu_info.evtchn_upcall_pending`.
    pub upcall_pending: &'a AtomicU8,
}

impl<'a> TwoLevelRefs<'a, [AtomicU64], [AtomicU64]> {
    /// The 64-bit layout of `shared`, for vCPU `vcpu` (< 32).
    pub fn from_shared(shared: &'a xen_abi::SharedInfo, vcpu: usize) -> Self {
        let vi = &shared.vcpu_info[vcpu];
        Self {
            pending: &shared.evtchn_pending[..],
            mask: &shared.evtchn_mask[..],
            sel: core::slice::from_ref(&vi.evtchn_pending_sel),
            upcall_pending: &vi.evtchn_upcall_pending,
        }
    }
}

impl<B: Words + ?Sized, S: Words + ?Sized> TwoLevelRefs<'_, B, S> {
    /// Ports of this layout: `W * W`.
    pub fn nr_ports(&self) -> u32 {
        B::W * B::W
    }

    /// (word, bit) of `port`; `None` past the last port.
    pub fn locate(&self, port: Port) -> Option<(usize, u32)> {
        (port < self.nr_ports()).then(|| ((port / B::W) as usize, port % B::W))
    }
}

/// Guest-private 2-level state of one vCPU: the fairness cursor and the ports bound to this
/// vCPU (Linux's `cpu_evtchn_mask`; the pending words are shared by all vCPUs, so the scan
/// must skip other vCPUs' ports).
#[derive(Debug, Clone, Default)]
pub struct TwoLevel {
    /// `current_word_idx`: the word the next scan starts at.
    cw: usize,
    /// `current_bit_idx`: the bit the next scan starts at in word `cw`.
    cb: u32,
    /// Bit p set: port p is bound to this vCPU (W-bit words kept in u64s).
    local: Vec<u64>,
}

impl TwoLevel {
    pub fn new() -> Self {
        Self::default()
    }

    /// The fairness cursor `(current_word_idx, current_bit_idx)`.
    pub fn cursor(&self) -> (usize, u32) {
        (self.cw, self.cb)
    }

    /// Sets the fairness cursor (tests: "as if port N had been handled last").
    pub fn set_cursor(&mut self, word: usize, bit: u32) {
        self.cw = word;
        self.cb = bit;
    }

    /// Marks `port` as bound to this vCPU (`w` = word width of the layout).
    pub fn bind_local(&mut self, w: u32, port: Port) {
        let (word, bit) = ((port / w) as usize, port % w);
        if self.local.len() <= word {
            self.local.resize(word + 1, 0);
        }
        self.local[word] |= 1u64 << bit;
    }

    /// Forgets `port`.
    pub fn unbind_local(&mut self, w: u32, port: Port) {
        let (word, bit) = ((port / w) as usize, port % w);
        if let Some(x) = self.local.get_mut(word) {
            *x &= !(1u64 << bit);
        }
    }

    /// Bytes of guest-private state (the local bind mask).
    pub fn private_bytes(&self) -> usize {
        self.local.capacity() * 8
    }

    /// Pending, unmasked and bound here: Linux's `active_evtchns`.
    fn active<B: Words + ?Sized, S: Words + ?Sized>(
        &self,
        r: &TwoLevelRefs<'_, B, S>,
        w: usize,
    ) -> u64 {
        let local = self.local.get(w).copied().unwrap_or(0);
        if local == 0 {
            return 0;
        }
        r.pending.load(w) & !r.mask.load(w) & local
    }

    /// One `evtchn_2l_handle_events` pass (§2.3), after the caller cleared
    /// `evtchn_upcall_pending`. For each active port, PENDING is cleared, then `handle(port)`
    /// runs. Stops early when `*budget` handled ports reach 0, putting the selector bits it
    /// did not finish back (and raising `upcall_pending`) so that nothing is lost.
    pub fn scan<B: Words + ?Sized, S: Words + ?Sized>(
        &mut self,
        r: &TwoLevelRefs<'_, B, S>,
        budget: &mut usize,
        handle: &mut dyn FnMut(Port),
    ) {
        let wbits = B::W;
        let nwords = wbits as usize;
        // Ordered after the caller's clear of upcall_pending: an atomic exchange.
        let mut pending_words = r.sel.swap(0, 0);
        let start_w = self.cw % nwords;
        let start_b = self.cb % wbits;
        let mut w = start_w;
        let mut b;
        let mut i = 0usize;
        while pending_words != 0 {
            // Words at or above w (w < W, so the shift is in range).
            let words = pending_words & (u64::MAX << w);
            if words == 0 {
                // Wrap to the beginning; i still counts this round (Linux's for loop).
                w = 0;
                i += 1;
                continue;
            }
            w = words.trailing_zeros() as usize;
            let bits_snapshot = self.active(r, w);
            b = if w == start_w && i == 0 { start_b } else { 0 };
            loop {
                let bits = bits_snapshot & (u64::MAX << b);
                if bits == 0 {
                    break;
                }
                let bit = bits.trailing_zeros();
                let port = w as u32 * wbits + bit;
                // Clear PENDING before the handler (§2.4): an event that arrives while it
                // runs sets PENDING again and is seen by the next pass.
                if r.pending.test_and_clear_bit(w, bit) {
                    handle(port);
                    *budget = budget.saturating_sub(1);
                }
                b = (bit + 1) % wbits;
                self.cw = if b != 0 { w } else { (w + 1) % nwords };
                self.cb = b;
                if *budget == 0 {
                    // Not finished: hand the selector bits back, as Xen would have set them.
                    if pending_words != 0 {
                        r.sel.fetch_or(0, pending_words);
                        r.upcall_pending.store(1, SeqCst);
                    }
                    return;
                }
                if b == 0 {
                    break;
                }
            }
            // Scan the start word twice (first from start_b up, later all of it).
            if w != start_w || i != 0 {
                pending_words &= !(1u64 << w);
            }
            w = (w + 1) % nwords;
            i += 1;
        }
    }
}

/// Sets MASK of `port`: no hypercall needed (§2.4).
pub fn mask<B: Words + ?Sized, S: Words + ?Sized>(r: &TwoLevelRefs<'_, B, S>, port: Port) {
    if let Some((w, bit)) = r.locate(port) {
        r.mask.set_bit(w, bit);
    }
}

/// Unmasks `port`, a port bound to the vCPU of `r` (§2.4):
/// - [`UnmaskMode::LocalResend`] (PV, Linux and Mini-OS): clear MASK, then if PENDING is set,
///   set the selector bit and `upcall_pending` ourselves, like `hw_resend_irq`. The caller
///   then has to run the upcall handler if events are enabled (Mini-OS's
///   `force_evtchn_callback`); with events disabled, the re-enable path's check of
///   `upcall_pending` picks it up.
/// - [`UnmaskMode::Hypercall`] (HVM/PVH, and ports of other vCPUs): clear MASK; if PENDING is
///   set, set MASK again and issue `EVTCHNOP_unmask`, so that Xen's test-and-clear of MASK
///   sees it set and re-raises the event (clearing MASK and then calling the hypercall would
///   do nothing: the §2.2 pitfall).
pub fn unmask<B: Words + ?Sized, S: Words + ?Sized>(
    r: &TwoLevelRefs<'_, B, S>,
    port: Port,
    mode: UnmaskMode,
    hv_unmask: impl FnOnce(Port) -> Result<(), XenError>,
) -> Result<(), XenError> {
    let Some((w, bit)) = r.locate(port) else {
        return Err(XenError::EINVAL);
    };
    // Clear the mask before testing pending: an event that arrives in between sets the
    // selector through Xen's normal path.
    r.mask.clear_bit(w, bit);
    if !r.pending.test_bit(w, bit) {
        return Ok(());
    }
    match mode {
        UnmaskMode::LocalResend => {
            if !r.sel.test_and_set_bit(0, w as u32) {
                r.upcall_pending.store(1, SeqCst);
            }
            Ok(())
        }
        UnmaskMode::Hypercall => {
            r.mask.set_bit(w, bit);
            hv_unmask(port)
        }
    }
}
