//! The xenstore wire protocol and ring page (io/xs_wire.h), plus the `XenbusState` values of
//! io/xenbus.h that front and back ends write into xenstore.
//!
//! The ring page is shared with xenstored, which writes `rsp`, `rsp_prod` and `req_cons` while
//! we read them: it is typed with atomics. The message header [`XsdSockmsg`] is not shared
//! memory: it travels through the byte rings, so it is a plain value with byte conversions.

use core::sync::atomic::{AtomicU32, AtomicU8};

use crate::{assert_offset, assert_size};

/// `enum xsd_sockmsg_type`: the `type` of a message.
pub const XS_CONTROL: u32 = 0;
/// Old name of [`XS_CONTROL`].
pub const XS_DEBUG: u32 = XS_CONTROL;
pub const XS_DIRECTORY: u32 = 1;
pub const XS_READ: u32 = 2;
pub const XS_GET_PERMS: u32 = 3;
pub const XS_WATCH: u32 = 4;
pub const XS_UNWATCH: u32 = 5;
pub const XS_TRANSACTION_START: u32 = 6;
pub const XS_TRANSACTION_END: u32 = 7;
pub const XS_INTRODUCE: u32 = 8;
pub const XS_RELEASE: u32 = 9;
pub const XS_GET_DOMAIN_PATH: u32 = 10;
pub const XS_WRITE: u32 = 11;
pub const XS_MKDIR: u32 = 12;
pub const XS_RM: u32 = 13;
pub const XS_SET_PERMS: u32 = 14;
/// An asynchronous watch event (not a reply): payload `path\0token\0`.
pub const XS_WATCH_EVENT: u32 = 15;
/// An error reply: payload is the errno name, e.g. `ENOENT\0`.
pub const XS_ERROR: u32 = 16;
pub const XS_IS_DOMAIN_INTRODUCED: u32 = 17;
pub const XS_RESUME: u32 = 18;
pub const XS_SET_TARGET: u32 = 19;
// 20 was XS_RESTRICT, removed.
pub const XS_RESET_WATCHES: u32 = 21;
pub const XS_DIRECTORY_PART: u32 = 22;
/// Number of valid types.
pub const XS_TYPE_COUNT: u32 = 23;
/// Guaranteed to remain an invalid type.
pub const XS_INVALID: u32 = 0xffff;

/// `enum xs_watch_type`: index of the path in a watch event's strings.
pub const XS_WATCH_PATH: u32 = 0;
/// `enum xs_watch_type`: index of the token in a watch event's strings.
pub const XS_WATCH_TOKEN: u32 = 1;

/// Size of each of the two byte rings of the page.
pub const XENSTORE_RING_SIZE: usize = 1024;
/// Largest payload (`len`) of a message in either direction. "Violating this is very bad."
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;
/// Longest absolute path xenstored accepts.
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;
/// Longest relative path xenstored accepts.
pub const XENSTORE_REL_PATH_MAX: usize = 2048;

/// `server_features` bit: the ring can be reconnected.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
/// `server_features` bit: the `error` field is present.
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;

/// `connection`: the steady state.
pub const XENSTORE_CONNECTED: u32 = 0;
/// `connection`: a reconnection is in progress.
pub const XENSTORE_RECONNECT: u32 = 1;

/// `error`: no error.
pub const XENSTORE_ERROR_NONE: u32 = 0;
/// `error`: communication problem.
pub const XENSTORE_ERROR_COMM: u32 = 1;
/// `error`: invalid ring index.
pub const XENSTORE_ERROR_RINGIDX: u32 = 2;
/// `error`: protocol violation (payload too long).
pub const XENSTORE_ERROR_PROTO: u32 = 3;

/// `enum xenbus_state` (io/xenbus.h): the values of a device's `state` node.
pub mod xenbus_state {
    pub const UNKNOWN: u32 = 0;
    pub const INITIALISING: u32 = 1;
    /// Finished early initialisation, waiting for the peer or hotplug scripts.
    pub const INIT_WAIT: u32 = 2;
    /// Waiting for a connection from the peer.
    pub const INITIALISED: u32 = 3;
    pub const CONNECTED: u32 = 4;
    /// Being closed because of an error or an unplug.
    pub const CLOSING: u32 = 5;
    pub const CLOSED: u32 = 6;
    pub const RECONFIGURING: u32 = 7;
    pub const RECONFIGURED: u32 = 8;
}

/// `struct xsd_sockmsg`: the header before every message's payload, in native byte order.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XsdSockmsg {
    /// `XS_*`.
    pub ty: u32,
    /// Request identifier, echoed in the daemon's response.
    pub req_id: u32,
    /// Transaction id (0 if not in a transaction).
    pub tx_id: u32,
    /// Length of the payload that follows.
    pub len: u32,
}
assert_size!(XsdSockmsg, 16);
assert_offset!(XsdSockmsg, ty, 0);
assert_offset!(XsdSockmsg, req_id, 4);
assert_offset!(XsdSockmsg, tx_id, 8);
assert_offset!(XsdSockmsg, len, 12);

impl XsdSockmsg {
    /// The header as it travels through the ring.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&self.ty.to_ne_bytes());
        b[4..8].copy_from_slice(&self.req_id.to_ne_bytes());
        b[8..12].copy_from_slice(&self.tx_id.to_ne_bytes());
        b[12..16].copy_from_slice(&self.len.to_ne_bytes());
        b
    }

    /// A header read from the ring. Any 16 bytes are a header; whether its fields make sense
    /// is for the protocol code to check.
    pub fn from_bytes(b: &[u8; 16]) -> Self {
        let word = |i: usize| u32::from_ne_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Self {
            ty: word(0),
            req_id: word(4),
            tx_id: word(8),
            len: word(12),
        }
    }
}

/// `struct xenstore_domain_interface`: the xenstore ring page (`start_info.store_mfn`).
/// Indices are free-running and masked with [`XENSTORE_RING_SIZE`].
#[repr(C)]
#[derive(Debug)]
pub struct XenstoreDomainInterface {
    /// Requests to xenstored (we produce).
    pub req: [AtomicU8; XENSTORE_RING_SIZE],
    /// Replies and watch events (xenstored produces).
    pub rsp: [AtomicU8; XENSTORE_RING_SIZE],
    pub req_cons: AtomicU32,
    pub req_prod: AtomicU32,
    pub rsp_cons: AtomicU32,
    pub rsp_prod: AtomicU32,
    /// `XENSTORE_SERVER_FEATURE_*` bits.
    pub server_features: AtomicU32,
    /// `XENSTORE_CONNECTED` or `XENSTORE_RECONNECT`.
    pub connection: AtomicU32,
    /// `XENSTORE_ERROR_*`.
    pub error: AtomicU32,
}
assert_size!(XenstoreDomainInterface, 2076);
assert_offset!(XenstoreDomainInterface, rsp, 1024);
assert_offset!(XenstoreDomainInterface, req_cons, 2048);
assert_offset!(XenstoreDomainInterface, req_prod, 2052);
assert_offset!(XenstoreDomainInterface, rsp_cons, 2056);
assert_offset!(XenstoreDomainInterface, rsp_prod, 2060);
assert_offset!(XenstoreDomainInterface, server_features, 2064);
assert_offset!(XenstoreDomainInterface, connection, 2068);
assert_offset!(XenstoreDomainInterface, error, 2072);

impl XenstoreDomainInterface {
    /// A zeroed page (for host tests and fakes).
    pub const fn new() -> Self {
        Self {
            req: [const { AtomicU8::new(0) }; XENSTORE_RING_SIZE],
            rsp: [const { AtomicU8::new(0) }; XENSTORE_RING_SIZE],
            req_cons: AtomicU32::new(0),
            req_prod: AtomicU32::new(0),
            rsp_cons: AtomicU32::new(0),
            rsp_prod: AtomicU32::new(0),
            server_features: AtomicU32::new(0),
            connection: AtomicU32::new(0),
            error: AtomicU32::new(0),
        }
    }
}

impl Default for XenstoreDomainInterface {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_through_bytes() {
        let h = XsdSockmsg {
            ty: XS_WRITE,
            req_id: 0x1234_5678,
            tx_id: 9,
            len: 4096,
        };
        assert_eq!(XsdSockmsg::from_bytes(&h.to_bytes()), h);
        assert_eq!(&h.to_bytes()[0..4], &XS_WRITE.to_ne_bytes());
    }
}
