//! The x86_64 PV entry: Xen ELF notes (with the PVH note too), `_start`, and the Rust side
//! of PV boot.
//!
//! Xen (libxenguest) loads the image by its ELF notes, builds a 1:1 bootstrap mapping of the
//! first pages of pseudo-physical memory at virtual address 0 (VIRT_BASE 0), and enters
//! `_start` in 64-bit mode with `rsi` = the virtual address of start_info and `rsp` at the top
//! of a 4 KiB boot stack whose neighbour page is a read-only page table. So `_start` reads the
//! TSC (for the boot-time figure), zeroes `.bss`, moves onto the kernel's own 16-byte aligned
//! stack and calls [`pv_start`] with `rsp % 16 == 0` before the call, as the SysV ABI wants.

use core::arch::global_asm;
use core::mem::MaybeUninit;

use xen_abi::consts::uvmf;
use xen_abi::{
    PteFlags, SharedInfo, StartInfo, XenconsInterface, XenstoreDomainInterface, PAGE_SHIFT,
};

use crate::{hypercall, mm, time, traps, BootInfo, BootMode, Page};

/// Bytes of the kernel stack (events and exceptions are delivered on it too).
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

global_asm!(
    // Xen ELF notes (elfnote.h). libelf needs XEN_VERSION "xen-3.0" and LOADER "generic";
    // HYPERCALL_PAGE names the page Xen fills with hypercall stubs.
    ".pushsection .note.Xen, \"a\", @note",
    ".macro xen_note_str type, str",
    "    .balign 4",
    "    .long 4, 4f - 3f, \\type",
    "    .asciz \"Xen\"",
    "    .balign 4",
    "3:  .asciz \"\\str\"",
    "4:  .balign 4",
    ".endm",
    ".macro xen_note_quad type, value",
    "    .balign 4",
    "    .long 4, 8, \\type",
    "    .asciz \"Xen\"",
    "    .balign 4",
    "    .quad \\value",
    "    .balign 4",
    ".endm",
    "xen_note_str 6, \"Mini-OS-rs\"", // GUEST_OS
    "xen_note_str 5, \"xen-3.0\"",    // XEN_VERSION
    "xen_note_str 8, \"generic\"",    // LOADER
    "xen_note_quad 2, HYPERCALL_PAGE", // HYPERCALL_PAGE
    "xen_note_quad 1, _start",        // ENTRY
    "xen_note_quad 3, 0",             // VIRT_BASE
    "xen_note_quad 4, 0",             // PADDR_OFFSET
    // PHYS32_ENTRY: the same image boots as PVH from the 32-bit entry (pvh.rs).
    "    .balign 4",
    "    .long 4, 4, 18",
    "    .asciz \"Xen\"",
    "    .balign 4",
    "    .long minios_pvh_start32",
    "    .balign 4",
    ".popsection",
    // The kernel stack and the page shared_info gets mapped over.
    ".pushsection .bss.minios_boot, \"aw\", @nobits",
    ".balign 4096",
    ".global minios_shared_info_slot",
    "minios_shared_info_slot:",
    ".skip 4096",
    "minios_boot_stack:",
    ".skip {stack_size}",
    ".global minios_boot_stack_top",
    "minios_boot_stack_top:",
    ".popsection",
    ".pushsection .text.boot, \"ax\"",
    ".global _start",
    "_start:",
    "    cld",
    "    rdtsc",
    "    shl $32, %rdx",
    "    or %rdx, %rax",
    "    mov %rax, %r13",      // entry TSC
    "    mov %rsi, %r12",      // start_info
    "    lea __bss_start(%rip), %rdi",
    "    lea __bss_end(%rip), %rcx",
    "    sub %rdi, %rcx",
    "    xor %eax, %eax",
    "    rep stosb",
    "    lea minios_boot_stack_top(%rip), %rsp",
    "    xor %ebp, %ebp",
    "    mov %r12, %rdi",
    "    mov %r13, %rsi",
    "    call {pv_start}",
    "    ud2",
    ".popsection",
    stack_size = const BOOT_STACK_SIZE,
    pv_start = sym pv_start,
    options(att_syntax),
);

extern "C" {
    static minios_shared_info_slot: Page;
    static __image_start: u8;
    static __image_end: u8;
}

extern "Rust" {
    /// Defined by the `minios` kernel crate.
    fn minios_kernel_main(boot: BootInfo) -> !;
}

fn fatal(msg: &str) -> ! {
    crate::early_print(msg);
    hypercall::sched_shutdown(xen_abi::consts::shutdown::CRASH)
}

/// Finds the console ring through the M2P alone (the builder always maps it), so that
/// everything after this point can report failures on the real console.
fn find_console(si: &'static StartInfo) {
    if let Some(pfn) = mm::mfn_to_pfn(si.console.mfn).filter(|&p| p < si.nr_pages) {
        // SAFETY: the builder maps the console ring page RW at `pfn << 12` (VIRT_BASE 0) and
        // shares it only with xenconsoled; every field of the ring is atomic.
        let ring = unsafe { &*((pfn << PAGE_SHIFT) as *const XenconsInterface) };
        crate::set_boot_console(ring, si.console.evtchn);
    }
}

/// Rust side of PV boot, called once by `_start` on the kernel stack.
extern "C" fn pv_start(si: *const StartInfo, entry_tsc: u64) -> ! {
    crate::set_mode(BootMode::Pv);
    let _ = hypercall::console_io_write(b"Mini-OS-rs: PV entry\n");
    // SAFETY: Xen passes a valid, page-aligned start_info in rsi; nothing writes it later.
    let si: &'static StartInfo = unsafe { &*si };
    find_console(si);
    mm::set_p2m(si.mfn_list, si.nr_pages);

    if traps::init_pv().is_err() {
        fatal("Mini-OS-rs: set_trap_table/callbacks failed\n");
    }

    // Walk the bootstrap map before anything in it is remapped.
    // Linker-script symbols: only their addresses are taken.
    let image = (
        core::ptr::addr_of!(__image_start) as u64,
        core::ptr::addr_of!(__image_end) as u64,
    );
    let mut layout = match mm::BootstrapLayout::discover(si, image) {
        Ok(l) => l,
        Err(msg) => fatal(msg),
    };
    // Map the rest of the domain's memory (a failure leaves the bootstrap map, which works).
    if let Err(msg) = layout.extend(si.nr_pages) {
        crate::early_print(msg);
    }

    // Map Xen's shared_info page over our slot page.
    let slot = core::ptr::addr_of!(minios_shared_info_slot) as u64;
    let pte = si.shared_info | (PteFlags::PRESENT | PteFlags::RW | PteFlags::USER).bits();
    // SAFETY: the slot is a page of our own .bss that nothing else uses; after the call it
    // maps the shared_info frame, which Xen keeps alive for the life of the domain.
    if unsafe { hypercall::update_va_mapping(slot, pte, uvmf::INVLPG) }.is_err() {
        fatal("Mini-OS-rs: mapping shared_info failed\n");
    }
    // SAFETY: the slot now maps shared_info, whose fields Xen changes only atomically
    // (every field of `SharedInfo` is an atomic), and it is never unmapped.
    let shared: &'static SharedInfo = unsafe { &*(slot as *const SharedInfo) };
    time::init(shared);
    // PV vCPUs start with a 10 ms periodic timer; idle instances must cost no CPU.
    let _ = hypercall::stop_periodic_timer(0);

    let console_va = layout.console_pfn << PAGE_SHIFT;
    let store_va = layout.store_pfn << PAGE_SHIFT;
    // SAFETY: the console ring page is mapped RW in the bootstrap map (checked by
    // `discover`), shared only with xenconsoled, and every field is atomic.
    let console: &'static XenconsInterface = unsafe { &*(console_va as *const XenconsInterface) };
    // SAFETY: as above, for the xenstore ring page (shared only with xenstored; every field
    // of the interface is atomic).
    let store: &'static XenstoreDomainInterface =
        unsafe { &*(store_va as *const XenstoreDomainInterface) };

    // Page 0 stays unmapped so that a null dereference faults.
    // SAFETY: nothing lives at address 0.
    let _ = unsafe { hypercall::update_va_mapping(0, 0, uvmf::INVLPG) };

    let free = layout.free_regions.map(|(start, end)| {
        // SAFETY: `discover` proved these pfns mapped RW, inside the domain, and disjoint from
        // the image, the p2m list, start_info, the rings and the page tables; pv_start runs
        // once, so each page is handed out exactly once.
        unsafe {
            core::slice::from_raw_parts_mut(
                (start << PAGE_SHIFT) as *mut MaybeUninit<Page>,
                (end - start) as usize,
            )
        }
    });

    let boot = BootInfo {
        mode: BootMode::Pv,
        start_info: Some(si),
        hvm_start_info: None,
        memmap: &[],
        shared_info: shared,
        console: (console, si.console.evtchn),
        store: (store, si.store_evtchn),
        cmdline: si.cmd_line_str(),
        free,
        nr_pages: si.nr_pages,
        mapped_pages: layout.mapped_pages,
        image,
        entry_tsc,
    };
    // SAFETY: the kernel crate defines `minios_kernel_main` with exactly this signature.
    unsafe { minios_kernel_main(boot) }
}
