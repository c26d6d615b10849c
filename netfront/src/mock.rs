//! A mock netback for host tests: the platform (pages, a real `gnttab::GrantTable` over
//! host memory, event channels that count notifications) and a back end that attaches to the
//! rings through the grant table, copies packets into posted rx pages and out of tx pages
//! the way netback's grant copies do (checking each grant's domain, validity and
//! read-only flag), and can misbehave on request.

extern crate std;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::sync::atomic::{AtomicU16, AtomicU32, Ordering};

use gnttab::{GrantEntryV1, GrantFrame, GrantTable};
use xen_abi::netif::{
    NetifRxResponse, NetifTxResponse, NETIF_RSP_OKAY, NETRXF_MORE_DATA, NETTXF_MORE_DATA,
};
use xen_abi::GtfFlags;

use crate::slots::{RxReq, RxRsp, TxReq, TxRsp};
use crate::{GntError, NetError, NetPlatform, PAGE_SIZE};
use xen_ring::sring::{raw_header, BackRing};

type PageData = Rc<RefCell<Box<[u8; PAGE_SIZE]>>>;

/// Everything the mock platform and the mock back end share.
pub struct World {
    pub gnt: GrantTable,
    pages: BTreeMap<u64, PageData>,
    rings: BTreeMap<u64, &'static [AtomicU32]>,
    next_frame: u64,
    next_port: u32,
    /// Notifications sent, per port.
    pub notifies: BTreeMap<u32, u64>,
    /// Ports allocated and not closed.
    pub ports_open: BTreeSet<u32>,
    pub pages_allocated: usize,
    pub pages_freed: usize,
    /// Fail page allocation after this many pages (None: never).
    pub page_limit: Option<usize>,
    total_refs: usize,
}

impl core::fmt::Debug for World {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("World")
            .field("pages_allocated", &self.pages_allocated)
            .field("pages_freed", &self.pages_freed)
            .finish_non_exhaustive()
    }
}

impl World {
    /// Grant references in use.
    pub fn grants_in_use(&self) -> usize {
        self.total_refs - self.gnt.free_refs()
    }
    /// Buffer pages allocated and not freed.
    pub fn pages_outstanding(&self) -> usize {
        self.pages_allocated - self.pages_freed
    }
    /// Resolves `gref` as the back end `domid` would, for reading or writing.
    fn resolve(&self, gref: u32, domid: u16, write: bool) -> Option<u64> {
        let e = self.gnt.shared_entry(gref)?;
        let flags = GtfFlags::from_bits_truncate(e.flags.load(Ordering::Acquire));
        if !flags.contains(GtfFlags::PERMIT_ACCESS) || e.domid.load(Ordering::Acquire) != domid {
            return None;
        }
        if write && flags.contains(GtfFlags::READONLY) {
            return None;
        }
        Some(u64::from(e.frame.load(Ordering::Acquire)))
    }
}

/// The mock platform (cheap to clone: all clones share the world).
#[derive(Clone, Debug)]
pub struct MockPlatform(pub Rc<RefCell<World>>);

/// A buffer page of the mock platform.
#[derive(Debug)]
pub struct MockPage {
    frame: u64,
    data: PageData,
}

fn leaked_frame() -> &'static GrantFrame {
    Box::leak(Box::new(core::array::from_fn(|_| GrantEntryV1 {
        flags: AtomicU16::new(0),
        domid: AtomicU16::new(0),
        frame: AtomicU32::new(0),
    })))
}

impl MockPlatform {
    /// A platform with `frames` grant-table frames (504 usable references for one).
    pub fn new(frames: usize) -> Self {
        let gnt = GrantTable::new((0..frames).map(|_| leaked_frame()).collect());
        let total_refs = gnt.free_refs();
        MockPlatform(Rc::new(RefCell::new(World {
            gnt,
            pages: BTreeMap::new(),
            rings: BTreeMap::new(),
            next_frame: 0x1000,
            next_port: 10,
            notifies: BTreeMap::new(),
            ports_open: BTreeSet::new(),
            pages_allocated: 0,
            pages_freed: 0,
            page_limit: None,
            total_refs,
        })))
    }

    pub fn world(&self) -> core::cell::Ref<'_, World> {
        self.0.borrow()
    }
    pub fn world_mut(&self) -> core::cell::RefMut<'_, World> {
        self.0.borrow_mut()
    }
    /// Notifications sent through `port`.
    pub fn notifies(&self, port: u32) -> u64 {
        self.world().notifies.get(&port).copied().unwrap_or(0)
    }
}

impl NetPlatform for MockPlatform {
    type Page = MockPage;

    fn alloc_ring_page(&mut self) -> Option<(&'static [AtomicU32], u64)> {
        let mut w = self.0.borrow_mut();
        let words: &'static [AtomicU32] = Box::leak(
            (0..1024)
                .map(|_| AtomicU32::new(0))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let frame = w.next_frame;
        w.next_frame += 1;
        w.rings.insert(frame, words);
        Some((words, frame))
    }

    fn alloc_page(&mut self) -> Option<MockPage> {
        let mut w = self.0.borrow_mut();
        if w.page_limit.is_some_and(|l| w.pages_allocated >= l) {
            return None;
        }
        let frame = w.next_frame;
        w.next_frame += 1;
        let data: PageData = Rc::new(RefCell::new(Box::new([0u8; PAGE_SIZE])));
        w.pages.insert(frame, data.clone());
        w.pages_allocated += 1;
        Some(MockPage { frame, data })
    }

    fn free_page(&mut self, page: MockPage) {
        let mut w = self.0.borrow_mut();
        w.pages.remove(&page.frame);
        w.pages_freed += 1;
    }

    fn frame(&self, page: &MockPage) -> u64 {
        page.frame
    }

    fn read_page(&self, page: &MockPage, offset: usize, out: &mut [u8]) {
        out.copy_from_slice(&page.data.borrow()[offset..offset + out.len()]);
    }

    fn write_page(&self, page: &mut MockPage, offset: usize, data: &[u8]) {
        page.data.borrow_mut()[offset..offset + data.len()].copy_from_slice(data);
    }

    fn grant(&mut self, domid: u16, frame: u64, readonly: bool) -> Result<u32, GntError> {
        self.0.borrow_mut().gnt.grant_access(domid, frame, readonly)
    }

    fn end_grant(&mut self, gref: u32) -> Result<(), GntError> {
        self.0.borrow_mut().gnt.end_access(gref)
    }

    fn alloc_evtchn(&mut self, _remote: u16) -> Result<u32, NetError> {
        let mut w = self.0.borrow_mut();
        let p = w.next_port;
        w.next_port += 1;
        w.ports_open.insert(p);
        Ok(p)
    }

    fn close_evtchn(&mut self, port: u32) {
        self.0.borrow_mut().ports_open.remove(&port);
    }

    fn notify(&mut self, port: u32) {
        *self.0.borrow_mut().notifies.entry(port).or_insert(0) += 1;
    }
}

/// Why the mock back end could not do something (these are test failures, not netfront's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MockError {
    /// The front end has posted no (or not enough) rx buffers.
    NoRxBuffer,
    /// A grant reference does not resolve for this back end.
    BadGrant(u32),
    /// The front end's ring indices are corrupt.
    Ring,
}

/// The mock netback.
pub struct MockNetback {
    world: Rc<RefCell<World>>,
    domid: u16,
    tx_words: &'static [AtomicU32],
    rx_words: &'static [AtomicU32],
    tx: BackRing<'static, TxReq, TxRsp>,
    rx: BackRing<'static, RxReq, RxRsp>,
    /// Offset in the rx page where received data is placed.
    pub rx_offset: u16,
    /// Largest data per rx slot (at most a page minus `rx_offset`).
    pub rx_slot_max: usize,
}

impl core::fmt::Debug for MockNetback {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MockNetback")
            .field("domid", &self.domid)
            .finish_non_exhaustive()
    }
}

impl MockNetback {
    /// Maps the rings the front end granted to `domid` (as netback does from xenstore's
    /// `tx-ring-ref`/`rx-ring-ref`).
    pub fn attach(
        plat: &MockPlatform,
        domid: u16,
        tx_gref: u32,
        rx_gref: u32,
    ) -> Result<Self, MockError> {
        let w = plat.0.borrow();
        let tx_frame = w
            .resolve(tx_gref, domid, true)
            .ok_or(MockError::BadGrant(tx_gref))?;
        let rx_frame = w
            .resolve(rx_gref, domid, true)
            .ok_or(MockError::BadGrant(rx_gref))?;
        let tx_words = *w.rings.get(&tx_frame).ok_or(MockError::BadGrant(tx_gref))?;
        let rx_words = *w.rings.get(&rx_frame).ok_or(MockError::BadGrant(rx_gref))?;
        drop(w);
        Ok(Self {
            world: plat.0.clone(),
            domid,
            tx_words,
            rx_words,
            tx: BackRing::attach(tx_words),
            rx: BackRing::attach(rx_words),
            rx_offset: 0,
            rx_slot_max: PAGE_SIZE,
        })
    }

    fn page(&self, gref: u32, write: bool) -> Result<PageData, MockError> {
        let w = self.world.borrow();
        let frame = w
            .resolve(gref, self.domid, write)
            .ok_or(MockError::BadGrant(gref))?;
        w.pages
            .get(&frame)
            .cloned()
            .ok_or(MockError::BadGrant(gref))
    }

    /// Copies `frame` into the posted rx buffers (several slots if it does not fit one) and
    /// responds. Returns the number of slots used. Takes requests only when enough are posted.
    pub fn deliver(&mut self, frame: &[u8]) -> Result<usize, MockError> {
        let per = self
            .rx_slot_max
            .min(PAGE_SIZE - self.rx_offset as usize)
            .max(1);
        let chunks: Vec<&[u8]> = frame.chunks(per).collect();
        let mut reqs = Vec::new();
        for _ in 0..chunks.len() {
            match self.rx.take_request().map_err(|_| MockError::Ring)? {
                Some(r) => reqs.push(r),
                None => return Err(MockError::NoRxBuffer),
            }
        }
        for (i, (chunk, req)) in chunks.iter().zip(&reqs).enumerate() {
            let page = self.page(req.0.gref, true)?;
            let off = self.rx_offset as usize;
            page.borrow_mut()[off..off + chunk.len()].copy_from_slice(chunk);
            let last = i + 1 == chunks.len();
            self.rx
                .push_response(&RxRsp(NetifRxResponse {
                    id: req.0.id,
                    offset: self.rx_offset,
                    flags: if last { 0 } else { NETRXF_MORE_DATA },
                    status: chunk.len() as i16,
                }))
                .map_err(|_| MockError::Ring)?;
        }
        self.rx.commit();
        Ok(chunks.len())
    }

    /// Takes one rx request and answers it with `make(request)` (hostile tests).
    pub fn respond_rx_raw(
        &mut self,
        make: impl FnOnce(&RxReq) -> NetifRxResponse,
    ) -> Result<RxReq, MockError> {
        let req = self
            .rx
            .take_request()
            .map_err(|_| MockError::Ring)?
            .ok_or(MockError::NoRxBuffer)?;
        self.rx
            .push_response(&RxRsp(make(&req)))
            .map_err(|_| MockError::Ring)?;
        self.rx.commit();
        Ok(req)
    }

    /// Takes one rx request and answers with an extra-info slot (hostile: not negotiated).
    pub fn respond_rx_extra(
        &mut self,
        extra: &xen_abi::netif::NetifExtraInfo,
    ) -> Result<(), MockError> {
        self.rx
            .take_request()
            .map_err(|_| MockError::Ring)?
            .ok_or(MockError::NoRxBuffer)?;
        self.rx
            .push_response(&RxRsp::from_extra(extra))
            .map_err(|_| MockError::Ring)?;
        self.rx.commit();
        Ok(())
    }

    /// Sends the packets the front end queued (reassembling multi-slot ones) and answers every
    /// slot with `NETIF_RSP_OKAY`.
    pub fn collect_tx(&mut self) -> Result<Vec<Vec<u8>>, MockError> {
        self.collect_tx_with(|_| NETIF_RSP_OKAY)
    }

    /// Like [`MockNetback::collect_tx`], with the status of each slot's response chosen by
    /// `status(request)`.
    pub fn collect_tx_with(
        &mut self,
        mut status: impl FnMut(&TxReq) -> i16,
    ) -> Result<Vec<Vec<u8>>, MockError> {
        let mut out = Vec::new();
        let mut slots: Vec<TxReq> = Vec::new();
        while let Some(req) = self.tx.take_request().map_err(|_| MockError::Ring)? {
            slots.push(req);
            if req.0.flags & NETTXF_MORE_DATA != 0 {
                continue;
            }
            let rest: usize = slots[1..].iter().map(|s| s.0.size as usize).sum();
            let mut pkt = Vec::new();
            for (i, s) in slots.iter().enumerate() {
                let len = if i == 0 {
                    (s.0.size as usize).saturating_sub(rest)
                } else {
                    s.0.size as usize
                };
                let page = self.page(s.0.gref, false)?;
                let off = s.0.offset as usize;
                if off + len > PAGE_SIZE {
                    return Err(MockError::BadGrant(s.0.gref));
                }
                pkt.extend_from_slice(&page.borrow()[off..off + len]);
            }
            for s in &slots {
                let st = status(s);
                self.tx
                    .push_response(&TxRsp(NetifTxResponse {
                        id: s.0.id,
                        status: st,
                    }))
                    .map_err(|_| MockError::Ring)?;
            }
            slots.clear();
            out.push(pkt);
        }
        self.tx.commit();
        Ok(out)
    }

    /// Takes one tx request and answers it with `make(request)` (hostile tests).
    pub fn respond_tx_raw(
        &mut self,
        make: impl FnOnce(&TxReq) -> NetifTxResponse,
    ) -> Result<TxReq, MockError> {
        let req = self
            .tx
            .take_request()
            .map_err(|_| MockError::Ring)?
            .ok_or(MockError::NoRxBuffer)?;
        self.tx
            .push_response(&TxRsp(make(&req)))
            .map_err(|_| MockError::Ring)?;
        self.tx.commit();
        Ok(req)
    }

    /// Writes the rx ring's `rsp_prod` directly (hostile indices).
    pub fn set_rx_rsp_prod(&self, v: u32) {
        raw_header(self.rx_words).set_rsp_prod(v);
    }
    /// Writes the tx ring's `rsp_prod` directly.
    pub fn set_tx_rsp_prod(&self, v: u32) {
        raw_header(self.tx_words).set_rsp_prod(v);
    }
    pub fn rx_rsp_prod(&self) -> u32 {
        raw_header(self.rx_words).rsp_prod()
    }
    pub fn tx_rsp_prod(&self) -> u32 {
        raw_header(self.tx_words).rsp_prod()
    }

    /// Marks `gref` as mapped by this back end (Xen's `GTF_writing`), as a back end that
    /// keeps a page mapped would.
    pub fn hold_mapped(&self, gref: u32) {
        if let Some(e) = self.world.borrow().gnt.shared_entry(gref) {
            e.flags.fetch_or(GtfFlags::WRITING.bits(), Ordering::AcqRel);
        }
    }
    /// Undoes [`MockNetback::hold_mapped`].
    pub fn release_mapped(&self, gref: u32) {
        if let Some(e) = self.world.borrow().gnt.shared_entry(gref) {
            e.flags
                .fetch_and(!GtfFlags::WRITING.bits(), Ordering::AcqRel);
        }
    }
}
