//! start_info, shared_info, vcpu_info and the time area (xen.h, arch-x86/xen-x86_64.h).

use core::sync::atomic::{AtomicI8, AtomicU32, AtomicU64, AtomicU8};

use crate::{assert_offset, assert_size, SifFlags, LEGACY_MAX_VCPUS, MAX_GUEST_CMDLINE};

/// `struct start_info` for x86_64 PV guests. Written by the domain builder before the guest
/// starts and never changed afterwards, so it is plain data.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StartInfo {
    /// `"xen-<version>-<platform>"`, NUL-terminated.
    pub magic: [u8; 32],
    /// Total pages allocated to this domain.
    pub nr_pages: u64,
    /// Machine address of the shared_info page.
    pub shared_info: u64,
    /// `SIF_*` flags; see [`StartInfo::flags`].
    pub flags: u32,
    /// MFN of the xenstore ring page.
    pub store_mfn: u64,
    /// Event channel of the xenstore ring.
    pub store_evtchn: u32,
    /// Console ring (the domU member of the `console` union; a domU never sees the dom0 one).
    pub console: StartInfoConsole,
    /// Virtual address of the bootstrap L4 page table.
    pub pt_base: u64,
    /// Number of bootstrap page-table frames.
    pub nr_pt_frames: u64,
    /// Virtual address of the p2m list (`u64[nr_pages]`: PFN to MFN).
    pub mfn_list: u64,
    /// Virtual address (or PFN with `SIF_MOD_START_PFN`) of the pre-loaded module.
    pub mod_start: u64,
    /// Size in bytes of the pre-loaded module.
    pub mod_len: u64,
    /// Guest command line, NUL-terminated.
    pub cmd_line: [u8; MAX_GUEST_CMDLINE],
    /// First PFN of the initial p2m table (only with the INIT_P2M note).
    pub first_p2m_pfn: u64,
    /// Number of PFNs of the initial p2m table.
    pub nr_p2m_frames: u64,
}

/// `start_info.console.domU`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StartInfoConsole {
    /// MFN of the console ring page.
    pub mfn: u64,
    /// Event channel of the console ring.
    pub evtchn: u32,
}

impl StartInfo {
    /// The `SIF_*` flags, typed.
    pub fn flags(&self) -> SifFlags {
        SifFlags::from_bits_retain(self.flags)
    }

    /// The magic string up to its NUL (or all of it).
    pub fn magic_str(&self) -> &str {
        c_str(&self.magic)
    }

    /// The command line up to its NUL. A command line that is not UTF-8 reads as empty.
    pub fn cmd_line_str(&self) -> &str {
        c_str(&self.cmd_line)
    }
}

impl core::fmt::Debug for StartInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StartInfo")
            .field("magic", &self.magic_str())
            .field("nr_pages", &self.nr_pages)
            .field("shared_info", &format_args!("{:#x}", self.shared_info))
            .field("flags", &self.flags())
            .field("store_mfn", &self.store_mfn)
            .field("store_evtchn", &self.store_evtchn)
            .field("console", &self.console)
            .field("pt_base", &format_args!("{:#x}", self.pt_base))
            .field("nr_pt_frames", &self.nr_pt_frames)
            .field("mfn_list", &format_args!("{:#x}", self.mfn_list))
            .field("cmd_line", &self.cmd_line_str())
            .finish_non_exhaustive()
    }
}

/// The bytes of `buf` up to the first NUL, as UTF-8 (empty if not UTF-8).
pub fn c_str(buf: &[u8]) -> &str {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    core::str::from_utf8(&buf[..end]).unwrap_or("")
}

assert_size!(StartInfo, 1168);
assert_offset!(StartInfo, nr_pages, 32);
assert_offset!(StartInfo, shared_info, 40);
assert_offset!(StartInfo, flags, 48);
assert_offset!(StartInfo, store_mfn, 56);
assert_offset!(StartInfo, store_evtchn, 64);
assert_offset!(StartInfo, console.mfn, 72);
assert_offset!(StartInfo, console.evtchn, 80);
assert_offset!(StartInfo, pt_base, 88);
assert_offset!(StartInfo, nr_pt_frames, 96);
assert_offset!(StartInfo, mfn_list, 104);
assert_offset!(StartInfo, mod_start, 112);
assert_offset!(StartInfo, mod_len, 120);
assert_offset!(StartInfo, cmd_line, 128);
assert_offset!(StartInfo, first_p2m_pfn, 1152);
assert_offset!(StartInfo, nr_p2m_frames, 1160);

/// `struct vcpu_time_info`: the pvclock of one vCPU, updated by Xen under a seqlock
/// (`version` odd while an update is in progress).
#[repr(C)]
#[derive(Debug)]
pub struct VcpuTimeInfo {
    pub version: AtomicU32,
    pub pad0: AtomicU32,
    /// TSC at the last update.
    pub tsc_timestamp: AtomicU64,
    /// Nanoseconds since boot at `tsc_timestamp`.
    pub system_time: AtomicU64,
    /// TSC ticks to nanoseconds: `((tsc << shift) * mul) >> 32`.
    pub tsc_to_system_mul: AtomicU32,
    pub tsc_shift: AtomicI8,
    /// `XEN_PVCLOCK_*` flags.
    pub flags: AtomicU8,
    pub pad1: [AtomicU8; 2],
}
assert_size!(VcpuTimeInfo, 32);
assert_offset!(VcpuTimeInfo, tsc_timestamp, 8);
assert_offset!(VcpuTimeInfo, system_time, 16);
assert_offset!(VcpuTimeInfo, tsc_to_system_mul, 24);
assert_offset!(VcpuTimeInfo, tsc_shift, 28);
assert_offset!(VcpuTimeInfo, flags, 29);

impl VcpuTimeInfo {
    /// All zero (a host-side stand-in for the area Xen fills).
    pub const fn zeroed() -> Self {
        Self {
            version: AtomicU32::new(0),
            pad0: AtomicU32::new(0),
            tsc_timestamp: AtomicU64::new(0),
            system_time: AtomicU64::new(0),
            tsc_to_system_mul: AtomicU32::new(0),
            tsc_shift: AtomicI8::new(0),
            flags: AtomicU8::new(0),
            pad1: [AtomicU8::new(0), AtomicU8::new(0)],
        }
    }
}

/// `struct arch_vcpu_info` (x86_64).
#[repr(C)]
#[derive(Debug)]
pub struct ArchVcpuInfo {
    /// Faulting address of the last page fault delivered to a PV guest.
    pub cr2: AtomicU64,
    pub pad: AtomicU64,
}
assert_size!(ArchVcpuInfo, 16);

impl ArchVcpuInfo {
    /// All zero.
    pub const fn zeroed() -> Self {
        Self {
            cr2: AtomicU64::new(0),
            pad: AtomicU64::new(0),
        }
    }
}

/// `struct vcpu_info`: per-vCPU event and time state, in shared_info (or registered).
#[repr(C)]
#[derive(Debug)]
pub struct VcpuInfo {
    /// Set by Xen when an event is pending for this vCPU.
    pub evtchn_upcall_pending: AtomicU8,
    /// 1 = event upcalls masked (the PV "interrupt flag", inverted).
    pub evtchn_upcall_mask: AtomicU8,
    pub pad0: [AtomicU8; 6],
    /// 2-level ABI: selector of the `evtchn_pending` words with pending events.
    pub evtchn_pending_sel: AtomicU64,
    pub arch: ArchVcpuInfo,
    pub time: VcpuTimeInfo,
}
assert_size!(VcpuInfo, 64);
assert_offset!(VcpuInfo, evtchn_upcall_mask, 1);
assert_offset!(VcpuInfo, evtchn_pending_sel, 8);
assert_offset!(VcpuInfo, arch.cr2, 16);
assert_offset!(VcpuInfo, time, 32);

impl VcpuInfo {
    /// All zero: no upcall pending, upcalls not masked, empty selector.
    pub const fn zeroed() -> Self {
        Self {
            evtchn_upcall_pending: AtomicU8::new(0),
            evtchn_upcall_mask: AtomicU8::new(0),
            pad0: [const { AtomicU8::new(0) }; 6],
            evtchn_pending_sel: AtomicU64::new(0),
            arch: ArchVcpuInfo::zeroed(),
            time: VcpuTimeInfo::zeroed(),
        }
    }
}

/// `struct arch_shared_info` (x86_64).
#[repr(C)]
#[derive(Debug)]
pub struct ArchSharedInfo {
    pub max_pfn: AtomicU64,
    pub pfn_to_mfn_frame_list_list: AtomicU64,
    pub nmi_reason: AtomicU64,
    pub p2m_cr3: AtomicU64,
    pub p2m_vaddr: AtomicU64,
    pub p2m_generation: AtomicU64,
}
assert_size!(ArchSharedInfo, 48);

impl ArchSharedInfo {
    /// All zero.
    pub const fn zeroed() -> Self {
        Self {
            max_pfn: AtomicU64::new(0),
            pfn_to_mfn_frame_list_list: AtomicU64::new(0),
            nmi_reason: AtomicU64::new(0),
            p2m_cr3: AtomicU64::new(0),
            p2m_vaddr: AtomicU64::new(0),
            p2m_generation: AtomicU64::new(0),
        }
    }
}

/// `struct shared_info`: the page Xen shares with every domain.
#[repr(C)]
#[derive(Debug)]
pub struct SharedInfo {
    pub vcpu_info: [VcpuInfo; LEGACY_MAX_VCPUS],
    /// 2-level ABI: pending bits, one per port.
    pub evtchn_pending: [AtomicU64; 64],
    /// 2-level ABI: mask bits, one per port.
    pub evtchn_mask: [AtomicU64; 64],
    /// Wall clock at system time 0, under its own seqlock.
    pub wc_version: AtomicU32,
    pub wc_sec: AtomicU32,
    pub wc_nsec: AtomicU32,
    pub wc_sec_hi: AtomicU32,
    pub arch: ArchSharedInfo,
}
assert_size!(SharedInfo, 3136);
assert_offset!(SharedInfo, evtchn_pending, 2048);
assert_offset!(SharedInfo, evtchn_mask, 2560);
assert_offset!(SharedInfo, wc_version, 3072);
assert_offset!(SharedInfo, wc_sec, 3076);
assert_offset!(SharedInfo, wc_nsec, 3080);
assert_offset!(SharedInfo, wc_sec_hi, 3084);
assert_offset!(SharedInfo, arch, 3088);

impl SharedInfo {
    /// An all-zero shared_info, as Xen hands it to a new domain. For host-side models and
    /// tests: a guest uses the page Xen maps, never one of these.
    pub const fn zeroed() -> Self {
        Self {
            vcpu_info: [const { VcpuInfo::zeroed() }; LEGACY_MAX_VCPUS],
            evtchn_pending: [const { AtomicU64::new(0) }; 64],
            evtchn_mask: [const { AtomicU64::new(0) }; 64],
            wc_version: AtomicU32::new(0),
            wc_sec: AtomicU32::new(0),
            wc_nsec: AtomicU32::new(0),
            wc_sec_hi: AtomicU32::new(0),
            arch: ArchSharedInfo::zeroed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_str_stops_at_nul_and_rejects_bad_utf8() {
        assert_eq!(c_str(b"xen-3.0-x86_64\0junk"), "xen-3.0-x86_64");
        assert_eq!(c_str(b"no nul"), "no nul");
        assert_eq!(c_str(b"\xff\xfe\0"), "");
    }
}

/// A consistent copy of a vCPU's pvclock parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PvclockSnapshot {
    pub tsc_timestamp: u64,
    pub system_time: u64,
    pub tsc_to_system_mul: u32,
    pub tsc_shift: i8,
}

impl PvclockSnapshot {
    /// Nanoseconds in `delta` TSC ticks: `((delta << shift) * mul) >> 32`.
    pub fn ticks_to_ns(&self, delta: u64) -> u64 {
        let shifted = if self.tsc_shift >= 0 {
            delta.checked_shl(self.tsc_shift as u32).unwrap_or(0)
        } else {
            delta
                .checked_shr(self.tsc_shift.unsigned_abs() as u32)
                .unwrap_or(0)
        };
        ((u128::from(shifted) * u128::from(self.tsc_to_system_mul)) >> 32) as u64
    }

    /// Xen system time (ns since the host booted) at TSC value `tsc`.
    ///
    /// The delta is the wrapping difference `tsc - tsc_timestamp`, read as signed: Xen may
    /// give a domain a `tsc_timestamp` that is "negative" (seen on the project's Xen host:
    /// 2^64 - 1.08e9 against a guest TSC of 7.1e8, a delta of +1.79e9 ticks); comparing the
    /// two as unsigned numbers would run the clock backwards to 0.
    pub fn ns_at(&self, tsc: u64) -> u64 {
        let delta = tsc.wrapping_sub(self.tsc_timestamp) as i64;
        if delta >= 0 {
            self.system_time
                .wrapping_add(self.ticks_to_ns(delta as u64))
        } else {
            self.system_time
                .saturating_sub(self.ticks_to_ns(delta.unsigned_abs()))
        }
    }
}

impl VcpuTimeInfo {
    /// Reads the parameters under Xen's seqlock: retries while `version` is odd (an update
    /// is in progress) or changed during the read.
    pub fn snapshot(&self) -> PvclockSnapshot {
        self.snapshot_with(|| 0).0
    }

    /// Reads the parameters and, inside the same seqlock section, a TSC value from `rdtsc`:
    /// the TSC must be read on the pCPU whose parameters were read, so if Xen updated them
    /// in between (the vCPU moved to another pCPU), both are read again.
    pub fn snapshot_with(&self, mut rdtsc: impl FnMut() -> u64) -> (PvclockSnapshot, u64) {
        use core::sync::atomic::{fence, Ordering};
        loop {
            let v1 = self.version.load(Ordering::Acquire);
            if v1 & 1 != 0 {
                core::hint::spin_loop();
                continue;
            }
            let snap = PvclockSnapshot {
                tsc_timestamp: self.tsc_timestamp.load(Ordering::Relaxed),
                system_time: self.system_time.load(Ordering::Relaxed),
                tsc_to_system_mul: self.tsc_to_system_mul.load(Ordering::Relaxed),
                tsc_shift: self.tsc_shift.load(Ordering::Relaxed),
            };
            let tsc = rdtsc();
            fence(Ordering::Acquire);
            if self.version.load(Ordering::Relaxed) == v1 {
                return (snap, tsc);
            }
        }
    }
}

#[cfg(test)]
mod pvclock_tests {
    use super::*;

    #[test]
    fn scales_like_xen() {
        // A 2 GHz TSC: mul = 2^32 / 2 with shift 0 gives 0.5 ns per tick.
        let s = PvclockSnapshot {
            tsc_timestamp: 1000,
            system_time: 5_000,
            tsc_to_system_mul: 1 << 31,
            tsc_shift: 0,
        };
        assert_eq!(s.ticks_to_ns(2_000_000), 1_000_000);
        assert_eq!(s.ns_at(3000), 6_000);
        assert_eq!(
            s.ns_at(0),
            4_500,
            "a TSC before the update counts backwards"
        );
        // A "negative" tsc_timestamp, as Xen gave one guest on the project's host: the delta
        // wraps forward (+1.79e9 ticks); it is not a TSC far before the update.
        let w = PvclockSnapshot {
            tsc_timestamp: 18_446_744_072_624_939_806,
            system_time: 55_802_496_431,
            tsc_to_system_mul: 3_512_686_699,
            tsc_shift: -1,
        };
        let ns = w.ns_at(710_720_321);
        assert!(
            ns > w.system_time && ns < w.system_time + 2_000_000_000,
            "{ns} must be a little after {}",
            w.system_time
        );
        let s = PvclockSnapshot { tsc_shift: -1, ..s };
        assert_eq!(s.ticks_to_ns(4), 1);
        let s = PvclockSnapshot { tsc_shift: 1, ..s };
        assert_eq!(s.ticks_to_ns(4), 4);
    }

    #[test]
    fn tsc_is_read_inside_the_seqlock() {
        let t = VcpuTimeInfo {
            version: AtomicU32::new(2),
            pad0: AtomicU32::new(0),
            tsc_timestamp: AtomicU64::new(100),
            system_time: AtomicU64::new(1000),
            tsc_to_system_mul: AtomicU32::new(1 << 31),
            tsc_shift: AtomicI8::new(0),
            flags: AtomicU8::new(0),
            pad1: [AtomicU8::new(0), AtomicU8::new(0)],
        };
        let mut calls = 0;
        // Xen updates the parameters (the vCPU moved) while the first TSC is being read.
        let (snap, tsc) = t.snapshot_with(|| {
            calls += 1;
            if calls == 1 {
                t.version.store(4, core::sync::atomic::Ordering::Relaxed);
                t.system_time
                    .store(2000, core::sync::atomic::Ordering::Relaxed);
                500
            } else {
                300
            }
        });
        assert_eq!(calls, 2, "the TSC read that raced an update is redone");
        assert_eq!((snap.system_time, tsc), (2000, 300));
        assert_eq!(snap.ns_at(tsc), 2100);
    }

    #[test]
    fn snapshot_is_consistent() {
        let t = VcpuTimeInfo {
            version: AtomicU32::new(4),
            pad0: AtomicU32::new(0),
            tsc_timestamp: AtomicU64::new(10),
            system_time: AtomicU64::new(20),
            tsc_to_system_mul: AtomicU32::new(30),
            tsc_shift: AtomicI8::new(-2),
            flags: AtomicU8::new(0),
            pad1: [AtomicU8::new(0), AtomicU8::new(0)],
        };
        let s = t.snapshot();
        assert_eq!(
            s,
            PvclockSnapshot {
                tsc_timestamp: 10,
                system_time: 20,
                tsc_to_system_mul: 30,
                tsc_shift: -2
            }
        );
    }
}
