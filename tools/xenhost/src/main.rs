//! xenhost: a real Xen host (Xen 4.17 + Debian 12 PV dom0) inside QEMU, for running Mini-OS
//! guests and judging them. See tools/README.md.

mod bench;
mod host;
mod image;
mod job;
mod linuxguest;
mod manifest;
mod result;
mod spawn;
mod verdict;
mod xlcfg;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use host::{Event, HostOpts, JobReport, RunDir};
use job::Item;
use manifest::Case;
use result::Outcome;
use verdict::Verdict;

/// The dom0 runner library, copied into the share for every run.
const RUNNER: &str = include_str!("../assets/runner.sh");

const USAGE: &str = "\
xenhost: a real Xen host (Xen 4.17, Debian 12 PV dom0) inside QEMU (TCG)

usage:
  xenhost setup                       install what the host side needs (runs tools/setup.sh)
  xenhost image                       build the Xen host image, or show the cached one
  xenhost run <kernel> <xl-cfg> [--expect MARKER] [--timeout SECS]
                                      boot the host, run one guest, show its console
  xenhost test <manifest.toml> [--case NAME]...
                                      run the manifest's guest tests in one boot of the host
  xenhost bench <kernel> <xl-cfg> [--runs N]
                                      image size and boot time (N boots, default 10) next
                                      to the C Mini-OS reference figures
  xenhost exec <dom0 command>...      run shell commands in dom0 (e.g. 'xl info')
  xenhost shell [--share DIR]         dom0 root shell on this terminal (DIR, default the
                                      repository, at /mnt/host)
{SPAWN}
host options (run, test, exec, shell):
  --mem MB            QEMU memory, all of Xen's machine      (default 2048)
  --dom0-mem MB       dom0 memory                            (default 512)
  --vcpus N           vCPUs of the machine and of dom0       (default 2)
  --boot-timeout S    QEMU start until dom0 runs the job     (default 300)
  --xenstored D       dom0's xenstore daemon: ocaml (oxenstored, Debian's
                      default) or c (the C xenstored shipped next to it)
  --out DIR           run directories go here                (default <repo>/out/xenhost)
  -v, --verbose       show the whole serial log (Xen and dom0 boot)
  -q, --quiet         show little: no guest console lines, passing cases in one
                      line each, failures in full (`./minios test` uses it; the
                      run directory keeps everything)

environment:
  MINIOS_CACHE        image cache (default $HOME/.cache/minios)
  MINIOS_SKIP_XEN=1   `test` does not boot the host: it says so loudly and exits 0
";

/// The whole usage text, density commands included.
fn usage() -> String {
    USAGE.replace("{SPAWN}", spawn::USAGE)
}

/// Parsed command line.
#[derive(Debug, Default)]
struct Args {
    positional: Vec<String>,
    opts: HostOpts,
    out: Option<PathBuf>,
    expect: Option<String>,
    timeout: Option<u64>,
    share: Option<PathBuf>,
    only: Vec<String>,
    runs: Option<u64>,
}

/// The value of option `name` as a number > 0, or an error naming the option.
pub fn positive_number(name: &str, v: String) -> Result<u64, String> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{name}: {v:?} is not a positive number"))
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let number = positive_number;
        match arg.as_str() {
            "--mem" => a.opts.mem_mb = number(arg, value(arg)?)?,
            "--dom0-mem" => a.opts.dom0_mem_mb = number(arg, value(arg)?)?,
            "--vcpus" => {
                a.opts.vcpus = u32::try_from(number(arg, value(arg)?)?)
                    .map_err(|_| "--vcpus: too large".to_string())?
            }
            "--boot-timeout" => a.opts.boot_timeout_secs = number(arg, value(arg)?)?,
            "--xenstored" => a.opts.xenstored = host::Xenstored::parse(&value(arg)?)?,
            "--out" => a.out = Some(PathBuf::from(value(arg)?)),
            "--expect" => a.expect = Some(value(arg)?),
            "--timeout" => a.timeout = Some(number(arg, value(arg)?)?),
            "--share" => a.share = Some(PathBuf::from(value(arg)?)),
            "--case" => a.only.push(value(arg)?),
            "--runs" => a.runs = Some(number(arg, value(arg)?)?),
            "-v" | "--verbose" => a.opts.verbose = true,
            "-q" | "--quiet" => a.opts.quiet = true,
            "--" => a.positional.extend(it.by_ref().cloned()),
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            _ => a.positional.push(arg.clone()),
        }
    }
    if a.opts.dom0_mem_mb + 64 > a.opts.mem_mb {
        return Err(format!(
            "--dom0-mem {} leaves too little of --mem {} for Xen and guests",
            a.opts.dom0_mem_mb, a.opts.mem_mb
        ));
    }
    Ok(a)
}

/// The repository root: the nearest ancestor of the working directory holding
/// tools/xenhost, else the working directory.
fn repo_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|d| d.join("tools/xenhost/Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .unwrap_or(cwd)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn ms(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |m| format!("{:.2} s", m as f64 / 1000.0))
}

/// One guest to run, with its files in the share.
#[derive(Debug)]
struct Prepared {
    case: Case,
    item: Item,
    /// Why it cannot run (missing image or config); it fails without booting.
    error: Option<String>,
}

fn prepare(
    root: &Path,
    share: &Path,
    img: Option<&image::Image>,
    idx: usize,
    case: &Case,
) -> Prepared {
    let dir = format!("case-{idx}");
    let domain = format!("xh{idx}-{}", case.name);
    let item = Item::Guest {
        dir: dir.clone(),
        domain: domain.clone(),
        timeout_secs: case.timeout_secs,
        marker: case.expect_console.first().cloned(),
    };
    let d = share.join(&dir);
    let go = || -> Result<(), String> {
        let kernel = case.kernel_path(root);
        let config = case.config_path(root);
        let linux = linuxguest::is_linux(&case.kernel);
        if !linux && !kernel.is_file() {
            return Err(format!(
                "guest image {} not found (build it first: cargo build --release --target \
                 x86_64-unknown-none --workspace)",
                kernel.display()
            ));
        }
        let cfg = fs::read_to_string(&config)
            .map_err(|e| format!("xl config {}: {e}", config.display()))?;
        fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        if linux {
            linuxguest::prepare_case(img, root, &d)?;
        } else {
            fs::copy(&kernel, d.join("kernel")).map_err(|e| format!("copying the image: {e}"))?;
            write_system_map(&kernel, &d.join("System.map"));
        }
        fs::write(d.join("original.cfg"), &cfg).map_err(|e| e.to_string())?;
        write_dom0_files(case, &d).map_err(|e| format!("writing the dom0 commands: {e}"))?;
        let forced = xlcfg::Forced {
            name: domain.clone(),
            kernel: format!("/mnt/host/{dir}/kernel"),
            hold: !case.dom0.is_empty(),
            ramdisk: linux.then(|| format!("/mnt/host/{dir}/ramdisk")),
        };
        fs::write(d.join("guest.cfg"), xlcfg::rewrite(&cfg, &forced)).map_err(|e| e.to_string())
    };
    let error = go().err();
    Prepared {
        case: case.clone(),
        item,
        error,
    }
}

/// The share-file prefix of a case's `dom0_before` command: `before-<i>`, 1-based.
fn before_prefix(i: usize) -> String {
    format!("before-{}", i + 1)
}

/// The share-file prefix of a case's dom0 command: `dom0-<i>` (on a marker) or `after-<i>`
/// (`dom0_after`), 1-based in manifest order.
fn dom0_prefix(after: bool, i: usize) -> String {
    format!("{}-{}", if after { "after" } else { "dom0" }, i + 1)
}

/// The case's dom0 commands for the runner: `<prefix>.run` (the command), `<prefix>.timeout`
/// and, for on-marker commands, `<prefix>.marker`.
fn write_dom0_files(case: &Case, dir: &Path) -> std::io::Result<()> {
    let all = case
        .dom0
        .iter()
        .enumerate()
        .map(|(i, c)| (dom0_prefix(false, i), c))
        .chain(
            case.dom0_after
                .iter()
                .enumerate()
                .map(|(i, c)| (dom0_prefix(true, i), c)),
        )
        .chain(
            case.dom0_before
                .iter()
                .enumerate()
                .map(|(i, c)| (before_prefix(i), c)),
        );
    for (p, c) in all {
        fs::write(dir.join(format!("{p}.run")), format!("{}\n", c.run))?;
        fs::write(
            dir.join(format!("{p}.timeout")),
            format!("{}\n", c.timeout_secs),
        )?;
        if let Some(m) = &c.on_marker {
            fs::write(dir.join(format!("{p}.marker")), format!("{m}\n"))?;
        }
    }
    Ok(())
}

/// Reads what the runner left for each of the case's dom0 commands.
fn read_dom0_results(case: &Case, dir: &Path, o: &mut Outcome) -> Result<(), String> {
    let read = |f: String| fs::read_to_string(dir.join(f)).ok();
    let by_prefix = |p: String| {
        result::dom0_result(
            read(format!("{p}.result")).as_deref(),
            read(format!("{p}.out")).as_deref(),
            read(format!("{p}.cmd")).as_deref(),
        )
        .map_err(|e| format!("{p}.result: {e}"))
    };
    o.dom0_before = (0..case.dom0_before.len())
        .map(|i| by_prefix(before_prefix(i)))
        .collect::<Result<_, _>>()?;
    let one = |after: bool, i: usize| {
        let p = dom0_prefix(after, i);
        result::dom0_result(
            read(format!("{p}.result")).as_deref(),
            read(format!("{p}.out")).as_deref(),
            read(format!("{p}.cmd")).as_deref(),
        )
        .map_err(|e| format!("{p}.result: {e}"))
    };
    o.dom0 = (0..case.dom0.len())
        .map(|i| one(false, i))
        .collect::<Result<_, _>>()?;
    o.dom0_after = (0..case.dom0_after.len())
        .map(|i| one(true, i))
        .collect::<Result<_, _>>()?;
    Ok(())
}

/// Symbols of the guest image for xenctx (`nm -n` format), if binutils is there: a crashed or
/// hung guest's registers and stack then come with function names.
fn write_system_map(kernel: &Path, out: &Path) {
    if !image::have_program("nm") {
        return;
    }
    if let Ok(o) = Command::new("nm").arg("-n").arg(kernel).output() {
        if o.status.success() && !o.stdout.is_empty() {
            let _ = fs::write(out, o.stdout);
        }
    }
}

/// The useful part of xen-hvmctx's output for a PVH guest: its CPU record (general registers,
/// rip, rflags, control registers, cs, ss, tr, the IDT and GDT registers, EFER, and the event
/// Xen was delivering), without the debug, data-segment and syscall registers.
fn hvmctx_summary(text: &str) -> Vec<String> {
    const DROP: &[&str] = &[
        "dr0 ",
        "dr2 ",
        "dr6 ",
        "ds ",
        "es ",
        "fs ",
        "gs ",
        "ldtr ",
        "sysenter ",
        "MSR flags ",
        "lstar ",
        "star ",
    ];
    let mut out = Vec::new();
    let mut in_cpu = false;
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with("CPU:") {
            in_cpu = true;
        }
        if !in_cpu {
            continue;
        }
        if !DROP.iter().any(|d| t.starts_with(d)) {
            out.push(l.trim_end().to_string());
        }
        if t.starts_with("event ") {
            break;
        }
    }
    out
}

/// The useful part of xenctx's output: per vCPU rip, rsp, cr2 and the symbolised stack trace
/// without the zero slots.
fn xenctx_summary(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut trace_lines = 0;
    let mut in_trace = false;
    for l in text.lines() {
        let t = l.trim();
        if t.starts_with("vcpu") {
            in_trace = false;
            trace_lines = 0;
        }
        if t.starts_with("Stack Trace:") {
            in_trace = true;
            out.push(t.to_string());
            continue;
        }
        let keep = if in_trace {
            !t.is_empty() && !t.contains("[<0000000000000000>]") && trace_lines < 16
        } else {
            ["vcpu", "rip:", "rsp:", "cr2:"]
                .iter()
                .any(|k| t.starts_with(k))
        };
        if keep {
            if in_trace {
                trace_lines += 1;
            }
            out.push(l.trim_end().to_string());
        }
    }
    out
}

/// A judged case.
#[derive(Debug)]
struct Judged {
    verdict: Verdict,
    outcome: Option<Outcome>,
    console: String,
    dir: PathBuf,
}

fn judge(share: &Path, p: &Prepared, host_error: Option<&str>) -> Judged {
    let dir = share.join(p.item.dir());
    let fail = |reason: String| Judged {
        verdict: Verdict {
            pass: false,
            reason,
        },
        outcome: None,
        console: String::new(),
        dir: dir.clone(),
    };
    if let Some(e) = &p.error {
        return fail(format!("not run: {e}"));
    }
    let read = |f: &str| fs::read_to_string(dir.join(f)).ok();
    let (Some(result), true) = (read("result"), dir.join("done").exists()) else {
        let console = read("console.log").unwrap_or_default();
        let mut j = fail(match host_error {
            Some(e) => format!("not run to the end: {e}"),
            None => "not run to the end (no result from dom0)".into(),
        });
        j.console = console;
        return j;
    };
    let console = read("console.log").unwrap_or_default();
    let outcome = result::outcome(
        &result,
        &read("xl.log").unwrap_or_default(),
        read("marker_ms").as_deref(),
    )
    .and_then(|mut o| read_dom0_results(&p.case, &dir, &mut o).map(|()| o));
    match outcome {
        Ok(o) => Judged {
            verdict: verdict::judge(&p.case, &o, &console),
            outcome: Some(o),
            console,
            dir,
        },
        Err(e) => {
            let mut j = fail(format!("unreadable result: {e}"));
            j.console = console;
            j
        }
    }
}

fn timing_line(case: &Case, o: &Outcome) -> String {
    let mut s = format!("shutdown {}; xl create {}", o.shutdown, ms(o.create_ms));
    if let Some(m) = case.expect_console.first() {
        s.push_str(&format!(", {m:?} at {}", ms(o.marker_ms)));
    }
    s.push_str(&format!(", xl done at {}", ms(o.run_ms)));
    if let Some(why) = &o.retried_after {
        let what = if why == "pvh-triple-fault" {
            "Xen reported a triple fault of the PVH guest"
        } else {
            "a dom0 toolstack crash"
        };
        s.push_str(&format!(
            "; RETRIED once after {what} in the first attempt ({why}; its files are in first-attempt/)"
        ));
    }
    s
}

/// Every dom0 command of a case with its result, in the order they run (`dom0_before`, the
/// on-marker ones, `dom0_after`), each named as the report names it (`dom0 #2`).
fn dom0_runs<'a>(
    case: &'a Case,
    o: &'a Outcome,
) -> Vec<(String, &'a manifest::Dom0Cmd, &'a result::Dom0Result)> {
    let group =
        |kind: &'static str, cmds: &'a [manifest::Dom0Cmd], res: &'a [result::Dom0Result]| {
            cmds.iter()
                .zip(res)
                .enumerate()
                .map(move |(i, (c, r))| (format!("{kind} #{}", i + 1), c, r))
        };
    group("dom0_before", &case.dom0_before, &o.dom0_before)
        .chain(group("dom0", &case.dom0, &o.dom0))
        .chain(group("dom0_after", &case.dom0_after, &o.dom0_after))
        .collect()
}

/// The output of each dom0 command that failed its checks: a header and its last lines. The
/// verdict line quotes only the first lines, and in CI the share directory is gone afterwards.
fn failed_dom0_outputs(case: &Case, o: &Outcome) -> Vec<(String, Vec<String>)> {
    dom0_runs(case, o)
        .into_iter()
        .filter(|(_, c, r)| r.ran && verdict::dom0_problem(c, Some(r)).is_some())
        .map(|(head, _, r)| {
            let (tail, n) = verdict::output_tail(&r.output, 30);
            let what = if n == 0 {
                format!("{head} printed nothing")
            } else {
                format!("{head} output (last {} of {n} lines):", tail.len())
            };
            (what, tail)
        })
        .collect()
}

/// One line per dom0 command: when it ran, how it ended, the start of its output.
fn dom0_lines(case: &Case, o: &Outcome) -> Vec<String> {
    dom0_runs(case, o)
        .into_iter()
        .map(|(name, c, r)| {
            // an on-marker command: which marker, and when it appeared
            let head = match &c.on_marker {
                Some(m) => {
                    let seen = r
                        .seen_ms
                        .map_or_else(String::new, |t| format!(" (seen at {})", ms(Some(t))));
                    format!("{name} on {m:?}{seen}")
                }
                None => name,
            };
            if !r.reported {
                return format!(
                    "{head}: {}: no result from dom0",
                    verdict::command_short(&c.run)
                );
            }
            if !r.ran {
                return format!("{head}: {}: never ran", verdict::command_short(&c.run));
            }
            let took = match (r.start_ms, r.end_ms) {
                (Some(a), Some(b)) => format!(
                    " at {}, took {}",
                    ms(Some(a)),
                    ms(Some(b.saturating_sub(a)))
                ),
                _ => String::new(),
            };
            format!(
                "{head}: {}{took} -> exit {}: {}",
                verdict::command_short(r.command.as_deref().unwrap_or(&c.run)),
                r.status.map_or_else(|| "?".into(), |s| s.to_string()),
                verdict::output_head(&r.output)
            )
        })
        .collect()
}

/// The evidence of a first attempt that ended in a PVH triple fault (the case was retried):
/// the vCPU record Xen kept and the guest console's last lines, so that the CI log keeps them.
fn print_first_triple_fault(first: &Path) {
    let hvm = fs::read_to_string(first.join("hvmctx.txt")).unwrap_or_default();
    println!(
        "     first attempt: PVH vCPU record at the triple fault (xen-hvmctx; all of it in {}):",
        first.join("hvmctx.txt").display()
    );
    for l in hvmctx_summary(&hvm) {
        println!("     | {l}");
    }
    let console = fs::read_to_string(first.join("console.log")).unwrap_or_default();
    let lines: Vec<&str> = console.lines().collect();
    println!(
        "     first attempt: guest console (last {} lines):",
        lines.len().min(5)
    );
    for l in &lines[lines.len().saturating_sub(5)..] {
        println!("     | {l}");
    }
}

/// Prints a case's verdict: its reason, timing and dom0 commands, and with `detail` the
/// evidence (console, xl, xenctx, xl dmesg). `brief` (`--quiet`): a passing case gets one
/// line with its reason cut at 160 characters, unless it was retried (then its timing line
/// says so too).
fn print_judged(case: &Case, j: &Judged, detail: bool, brief: bool) {
    let word = if j.verdict.pass { "PASS" } else { "FAIL" };
    let retried = j
        .outcome
        .as_ref()
        .is_some_and(|o| o.retried_after.is_some());
    if brief && j.verdict.pass && !retried {
        println!(
            "{word} {}: {}",
            case.name,
            verdict::cut(&j.verdict.reason, 160)
        );
        return;
    }
    println!("{word} {}: {}", case.name, j.verdict.reason);
    if let Some(o) = &j.outcome {
        println!("     {}", timing_line(case, o));
        for l in dom0_lines(case, o) {
            println!("     {l}");
        }
        if o.retried_after.as_deref() == Some("pvh-triple-fault") {
            print_first_triple_fault(&j.dir.join("first-attempt"));
        }
    }
    if !detail || (j.outcome.is_none() && j.console.is_empty()) {
        return;
    }
    if let Some(o) = &j.outcome {
        for (head, lines) in failed_dom0_outputs(case, o) {
            println!("     {head}");
            for l in lines {
                println!("     | {l}");
            }
        }
    }
    let console: Vec<&str> = j.console.lines().collect();
    println!(
        "     guest console (last {} of {} lines):",
        console.len().min(25),
        console.len()
    );
    for l in &console[console.len().saturating_sub(25)..] {
        println!("     | {l}");
    }
    if let Some(o) = &j.outcome {
        println!("     xl create -F said:");
        for l in &o.xl_text {
            println!("     | {l}");
        }
    }
    let ctx = fs::read_to_string(j.dir.join("xenctx.txt")).unwrap_or_default();
    if !ctx.trim().is_empty() {
        println!(
            "     vCPU state of the preserved domain (xenctx; all of it in {}):",
            j.dir.join("xenctx.txt").display()
        );
        for l in xenctx_summary(&ctx) {
            println!("     | {l}");
        }
    }
    let hvm = fs::read_to_string(j.dir.join("hvmctx.txt")).unwrap_or_default();
    if !hvm.trim().is_empty() {
        println!(
            "     PVH vCPU record at the end (xen-hvmctx; all of it in {}):",
            j.dir.join("hvmctx.txt").display()
        );
        for l in hvmctx_summary(&hvm) {
            println!("     | {l}");
        }
    }
    let dmesg = host::tail(&j.dir.join("dmesg.log"), 20);
    if !dmesg.is_empty() {
        println!(
            "     xl dmesg during the case (last {} lines):",
            dmesg.len()
        );
        for l in dmesg {
            println!("     | {l}");
        }
    }
    println!("     files: {}", j.dir.display());
}

/// dom0's last watchdog snapshot (host::dom0_evidence), if there is one.
pub fn print_dom0_evidence(share: &Path) {
    let ev = host::dom0_evidence(share);
    if !ev.is_empty() {
        println!(
            "[xenhost] dom0 when last seen ({}):",
            share.join("dom0-ps.txt").display()
        );
        for l in ev {
            println!("    {l}");
        }
    }
}

fn print_host_failure(run: &RunDir, error: &str) {
    println!("[xenhost] FAILED: the Xen host did not run the job: {error}");
    print_dom0_evidence(&run.share());
    let tail = host::tail(&run.serial_log(), 30);
    if !tail.is_empty() {
        println!("[xenhost] last lines of {}:", run.serial_log().display());
        for l in tail {
            println!("    {l}");
        }
    }
}

/// Boots the host once for all `prepared` guests (plus `extra` items first), judging each
/// as soon as it finishes.
fn boot_and_judge(
    img: &image::Image,
    opts: &HostOpts,
    run: &RunDir,
    extra: &[Item],
    prepared: &[Prepared],
    detail_on_pass: bool,
) -> (JobReport, Vec<Judged>) {
    let share = run.share();
    let runnable: Vec<&Prepared> = prepared.iter().filter(|p| p.error.is_none()).collect();
    let mut items: Vec<(Item, u64)> = extra.iter().map(|i| (i.clone(), 600)).collect();
    items.extend(
        runnable
            .iter()
            .map(|p| (p.item.clone(), p.case.budget_secs())),
    );
    let job: Vec<Item> = items.iter().map(|i| i.0.clone()).collect();
    linuxguest::install_tool(&repo_root(), &share);
    let setup = fs::write(share.join("runner.sh"), RUNNER)
        .and_then(|_| fs::write(share.join("job.sh"), job::script(&job)));
    if let Err(e) = setup {
        let report = JobReport {
            error: Some(format!("writing the job into {}: {e}", share.display())),
            ..JobReport::default()
        };
        return (report, Vec::new());
    }
    let mut judged_now: Vec<Option<Judged>> = prepared.iter().map(|_| None).collect();
    let mut on_event = |ev: Event| match ev {
        Event::Ready(t) => println!(
            "[xenhost] dom0 ready {} after QEMU start (Xen + dom0 boot)",
            secs(t)
        ),
        Event::Started(i) => {
            if let Some(j) = i.checked_sub(extra.len()) {
                if !opts.quiet {
                    println!("[xenhost] case {}: running", runnable[j].case.name);
                }
            }
        }
        Event::Done(i) => {
            if let Some(j) = i.checked_sub(extra.len()) {
                let p = runnable[j];
                let k = prepared
                    .iter()
                    .position(|q| std::ptr::eq(q, p))
                    .unwrap_or(0);
                let jd = judge(&share, p, None);
                print_judged(&p.case, &jd, detail_on_pass || !jd.verdict.pass, opts.quiet);
                judged_now[k] = Some(jd);
            }
        }
    };
    let report = if runnable.is_empty() && extra.is_empty() {
        println!("[xenhost] nothing to run: not booting the host");
        JobReport::default()
    } else {
        host::run_job(img, opts, run, &items, &mut on_event)
    };
    if let Some(e) = &report.error {
        print_host_failure(run, e);
    }
    let judged = prepared
        .iter()
        .zip(judged_now)
        .map(|(p, j)| {
            j.unwrap_or_else(|| {
                let jd = judge(&share, p, report.error.as_deref());
                print_judged(&p.case, &jd, true, opts.quiet);
                jd
            })
        })
        .collect();
    (report, judged)
}

fn open_image() -> Result<image::Image, String> {
    image::ensure().map_err(|e| format!("the Xen host image is not available: {e}"))
}

fn cmd_image() -> ExitCode {
    match image::ensure() {
        Ok(img) => {
            println!("{}", img.dir.display());
            print!("{}", img.versions());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xenhost image: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn out_dir(a: &Args, root: &Path) -> PathBuf {
    a.out
        .clone()
        .unwrap_or_else(|| root.join("out").join("xenhost"))
}

fn cmd_run(a: &Args) -> ExitCode {
    let t0 = Instant::now();
    let [kernel, config] = a.positional.as_slice() else {
        eprintln!("usage: xenhost run <kernel> <xl-cfg> [--expect MARKER] [--timeout SECS]");
        return ExitCode::from(2);
    };
    let root = repo_root();
    let cwd = std::env::current_dir().unwrap_or_else(|_| root.clone());
    let stem: String = Path::new(kernel)
        .file_name()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if manifest::valid_name(&c.to_string()) {
                c
            } else {
                '_'
            }
        })
        .take(30)
        .collect();
    let kernel_path = if linuxguest::is_linux(Path::new(kernel)) {
        PathBuf::from(kernel)
    } else {
        cwd.join(kernel)
    };
    let case = Case::adhoc(
        if stem.is_empty() { "guest" } else { &stem },
        kernel_path,
        cwd.join(config),
        a.expect.clone(),
        a.timeout.unwrap_or(manifest::DEFAULT_TIMEOUT_SECS),
    );
    let img = match open_image() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("xenhost run: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run = match RunDir::create(&out_dir(a, &root), "run") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xenhost run: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("[xenhost] run directory: {}", run.dir.display());
    let prepared = vec![prepare(&root, &run.share(), Some(&img), 1, &case)];
    let (report, judged) = boot_and_judge(&img, &a.opts, &run, &[], &prepared, true);
    let j = &judged[0];
    if let Some(o) = &j.outcome {
        println!("shutdown reason: {}", o.shutdown);
        println!(
            "timings: host boot {} (QEMU start to dom0 ready), xl create {}, marker {}, \
             guest done {}, QEMU total {}, xenhost total {}",
            report.boot.map_or_else(|| "-".into(), secs),
            ms(o.create_ms),
            if case.expect_console.is_empty() {
                "(none expected)".into()
            } else {
                ms(o.marker_ms)
            },
            ms(o.run_ms),
            secs(report.total),
            secs(t0.elapsed())
        );
    }
    println!("serial log: {}", run.serial_log().display());
    if j.verdict.pass && report.error.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn cmd_test(a: &Args) -> ExitCode {
    if std::env::var("MINIOS_SKIP_XEN").is_ok_and(|v| v == "1") {
        let bar = "!".repeat(78);
        println!(
            "{bar}\nSKIPPED: guest tests on the Xen host were NOT run (MINIOS_SKIP_XEN=1)\n{bar}"
        );
        return ExitCode::SUCCESS;
    }
    let t0 = Instant::now();
    let [manifest_path] = a.positional.as_slice() else {
        eprintln!("usage: xenhost test <manifest.toml> [--case NAME]...");
        return ExitCode::from(2);
    };
    let root = repo_root();
    let text = match fs::read_to_string(manifest_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("xenhost test: FAILED: {manifest_path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let m = match manifest::parse(&text) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("xenhost test: FAILED: {manifest_path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cases: Vec<&Case> = m
        .cases
        .iter()
        .filter(|c| a.only.is_empty() || a.only.contains(&c.name))
        .collect();
    if cases.is_empty() {
        eprintln!("xenhost test: FAILED: no case selected");
        return ExitCode::FAILURE;
    }
    println!(
        "[xenhost] {} guest test(s) from {manifest_path}, one boot of the Xen host",
        cases.len()
    );
    let run = match RunDir::create(&out_dir(a, &root), "test") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xenhost test: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("[xenhost] run directory: {}", run.dir.display());
    let img = open_image();
    let prepared: Vec<Prepared> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| prepare(&root, &run.share(), img.as_ref().ok(), i + 1, c))
        .collect();
    let mut retried: Option<(String, usize, RunDir)> = None;
    let (report, judged) = match img {
        Ok(img) => {
            let (report, mut judged) = boot_and_judge(&img, &a.opts, &run, &[], &prepared, false);
            // A host that failed before every case finished (a dom0 stall or crash under TCG:
            // README, known issues) gets one more boot for the cases it never finished, said
            // loudly. Cases that finished keep their verdicts; a real failure fails again.
            let unfinished: Vec<usize> = (0..prepared.len())
                .filter(|&k| {
                    prepared[k].error.is_none()
                        && !run
                            .share()
                            .join(prepared[k].item.dir())
                            .join("done")
                            .exists()
                })
                .collect();
            match (&report.error, unfinished.is_empty()) {
                (Some(e), false) => {
                    let bar = "!".repeat(78);
                    println!(
                        "{bar}\n[xenhost] WARNING: the Xen host failed before {} case(s) \
                         finished ({e}).\n[xenhost] Booting it once more for those cases; the \
                         first boot's files stay in {}\n{bar}",
                        unfinished.len(),
                        run.dir.display()
                    );
                    match RunDir::create(&out_dir(a, &root), "test-retry") {
                        Ok(run2) => {
                            println!("[xenhost] run directory: {}", run2.dir.display());
                            let again: Vec<Prepared> = unfinished
                                .iter()
                                .map(|&k| {
                                    prepare(&root, &run2.share(), Some(&img), k + 1, cases[k])
                                })
                                .collect();
                            let (report2, judged2) =
                                boot_and_judge(&img, &a.opts, &run2, &[], &again, false);
                            for (&k, j) in unfinished.iter().zip(judged2) {
                                judged[k] = j;
                            }
                            retried = Some((e.clone(), unfinished.len(), run2));
                            (report2, judged)
                        }
                        Err(e2) => {
                            println!("[xenhost] no second boot: {e2}");
                            (report, judged)
                        }
                    }
                }
                _ => (report, judged),
            }
        }
        Err(e) => {
            print_host_failure(&run, &e);
            let report = JobReport {
                error: Some(e),
                ..JobReport::default()
            };
            let judged = prepared
                .iter()
                .map(|p| {
                    let jd = judge(&run.share(), p, report.error.as_deref());
                    print_judged(&p.case, &jd, false, a.opts.quiet);
                    jd
                })
                .collect();
            (report, judged)
        }
    };
    let passed = judged.iter().filter(|j| j.verdict.pass).count();
    let failed = judged.len() - passed;
    println!("---- guest tests on the Xen host ----");
    for (p, j) in prepared.iter().zip(&judged) {
        if a.opts.quiet && j.verdict.pass {
            continue;
        }
        let t = j
            .outcome
            .as_ref()
            .map(|o| format!(" [{}]", timing_line(&p.case, o)))
            .unwrap_or_default();
        println!(
            "{} {}{t}",
            if j.verdict.pass { "PASS" } else { "FAIL" },
            p.case.name
        );
    }
    println!(
        "host boot {} (QEMU start to dom0 ready), QEMU total {}, xenhost total {}",
        report.boot.map_or_else(|| "-".into(), secs),
        secs(report.total),
        secs(t0.elapsed())
    );
    println!("run directory: {}", run.dir.display());
    if let Some((e, n, run2)) = &retried {
        println!(
            "[xenhost] WARNING: the Xen host failed once ({e}); {n} unfinished case(s) ran \
             again on a second boot (run directory {}); the verdicts above are theirs",
            run2.dir.display()
        );
    }
    if failed > 0 || report.error.is_some() {
        println!("serial log: {}", run.serial_log().display());
    }
    if a.opts.quiet {
        println!("(--quiet: passing cases not listed; all verdicts are above)");
    }
    // Both boots' watchdogs: the second boot of a retry has its own share.
    let shares = std::iter::once(run.share()).chain(retried.as_ref().map(|(_, _, r)| r.share()));
    for share in shares {
        if let Some(w) = host::reaped_warning(&share) {
            println!("{w}");
        }
    }
    println!("xenhost: {passed} passed, {failed} failed");
    if failed == 0 && report.error.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn cmd_exec(a: &Args) -> ExitCode {
    if a.positional.is_empty() {
        eprintln!("usage: xenhost exec <dom0 command>...");
        return ExitCode::from(2);
    }
    let root = repo_root();
    let img = match open_image() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("xenhost exec: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run = match RunDir::create(&out_dir(a, &root), "exec") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xenhost exec: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    let items: Vec<Item> = a
        .positional
        .iter()
        .enumerate()
        .map(|(i, c)| Item::Exec {
            dir: format!("exec-{}", i + 1),
            command: c.clone(),
        })
        .collect();
    for i in &items {
        if let Err(e) = fs::create_dir_all(run.share().join(i.dir())) {
            eprintln!("xenhost exec: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    }
    let (report, _) = boot_and_judge(&img, &a.opts, &run, &items, &[], false);
    let mut ok = report.error.is_none();
    for i in &items {
        let d = run.share().join(i.dir());
        let rc = fs::read_to_string(d.join("result"))
            .ok()
            .and_then(|r| result::parse_kv(&r).ok())
            .and_then(|kv| kv.get("rc").cloned());
        if rc.as_deref() != Some("0") {
            ok = false;
        }
        if let Item::Exec { command, .. } = i {
            println!("---- dom0# {command}");
        }
        print!(
            "{}",
            fs::read_to_string(d.join("output")).unwrap_or_default()
        );
        println!(
            "---- exit status {} (output: {})",
            rc.as_deref().unwrap_or("?"),
            d.join("output").display()
        );
    }
    println!(
        "[xenhost] host boot {}, QEMU total {}",
        report.boot.map_or_else(|| "-".into(), secs),
        secs(report.total)
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn cmd_shell(a: &Args) -> ExitCode {
    let root = repo_root();
    let share = a.share.clone().unwrap_or_else(|| root.clone());
    if share.join("job.sh").exists() {
        eprintln!(
            "xenhost shell: {} has a job.sh, which dom0 would run instead of a shell",
            share.display()
        );
        return ExitCode::FAILURE;
    }
    let img = match open_image() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("xenhost shell: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    let run = match RunDir::create(&out_dir(a, &root), "shell") {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xenhost shell: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    match host::run_shell(&img, &a.opts, &run, &share) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xenhost shell: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cmd_setup() -> ExitCode {
    let script = repo_root().join("tools/setup.sh");
    match Command::new("bash").arg(&script).status() {
        Ok(st) if st.success() => ExitCode::SUCCESS,
        Ok(st) => {
            eprintln!("xenhost setup: {} failed ({st})", script.display());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("xenhost setup: cannot run {}: {e}", script.display());
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = argv.first() else {
        eprint!("{}", usage());
        return ExitCode::from(2);
    };
    if matches!(cmd.as_str(), "-h" | "--help" | "help") {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    // density runs have options of their own (host options are parsed inside)
    match cmd.as_str() {
        "spawn" => return spawn::cmd_spawn(&argv[1..]),
        "spawn-test" => return spawn::cmd_spawn_test(&argv[1..]),
        _ => {}
    }
    let a = match parse_args(&argv[1..]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("xenhost {cmd}: {e}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    match cmd.as_str() {
        "setup" => cmd_setup(),
        "image" => cmd_image(),
        "run" => cmd_run(&a),
        "test" => cmd_test(&a),
        "bench" => bench::cmd_bench(&a),
        "exec" => cmd_exec(&a),
        "shell" => cmd_shell(&a),
        other => {
            eprintln!("xenhost: unknown command {other:?}\n\n{}", usage());
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Result<Args, String> {
        parse_args(&s.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn command_line() {
        let a = args(&[
            "k",
            "c",
            "--expect",
            "MINIOS-READY",
            "--timeout",
            "30",
            "--mem",
            "4096",
        ])
        .unwrap();
        assert_eq!(a.positional, vec!["k", "c"]);
        assert_eq!(a.expect.as_deref(), Some("MINIOS-READY"));
        assert_eq!(a.timeout, Some(30));
        assert_eq!(a.opts.mem_mb, 4096);
        assert_eq!(a.opts.dom0_mem_mb, 512);
        assert!(args(&["--timeout", "0"]).is_err());
        assert!(args(&["--mem"]).is_err());
        assert!(args(&["--bogus"]).is_err());
        assert!(args(&["--mem", "512", "--dom0-mem", "512"]).is_err());
        let a = args(&["--", "xl info", "-x"]).unwrap();
        assert_eq!(a.positional, vec!["xl info", "-x"]);
    }

    #[test]
    fn cut_counts_characters() {
        assert_eq!(verdict::cut("abc", 3), "abc");
        assert_eq!(verdict::cut("abcd", 3), "abc...");
        assert_eq!(verdict::cut("ééé", 2), "éé...");
    }

    #[test]
    fn hvmctx_cpu_record_is_summarised() {
        // The first 40 lines of real output (Debian's xen-hvmctx 4.17): the vCPU of the
        // triple-fault-is-caught case at its triple fault (empty IDT, #UD being delivered).
        let text = include_str!("../testdata/hvmctx-triple-fault.txt");
        let s = hvmctx_summary(text);
        assert!(s[0].trim_start().starts_with("CPU:    rax"), "{s:#?}");
        assert!(s.iter().any(|l| l.contains("rip 0x0000000000105a55")));
        assert!(s.iter().any(|l| l.contains("idtr") && l.contains("0000)")));
        assert!(s.iter().any(|l| l.contains("cs 0x0008")));
        assert!(s.iter().any(|l| l.contains("efer")));
        assert!(s.last().unwrap().contains("event 0x80000306"));
        for gone in [
            "dr0", "dr6", "ds 0x", "ldtr", "sysenter", "lstar", "FPU", "Header",
        ] {
            assert!(!s.iter().any(|l| l.contains(gone)), "{gone} kept: {s:#?}");
        }
        assert_eq!(s.len(), 19, "{s:#?}");
        assert!(hvmctx_summary("xen-hvmctx: Error: can't get record length").is_empty());
    }

    #[test]
    fn xenctx_is_summarised() {
        let text = "vcpu0:\nrip: 00000000001083aa\nflags: 00000246 i z p\nrsp: 000000000011ae98\n\
            rax: 0\ncr2: 0000000000000000 x\n\nStack:\n ffff 0000\n\nStack Trace:\n\
            \x20                 * [<00000000001083aa>] HYPERCALL_PAGE+0x3aa <--\n\
            000000000011aea8:   [<000000000010261c>] sched_shutdown+0x1e\n\
            000000000011aed0:   [<0000000000000000>] __image_start+0xfff00000\n\
            000000000011aec8:   [<0000000000102292>] pv_start+0x98\n";
        let s = xenctx_summary(text);
        assert_eq!(s[0], "vcpu0:");
        assert_eq!(s.len(), 8, "{s:#?}");
        assert!(s.iter().any(|l| l.contains("pv_start+0x98")));
        assert!(!s.iter().any(|l| l.contains("[<0000000000000000>]")));
        assert!(!s
            .iter()
            .any(|l| l.starts_with("rax") || l.starts_with("flags")));
    }

    /// The whole host-side path of a case, from the runner's files to the verdict, with the
    /// files a crashing panic guest leaves (as seen on the real host).
    #[test]
    fn judging_from_share_files() {
        let share = std::env::temp_dir().join(format!("xenhost-judge-{}", std::process::id()));
        let dir = share.join("case-2");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("result"),
            "domain=xh2-panic\nxl_rc=0\nrun_ms=684\npreserved=1\n",
        )
        .unwrap();
        fs::write(
            dir.join("xl.log"),
            "154 Parsing config from /mnt/host/case-2/guest.cfg\n\
             550 Waiting for domain xh2-panic (domid 2) to die [pid 278]\n\
             589 Domain 2 has shut down, reason code 3 0x3\n\
             621 Action for shutdown reason code 3 is preserve\n\
             654 Done. Exiting now\n684 XENHOST-XL-RC 0\n",
        )
        .unwrap();
        fs::write(
            dir.join("console.log"),
            "MINIOS-READY boot_us=1\npanicked at src/main.rs:3:5:\nboom\n",
        )
        .unwrap();
        fs::write(dir.join("marker_ms"), "560\n").unwrap();
        fs::write(dir.join("done"), "").unwrap();
        let mut case = Case::adhoc(
            "panic",
            "k".into(),
            "c".into(),
            Some("MINIOS-READY".into()),
            60,
        );
        let p = Prepared {
            case: case.clone(),
            item: Item::Guest {
                dir: "case-2".into(),
                domain: "xh2-panic".into(),
                timeout_secs: 60,
                marker: None,
            },
            error: None,
        };
        let j = judge(&share, &p, None);
        assert!(!j.verdict.pass);
        assert!(j.verdict.reason.contains("got crash"));
        assert!(j
            .verdict
            .reason
            .contains("panicked at src/main.rs:3:5: / boom"));
        assert_eq!(j.outcome.as_ref().unwrap().marker_ms, Some(560));

        case.must_fail_with = Some("panicked at".into());
        let p = Prepared { case, ..p };
        assert!(judge(&share, &p, None).verdict.pass);
        assert!(!timing_line(&p.case, j.outcome.as_ref().unwrap()).contains("RETRIED"));

        // the runner ran the case twice (dom0's toolstack crashed in the first attempt): the
        // verdict's timing line says so
        fs::write(
            dir.join("result"),
            "domain=xh2-panic\nxl_rc=0\nrun_ms=684\npreserved=1\nretried_after=dom0-command-crash\n",
        )
        .unwrap();
        let j = judge(&share, &p, None);
        assert!(j.verdict.pass);
        let line = timing_line(&p.case, j.outcome.as_ref().unwrap());
        assert!(
            line.contains("RETRIED once") && line.contains("dom0-command-crash"),
            "{line}"
        );

        // no result: the host died before the case finished
        fs::remove_file(dir.join("done")).unwrap();
        let j = judge(&share, &p, Some("timeout; serial log: /x/serial.log"));
        assert!(!j.verdict.pass);
        assert!(j.verdict.reason.contains("/x/serial.log"));
        fs::remove_dir_all(&share).unwrap();
    }

    /// A fresh temporary directory `xenhost-<what>-<pid>` holding the runner as runner.sh.
    fn runner_dir(what: &str) -> PathBuf {
        let tmp = std::env::temp_dir().join(format!("xenhost-{what}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).unwrap();
        fs::write(tmp.join("runner.sh"), RUNNER).unwrap();
        tmp
    }

    /// Runs `body` with sh after sourcing the runner in `dir` as the watchdog runs it: the
    /// console (fd 3) on stdout, `XH` = `dir`, and the reaper's age threshold at 0 s.
    /// Returns what went to the console.
    fn run_watchdog(dir: &Path, body: &str) -> String {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(". {}/runner.sh; exec 3>&1; {body}", dir.display()))
            .env("XH", dir)
            .env("XH_SPIN_SECS", "0")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the runner's shell test `func` (exit 0 = true, 1 = false, anything else fails the
    /// test) on a fresh case directory under `tmp` holding `files` (name, text).
    fn runner_test(tmp: &Path, func: &str, files: &[(&str, &str)]) -> bool {
        let d = tmp.join("case");
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        for (f, text) in files {
            fs::write(d.join(f), text).unwrap();
        }
        let script = format!(". {}/runner.sh; {func} {}", tmp.display(), d.display());
        let st = Command::new("sh").arg("-c").arg(&script).status().unwrap();
        match st.code() {
            Some(0) => true,
            Some(1) => false,
            other => panic!("{func} exited {other:?}"),
        }
    }

    /// The runner's test for a dom0 command that crashed (its case is then retried once):
    /// killed by SIGABRT/SIGSEGV, or glibc's abort text in its output even though the command
    /// line as a whole exited 0; a command that merely fails or prints ordinary text is not.
    #[test]
    fn runner_sees_crashed_dom0_commands() {
        let tmp = runner_dir("crash");
        let crashed = |files: &[(&str, &str)]| runner_test(&tmp, "xh_dom0_crashed", files);
        let ok = "ran=1\nstatus=0\n";
        assert!(!crashed(&[]));
        assert!(!crashed(&[
            ("dom0-1.result", ok),
            ("dom0-1.out", "ATTACHED\nPING ok\n")
        ]));
        assert!(!crashed(&[
            ("dom0-1.result", "ran=1\nstatus=3\n"),
            ("dom0-1.out", "error\n")
        ]));
        // seen in a real run: xl network-attach aborted, the rest of the line went on
        let abort = "malloc(): unsorted double linked list corrupted\nAborted\nPING 10.0.0.5\n";
        assert!(crashed(&[("dom0-1.result", ok), ("dom0-1.out", abort)]));
        assert!(crashed(&[("dom0-2.result", "ran=1\nstatus=139\n")]));
        assert!(crashed(&[("after-1.result", "ran=1\nstatus=134\n")]));
        assert!(crashed(&[(
            "before-1.out",
            "Segmentation fault (core dumped)\n"
        )]));
        let assertion = "xl: ../nptl/pthread_mutex_lock.c:94: ___pthread_mutex_lock: \
                         Assertion `mutex->__data.__owner == 0' failed.\n";
        assert!(crashed(&[("dom0-1.out", assertion)]));
        for glibc in [
            "munmap_chunk(): invalid pointer\n",
            "corrupted size vs. prev_size\n",
            "free(): invalid pointer\n",
        ] {
            assert!(crashed(&[("dom0-1.out", glibc)]), "{glibc}");
        }
        // a guest's console quoted in the output (prefixed) is not dom0 crashing
        assert!(!crashed(&[("dom0-1.out", "[peer] free(): whatever\n")]));
        fs::remove_dir_all(&tmp).unwrap();
    }

    /// The runner's test for a PVH triple fault (its case is then retried once): a reboot
    /// that Xen logged as `d<domid>v<n> Triple fault` for this case's domain; a reboot the
    /// guest asked for, another domain's triple fault or a crash is not.
    #[test]
    fn runner_sees_a_pvh_triple_fault() {
        let tmp = runner_dir("triple");
        let triple = |xl: &str, dmesg: Option<&str>| {
            let mut files = vec![("xl.log", xl)];
            files.extend(dmesg.map(|m| ("dmesg.log", m)));
            runner_test(&tmp, "xh_triple_fault", &files)
        };
        let xl = |code: u32| {
            format!(
                "120 Parsing config from /mnt/host/case-22/guest.cfg
                 500 Waiting for domain xh22-xenstore-ls-pvh (domid 22) to die [pid 1223]
                 940 Domain 22 has shut down, reason code {code} {code:#x}
                 941 XENHOST-XL-RC 0
"
            )
        };
        // seen in CI: xenstore-ls-pvh (domid 22) ended in "reboot"
        let seen = "(XEN) HVM22 restore: CPU 0
(XEN) d22v0 Triple fault - invoking HVM shutdown action 1
";
        assert!(triple(&xl(1), Some(seen)));
        // the guest's own reboot: no triple fault logged
        assert!(!triple(
            &xl(1),
            Some(
                "(XEN) HVM22 restore: CPU 0
"
            )
        ));
        // another domain's triple fault (d2 is not d22)
        assert!(!triple(
            &xl(1),
            Some(
                "(XEN) d2v0 Triple fault - invoking HVM shutdown action 1
"
            )
        ));
        // not a reboot (a crash), or no xl dmesg kept
        assert!(!triple(&xl(3), Some(seen)));
        assert!(!triple(&xl(1), None));
        fs::remove_dir_all(&tmp).unwrap();
    }

    /// The runner's watchdog kills a short-lived utility found spinning (here a shell loop
    /// run as "sleep", with the age threshold at 0 s), after writing two samples of its fault
    /// counts and CPU ticks; a process of another name is left alone.
    #[test]
    fn runner_reaps_spinning_utilities() {
        let tmp = runner_dir("reap");
        for name in ["sleep", "spinner"] {
            fs::copy("/bin/sh", tmp.join(name)).unwrap();
        }
        let spin = |name: &str| {
            Command::new(tmp.join(name))
                .arg("-c")
                .arg("while :; do :; done")
                .spawn()
                .unwrap()
        };
        let (mut a, mut b) = (spin("sleep"), spin("spinner"));
        std::thread::sleep(Duration::from_millis(1500));
        let said = run_watchdog(
            &tmp,
            &format!(
                "xh_reap_spinner /proc/{} '(sleep)'; xh_reap_spinner /proc/{} '(spinner)'",
                a.id(),
                b.id()
            ),
        );
        assert!(said.contains("WARNING: dom0 process"), "{said}");
        let st = a.wait().unwrap();
        assert!(!st.success(), "the spinning 'sleep' was not killed");
        assert!(b.try_wait().unwrap().is_none(), "'spinner' was killed");
        let _ = b.kill();
        let _ = b.wait();
        let ev = fs::read_to_string(tmp.join("dom0-reaped.txt")).unwrap();
        assert_eq!(ev.matches("minflt=").count(), 2, "{ev}");
        assert!(host::reaped_warning(&tmp)
            .unwrap()
            .contains("killed 1 process"));
        fs::remove_dir_all(&tmp).unwrap();
    }

    /// The watchdog's any-state branch: a `sleep` of under 30 s still alive when too old
    /// (here with the age threshold at 0 s) is stuck and killed although it is asleep, not
    /// running; a longer sleep is a real wait and is left alone.
    #[test]
    fn runner_reaps_short_sleeps_in_any_state() {
        let tmp = runner_dir("sleep");
        let sleep = |arg: &str| Command::new("sleep").arg(arg).spawn().unwrap();
        let (mut short, mut long) = (sleep("25"), sleep("45"));
        std::thread::sleep(Duration::from_millis(1500));
        let said = run_watchdog(
            &tmp,
            &format!(
                "xh_watch_proc /proc/{}; xh_watch_proc /proc/{}",
                short.id(),
                long.id()
            ),
        );
        assert!(
            said.contains(&format!("dom0 process {} (sleep)", short.id())),
            "{said}"
        );
        assert!(
            !short.wait().unwrap().success(),
            "the short sleep was not killed"
        );
        assert!(
            long.try_wait().unwrap().is_none(),
            "the 45 s sleep was killed"
        );
        let _ = long.kill();
        let _ = long.wait();
        let ev = fs::read_to_string(tmp.join("dom0-reaped.txt")).unwrap();
        assert!(ev.contains("cmdline: sleep 25"), "{ev}");
        assert_eq!(ev.matches(": killing ").count(), 1, "{ev}");
        fs::remove_dir_all(&tmp).unwrap();
    }

    /// The dom0 side of dom0 commands, run here with sh: the runner's watcher on a console
    /// (stdin), its `dom0_after` runner, then the host side reading what they left.
    #[test]
    fn runner_runs_dom0_commands_on_markers() {
        let tmp = runner_dir("dom0");
        let d = tmp.join("case-1");
        fs::create_dir_all(&d).unwrap();
        let text = r#"
[[case]]
name = "t"
kernel = "k"
config = "c"
dom0_after = [{ run = "sleep 5", timeout_secs = 1 }, "echo after $DOMID"]
dom0_before = [{ run = "echo before id=[$DOMID] > made; cat made", expect_output = ["id=[]"] }]
[[case.dom0]]
on_marker = "B-MARK"
run = "echo id=$DOMID name=${NAME} env=$(printenv DOMID) $(basename $CASE_DIR); echo err >&2"
expect_output = ["id=7 name=xh1-t env=7 case-1", "err"]
[[case.dom0]]
on_marker = "A-MARK"
run = "printf '%s\n' '$DOMID' $DOMIDX; cat seen 2>/dev/null; exit 3"
expect_status = 3
expect_output = ["7"]
[[case.dom0]]
on_marker = "NEVER"
run = "true"
"#;
        let case = manifest::parse(text).unwrap().cases.remove(0);
        write_dom0_files(&case, &d).unwrap();
        fs::write(
            d.join("xl.log"),
            "12 Parsing config from x\n40 Waiting for domain xh1-t (domid 7) to die [pid 1]\n\
             50 Domain 7 has shut down, reason code 0 0x0\n",
        )
        .unwrap();
        // A-MARK comes first, but dom0-2 runs after dom0-1 (manifest order); the last line
        // has no newline
        let console = "boot\nA-MARK here\nxx B-MARK yy\nend";
        let script = format!(
            ". {}/runner.sh; xh_now; t0=$xh_now_ms; xh_dom0_before {d} xh1-t \"$t0\"; \
             xh_dom0_watch {d} xh1-t \"$t0\" 3; \
             xh_dom0_after {d} xh1-t \"$t0\"",
            tmp.display(),
            d = d.display()
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("XH", &tmp)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(console.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{said}");
        assert!(
            said.contains("XENHOST: dom0-3 (xh1-t): never ran"),
            "{said}"
        );

        let xl_log = fs::read_to_string(d.join("xl.log")).unwrap();
        let mut o = result::outcome("", &xl_log, None).unwrap();
        read_dom0_results(&case, &d, &mut o).unwrap();
        let b = &o.dom0_before[0];
        assert_eq!((b.ran, b.status), (true, Some(0)), "{b:?}");
        assert_eq!(b.output, "before id=[]\n");
        assert!(d.join("made").exists(), "ran in the case directory");
        let r = &o.dom0[0];
        assert!(r.ran, "{r:?}");
        assert_eq!(r.status, Some(0));
        assert_eq!(r.output, "id=7 name=xh1-t env=7 case-1\nerr\n");
        assert_eq!(
            r.command.as_deref().unwrap(),
            "echo id=7 name=xh1-t env=$(printenv DOMID) $(basename $CASE_DIR); echo err >&2"
        );
        let r2 = &o.dom0[1];
        assert_eq!(r2.status, Some(3));
        // replaced as text (even in single quotes); $DOMIDX is another variable
        assert_eq!(r2.output, "7\n");
        assert!(r2.seen_ms.unwrap() <= r.seen_ms.unwrap());
        assert!(r2.start_ms.unwrap() >= r.end_ms.unwrap());
        assert!(!o.dom0[2].ran && o.dom0[2].reported && o.dom0[2].seen_ms.is_none());
        assert!(o.dom0_after[0].timed_out(), "{:?}", o.dom0_after[0]);
        assert_eq!(o.dom0_after[1].output, "after 7\n");

        let v = verdict::judge(&case, &o, console);
        assert!(!v.pass);
        assert_eq!(
            v.reason,
            "dom0 command \"true\" after \
             \"NEVER\": never ran: \"NEVER\" never appeared on the console; dom0_after \
             command \"sleep 5\": timed out after 1 s (exit 124): (no output)"
        );
        let lines = dom0_lines(&case, &o);
        assert_eq!(lines.len(), 6);
        assert!(lines[0].starts_with("dom0_before #1: "), "{}", lines[0]);
        assert!(lines[1].starts_with("dom0 #1 on \"B-MARK\" (seen at "));
        assert!(lines[1].contains("-> exit 0: id=7 name=xh1-t env=7 case-1 / err"));
        assert_eq!(lines[3], "dom0 #3 on \"NEVER\": \"true\": never ran");
        assert!(lines[5].starts_with("dom0_after #2: \"echo after 7\" at "));
        // Only the commands that ran and failed get their output shown: here the timed-out
        // dom0_after #1 (dom0 #3 never ran; the rest passed).
        let outs = failed_dom0_outputs(&case, &o);
        assert_eq!(outs.len(), 1, "{outs:?}");
        assert_eq!(outs[0].0, "dom0_after #1 printed nothing");
        fs::remove_dir_all(&tmp).unwrap();
    }
}
