//! The network device interface of io/netif.h: the tx and rx ring entries, their flags and
//! status codes, and the extra-info descriptor.
//!
//! Ring entries are not shared memory by themselves: they are copied in and out of the ring's
//! 32-bit slots (xen-ring's `sring`), so they are plain values here. Their layout is the C
//! layout (checked by `tests/layout.rs`), and the word encoding used by the ring follows it.

use crate::{assert_offset, assert_size};

/// `NETTXF_csum_blank`: the protocol checksum field is blank (checksum offload).
pub const NETTXF_CSUM_BLANK: u16 = 1 << 0;
/// `NETTXF_data_validated`: the packet data has been validated against its checksum.
pub const NETTXF_DATA_VALIDATED: u16 = 1 << 1;
/// `NETTXF_more_data`: the packet continues in the next request.
pub const NETTXF_MORE_DATA: u16 = 1 << 2;
/// `NETTXF_extra_info`: the request is followed by extra-info descriptors.
pub const NETTXF_EXTRA_INFO: u16 = 1 << 3;

/// `NETRXF_data_validated`.
pub const NETRXF_DATA_VALIDATED: u16 = 1 << 0;
/// `NETRXF_csum_blank`: the checksum field is blank (only if the front end offered offload).
pub const NETRXF_CSUM_BLANK: u16 = 1 << 1;
/// `NETRXF_more_data`: the packet continues in the next response.
pub const NETRXF_MORE_DATA: u16 = 1 << 2;
/// `NETRXF_extra_info`: the response is followed by an extra-info slot.
pub const NETRXF_EXTRA_INFO: u16 = 1 << 3;
/// `NETRXF_gso_prefix`: a GSO prefix descriptor (only if the front end asked for it).
pub const NETRXF_GSO_PREFIX: u16 = 1 << 4;

/// `NETIF_RSP_DROPPED`: the packet was dropped.
pub const NETIF_RSP_DROPPED: i16 = -2;
/// `NETIF_RSP_ERROR`: the request was malformed or could not be served.
pub const NETIF_RSP_ERROR: i16 = -1;
/// `NETIF_RSP_OKAY`.
pub const NETIF_RSP_OKAY: i16 = 0;
/// `NETIF_RSP_NULL`: the response to an extra-info slot (no packet).
pub const NETIF_RSP_NULL: i16 = 1;

/// `XEN_NETIF_EXTRA_TYPE_NONE` (never used).
pub const XEN_NETIF_EXTRA_TYPE_NONE: u8 = 0;
/// `XEN_NETIF_EXTRA_TYPE_GSO`.
pub const XEN_NETIF_EXTRA_TYPE_GSO: u8 = 1;
/// `XEN_NETIF_EXTRA_TYPE_MCAST_ADD`.
pub const XEN_NETIF_EXTRA_TYPE_MCAST_ADD: u8 = 2;
/// `XEN_NETIF_EXTRA_TYPE_MCAST_DEL`.
pub const XEN_NETIF_EXTRA_TYPE_MCAST_DEL: u8 = 3;
/// `XEN_NETIF_EXTRA_TYPE_HASH`.
pub const XEN_NETIF_EXTRA_TYPE_HASH: u8 = 4;
/// `XEN_NETIF_EXTRA_TYPE_MAX`.
pub const XEN_NETIF_EXTRA_TYPE_MAX: u8 = 5;
/// `XEN_NETIF_EXTRA_FLAG_MORE`: another extra-info descriptor follows.
pub const XEN_NETIF_EXTRA_FLAG_MORE: u8 = 1 << 0;

/// `XEN_NETIF_NR_SLOTS_MIN`: slots of one packet a back end must accept at least.
pub const XEN_NETIF_NR_SLOTS_MIN: usize = 18;
/// `XEN_NETIF_MAX_TX_SIZE`: the largest packet the tx protocol can describe.
pub const XEN_NETIF_MAX_TX_SIZE: usize = 0xffff;

/// `struct netif_tx_request`: one slot of a packet to send.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetifTxRequest {
    /// Grant reference of the page holding the data.
    pub gref: u32,
    /// Offset of the data within the page.
    pub offset: u16,
    /// `NETTXF_*`.
    pub flags: u16,
    /// Echoed in the response.
    pub id: u16,
    /// The first slot: the size of the whole packet; the others: the size of their data.
    pub size: u16,
}
assert_size!(NetifTxRequest, 12);
assert_offset!(NetifTxRequest, gref, 0);
assert_offset!(NetifTxRequest, offset, 4);
assert_offset!(NetifTxRequest, flags, 6);
assert_offset!(NetifTxRequest, id, 8);
assert_offset!(NetifTxRequest, size, 10);

/// `struct netif_extra_info`: type, flags and the 6 bytes of the union (GSO, multicast, hash),
/// kept raw. Aligned to 2 like the C union (whose members hold `uint16_t`s).
#[repr(C, align(2))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetifExtraInfo {
    /// `XEN_NETIF_EXTRA_TYPE_*`.
    pub ty: u8,
    /// `XEN_NETIF_EXTRA_FLAG_*`.
    pub flags: u8,
    /// The union `u` (its largest members are 6 bytes: `pad[3]`, `mcast.addr`).
    pub u: [u8; 6],
}
assert_size!(NetifExtraInfo, 8);
assert_offset!(NetifExtraInfo, ty, 0);
assert_offset!(NetifExtraInfo, flags, 1);
assert_offset!(NetifExtraInfo, u, 2);

/// `struct netif_tx_response`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetifTxResponse {
    pub id: u16,
    /// `NETIF_RSP_*`.
    pub status: i16,
}
assert_size!(NetifTxResponse, 4);
assert_offset!(NetifTxResponse, id, 0);
assert_offset!(NetifTxResponse, status, 2);

/// `struct netif_rx_request`: an empty page for the back end to copy a packet into.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetifRxRequest {
    /// Echoed in the response.
    pub id: u16,
    pub pad: u16,
    /// Grant reference of the page (writable by the back end).
    pub gref: u32,
}
assert_size!(NetifRxRequest, 8);
assert_offset!(NetifRxRequest, id, 0);
assert_offset!(NetifRxRequest, pad, 2);
assert_offset!(NetifRxRequest, gref, 4);

/// `struct netif_rx_response`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetifRxResponse {
    pub id: u16,
    /// Offset of the data in the page.
    pub offset: u16,
    /// `NETRXF_*`.
    pub flags: u16,
    /// Negative: `NETIF_RSP_*` error; otherwise the size of the data in this slot.
    pub status: i16,
}
assert_size!(NetifRxResponse, 8);
assert_offset!(NetifRxResponse, id, 0);
assert_offset!(NetifRxResponse, offset, 2);
assert_offset!(NetifRxResponse, flags, 4);
assert_offset!(NetifRxResponse, status, 6);
