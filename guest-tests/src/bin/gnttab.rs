//! Grant tables on real Xen: grants to dom0 (read-only and read-write) are written as Xen
//! expects, pages come back only through revoke, exhaustion is an error, a double end is an
//! error, and the table recovers. Prints `GNTTAB-OK ...`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use minios::gnttab::{self, GntError};
use minios::println;

const PERMIT_ACCESS: u16 = 1;
const READONLY: u16 = 1 << 2;

fn main() {
    let free0 = gnttab::free_refs();

    // Two pages granted to dom0, one read-only, one read-write.
    let ro = gnttab::grant_page(minios::alloc_page().expect("page"), 0, true)
        .unwrap_or_else(|(_, e)| panic!("grant: {e}"));
    let rw = gnttab::grant_page(minios::alloc_page().expect("page"), 0, false)
        .unwrap_or_else(|(_, e)| panic!("grant: {e}"));
    assert_eq!(
        gnttab::entry_flags(ro.gref()),
        Some(PERMIT_ACCESS | READONLY)
    );
    assert_eq!(gnttab::entry_flags(rw.gref()), Some(PERMIT_ACCESS));
    println!(
        "gnttab test: granted refs {} (ro) and {} (rw) to dom0",
        ro.gref(),
        rw.gref()
    );
    let (r1, r2) = (ro.gref(), rw.gref());
    let p1 = gnttab::revoke(ro).unwrap_or_else(|(_, e)| panic!("revoke: {e}"));
    let p2 = gnttab::revoke(rw).unwrap_or_else(|(_, e)| panic!("revoke: {e}"));
    assert_eq!(gnttab::entry_flags(r1), Some(0));
    assert_eq!(gnttab::entry_flags(r2), Some(0));
    assert_eq!(
        gnttab::end_access(r1),
        Err(GntError::NotGranted(r1)),
        "double end"
    );
    minios::free_page(p1);
    minios::free_page(p2);

    // Exhaustion: every free reference, then a clear error.
    let frame = gnttab::frame_of(minios::alloc_page().expect("page"));
    let mut refs = Vec::new();
    let err = loop {
        match gnttab::grant_access(0, frame, true) {
            Ok(r) => refs.push(r),
            Err(e) => break e,
        }
    };
    assert_eq!(err, GntError::Exhausted);
    assert_eq!(refs.len(), free0);
    println!("GNTTAB-EXHAUSTED after {} grants: {err}", refs.len());
    for r in refs {
        gnttab::end_access(r).expect("end");
    }
    assert_eq!(gnttab::free_refs(), free0);
    let again = gnttab::grant_access(0, frame, false).expect("a grant after freeing");
    gnttab::end_access(again).expect("end");

    println!("GNTTAB-OK free={free0}");
    minios::ready();
}

minios::main!(main);
