//! A software model of the hypervisor side of event channels (all three ABIs), for host tests
//! and benchmarks (feature `test-utils`).
//!
//! [`Model`] implements [`EvtchnOps`] (what the guest asks of Xen) and the operations Xen
//! performs on its own (`set_pending` when a peer sends, a VIRQ fires or an IPI is raised),
//! on the same atomic memory the guest sees: a [`SharedInfo`] it allocates itself (leaked),
//! and the guest's pages, found by frame number in a registry that [`HostPages`] fills.
//!
//! Its algorithms follow Xen 4.17 (`event_2l.c`, `event_fifo.c`, `event_channel.c`) as the
//! reference (§2.2, §4.2, §4.3, §5) describes them; 3-level follows the reconstruction of §3.2
//! under a private operation number. Port allocation is lowest-free-first up to
//! `max_evtchn_port` and the ABI's limit, with `-ENOSPC` past it; in FIFO a closed port that
//! is still LINKED is busy and not handed out.
//!
//! The hypervisor-side algorithms of the 2-level and 3-level ABIs are also exposed as free
//! functions generic over the word width ([`xen_2l_set_pending`], ...) for the 32-bit vectors.
//!
//! One lock serialises the model's own operations, as Xen's per-domain event lock and queue
//! locks do; the guest never takes it (it only touches the shared atomics), so a handler may
//! call the model while the guest scans, and a second thread may play Xen concurrently.

extern crate std;

use std::boxed::Box;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::vec::Vec;

use core::sync::atomic::{AtomicU32, AtomicU8, Ordering::SeqCst};

use xen_abi::consts::{errno, evtchn_fifo as fc, evtchnop, virq as virqs, DOMID_SELF};
use xen_abi::SharedInfo;

use crate::abi::fifo::{self, ControlBlock, EventArray, BUSY, LINKED, LINK_MASK, MASKED, PENDING};
use crate::abi::three_level::{self, ThreeLevelRefs, MODEL_OP_REGISTER_3LEVEL};
use crate::abi::two_level::TwoLevelRefs;
use crate::words::{Paged, Words};
use crate::{Abi, EvtchnOps, PageSource, Port, SharedPage, ThreeLevelRegistration, XenError};

const EBUSY: XenError = XenError(errno::EBUSY);
const EEXIST: XenError = XenError(errno::EEXIST);
const EAGAIN: XenError = XenError(errno::EAGAIN);

/// Whether (and how) the modelled hypervisor offers FIFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FifoSupport {
    /// Xen >= 4.4.
    Available,
    /// Xen < 4.4: `init_control` is an unknown op, `-ENOSYS`.
    Absent,
    /// The x86 PV shim: `-EOPNOTSUPP` for FIFO ops (§5).
    PvShim,
}

/// Configuration of a [`Model`].
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// This domain's id (what `DOMID_SELF` stands for).
    pub domid: u16,
    /// vCPUs of the domain (at most 32: their vcpu_info is in shared_info).
    pub nr_vcpus: u32,
    /// `xen_domctl_createdomain.max_evtchn_port`: xl's `max_event_channels`, default 1023.
    pub max_evtchn_port: u32,
    pub fifo: FifoSupport,
    /// Whether the private 3-level registration is implemented (no real Xen has it).
    pub three_level: bool,
}

impl Default for ModelConfig {
    /// A domU of a Xen 4.17 host as xl creates it, plus the model-only 3-level ABI.
    fn default() -> Self {
        Self {
            domid: 1,
            nr_vcpus: 1,
            max_evtchn_port: 1023,
            fifo: FifoSupport::Available,
            three_level: true,
        }
    }
}

/// What a port is bound to (Xen's `ECS_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChanState {
    Free,
    /// Port 0.
    Reserved,
    /// Allocated for `remote_dom` to bind to.
    Unbound {
        remote_dom: u16,
    },
    /// Connected to `remote_port` of `remote_dom` (our own domid for a loopback pair).
    Interdomain {
        remote_dom: u16,
        remote_port: Port,
    },
    Virq {
        virq: u32,
    },
    Ipi,
}

#[derive(Debug, Clone, Copy)]
struct Chan {
    state: ChanState,
    notify_vcpu: u32,
    /// FIFO priority.
    priority: u8,
    /// FIFO: pending while its event-array page is missing (Xen's `evtchn->pending`).
    saved_pending: bool,
    /// FIFO: the queue it was last linked on (Xen's `fifo_lastq`).
    last_vcpu: u32,
    last_priority: u8,
}

impl Chan {
    const FREE: Chan = Chan {
        state: ChanState::Free,
        notify_vcpu: 0,
        priority: fc::PRIORITY_DEFAULT as u8,
        saved_pending: false,
        last_vcpu: 0,
        last_priority: fc::PRIORITY_DEFAULT as u8,
    };
}

#[derive(Debug, Clone)]
struct FifoVcpu {
    control: Option<ControlBlock>,
    /// Xen's `q->tail` per priority.
    tails: [Port; fifo::QUEUES],
}

#[derive(Debug)]
struct FifoDom {
    array: EventArray,
    vcpus: Vec<FifoVcpu>,
}

#[derive(Debug)]
struct ThreeDom {
    pending: Paged<64>,
    mask: Paged<64>,
    /// Per vCPU.
    l2: Vec<Option<Paged<64>>>,
}

#[derive(Debug)]
enum ModelAbi {
    TwoLevel,
    Fifo(FifoDom),
    ThreeLevel(ThreeDom),
}

/// Frame number -> page, filled by [`HostPages`].
#[derive(Debug, Default)]
pub struct PageRegistry {
    inner: Mutex<RegistryInner>,
}

#[derive(Debug, Default)]
struct RegistryInner {
    pages: HashMap<u64, &'static [AtomicU32; 1024]>,
    next_gfn: u64,
}

impl PageRegistry {
    /// A new zeroed page (leaked), registered under a fresh frame number.
    pub fn alloc(&self) -> SharedPage {
        let words: &'static [AtomicU32; 1024] =
            Box::leak(Box::new([const { AtomicU32::new(0) }; 1024]));
        let mut r = self.inner.lock().unwrap();
        r.next_gfn += 1;
        // Frame numbers that look like a guest's (and are never 0).
        let gfn = 0x10_0000 + r.next_gfn;
        r.pages.insert(gfn, words);
        SharedPage { words, gfn }
    }

    /// The page registered under `gfn`.
    pub fn get(&self, gfn: u64) -> Option<&'static [AtomicU32; 1024]> {
        self.inner.lock().unwrap().pages.get(&gfn).copied()
    }
}

/// A [`PageSource`] of leaked, zeroed host pages registered with the model, optionally
/// limited to `limit` pages (for out-of-pages tests).
#[derive(Debug, Clone)]
pub struct HostPages {
    registry: Arc<PageRegistry>,
    limit: Option<usize>,
    /// Pages handed out so far.
    pub allocated: usize,
}

impl HostPages {
    /// At most `limit` more pages.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = Some(self.allocated + limit);
        self
    }
}

impl PageSource for HostPages {
    fn alloc_shared_page(&mut self) -> Option<SharedPage> {
        if self.limit.is_some_and(|l| self.allocated >= l) {
            return None;
        }
        self.allocated += 1;
        Some(self.registry.alloc())
    }
}

struct Inner {
    abi: ModelAbi,
    chans: Vec<Chan>,
    /// Lowest port that may be free (allocation starts there).
    free_hint: usize,
    /// (virq, vcpu) -> port.
    virqs: BTreeMap<(u32, u32), Port>,
    /// Ports a foreign peer allocated unbound for us: (remote_dom, remote_port).
    offers: Vec<(u16, Port)>,
    next_remote_port: Port,
    /// Sends the guest made on interdomain ports to foreign domains: (remote_dom, remote_port).
    remote_sends: Vec<(u16, Port)>,
    /// Hypercalls by op number.
    ops: BTreeMap<u32, usize>,
    /// Events dropped (FIFO: no control block; 3-level: no L2 selector).
    dropped: usize,
    /// Upcalls raised (0 -> 1 edges of `evtchn_upcall_pending`) per vCPU.
    edges: Vec<usize>,
}

/// The model of the hypervisor side. Share it as `Arc<Model>` (it implements [`EvtchnOps`],
/// and so does `Arc<Model>`).
pub struct Model {
    cfg: ModelConfig,
    shared: &'static SharedInfo,
    registry: Arc<PageRegistry>,
    inner: Mutex<Inner>,
}

impl core::fmt::Debug for Model {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Model")
            .field("cfg", &self.cfg)
            .field("abi", &self.abi())
            .finish_non_exhaustive()
    }
}

impl Default for Model {
    fn default() -> Self {
        Self::new(ModelConfig::default())
    }
}

/// Test-and-set of `evtchn_upcall_pending`: Xen's `vcpu_mark_events_pending`.
fn mark_events_pending(upcall_pending: &AtomicU8) -> bool {
    upcall_pending.swap(1, SeqCst) == 0
}

/// Xen's 2-level `set_pending` (§2.2, `evtchn_2l_set_pending`) on vCPU state `r`: returns
/// whether the upcall was newly raised; `-EINVAL` for a port past `W^2` (the model's range
/// check: Xen never gets there, it caps ports at `W^2`).
pub fn xen_2l_set_pending<B: Words + ?Sized, S: Words + ?Sized>(
    r: &TwoLevelRefs<'_, B, S>,
    port: Port,
) -> Result<bool, XenError> {
    let (w, bit) = r.locate(port).ok_or(XenError::EINVAL)?;
    if r.pending.test_and_set_bit(w, bit) {
        return Ok(false);
    }
    if !r.mask.test_bit(w, bit) && !r.sel.test_and_set_bit(0, w as u32) {
        return Ok(mark_events_pending(r.upcall_pending));
    }
    Ok(false)
}

/// Xen's 2-level `EVTCHNOP_unmask` (§2.2): only if the mask was set (test-and-clear) and the
/// port is pending and the selector bit is newly set, raise the upcall.
pub fn xen_2l_unmask<B: Words + ?Sized, S: Words + ?Sized>(
    r: &TwoLevelRefs<'_, B, S>,
    port: Port,
) -> Result<bool, XenError> {
    let (w, bit) = r.locate(port).ok_or(XenError::EINVAL)?;
    if r.mask.test_and_clear_bit(w, bit)
        && r.pending.test_bit(w, bit)
        && !r.sel.test_and_set_bit(0, w as u32)
    {
        return Ok(mark_events_pending(r.upcall_pending));
    }
    Ok(false)
}

/// 3-level `set_pending` (§3.2 [R]): PENDING, then if unmasked the L2 bit, then (if newly set)
/// the L1 bit, then (if newly set) the upcall.
pub fn xen_3l_set_pending<B: Words + ?Sized, S: Words + ?Sized>(
    r: &ThreeLevelRefs<'_, B, S>,
    port: Port,
) -> Result<bool, XenError> {
    let l = three_level::locate(B::W, port).ok_or(XenError::EINVAL)?;
    if r.pending.test_and_set_bit(l.l3_word, l.l3_bit) {
        return Ok(false);
    }
    if !r.mask.test_bit(l.l3_word, l.l3_bit) {
        return Ok(raise_3l(r, l));
    }
    Ok(false)
}

fn raise_3l<B: Words + ?Sized, S: Words + ?Sized>(
    r: &ThreeLevelRefs<'_, B, S>,
    l: three_level::Location,
) -> bool {
    if !r.l2.test_and_set_bit(l.l2_word, l.l2_bit) && !r.l1.test_and_set_bit(0, l.l1_bit) {
        return mark_events_pending(r.upcall_pending);
    }
    false
}

/// 3-level `EVTCHNOP_unmask`: as 2-level's with the extra level.
pub fn xen_3l_unmask<B: Words + ?Sized, S: Words + ?Sized>(
    r: &ThreeLevelRefs<'_, B, S>,
    port: Port,
) -> Result<bool, XenError> {
    let l = three_level::locate(B::W, port).ok_or(XenError::EINVAL)?;
    if r.mask.test_and_clear_bit(l.l3_word, l.l3_bit) && r.pending.test_bit(l.l3_word, l.l3_bit) {
        return Ok(raise_3l(r, l));
    }
    Ok(false)
}

/// The registration checks of the 3-level model for a guest of word width `w` (64 or 32):
/// bitmap pages 8 (64-bit) or 1 (32-bit), each L2 selector of an existing vCPU (once),
/// 8-aligned and within its page. Frame numbers are checked by the model.
pub fn validate_3level_registration(
    reg: &ThreeLevelRegistration,
    w: u32,
    nr_vcpus: u32,
) -> Result<(), XenError> {
    let want_pages = if w == 64 {
        three_level::BITMAP_PAGES_64
    } else {
        three_level::BITMAP_PAGES_32
    };
    if reg.nr_pages != want_pages {
        return Err(XenError::EINVAL);
    }
    let sel_bytes = w * w / 8;
    for (i, s) in reg.l2sel.iter().enumerate() {
        if s.vcpu >= nr_vcpus {
            return Err(XenError::ENOENT);
        }
        if !s.offset.is_multiple_of(8) || s.offset + sel_bytes > 4096 {
            return Err(XenError::EINVAL);
        }
        if reg.l2sel[..i].iter().any(|o| o.vcpu == s.vcpu) {
            return Err(XenError::EINVAL);
        }
    }
    Ok(())
}

/// Xen's `evtchn_fifo_set_link`: link `link` onto the tail word iff it is still LINKED; if the
/// guest races (the cmpxchg fails), hold BUSY on the word (which blocks guest unmasks) and
/// retry up to 4 times. Returns whether it linked.
fn fifo_set_link(word: &AtomicU32, link: Port) -> bool {
    fn try_set_link(word: &AtomicU32, w: &mut u32, link: Port) -> Option<bool> {
        if *w & LINKED == 0 {
            return Some(false);
        }
        let old = *w;
        let new = (old & !(BUSY | LINK_MASK)) | link;
        match word.compare_exchange(old, new, SeqCst, SeqCst) {
            Ok(_) => Some(true),
            Err(now) => {
                *w = now;
                None
            }
        }
    }
    let mut w = word.load(SeqCst);
    if let Some(r) = try_set_link(word, &mut w, link) {
        return r;
    }
    word.fetch_or(BUSY, SeqCst);
    w = word.load(SeqCst);
    for _ in 0..4 {
        if let Some(r) = try_set_link(word, &mut w, link) {
            if !r {
                word.fetch_and(!BUSY, SeqCst);
            }
            return r;
        }
    }
    // Xen: "port not linked" warning; BUSY released, reported as linked.
    word.fetch_and(!BUSY, SeqCst);
    true
}

impl Model {
    /// A model with its own shared_info (zeroed, leaked).
    pub fn new(cfg: ModelConfig) -> Self {
        assert!(
            cfg.nr_vcpus >= 1 && cfg.nr_vcpus as usize <= xen_abi::LEGACY_MAX_VCPUS,
            "1..=32 vCPUs"
        );
        let shared: &'static SharedInfo = Box::leak(Box::new(SharedInfo::zeroed()));
        let cfg_vcpus = cfg.nr_vcpus as usize;
        let mut reserved = Chan::FREE;
        reserved.state = ChanState::Reserved;
        Self {
            cfg,
            shared,
            registry: Arc::new(PageRegistry::default()),
            inner: Mutex::new(Inner {
                abi: ModelAbi::TwoLevel,
                chans: std::vec![reserved],
                free_hint: 1,
                virqs: BTreeMap::new(),
                offers: Vec::new(),
                next_remote_port: 1,
                remote_sends: Vec::new(),
                ops: BTreeMap::new(),
                dropped: 0,
                edges: std::vec![0; cfg_vcpus],
            }),
        }
    }

    /// A model of a domU with `n` vCPUs and otherwise default settings.
    pub fn with_vcpus(n: u32) -> Self {
        Self::new(ModelConfig {
            nr_vcpus: n,
            ..ModelConfig::default()
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The domain's shared_info, as the guest maps it.
    pub fn shared_info(&self) -> &'static SharedInfo {
        self.shared
    }

    /// A page source whose pages the model can find by frame number.
    pub fn pages(&self) -> HostPages {
        HostPages {
            registry: self.registry.clone(),
            limit: None,
            allocated: 0,
        }
    }

    /// The page registered as `gfn`.
    pub fn page(&self, gfn: u64) -> Option<&'static [AtomicU32; 1024]> {
        self.registry.get(gfn)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// The ABI the domain is in.
    pub fn abi(&self) -> Abi {
        match self.lock().abi {
            ModelAbi::TwoLevel => Abi::TwoLevel,
            ModelAbi::Fifo(_) => Abi::Fifo,
            ModelAbi::ThreeLevel(_) => Abi::ThreeLevel,
        }
    }

    /// Hypercalls made with op number `op` (`EVTCHNOP_*`, or [`MODEL_OP_REGISTER_3LEVEL`]).
    pub fn hypercalls(&self, op: u32) -> usize {
        self.lock().ops.get(&op).copied().unwrap_or(0)
    }

    /// Upcalls the model raised on `vcpu` (0 -> 1 edges of its `evtchn_upcall_pending`).
    pub fn upcall_edges(&self, vcpu: u32) -> usize {
        self.lock().edges[vcpu as usize]
    }

    /// Events dropped because the target vCPU had no FIFO control block / 3-level L2 selector.
    pub fn dropped(&self) -> usize {
        self.lock().dropped
    }

    /// The guest's sends to foreign peers, (remote_dom, remote_port), in order.
    pub fn remote_sends(&self) -> Vec<(u16, Port)> {
        self.lock().remote_sends.clone()
    }

    /// What `port` is bound to (`None` past the ports Xen has set up).
    pub fn port_state(&self, port: Port) -> Option<ChanState> {
        self.lock().chans.get(port as usize).map(|c| c.state)
    }

    /// FIFO: the port is free but still LINKED, so not allocatable (§4.3).
    pub fn is_busy(&self, port: Port) -> bool {
        let g = self.lock();
        g.chans
            .get(port as usize)
            .is_some_and(|c| c.state == ChanState::Free && g.is_busy(port))
    }

    /// FIFO: Xen's `q->tail` of (vcpu, priority).
    pub fn fifo_tail(&self, vcpu: u32, priority: u32) -> Option<Port> {
        match &self.lock().abi {
            ModelAbi::Fifo(f) => Some(f.vcpus[vcpu as usize].tails[priority as usize]),
            _ => None,
        }
    }

    /// FIFO: the model keeps `port` pending because its event-array page is missing.
    pub fn fifo_saved_pending(&self, port: Port) -> bool {
        self.lock()
            .chans
            .get(port as usize)
            .is_some_and(|c| c.saved_pending)
    }

    /// FIFO: the event word of `port` (if its page is there).
    pub fn fifo_word(&self, port: Port) -> Option<u32> {
        match &self.lock().abi {
            ModelAbi::Fifo(f) => f.array.word(port).map(|w| w.load(SeqCst)),
            _ => None,
        }
    }

    /// FIFO: the control block of `vcpu`.
    pub fn fifo_control_block(&self, vcpu: u32) -> Option<ControlBlock> {
        match &self.lock().abi {
            ModelAbi::Fifo(f) => f.vcpus[vcpu as usize].control,
            _ => None,
        }
    }

    /// FIFO hook: sets or clears BUSY on `port`'s event word, as Xen does while it links onto
    /// it. Returns false if the word does not exist.
    pub fn set_busy(&self, port: Port, busy: bool) -> bool {
        match &self.lock().abi {
            ModelAbi::Fifo(f) => match f.array.word(port) {
                Some(w) => {
                    if busy {
                        w.fetch_or(BUSY, SeqCst);
                    } else {
                        w.fetch_and(!BUSY, SeqCst);
                    }
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// 3-level: the pending bitmap, L2 selector of `vcpu` (if registered).
    pub fn three_level_bitmaps(
        &self,
        vcpu: u32,
    ) -> Option<(Paged<64>, Paged<64>, Option<Paged<64>>)> {
        match &self.lock().abi {
            ModelAbi::ThreeLevel(t) => Some((
                t.pending.clone(),
                t.mask.clone(),
                t.l2[vcpu as usize].clone(),
            )),
            _ => None,
        }
    }

    /// Xen's `evtchn_port_set_pending` on the port's notify vCPU: what happens when a peer
    /// sends, a VIRQ fires or an IPI is raised. This is the test vectors' `send(p)`. It works
    /// on any port below the ABI's limit, bound or not (ports past the ones Xen has set up are
    /// treated as free ports notifying vCPU 0); `-EINVAL` beyond the limit.
    pub fn set_pending(&self, port: Port) -> Result<(), XenError> {
        let mut g = self.lock();
        if port >= g.abi_limit() {
            return Err(XenError::EINVAL);
        }
        g.ensure_chan(port);
        g.set_pending(self, port);
        Ok(())
    }

    /// A peer's `EVTCHNOP_send` arriving on our interdomain `port`; `-EINVAL` if it is not
    /// interdomain.
    pub fn notify_from_peer(&self, port: Port) -> Result<(), XenError> {
        let mut g = self.lock();
        match g.chans.get(port as usize).map(|c| c.state) {
            Some(ChanState::Interdomain { .. }) => {
                g.set_pending(self, port);
                Ok(())
            }
            _ => Err(XenError::EINVAL),
        }
    }

    /// Fires `virq` on `vcpu`; false if it is not bound.
    pub fn raise_virq(&self, virq: u32, vcpu: u32) -> bool {
        let mut g = self.lock();
        match g.virqs.get(&(virq, vcpu)).copied() {
            Some(p) => {
                g.set_pending(self, p);
                true
            }
            None => false,
        }
    }

    /// The toolstack pre-binds a port to `remote_dom` (xenstore, console): lowest free port,
    /// interdomain. Returns it.
    pub fn prebind(&self, remote_dom: u16) -> Result<Port, XenError> {
        let mut g = self.lock();
        let port = g.get_free_port(self.cfg.max_evtchn_port)?;
        let rp = g.next_remote_port;
        g.next_remote_port += 1;
        g.chans[port as usize].state = ChanState::Interdomain {
            remote_dom,
            remote_port: rp,
        };
        Ok(port)
    }

    /// A foreign domain allocates a port unbound for us; returns its number, which our
    /// `bind_interdomain(remote_dom, it)` then accepts.
    pub fn offer_unbound(&self, remote_dom: u16) -> Port {
        let mut g = self.lock();
        let rp = g.next_remote_port;
        g.next_remote_port += 1;
        g.offers.push((remote_dom, rp));
        rp
    }

    /// The foreign peer binds to our unbound `port`; returns the peer's port.
    pub fn peer_bind(&self, port: Port) -> Result<Port, XenError> {
        let mut g = self.lock();
        let c = g
            .chans
            .get(port as usize)
            .copied()
            .ok_or(XenError::EINVAL)?;
        let ChanState::Unbound { remote_dom } = c.state else {
            return Err(XenError::EINVAL);
        };
        if remote_dom == self.cfg.domid {
            return Err(XenError::EINVAL);
        }
        let rp = g.next_remote_port;
        g.next_remote_port += 1;
        g.chans[port as usize].state = ChanState::Interdomain {
            remote_dom,
            remote_port: rp,
        };
        Ok(rp)
    }

    /// `EVTCHNOP_bind_vcpu`: notify `vcpu` for `port` from now on.
    pub fn bind_vcpu(&self, port: Port, vcpu: u32) -> Result<(), XenError> {
        let mut g = self.lock();
        g.count(evtchnop::BIND_VCPU);
        if vcpu >= self.cfg.nr_vcpus {
            return Err(XenError::ENOENT);
        }
        let c = g.chans.get_mut(port as usize).ok_or(XenError::EINVAL)?;
        match c.state {
            ChanState::Ipi => return Err(XenError::EINVAL),
            ChanState::Virq { virq } if !virq_is_global(virq) => return Err(XenError::EINVAL),
            ChanState::Free | ChanState::Reserved => return Err(XenError::EINVAL),
            _ => {}
        }
        c.notify_vcpu = vcpu;
        Ok(())
    }

    /// `EVTCHNOP_reset(DOMID_SELF)` (§4.2, Xen 4.17 `evtchn_reset`): closes every port; then
    /// `-EAGAIN` if some remain, else an extended ABI is torn down and the domain is back to
    /// 2-level.
    pub fn reset_self(&self) -> Result<(), XenError> {
        let mut g = self.lock();
        g.count(evtchnop::RESET);
        for p in 1..g.chans.len() as Port {
            let st = g.chans[p as usize].state;
            if st != ChanState::Free && st != ChanState::Reserved {
                g.close(self, p)?;
            }
        }
        if g.chans
            .iter()
            .any(|c| !matches!(c.state, ChanState::Free | ChanState::Reserved))
        {
            return Err(EAGAIN);
        }
        g.abi = ModelAbi::TwoLevel;
        for c in &mut g.chans {
            c.saved_pending = false;
        }
        g.free_hint = 1;
        Ok(())
    }

    fn self_dom(&self, dom: u16) -> u16 {
        if dom == DOMID_SELF {
            self.cfg.domid
        } else {
            dom
        }
    }
}

fn virq_is_global(virq: u32) -> bool {
    !matches!(
        virq,
        virqs::TIMER | virqs::DEBUG | virqs::XENOPROF | virqs::XENPMU
    )
}

impl Inner {
    fn count(&mut self, op: u32) {
        *self.ops.entry(op).or_insert(0) += 1;
    }

    /// Ports the ABI can address.
    fn abi_limit(&self) -> u32 {
        match self.abi {
            ModelAbi::TwoLevel => xen_abi::consts::EVTCHN_2L_NR_CHANNELS,
            ModelAbi::Fifo(_) => fc::NR_CHANNELS,
            ModelAbi::ThreeLevel(_) => three_level::NR_CHANNELS_64,
        }
    }

    fn ensure_chan(&mut self, port: Port) {
        if self.chans.len() <= port as usize {
            self.chans.resize(port as usize + 1, Chan::FREE);
        }
    }

    /// Xen's `evtchn_is_busy`: FIFO, the word is still LINKED.
    fn is_busy(&self, port: Port) -> bool {
        match &self.abi {
            ModelAbi::Fifo(f) => f
                .array
                .word(port)
                .is_some_and(|w| w.load(SeqCst) & LINKED != 0),
            _ => false,
        }
    }

    /// Xen's `get_free_port`: the lowest port that is free and not busy, up to
    /// `max_evtchn_port` and below the ABI's limit; `-ENOSPC` if none.
    fn get_free_port(&mut self, max_evtchn_port: u32) -> Result<Port, XenError> {
        let limit = u64::from(max_evtchn_port).min(u64::from(self.abi_limit()) - 1);
        let mut first_busy = None;
        let mut p = self.free_hint.max(1);
        while p as u64 <= limit {
            if p >= self.chans.len() {
                self.ensure_chan(p as Port);
            }
            if self.chans[p].state == ChanState::Free {
                if !self.is_busy(p as Port) {
                    self.free_hint = first_busy.unwrap_or(p + 1);
                    // evtchn_port_init: default priority. The queue it was last linked
                    // on (fifo_lastq) is kept, as in Xen: that queue's tail may still name
                    // this port, and set_pending must invalidate it there.
                    let c = &mut self.chans[p];
                    *c = Chan {
                        state: ChanState::Reserved, // set by the caller
                        last_vcpu: c.last_vcpu,
                        last_priority: c.last_priority,
                        ..Chan::FREE
                    };
                    return Ok(p as Port);
                }
                first_busy.get_or_insert(p);
            }
            p += 1;
        }
        if let Some(b) = first_busy {
            self.free_hint = b;
        }
        Err(XenError::ENOSPC)
    }

    fn set_pending(&mut self, m: &Model, port: Port) {
        let vcpu = self
            .chans
            .get(port as usize)
            .map(|c| c.notify_vcpu)
            .unwrap_or(0);
        let vi = &m.shared.vcpu_info[vcpu as usize];
        match &self.abi {
            ModelAbi::TwoLevel => {
                let r = TwoLevelRefs::from_shared(m.shared, vcpu as usize);
                if xen_2l_set_pending(&r, port) == Ok(true) {
                    self.edges[vcpu as usize] += 1;
                }
            }
            ModelAbi::ThreeLevel(t) => match &t.l2[vcpu as usize] {
                Some(l2) => {
                    let raised = xen_3l_set_pending(
                        &ThreeLevelRefs {
                            pending: &t.pending,
                            mask: &t.mask,
                            l2,
                            l1: core::slice::from_ref(&vi.evtchn_pending_sel),
                            upcall_pending: &vi.evtchn_upcall_pending,
                        },
                        port,
                    );
                    if raised == Ok(true) {
                        self.edges[vcpu as usize] += 1;
                    }
                }
                None => {
                    // No L2 selector for this vCPU: PENDING only, nothing raised.
                    if let Some(l) = three_level::locate(64, port) {
                        t.pending.set_bit(l.l3_word, l.l3_bit);
                    }
                    self.dropped += 1;
                }
            },
            ModelAbi::Fifo(_) => self.fifo_set_pending(m, port),
        }
    }

    /// Xen's `evtchn_fifo_set_pending` (§4.3).
    fn fifo_set_pending(&mut self, m: &Model, port: Port) {
        self.ensure_chan(port);
        let ModelAbi::Fifo(f) = &mut self.abi else {
            return;
        };
        let chan = &mut self.chans[port as usize];
        // 1. No page yet: remember.
        let Some(word) = f.array.word(port) else {
            chan.saved_pending = true;
            return;
        };
        let v = chan.notify_vcpu as usize;
        let q = chan.priority as usize;
        let (old_v, old_q) = (chan.last_vcpu as usize, chan.last_priority as usize);
        // 3. No control block: drop.
        let Some(cb) = f.vcpus[v].control else {
            self.dropped += 1;
            return;
        };
        // 4. PENDING.
        word.fetch_or(PENDING, SeqCst);
        // 5. Link if unmasked and not yet linked.
        let mut linked = true;
        if word.load(SeqCst) & MASKED == 0 && word.fetch_or(LINKED, SeqCst) & LINKED == 0 {
            // It was the tail of its old queue: that queue is now empty.
            if f.vcpus[old_v].tails[old_q] == port {
                f.vcpus[old_v].tails[old_q] = 0;
            }
            chan.last_vcpu = v as u32;
            chan.last_priority = q as u8;
            linked = false;
            let tail = f.vcpus[v].tails[q];
            if tail != 0 {
                if let Some(tw) = f.array.word(tail) {
                    linked = fifo_set_link(tw, port);
                }
            }
            if !linked {
                cb.head(q).store(port, SeqCst);
            }
            f.vcpus[v].tails[q] = port;
        }
        // 6. READY only for a new HEAD (Xen 70ccddb).
        if !linked
            && cb.ready().fetch_or(1 << q, SeqCst) & (1 << q) == 0
            && mark_events_pending(&m.shared.vcpu_info[v].evtchn_upcall_pending)
        {
            self.edges[v] += 1;
        }
    }

    /// Xen's `evtchn_close` + `evtchn_free` for our end of `port`.
    fn close(&mut self, m: &Model, port: Port) -> Result<(), XenError> {
        let c = *self.chans.get(port as usize).ok_or(XenError::EINVAL)?;
        match c.state {
            ChanState::Free | ChanState::Reserved => return Err(XenError::EINVAL),
            ChanState::Virq { virq } => {
                self.virqs.remove(&(virq, c.notify_vcpu));
            }
            ChanState::Interdomain {
                remote_dom,
                remote_port,
            } if remote_dom == m.cfg.domid => {
                // Loopback: the other end returns to unbound.
                if let Some(r) = self.chans.get_mut(remote_port as usize) {
                    r.state = ChanState::Unbound { remote_dom };
                }
            }
            _ => {}
        }
        // Clear PENDING (evtchn_port_clear_pending).
        match &self.abi {
            ModelAbi::TwoLevel => {
                if let Some((w, b)) = TwoLevelRefs::from_shared(m.shared, 0).locate(port) {
                    m.shared.evtchn_pending[..].clear_bit(w, b);
                }
            }
            ModelAbi::Fifo(f) => {
                if let Some(w) = f.array.word(port) {
                    w.fetch_and(!PENDING, SeqCst);
                }
            }
            ModelAbi::ThreeLevel(t) => {
                if let Some(l) = three_level::locate(64, port) {
                    t.pending.clear_bit(l.l3_word, l.l3_bit);
                }
            }
        }
        let ch = &mut self.chans[port as usize];
        ch.state = ChanState::Free;
        ch.notify_vcpu = 0;
        ch.saved_pending = false;
        ch.priority = fc::PRIORITY_DEFAULT as u8;
        self.free_hint = self.free_hint.min(port as usize);
        Ok(())
    }

    fn valid(&self, port: Port) -> bool {
        (port as usize) < self.chans.len() && port < self.abi_limit()
    }
}

impl EvtchnOps for Model {
    fn alloc_unbound(&self, remote_dom: u16) -> Result<Port, XenError> {
        let mut g = self.lock();
        g.count(evtchnop::ALLOC_UNBOUND);
        let port = g.get_free_port(self.cfg.max_evtchn_port)?;
        g.chans[port as usize].state = ChanState::Unbound {
            remote_dom: self.self_dom(remote_dom),
        };
        Ok(port)
    }

    fn bind_interdomain(&self, remote_dom: u16, remote_port: Port) -> Result<Port, XenError> {
        let mut g = self.lock();
        g.count(evtchnop::BIND_INTERDOMAIN);
        let rdom = self.self_dom(remote_dom);
        let me = self.cfg.domid;
        if rdom == me {
            let ok = g
                .chans
                .get(remote_port as usize)
                .is_some_and(|c| c.state == ChanState::Unbound { remote_dom: me });
            if !ok {
                return Err(XenError::EINVAL);
            }
        } else if !g.offers.contains(&(rdom, remote_port)) {
            return Err(XenError::EINVAL);
        }
        let lport = g.get_free_port(self.cfg.max_evtchn_port)?;
        g.chans[lport as usize].state = ChanState::Interdomain {
            remote_dom: rdom,
            remote_port,
        };
        if rdom == me {
            g.chans[remote_port as usize].state = ChanState::Interdomain {
                remote_dom: me,
                remote_port: lport,
            };
        } else {
            g.offers.retain(|o| *o != (rdom, remote_port));
        }
        // Xen always sets the new local port pending.
        g.set_pending(self, lport);
        Ok(lport)
    }

    fn bind_virq(&self, virq: u32, vcpu: u32) -> Result<Port, XenError> {
        let mut g = self.lock();
        g.count(evtchnop::BIND_VIRQ);
        if virq >= virqs::NR_VIRQS || (virq_is_global(virq) && vcpu != 0) {
            return Err(XenError::EINVAL);
        }
        if vcpu >= self.cfg.nr_vcpus {
            return Err(XenError::ENOENT);
        }
        if g.virqs.contains_key(&(virq, vcpu)) {
            return Err(EEXIST);
        }
        let port = g.get_free_port(self.cfg.max_evtchn_port)?;
        let c = &mut g.chans[port as usize];
        c.state = ChanState::Virq { virq };
        c.notify_vcpu = vcpu;
        g.virqs.insert((virq, vcpu), port);
        Ok(port)
    }

    fn bind_ipi(&self, vcpu: u32) -> Result<Port, XenError> {
        let mut g = self.lock();
        g.count(evtchnop::BIND_IPI);
        if vcpu >= self.cfg.nr_vcpus {
            return Err(XenError::ENOENT);
        }
        let port = g.get_free_port(self.cfg.max_evtchn_port)?;
        let c = &mut g.chans[port as usize];
        c.state = ChanState::Ipi;
        c.notify_vcpu = vcpu;
        Ok(port)
    }

    fn send(&self, port: Port) -> Result<(), XenError> {
        let mut g = self.lock();
        g.count(evtchnop::SEND);
        if !g.valid(port) {
            return Err(XenError::EINVAL);
        }
        match g.chans[port as usize].state {
            ChanState::Interdomain {
                remote_dom,
                remote_port,
            } => {
                if remote_dom == self.cfg.domid {
                    g.set_pending(self, remote_port);
                } else {
                    g.remote_sends.push((remote_dom, remote_port));
                }
                Ok(())
            }
            ChanState::Ipi => {
                g.set_pending(self, port);
                Ok(())
            }
            // Nobody bound yet: silently dropped.
            ChanState::Unbound { .. } => Ok(()),
            _ => Err(XenError::EINVAL),
        }
    }

    fn close(&self, port: Port) -> Result<(), XenError> {
        let mut g = self.lock();
        g.count(evtchnop::CLOSE);
        if !g.valid(port) {
            return Err(XenError::EINVAL);
        }
        g.close(self, port)
    }

    fn unmask(&self, port: Port) -> Result<(), XenError> {
        let mut g = self.lock();
        g.count(evtchnop::UNMASK);
        if !g.valid(port) {
            return Err(XenError::EINVAL);
        }
        let vcpu = g.chans[port as usize].notify_vcpu as usize;
        let vi = &self.shared.vcpu_info[vcpu];
        let mut raised = false;
        match &g.abi {
            ModelAbi::TwoLevel => {
                raised = xen_2l_unmask(&TwoLevelRefs::from_shared(self.shared, vcpu), port)?;
            }
            ModelAbi::ThreeLevel(t) => {
                if let Some(l2) = &t.l2[vcpu] {
                    raised = xen_3l_unmask(
                        &ThreeLevelRefs {
                            pending: &t.pending,
                            mask: &t.mask,
                            l2,
                            l1: core::slice::from_ref(&vi.evtchn_pending_sel),
                            upcall_pending: &vi.evtchn_upcall_pending,
                        },
                        port,
                    )?;
                } else if let Some(l) = three_level::locate(64, port) {
                    t.mask.clear_bit(l.l3_word, l.l3_bit);
                }
            }
            ModelAbi::Fifo(f) => {
                // evtchn_fifo_unmask: clear MASKED, relink if pending.
                if let Some(w) = f.array.word(port) {
                    w.fetch_and(!MASKED, SeqCst);
                    if w.load(SeqCst) & PENDING != 0 {
                        g.fifo_set_pending(self, port);
                    }
                }
            }
        }
        if raised {
            g.edges[vcpu] += 1;
        }
        Ok(())
    }

    fn init_control(&self, control_gfn: u64, offset: u32, vcpu: u32) -> Result<u8, XenError> {
        let mut g = self.lock();
        g.count(evtchnop::INIT_CONTROL);
        match self.cfg.fifo {
            FifoSupport::Available => {}
            FifoSupport::Absent => return Err(XenError::ENOSYS),
            FifoSupport::PvShim => return Err(XenError::EOPNOTSUPP),
        }
        if vcpu >= self.cfg.nr_vcpus {
            return Err(XenError::ENOENT);
        }
        let cb_size = core::mem::size_of::<xen_abi::EvtchnFifoControlBlock>() as u32;
        if offset > 4096 - cb_size || !offset.is_multiple_of(8) {
            return Err(XenError::EINVAL);
        }
        if matches!(g.abi, ModelAbi::ThreeLevel(_)) {
            return Err(EBUSY);
        }
        let page = self.registry.get(control_gfn).ok_or(XenError::EINVAL)?;
        let first = matches!(g.abi, ModelAbi::TwoLevel);
        if first {
            g.abi = ModelAbi::Fifo(FifoDom {
                array: EventArray::default(),
                vcpus: std::vec![
                    FifoVcpu {
                        control: None,
                        tails: [0; fifo::QUEUES],
                    };
                    self.cfg.nr_vcpus as usize
                ],
            });
        }
        let ModelAbi::Fifo(f) = &mut g.abi else {
            unreachable!()
        };
        if f.vcpus[vcpu as usize].control.is_some() {
            return Err(XenError::EINVAL);
        }
        f.vcpus[vcpu as usize].control = Some(ControlBlock::new(page, offset as usize));
        if first {
            // setup_ports: remember 2-level PENDING bits, default priority.
            for p in 1..g.chans.len() {
                let (w, b) = (p / 64, (p % 64) as u32);
                let pending = w < 64 && self.shared.evtchn_pending[..].test_bit(w, b);
                let c = &mut g.chans[p];
                if pending {
                    c.saved_pending = true;
                }
                c.priority = fc::PRIORITY_DEFAULT as u8;
                c.last_priority = fc::PRIORITY_DEFAULT as u8;
                c.last_vcpu = c.notify_vcpu;
            }
        }
        Ok(fc::LINK_BITS as u8)
    }

    fn expand_array(&self, array_gfn: u64) -> Result<(), XenError> {
        let mut g = self.lock();
        g.count(evtchnop::EXPAND_ARRAY);
        if !matches!(g.abi, ModelAbi::Fifo(_)) {
            return Err(XenError::EOPNOTSUPP);
        }
        let ModelAbi::Fifo(f) = &mut g.abi else {
            unreachable!()
        };
        if f.array.pages.len() >= fifo::MAX_PAGES {
            return Err(XenError::ENOSPC);
        }
        let page = self.registry.get(array_gfn).ok_or(XenError::EINVAL)?;
        let slot = f.array.pages.len() as u32;
        f.array.pages.push(page);
        // Re-raise the ports that became pending while their page was missing.
        let lo = slot * fifo::WORDS_PER_PAGE;
        let hi = (lo + fifo::WORDS_PER_PAGE).min(g.chans.len() as u32);
        for p in lo..hi {
            if g.chans[p as usize].saved_pending {
                g.chans[p as usize].saved_pending = false;
                g.fifo_set_pending(self, p);
            }
        }
        Ok(())
    }

    fn set_priority(&self, port: Port, priority: u32) -> Result<(), XenError> {
        let mut g = self.lock();
        g.count(evtchnop::SET_PRIORITY);
        if !matches!(g.abi, ModelAbi::Fifo(_)) {
            return Err(XenError::ENOSYS);
        }
        if !g.valid(port) || priority > fc::PRIORITY_MIN {
            return Err(XenError::EINVAL);
        }
        g.chans[port as usize].priority = priority as u8;
        Ok(())
    }

    fn register_3level(&self, reg: &ThreeLevelRegistration) -> Result<(), XenError> {
        let mut g = self.lock();
        g.count(MODEL_OP_REGISTER_3LEVEL);
        if !self.cfg.three_level {
            return Err(XenError::ENOSYS);
        }
        match g.abi {
            ModelAbi::ThreeLevel(_) => return Err(EEXIST),
            ModelAbi::Fifo(_) => return Err(EBUSY),
            ModelAbi::TwoLevel => {}
        }
        validate_3level_registration(reg, 64, self.cfg.nr_vcpus)?;
        let n = reg.nr_pages as usize;
        let frames = |gfns: &[u64]| -> Result<Vec<_>, XenError> {
            gfns.iter()
                .map(|&gfn| self.registry.get(gfn).ok_or(XenError::EINVAL))
                .collect()
        };
        let words = (three_level::NR_CHANNELS_64 / 64) as usize;
        let pending = Paged::<64>::new(frames(&reg.pending_gfns[..n])?, 0, words);
        let mask = Paged::<64>::new(frames(&reg.mask_gfns[..n])?, 0, words);
        let mut l2 = std::vec![None; self.cfg.nr_vcpus as usize];
        for s in &reg.l2sel {
            let page = self.registry.get(s.gfn).ok_or(XenError::EINVAL)?;
            l2[s.vcpu as usize] = Some(Paged::<64>::new(std::vec![page], s.offset as usize, 64));
        }
        g.abi = ModelAbi::ThreeLevel(ThreeDom { pending, mask, l2 });
        // Keep the 2-level PENDING bits of the ports (as FIFO's setup_ports does) and start
        // the L1 selectors afresh: their bits mean something else now.
        for v in 0..self.cfg.nr_vcpus as usize {
            self.shared.vcpu_info[v].evtchn_pending_sel.store(0, SeqCst);
        }
        for p in 1..g
            .chans
            .len()
            .min(xen_abi::consts::EVTCHN_2L_NR_CHANNELS as usize)
        {
            let (w, b) = (p / 64, (p % 64) as u32);
            if self.shared.evtchn_pending[..].test_and_clear_bit(w, b) {
                g.set_pending(self, p as Port);
            }
        }
        Ok(())
    }
}

/// The 2-level memory of a 32-bit guest (W = 32), for the reference's 32-bit vectors: the
/// same algorithms on `u32` words. (Only the bitmaps and one vCPU's selector: the rest of a
/// 32-bit shared_info plays no part.)
#[derive(Debug)]
pub struct TwoLevel32 {
    pub pending: [AtomicU32; 32],
    pub mask: [AtomicU32; 32],
    pub sel: [AtomicU32; 1],
    pub upcall_pending: AtomicU8,
}

impl Default for TwoLevel32 {
    fn default() -> Self {
        Self {
            pending: [const { AtomicU32::new(0) }; 32],
            mask: [const { AtomicU32::new(0) }; 32],
            sel: [const { AtomicU32::new(0) }; 1],
            upcall_pending: AtomicU8::new(0),
        }
    }
}

impl TwoLevel32 {
    pub fn refs(&self) -> TwoLevelRefs<'_, [AtomicU32], [AtomicU32]> {
        TwoLevelRefs {
            pending: &self.pending[..],
            mask: &self.mask[..],
            sel: &self.sel[..],
            upcall_pending: &self.upcall_pending,
        }
    }
}

/// The 3-level memory of a 32-bit guest (W = 32): one pending page, one mask page, an L2
/// selector of 32 words at `l2_offset` of its page, and the L1 selector.
#[derive(Debug)]
pub struct ThreeLevel32 {
    pub pending: Paged<32>,
    pub mask: Paged<32>,
    pub l2: Paged<32>,
    pub l1: [AtomicU32; 1],
    pub upcall_pending: AtomicU8,
}

impl ThreeLevel32 {
    /// Pages from `pages`; the L2 selector at byte `l2_offset` of its page.
    pub fn new(pages: &mut dyn PageSource, l2_offset: usize) -> Option<Self> {
        let p = pages.alloc_shared_page()?;
        let m = pages.alloc_shared_page()?;
        let l2 = pages.alloc_shared_page()?;
        let words = (three_level::NR_CHANNELS_32 / 32) as usize;
        Some(Self {
            pending: Paged::new(std::vec![p.words], 0, words),
            mask: Paged::new(std::vec![m.words], 0, words),
            l2: Paged::new(std::vec![l2.words], l2_offset, 32),
            l1: [AtomicU32::new(0)],
            upcall_pending: AtomicU8::new(0),
        })
    }

    pub fn refs(&self) -> ThreeLevelRefs<'_, Paged<32>, [AtomicU32]> {
        ThreeLevelRefs {
            pending: &self.pending,
            mask: &self.mask,
            l2: &self.l2,
            l1: &self.l1[..],
            upcall_pending: &self.upcall_pending,
        }
    }
}
