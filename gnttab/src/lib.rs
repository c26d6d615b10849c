//! Grant tables, v1: letting another domain (a backend in dom0) access our pages.
//!
//! The table is a set of frames of [`GrantEntryV1`] shared with Xen: we write an entry to grant
//! a frame; Xen sets `GTF_reading`/`GTF_writing` while the grantee has it mapped. This crate
//! owns the bookkeeping: a reference allocator whose exhaustion is an error, ending access that
//! refuses to hand a page back while the grantee still uses it, no double free, and
//! [`Granted`], an ownership type that keeps a page out of safe code's reach until its grant
//! has really ended. It is plain safe code over atomics, so it runs unchanged on the host,
//! where tests play Xen by setting the flags.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::Ordering;

use xen_abi::grant_table::GRANT_ENTRIES_V1_PER_FRAME;
pub use xen_abi::grant_table::{GrantEntryV1, GNTTAB_NR_RESERVED_ENTRIES};
use xen_abi::GtfFlags;

/// A grant reference: the index of an entry, which the grantee uses to name the frame.
pub type GrantRef = u32;

/// One frame of the grant table, as Xen shares it.
pub type GrantFrame = [GrantEntryV1; GRANT_ENTRIES_V1_PER_FRAME];

/// Why a grant operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GntError {
    /// Every grant reference is in use.
    Exhausted,
    /// The grantee still has the frame mapped (`GTF_reading`/`GTF_writing`): the page must not
    /// be reused yet.
    StillInUse(GrantRef),
    /// The reference is not one this table handed out (or it was already ended).
    NotGranted(GrantRef),
}

impl fmt::Display for GntError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GntError::Exhausted => f.write_str("no free grant reference: the grant table is full"),
            GntError::StillInUse(r) => {
                write!(
                    f,
                    "grant {r} is still mapped by the grantee: access not ended"
                )
            }
            GntError::NotGranted(r) => write!(f, "grant {r} is not an active grant of ours"),
        }
    }
}

impl core::error::Error for GntError {}

/// The grant table: its shared frames and which references are free.
pub struct GrantTable {
    frames: Vec<&'static GrantFrame>,
    free: Vec<GrantRef>,
    in_use: Vec<bool>,
}

impl fmt::Debug for GrantTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantTable")
            .field("frames", &self.frames.len())
            .field("free", &self.free.len())
            .finish()
    }
}

impl GrantTable {
    /// A table over `frames` (as set up with `GNTTABOP_setup_table` and mapped). The first
    /// [`GNTTAB_NR_RESERVED_ENTRIES`] references belong to the toolstack and are never used.
    pub fn new(frames: Vec<&'static GrantFrame>) -> Self {
        let total = (frames.len() * GRANT_ENTRIES_V1_PER_FRAME) as u32;
        // Hand out low references first (popped from the end).
        let free = (GNTTAB_NR_RESERVED_ENTRIES..total).rev().collect();
        Self {
            frames,
            free,
            in_use: alloc::vec![false; total as usize],
        }
    }

    fn entry(&self, r: GrantRef) -> Option<&'static GrantEntryV1> {
        let (f, i) = (
            r as usize / GRANT_ENTRIES_V1_PER_FRAME,
            r as usize % GRANT_ENTRIES_V1_PER_FRAME,
        );
        self.frames.get(f).map(|frame| &frame[i])
    }

    /// References that can still be granted.
    pub fn free_refs(&self) -> usize {
        self.free.len()
    }

    /// The shared entry of `r` (for inspection and tests).
    pub fn shared_entry(&self, r: GrantRef) -> Option<&'static GrantEntryV1> {
        self.entry(r)
    }

    /// Grants `domid` access to `frame` (a GFN: the MFN for a PV guest).
    pub fn grant_access(
        &mut self,
        domid: u16,
        frame: u64,
        readonly: bool,
    ) -> Result<GrantRef, GntError> {
        let r = self.free.pop().ok_or(GntError::Exhausted)?;
        let e = self.entry(r).expect("free refs are inside the table");
        e.frame.store(frame as u32, Ordering::Relaxed);
        e.domid.store(domid, Ordering::Relaxed);
        let mut flags = GtfFlags::PERMIT_ACCESS;
        if readonly {
            flags |= GtfFlags::READONLY;
        }
        // Release: frame and domid are visible before the entry becomes valid.
        e.flags.store(flags.bits(), Ordering::Release);
        self.in_use[r as usize] = true;
        Ok(r)
    }

    /// Ends access through `r`, unless the grantee still has the frame mapped; the reference
    /// is then free again. Race-free against Xen: the entry is invalidated with a
    /// compare-exchange that fails if Xen sets `GTF_reading`/`GTF_writing` in between.
    pub fn end_access(&mut self, r: GrantRef) -> Result<(), GntError> {
        if !self.in_use.get(r as usize).copied().unwrap_or(false) {
            return Err(GntError::NotGranted(r));
        }
        let e = self.entry(r).ok_or(GntError::NotGranted(r))?;
        let busy = (GtfFlags::READING | GtfFlags::WRITING).bits();
        let mut flags = e.flags.load(Ordering::Acquire);
        loop {
            if flags & busy != 0 {
                return Err(GntError::StillInUse(r));
            }
            match e
                .flags
                .compare_exchange(flags, 0, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(now) => flags = now,
            }
        }
        self.in_use[r as usize] = false;
        self.free.push(r);
        Ok(())
    }

    /// Grants a page and wraps it so that it cannot be reused until the grant has ended.
    pub fn grant_page<P>(
        &mut self,
        page: P,
        frame: u64,
        domid: u16,
        readonly: bool,
    ) -> Result<Granted<P>, (P, GntError)> {
        match self.grant_access(domid, frame, readonly) {
            Ok(gref) => Ok(Granted { page, gref }),
            Err(e) => Err((page, e)),
        }
    }
}

/// A page granted to another domain. The page comes back only through
/// [`Granted::revoke`], which succeeds only once the grantee has let go of it; until then
/// safe code can read it but never get it back to reuse. Dropping a `Granted` leaks the page
/// (it stays granted), which is safe: it is never handed out again.
#[derive(Debug)]
pub struct Granted<P> {
    page: P,
    gref: GrantRef,
}

impl<P> Granted<P> {
    /// The reference to give the grantee (e.g. in xenstore or a ring request).
    pub fn gref(&self) -> GrantRef {
        self.gref
    }

    /// Read access to the granted page.
    pub fn page(&self) -> &P {
        &self.page
    }

    /// Ends the grant and returns the page, or returns `self` unchanged (still granted) with
    /// the reason if the grantee still uses it.
    pub fn revoke(self, table: &mut GrantTable) -> Result<P, (Self, GntError)> {
        match table.end_access(self.gref) {
            Ok(()) => Ok(self.page),
            Err(e) => Err((self, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use core::sync::atomic::{AtomicU16, AtomicU32};
    use std::boxed::Box;

    fn frame() -> &'static GrantFrame {
        Box::leak(Box::new(core::array::from_fn(|_| GrantEntryV1 {
            flags: AtomicU16::new(0),
            domid: AtomicU16::new(0),
            frame: AtomicU32::new(0),
        })))
    }

    #[test]
    fn grant_writes_the_entry_and_skips_reserved_refs() {
        let mut t = GrantTable::new(alloc::vec![frame()]);
        assert_eq!(t.free_refs(), 512 - 8);
        let r = t.grant_access(0, 0x1234, true).unwrap();
        assert_eq!(r, GNTTAB_NR_RESERVED_ENTRIES);
        let e = t.shared_entry(r).unwrap();
        assert_eq!(e.frame.load(Ordering::Relaxed), 0x1234);
        assert_eq!(e.domid.load(Ordering::Relaxed), 0);
        assert_eq!(
            e.flags.load(Ordering::Relaxed),
            (GtfFlags::PERMIT_ACCESS | GtfFlags::READONLY).bits()
        );
        let w = t.grant_access(5, 0x99, false).unwrap();
        assert_eq!(t.shared_entry(w).unwrap().flags.load(Ordering::Relaxed), 1);
        assert_eq!(t.shared_entry(w).unwrap().domid.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn end_access_refuses_while_mapped_then_frees() {
        let mut t = GrantTable::new(alloc::vec![frame()]);
        let r = t.grant_access(0, 7, false).unwrap();
        let e = t.shared_entry(r).unwrap();
        // Xen: the backend maps the frame for writing.
        e.flags.fetch_or(GtfFlags::WRITING.bits(), Ordering::SeqCst);
        assert_eq!(t.end_access(r), Err(GntError::StillInUse(r)));
        assert_ne!(e.flags.load(Ordering::Relaxed) & 1, 0, "entry still valid");
        e.flags
            .fetch_and(!GtfFlags::WRITING.bits(), Ordering::SeqCst);
        e.flags.fetch_or(GtfFlags::READING.bits(), Ordering::SeqCst);
        assert_eq!(t.end_access(r), Err(GntError::StillInUse(r)));
        e.flags
            .fetch_and(!GtfFlags::READING.bits(), Ordering::SeqCst);
        let before = t.free_refs();
        assert_eq!(t.end_access(r), Ok(()));
        assert_eq!(e.flags.load(Ordering::Relaxed), 0);
        assert_eq!(t.free_refs(), before + 1);
    }

    #[test]
    fn no_double_free_and_no_foreign_refs() {
        let mut t = GrantTable::new(alloc::vec![frame()]);
        let r = t.grant_access(0, 1, false).unwrap();
        t.end_access(r).unwrap();
        assert_eq!(t.end_access(r), Err(GntError::NotGranted(r)));
        assert_eq!(
            t.end_access(3),
            Err(GntError::NotGranted(3)),
            "reserved ref"
        );
        assert_eq!(t.end_access(100_000), Err(GntError::NotGranted(100_000)));
        let before = t.free_refs();
        assert_eq!(t.free_refs(), before, "failed ends free nothing");
    }

    #[test]
    fn exhaustion_is_an_error_and_recovers() {
        let mut t = GrantTable::new(alloc::vec![frame(), frame()]);
        let mut refs = std::vec::Vec::new();
        loop {
            match t.grant_access(0, 1, true) {
                Ok(r) => refs.push(r),
                Err(e) => {
                    assert_eq!(e, GntError::Exhausted);
                    break;
                }
            }
        }
        assert_eq!(refs.len(), 1024 - 8);
        let mut sorted = refs.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), refs.len(), "every ref handed out once");
        assert!(refs.iter().all(|r| (8..1024).contains(r)));
        t.end_access(refs[100]).unwrap();
        assert_eq!(t.grant_access(0, 2, false), Ok(refs[100]));
    }

    #[test]
    fn granted_page_comes_back_only_after_the_grantee_lets_go() {
        let mut t = GrantTable::new(alloc::vec![frame()]);
        let page = Box::new([7u8; 64]);
        let g = t.grant_page(page, 0x42, 0, false).unwrap();
        let r = g.gref();
        assert_eq!(g.page()[0], 7);
        let e = t.shared_entry(r).unwrap();
        e.flags.fetch_or(GtfFlags::READING.bits(), Ordering::SeqCst);
        let (g, err) = g.revoke(&mut t).unwrap_err();
        assert_eq!(err, GntError::StillInUse(r));
        e.flags
            .fetch_and(!GtfFlags::READING.bits(), Ordering::SeqCst);
        let page = g.revoke(&mut t).unwrap();
        assert_eq!(page[63], 7);
    }

    #[test]
    fn grant_page_on_a_full_table_hands_the_page_back() {
        let mut t = GrantTable::new(alloc::vec![frame()]);
        while t.grant_access(0, 1, true).is_ok() {}
        let (page, e) = t.grant_page(Box::new(1u8), 9, 0, true).unwrap_err();
        assert_eq!((*page, e), (1, GntError::Exhausted));
    }
}
