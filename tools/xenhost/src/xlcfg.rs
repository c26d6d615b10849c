//! Rewriting of xl domain configs for the runner: the settings the runner must control
//! (domain name, kernel path inside dom0, what happens on shutdown) are removed from the
//! user's config and appended with the runner's values; everything else is kept verbatim.

/// Settings the runner forces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forced {
    /// Unique domain name.
    pub name: String,
    /// Path of the kernel image as dom0 sees it.
    pub kernel: String,
    /// Keep the domain after a poweroff or reboot (`on_poweroff`/`on_reboot = "preserve"`)
    /// so that dom0 commands triggered by its last console lines still find it (and its
    /// xenstore subtree); the runner destroys it once they are done.
    pub hold: bool,
    /// Path of the initramfs as dom0 sees it, if the runner provides one (the Linux reference
    /// guest): then `ramdisk` is forced too.
    pub ramdisk: Option<String>,
}

/// Keys removed from the user's config (and set by [`rewrite`]).
const FORCED_KEYS: &[&str] = &["name", "kernel", "on_poweroff", "on_reboot", "on_crash"];

/// Returns the key if `line` (at bracket depth 0) starts an assignment `key = ...`.
fn assignment_key(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(t.len());
    if end == 0 {
        return None;
    }
    let rest = t[end..].trim_start();
    (rest.starts_with('=') && !rest.starts_with("==")).then(|| &t[..end])
}

/// Bracket depth change of one line, ignoring brackets inside strings and comments.
fn depth_delta(line: &str) -> i32 {
    let mut delta = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in line.chars() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '#' => break,
            '[' => delta += 1,
            ']' => delta -= 1,
            _ => {}
        }
    }
    delta
}

/// Quotes a value as an xl config string.
fn quote(v: &str) -> String {
    let mut s = String::from("\"");
    for c in v.chars() {
        if c == '"' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Rewrites `cfg`: drops top-level assignments of the forced keys (even multi-line ones) and
/// appends `name`, `kernel`, `on_poweroff = "destroy"` (`"preserve"` with [`Forced::hold`]),
/// `on_reboot = "preserve"` (a test guest that reboots must not loop, and a PVH guest's
/// triple fault is a reboot: the runner records the vCPU state of a rebooted domain, then
/// destroys it) and `on_crash = "preserve"` (so the runner can read the crashed domain's
/// state before destroying it).
pub fn rewrite(cfg: &str, forced: &Forced) -> String {
    let mut out = String::new();
    let mut depth = 0i32;
    let mut skipping = false;
    for line in cfg.lines() {
        if depth <= 0 {
            depth = 0;
            skipping = matches!(assignment_key(line),
                Some(k) if FORCED_KEYS.contains(&k) || (k == "ramdisk" && forced.ramdisk.is_some()));
        }
        depth += depth_delta(line);
        if skipping {
            out.push_str("# (replaced by xenhost) ");
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("\n# --- forced by xenhost ---\n");
    out.push_str(&format!("name = {}\n", quote(&forced.name)));
    out.push_str(&format!("kernel = {}\n", quote(&forced.kernel)));
    if let Some(r) = &forced.ramdisk {
        out.push_str(&format!("ramdisk = {}\n", quote(r)));
    }
    let end = if forced.hold { "preserve" } else { "destroy" };
    out.push_str(&format!(
        "on_poweroff = \"{end}\"\non_reboot = \"preserve\"\non_crash = \"preserve\"\n"
    ));
    out
}

#[cfg(test)]
/// The value of a simple top-level `key = "string"` or `key = number` setting.
pub fn get(cfg: &str, key: &str) -> Option<String> {
    let mut depth = 0i32;
    let mut found = None;
    for line in cfg.lines() {
        if depth <= 0 {
            depth = 0;
            if assignment_key(line) == Some(key) {
                let v = line.split_once('=').map(|x| x.1).unwrap_or("").trim();
                let v = v.split(" #").next().unwrap_or("").trim();
                found = Some(v.trim_matches(|c| c == '"' || c == '\'').to_string());
            }
        }
        depth += depth_delta(line);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forced() -> Forced {
        Forced {
            name: "xh1-hello".into(),
            kernel: "/mnt/host/case-1/kernel".into(),
            hold: false,
            ramdisk: None,
        }
    }

    /// The statements that are live (not commented out) in a rewritten config.
    fn live(cfg: &str) -> Vec<String> {
        cfg.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect()
    }

    #[test]
    fn replaces_forced_keys_and_keeps_the_rest() {
        let cfg = "# hello guest\nname = \"hello\"\nkernel = \"target/hello\"\ntype = \"pv\"\n\
                   memory = 4\nvcpus=1\non_crash = 'destroy'\n";
        let out = rewrite(cfg, &forced());
        assert_eq!(
            live(&out),
            vec![
                "type = \"pv\"",
                "memory = 4",
                "vcpus=1",
                "name = \"xh1-hello\"",
                "kernel = \"/mnt/host/case-1/kernel\"",
                "on_poweroff = \"destroy\"",
                "on_reboot = \"preserve\"",
                "on_crash = \"preserve\"",
            ]
        );
        assert!(out.contains("# hello guest"));
        assert!(out.contains("# (replaced by xenhost) name = \"hello\""));
        assert_eq!(get(&out, "name").as_deref(), Some("xh1-hello"));
        assert_eq!(get(&out, "memory").as_deref(), Some("4"));
    }

    #[test]
    fn multiline_lists_are_kept_or_dropped_whole() {
        let cfg = "vif = [\n  'bridge=xenbr0',\n  'name=x',\n]\nkernel = [\n 'a',\n]\nmemory = 8\n";
        let out = rewrite(cfg, &forced());
        let l = live(&out);
        assert!(l.starts_with(&[
            "vif = [".to_string(),
            "'bridge=xenbr0',".to_string(),
            "'name=x',".to_string(),
            "]".to_string(),
            "memory = 8".to_string(),
        ]));
        assert_eq!(l.iter().filter(|s| s.starts_with("kernel")).count(), 1);
        assert!(!l.contains(&"'a',".to_string()));
    }

    #[test]
    fn brackets_and_hashes_in_strings_do_not_confuse_it() {
        let cfg = "extra = \"a [ # b\"\nname = \"n\"\ncmdline = '] x'\nkernel=\"k\"\n";
        let out = rewrite(cfg, &forced());
        assert_eq!(
            live(&out)[..2],
            [
                "extra = \"a [ # b\"".to_string(),
                "cmdline = '] x'".to_string()
            ]
        );
        assert_eq!(
            get(&out, "kernel").as_deref(),
            Some("/mnt/host/case-1/kernel")
        );
    }

    #[test]
    fn keys_that_merely_start_like_forced_keys_stay() {
        let cfg = "name_suffix = 1\nkernel_extra = 2\nnamespace == 3\n";
        let l = live(&rewrite(cfg, &forced()));
        assert!(l.contains(&"name_suffix = 1".to_string()));
        assert!(l.contains(&"kernel_extra = 2".to_string()));
    }

    #[test]
    fn held_domains_are_preserved_on_poweroff_and_reboot() {
        let f = Forced {
            hold: true,
            ..forced()
        };
        let out = rewrite("on_poweroff = \"restart\"\n", &f);
        assert_eq!(
            live(&out)[2..],
            [
                "on_poweroff = \"preserve\"",
                "on_reboot = \"preserve\"",
                "on_crash = \"preserve\""
            ]
        );
    }

    #[test]
    fn a_runner_ramdisk_replaces_the_configs_and_none_keeps_it() {
        let cfg = "ramdisk = \"/boot/x\"\nextra = \"minios.ip=10.0.0.20/24\"\n";
        assert_eq!(
            get(&rewrite(cfg, &forced()), "ramdisk").as_deref(),
            Some("/boot/x")
        );
        let f = Forced {
            ramdisk: Some("/mnt/host/case-1/ramdisk".into()),
            ..forced()
        };
        let out = rewrite(cfg, &f);
        let l = live(&out);
        assert_eq!(l.iter().filter(|s| s.starts_with("ramdisk")).count(), 1);
        assert_eq!(
            get(&out, "ramdisk").as_deref(),
            Some("/mnt/host/case-1/ramdisk")
        );
        assert!(l.contains(&"extra = \"minios.ip=10.0.0.20/24\"".to_string()));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
