//! Console hello: the smallest appliance. Prints a banner, the Xen version, what the start
//! info says (PV start_info or PVH hvm_start_info), its own boot time, the `MINIOS-READY`
//! marker, then powers off.
#![no_std]
#![no_main]

use minios::println;

fn main() {
    let sys = minios::system();
    let (major, minor, extra) = &sys.xen_version;
    println!("Hello from Mini-OS in Rust!");
    println!("  Xen version   : {major}.{minor}{extra}");
    println!("  boot mode     : {}", sys.mode);
    if let Some(si) = sys.start_info {
        println!("  guest type    : {}", si.magic_str());
        println!(
            "  start_info    : nr_pages={} ({} KiB) flags={:#x}{}",
            si.nr_pages,
            si.nr_pages * 4,
            si.flags,
            if si.flags().is_empty() {
                " (unprivileged domU)"
            } else {
                ""
            }
        );
        println!(
            "  rings         : xenstore mfn={:#x} port={}, console mfn={:#x} port={}",
            si.store_mfn, si.store_evtchn, si.console.mfn, si.console.evtchn
        );
        println!(
            "  page tables   : pt_base={:#x} nr_pt_frames={} mapped={} pages",
            si.pt_base, si.nr_pt_frames, sys.mapped_pages
        );
    }
    if let Some(hsi) = sys.hvm_start_info {
        println!(
            "  hvm_start_info: version {} flags={:#x} modules={} rsdp={:#x}",
            hsi.version, hsi.flags, hsi.nr_modules, hsi.rsdp_paddr
        );
        println!(
            "  memory map    : {} entries, {} RAM pages ({} KiB), mapped={} pages",
            sys.memmap.len(),
            sys.nr_pages,
            sys.nr_pages * 4,
            sys.mapped_pages
        );
        if let Some(t) = minios::tsc_info() {
            println!(
                "  TSC           : {} by Xen (tsc_mode {}, {} kHz)",
                if t.emulated { "emulated" } else { "native" },
                t.mode,
                t.khz
            );
        }
        for m in sys.memmap {
            println!(
                "    {:#012x}-{:#012x} type {}",
                m.addr,
                m.addr + m.size,
                m.ty
            );
        }
    }
    println!("  command line  : {:?}", sys.cmdline);
    println!(
        "  memory        : heap {} KiB, page pool {} pages",
        sys.heap_bytes / 1024,
        sys.page_pool
    );
    let boot_us = minios::ready();
    let (hypercall_ns, rdtsc_ns) = minios::op_costs_ns();
    println!("  costs         : hypercall {hypercall_ns} ns, rdtsc {rdtsc_ns} ns (mean of 200)");
    println!("booted in {boot_us} us; powering off");
}

minios::main!(main);
