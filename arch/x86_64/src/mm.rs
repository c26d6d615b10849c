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

use xen_abi::consts::{mmu, uvmf, MACH2PHYS_VIRT_END, MACH2PHYS_VIRT_START};
use xen_abi::{MmuUpdate, PteFlags, StartInfo, PAGE_SHIFT, PAGE_SIZE};

use crate::hypercall;

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
    /// The builder's page-table frames `[start, end)` (pfns).
    pt: (u64, u64),
    /// The L2 table of the first GiB (a bootstrap page-table frame), if the walk found it.
    first_l2: Option<u64>,
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
        let mut first_l2 = None;
        'walk: {
            let l4 = pt.0;
            let Some(l3) = next_table(pt_entry(l4, 0, pt)?, pt)? else {
                break 'walk;
            };
            for i3 in 0..ENTRIES {
                let Some(l2) = next_table(pt_entry(l3, i3, pt)?, pt)? else {
                    break 'walk;
                };
                if i3 == 0 {
                    first_l2 = Some(l2);
                }
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
            pt,
            first_l2,
        })
    }

    /// Maps the domain's pages beyond the bootstrap mapping (the builder maps only about the
    /// first 4 MiB), up to `nr_pages` or 1 GiB, the way Mini-OS does: each new L1 table is a
    /// free page, filled while it is still writable, then mapped read-only and linked into the
    /// first-GiB L2 table with `mmu_update` (Xen validates it then). The new pages extend the
    /// high free region; the L1 pages come off its start. Returns the pages added.
    pub fn extend(&mut self, nr_pages: u64) -> Result<u64, &'static str> {
        let Some(l2_pfn) = self.first_l2 else {
            return Ok(0);
        };
        let limit = nr_pages.min(ENTRIES * ENTRIES);
        let l2_mfn = pfn_to_mfn(l2_pfn).ok_or("Mini-OS-rs: no MFN for the L2 table\n")?;
        let before = self.mapped_pages;
        let leaf = (PteFlags::PRESENT
            | PteFlags::RW
            | PteFlags::USER
            | PteFlags::ACCESSED
            | PteFlags::DIRTY)
            .bits();
        while self.mapped_pages < limit && self.mapped_pages.is_multiple_of(ENTRIES) {
            let base = self.mapped_pages;
            let i2 = base / ENTRIES;
            if pt_entry(l2_pfn, i2, self.pt)? & PteFlags::PRESENT.bits() != 0 {
                break; // mapped by someone else: leave it alone
            }
            let (start, end) = self.free_regions[1];
            if start >= end {
                return Err("Mini-OS-rs: no free page for a page table\n");
            }
            let l1_pfn = start;
            let l1_mfn = pfn_to_mfn(l1_pfn).ok_or("Mini-OS-rs: no MFN for a page table\n")?;
            let table = (l1_pfn << PAGE_SHIFT) as *mut u64;
            for j in 0..ENTRIES {
                let pfn = base + j;
                let pte = match pfn_to_mfn(pfn) {
                    Some(mfn) if pfn < limit => (mfn << PAGE_SHIFT) | leaf,
                    _ => 0,
                };
                // SAFETY: `l1_pfn` is the first page of the free region, mapped read-write by
                // the bootstrap map and not handed to anyone (the kernel gets the free
                // regions after this); j < 512 stays inside the page.
                unsafe { core::ptr::write_volatile(table.add(j as usize), pte) };
            }
            self.free_regions[1].0 += 1;
            let ro = (l1_mfn << PAGE_SHIFT) | (leaf & !PteFlags::RW.bits());
            // SAFETY: the page is ours and becomes a page table: Xen requires it to have no
            // writable mapping, and nothing else uses this address.
            unsafe { hypercall::update_va_mapping(l1_pfn << PAGE_SHIFT, ro, uvmf::INVLPG) }
                .map_err(|_| "Mini-OS-rs: making a new L1 table read-only failed\n")?;
            let req = MmuUpdate {
                ptr: ((l2_mfn << PAGE_SHIFT) + i2 * 8) | mmu::NORMAL_PT_UPDATE,
                val: (l1_mfn << PAGE_SHIFT) | leaf,
            };
            // SAFETY: the entry was empty (checked above), so no existing mapping changes; the
            // new L1 maps only pages of this domain beyond everything mapped so far.
            unsafe { hypercall::mmu_update(&[req]) }
                .map_err(|_| "Mini-OS-rs: linking a new L1 table failed\n")?;
            self.mapped_pages = (base + ENTRIES).min(limit);
        }
        self.free_regions[1].1 = self.mapped_pages;
        Ok(self.mapped_pages - before)
    }
}

static P2M: AtomicU64 = AtomicU64::new(0);
static P2M_LEN: AtomicU64 = AtomicU64::new(0);

/// Records the p2m list (pfn -> mfn) from start_info, once at boot.
pub(crate) fn set_p2m(mfn_list: u64, nr_pages: u64) {
    P2M_LEN.store(nr_pages, Ordering::Release);
    P2M.store(mfn_list, Ordering::Release);
}

/// Pseudo-physical frame to machine frame (what a PV guest gives Xen as a "gfn"). On PVH there
/// is no p2m list and Xen and backends name our pages by GFN, which is the pfn: this returns
/// the pfn then, so that callers written for PV stay correct (prefer [`pfn_to_frame`]).
pub fn pfn_to_mfn(pfn: u64) -> Option<u64> {
    if crate::mode() == crate::BootMode::Pvh {
        return Some(pfn);
    }
    let base = P2M.load(Ordering::Acquire);
    if base == 0 || pfn >= P2M_LEN.load(Ordering::Acquire) {
        return None;
    }
    // SAFETY: the p2m list (`u64[nr_pages]`) is mapped at `mfn_list` for the life of the
    // domain (it lies below the free regions, which never include it); pfn < nr_pages.
    Some(unsafe { read_volatile((base as *const u64).add(pfn as usize)) })
}

/// The frame number Xen and backends know pseudo-physical frame `pfn` by: the MFN for a PV
/// guest (through the p2m list), the pfn itself (a GFN) for an auto-translated PVH guest.
pub fn pfn_to_frame(pfn: u64) -> Option<u64> {
    pfn_to_mfn(pfn)
}
