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
    #[serde(default)]
    dom0: Vec<RawDom0>,
    /// Bare command strings or tables ([`RawAfterTable`]), told apart by hand so that a bad
    /// table gets serde's precise error rather than "did not match any variant".
    #[serde(default)]
    dom0_after: Vec<toml::Value>,
    /// PVH twin: the same case again as `<name>-pvh`, booted with this config.
    #[serde(default)]
    pvh_config: Option<PathBuf>,
    /// The twin's console expectations, when they differ from `expect_console`.
    #[serde(default)]
    pvh_expect_console: Option<Vec<String>>,
    /// Like `dom0_after`, run before `xl create` (e.g. creating a backing file).
    #[serde(default)]
    dom0_before: Vec<toml::Value>,
}

/// A `[[case.dom0]]` table: a dom0 command run when a console marker appears.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDom0 {
    on_marker: String,
    run: String,
    #[serde(default)]
    expect_output: Vec<String>,
    #[serde(default)]
    expect_status: Option<i64>,
    #[serde(default)]
    timeout_secs: Option<u64>,
}

/// A `dom0_after` entry given as a table: the checks of `[[case.dom0]]` without `on_marker`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAfterTable {
    run: String,
    #[serde(default)]
    expect_output: Vec<String>,
    #[serde(default)]
    expect_status: Option<i64>,
    #[serde(default)]
    timeout_secs: Option<u64>,
}

/// Timeout of a case that names none.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// Timeout of a dom0 command that names none.
pub const DEFAULT_DOM0_TIMEOUT_SECS: u64 = 30;

/// Longest timeout a dom0 command may have.
pub const MAX_DOM0_TIMEOUT_SECS: u64 = 600;

/// A shell command run in dom0 for a case: while the guest runs, when a console marker first
/// appears (`[[case.dom0]]`), or after the guest has shut down (`dom0_after`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dom0Cmd {
    /// The console text that triggers it; `None` for a `dom0_after` command.
    pub on_marker: Option<String>,
    /// The command (`sh`); `$DOMID`/`${DOMID}` and `$NAME`/`${NAME}` are replaced by the
    /// domain's id and name, which are also in its environment.
    pub run: String,
    /// Strings its output (stdout and stderr) must contain.
    pub expect_output: Vec<String>,
    /// Its required exit status.
    pub expect_status: i32,
    /// Seconds before it is stopped (timeout(1)).
    pub timeout_secs: u64,
}

impl Dom0Cmd {
    /// Checks and builds a command from its manifest fields; `what` names it in errors.
    fn build(
        what: &str,
        on_marker: Option<String>,
        run: String,
        expect_output: Vec<String>,
        expect_status: Option<i64>,
        timeout_secs: Option<u64>,
    ) -> Result<Dom0Cmd, String> {
        if run.trim().is_empty() {
            return Err(format!("{what}: run must not be empty"));
        }
        if let Some(m) = &on_marker {
            if m.is_empty() || m.contains('\n') {
                return Err(format!(
                    "{what} ({run:?}): on_marker must be a non-empty single line"
                ));
            }
        }
        if expect_output.iter().any(String::is_empty) {
            return Err(format!(
                "{what} ({run:?}): expect_output entries must not be empty"
            ));
        }
        let expect_status = match expect_status {
            None => 0,
            Some(s) => i32::try_from(s)
                .ok()
                .filter(|s| (0..=255).contains(s))
                .ok_or_else(|| format!("{what} ({run:?}): expect_status must be 0-255"))?,
        };
        let timeout_secs = timeout_secs.unwrap_or(DEFAULT_DOM0_TIMEOUT_SECS);
        if timeout_secs == 0 || timeout_secs > MAX_DOM0_TIMEOUT_SECS {
            return Err(format!(
                "{what} ({run:?}): timeout_secs must be 1-{MAX_DOM0_TIMEOUT_SECS}"
            ));
        }
        Ok(Dom0Cmd {
            on_marker,
            run,
            expect_output,
            expect_status,
            timeout_secs,
        })
    }
}

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
    /// dom0 commands run while the guest runs, each when its marker first appears on the
    /// console, in this order.
    pub dom0: Vec<Dom0Cmd>,
    /// dom0 commands run after the guest has shut down (and its domain is gone), in order.
    pub dom0_after: Vec<Dom0Cmd>,
    /// dom0 commands run before `xl create`, in order (no domain yet: `$DOMID` is empty).
    pub dom0_before: Vec<Dom0Cmd>,
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
            dom0: Vec::new(),
            dom0_after: Vec::new(),
            dom0_before: Vec::new(),
        }
    }

    /// Seconds the host gives the whole case in dom0: the guest's timeout plus every dom0
    /// command's timeout (with a little slack each for timeout(1)'s kill).
    pub fn budget_secs(&self) -> u64 {
        self.timeout_secs
            + self
                .dom0
                .iter()
                .chain(&self.dom0_after)
                .chain(&self.dom0_before)
                .map(|c| c.timeout_secs + 10)
                .sum::<u64>()
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

/// Suffix of the name of a case's PVH twin.
pub const PVH_SUFFIX: &str = "-pvh";

/// The PVH twin of `case` (a case with `pvh_config`): the same image, expectations and dom0
/// commands, named `<name>-pvh`, booted with the PVH config; `pvh_expect_console` replaces
/// the console expectations when given.
fn pvh_twin(
    case: &Case,
    pvh_config: Option<PathBuf>,
    pvh_expect_console: Option<Vec<String>>,
) -> Result<Option<Case>, String> {
    let ctx = |msg: &str| format!("case \"{}\": {msg}", case.name);
    let Some(config) = pvh_config else {
        return match pvh_expect_console {
            Some(_) => Err(ctx("pvh_expect_console needs pvh_config")),
            None => Ok(None),
        };
    };
    let name = format!("{}{PVH_SUFFIX}", case.name);
    if !valid_name(&name) {
        return Err(ctx(&format!(
            "the PVH twin's name \"{name}\" must be 1-40 characters of [A-Za-z0-9_-]"
        )));
    }
    if config.as_os_str().is_empty() {
        return Err(ctx("pvh_config must not be empty"));
    }
    let expect_console = match pvh_expect_console {
        Some(v) => {
            if v.iter().any(|m| m.is_empty() || m.contains('\n')) {
                return Err(ctx(
                    "pvh_expect_console entries must be non-empty single lines",
                ));
            }
            v
        }
        None => case.expect_console.clone(),
    };
    Ok(Some(Case {
        name,
        config,
        expect_console,
        ..case.clone()
    }))
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
        let mut dom0 = Vec::new();
        for (i, d) in rc.dom0.into_iter().enumerate() {
            dom0.push(
                Dom0Cmd::build(
                    &format!("dom0 command #{}", i + 1),
                    Some(d.on_marker),
                    d.run,
                    d.expect_output,
                    d.expect_status,
                    d.timeout_secs,
                )
                .map_err(ctx)?,
            );
        }
        let dom0_after = plain_cmds("dom0_after", rc.dom0_after).map_err(ctx)?;
        let dom0_before = plain_cmds("dom0_before", rc.dom0_before).map_err(ctx)?;
        let case = Case {
            name: rc.name,
            kernel: rc.kernel,
            config: rc.config,
            expect_shutdown,
            expect_console: rc.expect_console,
            timeout_secs,
            must_fail_with: rc.must_fail_with,
            dom0,
            dom0_after,
            dom0_before,
        };
        let twin = pvh_twin(&case, rc.pvh_config, rc.pvh_expect_console)?;
        cases.push(case);
        if let Some(t) = twin {
            if !seen.insert(t.name.clone()) {
                return Err(format!("case \"{}\": duplicate name (PVH twin)", t.name));
            }
            cases.push(t);
        }
    }
    Ok(Manifest { cases })
}

/// The commands of a `dom0_after` or `dom0_before` list: strings or tables.
fn plain_cmds(kind: &str, list: Vec<toml::Value>) -> Result<Vec<Dom0Cmd>, String> {
    let mut out = Vec::new();
    {
        for (i, a) in list.into_iter().enumerate() {
            let what = format!("{kind} command #{}", i + 1);
            let cmd = match a {
                toml::Value::String(run) => {
                    Dom0Cmd::build(&what, None, run, Vec::new(), None, None)
                }
                t @ toml::Value::Table(_) => t
                    .try_into::<RawAfterTable>()
                    .map_err(|e| format!("{what}: {}", e.message()))
                    .and_then(|t| {
                        Dom0Cmd::build(
                            &what,
                            None,
                            t.run,
                            t.expect_output,
                            t.expect_status,
                            t.timeout_secs,
                        )
                    }),
                other => Err(format!(
                    "{what}: expected a command string or a table with run = ..., got {}",
                    other.type_str()
                )),
            };
            out.push(cmd?);
        }
    }
    Ok(out)
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

    const DOM0: &str = r#"
[[case]]
name = "xenstore"
kernel = "k"
config = "c"
expect_shutdown = "poweroff"
expect_console = ["XS-OK"]
dom0_after = ["test -s /tmp/x", { run = "cat $CASE_DIR/x", expect_output = ["y"], expect_status = 1, timeout_secs = 5 }]
dom0_before = [{ run = "truncate -s 1M disk.img", timeout_secs = 40 }]

[[case.dom0]]
on_marker = "XS-WRITTEN"
run = "xenstore-read /local/domain/$DOMID/data/hello"
expect_output = ["world"]
expect_status = 0

[[case.dom0]]
on_marker = "XS-WRITTEN"
run = "xenstore-write /local/domain/$DOMID/data/ping pong"
timeout_secs = 10
"#;

    #[test]
    fn dom0_commands() {
        let m = parse(DOM0).unwrap();
        let c = &m.cases[0];
        assert_eq!(
            c.dom0_before,
            vec![Dom0Cmd {
                on_marker: None,
                run: "truncate -s 1M disk.img".into(),
                expect_output: vec![],
                expect_status: 0,
                timeout_secs: 40,
            }]
        );
        assert_eq!(
            c.dom0,
            vec![
                Dom0Cmd {
                    on_marker: Some("XS-WRITTEN".into()),
                    run: "xenstore-read /local/domain/$DOMID/data/hello".into(),
                    expect_output: vec!["world".into()],
                    expect_status: 0,
                    timeout_secs: DEFAULT_DOM0_TIMEOUT_SECS,
                },
                Dom0Cmd {
                    on_marker: Some("XS-WRITTEN".into()),
                    run: "xenstore-write /local/domain/$DOMID/data/ping pong".into(),
                    expect_output: vec![],
                    expect_status: 0,
                    timeout_secs: 10,
                },
            ]
        );
        assert_eq!(
            c.dom0_after,
            vec![
                Dom0Cmd {
                    on_marker: None,
                    run: "test -s /tmp/x".into(),
                    expect_output: vec![],
                    expect_status: 0,
                    timeout_secs: DEFAULT_DOM0_TIMEOUT_SECS,
                },
                Dom0Cmd {
                    on_marker: None,
                    run: "cat $CASE_DIR/x".into(),
                    expect_output: vec!["y".into()],
                    expect_status: 1,
                    timeout_secs: 5,
                },
            ]
        );
        // 60 (guest) + 3 commands' timeouts + 10 s each
        assert_eq!(c.budget_secs(), 60 + 30 + 10 + 30 + 5 + 40 + 50);
        // the [[case.dom0_after]] table form
        let m = parse(
            "[[case]]\nname = \"a\"\nkernel = \"k\"\nconfig = \"c\"\n\
             [[case.dom0_after]]\nrun = \"true\"\nexpect_output = [\"\"]\n",
        );
        assert!(m
            .unwrap_err()
            .contains("expect_output entries must not be empty"));
        let m = parse(
            "[[case]]\nname = \"a\"\nkernel = \"k\"\nconfig = \"c\"\n\
             [[case.dom0_after]]\nrun = \"true\"\n",
        )
        .unwrap();
        assert_eq!(m.cases[0].dom0_after[0].run, "true");
        assert_eq!(m.cases[0].budget_secs(), 60 + 40);
    }

    #[test]
    fn rejects_bad_dom0_commands() {
        let head = "[[case]]\nname = \"a\"\nkernel = \"k\"\nconfig = \"c\"\n";
        let err = |t: &str| parse(&format!("{head}{t}")).unwrap_err();
        let d = "[[case.dom0]]\non_marker = \"M\"\n";
        assert!(err("[[case.dom0]]\nrun = \"x\"\n").contains("on_marker"));
        assert!(err(d).contains("run"));
        assert!(err(&format!("{d}run = \"  \"\n"))
            .contains("case \"a\": dom0 command #1: run must not be empty"));
        assert!(err("[[case.dom0]]\non_marker = \"\"\nrun = \"x\"\n")
            .contains("on_marker must be a non-empty single line"));
        assert!(err(&format!("{d}run = \"x\"\nexpect_status = 256\n")).contains("0-255"));
        assert!(err(&format!("{d}run = \"x\"\nexpect_status = -1\n")).contains("0-255"));
        assert!(err(&format!("{d}run = \"x\"\ntimeout_secs = 0\n")).contains("timeout_secs"));
        assert!(err(&format!("{d}run = \"x\"\ncolour = 1\n")).contains("unknown field"));
        assert!(err("dom0_after = [1]\n").contains("dom0_after command #1: expected a command"));
        assert!(err("dom0_before = [\"\"]\n").contains("dom0_before command #1: run must"));
        assert!(err("dom0_after = [\"\"]\n").contains("dom0_after command #1: run must"));
        let e = err("dom0_after = [{ run = \"x\", on_marker = \"M\" }]\n");
        assert!(
            e.contains("dom0_after command #1: unknown field `on_marker`"),
            "{e}"
        );
    }

    #[test]
    fn pvh_twins() {
        let m = parse(
            "[[case]]\nname = \"a\"\nkernel = \"k\"\nconfig = \"a.cfg\"\n\
             expect_console = [\"X\"]\npvh_config = \"a-pvh.cfg\"\n\
             [[case]]\nname = \"b\"\nkernel = \"k\"\nconfig = \"b.cfg\"\n\
             expect_console = [\"PV\"]\npvh_config = \"b-pvh.cfg\"\n\
             pvh_expect_console = [\"PVH\"]\n\
             [[case]]\nname = \"c\"\nkernel = \"k\"\nconfig = \"c.cfg\"\n",
        )
        .unwrap();
        let names: Vec<&str> = m.cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "a-pvh", "b", "b-pvh", "c"]);
        assert_eq!(m.cases[1].config, PathBuf::from("a-pvh.cfg"));
        assert_eq!(m.cases[1].kernel, m.cases[0].kernel);
        assert_eq!(m.cases[1].expect_console, ["X"]);
        assert_eq!(m.cases[3].expect_console, ["PVH"]);
        assert_eq!(m.cases[2].expect_console, ["PV"]);
        let head = "[[case]]\nname = \"a\"\nkernel = \"k\"\nconfig = \"c\"\n";
        assert!(parse(&format!("{head}pvh_expect_console = [\"x\"]\n"))
            .unwrap_err()
            .contains("needs pvh_config"));
        assert!(parse(&format!(
            "{head}pvh_config = \"p\"\n[[case]]\nname = \"a-pvh\"\nkernel = \"k\"\nconfig = \"c\"\n"
        ))
        .unwrap_err()
        .contains("duplicate"));
        let long = "x".repeat(38);
        assert!(parse(&format!(
            "[[case]]\nname = \"{long}\"\nkernel = \"k\"\nconfig = \"c\"\npvh_config = \"p\"\n"
        ))
        .unwrap_err()
        .contains("PVH twin"));
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
