//! The Linux PV reference guest: a case whose `kernel` is `xenhost:linux` boots Debian's kernel
//! (`linux-guest-vmlinuz` of the image) with the image's base busybox initramfs
//! (`linux-guest-initrd.gz`) plus a second cpio archive made here per run that holds the
//! current `/init` (assets/linux-guest-init) and `/bin/guestbench`. Linux unpacks concatenated
//! archives in order, so those two replace or add to the base's.
//! The whole ramdisk is left uncompressed (the base is gunzipped here): libxenguest gunzips a
//! ramdisk that starts with the gzip magic itself, taking the size from its last 4 bytes, which
//! after an appended archive are garbage: `xc_dom_do_gunzip: inflate failed` and, under TCG,
//! ~100 s lost in `xl create` before it fell back to copying the blob as it is.
//! guestbench is also put at the share's root (`/mnt/host/guestbench` in dom0) for dom0 hooks.

use std::fs;
use std::path::{Path, PathBuf};

/// The `kernel` value of a case that runs the Linux reference guest.
pub const KERNEL: &str = "xenhost:linux";

/// The guest's /init.
pub const INIT: &str = include_str!("../assets/linux-guest-init");

/// Where guestbench is built (static, musl), relative to the repository root.
pub const GUESTBENCH: &str = "tools/target/x86_64-unknown-linux-musl/release/guestbench";

/// How to build it.
pub const GUESTBENCH_BUILD: &str = "cargo build --release --manifest-path tools/Cargo.toml \
     --target x86_64-unknown-linux-musl -p guestbench";

/// Is this case kernel the Linux reference guest?
pub fn is_linux(kernel: &Path) -> bool {
    kernel.as_os_str() == KERNEL
}

/// The built guestbench, if there is one.
pub fn guestbench(root: &Path) -> Option<PathBuf> {
    let p = root.join(GUESTBENCH);
    p.is_file().then_some(p)
}

/// One member of a cpio archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member<'a> {
    /// A directory.
    Dir(&'a str),
    /// A regular file with its permission bits.
    File(&'a str, u32, &'a [u8]),
}

fn pad4(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
}

fn header(v: &mut Vec<u8>, ino: u32, mode: u32, nlink: u32, size: usize, name: &str) {
    // "new ASCII" (newc) format: magic then 13 fields of 8 hex digits
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime: reproducible
        size as u32,
        0, // devmajor
        0, // devminor
        0, // rdevmajor
        0, // rdevminor
        name.len() as u32 + 1,
        0, // check
    ];
    v.extend_from_slice(b"070701");
    for f in fields {
        v.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    v.extend_from_slice(name.as_bytes());
    v.push(0);
    pad4(v);
}

/// A newc cpio archive of `members` (names without a leading `/`), with its trailer.
pub fn newc(members: &[Member]) -> Vec<u8> {
    let mut v = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let ino = i as u32 + 1;
        match m {
            Member::Dir(name) => header(&mut v, ino, 0o040755, 2, 0, name),
            Member::File(name, perm, data) => {
                header(&mut v, ino, 0o100000 | (perm & 0o7777), 1, data.len(), name);
                v.extend_from_slice(data);
                pad4(&mut v);
            }
        }
    }
    header(&mut v, 0, 0, 1, 0, "TRAILER!!!");
    v
}

/// The guest's initramfs: the image's `base` (gzip'd cpio), padded to 4 bytes, then an
/// archive with `/init` and `/bin/guestbench`.
pub fn ramdisk(base: &[u8], init: &str, guestbench: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    pad4(&mut v);
    v.extend_from_slice(&newc(&[
        Member::File("init", 0o755, init.as_bytes()),
        Member::Dir("bin"),
        Member::File("bin/guestbench", 0o755, guestbench),
    ]));
    v
}

/// The contents of a gzip file (`gzip -dc`); a file that is not gzip'd is returned as it is.
fn gunzip(path: &Path) -> Result<Vec<u8>, String> {
    let raw = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let out = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .output()
        .map_err(|e| format!("gzip -dc {}: {e}", path.display()))?;
    if !out.status.success() {
        return Err(format!(
            "gzip -dc {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// Puts the guest's kernel and initramfs into a case's share directory `d` (as `kernel` and
/// `ramdisk`).
pub fn prepare_case(
    img: Option<&crate::image::Image>,
    root: &Path,
    d: &Path,
) -> Result<(), String> {
    let img = img.ok_or("the Xen host image is not available (it holds the Linux guest)")?;
    let gb = guestbench(root).ok_or_else(|| {
        format!(
            "{} not found (build it first: {GUESTBENCH_BUILD})",
            root.join(GUESTBENCH).display()
        )
    })?;
    let base = gunzip(&img.linux_guest_initrd())?;
    let tool = fs::read(&gb).map_err(|e| format!("{}: {e}", gb.display()))?;
    fs::copy(img.linux_guest_kernel(), d.join("kernel"))
        .map_err(|e| format!("copying the Linux guest kernel: {e}"))?;
    fs::write(d.join("ramdisk"), ramdisk(&base, INIT, &tool))
        .map_err(|e| format!("writing the Linux guest initramfs: {e}"))
}

/// Where leanxl (the lean domain creator for density runs, dynamically linked against dom0's
/// Xen 4.17 libraries) is built, relative to the repository root.
pub const LEANXL: &str = "tools/target/release/leanxl";

/// How to build it.
pub const LEANXL_BUILD: &str = "cargo build --release --manifest-path tools/Cargo.toml -p leanxl";

/// Copies leanxl to the share's root (`/mnt/host/leanxl` in dom0); the error says how to
/// build it when it is missing.
pub fn install_leanxl(root: &Path, share: &Path) -> Result<PathBuf, String> {
    let src = root.join(LEANXL);
    if !src.is_file() {
        return Err(format!(
            "no leanxl at {} (build it with: {LEANXL_BUILD})",
            src.display()
        ));
    }
    let dst = share.join("leanxl");
    fs::copy(&src, &dst).map_err(|e| format!("copying leanxl into the share: {e}"))?;
    Ok(dst)
}

/// Copies guestbench and leanxl (if built) to the share's root for dom0 hooks; says so
/// either way.
pub fn install_tool(root: &Path, share: &Path) {
    match install_leanxl(root, share) {
        Ok(_) => println!("[xenhost] leanxl for dom0: /mnt/host/leanxl"),
        Err(e) => println!("[xenhost] note: {e}"),
    }
    match guestbench(root) {
        Some(gb) => match fs::copy(&gb, share.join("guestbench")) {
            Ok(_) => println!("[xenhost] guestbench for dom0: /mnt/host/guestbench"),
            Err(e) => println!("[xenhost] WARNING: copying guestbench into the share: {e}"),
        },
        None => println!(
            "[xenhost] note: no guestbench in dom0 (/mnt/host/guestbench); build it with: \
             {GUESTBENCH_BUILD}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a newc archive back: (name, mode, data) per member, trailer excluded; checks
    /// the format on the way.
    fn parse(mut a: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        loop {
            assert_eq!(&a[..6], b"070701", "magic at {pos}");
            let field = |i: usize| {
                u32::from_str_radix(std::str::from_utf8(&a[6 + 8 * i..14 + 8 * i]).unwrap(), 16)
                    .unwrap()
            };
            let (mode, size, namesize) = (field(1), field(6) as usize, field(11) as usize);
            let name = std::str::from_utf8(&a[110..110 + namesize - 1])
                .unwrap()
                .to_string();
            assert_eq!(a[110 + namesize - 1], 0);
            let data_at = (110 + namesize).div_ceil(4) * 4;
            let data = a[data_at..data_at + size].to_vec();
            let next = (data_at + size).div_ceil(4) * 4;
            pos += next;
            a = &a[next..];
            if name == "TRAILER!!!" {
                assert!(a.is_empty());
                return out;
            }
            out.push((name, mode, data));
        }
    }

    #[test]
    fn newc_archives_read_back() {
        let a = newc(&[
            Member::File("init", 0o755, b"#!/bin/sh\n"),
            Member::Dir("bin"),
            Member::File("bin/x", 0o644, b"12345"),
            Member::File("empty", 0o600, b""),
        ]);
        assert_eq!(a.len() % 4, 0);
        let m = parse(&a);
        assert_eq!(
            m,
            vec![
                ("init".into(), 0o100755, b"#!/bin/sh\n".to_vec()),
                ("bin".into(), 0o040755, vec![]),
                ("bin/x".into(), 0o100644, b"12345".to_vec()),
                ("empty".into(), 0o100600, vec![]),
            ]
        );
    }

    #[test]
    fn ramdisk_is_the_base_then_an_aligned_archive() {
        let base = b"\x1f\x8b fake gzip";
        let r = ramdisk(base, "#!/bin/sh\necho hi\n", b"\x7fELF tool");
        assert!(r.starts_with(base));
        let at = base.len().div_ceil(4) * 4;
        assert!(r[base.len()..at].iter().all(|&b| b == 0));
        let m = parse(&r[at..]);
        assert_eq!(m[0].0, "init");
        assert_eq!(m[0].2, b"#!/bin/sh\necho hi\n");
        assert_eq!(
            m[2],
            ("bin/guestbench".into(), 0o100755, b"\x7fELF tool".to_vec())
        );
    }

    #[test]
    fn gzip_files_are_unpacked_and_others_kept() {
        let dir = std::env::temp_dir().join(format!("xenhost-gunzip-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let plain = dir.join("plain");
        fs::write(&plain, b"070701 not compressed").unwrap();
        assert_eq!(gunzip(&plain).unwrap(), b"070701 not compressed");
        let st = std::process::Command::new("gzip")
            .arg("-k")
            .arg(&plain)
            .status()
            .unwrap();
        assert!(st.success());
        assert_eq!(
            gunzip(&dir.join("plain.gz")).unwrap(),
            b"070701 not compressed"
        );
        fs::write(dir.join("bad.gz"), b"\x1f\x8b truncated").unwrap();
        assert!(gunzip(&dir.join("bad.gz"))
            .unwrap_err()
            .contains("gzip -dc"));
        assert!(gunzip(&dir.join("missing")).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_linux_ref_manifest_parses_and_its_configs_exist() {
        let m =
            crate::manifest::parse(include_str!("../../../guest-tests/linux-ref.toml")).unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        assert!(m.cases.len() >= 3);
        for c in &m.cases {
            assert!(is_linux(&c.kernel), "{}", c.name);
            let cfg = fs::read_to_string(c.config_path(&root)).unwrap();
            // a Linux PV guest needs more than 80 MB
            let mem = crate::xlcfg::get(&cfg, "memory").unwrap();
            assert!(
                mem.parse::<u32>().unwrap() >= 96,
                "{}: memory {mem}",
                c.name
            );
            assert!(crate::xlcfg::get(&cfg, "extra")
                .unwrap()
                .contains("console=hvc0"));
        }
    }

    #[test]
    fn the_init_script_knows_its_options_and_markers() {
        assert!(INIT.starts_with("#!/bin/sh\n"));
        for s in [
            "minios.ip=",
            "minios.run=",
            "minios.wait=",
            "LINUXREF-READY",
            "LINUXREF-DONE",
            "poweroff -f",
        ] {
            assert!(INIT.contains(s), "{s}");
        }
        assert!(is_linux(Path::new("xenhost:linux")));
        assert!(!is_linux(Path::new(
            "target/x86_64-unknown-none/release/hello"
        )));
    }
}
