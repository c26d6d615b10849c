//! Block device round trip on the first disk: writes a pattern over a range, flushes, reads
//! it back and verifies it, and prints the MB/s of each phase. Options (kernel command line,
//! xl `extra=`): `blk_mb` (MiB, default 16), `blk_start` (512-byte sector, default 2048),
//! `blk_seed` (pattern seed, default 1), `blk_chunk_kb` (bytes per call, default 1024),
//! `blk_bench=1` (then also: sequential write and read MB/s over `blk_bench_mb` MiB and
//! 4 KiB random-read IOPS for `blk_iops_secs` seconds). Front-end options: `blk_segs`
//! (indirect segments per request, 0 = none), `blk_pages` (pages in flight), `blk_ring_order`.
//!
//! Lines for tools: `BLK-CKSUM <crc> <bytes>` is POSIX `cksum` of the bytes written, so dom0
//! can check the backing file (`dd ... | cksum`); `BLK-RW OK ...` and `MINIOS-READY` at the
//! end; `BLK-BENCH ...` with the benchmark figures.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;

use minios::blk::{self, BlkError, Disk};
use minios::cmdline::Cmdline;
use minios::events::now_ns;
use minios::println;

/// The pattern: one 64-bit word per 8 bytes, a mix of the seed and the word's byte offset on
/// the disk (so a misplaced sector never matches).
fn fill(seed: u64, disk_off: u64, buf: &mut [u8]) {
    for (i, w) in buf.chunks_exact_mut(8).enumerate() {
        let mut x = seed ^ (disk_off + 8 * i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^= x >> 31;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 27;
        w.copy_from_slice(&x.to_le_bytes());
    }
}

/// POSIX `cksum` (CRC-32, polynomial 0x04C11DB7, MSB first, then the length, complemented).
struct Cksum {
    table: [u32; 256],
    crc: u32,
    len: u64,
}

impl Cksum {
    fn new() -> Self {
        let mut table = [0u32; 256];
        for (i, t) in table.iter_mut().enumerate() {
            let mut c = (i as u32) << 24;
            for _ in 0..8 {
                c = if c & 0x8000_0000 != 0 {
                    (c << 1) ^ 0x04c1_1db7
                } else {
                    c << 1
                };
            }
            *t = c;
        }
        Self {
            table,
            crc: 0,
            len: 0,
        }
    }

    fn byte(&mut self, b: u8) {
        self.crc = (self.crc << 8) ^ self.table[((self.crc >> 24) as u8 ^ b) as usize];
    }

    fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.byte(b);
        }
        self.len += data.len() as u64;
    }

    fn finish(mut self) -> u32 {
        let mut n = self.len;
        while n != 0 {
            self.byte(n as u8);
            n >>= 8;
        }
        !self.crc
    }
}

fn mbs(bytes: u64, ns: u64) -> String {
    let x100 = bytes * 100 * 1_000_000_000 / ns.max(1) / 1_000_000;
    format!("{}.{:02}", x100 / 100, x100 % 100)
}

struct Opts {
    mb: u64,
    start: u64,
    seed: u64,
    chunk: usize,
    bench: bool,
    bench_mb: u64,
    iops_secs: u64,
    front: blk::Options,
}

fn opts() -> Opts {
    let c = Cmdline::new(minios::system().cmdline);
    let get = |k: &'static str, d: u64| match c.get_u64(k) {
        Ok(v) => v.unwrap_or(d),
        Err(e) => {
            println!("warning: {e}; using {d}");
            d
        }
    };
    Opts {
        mb: get("blk_mb", 16),
        start: get("blk_start", 2048),
        seed: get("blk_seed", 1),
        chunk: (get("blk_chunk_kb", 1024).clamp(4, 8192) as usize) * 1024,
        bench: get("blk_bench", 0) != 0,
        bench_mb: get("blk_bench_mb", 64),
        iops_secs: get("blk_iops_secs", 10),
        front: {
            let d = blk::Options::default();
            blk::Options {
                max_indirect_segments: get("blk_segs", d.max_indirect_segments as u64) as u32,
                max_pages_in_flight: get("blk_pages", d.max_pages_in_flight as u64) as usize,
                max_ring_page_order: get("blk_ring_order", d.max_ring_page_order as u64) as u32,
                ..d
            }
        },
    }
}

fn round_trip(disk: &mut Disk, o: &Opts) -> Result<(), BlkError> {
    let bytes = o.mb * 1024 * 1024;
    let mut buf = vec![0u8; o.chunk];
    let mut back = vec![0u8; o.chunk];
    let mut sum = Cksum::new();
    let t0 = now_ns();
    let mut done = 0u64;
    while done < bytes {
        let n = (bytes - done).min(o.chunk as u64) as usize;
        let off = o.start * 512 + done;
        fill(o.seed, off, &mut buf[..n]);
        sum.update(&buf[..n]);
        disk.write(off / 512, &buf[..n])?;
        done += n as u64;
    }
    let t1 = now_ns();
    let flushed = match disk.flush() {
        Ok(()) => "yes",
        Err(BlkError::NotSupported) => "not supported",
        Err(e) => return Err(e),
    };
    let t2 = now_ns();
    println!("BLK-CKSUM {} {}", sum.finish(), bytes);
    let mut done = 0u64;
    while done < bytes {
        let n = (bytes - done).min(o.chunk as u64) as usize;
        let off = o.start * 512 + done;
        disk.read(off / 512, &mut back[..n])?;
        fill(o.seed, off, &mut buf[..n]);
        if back[..n] != buf[..n] {
            let i = (0..n).find(|&i| back[i] != buf[i]).unwrap_or(0);
            panic!(
                "blk-rw: data mismatch at disk byte {}: read {:#04x}, wrote {:#04x}",
                off + i as u64,
                back[i],
                buf[i]
            );
        }
        done += n as u64;
    }
    let t3 = now_ns();
    println!(
        "BLK-RW OK bytes={bytes} write_mbs={} flush={flushed} flush_us={} read_verify_mbs={}",
        mbs(bytes, t1 - t0),
        (t2 - t1) / 1000,
        mbs(bytes, t3 - t2)
    );
    Ok(())
}

fn bench(disk: &mut Disk, o: &Opts) -> Result<(), BlkError> {
    let bytes = (o.bench_mb * 1024 * 1024).min(disk.info().bytes() / 2 * 2);
    let chunk = o.chunk;
    let mut buf = vec![0u8; chunk];
    fill(o.seed ^ 0xbe7c, 0, &mut buf);
    let t0 = now_ns();
    let mut done = 0u64;
    while done < bytes {
        let n = (bytes - done).min(chunk as u64) as usize;
        disk.write(done / 512, &buf[..n])?;
        done += n as u64;
    }
    let _ = disk.flush();
    let t1 = now_ns();
    let mut done = 0u64;
    while done < bytes {
        let n = (bytes - done).min(chunk as u64) as usize;
        disk.read(done / 512, &mut buf[..n])?;
        done += n as u64;
    }
    let t2 = now_ns();
    // 4 KiB random reads, one at a time, over the benchmark range.
    let blocks = bytes / 4096;
    let mut x = o.seed | 1;
    let mut ops = 0u64;
    let t3 = now_ns();
    let end = t3 + o.iops_secs * 1_000_000_000;
    let mut small = [0u8; 4096];
    while now_ns() < end {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        disk.read((x % blocks) * 8, &mut small)?;
        ops += 1;
    }
    let t4 = now_ns();
    let iops = ops * 1_000_000_000 / (t4 - t3).max(1);
    println!(
        "BLK-BENCH seq_write_mbs={} seq_read_mbs={} rand4k_read_iops={iops} bytes={bytes} chunk_kb={} ops={ops}",
        mbs(bytes, t1 - t0),
        mbs(bytes, t2 - t1),
        chunk / 1024
    );
    Ok(())
}

fn main() -> Result<(), BlkError> {
    let o = opts();
    let names = blk::list().map_err(BlkError::Xenstore)?;
    println!("blk-rw: disks {names:?}");
    let first = names
        .first()
        .ok_or(BlkError::BackendState("absent: the domain has no disk"))?;
    let mut disk = blk::open_with(first, o.front)?;
    let i = disk.info().clone();
    println!(
        "blk-rw: {} = {} sectors ({} MiB), sector {} B, info {:#x}{}, flush {}, barrier {}, \
         indirect {} (using {} segs/request), ring {} page(s) / {} entries, backend {} (dom {})",
        disk.path,
        i.sectors,
        i.bytes() >> 20,
        i.sector_size,
        i.info,
        if i.readonly { " (read-only)" } else { "" },
        i.flush,
        i.barrier,
        i.backend_max_indirect,
        i.segments_per_request,
        i.ring_pages,
        i.ring_size,
        i.backend,
        i.backend_id
    );
    if o.mb > 0 {
        round_trip(&mut disk, &o)?;
    }
    if o.bench {
        bench(&mut disk, &o)?;
    }
    let s = disk.stats();
    println!(
        "blk-rw: stats requests={} indirect={} segments={} max_in_flight={} resource_waits={} \
         notifies={} errors={} unknown_id={} bad_op={} bad_status={} quarantined={}",
        s.requests,
        s.indirect_requests,
        s.segments,
        s.max_in_flight,
        s.resource_waits,
        s.notifies,
        s.error_responses,
        s.unknown_id,
        s.bad_operation,
        s.bad_status,
        s.quarantined_pages
    );
    minios::ready();
    Ok(())
}

minios::main!(main);
