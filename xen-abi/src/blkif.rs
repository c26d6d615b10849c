//! The block device protocol of io/blkif.h: ring entries, operations, status codes and the
//! `info` flags a back end publishes in xenstore.
//!
//! Ring entries are not read in place: the ring code (xen-ring's `Slot`) copies a slot out of
//! shared memory into a local value before looking at it, so these are plain `#[repr(C)]`
//! values whose layout is the C one (checked by `tests/layout.rs`).
//!
//! Every sector quantity (`sector_number`, `first_sect`, `last_sect`, the back end's
//! `sectors` node) is in 512-byte units unless the front end advertises
//! `feature-large-sector-size`, which Linux's blkback does not implement.

use crate::{assert_offset, assert_size};

/// `BLKIF_OP_READ`: read sectors into the granted segments.
pub const BLKIF_OP_READ: u8 = 0;
/// `BLKIF_OP_WRITE`: write the granted segments to disk.
pub const BLKIF_OP_WRITE: u8 = 1;
/// `BLKIF_OP_WRITE_BARRIER` (with `feature-barrier`).
pub const BLKIF_OP_WRITE_BARRIER: u8 = 2;
/// `BLKIF_OP_FLUSH_DISKCACHE` (with `feature-flush-cache`); may carry no segments.
pub const BLKIF_OP_FLUSH_DISKCACHE: u8 = 3;
/// `BLKIF_OP_RESERVED_1`: reserved (was a vendor extension).
pub const BLKIF_OP_RESERVED_1: u8 = 4;
/// `BLKIF_OP_DISCARD` (with `feature-discard`).
pub const BLKIF_OP_DISCARD: u8 = 5;
/// `BLKIF_OP_INDIRECT` (with `feature-max-indirect-segments`).
pub const BLKIF_OP_INDIRECT: u8 = 6;

/// Segments of a direct request.
pub const BLKIF_MAX_SEGMENTS_PER_REQUEST: usize = 11;
/// Indirect pages (of segment descriptors) per indirect request.
pub const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST: usize = 8;

/// `blkif_request_discard.flag`: the discarded data must become unrecoverable.
pub const BLKIF_DISCARD_SECURE: u8 = 1;

/// Status: operation not supported (barrier or flush the back end cannot do).
pub const BLKIF_RSP_EOPNOTSUPP: i16 = -2;
/// Status: the operation failed (an I/O error).
pub const BLKIF_RSP_ERROR: i16 = -1;
/// Status: the operation succeeded.
pub const BLKIF_RSP_OKAY: i16 = 0;

/// Back end `info` bit: a CD-ROM.
pub const VDISK_CDROM: u32 = 0x1;
/// Back end `info` bit: removable media.
pub const VDISK_REMOVABLE: u32 = 0x2;
/// Back end `info` bit: read-only; writes must not be issued.
pub const VDISK_READONLY: u32 = 0x4;

/// `sizeof(union blkif_sring_entry)`: a ring slot (the request is the larger member).
pub const BLKIF_SRING_ENTRY_BYTES: usize = 112;
/// `__CONST_RING_SIZE(blkif, 4096)`: entries of a one-page blkif ring.
pub const BLKIF_RING_SIZE_ONE_PAGE: u32 = 32;

/// `struct blkif_request_segment`: one granted page and the 512-byte sectors of it to
/// transfer, `first_sect..=last_sect` (at most 0..=7).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlkifRequestSegment {
    pub gref: u32,
    pub first_sect: u8,
    pub last_sect: u8,
}
assert_size!(BlkifRequestSegment, 8);
assert_offset!(BlkifRequestSegment, first_sect, 4);
assert_offset!(BlkifRequestSegment, last_sect, 5);

/// `struct blkif_request`: a read, write, barrier or flush with up to 11 segments.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlkifRequest {
    pub operation: u8,
    pub nr_segments: u8,
    /// `blkif_vdev_t`: the virtual device (unused by Linux's blkback).
    pub handle: u16,
    /// Echoed in the response.
    pub id: u64,
    /// `blkif_sector_t`: the first 512-byte sector.
    pub sector_number: u64,
    pub seg: [BlkifRequestSegment; BLKIF_MAX_SEGMENTS_PER_REQUEST],
}
assert_size!(BlkifRequest, 112);
assert_offset!(BlkifRequest, nr_segments, 1);
assert_offset!(BlkifRequest, handle, 2);
assert_offset!(BlkifRequest, id, 8);
assert_offset!(BlkifRequest, sector_number, 16);
assert_offset!(BlkifRequest, seg, 24);

/// `struct blkif_request_discard`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlkifRequestDiscard {
    pub operation: u8,
    pub flag: u8,
    pub handle: u16,
    pub id: u64,
    pub sector_number: u64,
    pub nr_sectors: u64,
}
assert_size!(BlkifRequestDiscard, 32);
assert_offset!(BlkifRequestDiscard, id, 8);
assert_offset!(BlkifRequestDiscard, nr_sectors, 24);

/// `struct blkif_request_indirect` (x86_64 layout: no trailing pad): `nr_segments`
/// segment descriptors live in the granted pages `indirect_grefs`, 512 per page.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlkifRequestIndirect {
    pub operation: u8,
    /// `BLKIF_OP_READ` or `BLKIF_OP_WRITE`.
    pub indirect_op: u8,
    pub nr_segments: u16,
    pub id: u64,
    pub sector_number: u64,
    pub handle: u16,
    pub indirect_grefs: [u32; BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST],
}
assert_size!(BlkifRequestIndirect, 64);
assert_offset!(BlkifRequestIndirect, indirect_op, 1);
assert_offset!(BlkifRequestIndirect, nr_segments, 2);
assert_offset!(BlkifRequestIndirect, id, 8);
assert_offset!(BlkifRequestIndirect, sector_number, 16);
assert_offset!(BlkifRequestIndirect, handle, 24);
assert_offset!(BlkifRequestIndirect, indirect_grefs, 28);

/// `struct blkif_response`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlkifResponse {
    /// The request's `id`.
    pub id: u64,
    /// The request's `operation`.
    pub operation: u8,
    /// `BLKIF_RSP_*`.
    pub status: i16,
}
assert_size!(BlkifResponse, 16);
assert_offset!(BlkifResponse, operation, 8);
assert_offset!(BlkifResponse, status, 10);
