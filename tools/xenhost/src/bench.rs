//! `xenhost bench <kernel> <xl-cfg> [<pvh-xl-cfg>] [--runs N]`: the size of a guest image
//! (file, stripped file, loaded extent) and its boot time over N runs in one boot of the Xen
//! host, printed next to the C Mini-OS reference figures as ratios. With a PVH config, the
//! same image also boots N times as PVH (interleaved with the PV boots, so both see the same
//! load), and dom0 first probes the smallest `memory=` at which it reaches its ready marker
//! in each mode (PV; PVH with libxl's default paging pool; PVH with `shadow_memory = 0`).
//!
//! Boot time is measured two ways: from inside (`MINIOS-READY boot_us=<n>`, first instruction
//! to ready by the guest's pvclock) and from outside (`xl create` start until the marker is in
//! xenconsoled's log, which includes the toolstack's domain build).

use std::path::Path;
use std::process::{Command, ExitCode};

use super::{boot_and_judge, open_image, out_dir, prepare, repo_root, Args, RunDir};
use crate::job::Item;
use crate::manifest::Case;

/// C Mini-OS (upstream, PV, with its test app): stripped image size in bytes.
pub const C_MINIOS_STRIPPED_BYTES: u64 = 146_104;
/// C Mini-OS: loaded extent (sum over PT_LOAD segments of the address range) in KiB.
pub const C_MINIOS_EXTENT_KIB: u64 = 511;

/// The address range the PT_LOAD segments of an ELF64 little-endian image occupy, in bytes.
pub fn loaded_extent(elf: &[u8]) -> Result<u64, String> {
    let u16_at = |o: usize| -> Result<u64, String> {
        elf.get(o..o + 2)
            .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(|| "truncated ELF".to_string())
    };
    let u32_at = |o: usize| -> Result<u64, String> {
        elf.get(o..o + 4)
            .map(|b| u64::from(u32::from_le_bytes(b.try_into().unwrap())))
            .ok_or_else(|| "truncated ELF".to_string())
    };
    let u64_at = |o: usize| -> Result<u64, String> {
        elf.get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
            .ok_or_else(|| "truncated ELF".to_string())
    };
    if elf.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return Err("not an ELF64 little-endian image".into());
    }
    let phoff = u64_at(0x20)? as usize;
    let phentsize = u16_at(0x36)? as usize;
    let phnum = u16_at(0x38)? as usize;
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(ph)? != 1 {
            continue; // not PT_LOAD
        }
        let paddr = u64_at(ph + 0x18)?;
        let memsz = u64_at(ph + 0x28)?;
        lo = lo.min(paddr);
        hi = hi.max(paddr + memsz);
    }
    if hi == 0 {
        return Err("no PT_LOAD segment".into());
    }
    Ok(hi - lo)
}

/// The `boot_us` of the first `MINIOS-READY boot_us=<n>` line of a console log.
pub fn boot_us(console: &str) -> Option<u64> {
    console.lines().find_map(|l| {
        let rest = l.split("MINIOS-READY boot_us=").nth(1)?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// (median, min, max) of the values.
pub fn summary(v: &[u64]) -> Option<(u64, u64, u64)> {
    let mut s = v.to_vec();
    s.sort_unstable();
    Some((s[s.len().checked_sub(1)? / 2], *s.first()?, *s.last()?))
}

/// The `memory=` values (MiB) the memory probe tries in each mode.
pub const PROBE_MEMORY_MIB: [u32; 4] = [1, 2, 3, 4];

/// The dom0 script of the memory probe: boots `kernel` (which must print `MINIOS-READY`) with
/// each `memory=` of [`PROBE_MEMORY_MIB`] as PV, as PVH, and as PVH with `shadow_memory = 0`,
/// printing one `PROBE <mode> memory=<m> BOOTS|FAILS` line each.
pub fn probe_script(kernel: &str) -> String {
    let mems = PROBE_MEMORY_MIB.map(|m| m.to_string()).join(" ");
    format!(
        r#"k={kernel}
ready() {{ i=0; while [ $i -lt 120 ]; do grep -q MINIOS-READY /var/log/xen/console/guest-$1.log 2>/dev/null && return 0; xl list $1 >/dev/null 2>&1 || return 1; sleep 0.5; i=$((i+1)); done; return 1; }}
probe() {{ n=mp-$1-$3; {{ printf 'name="%s"\ntype="%s"\nkernel="%s"\nmemory=%s\nvcpus=1\n' $n $2 $k $3; [ -n "$4" ] && echo "shadow_memory=$4"; echo 'on_poweroff="destroy"'; echo 'on_crash="preserve"'; echo 'on_reboot="preserve"'; }} > /tmp/$n.cfg; rm -f /var/log/xen/console/guest-$n.log; if xl create /tmp/$n.cfg > /tmp/$n.out 2>&1 && ready $n; then echo "PROBE $1 memory=$3 BOOTS"; else echo "PROBE $1 memory=$3 FAILS $(grep -i -m2 'error\|fail' /tmp/$n.out | tr '\n' ' ')"; fi; xl destroy $n 2>/dev/null; true; }}
for m in {mems}; do probe pv pv $m; done
for m in {mems}; do probe pvh pvh $m; done
for m in {mems}; do probe pvh-shadow0 pvh $m 0; done
"#
    )
}

/// The smallest `memory=` a probe output (see [`probe_script`]) shows booting in `mode`.
pub fn smallest_booting(output: &str, mode: &str) -> Option<u32> {
    output
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("PROBE ")?.strip_prefix(mode)?;
            let rest = rest.strip_prefix(" memory=")?;
            let (m, verdict) = rest.split_once(' ')?;
            verdict.starts_with("BOOTS").then(|| m.parse().ok())?
        })
        .min()
}

fn stripped_size(kernel: &Path, tmp: &Path) -> Result<u64, String> {
    let out = tmp.join("stripped.elf");
    let st = Command::new("objcopy")
        .arg("--strip-all")
        .arg(kernel)
        .arg(&out)
        .status()
        .map_err(|e| format!("objcopy (binutils): {e}"))?;
    if !st.success() {
        return Err(format!("objcopy --strip-all failed: {st}"));
    }
    Ok(std::fs::metadata(&out).map_err(|e| e.to_string())?.len())
}

pub fn cmd_bench(a: &Args) -> ExitCode {
    let (kernel, config, pvh_config) = match a.positional.as_slice() {
        [k, c] => (k, c, None),
        [k, c, p] => (k, c, Some(p)),
        _ => {
            eprintln!("usage: xenhost bench <kernel> <xl-cfg> [<pvh-xl-cfg>] [--runs N]");
            return ExitCode::from(2);
        }
    };
    let runs = a.runs.unwrap_or(10) as usize;
    let root = repo_root();
    let run = match RunDir::create(&out_dir(a, &root), "bench") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xenhost bench: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    let kpath = root.join(kernel);
    let elf = match std::fs::read(&kpath) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("xenhost bench: FAILED: {}: {e}", kpath.display());
            return ExitCode::FAILURE;
        }
    };
    let extent = match loaded_extent(&elf) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("xenhost bench: FAILED: {}: {e}", kpath.display());
            return ExitCode::FAILURE;
        }
    };
    let stripped = match stripped_size(&kpath, &run.dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("xenhost bench: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };

    let modes: Vec<(&str, &String)> = std::iter::once(("PV", config))
        .chain(pvh_config.map(|p| ("PVH", p)))
        .collect();
    println!(
        "[xenhost] bench: {runs} boots of {kernel} as {} in one boot of the Xen host",
        modes.iter().map(|m| m.0).collect::<Vec<_>>().join(" and ")
    );
    // Interleaved: PV, PVH, PV, PVH, ... so that both modes see the same load.
    let cases: Vec<(usize, Case)> = (0..runs)
        .flat_map(|i| {
            modes.iter().enumerate().map(move |(m, (name, cfg))| {
                (
                    m,
                    Case::adhoc(
                        &format!("bench-{}{i}", name.to_lowercase()),
                        kernel.into(),
                        cfg.as_str().into(),
                        Some("MINIOS-READY boot_us=".into()),
                        60,
                    ),
                )
            })
        })
        .collect();
    let prepared: Vec<_> = cases
        .iter()
        .enumerate()
        .map(|(i, (_, c))| prepare(&root, &run.share(), None, i + 1, c))
        .collect();
    // The memory probe runs first, on the image prepared for the first case.
    let probe = pvh_config.map(|_| Item::Exec {
        dir: "memory-probe".into(),
        command: probe_script("/mnt/host/case-1/kernel"),
    });
    if let Some(p) = &probe {
        if let Err(e) = std::fs::create_dir_all(run.share().join(p.dir())) {
            eprintln!("xenhost bench: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    }
    let img = match open_image() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("xenhost bench: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    let extra: Vec<Item> = probe.iter().cloned().collect();
    let (report, judged) = boot_and_judge(&img, &a.opts, &run, &extra, &prepared, false);
    let failed = judged.iter().filter(|j| !j.verdict.pass).count();

    let kib = |b: u64| b as f64 / 1024.0;
    println!();
    println!("| figure | Mini-OS in Rust | C Mini-OS | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| image file (with symbols) | {} bytes | - | - |",
        elf.len()
    );
    println!(
        "| image file, stripped | {stripped} bytes | {C_MINIOS_STRIPPED_BYTES} bytes | {:.2} |",
        stripped as f64 / C_MINIOS_STRIPPED_BYTES as f64
    );
    println!(
        "| loaded extent | {:.0} KiB | {C_MINIOS_EXTENT_KIB} KiB | {:.2} |",
        kib(extent),
        kib(extent) / C_MINIOS_EXTENT_KIB as f64
    );
    let row = |name: &str, v: &[u64], unit: &str| match summary(v) {
        Some((med, lo, hi)) => println!(
            "| {name} (median of {}, min-max) | {med} {unit} ({lo}-{hi}) | - | - |",
            v.len()
        ),
        None => println!("| {name} | no data | - | - |"),
    };
    let mode_of: Vec<usize> = cases.iter().map(|c| c.0).collect();
    let mut complete = true;
    for (m, (mode, _)) in modes.iter().enumerate() {
        let of_mode = || {
            judged
                .iter()
                .zip(&mode_of)
                .filter(move |(_, cm)| **cm == m)
                .map(|(j, _)| j)
        };
        let inside: Vec<u64> = of_mode().filter_map(|j| boot_us(&j.console)).collect();
        let create: Vec<u64> = of_mode()
            .filter_map(|j| j.outcome.as_ref()?.create_ms)
            .collect();
        let marker: Vec<u64> = of_mode()
            .filter_map(|j| j.outcome.as_ref()?.marker_ms)
            .collect();
        complete &= inside.len() == runs;
        row(
            &format!("{mode}: boot, entry to ready, in the guest"),
            &inside,
            "us",
        );
        row(
            &format!("{mode}: `xl create` (domain built, running)"),
            &create,
            "ms",
        );
        row(
            &format!("{mode}: `xl create` start to ready marker"),
            &marker,
            "ms",
        );
    }
    if let Some(p) = &probe {
        let out =
            std::fs::read_to_string(run.share().join(p.dir()).join("output")).unwrap_or_default();
        let tried = PROBE_MEMORY_MIB.map(|m| m.to_string()).join(", ");
        for (mode, what) in [
            ("pv", "PV"),
            ("pvh", "PVH (default paging pool)"),
            ("pvh-shadow0", "PVH, `shadow_memory = 0`"),
        ] {
            match smallest_booting(&out, mode) {
                Some(m) => println!(
                    "| smallest `memory=` that boots, {what} (tried {tried}) | {m} MiB | - | - |"
                ),
                None => {
                    // "none" is a result when every size was tried (Xen refuses
                    // shadow_memory = 0 at every size); a missing probe line is not.
                    let probed = out
                        .lines()
                        .filter(|l| l.starts_with(&format!("PROBE {mode} memory=")))
                        .count();
                    if probed < PROBE_MEMORY_MIB.len() {
                        complete = false;
                    }
                    println!(
                        "| smallest `memory=` that boots, {what} (tried {tried}) | none | - | - |"
                    )
                }
            }
        }
        for l in out.lines().filter(|l| l.starts_with("PROBE ")) {
            println!("    {l}");
        }
    }
    println!();
    println!(
        "Xen host: QEMU TCG, host boot {}; run directory {}",
        report
            .boot
            .map_or_else(|| "-".into(), |d| format!("{:.1} s", d.as_secs_f64())),
        run.dir.display()
    );
    if failed > 0 || report.error.is_some() || !complete {
        eprintln!(
            "xenhost bench: FAILED: {failed} of {} boots failed{}",
            cases.len(),
            report.error.map(|e| format!(" ({e})")).unwrap_or_default()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf_with_loads(loads: &[(u64, u64)]) -> Vec<u8> {
        let phoff = 64usize;
        let mut e = vec![0u8; phoff + 56 * (loads.len() + 1)];
        e[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1]);
        e[0x20..0x28].copy_from_slice(&(phoff as u64).to_le_bytes());
        e[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        e[0x38..0x3a].copy_from_slice(&((loads.len() + 1) as u16).to_le_bytes());
        for (i, (paddr, memsz)) in loads.iter().enumerate() {
            let ph = phoff + i * 56;
            e[ph..ph + 4].copy_from_slice(&1u32.to_le_bytes());
            e[ph + 0x18..ph + 0x20].copy_from_slice(&paddr.to_le_bytes());
            e[ph + 0x28..ph + 0x30].copy_from_slice(&memsz.to_le_bytes());
        }
        // A PT_NOTE far away must not count.
        let ph = phoff + loads.len() * 56;
        e[ph..ph + 4].copy_from_slice(&4u32.to_le_bytes());
        e[ph + 0x18..ph + 0x20].copy_from_slice(&0x9000_0000u64.to_le_bytes());
        e
    }

    #[test]
    fn extent_spans_load_segments_only() {
        let e = elf_with_loads(&[(0x100000, 0x8000), (0x110000, 0x2000)]);
        assert_eq!(loaded_extent(&e), Ok(0x12000));
        assert!(loaded_extent(b"not an elf").is_err());
        assert!(loaded_extent(&elf_with_loads(&[])).is_err());
        assert!(loaded_extent(&e[..70]).is_err(), "truncated");
    }

    #[test]
    fn boot_us_from_console() {
        assert_eq!(boot_us("a\nMINIOS-READY boot_us=4724\nb"), Some(4724));
        assert_eq!(boot_us("[x] MINIOS-READY boot_us=12 extra"), Some(12));
        assert_eq!(boot_us("MINIOS-READY boot_us=\n"), None);
        assert_eq!(boot_us("nothing"), None);
    }

    #[test]
    fn smallest_booting_memory_per_mode() {
        let out = "PROBE pv memory=1 FAILS count_pgtables\nPROBE pv memory=4 BOOTS\n\
                   PROBE pvh memory=1 FAILS x\nPROBE pvh memory=2 BOOTS\n\
                   PROBE pvh memory=3 BOOTS\nPROBE pvh-shadow0 memory=3 FAILS\n";
        assert_eq!(smallest_booting(out, "pv"), Some(4));
        assert_eq!(
            smallest_booting(out, "pvh"),
            Some(2),
            "pvh-shadow0 is another mode"
        );
        assert_eq!(smallest_booting(out, "pvh-shadow0"), None);
        assert!(probe_script("/k").contains("for m in 1 2 3 4; do probe pvh pvh $m; done"));
    }

    #[test]
    fn summary_is_median_min_max() {
        assert_eq!(summary(&[5, 1, 3]), Some((3, 1, 5)));
        assert_eq!(summary(&[4, 2]), Some((2, 2, 4)));
        assert_eq!(summary(&[]), None);
    }
}
