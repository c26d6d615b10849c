//! Grant tables, v1 (grant_table.h).

use core::sync::atomic::{AtomicU16, AtomicU32};

use crate::{assert_offset, assert_size};

/// `GNTTABOP_setup_table`.
pub const GNTTABOP_SETUP_TABLE: u32 = 2;
/// `GNTTABOP_query_size`.
pub const GNTTABOP_QUERY_SIZE: u32 = 6;
/// Entries 0..8 are reserved for the toolstack (xenstore and console rings).
pub const GNTTAB_NR_RESERVED_ENTRIES: u32 = 8;
/// `GNTST_okay`.
pub const GNTST_OKAY: i16 = 0;
/// `GNTST_general_error`.
pub const GNTST_GENERAL_ERROR: i16 = -1;
/// `GNTST_bad_domain`.
pub const GNTST_BAD_DOMAIN: i16 = -2;
/// `GNTST_bad_gntref`.
pub const GNTST_BAD_GNTREF: i16 = -3;
/// `GNTST_permission_denied`.
pub const GNTST_PERMISSION_DENIED: i16 = -8;
/// `GNTST_eagain`.
pub const GNTST_EAGAIN: i16 = -12;
/// `GNTST_no_space`.
pub const GNTST_NO_SPACE: i16 = -13;

/// `struct grant_entry_v1`: one entry of a v1 grant-table frame, shared with Xen and the
/// grantee (Xen sets `GTF_reading`/`GTF_writing` in `flags` while the grantee maps the frame).
#[repr(C)]
#[derive(Debug)]
pub struct GrantEntryV1 {
    /// [`crate::GtfFlags`] bits.
    pub flags: AtomicU16,
    /// The domain being granted access.
    pub domid: AtomicU16,
    /// The frame (GFN: MFN for a PV guest) the grantee may access.
    pub frame: AtomicU32,
}
assert_size!(GrantEntryV1, 8);
assert_offset!(GrantEntryV1, domid, 2);
assert_offset!(GrantEntryV1, frame, 4);

/// Entries of one v1 grant-table frame.
pub const GRANT_ENTRIES_V1_PER_FRAME: usize =
    crate::PAGE_SIZE / core::mem::size_of::<GrantEntryV1>();

/// `struct gnttab_setup_table` (interface >= 0x00040300: `frame_list` holds `xen_pfn_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GnttabSetupTable {
    pub dom: u16,
    pub nr_frames: u32,
    /// Out: a `GNTST_*` status.
    pub status: i16,
    /// Guest handle: where Xen writes `nr_frames` frame numbers (`u64` each).
    pub frame_list: u64,
}
assert_size!(GnttabSetupTable, 24);
assert_offset!(GnttabSetupTable, nr_frames, 4);
assert_offset!(GnttabSetupTable, status, 8);
assert_offset!(GnttabSetupTable, frame_list, 16);

/// `struct gnttab_query_size`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct GnttabQuerySize {
    pub dom: u16,
    /// Out: frames in use.
    pub nr_frames: u32,
    /// Out: the most frames the domain may have.
    pub max_nr_frames: u32,
    /// Out: a `GNTST_*` status.
    pub status: i16,
}
assert_size!(GnttabQuerySize, 16);
assert_offset!(GnttabQuerySize, nr_frames, 4);
assert_offset!(GnttabQuerySize, max_nr_frames, 8);
assert_offset!(GnttabQuerySize, status, 12);
