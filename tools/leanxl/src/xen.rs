//! The one module with `unsafe`: hand-written declarations of the few libxenctrl, libxenguest
//! and libxenstore functions leanxl uses (Xen 4.17, Debian's libxen-dev headers
//! /usr/include/{xenctrl.h,xenguest.h,xenstore.h}), and safe wrappers over them.
//!
//! Layouts this file relies on (`XenDomctlCreatedomain`, the size of `xc_domaininfo_t` and the
//! offsets of the `struct xc_dom_image` fields in [`dom_image`]) are checked against the
//! installed headers by `tests/layout.c`, compiled and run by this module's tests.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_uint, c_ulong, c_void, CStr, CString};
use std::io;
use std::ptr::{self, NonNull};

/// `xc_interface` (opaque).
#[repr(C)]
pub struct XcInterface {
    _opaque: [u8; 0],
}

/// `struct xc_dom_image` (opaque here; fields are reached by the offsets in [`dom_image`]).
#[repr(C)]
pub struct XcDomImage {
    _opaque: [u8; 0],
}

/// `struct xs_handle` (opaque).
#[repr(C)]
pub struct XsHandle {
    _opaque: [u8; 0],
}

/// `struct xen_arch_domainconfig` (x86, /usr/include/xen/arch-x86/xen.h).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct XenArchDomainconfig {
    pub emulation_flags: u32,
    pub misc_flags: u32,
}

/// `struct xen_domctl_createdomain` (/usr/include/xen/domctl.h, interface version 0x15).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct XenDomctlCreatedomain {
    pub ssidref: u32,
    pub handle: [u8; 16],
    pub flags: u32,
    pub iommu_opts: u32,
    pub max_vcpus: u32,
    pub max_evtchn_port: u32,
    pub max_grant_frames: i32,
    pub max_maptrack_frames: i32,
    pub grant_opts: u32,
    pub vmtrace_size: u32,
    pub cpupool_id: u32,
    pub arch: XenArchDomainconfig,
}

/// `XEN_DOMCTL_GRANT_version(v)`: the grant table version a domain may use at most.
pub const fn grant_version(v: u32) -> u32 {
    v & 0xf
}

/// `xc_domaininfo_t` (`struct xen_domctl_getdomaininfo`): only `domain` and `flags` are read,
/// so it is a buffer of the header's size (checked by the layout test) with those two fields.
pub mod dominfo {
    /// sizeof(xc_domaininfo_t)
    pub const SIZE: usize = 112;
    /// offsetof(.., domain): domid_t (u16)
    pub const DOMAIN: usize = 0;
    /// offsetof(.., flags): u32
    pub const FLAGS: usize = 4;
    /// XEN_DOMINF_dying
    pub const DYING: u32 = 1 << 0;
}

/// Offsets of the `struct xc_dom_image` fields leanxl touches (the API has no setters for the
/// console/xenstore event channels, and `xc_dom_p2m` is an inline function of the header).
pub mod dom_image {
    pub const CONSOLE_PFN: usize = 384;
    pub const XENSTORE_PFN: usize = 392;
    pub const PV_P2M: usize = 480;
    pub const TOTAL_PAGES: usize = 504;
    pub const CONSOLE_EVTCHN: usize = 568;
    pub const XENSTORE_EVTCHN: usize = 572;
    pub const CONSOLE_DOMID: usize = 576;
    pub const XENSTORE_DOMID: usize = 580;
    pub const MAX_VCPUS: usize = 1944;
}

/// `struct xs_permissions`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XsPermissions {
    pub id: c_uint,
    pub perms: c_uint,
}

pub const XS_PERM_NONE: c_uint = 0;
pub const XS_PERM_READ: c_uint = 1;

#[link(name = "xenctrl")]
extern "C" {
    fn xc_interface_open(
        logger: *mut c_void,
        dombuild_logger: *mut c_void,
        open_flags: c_uint,
    ) -> *mut XcInterface;
    fn xc_interface_close(xch: *mut XcInterface) -> c_int;
    fn xc_domain_create(
        xch: *mut XcInterface,
        pdomid: *mut u32,
        config: *mut XenDomctlCreatedomain,
    ) -> c_int;
    fn xc_domain_max_vcpus(xch: *mut XcInterface, domid: u32, max: c_uint) -> c_int;
    fn xc_domain_setmaxmem(xch: *mut XcInterface, domid: u32, max_memkb: u64) -> c_int;
    fn xc_domain_set_memmap_limit(xch: *mut XcInterface, domid: u32, map_limitkb: c_ulong)
        -> c_int;
    fn xc_evtchn_alloc_unbound(xch: *mut XcInterface, dom: u32, remote_dom: u32) -> c_int;
    fn xc_domain_unpause(xch: *mut XcInterface, domid: u32) -> c_int;
    fn xc_domain_destroy(xch: *mut XcInterface, domid: u32) -> c_int;
    fn xc_domain_getinfolist(
        xch: *mut XcInterface,
        first_domain: u32,
        max_domains: c_uint,
        info: *mut u8,
    ) -> c_int;
}

#[link(name = "xenguest")]
extern "C" {
    fn xc_dom_allocate(
        xch: *mut XcInterface,
        cmdline: *const c_char,
        features: *const c_char,
    ) -> *mut XcDomImage;
    fn xc_dom_release(dom: *mut XcDomImage);
    fn xc_dom_kernel_file(dom: *mut XcDomImage, filename: *const c_char) -> c_int;
    fn xc_dom_boot_xen_init(dom: *mut XcDomImage, xch: *mut XcInterface, domid: u32) -> c_int;
    fn xc_dom_parse_image(dom: *mut XcDomImage) -> c_int;
    fn xc_dom_mem_init(dom: *mut XcDomImage, mem_mb: c_uint) -> c_int;
    fn xc_dom_boot_mem_init(dom: *mut XcDomImage) -> c_int;
    fn xc_dom_build_image(dom: *mut XcDomImage) -> c_int;
    fn xc_dom_boot_image(dom: *mut XcDomImage) -> c_int;
    fn xc_dom_gnttab_init(dom: *mut XcDomImage) -> c_int;
    fn xc_dom_translated(dom: *const XcDomImage) -> bool;
}

#[link(name = "xenstore")]
extern "C" {
    fn xs_open(flags: c_ulong) -> *mut XsHandle;
    fn xs_close(h: *mut XsHandle);
    fn xs_read(h: *mut XsHandle, t: u32, path: *const c_char, len: *mut c_uint) -> *mut c_void;
    fn xs_write(
        h: *mut XsHandle,
        t: u32,
        path: *const c_char,
        data: *const c_void,
        len: c_uint,
    ) -> bool;
    fn xs_mkdir(h: *mut XsHandle, t: u32, path: *const c_char) -> bool;
    fn xs_rm(h: *mut XsHandle, t: u32, path: *const c_char) -> bool;
    fn xs_set_permissions(
        h: *mut XsHandle,
        t: u32,
        path: *const c_char,
        perms: *mut XsPermissions,
        num_perms: c_uint,
    ) -> bool;
    fn xs_transaction_start(h: *mut XsHandle) -> u32;
    fn xs_transaction_end(h: *mut XsHandle, t: u32, abort: bool) -> bool;
    fn xs_introduce_domain(h: *mut XsHandle, domid: c_uint, mfn: c_ulong, eventchn: c_uint)
        -> bool;
    fn xs_release_domain(h: *mut XsHandle, domid: c_uint) -> bool;
}

extern "C" {
    /// libc's free, for what libxenstore returns malloc'd.
    fn free(p: *mut c_void);
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a string"))
}

/// The errno of the last failed call, as an error (libxenguest sometimes fails without
/// setting errno: then the `xc: error:` line it printed on stderr is the reason).
fn last() -> io::Error {
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(0) {
        io::Error::other("no errno; the library's own message is above")
    } else {
        e
    }
}

fn check(rc: c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(last())
    }
}

/// An open libxenctrl handle (`/dev/xen/privcmd`).
pub struct Xc {
    h: NonNull<XcInterface>,
}

impl Xc {
    pub fn open() -> io::Result<Xc> {
        // SAFETY: NULL loggers are documented (errors go to stderr; no domain-builder log file
        // is opened unless xc_dom_loginit is called, which leanxl never does); flags 0.
        let h = unsafe { xc_interface_open(ptr::null_mut(), ptr::null_mut(), 0) };
        NonNull::new(h).map(|h| Xc { h }).ok_or_else(last)
    }

    fn raw(&self) -> *mut XcInterface {
        self.h.as_ptr()
    }

    /// XEN_DOMCTL_createdomain; returns the new domain's id.
    pub fn create_domain(&self, cfg: &XenDomctlCreatedomain) -> io::Result<u32> {
        let mut domid: u32 = 0; // 0: "pick a free domid"
        let mut c = *cfg;
        // SAFETY: the handle is open; both pointers are to live locals of the declared types
        // (layout of XenDomctlCreatedomain checked against domctl.h by the layout test).
        check(unsafe { xc_domain_create(self.raw(), &mut domid, &mut c) })?;
        Ok(domid)
    }

    /// XEN_DOMCTL_max_vcpus: allocates the vCPUs (must match createdomain's max_vcpus).
    pub fn max_vcpus(&self, domid: u32, n: u32) -> io::Result<()> {
        // SAFETY: open handle, plain integer arguments.
        check(unsafe { xc_domain_max_vcpus(self.raw(), domid, n) })
    }

    pub fn set_max_mem_kb(&self, domid: u32, kb: u64) -> io::Result<()> {
        // SAFETY: open handle, plain integer arguments.
        check(unsafe { xc_domain_setmaxmem(self.raw(), domid, kb) })
    }

    pub fn set_memmap_limit_kb(&self, domid: u32, kb: u64) -> io::Result<()> {
        // SAFETY: open handle, plain integer arguments.
        check(unsafe { xc_domain_set_memmap_limit(self.raw(), domid, kb as c_ulong) })
    }

    /// An unbound event channel in `domid` that `remote` may bind; returns its port.
    pub fn evtchn_alloc_unbound(&self, domid: u32, remote: u32) -> io::Result<u32> {
        // SAFETY: open handle, plain integer arguments.
        let p = unsafe { xc_evtchn_alloc_unbound(self.raw(), domid, remote) };
        u32::try_from(p).map_err(|_| last())
    }

    pub fn unpause(&self, domid: u32) -> io::Result<()> {
        // SAFETY: open handle, plain integer arguments.
        check(unsafe { xc_domain_unpause(self.raw(), domid) })
    }

    pub fn destroy(&self, domid: u32) -> io::Result<()> {
        // SAFETY: open handle, plain integer arguments.
        check(unsafe { xc_domain_destroy(self.raw(), domid) })
    }

    /// Whether `domid` exists, and if so whether it is dying: one getdomaininfo hypercall.
    pub fn domain_state(&self, domid: u32) -> io::Result<Option<DomState>> {
        let mut buf = [0u64; dominfo::SIZE / 8];
        // SAFETY: open handle; the buffer holds one xc_domaininfo_t (its size is checked by
        // the layout test), 8-byte aligned as its uint64_aligned_t fields want.
        let n = unsafe { xc_domain_getinfolist(self.raw(), domid, 1, buf.as_mut_ptr().cast()) };
        if n < 0 {
            return Err(last());
        }
        let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let id = u16::from_ne_bytes([bytes[dominfo::DOMAIN], bytes[dominfo::DOMAIN + 1]]);
        let flags = u32::from_ne_bytes(
            bytes[dominfo::FLAGS..dominfo::FLAGS + 4]
                .try_into()
                .expect("4 bytes"),
        );
        // getinfolist returns the first domain >= domid: another id means no such domain
        Ok((n == 1 && u32::from(id) == domid).then_some(DomState {
            dying: flags & dominfo::DYING != 0,
        }))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomState {
    pub dying: bool,
}

impl Drop for Xc {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by xc_interface_open and is closed once, here; no
        // Dom borrowing it is alive (Dom<'a> borrows the Xc).
        unsafe { xc_interface_close(self.raw()) };
    }
}

/// A domain image being built by libxenguest (`struct xc_dom_image`); released on drop.
pub struct Dom<'a> {
    d: NonNull<XcDomImage>,
    xc: &'a Xc,
}

impl<'a> Dom<'a> {
    /// `xc_dom_allocate` with a command line (no feature string).
    pub fn allocate(xc: &'a Xc, cmdline: &str) -> io::Result<Dom<'a>> {
        let c = cstr(cmdline)?;
        // SAFETY: open handle; libxenguest copies the command line into the image.
        let d = unsafe { xc_dom_allocate(xc.raw(), c.as_ptr(), ptr::null()) };
        NonNull::new(d).map(|d| Dom { d, xc }).ok_or_else(last)
    }

    fn raw(&self) -> *mut XcDomImage {
        self.d.as_ptr()
    }

    /// Writes a 32-bit field of the image.
    fn set_u32(&mut self, off: usize, v: u32) {
        // SAFETY: `off` is one of the `dom_image` offsets of a 32-bit field (unsigned int or
        // uint32_t) of struct xc_dom_image, checked against xenguest.h by the layout test;
        // the image is live (allocated by xc_dom_allocate) and 8-byte aligned (malloc).
        unsafe { self.raw().cast::<u8>().add(off).cast::<u32>().write(v) }
    }

    /// Reads a 64-bit field (xen_pfn_t, a pointer) of the image.
    fn get_u64(&self, off: usize) -> u64 {
        // SAFETY: as set_u32, for the 64-bit fields (xen_pfn_t is unsigned long on x86_64,
        // pointers are 8 bytes), whose offsets are multiples of 8.
        unsafe { self.raw().cast::<u8>().add(off).cast::<u64>().read() }
    }

    /// The event channels and backend domains of the console and xenstore (start_info), and
    /// the number of vCPUs: what libxl sets before building.
    pub fn set_ports(&mut self, console: u32, store: u32, backend: u32, vcpus: u32) {
        self.set_u32(dom_image::CONSOLE_EVTCHN, console);
        self.set_u32(dom_image::XENSTORE_EVTCHN, store);
        self.set_u32(dom_image::CONSOLE_DOMID, backend);
        self.set_u32(dom_image::XENSTORE_DOMID, backend);
        self.set_u32(dom_image::MAX_VCPUS, vcpus);
    }

    pub fn kernel_file(&mut self, path: &str) -> io::Result<()> {
        let c = cstr(path)?;
        // SAFETY: live image; libxenguest reads (maps) the file and keeps its own copy.
        check(unsafe { xc_dom_kernel_file(self.raw(), c.as_ptr()) })
    }

    pub fn boot_xen_init(&mut self, domid: u32) -> io::Result<()> {
        // SAFETY: live image; the Xc handle outlives the image (Dom<'a> borrows it).
        check(unsafe { xc_dom_boot_xen_init(self.raw(), self.xc.raw(), domid) })
    }

    pub fn parse_image(&mut self) -> io::Result<()> {
        // SAFETY: live image with a kernel loaded.
        check(unsafe { xc_dom_parse_image(self.raw()) })
    }

    pub fn mem_init(&mut self, mb: u32) -> io::Result<()> {
        // SAFETY: live image.
        check(unsafe { xc_dom_mem_init(self.raw(), mb) })
    }

    pub fn boot_mem_init(&mut self) -> io::Result<()> {
        // SAFETY: live image.
        check(unsafe { xc_dom_boot_mem_init(self.raw()) })
    }

    pub fn build_image(&mut self) -> io::Result<()> {
        // SAFETY: live image.
        check(unsafe { xc_dom_build_image(self.raw()) })
    }

    pub fn boot_image(&mut self) -> io::Result<()> {
        // SAFETY: live image.
        check(unsafe { xc_dom_boot_image(self.raw()) })
    }

    pub fn gnttab_init(&mut self) -> io::Result<()> {
        // SAFETY: live image.
        check(unsafe { xc_dom_gnttab_init(self.raw()) })
    }

    /// Guest frame -> machine frame, as the header's inline `xc_dom_p2m` does: identity for
    /// a translated guest, else the PV p2m table built by libxenguest.
    fn p2m(&self, pfn: u64) -> Option<u64> {
        // SAFETY: live image.
        if unsafe { xc_dom_translated(self.raw()) } {
            return Some(pfn);
        }
        let total = self.get_u64(dom_image::TOTAL_PAGES);
        let table = self.get_u64(dom_image::PV_P2M) as *const u64;
        if pfn >= total || table.is_null() {
            return None;
        }
        // SAFETY: pv_p2m has total_pages entries of xen_pfn_t (u64) after build_image, and
        // pfn < total_pages.
        Some(unsafe { table.add(pfn as usize).read() })
    }

    /// The machine frames of the console and xenstore rings (after build).
    pub fn ring_mfns(&self) -> Option<(u64, u64)> {
        Some((
            self.p2m(self.get_u64(dom_image::CONSOLE_PFN))?,
            self.p2m(self.get_u64(dom_image::XENSTORE_PFN))?,
        ))
    }
}

impl Drop for Dom<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated by xc_dom_allocate, released once, here.
        unsafe { xc_dom_release(self.raw()) }
    }
}

/// A connection to xenstored.
pub struct Xs {
    h: NonNull<XsHandle>,
}

/// A xenstore transaction id (0 = none).
pub type Tx = u32;

impl Xs {
    pub fn open() -> io::Result<Xs> {
        // SAFETY: flags 0 (read-write connection over the socket, else xenbus).
        let h = unsafe { xs_open(0) };
        NonNull::new(h).map(|h| Xs { h }).ok_or_else(last)
    }

    fn raw(&self) -> *mut XsHandle {
        self.h.as_ptr()
    }

    /// The value at `path`, `None` if it does not exist.
    pub fn read(&self, t: Tx, path: &str) -> io::Result<Option<String>> {
        let c = cstr(path)?;
        let mut len: c_uint = 0;
        // SAFETY: open handle, NUL-terminated path, `len` a live out-parameter.
        let p = unsafe { xs_read(self.raw(), t, c.as_ptr(), &mut len) };
        if p.is_null() {
            let e = last();
            return if e.raw_os_error() == Some(libc_enoent()) {
                Ok(None)
            } else {
                Err(e)
            };
        }
        // SAFETY: xs_read returns a malloc'd, NUL-terminated buffer of len bytes; it is
        // copied and then freed once.
        let s = unsafe {
            let s = CStr::from_ptr(p.cast::<c_char>())
                .to_string_lossy()
                .into_owned();
            free(p);
            s
        };
        Ok(Some(s))
    }

    pub fn write(&self, t: Tx, path: &str, value: &str) -> io::Result<()> {
        let c = cstr(path)?;
        // SAFETY: open handle, NUL-terminated path, `value` valid for its length.
        let ok = unsafe {
            xs_write(
                self.raw(),
                t,
                c.as_ptr(),
                value.as_ptr().cast(),
                value.len() as c_uint,
            )
        };
        ok.then_some(()).ok_or_else(last)
    }

    pub fn mkdir(&self, t: Tx, path: &str) -> io::Result<()> {
        let c = cstr(path)?;
        // SAFETY: open handle, NUL-terminated path.
        let ok = unsafe { xs_mkdir(self.raw(), t, c.as_ptr()) };
        ok.then_some(()).ok_or_else(last)
    }

    /// Removes `path` and everything below; a path that does not exist is not an error.
    pub fn rm(&self, t: Tx, path: &str) -> io::Result<()> {
        let c = cstr(path)?;
        // SAFETY: open handle, NUL-terminated path.
        let ok = unsafe { xs_rm(self.raw(), t, c.as_ptr()) };
        if ok {
            return Ok(());
        }
        let e = last();
        if e.raw_os_error() == Some(libc_enoent()) {
            Ok(())
        } else {
            Err(e)
        }
    }

    pub fn set_perms(&self, t: Tx, path: &str, perms: &[XsPermissions]) -> io::Result<()> {
        let c = cstr(path)?;
        let mut p = perms.to_vec();
        // SAFETY: open handle, NUL-terminated path, `p` holds perms.len() entries of the
        // declared layout (two unsigned ints, as xenstore_lib.h).
        let ok = unsafe {
            xs_set_permissions(self.raw(), t, c.as_ptr(), p.as_mut_ptr(), p.len() as c_uint)
        };
        ok.then_some(()).ok_or_else(last)
    }

    pub fn transaction_start(&self) -> io::Result<Tx> {
        // SAFETY: open handle.
        let t = unsafe { xs_transaction_start(self.raw()) };
        if t == 0 {
            Err(last())
        } else {
            Ok(t)
        }
    }

    /// Commits (or aborts) a transaction; `Err` with EAGAIN means "conflict: try again".
    pub fn transaction_end(&self, t: Tx, abort: bool) -> io::Result<()> {
        // SAFETY: open handle, a transaction id from transaction_start.
        let ok = unsafe { xs_transaction_end(self.raw(), t, abort) };
        ok.then_some(()).ok_or_else(last)
    }

    pub fn introduce(&self, domid: u32, store_mfn: u64, store_port: u32) -> io::Result<()> {
        // SAFETY: open handle, plain integer arguments.
        let ok =
            unsafe { xs_introduce_domain(self.raw(), domid, store_mfn as c_ulong, store_port) };
        ok.then_some(()).ok_or_else(last)
    }

    pub fn release(&self, domid: u32) -> io::Result<()> {
        // SAFETY: open handle, plain integer argument.
        let ok = unsafe { xs_release_domain(self.raw(), domid) };
        ok.then_some(()).ok_or_else(last)
    }
}

impl Drop for Xs {
    fn drop(&mut self) {
        // SAFETY: opened by xs_open, closed once, here.
        unsafe { xs_close(self.raw()) }
    }
}

/// ENOENT on Linux (the only platform leanxl is for).
const fn libc_enoent() -> i32 {
    2
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::mem::{offset_of, size_of};
    use std::process::Command;

    /// Compiles tests/layout.c against the installed Xen headers and runs it (with `args`):
    /// one `name value` line per fact.
    fn run_layout_c(tag: &str, args: &[&str]) -> BTreeMap<String, usize> {
        let dir = std::env::temp_dir().join(format!("leanxl-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("layout");
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/layout.c");
        let out = Command::new("cc")
            .args(["-std=gnu11", "-Wall", "-o"])
            .arg(&exe)
            .arg(src)
            .output()
            .expect("running cc (gcc is installed by tools/setup.sh)");
        assert!(
            out.status.success(),
            "compiling {src}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = Command::new(&exe).args(args).output().unwrap();
        assert!(run.status.success());
        let _ = std::fs::remove_dir_all(&dir);
        String::from_utf8(run.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(' ').unwrap();
                (k.to_string(), v.parse().unwrap())
            })
            .collect()
    }

    /// Sizes and offsets.
    fn c_layout() -> BTreeMap<String, usize> {
        run_layout_c("layout", &[])
    }

    #[test]
    fn layouts_match_the_installed_headers() {
        let c = c_layout();
        type Cd = XenDomctlCreatedomain;
        let rust: Vec<(&str, usize)> = vec![
            ("createdomain.size", size_of::<Cd>()),
            ("createdomain.ssidref", offset_of!(Cd, ssidref)),
            ("createdomain.handle", offset_of!(Cd, handle)),
            ("createdomain.flags", offset_of!(Cd, flags)),
            ("createdomain.iommu_opts", offset_of!(Cd, iommu_opts)),
            ("createdomain.max_vcpus", offset_of!(Cd, max_vcpus)),
            (
                "createdomain.max_evtchn_port",
                offset_of!(Cd, max_evtchn_port),
            ),
            (
                "createdomain.max_grant_frames",
                offset_of!(Cd, max_grant_frames),
            ),
            (
                "createdomain.max_maptrack_frames",
                offset_of!(Cd, max_maptrack_frames),
            ),
            ("createdomain.grant_opts", offset_of!(Cd, grant_opts)),
            ("createdomain.vmtrace_size", offset_of!(Cd, vmtrace_size)),
            ("createdomain.cpupool_id", offset_of!(Cd, cpupool_id)),
            ("createdomain.arch", offset_of!(Cd, arch)),
            ("arch.size", size_of::<XenArchDomainconfig>()),
            (
                "arch.emulation_flags",
                offset_of!(XenArchDomainconfig, emulation_flags),
            ),
            (
                "arch.misc_flags",
                offset_of!(XenArchDomainconfig, misc_flags),
            ),
            ("dominfo.size", dominfo::SIZE),
            ("dominfo.domain", dominfo::DOMAIN),
            ("dominfo.flags", dominfo::FLAGS),
            ("dominfo.dying", dominfo::DYING as usize),
            ("dom.console_pfn", dom_image::CONSOLE_PFN),
            ("dom.xenstore_pfn", dom_image::XENSTORE_PFN),
            ("dom.pv_p2m", dom_image::PV_P2M),
            ("dom.total_pages", dom_image::TOTAL_PAGES),
            ("dom.console_evtchn", dom_image::CONSOLE_EVTCHN),
            ("dom.xenstore_evtchn", dom_image::XENSTORE_EVTCHN),
            ("dom.console_domid", dom_image::CONSOLE_DOMID),
            ("dom.xenstore_domid", dom_image::XENSTORE_DOMID),
            ("dom.max_vcpus", dom_image::MAX_VCPUS),
            ("xs_permissions.size", size_of::<XsPermissions>()),
            ("xs_permissions.perms", offset_of!(XsPermissions, perms)),
            ("XS_PERM_READ", XS_PERM_READ as usize),
            ("XS_PERM_NONE", XS_PERM_NONE as usize),
            ("grant_version_1", grant_version(1) as usize),
            ("ENOENT", libc_enoent() as usize),
        ];
        let mut bad = Vec::new();
        for (k, v) in &rust {
            match c.get(*k) {
                Some(cv) if cv == v => {}
                other => bad.push(format!("{k}: rust {v}, C {other:?}")),
            }
        }
        assert_eq!(c.len(), rust.len(), "C printed {c:?}");
        assert!(bad.is_empty(), "layout mismatches:\n{}", bad.join("\n"));
    }

    #[test]
    fn field_sizes_are_what_the_accessors_assume() {
        let c = c_layout_sizes();
        for (k, want) in [
            ("dom.console_pfn", 8),
            ("dom.xenstore_pfn", 8),
            ("dom.pv_p2m", 8),
            ("dom.total_pages", 8),
            ("dom.console_evtchn", 4),
            ("dom.xenstore_evtchn", 4),
            ("dom.console_domid", 4),
            ("dom.xenstore_domid", 4),
            ("dom.max_vcpus", 4),
            ("dominfo.domain", 2),
            ("dominfo.flags", 4),
        ] {
            assert_eq!(c.get(k), Some(&want), "sizeof {k}");
        }
    }

    /// The field sizes, from the same C program run with an argument.
    fn c_layout_sizes() -> BTreeMap<String, usize> {
        run_layout_c("sizes", &["sizes"])
    }
}
