//! The guest command line (`extra=` in the xl config): whitespace-separated `key=value`
//! options and bare flags.

/// A parsed view of a command line.
#[derive(Debug, Clone, Copy)]
pub struct Cmdline<'a>(&'a str);

/// A malformed option value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadOption<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub expected: &'static str,
}

impl core::fmt::Display for BadOption<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "bad command-line option {}={:?}: expected {}",
            self.key, self.value, self.expected
        )
    }
}

impl<'a> Cmdline<'a> {
    pub fn new(s: &'a str) -> Self {
        Self(s)
    }

    /// All options as `(key, Some(value))` or `(flag, None)`.
    pub fn options(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> {
        self.0
            .split_ascii_whitespace()
            .map(|tok| match tok.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (tok, None),
            })
    }

    /// The value of the last `key=value` (later options override earlier ones).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.options()
            .filter(|(k, _)| *k == key)
            .filter_map(|(_, v)| v)
            .last()
    }

    /// Whether the bare flag `key` is present.
    pub fn flag(&self, key: &str) -> bool {
        self.options().any(|(k, v)| k == key && v.is_none())
    }

    /// A decimal number option; a present but malformed value is an error.
    pub fn get_u64(&self, key: &'a str) -> Result<Option<u64>, BadOption<'a>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| BadOption {
                key,
                value: v,
                expected: "a decimal number",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options_and_flags() {
        let c = Cmdline::new("  heap_kb=512 verbose evtchn=fifo heap_kb=1024 ");
        assert_eq!(c.get("heap_kb"), Some("1024"));
        assert_eq!(c.get("evtchn"), Some("fifo"));
        assert_eq!(c.get("missing"), None);
        assert!(c.flag("verbose"));
        assert!(!c.flag("evtchn"));
        assert_eq!(c.get_u64("heap_kb"), Ok(Some(1024)));
        assert_eq!(c.options().count(), 4);
    }

    #[test]
    fn malformed_number_is_an_error() {
        let c = Cmdline::new("heap_kb=lots");
        let e = c.get_u64("heap_kb").unwrap_err();
        assert_eq!(e.value, "lots");
        assert!(std::format!("{e}").contains("expected a decimal number"));
        assert_eq!(Cmdline::new("").get_u64("heap_kb"), Ok(None));
    }
}
