//! Constants of the Xen public headers. Taken from `xen-sys` (bindgen output of xen.h and
//! sched.h for Xen's x86_64 interface) and re-typed; the rest are written here. The layout test
//! compares every one with the C headers.

/// Hypercall numbers (`__HYPERVISOR_*`, xen.h). Note: `sched_op` is 29 and `event_channel_op`
/// is 32; the compat numbers 6 and 16 are the old interfaces.
pub mod hypercall_nr {
    pub const SET_TRAP_TABLE: u32 = xen_sys::__HYPERVISOR_set_trap_table;
    pub const MMU_UPDATE: u32 = xen_sys::__HYPERVISOR_mmu_update;
    pub const SET_CALLBACKS: u32 = xen_sys::__HYPERVISOR_set_callbacks;
    pub const MEMORY_OP: u32 = xen_sys::__HYPERVISOR_memory_op;
    pub const UPDATE_VA_MAPPING: u32 = xen_sys::__HYPERVISOR_update_va_mapping;
    pub const SET_TIMER_OP: u32 = xen_sys::__HYPERVISOR_set_timer_op;
    pub const XEN_VERSION: u32 = xen_sys::__HYPERVISOR_xen_version;
    pub const CONSOLE_IO: u32 = xen_sys::__HYPERVISOR_console_io;
    pub const GRANT_TABLE_OP: u32 = xen_sys::__HYPERVISOR_grant_table_op;
    pub const VM_ASSIST: u32 = xen_sys::__HYPERVISOR_vm_assist;
    pub const IRET: u32 = xen_sys::__HYPERVISOR_iret;
    pub const VCPU_OP: u32 = xen_sys::__HYPERVISOR_vcpu_op;
    pub const MMUEXT_OP: u32 = xen_sys::__HYPERVISOR_mmuext_op;
    pub const SCHED_OP: u32 = xen_sys::__HYPERVISOR_sched_op;
    pub const CALLBACK_OP: u32 = xen_sys::__HYPERVISOR_callback_op;
    pub const EVENT_CHANNEL_OP: u32 = xen_sys::__HYPERVISOR_event_channel_op;
    pub const HVM_OP: u32 = xen_sys::__HYPERVISOR_hvm_op;
}

/// `SCHEDOP_*` (sched.h).
pub mod schedop {
    pub const YIELD: u32 = xen_sys::SCHEDOP_yield;
    pub const BLOCK: u32 = xen_sys::SCHEDOP_block;
    pub const SHUTDOWN: u32 = xen_sys::SCHEDOP_shutdown;
    pub const POLL: u32 = xen_sys::SCHEDOP_poll;
}

/// `SHUTDOWN_*` reasons (sched.h).
pub mod shutdown {
    pub const POWEROFF: u32 = xen_sys::SHUTDOWN_poweroff;
    pub const REBOOT: u32 = xen_sys::SHUTDOWN_reboot;
    pub const SUSPEND: u32 = xen_sys::SHUTDOWN_suspend;
    pub const CRASH: u32 = xen_sys::SHUTDOWN_crash;
}

/// `EVTCHNOP_*` (event_channel.h).
pub mod evtchnop {
    pub const BIND_INTERDOMAIN: u32 = xen_sys::EVTCHNOP_bind_interdomain;
    pub const BIND_VIRQ: u32 = xen_sys::EVTCHNOP_bind_virq;
    pub const CLOSE: u32 = xen_sys::EVTCHNOP_close;
    pub const SEND: u32 = xen_sys::EVTCHNOP_send;
    pub const STATUS: u32 = xen_sys::EVTCHNOP_status;
    pub const ALLOC_UNBOUND: u32 = xen_sys::EVTCHNOP_alloc_unbound;
    pub const BIND_IPI: u32 = xen_sys::EVTCHNOP_bind_ipi;
    pub const UNMASK: u32 = xen_sys::EVTCHNOP_unmask;
    pub const INIT_CONTROL: u32 = xen_sys::EVTCHNOP_init_control;
    pub const EXPAND_ARRAY: u32 = xen_sys::EVTCHNOP_expand_array;
    pub const SET_PRIORITY: u32 = xen_sys::EVTCHNOP_set_priority;
    pub const BIND_PIRQ: u32 = xen_sys::EVTCHNOP_bind_pirq;
    pub const BIND_VCPU: u32 = xen_sys::EVTCHNOP_bind_vcpu;
    pub const RESET: u32 = xen_sys::EVTCHNOP_reset;
}

/// Ports of the 2-level ABI for a 64-bit guest (`EVTCHN_2L_NR_CHANNELS`, event_channel.h):
/// 64 words of 64 bits.
pub const EVTCHN_2L_NR_CHANNELS: u32 = 4096;

/// The FIFO ABI (event_channel.h): priorities, event-word bits, limits.
pub mod evtchn_fifo {
    /// Highest priority.
    pub const PRIORITY_MAX: u32 = xen_sys::EVTCHN_FIFO_PRIORITY_MAX;
    /// Priority of every port until `EVTCHNOP_set_priority`.
    pub const PRIORITY_DEFAULT: u32 = xen_sys::EVTCHN_FIFO_PRIORITY_DEFAULT;
    /// Lowest priority.
    pub const PRIORITY_MIN: u32 = xen_sys::EVTCHN_FIFO_PRIORITY_MIN;
    /// Queues per vCPU, one per priority.
    pub const MAX_QUEUES: u32 = xen_sys::EVTCHN_FIFO_MAX_QUEUES;
    /// Bit number of PENDING in an event word (set by Xen, cleared by the guest).
    pub const PENDING: u32 = xen_sys::EVTCHN_FIFO_PENDING;
    /// Bit number of MASKED (guest-owned).
    pub const MASKED: u32 = xen_sys::EVTCHN_FIFO_MASKED;
    /// Bit number of LINKED (set by Xen when it queues the port, cleared by the guest).
    pub const LINKED: u32 = xen_sys::EVTCHN_FIFO_LINKED;
    /// Bit number of BUSY (set by Xen while it links onto this word; blocks guest unmask).
    pub const BUSY: u32 = xen_sys::EVTCHN_FIFO_BUSY;
    /// Width of the LINK field (bits 0..16).
    pub const LINK_BITS: u32 = xen_sys::EVTCHN_FIFO_LINK_BITS;
    /// Mask of the LINK field.
    pub const LINK_MASK: u32 = xen_sys::EVTCHN_FIFO_LINK_MASK;
    /// Ports of the FIFO ABI (port 0 reserved).
    pub const NR_CHANNELS: u32 = xen_sys::EVTCHN_FIFO_NR_CHANNELS;
}

/// `CONSOLEIO_*` (xen.h).
pub mod consoleio {
    pub const WRITE: u32 = xen_sys::CONSOLEIO_write;
    pub const READ: u32 = xen_sys::CONSOLEIO_read;
}

/// `XENVER_*` (version.h; not in xen-sys).
pub mod xenver {
    pub const VERSION: u32 = 0;
    pub const EXTRAVERSION: u32 = 1;
    pub const GET_FEATURES: u32 = 6;
}

/// `UVMF_*` flags of `update_va_mapping` (xen.h; not in xen-sys).
pub mod uvmf {
    pub const NONE: u64 = 0;
    pub const TLB_FLUSH: u64 = 1;
    pub const INVLPG: u64 = 2;
}

/// `MMUEXT_*` commands (xen.h).
pub mod mmuext {
    pub const PIN_L1_TABLE: u32 = xen_sys::MMUEXT_PIN_L1_TABLE;
    pub const UNPIN_TABLE: u32 = xen_sys::MMUEXT_UNPIN_TABLE;
    pub const TLB_FLUSH_LOCAL: u32 = xen_sys::MMUEXT_TLB_FLUSH_LOCAL;
    pub const INVLPG_LOCAL: u32 = xen_sys::MMUEXT_INVLPG_LOCAL;
}

/// `MMU_*` request types in the low bits of `mmu_update.ptr` (xen.h).
pub mod mmu {
    pub const NORMAL_PT_UPDATE: u64 = xen_sys::MMU_NORMAL_PT_UPDATE as u64;
    pub const MACHPHYS_UPDATE: u64 = xen_sys::MMU_MACHPHYS_UPDATE as u64;
}

/// `VIRQ_*` (xen.h).
pub mod virq {
    pub const TIMER: u32 = xen_sys::VIRQ_TIMER;
    pub const DEBUG: u32 = xen_sys::VIRQ_DEBUG;
    pub const CONSOLE: u32 = xen_sys::VIRQ_CONSOLE;
    pub const XENOPROF: u32 = xen_sys::VIRQ_XENOPROF;
    pub const XENPMU: u32 = xen_sys::VIRQ_XENPMU;
    /// Number of VIRQs.
    pub const NR_VIRQS: u32 = xen_sys::NR_VIRQS;
}

/// `CALLBACKTYPE_*` (callback.h; not in xen-sys).
pub mod callbacktype {
    pub const EVENT: u16 = 0;
    pub const FAILSAFE: u16 = 1;
}

/// `DOMID_SELF` (xen.h).
pub const DOMID_SELF: u16 = 0x7ff0;
/// Flat 64-bit kernel code selector for a PV guest (`FLAT_KERNEL_CS`, arch-x86/xen-x86_64.h).
pub const FLAT_KERNEL_CS: u16 = xen_sys::FLAT_KERNEL_CS as u16;
/// Flat 64-bit kernel stack selector (`FLAT_KERNEL_SS`).
pub const FLAT_KERNEL_SS: u16 = xen_sys::FLAT_KERNEL_SS as u16;
/// Start of the read-only machine-to-physical table mapped into every 64-bit PV guest
/// (`MACH2PHYS_VIRT_START`, arch-x86/xen-x86_64.h).
pub const MACH2PHYS_VIRT_START: u64 = 0xffff_8000_0000_0000;
/// End (exclusive) of the M2P table (`MACH2PHYS_VIRT_END`).
pub const MACH2PHYS_VIRT_END: u64 = 0xffff_8040_0000_0000;
/// Start of the hypervisor's hole in a 64-bit PV guest's address space.
pub const HYPERVISOR_VIRT_START: u64 = xen_sys::__HYPERVISOR_VIRT_START as u64;
/// vCPUs with a `vcpu_info` in shared_info (`XEN_LEGACY_MAX_VCPUS`).
pub const LEGACY_MAX_VCPUS: usize = xen_sys::XEN_LEGACY_MAX_VCPUS as usize;
/// Size of `start_info.cmd_line` (`MAX_GUEST_CMDLINE`).
pub const MAX_GUEST_CMDLINE: usize = xen_sys::MAX_GUEST_CMDLINE as usize;
/// Page size of the x86 guest ABI.
pub const PAGE_SIZE: usize = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;
/// Bytes of a hypercall-page stub (`call hypercall_page + nr * 32`).
pub const HYPERCALL_STUB_SIZE: usize = 32;

/// Xen error numbers (`xen/include/public/errno.h`), returned negated by hypercalls.
pub mod errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const EINTR: i32 = 4;
    pub const EIO: i32 = 5;
    pub const ENXIO: i32 = 6;
    pub const E2BIG: i32 = 7;
    pub const ENOMEM: i32 = 12;
    pub const EACCES: i32 = 13;
    pub const EFAULT: i32 = 14;
    pub const EBUSY: i32 = 16;
    pub const EEXIST: i32 = 17;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const ENOSPC: i32 = 28;
    pub const EAGAIN: i32 = 11;
    pub const ENOSYS: i32 = 38;
    pub const EOPNOTSUPP: i32 = 95;
}
