//! The per-run job: `job.sh`, which dom0's init runs from the share. It sources the runner
//! library (assets/runner.sh, also copied into the share) and runs each item in order.

/// One thing dom0 does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Boot one guest (`xh_case`).
    Guest {
        /// Share subdirectory holding `kernel` and `guest.cfg`; results go there too.
        dir: String,
        /// Domain name (forced into the config).
        domain: String,
        /// Seconds before the guest counts as hung.
        timeout_secs: u64,
        /// The console string whose arrival time is recorded.
        marker: Option<String>,
    },
    /// Run a shell command in dom0 (`xh_exec`).
    Exec {
        /// Share subdirectory for its output.
        dir: String,
        /// The command.
        command: String,
    },
}

impl Item {
    /// The item's share subdirectory.
    pub fn dir(&self) -> &str {
        match self {
            Item::Guest { dir, .. } | Item::Exec { dir, .. } => dir,
        }
    }
}

/// Quotes `s` for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The text of `job.sh`.
pub fn script(items: &[Item]) -> String {
    let mut s = String::from(
        "#!/bin/sh\n# Written by xenhost for one run; dom0's /sbin/minios-init runs it.\n\
         . /mnt/host/runner.sh\nxh_ready\n",
    );
    for item in items {
        match item {
            Item::Guest {
                dir,
                domain,
                timeout_secs,
                marker,
            } => {
                s.push_str(&format!(
                    "xh_case {} {} {}",
                    sh_quote(dir),
                    sh_quote(domain),
                    timeout_secs
                ));
                if let Some(m) = marker {
                    s.push(' ');
                    s.push_str(&sh_quote(m));
                }
                s.push('\n');
            }
            Item::Exec { dir, command } => {
                s.push_str(&format!(
                    "xh_exec {} {}\n",
                    sh_quote(dir),
                    sh_quote(command)
                ));
            }
        }
    }
    s.push_str("xh_done\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("case-1"), "case-1");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("MINIOS-READY boot_us="), "'MINIOS-READY boot_us='");
        assert_eq!(sh_quote("it's $x"), "'it'\\''s $x'");
    }

    #[test]
    fn job_script() {
        let s = script(&[
            Item::Exec {
                dir: "exec-1".into(),
                command: "xl info".into(),
            },
            Item::Guest {
                dir: "case-1".into(),
                domain: "xh1-hello".into(),
                timeout_secs: 60,
                marker: Some("MINIOS-READY boot_us=".into()),
            },
            Item::Guest {
                dir: "case-2".into(),
                domain: "xh2-x".into(),
                timeout_secs: 5,
                marker: None,
            },
        ]);
        assert_eq!(
            s.lines().skip(2).collect::<Vec<_>>(),
            vec![
                ". /mnt/host/runner.sh",
                "xh_ready",
                "xh_exec exec-1 'xl info'",
                "xh_case case-1 xh1-hello 60 'MINIOS-READY boot_us='",
                "xh_case case-2 xh2-x 5",
                "xh_done",
            ]
        );
    }
}
