//! x86_64 support for Mini-OS in Rust: the one crate where unsafe code lives.
//!
//! It owns the PV entry point and ELF notes ([`pv`]), the hypercall page and hypercall
//! wrappers ([`hypercall`]), the trap table and event/failsafe callback entry stubs
//! ([`traps`]), the bootstrap page tables and free memory ([`mm`]), and the pvclock
//! ([`time`]). Everything it hands out is safe to use: `&'static` views of shared pages typed
//! with atomics, page slices owned exactly once, and [`Xen`], which implements the `xen-hal`
//! traits that the protocol crates are written against.
//!
//! Boot contract: the entry code builds a [`BootInfo`] and calls the kernel's
//! `minios_kernel_main(BootInfo) -> !`, which the `minios` crate defines. One image has both
//! entries: the PV entry ([`pv`], 64-bit, `rsi` = start_info) and the PVH entry ([`pvh`],
//! 32-bit protected mode, `ebx` = hvm_start_info). Both produce the same `BootInfo`; what
//! differs after entry (event masking, frame numbers, grant-frame mapping, blocking, the fault
//! address) is chosen at run time from [`mode`], behind the same functions.
#![no_std]

pub mod events;
mod evtchn_ops;
pub mod gnttab;
pub mod hypercall;
pub mod mm;
pub mod pv;
pub mod pvh;
pub mod time;
pub mod traps;

use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU8, Ordering};

use xen_abi::hvm::{HvmMemmapTableEntry, HvmStartInfo};
use xen_abi::{SharedInfo, StartInfo, XenconsInterface, XenstoreDomainInterface};
pub use xen_hal::{Port, XenError};

static BOOT_CONSOLE: AtomicPtr<XenconsInterface> = AtomicPtr::new(core::ptr::null_mut());
static BOOT_CONSOLE_PORT: AtomicU32 = AtomicU32::new(0);

/// The console ring as found by the first instructions of boot (before the kernel runs), so
/// that early failures and panics are visible on the real console.
pub fn boot_console() -> Option<(&'static XenconsInterface, Port)> {
    let p = BOOT_CONSOLE.load(Ordering::Acquire);
    // SAFETY: the only non-null value ever stored comes from a `&'static XenconsInterface`.
    let ring = unsafe { p.as_ref() }?;
    Some((ring, BOOT_CONSOLE_PORT.load(Ordering::Acquire)))
}

fn set_boot_console(ring: &'static XenconsInterface, port: Port) {
    BOOT_CONSOLE_PORT.store(port, Ordering::Release);
    BOOT_CONSOLE.store(ring as *const _ as *mut _, Ordering::Release);
}

/// Writes a message on the boot console (or, if there is none yet, through `console_io` on
/// PV and the 0xE9 debug port on PVH).
pub fn early_print(msg: &str) {
    match boot_console() {
        Some((ring, port)) => {
            let mut c = console::Console::new(ring, port, Xen);
            let _ = c.write_text(msg);
            let _ = c.flush();
        }
        None if mode() == BootMode::Pvh => pvh::debugcon_write(msg.as_bytes()),
        None => {
            let _ = hypercall::console_io_write(msg.as_bytes());
        }
    }
}

/// Formats a message onto the boot console (see [`early_print`]).
pub fn early_fmt(args: core::fmt::Arguments<'_>) {
    use core::fmt::Write;
    if let Some((ring, port)) = boot_console() {
        let mut c = console::Console::new(ring, port, Xen);
        let _ = c.write_fmt(args);
        let _ = c.flush();
    }
}

/// One 4 KiB page.
#[repr(C, align(4096))]
pub struct Page(pub [u8; 4096]);

impl core::fmt::Debug for Page {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Page@{:p}", self)
    }
}

/// How the guest was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMode {
    /// x86_64 paravirtualised guest (`type = "pv"`).
    Pv,
    /// PVH guest (`type = "pvh"`): an HVM container entered in 32-bit protected mode, with
    /// its own page tables, an IDT and the event callback vector; pfn == gfn.
    Pvh,
}

impl core::fmt::Display for BootMode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            BootMode::Pv => "PV",
            BootMode::Pvh => "PVH",
        })
    }
}

/// 0 = PV (the default until an entry says otherwise), 1 = PVH.
static MODE: AtomicU8 = AtomicU8::new(0);

/// How this guest was started (set once by the entry code, before anything else runs).
pub fn mode() -> BootMode {
    if MODE.load(Ordering::Relaxed) == 1 {
        BootMode::Pvh
    } else {
        BootMode::Pv
    }
}

fn set_mode(m: BootMode) {
    MODE.store(
        match m {
            BootMode::Pv => 0,
            BootMode::Pvh => 1,
        },
        Ordering::Relaxed,
    );
}

/// What the entry code found, handed to the kernel once.
#[derive(Debug)]
pub struct BootInfo {
    pub mode: BootMode,
    /// The PV start_info page (copied by the builder; never changes). `None` on PVH.
    pub start_info: Option<&'static StartInfo>,
    /// The PVH start-info block (never changes). `None` on PV.
    pub hvm_start_info: Option<&'static HvmStartInfo>,
    /// The PVH memory map from the start info (empty on PV).
    pub memmap: &'static [HvmMemmapTableEntry],
    /// The shared_info page, mapped.
    pub shared_info: &'static SharedInfo,
    /// The console ring and its event channel.
    pub console: (&'static XenconsInterface, Port),
    /// The xenstore ring page and its event channel.
    pub store: (&'static XenstoreDomainInterface, Port),
    /// The guest command line.
    pub cmdline: &'static str,
    /// Free pages, mapped and owned by the kernel from now on.
    pub free: [&'static mut [MaybeUninit<Page>]; 2],
    /// Pages the domain owns in all (PV: `nr_pages`; PVH: the RAM pages of the memory map).
    pub nr_pages: u64,
    /// Pages mapped (PV: by the bootstrap page tables and `mm::extend`, from address 0;
    /// PVH: RAM pages inside the 4 GiB identity map).
    pub mapped_pages: u64,
    /// Extent of the loaded image: `[start, end)` virtual addresses.
    pub image: (u64, u64),
    /// TSC read by the first instructions at entry.
    pub entry_tsc: u64,
}

/// Reinterprets owned, uninitialised pages as owned, uninitialised bytes (e.g. for the heap).
pub fn pages_as_bytes(pages: &'static mut [MaybeUninit<Page>]) -> &'static mut [MaybeUninit<u8>] {
    let len = core::mem::size_of_val(pages);
    // SAFETY: `MaybeUninit<Page>` is `len` bytes of storage with no validity invariant, and
    // `MaybeUninit<u8>` has none either and a weaker alignment; the exclusive borrow moves into
    // the result, so the memory is still owned exactly once.
    unsafe { core::slice::from_raw_parts_mut(pages.as_mut_ptr().cast::<MaybeUninit<u8>>(), len) }
}

/// The hypervisor as seen through the `xen-hal` traits.
#[derive(Debug, Clone, Copy, Default)]
pub struct Xen;

impl xen_hal::EventChannelOps for Xen {
    fn send(&self, port: Port) -> Result<(), XenError> {
        hypercall::evtchn_send(port)
    }
}

impl xen_hal::SchedOps for Xen {
    fn yield_now(&self) {
        hypercall::sched_yield();
    }
}

impl xen_hal::ConsoleIo for Xen {
    fn console_write(&self, bytes: &[u8]) -> Result<(), XenError> {
        hypercall::console_io_write(bytes)
    }
}

/// Gives up a page's contents, keeping its storage: the way a page returns to the allocator.
pub fn page_into_uninit(page: &'static mut Page) -> &'static mut MaybeUninit<Page> {
    // SAFETY: `MaybeUninit<Page>` has the layout of `Page`; the exclusive `'static` borrow moves
    // into the result, so no one can ever read the storage as an initialised `Page` again.
    unsafe { &mut *(page as *mut Page).cast::<MaybeUninit<Page>>() }
}

/// A page viewed as 1024 atomic words, for memory shared with Xen (FIFO event arrays and
/// control blocks, 3-level bitmaps). The page is given up for good.
pub fn page_into_words(page: &'static mut Page) -> &'static [AtomicU32; 1024] {
    // SAFETY: `[AtomicU32; 1024]` has the size of `Page` and a weaker alignment, any bit
    // pattern is a valid `AtomicU32`, and the exclusive `'static` borrow moves into the result.
    unsafe { &*(page as *mut Page).cast::<[AtomicU32; 1024]>() }
}

/// The pseudo-physical frame number of a page (PV: virtual address == pseudo-physical; PVH:
/// identity map, virtual == guest-physical).
pub fn virt_to_pfn<T>(p: &T) -> u64 {
    (p as *const T as u64) >> xen_abi::PAGE_SHIFT
}
