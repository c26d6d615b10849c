//! Exceptions and events: the PV trap table with the event and failsafe callbacks, and the
//! PVH IDT with the event callback vector.
//!
//! PVH: the CPU pushes `ss, rsp, rflags, cs, rip[, error code]` (no rcx/r11), so the IDT stubs
//! push a zero error code where there is none and the vector, and join `minios_idt_common`,
//! which builds the same [`TrapFrame`], calls the same [`trap_dispatch`] and returns with
//! `iretq`. The event upcall arrives as vector [`CALLBACK_VECTOR`] through an interrupt gate
//! (IF=0 inside); it needs no EOI, and the handler clears `evtchn_upcall_pending` before the
//! `iretq` sets IF again (or Xen would inject the vector again at once).
//!
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
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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
/// PVH: the IDT vector Xen delivers event upcalls on (`HVM_PARAM_CALLBACK_IRQ`, vector type).
pub const CALLBACK_VECTOR: u8 = 32;
/// PVH: the 64-bit code selector of the entry GDT (pvh.rs).
const PVH_CS: u16 = 0x08;

global_asm!(
    // Both entry paths (PV trap table, PVH IDT) arrive with `vector, error code` on top of the
    // CPU's or Xen's frame: save the 15 general registers (a `TrapFrame`), call
    // `trap_dispatch(&mut frame)` on a 16-byte aligned stack with the direction flag clear
    // (the Rust ABI), restore them. The caller drops vector and error code and returns.
    ".macro minios_call_dispatch",
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
    "    cld",
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
    ".endm",
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
    "    minios_call_dispatch",
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
    // PVH: the IDT stubs (the CPU's frame, no rcx/r11 on the stack), returning with iretq.
    ".macro minios_idt_zero name, vec",
    "\\name:",
    "    push $0",
    "    push $\\vec",
    "    jmp minios_idt_common",
    ".endm",
    ".macro minios_idt_err name, vec",
    "\\name:",
    "    push $\\vec",
    "    jmp minios_idt_common",
    ".endm",
    ".pushsection .text.minios_idt, \"ax\"",
    "minios_idt_zero minios_idt_de, 0",
    "minios_idt_zero minios_idt_db, 1",
    "minios_idt_zero minios_idt_nmi, 2",
    "minios_idt_zero minios_idt_bp, 3",
    "minios_idt_zero minios_idt_of, 4",
    "minios_idt_zero minios_idt_br, 5",
    "minios_idt_zero minios_idt_ud, 6",
    "minios_idt_zero minios_idt_nm, 7",
    "minios_idt_err minios_idt_df, 8",
    "minios_idt_zero minios_idt_cso, 9",
    "minios_idt_err minios_idt_ts, 10",
    "minios_idt_err minios_idt_np, 11",
    "minios_idt_err minios_idt_ss, 12",
    "minios_idt_err minios_idt_gp, 13",
    "minios_idt_err minios_idt_pf, 14",
    "minios_idt_zero minios_idt_mf, 16",
    "minios_idt_err minios_idt_ac, 17",
    "minios_idt_zero minios_idt_mc, 18",
    "minios_idt_zero minios_idt_xm, 19",
    "minios_idt_zero minios_idt_callback, -1",
    "minios_idt_common:",
    "    minios_call_dispatch",
    "    add $16, %rsp", // vector, error code
    "    iretq",
    ".popsection",
    dispatch = sym trap_dispatch,
    iret_off = const hypercall_nr::IRET as usize * xen_abi::consts::HYPERCALL_STUB_SIZE,
    cs = const xen_abi::consts::FLAT_KERNEL_CS,
    options(att_syntax),
);

extern "C" {
    fn minios_idt_de();
    fn minios_idt_db();
    fn minios_idt_nmi();
    fn minios_idt_bp();
    fn minios_idt_of();
    fn minios_idt_br();
    fn minios_idt_ud();
    fn minios_idt_nm();
    fn minios_idt_df();
    fn minios_idt_cso();
    fn minios_idt_ts();
    fn minios_idt_np();
    fn minios_idt_ss();
    fn minios_idt_gp();
    fn minios_idt_pf();
    fn minios_idt_mf();
    fn minios_idt_ac();
    fn minios_idt_mc();
    fn minios_idt_xm();
    fn minios_idt_callback();
}

/// The PVH IDT: 256 gates of two words each, written once before `lidt`.
#[repr(C, align(4096))]
struct Idt([AtomicU64; 512]);

static IDT: Idt = Idt([const { AtomicU64::new(0) }; 512]);

/// A 64-bit interrupt gate (type 14, DPL 0, present) to `handler` in the PVH code segment.
fn idt_gate(handler: u64) -> (u64, u64) {
    let low = (handler & 0xffff)
        | (u64::from(PVH_CS) << 16)
        | (0x8e << 40)
        | (((handler >> 16) & 0xffff) << 48);
    (low, handler >> 32)
}

/// PVH: fills the IDT (exceptions 0-19 and the callback vector) and loads it. Runs first
/// thing after the switch to long mode: until then any exception is a triple fault.
pub(crate) fn init_idt() {
    let gates: [(usize, unsafe extern "C" fn()); 20] = [
        (0, minios_idt_de),
        (1, minios_idt_db),
        (2, minios_idt_nmi),
        (3, minios_idt_bp),
        (4, minios_idt_of),
        (5, minios_idt_br),
        (6, minios_idt_ud),
        (7, minios_idt_nm),
        (8, minios_idt_df),
        (9, minios_idt_cso),
        (10, minios_idt_ts),
        (11, minios_idt_np),
        (12, minios_idt_ss),
        (13, minios_idt_gp),
        (14, minios_idt_pf),
        (16, minios_idt_mf),
        (17, minios_idt_ac),
        (18, minios_idt_mc),
        (19, minios_idt_xm),
        (usize::from(CALLBACK_VECTOR), minios_idt_callback),
    ];
    for (v, h) in gates {
        let (lo, hi) = idt_gate(h as usize as u64);
        IDT.0[2 * v].store(lo, Ordering::Relaxed);
        IDT.0[2 * v + 1].store(hi, Ordering::Relaxed);
    }
    #[repr(C, packed)]
    struct Idtr {
        limit: u16,
        base: u64,
    }
    let idtr = Idtr {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: core::ptr::addr_of!(IDT) as u64,
    };
    // SAFETY: the IDT is a static that lives for ever; every present gate points at a stub
    // above that builds a TrapFrame and returns with iretq; the others are not present.
    unsafe {
        core::arch::asm!("lidt [{}]", in(reg) core::ptr::addr_of!(idtr), options(readonly, nostack));
    }
}

/// PVH: the faulting address of a page fault (CR2).
pub(crate) fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 at CPL0 has no side effect.
    unsafe { core::arch::asm!("mov {}, cr2", out(reg) v, options(nomem, nostack)) };
    v
}

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

/// RFLAGS.IF in a trap frame. PVH: the CPU's interrupt flag. PV: Xen writes
/// `!saved_upcall_mask` into it (xen.h, `cpu_user_regs`), so in both modes it says whether the
/// interrupted code had event upcalls enabled.
const FRAME_RFLAGS_IF: u64 = 1 << 9;

/// Upcalls that arrived while the interrupted code had events blocked (deferred, see
/// [`deferred_upcalls`]), and the `rip` of the last one.
static DEFERRED_UPCALLS: AtomicU64 = AtomicU64::new(0);
static DEFERRED_UPCALL_RIP: AtomicU64 = AtomicU64::new(0);

/// PVH: raises the event callback vector in software (`int $32`), as a platform that ignored
/// IF would deliver it, so that a guest test can check the path of [`deferred_upcalls`].
/// Returns false in PV mode (its callback is Xen's to raise, not the guest's).
pub fn raise_event_vector() -> bool {
    if crate::mode() != crate::BootMode::Pvh {
        return false;
    }
    // SAFETY: PVH runs at CPL0 with its IDT loaded; vector CALLBACK_VECTOR is a DPL0 interrupt
    // gate to `minios_idt_callback`, which saves and restores every register and returns with
    // iretq; `int` pushes its frame on the current stack (so no `nostack`). The handler does
    // what any upcall does at this point (with events enabled it runs the event handler).
    unsafe { core::arch::asm!("int {v}", v = const CALLBACK_VECTOR) };
    true
}

/// PVH test hook: makes the vCPU triple-fault, as a guest whose exception delivery is broken
/// would, so that the test runner's handling of one (Xen reports it and reboots the domain)
/// can be checked on real Xen. Loads an IDT of limit 0 and executes `ud2`: neither the #UD
/// nor the #GP and #DF that follow can be delivered. Returns false in PV mode (no IDT there:
/// Xen delivers a PV guest's exceptions).
pub fn triple_fault_for_test() -> bool {
    if crate::mode() != crate::BootMode::Pvh {
        return false;
    }
    #[repr(C, packed)]
    struct Idtr {
        limit: u16,
        base: u64,
    }
    let empty = Idtr { limit: 0, base: 0 };
    // SAFETY: deliberately ends the domain: with an IDT of limit 0 no exception can be
    // delivered, so `ud2` is a triple fault, which Xen turns into the domain's shutdown; the
    // vCPU never runs another instruction of this guest, so nothing relies on the IDT after.
    unsafe {
        core::arch::asm!(
            "lidt [{}]",
            "ud2",
            in(reg) core::ptr::addr_of!(empty),
            options(noreturn, nostack)
        )
    }
}

/// Event upcalls that interrupted code running with events blocked, and the `rip` of the last
/// one (0 if none).
///
/// Neither Xen nor the CPU should ever deliver one: a PVH guest's `cli` holds the callback
/// vector off, a PV guest's upcall mask holds Xen's callback off. Under QEMU's emulated AMD
/// SVM (TCG) Xen's callback vector was seen delivered with IF=0 (inside the event handler
/// itself). Running the handler then would break the rule every lock the handler takes relies
/// on (taken with events blocked, so never held by the code an upcall interrupts), so such an
/// upcall is deferred instead: it returns at once, leaving `evtchn_upcall_pending` set, and
/// the events are handled as soon as the interrupted code enables events again (PVH: Xen
/// injects the vector when IF becomes 1; PV: `events::enable` forces the upcall). The kernel
/// reports the count when it powers off.
pub fn deferred_upcalls() -> (u64, u64) {
    (
        DEFERRED_UPCALLS.load(Ordering::Relaxed),
        DEFERRED_UPCALL_RIP.load(Ordering::Relaxed),
    )
}

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
        VECTOR_EVENT if frame.rflags & FRAME_RFLAGS_IF == 0 => {
            // Delivered into code that had events blocked: defer (see `deferred_upcalls`).
            DEFERRED_UPCALLS.fetch_add(1, Ordering::Relaxed);
            DEFERRED_UPCALL_RIP.store(frame.rip, Ordering::Relaxed);
        }
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
            let cr2 = if v == 14 && crate::mode() == crate::BootMode::Pvh {
                read_cr2()
            } else if v == 14 {
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
