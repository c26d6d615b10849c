//! Parsing of what the dom0 runner (assets/runner.sh) leaves in the share for one guest:
//! `result` (key=value lines), `xl.log` (the output of `xl create -F`, each line prefixed with
//! the milliseconds since `xl create` started) and `marker_ms`; and, per dom0 command of the
//! case, `dom0-<i>.result` / `after-<i>.result` (key=value), `.out` (its output) and `.cmd`
//! (the command as run, `$DOMID`/`$NAME` replaced).
//!
//! The wording `xl create -F` of Xen 4.17 uses, seen on the real host:
//! ```text
//! 164 Parsing config from /mnt/host/case-1/guest.cfg
//! 804 Waiting for domain xh1-hello (domid 1) to die [pid 246]
//! 838 Domain 1 has shut down, reason code 0 0x0
//! 872 Action for shutdown reason code 0 is destroy
//! 907 Domain 1 needs to be cleaned up: destroying the domain
//! 1037 Done. Exiting now
//! 1079 XENHOST-XL-RC 0
//! ```
//! With `on_crash = "preserve"` a crash ends with `Action for shutdown reason code 3 is
//! preserve` and `Done. Exiting now`, leaving the domain for inspection. A guest still
//! running at the timeout has only the "Waiting" line and `XENHOST-XL-RC 124` (timeout(1)).

use std::collections::BTreeMap;

use crate::manifest::Shutdown;

/// Parses `key=value` lines; blank lines and `#` comments are skipped.
pub fn parse_kv(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected key=value, got {line:?}", n + 1))?;
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("line {}: empty key", n + 1));
        }
        map.insert(k.to_string(), v.trim().to_string());
    }
    Ok(map)
}

fn num<T: std::str::FromStr>(
    map: &BTreeMap<String, String>,
    key: &str,
) -> Result<Option<T>, String> {
    match map.get(key) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("{key}={v:?} is not a number")),
    }
}

/// What `xl create -F` said.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct XlLog {
    /// ms from `xl create` start to "Waiting for domain ... to die": the domain was built and
    /// unpaused (the `xl create` time).
    pub created_ms: Option<u64>,
    /// Domain id.
    pub domid: Option<u32>,
    /// The SHUTDOWN_* reason code xl reported.
    pub reason_code: Option<u32>,
    /// Exit status of `timeout xl create -F`.
    pub rc: Option<i32>,
    /// The lines without timestamps and without the runner's own rc line.
    pub text: Vec<String>,
}

/// Splits a `<ms> <text>` line.
fn split_ts(line: &str) -> (Option<u64>, &str) {
    match line.split_once(' ') {
        Some((ts, rest)) if !ts.is_empty() && ts.bytes().all(|b| b.is_ascii_digit()) => {
            (ts.parse().ok(), rest)
        }
        _ => (None, line),
    }
}

/// Parses the runner's timestamped copy of `xl create -F`'s output.
pub fn parse_xl_log(text: &str) -> XlLog {
    let mut log = XlLog::default();
    for line in text.lines() {
        let (ts, rest) = split_ts(line);
        if let Some(rc) = rest.strip_prefix("XENHOST-XL-RC ") {
            log.rc = rc.trim().parse().ok();
            continue;
        }
        if rest.starts_with("Waiting for domain ") {
            if log.created_ms.is_none() {
                log.created_ms = ts;
            }
            if let Some(d) = rest.split("(domid ").nth(1) {
                log.domid = d.split(')').next().and_then(|d| d.trim().parse().ok());
            }
        }
        if let Some((head, tail)) = rest.split_once(" has shut down, reason code ") {
            if log.reason_code.is_none() {
                log.reason_code = tail.split_whitespace().next().and_then(|c| c.parse().ok());
            }
            if log.domid.is_none() {
                log.domid = head
                    .strip_prefix("Domain ")
                    .and_then(|d| d.trim().parse().ok());
            }
        }
        log.text.push(rest.to_string());
    }
    log
}

/// Everything known about one guest run, from the share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How the domain ended.
    pub shutdown: Shutdown,
    /// Domain id, if it was created.
    pub domid: Option<u32>,
    /// `xl create` time: until the domain was built and running.
    pub create_ms: Option<u64>,
    /// Time from `xl create` start until the first expected console marker appeared.
    pub marker_ms: Option<u64>,
    /// Time from `xl create` start until xl exited.
    pub run_ms: Option<u64>,
    /// The domain was still there after xl exited (preserved crash or timeout).
    pub preserved: bool,
    /// The runner ran the case a second time because dom0's toolstack crashed in the first
    /// attempt (`retried_after=<reason>` in `result`); this outcome is the second attempt's.
    pub retried_after: Option<String>,
    /// Xen logged a triple fault of the domain's vCPU (`triple_fault=1` in `result`): its
    /// "reboot" was not the guest's own.
    pub triple_fault: bool,
    /// What xl printed, for failure reports.
    pub xl_text: Vec<String>,
    /// The case's `[[case.dom0]]` commands, in manifest order (empty until read).
    pub dom0: Vec<Dom0Result>,
    /// The case's `dom0_after` commands, in manifest order (empty until read).
    pub dom0_after: Vec<Dom0Result>,
    /// The case's `dom0_before` commands, in manifest order (empty until read).
    pub dom0_before: Vec<Dom0Result>,
}

/// What became of one dom0 command, from the runner's files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dom0Result {
    /// dom0 left a result for it at all (no: the runner died or never got to it).
    pub reported: bool,
    /// The command ran.
    pub ran: bool,
    /// ms since `xl create` when its marker was first seen on the console.
    pub seen_ms: Option<u64>,
    /// ms since `xl create` when it started.
    pub start_ms: Option<u64>,
    /// ms since `xl create` when it ended.
    pub end_ms: Option<u64>,
    /// Its exit status (124: timeout(1) stopped it).
    pub status: Option<i32>,
    /// The command as run (`$DOMID`, `$NAME` replaced), if it ran.
    pub command: Option<String>,
    /// Its output (stdout and stderr).
    pub output: String,
}

impl Dom0Result {
    /// Did timeout(1) stop it?
    pub fn timed_out(&self) -> bool {
        self.status.is_some_and(is_timeout_rc)
    }
}

/// Builds a dom0 command's result from its files: `<p>.result`, `<p>.out`, `<p>.cmd` (each
/// `None` if missing).
pub fn dom0_result(
    result: Option<&str>,
    output: Option<&str>,
    command: Option<&str>,
) -> Result<Dom0Result, String> {
    let Some(result) = result else {
        return Ok(Dom0Result::default());
    };
    let kv = parse_kv(result)?;
    Ok(Dom0Result {
        reported: true,
        ran: kv.get("ran").is_some_and(|v| v == "1"),
        seen_ms: num(&kv, "seen_ms")?,
        start_ms: num(&kv, "start_ms")?,
        end_ms: num(&kv, "end_ms")?,
        status: num(&kv, "status")?,
        command: command.map(|c| c.trim_end().to_string()),
        output: output.unwrap_or_default().to_string(),
    })
}

/// Exit status of timeout(1) when it had to stop the command.
fn is_timeout_rc(rc: i32) -> bool {
    rc == 124 || rc == 137
}

/// Builds the outcome from the runner's files: `result`, `xl.log` and `marker_ms` (if any).
pub fn outcome(result: &str, xl_log: &str, marker_ms: Option<&str>) -> Result<Outcome, String> {
    let kv = parse_kv(result).map_err(|e| format!("result file: {e}"))?;
    let xl = parse_xl_log(xl_log);
    let rc = match num::<i32>(&kv, "xl_rc")? {
        Some(rc) => Some(rc),
        None => xl.rc,
    };
    let shutdown = match (xl.reason_code, rc) {
        (Some(code), _) => Shutdown::from_code(code),
        (None, Some(rc)) if is_timeout_rc(rc) => Shutdown::Timeout,
        (None, _) if xl.created_ms.is_none() => Shutdown::CreateFailed,
        (None, _) => Shutdown::Unknown,
    };
    let marker_ms = match marker_ms.map(str::trim) {
        Some(m) if !m.is_empty() => Some(
            m.parse()
                .map_err(|_| format!("marker_ms {m:?} is not a number"))?,
        ),
        _ => None,
    };
    Ok(Outcome {
        shutdown,
        domid: xl.domid,
        create_ms: xl.created_ms,
        marker_ms,
        run_ms: num(&kv, "run_ms")?,
        preserved: kv.get("preserved").is_some_and(|v| v == "1"),
        retried_after: kv.get("retried_after").cloned(),
        triple_fault: kv.get("triple_fault").is_some_and(|v| v == "1"),
        xl_text: xl.text,
        dom0: Vec::new(),
        dom0_after: Vec::new(),
        dom0_before: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POWEROFF: &str = "164 Parsing config from /mnt/host/case-1/guest.cfg\n\
        804 Waiting for domain xh1-hello (domid 1) to die [pid 246]\n\
        838 Domain 1 has shut down, reason code 0 0x0\n\
        872 Action for shutdown reason code 0 is destroy\n\
        907 Domain 1 needs to be cleaned up: destroying the domain\n\
        1037 Done. Exiting now\n\
        1079 XENHOST-XL-RC 0\n";

    #[test]
    fn kv_lines() {
        let kv = parse_kv("# c\nxl_rc=0\n\nrun_ms = 12\nname=a=b\n").unwrap();
        assert_eq!(kv["xl_rc"], "0");
        assert_eq!(kv["run_ms"], "12");
        assert_eq!(kv["name"], "a=b");
        assert!(parse_kv("oops\n").unwrap_err().contains("line 1"));
        assert!(parse_kv("=1\n").is_err());
    }

    #[test]
    fn poweroff_run() {
        let o = outcome(
            "xl_rc=0\nrun_ms=1079\npreserved=0\n",
            POWEROFF,
            Some("900\n"),
        )
        .unwrap();
        assert_eq!(o.shutdown, Shutdown::Poweroff);
        assert_eq!(o.domid, Some(1));
        assert_eq!(o.create_ms, Some(804));
        assert_eq!(o.marker_ms, Some(900));
        assert_eq!(o.run_ms, Some(1079));
        assert!(!o.preserved);
        assert_eq!(
            o.xl_text[0],
            "Parsing config from /mnt/host/case-1/guest.cfg"
        );
        assert!(!o.xl_text.iter().any(|l| l.contains("XENHOST")));
    }

    #[test]
    fn preserved_crash() {
        let log = "154 Parsing config from /mnt/host/case-2/guest.cfg\n\
            550 Waiting for domain xh2-panic (domid 2) to die [pid 278]\n\
            589 Domain 2 has shut down, reason code 3 0x3\n\
            621 Action for shutdown reason code 3 is preserve\n\
            654 Done. Exiting now\n684 XENHOST-XL-RC 0\n";
        let o = outcome("xl_rc=0\npreserved=1\n", log, None).unwrap();
        assert_eq!(o.shutdown, Shutdown::Crash);
        assert_eq!(o.domid, Some(2));
        assert!(o.preserved);
        assert_eq!(o.marker_ms, None);
    }

    #[test]
    fn reboot_and_timeout() {
        let reboot = POWEROFF.replace("reason code 0 0x0", "reason code 1 0x1");
        assert_eq!(
            outcome("", &reboot, None).unwrap().shutdown,
            Shutdown::Reboot
        );
        let hang = "143 Parsing config from x\n\
            546 Waiting for domain xh4-hang (domid 4) to die [pid 340]\n\
            15225 XENHOST-XL-RC 124\n";
        let o = outcome("xl_rc=124\npreserved=1\n", hang, None).unwrap();
        assert_eq!(o.shutdown, Shutdown::Timeout);
        assert_eq!(o.create_ms, Some(546));
        // rc taken from the log when the result file lacks it
        assert_eq!(outcome("", hang, None).unwrap().shutdown, Shutdown::Timeout);
    }

    #[test]
    fn create_failure() {
        let log = "150 Parsing config from x\n\
            300 xc: error: panic: xg_dom_core.c:702: xc_dom_find_loader: no loader found: Invalid kernel\n\
            320 libxl: error: libxl_create.c:1294:domcreate_rebuild_done: Domain 5:cannot (re-)build domain: -3\n\
            400 XENHOST-XL-RC 3\n";
        let o = outcome("xl_rc=3\n", log, None).unwrap();
        assert_eq!(o.shutdown, Shutdown::CreateFailed);
        assert!(o.xl_text.iter().any(|l| l.contains("no loader found")));
        // xl exits 0 without saying how the domain ended: unknown
        let odd = "1 Waiting for domain a (domid 3) to die [pid 1]\n2 XENHOST-XL-RC 0\n";
        assert_eq!(outcome("", odd, None).unwrap().shutdown, Shutdown::Unknown);
    }

    #[test]
    fn dom0_results() {
        let r = dom0_result(
            Some("seen_ms=812\nran=1\ndomid=3\nstart_ms=815\nend_ms=901\nstatus=0\n"),
            Some("xh1-hello\n"),
            Some("xenstore-read /local/domain/3/name\n"),
        )
        .unwrap();
        assert!(r.reported && r.ran && !r.timed_out());
        assert_eq!(
            (r.seen_ms, r.start_ms, r.end_ms, r.status),
            (Some(812), Some(815), Some(901), Some(0))
        );
        assert_eq!(
            r.command.as_deref(),
            Some("xenstore-read /local/domain/3/name")
        );
        assert_eq!(r.output, "xh1-hello\n");
        // the marker never appeared: no seen_ms, ran=0
        let r = dom0_result(Some("ran=0\n"), None, None).unwrap();
        assert!(r.reported && !r.ran);
        assert_eq!((r.seen_ms, r.status), (None, None));
        // timeout(1) stopped it
        let r = dom0_result(Some("ran=1\nstatus=124\n"), Some(""), None).unwrap();
        assert!(r.timed_out());
        // no file at all: not reported
        assert!(!dom0_result(None, None, None).unwrap().reported);
        assert!(dom0_result(Some("status=x\n"), None, None).is_err());
    }

    #[test]
    fn malformed_numbers_are_errors() {
        assert!(outcome("run_ms=abc\n", POWEROFF, None).is_err());
        assert!(outcome("", POWEROFF, Some("x")).is_err());
        assert_eq!(outcome("", POWEROFF, Some("  ")).unwrap().marker_ms, None);
    }
}
