//! TEMPORARY stand-in for `xen_ring::sring` (the lead's generic request/response ring, which
//! lands on main soon), with the same API as notes/ring-api.md describes, so netfront builds
//! and is tested now. Replaced by `pub use xen_ring::sring::*` once that is merged.

use core::marker::PhantomData;
use core::sync::atomic::{fence, AtomicU32, Ordering};

/// A ring entry as laid out in its slot: little-endian 32-bit words.
pub trait Slot: Sized {
    const WORDS: usize;
    fn encode(&self, out: &mut [u32]);
    fn decode(words: &[u32]) -> Self;
}

pub const SRING_HEADER_BYTES: usize = 64;
const HDR_WORDS: usize = SRING_HEADER_BYTES / 4;
const REQ_PROD: usize = 0;
const REQ_EVENT: usize = 1;
const RSP_PROD: usize = 2;
const RSP_EVENT: usize = 3;

/// Entries of a ring of `pages` pages with `slot_words`-word slots (power of two).
pub const fn ring_size(pages: usize, slot_words: usize) -> u32 {
    let n = (pages * 4096 - SRING_HEADER_BYTES) / (slot_words * 4);
    if n == 0 {
        return 0;
    }
    let mut p = 1usize;
    while p * 2 <= n {
        p *= 2;
    }
    p as u32
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingFull;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    Corrupt { prod: u32, cons: u32 },
}

impl core::fmt::Display for RingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RingError::Corrupt { prod, cons } => {
                write!(f, "corrupt ring index: producer {prod} consumer {cons}")
            }
        }
    }
}

fn slot_read<T: Slot>(words: &[AtomicU32], size: u32, idx: u32) -> T {
    let base = HDR_WORDS + (idx & (size - 1)) as usize * T::WORDS;
    let mut buf = [0u32; 16];
    for (i, w) in buf[..T::WORDS].iter_mut().enumerate() {
        *w = words[base + i].load(Ordering::Relaxed);
    }
    T::decode(&buf[..T::WORDS])
}

fn slot_write<T: Slot>(words: &[AtomicU32], size: u32, idx: u32, v: &T) {
    let base = HDR_WORDS + (idx & (size - 1)) as usize * T::WORDS;
    let mut buf = [0u32; 16];
    v.encode(&mut buf[..T::WORDS]);
    for (i, w) in buf[..T::WORDS].iter().enumerate() {
        words[base + i].store(*w, Ordering::Relaxed);
    }
}

/// Front (guest) end.
#[derive(Debug)]
pub struct FrontRing<'a, Req: Slot, Rsp: Slot> {
    words: &'a [AtomicU32],
    size: u32,
    req_prod_pvt: u32,
    rsp_cons: u32,
    _p: PhantomData<(Req, Rsp)>,
}

impl<'a, Req: Slot, Rsp: Slot> FrontRing<'a, Req, Rsp> {
    pub fn init(words: &'a [AtomicU32]) -> Self {
        let slot_words = Req::WORDS.max(Rsp::WORDS);
        let size = ring_size(words.len() * 4 / 4096, slot_words);
        for w in words.iter().take(HDR_WORDS) {
            w.store(0, Ordering::Relaxed);
        }
        words[REQ_EVENT].store(1, Ordering::Relaxed);
        words[RSP_EVENT].store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        Self {
            words,
            size,
            req_prod_pvt: 0,
            rsp_cons: 0,
            _p: PhantomData,
        }
    }
    pub fn size(&self) -> u32 {
        self.size
    }
    pub fn free_requests(&self) -> u32 {
        self.size - self.req_prod_pvt.wrapping_sub(self.rsp_cons)
    }
    pub fn push_request(&mut self, req: &Req) -> Result<(), RingFull> {
        if self.free_requests() == 0 {
            return Err(RingFull);
        }
        slot_write(self.words, self.size, self.req_prod_pvt, req);
        self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
        Ok(())
    }
    pub fn commit(&mut self) -> bool {
        let old = self.words[REQ_PROD].load(Ordering::Relaxed);
        let new = self.req_prod_pvt;
        fence(Ordering::Release);
        self.words[REQ_PROD].store(new, Ordering::Release);
        fence(Ordering::SeqCst);
        let ev = self.words[REQ_EVENT].load(Ordering::Acquire);
        new.wrapping_sub(ev) < new.wrapping_sub(old)
    }
    fn pending(&self) -> Result<u32, RingError> {
        let prod = self.words[RSP_PROD].load(Ordering::Acquire);
        let avail = prod.wrapping_sub(self.rsp_cons);
        if avail > self.req_prod_pvt.wrapping_sub(self.rsp_cons) {
            return Err(RingError::Corrupt {
                prod,
                cons: self.rsp_cons,
            });
        }
        Ok(avail)
    }
    pub fn take_response(&mut self) -> Result<Option<Rsp>, RingError> {
        if self.pending()? == 0 {
            return Ok(None);
        }
        fence(Ordering::Acquire);
        let r = slot_read(self.words, self.size, self.rsp_cons);
        self.rsp_cons = self.rsp_cons.wrapping_add(1);
        Ok(Some(r))
    }
    pub fn final_check_for_responses(&mut self) -> Result<bool, RingError> {
        if self.pending()? > 0 {
            return Ok(true);
        }
        self.words[RSP_EVENT].store(self.rsp_cons.wrapping_add(1), Ordering::Release);
        fence(Ordering::SeqCst);
        Ok(self.pending()? > 0)
    }
    pub fn outstanding(&self) -> u32 {
        self.req_prod_pvt.wrapping_sub(self.rsp_cons)
    }
}

/// Back end, for mock backends in host tests.
#[derive(Debug)]
pub struct BackRing<'a, Req: Slot, Rsp: Slot> {
    words: &'a [AtomicU32],
    size: u32,
    rsp_prod_pvt: u32,
    req_cons: u32,
    _p: PhantomData<(Req, Rsp)>,
}

impl<'a, Req: Slot, Rsp: Slot> BackRing<'a, Req, Rsp> {
    pub fn attach(words: &'a [AtomicU32]) -> Self {
        let slot_words = Req::WORDS.max(Rsp::WORDS);
        let size = ring_size(words.len() * 4 / 4096, slot_words);
        let rsp = words[RSP_PROD].load(Ordering::Acquire);
        Self {
            words,
            size,
            rsp_prod_pvt: rsp,
            req_cons: rsp,
            _p: PhantomData,
        }
    }
    fn pending(&self) -> Result<u32, RingError> {
        let prod = self.words[REQ_PROD].load(Ordering::Acquire);
        let avail = prod.wrapping_sub(self.req_cons);
        // Requests may not exceed what the ring can hold beyond unanswered ones.
        if avail > self.size - self.req_cons.wrapping_sub(self.rsp_prod_pvt) {
            return Err(RingError::Corrupt {
                prod,
                cons: self.req_cons,
            });
        }
        Ok(avail)
    }
    pub fn take_request(&mut self) -> Result<Option<Req>, RingError> {
        if self.pending()? == 0 {
            return Ok(None);
        }
        fence(Ordering::Acquire);
        let r = slot_read(self.words, self.size, self.req_cons);
        self.req_cons = self.req_cons.wrapping_add(1);
        Ok(Some(r))
    }
    pub fn push_response(&mut self, rsp: &Rsp) -> Result<(), RingFull> {
        if self.rsp_prod_pvt == self.req_cons {
            return Err(RingFull);
        }
        slot_write(self.words, self.size, self.rsp_prod_pvt, rsp);
        self.rsp_prod_pvt = self.rsp_prod_pvt.wrapping_add(1);
        Ok(())
    }
    pub fn commit(&mut self) -> bool {
        let old = self.words[RSP_PROD].load(Ordering::Relaxed);
        let new = self.rsp_prod_pvt;
        fence(Ordering::Release);
        self.words[RSP_PROD].store(new, Ordering::Release);
        fence(Ordering::SeqCst);
        let ev = self.words[RSP_EVENT].load(Ordering::Acquire);
        new.wrapping_sub(ev) < new.wrapping_sub(old)
    }
    pub fn final_check_for_requests(&mut self) -> Result<bool, RingError> {
        if self.pending()? > 0 {
            return Ok(true);
        }
        self.words[REQ_EVENT].store(self.req_cons.wrapping_add(1), Ordering::Release);
        fence(Ordering::SeqCst);
        Ok(self.pending()? > 0)
    }
}

/// Raw header access for hostile-backend tests.
#[derive(Debug)]
pub struct SringHeader<'a>(&'a [AtomicU32]);

pub fn raw_header(words: &[AtomicU32]) -> SringHeader<'_> {
    SringHeader(words)
}

impl SringHeader<'_> {
    pub fn req_prod(&self) -> u32 {
        self.0[REQ_PROD].load(Ordering::Acquire)
    }
    pub fn rsp_prod(&self) -> u32 {
        self.0[RSP_PROD].load(Ordering::Acquire)
    }
    pub fn set_rsp_prod(&self, v: u32) {
        self.0[RSP_PROD].store(v, Ordering::Release)
    }
    pub fn set_req_prod(&self, v: u32) {
        self.0[REQ_PROD].store(v, Ordering::Release)
    }
}
