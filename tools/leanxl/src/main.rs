//! leanxl: a lean creation path for density runs (project issue 8). Run in dom0, it creates
//! and destroys a PV domain for a tiny PV kernel straight through Xen 4.17's libxenctrl,
//! libxenguest and libxenstore, without libxl:
//!
//! ```text
//! leanxl create --name NAME --kernel ELF --memory MB [--cmdline S]
//! leanxl destroy NAME|DOMID
//! ```
//!
//! What `xl create` does per domain that leanxl does not: the name check that reads every
//! existing domain's name (leanxl keeps its own index, `/tool/leanxl/names/<name>` -> domid,
//! one read per create), the `/vm/<uuid>` and `/libxl/<domid>` trees, device models, vif/vbd/
//! hotplug scripts, CPUID policy, vNUMA, scheduler and affinity settings, waiting for
//! xenconsoled to publish `console/tty`, and a monitor process. See notes/lean-readme.md.
//!
//! All FFI is in [`xen`] (the only module with `unsafe`); everything here is safe code.

mod xen;

use std::fmt::Write as _;
use std::io;
use std::process::ExitCode;
use std::time::Instant;

use xen::{Dom, Xc, XenArchDomainconfig, XenDomctlCreatedomain, Xs, XsPermissions};

/// Where leanxl keeps its name index (name -> domid).
pub const INDEX: &str = "/tool/leanxl/names";

/// Extra maximum memory beyond the guest's own, as libxl's LIBXL_MAXMEM_CONSTANT (kB).
const MAXMEM_SLACK_KB: u64 = 1024;

const USAGE: &str = "\
usage: leanxl create --name NAME --kernel ELF --memory MB [--cmdline S]
       leanxl destroy NAME|DOMID
Creates (PV, 1 vCPU, console + xenstore, no devices) or destroys a domain through libxenctrl,
libxenguest and libxenstore; prints the domid and the time each step took.";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateArgs {
    pub name: String,
    pub kernel: String,
    pub memory_mb: u32,
    pub cmdline: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Name(String),
    Domid(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    Create(CreateArgs),
    Destroy(Target),
    Help,
}

/// A name leanxl accepts: a xenstore path component that is not all digits (so `destroy`
/// can tell names from domids), 1-64 of `A-Za-z0-9_.-`.
pub fn check_name(n: &str) -> Result<(), String> {
    if n.is_empty() || n.len() > 64 {
        return Err(format!("name {n:?}: 1 to 64 characters please"));
    }
    if !n
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(format!("name {n:?}: only A-Z a-z 0-9 _ . - please"));
    }
    if n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("name {n:?}: all digits would read as a domid"));
    }
    Ok(())
}

pub fn parse(argv: &[String]) -> Result<Cmd, String> {
    let mut it = argv.iter();
    match it.next().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => Ok(Cmd::Help),
        Some("create") => {
            let (mut name, mut kernel, mut memory, mut cmdline) = (None, None, None, None);
            while let Some(a) = it.next() {
                let mut val = || {
                    it.next()
                        .cloned()
                        .ok_or_else(|| format!("create: {a} needs a value"))
                };
                match a.as_str() {
                    "--name" => name = Some(val()?),
                    "--kernel" => kernel = Some(val()?),
                    "--memory" => {
                        let v = val()?;
                        let mb: u32 = v
                            .parse()
                            .map_err(|_| format!("create: --memory {v:?}: a number of MB"))?;
                        if mb == 0 || mb > 1 << 20 {
                            return Err(format!("create: --memory {mb}: 1 to 1048576 MB"));
                        }
                        memory = Some(mb);
                    }
                    "--cmdline" => cmdline = Some(val()?),
                    _ => return Err(format!("create: unknown argument {a:?}")),
                }
            }
            let name = name.ok_or("create: --name is required")?;
            check_name(&name).map_err(|e| format!("create: {e}"))?;
            Ok(Cmd::Create(CreateArgs {
                name,
                kernel: kernel.ok_or("create: --kernel is required")?,
                memory_mb: memory.ok_or("create: --memory is required")?,
                cmdline: cmdline.unwrap_or_default(),
            }))
        }
        Some("destroy") => {
            let t = it.next().ok_or("destroy: which domain (name or domid)?")?;
            if let Some(x) = it.next() {
                return Err(format!("destroy: one domain at a time (extra {x:?})"));
            }
            if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
                let id: u32 = t.parse().map_err(|_| format!("destroy: domid {t:?}"))?;
                if id == 0 || id >= 0x7ff0 {
                    return Err(format!("destroy: domid {id} is not a guest's"));
                }
                Ok(Cmd::Destroy(Target::Domid(id)))
            } else {
                check_name(t).map_err(|e| format!("destroy: {e}"))?;
                Ok(Cmd::Destroy(Target::Name(t.clone())))
            }
        }
        Some(x) => Err(format!("unknown command {x:?}")),
    }
}

/// The value of a name's index entry: the domid, or `pending <pid>` while a create runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Domid(u32),
    Pending(u32),
    Garbage,
}

pub fn parse_entry(v: &str) -> Entry {
    if let Some(p) = v.strip_prefix("pending ") {
        return p.parse().map_or(Entry::Garbage, Entry::Pending);
    }
    v.parse().map_or(Entry::Garbage, Entry::Domid)
}

/// Is an existing index entry for `name` still in force? A domid entry is, when that domain
/// exists, is not dying and still carries the name; a pending entry is, while its creator
/// runs. Anything else is stale (e.g. the domain was destroyed by `xl destroy`) and may be
/// taken over.
pub fn entry_in_force(
    e: &Entry,
    name: &str,
    domain_name: impl Fn(u32) -> Option<String>,
    pid_alive: impl Fn(u32) -> bool,
) -> bool {
    match e {
        Entry::Domid(d) => domain_name(*d).as_deref() == Some(name),
        Entry::Pending(p) => pid_alive(*p),
        Entry::Garbage => false,
    }
}

/// Permissions of a node of the domain's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// Inherited from the parent (what xenstored gives a node dom0 creates).
    Inherit,
    /// Owned by dom0, readable by the guest (`/local/domain/<id>` itself, as libxl does: the
    /// guest cannot rename itself, so the name index stays true).
    GuestRead,
    /// Owned by the guest (its `data`).
    Guest,
}

impl Perm {
    pub fn list(self, domid: u32) -> Vec<XsPermissions> {
        match self {
            Perm::Inherit => Vec::new(),
            Perm::GuestRead => vec![
                XsPermissions {
                    id: 0,
                    perms: xen::XS_PERM_NONE,
                },
                XsPermissions {
                    id: domid,
                    perms: xen::XS_PERM_READ,
                },
            ],
            Perm::Guest => vec![
                XsPermissions {
                    id: domid,
                    perms: xen::XS_PERM_NONE,
                },
                XsPermissions {
                    id: 0,
                    perms: xen::XS_PERM_READ,
                },
            ],
        }
    }
}

/// One node of the domain's xenstore tree: a directory (`value` None) or a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub path: String,
    pub value: Option<String>,
    pub perm: Perm,
}

/// What the new domain's tree holds, in creation order (parents first).
pub struct TreeSpec<'a> {
    pub domid: u32,
    pub name: &'a str,
    pub memory_kb: u64,
    pub console_port: u32,
    pub console_mfn: u64,
}

/// The domain's xenstore tree, kept to what is needed (each node is a request to xenstored,
/// ~5-8 ms each in the emulated dom0): what xenconsoled reads (`name` for the log file name,
/// `console/ring-ref` + `console/port`, `console/type`), `domid`, `memory/target` (for a
/// balloon driver) and the guest's own writable `data`; then the index entry. Not written
/// (libxl writes them): `vm`, `memory/static-max`, `store/*`, `control/*`, `device`, `image`,
/// `/vm/<uuid>`, `/libxl/<domid>`.
pub fn tree(s: &TreeSpec) -> Vec<Node> {
    let d = format!("/local/domain/{}", s.domid);
    let dir = |p: &str, perm| Node {
        path: if p.is_empty() {
            d.clone()
        } else {
            format!("{d}/{p}")
        },
        value: None,
        perm,
    };
    let key = |p: &str, v: String, perm| Node {
        path: format!("{d}/{p}"),
        value: Some(v),
        perm,
    };
    vec![
        dir("", Perm::GuestRead),
        key("name", s.name.to_string(), Perm::Inherit),
        key("domid", s.domid.to_string(), Perm::Inherit),
        key("memory/target", s.memory_kb.to_string(), Perm::Inherit),
        key("console/ring-ref", s.console_mfn.to_string(), Perm::Inherit),
        key("console/port", s.console_port.to_string(), Perm::Inherit),
        key("console/type", "xenconsoled".into(), Perm::Inherit),
        dir("data", Perm::Guest),
        Node {
            path: format!("{INDEX}/{}", s.name),
            value: Some(s.domid.to_string()),
            perm: Perm::Inherit,
        },
    ]
}

/// Times each step; prints them on one line at the end.
#[derive(Default)]
pub struct Steps {
    t0: Option<Instant>,
    done: Vec<(&'static str, f64)>,
}

/// A failed step, named.
#[derive(Debug)]
pub struct StepError {
    pub step: &'static str,
    pub detail: String,
}

impl Steps {
    fn new() -> Steps {
        Steps {
            t0: Some(Instant::now()),
            done: Vec::new(),
        }
    }

    /// Runs one step, records its time; an error names the step.
    fn run<T, E: std::fmt::Display>(
        &mut self,
        step: &'static str,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, StepError> {
        let t = Instant::now();
        let r = f();
        self.done.push((step, t.elapsed().as_secs_f64() * 1000.0));
        r.map_err(|e| StepError {
            step,
            detail: e.to_string(),
        })
    }

    pub fn total_ms(&self) -> f64 {
        self.t0.map_or(0.0, |t| t.elapsed().as_secs_f64() * 1000.0)
    }

    /// `step=ms,step=ms,...` (ms with 2 decimals).
    pub fn line(&self) -> String {
        let mut s = String::new();
        for (k, (n, ms)) in self.done.iter().enumerate() {
            let _ = write!(s, "{}{n}={ms:.2}", if k > 0 { "," } else { "" });
        }
        s
    }
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The name of a live (not dying) domain, from its xenstore tree.
fn live_domain_name(xc: &Xc, xs: &Xs, t: xen::Tx, domid: u32) -> Option<String> {
    match xc.domain_state(domid) {
        Ok(Some(st)) if !st.dying => xs
            .read(t, &format!("/local/domain/{domid}/name"))
            .ok()
            .flatten(),
        _ => None,
    }
}

fn is_eagain(e: &io::Error) -> bool {
    e.raw_os_error() == Some(11)
}

/// Reserves the name in the index (`pending <pid>`) in one transaction: O(1), whatever the
/// number of domains. Refuses a name in force. Each xenstore request is a step of its own.
fn reserve(xc: &Xc, xs: &Xs, name: &str, st: &mut Steps) -> Result<(), StepError> {
    let path = format!("{INDEX}/{name}");
    for _ in 0..100 {
        let t = st.run("name-tx-start", || xs.transaction_start())?;
        let abort = |e: StepError| {
            let _ = xs.transaction_end(t, true);
            e
        };
        let cur = st.run("name-read", || xs.read(t, &path)).map_err(abort)?;
        if let Some(v) = cur {
            let e = parse_entry(&v);
            let live = st.run("name-check", || -> Result<bool, String> {
                Ok(entry_in_force(
                    &e,
                    name,
                    |d| live_domain_name(xc, xs, t, d),
                    pid_alive,
                ))
            })?;
            if live {
                return Err(abort(StepError {
                    step: "name-check",
                    detail: format!(
                        "a domain named {name:?} exists ({path} = {v:?}); names are unique"
                    ),
                }));
            }
        }
        let pending = format!("pending {}", std::process::id());
        st.run("name-write", || xs.write(t, &path, &pending))
            .map_err(abort)?;
        // a conflict (EAGAIN: another create touched the index meanwhile) is tried again
        let committed = st.run("name-commit", || match xs.transaction_end(t, false) {
            Ok(()) => Ok(true),
            Err(e) if is_eagain(&e) => Ok(false),
            Err(e) => Err(e),
        })?;
        if committed {
            return Ok(());
        }
    }
    Err(StepError {
        step: "name-commit",
        detail: format!("{path}: 100 transaction conflicts in a row"),
    })
}

/// Writes the domain's tree and its index entry, one request per node and no transaction:
/// nobody looks at the tree before the domain is introduced (xenconsoled and the guest come
/// after), and a failed create removes what was written.
fn write_tree(xs: &Xs, domid: u32, nodes: &[Node]) -> Result<(), String> {
    let dom = format!("/local/domain/{domid}");
    // leftovers of an earlier domain with this id go first, as libxl does
    xs.rm(0, &dom)
        .map_err(|e| format!("removing old {dom}: {e}"))?;
    for n in nodes {
        match &n.value {
            None => xs.mkdir(0, &n.path),
            Some(v) => xs.write(0, &n.path, v),
        }
        .and_then(|()| match n.perm {
            Perm::Inherit => Ok(()),
            p => xs.set_perms(0, &n.path, &p.list(domid)),
        })
        .map_err(|e| format!("{}: {e}", n.path))?;
    }
    Ok(())
}

/// What a create made so far, for the cleanup of a failed one.
#[derive(Default)]
struct Made {
    reserved: bool,
    domid: Option<u32>,
    tree: bool,
    introduced: bool,
}

/// Undoes what a failed create made, newest first; says what it did.
fn cleanup(xc: &Xc, xs: &Xs, name: &str, m: &Made) -> Vec<String> {
    let mut said = Vec::new();
    if let Some(d) = m.domid {
        match xc.destroy(d) {
            Ok(()) => said.push(format!("destroyed domain {d}")),
            Err(e) => said.push(format!("COULD NOT destroy domain {d}: {e}")),
        }
        if m.introduced {
            let _ = xs.release(d);
        }
        if m.tree {
            match xs.rm(0, &format!("/local/domain/{d}")) {
                Ok(()) => said.push(format!("removed /local/domain/{d}")),
                Err(e) => said.push(format!("COULD NOT remove /local/domain/{d}: {e}")),
            }
        }
    }
    if m.reserved || m.tree {
        let p = format!("{INDEX}/{name}");
        match xs.rm(0, &p) {
            Ok(()) => said.push(format!("removed {p}")),
            Err(e) => said.push(format!("COULD NOT remove {p}: {e}")),
        }
    }
    said
}

fn create(a: &CreateArgs) -> Result<(), String> {
    let mut st = Steps::new();
    let err = |e: StepError| format!("{} failed: {}", e.step, e.detail);
    let xc = st.run("open-xc", Xc::open).map_err(err)?;
    let xs = st.run("open-xs", Xs::open).map_err(err)?;
    let mut made = Made::default();
    let r = create_steps(a, &xc, &xs, &mut st, &mut made);
    match r {
        Ok(domid) => {
            println!(
                "leanxl: created {} domid {domid} total_ms {:.2} steps_ms {}",
                a.name,
                st.total_ms(),
                st.line()
            );
            Ok(())
        }
        Err(e) => {
            let said = cleanup(&xc, &xs, &a.name, &made);
            let mut m = format!("create {}: {}", a.name, err(e));
            if !said.is_empty() {
                let _ = write!(m, "; cleaned up: {}", said.join(", "));
            }
            let _ = write!(m, " (steps_ms {})", st.line());
            Err(m)
        }
    }
}

fn create_steps(
    a: &CreateArgs,
    xc: &Xc,
    xs: &Xs,
    st: &mut Steps,
    made: &mut Made,
) -> Result<u32, StepError> {
    reserve(xc, xs, &a.name, st)?;
    made.reserved = true;
    let cfg = XenDomctlCreatedomain {
        handle: random_handle(),
        max_vcpus: 1,
        max_evtchn_port: 1023,
        // xl's defaults (xl.conf): grant and maptrack frames are allocated on demand
        max_grant_frames: 64,
        max_maptrack_frames: 1024,
        grant_opts: xen::grant_version(1),
        arch: XenArchDomainconfig::default(),
        ..XenDomctlCreatedomain::default()
    };
    let domid = st.run("createdomain", || xc.create_domain(&cfg))?;
    made.domid = Some(domid);
    st.run("max-vcpus", || xc.max_vcpus(domid, 1))?;
    let kb = u64::from(a.memory_mb) * 1024;
    st.run("max-mem", || xc.set_max_mem_kb(domid, kb + MAXMEM_SLACK_KB))?;
    st.run("memmap-limit", || xc.set_memmap_limit_kb(domid, kb))?;
    let console_port = st.run("evtchn-console", || xc.evtchn_alloc_unbound(domid, 0))?;
    let store_port = st.run("evtchn-store", || xc.evtchn_alloc_unbound(domid, 0))?;
    let mut dom = st.run("dom-allocate", || Dom::allocate(xc, &a.cmdline))?;
    dom.set_ports(console_port, store_port, 0, 1);
    st.run("kernel-file", || dom.kernel_file(&a.kernel))?;
    st.run("boot-xen-init", || dom.boot_xen_init(domid))?;
    st.run("parse-image", || dom.parse_image())?;
    st.run("mem-init", || dom.mem_init(a.memory_mb))?;
    st.run("boot-mem-init", || dom.boot_mem_init())?;
    st.run("build-image", || dom.build_image())?;
    st.run("boot-image", || dom.boot_image())?;
    st.run("gnttab-init", || dom.gnttab_init())?;
    let (console_mfn, store_mfn) = st.run("ring-mfns", || {
        dom.ring_mfns()
            .ok_or("console/xenstore pfn outside the p2m")
    })?;
    drop(dom);
    let nodes = tree(&TreeSpec {
        domid,
        name: &a.name,
        memory_kb: kb,
        console_port,
        console_mfn,
    });
    made.tree = true; // a partly written tree is removed by the cleanup
    st.run("xenstore-tree", || write_tree(xs, domid, &nodes))?;
    st.run("introduce", || xs.introduce(domid, store_mfn, store_port))?;
    made.introduced = true;
    st.run("unpause", || xc.unpause(domid))?;
    Ok(domid)
}

/// A random domain handle (UUID bytes), from /dev/urandom.
fn random_handle() -> [u8; 16] {
    use std::io::Read;
    let mut h = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut h);
    }
    // RFC 4122 version 4, variant 1
    h[6] = (h[6] & 0x0f) | 0x40;
    h[8] = (h[8] & 0x3f) | 0x80;
    h
}

fn destroy(t: &Target) -> Result<(), String> {
    let mut st = Steps::new();
    let err = |e: StepError| format!("{} failed: {}", e.step, e.detail);
    let xc = st.run("open-xc", Xc::open).map_err(err)?;
    let xs = st.run("open-xs", Xs::open).map_err(err)?;
    // which domain, and which index entry is its
    let (domid, name) = st
        .run("lookup", || -> Result<(u32, Option<String>), String> {
            match t {
                Target::Domid(d) => {
                    let n = xs
                        .read(0, &format!("/local/domain/{d}/name"))
                        .map_err(|e| e.to_string())?;
                    Ok((*d, n))
                }
                Target::Name(n) => {
                    let p = format!("{INDEX}/{n}");
                    let v = xs
                        .read(0, &p)
                        .map_err(|e| format!("reading {p}: {e}"))?
                        .ok_or_else(|| format!("no leanxl domain named {n:?} ({p} is absent)"))?;
                    match parse_entry(&v) {
                        Entry::Domid(d) => Ok((d, Some(n.clone()))),
                        _ => Err(format!("{p} = {v:?}: its create has not finished")),
                    }
                }
            }
        })
        .map_err(err)?;
    // a name entry whose domid now carries another name is stale: never destroy that domain
    let dname = xs
        .read(0, &format!("/local/domain/{domid}/name"))
        .ok()
        .flatten();
    if let (Target::Name(n), Some(dn)) = (t, &dname) {
        if dn != n {
            let _ = xs.rm(0, &format!("{INDEX}/{n}"));
            return Err(format!(
                "{n:?} is not running (its index entry named domain {domid}, which is now \
                 {dn:?}); the stale entry was removed, nothing destroyed"
            ));
        }
    }
    let exists = xc
        .domain_state(domid)
        .map_err(|e| format!("getdomaininfo {domid}: {e}"))?
        .is_some();
    if exists {
        st.run("destroydomain", || xc.destroy(domid)).map_err(err)?;
    }
    // xenstored also releases a dying domain by itself; a release that finds it gone is fine
    let released = st.run("release", || xs.release(domid)).is_ok();
    st.run("rm-tree", || xs.rm(0, &format!("/local/domain/{domid}")))
        .map_err(err)?;
    if let Some(n) = &name {
        let p = format!("{INDEX}/{n}");
        // only the entry that names this domain
        if xs.read(0, &p).ok().flatten().map(|v| parse_entry(&v)) == Some(Entry::Domid(domid)) {
            st.run("rm-index", || xs.rm(0, &p)).map_err(err)?;
        }
    }
    if !exists && dname.is_none() {
        return Err(format!("no domain {domid} (nothing destroyed)"));
    }
    println!(
        "leanxl: destroyed {} domid {domid}{}{} total_ms {:.2} steps_ms {}",
        name.as_deref().unwrap_or("?"),
        if exists {
            ""
        } else {
            " (domain already gone: tree removed)"
        },
        if released {
            ""
        } else {
            " (xenstored had released it)"
        },
        st.total_ms(),
        st.line()
    );
    Ok(())
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let cmd = match parse(&argv) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("leanxl: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let r = match &cmd {
        Cmd::Help => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Cmd::Create(a) => create(a),
        Cmd::Destroy(t) => destroy(t),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leanxl: error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn create_options() {
        let c = parse(&argv("create --name d1-3 --kernel /k --memory 4")).unwrap();
        assert_eq!(
            c,
            Cmd::Create(CreateArgs {
                name: "d1-3".into(),
                kernel: "/k".into(),
                memory_mb: 4,
                cmdline: String::new()
            })
        );
        let c = parse(&argv("create --memory 8 --cmdline x=1 --kernel k --name a")).unwrap();
        assert!(
            matches!(c, Cmd::Create(CreateArgs { memory_mb: 8, ref cmdline, .. }) if cmdline == "x=1")
        );
        for bad in [
            "create --kernel k --memory 4",
            "create --name a --memory 4",
            "create --name a --kernel k",
            "create --name a --kernel k --memory 0",
            "create --name a --kernel k --memory four",
            "create --name a/b --kernel k --memory 4",
            "create --name 12 --kernel k --memory 4",
            "create --name a --kernel k --memory 4 --vif x",
            "create --name",
            "frobnicate",
        ] {
            assert!(parse(&argv(bad)).is_err(), "{bad}");
        }
        assert_eq!(parse(&[]).unwrap(), Cmd::Help);
    }

    #[test]
    fn destroy_targets() {
        assert_eq!(
            parse(&argv("destroy 7")).unwrap(),
            Cmd::Destroy(Target::Domid(7))
        );
        assert_eq!(
            parse(&argv("destroy d1-2")).unwrap(),
            Cmd::Destroy(Target::Name("d1-2".into()))
        );
        assert!(parse(&argv("destroy 0")).is_err());
        assert!(parse(&argv("destroy")).is_err());
        assert!(parse(&argv("destroy a b")).is_err());
        assert!(parse(&argv("destroy a*")).is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("d1a2v1-17").is_ok());
        assert!(check_name("x.y_z").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(&"a".repeat(65)).is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("123").is_err());
    }

    #[test]
    fn index_entries() {
        assert_eq!(parse_entry("12"), Entry::Domid(12));
        assert_eq!(parse_entry("pending 345"), Entry::Pending(345));
        assert_eq!(parse_entry("pending x"), Entry::Garbage);
        assert_eq!(parse_entry(""), Entry::Garbage);
        let named = |d: u32| (d == 5).then(|| "web".to_string());
        // the domain exists with that name: in force
        assert!(entry_in_force(&Entry::Domid(5), "web", named, |_| false));
        // the id now carries another name, or no domain: stale
        assert!(!entry_in_force(&Entry::Domid(5), "db", named, |_| false));
        assert!(!entry_in_force(&Entry::Domid(6), "web", named, |_| false));
        // a create in flight holds the name while its process lives
        assert!(entry_in_force(&Entry::Pending(9), "web", named, |p| p == 9));
        assert!(!entry_in_force(&Entry::Pending(9), "web", named, |_| false));
        assert!(!entry_in_force(&Entry::Garbage, "web", named, |_| true));
    }

    #[test]
    fn the_domains_tree() {
        let t = tree(&TreeSpec {
            domid: 7,
            name: "d1-3",
            memory_kb: 4096,
            console_port: 1,
            console_mfn: 0x1234,
        });
        let get = |p: &str| {
            t.iter()
                .find(|n| n.path == p)
                .unwrap_or_else(|| panic!("{p}"))
        };
        assert_eq!(t[0].path, "/local/domain/7");
        assert_eq!(t[0].perm, Perm::GuestRead);
        // what xenconsoled reads
        assert_eq!(get("/local/domain/7/name").value.as_deref(), Some("d1-3"));
        assert_eq!(
            get("/local/domain/7/console/ring-ref").value.as_deref(),
            Some("4660")
        );
        assert_eq!(
            get("/local/domain/7/console/port").value.as_deref(),
            Some("1")
        );
        assert_eq!(
            get("/local/domain/7/console/type").value.as_deref(),
            Some("xenconsoled")
        );
        assert_eq!(get("/local/domain/7/domid").value.as_deref(), Some("7"));
        assert_eq!(get("/local/domain/7/data").perm, Perm::Guest);
        assert_eq!(
            get("/local/domain/7/memory/target").value.as_deref(),
            Some("4096")
        );
        assert_eq!(t.len(), 9, "one request per node: keep the tree small");
        // the index entry, last
        let last = t.last().unwrap();
        assert_eq!(
            (last.path.as_str(), last.value.as_deref()),
            ("/tool/leanxl/names/d1-3", Some("7"))
        );
        // parents before children
        for (i, n) in t.iter().enumerate() {
            if let Some((parent, _)) = n.path.rsplit_once('/') {
                if let Some(j) = t.iter().position(|m| m.path == parent) {
                    assert!(j < i, "{} before its parent", n.path);
                }
            }
        }
        // the guest owns its console and data, dom0 keeps the rest (guest may read)
        let g = Perm::GuestRead.list(7);
        assert_eq!((g[0].id, g[0].perms, g[1].id, g[1].perms), (0, 0, 7, 1));
        let o = Perm::Guest.list(7);
        assert_eq!((o[0].id, o[0].perms), (7, 0));
    }

    #[test]
    fn step_times() {
        let mut s = Steps::new();
        assert_eq!(s.run("a", || Ok::<_, String>(1)).unwrap(), 1);
        let e = s.run("b", || Err::<(), _>("no")).unwrap_err();
        assert_eq!((e.step, e.detail.as_str()), ("b", "no"));
        let l = s.line();
        assert!(l.starts_with("a=") && l.contains(",b="), "{l}");
        assert!(s.total_ms() >= 0.0);
    }
}
