//! A fake xenstored for host tests: it serves the other side of the same ring page the client
//! uses, and is the client's [`XsPlatform`] (its `wait_event` runs the server).
//!
//! It implements every operation the client sends, with xenstored's rules where tests can see
//! them: relative paths under the guest's home, permissions (owner, per-domain entries, the
//! first entry as default, dom0 privileged, unprivileged creators own what they create),
//! watches (the initial event on registration, events for changes at or below the watched
//! path, removal of an ancestor, relative event paths for relative watches), and transactions
//! (a snapshot per transaction; a commit that conflicts with a change another domain made to a
//! node the transaction touched fails with `EAGAIN`). Time is virtual: `wait_event` advances it
//! to the next scheduled action or to the deadline, so timeouts cost nothing.
//!
//! Hostile behaviour for tests: [`FakeXenstored::inject`] puts raw bytes into the response
//! stream, [`FakeXenstored::set_reply_hook`] replaces, drops or prefixes the reply to chosen
//! requests, [`FakeXenstored::set_paused`] stops it reading requests,
//! [`FakeXenstored::set_reorder`] answers each batch of requests in reverse order, and
//! [`FakeXenstored::set_notify_error`] makes the guest's notifications fail.

extern crate std;

use core::cell::{Cell, RefCell};
use std::boxed::Box;
use std::collections::{BTreeMap, VecDeque};
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use xen_abi::xs_wire::{self as abi, XenstoreDomainInterface, XsdSockmsg};
use xen_hal::XenError;
use xen_ring::ByteRing;

use crate::wire::{self, Perm, PermKind};
use crate::{XsErrno, XsPlatform};

/// What the reply hook wants done with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookAction {
    /// Serve it normally.
    Serve,
    /// Neither execute nor answer it.
    Drop,
    /// Do not execute it; send these raw bytes instead of the reply.
    Replace(Vec<u8>),
    /// Send these raw bytes, then serve it normally.
    Before(Vec<u8>),
}

type Hook = Box<dyn FnMut(&XsdSockmsg, &[u8]) -> HookAction>;
type Action = Box<dyn FnOnce(&FakeXenstored)>;

#[derive(Debug, Clone)]
struct Node {
    value: Vec<u8>,
    perms: Vec<Perm>,
    /// Generation of the last change to the node or its list of children.
    gen: u64,
}

type Tree = BTreeMap<String, Node>;

#[derive(Debug, Clone)]
enum Op {
    Write(String, Vec<u8>),
    Mkdir(String),
    Rm(String),
    SetPerms(String, Vec<Perm>),
}

#[derive(Debug)]
struct Tx {
    /// The store when the transaction started.
    base: Tree,
    /// The transaction's view: `base` plus its own changes.
    work: Tree,
    /// Paths read or changed (with their parents for changes).
    accessed: Vec<String>,
    log: Vec<Op>,
}

#[derive(Debug)]
struct Watch {
    /// As registered (relative or absolute or `@special`).
    path: String,
    /// Canonical (absolute) form.
    abs: String,
    token: String,
}

#[derive(Debug)]
struct State {
    guest: u16,
    tree: Tree,
    gen: u64,
    watches: Vec<Watch>,
    txs: BTreeMap<u32, Tx>,
    next_tx: u32,
    rx: Vec<u8>,
    out: VecDeque<u8>,
    log: Vec<XsdSockmsg>,
    broken: bool,
    paused: bool,
    reorder: bool,
}

/// The fake xenstored; see the module documentation.
pub struct FakeXenstored {
    ring: &'static XenstoreDomainInterface,
    st: RefCell<State>,
    clock: Cell<u64>,
    notifies: Cell<u64>,
    notify_error: Cell<Option<XenError>>,
    waits: Cell<u64>,
    scheduled: RefCell<Vec<(u64, Action)>>,
    hook: RefCell<Option<Hook>>,
}

impl core::fmt::Debug for FakeXenstored {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FakeXenstored")
            .field("clock", &self.clock.get())
            .field("notifies", &self.notifies.get())
            .field("waits", &self.waits.get())
            .finish_non_exhaustive()
    }
}

/// Time one `wait_event` takes when the server has work (virtual).
const WAIT_TICK_NS: u64 = 1_000;

fn is_below_or_at(child: &str, parent: &str) -> bool {
    child == parent
        || parent == "/"
        || (child.starts_with(parent) && child.as_bytes().get(parent.len()) == Some(&b'/'))
}

fn parent_of(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

fn children(tree: &Tree, path: &str) -> Vec<String> {
    let prefix = if path == "/" {
        String::from("/")
    } else {
        format!("{path}/")
    };
    tree.range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(k, _)| !k[prefix.len()..].contains('/') && k.len() > prefix.len())
        .map(|(k, _)| k[prefix.len()..].to_string())
        .collect()
}

fn access(perms: &[Perm], dom: u16) -> (PermKind, bool) {
    let owner = perms.first().map_or(0, |p| p.domid);
    if dom == 0 || dom == owner {
        return (PermKind::Both, dom == owner || dom == 0);
    }
    let kind = perms
        .iter()
        .skip(1)
        .find(|p| p.domid == dom)
        .or(perms.first())
        .map_or(PermKind::None, |p| p.kind);
    (kind, false)
}

/// Sets the value of `abs` (`Some`) or creates it empty (`None`), creating missing parents:
/// the nearest existing ancestor must be writable; new nodes inherit its permissions, and an
/// unprivileged creator owns them.
fn create_or_set(
    tree: &mut Tree,
    dom: u16,
    abs: &str,
    value: Option<Vec<u8>>,
    gen: u64,
) -> Result<(), XsErrno> {
    if let Some(node) = tree.get_mut(abs) {
        if !access(&node.perms, dom).0.can_write() {
            return Err(XsErrno::EACCES);
        }
        node.value = value.unwrap_or_default();
        node.gen = gen;
        return Ok(());
    }
    let mut missing = std::vec![abs.to_string()];
    let mut anc = parent_of(abs);
    while let Some(a) = anc {
        if tree.contains_key(a) {
            break;
        }
        missing.push(a.to_string());
        anc = parent_of(a);
    }
    let parent = tree
        .get_mut(anc.ok_or(XsErrno::ENOENT)?)
        .ok_or(XsErrno::ENOENT)?;
    if !access(&parent.perms, dom).0.can_write() {
        return Err(XsErrno::EACCES);
    }
    parent.gen = gen;
    let mut perms = parent.perms.clone();
    if dom != 0 {
        perms[0].domid = dom;
    }
    let mut value = value;
    for (i, p) in missing.into_iter().enumerate() {
        let v = if i == 0 {
            value.take().unwrap_or_default()
        } else {
            Vec::new()
        };
        tree.insert(
            p,
            Node {
                value: v,
                perms: perms.clone(),
                gen,
            },
        );
    }
    Ok(())
}

impl State {
    fn home(&self) -> String {
        format!("/local/domain/{}", self.guest)
    }

    /// The canonical form of a node path, or EINVAL.
    fn canon(&self, path: &str) -> Result<String, XsErrno> {
        let valid = |p: &str| {
            p.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-/_@".contains(&c))
                && !p.contains("//")
        };
        if path.is_empty() || !valid(path) {
            return Err(XsErrno::EINVAL);
        }
        let abs = if path.starts_with('/') {
            if path.len() > 1 && path.ends_with('/') {
                return Err(XsErrno::EINVAL);
            }
            path.to_string()
        } else {
            if path.ends_with('/') || path.len() > abi::XENSTORE_REL_PATH_MAX {
                return Err(XsErrno::EINVAL);
            }
            format!("{}/{path}", self.home())
        };
        if abs.len() > abi::XENSTORE_ABS_PATH_MAX {
            return Err(XsErrno::EINVAL);
        }
        Ok(abs)
    }

    fn tree_mut(&mut self, tx: u32) -> Result<&mut Tree, XsErrno> {
        if tx == 0 {
            Ok(&mut self.tree)
        } else {
            self.txs
                .get_mut(&tx)
                .map(|t| &mut t.work)
                .ok_or(XsErrno::ENOENT)
        }
    }

    fn touch(&mut self, tx: u32, path: &str, with_parent: bool) {
        if let Some(t) = self.txs.get_mut(&tx) {
            t.accessed.push(path.to_string());
            if with_parent {
                if let Some(p) = parent_of(path) {
                    t.accessed.push(p.to_string());
                }
            }
        }
    }

    fn read(&mut self, tx: u32, dom: u16, path: &str) -> Result<Vec<u8>, XsErrno> {
        let abs = self.canon(path)?;
        self.touch(tx, &abs, false);
        let node = self.tree_mut(tx)?.get(&abs).ok_or(XsErrno::ENOENT)?;
        if !access(&node.perms, dom).0.can_read() {
            return Err(XsErrno::EACCES);
        }
        Ok(node.value.clone())
    }

    fn directory(&mut self, tx: u32, dom: u16, path: &str) -> Result<(u64, Vec<String>), XsErrno> {
        let abs = self.canon(path)?;
        self.touch(tx, &abs, false);
        let tree = self.tree_mut(tx)?;
        let node = tree.get(&abs).ok_or(XsErrno::ENOENT)?;
        if !access(&node.perms, dom).0.can_read() {
            return Err(XsErrno::EACCES);
        }
        Ok((node.gen, children(tree, &abs)))
    }

    fn get_perms(&mut self, tx: u32, dom: u16, path: &str) -> Result<Vec<Perm>, XsErrno> {
        let abs = self.canon(path)?;
        self.touch(tx, &abs, false);
        let node = self.tree_mut(tx)?.get(&abs).ok_or(XsErrno::ENOENT)?;
        if !access(&node.perms, dom).0.can_read() {
            return Err(XsErrno::EACCES);
        }
        Ok(node.perms.clone())
    }

    /// Applies a change to the store or to a transaction's view; returns the changed paths
    /// for watches (with whether the change removed a subtree).
    fn apply(&mut self, tx: u32, dom: u16, op: Op) -> Result<Vec<(String, bool)>, XsErrno> {
        let path = match &op {
            Op::Write(p, _) | Op::Mkdir(p) | Op::Rm(p) | Op::SetPerms(p, _) => p.clone(),
        };
        let abs = self.canon(&path)?;
        self.touch(tx, &abs, true);
        self.gen += 1;
        let gen = self.gen;
        let tree = self.tree_mut(tx)?;
        let mut changed = Vec::new();
        match op {
            Op::Write(_, value) => {
                create_or_set(tree, dom, &abs, Some(value), gen)?;
                changed.push((abs, false));
            }
            Op::Mkdir(_) => {
                // An existing node is left alone, without an event.
                if !tree.contains_key(&abs) {
                    create_or_set(tree, dom, &abs, None, gen)?;
                    changed.push((abs, false));
                }
            }
            Op::Rm(_) => {
                if abs == "/" {
                    return Err(XsErrno::EINVAL);
                }
                let Some(node) = tree.get(&abs) else {
                    // Not there is fine if the parent is.
                    return match parent_of(&abs).filter(|p| tree.contains_key(*p)) {
                        Some(_) => Ok(changed),
                        None => Err(XsErrno::ENOENT),
                    };
                };
                if !access(&node.perms, dom).0.can_write() {
                    return Err(XsErrno::EACCES);
                }
                let doomed: Vec<String> = tree
                    .range(abs.clone()..)
                    .take_while(|(k, _)| k.starts_with(&abs))
                    .filter(|(k, _)| is_below_or_at(k, &abs))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in doomed {
                    tree.remove(&k);
                }
                if let Some(p) = parent_of(&abs).and_then(|p| tree.get_mut(p)) {
                    p.gen = gen;
                }
                changed.push((abs, true));
            }
            Op::SetPerms(_, perms) => {
                let node = tree.get_mut(&abs).ok_or(XsErrno::ENOENT)?;
                let (kind, owner) = access(&node.perms, dom);
                if !owner || !kind.can_write() {
                    return Err(XsErrno::EACCES);
                }
                if perms.is_empty() {
                    return Err(XsErrno::EINVAL);
                }
                node.perms = perms;
                node.gen = gen;
                changed.push((abs, false));
            }
        }
        if tx != 0 {
            // Watches fire when (if) the transaction commits.
            return Ok(Vec::new());
        }
        Ok(changed)
    }

    /// Queues the watch events for changed paths.
    fn fire(&mut self, changed: &[(String, bool)]) {
        let home = format!("{}/", self.home());
        let mut events = Vec::new();
        for (path, removed) in changed {
            for w in &self.watches {
                let ev_path = if is_below_or_at(path, &w.abs) {
                    if w.path.starts_with('/') {
                        path.clone()
                    } else {
                        path.strip_prefix(&home).unwrap_or(path).to_string()
                    }
                } else if *removed && is_below_or_at(&w.abs, path) {
                    w.path.clone()
                } else {
                    continue;
                };
                events.push((ev_path, w.token.clone()));
            }
        }
        for (p, t) in events {
            self.push_event(&p, &t);
        }
    }

    fn push_event(&mut self, path: &str, token: &str) {
        let mut payload = Vec::new();
        payload.extend_from_slice(path.as_bytes());
        payload.push(0);
        payload.extend_from_slice(token.as_bytes());
        payload.push(0);
        let msg = message(abi::XS_WATCH_EVENT, 0, 0, &payload);
        self.out.extend(msg);
    }

    fn commit(&mut self, id: u32) -> Result<Vec<(String, bool)>, XsErrno> {
        let tx = self.txs.remove(&id).ok_or(XsErrno::ENOENT)?;
        let conflict = tx
            .accessed
            .iter()
            .any(|p| tx.base.get(p).map(|n| n.gen) != self.tree.get(p).map(|n| n.gen));
        if conflict {
            return Err(XsErrno::EAGAIN);
        }
        let dom = self.guest;
        let mut changed = Vec::new();
        for op in tx.log {
            // The nodes touched are unchanged since the start, so this replays as it ran.
            if let Ok(c) = self.apply(0, dom, op) {
                changed.extend(c);
            }
        }
        Ok(changed)
    }

    /// Executes one request from the guest; returns (reply type, payload) and the changes.
    fn execute(&mut self, hdr: &XsdSockmsg, payload: &[u8]) -> Result<Vec<u8>, XsErrno> {
        let dom = self.guest;
        let tx = hdr.tx_id;
        if tx != 0 && !self.txs.contains_key(&tx) {
            return Err(XsErrno::ENOENT);
        }
        let args = |n: usize| -> Result<Vec<String>, XsErrno> {
            let strings = wire::split_strings(payload).map_err(|_| XsErrno::EINVAL)?;
            if strings.len() != n {
                return Err(XsErrno::EINVAL);
            }
            strings
                .into_iter()
                .map(|s| wire::utf8(s).map_err(|_| XsErrno::EINVAL))
                .collect()
        };
        let ok = || b"OK\0".to_vec();
        match hdr.ty {
            abi::XS_READ => self.read(tx, dom, &args(1)?[0]),
            abi::XS_WRITE => {
                let nul = payload
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or(XsErrno::EINVAL)?;
                let path = core::str::from_utf8(&payload[..nul]).map_err(|_| XsErrno::EINVAL)?;
                let op = Op::Write(path.to_string(), payload[nul + 1..].to_vec());
                self.change(tx, dom, op)?;
                Ok(ok())
            }
            abi::XS_MKDIR => {
                self.change(tx, dom, Op::Mkdir(args(1)?.remove(0)))?;
                Ok(ok())
            }
            abi::XS_RM => {
                self.change(tx, dom, Op::Rm(args(1)?.remove(0)))?;
                Ok(ok())
            }
            abi::XS_SET_PERMS => {
                let strings = wire::split_strings(payload).map_err(|_| XsErrno::EINVAL)?;
                let (path, perms) = strings.split_first().ok_or(XsErrno::EINVAL)?;
                let path = wire::utf8(path).map_err(|_| XsErrno::EINVAL)?;
                let perms = perms
                    .iter()
                    .map(|p| Perm::parse(p).map_err(|_| XsErrno::EINVAL))
                    .collect::<Result<Vec<_>, _>>()?;
                self.change(tx, dom, Op::SetPerms(path, perms))?;
                Ok(ok())
            }
            abi::XS_GET_PERMS => {
                let perms = self.get_perms(tx, dom, &args(1)?[0])?;
                let mut out = Vec::new();
                for p in perms {
                    out.extend_from_slice(p.to_string().as_bytes());
                    out.push(0);
                }
                Ok(out)
            }
            abi::XS_DIRECTORY => {
                let (_, names) = self.directory(tx, dom, &args(1)?[0])?;
                let mut out = Vec::new();
                for n in names {
                    out.extend_from_slice(n.as_bytes());
                    out.push(0);
                }
                if out.len() > abi::XENSTORE_PAYLOAD_MAX {
                    return Err(XsErrno::E2BIG);
                }
                Ok(out)
            }
            abi::XS_DIRECTORY_PART => {
                let a = args(2)?;
                let offset = wire::parse_decimal(a[1].as_bytes()).ok_or(XsErrno::EINVAL)?;
                let (gen, names) = self.directory(tx, dom, &a[0])?;
                let mut all = Vec::new();
                for n in names {
                    all.extend_from_slice(n.as_bytes());
                    all.push(0);
                }
                let offset = usize::try_from(offset).map_err(|_| XsErrno::EINVAL)?;
                if offset > all.len() || (offset > 0 && all[offset - 1] != 0) {
                    return Err(XsErrno::EINVAL);
                }
                let mut out = format!("{gen}").into_bytes();
                out.push(0);
                let room = abi::XENSTORE_PAYLOAD_MAX - out.len() - 1;
                let rest = &all[offset..];
                if rest.len() <= room {
                    out.extend_from_slice(rest);
                    out.push(0);
                } else {
                    // Whole names only.
                    let cut = rest[..room]
                        .iter()
                        .rposition(|&b| b == 0)
                        .map_or(0, |i| i + 1);
                    out.extend_from_slice(&rest[..cut]);
                }
                Ok(out)
            }
            abi::XS_WATCH => {
                let a = args(2)?;
                let abs = if a[0].starts_with('@') {
                    a[0].clone()
                } else {
                    self.canon(&a[0])?
                };
                if self
                    .watches
                    .iter()
                    .any(|w| w.path == a[0] && w.token == a[1])
                {
                    return Err(XsErrno::EEXIST);
                }
                self.watches.push(Watch {
                    path: a[0].clone(),
                    abs,
                    token: a[1].clone(),
                });
                Ok(ok())
            }
            abi::XS_UNWATCH => {
                let a = args(2)?;
                let i = self
                    .watches
                    .iter()
                    .position(|w| w.path == a[0] && w.token == a[1])
                    .ok_or(XsErrno::ENOENT)?;
                self.watches.remove(i);
                Ok(ok())
            }
            abi::XS_TRANSACTION_START => {
                if tx != 0 {
                    return Err(XsErrno::EBUSY);
                }
                self.next_tx += 1;
                let id = self.next_tx;
                self.txs.insert(
                    id,
                    Tx {
                        base: self.tree.clone(),
                        work: self.tree.clone(),
                        accessed: Vec::new(),
                        log: Vec::new(),
                    },
                );
                let mut out = format!("{id}").into_bytes();
                out.push(0);
                Ok(out)
            }
            abi::XS_TRANSACTION_END => {
                let commit = match payload {
                    b"T\0" => true,
                    b"F\0" => false,
                    _ => return Err(XsErrno::EINVAL),
                };
                if tx == 0 {
                    return Err(XsErrno::ENOENT);
                }
                if commit {
                    let changed = self.commit(tx)?;
                    self.fire(&changed);
                } else {
                    self.txs.remove(&tx);
                }
                Ok(ok())
            }
            abi::XS_GET_DOMAIN_PATH => {
                let d = wire::parse_decimal(args(1)?[0].as_bytes()).ok_or(XsErrno::EINVAL)?;
                let mut out = format!("/local/domain/{d}").into_bytes();
                out.push(0);
                Ok(out)
            }
            _ => Err(XsErrno::EINVAL),
        }
    }

    fn change(&mut self, tx: u32, dom: u16, op: Op) -> Result<(), XsErrno> {
        let changed = self.apply(tx, dom, op.clone())?;
        if let Some(t) = self.txs.get_mut(&tx) {
            t.log.push(op);
        }
        self.fire(&changed);
        Ok(())
    }
}

/// A whole message: header and payload.
pub fn message(ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let hdr = XsdSockmsg {
        ty,
        req_id,
        tx_id,
        len: payload.len() as u32,
    };
    let mut m = hdr.to_bytes().to_vec();
    m.extend_from_slice(payload);
    m
}

impl Default for FakeXenstored {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeXenstored {
    /// The guest's domain id in [`FakeXenstored::new`].
    pub const GUEST_DOMID: u16 = 1;

    /// A fake serving a freshly leaked ring page for domain [`Self::GUEST_DOMID`].
    pub fn new() -> Self {
        Self::with_ring(
            Box::leak(Box::new(XenstoreDomainInterface::new())),
            Self::GUEST_DOMID,
        )
    }

    /// A fake serving `ring` (whose indices it resets) for domain `guest`. The store holds
    /// `/local/domain/<guest>` (owned by dom0, `b<guest>` for the guest) with `domid` and
    /// `name` read-only for the guest, and `/local/domain/0` closed to it.
    pub fn with_ring(ring: &'static XenstoreDomainInterface, guest: u16) -> Self {
        use core::sync::atomic::Ordering::Relaxed;
        for idx in [
            &ring.req_cons,
            &ring.req_prod,
            &ring.rsp_cons,
            &ring.rsp_prod,
            &ring.error,
            &ring.connection,
        ] {
            idx.store(0, Relaxed);
        }
        ring.server_features
            .store(abi::XENSTORE_SERVER_FEATURE_ERROR, Relaxed);
        let closed = std::vec![Perm::new(0, PermKind::None)];
        let guest_ro = std::vec![
            Perm::new(0, PermKind::None),
            Perm::new(guest, PermKind::Read)
        ];
        let guest_rw = std::vec![
            Perm::new(0, PermKind::None),
            Perm::new(guest, PermKind::Both)
        ];
        let home = format!("/local/domain/{guest}");
        let nodes = [
            ("/".to_string(), Vec::new(), &closed),
            ("/local".to_string(), Vec::new(), &closed),
            ("/local/domain".to_string(), Vec::new(), &guest_ro),
            ("/local/domain/0".to_string(), Vec::new(), &closed),
            (home.clone(), Vec::new(), &guest_rw),
            (
                format!("{home}/domid"),
                format!("{guest}").into_bytes(),
                &guest_ro,
            ),
            (format!("{home}/name"), b"guest".to_vec(), &guest_ro),
        ];
        let mut tree = Tree::new();
        for (path, value, perms) in nodes {
            tree.insert(
                path,
                Node {
                    value,
                    perms: perms.clone(),
                    gen: 0,
                },
            );
        }
        Self {
            ring,
            st: RefCell::new(State {
                guest,
                tree,
                gen: 0,
                watches: Vec::new(),
                txs: BTreeMap::new(),
                next_tx: 0,
                rx: Vec::new(),
                out: VecDeque::new(),
                log: Vec::new(),
                broken: false,
                paused: false,
                reorder: false,
            }),
            clock: Cell::new(0),
            notifies: Cell::new(0),
            notify_error: Cell::new(None),
            waits: Cell::new(0),
            scheduled: RefCell::new(Vec::new()),
            hook: RefCell::new(None),
        }
    }
}

impl FakeXenstored {
    /// The shared ring page, for [`crate::Xenstore::new`].
    pub fn ring(&self) -> &'static XenstoreDomainInterface {
        self.ring
    }

    pub fn guest_domid(&self) -> u16 {
        self.st.borrow().guest
    }

    /// `/local/domain/<guest>`.
    pub fn home(&self) -> String {
        self.st.borrow().home()
    }

    // ---------------------------------------------------------------------------------------
    // The store as other domains see it (no ring involved; watches fire)

    /// Writes as domain `dom` (0 is privileged), e.g. a back end or the toolstack.
    pub fn write_as(&self, dom: u16, path: &str, value: &[u8]) -> Result<(), XsErrno> {
        self.st
            .borrow_mut()
            .change(0, dom, Op::Write(path.into(), value.into()))
    }

    pub fn mkdir_as(&self, dom: u16, path: &str) -> Result<(), XsErrno> {
        self.st.borrow_mut().change(0, dom, Op::Mkdir(path.into()))
    }

    pub fn rm_as(&self, dom: u16, path: &str) -> Result<(), XsErrno> {
        self.st.borrow_mut().change(0, dom, Op::Rm(path.into()))
    }

    pub fn set_perms_as(&self, dom: u16, path: &str, perms: &[Perm]) -> Result<(), XsErrno> {
        self.st
            .borrow_mut()
            .change(0, dom, Op::SetPerms(path.into(), perms.into()))
    }

    pub fn read_as(&self, dom: u16, path: &str) -> Result<Vec<u8>, XsErrno> {
        self.st.borrow_mut().read(0, dom, path)
    }

    pub fn get_perms_as(&self, dom: u16, path: &str) -> Result<Vec<Perm>, XsErrno> {
        self.st.borrow_mut().get_perms(0, dom, path)
    }

    pub fn directory_as(&self, dom: u16, path: &str) -> Result<Vec<String>, XsErrno> {
        self.st.borrow_mut().directory(0, dom, path).map(|d| d.1)
    }

    /// The value at `path` (relative to the guest's home or absolute), ignoring permissions.
    pub fn value(&self, path: &str) -> Option<Vec<u8>> {
        self.read_as(0, path).ok()
    }

    /// Creates a device the way the toolstack does: the front end at
    /// `<home>/device/<kind>/<index>` (owned by the guest, readable by dom0) with `backend`,
    /// `backend-id` and `state` = Initialising, and the back end at
    /// `/local/domain/0/backend/<kind>/<guest>/<index>` (owned by dom0, readable by the guest)
    /// with `frontend`, `frontend-id` and no `state` yet. Returns (the front end's path
    /// relative to the home, the back end's absolute path).
    pub fn add_device(&self, kind: &str, index: u32) -> (String, String) {
        let guest = self.guest_domid();
        let fe_rel = format!("device/{kind}/{index}");
        let fe = format!("{}/{fe_rel}", self.home());
        let be = format!("/local/domain/0/backend/{kind}/{guest}/{index}");
        let fe_perms = [
            Perm::new(guest, PermKind::None),
            Perm::new(0, PermKind::Read),
        ];
        let be_perms = [
            Perm::new(0, PermKind::None),
            Perm::new(guest, PermKind::Read),
        ];
        let ok = |r: Result<(), XsErrno>| r.expect("fake store setup");
        ok(self.write_as(0, &format!("{fe}/backend"), be.as_bytes()));
        ok(self.write_as(0, &format!("{fe}/backend-id"), b"0"));
        ok(self.write_as(0, &format!("{fe}/state"), b"1"));
        ok(self.write_as(0, &format!("{be}/frontend"), fe.as_bytes()));
        ok(self.write_as(
            0,
            &format!("{be}/frontend-id"),
            guest.to_string().as_bytes(),
        ));
        for p in ["", "/backend", "/backend-id", "/state"] {
            ok(self.set_perms_as(0, &format!("{fe}{p}"), &fe_perms));
        }
        for p in ["", "/frontend", "/frontend-id"] {
            ok(self.set_perms_as(0, &format!("{be}{p}"), &be_perms));
        }
        (fe_rel, be)
    }

    /// Watches the guest has registered, as (path, token).
    pub fn watches(&self) -> Vec<(String, String)> {
        let st = self.st.borrow();
        st.watches
            .iter()
            .map(|w| (w.path.clone(), w.token.clone()))
            .collect()
    }

    /// Transactions open.
    pub fn open_transactions(&self) -> usize {
        self.st.borrow().txs.len()
    }

    /// Headers of every request served (or dropped by the hook), in order.
    pub fn requests(&self) -> Vec<XsdSockmsg> {
        self.st.borrow().log.clone()
    }

    // ---------------------------------------------------------------------------------------
    // Hostility and scheduling

    /// Raw bytes into the response stream (after any reply already queued).
    pub fn inject(&self, bytes: &[u8]) {
        self.st.borrow_mut().out.extend(bytes.iter().copied());
        self.flush_out();
    }

    /// A whole message into the response stream.
    pub fn inject_message(&self, ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) {
        self.inject(&message(ty, req_id, tx_id, payload));
    }

    /// Decides, for every request before it is served, what to do with it.
    pub fn set_reply_hook(&self, hook: impl FnMut(&XsdSockmsg, &[u8]) -> HookAction + 'static) {
        *self.hook.borrow_mut() = Some(Box::new(hook));
    }

    pub fn clear_reply_hook(&self) {
        *self.hook.borrow_mut() = None;
    }

    /// While paused the server reads no requests (so it answers none); bytes already queued
    /// for the guest, e.g. injected ones, still go out.
    pub fn set_paused(&self, paused: bool) {
        self.st.borrow_mut().paused = paused;
    }

    /// Answer each batch of requests read together in reverse order.
    pub fn set_reorder(&self, reorder: bool) {
        self.st.borrow_mut().reorder = reorder;
    }

    /// Runs `action` once the virtual clock has advanced by `delay_ns` (while the client
    /// waits).
    pub fn schedule(&self, delay_ns: u64, action: impl FnOnce(&FakeXenstored) + 'static) {
        let at = self.clock.get().saturating_add(delay_ns);
        self.scheduled.borrow_mut().push((at, Box::new(action)));
    }

    /// The virtual clock (ns).
    pub fn now(&self) -> u64 {
        self.clock.get()
    }

    /// Advances the virtual clock.
    pub fn advance(&self, ns: u64) {
        self.clock.set(self.clock.get().saturating_add(ns));
    }

    /// While set, the guest's notifications fail with this error.
    pub fn set_notify_error(&self, e: Option<XenError>) {
        self.notify_error.set(e);
    }

    /// Notifications received from the guest.
    pub fn notifies(&self) -> u64 {
        self.notifies.get()
    }

    /// Calls of `wait_event`.
    pub fn waits(&self) -> u64 {
        self.waits.get()
    }

    /// Whether the guest broke the protocol (the `error` field of the page says how).
    pub fn is_broken(&self) -> bool {
        self.st.borrow().broken
    }

    fn run_due_actions(&self) -> bool {
        let now = self.clock.get();
        let mut ran = false;
        loop {
            let due = {
                let mut s = self.scheduled.borrow_mut();
                let i = s
                    .iter()
                    .enumerate()
                    .filter(|(_, (t, _))| *t <= now)
                    .min_by_key(|(_, (t, _))| *t)
                    .map(|(i, _)| i);
                i.map(|i| s.remove(i).1)
            };
            match due {
                Some(action) => {
                    action(self);
                    ran = true;
                }
                None => return ran,
            }
        }
    }

    fn flush_out(&self) -> bool {
        let ring = self.ring;
        let rsp = ByteRing::new(&ring.rsp, &ring.rsp_cons, &ring.rsp_prod);
        let mut st = self.st.borrow_mut();
        let mut wrote = false;
        while !st.out.is_empty() {
            let (front, _) = st.out.as_slices();
            match rsp.write(front) {
                Ok(0) => break,
                Ok(n) => {
                    st.out.drain(..n);
                    wrote = true;
                }
                Err(_) => {
                    st.broken = true;
                    ring.error.store(
                        abi::XENSTORE_ERROR_RINGIDX,
                        core::sync::atomic::Ordering::Relaxed,
                    );
                    break;
                }
            }
        }
        wrote
    }

    /// Serves what the guest has sent and writes what fits of the replies; returns whether
    /// anything moved. `wait_event` calls this.
    pub fn serve(&self) -> bool {
        let mut progress = self.run_due_actions();
        loop {
            let mut moved = false;
            if !self.st.borrow().broken {
                if !self.st.borrow().paused {
                    moved |= self.read_requests();
                }
                moved |= self.flush_out();
            }
            if !moved {
                return progress;
            }
            progress = true;
        }
    }

    fn read_requests(&self) -> bool {
        let ring = self.ring;
        let req = ByteRing::new(&ring.req, &ring.req_cons, &ring.req_prod);
        let mut chunk = [0u8; abi::XENSTORE_RING_SIZE];
        let mut read = false;
        loop {
            match req.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    self.st.borrow_mut().rx.extend_from_slice(&chunk[..n]);
                    read = true;
                }
                Err(_) => {
                    self.st.borrow_mut().broken = true;
                    ring.error.store(
                        abi::XENSTORE_ERROR_RINGIDX,
                        core::sync::atomic::Ordering::Relaxed,
                    );
                    return read;
                }
            }
        }
        // Whole messages.
        let mut batch = Vec::new();
        loop {
            let mut st = self.st.borrow_mut();
            if st.rx.len() < 16 {
                break;
            }
            let hdr = XsdSockmsg::from_bytes(st.rx[..16].try_into().expect("16 bytes"));
            if hdr.len as usize > abi::XENSTORE_PAYLOAD_MAX {
                st.broken = true;
                ring.error.store(
                    abi::XENSTORE_ERROR_PROTO,
                    core::sync::atomic::Ordering::Relaxed,
                );
                break;
            }
            let total = 16 + hdr.len as usize;
            if st.rx.len() < total {
                break;
            }
            let payload = st.rx[16..total].to_vec();
            st.rx.drain(..total);
            st.log.push(hdr);
            drop(st);
            batch.push(self.handle(&hdr, &payload));
        }
        let mut st = self.st.borrow_mut();
        if st.reorder {
            batch.reverse();
        }
        for out in batch {
            st.out.extend(out);
        }
        read
    }

    /// One request: the bytes to send back (reply, then the events it caused).
    fn handle(&self, hdr: &XsdSockmsg, payload: &[u8]) -> Vec<u8> {
        let action = match self.hook.borrow_mut().as_mut() {
            Some(h) => h(hdr, payload),
            None => HookAction::Serve,
        };
        let mut out = match action {
            HookAction::Drop => return Vec::new(),
            HookAction::Replace(bytes) => return bytes,
            HookAction::Before(bytes) => bytes,
            HookAction::Serve => Vec::new(),
        };
        let mut st = self.st.borrow_mut();
        // Events the request causes go after its reply: take them out of the stream.
        let queued = core::mem::take(&mut st.out);
        let reply = match st.execute(hdr, payload) {
            Ok(p) => message(hdr.ty, hdr.req_id, hdr.tx_id, &p),
            Err(e) => {
                let mut p = e.name().as_bytes().to_vec();
                p.push(0);
                message(abi::XS_ERROR, hdr.req_id, hdr.tx_id, &p)
            }
        };
        let events: Vec<u8> = core::mem::replace(&mut st.out, queued).into();
        out.extend(reply);
        out.extend(events);
        if hdr.ty == abi::XS_WATCH && out.ends_with(b"OK\0") {
            // Like xenstored: the first event right after the watch is registered.
            let strings = wire::split_strings(payload).unwrap_or_default();
            if let [path, token] = strings[..] {
                let mut ev = Vec::new();
                ev.extend_from_slice(path);
                ev.push(0);
                ev.extend_from_slice(token);
                ev.push(0);
                out.extend(message(abi::XS_WATCH_EVENT, 0, 0, &ev));
            }
        }
        out
    }
}

impl XsPlatform for FakeXenstored {
    fn notify(&self) -> Result<(), XenError> {
        if let Some(e) = self.notify_error.get() {
            return Err(e);
        }
        self.notifies.set(self.notifies.get() + 1);
        Ok(())
    }

    /// Runs the server; if it had nothing to do, advances the virtual clock to the next
    /// scheduled action (and runs it) or to the deadline (and times out).
    fn wait_event(&self, deadline_ns: u64) -> bool {
        self.waits.set(self.waits.get() + 1);
        self.advance(WAIT_TICK_NS);
        if self.serve() {
            return true;
        }
        let next = self.scheduled.borrow().iter().map(|(t, _)| *t).min();
        match next {
            Some(t) if t <= deadline_ns => {
                self.clock.set(self.clock.get().max(t));
                self.serve();
                true
            }
            _ => {
                self.clock.set(self.clock.get().max(deadline_ns));
                false
            }
        }
    }

    fn now_ns(&self) -> u64 {
        self.clock.get()
    }
}
