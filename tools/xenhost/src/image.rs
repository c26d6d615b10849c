//! The Xen host image: Xen 4.17 and a Debian 12 PV dom0, built from Debian packages by
//! assets/build-image.sh and cached outside the repository in
//! `${MINIOS_CACHE:-$HOME/.cache/minios}/xenhost-<hash>/`, where `<hash>` covers the recipe
//! (build script, package list, dom0 init, xen defaults). A build goes to a temporary sibling
//! directory that is renamed into place only when complete.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha2::{Digest, Sha256};

/// The recipe files, embedded in the binary: (file name, text).
pub const RECIPE: &[(&str, &str)] = &[
    ("build-image.sh", include_str!("../assets/build-image.sh")),
    ("packages.txt", include_str!("../assets/packages.txt")),
    ("minios-init", include_str!("../assets/minios-init")),
    ("xen-default", include_str!("../assets/xen-default")),
];

/// Files a complete image directory has.
const IMAGE_FILES: &[&str] = &[
    "xen",
    "vmlinuz",
    "initrd.img",
    "dom0.img",
    "versions.txt",
    "linux-guest-vmlinuz",
    "linux-guest-initrd.gz",
];

/// Hash of a recipe: SHA-256 over every file's name and text, first 16 hex digits.
pub fn recipe_hash(recipe: &[(&str, &str)]) -> String {
    let mut h = Sha256::new();
    for (name, text) in recipe {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    }
    h.finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `$MINIOS_CACHE`, else `$HOME/.cache/minios`.
pub fn cache_root() -> PathBuf {
    match std::env::var_os("MINIOS_CACHE") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            PathBuf::from(home).join(".cache/minios")
        }
    }
}

/// A complete, cached image.
#[derive(Debug, Clone)]
pub struct Image {
    /// The cache directory.
    pub dir: PathBuf,
}

impl Image {
    /// The image in `dir`, if it is complete.
    pub fn load(dir: &Path) -> Option<Image> {
        IMAGE_FILES
            .iter()
            .all(|f| dir.join(f).is_file())
            .then(|| Image {
                dir: dir.to_path_buf(),
            })
    }
    /// Xen (multiboot ELF).
    pub fn xen(&self) -> PathBuf {
        self.dir.join("xen")
    }
    /// dom0 kernel.
    pub fn vmlinuz(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }
    /// dom0 initramfs.
    pub fn initrd(&self) -> PathBuf {
        self.dir.join("initrd.img")
    }
    /// Kernel of the Linux PV reference guest (Debian's, the same as dom0's).
    pub fn linux_guest_kernel(&self) -> PathBuf {
        self.dir.join("linux-guest-vmlinuz")
    }
    /// Base initramfs of the Linux PV reference guest (busybox, libc, xen-netfront,
    /// xen-blkfront); xenhost appends the /init and guestbench per run (linuxguest.rs).
    pub fn linux_guest_initrd(&self) -> PathBuf {
        self.dir.join("linux-guest-initrd.gz")
    }
    /// dom0 root file system (ext4), used with `snapshot=on`.
    pub fn disk(&self) -> PathBuf {
        self.dir.join("dom0.img")
    }
    /// `versions.txt`: the Xen and dom0 package versions.
    pub fn versions(&self) -> String {
        fs::read_to_string(self.dir.join("versions.txt")).unwrap_or_default()
    }
    /// One-line summary of the versions.
    pub fn summary(&self) -> String {
        let v = self.versions();
        let get = |k: &str| {
            v.lines()
                .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                .unwrap_or("?")
                .to_string()
        };
        format!(
            "Xen {}, dom0 Linux {} (Debian {})",
            get("xen-hypervisor-4.17-amd64"),
            get("dom0-kernel"),
            get("debian")
        )
    }
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Is `prog` on PATH (or an existing path)?
pub fn have_program(prog: &str) -> bool {
    if prog.contains('/') {
        return Path::new(prog).is_file();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].iter().map(PathBuf::from))
        .any(|d| d.join(prog).is_file())
}

/// Mount points at or below `dir` (deepest first), from /proc/self/mounts.
fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut v: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|m| PathBuf::from(m.replace("\\040", " ")))
        .filter(|m| m.starts_with(dir))
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    v
}

/// Removes a (stale or failed) build directory: unmounts what an interrupted build may have
/// left mounted in its chroot first, and never crosses into another file system.
fn remove_build_dir(dir: &Path) -> Result<(), String> {
    for m in mounts_below(dir) {
        let _ = Command::new("umount").arg("-l").arg(&m).status();
    }
    if !mounts_below(dir).is_empty() {
        return Err(format!(
            "{} still has mounts below it; not removing it",
            dir.display()
        ));
    }
    let st = Command::new("rm")
        .args(["-rf", "--one-file-system"])
        .arg(dir)
        .status()
        .map_err(|e| format!("rm: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("could not remove {}", dir.display()))
    }
}

/// The image of the current recipe: from the cache, or built now.
pub fn ensure() -> Result<Image, String> {
    let hash = recipe_hash(RECIPE);
    let root = cache_root();
    let dir = root.join(format!("xenhost-{hash}"));
    if let Some(img) = Image::load(&dir) {
        println!("[image] cached: {} ({})", dir.display(), img.summary());
        return Ok(img);
    }
    fs::create_dir_all(&root).map_err(|e| format!("creating {}: {e}", root.display()))?;
    // One build at a time per recipe.
    let lock_path = root.join(format!("xenhost-{hash}.lock"));
    let lock = fs::File::create(&lock_path)
        .map_err(|e| format!("creating {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    if let Some(img) = Image::load(&dir) {
        println!(
            "[image] cached (built by another process): {}",
            dir.display()
        );
        return Ok(img);
    }
    if dir.exists() {
        // incomplete (should not happen: only complete builds are renamed into place)
        remove_build_dir(&dir)?;
    }
    let tmp_prefix = format!("xenhost-{hash}.tmp.");
    for e in fs::read_dir(&root).map_err(|e| format!("{}: {e}", root.display()))? {
        let e = e.map_err(|e| e.to_string())?;
        if e.file_name().to_string_lossy().starts_with(&tmp_prefix) {
            println!(
                "[image] removing the remains of an interrupted build: {}",
                e.path().display()
            );
            remove_build_dir(&e.path())?;
        }
    }

    if !is_root() {
        return Err("building the Xen host image needs root (debootstrap, chroot)".into());
    }
    let missing: Vec<&str> = ["debootstrap", "mkfs.ext4", "chroot", "gunzip", "bash"]
        .into_iter()
        .filter(|p| !have_program(p))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing host programs {missing:?}: run tools/setup.sh (./minios setup)"
        ));
    }

    let tmp = root.join(format!("{tmp_prefix}{}", std::process::id()));
    let recipe_dir = tmp.join("recipe");
    fs::create_dir_all(&recipe_dir).map_err(|e| format!("{}: {e}", recipe_dir.display()))?;
    for (name, text) in RECIPE {
        fs::write(recipe_dir.join(name), text).map_err(|e| format!("writing recipe: {e}"))?;
    }
    println!(
        "[image] building the Xen host image {hash} from Debian packages (a few minutes)\n\
         [image]   into {} (log: {})",
        tmp.display(),
        tmp.join("build.log").display()
    );
    let t0 = Instant::now();
    let status = Command::new("bash")
        .arg(recipe_dir.join("build-image.sh"))
        .arg(&recipe_dir)
        .arg(&tmp)
        .status()
        .map_err(|e| format!("running build-image.sh: {e}"))?;
    if !status.success() {
        let log = fs::read_to_string(tmp.join("build.log")).unwrap_or_default();
        let failed_log = root.join(format!("xenhost-{hash}.failed.log"));
        let _ = fs::write(&failed_log, &log);
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        eprintln!("[image] build log, last lines:");
        for l in tail.iter().rev() {
            eprintln!("    {l}");
        }
        let _ = remove_build_dir(&tmp);
        return Err(format!(
            "building the Xen host image failed ({status}); full log: {}",
            failed_log.display()
        ));
    }
    if Image::load(&tmp).is_none() {
        let _ = remove_build_dir(&tmp);
        return Err("build-image.sh succeeded but the image is incomplete".into());
    }
    fs::write(tmp.join("recipe-hash"), format!("{hash}\n")).map_err(|e| e.to_string())?;
    fs::rename(&tmp, &dir).map_err(|e| format!("renaming the build into place: {e}"))?;
    let img = Image::load(&dir).ok_or("image vanished after rename")?;
    println!(
        "[image] built in {:.0} s: {} ({})",
        t0.elapsed().as_secs_f64(),
        dir.display(),
        img.summary()
    );
    drop(lock);
    prune_old_images(&root, &dir, KEEP_OLD_IMAGES);
    Ok(img)
}

/// Images of other recipes kept besides the current one (each is ~1.5 GB).
const KEEP_OLD_IMAGES: usize = 1;

/// Is `name` a finished image directory's name (`xenhost-<16 hex digits>`)?
fn is_image_name(name: &str) -> bool {
    name.strip_prefix("xenhost-")
        .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Removes all but the `keep` most recently built images of other recipes.
fn prune_old_images(root: &Path, current: &Path, keep: usize) {
    let Ok(rd) = fs::read_dir(root) else { return };
    let mut old: Vec<(std::time::SystemTime, PathBuf)> = rd
        .filter_map(Result::ok)
        .filter(|e| is_image_name(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .filter(|p| p != current && p.is_dir())
        .map(|p| {
            let t = fs::metadata(&p)
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (t, p)
        })
        .collect();
    old.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (_, p) in old.into_iter().skip(keep) {
        println!("[image] removing an old image: {}", p.display());
        if remove_build_dir(&p).is_ok() {
            let _ = fs::remove_file(p.with_extension("lock"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_covers_every_file_and_its_name() {
        let a = recipe_hash(&[("a", "x"), ("b", "y")]);
        assert_eq!(a.len(), 16);
        assert_eq!(a, recipe_hash(&[("a", "x"), ("b", "y")]));
        assert_ne!(a, recipe_hash(&[("a", "x"), ("b", "z")]));
        assert_ne!(a, recipe_hash(&[("a", "x"), ("c", "y")]));
        assert_ne!(a, recipe_hash(&[("a", "xb"), ("", "y")]));
    }

    #[test]
    fn image_names() {
        assert!(is_image_name("xenhost-8f69a26fca9f8e68"));
        assert!(!is_image_name("xenhost-8f69a26fca9f8e68.tmp.1"));
        assert!(!is_image_name("xenhost-8f69a26fca9f8e68.lock"));
        assert!(!is_image_name("xenhost-xyz"));
    }

    #[test]
    fn recipe_is_complete() {
        let names: Vec<&str> = RECIPE.iter().map(|r| r.0).collect();
        assert_eq!(
            names,
            [
                "build-image.sh",
                "packages.txt",
                "minios-init",
                "xen-default"
            ]
        );
        let pkgs = RECIPE[1].1;
        for p in [
            "xen-hypervisor-4.17-amd64",
            "xen-utils-4.17",
            "linux-image-amd64",
        ] {
            assert!(pkgs.lines().any(|l| l.trim() == p), "{p} missing");
        }
    }
}
