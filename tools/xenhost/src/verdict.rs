//! The verdict on one guest run: did the domain end the way the case expects, with the
//! expected console markers and no panic?

use crate::manifest::{Case, Dom0Cmd, Shutdown};
use crate::result::{Dom0Result, Outcome};

/// What the guest prints when it panics (Rust's panic message starts with it).
pub const PANIC_MARK: &str = "panicked at";

/// Lines of console kept after the panic line.
const PANIC_CONTEXT_LINES: usize = 4;

/// PASS or FAIL, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The case passed.
    pub pass: bool,
    /// Why (for a FAIL: every problem found, `; `-separated).
    pub reason: String,
}

/// The panic text on the console: the line holding [`PANIC_MARK`] and the few lines after it
/// (Rust prints the location on the first line and the message on the next).
pub fn panic_text(console: &str) -> Option<String> {
    let lines: Vec<&str> = console.lines().collect();
    let start = lines.iter().position(|l| l.contains(PANIC_MARK))?;
    let end = (start + 1 + PANIC_CONTEXT_LINES).min(lines.len());
    let text: Vec<&str> = lines[start..end]
        .iter()
        .map(|l| l.trim_end())
        .take_while(|l| !l.is_empty())
        .collect();
    let mut s = text.join(" / ");
    if s.len() > 600 {
        let mut cut = 600;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    Some(s)
}

/// Lines of a dom0 command's output quoted in a failure.
const OUTPUT_QUOTE_LINES: usize = 3;

/// How a failure names a dom0 command: `dom0 command "<run>" after "<marker>"` or
/// `dom0_after command "<run>"`.
/// A long command is cut at [`LABEL_COMMAND_CHARS`]: the verdict line stays readable, and the
/// case's whole command is in the manifest and its `dom0-*.cmd` file.
pub fn dom0_label(cmd: &Dom0Cmd) -> String {
    let run = command_short(&cmd.run);
    match &cmd.on_marker {
        Some(m) => format!("dom0 command {run} after {m:?}"),
        None => format!("dom0_after command {run}"),
    }
}

/// Characters of a dom0 command quoted in a verdict or report line.
pub const LABEL_COMMAND_CHARS: usize = 100;

/// `run` quoted (`{:?}`), cut to [`LABEL_COMMAND_CHARS`] characters with `..."` when longer.
pub fn command_short(run: &str) -> String {
    match run.char_indices().nth(LABEL_COMMAND_CHARS) {
        Some((i, _)) => format!("{:?}...", &run[..i]),
        None => format!("{run:?}"),
    }
}

/// The last `max` non-empty lines of a command's output, each cut at 200 characters: what a
/// failure report shows under the command (the first lines are already in the verdict).
pub fn output_tail(output: &str, max: usize) -> (Vec<String>, usize) {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    let shown = lines[lines.len().saturating_sub(max)..]
        .iter()
        .map(|l| cut(l, 200))
        .collect();
    (shown, lines.len())
}

/// `s` cut to at most `max` characters, with "..." when cut.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// The first lines of a command's output, `" / "`-joined and bounded, for a failure report.
pub fn output_head(output: &str) -> String {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return "(no output)".into();
    }
    let mut s = lines[..lines.len().min(OUTPUT_QUOTE_LINES)].join(" / ");
    if s.len() > 300 {
        let mut cut = 300;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    } else if lines.len() > OUTPUT_QUOTE_LINES {
        s.push_str(" / ...");
    }
    s
}

/// What is wrong with one dom0 command's result, if anything.
pub fn dom0_problem(cmd: &Dom0Cmd, res: Option<&Dom0Result>) -> Option<String> {
    dom0_problem_as(dom0_label(cmd), cmd, res)
}

/// [`dom0_problem`] under the given label.
fn dom0_problem_as(label: String, cmd: &Dom0Cmd, res: Option<&Dom0Result>) -> Option<String> {
    let res = match res {
        Some(r) if r.reported => r,
        _ => {
            return Some(format!(
                "{label}: no result from dom0 (the runner never got to it)"
            ))
        }
    };
    if !res.ran {
        return Some(match (&cmd.on_marker, res.seen_ms) {
            (Some(m), None) => format!("{label}: never ran: {m:?} never appeared on the console"),
            (Some(_), Some(_)) => format!(
                "{label}: never ran: its marker appeared, but a dom0 command before it (they \
                 run in manifest order) never ran"
            ),
            (None, _) => format!("{label}: never ran"),
        });
    }
    let mut what = Vec::new();
    match res.status {
        Some(s) if s == cmd.expect_status => {}
        Some(s) if res.timed_out() => {
            what.push(format!("timed out after {} s (exit {s})", cmd.timeout_secs))
        }
        Some(s) if cmd.expect_status == 0 => what.push(format!("exit {s}")),
        Some(s) => what.push(format!("exit {s}, expected {}", cmd.expect_status)),
        None => what.push("no exit status".into()),
    }
    for want in &cmd.expect_output {
        if !res.output.contains(want.as_str()) {
            what.push(format!("output lacks {want:?}"));
        }
    }
    if what.is_empty() {
        return None;
    }
    Some(format!(
        "{label}: {}: {}",
        what.join(", "),
        output_head(&res.output)
    ))
}

/// Problems of the case's dom0 commands (on-marker ones, then the `dom0_after` ones).
fn dom0_problems(case: &Case, out: &Outcome) -> Vec<String> {
    let during = case
        .dom0
        .iter()
        .enumerate()
        .map(|(i, c)| dom0_problem(c, out.dom0.get(i)));
    let after = case
        .dom0_after
        .iter()
        .enumerate()
        .map(|(i, c)| dom0_problem(c, out.dom0_after.get(i)));
    let before = case.dom0_before.iter().enumerate().map(|(i, c)| {
        dom0_problem_as(
            format!("dom0_before command {:?}", c.run),
            c,
            out.dom0_before.get(i),
        )
    });
    before.chain(during).chain(after).flatten().collect()
}

/// Everything wrong with a run, judged by the case's normal expectations.
fn problems(case: &Case, out: &Outcome, console: &str) -> Vec<String> {
    let mut p = Vec::new();
    if out.shutdown == Shutdown::CreateFailed {
        let why: Vec<&str> = out
            .xl_text
            .iter()
            .map(String::as_str)
            .filter(|l| !l.starts_with("Parsing config"))
            .take(3)
            .collect();
        p.push(format!("xl create failed: {}", why.join(" / ").trim()));
    } else if out.shutdown != case.expect_shutdown {
        p.push(format!(
            "expected shutdown {}, got {}{}",
            case.expect_shutdown,
            out.shutdown,
            if out.triple_fault {
                " (Xen logged a triple fault of the vCPU)"
            } else {
                ""
            }
        ));
    }
    for m in &case.expect_console {
        if !console.contains(m.as_str()) {
            p.push(format!("console lacks {m:?}"));
        }
    }
    if case.expect_shutdown != Shutdown::Crash {
        if let Some(t) = panic_text(console) {
            p.push(format!("guest panicked: {t}"));
        }
    }
    p.extend(dom0_problems(case, out));
    p
}

/// Judges one run. A case with `must_fail_with` inverts the verdict: it passes only if the
/// normal verdict is FAIL and the failure text (reason and console) contains that string.
pub fn judge(case: &Case, out: &Outcome, console: &str) -> Verdict {
    let problems = problems(case, out, console);
    let normal_pass = problems.is_empty();
    let reason = if normal_pass {
        let mut r = format!("shutdown {}", out.shutdown);
        if !case.expect_console.is_empty() {
            r.push_str(", console markers seen");
        }
        let n = case.dom0.len() + case.dom0_after.len() + case.dom0_before.len();
        if n > 0 {
            r.push_str(&format!(
                ", {n} dom0 command{} ok",
                if n == 1 { "" } else { "s" }
            ));
        }
        r
    } else {
        problems.join("; ")
    };
    match &case.must_fail_with {
        None => Verdict {
            pass: normal_pass,
            reason,
        },
        Some(want) if normal_pass => Verdict {
            pass: false,
            reason: format!(
                "expected a failure carrying {want:?}, but the guest passed ({reason})"
            ),
        },
        Some(want) if reason.contains(want.as_str()) || console.contains(want.as_str()) => {
            Verdict {
                pass: true,
                reason: format!("failed as required, with {want:?}: {reason}"),
            }
        }
        Some(want) => Verdict {
            pass: false,
            reason: format!("failed, but not with {want:?}: {reason}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn case(expect: Shutdown, markers: &[&str], must_fail_with: Option<&str>) -> Case {
        Case {
            name: "t".into(),
            kernel: PathBuf::from("k"),
            config: PathBuf::from("c"),
            expect_shutdown: expect,
            expect_console: markers.iter().map(|s| s.to_string()).collect(),
            timeout_secs: 60,
            must_fail_with: must_fail_with.map(String::from),
            dom0: Vec::new(),
            dom0_after: Vec::new(),
            dom0_before: Vec::new(),
        }
    }

    fn outcome(s: Shutdown) -> Outcome {
        Outcome {
            shutdown: s,
            domid: Some(1),
            create_ms: Some(800),
            marker_ms: None,
            run_ms: Some(1000),
            preserved: false,
            retried_after: None,
            triple_fault: false,
            xl_text: vec!["Parsing config from x".into()],
            dom0: Vec::new(),
            dom0_after: Vec::new(),
            dom0_before: Vec::new(),
        }
    }

    fn cmd(marker: Option<&str>, run: &str, expect_output: &[&str]) -> Dom0Cmd {
        Dom0Cmd {
            on_marker: marker.map(String::from),
            run: run.into(),
            expect_output: expect_output.iter().map(|s| s.to_string()).collect(),
            expect_status: 0,
            timeout_secs: 30,
        }
    }

    fn ran(status: i32, output: &str) -> Dom0Result {
        Dom0Result {
            reported: true,
            ran: true,
            seen_ms: Some(900),
            start_ms: Some(905),
            end_ms: Some(990),
            status: Some(status),
            command: None,
            output: output.into(),
        }
    }

    const READ: &str = "xenstore-read /local/domain/$DOMID/data/hello";

    /// The xenstore case of the feature's description: read back, then write.
    fn xenstore_case() -> Case {
        let mut c = case(Shutdown::Poweroff, &["XS-OK"], None);
        c.dom0 = vec![
            cmd(Some("XS-WRITTEN"), READ, &["world"]),
            cmd(
                Some("XS-WRITTEN"),
                "xenstore-write /local/domain/$DOMID/data/ping pong",
                &[],
            ),
        ];
        c
    }

    const HELLO: &str = "minios: booting\nMINIOS-READY boot_us=1234\n";
    const PANIC: &str = "minios: booting\nMINIOS-READY boot_us=1234\n\
        panicked at kernel/src/lib.rs:10:5:\nattempt to divide by zero\n\nlater\n";

    #[test]
    fn passing_guest() {
        let v = judge(
            &case(Shutdown::Poweroff, &["MINIOS-READY boot_us="], None),
            &outcome(Shutdown::Poweroff),
            HELLO,
        );
        assert!(v.pass, "{v:?}");
    }

    /// A reboot that Xen logged as a triple fault says so, and the runner's own test case
    /// (must_fail_with "triple fault") passes on it; a plain reboot does not say it.
    #[test]
    fn a_triple_fault_reboot_says_so() {
        let mut o = outcome(Shutdown::Reboot);
        let plain = judge(&case(Shutdown::Poweroff, &[], None), &o, "");
        assert!(!plain.pass);
        assert!(!plain.reason.contains("triple fault"), "{}", plain.reason);
        o.triple_fault = true;
        let v = judge(&case(Shutdown::Poweroff, &[], None), &o, "");
        assert_eq!(
            v.reason,
            "expected shutdown poweroff, got reboot (Xen logged a triple fault of the vCPU)"
        );
        let c = case(Shutdown::Poweroff, &["MINIOS-READY"], Some("triple fault"));
        assert!(judge(&c, &o, "").pass);
        o.triple_fault = false;
        assert!(!judge(&c, &o, "").pass);
    }

    #[test]
    fn crash_instead_of_poweroff_fails_with_the_panic_text() {
        let v = judge(
            &case(Shutdown::Poweroff, &["MINIOS-READY"], None),
            &outcome(Shutdown::Crash),
            PANIC,
        );
        assert!(!v.pass);
        assert!(
            v.reason.contains("expected shutdown poweroff, got crash"),
            "{}",
            v.reason
        );
        assert!(
            v.reason
                .contains("panicked at kernel/src/lib.rs:10:5: / attempt to divide by zero"),
            "{}",
            v.reason
        );
        assert!(!v.reason.contains("later"));
    }

    #[test]
    fn panic_with_poweroff_still_fails() {
        let v = judge(
            &case(Shutdown::Poweroff, &[], None),
            &outcome(Shutdown::Poweroff),
            PANIC,
        );
        assert!(!v.pass);
        assert!(v.reason.contains("guest panicked"));
    }

    #[test]
    fn missing_marker_and_timeout() {
        let v = judge(
            &case(Shutdown::Poweroff, &["MINIOS-READY", "NET-UP"], None),
            &outcome(Shutdown::Timeout),
            "MINIOS-READY\n",
        );
        assert!(!v.pass);
        assert_eq!(
            v.reason,
            "expected shutdown poweroff, got timeout; console lacks \"NET-UP\""
        );
    }

    #[test]
    fn expected_crash_and_expected_timeout() {
        let v = judge(
            &case(Shutdown::Crash, &["panicked at"], None),
            &outcome(Shutdown::Crash),
            PANIC,
        );
        assert!(v.pass, "{v:?}");
        let v = judge(
            &case(Shutdown::Timeout, &["MINIOS-READY"], None),
            &outcome(Shutdown::Timeout),
            HELLO,
        );
        assert!(v.pass, "{v:?}");
    }

    #[test]
    fn create_failure_carries_xl_error() {
        let mut o = outcome(Shutdown::CreateFailed);
        o.xl_text
            .push("xc: error: xc_dom_find_loader: no loader found: Invalid kernel".into());
        let v = judge(&case(Shutdown::Poweroff, &[], None), &o, "");
        assert!(!v.pass);
        assert!(v.reason.contains("no loader found"), "{}", v.reason);
        assert!(!v.reason.contains("Parsing config"));
    }

    #[test]
    fn must_fail_with_passes_only_on_the_right_failure() {
        let c = case(Shutdown::Poweroff, &["MINIOS-READY"], Some("panicked at"));
        // the panic guest: fails normally, with the panic text -> PASS
        let v = judge(&c, &outcome(Shutdown::Crash), PANIC);
        assert!(v.pass, "{v:?}");
        assert!(v.reason.contains("attempt to divide by zero"));
        // a guest that passes normally -> FAIL
        let v = judge(&c, &outcome(Shutdown::Poweroff), HELLO);
        assert!(!v.pass);
        assert!(v.reason.contains("but the guest passed"));
        // fails, but for another reason (hung, no panic) -> FAIL
        let v = judge(&c, &outcome(Shutdown::Timeout), HELLO);
        assert!(!v.pass);
        assert!(
            v.reason.contains("not with \"panicked at\""),
            "{}",
            v.reason
        );
    }

    #[test]
    fn dom0_commands_that_did_their_job_pass() {
        let c = xenstore_case();
        let mut o = outcome(Shutdown::Poweroff);
        o.dom0 = vec![ran(0, "world\n"), ran(0, "")];
        let v = judge(&c, &o, "XS-WRITTEN\nXS-OK\n");
        assert!(v.pass, "{v:?}");
        assert_eq!(
            v.reason,
            "shutdown poweroff, console markers seen, 2 dom0 commands ok"
        );
    }

    #[test]
    fn dom0_status_and_output_failures_are_named() {
        let c = xenstore_case();
        let mut o = outcome(Shutdown::Poweroff);
        o.dom0 = vec![
            ran(
                1,
                "xenstore-read: couldn't read path /local/domain/3/data/hello\n",
            ),
            ran(0, ""),
        ];
        let v = judge(&c, &o, "XS-WRITTEN\nXS-OK\n");
        assert!(!v.pass);
        assert_eq!(
            v.reason,
            "dom0 command \"xenstore-read /local/domain/$DOMID/data/hello\" after \
             \"XS-WRITTEN\": exit 1, output lacks \"world\": xenstore-read: couldn't read \
             path /local/domain/3/data/hello"
        );
        // right status, wrong output; a status other than the expected non-zero one
        o.dom0[0] = ran(0, "earth\n");
        let mut c2 = c.clone();
        c2.dom0[1].expect_status = 2;
        let v = judge(&c2, &o, "XS-WRITTEN\nXS-OK\n");
        assert!(
            v.reason
                .contains("after \"XS-WRITTEN\": output lacks \"world\": earth"),
            "{}",
            v.reason
        );
        assert!(
            v.reason.contains("exit 0, expected 2: (no output)"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn dom0_command_whose_marker_never_appeared_fails() {
        let c = xenstore_case();
        let mut o = outcome(Shutdown::Timeout);
        let never = Dom0Result {
            reported: true,
            ..Dom0Result::default()
        };
        o.dom0 = vec![never.clone(), never];
        let v = judge(&c, &o, "booting\n");
        assert!(!v.pass);
        assert!(
            v.reason.contains(
                "dom0 command \"xenstore-read /local/domain/$DOMID/data/hello\" after \
                 \"XS-WRITTEN\": never ran: \"XS-WRITTEN\" never appeared on the console"
            ),
            "{}",
            v.reason
        );
        assert!(v
            .reason
            .starts_with("expected shutdown poweroff, got timeout; "));
        // its marker appeared, but the command before it never ran
        o.dom0[1].seen_ms = Some(100);
        let v = judge(&c, &o, "");
        assert!(
            v.reason.contains("a dom0 command before it"),
            "{}",
            v.reason
        );
        // no result file at all
        o.dom0.clear();
        let v = judge(&c, &o, "");
        assert!(v.reason.contains("no result from dom0"), "{}", v.reason);
    }

    #[test]
    fn dom0_timeout_and_dom0_after() {
        let mut c = case(Shutdown::Poweroff, &[], None);
        c.dom0 = vec![cmd(Some("GO"), "sleep 100", &[])];
        c.dom0_after = vec![cmd(None, "cmp disk.img want.img", &[])];
        let mut o = outcome(Shutdown::Poweroff);
        o.dom0 = vec![ran(124, "")];
        o.dom0_after = vec![ran(1, "disk.img want.img differ: byte 513, line 1\n")];
        let v = judge(&c, &o, "GO\n");
        assert_eq!(
            v.reason,
            "dom0 command \"sleep 100\" after \"GO\": timed out after 30 s (exit 124): \
             (no output); dom0_after command \"cmp disk.img want.img\": exit 1: disk.img \
             want.img differ: byte 513, line 1"
        );
        o.dom0 = vec![ran(0, "")];
        o.dom0_after = vec![ran(0, "")];
        let v = judge(&c, &o, "GO\n");
        assert!(v.pass, "{v:?}");
        assert!(v.reason.ends_with("2 dom0 commands ok"));
    }

    #[test]
    fn must_fail_with_sees_dom0_failures() {
        let mut c = xenstore_case();
        c.must_fail_with = Some("output lacks \"world\"".into());
        let mut o = outcome(Shutdown::Poweroff);
        o.dom0 = vec![ran(0, "xh1-t\n"), ran(0, "")];
        let v = judge(&c, &o, "XS-WRITTEN\nXS-OK\n");
        assert!(v.pass, "{v:?}");
    }

    #[test]
    fn long_commands_are_cut_in_labels() {
        let cmd = |run: String, on_marker: Option<String>| Dom0Cmd {
            on_marker,
            run,
            expect_output: Vec::new(),
            expect_status: 0,
            timeout_secs: 10,
        };
        let long = cmd("x".repeat(500), None);
        let l = dom0_label(&long);
        assert!(l.len() < 140, "{l}");
        assert!(
            l.ends_with("...") && l.starts_with("dom0_after command \"xxx"),
            "{l}"
        );
        let short = cmd("true".into(), Some("M".into()));
        assert_eq!(dom0_label(&short), "dom0 command \"true\" after \"M\"");
        let out = format!("a\n\nb\n{}\nc\n", "é".repeat(300));
        let (tail, n) = output_tail(&out, 2);
        assert_eq!(n, 4);
        assert_eq!(tail.len(), 2);
        assert_eq!(tail[0].chars().count(), 203);
        assert_eq!(tail[1], "c");
    }

    #[test]
    fn output_head_is_short() {
        assert_eq!(output_head(""), "(no output)");
        assert_eq!(output_head("a\n\nb\n"), "a / b");
        assert_eq!(output_head("1\n2\n3\n4\n"), "1 / 2 / 3 / ...");
        let long = "x".repeat(1000);
        assert!(output_head(&long).len() <= 303);
    }

    #[test]
    fn panic_text_is_bounded() {
        assert_eq!(panic_text(HELLO), None);
        let long = format!("panicked at x:1:1:\n{}\n", "é".repeat(1000));
        let t = panic_text(&long).unwrap();
        assert!(t.len() <= 604 && t.ends_with("..."));
    }
}
