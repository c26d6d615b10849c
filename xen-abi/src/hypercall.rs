//! Argument structures of the hypercalls used so far.

use crate::{assert_offset, assert_size};

/// `struct trap_info` (arch-x86/xen.h): one entry of the PV trap table. The table ends with an
/// entry whose `address` is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct TrapInfo {
    pub vector: u8,
    /// [`crate::TrapFlags`] bits.
    pub flags: u8,
    pub cs: u16,
    pub address: u64,
}
assert_size!(TrapInfo, 16);
assert_offset!(TrapInfo, flags, 1);
assert_offset!(TrapInfo, cs, 2);
assert_offset!(TrapInfo, address, 8);

/// `struct mmu_update` (xen.h): `ptr` is the machine address of a PTE with the request type in
/// its low bits; `val` the new entry.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct MmuUpdate {
    pub ptr: u64,
    pub val: u64,
}
assert_size!(MmuUpdate, 16);

/// `struct mmuext_op` (xen.h). `arg1` is an MFN or a linear address, `arg2` a count or a
/// pointer, depending on `cmd`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct MmuextOp {
    pub cmd: u32,
    pub arg1: u64,
    pub arg2: u64,
}
assert_size!(MmuextOp, 24);
assert_offset!(MmuextOp, arg1, 8);
assert_offset!(MmuextOp, arg2, 16);

/// `struct sched_shutdown` (sched.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SchedShutdown {
    /// A `SHUTDOWN_*` reason.
    pub reason: u32,
}
assert_size!(SchedShutdown, 4);

/// `struct evtchn_send` (event_channel.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EvtchnSend {
    pub port: u32,
}
assert_size!(EvtchnSend, 4);

/// `struct evtchn_bind_virq` (event_channel.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EvtchnBindVirq {
    pub virq: u32,
    pub vcpu: u32,
    /// Out: the bound port.
    pub port: u32,
}
assert_size!(EvtchnBindVirq, 12);

/// `struct callback_register` (callback.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct CallbackRegister {
    /// `CALLBACKTYPE_*`.
    pub ty: u16,
    /// `CALLBACKF_*`.
    pub flags: u16,
    pub address: u64,
}
assert_size!(CallbackRegister, 16);
assert_offset!(CallbackRegister, address, 8);

/// `struct iret_context` (arch-x86/xen-x86_64.h): what `HYPERVISOR_iret` pops.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct IretContext {
    pub rax: u64,
    pub r11: u64,
    pub rcx: u64,
    /// [`crate::VgcfFlags`] bits: 0 for an exception/interrupt return.
    pub flags: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}
assert_size!(IretContext, 72);
assert_offset!(IretContext, flags, 24);
assert_offset!(IretContext, rip, 32);
assert_offset!(IretContext, ss, 64);

/// `xen_extraversion_t` (version.h): e.g. `".7"`, NUL-terminated.
pub type XenExtraversion = [u8; 16];

/// `struct evtchn_alloc_unbound` (event_channel.h): a port of `dom` that `remote_dom` may
/// bind to.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EvtchnAllocUnbound {
    /// [`crate::consts::DOMID_SELF`] for an unprivileged guest.
    pub dom: u16,
    pub remote_dom: u16,
    /// Out: the new port.
    pub port: u32,
}
assert_size!(EvtchnAllocUnbound, 8);
assert_offset!(EvtchnAllocUnbound, remote_dom, 2);
assert_offset!(EvtchnAllocUnbound, port, 4);

/// `struct evtchn_bind_interdomain` (event_channel.h). Xen sets the new local port pending.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EvtchnBindInterdomain {
    pub remote_dom: u16,
    pub remote_port: u32,
    /// Out: the bound local port.
    pub local_port: u32,
}
assert_size!(EvtchnBindInterdomain, 12);
assert_offset!(EvtchnBindInterdomain, remote_port, 4);
assert_offset!(EvtchnBindInterdomain, local_port, 8);

/// `struct evtchn_bind_ipi` (event_channel.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EvtchnBindIpi {
    pub vcpu: u32,
    /// Out: the bound port.
    pub port: u32,
}
assert_size!(EvtchnBindIpi, 8);

/// `struct evtchn_close` (event_channel.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EvtchnClose {
    pub port: u32,
}
assert_size!(EvtchnClose, 4);

/// `struct evtchn_bind_vcpu` (event_channel.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EvtchnBindVcpu {
    pub port: u32,
    pub vcpu: u32,
}
assert_size!(EvtchnBindVcpu, 8);

/// `struct evtchn_unmask` (event_channel.h).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EvtchnUnmask {
    pub port: u32,
}
assert_size!(EvtchnUnmask, 4);

/// `struct evtchn_reset` (event_channel.h). With `DOMID_SELF` under FIFO it also returns the
/// domain to the 2-level ABI.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EvtchnReset {
    pub dom: u16,
}
assert_size!(EvtchnReset, 2);

/// `struct evtchn_init_control` (event_channel.h): registers a vCPU's FIFO control block
/// (72 bytes at `offset`, 8-aligned, `<= 4096 - 72`, of frame `control_gfn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EvtchnInitControl {
    pub control_gfn: u64,
    pub offset: u32,
    pub vcpu: u32,
    /// Out: `EVTCHN_FIFO_LINK_BITS` (17).
    pub link_bits: u8,
    pub pad: [u8; 7],
}
assert_size!(EvtchnInitControl, 24);
assert_offset!(EvtchnInitControl, offset, 8);
assert_offset!(EvtchnInitControl, vcpu, 12);
assert_offset!(EvtchnInitControl, link_bits, 16);
assert_offset!(EvtchnInitControl, pad, 17);

/// `struct evtchn_expand_array` (event_channel.h): adds the next FIFO event-array page.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EvtchnExpandArray {
    pub array_gfn: u64,
}
assert_size!(EvtchnExpandArray, 8);

/// `struct evtchn_set_priority` (event_channel.h): FIFO priority 0 (highest) to 15.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EvtchnSetPriority {
    pub port: u32,
    pub priority: u32,
}
assert_size!(EvtchnSetPriority, 8);
