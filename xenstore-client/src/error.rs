//! Errors of the xenstore client.

use core::fmt;

use xen_hal::XenError;
use xen_ring::RingError;

use crate::RequestId;

/// The errors xenstored reports (`XS_ERROR` replies carry the name, e.g. `"ENOENT"`; the table
/// is `xsd_errors` of io/xs_wire.h). [`XsError::Errno`] also carries the few the client
/// raises itself before sending anything (see there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum XsErrno {
    /// Invalid argument (bad path, bad permission string, unknown request type...).
    EINVAL,
    /// Permission denied by the node's permissions.
    EACCES,
    /// Already exists (e.g. the same watch path and token twice).
    EEXIST,
    /// Is a directory.
    EISDIR,
    /// No such node, or no such transaction.
    ENOENT,
    /// Out of memory in xenstored.
    ENOMEM,
    /// Quota exceeded (nodes, watches, transactions...).
    ENOSPC,
    /// I/O error in xenstored.
    EIO,
    /// Directory not empty.
    ENOTEMPTY,
    /// Operation not supported.
    ENOSYS,
    /// Read-only.
    EROFS,
    /// Busy.
    EBUSY,
    /// A transaction conflicted with a concurrent change: retry it.
    EAGAIN,
    /// Already connected.
    EISCONN,
    /// Too big: a request or reply over `XENSTORE_PAYLOAD_MAX`, or a directory that does not
    /// fit in one reply.
    E2BIG,
    /// Operation not permitted.
    EPERM,
    /// A name xenstored sent that is not in the table above.
    Unknown,
}

const NAMES: [(XsErrno, &str); 16] = [
    (XsErrno::EINVAL, "EINVAL"),
    (XsErrno::EACCES, "EACCES"),
    (XsErrno::EEXIST, "EEXIST"),
    (XsErrno::EISDIR, "EISDIR"),
    (XsErrno::ENOENT, "ENOENT"),
    (XsErrno::ENOMEM, "ENOMEM"),
    (XsErrno::ENOSPC, "ENOSPC"),
    (XsErrno::EIO, "EIO"),
    (XsErrno::ENOTEMPTY, "ENOTEMPTY"),
    (XsErrno::ENOSYS, "ENOSYS"),
    (XsErrno::EROFS, "EROFS"),
    (XsErrno::EBUSY, "EBUSY"),
    (XsErrno::EAGAIN, "EAGAIN"),
    (XsErrno::EISCONN, "EISCONN"),
    (XsErrno::E2BIG, "E2BIG"),
    (XsErrno::EPERM, "EPERM"),
];

impl XsErrno {
    /// The errno of a name as xenstored sends it (without the NUL). Unknown names give
    /// [`XsErrno::Unknown`].
    pub fn from_name(name: &[u8]) -> Self {
        NAMES
            .iter()
            .find(|(_, n)| n.as_bytes() == name)
            .map_or(XsErrno::Unknown, |(e, _)| *e)
    }

    /// The wire name (`"ENOENT"`), or `"unknown"`.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(e, _)| *e == self)
            .map_or("unknown", |(_, n)| n)
    }
}

impl fmt::Display for XsErrno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A reply or event that breaks the protocol: xenstored is buggy or hostile. The client never
/// panics on one; see [`XsError::Protocol`] for what happens to the request concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// A message header announced a payload over `XENSTORE_PAYLOAD_MAX` bytes. The client
    /// skips the announced length so that the messages after it still frame correctly.
    ReplyTooLong { len: u32 },
    /// A message type that is not a valid reply (unknown number, or a request-only type).
    UnknownType { ty: u32 },
    /// A valid reply type, but not the one for the request (`XS_READ` answered by `XS_RM`).
    UnexpectedType { expected: u32, got: u32 },
    /// A reply for a request id that is not outstanding (the message is dropped).
    UnknownReqId { req_id: u32 },
    /// A string that must be UTF-8 is not.
    NotUtf8,
    /// A string or list that must be NUL-terminated is not.
    NotNulTerminated,
    /// A number (transaction id, domid, xenbus state) that does not parse.
    BadNumber,
    /// A permission that is not `[rwbn]<domid>`.
    BadPerm,
    /// An acknowledgement that is not `"OK\0"`.
    BadAck,
    /// A watch event that is not `path\0token\0`.
    BadWatchEvent,
    /// A `XS_DIRECTORY_PART` reply that is malformed or does not end.
    BadDirectoryPart,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReplyTooLong { len } => {
                write!(f, "message of {len} bytes over XENSTORE_PAYLOAD_MAX")
            }
            ProtocolError::UnknownType { ty } => write!(f, "message of unknown type {ty}"),
            ProtocolError::UnexpectedType { expected, got } => {
                write!(f, "reply of type {got} to a request of type {expected}")
            }
            ProtocolError::UnknownReqId { req_id } => {
                write!(f, "reply to request {req_id}, which is not outstanding")
            }
            ProtocolError::NotUtf8 => f.write_str("string is not UTF-8"),
            ProtocolError::NotNulTerminated => f.write_str("string is not NUL-terminated"),
            ProtocolError::BadNumber => f.write_str("malformed number"),
            ProtocolError::BadPerm => f.write_str("malformed permission"),
            ProtocolError::BadAck => f.write_str("acknowledgement is not \"OK\""),
            ProtocolError::BadWatchEvent => f.write_str("malformed watch event"),
            ProtocolError::BadDirectoryPart => f.write_str("malformed directory part"),
        }
    }
}

/// Why a xenstore operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XsError {
    /// xenstored answered with an error. The client also refuses some requests itself with
    /// the errno xenstored would give, without sending them: [`XsErrno::E2BIG`] for a payload
    /// over `XENSTORE_PAYLOAD_MAX`, [`XsErrno::EINVAL`] for a path or token with a NUL byte.
    Errno(XsErrno),
    /// No reply (or watch event) before the deadline.
    Timeout,
    /// The ring indices are corrupt: xenstored is buggy or hostile.
    Ring(RingError),
    /// Notifying xenstored over the event channel failed.
    Notify(XenError),
    /// The reply to this request is malformed.
    Protocol(ProtocolError),
    /// `complete` was given an id that is not outstanding (never submitted, already
    /// completed, or cancelled).
    UnknownRequest(RequestId),
    /// Too many requests outstanding ([`crate::MAX_OUTSTANDING`]): complete some first.
    TooManyOutstanding,
}

impl fmt::Display for XsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XsError::Errno(e) => write!(f, "xenstore: {e}"),
            XsError::Timeout => f.write_str("xenstore: timed out"),
            XsError::Ring(e) => write!(f, "xenstore ring: {e}"),
            XsError::Notify(e) => write!(f, "xenstore notify: {e}"),
            XsError::Protocol(e) => write!(f, "xenstore protocol violation: {e}"),
            XsError::UnknownRequest(id) => write!(f, "xenstore: request {} not outstanding", id.0),
            XsError::TooManyOutstanding => f.write_str("xenstore: too many outstanding requests"),
        }
    }
}

impl core::error::Error for XsError {}

impl From<RingError> for XsError {
    fn from(e: RingError) -> Self {
        XsError::Ring(e)
    }
}

impl From<ProtocolError> for XsError {
    fn from(e: ProtocolError) -> Self {
        XsError::Protocol(e)
    }
}

impl From<XsErrno> for XsError {
    fn from(e: XsErrno) -> Self {
        XsError::Errno(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (e, n) in NAMES {
            assert_eq!(XsErrno::from_name(n.as_bytes()), e);
            assert_eq!(e.name(), n);
        }
        assert_eq!(XsErrno::from_name(b"EWHATEVER"), XsErrno::Unknown);
        assert_eq!(XsErrno::from_name(b""), XsErrno::Unknown);
    }
}
