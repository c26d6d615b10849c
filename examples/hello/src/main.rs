//! Console hello: the smallest appliance. Prints a banner, the Xen version, what start_info
//! says, its own boot time, the `MINIOS-READY` marker, then powers off.
#![no_std]
#![no_main]

use minios::println;

fn main() {
    let sys = minios::system();
    let si = sys.start_info;
    let (major, minor, extra) = &sys.xen_version;
    println!("Hello from Mini-OS in Rust!");
    println!("  Xen version   : {major}.{minor}{extra}");
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
    println!("  command line  : {:?}", sys.cmdline);
    println!(
        "  memory        : heap {} KiB, page pool {} pages",
        sys.heap_bytes / 1024,
        sys.page_pool
    );
    let boot_us = minios::ready();
    println!("booted in {boot_us} us; powering off");
}

minios::main!(main);
