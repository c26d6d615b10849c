//! Xen event channels for Mini-OS in Rust: the 2-level, FIFO and 3-level ABIs behind one
//! interface, [`EventChannels`], written as safe code over the atomics of the memory shared
//! with Xen so that it runs unchanged on the host against the model of the hypervisor side
//! ([`model`], feature `test-utils`).
//!
//! - **2-level** (every Xen): bitmaps in `shared_info`, a selector in `vcpu_info`; 4095 usable
//!   ports on a 64-bit guest. Scan: Linux's, with its round-robin fairness cursor.
//! - **FIFO** (Xen >= 4.4): one event word per port in guest pages, per-vCPU queues with 16
//!   priorities; 131 071 ports. Scan: Linux's `events_fifo.c` consumer.
//! - **3-level** (Wei Liu's 2013 RFC, never merged into Xen): a third bitmap level in guest
//!   pages, 262 143 ports. Only the project's model implements it; on a real Xen,
//!   [`EvtchnOps::register_3level`] must refuse without a hypercall, and selection falls back.
//!
//! The reference for all of it is `shared/reference/evtchn-abi.md` (section numbers in the
//! comments, e.g. §4.4, are its sections).
//!
//! Only vCPU 0 is served: every port this crate binds notifies vCPU 0, and
//! [`EventChannels::handle_upcall`] is vCPU 0's upcall.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering::SeqCst};

use abi::fifo::{ControlBlock, Fifo};
use abi::three_level::ThreeLevel;
use abi::two_level::{TwoLevel, TwoLevelRefs};
use words::Paged;

pub mod abi;
#[cfg(feature = "test-utils")]
pub mod model;
pub mod words;

pub use xen_hal::{Port, XenError};

/// Hypercall surface of event channels (`EVTCHNOP_*`). Implemented by the arch crate with real
/// hypercalls, and by the model under `test-utils`.
pub trait EvtchnOps {
    /// `EVTCHNOP_alloc_unbound` (dom = `DOMID_SELF`): a port that `remote_dom` may bind to.
    fn alloc_unbound(&self, remote_dom: u16) -> Result<Port, XenError>;
    /// `EVTCHNOP_bind_interdomain`: connect to `remote_port` of `remote_dom`.
    fn bind_interdomain(&self, remote_dom: u16, remote_port: Port) -> Result<Port, XenError>;
    /// `EVTCHNOP_bind_virq`.
    fn bind_virq(&self, virq: u32, vcpu: u32) -> Result<Port, XenError>;
    /// `EVTCHNOP_bind_ipi`.
    fn bind_ipi(&self, vcpu: u32) -> Result<Port, XenError>;
    /// `EVTCHNOP_send`.
    fn send(&self, port: Port) -> Result<(), XenError>;
    /// `EVTCHNOP_close`.
    fn close(&self, port: Port) -> Result<(), XenError>;
    /// `EVTCHNOP_unmask`.
    fn unmask(&self, port: Port) -> Result<(), XenError>;
    /// `EVTCHNOP_init_control` (FIFO): returns link_bits.
    fn init_control(&self, control_gfn: u64, offset: u32, vcpu: u32) -> Result<u8, XenError>;
    /// `EVTCHNOP_expand_array` (FIFO).
    fn expand_array(&self, array_gfn: u64) -> Result<(), XenError>;
    /// `EVTCHNOP_set_priority` (FIFO).
    fn set_priority(&self, port: Port, priority: u32) -> Result<(), XenError>;
    /// 3-level registration (Wei Liu's never-merged ABI). Only the project's model implements
    /// it, under private operation numbers (>= 0x1000). The real-Xen implementation returns
    /// Err(XenError::ENOSYS) WITHOUT making any hypercall (real op numbers 11-13 are FIFO's).
    fn register_3level(&self, reg: &ThreeLevelRegistration) -> Result<(), XenError>;
}

/// A zeroed page shared with Xen, as 1024 atomic u32 words, and its frame number as Xen
/// names it (MFN for a PV guest, PFN for PVH).
#[derive(Debug, Clone, Copy)]
pub struct SharedPage {
    pub words: &'static [AtomicU32; 1024],
    pub gfn: u64,
}

/// Source of such pages (the kernel's page allocator in the guest; leaked Boxes on the host).
pub trait PageSource {
    fn alloc_shared_page(&mut self) -> Option<SharedPage>;
}

/// Where one vCPU's 3-level L2 selector lives: `W` words of `W` bits (512 bytes for W = 64)
/// at byte `offset` (8-aligned, `offset + 512 <= 4096`) of frame `gfn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2Selector {
    pub vcpu: u32,
    pub gfn: u64,
    pub offset: u32,
}

/// Registration of the 3-level ABI (our reconstruction of Wei Liu's V4/V5 design, §3.2 [R]).
///
/// One operation carries both of the design's phases: (1) the frames of the L3 pending and
/// mask bitmaps, (2) each vCPU's L2 selector. Port p's L3 bit is bit `p % W` of word `p / W`
/// of the bitmap, the words laid out little-endian over the pages in order (8 pages of 4 KiB
/// = 32 KiB = 2^18 bits for W = 64). The L1 selector stays `vcpu_info.evtchn_pending_sel`.
///
/// The model checks (§6.2 vector 5): `nr_pages` is 8 (it models a 64-bit guest; a 32-bit one
/// would give 1); every frame is a guest page; each listed vCPU exists, once, with an
/// 8-aligned selector that fits its page; and a second registration fails (`-EEXIST`).
/// A vCPU without a registered selector receives no events (its ports' PENDING bits are set
/// but nothing is raised). Xen keeps the 2-level PENDING bits of ports across the switch,
/// as it does for FIFO; the guest initialises the mask pages all ones (every port masked)
/// before registering and unmasks the ports it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreeLevelRegistration {
    /// Pages of each bitmap: 8 for a 64-bit guest, 1 for a 32-bit one.
    pub nr_pages: u32,
    /// Frames of the L3 pending bitmap; the first `nr_pages` are used.
    pub pending_gfns: [u64; 8],
    /// Frames of the L3 mask bitmap; the first `nr_pages` are used.
    pub mask_gfns: [u64; 8],
    /// The L2 selector of each vCPU that is to receive events.
    pub l2sel: Vec<L2Selector>,
}

/// Which ABI the guest asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbiChoice {
    Auto,
    TwoLevel,
    Fifo,
    ThreeLevel,
}

/// An [`AbiChoice`] string that is none of `auto`, `2l`, `fifo`, `3l`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseAbiChoiceError(pub String);

impl fmt::Display for ParseAbiChoiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown event-channel ABI {:?}: expected one of auto, 2l, fifo, 3l",
            self.0
        )
    }
}

impl core::error::Error for ParseAbiChoiceError {}

impl core::str::FromStr for AbiChoice {
    type Err = ParseAbiChoiceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(AbiChoice::Auto),
            "2l" => Ok(AbiChoice::TwoLevel),
            "fifo" => Ok(AbiChoice::Fifo),
            "3l" => Ok(AbiChoice::ThreeLevel),
            _ => Err(ParseAbiChoiceError(String::from(s))),
        }
    }
}

/// The ABI in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abi {
    TwoLevel,
    Fifo,
    ThreeLevel,
}

impl fmt::Display for Abi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Abi::TwoLevel => "2-level",
            Abi::Fifo => "FIFO",
            Abi::ThreeLevel => "3-level",
        })
    }
}

/// What ABI selection did, for the boot log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbiSelection {
    pub abi: Abi,
    pub fallback_note: Option<String>,
}

/// An event handler: called with the port, with events masked.
pub type Handler = Box<dyn FnMut(Port) + Send>;

/// Errors of the event-channel layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvtchnError {
    /// An `EVTCHNOP_*` hypercall failed (`op` is its name). A port-allocating op that fails
    /// with `ENOSPC` means the domain's `max_event_channels` (or the ABI's limit) is reached.
    Hypercall { op: &'static str, err: XenError },
    /// The page source had no page for the ABI's structures (FIFO event array).
    OutOfPages,
    /// The port is 0 (reserved) or beyond what the ABI in use can address (4095 for 2-level,
    /// 131 071 for FIFO, where Linux's `evtchn_fifo_setup` says `-EINVAL`; 262 143 for 3-level).
    PortOutOfRange(Port),
    /// No handler is bound to the port.
    NotBound(Port),
    /// A handler is already bound to the port.
    AlreadyBound(Port),
}

impl fmt::Display for EvtchnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvtchnError::Hypercall { op, err } if *err == XenError::ENOSPC => write!(
                f,
                "{op}: no free event-channel port (ENOSPC): max_event_channels reached"
            ),
            EvtchnError::Hypercall { op, err } => write!(f, "{op} failed: {err}"),
            EvtchnError::OutOfPages => {
                f.write_str("out of pages for the event-channel ABI's shared structures")
            }
            EvtchnError::PortOutOfRange(p) => write!(
                f,
                "event-channel port {p} is reserved or beyond the limit of the ABI in use"
            ),
            EvtchnError::NotBound(p) => write!(f, "event-channel port {p} has no handler bound"),
            EvtchnError::AlreadyBound(p) => {
                write!(f, "event-channel port {p} already has a handler bound")
            }
        }
    }
}

impl core::error::Error for EvtchnError {}

/// How the 2-level and 3-level ABIs unmask a port that turns out to be pending (§2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UnmaskMode {
    /// PV (Linux, Mini-OS): clear MASK, then if PENDING set the selector bit(s) and
    /// `evtchn_upcall_pending` locally, without a hypercall. The kernel then runs
    /// [`EventChannels::handle_upcall`] if events are enabled (Mini-OS's
    /// `force_evtchn_callback`); if they are disabled, its re-enable path sees
    /// `upcall_pending` and does it then.
    #[default]
    LocalResend,
    /// HVM/PVH (Linux's slow path): clear MASK; if PENDING, set MASK again and issue
    /// `EVTCHNOP_unmask`, so that Xen clears it and re-raises the event itself.
    Hypercall,
}

/// The ABI state.
enum AbiState {
    TwoLevel(TwoLevel),
    Fifo(Fifo),
    ThreeLevel(ThreeLevel),
}

/// The event channels of vCPU 0: the ABI in use, and a handler per bound port.
///
/// Every method takes `&self` or `&mut self`; the kernel wraps it in its lock with events
/// masked. Handlers run inside [`EventChannels::handle_upcall`], with events masked, and
/// cannot call back into it (they may send, through their own reference to the hypervisor).
pub struct EventChannels<H: EvtchnOps> {
    hv: H,
    shared: &'static xen_abi::SharedInfo,
    abi: AbiState,
    /// Indexed by port.
    handlers: Vec<Option<Handler>>,
    bound: usize,
    /// Pages taken from the page source but not used (a refused 3-level registration, a
    /// failed expand_array): used first for the next page needed.
    spare: Vec<SharedPage>,
    /// Pages in use by the ABI's structures.
    abi_pages: usize,
    unmask_mode: UnmaskMode,
}

impl<H: EvtchnOps> fmt::Debug for EventChannels<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventChannels")
            .field("abi", &self.abi())
            .field("bound_ports", &self.bound)
            .field("abi_pages", &self.abi_pages)
            .field("unmask_mode", &self.unmask_mode)
            .finish_non_exhaustive()
    }
}

/// Why FIFO was not taken, for the boot log.
fn fifo_refusal(err: XenError) -> String {
    match err {
        XenError::ENOSYS => String::from("not supported by this hypervisor (ENOSYS: Xen < 4.4)"),
        XenError::EOPNOTSUPP => String::from(
            "refused by the hypervisor (EOPNOTSUPP: x86 PV shim, or FIFO compiled out)",
        ),
        e => format!("EVTCHNOP_init_control failed ({e})"),
    }
}

/// Why 3-level was not taken, for the boot log.
fn three_level_refusal(err: XenError) -> String {
    match err {
        XenError::ENOSYS => String::from("not supported by this hypervisor (Xen never merged it)"),
        e => format!("registration refused ({e})"),
    }
}

/// Pages of a 3-level setup: 8 pending + 8 mask + 1 for vCPU 0's L2 selector.
const THREE_LEVEL_PAGES: usize = 17;

impl<H: EvtchnOps> EventChannels<H> {
    /// Chooses and sets up the ABI. Auto: FIFO, falling back to 2-level on ENOSYS/EOPNOTSUPP.
    /// ThreeLevel: tries register_3level, and on refusal falls back like Auto, with a note.
    /// Fifo forced but refused: falls back to 2-level with a note (never leaves the guest
    /// without events). `shared` is the mapped shared_info (2-level bitmaps, vcpu_info[0]).
    ///
    /// Every 2-level port is masked first (as Mini-OS and Linux do at boot); FIFO's
    /// `init_control` is issued here, before anything is bound (§4.2). Any refusal, also
    /// under Auto, leaves a `fallback_note`. After a refused 3-level registration its 17
    /// pages are kept and used for FIFO's control block and event-array pages.
    pub fn new(
        hv: H,
        shared: &'static xen_abi::SharedInfo,
        pages: &mut dyn PageSource,
        choice: AbiChoice,
    ) -> (Self, AbiSelection) {
        for w in &shared.evtchn_mask {
            w.store(u64::MAX, SeqCst);
        }
        let mut me = Self {
            hv,
            shared,
            abi: AbiState::TwoLevel(TwoLevel::new()),
            handlers: Vec::new(),
            bound: 0,
            spare: Vec::new(),
            abi_pages: 0,
            unmask_mode: UnmaskMode::default(),
        };
        let fallback_note = match choice {
            AbiChoice::TwoLevel => None,
            AbiChoice::Fifo | AbiChoice::Auto => match me.try_fifo(pages) {
                Ok(()) => None,
                Err(why) => Some(format!("FIFO: {why}; using 2-level")),
            },
            AbiChoice::ThreeLevel => match me.try_three_level(pages) {
                Ok(()) => None,
                Err(why3) => match me.try_fifo(pages) {
                    Ok(()) => Some(format!("3-level: {why3}; using FIFO")),
                    Err(whyf) => Some(format!("3-level: {why3}; FIFO: {whyf}; using 2-level")),
                },
            },
        };
        let abi = me.abi();
        (me, AbiSelection { abi, fallback_note })
    }

    /// A zeroed page: a spare one first, else a new one from `pages`.
    fn take_page(&mut self, pages: &mut dyn PageSource) -> Option<SharedPage> {
        if let Some(p) = self.spare.pop() {
            for w in p.words.iter() {
                w.store(0, SeqCst);
            }
            return Some(p);
        }
        pages.alloc_shared_page()
    }

    fn try_fifo(&mut self, pages: &mut dyn PageSource) -> Result<(), String> {
        let page = self
            .take_page(pages)
            .ok_or_else(|| String::from("no page for the control block"))?;
        // The control block (72 bytes at offset 0 of a zeroed page, as Linux does) is
        // registered on vCPU 0 before any port is bound here.
        match self.hv.init_control(page.gfn, 0, 0) {
            Ok(_link_bits) => {
                self.abi = AbiState::Fifo(Fifo::new(ControlBlock::new(page.words, 0)));
                self.abi_pages += 1;
                Ok(())
            }
            Err(e) => {
                self.spare.push(page);
                Err(fifo_refusal(e))
            }
        }
    }

    fn try_three_level(&mut self, pages: &mut dyn PageSource) -> Result<(), String> {
        let mut got = Vec::with_capacity(THREE_LEVEL_PAGES);
        while got.len() < THREE_LEVEL_PAGES {
            match self.take_page(pages) {
                Some(p) => got.push(p),
                None => {
                    self.spare.extend(got);
                    return Err(String::from("not enough pages for its bitmaps"));
                }
            }
        }
        let (pending, rest) = got.split_at(8);
        let (mask, l2) = rest.split_at(8);
        for p in mask {
            for w in p.words.iter() {
                w.store(u32::MAX, SeqCst);
            }
        }
        let mut reg = ThreeLevelRegistration {
            nr_pages: abi::three_level::BITMAP_PAGES_64,
            pending_gfns: [0; 8],
            mask_gfns: [0; 8],
            l2sel: alloc::vec![L2Selector {
                vcpu: 0,
                gfn: l2[0].gfn,
                offset: 0,
            }],
        };
        for i in 0..8 {
            reg.pending_gfns[i] = pending[i].gfn;
            reg.mask_gfns[i] = mask[i].gfn;
        }
        match self.hv.register_3level(&reg) {
            Ok(()) => {
                let words = |ps: &[SharedPage]| ps.iter().map(|p| p.words).collect::<Vec<_>>();
                let bitmap_words = (abi::three_level::NR_CHANNELS_64 / 64) as usize;
                self.abi = AbiState::ThreeLevel(ThreeLevel::new(
                    Paged::new(words(pending), 0, bitmap_words),
                    Paged::new(words(mask), 0, bitmap_words),
                    Paged::new(words(l2), 0, 64),
                ));
                self.abi_pages += THREE_LEVEL_PAGES;
                Ok(())
            }
            Err(e) => {
                self.spare.extend(got);
                Err(three_level_refusal(e))
            }
        }
    }

    /// The ABI in use.
    pub fn abi(&self) -> Abi {
        match self.abi {
            AbiState::TwoLevel(_) => Abi::TwoLevel,
            AbiState::Fifo(_) => Abi::Fifo,
            AbiState::ThreeLevel(_) => Abi::ThreeLevel,
        }
    }

    /// The hypercall implementation.
    pub fn hv(&self) -> &H {
        &self.hv
    }

    /// Ports the ABI in use can address (port 0 is reserved in all of them).
    pub fn max_ports(&self) -> u32 {
        match self.abi {
            AbiState::TwoLevel(_) => xen_abi::consts::EVTCHN_2L_NR_CHANNELS,
            AbiState::Fifo(_) => abi::fifo::NR_CHANNELS,
            AbiState::ThreeLevel(_) => abi::three_level::NR_CHANNELS_64,
        }
    }

    /// How the 2-level and 3-level ABIs unmask (default: [`UnmaskMode::LocalResend`]).
    pub fn set_unmask_mode(&mut self, mode: UnmaskMode) {
        self.unmask_mode = mode;
    }

    pub fn unmask_mode(&self) -> UnmaskMode {
        self.unmask_mode
    }

    /// Binds `virq` on vCPU 0 (`EVTCHNOP_bind_virq`) to `handler`.
    pub fn bind_virq(
        &mut self,
        virq: u32,
        pages: &mut dyn PageSource,
        handler: Handler,
    ) -> Result<Port, EvtchnError> {
        let r = self.hv.bind_virq(virq, 0);
        self.bind_new("EVTCHNOP_bind_virq", r, pages, handler)
    }

    /// A new port that `remote_dom` may bind to (`EVTCHNOP_alloc_unbound`), with `handler`.
    pub fn alloc_unbound(
        &mut self,
        remote_dom: u16,
        pages: &mut dyn PageSource,
        handler: Handler,
    ) -> Result<Port, EvtchnError> {
        let r = self.hv.alloc_unbound(remote_dom);
        self.bind_new("EVTCHNOP_alloc_unbound", r, pages, handler)
    }

    /// Connects to `remote_port` of `remote_dom` (`EVTCHNOP_bind_interdomain`). Xen sets the
    /// new port pending, so `handler` runs once at the next upcall (§5).
    pub fn bind_interdomain(
        &mut self,
        remote_dom: u16,
        remote_port: Port,
        pages: &mut dyn PageSource,
        handler: Handler,
    ) -> Result<Port, EvtchnError> {
        let r = self.hv.bind_interdomain(remote_dom, remote_port);
        self.bind_new("EVTCHNOP_bind_interdomain", r, pages, handler)
    }

    /// An IPI port of vCPU 0 (`EVTCHNOP_bind_ipi`): [`EventChannels::send`] on it raises it.
    pub fn bind_ipi(
        &mut self,
        pages: &mut dyn PageSource,
        handler: Handler,
    ) -> Result<Port, EvtchnError> {
        let r = self.hv.bind_ipi(0);
        self.bind_new("EVTCHNOP_bind_ipi", r, pages, handler)
    }

    /// A port bound by the toolstack (console, xenstore): attach a handler, set it up for the
    /// ABI (FIFO: its event-array page) and unmask it. An event already pending on it is
    /// delivered at the next upcall.
    pub fn bind_existing(
        &mut self,
        port: Port,
        pages: &mut dyn PageSource,
        handler: Handler,
    ) -> Result<(), EvtchnError> {
        self.attach(port, pages, handler)
    }

    /// After a port-allocating hypercall: attach, or close the new port again on failure.
    fn bind_new(
        &mut self,
        op: &'static str,
        r: Result<Port, XenError>,
        pages: &mut dyn PageSource,
        handler: Handler,
    ) -> Result<Port, EvtchnError> {
        let port = r.map_err(|err| EvtchnError::Hypercall { op, err })?;
        if let Err(e) = self.attach(port, pages, handler) {
            if !matches!(e, EvtchnError::AlreadyBound(_)) {
                let _ = self.hv.close(port);
            }
            return Err(e);
        }
        Ok(port)
    }

    fn check_port(&self, port: Port) -> Result<(), EvtchnError> {
        if port == 0 || port >= self.max_ports() {
            return Err(EvtchnError::PortOutOfRange(port));
        }
        if let AbiState::Fifo(f) = &self.abi {
            if port >= f.array.nr_ports() {
                return Err(EvtchnError::PortOutOfRange(port));
            }
        }
        Ok(())
    }

    fn attach(
        &mut self,
        port: Port,
        pages: &mut dyn PageSource,
        handler: Handler,
    ) -> Result<(), EvtchnError> {
        if port == 0 || port >= self.max_ports() {
            return Err(EvtchnError::PortOutOfRange(port));
        }
        if self.has_handler(port) {
            return Err(EvtchnError::AlreadyBound(port));
        }
        self.fifo_setup(port, pages)?;
        let idx = port as usize;
        if self.handlers.len() <= idx {
            self.handlers.resize_with(idx + 1, || None);
        }
        self.handlers[idx] = Some(handler);
        self.bound += 1;
        match &mut self.abi {
            AbiState::TwoLevel(t) => t.bind_local(64, port),
            AbiState::ThreeLevel(t) => t.bind_local(port),
            AbiState::Fifo(_) => {}
        }
        if let Err(e) = self.unmask(port) {
            self.mask(port);
            self.detach(port);
            return Err(e);
        }
        Ok(())
    }

    /// FIFO: add event-array pages until `port` has its word (Linux's `evtchn_fifo_setup`).
    /// Each new page is initialised all MASKED before `EVTCHNOP_expand_array` (§4.2).
    fn fifo_setup(&mut self, port: Port, pages: &mut dyn PageSource) -> Result<(), EvtchnError> {
        loop {
            let AbiState::Fifo(f) = &self.abi else {
                return Ok(());
            };
            if port >= abi::fifo::NR_CHANNELS {
                return Err(EvtchnError::PortOutOfRange(port));
            }
            if port < f.array.nr_ports() {
                return Ok(());
            }
            let page = self.take_page(pages).ok_or(EvtchnError::OutOfPages)?;
            for w in page.words.iter() {
                w.store(abi::fifo::MASKED, SeqCst);
            }
            if let Err(err) = self.hv.expand_array(page.gfn) {
                self.spare.push(page);
                return Err(EvtchnError::Hypercall {
                    op: "EVTCHNOP_expand_array",
                    err,
                });
            }
            if let AbiState::Fifo(f) = &mut self.abi {
                f.array.pages.push(page.words);
            }
            self.abi_pages += 1;
        }
    }

    fn has_handler(&self, port: Port) -> bool {
        self.handlers
            .get(port as usize)
            .is_some_and(|h| h.is_some())
    }

    /// Drops the handler and the local binding.
    fn detach(&mut self, port: Port) {
        if let Some(h) = self.handlers.get_mut(port as usize) {
            if h.take().is_some() {
                self.bound -= 1;
            }
        }
        match &mut self.abi {
            AbiState::TwoLevel(t) => t.unbind_local(64, port),
            AbiState::ThreeLevel(t) => t.unbind_local(port),
            AbiState::Fifo(_) => {}
        }
    }

    /// `EVTCHNOP_send`: interdomain ports notify the peer, IPI ports raise themselves.
    pub fn send(&self, port: Port) -> Result<(), EvtchnError> {
        self.hv.send(port).map_err(|err| EvtchnError::Hypercall {
            op: "EVTCHNOP_send",
            err,
        })
    }

    /// Masks the port, drops its handler and closes it (`EVTCHNOP_close`).
    ///
    /// FIFO, a port closed while still LINKED (an event queued but not consumed, §4.3): Xen
    /// keeps such a port "busy" and hands it out again only once it is unlinked. Linux spins
    /// until another CPU's upcall unlinks it; this guest has one vCPU and is that consumer,
    /// so it does not wait: the next [`EventChannels::handle_upcall`] unlinks it on its way
    /// through the queue and drops the event (no handler, MASKED). A LINKED port always has
    /// READY or a local head behind it, so that upcall comes.
    pub fn close(&mut self, port: Port) -> Result<(), EvtchnError> {
        if !self.has_handler(port) {
            return Err(EvtchnError::NotBound(port));
        }
        self.mask(port);
        self.detach(port);
        self.hv.close(port).map_err(|err| EvtchnError::Hypercall {
            op: "EVTCHNOP_close",
            err,
        })
    }

    /// Masks the port (no hypercall in any ABI). Ports beyond the ABI are ignored.
    pub fn mask(&self, port: Port) {
        let vi = &self.shared.vcpu_info[0];
        match &self.abi {
            AbiState::TwoLevel(_) => {
                abi::two_level::mask(&TwoLevelRefs::from_shared(self.shared, 0), port)
            }
            AbiState::Fifo(f) => f.mask(port),
            AbiState::ThreeLevel(t) => abi::three_level::mask(
                &t.refs(&vi.evtchn_pending_sel, &vi.evtchn_upcall_pending),
                port,
            ),
        }
    }

    /// Unmasks the port, the right way for the ABI:
    /// - 2-level / 3-level: per [`UnmaskMode`]; with the default `LocalResend` an event that
    ///   was sent while masked sets `evtchn_upcall_pending` of vCPU 0, and the caller runs
    ///   [`EventChannels::handle_upcall`] if events are enabled (never the naive "clear MASK,
    ///   then EVTCHNOP_unmask", which Xen ignores: §2.2);
    /// - FIFO, post-XSA-332: clear MASKED locally only if not PENDING (spinning while Xen holds
    ///   BUSY); if PENDING, leave MASKED to Xen's `EVTCHNOP_unmask`, which links the event.
    pub fn unmask(&self, port: Port) -> Result<(), EvtchnError> {
        self.check_port(port)?;
        let vi = &self.shared.vcpu_info[0];
        let hv_unmask = |p| self.hv.unmask(p);
        match &self.abi {
            AbiState::TwoLevel(_) => abi::two_level::unmask(
                &TwoLevelRefs::from_shared(self.shared, 0),
                port,
                self.unmask_mode,
                hv_unmask,
            ),
            AbiState::Fifo(f) => f.unmask(port, hv_unmask),
            AbiState::ThreeLevel(t) => abi::three_level::unmask(
                &t.refs(&vi.evtchn_pending_sel, &vi.evtchn_upcall_pending),
                port,
                self.unmask_mode,
                hv_unmask,
            ),
        }
        .map_err(|err| EvtchnError::Hypercall {
            op: "EVTCHNOP_unmask",
            err,
        })
    }

    /// `EVTCHNOP_set_priority` (FIFO; Xen answers ENOSYS under the other ABIs). Applies to
    /// the port's future links.
    pub fn set_priority(&self, port: Port, priority: u32) -> Result<(), EvtchnError> {
        self.hv
            .set_priority(port, priority)
            .map_err(|err| EvtchnError::Hypercall {
                op: "EVTCHNOP_set_priority",
                err,
            })
    }

    /// The upcall loop for vCPU 0: repeat { clear evtchn_upcall_pending; run the ABI scan; }
    /// while evtchn_upcall_pending is set; each pending unmasked port's PENDING is cleared
    /// BEFORE its handler runs. Returns the number of handler invocations.
    pub fn handle_upcall(&mut self) -> usize {
        self.upcall(usize::MAX)
    }

    fn upcall(&mut self, mut budget: usize) -> usize {
        let shared = self.shared;
        let vi = &shared.vcpu_info[0];
        let handlers = &mut self.handlers;
        let mut calls = 0usize;
        let mut handle = |port: Port| {
            // A port with no handler (closed while LINKED, or not ours) is dropped.
            if let Some(Some(h)) = handlers.get_mut(port as usize) {
                h(port);
                calls += 1;
            }
        };
        loop {
            // Cleared before the scan reads any selector (§2.4); the scans' first access is
            // an atomic exchange, a full barrier.
            vi.evtchn_upcall_pending.store(0, SeqCst);
            match &mut self.abi {
                AbiState::TwoLevel(t) => t.scan(
                    &TwoLevelRefs::from_shared(shared, 0),
                    &mut budget,
                    &mut handle,
                ),
                AbiState::Fifo(f) => f.scan(&vi.evtchn_upcall_pending, &mut budget, &mut handle),
                AbiState::ThreeLevel(t) => t.scan(
                    &vi.evtchn_pending_sel,
                    &vi.evtchn_upcall_pending,
                    &mut budget,
                    &mut handle,
                ),
            }
            if budget == 0 || vi.evtchn_upcall_pending.load(SeqCst) == 0 {
                break;
            }
        }
        calls
    }

    /// Ports with a handler.
    pub fn bound_ports(&self) -> usize {
        self.bound
    }

    /// Bytes of guest memory the ABI's structures take (for the benchmark): the pages given
    /// to Xen (FIFO: control block page + event-array pages; 3-level: 16 bitmap pages + the
    /// L2 selector page), the 2-level bitmaps and selector in shared_info, and the ABI's
    /// guest-private state (local bind masks, local heads). Not counted: the handler table,
    /// the same for every ABI (16 bytes per port up to the highest bound).
    pub fn abi_memory_bytes(&self) -> usize {
        let page = xen_abi::PAGE_SIZE;
        match &self.abi {
            AbiState::TwoLevel(t) => 2 * 64 * 8 + 8 + t.private_bytes(),
            AbiState::Fifo(_) => self.abi_pages * page + abi::fifo::QUEUES * 4 + 4,
            AbiState::ThreeLevel(t) => self.abi_pages * page + t.private_bytes(),
        }
    }

    /// 2-level: the fairness cursor (word, bit) the next scan starts at.
    pub fn two_level_cursor(&self) -> Option<(usize, u32)> {
        match &self.abi {
            AbiState::TwoLevel(t) => Some(t.cursor()),
            _ => None,
        }
    }

    /// FIFO: the guest's local head of queue `q` (0: HEAD is read next time).
    pub fn fifo_local_head(&self, q: usize) -> Option<Port> {
        match &self.abi {
            AbiState::Fifo(f) => Some(f.local_head(q)),
            _ => None,
        }
    }

    /// FIFO: how many times a queue HEAD was read from the control block.
    pub fn fifo_head_reads(&self) -> Option<usize> {
        match &self.abi {
            AbiState::Fifo(f) => Some(f.head_reads),
            _ => None,
        }
    }

    /// FIFO: whether the port's event word is LINKED (queued, not yet consumed).
    pub fn fifo_is_linked(&self, port: Port) -> bool {
        match &self.abi {
            AbiState::Fifo(f) => f.is_linked(port),
            _ => false,
        }
    }

    /// Test hook: sets the 2-level fairness cursor.
    #[cfg(feature = "test-utils")]
    pub fn set_two_level_cursor(&mut self, word: usize, bit: u32) {
        if let AbiState::TwoLevel(t) = &mut self.abi {
            t.set_cursor(word, bit);
        }
    }

    /// Test hook: [`EventChannels::handle_upcall`] that stops after `max` handled events,
    /// keeping what is left for the next call (and `evtchn_upcall_pending` set).
    #[cfg(feature = "test-utils")]
    pub fn handle_upcall_budget(&mut self, max: usize) -> usize {
        self.upcall(max.max(1))
    }
}

/// `EvtchnOps` through a pointer type (`&T`, `Arc<T>`): every operation forwards.
macro_rules! forward_evtchn_ops {
    ($($ptr:ty),+) => {$(
        impl<T: EvtchnOps + ?Sized> EvtchnOps for $ptr {
            fn alloc_unbound(&self, remote_dom: u16) -> Result<Port, XenError> {
                (**self).alloc_unbound(remote_dom)
            }
            fn bind_interdomain(&self, remote_dom: u16, remote_port: Port) -> Result<Port, XenError> {
                (**self).bind_interdomain(remote_dom, remote_port)
            }
            fn bind_virq(&self, virq: u32, vcpu: u32) -> Result<Port, XenError> {
                (**self).bind_virq(virq, vcpu)
            }
            fn bind_ipi(&self, vcpu: u32) -> Result<Port, XenError> {
                (**self).bind_ipi(vcpu)
            }
            fn send(&self, port: Port) -> Result<(), XenError> {
                (**self).send(port)
            }
            fn close(&self, port: Port) -> Result<(), XenError> {
                (**self).close(port)
            }
            fn unmask(&self, port: Port) -> Result<(), XenError> {
                (**self).unmask(port)
            }
            fn init_control(&self, control_gfn: u64, offset: u32, vcpu: u32) -> Result<u8, XenError> {
                (**self).init_control(control_gfn, offset, vcpu)
            }
            fn expand_array(&self, array_gfn: u64) -> Result<(), XenError> {
                (**self).expand_array(array_gfn)
            }
            fn set_priority(&self, port: Port, priority: u32) -> Result<(), XenError> {
                (**self).set_priority(port, priority)
            }
            fn register_3level(&self, reg: &ThreeLevelRegistration) -> Result<(), XenError> {
                (**self).register_3level(reg)
            }
        }
    )+};
}
forward_evtchn_ops!(&T, alloc::sync::Arc<T>);

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn abi_choice_parses() {
        assert_eq!("auto".parse(), Ok(AbiChoice::Auto));
        assert_eq!("2l".parse(), Ok(AbiChoice::TwoLevel));
        assert_eq!("fifo".parse(), Ok(AbiChoice::Fifo));
        assert_eq!("3l".parse(), Ok(AbiChoice::ThreeLevel));
        let e = "4l".parse::<AbiChoice>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown event-channel ABI \"4l\": expected one of auto, 2l, fifo, 3l"
        );
    }

    #[test]
    fn abi_display() {
        assert_eq!(Abi::TwoLevel.to_string(), "2-level");
        assert_eq!(Abi::Fifo.to_string(), "FIFO");
        assert_eq!(Abi::ThreeLevel.to_string(), "3-level");
    }

    #[test]
    fn error_display() {
        let e = EvtchnError::Hypercall {
            op: "EVTCHNOP_bind_ipi",
            err: XenError::ENOSPC,
        };
        assert_eq!(
            e.to_string(),
            "EVTCHNOP_bind_ipi: no free event-channel port (ENOSPC): max_event_channels reached"
        );
        let e = EvtchnError::Hypercall {
            op: "EVTCHNOP_send",
            err: XenError::EINVAL,
        };
        assert_eq!(
            e.to_string(),
            "EVTCHNOP_send failed: Xen error EINVAL (-22)"
        );
        assert!(EvtchnError::OutOfPages.to_string().contains("out of pages"));
    }

    #[test]
    fn paged_words_split_halves() {
        use crate::words::{Paged, Words};
        let page: &'static [AtomicU32; 1024] =
            Box::leak(Box::new([const { AtomicU32::new(0) }; 1024]));
        let w = Paged::<64>::new(alloc::vec![page], 8, 3);
        assert!(!w.test_and_set_bit(1, 63));
        assert!(w.test_and_set_bit(1, 63));
        assert_eq!(
            page[2 + 2 + 1].load(SeqCst),
            1 << 31,
            "word 1 = pieces 4,5 after offset 8"
        );
        w.set_bit(1, 0);
        assert_eq!(w.load(1), (1 << 63) | 1);
        assert_eq!(w.swap(1, 0), (1 << 63) | 1);
        assert_eq!(w.load(1), 0);
        assert_eq!(w.fetch_or(2, 1 << 40), 0);
        assert_eq!(w.fetch_and(2, !(1 << 40)), 1 << 40);
        assert_eq!(w.load(2), 0);
    }
}
