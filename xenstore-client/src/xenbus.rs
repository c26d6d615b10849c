//! XenBus handshake helpers for front ends: the `state` nodes of io/xenbus.h.
//!
//! A front end at `device/<type>/<n>` finds its back end through the `backend` node, writes its
//! own `state`, and waits for the back end's. Waiting always goes through a watch on the other
//! end's `state` and re-reads after every event: a back end that writes its keys late (after
//! our first look) is the normal case, not an error, and a single read races with it.

use alloc::format;
use alloc::string::String;
use core::fmt;
use core::str::FromStr;

use xen_abi::xs_wire::xenbus_state as abi;

use crate::{wire, ProtocolError, Xenstore, XsErrno, XsError, XsPlatform};

/// `enum xenbus_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum XenbusState {
    Unknown = abi::UNKNOWN,
    Initialising = abi::INITIALISING,
    /// Finished early initialisation, waiting for the peer or hotplug scripts.
    InitWait = abi::INIT_WAIT,
    /// Waiting for a connection from the peer.
    Initialised = abi::INITIALISED,
    Connected = abi::CONNECTED,
    /// Being closed because of an error or an unplug.
    Closing = abi::CLOSING,
    Closed = abi::CLOSED,
    Reconfiguring = abi::RECONFIGURING,
    Reconfigured = abi::RECONFIGURED,
}

impl XenbusState {
    const ALL: [XenbusState; 9] = [
        XenbusState::Unknown,
        XenbusState::Initialising,
        XenbusState::InitWait,
        XenbusState::Initialised,
        XenbusState::Connected,
        XenbusState::Closing,
        XenbusState::Closed,
        XenbusState::Reconfiguring,
        XenbusState::Reconfigured,
    ];

    pub fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.get(v as usize).copied()
    }

    /// Parses a `state` node's value (decimal; surrounding whitespace and a trailing NUL are
    /// tolerated).
    pub fn parse(value: &[u8]) -> Option<Self> {
        wire::parse_decimal_value(value)
            .and_then(|v| u32::try_from(v).ok())
            .and_then(Self::from_u32)
    }

    /// The name, as in io/xenbus.h without the `XenbusState` prefix.
    pub fn name(self) -> &'static str {
        match self {
            XenbusState::Unknown => "Unknown",
            XenbusState::Initialising => "Initialising",
            XenbusState::InitWait => "InitWait",
            XenbusState::Initialised => "Initialised",
            XenbusState::Connected => "Connected",
            XenbusState::Closing => "Closing",
            XenbusState::Closed => "Closed",
            XenbusState::Reconfiguring => "Reconfiguring",
            XenbusState::Reconfigured => "Reconfigured",
        }
    }
}

/// `Connected (4)`.
impl fmt::Display for XenbusState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), *self as u32)
    }
}

/// Parses the number a `state` node holds (`"4"`) or a name (`"Connected"`).
impl FromStr for XenbusState {
    type Err = ProtocolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
            .or_else(|| Self::ALL.iter().copied().find(|st| st.name() == s.trim()))
            .ok_or(ProtocolError::BadNumber)
    }
}

fn state_path(dir: &str) -> String {
    format!("{}/state", dir.trim_end_matches('/'))
}

/// The back end's directory of the front end at `frontend` (e.g. `device/vif/0`): the value
/// of its `backend` node, e.g. `/local/domain/0/backend/vif/5/0`.
pub fn backend_path<P: XsPlatform>(
    xs: &mut Xenstore<P>,
    frontend: &str,
) -> Result<String, XsError> {
    let path = xs.read(&format!("{}/backend", frontend.trim_end_matches('/')))?;
    let path = String::from(path.trim_end_matches('\0'));
    if path.is_empty() {
        return Err(ProtocolError::NotNulTerminated.into());
    }
    Ok(path)
}

/// The state of the device whose directory is `dir`; a missing `state` node is
/// [`XenbusState::Unknown`] (the other end has not written it yet).
pub fn read_state<P: XsPlatform>(xs: &mut Xenstore<P>, dir: &str) -> Result<XenbusState, XsError> {
    match xs.read_bytes(&state_path(dir)) {
        Ok(v) => XenbusState::parse(&v).ok_or(ProtocolError::BadNumber.into()),
        Err(XsError::Errno(XsErrno::ENOENT)) => Ok(XenbusState::Unknown),
        Err(e) => Err(e),
    }
}

/// Switches our end (directory `dir`, e.g. `device/vif/0`) to `state`, in a transaction that
/// does not write when the state is already `state` (so a watch on it does not fire for
/// nothing).
pub fn switch_state<P: XsPlatform>(
    xs: &mut Xenstore<P>,
    dir: &str,
    state: XenbusState,
) -> Result<(), XsError> {
    let path = state_path(dir);
    let value = format!("{}", state as u32);
    xs.transaction(|t| {
        match t.read_bytes(&path) {
            Ok(v) if XenbusState::parse(&v) == Some(state) => return Ok(()),
            Ok(_) | Err(XsError::Errno(XsErrno::ENOENT)) => {}
            Err(e) => return Err(e),
        }
        t.write(&path, value.as_bytes())
    })
}

/// Waits until the `state` of the device directory `dir` (usually the other end's, from
/// [`backend_path`]) satisfies `pred`, and returns it. Registers a watch on the `state` node,
/// re-reads it after every event (the first event comes with the registration), and removes
/// the watch before returning, also on error. A missing node reads as
/// [`XenbusState::Unknown`]; a value that is not a state is an error. Fails with
/// [`XsError::Timeout`] after `timeout_ns`.
pub fn wait_for_state<P: XsPlatform>(
    xs: &mut Xenstore<P>,
    dir: &str,
    mut pred: impl FnMut(XenbusState) -> bool,
    timeout_ns: u64,
) -> Result<XenbusState, XsError> {
    let path = state_path(dir);
    let token = xs.unique_token("xenbus-wait");
    let deadline = xs.platform().now_ns().saturating_add(timeout_ns);
    xs.watch(&path, &token)?;
    let result = (|| loop {
        // Read after registering the watch: a change between the read and the wait fires an
        // event, so none is missed.
        let state = read_state(xs, dir)?;
        if pred(state) {
            return Ok(state);
        }
        let left = deadline.saturating_sub(xs.platform().now_ns());
        if left == 0 {
            return Err(XsError::Timeout);
        }
        xs.next_watch_event_for(&token, left)?;
    })();
    let unwatched = xs.unwatch(&path, &token);
    match (result, unwatched) {
        (Ok(state), Ok(())) => Ok(state),
        (Err(e), _) | (Ok(_), Err(e)) => Err(e),
    }
}
