//! Block devices for applications: the disks the toolstack gave the domain (xenstore
//! `device/vbd/*`), opened with the [`blkfront`] front end over the kernel's page allocator,
//! grant table and event channels. Reads, writes and flushes block in the hypervisor until
//! blkback answers (never a busy loop).
//!
//! ```ignore
//! let mut disk = minios::blk::open_first()?;
//! disk.write(0, &data)?;
//! disk.flush()?;
//! disk.read(0, &mut back)?;
//! ```

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use arch::Page;
pub use blkfront::{BlkError, BlkStats, DiskInfo, Options};
use blkfront::{BlkFront, BlkPlatform, GntError};
use xenstore_client::XsError;

use crate::events;

/// The kernel's side of a front end: one event channel, pages from the page allocator.
#[derive(Debug)]
pub struct KernelBlk {
    port: u32,
    event: Arc<AtomicBool>,
}

impl BlkPlatform for KernelBlk {
    type Page = &'static mut Page;

    fn alloc_page(&mut self) -> Option<Self::Page> {
        crate::alloc_page()
    }

    fn free_page(&mut self, page: Self::Page) {
        crate::free_page(page)
    }

    fn frame(&self, page: &Self::Page) -> u64 {
        crate::gnttab::frame_of(page)
    }

    fn write_page(&mut self, page: &mut Self::Page, offset: usize, data: &[u8]) {
        page.0[offset..offset + data.len()].copy_from_slice(data);
    }

    fn read_page(&self, page: &Self::Page, offset: usize, out: &mut [u8]) {
        out.copy_from_slice(&page.0[offset..offset + out.len()]);
    }

    fn alloc_ring(&mut self, pages: usize) -> Option<(&'static [AtomicU32], Vec<u64>)> {
        // Contiguous pages from the heap: one page more than needed, then the page-aligned
        // part (the allocation is 4-byte aligned, so the offset is a whole number of words).
        const WORDS: usize = 1024;
        let mut v = Vec::new();
        v.try_reserve_exact((pages + 1) * WORDS).ok()?;
        v.extend((0..(pages + 1) * WORDS).map(|_| AtomicU32::new(0)));
        let all: &'static [AtomicU32] = v.leak();
        let addr = all.as_ptr() as usize;
        let skip = ((4096 - addr % 4096) % 4096) / 4;
        let words = &all[skip..skip + pages * WORDS];
        let mut frames = Vec::with_capacity(pages);
        for i in 0..pages {
            let pfn = arch::virt_to_pfn(&words[i * WORDS]);
            frames.push(arch::mm::pfn_to_mfn(pfn)?);
        }
        Some((words, frames))
    }

    fn grant(&mut self, domid: u16, frame: u64, readonly: bool) -> Result<u32, GntError> {
        crate::gnttab::grant_access(domid, frame, readonly)
    }

    fn end_grant(&mut self, gref: u32) -> Result<(), GntError> {
        crate::gnttab::end_access(gref)
    }

    fn bind_event(&mut self, remote: u16) -> Result<u32, String> {
        let flag = self.event.clone();
        let port = events::alloc_unbound(remote, move |_| flag.store(true, Ordering::Release))
            .map_err(|e| format!("{e}"))?;
        self.port = port;
        Ok(port)
    }

    fn notify(&mut self, port: u32) {
        // A failed send leaves the request unanswered: the wait's deadline reports it.
        let _ = arch::hypercall::evtchn_send(port);
    }

    fn wait_event(&mut self, deadline_ns: u64) -> bool {
        let flag = &self.event;
        events::wait_deadline(deadline_ns, || flag.swap(false, Ordering::AcqRel))
    }

    fn now_ns(&self) -> u64 {
        events::now_ns()
    }
}

/// An open disk.
#[derive(Debug)]
pub struct Disk {
    /// The front end's directory, e.g. `device/vbd/51712`.
    pub path: String,
    front: BlkFront<KernelBlk>,
}

/// The disks of the domain: the names under `device/vbd` (e.g. `51712` for xvda).
pub fn list() -> Result<Vec<String>, XsError> {
    match crate::xenstore::with(|xs| xs.directory("device/vbd")) {
        Ok(mut v) => {
            v.sort();
            Ok(v)
        }
        Err(XsError::Errno(xenstore_client::XsErrno::ENOENT)) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Opens disk `name` (from [`list`]) with `opts`.
pub fn open_with(name: &str, opts: Options) -> Result<Disk, BlkError> {
    let path = format!("device/vbd/{name}");
    let platform = KernelBlk {
        port: 0,
        event: Arc::new(AtomicBool::new(false)),
    };
    let front = crate::xenstore::with(|xs| BlkFront::connect(xs, &path, platform, opts))?;
    Ok(Disk { path, front })
}

/// Opens disk `name` with the default options.
pub fn open(name: &str) -> Result<Disk, BlkError> {
    open_with(name, Options::default())
}

/// Opens the first disk.
pub fn open_first() -> Result<Disk, BlkError> {
    let names = list()?;
    let first = names
        .first()
        .ok_or(BlkError::BackendState("absent: the domain has no disk"))?;
    open(first)
}

impl Disk {
    /// Size, sector size, features, ring.
    pub fn info(&self) -> &DiskInfo {
        self.front.info()
    }

    /// Reads from 512-byte sector `sector` into `buf` (a multiple of the sector size).
    pub fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BlkError> {
        self.front.read(sector, buf)
    }

    /// Writes `buf` from 512-byte sector `sector` on; refused on a read-only disk.
    pub fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BlkError> {
        self.front.write(sector, buf)
    }

    /// Makes what was written durable (`feature-flush-cache`).
    pub fn flush(&mut self) -> Result<(), BlkError> {
        self.front.flush()
    }

    pub fn stats(&self) -> BlkStats {
        self.front.stats()
    }

    /// The event channel port of the disk (diagnostics).
    pub fn port(&self) -> u32 {
        self.front.platform().port
    }
}
