//! The client: requests out through the `req` ring, replies and watch events in through the
//! `rsp` ring, matched by request id.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use xen_abi::xs_wire::{self as abi, XenstoreDomainInterface, XsdSockmsg};
use xen_ring::ByteRing;

use crate::error::{ProtocolError, XsErrno, XsError};
use crate::wire::{self, MsgType, Perm, Request, TxId, WatchEvent};
use crate::XsPlatform;

/// Requests that may be outstanding at once (submitted, not yet completed). xenstored has its
/// own, smaller quota (20 by default) and simply stops reading the ring beyond it: that only
/// delays, it does not fail.
pub const MAX_OUTSTANDING: usize = 64;
/// Watch events kept for their subscribers. Identical events (same path and token) are
/// coalesced; past this bound new events are dropped and counted in [`XsStats`].
pub const MAX_QUEUED_EVENTS: usize = 256;
/// The timeout of the synchronous operations until [`Xenstore::set_timeout`].
pub const DEFAULT_TIMEOUT_NS: u64 = 10_000_000_000;
/// How many times [`Xenstore::transaction`] runs a transaction that keeps ending in `EAGAIN`.
pub const MAX_TRANSACTION_ATTEMPTS: u32 = 16;
/// Restarts of a `DIRECTORY_PART` listing whose node changes underneath, and parts read per
/// listing, before giving up.
const MAX_DIRECTORY_PART_RESTARTS: u32 = 8;
const MAX_DIRECTORY_PARTS: u32 = 4096;

const HEADER_LEN: usize = core::mem::size_of::<XsdSockmsg>();

/// The id of a submitted request, for [`Xenstore::complete`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u32);

impl RequestId {
    /// The `req_id` on the wire.
    pub fn value(self) -> u32 {
        self.0
    }
}

/// A successful reply: its type is the request's type (errors are [`XsError`]s). The payload
/// is as xenstored sent it; the accessors parse and validate it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    ty: MsgType,
    tx_id: u32,
    payload: Vec<u8>,
}

impl Reply {
    pub fn msg_type(&self) -> MsgType {
        self.ty
    }

    /// The `tx_id` of the reply header.
    pub fn tx_id(&self) -> u32 {
        self.tx_id
    }

    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }

    /// A `READ` value as text.
    pub fn into_string(self) -> Result<String, XsError> {
        String::from_utf8(self.payload).map_err(|_| ProtocolError::NotUtf8.into())
    }

    /// A `DIRECTORY` reply's children.
    pub fn directory(&self) -> Result<Vec<String>, XsError> {
        Ok(wire::parse_directory(&self.payload)?)
    }

    /// A `GET_PERMS` reply.
    pub fn perms(&self) -> Result<Vec<Perm>, XsError> {
        Ok(wire::parse_perms(&self.payload)?)
    }

    /// A `TRANSACTION_START` reply's id.
    pub fn transaction_id(&self) -> Result<TxId, XsError> {
        Ok(wire::parse_tx_id(&self.payload)?)
    }

    /// A `GET_DOMAIN_PATH` reply.
    pub fn string(&self) -> Result<String, XsError> {
        Ok(wire::utf8(wire::parse_single_string(&self.payload)?)?)
    }

    /// Checks that an acknowledgement (`WRITE`, `MKDIR`, `RM`, `SET_PERMS`, `WATCH`,
    /// `UNWATCH`, `TRANSACTION_END`) is `"OK\0"`.
    pub fn ack(&self) -> Result<(), XsError> {
        Ok(wire::parse_ack(&self.payload)?)
    }
}

/// Counters of what the client dropped or refused from xenstored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XsStats {
    /// Protocol violations seen (including the ones returned to a caller).
    pub protocol_errors: u64,
    /// The last of them.
    pub last_protocol_error: Option<ProtocolError>,
    /// Replies whose request id was not outstanding (dropped).
    pub stray_replies: u64,
    /// Replies to requests the caller gave up on (timed out or cancelled; dropped).
    pub late_replies: u64,
    /// Watch events for a token no watch is registered with (dropped).
    pub stray_events: u64,
    /// Watch events identical to one still queued (coalesced).
    pub coalesced_events: u64,
    /// Watch events dropped because [`MAX_QUEUED_EVENTS`] were queued.
    pub dropped_events: u64,
}

/// A registered watch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WatchReg {
    path: String,
    token: String,
}

#[derive(Debug)]
enum Slot {
    /// Submitted, no reply yet. `watch` is set for WATCH and UNWATCH requests (and for a
    /// WATCH, whether this request added the local registration).
    Waiting {
        ty: MsgType,
        watch: Option<(WatchReg, bool)>,
        abandoned: bool,
    },
    Done(Result<Reply, XsError>),
}

/// Where the receiver is in the byte stream of the `rsp` ring.
#[derive(Debug)]
enum Rx {
    Header {
        buf: [u8; HEADER_LEN],
        have: usize,
    },
    Body {
        hdr: XsdSockmsg,
        buf: Vec<u8>,
    },
    /// Skipping the payload of an oversized message.
    Skip {
        remaining: u32,
    },
}

/// A xenstore connection over the ring page, with the platform `P` for notifications, waiting
/// and time.
pub struct Xenstore<P: XsPlatform> {
    ring: &'static XenstoreDomainInterface,
    platform: P,
    timeout_ns: u64,
    next_req_id: u32,
    next_token: u32,
    /// Bytes moved since xenstored was last notified successfully.
    notify_pending: bool,
    slots: BTreeMap<u32, Slot>,
    /// Request bytes not yet in the ring (a message may be up to 4112 bytes, the ring 1024).
    tx: VecDeque<u8>,
    rx: Rx,
    watches: Vec<WatchReg>,
    events: VecDeque<WatchEvent>,
    stats: XsStats,
}

impl<P: XsPlatform> fmt::Debug for Xenstore<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Xenstore")
            .field("outstanding", &self.slots.len())
            .field("unsent_bytes", &self.tx.len())
            .field("watches", &self.watches)
            .field("queued_events", &self.events.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<P: XsPlatform> Xenstore<P> {
    /// A client over the ring page found through `start_info.store_mfn`, notifying and
    /// waiting through `platform` (the `store_evtchn` port).
    pub fn new(ring: &'static XenstoreDomainInterface, platform: P) -> Self {
        Self {
            ring,
            platform,
            timeout_ns: DEFAULT_TIMEOUT_NS,
            next_req_id: 1,
            next_token: 0,
            notify_pending: false,
            slots: BTreeMap::new(),
            tx: VecDeque::new(),
            rx: Rx::Header {
                buf: [0; HEADER_LEN],
                have: 0,
            },
            watches: Vec::new(),
            events: VecDeque::new(),
            stats: XsStats::default(),
        }
    }

    /// The timeout of every synchronous operation (default [`DEFAULT_TIMEOUT_NS`]).
    pub fn set_timeout(&mut self, timeout_ns: u64) {
        self.timeout_ns = timeout_ns;
    }

    pub fn timeout(&self) -> u64 {
        self.timeout_ns
    }

    pub fn platform(&self) -> &P {
        &self.platform
    }

    pub fn stats(&self) -> XsStats {
        self.stats
    }

    /// A watch token this client has not handed out before: `<prefix>/<n>`.
    pub fn unique_token(&mut self, prefix: &str) -> String {
        self.next_token = self.next_token.wrapping_add(1);
        alloc::format!("{prefix}/{}", self.next_token)
    }

    /// Requests submitted and not yet completed or cancelled.
    pub fn outstanding(&self) -> usize {
        self.slots
            .values()
            .filter(|s| {
                !matches!(
                    s,
                    Slot::Waiting {
                        abandoned: true,
                        ..
                    }
                )
            })
            .count()
    }

    /// Watch events received and not yet taken.
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }

    fn req(&self) -> ByteRing<'static> {
        ByteRing::new(&self.ring.req, &self.ring.req_cons, &self.ring.req_prod)
    }

    fn rsp(&self) -> ByteRing<'static> {
        ByteRing::new(&self.ring.rsp, &self.ring.rsp_cons, &self.ring.rsp_prod)
    }

    fn deadline(&self, timeout_ns: u64) -> u64 {
        self.platform.now_ns().saturating_add(timeout_ns)
    }

    // ---------------------------------------------------------------------------------------
    // Pipelining

    /// Sends a request without waiting for its reply; several may be outstanding. The reply
    /// is taken with [`Xenstore::complete`] (in any order).
    pub fn submit(&mut self, tx: TxId, req: Request<'_>) -> Result<RequestId, XsError> {
        let payload = req.encode()?;
        if self.outstanding() >= MAX_OUTSTANDING {
            return Err(XsError::TooManyOutstanding);
        }
        let ty = req.msg_type();
        let watch = match req {
            Request::Watch { path, token } => {
                let reg = WatchReg {
                    path: path.into(),
                    token: token.into(),
                };
                // Registered before sending: the first event follows the reply immediately.
                let added = !self.watches.contains(&reg);
                if added {
                    self.watches.push(reg.clone());
                }
                Some((reg, added))
            }
            Request::Unwatch { path, token } => Some((
                WatchReg {
                    path: path.into(),
                    token: token.into(),
                },
                false,
            )),
            _ => None,
        };
        let id = self.alloc_req_id();
        let hdr = XsdSockmsg {
            ty: ty as u32,
            req_id: id,
            tx_id: tx.0,
            len: payload.len() as u32,
        };
        self.tx.extend(hdr.to_bytes());
        self.tx.extend(payload);
        self.slots.insert(
            id,
            Slot::Waiting {
                ty,
                watch,
                abandoned: false,
            },
        );
        self.evict_abandoned();
        // Push what fits now; the rest goes out while waiting. A ring error here is reported
        // by the first wait (the request stays queued, the id valid).
        let _ = self.flush_tx();
        Ok(RequestId(id))
    }

    fn alloc_req_id(&mut self) -> u32 {
        loop {
            let id = self.next_req_id;
            // 0 is what xenstored puts in watch events: never use it for a request.
            self.next_req_id = self.next_req_id.wrapping_add(1).max(1);
            if !self.slots.contains_key(&id) {
                return id;
            }
        }
    }

    /// Abandoned requests whose reply never comes would otherwise pile up: keep at most
    /// [`MAX_OUTSTANDING`] (a reply to an evicted one counts as stray).
    fn evict_abandoned(&mut self) {
        let abandoned: Vec<u32> = self
            .slots
            .iter()
            .filter(|(_, s)| {
                matches!(
                    s,
                    Slot::Waiting {
                        abandoned: true,
                        ..
                    }
                )
            })
            .map(|(id, _)| *id)
            .collect();
        if abandoned.len() > MAX_OUTSTANDING {
            for id in &abandoned[..abandoned.len() - MAX_OUTSTANDING] {
                self.slots.remove(id);
            }
        }
    }

    /// Waits (event-driven, at most `timeout_ns`) for the reply to `id`. Replies to other
    /// requests and watch events that arrive meanwhile are kept for their owners. On
    /// [`XsError::Timeout`] (or a ring or notify error) the request stays outstanding: call
    /// `complete` again, or [`Xenstore::cancel`] it.
    pub fn complete(&mut self, id: RequestId, timeout_ns: u64) -> Result<Reply, XsError> {
        match self.slots.get(&id.0) {
            None
            | Some(Slot::Waiting {
                abandoned: true, ..
            }) => return Err(XsError::UnknownRequest(id)),
            Some(_) => {}
        }
        let deadline = self.deadline(timeout_ns);
        self.wait_until(deadline, |s| {
            matches!(s.slots.get(&id.0), Some(Slot::Done(_)))
        })?;
        match self.slots.remove(&id.0) {
            Some(Slot::Done(r)) => r,
            // wait_until returned Ok, so the slot is Done.
            _ => Err(XsError::UnknownRequest(id)),
        }
    }

    /// Gives up on a request: its reply, if it comes, is dropped.
    pub fn cancel(&mut self, id: RequestId) {
        match self.slots.get_mut(&id.0) {
            Some(Slot::Waiting { abandoned, .. }) => *abandoned = true,
            Some(Slot::Done(_)) => {
                self.slots.remove(&id.0);
            }
            None => {}
        }
    }

    /// Submits and completes one request with the client's timeout.
    fn call(&mut self, tx: TxId, req: Request<'_>) -> Result<Reply, XsError> {
        let id = self.submit(tx, req)?;
        let r = self.complete(id, self.timeout_ns);
        if r.is_err() {
            self.cancel(id);
        }
        r
    }

    /// [`Self::call`], then `parse` of the reply; a malformed reply is counted in the stats.
    fn call_with<T>(
        &mut self,
        tx: TxId,
        req: Request<'_>,
        parse: impl FnOnce(Reply) -> Result<T, XsError>,
    ) -> Result<T, XsError> {
        let r = parse(self.call(tx, req)?);
        if let Err(XsError::Protocol(e)) = &r {
            self.protocol_error(*e);
        }
        r
    }

    // ---------------------------------------------------------------------------------------
    // The rings

    /// Moves bytes both ways without blocking; returns whether anything moved.
    fn pump(&mut self) -> Result<bool, XsError> {
        let sent = self.flush_tx()?;
        let received = self.receive()?;
        Ok(sent || received)
    }

    fn flush_tx(&mut self) -> Result<bool, XsError> {
        let req = self.req();
        let mut sent = false;
        while !self.tx.is_empty() {
            let (front, _) = self.tx.as_slices();
            let n = req.write(front)?;
            if n == 0 {
                break;
            }
            self.tx.drain(..n);
            sent = true;
        }
        self.notify_pending |= sent;
        self.notify_if_pending()?;
        Ok(sent)
    }

    fn receive(&mut self) -> Result<bool, XsError> {
        let rsp = self.rsp();
        let mut chunk = [0u8; abi::XENSTORE_RING_SIZE];
        let mut received = false;
        loop {
            let n = rsp.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            received = true;
            self.feed(&chunk[..n]);
        }
        // xenstored may be waiting for room to write the rest of a reply.
        self.notify_pending |= received;
        self.notify_if_pending()?;
        Ok(received)
    }

    /// Notifies xenstored if bytes moved since the last successful notification (so that a
    /// failed notification is retried by the next pump rather than lost).
    fn notify_if_pending(&mut self) -> Result<(), XsError> {
        if self.notify_pending {
            self.platform.notify().map_err(XsError::Notify)?;
            self.notify_pending = false;
        }
        Ok(())
    }

    /// Runs the receive state machine over bytes from the ring.
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.rx {
                Rx::Header { buf, have } => {
                    let n = (HEADER_LEN - *have).min(bytes.len());
                    buf[*have..*have + n].copy_from_slice(&bytes[..n]);
                    *have += n;
                    bytes = &bytes[n..];
                    if *have == HEADER_LEN {
                        let hdr = XsdSockmsg::from_bytes(buf);
                        self.start_message(hdr);
                    }
                }
                Rx::Body { hdr, buf } => {
                    let n = (hdr.len as usize - buf.len()).min(bytes.len());
                    buf.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    if buf.len() == hdr.len as usize {
                        let hdr = *hdr;
                        let payload = core::mem::take(buf);
                        self.rx = Rx::Header {
                            buf: [0; HEADER_LEN],
                            have: 0,
                        };
                        self.dispatch(hdr, payload);
                    }
                }
                Rx::Skip { remaining } => {
                    let n = (*remaining as usize).min(bytes.len());
                    *remaining -= n as u32;
                    bytes = &bytes[n..];
                    if *remaining == 0 {
                        self.rx = Rx::Header {
                            buf: [0; HEADER_LEN],
                            have: 0,
                        };
                    }
                }
            }
        }
    }

    fn start_message(&mut self, hdr: XsdSockmsg) {
        self.rx = if hdr.len as usize > abi::XENSTORE_PAYLOAD_MAX {
            // Fail the request it answers, then skip the announced length so that the stream
            // stays framed as xenstored framed it.
            let err = ProtocolError::ReplyTooLong { len: hdr.len };
            self.protocol_error(err);
            if hdr.ty != abi::XS_WATCH_EVENT {
                if let Some(slot) = self.slots.get_mut(&hdr.req_id) {
                    if matches!(slot, Slot::Waiting { .. }) {
                        *slot = Slot::Done(Err(err.into()));
                    }
                }
            }
            Rx::Skip { remaining: hdr.len }
        } else if hdr.len == 0 {
            self.dispatch(hdr, Vec::new());
            Rx::Header {
                buf: [0; HEADER_LEN],
                have: 0,
            }
        } else {
            Rx::Body {
                hdr,
                buf: Vec::with_capacity(hdr.len as usize),
            }
        };
    }

    fn protocol_error(&mut self, e: ProtocolError) {
        self.stats.protocol_errors += 1;
        self.stats.last_protocol_error = Some(e);
    }

    /// A whole message arrived.
    fn dispatch(&mut self, hdr: XsdSockmsg, payload: Vec<u8>) {
        if hdr.ty == abi::XS_WATCH_EVENT {
            match wire::parse_watch_event(&payload) {
                Ok(ev) => self.queue_event(ev),
                Err(e) => self.protocol_error(e),
            }
            return;
        }
        let Some(slot) = self.slots.get_mut(&hdr.req_id) else {
            self.stats.stray_replies += 1;
            self.protocol_error(ProtocolError::UnknownReqId { req_id: hdr.req_id });
            return;
        };
        let (expected, watch, abandoned) = match slot {
            Slot::Waiting {
                ty,
                watch,
                abandoned,
            } => (*ty, watch.take(), *abandoned),
            Slot::Done(_) => {
                // A second reply to the same request: keep the first.
                self.stats.stray_replies += 1;
                self.protocol_error(ProtocolError::UnknownReqId { req_id: hdr.req_id });
                return;
            }
        };
        let result = if hdr.ty == abi::XS_ERROR {
            match wire::parse_error(&payload) {
                Ok(e) => Err(XsError::Errno(e)),
                Err(e) => Err(e.into()),
            }
        } else {
            match MsgType::from_u32(hdr.ty) {
                Some(t) if t == expected => Ok(Reply {
                    ty: t,
                    tx_id: hdr.tx_id,
                    payload,
                }),
                Some(_) => Err(ProtocolError::UnexpectedType {
                    expected: expected as u32,
                    got: hdr.ty,
                }
                .into()),
                None => Err(ProtocolError::UnknownType { ty: hdr.ty }.into()),
            }
        };
        if let Err(XsError::Protocol(e)) = &result {
            self.protocol_error(*e);
        }
        let ok = result.as_ref().is_ok_and(|r| r.ack().is_ok());
        if let Some((reg, added)) = watch {
            match expected {
                // A refused watch is not registered (unless it was before this request).
                MsgType::Watch if !ok && added => self.forget_watch(&reg),
                MsgType::Unwatch if ok => self.forget_watch(&reg),
                _ => {}
            }
        }
        if abandoned {
            self.stats.late_replies += 1;
            self.slots.remove(&hdr.req_id);
        } else {
            self.slots.insert(hdr.req_id, Slot::Done(result));
        }
    }

    fn forget_watch(&mut self, reg: &WatchReg) {
        self.watches.retain(|w| w != reg);
        if !self.watches.iter().any(|w| w.token == reg.token) {
            self.events.retain(|e| e.token != reg.token);
        }
    }

    fn queue_event(&mut self, ev: WatchEvent) {
        if !self.watches.iter().any(|w| w.token == ev.token) {
            self.stats.stray_events += 1;
        } else if self.events.contains(&ev) {
            self.stats.coalesced_events += 1;
        } else if self.events.len() >= MAX_QUEUED_EVENTS {
            self.stats.dropped_events += 1;
        } else {
            self.events.push_back(ev);
        }
    }

    /// Pumps the rings until `done`, blocking on the event channel in between; never spins.
    fn wait_until(
        &mut self,
        deadline: u64,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<(), XsError> {
        loop {
            self.pump()?;
            if done(self) {
                return Ok(());
            }
            if self.platform.now_ns() >= deadline || !self.platform.wait_event(deadline) {
                // One last look: the reply may have raced the deadline.
                self.pump()?;
                return if done(self) {
                    Ok(())
                } else {
                    Err(XsError::Timeout)
                };
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Operations

    pub(crate) fn read_bytes_in(&mut self, tx: TxId, path: &str) -> Result<Vec<u8>, XsError> {
        Ok(self.call(tx, Request::Read { path })?.into_payload())
    }

    pub(crate) fn write_in(&mut self, tx: TxId, path: &str, value: &[u8]) -> Result<(), XsError> {
        self.call_with(tx, Request::Write { path, value }, |r| r.ack())
    }

    pub(crate) fn directory_in(&mut self, tx: TxId, path: &str) -> Result<Vec<String>, XsError> {
        match self.call(tx, Request::Directory { path }) {
            Ok(r) => {
                let r = r.directory();
                if let Err(XsError::Protocol(e)) = &r {
                    self.protocol_error(*e);
                }
                r
            }
            // Too many children for one reply: read it in parts.
            Err(XsError::Errno(XsErrno::E2BIG)) => self.directory_parts(tx, path),
            Err(e) => Err(e),
        }
    }

    fn directory_parts(&mut self, tx: TxId, path: &str) -> Result<Vec<String>, XsError> {
        'restart: for _ in 0..=MAX_DIRECTORY_PART_RESTARTS {
            let mut children = Vec::new();
            let mut generation: Option<String> = None;
            let mut offset = 0u32;
            for _ in 0..MAX_DIRECTORY_PARTS {
                let reply = self.call(tx, Request::DirectoryPart { path, offset })?;
                let (g, part, last) = match wire::parse_directory_part(reply.payload()) {
                    Ok(p) => p,
                    Err(e) => {
                        self.protocol_error(e);
                        return Err(e.into());
                    }
                };
                match &generation {
                    None => generation = Some(g),
                    // The node changed between two parts: start again.
                    Some(prev) if *prev != g => continue 'restart,
                    Some(_) => {}
                }
                if part.is_empty() && !last {
                    return Err(ProtocolError::BadDirectoryPart.into());
                }
                for child in part {
                    offset = offset
                        .checked_add(child.len() as u32 + 1)
                        .ok_or(ProtocolError::BadDirectoryPart)?;
                    children.push(child);
                }
                if last {
                    return Ok(children);
                }
            }
            return Err(ProtocolError::BadDirectoryPart.into());
        }
        Err(XsError::Errno(XsErrno::EAGAIN))
    }

    pub(crate) fn mkdir_in(&mut self, tx: TxId, path: &str) -> Result<(), XsError> {
        self.call_with(tx, Request::Mkdir { path }, |r| r.ack())
    }

    pub(crate) fn rm_in(&mut self, tx: TxId, path: &str) -> Result<(), XsError> {
        self.call_with(tx, Request::Rm { path }, |r| r.ack())
    }

    pub(crate) fn get_perms_in(&mut self, tx: TxId, path: &str) -> Result<Vec<Perm>, XsError> {
        self.call_with(tx, Request::GetPerms { path }, |r| r.perms())
    }

    pub(crate) fn set_perms_in(
        &mut self,
        tx: TxId,
        path: &str,
        perms: &[Perm],
    ) -> Result<(), XsError> {
        if perms.is_empty() {
            // xenstored needs at least the owner.
            return Err(XsError::Errno(XsErrno::EINVAL));
        }
        self.call_with(tx, Request::SetPerms { path, perms }, |r| r.ack())
    }

    /// Reads a value as UTF-8 text.
    pub fn read(&mut self, path: &str) -> Result<String, XsError> {
        self.call_with(TxId::NONE, Request::Read { path }, |r| r.into_string())
    }

    /// Reads a value as bytes.
    pub fn read_bytes(&mut self, path: &str) -> Result<Vec<u8>, XsError> {
        self.read_bytes_in(TxId::NONE, path)
    }

    /// Writes a value, creating the node (and missing parents).
    pub fn write(&mut self, path: &str, value: &[u8]) -> Result<(), XsError> {
        self.write_in(TxId::NONE, path, value)
    }

    /// The names of a node's children (in parts with `DIRECTORY_PART` when they do not fit
    /// in one reply).
    pub fn directory(&mut self, path: &str) -> Result<Vec<String>, XsError> {
        self.directory_in(TxId::NONE, path)
    }

    /// Creates a node with an empty value (no error if it exists).
    pub fn mkdir(&mut self, path: &str) -> Result<(), XsError> {
        self.mkdir_in(TxId::NONE, path)
    }

    /// Removes a node and everything below it.
    pub fn rm(&mut self, path: &str) -> Result<(), XsError> {
        self.rm_in(TxId::NONE, path)
    }

    pub fn get_perms(&mut self, path: &str) -> Result<Vec<Perm>, XsError> {
        self.get_perms_in(TxId::NONE, path)
    }

    /// Sets a node's permissions: the first entry is the owner and the default access.
    pub fn set_perms(&mut self, path: &str, perms: &[Perm]) -> Result<(), XsError> {
        self.set_perms_in(TxId::NONE, path, perms)
    }

    /// Registers a watch on `path` (and everything below it). xenstored fires one event right
    /// away, then one per change; take them with [`Xenstore::next_watch_event`] or
    /// [`Xenstore::next_watch_event_for`].
    pub fn watch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.call_with(TxId::NONE, Request::Watch { path, token }, |r| r.ack())
    }

    /// Removes a watch; its queued events are dropped (unless another watch has the token).
    pub fn unwatch(&mut self, path: &str, token: &str) -> Result<(), XsError> {
        self.call_with(TxId::NONE, Request::Unwatch { path, token }, |r| r.ack())
    }

    /// Waits (event-driven, at most `timeout_ns`) for the next watch event of any registered
    /// watch.
    pub fn next_watch_event(&mut self, timeout_ns: u64) -> Result<WatchEvent, XsError> {
        let deadline = self.deadline(timeout_ns);
        self.wait_until(deadline, |s| !s.events.is_empty())?;
        self.events.pop_front().ok_or(XsError::Timeout)
    }

    /// Waits for the next watch event with `token`; events of other watches stay queued.
    pub fn next_watch_event_for(
        &mut self,
        token: &str,
        timeout_ns: u64,
    ) -> Result<WatchEvent, XsError> {
        let deadline = self.deadline(timeout_ns);
        self.wait_until(deadline, |s| s.events.iter().any(|e| e.token == token))?;
        let i = self
            .events
            .iter()
            .position(|e| e.token == token)
            .ok_or(XsError::Timeout)?;
        self.events.remove(i).ok_or(XsError::Timeout)
    }

    /// Starts a transaction by hand (see [`Xenstore::transaction`] for the retrying form).
    pub fn transaction_start(&mut self) -> Result<TxId, XsError> {
        self.call_with(TxId::NONE, Request::TransactionStart, |r| {
            r.transaction_id()
        })
    }

    /// Commits (`commit`) or aborts a transaction. A commit that conflicts with a concurrent
    /// change fails with `EAGAIN`: run the transaction again.
    pub fn transaction_end(&mut self, tx: TxId, commit: bool) -> Result<(), XsError> {
        self.call_with(tx, Request::TransactionEnd { commit }, |r| r.ack())
    }

    /// Runs `f` in a transaction and commits it; when the commit (or an operation in it) fails
    /// with `EAGAIN`, runs it again, at most [`MAX_TRANSACTION_ATTEMPTS`] times in all (then the
    /// `EAGAIN` is returned). Any other error of `f` aborts the transaction and is returned.
    pub fn transaction<R>(
        &mut self,
        mut f: impl FnMut(&mut Transaction<'_, P>) -> Result<R, XsError>,
    ) -> Result<R, XsError> {
        for _ in 0..MAX_TRANSACTION_ATTEMPTS {
            let id = self.transaction_start()?;
            let result = f(&mut Transaction { xs: self, id });
            match result {
                Ok(v) => match self.transaction_end(id, true) {
                    Ok(()) => return Ok(v),
                    Err(XsError::Errno(XsErrno::EAGAIN)) => continue,
                    Err(e) => return Err(e),
                },
                Err(e) => {
                    // Abort; if that fails too, the error of `f` is the one to report.
                    let _ = self.transaction_end(id, false);
                    if e != XsError::Errno(XsErrno::EAGAIN) {
                        return Err(e);
                    }
                }
            }
        }
        Err(XsError::Errno(XsErrno::EAGAIN))
    }

    /// The path of a domain's home (`/local/domain/<domid>`).
    pub fn get_domain_path(&mut self, domid: u16) -> Result<String, XsError> {
        self.call_with(TxId::NONE, Request::GetDomainPath { domid }, |r| r.string())
    }

    /// Our domain id, from the `domid` node of our home.
    pub fn domid(&mut self) -> Result<u16, XsError> {
        self.call_with(TxId::NONE, Request::Read { path: "domid" }, |r| {
            wire::parse_decimal_value(r.payload())
                .and_then(|d| u16::try_from(d).ok())
                .ok_or(ProtocolError::BadNumber.into())
        })
    }
}

/// An open transaction: the operations of [`Xenstore`], seeing and making changes that the
/// rest of the store sees only once it commits.
pub struct Transaction<'a, P: XsPlatform> {
    xs: &'a mut Xenstore<P>,
    id: TxId,
}

impl<P: XsPlatform> fmt::Debug for Transaction<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction").field("id", &self.id).finish()
    }
}

impl<P: XsPlatform> Transaction<'_, P> {
    pub fn id(&self) -> TxId {
        self.id
    }

    pub fn read(&mut self, path: &str) -> Result<String, XsError> {
        self.xs
            .call_with(self.id, Request::Read { path }, |r| r.into_string())
    }

    pub fn read_bytes(&mut self, path: &str) -> Result<Vec<u8>, XsError> {
        self.xs.read_bytes_in(self.id, path)
    }

    pub fn write(&mut self, path: &str, value: &[u8]) -> Result<(), XsError> {
        self.xs.write_in(self.id, path, value)
    }

    pub fn directory(&mut self, path: &str) -> Result<Vec<String>, XsError> {
        self.xs.directory_in(self.id, path)
    }

    pub fn mkdir(&mut self, path: &str) -> Result<(), XsError> {
        self.xs.mkdir_in(self.id, path)
    }

    pub fn rm(&mut self, path: &str) -> Result<(), XsError> {
        self.xs.rm_in(self.id, path)
    }

    pub fn get_perms(&mut self, path: &str) -> Result<Vec<Perm>, XsError> {
        self.xs.get_perms_in(self.id, path)
    }

    pub fn set_perms(&mut self, path: &str, perms: &[Perm]) -> Result<(), XsError> {
        self.xs.set_perms_in(self.id, path, perms)
    }

    /// Pipelining inside the transaction.
    pub fn submit(&mut self, req: Request<'_>) -> Result<RequestId, XsError> {
        self.xs.submit(self.id, req)
    }

    pub fn complete(&mut self, id: RequestId, timeout_ns: u64) -> Result<Reply, XsError> {
        self.xs.complete(id, timeout_ns)
    }
}
