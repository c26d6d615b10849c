//! A mock platform and a mock blkback for host tests (feature `test-utils`).
//!
//! [`MockWorld`] is the other side of everything the front end shares: memory pages by frame
//! number, a grant table that knows which grants the back end has mapped, the event channel
//! and a virtual clock. [`MockPlatform`] is the front end's [`BlkPlatform`] over it; its
//! `wait_event` runs the back end, which serves requests from the same ring words the front
//! end writes, reading and writing the granted pages through the grant table like blkback
//! maps them. [`MockBlkback::serve_handshake`] plays blkback's side of the XenBus handshake
//! on a [`FakeXenstored`].
//!
//! Hostile modes: [`MockBlkback::hook`] replaces, drops or adds responses; `keep_mapped`
//! answers while still mapping the pages; `paused` serves nothing (timeouts); the ring
//! header can be corrupted with [`xen_ring::raw_header`] on [`MockWorld::ring_words`].

extern crate std;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::sync::atomic::AtomicU32;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use xen_abi::blkif::{
    BlkifRequestSegment, BlkifResponse, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_INDIRECT, BLKIF_OP_READ,
    BLKIF_OP_WRITE, BLKIF_OP_WRITE_BARRIER, BLKIF_RSP_ERROR, BLKIF_RSP_OKAY,
};
use xen_ring::BackRing;
use xenstore_client::fake::FakeXenstored;

use crate::slot::{decode_segment, Request, Response};
use crate::{BlkPlatform, GntError, PAGE_BYTES, SECTOR_BYTES, SEGS_PER_INDIRECT_FRAME};

/// A page of the mock's memory, named by its frame.
#[derive(Debug, PartialEq, Eq)]
pub struct MockPage(pub u64);

#[derive(Debug, Clone, Copy)]
struct Grant {
    domid: u16,
    frame: u64,
    readonly: bool,
    mapped: bool,
}

/// What the hook wants done with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Serve it normally.
    Serve,
    /// Do not serve it; push this response instead.
    Replace(BlkifResponse),
    /// Neither serve nor answer it.
    Drop,
}

type Hook = Box<dyn FnMut(&Request) -> Action>;

/// The mock back end: a disk in memory served over the ring.
pub struct MockBlkback {
    ring: BackRing<'static, Request, Response>,
    /// The disk's bytes.
    pub disk: Vec<u8>,
    /// Serve nothing while set.
    pub paused: bool,
    /// Answer with the pages still mapped (never unmap them).
    pub keep_mapped: bool,
    /// Requests served per `wait_event` at most (None: all).
    pub per_wait: Option<usize>,
    /// Decides what to do with each request.
    pub hook: Option<Hook>,
    /// Requests seen, by operation byte (`BLKIF_OP_INDIRECT` counted as such).
    pub ops: BTreeMap<u8, u64>,
    /// Segments of every request seen, in order.
    pub segments_per_request: Vec<usize>,
    /// Most requests found waiting at once.
    pub max_batch: usize,
    /// Frames of every data page served (to check quarantine).
    pub frames_served: Vec<u64>,
    /// Protocol violations the back end noticed in requests (bad grant, bad segment, ...).
    pub violations: Vec<String>,
}

impl core::fmt::Debug for MockBlkback {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MockBlkback")
            .field("disk", &self.disk.len())
            .field("ops", &self.ops)
            .field("violations", &self.violations)
            .finish()
    }
}

/// Everything the front end shares with the mock back end.
#[derive(Debug, Default)]
pub struct MockWorld {
    pages: HashMap<u64, Box<[u8; PAGE_BYTES]>>,
    next_frame: u64,
    /// Page budget (None: unlimited).
    pub page_limit: Option<usize>,
    rings: HashMap<u64, (&'static [AtomicU32], usize)>,
    ring: Option<&'static [AtomicU32]>,
    grants: BTreeMap<u32, Grant>,
    free_grefs: Vec<u32>,
    /// Grants the front end may hold at once.
    pub grant_limit: usize,
    event: bool,
    /// Virtual time, ns.
    pub clock: u64,
    /// Notifications from the front end.
    pub notifies: u64,
    /// Event-channel waits of the front end.
    pub waits: u64,
    /// The back end, once the handshake attached it to the ring.
    pub backend: Option<MockBlkback>,
}

impl MockWorld {
    /// A world with room for `grant_limit` grants (the guest's default table has 504).
    pub fn new(grant_limit: usize) -> Rc<RefCell<Self>> {
        Rc::new(RefCell::new(Self {
            next_frame: 0x1000,
            grant_limit,
            free_grefs: (8..8 + grant_limit as u32).rev().collect(),
            ..Self::default()
        }))
    }

    /// The ring's words (for raw-header corruption in tests).
    pub fn ring_words(&self) -> Option<&'static [AtomicU32]> {
        self.ring
    }

    /// Grants currently held by the front end.
    pub fn grants_in_use(&self) -> usize {
        self.grants.len()
    }

    /// Grants the back end has mapped right now.
    pub fn grants_mapped(&self) -> usize {
        self.grants.values().filter(|g| g.mapped).count()
    }

    /// Pages allocated (data and indirect; the ring is not counted).
    pub fn pages_allocated(&self) -> usize {
        self.pages.len()
    }

    /// Unmaps every grant the back end holds (it "lets go").
    pub fn unmap_all(&mut self) {
        for g in self.grants.values_mut() {
            g.mapped = false;
        }
    }

    fn map(&mut self, gref: u32, write: bool) -> Result<u64, String> {
        let g = self
            .grants
            .get_mut(&gref)
            .ok_or_else(|| format!("grant {gref} is not granted"))?;
        if g.domid != 0 {
            return Err(format!("grant {gref} is for domain {}", g.domid));
        }
        if write && g.readonly {
            return Err(format!("grant {gref} is read-only"));
        }
        g.mapped = true;
        Ok(g.frame)
    }

    fn unmap(&mut self, gref: u32) {
        if let Some(g) = self.grants.get_mut(&gref) {
            g.mapped = false;
        }
    }

    fn page_mut(&mut self, frame: u64) -> &mut [u8; PAGE_BYTES] {
        self.pages
            .get_mut(&frame)
            .expect("a granted frame is a page")
    }

    /// Serves what the back end finds on the ring.
    fn run_backend(&mut self) {
        let Some(mut be) = self.backend.take() else {
            return;
        };
        if !be.paused {
            be.serve(self);
        }
        self.backend = Some(be);
    }
}

/// The front end's platform over a [`MockWorld`].
#[derive(Debug, Clone)]
pub struct MockPlatform {
    pub world: Rc<RefCell<MockWorld>>,
}

/// The port [`MockPlatform::bind_event`] hands out.
pub const MOCK_PORT: u32 = 7;

impl BlkPlatform for MockPlatform {
    type Page = MockPage;

    fn alloc_page(&mut self) -> Option<MockPage> {
        let mut w = self.world.borrow_mut();
        if w.page_limit.is_some_and(|l| w.pages.len() >= l) {
            return None;
        }
        let f = w.next_frame;
        w.next_frame += 1;
        w.pages.insert(f, Box::new([0; PAGE_BYTES]));
        Some(MockPage(f))
    }

    fn free_page(&mut self, page: MockPage) {
        let mut w = self.world.borrow_mut();
        assert!(
            !w.grants.values().any(|g| g.frame == page.0),
            "a granted page was freed"
        );
        w.pages.remove(&page.0);
    }

    fn frame(&self, page: &MockPage) -> u64 {
        page.0
    }

    fn write_page(&mut self, page: &mut MockPage, offset: usize, data: &[u8]) {
        let mut w = self.world.borrow_mut();
        w.page_mut(page.0)[offset..offset + data.len()].copy_from_slice(data);
    }

    fn read_page(&self, page: &MockPage, offset: usize, out: &mut [u8]) {
        let w = self.world.borrow();
        let p = w.pages.get(&page.0).expect("a page of ours");
        out.copy_from_slice(&p[offset..offset + out.len()]);
    }

    fn alloc_ring(&mut self, pages: usize) -> Option<(&'static [AtomicU32], Vec<u64>)> {
        let words: &'static [AtomicU32] =
            Box::leak((0..pages * 1024).map(|_| AtomicU32::new(0)).collect());
        let mut w = self.world.borrow_mut();
        let mut frames = Vec::new();
        for i in 0..pages {
            let f = w.next_frame;
            w.next_frame += 1;
            w.rings.insert(f, (words, i));
            frames.push(f);
        }
        w.ring = Some(words);
        Some((words, frames))
    }

    fn grant(&mut self, domid: u16, frame: u64, readonly: bool) -> Result<u32, GntError> {
        let mut w = self.world.borrow_mut();
        let r = w.free_grefs.pop().ok_or(GntError::Exhausted)?;
        w.grants.insert(
            r,
            Grant {
                domid,
                frame,
                readonly,
                mapped: false,
            },
        );
        Ok(r)
    }

    fn end_grant(&mut self, gref: u32) -> Result<(), GntError> {
        let mut w = self.world.borrow_mut();
        match w.grants.get(&gref) {
            None => Err(GntError::NotGranted(gref)),
            Some(g) if g.mapped => Err(GntError::StillInUse(gref)),
            Some(_) => {
                w.grants.remove(&gref);
                w.free_grefs.push(gref);
                Ok(())
            }
        }
    }

    fn bind_event(&mut self, _remote: u16) -> Result<u32, String> {
        Ok(MOCK_PORT)
    }

    fn notify(&mut self, port: u32) {
        assert_eq!(port, MOCK_PORT);
        self.world.borrow_mut().notifies += 1;
    }

    fn wait_event(&mut self, deadline_ns: u64) -> bool {
        let mut w = self.world.borrow_mut();
        w.waits += 1;
        w.run_backend();
        if core::mem::take(&mut w.event) {
            w.clock += 1_000;
            return true;
        }
        w.clock = w.clock.max(deadline_ns);
        false
    }

    fn now_ns(&self) -> u64 {
        self.world.borrow().clock
    }
}

/// What the mock back end offers in xenstore.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    /// Disk size in bytes.
    pub size: usize,
    pub sector_size: u32,
    /// `max-ring-page-order` (None: node absent).
    pub max_ring_page_order: Option<u32>,
    /// `feature-max-indirect-segments` (None: absent).
    pub max_indirect_segments: Option<u32>,
    pub flush: bool,
    pub barrier: bool,
    /// `info` bits.
    pub info: u32,
}

impl Default for BackendConfig {
    fn default() -> Self {
        Self {
            size: 4 << 20,
            sector_size: 512,
            max_ring_page_order: None,
            max_indirect_segments: None,
            flush: true,
            barrier: false,
            info: 0,
        }
    }
}

impl MockBlkback {
    /// Plays blkback's side of the handshake for the front end at `fe` (relative to the
    /// guest's home) and back end at `be` on `fake`: publishes the transport features and
    /// InitWait now, and once the front end is Initialised, checks its nodes, attaches to
    /// the ring it granted, publishes the disk and goes Connected.
    pub fn serve_handshake(
        fake: &FakeXenstored,
        world: Rc<RefCell<MockWorld>>,
        fe: &str,
        be: &str,
        cfg: BackendConfig,
    ) {
        let w = |path: &str, v: &str| {
            fake.write_as(0, &format!("{be}/{path}"), v.as_bytes())
                .expect("backend node")
        };
        if let Some(o) = cfg.max_ring_page_order {
            w("max-ring-page-order", &format!("{o}"));
        }
        if let Some(n) = cfg.max_indirect_segments {
            w("feature-max-indirect-segments", &format!("{n}"));
        }
        w("state", "2");
        let fe = format!("{}/{fe}", fake.home());
        poll_front(fake, world, fe, String::from(be), cfg);
    }

    fn serve(&mut self, world: &mut MockWorld) {
        let mut batch = 0;
        let mut served = 0;
        loop {
            if self.per_wait.is_some_and(|n| served >= n) {
                break;
            }
            let req = match self.ring.take_request() {
                Ok(Some(r)) => r,
                Ok(None) => match self.ring.final_check_for_requests() {
                    Ok(true) => continue,
                    _ => break,
                },
                Err(e) => {
                    self.violations.push(format!("ring: {e}"));
                    break;
                }
            };
            batch += 1;
            served += 1;
            *self.ops.entry(req.operation()).or_default() += 1;
            let action = match self.hook.as_mut() {
                Some(h) => h(&req),
                None => Action::Serve,
            };
            let mut rsps = Vec::new();
            match action {
                Action::Serve => rsps.push(self.execute(world, &req)),
                Action::Replace(r) => rsps.push(r),
                Action::Drop => {}
            }
            for r in rsps {
                if self.ring.push_response(&Response(r)).is_err() {
                    self.violations.push(String::from("no room for a response"));
                }
            }
        }
        self.max_batch = self.max_batch.max(batch);
        if self.ring.commit() {
            world.event = true;
        }
    }

    fn execute(&mut self, world: &mut MockWorld, req: &Request) -> BlkifResponse {
        let (op, id, sector, segs) = match req {
            Request::Direct(r) => {
                let n = r.nr_segments as usize;
                if n > r.seg.len() {
                    self.violations.push(format!("{n} direct segments"));
                    return rsp(r.id, r.operation, BLKIF_RSP_ERROR);
                }
                (r.operation, r.id, r.sector_number, r.seg[..n].to_vec())
            }
            Request::Indirect(r) => {
                let n = r.nr_segments as usize;
                let pages = n.div_ceil(SEGS_PER_INDIRECT_FRAME);
                let mut segs = Vec::with_capacity(n);
                for (i, &g) in r.indirect_grefs[..pages.min(8)].iter().enumerate() {
                    let frame = match world.map(g, false) {
                        Ok(f) => f,
                        Err(e) => {
                            self.violations.push(e);
                            return rsp(r.id, BLKIF_OP_INDIRECT, BLKIF_RSP_ERROR);
                        }
                    };
                    let page = *world.page_mut(frame);
                    if !self.keep_mapped {
                        world.unmap(g);
                    }
                    let here = (n - i * SEGS_PER_INDIRECT_FRAME).min(SEGS_PER_INDIRECT_FRAME);
                    for j in 0..here {
                        segs.push(decode_segment(&page[j * 8..j * 8 + 8]));
                    }
                }
                if !matches!(r.indirect_op, BLKIF_OP_READ | BLKIF_OP_WRITE) {
                    self.violations.push(String::from("indirect op"));
                    return rsp(r.id, BLKIF_OP_INDIRECT, BLKIF_RSP_ERROR);
                }
                (r.indirect_op, r.id, r.sector_number, segs)
            }
        };
        // Like Linux's blkback: an indirect request is answered with its inner operation.
        let echo = op;
        self.segments_per_request.push(segs.len());
        match op {
            BLKIF_OP_FLUSH_DISKCACHE | BLKIF_OP_WRITE_BARRIER if segs.is_empty() => {
                rsp(id, echo, BLKIF_RSP_OKAY)
            }
            BLKIF_OP_READ | BLKIF_OP_WRITE => {
                let mut pos = sector as usize * SECTOR_BYTES;
                let status = self.transfer(world, op, &segs, &mut pos);
                rsp(id, echo, status)
            }
            _ => {
                self.violations.push(format!("operation {op}"));
                rsp(id, echo, BLKIF_RSP_ERROR)
            }
        }
    }

    fn transfer(
        &mut self,
        world: &mut MockWorld,
        op: u8,
        segs: &[BlkifRequestSegment],
        pos: &mut usize,
    ) -> i16 {
        for s in segs {
            if s.first_sect > s.last_sect || s.last_sect > 7 {
                self.violations.push(format!("segment {s:?}"));
                return BLKIF_RSP_ERROR;
            }
            let frame = match world.map(s.gref, op == BLKIF_OP_READ) {
                Ok(f) => f,
                Err(e) => {
                    self.violations.push(e);
                    return BLKIF_RSP_ERROR;
                }
            };
            self.frames_served.push(frame);
            let a = s.first_sect as usize * SECTOR_BYTES;
            let b = (s.last_sect as usize + 1) * SECTOR_BYTES;
            let n = b - a;
            if *pos + n > self.disk.len() {
                world.unmap(s.gref);
                return BLKIF_RSP_ERROR;
            }
            let page = world.page_mut(frame);
            if op == BLKIF_OP_READ {
                page[a..b].copy_from_slice(&self.disk[*pos..*pos + n]);
            } else {
                self.disk[*pos..*pos + n].copy_from_slice(&page[a..b]);
            }
            *pos += n;
            if !self.keep_mapped {
                world.unmap(s.gref);
            }
        }
        BLKIF_RSP_OKAY
    }
}

fn rsp(id: u64, operation: u8, status: i16) -> BlkifResponse {
    BlkifResponse {
        id,
        operation,
        status,
    }
}

/// Checks every millisecond of virtual time whether the front end is Initialised, then
/// connects.
fn poll_front(
    fake: &FakeXenstored,
    world: Rc<RefCell<MockWorld>>,
    fe: String,
    be: String,
    cfg: BackendConfig,
) {
    let state = fake.read_as(0, &format!("{fe}/state")).unwrap_or_default();
    if state != b"3" {
        fake.schedule(1_000_000, move |f| poll_front(f, world, fe, be, cfg));
        return;
    }
    let read = |node: &str| -> Option<String> {
        fake.read_as(0, &format!("{fe}/{node}"))
            .ok()
            .map(|v| String::from_utf8(v).expect("utf-8"))
    };
    assert_eq!(read("protocol").as_deref(), Some(crate::PROTOCOL_X86_64));
    assert_eq!(
        read("event-channel").as_deref(),
        Some(format!("{MOCK_PORT}").as_str())
    );
    let order: u32 = read("ring-page-order").map_or(0, |o| o.parse().unwrap());
    assert!(
        order <= cfg.max_ring_page_order.unwrap_or(0),
        "order above the offer"
    );
    let refs: Vec<u32> = if order == 0 {
        assert!(read("ring-ref0").is_none());
        std::vec![read("ring-ref").expect("ring-ref").parse().unwrap()]
    } else {
        (0..1u32 << order)
            .map(|i| {
                read(&format!("ring-ref{i}"))
                    .expect("ring-refN")
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    let words = {
        let mut w = world.borrow_mut();
        let mut words = None;
        for (i, &r) in refs.iter().enumerate() {
            let frame = w.map(r, true).expect("ring grant");
            let &(ws, idx) = w.rings.get(&frame).expect("ring-ref names a ring page");
            assert_eq!(idx, i, "ring pages in order");
            words = Some(ws);
        }
        words.unwrap()
    };
    assert_eq!(
        words.len(),
        refs.len() * 1024,
        "every page of the ring granted"
    );
    let disk = std::vec![0u8; cfg.size];
    world.borrow_mut().backend = Some(MockBlkback {
        ring: BackRing::attach(words),
        disk,
        paused: false,
        keep_mapped: false,
        per_wait: None,
        hook: None,
        ops: BTreeMap::new(),
        segments_per_request: Vec::new(),
        max_batch: 0,
        frames_served: Vec::new(),
        violations: Vec::new(),
    });
    let w = |path: &str, v: String| {
        fake.write_as(0, &format!("{be}/{path}"), v.as_bytes())
            .expect("backend node")
    };
    w("sectors", format!("{}", cfg.size / SECTOR_BYTES));
    w("sector-size", format!("{}", cfg.sector_size));
    w("info", format!("{}", cfg.info));
    w("feature-flush-cache", format!("{}", cfg.flush as u8));
    w("feature-barrier", format!("{}", cfg.barrier as u8));
    w("state", String::from("4"));
}
