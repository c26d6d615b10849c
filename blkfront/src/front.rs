//! The front end: handshake, request splitting, completion, and the checks on what the back
//! end answers.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use xen_abi::blkif::{
    BlkifRequest, BlkifRequestIndirect, BlkifRequestSegment, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
    BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_INDIRECT, BLKIF_OP_READ,
    BLKIF_OP_WRITE, BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR, BLKIF_RSP_OKAY, VDISK_READONLY,
};
use xen_ring::FrontRing;
use xenstore_client::{xenbus, XenbusState, Xenstore, XsErrno, XsError, XsPlatform};

use crate::slot::{encode_segment, Request, Response};
use crate::{
    BlkError, BlkPlatform, BlkStats, GntError, MAX_RING_PAGE_ORDER, PAGE_BYTES, PROTOCOL_X86_64,
    SECTOR_BYTES, SEGS_PER_INDIRECT_FRAME,
};

/// Choices of the front end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Largest ring we ask for (2^order pages), capped by the back end's
    /// `max-ring-page-order` and [`MAX_RING_PAGE_ORDER`].
    pub max_ring_page_order: u32,
    /// Segments per indirect request (0: never use indirect requests), capped by the back
    /// end's `feature-max-indirect-segments` and 8 indirect pages (4096 segments).
    pub max_indirect_segments: u32,
    /// Bounce pages (data + indirect) in flight at most; bounds memory and grants used.
    pub max_pages_in_flight: usize,
    /// How long to wait for the back end (handshake steps, each response).
    pub timeout_ns: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_ring_page_order: MAX_RING_PAGE_ORDER,
            max_indirect_segments: 128,
            max_pages_in_flight: 384,
            timeout_ns: 30_000_000_000,
        }
    }
}

/// What the handshake learned about the disk and the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskInfo {
    /// Size in 512-byte sectors (the unit of every sector number here).
    pub sectors: u64,
    /// Logical sector size in bytes: transfers are multiples of it, aligned to it.
    pub sector_size: u32,
    /// Physical sector size in bytes (defaults to `sector_size`).
    pub physical_sector_size: u32,
    /// The back end's `info` (`VDISK_*` bits).
    pub info: u32,
    /// `VDISK_READONLY`: writes are refused.
    pub readonly: bool,
    /// `feature-flush-cache`.
    pub flush: bool,
    /// `feature-barrier`.
    pub barrier: bool,
    /// `feature-max-indirect-segments` as offered (0: none).
    pub backend_max_indirect: u32,
    /// Segments per request we use (11, or more with indirect requests).
    pub segments_per_request: u32,
    /// Ring pages (2^ring-page-order) and entries.
    pub ring_pages: u32,
    pub ring_size: u32,
    /// The back end's domain and xenstore directory.
    pub backend_id: u16,
    pub backend: String,
    /// Our event channel port.
    pub port: u32,
}

impl DiskInfo {
    /// Size in bytes.
    pub fn bytes(&self) -> u64 {
        self.sectors * SECTOR_BYTES as u64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    Flush,
}

#[derive(Debug)]
struct Seg<Pg> {
    page: Pg,
    gref: u32,
}

#[derive(Debug)]
struct InFlight<Pg> {
    id: u64,
    /// The `operation` byte sent, which the response must echo.
    op: u8,
    /// For an indirect request, its `indirect_op`: Linux's blkback echoes that instead.
    inner_op: Option<u8>,
    data: Vec<Seg<Pg>>,
    indirect: Vec<Seg<Pg>>,
    /// Where the request's bytes are in the caller's buffer.
    buf_off: usize,
    len: usize,
}

struct Done<Pg> {
    flight: InFlight<Pg>,
    result: Result<(), BlkError>,
}

enum SubmitError {
    /// Out of ring slots, grants or pages: retry when something completes (the error is the
    /// one to report when nothing is in flight).
    Busy(BlkError),
    Fatal(BlkError),
}

/// A connected block device.
pub struct BlkFront<P: BlkPlatform> {
    p: P,
    ring: FrontRing<'static, Request, Response>,
    info: DiskInfo,
    opts: Options,
    slots: Vec<Option<InFlight<P::Page>>>,
    free_slots: Vec<usize>,
    seq: u64,
    /// Pages not granted, ready for reuse.
    pool: Vec<P::Page>,
    pages_in_flight: usize,
    /// Pages the back end kept mapped after answering: never reused.
    quarantine: Vec<Seg<P::Page>>,
    stats: BlkStats,
    broken: bool,
}

impl<P: BlkPlatform> core::fmt::Debug for BlkFront<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlkFront")
            .field("info", &self.info)
            .field("stats", &self.stats)
            .field("broken", &self.broken)
            .finish()
    }
}

fn read_opt<X: XsPlatform>(xs: &mut Xenstore<X>, path: &str) -> Result<Option<String>, XsError> {
    match xs.read(path) {
        Ok(v) => Ok(Some(String::from(v.trim_end_matches('\0').trim()))),
        Err(XsError::Errno(XsErrno::ENOENT)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_num<X: XsPlatform>(
    xs: &mut Xenstore<X>,
    dir: &str,
    node: &str,
) -> Result<Option<u64>, BlkError> {
    let path = format!("{dir}/{node}");
    match read_opt(xs, &path)? {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| BlkError::BadBackend(path, "not a decimal number")),
    }
}

fn read_flag<X: XsPlatform>(xs: &mut Xenstore<X>, dir: &str, node: &str) -> Result<bool, BlkError> {
    Ok(read_num(xs, dir, node)?.unwrap_or(0) != 0)
}

impl<P: BlkPlatform> BlkFront<P> {
    /// Connects to the back end of the front-end directory `dev` (e.g. `device/vbd/51712`):
    /// the whole XenBus handshake of io/blkif.h. On failure, our `state` is set to `Closed`
    /// where possible; a ring that was granted is not reused.
    pub fn connect<X: XsPlatform>(
        xs: &mut Xenstore<X>,
        dev: &str,
        mut p: P,
        opts: Options,
    ) -> Result<Self, BlkError> {
        let dev = dev.trim_end_matches('/');
        let backend = xenbus::backend_path(xs, dev)?;
        let backend_id = match read_num(xs, dev, "backend-id")? {
            Some(v) if v < 0x7ff0 => v as u16,
            Some(_) => {
                return Err(BlkError::BadBackend(
                    format!("{dev}/backend-id"),
                    "not a domain id",
                ))
            }
            None => 0,
        };
        let result = Self::handshake(xs, dev, &backend, backend_id, &mut p, opts);
        match result {
            Ok((ring, info)) => {
                let size = info.ring_size as usize;
                let mut front = Self {
                    p,
                    ring,
                    info,
                    opts,
                    slots: (0..size).map(|_| None).collect(),
                    free_slots: (0..size).rev().collect(),
                    seq: 0,
                    pool: Vec::new(),
                    pages_in_flight: 0,
                    quarantine: Vec::new(),
                    stats: BlkStats::default(),
                    broken: false,
                };
                front.opts.max_pages_in_flight = opts.max_pages_in_flight.max(
                    front.info.segments_per_request as usize + BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
                );
                Ok(front)
            }
            Err(e) => {
                let _ = xenbus::switch_state(xs, dev, XenbusState::Closed);
                Err(e)
            }
        }
    }

    fn handshake<X: XsPlatform>(
        xs: &mut Xenstore<X>,
        dev: &str,
        backend: &str,
        backend_id: u16,
        p: &mut P,
        opts: Options,
    ) -> Result<(FrontRing<'static, Request, Response>, DiskInfo), BlkError> {
        let bad_state = |s: XenbusState| {
            matches!(
                s,
                XenbusState::Closing | XenbusState::Closed | XenbusState::Reconfiguring
            )
        };
        // The back end publishes its transport features, then goes to InitWait.
        let s = xenbus::wait_for_state(
            xs,
            backend,
            |s| s == XenbusState::InitWait || s == XenbusState::Connected || bad_state(s),
            opts.timeout_ns,
        )?;
        if bad_state(s) {
            return Err(BlkError::BackendState("closed before the handshake"));
        }
        let be_order = read_num(xs, backend, "max-ring-page-order")?.unwrap_or(0);
        let order = (be_order.min(opts.max_ring_page_order.min(MAX_RING_PAGE_ORDER) as u64)) as u32;
        let pages = 1usize << order;

        let (words, frames) = p.alloc_ring(pages).ok_or(BlkError::NoMemory)?;
        if words.len() != pages * 1024 || frames.len() != pages {
            return Err(BlkError::NoMemory);
        }
        let ring = FrontRing::<Request, Response>::init(words);
        let mut grefs = Vec::with_capacity(pages);
        for &f in &frames {
            // A failure leaves earlier ring grants in place: the ring is never freed anyway.
            grefs.push(p.grant(backend_id, f, false).map_err(BlkError::Grant)?);
        }
        let port = p.bind_event(backend_id).map_err(BlkError::EventChannel)?;

        xs.transaction(|t| {
            if order == 0 {
                t.write(&format!("{dev}/ring-ref"), grefs[0].to_string().as_bytes())?;
            } else {
                t.write(
                    &format!("{dev}/ring-page-order"),
                    order.to_string().as_bytes(),
                )?;
                // Linux also reads the older name.
                t.write(
                    &format!("{dev}/num-ring-pages"),
                    pages.to_string().as_bytes(),
                )?;
                for (i, g) in grefs.iter().enumerate() {
                    t.write(&format!("{dev}/ring-ref{i}"), g.to_string().as_bytes())?;
                }
            }
            t.write(&format!("{dev}/event-channel"), port.to_string().as_bytes())?;
            t.write(&format!("{dev}/protocol"), PROTOCOL_X86_64.as_bytes())?;
            Ok(())
        })?;
        xenbus::switch_state(xs, dev, XenbusState::Initialised)?;

        let s = xenbus::wait_for_state(
            xs,
            backend,
            |s| s == XenbusState::Connected || bad_state(s),
            opts.timeout_ns,
        )?;
        if s != XenbusState::Connected {
            return Err(BlkError::BackendState("closed instead of connecting"));
        }

        let sectors = read_num(xs, backend, "sectors")?.ok_or(BlkError::BadBackend(
            format!("{backend}/sectors"),
            "missing",
        ))?;
        let sector_size = read_num(xs, backend, "sector-size")?.unwrap_or(512);
        if !(512..=PAGE_BYTES as u64).contains(&sector_size) || !sector_size.is_power_of_two() {
            return Err(BlkError::BadBackend(
                format!("{backend}/sector-size"),
                "not a power of two in 512..=4096",
            ));
        }
        let physical = read_num(xs, backend, "physical-sector-size")?.unwrap_or(sector_size);
        let info = read_num(xs, backend, "info")?.unwrap_or(0);
        let flush = read_flag(xs, backend, "feature-flush-cache")?;
        let barrier = read_flag(xs, backend, "feature-barrier")?;
        let be_indirect = read_num(xs, backend, "feature-max-indirect-segments")?.unwrap_or(0);
        let cap = (BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * SEGS_PER_INDIRECT_FRAME) as u64;
        let indirect = be_indirect.min(opts.max_indirect_segments as u64).min(cap) as u32;
        let segments_per_request = if indirect as usize > BLKIF_MAX_SEGMENTS_PER_REQUEST {
            indirect
        } else {
            BLKIF_MAX_SEGMENTS_PER_REQUEST as u32
        };
        xenbus::switch_state(xs, dev, XenbusState::Connected)?;
        let info = DiskInfo {
            sectors,
            sector_size: sector_size as u32,
            physical_sector_size: physical.min(u32::MAX as u64) as u32,
            info: info as u32,
            readonly: info as u32 & VDISK_READONLY != 0,
            flush,
            barrier,
            backend_max_indirect: be_indirect.min(u32::MAX as u64) as u32,
            segments_per_request,
            ring_pages: pages as u32,
            ring_size: ring.size(),
            backend_id,
            backend: String::from(backend),
            port,
        };
        Ok((ring, info))
    }

    pub fn info(&self) -> &DiskInfo {
        &self.info
    }

    pub fn stats(&self) -> BlkStats {
        self.stats
    }

    /// The platform (e.g. for tests to reach the mock).
    pub fn platform(&self) -> &P {
        &self.p
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    /// Whether an earlier fault (corrupt ring, timeout) made the device unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Reads `buf.len()` bytes from 512-byte sector `sector` on. The range must be inside
    /// the disk and aligned to the sector size.
    pub fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlkError> {
        self.check_range(sector, buf.len())?;
        let len = buf.len();
        self.transfer(Kind::Read, sector, Buf::Read(buf), len)
    }

    /// Writes `buf` from 512-byte sector `sector` on (see [`BlkFront::read`]).
    pub fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlkError> {
        if self.info.readonly {
            return Err(BlkError::ReadOnly);
        }
        self.check_range(sector, buf.len())?;
        self.transfer(Kind::Write, sector, Buf::Write(buf), buf.len())
    }

    /// Makes everything written so far durable: `BLKIF_OP_FLUSH_DISKCACHE` when the back end
    /// offers `feature-flush-cache`. A back end with only `feature-barrier` (or nothing) gets
    /// [`BlkError::NotSupported`], as does one that answers `BLKIF_RSP_EOPNOTSUPP` (flush is
    /// then considered absent).
    pub fn flush(&mut self) -> Result<(), BlkError> {
        if !self.info.flush {
            return Err(BlkError::NotSupported);
        }
        let r = self.transfer(Kind::Flush, 0, Buf::None, 0);
        if r == Err(BlkError::NotSupported) {
            self.info.flush = false;
        }
        r
    }

    fn check_range(&self, sector: u64, len: usize) -> Result<(), BlkError> {
        let ss = self.info.sector_size as u64;
        if !(len as u64).is_multiple_of(ss) {
            return Err(BlkError::Unaligned);
        }
        match sector.checked_mul(SECTOR_BYTES as u64) {
            Some(b) if b % ss == 0 => {}
            _ => return Err(BlkError::OutOfRange),
        }
        let n = (len / SECTOR_BYTES) as u64;
        match sector.checked_add(n) {
            Some(end) if end <= self.info.sectors => Ok(()),
            _ => Err(BlkError::OutOfRange),
        }
    }

    fn max_request_bytes(&self) -> usize {
        let segs = (self.info.segments_per_request as usize).min(
            self.opts
                .max_pages_in_flight
                .saturating_sub(BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST)
                .max(1),
        );
        segs * PAGE_BYTES
    }

    fn transfer(
        &mut self,
        kind: Kind,
        sector: u64,
        mut buf: Buf<'_>,
        len: usize,
    ) -> Result<(), BlkError> {
        if self.broken {
            return Err(BlkError::Broken);
        }
        let mut max = self.max_request_bytes();
        let mut next = 0usize;
        let mut flush_sent = false;
        let mut first_err: Option<BlkError> = None;
        loop {
            while first_err.is_none() && (next < len || (kind == Kind::Flush && !flush_sent)) {
                if self.free_slots.is_empty() || self.ring.free_requests() == 0 {
                    self.stats.resource_waits += 1;
                    break;
                }
                let chunk = (len - next).min(max);
                let data = match &buf {
                    Buf::Write(b) => Some(&b[next..next + chunk]),
                    _ => None,
                };
                let s = sector + (next / SECTOR_BYTES) as u64;
                match self.submit(kind, s, next, chunk, data) {
                    Ok(()) => {
                        next += chunk;
                        flush_sent = true;
                    }
                    Err(SubmitError::Busy(e)) => {
                        if self.in_flight() == 0 && chunk > PAGE_BYTES {
                            // Nothing to wait for: the request is bigger than the grants
                            // or pages there are. Try smaller ones.
                            max = (chunk / 2).div_ceil(PAGE_BYTES) * PAGE_BYTES;
                            self.stats.resource_waits += 1;
                            continue;
                        } else if self.in_flight() == 0 {
                            first_err = Some(e);
                        } else {
                            self.stats.resource_waits += 1;
                        }
                        break;
                    }
                    Err(SubmitError::Fatal(e)) => first_err = Some(e),
                }
            }
            if self.ring.commit() {
                self.p.notify(self.info.port);
                self.stats.notifies += 1;
            }
            self.stats.max_in_flight = self.stats.max_in_flight.max(self.in_flight() as u32);
            if self.in_flight() == 0 {
                break;
            }
            for d in self.wait_completions()? {
                let out = match &mut buf {
                    Buf::Read(b) => Some(&mut b[d.flight.buf_off..d.flight.buf_off + d.flight.len]),
                    _ => None,
                };
                if let Err(e) = self.release(d, out) {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Gets a page for a segment: from the pool or the platform.
    fn take_page(&mut self) -> Option<P::Page> {
        self.pool.pop().or_else(|| self.p.alloc_page())
    }

    /// Ends the grants of `segs` and returns the pages to the pool; a page still mapped by
    /// the back end is quarantined. Returns whether every grant ended.
    fn ungrant(&mut self, segs: Vec<Seg<P::Page>>) -> bool {
        let mut all = true;
        for s in segs {
            self.pages_in_flight -= 1;
            match self.p.end_grant(s.gref) {
                Ok(()) => self.pool.push(s.page),
                Err(_) => {
                    all = false;
                    self.stats.quarantined_pages += 1;
                    self.quarantine.push(s);
                }
            }
        }
        all
    }

    fn grant_new_page(
        &mut self,
        readonly: bool,
        fill: impl FnOnce(&mut P, &mut P::Page),
    ) -> Result<Seg<P::Page>, BlkError> {
        let mut page = self.take_page().ok_or(BlkError::NoMemory)?;
        fill(&mut self.p, &mut page);
        let frame = self.p.frame(&page);
        match self.p.grant(self.info.backend_id, frame, readonly) {
            Ok(gref) => {
                self.pages_in_flight += 1;
                Ok(Seg { page, gref })
            }
            Err(e) => {
                self.pool.push(page);
                Err(BlkError::Grant(e))
            }
        }
    }

    fn submit(
        &mut self,
        kind: Kind,
        sector: u64,
        buf_off: usize,
        len: usize,
        data: Option<&[u8]>,
    ) -> Result<(), SubmitError> {
        let nsegs = len.div_ceil(PAGE_BYTES);
        let indirect = nsegs > BLKIF_MAX_SEGMENTS_PER_REQUEST;
        let nind = if indirect {
            nsegs.div_ceil(SEGS_PER_INDIRECT_FRAME)
        } else {
            0
        };
        if self.pages_in_flight + nsegs + nind > self.opts.max_pages_in_flight {
            return Err(SubmitError::Busy(BlkError::NoMemory));
        }
        let slot = self
            .free_slots
            .pop()
            .ok_or(SubmitError::Busy(BlkError::NoMemory))?;
        let mut segs: Vec<Seg<P::Page>> = Vec::with_capacity(nsegs);
        let mut descs: Vec<BlkifRequestSegment> = Vec::with_capacity(nsegs);
        let mut failed = None;
        for i in 0..nsegs {
            let off = i * PAGE_BYTES;
            let seg_len = (len - off).min(PAGE_BYTES);
            let chunk = data.map(|d| &d[off..off + seg_len]);
            // The back end writes into a read's pages and only reads a write's.
            match self.grant_new_page(kind == Kind::Write, |p, page| {
                if let Some(c) = chunk {
                    p.write_page(page, 0, c);
                }
            }) {
                Ok(s) => {
                    descs.push(BlkifRequestSegment {
                        gref: s.gref,
                        first_sect: 0,
                        last_sect: (seg_len / SECTOR_BYTES - 1) as u8,
                    });
                    segs.push(s);
                }
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let mut ind: Vec<Seg<P::Page>> = Vec::with_capacity(nind);
        if failed.is_none() {
            for chunk in descs.chunks(SEGS_PER_INDIRECT_FRAME).take(nind) {
                match self.grant_new_page(true, |p, page| {
                    for (j, d) in chunk.iter().enumerate() {
                        p.write_page(page, j * 8, &encode_segment(d));
                    }
                }) {
                    Ok(s) => ind.push(s),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
        }
        if let Some(e) = failed {
            // Never published: the back end cannot have mapped these, but check anyway.
            self.ungrant(segs);
            self.ungrant(ind);
            self.free_slots.push(slot);
            return Err(match e {
                BlkError::Grant(GntError::Exhausted) | BlkError::NoMemory => SubmitError::Busy(e),
                e => SubmitError::Fatal(e),
            });
        }
        self.seq = self.seq.wrapping_add(1);
        let id = (self.seq << 16) | slot as u64;
        let op = match kind {
            Kind::Read => BLKIF_OP_READ,
            Kind::Write => BLKIF_OP_WRITE,
            Kind::Flush => BLKIF_OP_FLUSH_DISKCACHE,
        };
        let req = if indirect {
            let mut grefs = [0u32; BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
            for (g, s) in grefs.iter_mut().zip(&ind) {
                *g = s.gref;
            }
            Request::Indirect(BlkifRequestIndirect {
                operation: BLKIF_OP_INDIRECT,
                indirect_op: op,
                nr_segments: nsegs as u16,
                id,
                sector_number: sector,
                handle: 0,
                indirect_grefs: grefs,
            })
        } else {
            let mut seg = [BlkifRequestSegment::default(); BLKIF_MAX_SEGMENTS_PER_REQUEST];
            seg[..nsegs].copy_from_slice(&descs);
            Request::Direct(BlkifRequest {
                operation: op,
                nr_segments: nsegs as u8,
                handle: 0,
                id,
                sector_number: sector,
                seg,
            })
        };
        if self.ring.push_request(&req).is_err() {
            // Checked by the caller; keep the pages safe anyway.
            self.ungrant(segs);
            self.ungrant(ind);
            self.free_slots.push(slot);
            return Err(SubmitError::Busy(BlkError::NoMemory));
        }
        self.stats.requests += 1;
        self.stats.segments += nsegs as u64;
        if indirect {
            self.stats.indirect_requests += 1;
        }
        self.slots[slot] = Some(InFlight {
            id,
            op: req.operation(),
            inner_op: indirect.then_some(op),
            data: segs,
            indirect: ind,
            buf_off,
            len,
        });
        Ok(())
    }

    /// Waits until at least one request in flight completes (by a valid-id response).
    fn wait_completions(&mut self) -> Result<Vec<Done<P::Page>>, BlkError> {
        let deadline = self.p.now_ns().saturating_add(self.opts.timeout_ns);
        let mut timed_out = false;
        loop {
            let mut done = Vec::new();
            loop {
                match self.ring.take_response() {
                    Ok(Some(r)) => {
                        self.stats.responses += 1;
                        if let Some(d) = self.match_response(r) {
                            done.push(d);
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        self.broken = true;
                        return Err(BlkError::RingCorrupt);
                    }
                }
            }
            if !done.is_empty() {
                return Ok(done);
            }
            match self.ring.final_check_for_responses() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(_) => {
                    self.broken = true;
                    return Err(BlkError::RingCorrupt);
                }
            }
            if timed_out {
                self.broken = true;
                return Err(BlkError::Timeout);
            }
            if !self.p.wait_event(deadline) {
                timed_out = self.p.now_ns() >= deadline;
            }
        }
    }

    fn match_response(&mut self, r: Response) -> Option<Done<P::Page>> {
        let r = r.0;
        let slot = (r.id & 0xffff) as usize;
        let hit = matches!(self.slots.get(slot), Some(Some(f)) if f.id == r.id);
        if !hit {
            self.stats.unknown_id += 1;
            return None;
        }
        let flight = self.slots[slot].take()?;
        self.free_slots.push(slot);
        let result = if r.operation != flight.op && Some(r.operation) != flight.inner_op {
            self.stats.bad_operation += 1;
            Err(BlkError::BadResponse(
                "operation differs from the request's",
            ))
        } else {
            match r.status {
                BLKIF_RSP_OKAY => Ok(()),
                BLKIF_RSP_ERROR => {
                    self.stats.error_responses += 1;
                    Err(BlkError::Io)
                }
                BLKIF_RSP_EOPNOTSUPP => {
                    self.stats.error_responses += 1;
                    Err(BlkError::NotSupported)
                }
                _ => {
                    self.stats.bad_status += 1;
                    Err(BlkError::BadResponse("status outside the protocol"))
                }
            }
        };
        Some(Done { flight, result })
    }

    /// Ends a completed request's grants; copies a read's data out only when every grant
    /// ended (the back end can no longer change it).
    fn release(&mut self, d: Done<P::Page>, out: Option<&mut [u8]>) -> Result<(), BlkError> {
        let Done { flight, result } = d;
        let data_ok = self.ungrant_keep_data(flight.data, out, result.is_ok());
        self.ungrant(flight.indirect);
        result?;
        if !data_ok {
            return Err(BlkError::BadResponse(
                "answered while still mapping the request's pages",
            ));
        }
        Ok(())
    }

    fn ungrant_keep_data(
        &mut self,
        segs: Vec<Seg<P::Page>>,
        out: Option<&mut [u8]>,
        copy: bool,
    ) -> bool {
        // End every grant first: the data is stable only once none is mapped.
        let mut ended = Vec::with_capacity(segs.len());
        let mut all = true;
        for s in segs {
            self.pages_in_flight -= 1;
            match self.p.end_grant(s.gref) {
                Ok(()) => ended.push(s.page),
                Err(_) => {
                    all = false;
                    self.stats.quarantined_pages += 1;
                    self.quarantine.push(s);
                }
            }
        }
        if all && copy {
            if let Some(out) = out {
                for (i, page) in ended.iter().enumerate() {
                    let off = i * PAGE_BYTES;
                    let n = (out.len() - off).min(PAGE_BYTES);
                    self.p.read_page(page, 0, &mut out[off..off + n]);
                }
            }
        }
        self.pool.extend(ended);
        all
    }

    /// Pages kept out of use because the back end still had them mapped.
    pub fn quarantined(&self) -> usize {
        self.quarantine.len()
    }

    /// Gives cached bounce pages back to the platform.
    pub fn trim_pool(&mut self) {
        while let Some(p) = self.pool.pop() {
            self.p.free_page(p);
        }
    }
}

enum Buf<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
    None,
}
