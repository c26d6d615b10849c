//! PV trap table, event and failsafe callbacks.
//!
//! Xen delivers an exception or event by pushing, on the current guest stack rounded down to
//! 16 bytes, `rcx, r11, [error code,] rip, cs, rflags, rsp, ss` and jumping to the handler.
//! Every stub here pops rcx/r11 (restoring them), pushes a zero error code where the CPU has
//! none and a vector number, and joins `minios_trap_common`, which saves all registers into a
//! [`TrapFrame`], realigns the stack to 16 bytes (the Xen frame leaves it at 0 or 8 mod 16),
//! calls [`trap_dispatch`], restores and returns with `HYPERVISOR_iret`. The iret hypercall
//! restores the event mask from the saved RFLAGS.IF atomically with the return, so there is
//! no critical region to fix up (Mini-OS's `scrit`/`ecrit`).

use core::arch::global_asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use xen_abi::consts::{callbacktype, hypercall_nr};
use xen_abi::TrapInfo;
use xen_hal::XenError;

use crate::hypercall;

/// Vector number the event-callback stub reports.
pub const VECTOR_EVENT: u64 = u64::MAX;
/// Vector number the failsafe-callback stub reports.
pub const VECTOR_FAILSAFE: u64 = u64::MAX - 1;
/// Entries of the trap table, including the terminating zero entry.
const TRAP_TABLE_LEN: usize = 18;

global_asm!(
    ".macro minios_zero_entry name, vec",
    ".global \\name",
    "\\name:",
    "    pop %rcx",
    "    pop %r11",
    "    push $0",
    "    push $\\vec",
    "    jmp minios_trap_common",
    ".endm",
    ".macro minios_err_entry name, vec",
    ".global \\name",
    "\\name:",
    "    pop %rcx",
    "    pop %r11",
    "    push $\\vec",
    "    jmp minios_trap_common",
    ".endm",
    ".pushsection .text.minios_traps, \"ax\"",
    "minios_zero_entry minios_exc_de, 0",
    "minios_zero_entry minios_exc_db, 1",
    "minios_zero_entry minios_exc_bp, 3",
    "minios_zero_entry minios_exc_of, 4",
    "minios_zero_entry minios_exc_br, 5",
    "minios_zero_entry minios_exc_ud, 6",
    "minios_zero_entry minios_exc_nm, 7",
    "minios_zero_entry minios_exc_cso, 9",
    "minios_err_entry minios_exc_ts, 10",
    "minios_err_entry minios_exc_np, 11",
    "minios_err_entry minios_exc_ss, 12",
    "minios_err_entry minios_exc_gp, 13",
    "minios_err_entry minios_exc_pf, 14",
    "minios_zero_entry minios_exc_mf, 16",
    "minios_err_entry minios_exc_ac, 17",
    "minios_zero_entry minios_exc_mc, 18",
    "minios_zero_entry minios_exc_xm, 19",
    // Event upcall: same frame as an exception without error code.
    "minios_zero_entry minios_hypervisor_callback, -1",
    // Failsafe: Xen could not reload segment registers; ds/es/fs/gs sit between r11 and rip.
    ".global minios_failsafe_callback",
    "minios_failsafe_callback:",
    "    pop %rcx",
    "    pop %r11",
    "    add $32, %rsp",
    "    push $0",
    "    push $-2",
    "    jmp minios_trap_common",
    "minios_trap_common:",
    "    push %rax",
    "    push %rbx",
    "    push %rcx",
    "    push %rdx",
    "    push %rsi",
    "    push %rdi",
    "    push %rbp",
    "    push %r8",
    "    push %r9",
    "    push %r10",
    "    push %r11",
    "    push %r12",
    "    push %r13",
    "    push %r14",
    "    push %r15",
    "    mov %rsp, %rdi",
    "    mov %rsp, %rbx",
    "    and $-16, %rsp",
    "    call {dispatch}",
    "    mov %rbx, %rsp",
    "    pop %r15",
    "    pop %r14",
    "    pop %r13",
    "    pop %r12",
    "    pop %r11",
    "    pop %r10",
    "    pop %r9",
    "    pop %r8",
    "    pop %rbp",
    "    pop %rdi",
    "    pop %rsi",
    "    pop %rdx",
    "    pop %rcx",
    "    pop %rbx",
    "    pop %rax",
    "    add $16, %rsp",     // vector, error code
    "    push $0",           // iret flags: a plain exception/interrupt return
    "    jmp HYPERCALL_PAGE + {iret_off}",
    ".popsection",
    // The trap table: {u8 vector, u8 flags, u16 cs, u64 address}; flags 4 masks events on
    // entry like an interrupt gate. Ends with a zero entry.
    ".macro minios_trap vec, handler",
    "    .byte \\vec, 4",
    "    .word {cs}",
    "    .long 0",
    "    .quad \\handler",
    ".endm",
    ".pushsection .rodata.minios_trap_table, \"a\"",
    ".balign 16",
    ".global minios_trap_table",
    "minios_trap_table:",
    "minios_trap 0, minios_exc_de",
    "minios_trap 1, minios_exc_db",
    "minios_trap 3, minios_exc_bp",
    "minios_trap 4, minios_exc_of",
    "minios_trap 5, minios_exc_br",
    "minios_trap 6, minios_exc_ud",
    "minios_trap 7, minios_exc_nm",
    "minios_trap 9, minios_exc_cso",
    "minios_trap 10, minios_exc_ts",
    "minios_trap 11, minios_exc_np",
    "minios_trap 12, minios_exc_ss",
    "minios_trap 13, minios_exc_gp",
    "minios_trap 14, minios_exc_pf",
    "minios_trap 16, minios_exc_mf",
    "minios_trap 17, minios_exc_ac",
    "minios_trap 18, minios_exc_mc",
    "minios_trap 19, minios_exc_xm",
    "    .quad 0, 0",
    ".popsection",
    dispatch = sym trap_dispatch,
    iret_off = const hypercall_nr::IRET as usize * xen_abi::consts::HYPERCALL_STUB_SIZE,
    cs = const xen_abi::consts::FLAT_KERNEL_CS,
    options(att_syntax),
);

extern "C" {
    static minios_trap_table: [TrapInfo; TRAP_TABLE_LEN];
    fn minios_hypervisor_callback();
    fn minios_failsafe_callback();
}

/// Registers saved by the entry stubs, lowest address first.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Exception vector, or [`VECTOR_EVENT`] / [`VECTOR_FAILSAFE`].
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    /// Interrupted CS; bits 32..39 hold the saved event mask.
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// The kernel's event-upcall handler, as a `fn()` address (0 = none yet).
static EVENT_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Installs the function the event callback runs (with events masked).
pub fn set_event_handler(handler: fn()) {
    EVENT_HANDLER.store(handler as usize, Ordering::Release);
}

fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "divide error (#DE)",
        1 => "debug (#DB)",
        3 => "breakpoint (#BP)",
        4 => "overflow (#OF)",
        5 => "bound range (#BR)",
        6 => "invalid opcode (#UD)",
        7 => "device not available (#NM)",
        9 => "coprocessor segment overrun",
        10 => "invalid TSS (#TS)",
        11 => "segment not present (#NP)",
        12 => "stack fault (#SS)",
        13 => "general protection (#GP)",
        14 => "page fault (#PF)",
        16 => "x87 FP error (#MF)",
        17 => "alignment check (#AC)",
        18 => "machine check (#MC)",
        19 => "SIMD FP error (#XM)",
        _ => "unknown exception",
    }
}

extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    match frame.vector {
        VECTOR_EVENT => {
            let h = EVENT_HANDLER.load(Ordering::Acquire);
            if h == 0 {
                // No handler yet: acknowledge so that the upcall is not re-raised forever.
                crate::time::ack_upcall();
            } else {
                // SAFETY: the only non-zero value ever stored is a `fn()` (set_event_handler).
                let f: fn() = unsafe { core::mem::transmute::<usize, fn()>(h) };
                f();
            }
        }
        VECTOR_FAILSAFE => panic!(
            "Xen failsafe callback: segment reload failed at rip {:#x}",
            frame.rip
        ),
        v => {
            let cr2 = if v == 14 {
                crate::time::fault_address()
            } else {
                0
            };
            panic!(
                "{} at rip {:#x}, error code {:#x}, rsp {:#x}{}{:#x}",
                exception_name(v),
                frame.rip,
                frame.error_code,
                frame.rsp,
                if v == 14 { ", address " } else { ", rax " },
                if v == 14 { cr2 } else { frame.rax },
            )
        }
    }
}

/// Installs the trap table and the event and failsafe callbacks.
pub fn init_pv() -> Result<(), XenError> {
    // SAFETY: an extern static defined in the asm above, never written.
    let table: &'static [TrapInfo] = unsafe { &*core::ptr::addr_of!(minios_trap_table) };
    hypercall::set_trap_table(table)?;
    // SAFETY: both stubs follow Xen's callback frame convention (see the module docs).
    unsafe {
        hypercall::register_callback(
            callbacktype::EVENT,
            minios_hypervisor_callback as *const () as u64,
        )?;
        hypercall::register_callback(
            callbacktype::FAILSAFE,
            minios_failsafe_callback as *const () as u64,
        )?;
    }
    Ok(())
}
