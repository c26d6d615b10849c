//! Grant tables for the kernel and front ends: the global [`GrantTable`] over the frames Xen
//! set up for us. Taken with event upcalls blocked, like the event-channel table, so that a
//! front end's event handler may grant and end grants too.

use alloc::vec::Vec;

use arch::{events as ev, Page};
use gnttab::GrantTable;
pub use gnttab::{GntError, GrantRef, Granted};

use crate::println;

static TABLE: spin::Mutex<Option<GrantTable>> = spin::Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut GrantTable) -> R) -> R {
    ev::without_events(|| {
        let mut g = TABLE.lock();
        f(g.as_mut().expect("the grant table is set up at boot"))
    })
}

/// Sets up `frames` grant-table frames (512 entries each, the first 8 reserved).
pub(crate) fn init(frames: usize) {
    let (mfns, n) = match arch::gnttab::setup_table(frames) {
        Ok(x) => x,
        Err(e) => panic!("cannot set up the grant table: {e}"),
    };
    let mut mapped = Vec::with_capacity(n);
    for (i, &mfn) in mfns[..n].iter().enumerate() {
        let page = crate::boot::alloc_page().expect("a page for a grant-table frame");
        match arch::gnttab::map_frame(page, i, mfn) {
            Ok(f) => mapped.push(f),
            Err(e) => panic!("cannot map grant-table frame {mfn:#x}: {e}"),
        }
    }
    let table = GrantTable::new(mapped);
    println!(
        "grant table: {n} frame(s), {} references free",
        table.free_refs()
    );
    *TABLE.lock() = Some(table);
}

/// The frame number Xen and backends know a page by (PV: its MFN; PVH: its GFN).
pub fn frame_of(page: &Page) -> u64 {
    arch::mm::pfn_to_frame(arch::virt_to_pfn(page)).expect("a page of ours has a frame number")
}

/// Grants `domid` access to `page`; the page comes back only through [`revoke`].
pub fn grant_page(
    page: &'static mut Page,
    domid: u16,
    readonly: bool,
) -> Result<Granted<&'static mut Page>, (&'static mut Page, GntError)> {
    let frame = frame_of(page);
    with(|t| t.grant_page(page, frame, domid, readonly))
}

/// Ends a page's grant and returns the page, unless the grantee still has it mapped.
pub fn revoke(
    g: Granted<&'static mut Page>,
) -> Result<&'static mut Page, (Granted<&'static mut Page>, GntError)> {
    with(|t| g.revoke(t))
}

/// Grants `domid` access to frame `frame` by reference alone (no ownership tracking).
pub fn grant_access(domid: u16, frame: u64, readonly: bool) -> Result<GrantRef, GntError> {
    with(|t| t.grant_access(domid, frame, readonly))
}

/// Ends a grant made with [`grant_access`].
pub fn end_access(r: GrantRef) -> Result<(), GntError> {
    with(|t| t.end_access(r))
}

/// References still free.
pub fn free_refs() -> usize {
    with(|t| t.free_refs())
}

/// The flags Xen and we keep in `r`'s shared entry (for diagnostics and tests).
pub fn entry_flags(r: GrantRef) -> Option<u16> {
    with(|t| {
        t.shared_entry(r)
            .map(|e| e.flags.load(core::sync::atomic::Ordering::Acquire))
    })
}
