//! The PV bootstrap memory layout: the machine-to-physical table, a walk of the page tables
//! the domain builder made, and the free pages inside that mapping.
//!
//! The builder maps pseudo-physical pages 1:1 from virtual address 0 (VIRT_BASE 0) up to a
//! 4 MiB boundary with at least 512 KiB of slack, in this order: the image (at 1 MiB here),
//! the p2m list, start_info, the xenstore and console rings, the page tables (read-only), the
//! boot stack. We walk the tables from `pt_base` to learn exactly which pages are mapped and
//! check each against the p2m list, then give the kernel everything mapped that is not in use:
//! the pages between 4 KiB and the image, and the pages after the page tables.
//! Pages beyond the bootstrap mapping (a domain larger than ~4 MiB) are not mapped yet.

use core::ptr::read_volatile;
use core::sync::atomic::{AtomicU64, Ordering};

use xen_abi::consts::{MACH2PHYS_VIRT_END, MACH2PHYS_VIRT_START};
use xen_abi::{PteFlags, StartInfo, PAGE_SHIFT, PAGE_SIZE};

const ENTRIES: u64 = 512;

/// What the bootstrap mapping holds.
#[derive(Debug, Clone, Copy)]
pub struct BootstrapLayout {
    /// Pages mapped 1:1 from pfn 0 (the first unmapped pfn).
    pub mapped_pages: u64,
    pub console_pfn: u64,
    pub store_pfn: u64,
    /// Free pfn ranges `[start, end)`: below the image, and after the page tables.
    pub free_regions: [(u64, u64); 2],
}

/// Machine frame to pseudo-physical frame, through Xen's read-only M2P table.
pub fn mfn_to_pfn(mfn: u64) -> Option<u64> {
    if mfn >= (MACH2PHYS_VIRT_END - MACH2PHYS_VIRT_START) / 8 {
        return None;
    }
    // SAFETY: Xen maps the M2P read-only at MACH2PHYS_VIRT_START in every 64-bit PV guest,
    // with entries for every machine frame of RAM; callers pass MFNs Xen gave us (start_info,
    // page-table entries), which are RAM. The index is bounds-checked above.
    Some(unsafe { read_volatile((MACH2PHYS_VIRT_START + mfn * 8) as *const u64) })
}

fn page_end(addr: u64) -> u64 {
    addr.div_ceil(PAGE_SIZE as u64)
}

/// Reads entry `i` of the page-table frame at `pfn`, which must be one of the builder's
/// page-table frames (mapped read-only at `pfn << 12`).
fn pt_entry(pfn: u64, i: u64, pt: (u64, u64)) -> Result<u64, &'static str> {
    if pfn < pt.0 || pfn >= pt.1 || i >= ENTRIES {
        return Err("Mini-OS-rs: page-table frame outside the bootstrap page tables\n");
    }
    // SAFETY: the frame lies inside [pt_base, pt_base + nr_pt_frames), which the builder
    // maps (read-only) 1:1; index < 512 keeps the read inside the page.
    Ok(unsafe { read_volatile(((pfn << PAGE_SHIFT) as *const u64).add(i as usize)) })
}

fn next_table(entry: u64, pt: (u64, u64)) -> Result<Option<u64>, &'static str> {
    if entry & PteFlags::PRESENT.bits() == 0 {
        return Ok(None);
    }
    if entry & PteFlags::PSE.bits() != 0 {
        return Err("Mini-OS-rs: unexpected superpage in the bootstrap page tables\n");
    }
    let mfn = (entry & PteFlags::ADDR_MASK) >> PAGE_SHIFT;
    match mfn_to_pfn(mfn) {
        Some(pfn) if pfn >= pt.0 && pfn < pt.1 => Ok(Some(pfn)),
        _ => Err("Mini-OS-rs: page-table entry points outside the bootstrap page tables\n"),
    }
}

impl BootstrapLayout {
    /// Walks the bootstrap page tables and places everything start_info describes.
    pub fn discover(si: &StartInfo, image: (u64, u64)) -> Result<Self, &'static str> {
        let nr_pages = si.nr_pages;
        let pt = (
            si.pt_base >> PAGE_SHIFT,
            (si.pt_base >> PAGE_SHIFT) + si.nr_pt_frames,
        );
        let p2m_len = nr_pages.min(1 << 40);
        let p2m = |pfn: u64| -> u64 {
            // SAFETY: the p2m list (`u64[nr_pages]`) lies inside the bootstrap mapping at
            // `mfn_list`; callers pass pfn < nr_pages.
            unsafe { read_volatile((si.mfn_list as *const u64).add(pfn as usize)) }
        };

        // Count the pages mapped 1:1 from pfn 0, stopping at the first hole or mismatch.
        let mut mapped = 0u64;
        'walk: {
            let l4 = pt.0;
            let Some(l3) = next_table(pt_entry(l4, 0, pt)?, pt)? else {
                break 'walk;
            };
            for i3 in 0..ENTRIES {
                let Some(l2) = next_table(pt_entry(l3, i3, pt)?, pt)? else {
                    break 'walk;
                };
                for i2 in 0..ENTRIES {
                    let Some(l1) = next_table(pt_entry(l2, i2, pt)?, pt)? else {
                        break 'walk;
                    };
                    for i1 in 0..ENTRIES {
                        let pfn = (i3 * ENTRIES + i2) * ENTRIES + i1;
                        let e = pt_entry(l1, i1, pt)?;
                        if pfn >= p2m_len
                            || e & PteFlags::PRESENT.bits() == 0
                            || (e & PteFlags::ADDR_MASK) >> PAGE_SHIFT != p2m(pfn)
                        {
                            break 'walk;
                        }
                        mapped = pfn + 1;
                    }
                }
            }
        }

        let pfn_of = |mfn: u64| -> Result<u64, &'static str> {
            match mfn_to_pfn(mfn) {
                Some(pfn) if pfn < mapped => Ok(pfn),
                other => {
                    crate::early_fmt(format_args!(
                        "bootstrap map: {mapped} pages mapped from pfn 0 (nr_pages {nr_pages}, \
                         pt pfns {:#x}..{:#x}); mfn {mfn:#x} is pfn {other:x?}\n",
                        pt.0, pt.1
                    ));
                    Err("Mini-OS-rs: a ring page from start_info is not in the bootstrap map\n")
                }
            }
        };
        let console_pfn = pfn_of(si.console.mfn)?;
        let store_pfn = pfn_of(si.store_mfn)?;
        let si_pfn = (si as *const StartInfo as u64) >> PAGE_SHIFT;

        // Everything in use, as pfn ranges.
        let used = [
            (image.0 >> PAGE_SHIFT, page_end(image.1)),
            (
                si.mfn_list >> PAGE_SHIFT,
                page_end(si.mfn_list + nr_pages * 8),
            ),
            (si_pfn, si_pfn + 1),
            (console_pfn, console_pfn + 1),
            (store_pfn, store_pfn + 1),
            pt,
        ];
        let low_end = used.iter().map(|r| r.0).min().unwrap_or(0).min(mapped);
        let high_start = used.iter().map(|r| r.1).max().unwrap_or(0);
        if high_start > mapped {
            return Err("Mini-OS-rs: the bootstrap mapping does not cover the boot structures\n");
        }
        Ok(Self {
            mapped_pages: mapped,
            console_pfn,
            store_pfn,
            free_regions: [(1.min(low_end), low_end), (high_start, mapped)],
        })
    }
}

static P2M: AtomicU64 = AtomicU64::new(0);
static P2M_LEN: AtomicU64 = AtomicU64::new(0);

/// Records the p2m list (pfn -> mfn) from start_info, once at boot.
pub(crate) fn set_p2m(mfn_list: u64, nr_pages: u64) {
    P2M_LEN.store(nr_pages, Ordering::Release);
    P2M.store(mfn_list, Ordering::Release);
}

/// Pseudo-physical frame to machine frame (what a PV guest gives Xen as a "gfn").
pub fn pfn_to_mfn(pfn: u64) -> Option<u64> {
    let base = P2M.load(Ordering::Acquire);
    if base == 0 || pfn >= P2M_LEN.load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: the p2m list (`u64[nr_pages]`) is mapped at `mfn_list` for the life of the
    // domain (it lies below the free regions, which never include it); pfn < nr_pages.
    Some(unsafe { read_volatile((base as *const u64).add(pfn as usize)) })
}
