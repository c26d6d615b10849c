//! A Xen network front end (io/netif.h) for Mini-OS in Rust.
//!
//! [`Netfront::connect`] does the xenbus handshake with the back end (netback in dom0): it
//! reads the MAC and the back end's features, sets up the tx and rx rings (one page each,
//! granted to the back end), one event channel or, when the back end offers
//! `feature-split-event-channels`, one for each direction, and a pool of buffer pages that
//! are granted ONCE, when the device connects, and recycled from then on without any grant
//! churn (rx pages writable by the back end, tx pages read-only). It asks for `request-rx-copy`
//! (netback copies received packets into our pages) and announces `feature-rx-notify`,
//! `feature-sg` (packets over several slots, both ways when the back end offers it) and
//! `feature-no-csum-offload` (packets always carry full checksums).
//!
//! # Untrusted back end
//! Nothing the back end writes is trusted. A response with an unknown or duplicate id, an
//! error status, an offset or size outside the page, or ring indices that claim more
//! responses than requests outstanding is dropped and counted in [`NetStats`] (the kernel
//! prints them); corrupt indices also take the carrier down for good (the ring can no longer
//! be trusted) instead of panicking. A buffer page returns to its pool only when its own id
//! comes back, and leaves the pool (back to the page allocator) only after its grant has
//! ended; a page the back end still has mapped is never freed (see [`Netfront::disconnect`]).
//!
//! The crate is safe code over small platform traits ([`NetPlatform`], and the
//! xenstore client's `XsPlatform`), so it runs unchanged in host tests against a mock
//! netback (feature `test-utils`, module [`mock`]).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::AtomicU32;

use xen_abi::netif::{
    NetifRxRequest, NetifTxRequest, NETIF_RSP_NULL, NETRXF_EXTRA_INFO, NETRXF_MORE_DATA,
    NETTXF_MORE_DATA, XEN_NETIF_EXTRA_FLAG_MORE, XEN_NETIF_MAX_TX_SIZE, XEN_NETIF_NR_SLOTS_MIN,
};
pub use xenstore_client::XenbusState;
use xenstore_client::{xenbus, Xenstore, XsError, XsPlatform};

pub mod slots;

#[cfg(feature = "smoltcp")]
pub mod device;
#[cfg(feature = "test-utils")]
pub mod mock;

use slots::{RxReq, RxRsp, TxReq, TxRsp};
use xen_ring::sring::FrontRing;
use xen_ring::RingError;

pub use gnttab::GntError;

/// Bytes in a page (and in a buffer).
pub const PAGE_SIZE: usize = 4096;
/// Largest Ethernet frame (without FCS) of the standard 1500-byte MTU.
pub const ETH_FRAME_MAX: usize = 1514;

/// What netfront needs from the platform: pages, grants, event channels.
pub trait NetPlatform {
    /// An owned buffer page (in the guest: `&'static mut Page`).
    type Page;
    /// A zeroed page for a shared ring, as words, with its frame number. It is never given
    /// back (a ring page is small and a device is set up once).
    fn alloc_ring_page(&mut self) -> Option<(&'static [AtomicU32], u64)>;
    /// A buffer page.
    fn alloc_page(&mut self) -> Option<Self::Page>;
    /// Returns a buffer page whose grant has ended.
    fn free_page(&mut self, page: Self::Page);
    /// The frame number the back end knows `page` by.
    fn frame(&self, page: &Self::Page) -> u64;
    /// Copies `out.len()` bytes from `page` at `offset` (in bounds: checked by the caller).
    fn read_page(&self, page: &Self::Page, offset: usize, out: &mut [u8]);
    /// Copies `data` into `page` at `offset` (in bounds: checked by the caller).
    fn write_page(&self, page: &mut Self::Page, offset: usize, data: &[u8]);
    /// Grants `domid` access to `frame`.
    fn grant(&mut self, domid: u16, frame: u64, readonly: bool) -> Result<u32, GntError>;
    /// Ends a grant; fails (and keeps it) while the grantee has the frame mapped.
    fn end_grant(&mut self, gref: u32) -> Result<(), GntError>;
    /// An unbound event channel for `remote` to bind; its events must reach the code that
    /// polls this device (the platform attaches its own handler).
    fn alloc_evtchn(&mut self, remote: u16) -> Result<u32, NetError>;
    /// Closes a port from [`NetPlatform::alloc_evtchn`].
    fn close_evtchn(&mut self, port: u32);
    /// Notifies the back end through `port`.
    fn notify(&mut self, port: u32);
}

/// Why the device could not be set up or used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// A xenstore operation failed.
    Xenstore(String),
    /// A xenstore node the protocol needs is missing or malformed.
    BadNode { path: String, value: String },
    /// The back end does not support something netfront requires.
    Unsupported(&'static str),
    /// The back end did not reach the state needed in time, or went away.
    Backend(String),
    /// No page for a ring or buffer.
    NoMemory,
    /// A grant operation failed.
    Grant(GntError),
    /// An event-channel operation failed.
    Evtchn(String),
    /// The device is not connected (or its ring was found corrupt).
    NotConnected,
    /// A frame too big for the device (or empty).
    BadFrame(usize),
    /// No free tx buffer or ring slot right now.
    Busy,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetError::Xenstore(e) => write!(f, "xenstore: {e}"),
            NetError::BadNode { path, value } => write!(f, "bad xenstore node {path} = {value:?}"),
            NetError::Unsupported(what) => write!(f, "back end lacks {what}"),
            NetError::Backend(e) => write!(f, "back end: {e}"),
            NetError::NoMemory => f.write_str("out of pages"),
            NetError::Grant(e) => write!(f, "grant: {e}"),
            NetError::Evtchn(e) => write!(f, "event channel: {e}"),
            NetError::NotConnected => f.write_str("device not connected"),
            NetError::BadFrame(n) => write!(f, "frame of {n} bytes cannot be sent"),
            NetError::Busy => f.write_str("no free tx buffer"),
        }
    }
}

impl From<XsError> for NetError {
    fn from(e: XsError) -> Self {
        NetError::Xenstore(e.to_string())
    }
}

impl From<GntError> for NetError {
    fn from(e: GntError) -> Self {
        NetError::Grant(e)
    }
}

/// Device set-up choices.
#[derive(Debug, Clone, Copy)]
pub struct NetConfig {
    /// Buffer pages posted for receiving (at most 256, the ring size).
    pub rx_buffers: usize,
    /// Buffer pages for sending (at most 256).
    pub tx_buffers: usize,
    /// Offer scatter-gather (`feature-sg`) and use it for frames over a page when the back end
    /// offers it.
    pub sg: bool,
    /// Use split event channels when the back end offers them.
    pub split_evtchn: bool,
    /// How long to wait for the back end at each handshake step.
    pub timeout_ns: u64,
    /// Completed frames kept for the reader at most (further ones are dropped and counted).
    pub rx_queue_max: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            rx_buffers: 64,
            tx_buffers: 64,
            sg: true,
            split_evtchn: true,
            timeout_ns: 120_000_000_000,
            rx_queue_max: 256,
        }
    }
}

/// Counters: traffic, and everything dropped because the back end misbehaved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    /// Rx responses with an error status.
    pub rx_errors: u64,
    /// Tx responses with an error status (`NETIF_RSP_ERROR`/`DROPPED`).
    pub tx_errors: u64,
    /// Responses (rx or tx) whose id names no request in flight.
    pub bad_id: u64,
    /// Rx responses whose offset + size lies outside the page.
    pub bad_offset: u64,
    /// Rx packets dropped for another protocol violation (too many slots, too long, an
    /// unexpected extra-info slot).
    pub bad_packet: u64,
    /// Times the back end's ring indices moved by more than the requests outstanding.
    pub ring_corrupt: u64,
    /// Received frames dropped because the reader did not keep up.
    pub rx_dropped: u64,
    /// Frames the stack produced that could not be queued (no tx buffer, carrier down).
    pub tx_dropped: u64,
    /// Senders announced to smoltcp from their IPv4 frames (`device`'s module docs).
    pub neighbours_learned: u64,
}

impl NetStats {
    /// Responses dropped because the back end broke the protocol.
    pub fn hostile(&self) -> u64 {
        self.bad_id + self.bad_offset + self.bad_packet + self.ring_corrupt
    }
}

impl fmt::Display for NetStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rx {} pkts/{} B, tx {} pkts/{} B; errors rx {} tx {}; dropped: bad id {}, bad offset {}, bad packet {}, corrupt ring {}, rx overflow {}, tx no buffer {}; neighbours learned from IPv4 {}",
            self.rx_packets,
            self.rx_bytes,
            self.tx_packets,
            self.tx_bytes,
            self.rx_errors,
            self.tx_errors,
            self.bad_id,
            self.bad_offset,
            self.bad_packet,
            self.ring_corrupt,
            self.rx_dropped,
            self.tx_dropped,
            self.neighbours_learned
        )
    }
}

/// What the back end offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackendFeatures {
    pub rx_copy: bool,
    pub sg: bool,
    pub split_evtchn: bool,
    pub multi_queue_max: u32,
}

/// The event channel(s) of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventChannels {
    /// One port for both directions (`event-channel`).
    Shared(u32),
    /// `event-channel-tx` and `event-channel-rx`.
    Split { tx: u32, rx: u32 },
}

impl EventChannels {
    pub fn tx(&self) -> u32 {
        match *self {
            EventChannels::Shared(p) => p,
            EventChannels::Split { tx, .. } => tx,
        }
    }
    pub fn rx(&self) -> u32 {
        match *self {
            EventChannels::Shared(p) => p,
            EventChannels::Split { rx, .. } => rx,
        }
    }
    pub fn ports(&self) -> Vec<u32> {
        match *self {
            EventChannels::Shared(p) => alloc::vec![p],
            EventChannels::Split { tx, rx } => alloc::vec![tx, rx],
        }
    }
}

/// A buffer page of the pool with its long-lived grant.
#[derive(Debug)]
struct Buf<Pg> {
    page: Pg,
    gref: u32,
}

/// The rx packet being assembled from its slots.
#[derive(Debug, Default)]
struct RxChain {
    data: Vec<u8>,
    slots: usize,
    bad: bool,
    active: bool,
    /// The last data slot said more data follows.
    more: bool,
}

/// The IPv4 setting a vif carries in xenstore (`ip=` of the xl config), if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpSetting {
    pub addr: [u8; 4],
    pub prefix: u8,
}

impl IpSetting {
    /// Parses `a.b.c.d` or `a.b.c.d/n` (the first of a space-separated list).
    pub fn parse(s: &str) -> Option<Self> {
        let first = s.trim().trim_end_matches('\0').split_whitespace().next()?;
        let (addr, prefix) = match first.split_once('/') {
            Some((a, p)) => (a, p.parse::<u8>().ok().filter(|p| *p <= 32)?),
            None => (first, 24),
        };
        let mut out = [0u8; 4];
        let mut parts = addr.split('.');
        for o in out.iter_mut() {
            *o = parts.next()?.parse().ok()?;
        }
        if parts.next().is_some() {
            return None;
        }
        Some(Self { addr: out, prefix })
    }
}

/// Parses a MAC address `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.trim().trim_end_matches('\0').split(':');
    for o in out.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// What [`Netfront::disconnect`] did with the pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DisconnectReport {
    /// Buffer pages whose grant ended and that went back to the allocator.
    pub pages_freed: usize,
    /// Pages (buffers or rings) the back end still had mapped: kept out of use for good.
    pub pages_kept_granted: usize,
    /// The back end's state when we closed.
    pub backend_state: Option<XenbusState>,
}

/// One connected vif.
pub struct Netfront<P: NetPlatform> {
    plat: P,
    dir: String,
    backend: String,
    backend_id: u16,
    mac: [u8; 6],
    ip: Option<IpSetting>,
    features: BackendFeatures,
    sg: bool,
    evtchn: EventChannels,
    tx: FrontRing<'static, TxReq, TxRsp>,
    rx: FrontRing<'static, RxReq, RxRsp>,
    ring_grefs: [u32; 2],
    tx_bufs: Vec<Option<Buf<P::Page>>>,
    tx_free: Vec<u16>,
    tx_inflight: Vec<bool>,
    rx_bufs: Vec<Option<Buf<P::Page>>>,
    rx_free: Vec<u16>,
    /// rx request id -> buffer index, for the requests in flight.
    rx_slot: Vec<Option<u16>>,
    rx_free_ids: Vec<u16>,
    /// Ring position (masked) -> the id posted there (for extra-info slots, which carry none).
    rx_pos: Vec<u16>,
    rx_req_idx: u32,
    rx_rsp_idx: u32,
    rx_extra_pending: bool,
    chain: RxChain,
    rx_queue: VecDeque<Vec<u8>>,
    rx_queue_max: usize,
    stats: NetStats,
    #[cfg(feature = "smoltcp")]
    learned: device::Learned,
    connected: bool,
    broken: bool,
    /// Disconnected: grants ended, pages returned.
    released: bool,
}

impl<P: NetPlatform> fmt::Debug for Netfront<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Netfront")
            .field("dir", &self.dir)
            .field("backend", &self.backend)
            .field("mac", &self.mac)
            .field("evtchn", &self.evtchn)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn read_opt<X: XsPlatform>(xs: &mut Xenstore<X>, path: &str) -> Result<Option<String>, NetError> {
    match xs.read(path) {
        Ok(v) => Ok(Some(String::from(v.trim_end_matches('\0')))),
        Err(XsError::Errno(xenstore_client::XsErrno::ENOENT)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn read_flag<X: XsPlatform>(xs: &mut Xenstore<X>, path: &str) -> Result<u32, NetError> {
    Ok(read_opt(xs, path)?
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(0))
}

impl<P: NetPlatform> Netfront<P> {
    /// Connects the vif whose front-end directory is `dir` (e.g. `device/vif/0`).
    pub fn connect<X: XsPlatform>(
        mut plat: P,
        xs: &mut Xenstore<X>,
        dir: &str,
        cfg: &NetConfig,
    ) -> Result<Self, NetError> {
        let dir = String::from(dir.trim_end_matches('/'));
        let backend = xenbus::backend_path(xs, &dir)?;
        let id_path = format!("{dir}/backend-id");
        let id_val = read_opt(xs, &id_path)?.unwrap_or_default();
        let backend_id = id_val
            .trim()
            .parse::<u16>()
            .map_err(|_| NetError::BadNode {
                path: id_path.clone(),
                value: id_val.clone(),
            })?;
        let mac_path = format!("{dir}/mac");
        let mac_val = read_opt(xs, &mac_path)?.unwrap_or_default();
        let mac = parse_mac(&mac_val).ok_or(NetError::BadNode {
            path: mac_path,
            value: mac_val,
        })?;

        // The back end publishes its features once its hotplug work is done (InitWait).
        xenbus::wait_for_state(
            xs,
            &backend,
            |s| {
                matches!(
                    s,
                    XenbusState::InitWait | XenbusState::Initialised | XenbusState::Connected
                )
            },
            cfg.timeout_ns,
        )
        .map_err(|e| NetError::Backend(format!("{backend} never reached InitWait: {e}")))?;
        let features = BackendFeatures {
            rx_copy: read_flag(xs, &format!("{backend}/feature-rx-copy"))? != 0,
            sg: read_flag(xs, &format!("{backend}/feature-sg"))? != 0,
            split_evtchn: read_flag(xs, &format!("{backend}/feature-split-event-channels"))? != 0,
            multi_queue_max: read_flag(xs, &format!("{backend}/multi-queue-max-queues"))?,
        };
        if !features.rx_copy {
            return Err(NetError::Unsupported("feature-rx-copy"));
        }
        let ip = read_opt(xs, &format!("{backend}/ip"))?
            .as_deref()
            .and_then(IpSetting::parse);

        // Rings: one page each, granted to the back end.
        let (tx_words, tx_frame) = plat.alloc_ring_page().ok_or(NetError::NoMemory)?;
        let (rx_words, rx_frame) = plat.alloc_ring_page().ok_or(NetError::NoMemory)?;
        let tx = FrontRing::<TxReq, TxRsp>::init(tx_words);
        let rx = FrontRing::<RxReq, RxRsp>::init(rx_words);
        let tx_gref = plat.grant(backend_id, tx_frame, false)?;
        let rx_gref = match plat.grant(backend_id, rx_frame, false) {
            Ok(g) => g,
            Err(e) => {
                let _ = plat.end_grant(tx_gref);
                return Err(e.into());
            }
        };
        let ring_size = tx.size().min(rx.size()) as usize;

        let split = cfg.split_evtchn && features.split_evtchn;
        let evtchn = if split {
            let t = plat.alloc_evtchn(backend_id)?;
            let r = plat.alloc_evtchn(backend_id)?;
            EventChannels::Split { tx: t, rx: r }
        } else {
            EventChannels::Shared(plat.alloc_evtchn(backend_id)?)
        };

        let mut nf = Netfront {
            plat,
            dir: dir.clone(),
            backend: backend.clone(),
            backend_id,
            mac,
            ip,
            features,
            sg: cfg.sg && features.sg,
            evtchn,
            tx,
            rx,
            ring_grefs: [tx_gref, rx_gref],
            tx_bufs: Vec::new(),
            tx_free: Vec::new(),
            tx_inflight: Vec::new(),
            rx_bufs: Vec::new(),
            rx_free: Vec::new(),
            rx_slot: alloc::vec![None; ring_size],
            rx_free_ids: (0..ring_size as u16).rev().collect(),
            rx_pos: alloc::vec![0; ring_size],
            rx_req_idx: 0,
            rx_rsp_idx: 0,
            rx_extra_pending: false,
            chain: RxChain::default(),
            rx_queue: VecDeque::new(),
            rx_queue_max: cfg.rx_queue_max.max(1),
            stats: NetStats::default(),
            #[cfg(feature = "smoltcp")]
            learned: device::Learned::default(),
            connected: false,
            broken: false,
            released: false,
        };
        if let Err(e) = nf.fill_pools(cfg.rx_buffers.min(ring_size), cfg.tx_buffers.min(ring_size))
        {
            nf.release_all();
            return Err(e);
        }
        if let Err(e) = nf.handshake(xs, cfg) {
            nf.release_all();
            return Err(e);
        }
        Ok(nf)
    }

    fn fill_pools(&mut self, n_rx: usize, n_tx: usize) -> Result<(), NetError> {
        for i in 0..n_rx {
            let page = self.plat.alloc_page().ok_or(NetError::NoMemory)?;
            let frame = self.plat.frame(&page);
            let gref = match self.plat.grant(self.backend_id, frame, false) {
                Ok(g) => g,
                Err(e) => {
                    self.plat.free_page(page);
                    return Err(e.into());
                }
            };
            self.rx_bufs.push(Some(Buf { page, gref }));
            self.rx_free.push(i as u16);
        }
        for i in 0..n_tx {
            let page = self.plat.alloc_page().ok_or(NetError::NoMemory)?;
            let frame = self.plat.frame(&page);
            let gref = match self.plat.grant(self.backend_id, frame, true) {
                Ok(g) => g,
                Err(e) => {
                    self.plat.free_page(page);
                    return Err(e.into());
                }
            };
            self.tx_bufs.push(Some(Buf { page, gref }));
            self.tx_free.push((n_tx - 1 - i) as u16);
            self.tx_inflight.push(false);
        }
        Ok(())
    }

    fn handshake<X: XsPlatform>(
        &mut self,
        xs: &mut Xenstore<X>,
        cfg: &NetConfig,
    ) -> Result<(), NetError> {
        // Post the receive buffers before the back end connects: it wants them at once.
        self.refill_rx(false);
        let dir = self.dir.clone();
        let [tx_gref, rx_gref] = self.ring_grefs;
        let evtchn = self.evtchn;
        let sg = cfg.sg;
        xs.transaction(|t| {
            t.write(
                &format!("{dir}/tx-ring-ref"),
                format!("{tx_gref}").as_bytes(),
            )?;
            t.write(
                &format!("{dir}/rx-ring-ref"),
                format!("{rx_gref}").as_bytes(),
            )?;
            match evtchn {
                EventChannels::Shared(p) => {
                    t.write(&format!("{dir}/event-channel"), format!("{p}").as_bytes())?
                }
                EventChannels::Split { tx, rx } => {
                    t.write(
                        &format!("{dir}/event-channel-tx"),
                        format!("{tx}").as_bytes(),
                    )?;
                    t.write(
                        &format!("{dir}/event-channel-rx"),
                        format!("{rx}").as_bytes(),
                    )?;
                }
            }
            t.write(&format!("{dir}/request-rx-copy"), b"1")?;
            t.write(&format!("{dir}/feature-rx-notify"), b"1")?;
            t.write(&format!("{dir}/feature-sg"), if sg { b"1" } else { b"0" })?;
            t.write(&format!("{dir}/feature-no-csum-offload"), b"1")?;
            t.write(&format!("{dir}/feature-gso-tcpv4"), b"0")?;
            Ok(())
        })?;
        xenbus::switch_state(xs, &dir, XenbusState::Connected)?;
        let backend = self.backend.clone();
        let st = xenbus::wait_for_state(
            xs,
            &backend,
            |s| {
                matches!(
                    s,
                    XenbusState::Connected | XenbusState::Closing | XenbusState::Closed
                )
            },
            cfg.timeout_ns,
        )
        .map_err(|e| NetError::Backend(format!("{backend} never connected: {e}")))?;
        if st != XenbusState::Connected {
            let _ = xenbus::switch_state(xs, &dir, XenbusState::Closed);
            return Err(NetError::Backend(format!("{backend} went to {st}")));
        }
        self.connected = true;
        // Tell the back end about the posted buffers (and arm our response events).
        self.plat.notify(self.evtchn.rx());
        let _ = self.rx.final_check_for_responses();
        let _ = self.tx.final_check_for_responses();
        Ok(())
    }

    /// Ends every grant and frees what can be freed (failure paths and disconnect).
    fn release_all(&mut self) -> DisconnectReport {
        let mut rep = DisconnectReport::default();
        for slot in self.rx_bufs.iter_mut().chain(self.tx_bufs.iter_mut()) {
            if let Some(buf) = slot.take() {
                match self.plat.end_grant(buf.gref) {
                    Ok(()) => {
                        self.plat.free_page(buf.page);
                        rep.pages_freed += 1;
                    }
                    Err(_) => {
                        // Still mapped by the back end: never reuse it. Dropping the owned
                        // page handle leaks the page (it stays granted, out of every pool).
                        rep.pages_kept_granted += 1;
                        core::mem::forget(buf);
                    }
                }
            }
        }
        for g in self.ring_grefs {
            if self.plat.end_grant(g).is_err() {
                rep.pages_kept_granted += 1;
            }
        }
        for p in self.evtchn.ports() {
            self.plat.close_evtchn(p);
        }
        self.rx_free.clear();
        self.tx_free.clear();
        self.connected = false;
        rep
    }

    /// The MAC address from xenstore.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }
    /// The vif's `ip` setting from the back end's directory, if the toolstack wrote one.
    pub fn ip_setting(&self) -> Option<IpSetting> {
        self.ip
    }
    /// The front-end directory (`device/vif/N`).
    pub fn dir(&self) -> &str {
        &self.dir
    }
    /// The back end's directory.
    pub fn backend(&self) -> &str {
        &self.backend
    }
    pub fn backend_id(&self) -> u16 {
        self.backend_id
    }
    /// What the back end offered.
    pub fn features(&self) -> BackendFeatures {
        self.features
    }
    /// Whether scatter-gather is in use.
    pub fn sg(&self) -> bool {
        self.sg
    }
    pub fn event_channels(&self) -> EventChannels {
        self.evtchn
    }
    /// The ring grant references (tx, rx).
    pub fn ring_grefs(&self) -> (u32, u32) {
        (self.ring_grefs[0], self.ring_grefs[1])
    }
    pub fn stats(&self) -> NetStats {
        self.stats
    }
    /// Carrier: connected, and the rings have not been found corrupt.
    pub fn carrier(&self) -> bool {
        self.connected && !self.broken
    }
    /// The platform (e.g. to inspect a mock).
    pub fn platform(&self) -> &P {
        &self.plat
    }
    pub fn platform_mut(&mut self) -> &mut P {
        &mut self.plat
    }
    /// The largest frame [`Netfront::send`] accepts.
    pub fn max_frame(&self) -> usize {
        if self.sg {
            (XEN_NETIF_NR_SLOTS_MIN * PAGE_SIZE)
                .min(XEN_NETIF_MAX_TX_SIZE)
                .min(self.tx_bufs.len() * PAGE_SIZE)
        } else {
            PAGE_SIZE
        }
    }
    /// Buffers of each pool (rx, tx) currently owned by the device (not lent to the back end).
    pub fn buffers_idle(&self) -> (usize, usize) {
        (self.rx_free.len(), self.tx_free.len())
    }
    /// Buffers in each pool (rx, tx).
    pub fn buffers_total(&self) -> (usize, usize) {
        (
            self.rx_bufs.iter().filter(|b| b.is_some()).count(),
            self.tx_bufs.iter().filter(|b| b.is_some()).count(),
        )
    }
    /// Rx buffers posted to the back end.
    pub fn rx_posted(&self) -> usize {
        self.rx_slot.iter().filter(|s| s.is_some()).count()
    }
    /// Tx buffers lent to the back end.
    pub fn tx_in_flight(&self) -> usize {
        self.tx_inflight.iter().filter(|b| **b).count()
    }

    /// Whether [`Netfront::disconnect`] has run.
    pub fn is_released(&self) -> bool {
        self.released
    }

    /// Re-reads the back end's state; the carrier drops if it is no longer Connected.
    pub fn check_backend<X: XsPlatform>(&mut self, xs: &mut Xenstore<X>) -> XenbusState {
        let st = xenbus::read_state(xs, &self.backend).unwrap_or(XenbusState::Unknown);
        if st != XenbusState::Connected {
            self.connected = false;
        }
        st
    }

    fn corrupt(&mut self, _e: RingError) {
        self.stats.ring_corrupt += 1;
        self.broken = true;
    }

    /// Posts every free rx buffer the ring has room for; notifies if `notify` and the back end
    /// asked to be.
    fn refill_rx(&mut self, notify: bool) {
        let mut pushed = false;
        while self.rx.free_requests() > 0 {
            let Some(&buf) = self.rx_free.last() else {
                break;
            };
            let Some(id) = self.rx_free_ids.pop() else {
                break;
            };
            let gref = match &self.rx_bufs[buf as usize] {
                Some(b) => b.gref,
                None => break,
            };
            let req = RxReq(NetifRxRequest { id, pad: 0, gref });
            if self.rx.push_request(&req).is_err() {
                self.rx_free_ids.push(id);
                break;
            }
            self.rx_free.pop();
            self.rx_slot[id as usize] = Some(buf);
            let mask = self.rx_pos.len() as u32 - 1;
            self.rx_pos[(self.rx_req_idx & mask) as usize] = id;
            self.rx_req_idx = self.rx_req_idx.wrapping_add(1);
            pushed = true;
        }
        if pushed && self.rx.commit() && notify {
            self.plat.notify(self.evtchn.rx());
        }
    }

    /// Returns the buffer of rx id `id` to the pool, if `id` is in flight.
    fn rx_release(&mut self, id: u16) -> Option<u16> {
        let buf = self.rx_slot.get_mut(id as usize)?.take()?;
        self.rx_free_ids.push(id);
        self.rx_free.push(buf);
        Some(buf)
    }

    fn end_chain(&mut self) {
        let chain = core::mem::take(&mut self.chain);
        if chain.bad || chain.data.is_empty() {
            if !chain.bad {
                // An empty packet: a protocol violation too.
                self.stats.bad_packet += 1;
            }
            return;
        }
        if self.rx_queue.len() >= self.rx_queue_max {
            self.stats.rx_dropped += 1;
            return;
        }
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += chain.data.len() as u64;
        self.rx_queue.push_back(chain.data);
    }

    fn handle_rx(&mut self, rsp: RxRsp) {
        let mask = self.rx_pos.len() as u32 - 1;
        let pos = self.rx_rsp_idx & mask;
        self.rx_rsp_idx = self.rx_rsp_idx.wrapping_add(1);
        if self.rx_extra_pending {
            // An extra-info slot: it used the buffer posted at its position.
            let extra = rsp.as_extra();
            let id = self.rx_pos[pos as usize];
            if self.rx_release(id).is_none() {
                self.stats.bad_id += 1;
            }
            self.rx_extra_pending = extra.flags & XEN_NETIF_EXTRA_FLAG_MORE != 0;
            // We negotiated no extra information (no GSO): the packet is suspect.
            if self.chain.active {
                self.chain.bad = true;
            }
            if !self.rx_extra_pending && self.chain.active && !self.chain.more {
                self.end_chain();
            }
            return;
        }
        let r = rsp.0;
        let Some(buf) = self.rx_release(r.id) else {
            // Unknown or duplicate id: nothing of ours to take back. The packet it belongs to
            // cannot be trusted either.
            self.stats.bad_id += 1;
            if self.chain.active {
                self.chain.bad = true;
            }
            if r.flags & NETRXF_MORE_DATA == 0 && self.chain.active {
                self.end_chain();
            }
            return;
        };
        self.chain.active = true;
        self.chain.slots += 1;
        self.chain.more = r.flags & NETRXF_MORE_DATA != 0;
        if r.status < 0 {
            self.stats.rx_errors += 1;
            self.chain.bad = true;
        } else if r.offset as usize + r.status as usize > PAGE_SIZE {
            self.stats.bad_offset += 1;
            self.chain.bad = true;
        } else if self.chain.slots > XEN_NETIF_NR_SLOTS_MIN
            || self.chain.data.len() + r.status as usize > XEN_NETIF_MAX_TX_SIZE
            || (r.flags & NETRXF_MORE_DATA != 0 && !self.sg)
        {
            self.stats.bad_packet += 1;
            self.chain.bad = true;
        } else if !self.chain.bad {
            let start = self.chain.data.len();
            self.chain.data.resize(start + r.status as usize, 0);
            if let Some(b) = &self.rx_bufs[buf as usize] {
                self.plat
                    .read_page(&b.page, r.offset as usize, &mut self.chain.data[start..]);
            }
        }
        if r.flags & NETRXF_EXTRA_INFO != 0 {
            self.rx_extra_pending = true;
            self.stats.bad_packet += 1;
            self.chain.bad = true;
        }
        if r.flags & NETRXF_MORE_DATA == 0 && !self.rx_extra_pending {
            self.end_chain();
        }
    }

    fn handle_tx(&mut self, rsp: TxRsp) {
        let r = rsp.0;
        let known = (r.id as usize) < self.tx_inflight.len() && self.tx_inflight[r.id as usize];
        if !known || r.status == NETIF_RSP_NULL {
            // NETIF_RSP_NULL answers an extra-info slot, and we never send any.
            self.stats.bad_id += 1;
            return;
        }
        self.tx_inflight[r.id as usize] = false;
        self.tx_free.push(r.id);
        if r.status < 0 {
            self.stats.tx_errors += 1;
        }
    }

    fn poll_tx(&mut self) {
        loop {
            loop {
                match self.tx.take_response() {
                    Ok(Some(rsp)) => self.handle_tx(rsp),
                    Ok(None) => break,
                    Err(e) => return self.corrupt(e),
                }
            }
            match self.tx.final_check_for_responses() {
                Ok(true) => continue,
                Ok(false) => return,
                Err(e) => return self.corrupt(e),
            }
        }
    }

    fn poll_rx(&mut self) {
        loop {
            loop {
                match self.rx.take_response() {
                    Ok(Some(rsp)) => self.handle_rx(rsp),
                    Ok(None) => break,
                    Err(e) => return self.corrupt(e),
                }
            }
            self.refill_rx(true);
            match self.rx.final_check_for_responses() {
                Ok(true) => continue,
                Ok(false) => return,
                Err(e) => return self.corrupt(e),
            }
        }
    }

    /// Processes the back end's responses: frees sent buffers, collects received frames,
    /// re-posts rx buffers. Returns whether received frames are waiting.
    pub fn poll(&mut self) -> bool {
        if self.carrier() {
            self.poll_tx();
        }
        if self.carrier() {
            self.poll_rx();
        }
        !self.rx_queue.is_empty()
    }

    /// The next received frame.
    pub fn receive(&mut self) -> Option<Vec<u8>> {
        if self.rx_queue.is_empty() {
            self.poll();
        }
        self.rx_queue.pop_front()
    }

    /// Whether a frame could be sent now without waiting for tx buffers.
    pub fn can_send(&mut self) -> bool {
        if !self.carrier() {
            return false;
        }
        if self.tx_free.is_empty() || self.tx.free_requests() == 0 {
            self.poll_tx();
        }
        !self.tx_free.is_empty() && self.tx.free_requests() > 0
    }

    /// Sends one Ethernet frame (copied into the pool's pages).
    pub fn send(&mut self, frame: &[u8]) -> Result<(), NetError> {
        if !self.carrier() {
            return Err(NetError::NotConnected);
        }
        let len = frame.len();
        if len == 0 || len > self.max_frame() {
            return Err(NetError::BadFrame(len));
        }
        let slots = len.div_ceil(PAGE_SIZE);
        if self.tx_free.len() < slots || (self.tx.free_requests() as usize) < slots {
            self.poll_tx();
            if self.tx_free.len() < slots || (self.tx.free_requests() as usize) < slots {
                return Err(NetError::Busy);
            }
        }
        for (i, chunk) in frame.chunks(PAGE_SIZE).enumerate() {
            let id = self.tx_free.pop().expect("checked above");
            let gref = {
                let b = self.tx_bufs[id as usize]
                    .as_mut()
                    .expect("free tx ids have buffers");
                self.plat.write_page(&mut b.page, 0, chunk);
                b.gref
            };
            let last = (i + 1) * PAGE_SIZE >= len;
            let req = TxReq(NetifTxRequest {
                gref,
                offset: 0,
                flags: if last { 0 } else { NETTXF_MORE_DATA },
                id,
                // The first slot carries the size of the whole packet.
                size: if i == 0 {
                    len as u16
                } else {
                    chunk.len() as u16
                },
            });
            self.tx.push_request(&req).expect("checked above");
            self.tx_inflight[id as usize] = true;
        }
        self.stats.tx_packets += 1;
        self.stats.tx_bytes += len as u64;
        if self.tx.commit() {
            self.plat.notify(self.evtchn.tx());
        }
        Ok(())
    }

    /// A clean disconnect: Closing, wait for the back end to close, Closed; then every grant
    /// is ended and every buffer page whose grant ended goes back to the allocator. A page the
    /// back end still has mapped is kept out of use (counted in the report), never freed.
    ///
    /// Afterwards the device is unusable (no carrier, empty pools); calling it again only
    /// reports nothing more to free.
    pub fn disconnect<X: XsPlatform>(
        &mut self,
        xs: &mut Xenstore<X>,
        timeout_ns: u64,
    ) -> Result<DisconnectReport, NetError> {
        if self.released {
            return Ok(DisconnectReport::default());
        }
        let dir = self.dir.clone();
        let backend = self.backend.clone();
        xenbus::switch_state(xs, &dir, XenbusState::Closing)?;
        let st = xenbus::wait_for_state(
            xs,
            &backend,
            |s| {
                matches!(
                    s,
                    XenbusState::Closing
                        | XenbusState::Closed
                        | XenbusState::Unknown
                        | XenbusState::InitWait
                )
            },
            timeout_ns,
        )
        .ok();
        xenbus::switch_state(xs, &dir, XenbusState::Closed)?;
        // The back end unmaps the rings when it sees Closed; give it the time to.
        let st2 = xenbus::wait_for_state(
            xs,
            &backend,
            |s| {
                matches!(
                    s,
                    XenbusState::Closed | XenbusState::Unknown | XenbusState::InitWait
                )
            },
            timeout_ns,
        )
        .ok();
        let mut rep = self.release_all();
        self.released = true;
        rep.backend_state = st2.or(st);
        Ok(rep)
    }
}

impl<P: NetPlatform> Netfront<P> {
    /// A description of the device for the boot log.
    pub fn describe(&self) -> String {
        let m = self.mac;
        let ev = match self.evtchn {
            EventChannels::Shared(p) => format!("event channel {p}"),
            EventChannels::Split { tx, rx } => format!("split event channels tx {tx} rx {rx}"),
        };
        format!(
            "{}: mac {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, backend dom{} {}, {}, rx/tx buffers {}/{} pre-granted{}",
            self.dir,
            m[0],
            m[1],
            m[2],
            m[3],
            m[4],
            m[5],
            self.backend_id,
            self.backend,
            ev,
            self.rx_bufs.len(),
            self.tx_bufs.len(),
            if self.sg { ", scatter-gather" } else { "" }
        )
    }
}
