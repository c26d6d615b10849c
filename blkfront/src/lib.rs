//! The Xen block front end (io/blkif.h) of Mini-OS in Rust.
//!
//! [`BlkFront::connect`] performs the XenBus handshake with the back end (blkback in dom0):
//! a one-page ring (`ring-ref`) or, when the back end offers `max-ring-page-order`, a
//! multi-page ring (`ring-page-order`, `ring-ref0..N`), an event channel, the `protocol`;
//! then it reads the disk's size, sector size, `info` flags (read-only, ...) and features
//! (`feature-flush-cache`, `feature-barrier`, `feature-max-indirect-segments`).
//!
//! [`BlkFront::read`], [`BlkFront::write`] and [`BlkFront::flush`] transfer any range of
//! sectors: the range is split into requests of up to 11 segments (or, with indirect
//! descriptors, up to [`Options::max_indirect_segments`]), each segment a 4 KiB bounce page
//! with its own grant, granted for the request only. As many requests as the ring, the grant
//! table and the page budget allow are in flight at once.
//!
//! Everything the front end needs from the platform is [`BlkPlatform`] (pages, grants, the
//! event channel, a clock). The code is `#![forbid(unsafe_code)]` and runs unchanged on the
//! host, where [`mock`] (feature `test-utils`) provides a platform and a mock blkback that
//! serves the ring, with hostile modes.
//!
//! # Untrusted back end
//! A response with an unknown or stale id is dropped and counted; one with the wrong
//! operation or a status outside the protocol fails its request with
//! [`BlkError::BadResponse`] (counted); ring indices that claim more responses than requests
//! outstanding break the device ([`BlkError::RingCorrupt`]). When a request completes, its
//! grants are ended; a page whose grant the back end still holds mapped is never reused
//! (it is quarantined and counted in [`BlkStats::quarantined_pages`]). Nothing panics.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod front;
pub mod slot;

#[cfg(feature = "test-utils")]
pub mod mock;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::AtomicU32;

pub use front::{BlkFront, DiskInfo, Options};
pub use gnttab::GntError;
pub use xenstore_client::XsError;

/// The `protocol` node value for the x86_64 ABI (`XEN_IO_PROTO_ABI_X86_64`).
pub const PROTOCOL_X86_64: &str = "x86_64-abi";
/// Largest ring we set up: 2^4 = 16 pages (`XENBUS_MAX_RING_GRANT_ORDER` of Linux).
pub const MAX_RING_PAGE_ORDER: u32 = 4;
/// Segment descriptors per indirect page (4096 / 8).
pub const SEGS_PER_INDIRECT_FRAME: usize = 512;
/// Bytes of a page, and of a segment at most.
pub const PAGE_BYTES: usize = 4096;
/// The unit of every sector quantity in the protocol.
pub const SECTOR_BYTES: usize = 512;

/// What the front end needs from the platform. The guest implements it with the kernel's
/// page allocator, grant table and event channels; [`mock`] implements it for host tests.
pub trait BlkPlatform {
    /// A 4 KiB page of our memory (bounce buffers, indirect descriptor pages).
    type Page;
    /// A zeroed page, or `None` when memory is exhausted.
    fn alloc_page(&mut self) -> Option<Self::Page>;
    /// Returns a page that is not granted (any more).
    fn free_page(&mut self, page: Self::Page);
    /// The frame number to grant `page` by (the MFN for a PV guest).
    fn frame(&self, page: &Self::Page) -> u64;
    /// Copies `data` into `page` at `offset`.
    fn write_page(&mut self, page: &mut Self::Page, offset: usize, data: &[u8]);
    /// Copies from `page` at `offset` into `out`.
    fn read_page(&self, page: &Self::Page, offset: usize, out: &mut [u8]);
    /// `pages` page-aligned, contiguous, zeroed pages for the shared ring, as words, and the
    /// frame of each page. The ring lives as long as the front end (it is never freed).
    fn alloc_ring(&mut self, pages: usize) -> Option<(&'static [AtomicU32], Vec<u64>)>;
    /// Grants domain `domid` access to `frame`.
    fn grant(&mut self, domid: u16, frame: u64, readonly: bool) -> Result<u32, GntError>;
    /// Ends a grant; `Err(StillInUse)` while the grantee has the frame mapped.
    fn end_grant(&mut self, gref: u32) -> Result<(), GntError>;
    /// Allocates an unbound event channel for domain `remote` to bind to; returns its port.
    /// Events on it must make [`BlkPlatform::wait_event`] return.
    fn bind_event(&mut self, remote: u16) -> Result<u32, String>;
    /// Notifies the back end over `port`.
    fn notify(&mut self, port: u32);
    /// Blocks until the event channel fired since the last call or `deadline_ns` passed;
    /// returns false on timeout. Never spins.
    fn wait_event(&mut self, deadline_ns: u64) -> bool;
    /// Monotonic nanoseconds.
    fn now_ns(&self) -> u64;
}

/// Why a block operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlkError {
    /// Xenstore failed during the handshake.
    Xenstore(XsError),
    /// The back end published a value the protocol does not allow (node, reason).
    BadBackend(String, &'static str),
    /// The back end went to `Closing`/`Closed` (or an unexpected state) during the handshake.
    BackendState(&'static str),
    /// The event channel could not be set up.
    EventChannel(String),
    /// No memory for the ring or a bounce page.
    NoMemory,
    /// A grant-table operation failed (e.g. exhausted with nothing in flight to wait for).
    Grant(GntError),
    /// The range is outside the disk, or not aligned to the sector size.
    OutOfRange,
    /// A buffer whose length is not a multiple of the sector size.
    Unaligned,
    /// The disk is read-only (`info` has `VDISK_READONLY`): writes are refused.
    ReadOnly,
    /// The back end offers neither flush nor barrier, or answered `BLKIF_RSP_EOPNOTSUPP`.
    NotSupported,
    /// The back end answered `BLKIF_RSP_ERROR` (an I/O error).
    Io,
    /// A response that breaks the protocol: wrong operation or unknown status.
    BadResponse(&'static str),
    /// The back end corrupted the ring indices; the device is unusable.
    RingCorrupt,
    /// No response before the deadline; the device is unusable.
    Timeout,
    /// An earlier ring corruption or timeout broke the device.
    Broken,
}

impl fmt::Display for BlkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlkError::Xenstore(e) => write!(f, "blkfront: {e}"),
            BlkError::BadBackend(node, why) => write!(f, "blkfront: backend node {node}: {why}"),
            BlkError::BackendState(s) => write!(f, "blkfront: backend {s}"),
            BlkError::EventChannel(e) => write!(f, "blkfront: event channel: {e}"),
            BlkError::NoMemory => f.write_str("blkfront: out of memory"),
            BlkError::Grant(e) => write!(f, "blkfront: {e}"),
            BlkError::OutOfRange => f.write_str("blkfront: sector range outside the disk"),
            BlkError::Unaligned => {
                f.write_str("blkfront: length not a multiple of the sector size")
            }
            BlkError::ReadOnly => f.write_str("blkfront: the disk is read-only"),
            BlkError::NotSupported => {
                f.write_str("blkfront: operation not supported by the backend")
            }
            BlkError::Io => f.write_str("blkfront: I/O error reported by the backend"),
            BlkError::BadResponse(why) => {
                write!(f, "blkfront: bad response from the backend: {why}")
            }
            BlkError::RingCorrupt => f.write_str("blkfront: backend corrupted the ring indices"),
            BlkError::Timeout => f.write_str("blkfront: backend did not answer in time"),
            BlkError::Broken => f.write_str("blkfront: device unusable after an earlier fault"),
        }
    }
}

impl core::error::Error for BlkError {}

impl From<XsError> for BlkError {
    fn from(e: XsError) -> Self {
        BlkError::Xenstore(e)
    }
}

/// Counters of what the front end did and what the back end got wrong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlkStats {
    /// Requests pushed on the ring.
    pub requests: u64,
    /// Of which indirect.
    pub indirect_requests: u64,
    /// Data segments (pages) granted.
    pub segments: u64,
    /// Responses taken from the ring (valid or not).
    pub responses: u64,
    /// Requests answered with `BLKIF_RSP_ERROR` or `BLKIF_RSP_EOPNOTSUPP`.
    pub error_responses: u64,
    /// Responses with an id not in flight (dropped).
    pub unknown_id: u64,
    /// Responses whose operation is not the request's (request failed).
    pub bad_operation: u64,
    /// Responses with a status outside the protocol (request failed).
    pub bad_status: u64,
    /// Pages kept out of use because the back end still had them mapped.
    pub quarantined_pages: u64,
    /// Times submission waited for the ring, grants or pages to free up.
    pub resource_waits: u64,
    /// Most requests in flight at once.
    pub max_in_flight: u32,
    /// Event-channel notifications sent.
    pub notifies: u64,
}
