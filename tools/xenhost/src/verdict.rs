//! The verdict on one guest run: did the domain end the way the case expects, with the
//! expected console markers and no panic?

use crate::manifest::{Case, Shutdown};
use crate::result::Outcome;

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
            "expected shutdown {}, got {}",
            case.expect_shutdown, out.shutdown
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
            xl_text: vec!["Parsing config from x".into()],
        }
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
    fn panic_text_is_bounded() {
        assert_eq!(panic_text(HELLO), None);
        let long = format!("panicked at x:1:1:\n{}\n", "é".repeat(1000));
        let t = panic_text(&long).unwrap();
        assert!(t.len() <= 604 && t.ends_with("..."));
    }
}
