//! Flag sets of the Xen ABI as `bitflags` types.

use bitflags::bitflags;

bitflags! {
    /// `start_info.flags` (`SIF_*`, xen.h).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct SifFlags: u32 {
        /// The domain is privileged.
        const PRIVILEGED = xen_sys::SIF_PRIVILEGED;
        /// The domain is the initial control domain.
        const INITDOMAIN = xen_sys::SIF_INITDOMAIN;
        /// The modules are a multiboot list.
        const MULTIBOOT_MOD = xen_sys::SIF_MULTIBOOT_MOD;
        /// `mod_start` is a PFN, not a virtual address.
        const MOD_START_PFN = xen_sys::SIF_MOD_START_PFN;
        /// The virtual p2m list is for the toolstack.
        const VIRT_P2M_4TOOLS = xen_sys::SIF_VIRT_P2M_4TOOLS;
        const _ = !0;
    }
}

bitflags! {
    /// `VGCF_*` flags of a vCPU guest context and of `iret_context.flags`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct VgcfFlags: u64 {
        const I387_VALID = xen_sys::VGCF_i387_valid as u64;
        const IN_KERNEL = xen_sys::VGCF_in_kernel as u64;
        const FAILSAFE_DISABLES_EVENTS = xen_sys::VGCF_failsafe_disables_events as u64;
        const SYSCALL_DISABLES_EVENTS = xen_sys::VGCF_syscall_disables_events as u64;
        const ONLINE = xen_sys::VGCF_online as u64;
        /// `iret` returns with sysret semantics (restore neither rcx nor r11).
        const IN_SYSCALL = xen_sys::VGCF_in_syscall as u64;
    }
}

bitflags! {
    /// Flags of a v1 grant entry (`GTF_*`, grant_table.h). The low two bits are the entry type.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct GtfFlags: u16 {
        /// Type: the domain in `domid` may map or copy the frame.
        const PERMIT_ACCESS = 1;
        /// Type: the domain in `domid` may transfer a frame to us.
        const ACCEPT_TRANSFER = 2;
        /// The grantee may only map the frame read-only.
        const READONLY = 1 << 2;
        /// Set by Xen while the grantee has the frame mapped for reading.
        const READING = 1 << 3;
        /// Set by Xen while the grantee has the frame mapped for writing.
        const WRITING = 1 << 4;
        const PWT = 1 << 5;
        const PCD = 1 << 6;
        const PAT = 1 << 7;
        const SUB_PAGE = 1 << 8;
        const _ = !0;
    }
}

impl GtfFlags {
    /// Mask of the entry type bits.
    pub const TYPE_MASK: u16 = 3;
}

bitflags! {
    /// `trap_info.flags`: the DPL that may raise the vector with `int n` and bit 2 ("IF"),
    /// which masks events on entry like an interrupt gate.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct TrapFlags: u8 {
        const DPL0 = 0;
        const DPL3 = 3;
        /// Mask events (set `evtchn_upcall_mask`) on entry.
        const MASK_EVENTS = 1 << 2;
    }
}

bitflags! {
    /// x86 page-table entry flags.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PteFlags: u64 {
        const PRESENT = 1 << 0;
        const RW = 1 << 1;
        const USER = 1 << 2;
        const PWT = 1 << 3;
        const PCD = 1 << 4;
        const ACCESSED = 1 << 5;
        const DIRTY = 1 << 6;
        /// Page size (in L2/L3 entries) or PAT (in L1 entries).
        const PSE = 1 << 7;
        const GLOBAL = 1 << 8;
        const NX = 1 << 63;
    }
}

impl PteFlags {
    /// Mask of the frame number bits of an entry (bits 12..52).
    pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
}
