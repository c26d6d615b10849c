//! Block commands: sequential write/read and random 4 KiB reads, O_DIRECT by default (the
//! page cache would measure memory, not the block path). Writes lay down the [`Pattern`] at
//! its device offsets, so a later read can check every byte (`--verify`).

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::time::Instant;

use crate::{mb_per_s, Command, Pattern, Report, Summary, XorShift};

/// `O_DIRECT` on x86_64 Linux (asm-generic/fcntl.h: 00040000).
const O_DIRECT: i32 = 0o40000;

/// Alignment of O_DIRECT buffers (a page: enough for every logical block size).
const ALIGN: usize = 4096;

/// A buffer of `len` bytes at a page-aligned address (inside a larger Vec).
struct Aligned {
    v: Vec<u8>,
    off: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let v = vec![0u8; len + ALIGN];
        let off = v.as_ptr().align_offset(ALIGN);
        assert!(off < ALIGN, "cannot align the I/O buffer");
        Aligned { v, off, len }
    }
    fn get(&mut self, n: usize) -> &mut [u8] {
        &mut self.v[self.off..self.off + n.min(self.len)]
    }
}

fn open(dev: &Path, write: bool, direct: bool) -> Result<File, String> {
    let mut o = OpenOptions::new();
    o.read(!write).write(write);
    if direct {
        o.custom_flags(O_DIRECT);
    }
    o.open(dev).map_err(|e| {
        format!(
            "{}: {e}{}",
            dev.display(),
            if direct && e.raw_os_error() == Some(22) {
                " (O_DIRECT refused: is it on tmpfs? --buffered goes through the page cache)"
            } else {
                ""
            }
        )
    })
}

/// Size of a block device or file (seek to its end).
fn size_of(f: &mut File) -> Result<u64, String> {
    let n = f.seek(SeekFrom::End(0)).map_err(|e| format!("size: {e}"))?;
    f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    Ok(n)
}

/// `blk-seq --write|--read`.
pub fn seq(cmd: &Command) -> Result<(), String> {
    let Command::BlkSeq {
        dev,
        write,
        bytes,
        bs,
        direct,
        verify,
    } = cmd
    else {
        unreachable!()
    };
    let (bytes, bs) = (*bytes, *bs);
    let op = if *write { "write" } else { "read" };
    let mut f = open(dev, *write, *direct).map_err(|e| format!("blk-seq: {e}"))?;
    let size = size_of(&mut f).map_err(|e| format!("blk-seq: {}: {e}", dev.display()))?;
    if bytes > size {
        return Err(format!(
            "blk-seq: {} has {size} bytes, fewer than --bytes {bytes}",
            dev.display()
        ));
    }
    let pat = Pattern::new();
    let mut buf = Aligned::new(bs);
    let mut done = 0u64;
    let mut mismatch = None;
    let t0 = Instant::now();
    while done < bytes {
        let n = ((bytes - done) as usize).min(bs);
        let b = buf.get(n);
        if *write {
            pat.fill(b, done);
            f.write_all_at(b, done)
                .map_err(|e| format!("blk-seq: write at {done}: {e}"))?;
        } else {
            f.read_exact_at(b, done)
                .map_err(|e| format!("blk-seq: read at {done}: {e}"))?;
            if *verify && mismatch.is_none() {
                mismatch = pat.check(b, done);
            }
        }
        done += n as u64;
    }
    if *write {
        f.sync_all().map_err(|e| format!("blk-seq: flush: {e}"))?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let rep = Report::new("blk-seq")
        .add("op", op)
        .add("dev", dev.display())
        .add("bytes", bytes)
        .add("bs", bs)
        .add("direct", u8::from(*direct))
        .add("dev_bytes", size)
        .add("secs", format!("{secs:.6}"))
        .addf("mb_per_s", mb_per_s(bytes, secs))
        .add("verified", u8::from(*verify && mismatch.is_none()));
    match mismatch {
        None => {
            println!("{}", rep.add("status", "ok"));
            Ok(())
        }
        Some((at, exp, got)) => {
            println!("{}", rep.add("status", "error"));
            Err(format!(
                "blk-seq: data mismatch at byte {at}: expected 0x{exp:02x}, got 0x{got:02x}"
            ))
        }
    }
}

/// `blk-randread`: `count` reads of `bs` bytes at random `bs`-aligned offsets below the span.
pub fn randread(cmd: &Command) -> Result<(), String> {
    let Command::BlkRandRead {
        dev,
        count,
        bs,
        span,
        seed,
        direct,
        verify,
    } = cmd
    else {
        unreachable!()
    };
    let bs = *bs;
    let mut f = open(dev, false, *direct).map_err(|e| format!("blk-randread: {e}"))?;
    let size = size_of(&mut f).map_err(|e| format!("blk-randread: {}: {e}", dev.display()))?;
    let span = span.unwrap_or(size);
    if span > size {
        return Err(format!(
            "blk-randread: --span {span} is beyond the end of {} ({size} bytes)",
            dev.display()
        ));
    }
    let blocks = span / bs as u64;
    if blocks == 0 {
        return Err(format!(
            "blk-randread: the span ({span} bytes) holds no block of {bs}"
        ));
    }
    let pat = Pattern::new();
    let mut rng = XorShift::new(*seed);
    let mut buf = Aligned::new(bs);
    let mut lat = Vec::with_capacity(*count as usize);
    let mut mismatch = None;
    let t0 = Instant::now();
    for _ in 0..*count {
        let off = rng.below(blocks) * bs as u64;
        let b = buf.get(bs);
        let t = Instant::now();
        f.read_exact_at(b, off)
            .map_err(|e| format!("blk-randread: read at {off}: {e}"))?;
        lat.push(t.elapsed().as_micros() as u64);
        if *verify && mismatch.is_none() {
            mismatch = pat.check(b, off);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let mut rep = Report::new("blk-randread")
        .add("dev", dev.display())
        .add("count", count)
        .add("bs", bs)
        .add("span", span)
        .add("direct", u8::from(*direct))
        .add("secs", format!("{secs:.6}"))
        .addf(
            "iops",
            if secs > 0.0 {
                *count as f64 / secs
            } else {
                0.0
            },
        )
        .addf("mb_per_s", mb_per_s(*count * bs as u64, secs));
    if let Some(s) = Summary::of(&lat) {
        rep = s.add_to(rep, "lat_");
    }
    rep = rep.add("verified", u8::from(*verify && mismatch.is_none()));
    match mismatch {
        None => {
            println!("{}", rep.add("status", "ok"));
            Ok(())
        }
        Some((at, exp, got)) => {
            println!("{}", rep.add("status", "error"));
            Err(format!(
                "blk-randread: data mismatch at byte {at}: expected 0x{exp:02x}, got 0x{got:02x}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_are_page_aligned() {
        for len in [512, 4096, 65536, 1 << 20] {
            let mut a = Aligned::new(len);
            let b = a.get(len);
            assert_eq!(b.len(), len);
            assert_eq!(b.as_ptr() as usize % ALIGN, 0);
            assert_eq!(a.get(len * 2).len(), len);
        }
    }
}
