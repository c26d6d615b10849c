//! The PVH entry: 32-bit protected mode to long mode, and the Rust side of PVH boot.
//!
//! Xen enters `minios_pvh_start32` (the `PHYS32_ENTRY` note, pv.rs) in 32-bit protected mode
//! with paging off, flat segments, IF=0, no stack, no usable GDT or IDT, and `ebx` = the
//! guest-physical address of the `hvm_start_info` block; the image sits at its ELF physical
//! addresses (1 MiB). The 32-bit code reads the TSC, zeroes `.bss`, builds an identity map of
//! the first 4 GiB (2 MiB pages, except the first 2 MiB: 4 KiB pages with page 0 left
//! unmapped so that a null dereference faults; 4 GiB so that the xenstore and console pages
//! near 0xFEFF_F000 are mapped), loads its own GDT, enables PAE, long mode and paging, and
//! jumps to 64-bit code, which sets up the segments and the kernel stack and calls
//! [`pvh_start`] with `rdi` = start info and `rsi` = the entry TSC.
//!
//! [`pvh_start`] loads the IDT first (before it, any exception is a triple fault), then
//! installs the hypercall page through Xen's CPUID leaves and MSR, finds the console and
//! xenstore through the HVM parameters, maps shared_info with `XENMEM_add_to_physmap`, asks for
//! event upcalls on the callback vector, and hands the RAM of the memory map (minus the image
//! and the start-info block) to the kernel.

use core::arch::{asm, global_asm};
use core::mem::MaybeUninit;

use xen_abi::hvm::{self, HvmMemmapTableEntry, HvmStartInfo, XEN_HVM_START_MAGIC_VALUE};
use xen_abi::{SharedInfo, XenconsInterface, XenstoreDomainInterface, PAGE_SHIFT, PAGE_SIZE};

use crate::{hypercall, time, traps, BootInfo, BootMode, Page};

global_asm!(
    // Page tables of the identity map and the entry GDT.
    ".pushsection .bss.minios_pvh_pt, \"aw\", @nobits",
    ".balign 4096",
    "minios_pvh_pml4: .skip 4096",
    "minios_pvh_pdpt: .skip 4096",
    "minios_pvh_pd: .skip 4 * 4096",
    "minios_pvh_pt: .skip 4096",
    ".popsection",
    ".pushsection .rodata.minios_pvh_gdt, \"a\"",
    ".balign 16",
    "minios_pvh_gdt:",
    "    .quad 0",
    "    .quad 0x00af9a000000ffff", // 0x08: 64-bit code, DPL0
    "    .quad 0x00cf92000000ffff", // 0x10: flat data
    "minios_pvh_gdt_end:",
    ".balign 4",
    "    .word 0",
    "minios_pvh_gdtr:",
    "    .word minios_pvh_gdt_end - minios_pvh_gdt - 1",
    "    .quad minios_pvh_gdt",
    ".popsection",
    ".pushsection .text.boot32, \"ax\"",
    ".code32",
    ".global minios_pvh_start32",
    "minios_pvh_start32:",
    "    cld",
    "    rdtsc",
    "    mov %eax, %ebp", // entry TSC, low
    "    mov %edx, %esi", // entry TSC, high; ebx = start info throughout
    "    mov $__bss_start, %edi",
    "    mov $__bss_end, %ecx",
    "    sub %edi, %ecx",
    "    xor %eax, %eax",
    "    rep stosb",
    // pml4[0] -> pdpt; pdpt[0..4] -> the four PDs
    "    mov $minios_pvh_pdpt + 3, %eax",
    "    mov %eax, minios_pvh_pml4",
    "    mov $minios_pvh_pd + 3, %eax",
    "    mov $minios_pvh_pdpt, %edi",
    "    mov $4, %ecx",
    "1:  mov %eax, (%edi)",
    "    add $4096, %eax",
    "    add $8, %edi",
    "    loop 1b",
    // pd[j] = 2 MiB page j (present, writable, PS) for the first 4 GiB
    "    mov $0x83, %eax",
    "    mov $minios_pvh_pd, %edi",
    "    mov $2048, %ecx",
    "2:  mov %eax, (%edi)",
    "    add $0x200000, %eax",
    "    add $8, %edi",
    "    loop 2b",
    // the first 2 MiB in 4 KiB pages, page 0 not present
    "    mov $minios_pvh_pt + 3, %eax",
    "    mov %eax, minios_pvh_pd",
    "    mov $0x1003, %eax",
    "    mov $minios_pvh_pt + 8, %edi",
    "    mov $511, %ecx",
    "3:  mov %eax, (%edi)",
    "    add $4096, %eax",
    "    add $8, %edi",
    "    loop 3b",
    "    lgdt minios_pvh_gdtr",
    "    mov %cr4, %eax",
    "    or $0x620, %eax", // PAE | OSFXSR | OSXMMEXCPT
    "    mov %eax, %cr4",
    "    mov $minios_pvh_pml4, %eax",
    "    mov %eax, %cr3",
    "    mov $0xc0000080, %ecx", // EFER
    "    rdmsr",
    "    or $0x100, %eax", // LME
    "    wrmsr",
    "    mov %cr0, %eax",
    "    or $0x80010001, %eax", // PG | WP | PE
    "    mov %eax, %cr0",
    "    ljmp $0x08, $minios_pvh_start64",
    ".code64",
    "minios_pvh_start64:",
    "    mov $0x10, %eax",
    "    mov %eax, %ds",
    "    mov %eax, %es",
    "    mov %eax, %ss",
    "    xor %eax, %eax",
    "    mov %eax, %fs",
    "    mov %eax, %gs",
    "    lea minios_boot_stack_top(%rip), %rsp",
    "    mov %esi, %esi",
    "    shl $32, %rsi",
    "    mov %ebp, %eax",
    "    or %rax, %rsi",
    "    mov %ebx, %edi",
    "    xor %ebp, %ebp",
    "    call {pvh_start}",
    "    ud2",
    ".popsection",
    pvh_start = sym pvh_start,
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

/// Writes bytes to Xen's debug port 0xE9 (shown in `xl dmesg` as `(dN) ...` when Xen runs
/// with `guest_loglvl=all`): the only output a PVH guest has before its console ring.
pub fn debugcon_write(bytes: &[u8]) {
    for &b in bytes {
        // SAFETY: port 0xE9 is Xen's HVM debug console; writing it has no other effect.
        unsafe { asm!("out dx, al", in("dx") 0xe9u16, in("al") b, options(nomem, nostack)) };
    }
}

/// Stops the vCPU for good when there is no working hypercall page yet.
fn halt(msg: &str) -> ! {
    debugcon_write(msg.as_bytes());
    loop {
        // SAFETY: cli; hlt stops this vCPU; nothing else runs.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

fn fatal(msg: &str) -> ! {
    crate::early_print(msg);
    hypercall::sched_shutdown(xen_abi::consts::shutdown::CRASH)
}

fn cpuid(leaf: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid(leaf);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// Finds Xen's CPUID leaves (`XenVMMXenVMM` at 0x40000000 + n * 0x100), and installs the
/// hypercall page by writing its guest-physical address to the MSR that leaf base+2 names.
/// Returns the Xen version CPUID reports.
fn init_hypercall_page() -> Result<(u32, u32), &'static str> {
    let mut base = hvm::XEN_CPUID_FIRST_LEAF;
    let found = loop {
        let (eax, ebx, ecx, edx) = cpuid(base);
        if ebx == hvm::XEN_CPUID_SIGNATURE_EBX
            && ecx == hvm::XEN_CPUID_SIGNATURE_ECX
            && edx == hvm::XEN_CPUID_SIGNATURE_EDX
            && eax.wrapping_sub(base) >= 2
        {
            break base;
        }
        base += 0x100;
        if base > hvm::XEN_CPUID_FIRST_LEAF + 0x1_0000 {
            return Err("Mini-OS-rs: no Xen CPUID leaves: not running on Xen?\n");
        }
    };
    let (version, ..) = cpuid(found + 1);
    if cpuid(found).0 >= found + 3 {
        // Leaf base+3, sub-leaf 0: eax bit 0 = the guest's TSC is emulated (vtsc), ebx =
        // tsc_mode, ecx = guest TSC kHz.
        let r = core::arch::x86_64::__cpuid_count(found + 3, 0);
        time::set_tsc_info(time::TscInfo {
            emulated: r.eax & 1 != 0,
            mode: r.ebx,
            khz: r.ecx,
        });
    }
    let (pages, msr, ..) = cpuid(found + 2);
    if pages == 0 {
        return Err("Mini-OS-rs: Xen offers no hypercall page\n");
    }
    let gpa = hypercall::stub(0);
    // SAFETY: writing Xen's hypercall MSR with the guest-physical address (identity map) of
    // our page-aligned, writable HYPERCALL_PAGE makes Xen fill it with hypercall stubs;
    // nothing else lives in that page.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") gpa as u32, in("edx") (gpa >> 32) as u32,
             options(nomem, nostack));
    }
    Ok((version >> 16, version & 0xffff))
}

fn param(index: u32, what: &'static str) -> u64 {
    match hypercall::hvm_get_param(index) {
        Ok(v) => v,
        Err(_) => fatal(what),
    }
}

/// Rust side of PVH boot, called once by the entry code on the kernel stack, with the
/// identity map on and interrupts off.
extern "C" fn pvh_start(si_pa: u64, entry_tsc: u64) -> ! {
    crate::set_mode(BootMode::Pvh);
    traps::init_idt();
    // SAFETY: Xen passes the guest-physical address of the start-info block in ebx; it lies
    // below 4 GiB (identity-mapped) and is never written again; the magic is checked next.
    let si: &'static HvmStartInfo = unsafe { &*(si_pa as *const HvmStartInfo) };
    if si.magic != XEN_HVM_START_MAGIC_VALUE {
        halt("Mini-OS-rs: PVH entry without a valid hvm_start_info (bad magic)\n");
    }
    if let Err(msg) = init_hypercall_page() {
        halt(msg);
    }

    // The console first, so that everything after it can report failures.
    let console_pfn = param(
        hvm::HVM_PARAM_CONSOLE_PFN,
        "Mini-OS-rs: no HVM_PARAM_CONSOLE_PFN\n",
    );
    let console_port = param(
        hvm::HVM_PARAM_CONSOLE_EVTCHN,
        "Mini-OS-rs: no HVM_PARAM_CONSOLE_EVTCHN\n",
    ) as u32;
    if console_pfn == 0 || console_pfn >= 1 << 20 {
        halt("Mini-OS-rs: the console page is outside the 4 GiB identity map\n");
    }
    // SAFETY: the console ring page is a special page of this domain below 4 GiB (checked),
    // identity-mapped, shared only with xenconsoled; every field of the ring is atomic.
    let console: &'static XenconsInterface =
        unsafe { &*((console_pfn << PAGE_SHIFT) as *const XenconsInterface) };
    crate::set_boot_console(console, console_port);

    let store_pfn = param(
        hvm::HVM_PARAM_STORE_PFN,
        "Mini-OS-rs: no HVM_PARAM_STORE_PFN\n",
    );
    let store_port = param(
        hvm::HVM_PARAM_STORE_EVTCHN,
        "Mini-OS-rs: no HVM_PARAM_STORE_EVTCHN\n",
    ) as u32;
    if store_pfn == 0 || store_pfn >= 1 << 20 {
        fatal("Mini-OS-rs: the xenstore page is outside the 4 GiB identity map\n");
    }
    // SAFETY: as for the console: a special page below 4 GiB, shared only with xenstored,
    // every field atomic.
    let store: &'static XenstoreDomainInterface =
        unsafe { &*((store_pfn << PAGE_SHIFT) as *const XenstoreDomainInterface) };

    // shared_info over our slot page (whose RAM Xen takes back).
    let slot = core::ptr::addr_of!(minios_shared_info_slot) as u64;
    // SAFETY: the slot is a page of our own .bss that nothing else uses.
    if unsafe { hypercall::add_to_physmap(hvm::XENMAPSPACE_SHARED_INFO, 0, slot >> PAGE_SHIFT) }
        .is_err()
    {
        fatal("Mini-OS-rs: XENMEM_add_to_physmap(shared_info) failed\n");
    }
    // SAFETY: the slot's frame is now shared_info (identity map), whose fields Xen changes
    // only atomically (every field of `SharedInfo` is an atomic); it is never unmapped.
    let shared: &'static SharedInfo = unsafe { &*(slot as *const SharedInfo) };
    time::init(shared);

    // Event upcalls on the callback vector (delivered once interrupts are enabled).
    let via = (hvm::HVM_PARAM_CALLBACK_TYPE_VECTOR << 56) | u64::from(traps::CALLBACK_VECTOR);
    // SAFETY: the IDT has an interrupt gate for CALLBACK_VECTOR (init_idt above), and IF is
    // still 0, so nothing is delivered before the kernel enables events.
    if unsafe { hypercall::hvm_set_param(hvm::HVM_PARAM_CALLBACK_IRQ, via) }.is_err() {
        fatal("Mini-OS-rs: HVM_PARAM_CALLBACK_IRQ (vector) refused\n");
    }

    // The memory map and the command line stay where the builder put them (after the
    // image): everything up to the end of the start-info block is kept out of the free pages.
    let memmap: &'static [HvmMemmapTableEntry] = if si.version >= 1 && si.memmap_paddr != 0 {
        // SAFETY: the builder wrote `memmap_entries` entries at `memmap_paddr` (below 4 GiB,
        // identity-mapped); they are never written again and stay out of the free pages.
        unsafe {
            core::slice::from_raw_parts(
                si.memmap_paddr as *const HvmMemmapTableEntry,
                si.memmap_entries as usize,
            )
        }
    } else {
        &[]
    };
    if memmap.is_empty() {
        fatal("Mini-OS-rs: the PVH start info has no memory map (version 0?)\n");
    }
    let cmdline: &'static str = if si.cmdline_paddr != 0 {
        // SAFETY: a NUL-terminated string the builder wrote below 4 GiB; bounded scan.
        let bytes = unsafe {
            let p = si.cmdline_paddr as *const u8;
            let mut n = 0;
            while n < 4096 && *p.add(n) != 0 {
                n += 1;
            }
            core::slice::from_raw_parts(p, n)
        };
        core::str::from_utf8(bytes).unwrap_or("")
    } else {
        ""
    };
    let image = (
        core::ptr::addr_of!(__image_start) as u64,
        core::ptr::addr_of!(__image_end) as u64,
    );
    let mut boot_end = image
        .1
        .max(si_pa + core::mem::size_of::<HvmStartInfo>() as u64);
    boot_end = boot_end.max(si.memmap_paddr + core::mem::size_of_val(memmap) as u64);
    if si.cmdline_paddr != 0 {
        boot_end = boot_end.max(si.cmdline_paddr + cmdline.len() as u64 + 1);
    }
    if si.nr_modules != 0 {
        boot_end = boot_end.max(si.modlist_paddr + u64::from(si.nr_modules) * 32);
    }
    let reserved = (image.0 >> PAGE_SHIFT, boot_end.div_ceil(PAGE_SIZE as u64));
    // Free RAM must lie in the identity map and below the special pages.
    let limit = console_pfn.min(store_pfn).min(1 << 20);
    let (ranges, ram_pages) = hvm::free_ranges(memmap, reserved, limit);
    let free = ranges.map(|(start, end)| {
        // SAFETY: RAM of the memory map inside the identity map, disjoint from the image, the
        // start-info block, page 0 and the special pages; pvh_start runs once, so each page
        // is handed out exactly once.
        unsafe {
            core::slice::from_raw_parts_mut(
                (start << PAGE_SHIFT) as *mut MaybeUninit<Page>,
                (end - start) as usize,
            )
        }
    });
    let (_, mapped) = hvm::free_ranges(memmap, (0, 0), 1 << 20);

    let boot = BootInfo {
        mode: BootMode::Pvh,
        start_info: None,
        hvm_start_info: Some(si),
        memmap,
        shared_info: shared,
        console: (console, console_port),
        store: (store, store_port),
        cmdline,
        free,
        nr_pages: ram_pages,
        mapped_pages: mapped,
        image,
        entry_tsc,
    };
    // SAFETY: the kernel crate defines `minios_kernel_main` with exactly this signature.
    unsafe { minios_kernel_main(boot) }
}
