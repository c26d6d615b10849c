//! A xenstore client for Mini-OS in Rust: the wire protocol of io/xs_wire.h over the xenstore
//! ring page, with request ids, several outstanding requests, watches and transactions, and
//! the XenBus handshake helpers front ends need.
//!
//! The same code runs in the guest and on the host: everything it needs from the platform is
//! [`XsPlatform`] (notify xenstored, block on the store event channel, read a clock). Under the
//! `test-utils` feature, [`fake::FakeXenstored`] serves the other side of the ring in host tests.
//!
//! A front end's handshake (here against the fake; in the guest, `ring` is the page at
//! `start_info.store_mfn` and `platform` waits on `start_info.store_evtchn`):
//!
//! ```
//! # use xenstore_client::{fake::FakeXenstored, xenbus, XenbusState, Xenstore, XsError};
//! # fn main() -> Result<(), XsError> {
//! # let fake = FakeXenstored::new();
//! # let (_, be) = fake.add_device("vif", 0);
//! # fake.write_as(0, &format!("{be}/state"), b"4").unwrap();
//! # let (ring, platform) = (fake.ring(), &fake);
//! let mut xs = Xenstore::new(ring, platform);
//! let backend = xenbus::backend_path(&mut xs, "device/vif/0")?;
//! xenbus::switch_state(&mut xs, "device/vif/0", XenbusState::Initialised)?;
//! let connected = |s| s == XenbusState::Connected;
//! let state = xenbus::wait_for_state(&mut xs, &backend, connected, 5_000_000_000)?;
//! assert_eq!(state, XenbusState::Connected);
//! # Ok(())
//! # }
//! ```
//!
//! # Untrusted input
//! Everything xenstored sends is checked: a reply over `XENSTORE_PAYLOAD_MAX`, an unknown
//! request id or message type, a string that is not UTF-8 or not NUL-terminated, or corrupt
//! ring indices is an [`XsError`] for the request concerned (or, for a message nobody waits
//! for, a count in [`XsStats`]), never a panic; an oversized message is skipped by its announced
//! length so that later replies still frame correctly. Every wait has a deadline.
//!
//! # Fuzzing
//! `fuzz/` (cargo-fuzz, outside the workspace) has the target `xs_reply`, which feeds arbitrary
//! bytes through the response ring and the reply parsers:
//!
//! ```text
//! cd fuzz && cargo +nightly fuzz run xs_reply -- -max_total_time=60
//! ```
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod client;
mod error;
pub mod wire;
pub mod xenbus;

#[cfg(feature = "test-utils")]
pub mod fake;

pub use client::{
    Reply, RequestId, Transaction, Xenstore, XsStats, DEFAULT_TIMEOUT_NS, MAX_OUTSTANDING,
    MAX_QUEUED_EVENTS, MAX_TRANSACTION_ATTEMPTS,
};
pub use error::{ProtocolError, XsErrno, XsError};
pub use wire::{MsgType, Perm, PermKind, Request, TxId, WatchEvent};
pub use xenbus::XenbusState;

/// What the client needs from the platform: the store event channel and a clock.
pub trait XsPlatform {
    /// Notify xenstored (EVTCHNOP_send on the store port).
    fn notify(&self) -> Result<(), xen_hal::XenError>;
    /// Block until the store event channel has fired since the last call, or until
    /// `deadline_ns` (monotonic ns from `now_ns`). Returns false on timeout. Never spins.
    fn wait_event(&self, deadline_ns: u64) -> bool;
    fn now_ns(&self) -> u64;
}

impl<T: XsPlatform + ?Sized> XsPlatform for &T {
    fn notify(&self) -> Result<(), xen_hal::XenError> {
        (**self).notify()
    }
    fn wait_event(&self, deadline_ns: u64) -> bool {
        (**self).wait_event(deadline_ns)
    }
    fn now_ns(&self) -> u64 {
        (**self).now_ns()
    }
}
