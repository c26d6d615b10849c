//! The request/response ring of io/ring.h, shared by every split driver (netif, blkif, ...).
//!
//! One or more pages hold a 64-byte header (`req_prod`, `req_event`, `rsp_prod`, `rsp_event`,
//! then private and padding bytes) followed by a power-of-two array of slots; a slot holds a
//! request or a response (a C union, so both have the slot's size). The front end produces
//! requests and consumes responses; the back end does the reverse. Each side keeps its
//! private indices to itself and only publishes its producer index and its event threshold.
//!
//! Everything is read and written through `AtomicU32`, so the same code runs against a real
//! backend in another domain and against a mock in host tests. Every index read from the
//! shared page is checked: a peer that claims more entries than the protocol allows gets
//! [`RingError::Corrupt`] and nothing is consumed. A slot is decoded into a local value
//! once, so a peer that rewrites a slot after we read it cannot change what we validated.

use core::marker::PhantomData;
use core::sync::atomic::{fence, AtomicU32, Ordering};

use crate::RingError;

/// A ring entry (request or response) as laid out in its slot: little-endian 32-bit words.
///
/// Implement it for the ABI structs of a protocol, field by field. `WORDS` is the slot size,
/// that is the size of the C union of request and response, in 32-bit words: the request and
/// response types of one ring must give the same value.
pub trait Slot: Sized {
    /// Size of the ring's slot (the request/response union) in 32-bit words.
    const WORDS: usize;
    /// Writes the entry into `out` (`out.len() == WORDS`, all zero on entry).
    fn encode(&self, out: &mut [u32]);
    /// Reads an entry from `words` (`words.len() == WORDS`).
    fn decode(words: &[u32]) -> Self;
}

/// Bytes before the first slot: the four indices, 4 private bytes and 44 bytes of padding.
pub const SRING_HEADER_BYTES: usize = 64;
const HEADER_WORDS: usize = SRING_HEADER_BYTES / 4;
const PAGE_WORDS: usize = 1024;
/// Largest slot we accept, in words (blkif's request, 112 bytes, is the largest in Xen).
const MAX_SLOT_WORDS: usize = 64;

const REQ_PROD: usize = 0;
const REQ_EVENT: usize = 1;
const RSP_PROD: usize = 2;
const RSP_EVENT: usize = 3;

/// Entries in a ring of `pages` 4 KiB pages with slots of `slot_words` words: the largest
/// power of two that fits after the header (`__CONST_RING_SIZE`).
pub const fn ring_size(pages: usize, slot_words: usize) -> u32 {
    let fit = (pages * PAGE_WORDS - HEADER_WORDS) / slot_words;
    if fit == 0 {
        return 0;
    }
    // The largest power of two <= fit.
    1 << (usize::BITS - 1 - fit.leading_zeros())
}

/// No room: the front end has `size` requests outstanding, or the back end has no consumed
/// request left to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingFull;

impl core::fmt::Display for RingFull {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ring full")
    }
}

impl core::error::Error for RingFull {}

/// Raw access to the shared header, for tests that play a buggy or hostile peer.
#[derive(Debug, Clone, Copy)]
pub struct SringHeader<'a> {
    words: &'a [AtomicU32],
}

/// The header of the ring in `words`.
pub fn raw_header(words: &[AtomicU32]) -> SringHeader<'_> {
    assert!(words.len() >= HEADER_WORDS, "a ring is at least its header");
    SringHeader { words }
}

impl SringHeader<'_> {
    pub fn req_prod(&self) -> u32 {
        self.words[REQ_PROD].load(Ordering::Acquire)
    }
    pub fn req_event(&self) -> u32 {
        self.words[REQ_EVENT].load(Ordering::Acquire)
    }
    pub fn rsp_prod(&self) -> u32 {
        self.words[RSP_PROD].load(Ordering::Acquire)
    }
    pub fn rsp_event(&self) -> u32 {
        self.words[RSP_EVENT].load(Ordering::Acquire)
    }
    pub fn set_req_prod(&self, v: u32) {
        self.words[REQ_PROD].store(v, Ordering::Release)
    }
    pub fn set_req_event(&self, v: u32) {
        self.words[REQ_EVENT].store(v, Ordering::Release)
    }
    pub fn set_rsp_prod(&self, v: u32) {
        self.words[RSP_PROD].store(v, Ordering::Release)
    }
    pub fn set_rsp_event(&self, v: u32) {
        self.words[RSP_EVENT].store(v, Ordering::Release)
    }
}

/// The slots of a ring: where entry `idx` lives, and copying entries in and out.
#[derive(Debug, Clone, Copy)]
struct Slots<'a> {
    words: &'a [AtomicU32],
    size: u32,
    slot_words: usize,
}

impl<'a> Slots<'a> {
    fn new(words: &'a [AtomicU32], slot_words: usize) -> Self {
        assert!(
            !words.is_empty() && words.len().is_multiple_of(PAGE_WORDS),
            "a ring is a whole number of 4 KiB pages"
        );
        assert!(
            (1..=MAX_SLOT_WORDS).contains(&slot_words),
            "ring slot of {slot_words} words"
        );
        let size = ring_size(words.len() / PAGE_WORDS, slot_words);
        assert!(size > 0, "no slot fits in the ring");
        Self {
            words,
            size,
            slot_words,
        }
    }

    fn slot(&self, idx: u32) -> &'a [AtomicU32] {
        let start = HEADER_WORDS + (idx & (self.size - 1)) as usize * self.slot_words;
        &self.words[start..start + self.slot_words]
    }

    fn write<T: Slot>(&self, idx: u32, entry: &T) {
        let mut buf = [0u32; MAX_SLOT_WORDS];
        let buf = &mut buf[..self.slot_words];
        entry.encode(buf);
        for (w, v) in self.slot(idx).iter().zip(buf.iter()) {
            w.store(*v, Ordering::Relaxed);
        }
    }

    fn read<T: Slot>(&self, idx: u32) -> T {
        let mut buf = [0u32; MAX_SLOT_WORDS];
        let buf = &mut buf[..self.slot_words];
        for (v, w) in buf.iter_mut().zip(self.slot(idx).iter()) {
            *v = w.load(Ordering::Relaxed);
        }
        T::decode(buf)
    }

    fn load(&self, i: usize) -> u32 {
        self.words[i].load(Ordering::Acquire)
    }

    fn store(&self, i: usize, v: u32) {
        self.words[i].store(v, Ordering::Release)
    }
}

/// Publishes `new` as our producer index at `prod`, then reads the peer's event threshold
/// at `event`: true when the peer asked to be notified of an index in `(old, new]`.
fn publish_and_check_notify(s: &Slots<'_>, prod: usize, event: usize, old: u32, new: u32) -> bool {
    // Release: the entries are visible before the index that publishes them.
    s.store(prod, new);
    // Full fence: our index store is ordered before the event load (store-load ordering,
    // which x86 does not give without it), or both sides could miss a notification.
    fence(Ordering::SeqCst);
    let ev = s.load(event);
    new.wrapping_sub(ev) < new.wrapping_sub(old)
}

/// The front (guest) end of a ring: produces requests, consumes responses.
#[derive(Debug)]
pub struct FrontRing<'a, Req: Slot, Rsp: Slot> {
    slots: Slots<'a>,
    /// Requests written (published or not).
    req_prod_pvt: u32,
    /// Requests published to the backend.
    req_prod_pub: u32,
    /// Responses consumed.
    rsp_cons: u32,
    _entries: PhantomData<(Req, Rsp)>,
}

impl<'a, Req: Slot, Rsp: Slot> FrontRing<'a, Req, Rsp> {
    /// Initialises the shared ring in `words` (one or more whole pages) and attaches to it as
    /// its front end (`SHARED_RING_INIT` + `FRONT_RING_INIT`). Panics if `words` is not whole
    /// pages or the slot sizes disagree: those are programming errors, not peer input.
    pub fn init(words: &'a [AtomicU32]) -> Self {
        assert_eq!(Req::WORDS, Rsp::WORDS, "request and response share a slot");
        let slots = Slots::new(words, Req::WORDS);
        for w in &words[..HEADER_WORDS] {
            w.store(0, Ordering::Relaxed);
        }
        slots.store(REQ_EVENT, 1);
        slots.store(RSP_EVENT, 1);
        Self {
            slots,
            req_prod_pvt: 0,
            req_prod_pub: 0,
            rsp_cons: 0,
            _entries: PhantomData,
        }
    }

    /// Entries in the ring.
    pub fn size(&self) -> u32 {
        self.slots.size
    }

    /// Requests pushed (published or not) whose responses have not been taken.
    pub fn outstanding(&self) -> u32 {
        self.req_prod_pvt.wrapping_sub(self.rsp_cons)
    }

    /// Requests that can still be pushed before responses are taken.
    pub fn free_requests(&self) -> u32 {
        self.size() - self.outstanding()
    }

    /// Writes `req` into the next free slot; the backend sees it after [`Self::commit`].
    pub fn push_request(&mut self, req: &Req) -> Result<(), RingFull> {
        if self.free_requests() == 0 {
            return Err(RingFull);
        }
        self.slots.write(self.req_prod_pvt, req);
        self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// Publishes the pushed requests (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`); true when the
    /// backend asked to be notified, i.e. the caller must signal the event channel.
    pub fn commit(&mut self) -> bool {
        let old = self.req_prod_pub;
        let new = self.req_prod_pvt;
        self.req_prod_pub = new;
        if old == new {
            return false;
        }
        publish_and_check_notify(&self.slots, REQ_PROD, REQ_EVENT, old, new)
    }

    /// Responses the backend has produced and we have not taken, checked against the
    /// requests we published.
    fn unconsumed(&self) -> Result<u32, RingError> {
        let prod = self.slots.load(RSP_PROD);
        let avail = prod.wrapping_sub(self.rsp_cons);
        if avail > self.req_prod_pub.wrapping_sub(self.rsp_cons) {
            return Err(RingError::Corrupt {
                prod,
                cons: self.rsp_cons,
            });
        }
        Ok(avail)
    }

    /// The next response, if any. A backend whose `rsp_prod` claims more responses than we
    /// have requests outstanding (or that moved backwards) gets `Err(Corrupt)` and nothing
    /// is consumed.
    pub fn take_response(&mut self) -> Result<Option<Rsp>, RingError> {
        if self.unconsumed()? == 0 {
            return Ok(None);
        }
        let rsp = self.slots.read(self.rsp_cons);
        self.rsp_cons = self.rsp_cons.wrapping_add(1);
        Ok(Some(rsp))
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES`: true when responses are waiting; otherwise asks the
    /// backend to notify us of the next one and checks again (closing the race with a
    /// response produced in between).
    pub fn final_check_for_responses(&mut self) -> Result<bool, RingError> {
        if self.unconsumed()? > 0 {
            return Ok(true);
        }
        self.slots.store(RSP_EVENT, self.rsp_cons.wrapping_add(1));
        fence(Ordering::SeqCst);
        Ok(self.unconsumed()? > 0)
    }
}

/// The back end of a ring, for mock backends in tests and fuzzing: consumes requests,
/// produces responses, and checks the front end's indices as strictly.
#[derive(Debug)]
pub struct BackRing<'a, Req: Slot, Rsp: Slot> {
    slots: Slots<'a>,
    /// Responses written (published or not).
    rsp_prod_pvt: u32,
    /// Responses published.
    rsp_prod_pub: u32,
    /// Requests consumed.
    req_cons: u32,
    _entries: PhantomData<(Req, Rsp)>,
}

impl<'a, Req: Slot, Rsp: Slot> BackRing<'a, Req, Rsp> {
    /// Attaches to a ring the front end initialised (`BACK_RING_ATTACH`, at its current
    /// response index).
    pub fn attach(words: &'a [AtomicU32]) -> Self {
        assert_eq!(Req::WORDS, Rsp::WORDS, "request and response share a slot");
        let slots = Slots::new(words, Req::WORDS);
        let rsp = slots.load(RSP_PROD);
        Self {
            slots,
            rsp_prod_pvt: rsp,
            rsp_prod_pub: rsp,
            req_cons: rsp,
            _entries: PhantomData,
        }
    }

    /// Entries in the ring.
    pub fn size(&self) -> u32 {
        self.slots.size
    }

    fn unconsumed(&self) -> Result<u32, RingError> {
        let prod = self.slots.load(REQ_PROD);
        let avail = prod.wrapping_sub(self.req_cons);
        // Slots still held by requests we consumed but have not answered are not free.
        let in_service = self.req_cons.wrapping_sub(self.rsp_prod_pvt);
        if avail > self.size() - in_service.min(self.size()) {
            return Err(RingError::Corrupt {
                prod,
                cons: self.req_cons,
            });
        }
        Ok(avail)
    }

    /// The next request, if any.
    pub fn take_request(&mut self) -> Result<Option<Req>, RingError> {
        if self.unconsumed()? == 0 {
            return Ok(None);
        }
        let req = self.slots.read(self.req_cons);
        self.req_cons = self.req_cons.wrapping_add(1);
        Ok(Some(req))
    }

    /// Writes a response; `Err(RingFull)` when every consumed request is already answered.
    pub fn push_response(&mut self, rsp: &Rsp) -> Result<(), RingFull> {
        if self.req_cons == self.rsp_prod_pvt {
            return Err(RingFull);
        }
        self.slots.write(self.rsp_prod_pvt, rsp);
        self.rsp_prod_pvt = self.rsp_prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`: true when the front end must be notified.
    pub fn commit(&mut self) -> bool {
        let old = self.rsp_prod_pub;
        let new = self.rsp_prod_pvt;
        self.rsp_prod_pub = new;
        if old == new {
            return false;
        }
        publish_and_check_notify(&self.slots, RSP_PROD, RSP_EVENT, old, new)
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS`.
    pub fn final_check_for_requests(&mut self) -> Result<bool, RingError> {
        if self.unconsumed()? > 0 {
            return Ok(true);
        }
        self.slots.store(REQ_EVENT, self.req_cons.wrapping_add(1));
        fence(Ordering::SeqCst);
        Ok(self.unconsumed()? > 0)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::boxed::Box;
    use std::vec::Vec;

    use super::*;

    /// A 3-word slot (netif's tx request size): request = (id, a, b), response = (id, status).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Req {
        id: u16,
        a: u32,
        b: u32,
    }
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Rsp {
        id: u16,
        status: i16,
    }
    impl Slot for Req {
        const WORDS: usize = 3;
        fn encode(&self, out: &mut [u32]) {
            out[0] = self.id as u32;
            out[1] = self.a;
            out[2] = self.b;
        }
        fn decode(w: &[u32]) -> Self {
            Req {
                id: w[0] as u16,
                a: w[1],
                b: w[2],
            }
        }
    }
    impl Slot for Rsp {
        const WORDS: usize = 3;
        fn encode(&self, out: &mut [u32]) {
            out[0] = self.id as u32 | ((self.status as u16 as u32) << 16);
        }
        fn decode(w: &[u32]) -> Self {
            Rsp {
                id: w[0] as u16,
                status: (w[0] >> 16) as u16 as i16,
            }
        }
    }

    fn pages(n: usize) -> Box<[AtomicU32]> {
        (0..n * PAGE_WORDS)
            .map(|_| AtomicU32::new(0xdead_beef))
            .collect()
    }

    #[test]
    fn sizes_match_the_c_macros() {
        // netif tx (12-byte slot) and rx (8-byte slot) rings on one page: 256 entries each.
        assert_eq!(ring_size(1, 3), 256);
        assert_eq!(ring_size(1, 2), 256);
        // blkif: 112-byte slot -> 32 on one page, 128 on four, 512 on sixteen.
        assert_eq!(ring_size(1, 28), 32);
        assert_eq!(ring_size(4, 28), 128);
        assert_eq!(ring_size(16, 28), 512);
        // console-sized slot of 1 word: (4096 - 64) / 4 = 1008 -> 512.
        assert_eq!(ring_size(1, 1), 512);
    }

    #[test]
    fn init_writes_the_header() {
        let mem = pages(1);
        let _f = FrontRing::<Req, Rsp>::init(&mem);
        let h = raw_header(&mem);
        assert_eq!(
            (h.req_prod(), h.req_event(), h.rsp_prod(), h.rsp_event()),
            (0, 1, 0, 1)
        );
        for w in &mem[4..16] {
            assert_eq!(w.load(Ordering::Relaxed), 0, "private and pad bytes zeroed");
        }
    }

    #[test]
    fn requests_and_responses_round_trip() {
        let mem = pages(1);
        let mut f = FrontRing::<Req, Rsp>::init(&mem);
        let mut b = BackRing::<Req, Rsp>::attach(&mem);
        for i in 0..10u16 {
            f.push_request(&Req {
                id: i,
                a: i as u32 * 7,
                b: !(i as u32),
            })
            .unwrap();
        }
        assert_eq!(b.take_request(), Ok(None), "nothing visible before commit");
        assert!(
            f.commit(),
            "the backend's req_event of 1 asks for a notification"
        );
        let mut seen = Vec::new();
        while let Some(r) = b.take_request().unwrap() {
            assert_eq!((r.a, r.b), (r.id as u32 * 7, !(r.id as u32)));
            b.push_response(&Rsp {
                id: r.id,
                status: -(r.id as i16),
            })
            .unwrap();
            seen.push(r.id);
        }
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(
            b.push_response(&Rsp { id: 0, status: 0 }),
            Err(RingFull),
            "no request left to answer"
        );
        assert!(b.commit());
        for i in 0..10u16 {
            assert_eq!(
                f.take_response(),
                Ok(Some(Rsp {
                    id: i,
                    status: -(i as i16)
                }))
            );
        }
        assert_eq!(f.take_response(), Ok(None));
        assert_eq!(f.outstanding(), 0);
    }

    #[test]
    fn full_ring_refuses_requests() {
        let mem = pages(1);
        let mut f = FrontRing::<Req, Rsp>::init(&mem);
        for i in 0..256 {
            f.push_request(&Req { id: i, a: 0, b: 0 }).unwrap();
        }
        assert_eq!(f.free_requests(), 0);
        assert_eq!(f.push_request(&Req { id: 0, a: 0, b: 0 }), Err(RingFull));
    }

    #[test]
    fn indices_wrap_around_u32_and_slots_wrap_around_the_ring() {
        let mem = pages(1);
        let mut f = FrontRing::<Req, Rsp>::init(&mem);
        let start = u32::MAX - 300;
        f.req_prod_pvt = start;
        f.req_prod_pub = start;
        f.rsp_cons = start;
        raw_header(&mem).set_req_prod(start);
        raw_header(&mem).set_rsp_prod(start);
        let mut b = BackRing::<Req, Rsp>::attach(&mem);
        let mut next = 0u32;
        for round in 0..40u32 {
            for _ in 0..(round % 17 + 1) {
                f.push_request(&Req {
                    id: next as u16,
                    a: next,
                    b: round,
                })
                .unwrap();
                next += 1;
            }
            f.commit();
            while let Some(r) = b.take_request().unwrap() {
                b.push_response(&Rsp {
                    id: r.id,
                    status: 1,
                })
                .unwrap();
            }
            b.commit();
            while let Some(r) = f.take_response().unwrap() {
                assert_eq!(r.status, 1);
            }
            assert_eq!(f.outstanding(), 0);
        }
        assert!(f.req_prod_pvt < start, "the index wrapped");
    }

    #[test]
    fn notification_follows_the_peer_event_threshold() {
        let mem = pages(1);
        let mut f = FrontRing::<Req, Rsp>::init(&mem);
        let r = Req { id: 1, a: 0, b: 0 };
        f.push_request(&r).unwrap();
        assert!(f.commit(), "req_event 1 is inside (0, 1]");
        f.push_request(&r).unwrap();
        assert!(!f.commit(), "req_event 1 is not inside (1, 2]");
        raw_header(&mem).set_req_event(4);
        f.push_request(&r).unwrap();
        assert!(!f.commit(), "(2, 3] does not reach 4");
        f.push_request(&r).unwrap();
        f.push_request(&r).unwrap();
        assert!(f.commit(), "(3, 5] contains 4");
        assert!(!f.commit(), "nothing new: no notification");
    }

    #[test]
    fn final_check_arms_the_event_and_sees_late_responses() {
        let mem = pages(1);
        let mut f = FrontRing::<Req, Rsp>::init(&mem);
        let mut b = BackRing::<Req, Rsp>::attach(&mem);
        f.push_request(&Req { id: 9, a: 0, b: 0 }).unwrap();
        f.commit();
        assert_eq!(f.final_check_for_responses(), Ok(false));
        assert_eq!(raw_header(&mem).rsp_event(), 1);
        b.take_request().unwrap().unwrap();
        b.push_response(&Rsp { id: 9, status: 0 }).unwrap();
        assert!(b.commit(), "the front armed rsp_event = 1");
        assert_eq!(f.final_check_for_responses(), Ok(true));
        assert_eq!(f.take_response().unwrap().unwrap().id, 9);
        assert_eq!(b.final_check_for_requests(), Ok(false));
        assert_eq!(raw_header(&mem).req_event(), 2);
    }

    #[test]
    fn hostile_rsp_prod_is_corrupt_and_consumes_nothing() {
        let mem = pages(1);
        let mut f = FrontRing::<Req, Rsp>::init(&mem);
        for i in 0..3 {
            f.push_request(&Req { id: i, a: 0, b: 0 }).unwrap();
        }
        f.commit();
        // Four responses to three requests.
        raw_header(&mem).set_rsp_prod(4);
        assert_eq!(
            f.take_response(),
            Err(RingError::Corrupt { prod: 4, cons: 0 })
        );
        assert_eq!(f.outstanding(), 3, "nothing consumed");
        // Responses to requests pushed but not yet published.
        f.push_request(&Req { id: 3, a: 0, b: 0 }).unwrap();
        assert!(f.take_response().is_err());
        // An index far ahead, and one that moved backwards.
        raw_header(&mem).set_rsp_prod(1 << 31);
        assert!(f.final_check_for_responses().is_err());
        raw_header(&mem).set_rsp_prod(2);
        assert_eq!(f.take_response().unwrap().map(|_| ()), Some(()));
        raw_header(&mem).set_rsp_prod(0);
        assert_eq!(
            f.take_response(),
            Err(RingError::Corrupt { prod: 0, cons: 1 })
        );
        // A sane value again: the ring recovers.
        raw_header(&mem).set_rsp_prod(3);
        assert!(f.take_response().unwrap().is_some());
        assert!(f.take_response().unwrap().is_some());
        assert_eq!(f.take_response(), Ok(None));
    }

    #[test]
    fn hostile_req_prod_is_corrupt_for_the_back_end() {
        let mem = pages(1);
        let _f = FrontRing::<Req, Rsp>::init(&mem);
        let mut b = BackRing::<Req, Rsp>::attach(&mem);
        raw_header(&mem).set_req_prod(257);
        assert_eq!(
            b.take_request(),
            Err(RingError::Corrupt { prod: 257, cons: 0 })
        );
        raw_header(&mem).set_req_prod(256);
        for _ in 0..256 {
            b.take_request().unwrap().unwrap();
        }
        assert_eq!(b.take_request(), Ok(None));
    }

    #[test]
    fn multi_page_ring_uses_all_slots() {
        let mem = pages(4);
        #[derive(Debug, PartialEq)]
        struct Big(u32);
        impl Slot for Big {
            const WORDS: usize = 28;
            fn encode(&self, out: &mut [u32]) {
                out[0] = self.0;
                out[27] = !self.0;
            }
            fn decode(w: &[u32]) -> Self {
                assert_eq!(w[27], !w[0], "the slot was copied whole");
                Big(w[0])
            }
        }
        let mut f = FrontRing::<Big, Big>::init(&mem);
        let mut b = BackRing::<Big, Big>::attach(&mem);
        assert_eq!(f.size(), 128);
        for round in 0..3 {
            for i in 0..128 {
                f.push_request(&Big(round * 1000 + i)).unwrap();
            }
            f.commit();
            for i in 0..128 {
                let r = b.take_request().unwrap().unwrap();
                assert_eq!(r.0, round * 1000 + i);
                b.push_response(&Big(r.0 + 1)).unwrap();
            }
            b.commit();
            for i in 0..128 {
                assert_eq!(f.take_response().unwrap().unwrap().0, round * 1000 + i + 1);
            }
        }
    }

    #[test]
    #[should_panic(expected = "whole number of 4 KiB pages")]
    fn partial_page_is_rejected() {
        let mem: Box<[AtomicU32]> = (0..100).map(|_| AtomicU32::new(0)).collect();
        let _ = FrontRing::<Req, Rsp>::init(&mem);
    }
}
