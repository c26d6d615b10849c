//! Bitmaps of `W`-bit words in memory shared with Xen, for the 2-level and 3-level ABIs.
//!
//! The scans and the model are generic over [`Words`], so the same code runs on the 64-bit
//! layout the guest uses and on the 32-bit layout the reference's test vectors also cover.
//!
//! Page-backed bitmaps ([`Paged`]) are made of the `AtomicU32` words of [`crate::SharedPage`]s
//! (the crate has no `unsafe`, so it cannot view a page as `AtomicU64`s). A 64-bit word is then
//! two 32-bit halves, little-endian as on x86 (bit `n` of the bitmap is bit `n % 32` of
//! half `n / 32`). Each bit lives entirely in one half, so single-bit atomic operations
//! (test-and-set, test-and-clear) keep exactly their meaning, and an exchange of a selector
//! word done as two half-exchanges loses no bit: a bit set between the two is either taken by
//! the second exchange or left for the next pass. What is lost is only a single-instant
//! snapshot of all 64 bits, which none of the algorithms needs.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};

/// A run of `W`-bit words of a bitmap shared with Xen. Values are passed as `u64` (only the
/// low `W` bits mean anything). Every operation is an atomic RMW or load (sequentially
/// consistent, i.e. `LOCK`-prefixed on x86, as Xen's and Linux's bit operations are).
/// Indices out of range panic: callers check ports against the ABI's limits first.
pub trait Words {
    /// Bits per word: 32 or 64.
    const W: u32;
    /// Number of words.
    fn nr_words(&self) -> usize;
    fn load(&self, i: usize) -> u64;
    fn fetch_or(&self, i: usize, v: u64) -> u64;
    fn fetch_and(&self, i: usize, v: u64) -> u64;
    fn swap(&self, i: usize, v: u64) -> u64;

    fn test_bit(&self, i: usize, bit: u32) -> bool {
        self.load(i) & (1u64 << bit) != 0
    }
    /// Sets `bit` of word `i`; returns whether it was set before.
    fn test_and_set_bit(&self, i: usize, bit: u32) -> bool {
        self.fetch_or(i, 1u64 << bit) & (1u64 << bit) != 0
    }
    /// Clears `bit` of word `i`; returns whether it was set before.
    fn test_and_clear_bit(&self, i: usize, bit: u32) -> bool {
        self.fetch_and(i, !(1u64 << bit)) & (1u64 << bit) != 0
    }
    fn set_bit(&self, i: usize, bit: u32) {
        self.fetch_or(i, 1u64 << bit);
    }
    fn clear_bit(&self, i: usize, bit: u32) {
        self.fetch_and(i, !(1u64 << bit));
    }
}

impl Words for [AtomicU64] {
    const W: u32 = 64;
    fn nr_words(&self) -> usize {
        self.len()
    }
    fn load(&self, i: usize) -> u64 {
        self[i].load(SeqCst)
    }
    fn fetch_or(&self, i: usize, v: u64) -> u64 {
        self[i].fetch_or(v, SeqCst)
    }
    fn fetch_and(&self, i: usize, v: u64) -> u64 {
        self[i].fetch_and(v, SeqCst)
    }
    fn swap(&self, i: usize, v: u64) -> u64 {
        self[i].swap(v, SeqCst)
    }
}

impl Words for [AtomicU32] {
    const W: u32 = 32;
    fn nr_words(&self) -> usize {
        self.len()
    }
    fn load(&self, i: usize) -> u64 {
        u64::from(self[i].load(SeqCst))
    }
    fn fetch_or(&self, i: usize, v: u64) -> u64 {
        u64::from(self[i].fetch_or(v as u32, SeqCst))
    }
    fn fetch_and(&self, i: usize, v: u64) -> u64 {
        u64::from(self[i].fetch_and(v as u32, SeqCst))
    }
    fn swap(&self, i: usize, v: u64) -> u64 {
        u64::from(self[i].swap(v as u32, SeqCst))
    }
}

/// A bitmap of `W`-bit words laid over a sequence of shared pages, starting at the 32-bit
/// word `base` of the first page (so a bitmap can start at an offset inside a page, as the
/// 3-level L2 selector does). `W` is 32 or 64.
#[derive(Debug, Clone)]
pub struct Paged<const W: u32> {
    pages: Vec<&'static [AtomicU32; 1024]>,
    base: usize,
    nr_words: usize,
}

impl<const W: u32> Paged<W> {
    /// `nr_words` words of `W` bits from byte `offset` (4-aligned) of `pages[0]` on.
    ///
    /// # Panics
    /// If the pages are too few for the words, or `offset` is not 4-aligned.
    pub fn new(pages: Vec<&'static [AtomicU32; 1024]>, offset: usize, nr_words: usize) -> Self {
        assert!(W == 32 || W == 64, "W must be 32 or 64");
        assert!(offset.is_multiple_of(4), "offset must be 4-aligned");
        let halves = (W / 32) as usize;
        assert!(
            offset / 4 + nr_words * halves <= pages.len() * 1024,
            "bitmap does not fit its pages"
        );
        Self {
            pages,
            base: offset / 4,
            nr_words,
        }
    }

    /// The pages, in order.
    pub fn pages(&self) -> &[&'static [AtomicU32; 1024]] {
        &self.pages
    }

    fn half(&self, g: usize) -> &AtomicU32 {
        &self.pages[g >> 10][g & 1023]
    }

    /// Index (over all pages) of the low 32-bit piece of word `i`.
    fn pieces(&self, i: usize) -> usize {
        assert!(i < self.nr_words, "bitmap word {i} out of range");
        self.base + i * (W / 32) as usize
    }
}

macro_rules! paged_words {
    ($w:literal) => {
        impl Words for Paged<$w> {
            const W: u32 = $w;
            fn nr_words(&self) -> usize {
                self.nr_words
            }
            fn load(&self, i: usize) -> u64 {
                let g = self.pieces(i);
                let lo = u64::from(self.half(g).load(SeqCst));
                if $w == 32 {
                    lo
                } else {
                    lo | (u64::from(self.half(g + 1).load(SeqCst)) << 32)
                }
            }
            fn fetch_or(&self, i: usize, v: u64) -> u64 {
                // An OR with zero in a half changes nothing: only read that half.
                let g = self.pieces(i);
                let lo_v = v as u32;
                let lo = if lo_v == 0 {
                    self.half(g).load(SeqCst)
                } else {
                    self.half(g).fetch_or(lo_v, SeqCst)
                };
                if $w == 32 {
                    return u64::from(lo);
                }
                let hi_v = (v >> 32) as u32;
                let hi = if hi_v == 0 {
                    self.half(g + 1).load(SeqCst)
                } else {
                    self.half(g + 1).fetch_or(hi_v, SeqCst)
                };
                u64::from(lo) | (u64::from(hi) << 32)
            }
            fn fetch_and(&self, i: usize, v: u64) -> u64 {
                // An AND with all-ones in a half changes nothing: only read that half.
                let g = self.pieces(i);
                let lo_v = v as u32;
                let lo = if lo_v == u32::MAX {
                    self.half(g).load(SeqCst)
                } else {
                    self.half(g).fetch_and(lo_v, SeqCst)
                };
                if $w == 32 {
                    return u64::from(lo);
                }
                let hi_v = (v >> 32) as u32;
                let hi = if hi_v == u32::MAX {
                    self.half(g + 1).load(SeqCst)
                } else {
                    self.half(g + 1).fetch_and(hi_v, SeqCst)
                };
                u64::from(lo) | (u64::from(hi) << 32)
            }
            fn swap(&self, i: usize, v: u64) -> u64 {
                let g = self.pieces(i);
                let lo = u64::from(self.half(g).swap(v as u32, SeqCst));
                if $w == 32 {
                    lo
                } else {
                    lo | (u64::from(self.half(g + 1).swap((v >> 32) as u32, SeqCst)) << 32)
                }
            }
        }
    };
}
paged_words!(32);
paged_words!(64);
