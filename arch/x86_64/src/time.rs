//! The Xen pvclock (vcpu_time_info in shared_info) and the other per-vCPU fields of it.

use core::sync::atomic::{AtomicPtr, Ordering};

use xen_abi::{SharedInfo, VcpuInfo};

static SHARED: AtomicPtr<SharedInfo> = AtomicPtr::new(core::ptr::null_mut());

/// Records the mapped shared_info page (once, at boot).
pub(crate) fn init(shared: &'static SharedInfo) {
    SHARED.store(
        shared as *const SharedInfo as *mut SharedInfo,
        Ordering::Release,
    );
}

/// The shared_info page, once mapped.
pub fn shared_info() -> Option<&'static SharedInfo> {
    let p = SHARED.load(Ordering::Acquire);
    // SAFETY: the only non-null value ever stored comes from a `&'static SharedInfo`.
    unsafe { p.as_ref() }
}

fn vcpu0() -> Option<&'static VcpuInfo> {
    shared_info().map(|s| &s.vcpu_info[0])
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects besides reading the TSC (native for PV unless the
    // domain's tsc_mode emulates it, in which case Xen emulates it).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The largest time returned so far: the clock never goes backwards.
static LAST_NS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Xen system time in nanoseconds (since the host booted; 0 before shared_info is mapped). Monotonic: the TSC
/// is read inside the pvclock's seqlock section, and the result never goes below a value
/// returned before.
pub fn now_ns() -> u64 {
    let Some(v) = vcpu0() else {
        return 0;
    };
    let (snap, tsc) = v.time.snapshot_with(rdtsc);
    let ns = snap.ns_at(tsc);
    let last = LAST_NS.fetch_max(ns, Ordering::AcqRel);
    ns.max(last)
}

/// Nanoseconds between two TSC readings, at the current TSC rate.
pub fn tsc_delta_ns(from: u64, to: u64) -> u64 {
    match vcpu0() {
        Some(v) => v.time.snapshot().ticks_to_ns(to.saturating_sub(from)),
        None => 0,
    }
}

/// Clears vCPU 0's upcall-pending flag and selector, discarding the events (used when no
/// event handler exists yet).
pub fn ack_upcall() {
    if let Some(v) = vcpu0() {
        v.evtchn_upcall_pending.store(0, Ordering::Release);
        v.evtchn_pending_sel.swap(0, Ordering::AcqRel);
    }
}

/// PV: the faulting address of the last page fault (Xen stores it in `vcpu_info.arch.cr2`).
pub(crate) fn fault_address() -> u64 {
    vcpu0().map_or(0, |v| v.arch.cr2.load(Ordering::Acquire))
}

/// How Xen presents the TSC to a PVH guest (Xen's CPUID leaf base+3, sub-leaf 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TscInfo {
    /// Every `rdtsc` traps into Xen and is emulated (vtsc).
    pub emulated: bool,
    /// The domain's `tsc_mode` (0 default, 1 always emulate, 2 native, 3 native paravirt).
    pub mode: u32,
    /// The guest TSC frequency in kHz.
    pub khz: u32,
}

static TSC_INFO: spin_once::Once = spin_once::Once::new();

mod spin_once {
    use core::sync::atomic::{AtomicU64, Ordering};

    /// Set-once storage of a [`super::TscInfo`], packed in one word (bit 63: set).
    pub struct Once(AtomicU64);

    impl Once {
        pub const fn new() -> Self {
            Self(AtomicU64::new(0))
        }

        pub fn set(&self, t: super::TscInfo) {
            let v = (1 << 63)
                | (u64::from(t.emulated) << 62)
                | (u64::from(t.mode & 0x3fff_ffff) << 32)
                | u64::from(t.khz);
            self.0.store(v, Ordering::Release);
        }

        pub fn get(&self) -> Option<super::TscInfo> {
            let v = self.0.load(Ordering::Acquire);
            (v >> 63 == 1).then_some(super::TscInfo {
                emulated: v & (1 << 62) != 0,
                mode: ((v >> 32) & 0x3fff_ffff) as u32,
                khz: v as u32,
            })
        }
    }
}

pub(crate) fn set_tsc_info(t: TscInfo) {
    TSC_INFO.set(t);
}

/// PVH: how Xen presents the TSC (None on PV, where Xen's CPUID leaves are not read).
pub fn tsc_info() -> Option<TscInfo> {
    TSC_INFO.get()
}
