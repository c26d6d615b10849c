//! The 3-level ABI, guest side: Wei Liu's design (2012-2013, never merged into Xen), as
//! reconstructed in reference §3.2 **[R]**. Only the project's hypervisor model implements it.
//!
//! - L1: `vcpu_info.evtchn_pending_sel` (`W` bits; bit i covers ports `i*W^2 .. (i+1)*W^2`);
//! - L2: a per-vCPU array `l2sel[W]` of `W`-bit words in a guest page (bit j of word i
//!   covers L3 word `i*W + j`);
//! - L3: `pending` and `mask` bitmaps of `W^2` words (`W^3` ports) in guest pages: 8 + 8 pages
//!   for W = 64 (262 144 ports), 1 + 1 for W = 32 (32 768 ports).
//!
//! Port p: L3 word `p / W`, bit `p % W`; L2 word `p / W^2`, bit `(p / W) % W`; L1 bit `p / W^2`.
//!
//! Registration ([`crate::ThreeLevelRegistration`]) gives Xen the frames of the bitmaps and
//! each vCPU's L2 selector (frame + offset) in one operation, under the model's private
//! operation number [`MODEL_OP_REGISTER_3LEVEL`]: numbers 11-13, which the original RFC may
//! have used, are FIFO's on every real Xen >= 4.4.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};

use crate::words::{Paged, Words};
use crate::{Port, UnmaskMode, XenError};

/// The model's private operation number of the 3-level registration (>= 0x1000, see §3.2).
pub const MODEL_OP_REGISTER_3LEVEL: u32 = 0x1000;
/// Ports of the 3-level ABI for a 64-bit guest (64^3).
pub const NR_CHANNELS_64: u32 = 64 * 64 * 64;
/// Ports of the 3-level ABI for a 32-bit guest (32^3).
pub const NR_CHANNELS_32: u32 = 32 * 32 * 32;
/// Pages of each L3 bitmap for a 64-bit guest.
pub const BITMAP_PAGES_64: u32 = 8;
/// Pages of each L3 bitmap for a 32-bit guest.
pub const BITMAP_PAGES_32: u32 = 1;
/// Bytes of one vCPU's L2 selector for a 64-bit guest (64 words of 64 bits).
pub const L2SEL_BYTES_64: u32 = 512;

/// The 3-level state of one vCPU, as references into shared memory.
#[derive(Debug)]
pub struct ThreeLevelRefs<'a, B: Words + ?Sized, S: Words + ?Sized> {
    /// L3 pending bitmap (`W^2` words).
    pub pending: &'a B,
    /// L3 mask bitmap (`W^2` words).
    pub mask: &'a B,
    /// This vCPU's L2 selector (`W` words).
    pub l2: &'a B,
    /// This vCPU's L1 selector, `vcpu_info.evtchn_pending_sel` (one word).
    pub l1: &'a S,
    /// `vcpu_info.evtchn_upcall_pending`.
    pub upcall_pending: &'a AtomicU8,
}

/// Where port `p` sits at each level for word width `w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// L3 word and bit.
    pub l3_word: usize,
    pub l3_bit: u32,
    /// L2 word and bit.
    pub l2_word: usize,
    pub l2_bit: u32,
    /// L1 bit.
    pub l1_bit: u32,
}

/// The §3.2 index math for word width `w` (32 or 64); `None` past `w^3`.
pub fn locate(w: u32, port: Port) -> Option<Location> {
    (port < w * w * w).then(|| Location {
        l3_word: (port / w) as usize,
        l3_bit: port % w,
        l2_word: (port / (w * w)) as usize,
        l2_bit: (port / w) % w,
        l1_bit: port / (w * w),
    })
}

/// Guest state of the 3-level ABI for vCPU 0 (W = 64).
#[derive(Debug)]
pub struct ThreeLevel {
    pub pending: Paged<64>,
    pub mask: Paged<64>,
    pub l2: Paged<64>,
    /// Ports bound to this vCPU (the L3 words are shared by all vCPUs).
    local: Vec<u64>,
}

impl ThreeLevel {
    pub fn new(pending: Paged<64>, mask: Paged<64>, l2: Paged<64>) -> Self {
        Self {
            pending,
            mask,
            l2,
            local: Vec::new(),
        }
    }

    /// References for vCPU 0, whose L1 selector is `l1`.
    pub fn refs<'a>(
        &'a self,
        l1: &'a AtomicU64,
        upcall_pending: &'a AtomicU8,
    ) -> ThreeLevelRefs<'a, Paged<64>, [AtomicU64]> {
        ThreeLevelRefs {
            pending: &self.pending,
            mask: &self.mask,
            l2: &self.l2,
            l1: core::slice::from_ref(l1),
            upcall_pending,
        }
    }

    pub fn bind_local(&mut self, port: Port) {
        let word = (port / 64) as usize;
        if self.local.len() <= word {
            self.local.resize(word + 1, 0);
        }
        self.local[word] |= 1u64 << (port % 64);
    }

    pub fn unbind_local(&mut self, port: Port) {
        if let Some(x) = self.local.get_mut((port / 64) as usize) {
            *x &= !(1u64 << (port % 64));
        }
    }

    /// Bytes of guest-private state (the local bind mask).
    pub fn private_bytes(&self) -> usize {
        self.local.capacity() * 8
    }

    /// One scan pass for vCPU 0 (L1 selector `l1`); see [`scan`].
    pub fn scan(
        &self,
        l1: &AtomicU64,
        upcall_pending: &AtomicU8,
        budget: &mut usize,
        handle: &mut dyn FnMut(Port),
    ) {
        scan(&self.refs(l1, upcall_pending), &self.local, budget, handle)
    }
}

/// One 3-level scan (§3.2), lowest port first, after the caller cleared `upcall_pending`:
/// each level is taken top-down with an atomic exchange before the level below is read, so a
/// concurrent set from Xen re-raises what it needs. `local` has a bit per port bound to this
/// vCPU (as `u64` words of `W` bits). PENDING is cleared before `handle(port)` runs. Stops
/// early when `*budget` reaches 0, handing back the selector bits not finished and raising
/// `upcall_pending`.
pub fn scan<B: Words + ?Sized, S: Words + ?Sized>(
    r: &ThreeLevelRefs<'_, B, S>,
    local: &[u64],
    budget: &mut usize,
    handle: &mut dyn FnMut(Port),
) {
    let w = B::W;
    let mut l1 = r.l1.swap(0, 0);
    while l1 != 0 {
        let i = l1.trailing_zeros() as usize;
        l1 &= l1 - 1;
        let mut l2 = r.l2.swap(i, 0);
        while l2 != 0 {
            let j = l2.trailing_zeros() as usize;
            l2 &= l2 - 1;
            let word = i * w as usize + j;
            let loc = local.get(word).copied().unwrap_or(0);
            let mut bits = if loc == 0 {
                0
            } else {
                r.pending.load(word) & !r.mask.load(word) & loc
            };
            while bits != 0 {
                let k = bits.trailing_zeros();
                bits &= bits - 1;
                if r.pending.test_and_clear_bit(word, k) {
                    handle(word as u32 * w + k);
                    *budget = budget.saturating_sub(1);
                }
                if *budget == 0 {
                    let rest_l2 = l2 | if bits != 0 { 1u64 << j } else { 0 };
                    if rest_l2 != 0 {
                        r.l2.fetch_or(i, rest_l2);
                        l1 |= 1u64 << i;
                    }
                    if l1 != 0 {
                        r.l1.fetch_or(0, l1);
                        r.upcall_pending.store(1, SeqCst);
                    }
                    return;
                }
            }
        }
    }
}

/// Sets MASK of `port`.
pub fn mask<B: Words + ?Sized, S: Words + ?Sized>(r: &ThreeLevelRefs<'_, B, S>, port: Port) {
    if let Some(l) = locate(B::W, port) {
        r.mask.set_bit(l.l3_word, l.l3_bit);
    }
}

/// Unmask, as for 2-level (see [`crate::abi::two_level::unmask`]) with the extra level: the
/// local resend sets the L2 bit, then (if that was newly set) the L1 bit, then (if that was
/// newly set) `upcall_pending`.
pub fn unmask<B: Words + ?Sized, S: Words + ?Sized>(
    r: &ThreeLevelRefs<'_, B, S>,
    port: Port,
    mode: UnmaskMode,
    hv_unmask: impl FnOnce(Port) -> Result<(), XenError>,
) -> Result<(), XenError> {
    let l = locate(B::W, port).ok_or(XenError::EINVAL)?;
    r.mask.clear_bit(l.l3_word, l.l3_bit);
    if !r.pending.test_bit(l.l3_word, l.l3_bit) {
        return Ok(());
    }
    match mode {
        UnmaskMode::LocalResend => {
            if !r.l2.test_and_set_bit(l.l2_word, l.l2_bit) && !r.l1.test_and_set_bit(0, l.l1_bit) {
                r.upcall_pending.store(1, SeqCst);
            }
            Ok(())
        }
        UnmaskMode::Hypercall => {
            r.mask.set_bit(l.l3_word, l.l3_bit);
            hv_unmask(port)
        }
    }
}
