//! Hypercalls through the hypercall page that Xen fills in at `HYPERCALL_PAGE`.
//!
//! Convention (x86_64): number selects the 32-byte stub `HYPERCALL_PAGE + nr * 32`; arguments
//! in rdi, rsi, rdx, r10, r8; result in rax (`-errno` on failure). A debug Xen overwrites the
//! argument registers on return, so all of them are declared clobbered. The `xen-sys` crate's
//! `hypercall_N` are not used: they declare `nostack` around a `call` (which pushes) and pass
//! a fifth argument in r9 where Xen reads r8.

use core::arch::{asm, global_asm};

use xen_abi::consts::{consoleio, evtchnop, hypercall_nr as nr, schedop, xenver};
use xen_abi::consts::{DOMID_SELF, HYPERCALL_STUB_SIZE};
use xen_abi::hvm::{self, XenAddToPhysmap, XenHvmParam};
use xen_abi::{CallbackRegister, EvtchnSend, MmuUpdate, SchedShutdown, TrapInfo, XenExtraversion};
use xen_hal::{Port, XenError};

global_asm!(
    ".pushsection .hypercall_page, \"awx\", @nobits",
    ".balign 4096",
    ".global HYPERCALL_PAGE",
    "HYPERCALL_PAGE:",
    ".skip 4096",
    ".popsection",
);

extern "C" {
    static HYPERCALL_PAGE: [u8; 4096];
}

/// Address of the stub for hypercall `n`.
pub fn stub(n: u32) -> u64 {
    // Taking the address of the extern static reads nothing.
    core::ptr::addr_of!(HYPERCALL_PAGE) as u64 + u64::from(n) * HYPERCALL_STUB_SIZE as u64
}

/// Raw hypercall with up to five arguments.
///
/// # Safety
/// The arguments must be valid for hypercall `n` as Xen's public headers define it: every
/// pointer must point to memory of the right type and size that stays valid for the call, and
/// the operation must not break an invariant of this kernel (e.g. unmap its own code).
#[inline]
pub unsafe fn hypercall(n: u32, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> i64 {
    let ret: i64;
    // SAFETY: the caller guarantees the arguments; the stub at `stub(n)` preserves every
    // register except rax and the argument registers, which are declared clobbered; `call`
    // uses the stack, so `nostack` is not claimed; memory is clobbered (no `nomem`).
    unsafe {
        asm!(
            "call {stub}",
            stub = in(reg) stub(n),
            lateout("rax") ret,
            inlateout("rdi") a1 => _,
            inlateout("rsi") a2 => _,
            inlateout("rdx") a3 => _,
            inlateout("r10") a4 => _,
            inlateout("r8") a5 => _,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    ret
}

fn check(ret: i64) -> Result<u64, XenError> {
    XenError::check(ret)
}

/// `console_io(CONSOLEIO_write)`: shown only by a debug Xen (`EPERM` on release builds).
pub fn console_io_write(bytes: &[u8]) -> Result<(), XenError> {
    // SAFETY: Xen reads `len` bytes from a valid slice.
    let r = unsafe {
        hypercall(
            nr::CONSOLE_IO,
            consoleio::WRITE.into(),
            bytes.len() as u64,
            bytes.as_ptr() as u64,
            0,
            0,
        )
    };
    check(r).map(|_| ())
}

/// `EVTCHNOP_send`.
pub fn evtchn_send(port: Port) -> Result<(), XenError> {
    let mut arg = EvtchnSend { port };
    // SAFETY: `arg` is a valid `evtchn_send` for the duration of the call.
    let r = unsafe {
        hypercall(
            nr::EVENT_CHANNEL_OP,
            evtchnop::SEND.into(),
            core::ptr::addr_of_mut!(arg) as u64,
            0,
            0,
            0,
        )
    };
    check(r).map(|_| ())
}

/// `SCHEDOP_yield`.
pub fn sched_yield() {
    // SAFETY: yield takes no argument.
    unsafe { hypercall(nr::SCHED_OP, schedop::YIELD.into(), 0, 0, 0, 0) };
}

/// Sleeps until an event is pending, with event delivery enabled on the way (so pending
/// upcalls run when this returns, and delivery stays enabled).
///
/// PV: `SCHEDOP_block`, which unmasks event delivery first. PVH: `sti; hlt`: with IF=0 Xen's
/// `SCHEDOP_block` would not count a pending callback vector as a reason to wake (its check is
/// "an interrupt the vCPU can take now"), so an event already pending would be slept through;
/// `sti` holds interrupts off for one more instruction, and `hlt` then blocks in Xen until the
/// vector can be injected, so no event slips between the check and the sleep.
pub fn sched_block() {
    if crate::mode() == crate::BootMode::Pvh {
        // SAFETY: the PVH kernel runs at CPL0 with its IDT installed; enabling interrupts
        // here is what the callers ask for (they restore their own state afterwards).
        unsafe { asm!("sti", "hlt", options(nomem, nostack)) };
        return;
    }
    // SAFETY: block takes no argument.
    unsafe { hypercall(nr::SCHED_OP, schedop::BLOCK.into(), 0, 0, 0, 0) };
}

/// `SCHEDOP_shutdown` with a `SHUTDOWN_*` reason. Poweroff, reboot and crash never return;
/// should Xen refuse (it does not), the vCPU spins in `SCHEDOP_block`.
pub fn sched_shutdown(reason: u32) -> ! {
    let mut arg = SchedShutdown { reason };
    // SAFETY: `arg` is a valid `sched_shutdown` for the duration of the call.
    unsafe {
        hypercall(
            nr::SCHED_OP,
            schedop::SHUTDOWN.into(),
            core::ptr::addr_of_mut!(arg) as u64,
            0,
            0,
            0,
        )
    };
    loop {
        sched_block();
    }
}

/// `XENVER_version`: (major, minor).
pub fn xen_version() -> (u32, u32) {
    // SAFETY: XENVER_version takes no argument.
    let v = unsafe { hypercall(nr::XEN_VERSION, xenver::VERSION.into(), 0, 0, 0, 0) } as u32;
    (v >> 16, v & 0xffff)
}

/// `XENVER_extraversion`, e.g. `".7"`.
pub fn xen_extraversion() -> XenExtraversion {
    let mut buf: XenExtraversion = [0; 16];
    // SAFETY: Xen writes at most 16 bytes into `buf`.
    unsafe {
        hypercall(
            nr::XEN_VERSION,
            xenver::EXTRAVERSION.into(),
            buf.as_mut_ptr() as u64,
            0,
            0,
            0,
        )
    };
    buf
}

/// `set_trap_table`. The table must end with an entry whose address is 0.
pub fn set_trap_table(table: &'static [TrapInfo]) -> Result<(), XenError> {
    assert!(
        table.last().is_some_and(|t| t.address == 0),
        "trap table must end with a zero entry"
    );
    // SAFETY: the table is static and terminated; the handlers it names are this crate's
    // entry stubs.
    let r = unsafe { hypercall(nr::SET_TRAP_TABLE, table.as_ptr() as u64, 0, 0, 0, 0) };
    check(r).map(|_| ())
}

/// `callback_op(CALLBACKOP_register)`.
///
/// # Safety
/// `address` must be an entry stub that follows Xen's callback frame convention.
pub unsafe fn register_callback(ty: u16, address: u64) -> Result<(), XenError> {
    let mut arg = CallbackRegister {
        ty,
        flags: 0,
        address,
    };
    // SAFETY: `arg` is valid for the call; the caller vouches for the address.
    let r = unsafe {
        hypercall(
            nr::CALLBACK_OP,
            0, // CALLBACKOP_register
            core::ptr::addr_of_mut!(arg) as u64,
            0,
            0,
            0,
        )
    };
    check(r).map(|_| ())
}

/// `update_va_mapping(va, pte, flags)`.
///
/// # Safety
/// Replacing the mapping of `va` must not unmap or alias memory the kernel relies on.
pub unsafe fn update_va_mapping(va: u64, pte: u64, flags: u64) -> Result<(), XenError> {
    // SAFETY: delegated to the caller.
    let r = unsafe { hypercall(nr::UPDATE_VA_MAPPING, va, pte, flags, 0, 0) };
    check(r).map(|_| ())
}

/// `mmu_update(reqs, count, &done, DOMID_SELF)`; returns how many requests were done.
///
/// # Safety
/// The requests must not break the kernel's own mappings.
pub unsafe fn mmu_update(reqs: &[MmuUpdate]) -> Result<u64, XenError> {
    let mut done: u32 = 0;
    // SAFETY: `reqs` and `done` are valid for the call; the caller vouches for the contents.
    let r = unsafe {
        hypercall(
            nr::MMU_UPDATE,
            reqs.as_ptr() as u64,
            reqs.len() as u64,
            core::ptr::addr_of_mut!(done) as u64,
            DOMID_SELF.into(),
            0,
        )
    };
    check(r).map(|_| u64::from(done))
}

/// `set_timer_op(deadline)`: a one-shot VIRQ_TIMER at `deadline` ns of system time (0 cancels).
pub fn set_timer_op(deadline_ns: u64) -> Result<(), XenError> {
    // SAFETY: set_timer_op takes a plain value.
    let r = unsafe { hypercall(nr::SET_TIMER_OP, deadline_ns, 0, 0, 0, 0) };
    check(r).map(|_| ())
}

/// `VCPUOP_stop_periodic_timer` for `vcpu`: PV vCPUs start with a 10 ms periodic VIRQ_TIMER;
/// an idle unikernel wants none.
pub fn stop_periodic_timer(vcpu: u32) -> Result<(), XenError> {
    // SAFETY: VCPUOP_stop_periodic_timer (7) takes no argument structure.
    let r = unsafe { hypercall(nr::VCPU_OP, 7, u64::from(vcpu), 0, 0, 0) };
    check(r).map(|_| ())
}

/// `event_channel_op(cmd, arg)` on an argument structure of the right type for `cmd`.
///
/// # Safety
/// `T` must be the argument structure Xen's event_channel.h defines for `cmd`.
pub unsafe fn event_channel_op<T>(cmd: u32, arg: &mut T) -> Result<u64, XenError> {
    // SAFETY: the caller matches `T` to `cmd`; `arg` is valid for reads and writes.
    let r = unsafe {
        hypercall(
            nr::EVENT_CHANNEL_OP,
            cmd.into(),
            arg as *mut T as u64,
            0,
            0,
            0,
        )
    };
    check(r)
}

/// `HVMOP_get_param(DOMID_SELF, index)`.
pub fn hvm_get_param(index: u32) -> Result<u64, XenError> {
    let mut p = XenHvmParam {
        domid: DOMID_SELF,
        index,
        ..Default::default()
    };
    // SAFETY: one xen_hvm_param, valid for reads and writes during the call.
    let r = unsafe {
        hypercall(
            nr::HVM_OP,
            hvm::HVMOP_GET_PARAM.into(),
            core::ptr::addr_of_mut!(p) as u64,
            0,
            0,
            0,
        )
    };
    check(r).map(|_| p.value)
}

/// `HVMOP_set_param(DOMID_SELF, index, value)`.
///
/// # Safety
/// The parameter must not break the kernel (e.g. a callback vector with no IDT gate).
pub unsafe fn hvm_set_param(index: u32, value: u64) -> Result<(), XenError> {
    let mut p = XenHvmParam {
        domid: DOMID_SELF,
        index,
        value,
        ..Default::default()
    };
    // SAFETY: one xen_hvm_param, valid for the call; the caller vouches for the effect.
    let r = unsafe {
        hypercall(
            nr::HVM_OP,
            hvm::HVMOP_SET_PARAM.into(),
            core::ptr::addr_of_mut!(p) as u64,
            0,
            0,
            0,
        )
    };
    check(r).map(|_| ())
}

/// `XENMEM_add_to_physmap(DOMID_SELF, space, idx, gpfn)` (auto-translated guests): Xen maps
/// the frame `idx` of `space` at guest frame `gpfn`, replacing (and freeing) the RAM there.
///
/// # Safety
/// Nothing may rely on the previous contents of `gpfn`.
pub unsafe fn add_to_physmap(space: u32, idx: u64, gpfn: u64) -> Result<(), XenError> {
    let mut a = XenAddToPhysmap {
        domid: DOMID_SELF,
        size: 0,
        space,
        idx,
        gpfn,
    };
    // SAFETY: one xen_add_to_physmap, valid for the call; the caller vouches for the effect.
    let r = unsafe {
        hypercall(
            nr::MEMORY_OP,
            hvm::XENMEM_ADD_TO_PHYSMAP.into(),
            core::ptr::addr_of_mut!(a) as u64,
            0,
            0,
            0,
        )
    };
    check(r).map(|_| ())
}
