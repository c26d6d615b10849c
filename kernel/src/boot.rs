//! The guest side of the kernel: boot sequence, heap, page allocator, system information,
//! shutdown and the panic handler.

use core::sync::atomic::{AtomicBool, Ordering};

use arch::{hypercall, BootInfo, BootMode, Page};
use linked_list_allocator::LockedHeap;
use xen_abi::consts::shutdown;
use xen_abi::hvm::{HvmMemmapTableEntry, HvmStartInfo};
use xen_abi::{StartInfo, PAGE_SIZE};

use crate::cmdline::Cmdline;
use crate::mm::{heap_pages, PageAllocator};
use crate::{print, println};

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

static PAGES: spin::Mutex<PageAllocator<Page>> = spin::Mutex::new(PageAllocator::new());
static INFO: spin::Once<SystemInfo> = spin::Once::new();

/// What the kernel knows about the system after boot.
#[derive(Debug)]
pub struct SystemInfo {
    pub mode: BootMode,
    /// Xen's (major, minor) version and its extra version string (e.g. ".7").
    pub xen_version: (u32, u32, heapless::String<16>),
    /// The PV start_info page (`None` on PVH).
    pub start_info: Option<&'static StartInfo>,
    /// The PVH start-info block (`None` on PV).
    pub hvm_start_info: Option<&'static HvmStartInfo>,
    /// The PVH memory map (empty on PV).
    pub memmap: &'static [HvmMemmapTableEntry],
    pub cmdline: &'static str,
    /// Pages the domain owns.
    pub nr_pages: u64,
    /// Pages mapped (PV: from address 0 by the page tables; PVH: RAM in the identity map).
    pub mapped_pages: u64,
    /// The image's extent `[start, end)`.
    pub image: (u64, u64),
    /// Bytes given to the heap.
    pub heap_bytes: usize,
    /// Pages given to the page allocator at boot.
    pub page_pool: usize,
    /// TSC at the first instruction.
    pub entry_tsc: u64,
}

/// System information (after boot).
pub fn system() -> &'static SystemInfo {
    INFO.get()
        .expect("system information is set before the application runs")
}

/// PVH: how Xen presents the TSC (emulated or native); `None` on PV.
pub fn tsc_info() -> Option<arch::time::TscInfo> {
    arch::time::tsc_info()
}

/// The cost of the two operations a guest's boot is made of, in this mode on this host:
/// (one `xen_version` hypercall, one `rdtsc`) in nanoseconds, each the mean of 200 in a row
/// timed by the pvclock.
pub fn op_costs_ns() -> (u64, u64) {
    const N: u64 = 200;
    let t0 = arch::time::now_ns();
    for _ in 0..N {
        core::hint::black_box(hypercall::xen_version());
    }
    let t1 = arch::time::now_ns();
    for _ in 0..N {
        core::hint::black_box(arch::time::rdtsc());
    }
    let t2 = arch::time::now_ns();
    ((t1 - t0) / N, (t2 - t1) / N)
}

/// Microseconds from the first instruction of the kernel until now, by the pvclock's rate.
pub fn uptime_since_entry_us() -> u64 {
    arch::time::tsc_delta_ns(system().entry_tsc, arch::time::rdtsc()) / 1000
}

/// Announces that the appliance is ready: prints the machine-readable
/// `MINIOS-READY boot_us=<n>` line that tools wait for, and returns `boot_us`.
pub fn ready() -> u64 {
    let us = uptime_since_entry_us();
    println!("MINIOS-READY boot_us={us}");
    us
}

/// A zeroed page from the page allocator, or `None` when the pool is exhausted.
pub fn alloc_page() -> Option<&'static mut Page> {
    let p = PAGES.lock().alloc()?;
    Some(p.write(Page([0; PAGE_SIZE])))
}

/// Gives a page back to the page allocator.
pub fn free_page(page: &'static mut Page) {
    PAGES.lock().free(arch::page_into_uninit(page));
}

/// Pages left in the page allocator.
pub fn free_pages() -> usize {
    PAGES.lock().free_pages()
}

/// Test hook (PVH): makes the vCPU triple-fault (an IDT of limit 0, then `ud2`), which Xen
/// reports and turns into a reboot of the domain; for the test runner's test of itself.
/// Returns false in PV mode, where there is no IDT to break.
pub fn triple_fault_for_test() -> bool {
    print::flush();
    arch::traps::triple_fault_for_test()
}

/// Flushes the console and powers the domain off.
pub fn poweroff() -> ! {
    let (deferred, rip) = arch::traps::deferred_upcalls();
    if deferred > 0 {
        println!(
            "events: {deferred} upcall(s) arrived while events were blocked (last at rip \
             {rip:#x}): deferred until events were enabled"
        );
    }
    print::flush();
    hypercall::sched_shutdown(shutdown::POWEROFF)
}

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if !PANICKING.swap(true, Ordering::AcqRel) {
        print::emergency(format_args!("\nMINIOS-PANIC {info}\n"));
    }
    hypercall::sched_shutdown(shutdown::CRASH)
}

extern "Rust" {
    /// Defined by the application with `minios::main!`.
    fn minios_app_main();
}

/// Called once by the arch entry code.
#[allow(unsafe_code)] // `no_mangle`: the arch crate calls this symbol; it is defined once, here.
#[no_mangle]
pub fn minios_kernel_main(boot: BootInfo) -> ! {
    print::init(boot.console.0, boot.console.1);
    let (major, minor) = hypercall::xen_version();
    let extra = hypercall::xen_extraversion();
    let mut extra_s = heapless::String::<16>::new();
    let _ = extra_s.push_str(xen_abi::c_str(&extra));
    println!(
        "Mini-OS-rs {} ({} guest) on Xen {major}.{minor}{extra_s}",
        env!("CARGO_PKG_VERSION"),
        boot.mode
    );

    let cmdline = Cmdline::new(boot.cmdline);
    let heap_kb = match cmdline.get_u64("heap_kb") {
        Ok(v) => v,
        Err(e) => {
            println!("warning: {e}; using the default heap size");
            None
        }
    };

    // The larger free region feeds the heap first; the rest goes to the page allocator.
    let [low, high] = boot.free;
    let (big, small) = if high.len() >= low.len() {
        (high, low)
    } else {
        (low, high)
    };
    let total = (big.len() + small.len()) as u64;
    let want = heap_pages(total, PAGE_SIZE as u64, heap_kb).min(big.len() as u64) as usize;
    let (heap, rest) = big.split_at_mut(want);
    let heap_bytes = heap.len() * PAGE_SIZE;
    HEAP.lock().init_from_slice(arch::pages_as_bytes(heap));
    let page_pool = {
        let mut pages = PAGES.lock();
        pages.add(rest);
        pages.add(small);
        pages.free_pages()
    };
    println!(
        "memory: {} pages ({} KiB), {} mapped; image {:#x}-{:#x}; heap {} KiB; page pool {} pages",
        boot.nr_pages,
        boot.nr_pages * 4,
        boot.mapped_pages,
        boot.image.0,
        boot.image.1,
        heap_bytes / 1024,
        page_pool
    );

    INFO.call_once(|| SystemInfo {
        mode: boot.mode,
        xen_version: (major, minor, extra_s),
        start_info: boot.start_info,
        hvm_start_info: boot.hvm_start_info,
        memmap: boot.memmap,
        cmdline: boot.cmdline,
        nr_pages: boot.nr_pages,
        mapped_pages: boot.mapped_pages,
        image: boot.image,
        heap_bytes,
        page_pool,
        entry_tsc: boot.entry_tsc,
    });

    let choice = match cmdline
        .get("evtchn")
        .map(str::parse::<crate::events::AbiChoice>)
    {
        None => crate::events::AbiChoice::Auto,
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            println!("warning: {e}; using auto");
            crate::events::AbiChoice::Auto
        }
    };
    crate::events::init(boot.shared_info, choice);
    let gnttab_frames = match cmdline.get_u64("gnttab_frames") {
        Ok(v) => v.unwrap_or(1).clamp(1, arch::gnttab::MAX_FRAMES as u64) as usize,
        Err(e) => {
            println!("warning: {e}; using 1 grant-table frame");
            1
        }
    };
    crate::gnttab::init(gnttab_frames);
    crate::xenstore::init(boot.store.0, boot.store.1);

    #[allow(unsafe_code)]
    // SAFETY: `minios::main!` defines `minios_app_main` as a Rust-ABI `fn()` in the image;
    // it is called once, here.
    unsafe {
        minios_app_main()
    };
    poweroff()
}
