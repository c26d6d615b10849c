//! Grant-table frames: `GNTTABOP_query_size`, `GNTTABOP_setup_table`, and mapping the frames
//! Xen returns (machine frames, for a PV guest) into our address space; on PVH the frames are
//! placed at GFNs of ours with `XENMEM_add_to_physmap`.

use xen_abi::consts::uvmf;
use xen_abi::consts::{hypercall_nr as nr, DOMID_SELF};
use xen_abi::grant_table::{
    GnttabQuerySize, GnttabSetupTable, GrantEntryV1, GNTST_OKAY, GNTTABOP_QUERY_SIZE,
    GNTTABOP_SETUP_TABLE, GRANT_ENTRIES_V1_PER_FRAME,
};
use xen_abi::PteFlags;
use xen_hal::XenError;

use crate::hypercall::hypercall;
use crate::Page;

/// Most frames set up at once here.
pub const MAX_FRAMES: usize = 16;

/// Why setting up the grant table failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GnttabSetupError {
    Hypercall(XenError),
    /// Xen's per-operation status (`GNTST_*`).
    Status(i16),
    /// More frames asked for than the domain may have (`max_nr_frames`).
    TooManyFrames {
        asked: u32,
        max: u32,
    },
}

impl core::fmt::Display for GnttabSetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Hypercall(e) => write!(f, "grant_table_op: {e}"),
            Self::Status(s) => write!(f, "grant_table_op: GNTST status {s}"),
            Self::TooManyFrames { asked, max } => write!(
                f,
                "{asked} grant-table frames asked for, the domain may have {max} (max_grant_frames)"
            ),
        }
    }
}

/// `GNTTABOP_query_size`: (frames in use, most frames allowed).
pub fn query_size() -> Result<(u32, u32), GnttabSetupError> {
    let mut q = GnttabQuerySize {
        dom: DOMID_SELF,
        ..Default::default()
    };
    // SAFETY: one gnttab_query_size structure, valid for the call.
    let r = unsafe {
        hypercall(
            nr::GRANT_TABLE_OP,
            GNTTABOP_QUERY_SIZE.into(),
            core::ptr::addr_of_mut!(q) as u64,
            1,
            0,
            0,
        )
    };
    XenError::check(r).map_err(GnttabSetupError::Hypercall)?;
    if q.status != GNTST_OKAY {
        return Err(GnttabSetupError::Status(q.status));
    }
    Ok((q.nr_frames, q.max_nr_frames))
}

/// `GNTTABOP_setup_table` for `n` (at most [`MAX_FRAMES`]) frames: their machine frame numbers.
pub fn setup_table(n: usize) -> Result<([u64; MAX_FRAMES], usize), GnttabSetupError> {
    let n = n.min(MAX_FRAMES);
    let (_, max) = query_size()?;
    if n as u32 > max {
        return Err(GnttabSetupError::TooManyFrames {
            asked: n as u32,
            max,
        });
    }
    let mut list = [0u64; MAX_FRAMES];
    let mut s = GnttabSetupTable {
        dom: DOMID_SELF,
        nr_frames: n as u32,
        status: 0,
        frame_list: list.as_mut_ptr() as u64,
    };
    // SAFETY: one gnttab_setup_table structure whose frame_list has room for nr_frames u64s.
    let r = unsafe {
        hypercall(
            nr::GRANT_TABLE_OP,
            GNTTABOP_SETUP_TABLE.into(),
            core::ptr::addr_of_mut!(s) as u64,
            1,
            0,
            0,
        )
    };
    XenError::check(r).map_err(GnttabSetupError::Hypercall)?;
    if s.status != GNTST_OKAY {
        return Err(GnttabSetupError::Status(s.status));
    }
    Ok((list, n))
}

/// Maps grant-table frame number `index` (whose frame `setup_table` reported as `mfn`) over
/// `page` (whose own frame is given up for good) and returns it as the shared entry array.
/// PV: `update_va_mapping` of the machine frame over the page's address. PVH:
/// `XENMEM_add_to_physmap(XENMAPSPACE_grant_table, index)` at the page's GFN (identity map).
pub fn map_frame(
    page: &'static mut Page,
    index: usize,
    mfn: u64,
) -> Result<&'static [GrantEntryV1; GRANT_ENTRIES_V1_PER_FRAME], XenError> {
    let va = page as *mut Page as u64;
    if crate::mode() == crate::BootMode::Pvh {
        // SAFETY: `page` is ours for good (moved in); after the call its GFN (== its address
        // under the identity map) is the grant-table frame, which Xen keeps for the life of
        // the domain; the RAM page that was there goes back to Xen.
        unsafe {
            crate::hypercall::add_to_physmap(
                xen_abi::hvm::XENMAPSPACE_GRANT_TABLE,
                index as u64,
                va >> xen_abi::PAGE_SHIFT,
            )
        }?;
    } else {
        let pte = (mfn << xen_abi::PAGE_SHIFT)
            | (PteFlags::PRESENT
                | PteFlags::RW
                | PteFlags::USER
                | PteFlags::ACCESSED
                | PteFlags::DIRTY)
                .bits();
        // SAFETY: `page` is ours for good (moved in); after the call its address maps the
        // grant-table frame, which Xen keeps for the life of the domain.
        unsafe { crate::hypercall::update_va_mapping(va, pte, uvmf::INVLPG) }?;
    }
    // SAFETY: the VA now maps the grant frame: 4096 bytes = 512 entries, every field atomic.
    Ok(unsafe { &*(va as *const [GrantEntryV1; GRANT_ENTRIES_V1_PER_FRAME]) })
}
