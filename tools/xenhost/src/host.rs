//! Booting the Xen host in QEMU (TCG) and following a job through the share and the serial
//! log.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::image::Image;
use crate::job::Item;

/// Knobs of the Xen host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostOpts {
    /// QEMU memory (MB): Xen's whole machine.
    pub mem_mb: u64,
    /// dom0 memory (MB).
    pub dom0_mem_mb: u64,
    /// vCPUs of the QEMU machine and of dom0.
    pub vcpus: u32,
    /// Seconds from QEMU start until dom0 must be running the job.
    pub boot_timeout_secs: u64,
    /// Print the whole serial log (Xen and dom0 boot), not just the job's lines.
    pub verbose: bool,
    /// Print only what matters when nothing goes wrong (`--quiet`, used by `./minios test`,
    /// whose whole output must stay small): no guest console lines, only the host's
    /// warnings and fatal lines; everything is still in the serial log.
    pub quiet: bool,
    /// The QEMU binary.
    pub qemu: String,
    /// Which xenstore daemon dom0 starts.
    pub xenstored: Xenstored,
}

/// dom0's xenstore daemon. Debian's `/etc/init.d/xen` starts oxenstored unless `XENSTORED`
/// names another; the C one is shipped next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Xenstored {
    /// oxenstored, the OCaml daemon (Debian's default).
    #[default]
    Ocaml,
    /// The C xenstored.
    C,
}

impl Xenstored {
    pub fn parse(v: &str) -> Result<Xenstored, String> {
        match v {
            "ocaml" | "oxenstored" => Ok(Xenstored::Ocaml),
            "c" | "xenstored" => Ok(Xenstored::C),
            _ => Err(format!("--xenstored {v:?}: ocaml or c")),
        }
    }

    /// The name of its process in dom0.
    pub fn name(self) -> &'static str {
        match self {
            Xenstored::Ocaml => "oxenstored",
            Xenstored::C => "xenstored (C)",
        }
    }

    /// What dom0's kernel command line adds: the kernel hands a `NAME=value` it does not know
    /// to init as an environment variable, minios-init's `/etc/init.d/xen start` inherits it,
    /// and the image's /etc/default/xen leaves `XENSTORED` unset, so the script starts that
    /// binary.
    fn dom0_arg(self) -> &'static str {
        match self {
            Xenstored::Ocaml => "",
            Xenstored::C => " XENSTORED=/usr/lib/xen-4.17/bin/xenstored",
        }
    }
}

impl Default for HostOpts {
    fn default() -> Self {
        HostOpts {
            mem_mb: 2048,
            dom0_mem_mb: 512,
            vcpus: 2,
            boot_timeout_secs: 300,
            verbose: false,
            quiet: false,
            qemu: "qemu-system-x86_64".into(),
            xenstored: Xenstored::Ocaml,
        }
    }
}

/// Slack per job item beyond its own timeout (xl create, destroy, console settling), and for
/// the gaps between items.
const ITEM_SLACK: Duration = Duration::from_secs(120);
/// How long QEMU may take to exit after the job said it was done.
const POWEROFF_GRACE: Duration = Duration::from_secs(60);
/// Serial-log lines that mean the host is dead.
const FATAL_PATTERNS: &[&str] = &[
    "Kernel panic - not syncing",
    "(XEN) Panic on CPU",
    "(XEN) Reboot in five seconds",
];

/// How QEMU's serial port is connected.
#[derive(Debug, Clone, Copy)]
pub enum Console<'a> {
    /// Into a file, no terminal at all (tests, CI).
    File(&'a Path),
    /// On this terminal (interactive shell), with a copy in the log file.
    Terminal(&'a Path),
}

/// The CPU QEMU emulates by default: everything TCG offers (`max`) but SMAP/SMEP (with them
/// dom0 crashes at once under TCG) and the fast-short-string features FSRM/FSRS/FZRM/FSRC.
/// With FSRM, dom0's kernel copies even short `memmove`s with `rep movsb`, and under QEMU
/// 10's TCG that went with guests crashed at entry (6 in the first 142 density instances)
/// and dom0 processes dying in libc (13); without it, about 1 crash in 600 and far fewer dom0
/// faults in density runs (the full test suite still sees some). ERMS stays: it was dropped
/// for a while after the two models without it (EPYC, and this one with `-erms`) each had a
/// PVH guest triple-fault in a full suite run, but this model has had one too since (CI,
/// 2026-11-23), so ERMS does not decide that (docs/density.md, "The feature is FSRM"; README,
/// known issues).
pub const DEFAULT_QEMU_CPU: &str = "max,-smap,-smep,-fsrm,-fsrs,-fzrm,-fsrc";

/// The CPU QEMU emulates: [`DEFAULT_QEMU_CPU`], or `MINIOS_QEMU_CPU` for experiments.
fn qemu_cpu() -> String {
    std::env::var("MINIOS_QEMU_CPU")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_QEMU_CPU.to_string())
}

/// QEMU's accelerator: `tcg` (multi-threaded TCG: one host thread per vCPU), or
/// `MINIOS_QEMU_ACCEL` for experiments (e.g. `tcg,thread=single`: all vCPUs on one host
/// thread, to tell emulation races from real bugs).
fn qemu_accel() -> String {
    std::env::var("MINIOS_QEMU_ACCEL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "tcg".to_string())
}

/// Extra options for Xen's command line from `MINIOS_XEN_ARGS` (experiments), with a
/// leading space, or nothing.
fn xen_extra_args() -> String {
    match std::env::var("MINIOS_XEN_ARGS") {
        Ok(s) if !s.trim().is_empty() => format!(" {}", s.trim()),
        _ => String::new(),
    }
}

/// QEMU's command line for the Xen host.
pub fn qemu_args(img: &Image, opts: &HostOpts, share: &Path, console: Console) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |s: &str| a.push(s.into());
    for s in [
        "-machine",
        "q35",
        "-no-reboot",
        "-nic",
        "none",
        "-display",
        "none",
    ] {
        push(s);
    }
    push("-accel");
    push(&qemu_accel());
    push("-cpu");
    push(&qemu_cpu());
    push("-m");
    push(&format!("{}M", opts.mem_mb));
    push("-smp");
    push(&opts.vcpus.to_string());
    match console {
        Console::File(log) => {
            push("-monitor");
            push("none");
            push("-serial");
            push(&format!("file:{}", log.display()));
        }
        Console::Terminal(log) => {
            push("-chardev");
            push(&format!(
                "stdio,id=con0,mux=on,signal=off,logfile={}",
                log.display()
            ));
            push("-serial");
            push("chardev:con0");
            push("-mon");
            push("chardev=con0,mode=readline");
        }
    }
    push("-kernel");
    push(&img.xen().display().to_string());
    push("-append");
    push(&format!(
        "dom0_mem={d}M,max:{d}M dom0_max_vcpus={v} console=com1 com1=115200,8n1 loglvl=all \
         guest_loglvl=all noreboot{extra}",
        d = opts.dom0_mem_mb,
        v = opts.vcpus,
        extra = xen_extra_args(),
    ));
    push("-initrd");
    // vdso=0: dom0's time calls go through the kernel instead of the vDSO's pvclock read.
    // A mitigation, not a proven fix: in runs of 2026-11-22 dom0 userspace processes that read
    // the clock (`date`, `xl`) segfaulted, returned nothing or hung under TCG (README, known
    // issues).
    push(&format!(
        "{} root=/dev/vda rw console=hvc0 init=/sbin/minios-init vdso=0{},{}",
        img.vmlinuz().display(),
        opts.xenstored.dom0_arg(),
        img.initrd().display()
    ));
    push("-drive");
    push(&format!(
        "file={},if=virtio,format=raw,snapshot=on",
        img.disk().display()
    ));
    push("-virtfs");
    push(&format!(
        "local,path={},mount_tag=host0,security_model=none,id=host0",
        share.display()
    ));
    a
}

/// `YYYYmmdd-HHMMSS` (UTC) of a Unix time.
pub fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// How many run directories `out/xenhost` keeps.
pub const KEEP_RUNS: usize = 30;

/// Is `name` a run directory's name (`YYYYmmdd-HHMMSS-...`)?
fn is_run_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 16
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'-'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
}

/// Removes all but the newest `keep` run directories in `out`.
fn prune_runs(out: &Path, keep: usize) {
    let Ok(rd) = fs::read_dir(out) else { return };
    let mut runs: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| is_run_name(&e.file_name().to_string_lossy()))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    runs.sort();
    let excess = runs.len().saturating_sub(keep);
    for old in &runs[..excess] {
        let _ = fs::remove_dir_all(old);
    }
}

/// A run's output directory: `<out>/<stamp>-<kind>/` with `share/` inside.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The directory.
    pub dir: PathBuf,
}

impl RunDir {
    /// Creates a fresh run directory under `out`, removing the oldest run directories beyond
    /// the newest [`KEEP_RUNS`].
    pub fn create(out: &Path, kind: &str) -> Result<RunDir, String> {
        prune_runs(out, KEEP_RUNS - 1);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut dir = out.join(format!("{}-{kind}", utc_stamp(now)));
        if dir.exists() {
            dir = out.join(format!("{}-{kind}-{}", utc_stamp(now), std::process::id()));
        }
        fs::create_dir_all(dir.join("share"))
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(RunDir { dir })
    }
    /// The 9p share (dom0's /mnt/host).
    pub fn share(&self) -> PathBuf {
        self.dir.join("share")
    }
    /// The serial log: Xen's and dom0's console.
    pub fn serial_log(&self) -> PathBuf {
        self.dir.join("serial.log")
    }
    /// QEMU's own stdout/stderr.
    pub fn qemu_log(&self) -> PathBuf {
        self.dir.join("qemu.log")
    }
}

/// Something the job did, reported while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// dom0 is up with the toolstack running; the duration since QEMU started.
    Ready(Duration),
    /// Item `i` (0-based) began.
    Started(usize),
    /// Item `i` finished; its files are complete.
    Done(usize),
}

/// How the boot went.
#[derive(Debug, Clone, Default)]
pub struct JobReport {
    /// QEMU start until dom0 ready.
    pub boot: Option<Duration>,
    /// QEMU start until it exited (or was stopped).
    pub total: Duration,
    /// Why the host failed, if it did (the message names the serial log).
    pub error: Option<String>,
    /// The failure was a [`Progress`] stall.
    pub stalled: bool,
}

/// Is this serial line worth showing with `--quiet`? A fatal line, or the runner's word that
/// something went wrong (a retry, a setup failure, a stall).
fn alarming(line: &str) -> bool {
    FATAL_PATTERNS.iter().any(|p| line.contains(p))
        || (line.starts_with("XENHOST:")
            && [
                "retrying", "cannot", "did not", "FAILED", "WARNING", "crash",
            ]
            .iter()
            .any(|w| line.contains(w)))
}

/// Shows a serial line as the options ask.
fn show_serial(opts: &HostOpts, line: &str) {
    let show = if opts.verbose {
        true
    } else if opts.quiet {
        alarming(line)
    } else {
        interesting(line)
    };
    if show {
        println!("  {line}");
    }
}

/// Is this serial line worth showing without --verbose?
fn interesting(line: &str) -> bool {
    // "XENHOST: [dom] xl: ..." repeats what the verdict says
    (line.starts_with("XENHOST:") && !line.starts_with("XENHOST: ["))
        || line.starts_with("[xh")
        || line.starts_with("minios-init:")
        || FATAL_PATTERNS.iter().any(|p| line.contains(p))
        || line
            .strip_prefix("(XEN) d")
            .and_then(|r| r.chars().next())
            .is_some_and(|c| c.is_ascii_digit() && c != '0')
}

/// Follows a growing file line by line.
struct Follower {
    path: PathBuf,
    pos: u64,
    partial: Vec<u8>,
}

impl Follower {
    fn new(path: PathBuf) -> Follower {
        Follower {
            path,
            pos: 0,
            partial: Vec::new(),
        }
    }
    /// New complete lines (all remaining text if `flush`).
    fn lines(&mut self, flush: bool) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(mut f) = fs::File::open(&self.path) {
            if f.seek(SeekFrom::Start(self.pos)).is_ok() {
                let mut buf = Vec::new();
                if let Ok(n) = f.read_to_end(&mut buf) {
                    self.pos += n as u64;
                    self.partial.extend_from_slice(&buf);
                }
            }
        }
        while let Some(i) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            out.push(clean(&line));
        }
        if flush && !self.partial.is_empty() {
            out.push(clean(&self.partial));
            self.partial.clear();
        }
        out
    }
}

fn clean(line: &[u8]) -> String {
    String::from_utf8_lossy(line)
        .trim_end_matches(['\n', '\r'])
        .replace('\r', "")
}

/// The last `n` lines of a file, for failure reports.
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    let text = fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.replace('\r', ""))
        .collect()
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Starts QEMU for a non-interactive job.
fn spawn(img: &Image, opts: &HostOpts, run: &RunDir) -> Result<Child, String> {
    let qemu_log = fs::File::create(run.qemu_log()).map_err(|e| e.to_string())?;
    let qemu_err = qemu_log.try_clone().map_err(|e| e.to_string())?;
    let serial = run.serial_log();
    let args = qemu_args(img, opts, &run.share(), Console::File(&serial));
    fs::write(
        run.dir.join("qemu-cmdline.txt"),
        format!(
            "{} {}\n",
            opts.qemu,
            args.iter()
                .map(|a| crate::job::sh_quote(&a.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    )
    .map_err(|e| e.to_string())?;
    Command::new(&opts.qemu)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(qemu_log)
        .stderr(qemu_err)
        .spawn()
        .map_err(|e| {
            format!(
                "cannot start {} ({e}): run tools/setup.sh (./minios setup)",
                opts.qemu
            )
        })
}

/// A stall watch for long job items: dom0 appends a line to `file` whenever it makes progress
/// (an instance created, one destroyed, a phase done). While an item runs, the host gives up
/// when the file has not grown for `stall`, instead of waiting out the item's whole budget
/// (a dom0 hang under TCG cost a CI run an hour that way).
#[derive(Debug, Clone)]
pub struct Progress {
    pub file: PathBuf,
    pub stall: Duration,
}

/// Boots the host, lets dom0 run `job.sh` (already in the share with everything it needs)
/// and follows it until dom0 powers off. `on_event` sees progress as it happens.
pub fn run_job(
    img: &Image,
    opts: &HostOpts,
    run: &RunDir,
    items: &[(Item, u64)],
    on_event: &mut dyn FnMut(Event),
) -> JobReport {
    run_job_watched(img, opts, run, items, None, on_event)
}

/// How many dom0 processes the runner's watchdog killed because they were spinning (a
/// short-lived utility running for over 60 s; `dom0-reaped.txt` holds the evidence), as a
/// warning line, or None.
pub fn reaped_warning(share: &Path) -> Option<String> {
    let f = share.join("dom0-reaped.txt");
    let text = fs::read_to_string(&f).ok()?;
    let n = text.lines().filter(|l| l.contains(": killing ")).count();
    (n > 0).then(|| {
        format!(
            "[xenhost] WARNING: dom0's watchdog killed {n} process(es) found stuck or spinning (short-lived \
             utilities running for over 60 s: dom0 userspace broken under TCG); evidence: {}",
            f.display()
        )
    })
}

/// What dom0 was doing when last seen: from the runner's watchdog snapshot
/// (`dom0-ps.txt` in the share, rewritten every 20 s), its first line (dom0's uptime and
/// load), the processes that are `xl`, `xenstored`, `xenconsoled` or in D state, and their
/// kernel stacks; at most 40 lines of at most 200 characters. Empty when there is no
/// snapshot.
pub fn dom0_evidence(share: &Path) -> Vec<String> {
    let Ok(text) = fs::read_to_string(share.join("dom0-ps.txt")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut lines = text.lines();
    if let Some(first) = lines.next() {
        out.push(first.to_string());
    }
    let mut in_stack = false;
    for l in lines {
        if l.starts_with("--- ") {
            in_stack = true;
        }
        let cols: Vec<&str> = l.split_whitespace().collect();
        let interesting = in_stack
            || cols.first() == Some(&"PID")
            || cols.get(2).is_some_and(|st| st.starts_with('D'))
            // a user process running (not a kernel thread, not the snapshot's own ps):
            // seen spinning for minutes when dom0 stalled
            || (cols.get(2).is_some_and(|st| st.starts_with('R'))
                && cols
                    .get(5)
                    .is_some_and(|c| !c.starts_with('[') && *c != "ps"))
            || cols.get(5).is_some_and(|c| {
                let base = c.rsplit('/').next().unwrap_or(c);
                matches!(base, "xl" | "xenstored" | "oxenstored" | "xenconsoled")
            });
        if interesting {
            out.push(l.chars().take(200).collect());
        }
    }
    out.truncate(40);
    out
}

/// Size of a file, 0 if it does not exist (yet).
fn file_len(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The last non-empty line of a file, or "-".
fn last_line(p: &Path) -> String {
    tail(p, 1).pop().unwrap_or_else(|| "-".into())
}

/// [`run_job`] with an optional [`Progress`] watch.
pub fn run_job_watched(
    img: &Image,
    opts: &HostOpts,
    run: &RunDir,
    items: &[(Item, u64)],
    progress: Option<&Progress>,
    on_event: &mut dyn FnMut(Event),
) -> JobReport {
    let share = run.share();
    let serial_path = run.serial_log();
    println!(
        "[xenhost] booting the Xen host: QEMU TCG, {} MB, dom0 {} MB, {} vCPUs{} (serial log: {})",
        opts.mem_mb,
        opts.dom0_mem_mb,
        opts.vcpus,
        if opts.xenstored == Xenstored::Ocaml {
            String::new()
        } else {
            format!(", {}", opts.xenstored.name())
        },
        serial_path.display()
    );
    let start = Instant::now();
    let mut report = JobReport::default();
    let mut child = match spawn(img, opts, run) {
        Ok(c) => c,
        Err(e) => {
            report.error = Some(format!(
                "{e}; serial log: {} (not written: QEMU never ran)",
                serial_path.display()
            ));
            return report;
        }
    };
    let mut serial = Follower::new(serial_path.clone());
    let mut ready = false;
    let mut started = vec![false; items.len()];
    let mut done = vec![false; items.len()];
    let mut deadline = start + Duration::from_secs(opts.boot_timeout_secs);
    let mut deadline_what = format!(
        "dom0 did not start the job within {} s of boot",
        opts.boot_timeout_secs
    );
    let mut job_done_at: Option<Instant> = None;
    let mut fatal: Option<(Instant, String)> = None;
    let mut progress_len = progress.map_or(0, |p| file_len(&p.file));
    let mut progress_at = Instant::now();
    let exit_status = loop {
        sleep(Duration::from_millis(100));
        for line in serial.lines(false) {
            show_serial(opts, &line);
            if fatal.is_none() {
                if let Some(p) = FATAL_PATTERNS.iter().find(|p| line.contains(*p)) {
                    fatal = Some((Instant::now(), format!("the Xen host died: \"{p}\"")));
                }
            }
        }
        if !ready && share.join("ready").exists() {
            ready = true;
            let t = start.elapsed();
            report.boot = Some(t);
            on_event(Event::Ready(t));
            deadline = Instant::now() + ITEM_SLACK;
            deadline_what = "dom0 stopped making progress between job items".into();
        }
        if ready {
            for (i, (item, timeout)) in items.iter().enumerate() {
                let dir = share.join(item.dir());
                if !started[i] && dir.join("started").exists() {
                    started[i] = true;
                    on_event(Event::Started(i));
                    deadline = Instant::now() + Duration::from_secs(*timeout) + ITEM_SLACK;
                    deadline_what = format!(
                        "job item {} ({}) did not finish within its timeout + {} s",
                        i + 1,
                        item.dir(),
                        ITEM_SLACK.as_secs()
                    );
                }
                if started[i] && !done[i] && dir.join("done").exists() {
                    done[i] = true;
                    on_event(Event::Done(i));
                    deadline = Instant::now() + ITEM_SLACK;
                    deadline_what = "dom0 stopped making progress between job items".into();
                }
            }
            if let Some(p) = progress {
                let len = file_len(&p.file);
                let running = started.iter().zip(&done).any(|(s, d)| *s && !*d);
                if len != progress_len || !running {
                    progress_len = len;
                    progress_at = Instant::now();
                } else if progress_at.elapsed() > p.stall && job_done_at.is_none() {
                    report.error = Some(format!(
                        "stall: dom0 made no progress for {} s ({} did not grow; its last \
                         line: {})",
                        p.stall.as_secs(),
                        p.file.display(),
                        last_line(&p.file)
                    ));
                    report.stalled = true;
                    kill(&mut child);
                    break None;
                }
            }
            if job_done_at.is_none() && share.join("done").exists() {
                job_done_at = Some(Instant::now());
                deadline = Instant::now() + POWEROFF_GRACE;
                deadline_what = String::new();
            }
        }
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) => {}
            Err(e) => {
                report.error = Some(format!("waiting for QEMU: {e}"));
                kill(&mut child);
                break None;
            }
        }
        if let Some((at, why)) = &fatal {
            // let the rest of the panic reach the log, then stop
            if at.elapsed() > Duration::from_secs(3) {
                report.error = Some(why.clone());
                kill(&mut child);
                break None;
            }
        }
        if Instant::now() > deadline {
            if job_done_at.is_some() {
                println!(
                    "[xenhost] dom0 finished the job but QEMU did not exit within {} s: stopped it",
                    POWEROFF_GRACE.as_secs()
                );
            } else {
                report.error = Some(format!("timeout: {deadline_what}"));
            }
            kill(&mut child);
            break None;
        }
    };
    for line in serial.lines(true) {
        show_serial(opts, &line);
    }
    report.total = start.elapsed();
    if report.error.is_none() && job_done_at.is_none() {
        let how = match exit_status {
            Some(st) => format!("QEMU exited ({st})"),
            None => "QEMU was stopped".into(),
        };
        let qemu_out = fs::read_to_string(run.qemu_log()).unwrap_or_default();
        let qemu_out = qemu_out.trim();
        report.error = Some(if !ready {
            format!(
                "{how} before dom0 started the job{}",
                if qemu_out.is_empty() {
                    String::new()
                } else {
                    format!("; QEMU said: {qemu_out}")
                }
            )
        } else {
            format!("{how} before dom0 finished the job")
        });
    }
    if let Some(e) = &mut report.error {
        e.push_str(&format!("; serial log: {}", serial_path.display()));
    }
    report
}

/// Boots the host with the terminal as its console: dom0 gives a root shell (no job.sh in the
/// share); leaving the shell powers the host off.
pub fn run_shell(img: &Image, opts: &HostOpts, run: &RunDir, share: &Path) -> Result<(), String> {
    let serial = run.serial_log();
    let args = qemu_args(img, opts, share, Console::Terminal(&serial));
    println!(
        "[xenhost] booting the Xen host ({} MB, dom0 {} MB, {} vCPUs); the dom0 root shell \
         comes up in ~1 min.\n[xenhost] {} is mounted at /mnt/host. Leave the shell to power \
         off; Ctrl-A X kills QEMU. Serial log: {}",
        opts.mem_mb,
        opts.dom0_mem_mb,
        opts.vcpus,
        share.display(),
        serial.display()
    );
    let st = Command::new(&opts.qemu)
        .args(&args)
        .status()
        .map_err(|e| format!("cannot start {}: {e}", opts.qemu))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("QEMU exited with {st}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        assert_eq!(utc_stamp(0), "19700101-000000");
        assert_eq!(utc_stamp(1_795_363_359), "20261122-160239");
        assert_eq!(utc_stamp(951_782_400), "20000229-000000");
    }

    #[test]
    fn qemu_command_line() {
        let img = Image {
            dir: PathBuf::from("/c/x"),
        };
        let opts = HostOpts::default();
        let a: Vec<String> = qemu_args(
            &img,
            &opts,
            Path::new("/s"),
            Console::File(Path::new("/o/serial.log")),
        )
        .into_iter()
        .map(|s| s.into_string().unwrap())
        .collect();
        let after = |k: &str| a[a.iter().position(|x| x == k).unwrap() + 1].clone();
        assert_eq!(after("-accel"), "tcg");
        assert_eq!(after("-cpu"), "max,-smap,-smep,-fsrm,-fsrs,-fzrm,-fsrc");
        assert_eq!(after("-m"), "2048M");
        assert_eq!(after("-serial"), "file:/o/serial.log");
        assert_eq!(after("-monitor"), "none");
        assert_eq!(after("-kernel"), "/c/x/xen");
        assert!(after("-append").starts_with("dom0_mem=512M,max:512M dom0_max_vcpus=2 "));
        assert_eq!(
            after("-initrd"),
            "/c/x/vmlinuz root=/dev/vda rw console=hvc0 init=/sbin/minios-init vdso=0,/c/x/initrd.img"
        );
        assert!(after("-drive").ends_with("snapshot=on"));
        assert_eq!(
            after("-virtfs"),
            "local,path=/s,mount_tag=host0,security_model=none,id=host0"
        );
        assert!(a.contains(&"-no-reboot".to_string()));

        // --xenstored c: dom0's init gets XENSTORED in its environment
        let opts = HostOpts {
            xenstored: Xenstored::parse("c").unwrap(),
            ..HostOpts::default()
        };
        let a: Vec<String> = qemu_args(
            &img,
            &opts,
            Path::new("/s"),
            Console::File(Path::new("/o/s")),
        )
        .into_iter()
        .map(|s| s.into_string().unwrap())
        .collect();
        let initrd = &a[a.iter().position(|x| x == "-initrd").unwrap() + 1];
        assert!(
            initrd.ends_with(" vdso=0 XENSTORED=/usr/lib/xen-4.17/bin/xenstored,/c/x/initrd.img"),
            "{initrd}"
        );
        assert_eq!(Xenstored::parse("ocaml"), Ok(Xenstored::Ocaml));
        assert!(Xenstored::parse("go").is_err());
    }

    #[test]
    fn serial_filter() {
        assert!(interesting("XENHOST: dom0 ready"));
        assert!(!interesting(
            "XENHOST: [xh1-a] xl: 1 Domain 1 has shut down"
        ));
        assert!(interesting("[xh1-hello] MINIOS-READY"));
        assert!(interesting("(XEN) d1v0 Unhandled page fault"));
        assert!(!interesting("(XEN) d0v1 something"));
        assert!(!interesting("[    2.3] virtio_blk"));
        assert!(interesting("[    9.1] Kernel panic - not syncing: x"));
        assert!(alarming("[    9.1] Kernel panic - not syncing: x"));
        assert!(alarming(
            "XENHOST: [xh3-a] a dom0 command of this case crashed (...): retrying this case once"
        ));
        assert!(alarming("XENHOST: network: cannot set up bridge xenbr0"));
        assert!(!alarming("XENHOST: dom0 ready"));
        assert!(!alarming(
            "XENHOST: case case-1: xl create xh1-hello (timeout 60s)"
        ));
        assert!(!alarming("[xh1-hello] MINIOS-READY"));
    }

    #[test]
    fn old_runs_are_pruned() {
        let out = std::env::temp_dir().join(format!("xenhost-prune-{}", std::process::id()));
        for n in [
            "20260101-000000-test",
            "20260102-000000-run",
            "20260103-000000-test",
        ] {
            fs::create_dir_all(out.join(n)).unwrap();
        }
        fs::create_dir_all(out.join("keep-me")).unwrap();
        prune_runs(&out, 2);
        let mut left: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["20260102-000000-run", "20260103-000000-test", "keep-me"]
        );
        fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn reaped_processes_are_counted() {
        let d = std::env::temp_dir().join(format!("xh-reaped-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        assert!(reaped_warning(&d).is_none());
        fs::write(
            d.join("dom0-reaped.txt"),
            "dom0 uptime 140.2 s: killing 756 (sleep), running for 91 s\n\
             --- 756 (sleep) R minflt=1 majflt=0 utime=0 stime=9000 syscall=running\n\
             dom0 uptime 300.1 s: killing 800 (wc), running for 61 s\n",
        )
        .unwrap();
        let w = reaped_warning(&d).unwrap();
        assert!(w.contains("killed 2 process(es)"), "{w}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn dom0_evidence_picks_toolstack_and_stuck_processes() {
        let d = std::env::temp_dir().join(format!("xh-evidence-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        assert!(dom0_evidence(&d).is_empty());
        fs::write(
            d.join("dom0-ps.txt"),
            "dom0 uptime 812.3 s; load 3.1 2.0 1.0 2/90 1234\n\
             \x20 PID  PPID STAT ELAPSED WCHAN CMD\n\
             \x20   1     0 Ss      810 do_wait /bin/sh /sbin/minios-init\n\
             \x20 300     1 Ss      800 do_select /usr/sbin/xenstored --pid-file=/run/x.pid\n\
             \x20 901   900 D       400 privcmd_ioctl xl create -F /mnt/host/c/guest.cfg\n\
             \x20 950   900 S        10 hrtimer_nanosleep sleep 20\n\
             \x20 560   327 R       327 -    sleep 0.05\n\
             \x20 693   233 R         1 -    ps -eo pid,ppid,stat\n\
             \x20  15     2 R       388 -    [rcu_preempt]\n\
             --- 901 (xl) D stack:\n[<0>] privcmd_ioctl+0x1/0x2\n\
             --- 560 (sleep) R minflt=91234 majflt=0 utime=3 stime=31000 syscall=running\n",
        )
        .unwrap();
        let e = dom0_evidence(&d);
        assert_eq!(e[0], "dom0 uptime 812.3 s; load 3.1 2.0 1.0 2/90 1234");
        let all = e.join("\n");
        assert!(all.contains("xenstored --pid-file"), "{all}");
        assert!(all.contains("901   900 D"), "{all}");
        assert!(all.contains("[<0>] privcmd_ioctl"), "{all}");
        assert!(!all.contains("minios-init"), "{all}");
        assert!(!all.contains("sleep 20"), "{all}");
        assert!(
            all.contains("560   327 R       327 -    sleep 0.05"),
            "{all}"
        );
        assert!(all.contains("minflt=91234"), "{all}");
        assert!(
            !all.contains("ps -eo") && !all.contains("rcu_preempt"),
            "{all}"
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn follower_reads_complete_lines() {
        let dir = std::env::temp_dir().join(format!("xenhost-follow-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("log");
        fs::write(&p, "a\r\nb").unwrap();
        let mut f = Follower::new(p.clone());
        assert_eq!(f.lines(false), vec!["a"]);
        fs::write(&p, "a\r\nbc\nd").unwrap();
        assert_eq!(f.lines(false), vec!["bc"]);
        assert_eq!(f.lines(true), vec!["d"]);
        assert_eq!(tail(&p, 2), vec!["bc", "d"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
