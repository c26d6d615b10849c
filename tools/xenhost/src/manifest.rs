//! The guest test manifest (`guest-tests/cases.toml`): a list of `[[case]]` tables, each one
//! guest image booted on the Xen host with the expectations it must meet.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How a domain ended, as the runner saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// SCHEDOP_shutdown with SHUTDOWN_poweroff (reason code 0).
    Poweroff,
    /// SHUTDOWN_reboot (reason code 1).
    Reboot,
    /// SHUTDOWN_suspend (reason code 2).
    Suspend,
    /// SHUTDOWN_crash (reason code 3), also what Xen reports for a guest it killed.
    Crash,
    /// SHUTDOWN_watchdog (reason code 4).
    Watchdog,
    /// Another reason code.
    Other(u32),
    /// Still running when the case's timeout ran out.
    Timeout,
    /// `xl create` failed: the domain never ran.
    CreateFailed,
    /// The runner could not tell (xl exited without a shutdown line).
    Unknown,
}

impl Shutdown {
    /// The meaning of a `SHUTDOWN_*` reason code.
    pub fn from_code(code: u32) -> Shutdown {
        match code {
            0 => Shutdown::Poweroff,
            1 => Shutdown::Reboot,
            2 => Shutdown::Suspend,
            3 => Shutdown::Crash,
            4 => Shutdown::Watchdog,
            c => Shutdown::Other(c),
        }
    }

    /// Parses the names a manifest may expect.
    pub fn parse_expected(s: &str) -> Option<Shutdown> {
        Some(match s {
            "poweroff" => Shutdown::Poweroff,
            "reboot" => Shutdown::Reboot,
            "crash" => Shutdown::Crash,
            "suspend" => Shutdown::Suspend,
            "watchdog" => Shutdown::Watchdog,
            "timeout" => Shutdown::Timeout,
            _ => return None,
        })
    }
}

impl fmt::Display for Shutdown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shutdown::Poweroff => f.write_str("poweroff"),
            Shutdown::Reboot => f.write_str("reboot"),
            Shutdown::Suspend => f.write_str("suspend"),
            Shutdown::Crash => f.write_str("crash"),
            Shutdown::Watchdog => f.write_str("watchdog"),
            Shutdown::Other(c) => write!(f, "reason code {c}"),
            Shutdown::Timeout => f.write_str("timeout"),
            Shutdown::CreateFailed => f.write_str("create-failed"),
            Shutdown::Unknown => f.write_str("unknown"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    case: Vec<RawCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    kernel: PathBuf,
    config: PathBuf,
    #[serde(default)]
    expect_shutdown: Option<String>,
    #[serde(default)]
    expect_console: Vec<String>,
    #[serde(default)]
    timeout_secs: Option<u64>,
    #[serde(default)]
    must_fail_with: Option<String>,
}

/// Timeout of a case that names none.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// One guest test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// Unique name: `[A-Za-z0-9_-]`, used for the domain name and file names.
    pub name: String,
    /// Guest image, relative to the repository root (or absolute).
    pub kernel: PathBuf,
    /// xl config, relative to the repository root (or absolute).
    pub config: PathBuf,
    /// How the domain must end.
    pub expect_shutdown: Shutdown,
    /// Strings the guest console must contain.
    pub expect_console: Vec<String>,
    /// Seconds the guest may run before it counts as hung.
    pub timeout_secs: u64,
    /// "Test of the test": the case passes only if the normal verdict is FAIL and the failure
    /// text (reason and console) contains this string.
    pub must_fail_with: Option<String>,
}

impl Case {
    /// A case for `xenhost run`: expects poweroff, and the marker if one is given.
    pub fn adhoc(
        name: &str,
        kernel: PathBuf,
        config: PathBuf,
        marker: Option<String>,
        timeout_secs: u64,
    ) -> Case {
        Case {
            name: name.to_string(),
            kernel,
            config,
            expect_shutdown: Shutdown::Poweroff,
            expect_console: marker.into_iter().collect(),
            timeout_secs,
            must_fail_with: None,
        }
    }

    /// The image path, resolved against `root`.
    pub fn kernel_path(&self, root: &Path) -> PathBuf {
        root.join(&self.kernel)
    }

    /// The config path, resolved against `root`.
    pub fn config_path(&self, root: &Path) -> PathBuf {
        root.join(&self.config)
    }
}

/// A parsed and checked manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The cases, in file order (the order they run in).
    pub cases: Vec<Case>,
}

/// Is `name` usable as a case name (domain names and file names are made from it)?
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Parses and checks manifest text; errors name the offending case.
pub fn parse(text: &str) -> Result<Manifest, String> {
    let raw: RawManifest = toml::from_str(text).map_err(|e| format!("invalid manifest: {e}"))?;
    if raw.case.is_empty() {
        return Err("manifest has no [[case]]".into());
    }
    let mut seen = HashSet::new();
    let mut cases = Vec::new();
    for rc in raw.case {
        let ctx = |msg: String| format!("case \"{}\": {msg}", rc.name);
        if !valid_name(&rc.name) {
            return Err(ctx(
                "name must be 1-40 characters of [A-Za-z0-9_-]".to_string()
            ));
        }
        if !seen.insert(rc.name.clone()) {
            return Err(ctx("duplicate name".to_string()));
        }
        let expect_shutdown = match rc.expect_shutdown.as_deref() {
            None => Shutdown::Poweroff,
            Some(s) => Shutdown::parse_expected(s).ok_or_else(|| {
                ctx(format!(
                    "expect_shutdown = \"{s}\": expected poweroff, reboot, crash, suspend, \
                     watchdog or timeout"
                ))
            })?,
        };
        let timeout_secs = rc.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if timeout_secs == 0 {
            return Err(ctx("timeout_secs must be > 0".to_string()));
        }
        if rc
            .expect_console
            .iter()
            .any(|m| m.is_empty() || m.contains('\n'))
        {
            return Err(ctx(
                "expect_console entries must be non-empty single lines".to_string()
            ));
        }
        if matches!(rc.must_fail_with.as_deref(), Some("")) {
            return Err(ctx("must_fail_with must not be empty".to_string()));
        }
        cases.push(Case {
            name: rc.name,
            kernel: rc.kernel,
            config: rc.config,
            expect_shutdown,
            expect_console: rc.expect_console,
            timeout_secs,
            must_fail_with: rc.must_fail_with,
        });
    }
    Ok(Manifest { cases })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASES: &str = r#"
[[case]]
name = "hello"
kernel = "target/x86_64-unknown-none/release/hello"   # relative to repo root
config = "examples/hello/hello.cfg"
expect_shutdown = "poweroff"
expect_console = ["MINIOS-READY boot_us="]
timeout_secs = 60

[[case]]
name = "panic-is-caught"
kernel = "target/x86_64-unknown-none/release/panic"
config = "guest-tests/panic.cfg"
expect_shutdown = "poweroff"
expect_console = ["MINIOS-READY"]
timeout_secs = 60
must_fail_with = "panicked at"
"#;

    #[test]
    fn parses_the_project_manifest_shape() {
        let m = parse(CASES).unwrap();
        assert_eq!(m.cases.len(), 2);
        let hello = &m.cases[0];
        assert_eq!(hello.name, "hello");
        assert_eq!(
            hello.kernel,
            PathBuf::from("target/x86_64-unknown-none/release/hello")
        );
        assert_eq!(hello.config, PathBuf::from("examples/hello/hello.cfg"));
        assert_eq!(hello.expect_shutdown, Shutdown::Poweroff);
        assert_eq!(hello.expect_console, vec!["MINIOS-READY boot_us="]);
        assert_eq!(hello.timeout_secs, 60);
        assert_eq!(hello.must_fail_with, None);
        assert_eq!(m.cases[1].must_fail_with.as_deref(), Some("panicked at"));
    }

    #[test]
    fn the_repository_manifest_parses() {
        let text = include_str!("../../../guest-tests/cases.toml");
        let m = parse(text).unwrap();
        assert!(m.cases.iter().any(|c| c.must_fail_with.is_some()));
    }

    #[test]
    fn defaults() {
        let m = parse("[[case]]\nname = \"a\"\nkernel = \"k\"\nconfig = \"c\"\n").unwrap();
        let c = &m.cases[0];
        assert_eq!(c.expect_shutdown, Shutdown::Poweroff);
        assert!(c.expect_console.is_empty());
        assert_eq!(c.timeout_secs, DEFAULT_TIMEOUT_SECS);
    }

    #[test]
    fn rejects_bad_manifests() {
        let base = "kernel = \"k\"\nconfig = \"c\"\n";
        let err = |t: &str| parse(t).unwrap_err();
        assert!(err("").contains("no [[case]]"));
        assert!(err(&format!("[[case]]\nname = \"a b\"\n{base}")).contains("name must be"));
        assert!(err(&format!(
            "[[case]]\nname = \"a\"\n{base}[[case]]\nname = \"a\"\n{base}"
        ))
        .contains("duplicate"));
        assert!(err(&format!(
            "[[case]]\nname = \"a\"\n{base}expect_shutdown = \"off\"\n"
        ))
        .contains("expect_shutdown"));
        assert!(
            err(&format!("[[case]]\nname = \"a\"\n{base}timeout_secs = 0\n"))
                .contains("timeout_secs")
        );
        assert!(err(&format!("[[case]]\nname = \"a\"\n{base}colour = 1\n")).contains("unknown"));
        assert!(err("[[case]]\nname = \"a\"\nconfig = \"c\"\n").contains("kernel"));
    }

    #[test]
    fn shutdown_codes_and_names() {
        assert_eq!(Shutdown::from_code(0), Shutdown::Poweroff);
        assert_eq!(Shutdown::from_code(1), Shutdown::Reboot);
        assert_eq!(Shutdown::from_code(3), Shutdown::Crash);
        assert_eq!(Shutdown::from_code(9), Shutdown::Other(9));
        for s in [
            "poweroff", "reboot", "crash", "suspend", "watchdog", "timeout",
        ] {
            assert_eq!(Shutdown::parse_expected(s).unwrap().to_string(), s);
        }
    }
}
