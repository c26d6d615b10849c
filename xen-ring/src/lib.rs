//! Xen shared-memory rings, as safe code over atomics so that it runs unchanged on the host.
//!
//! [`ByteRing`] is the byte stream ring of io/console.h and io/xs_wire.h: a power-of-two
//! buffer with free-running `u32` producer and consumer indices. We are the producer of one
//! direction and the consumer of the other; the peer (xenconsoled, xenstored, or a hostile
//! backend) owns the other index, so every index read from shared memory is checked: a peer
//! that moves its index by more than the ring size gets [`RingError::Corrupt`], never an
//! out-of-bounds access or a panic.
//!
//! [`FrontRing`] and [`BackRing`] (module [`sring`]) are the request/response rings of
//! io/ring.h that every split driver (netif, blkif) uses, with the same checks.
#![no_std]
#![forbid(unsafe_code)]

pub mod sring;
pub use sring::{
    raw_header, ring_size, BackRing, FrontRing, RingFull, Slot, SringHeader, SRING_HEADER_BYTES,
};

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

/// A ring was found in a state the protocol does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// The indices are more than the ring size apart (`prod - cons > size`).
    Corrupt { prod: u32, cons: u32 },
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::Corrupt { prod, cons } => write!(
                f,
                "ring indices out of range (prod {prod}, cons {cons}): peer is buggy or hostile"
            ),
        }
    }
}

impl core::error::Error for RingError {}

/// One direction of a byte ring: a buffer plus its consumer and producer indices.
#[derive(Debug, Clone, Copy)]
pub struct ByteRing<'a> {
    buf: &'a [AtomicU8],
    cons: &'a AtomicU32,
    prod: &'a AtomicU32,
}

impl<'a> ByteRing<'a> {
    /// A view of one direction. `buf.len()` must be a power of two no larger than 2^31
    /// (as in every Xen byte ring); anything else is a programming error and panics here,
    /// at construction, never later.
    pub fn new(buf: &'a [AtomicU8], cons: &'a AtomicU32, prod: &'a AtomicU32) -> Self {
        assert!(
            buf.len().is_power_of_two() && buf.len() <= 1 << 31,
            "byte ring size must be a power of two"
        );
        Self { buf, cons, prod }
    }

    fn size(&self) -> u32 {
        self.buf.len() as u32
    }

    fn mask(&self, idx: u32) -> usize {
        (idx & (self.size() - 1)) as usize
    }

    fn used(&self, prod: u32, cons: u32) -> Result<u32, RingError> {
        let used = prod.wrapping_sub(cons);
        if used > self.size() {
            Err(RingError::Corrupt { prod, cons })
        } else {
            Ok(used)
        }
    }

    /// Producer side: copies as much of `data` as fits, publishes it, and returns how many
    /// bytes were written (0 when the ring is full).
    pub fn write(&self, data: &[u8]) -> Result<usize, RingError> {
        // Acquire: the peer's reads of the slots it consumed happen before we reuse them.
        let cons = self.cons.load(Ordering::Acquire);
        let mut prod = self.prod.load(Ordering::Relaxed);
        let free = self.size() - self.used(prod, cons)?;
        let n = data.len().min(free as usize);
        for &b in &data[..n] {
            self.buf[self.mask(prod)].store(b, Ordering::Relaxed);
            prod = prod.wrapping_add(1);
        }
        // Release: the bytes are visible before the new producer index.
        self.prod.store(prod, Ordering::Release);
        Ok(n)
    }

    /// Consumer side: copies up to `out.len()` available bytes out, releases their slots,
    /// and returns how many were read.
    pub fn read(&self, out: &mut [u8]) -> Result<usize, RingError> {
        let prod = self.prod.load(Ordering::Acquire);
        let mut cons = self.cons.load(Ordering::Relaxed);
        let avail = self.used(prod, cons)?;
        let n = out.len().min(avail as usize);
        for slot in &mut out[..n] {
            *slot = self.buf[self.mask(cons)].load(Ordering::Relaxed);
            cons = cons.wrapping_add(1);
        }
        self.cons.store(cons, Ordering::Release);
        Ok(n)
    }

    /// Bytes written by the producer and not yet consumed.
    pub fn pending(&self) -> Result<u32, RingError> {
        self.used(
            self.prod.load(Ordering::Acquire),
            self.cons.load(Ordering::Acquire),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ring<const N: usize> {
        buf: [AtomicU8; N],
        cons: AtomicU32,
        prod: AtomicU32,
    }

    impl<const N: usize> Ring<N> {
        fn new(start: u32) -> Self {
            Self {
                buf: [const { AtomicU8::new(0) }; N],
                cons: AtomicU32::new(start),
                prod: AtomicU32::new(start),
            }
        }
        fn view(&self) -> ByteRing<'_> {
            ByteRing::new(&self.buf, &self.cons, &self.prod)
        }
    }

    #[test]
    fn round_trip_and_full() {
        let r = Ring::<8>::new(0);
        let ring = r.view();
        assert_eq!(ring.write(b"hello world"), Ok(8));
        assert_eq!(ring.write(b"x"), Ok(0), "a full ring takes nothing");
        let mut out = [0u8; 5];
        assert_eq!(ring.read(&mut out), Ok(5));
        assert_eq!(&out, b"hello");
        assert_eq!(ring.write(b"12345"), Ok(5));
        let mut out = [0u8; 16];
        assert_eq!(ring.read(&mut out), Ok(8));
        assert_eq!(&out[..8], b" wo12345");
        assert_eq!(ring.pending(), Ok(0));
    }

    #[test]
    fn indices_wrap_around_u32() {
        let r = Ring::<4>::new(u32::MAX - 1);
        let ring = r.view();
        for round in 0..10u8 {
            assert_eq!(ring.write(&[round, round + 1, round + 2]), Ok(3));
            let mut out = [0u8; 3];
            assert_eq!(ring.read(&mut out), Ok(3));
            assert_eq!(out, [round, round + 1, round + 2]);
        }
        assert_eq!(r.prod.load(Ordering::Relaxed), 28);
    }

    #[test]
    fn hostile_indices_are_an_error_not_a_panic() {
        let r = Ring::<8>::new(0);
        // The peer claims to have produced 9 bytes into an 8-byte ring.
        r.prod.store(9, Ordering::Relaxed);
        let ring = r.view();
        let mut out = [0u8; 16];
        assert_eq!(
            ring.read(&mut out),
            Err(RingError::Corrupt { prod: 9, cons: 0 })
        );
        // The peer moved its consumer index past our producer index.
        let r = Ring::<8>::new(0);
        r.cons.store(3, Ordering::Relaxed);
        assert_eq!(
            r.view().write(b"abc"),
            Err(RingError::Corrupt { prod: 0, cons: 3 })
        );
        assert_eq!(r.prod.load(Ordering::Relaxed), 0, "nothing published");
    }

    #[test]
    #[should_panic(expected = "power of two")]
    fn non_power_of_two_is_rejected_at_construction() {
        let r = Ring::<6>::new(0);
        let _ = r.view();
    }
}
