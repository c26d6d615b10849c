//! The PVH (HVM) side of the ABI: the start-info block a PVH guest is entered with
//! (arch-x86/hvm/start_info.h), HVM parameters (hvm/params.h, hvm/hvm_op.h),
//! `XENMEM_add_to_physmap` (memory.h), Xen's CPUID leaves (arch-x86/cpuid.h) and the
//! `PHYS32_ENTRY` ELF note (elfnote.h).
//!
//! The start-info block and its memory map are written once by the domain builder before the
//! guest runs and never change afterwards, so they are plain fields.

use crate::{assert_offset, assert_size};

/// `XEN_HVM_START_MAGIC_VALUE`: `hvm_start_info.magic`.
pub const XEN_HVM_START_MAGIC_VALUE: u32 = 0x336e_c578;

/// `XEN_ELFNOTE_PHYS32_ENTRY`: the note holding the 32-bit physical PVH entry point.
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

/// `struct hvm_start_info` (version 1): what `ebx` points at on PVH entry.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HvmStartInfo {
    /// [`XEN_HVM_START_MAGIC_VALUE`].
    pub magic: u32,
    /// 0 or 1 (1 adds the memory map).
    pub version: u32,
    /// `SIF_*` flags.
    pub flags: u32,
    pub nr_modules: u32,
    /// Physical address of the module list (`hvm_modlist_entry[nr_modules]`).
    pub modlist_paddr: u64,
    /// Physical address of the NUL-terminated command line (0 = none).
    pub cmdline_paddr: u64,
    /// Physical address of the ACPI RSDP.
    pub rsdp_paddr: u64,
    /// Physical address of the memory map (`hvm_memmap_table_entry[memmap_entries]`), v1.
    pub memmap_paddr: u64,
    pub memmap_entries: u32,
    pub reserved: u32,
}
assert_size!(HvmStartInfo, 56);
assert_offset!(HvmStartInfo, modlist_paddr, 16);
assert_offset!(HvmStartInfo, memmap_paddr, 40);

/// `struct hvm_memmap_table_entry`: one E820-like range.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HvmMemmapTableEntry {
    pub addr: u64,
    pub size: u64,
    /// `XEN_HVM_MEMMAP_TYPE_*`.
    pub ty: u32,
    pub reserved: u32,
}
assert_size!(HvmMemmapTableEntry, 24);
assert_offset!(HvmMemmapTableEntry, ty, 16);

/// `XEN_HVM_MEMMAP_TYPE_RAM`.
pub const XEN_HVM_MEMMAP_TYPE_RAM: u32 = 1;
/// `XEN_HVM_MEMMAP_TYPE_RESERVED`.
pub const XEN_HVM_MEMMAP_TYPE_RESERVED: u32 = 2;
/// `XEN_HVM_MEMMAP_TYPE_ACPI`.
pub const XEN_HVM_MEMMAP_TYPE_ACPI: u32 = 3;

/// `HVMOP_set_param`.
pub const HVMOP_SET_PARAM: u32 = 0;
/// `HVMOP_get_param`.
pub const HVMOP_GET_PARAM: u32 = 1;

/// `struct xen_hvm_param`: argument of `HVMOP_{set,get}_param`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct XenHvmParam {
    /// `DOMID_SELF` for the guest itself.
    pub domid: u16,
    pub pad: u16,
    /// `HVM_PARAM_*`.
    pub index: u32,
    pub value: u64,
}
assert_size!(XenHvmParam, 16);
assert_offset!(XenHvmParam, index, 4);
assert_offset!(XenHvmParam, value, 8);

/// `HVM_PARAM_CALLBACK_IRQ`: how event-channel upcalls are delivered.
pub const HVM_PARAM_CALLBACK_IRQ: u32 = 0;
/// `HVM_PARAM_STORE_PFN`: the xenstore ring's GFN.
pub const HVM_PARAM_STORE_PFN: u32 = 1;
/// `HVM_PARAM_STORE_EVTCHN`: the xenstore event channel.
pub const HVM_PARAM_STORE_EVTCHN: u32 = 2;
/// `HVM_PARAM_CONSOLE_PFN`: the console ring's GFN.
pub const HVM_PARAM_CONSOLE_PFN: u32 = 17;
/// `HVM_PARAM_CONSOLE_EVTCHN`: the console event channel.
pub const HVM_PARAM_CONSOLE_EVTCHN: u32 = 18;
/// `HVM_PARAM_CALLBACK_IRQ_TYPE_MASK`: the delivery type sits in bits 63:56.
pub const HVM_PARAM_CALLBACK_IRQ_TYPE_MASK: u64 = 0xff00_0000_0000_0000;
/// `HVM_PARAM_CALLBACK_TYPE_VECTOR`: upcalls arrive as this IDT vector (bits 7:0).
pub const HVM_PARAM_CALLBACK_TYPE_VECTOR: u64 = 2;

/// `XENMEM_add_to_physmap`.
pub const XENMEM_ADD_TO_PHYSMAP: u32 = 7;
/// `XENMEM_current_reservation`: pages the domain holds now.
pub const XENMEM_CURRENT_RESERVATION: u32 = 3;
/// `XENMAPSPACE_shared_info`.
pub const XENMAPSPACE_SHARED_INFO: u32 = 0;
/// `XENMAPSPACE_grant_table`.
pub const XENMAPSPACE_GRANT_TABLE: u32 = 1;

/// `struct xen_add_to_physmap`: map a Xen-owned frame (shared_info, a grant-table frame) at a
/// GFN of an auto-translated guest.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct XenAddToPhysmap {
    pub domid: u16,
    /// Pages in a `gmfn_range` request (unused otherwise).
    pub size: u16,
    /// `XENMAPSPACE_*`.
    pub space: u32,
    /// Index in the space (the grant-table frame number; 0 for shared_info).
    pub idx: u64,
    /// Where to map it.
    pub gpfn: u64,
}
assert_size!(XenAddToPhysmap, 24);
assert_offset!(XenAddToPhysmap, idx, 8);
assert_offset!(XenAddToPhysmap, gpfn, 16);

/// `XEN_CPUID_FIRST_LEAF`: the first leaf where Xen's signature may be (then every 0x100).
pub const XEN_CPUID_FIRST_LEAF: u32 = 0x4000_0000;
/// `XEN_CPUID_SIGNATURE_EBX`: "XenV".
pub const XEN_CPUID_SIGNATURE_EBX: u32 = 0x566e_6558;
/// `XEN_CPUID_SIGNATURE_ECX`: "MMXe".
pub const XEN_CPUID_SIGNATURE_ECX: u32 = 0x6558_4d4d;
/// `XEN_CPUID_SIGNATURE_EDX`: "nVMM".
pub const XEN_CPUID_SIGNATURE_EDX: u32 = 0x4d4d_566e;

/// The free RAM of a PVH memory map, for the boot code: the RAM entries' whole pages below
/// `limit_pfn`, minus page 0 and the pfns `[reserved.0, reserved.1)` (the image and the
/// start-info block), as the two largest free pfn ranges `[start, end)` (lower one first;
/// an unused slot is `(0, 0)`), and the number of whole RAM pages below `limit_pfn`.
pub fn free_ranges(
    memmap: &[HvmMemmapTableEntry],
    reserved: (u64, u64),
    limit_pfn: u64,
) -> ([(u64, u64); 2], u64) {
    let mut best = [(0u64, 0u64); 2];
    let mut ram = 0;
    let mut consider = |s: u64, e: u64| {
        if e <= s {
            return;
        }
        let len = e - s;
        if len > best[0].1 - best[0].0 {
            best[1] = best[0];
            best[0] = (s, e);
        } else if len > best[1].1 - best[1].0 {
            best[1] = (s, e);
        }
    };
    for m in memmap.iter().filter(|m| m.ty == XEN_HVM_MEMMAP_TYPE_RAM) {
        let first = m.addr.div_ceil(crate::PAGE_SIZE as u64);
        let end = (m.addr.saturating_add(m.size) >> crate::PAGE_SHIFT).min(limit_pfn);
        ram += end.saturating_sub(first);
        let start = first.max(1);
        consider(start, end.min(reserved.0));
        consider(start.max(reserved.1), end);
    }
    if best[0].0 > best[1].0 {
        best.swap(0, 1);
    }
    (best, ram)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ram(addr: u64, size: u64) -> HvmMemmapTableEntry {
        HvmMemmapTableEntry {
            addr,
            size,
            ty: XEN_HVM_MEMMAP_TYPE_RAM,
            reserved: 0,
        }
    }

    #[test]
    fn free_ranges_of_a_4_mib_pvh_guest() {
        // What libxl gave a memory=4 PVH guest: RAM 0-4 MiB, the special pages, ACPI.
        let map = [
            ram(0, 0x40_0000),
            HvmMemmapTableEntry {
                addr: 0xfeff_8000,
                size: 0x8000,
                ty: XEN_HVM_MEMMAP_TYPE_RESERVED,
                reserved: 0,
            },
            HvmMemmapTableEntry {
                addr: 0xfc00_0000,
                size: 0x1000,
                ty: XEN_HVM_MEMMAP_TYPE_ACPI,
                reserved: 0,
            },
        ];
        // image + start info at pfns 0x100..0x12c
        let (r, pages) = free_ranges(&map, (0x100, 0x12c), 1 << 20);
        assert_eq!(pages, 1024);
        assert_eq!(
            r,
            [(1, 0x100), (0x12c, 0x400)],
            "page 0 and the image stay out"
        );
        // the limit cuts RAM off (the special pages, the 4 GiB map)
        let (r, pages) = free_ranges(&map, (0x100, 0x12c), 0x200);
        assert_eq!(pages, 0x200);
        assert_eq!(r, [(1, 0x100), (0x12c, 0x200)]);
    }

    #[test]
    fn free_ranges_keeps_the_two_largest_and_partial_pages_out() {
        let map = [
            ram(0x800, 0x9_f000),        // starts and ends mid-page: pfns 1..0x9f
            ram(0x10_0000, 0x10_0000),   // 0x100..0x200, image at 0x100..0x110
            ram(0x100_0000, 0x100_0800), // 0x1000..0x2000 (the partial last page is not RAM)
        ];
        let (r, pages) = free_ranges(&map, (0x100, 0x110), 1 << 20);
        assert_eq!(pages, 0x9e + 0x100 + 0x1000);
        assert_eq!(r, [(0x110, 0x200), (0x1000, 0x2000)]);
        let (r, _) = free_ranges(&[], (0, 0), 1 << 20);
        assert_eq!(r, [(0, 0), (0, 0)]);
        let (r, _) = free_ranges(&[ram(0, 0x10_0000)], (0, 0x100), 1 << 20);
        assert_eq!(r, [(0, 0), (0, 0)], "everything reserved");
    }
}
