//! Networking for appliances: every vif of the guest (`device/vif/*` in xenstore) brought up
//! with netfront over the kernel's pages, grant table and event channels, each with its own
//! smoltcp interface.
//!
//! Addresses: the vif's `ip=` setting in the xl config (libxl writes it to the back end's
//! `ip` node), else the command-line option `ip=a.b.c.d/n` (vif 0; `ipN=` for vif N), else
//! DHCP. ARP and ICMP echo are answered by smoltcp itself.
//!
//! ```ignore
//! let mut net = minios::net::init()?;              // all vifs, addresses, boot log
//! let udp = net.vif(0).add_socket(udp_socket);     // smoltcp sockets
//! loop {
//!     net.poll();                                  // drive devices and sockets
//!     /* use the sockets */
//!     net.wait(1_000_000_000);                     // block in Xen until traffic or a timer
//! }
//! ```

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use arch::Page;
pub use netfront::{IpSetting, NetConfig, NetError, NetStats, Netfront, XenbusState};
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::{dhcpv4, AnySocket};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, Ipv4Address, Ipv4Cidr};

use crate::cmdline::Cmdline;
use crate::{events, gnttab, println, xenstore};

/// Set by the vifs' event-channel handlers; consumed by [`Net::wait`].
static NET_EVENT: AtomicBool = AtomicBool::new(false);

/// netfront's platform in the guest: the page allocator, the grant table, event channels.
#[derive(Debug, Default)]
pub struct KernelNet;

impl netfront::NetPlatform for KernelNet {
    type Page = &'static mut Page;

    fn alloc_ring_page(&mut self) -> Option<(&'static [AtomicU32], u64)> {
        // alloc_page zeroes the page.
        let page = crate::boot::alloc_page()?;
        let frame = gnttab::frame_of(page);
        let words: &'static [AtomicU32] = arch::page_into_words(page);
        Some((words, frame))
    }

    fn alloc_page(&mut self) -> Option<&'static mut Page> {
        crate::boot::alloc_page()
    }

    fn free_page(&mut self, page: &'static mut Page) {
        crate::boot::free_page(page)
    }

    fn frame(&self, page: &&'static mut Page) -> u64 {
        gnttab::frame_of(page)
    }

    fn read_page(&self, page: &&'static mut Page, offset: usize, out: &mut [u8]) {
        out.copy_from_slice(&page.0[offset..offset + out.len()]);
    }

    fn write_page(&self, page: &mut &'static mut Page, offset: usize, data: &[u8]) {
        page.0[offset..offset + data.len()].copy_from_slice(data);
    }

    fn grant(&mut self, domid: u16, frame: u64, readonly: bool) -> Result<u32, netfront::GntError> {
        gnttab::grant_access(domid, frame, readonly)
    }

    fn end_grant(&mut self, gref: u32) -> Result<(), netfront::GntError> {
        gnttab::end_access(gref)
    }

    fn alloc_evtchn(&mut self, remote: u16) -> Result<u32, NetError> {
        events::alloc_unbound(remote, |_| NET_EVENT.store(true, Ordering::Release))
            .map_err(|e| NetError::Evtchn(format!("{e}")))
    }

    fn close_evtchn(&mut self, port: u32) {
        let _ = events::close(port);
    }

    fn notify(&mut self, port: u32) {
        let _ = events::send(port);
    }
}

/// smoltcp's clock: Xen system time.
pub fn now() -> Instant {
    Instant::from_micros((events::now_ns() / 1000) as i64)
}

/// Where a vif's address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrSource {
    /// The vif's `ip=` in the xl config (xenstore).
    Xenstore,
    /// The kernel command line.
    Cmdline,
    /// DHCP (pending until a lease arrives).
    Dhcp,
}

impl fmt::Display for AddrSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddrSource::Xenstore => "from xenstore (vif ip=)",
            AddrSource::Cmdline => "from the command line",
            AddrSource::Dhcp => "by DHCP",
        })
    }
}

/// One vif: the device, its smoltcp interface and sockets.
pub struct Vif {
    pub dev: Netfront<KernelNet>,
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
    dhcp: Option<SocketHandle>,
    source: AddrSource,
    index: u32,
    /// Token of our watch on the back end's `state` (carrier).
    watch: String,
    carrier_reported: bool,
}

impl fmt::Debug for Vif {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vif")
            .field("index", &self.index)
            .field("dev", &self.dev)
            .field("addr", &self.ipv4())
            .finish_non_exhaustive()
    }
}

impl Vif {
    /// The vif number (`device/vif/<n>`).
    pub fn index(&self) -> u32 {
        self.index
    }
    /// The IPv4 address, once configured.
    pub fn ipv4(&self) -> Option<Ipv4Cidr> {
        // One variant today; IPv6 (if another crate enables proto-ipv6) adds more.
        #[allow(clippy::unnecessary_find_map)]
        self.iface.ip_addrs().iter().find_map(|a| match a {
            IpCidr::Ipv4(c) => Some(*c),
            #[allow(unreachable_patterns)]
            _ => None,
        })
    }
    pub fn source(&self) -> AddrSource {
        self.source
    }
    /// Adds a smoltcp socket.
    pub fn add_socket<T: AnySocket<'static>>(&mut self, s: T) -> SocketHandle {
        self.sockets.add(s)
    }
    pub fn socket<T: AnySocket<'static>>(&mut self, h: SocketHandle) -> &mut T {
        self.sockets.get_mut::<T>(h)
    }

    /// Carrier: connected, the back end still Connected, the rings not found corrupt.
    pub fn carrier(&self) -> bool {
        self.dev.carrier()
    }

    /// Follows the back end's state (our watch) and reports the carrier going down once.
    fn check_carrier(&mut self) {
        if self.dev.carrier() {
            let changed = xenstore::with(|xs| xs.next_watch_event_for(&self.watch, 0)).is_ok();
            if changed {
                let st = xenstore::with(|xs| self.dev.check_backend(xs));
                if !self.dev.carrier() {
                    println!("net: vif{} carrier down: back end is {st}", self.index);
                    self.carrier_reported = true;
                    // Unplugged (xl network-detach): follow the back end through the close.
                    if matches!(st, XenbusState::Closing | XenbusState::Closed) {
                        self.disconnect();
                    }
                }
            }
        } else if !self.carrier_reported {
            self.carrier_reported = true;
            println!(
                "net: vif{} carrier down: {}",
                self.index,
                if self.dev.stats().ring_corrupt > 0 {
                    "corrupt ring indices from the back end"
                } else {
                    "not connected"
                }
            );
        }
    }

    /// Disconnects cleanly (once): Closing, Closed, grants ended, pages freed.
    fn disconnect(&mut self) {
        if self.dev.is_released() {
            return;
        }
        let state_path = format!("{}/state", self.dev.backend());
        let _ = xenstore::with(|xs| xs.unwatch(&state_path, &self.watch));
        let idx = self.index;
        match xenstore::with(|xs| self.dev.disconnect(xs, 10_000_000_000)) {
            Ok(r) => println!(
                "net: vif{idx} disconnected: {} pages freed, {} kept (still mapped by the back end), back end {:?}",
                r.pages_freed, r.pages_kept_granted, r.backend_state
            ),
            Err(e) => println!("net: vif{idx} disconnect failed: {e}"),
        }
    }

    /// Drives the device and the sockets; returns whether socket state may have changed.
    pub fn poll(&mut self) -> bool {
        self.check_carrier();
        self.dev.poll();
        let r = self.iface.poll(now(), &mut self.dev, &mut self.sockets);
        if let Some(h) = self.dhcp {
            let ev = match self.sockets.get_mut::<dhcpv4::Socket>(h).poll() {
                Some(dhcpv4::Event::Configured(cfg)) => Some(Some((cfg.address, cfg.router))),
                Some(dhcpv4::Event::Deconfigured) => Some(None),
                None => None,
            };
            match ev {
                Some(Some((address, router))) => {
                    self.set_addr(address);
                    if let Some(r) = router {
                        let _ = self.iface.routes_mut().add_default_ipv4_route(r);
                    }
                    println!(
                        "net: vif{} address {} by DHCP (router {:?})",
                        self.index, address, router
                    );
                }
                Some(None) => {
                    // smoltcp also reports this once at start, before any lease.
                    if self.ipv4().is_some() {
                        println!("net: vif{} DHCP lease lost", self.index);
                    }
                    self.iface.update_ip_addrs(|a| a.clear());
                    self.iface.routes_mut().remove_default_ipv4_route();
                }
                None => {}
            }
        }
        r == PollResult::SocketStateChanged
    }

    fn set_addr(&mut self, c: Ipv4Cidr) {
        self.iface.update_ip_addrs(|a| {
            a.clear();
            let _ = a.push(IpCidr::Ipv4(c));
        });
    }
}

/// Every vif of the guest.
#[derive(Debug)]
pub struct Net {
    vifs: Vec<Vif>,
    /// Vif numbers tried (up or failed), so a hot-plugged one is brought up once.
    seen: Vec<u32>,
    cfg: NetConfig,
}

/// Why networking could not start.
#[derive(Debug)]
pub enum NetInitError {
    /// A vif failed to connect.
    Vif { dir: String, error: NetError },
    /// A command-line address is malformed.
    BadOption(String),
    /// xenstore failed listing the vifs.
    Xenstore(String),
}

impl fmt::Display for NetInitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetInitError::Vif { dir, error } => write!(f, "{dir}: {error}"),
            NetInitError::BadOption(o) => write!(f, "bad command-line address {o:?}"),
            NetInitError::Xenstore(e) => write!(f, "xenstore: {e}"),
        }
    }
}

/// Buffers per vif from the command line (`net_bufs=<n>`, default 64 each way).
fn config() -> NetConfig {
    let c = Cmdline::new(crate::system().cmdline);
    let mut cfg = NetConfig::default();
    if let Ok(Some(n)) = c.get_u64("net_bufs") {
        cfg.rx_buffers = (n as usize).clamp(4, 256);
        cfg.tx_buffers = (n as usize).clamp(4, 256);
    }
    cfg
}

/// Brings up every vif in `device/vif/`. A guest without vifs gets an empty [`Net`].
const VIFS_WATCH: &str = "net-vifs";

/// The vif numbers listed under `device/vif` (sorted).
fn list_vifs() -> Result<Vec<u32>, NetInitError> {
    let mut indices: Vec<u32> = match xenstore::with(|xs| xs.directory("device/vif")) {
        Ok(list) => list.iter().filter_map(|s| s.parse().ok()).collect(),
        Err(xenstore::XsError::Errno(e)) if e.name() == "ENOENT" => Vec::new(),
        Err(e) => return Err(NetInitError::Xenstore(format!("{e}"))),
    };
    indices.sort_unstable();
    Ok(indices)
}

/// Connects `device/vif/<index>` and gives it an interface and an address.
fn bring_up(index: u32, cfg: &NetConfig) -> Result<Vif, NetInitError> {
    let cmd = Cmdline::new(crate::system().cmdline);
    let dir = format!("device/vif/{index}");
    let mut dev =
        xenstore::with(|xs| Netfront::connect(KernelNet, xs, &dir, cfg)).map_err(|error| {
            NetInitError::Vif {
                dir: dir.clone(),
                error,
            }
        })?;
    println!("net: {}", dev.describe());
    let mac = dev.mac();
    let mut icfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
    icfg.random_seed = events::now_ns() ^ u64::from(index) << 48;
    let iface = Interface::new(icfg, &mut dev, now());
    let watch = format!("net-carrier-{index}");
    let state_path = format!("{}/state", dev.backend());
    xenstore::with(|xs| xs.watch(&state_path, &watch))
        .map_err(|e| NetInitError::Xenstore(format!("{e}")))?;
    let mut vif = Vif {
        dev,
        iface,
        sockets: SocketSet::new(Vec::new()),
        dhcp: None,
        source: AddrSource::Dhcp,
        index,
        watch,
        carrier_reported: false,
    };
    let key = if index == 0 {
        String::from("ip")
    } else {
        format!("ip{index}")
    };
    let from_cmdline = match cmd.get(&key) {
        Some(v) => Some(IpSetting::parse(v).ok_or(NetInitError::BadOption(format!("{key}={v}")))?),
        None => None,
    };
    let setting = match (vif.dev.ip_setting(), from_cmdline) {
        (Some(s), _) => Some((s, AddrSource::Xenstore)),
        (None, Some(s)) => Some((s, AddrSource::Cmdline)),
        (None, None) => None,
    };
    match setting {
        Some((s, src)) => {
            let [a, b, c, d] = s.addr;
            vif.set_addr(Ipv4Cidr::new(Ipv4Address::new(a, b, c, d), s.prefix));
            vif.source = src;
            println!(
                "net: vif{index} address {}.{}.{}.{}/{} {src}",
                a, b, c, d, s.prefix
            );
        }
        None => {
            vif.dhcp = Some(vif.sockets.add(dhcpv4::Socket::new()));
            println!("net: vif{index} address by DHCP (waiting for a lease)");
        }
    }
    Ok(vif)
}

/// Brings up every vif in `device/vif/` (a guest without vifs gets an empty [`Net`]) and
/// watches `device/vif` for vifs plugged in later (`xl network-attach`): [`Net::poll`] brings
/// them up.
pub fn init() -> Result<Net, NetInitError> {
    let cfg = config();
    let mut vifs = Vec::new();
    let mut seen = Vec::new();
    for index in list_vifs()? {
        seen.push(index);
        vifs.push(bring_up(index, &cfg)?);
    }
    // The first event (fired on registration) just re-lists what we have.
    xenstore::with(|xs| xs.watch("device/vif", VIFS_WATCH))
        .map_err(|e| NetInitError::Xenstore(format!("{e}")))?;
    Ok(Net { vifs, seen, cfg })
}

impl Net {
    /// Number of vifs.
    pub fn len(&self) -> usize {
        self.vifs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.vifs.is_empty()
    }
    /// The `i`th vif (in `device/vif` order).
    pub fn vif(&mut self, i: usize) -> &mut Vif {
        &mut self.vifs[i]
    }
    pub fn vifs(&mut self) -> &mut [Vif] {
        &mut self.vifs
    }

    /// Brings up vifs plugged in since the last look (`xl network-attach`).
    fn hotplug(&mut self) -> bool {
        if xenstore::with(|xs| xs.next_watch_event_for(VIFS_WATCH, 0)).is_err() {
            return false;
        }
        let Ok(list) = list_vifs() else {
            return false;
        };
        let mut added = false;
        for index in list {
            if self.seen.contains(&index) {
                continue;
            }
            self.seen.push(index);
            println!("net: vif{index} plugged in");
            match bring_up(index, &self.cfg) {
                Ok(v) => {
                    self.vifs.push(v);
                    added = true;
                }
                Err(e) => println!("net: vif{index} not brought up: {e}"),
            }
        }
        added
    }

    /// Drives every vif; returns whether any socket state may have changed.
    pub fn poll(&mut self) -> bool {
        let mut any = self.hotplug();
        for v in &mut self.vifs {
            any |= v.poll();
        }
        any
    }

    /// Blocks in the hypervisor until a vif's event channel fires, smoltcp's next timer is
    /// due, or `max_ns` passes. No busy polling: an idle guest sleeps in Xen.
    pub fn wait(&mut self, max_ns: u64) {
        let ts = now();
        let mut delay = max_ns;
        for v in &mut self.vifs {
            if let Some(d) = v.iface.poll_delay(ts, &v.sockets) {
                delay = delay.min(d.total_micros().saturating_mul(1000));
            }
        }
        // A vif's event, or xenstored's (a watch on a back end's state: carrier, unplug).
        let event = || {
            let net = NET_EVENT.swap(false, Ordering::AcqRel);
            let store = xenstore::take_store_event();
            net || store
        };
        if delay == 0 || event() {
            return;
        }
        // Xen's timer takes a signed time: cap the sleep (an hour) so that it never wraps.
        let delay = delay.min(3_600_000_000_000);
        let deadline = events::now_ns().saturating_add(delay);
        events::wait_deadline(deadline, event);
    }

    /// Polls until `cond(self)` holds or `timeout_ns` passes, waiting in between.
    pub fn run_until(&mut self, timeout_ns: u64, mut cond: impl FnMut(&mut Net) -> bool) -> bool {
        let deadline = events::now_ns().saturating_add(timeout_ns);
        loop {
            self.poll();
            if cond(self) {
                return true;
            }
            let now_ns = events::now_ns();
            if now_ns >= deadline {
                return false;
            }
            self.wait(deadline - now_ns);
        }
    }

    /// Prints every vif's counters (traffic and everything dropped from the back end).
    pub fn print_stats(&self) {
        for v in &self.vifs {
            println!("net: vif{} stats: {}", v.index, v.dev.stats());
        }
    }

    /// Disconnects every vif cleanly (Closing, Closed, grants ended, pages returned).
    pub fn shutdown(mut self) {
        for v in &mut self.vifs {
            v.disconnect();
        }
    }
}
