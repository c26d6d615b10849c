//! The xenstore wire format (io/xs_wire.h, docs/misc/xenstore.txt): message types, request
//! payloads, and the parsers for every payload xenstored sends. The parsers are pure functions
//! over untrusted bytes: they return [`ProtocolError`] for anything malformed and never panic
//! (the `xs_reply` fuzz target drives them).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use xen_abi::xs_wire as abi;

use crate::error::{ProtocolError, XsErrno, XsError};

/// The message types of io/xs_wire.h the client knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MsgType {
    Control = abi::XS_CONTROL,
    Directory = abi::XS_DIRECTORY,
    Read = abi::XS_READ,
    GetPerms = abi::XS_GET_PERMS,
    Watch = abi::XS_WATCH,
    Unwatch = abi::XS_UNWATCH,
    TransactionStart = abi::XS_TRANSACTION_START,
    TransactionEnd = abi::XS_TRANSACTION_END,
    Introduce = abi::XS_INTRODUCE,
    Release = abi::XS_RELEASE,
    GetDomainPath = abi::XS_GET_DOMAIN_PATH,
    Write = abi::XS_WRITE,
    Mkdir = abi::XS_MKDIR,
    Rm = abi::XS_RM,
    SetPerms = abi::XS_SET_PERMS,
    WatchEvent = abi::XS_WATCH_EVENT,
    Error = abi::XS_ERROR,
    IsDomainIntroduced = abi::XS_IS_DOMAIN_INTRODUCED,
    Resume = abi::XS_RESUME,
    SetTarget = abi::XS_SET_TARGET,
    ResetWatches = abi::XS_RESET_WATCHES,
    DirectoryPart = abi::XS_DIRECTORY_PART,
}

impl MsgType {
    const ALL: [MsgType; 22] = [
        MsgType::Control,
        MsgType::Directory,
        MsgType::Read,
        MsgType::GetPerms,
        MsgType::Watch,
        MsgType::Unwatch,
        MsgType::TransactionStart,
        MsgType::TransactionEnd,
        MsgType::Introduce,
        MsgType::Release,
        MsgType::GetDomainPath,
        MsgType::Write,
        MsgType::Mkdir,
        MsgType::Rm,
        MsgType::SetPerms,
        MsgType::WatchEvent,
        MsgType::Error,
        MsgType::IsDomainIntroduced,
        MsgType::Resume,
        MsgType::SetTarget,
        MsgType::ResetWatches,
        MsgType::DirectoryPart,
    ];

    /// The type of a wire number, if it is a valid one.
    pub fn from_u32(ty: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| *t as u32 == ty)
    }
}

/// What a permission grants (`w`, `r`, `b` or `n` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PermKind {
    /// `n`: no access.
    None,
    /// `r`: read.
    Read,
    /// `w`: write.
    Write,
    /// `b`: read and write.
    Both,
}

impl PermKind {
    fn letter(self) -> u8 {
        match self {
            PermKind::None => b'n',
            PermKind::Read => b'r',
            PermKind::Write => b'w',
            PermKind::Both => b'b',
        }
    }

    fn from_letter(c: u8) -> Option<Self> {
        Some(match c {
            b'n' => PermKind::None,
            b'r' => PermKind::Read,
            b'w' => PermKind::Write,
            b'b' => PermKind::Both,
            _ => return None,
        })
    }

    /// Whether this grants reading.
    pub fn can_read(self) -> bool {
        matches!(self, PermKind::Read | PermKind::Both)
    }

    /// Whether this grants writing.
    pub fn can_write(self) -> bool {
        matches!(self, PermKind::Write | PermKind::Both)
    }
}

/// One entry of a node's permission list. The first entry names the owner (who may do
/// anything) and the access of every domain not listed; the others give a domain's access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Perm {
    pub domid: u16,
    pub kind: PermKind,
}

impl Perm {
    pub fn new(domid: u16, kind: PermKind) -> Self {
        Self { domid, kind }
    }

    /// Parses `"r5"` (without the NUL).
    pub fn parse(s: &[u8]) -> Result<Self, ProtocolError> {
        let (&c, digits) = s.split_first().ok_or(ProtocolError::BadPerm)?;
        let kind = PermKind::from_letter(c).ok_or(ProtocolError::BadPerm)?;
        let domid = parse_decimal(digits)
            .and_then(|d| u16::try_from(d).ok())
            .ok_or(ProtocolError::BadPerm)?;
        Ok(Self { domid, kind })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.kind.letter());
        push_decimal(out, u64::from(self.domid));
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.kind.letter() as char, self.domid)
    }
}

/// A transaction id; [`TxId::NONE`] (0) outside transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u32);

impl TxId {
    /// Not in a transaction.
    pub const NONE: TxId = TxId(0);
}

/// A request, before encoding. Paths are absolute (`/local/domain/0/...`) or relative to the
/// domain's home (`device/vif/0` is `/local/domain/<domid>/device/vif/0`); watch paths may also
/// be special (`@introduceDomain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    Read {
        path: &'a str,
    },
    Write {
        path: &'a str,
        value: &'a [u8],
    },
    Directory {
        path: &'a str,
    },
    /// One part of a directory too large for a single reply, from child `offset` on.
    DirectoryPart {
        path: &'a str,
        offset: u32,
    },
    Mkdir {
        path: &'a str,
    },
    Rm {
        path: &'a str,
    },
    GetPerms {
        path: &'a str,
    },
    SetPerms {
        path: &'a str,
        perms: &'a [Perm],
    },
    Watch {
        path: &'a str,
        token: &'a str,
    },
    Unwatch {
        path: &'a str,
        token: &'a str,
    },
    TransactionStart,
    TransactionEnd {
        commit: bool,
    },
    GetDomainPath {
        domid: u16,
    },
}

impl Request<'_> {
    /// The wire type.
    pub fn msg_type(&self) -> MsgType {
        match self {
            Request::Read { .. } => MsgType::Read,
            Request::Write { .. } => MsgType::Write,
            Request::Directory { .. } => MsgType::Directory,
            Request::DirectoryPart { .. } => MsgType::DirectoryPart,
            Request::Mkdir { .. } => MsgType::Mkdir,
            Request::Rm { .. } => MsgType::Rm,
            Request::GetPerms { .. } => MsgType::GetPerms,
            Request::SetPerms { .. } => MsgType::SetPerms,
            Request::Watch { .. } => MsgType::Watch,
            Request::Unwatch { .. } => MsgType::Unwatch,
            Request::TransactionStart => MsgType::TransactionStart,
            Request::TransactionEnd { .. } => MsgType::TransactionEnd,
            Request::GetDomainPath { .. } => MsgType::GetDomainPath,
        }
    }

    /// The payload. Fails with `EINVAL` for a string with a NUL byte (it would split into two
    /// arguments) and `E2BIG` for a payload over `XENSTORE_PAYLOAD_MAX`.
    pub fn encode(&self) -> Result<Vec<u8>, XsError> {
        let mut p = Vec::new();
        match *self {
            Request::Read { path }
            | Request::Directory { path }
            | Request::Mkdir { path }
            | Request::Rm { path }
            | Request::GetPerms { path } => push_str(&mut p, path)?,
            Request::Write { path, value } => {
                push_str(&mut p, path)?;
                // The value is the rest of the payload, not NUL-terminated, any bytes.
                p.extend_from_slice(value);
            }
            Request::DirectoryPart { path, offset } => {
                push_str(&mut p, path)?;
                push_decimal(&mut p, u64::from(offset));
                p.push(0);
            }
            Request::SetPerms { path, perms } => {
                push_str(&mut p, path)?;
                for perm in perms {
                    perm.encode(&mut p);
                    p.push(0);
                }
            }
            Request::Watch { path, token } | Request::Unwatch { path, token } => {
                push_str(&mut p, path)?;
                push_str(&mut p, token)?;
            }
            // "An empty string": xenstored wants one NUL.
            Request::TransactionStart => p.push(0),
            Request::TransactionEnd { commit } => {
                p.extend_from_slice(if commit { b"T\0" } else { b"F\0" })
            }
            Request::GetDomainPath { domid } => {
                push_decimal(&mut p, u64::from(domid));
                p.push(0);
            }
        }
        if p.len() > abi::XENSTORE_PAYLOAD_MAX {
            return Err(XsError::Errno(XsErrno::E2BIG));
        }
        Ok(p)
    }
}

fn push_str(out: &mut Vec<u8>, s: &str) -> Result<(), XsError> {
    if s.as_bytes().contains(&0) {
        return Err(XsError::Errno(XsErrno::EINVAL));
    }
    if s.len() > abi::XENSTORE_PAYLOAD_MAX {
        return Err(XsError::Errno(XsErrno::E2BIG));
    }
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    Ok(())
}

fn push_decimal(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend(digits[..n].iter().rev());
}

/// A plain decimal number (no sign, no spaces, at least one digit, no overflow of u64).
pub fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        } else {
            None
        }
    })
}

/// A decimal number as xenstore values hold them: surrounding ASCII whitespace and trailing
/// NULs are tolerated (some tools write `"4\n"` or `"4\0"`).
pub fn parse_decimal_value(s: &[u8]) -> Option<u64> {
    let end = s
        .iter()
        .rposition(|c| !c.is_ascii_whitespace() && *c != 0)
        .map_or(0, |i| i + 1);
    let start = s[..end]
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(end);
    parse_decimal(&s[start..end])
}

/// Splits a payload of NUL-terminated strings (`a\0b\0`); an empty payload is no string.
/// Every string must be terminated, including the last.
pub fn split_strings(payload: &[u8]) -> Result<Vec<&[u8]>, ProtocolError> {
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    let body = payload
        .strip_suffix(&[0])
        .ok_or(ProtocolError::NotNulTerminated)?;
    Ok(body.split(|&b| b == 0).collect())
}

/// A string of the payload as UTF-8.
pub fn utf8(s: &[u8]) -> Result<String, ProtocolError> {
    core::str::from_utf8(s)
        .map(String::from)
        .map_err(|_| ProtocolError::NotUtf8)
}

/// One NUL-terminated string that is the whole payload (`path\0` of `GET_DOMAIN_PATH`, the
/// id of `TRANSACTION_START`).
pub fn parse_single_string(payload: &[u8]) -> Result<&[u8], ProtocolError> {
    let s = payload
        .strip_suffix(&[0])
        .ok_or(ProtocolError::NotNulTerminated)?;
    if s.contains(&0) {
        // Two strings where one was due.
        return Err(ProtocolError::NotNulTerminated);
    }
    Ok(s)
}

/// An `XS_ERROR` payload: the errno name, NUL-terminated.
pub fn parse_error(payload: &[u8]) -> Result<XsErrno, ProtocolError> {
    parse_single_string(payload).map(XsErrno::from_name)
}

/// An acknowledgement: exactly `"OK\0"`.
pub fn parse_ack(payload: &[u8]) -> Result<(), ProtocolError> {
    if payload == b"OK\0" {
        Ok(())
    } else {
        Err(ProtocolError::BadAck)
    }
}

/// A `DIRECTORY` reply: child names.
pub fn parse_directory(payload: &[u8]) -> Result<Vec<String>, ProtocolError> {
    split_strings(payload)?.into_iter().map(utf8).collect()
}

/// A `GET_PERMS` reply: at least the owner's entry.
pub fn parse_perms(payload: &[u8]) -> Result<Vec<Perm>, ProtocolError> {
    let perms = split_strings(payload)?
        .into_iter()
        .map(Perm::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if perms.is_empty() {
        return Err(ProtocolError::BadPerm);
    }
    Ok(perms)
}

/// A `TRANSACTION_START` reply: the id in decimal. Id 0 means "no transaction" and is refused.
pub fn parse_tx_id(payload: &[u8]) -> Result<TxId, ProtocolError> {
    let s = parse_single_string(payload)?;
    match parse_decimal(s).and_then(|v| u32::try_from(v).ok()) {
        Some(0) | None => Err(ProtocolError::BadNumber),
        Some(v) => Ok(TxId(v)),
    }
}

/// A `DIRECTORY_PART` reply: generation count, children, and an empty string after the last
/// part. Returns (generation, children, whether this was the last part).
pub fn parse_directory_part(payload: &[u8]) -> Result<(String, Vec<String>, bool), ProtocolError> {
    let strings = split_strings(payload)?;
    let (generation, rest) = strings
        .split_first()
        .ok_or(ProtocolError::BadDirectoryPart)?;
    let generation = utf8(generation)?;
    let (children, last) = match rest.split_last() {
        Some(([], children)) => (children, true),
        _ => (rest, false),
    };
    let children = children
        .iter()
        .map(|c| {
            if c.is_empty() {
                Err(ProtocolError::BadDirectoryPart)
            } else {
                utf8(c)
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((generation, children, last))
}

/// A watch event: which path changed, and the token its watch was registered with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatchEvent {
    pub path: String,
    pub token: String,
}

/// An `XS_WATCH_EVENT` payload: `path\0token\0`.
pub fn parse_watch_event(payload: &[u8]) -> Result<WatchEvent, ProtocolError> {
    let strings = split_strings(payload).map_err(|_| ProtocolError::BadWatchEvent)?;
    match strings[..] {
        [path, token] if !path.is_empty() => Ok(WatchEvent {
            path: utf8(path)?,
            token: utf8(token)?,
        }),
        _ => Err(ProtocolError::BadWatchEvent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn encodes_requests() {
        assert_eq!(Request::Read { path: "a/b" }.encode().unwrap(), b"a/b\0");
        assert_eq!(
            Request::Write {
                path: "x",
                value: b"1\0\xff"
            }
            .encode()
            .unwrap(),
            b"x\x001\0\xff"
        );
        assert_eq!(
            Request::SetPerms {
                path: "p",
                perms: &[Perm::new(3, PermKind::None), Perm::new(0, PermKind::Both)]
            }
            .encode()
            .unwrap(),
            b"p\0n3\0b0\0"
        );
        assert_eq!(
            Request::Watch {
                path: "p",
                token: "t"
            }
            .encode()
            .unwrap(),
            b"p\0t\0"
        );
        assert_eq!(Request::TransactionStart.encode().unwrap(), b"\0");
        assert_eq!(
            Request::TransactionEnd { commit: false }.encode().unwrap(),
            b"F\0"
        );
        assert_eq!(
            Request::GetDomainPath { domid: 65535 }.encode().unwrap(),
            b"65535\0"
        );
        assert_eq!(
            Request::DirectoryPart {
                path: "d",
                offset: 0
            }
            .encode()
            .unwrap(),
            b"d\x000\0"
        );
    }

    #[test]
    fn refuses_bad_requests_locally() {
        assert_eq!(
            Request::Read { path: "a\0b" }.encode(),
            Err(XsError::Errno(XsErrno::EINVAL))
        );
        let big = vec![b'v'; abi::XENSTORE_PAYLOAD_MAX];
        assert_eq!(
            Request::Write {
                path: "k",
                value: &big
            }
            .encode(),
            Err(XsError::Errno(XsErrno::E2BIG))
        );
        let fits = vec![b'v'; abi::XENSTORE_PAYLOAD_MAX - 2];
        assert_eq!(
            Request::Write {
                path: "k",
                value: &fits
            }
            .encode()
            .unwrap()
            .len(),
            abi::XENSTORE_PAYLOAD_MAX
        );
    }

    #[test]
    fn parses_replies() {
        assert_eq!(parse_directory(b"").unwrap(), Vec::<String>::new());
        assert_eq!(parse_directory(b"a\0bc\0").unwrap(), ["a", "bc"]);
        assert_eq!(
            parse_directory(b"a\0bc"),
            Err(ProtocolError::NotNulTerminated)
        );
        assert_eq!(parse_directory(b"\xff\0"), Err(ProtocolError::NotUtf8));
        assert_eq!(
            parse_perms(b"w0\0r12\0").unwrap(),
            [Perm::new(0, PermKind::Write), Perm::new(12, PermKind::Read)]
        );
        assert_eq!(parse_perms(b""), Err(ProtocolError::BadPerm));
        assert_eq!(parse_perms(b"x1\0"), Err(ProtocolError::BadPerm));
        assert_eq!(parse_perms(b"r65536\0"), Err(ProtocolError::BadPerm));
        assert_eq!(parse_perms(b"r\0"), Err(ProtocolError::BadPerm));
        assert_eq!(parse_tx_id(b"17\0"), Ok(TxId(17)));
        assert_eq!(parse_tx_id(b"0\0"), Err(ProtocolError::BadNumber));
        assert_eq!(parse_tx_id(b"4294967296\0"), Err(ProtocolError::BadNumber));
        assert_eq!(parse_tx_id(b"17"), Err(ProtocolError::NotNulTerminated));
        assert_eq!(parse_error(b"ENOENT\0"), Ok(XsErrno::ENOENT));
        assert_eq!(parse_error(b"EFOO\0"), Ok(XsErrno::Unknown));
        assert_eq!(parse_error(b"ENOENT"), Err(ProtocolError::NotNulTerminated));
        assert_eq!(parse_ack(b"OK\0"), Ok(()));
        assert_eq!(parse_ack(b"OK"), Err(ProtocolError::BadAck));
        assert_eq!(
            parse_watch_event(b"a/b\0tok\0").unwrap(),
            WatchEvent {
                path: "a/b".into(),
                token: "tok".into()
            }
        );
        assert_eq!(
            parse_watch_event(b"a/b\0tok"),
            Err(ProtocolError::BadWatchEvent)
        );
        assert_eq!(
            parse_watch_event(b"a\0b\0c\0"),
            Err(ProtocolError::BadWatchEvent)
        );
        let (g, c, last) = parse_directory_part(b"7\0a\0b\0\0").unwrap();
        assert_eq!(
            (g.as_str(), c, last),
            ("7", vec!["a".into(), "b".into()], true)
        );
        let (_, c, last) = parse_directory_part(b"7\0a\0").unwrap();
        assert_eq!((c, last), (vec![String::from("a")], false));
        assert_eq!(
            parse_directory_part(b""),
            Err(ProtocolError::BadDirectoryPart)
        );
    }

    #[test]
    fn decimal_values() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b"-1"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal_value(b" 4\n"), Some(4));
        assert_eq!(parse_decimal_value(b"4\0"), Some(4));
        assert_eq!(parse_decimal_value(b"\n"), None);
        assert_eq!(parse_decimal_value(b"4 4"), None);
    }

    #[test]
    fn msg_types_match_the_abi() {
        for t in MsgType::ALL {
            assert_eq!(MsgType::from_u32(t as u32), Some(t));
        }
        assert_eq!(MsgType::from_u32(20), None);
        assert_eq!(MsgType::from_u32(abi::XS_TYPE_COUNT), None);
        assert_eq!(MsgType::from_u32(abi::XS_INVALID), None);
    }
}
