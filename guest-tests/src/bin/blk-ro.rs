//! blkfront on a read-only disk (xl `...,r`): blkback reports `VDISK_READONLY`, writes are
//! refused before they reach the ring, reads return what dom0 put in the backing file.
#![no_std]
#![no_main]

use minios::blk::{self, BlkError};
use minios::println;

fn main() -> Result<(), BlkError> {
    let mut disk = blk::open_first()?;
    let info = disk.info().clone();
    println!(
        "blk-ro: {} sectors, info {:#x}, readonly {}",
        info.sectors, info.info, info.readonly
    );
    assert!(info.readonly, "blkback did not report a read-only disk");
    let before = disk.stats().requests;
    match disk.write(0, &[0u8; 4096]) {
        Err(BlkError::ReadOnly) => {}
        other => panic!("a write to a read-only disk gave {other:?}"),
    }
    assert_eq!(
        disk.stats().requests,
        before,
        "the refused write reached the ring"
    );
    let mut buf = [0u8; 4096];
    disk.read(8, &mut buf)?;
    let want = b"MINIOS-RO-DISK";
    assert_eq!(&buf[..want.len()], want, "sector 8 holds what dom0 wrote");
    println!(
        "BLK-RO OK write refused, read back {:?}",
        core::str::from_utf8(want).unwrap()
    );
    minios::ready();
    Ok(())
}

minios::main!(main);
