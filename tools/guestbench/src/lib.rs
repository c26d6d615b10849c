//! guestbench: small network and block benchmarks that run in dom0 and inside the Linux PV
//! reference guest (a busybox initramfs, so the binary is built statically:
//! `cargo build --release --target x86_64-unknown-linux-musl -p guestbench`).
//!
//! Every result is one line `GUESTBENCH <kind> key=value ...` on stdout ([`Report`]), which
//! scripts and xenhost's dom0 hooks parse ([`parse_report`]). This library holds the logic
//! that host unit tests cover: the command line ([`parse_args`]), sizes ([`parse_size`]), the
//! data pattern both ends check byte for byte ([`Pattern`]), the random block offsets
//! ([`XorShift`]) and the latency summary ([`Summary`]). The I/O lives in `net` and `blk`.

pub mod blk;
pub mod net;

use std::fmt::Write as _;
use std::path::PathBuf;

/// One command of the tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// TCP and UDP echo server.
    EchoServer {
        /// Port for both protocols (0: any free one, printed on the start line).
        port: u16,
        /// Address to bind (default 0.0.0.0).
        bind: String,
        /// Exit after this many seconds (default: run until killed).
        max_secs: Option<u64>,
        /// Serve TCP.
        tcp: bool,
        /// Serve UDP.
        udp: bool,
    },
    /// Send `bytes` to an echo server and read them back, checked byte for byte.
    TcpThroughput {
        /// Server address.
        host: String,
        /// Server port.
        port: u16,
        /// Bytes to send (and receive back).
        bytes: u64,
        /// Size of one write.
        chunk: usize,
        /// Whole transfer must end within this.
        timeout_secs: u64,
    },
    /// Round trips of numbered UDP datagrams through an echo server.
    UdpLatency {
        /// Server address.
        host: String,
        /// Server port.
        port: u16,
        /// Datagrams to send.
        count: u32,
        /// Payload size (at least 8: the sequence number).
        size: usize,
        /// A datagram not answered within this counts as lost.
        timeout_ms: u64,
    },
    /// Sequential write or read of a block device (or file).
    BlkSeq {
        /// Device or file.
        dev: PathBuf,
        /// Write (the pattern) or read.
        write: bool,
        /// Bytes to transfer, from offset 0.
        bytes: u64,
        /// Bytes per request.
        bs: usize,
        /// O_DIRECT (default) or through the page cache.
        direct: bool,
        /// Reads: check the pattern a `--write` left.
        verify: bool,
    },
    /// Random reads of `bs` bytes at `bs`-aligned offsets.
    BlkRandRead {
        /// Device or file.
        dev: PathBuf,
        /// Number of reads.
        count: u64,
        /// Bytes per read (a multiple of 512).
        bs: usize,
        /// Offsets are below this (default: the device size).
        span: Option<u64>,
        /// Seed of the offsets.
        seed: u64,
        /// O_DIRECT (default) or through the page cache.
        direct: bool,
        /// Check the pattern a `blk-seq --write` left.
        verify: bool,
    },
    /// Prints the usage.
    Help,
}

/// Usage text.
pub const USAGE: &str = "\
guestbench: network and block benchmarks (dom0 and the Linux PV reference guest)

  guestbench echo-server [--port 7] [--bind 0.0.0.0] [--max-secs S] [--tcp-only|--udp-only]
  guestbench tcp-throughput --host H [--port 7] --bytes N [--chunk 64K] [--timeout-secs 120]
  guestbench udp-latency --host H [--port 7] [--count 100] [--size 64] [--timeout-ms 2000]
  guestbench blk-seq --dev D --write|--read --bytes N [--bs 1M] [--buffered] [--verify]
  guestbench blk-randread --dev D [--count 1000] [--bs 4096] [--span N] [--seed 1]
                          [--buffered] [--verify]

Sizes take K, M, G suffixes (powers of 1024). Results: one line
`GUESTBENCH <kind> key=value ...` on stdout; MB/s is 10^6 bytes per second.
Exit status 0 only if the measurement completed and every check passed.
";

/// Parses `64`, `4k`, `64M`, `1G` (binary multiples; optional trailing `B`/`iB`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix("ib"))
        .or_else(|| t.strip_suffix('B'))
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("not a size: {s:?} (e.g. 4096, 64K, 32M, 1G)"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s:?}"))
}

/// Options of one command line: `--key value` pairs and `--flag`s.
struct Opts {
    cmd: String,
    pairs: Vec<(String, String)>,
    flags: Vec<String>,
}

impl Opts {
    fn take(&mut self, key: &str) -> Option<String> {
        let i = self.pairs.iter().position(|(k, _)| k == key)?;
        Some(self.pairs.remove(i).1)
    }
    fn flag(&mut self, key: &str) -> bool {
        match self.flags.iter().position(|k| k == key) {
            Some(i) => {
                self.flags.remove(i);
                true
            }
            None => false,
        }
    }
    fn need(&mut self, key: &str) -> Result<String, String> {
        self.take(key)
            .ok_or_else(|| format!("{}: --{key} is required", self.cmd))
    }
    fn num<T: std::str::FromStr>(&mut self, key: &str, default: T) -> Result<T, String> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("{}: --{key}: not a number: {v:?}", self.cmd)),
        }
    }
    fn size(&mut self, key: &str, default: Option<u64>) -> Result<u64, String> {
        match self.take(key) {
            None => default.ok_or_else(|| format!("{}: --{key} is required", self.cmd)),
            Some(v) => parse_size(&v).map_err(|e| format!("{}: --{key}: {e}", self.cmd)),
        }
    }
    /// Fails on anything left over.
    fn done(self) -> Result<(), String> {
        if let Some((k, _)) = self.pairs.first() {
            return Err(format!("{}: unknown option --{k}", self.cmd));
        }
        if let Some(k) = self.flags.first() {
            return Err(format!("{}: unknown flag --{k}", self.cmd));
        }
        Ok(())
    }
}

/// Flags (options without a value) of all commands.
const FLAGS: &[&str] = &[
    "write", "read", "buffered", "verify", "tcp-only", "udp-only", "help",
];

/// Parses the arguments after the program name.
pub fn parse_args<S: AsRef<str>>(argv: &[S]) -> Result<Command, String> {
    let mut it = argv.iter().map(AsRef::as_ref);
    let cmd = match it.next() {
        None | Some("help" | "--help" | "-h") => return Ok(Command::Help),
        Some(c) => c.to_string(),
    };
    let mut o = Opts {
        cmd: cmd.clone(),
        pairs: Vec::new(),
        flags: Vec::new(),
    };
    while let Some(a) = it.next() {
        let Some(key) = a.strip_prefix("--") else {
            return Err(format!("{cmd}: unexpected argument {a:?}"));
        };
        if let Some((k, v)) = key.split_once('=') {
            o.pairs.push((k.to_string(), v.to_string()));
        } else if FLAGS.contains(&key) {
            o.flags.push(key.to_string());
        } else {
            let v = it
                .next()
                .ok_or_else(|| format!("{cmd}: --{key} needs a value"))?;
            o.pairs.push((key.to_string(), v.to_string()));
        }
    }
    if o.flag("help") {
        return Ok(Command::Help);
    }
    let c = match cmd.as_str() {
        "echo-server" => {
            let tcp_only = o.flag("tcp-only");
            let udp_only = o.flag("udp-only");
            if tcp_only && udp_only {
                return Err("echo-server: --tcp-only and --udp-only exclude each other".into());
            }
            Command::EchoServer {
                port: o.num("port", 7)?,
                bind: o.take("bind").unwrap_or_else(|| "0.0.0.0".into()),
                max_secs: match o.take("max-secs") {
                    None => None,
                    Some(v) => Some(
                        v.parse()
                            .map_err(|_| format!("echo-server: --max-secs: {v:?}"))?,
                    ),
                },
                tcp: !udp_only,
                udp: !tcp_only,
            }
        }
        "tcp-throughput" => {
            let chunk = o.size("chunk", Some(64 << 10))?;
            if chunk == 0 || chunk > (16 << 20) {
                return Err("tcp-throughput: --chunk must be 1 byte .. 16M".into());
            }
            Command::TcpThroughput {
                host: o.need("host")?,
                port: o.num("port", 7)?,
                bytes: o.size("bytes", None)?,
                chunk: chunk as usize,
                timeout_secs: o.num("timeout-secs", 120)?,
            }
        }
        "udp-latency" => {
            let size = o.size("size", Some(64))?;
            if !(8..=65000).contains(&size) {
                return Err("udp-latency: --size must be 8 .. 65000".into());
            }
            Command::UdpLatency {
                host: o.need("host")?,
                port: o.num("port", 7)?,
                count: o.num("count", 100)?,
                size: size as usize,
                timeout_ms: o.num("timeout-ms", 2000)?,
            }
        }
        "blk-seq" => {
            let write = o.flag("write");
            let read = o.flag("read");
            if write == read {
                return Err("blk-seq: exactly one of --write and --read".into());
            }
            let bs = o.size("bs", Some(1 << 20))?;
            let bytes = o.size("bytes", None)?;
            check_block_size("blk-seq", bs)?;
            if bytes == 0 || !bytes.is_multiple_of(512) {
                return Err("blk-seq: --bytes must be a non-zero multiple of 512".into());
            }
            let verify = o.flag("verify");
            if verify && write {
                return Err("blk-seq: --verify is for --read".into());
            }
            Command::BlkSeq {
                dev: PathBuf::from(o.need("dev")?),
                write,
                bytes,
                bs: bs as usize,
                direct: !o.flag("buffered"),
                verify,
            }
        }
        "blk-randread" => {
            let bs = o.size("bs", Some(4096))?;
            check_block_size("blk-randread", bs)?;
            let span = match o.take("span") {
                None => None,
                Some(v) => Some(parse_size(&v).map_err(|e| format!("blk-randread: --span: {e}"))?),
            };
            Command::BlkRandRead {
                dev: PathBuf::from(o.need("dev")?),
                count: o.num("count", 1000)?,
                bs: bs as usize,
                span,
                seed: o.num("seed", 1)?,
                direct: !o.flag("buffered"),
                verify: o.flag("verify"),
            }
        }
        other => return Err(format!("unknown command {other:?} (guestbench help)")),
    };
    o.done()?;
    Ok(c)
}

fn check_block_size(cmd: &str, bs: u64) -> Result<(), String> {
    if bs == 0 || !bs.is_multiple_of(512) || bs > (64 << 20) {
        return Err(format!(
            "{cmd}: --bs must be a multiple of 512 up to 64M (got {bs})"
        ));
    }
    Ok(())
}

/// A result line: `GUESTBENCH <kind> key=value ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// What was measured (`tcp-throughput`, `blk-seq`, ...).
    pub kind: String,
    /// Its facts, in order.
    pub fields: Vec<(String, String)>,
}

impl Report {
    /// An empty report of `kind`.
    pub fn new(kind: &str) -> Report {
        Report {
            kind: kind.to_string(),
            fields: Vec::new(),
        }
    }
    /// Adds `key=value` (spaces in the value become `_`: one token per field).
    pub fn add(mut self, key: &str, value: impl std::fmt::Display) -> Report {
        let v = value.to_string().replace([' ', '\t', '\n'], "_");
        self.fields.push((key.to_string(), v));
        self
    }
    /// Adds a float with 3 decimals.
    pub fn addf(self, key: &str, value: f64) -> Report {
        self.add(key, format!("{value:.3}"))
    }
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = format!("GUESTBENCH {}", self.kind);
        for (k, v) in &self.fields {
            let _ = write!(s, " {k}={v}");
        }
        f.write_str(&s)
    }
}

/// Parses a `GUESTBENCH ...` line (anywhere in `line`, so console prefixes such as
/// `[xh2-linux] ` are fine); `None` if there is none.
pub fn parse_report(line: &str) -> Option<Report> {
    let rest = &line[line.find("GUESTBENCH ")? + "GUESTBENCH ".len()..];
    let mut words = rest.split_whitespace();
    let kind = words.next()?.to_string();
    let fields = words
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some(Report { kind, fields })
}

/// MB/s (10^6 bytes per second).
pub fn mb_per_s(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 / secs / 1e6
    } else {
        0.0
    }
}

/// The data both ends of a transfer agree on: byte `o` of a stream (or of a device) is
/// `table[o % PERIOD]`, a pseudo-random table whose period is prime, so a lost, duplicated or
/// reordered piece of any length that is not a multiple of the period shows as a mismatch.
#[derive(Clone)]
pub struct Pattern {
    table: Vec<u8>,
}

impl Default for Pattern {
    fn default() -> Self {
        Self::new()
    }
}

impl Pattern {
    /// Period of the pattern (a prime just below 64 KiB).
    pub const PERIOD: usize = 65521;

    /// The pattern.
    pub fn new() -> Pattern {
        let mut x = XorShift::new(0x6775_6573_7462_656e);
        let table = (0..Self::PERIOD)
            .map(|_| (x.next_u64() >> 56) as u8)
            .collect();
        Pattern { table }
    }

    /// The byte at offset `o`.
    pub fn byte(&self, o: u64) -> u8 {
        self.table[(o % Self::PERIOD as u64) as usize]
    }

    /// The longest run of pattern bytes starting at offset `o`, at most `max` long: what a
    /// sender can write without copying.
    pub fn run(&self, o: u64, max: usize) -> &[u8] {
        let i = (o % Self::PERIOD as u64) as usize;
        &self.table[i..(i + max).min(Self::PERIOD)]
    }

    /// Fills `buf` with the pattern from offset `o`.
    pub fn fill(&self, buf: &mut [u8], o: u64) {
        let mut done = 0;
        while done < buf.len() {
            let r = self.run(o + done as u64, buf.len() - done);
            buf[done..done + r.len()].copy_from_slice(r);
            done += r.len();
        }
    }

    /// Offset of the first byte of `buf` (which holds offsets `o..`) that differs from the
    /// pattern, with the expected and the actual byte.
    pub fn check(&self, buf: &[u8], o: u64) -> Option<(u64, u8, u8)> {
        let mut done = 0;
        while done < buf.len() {
            let r = self.run(o + done as u64, buf.len() - done);
            let got = &buf[done..done + r.len()];
            if got != r {
                let i = got.iter().zip(r).position(|(a, b)| a != b).unwrap_or(0);
                return Some((o + (done + i) as u64, r[i], got[i]));
            }
            done += r.len();
        }
        None
    }
}

/// xorshift64* (deterministic offsets and pattern; not for cryptography).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator; seed 0 is replaced (xorshift must not start at 0).
    pub fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }
    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        // multiply-shift: unbiased enough for picking blocks
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// Summary of latency samples (microseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Samples.
    pub n: usize,
    /// Smallest.
    pub min: u64,
    /// Mean.
    pub avg: f64,
    /// Median (nearest rank).
    pub p50: u64,
    /// 99th percentile (nearest rank).
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Summary {
    /// The summary of `samples`; `None` if there are none.
    pub fn of(samples: &[u64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut s = samples.to_vec();
        s.sort_unstable();
        let rank = |p: f64| {
            let r = (p / 100.0 * s.len() as f64).ceil() as usize;
            s[r.clamp(1, s.len()) - 1]
        };
        Some(Summary {
            n: s.len(),
            min: s[0],
            avg: s.iter().sum::<u64>() as f64 / s.len() as f64,
            p50: rank(50.0),
            p99: rank(99.0),
            max: s[s.len() - 1],
        })
    }

    /// Adds `<prefix>min_us` etc. to a report.
    pub fn add_to(&self, r: Report, prefix: &str) -> Report {
        r.add(&format!("{prefix}min_us"), self.min)
            .add(&format!("{prefix}avg_us"), format!("{:.1}", self.avg))
            .add(&format!("{prefix}p50_us"), self.p50)
            .add(&format!("{prefix}p99_us"), self.p99)
            .add(&format!("{prefix}max_us"), self.max)
    }
}

/// Runs a parsed command: prints its report line(s), returns the process exit status.
pub fn run(cmd: &Command) -> Result<(), String> {
    match cmd {
        Command::Help => {
            print!("{USAGE}");
            Ok(())
        }
        Command::EchoServer { .. } => net::echo_server(cmd),
        Command::TcpThroughput { .. } => net::tcp_throughput(cmd),
        Command::UdpLatency { .. } => net::udp_latency(cmd),
        Command::BlkSeq { .. } => blk::seq(cmd),
        Command::BlkRandRead { .. } => blk::randread(cmd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("1.5M").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    fn p(s: &str) -> Result<Command, String> {
        parse_args(&s.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn commands() {
        assert_eq!(
            p("echo-server"),
            Ok(Command::EchoServer {
                port: 7,
                bind: "0.0.0.0".into(),
                max_secs: None,
                tcp: true,
                udp: true
            })
        );
        assert_eq!(
            p("echo-server --port=0 --max-secs 30 --tcp-only"),
            Ok(Command::EchoServer {
                port: 0,
                bind: "0.0.0.0".into(),
                max_secs: Some(30),
                tcp: true,
                udp: false
            })
        );
        assert_eq!(
            p("tcp-throughput --host 10.0.0.20 --bytes 64M"),
            Ok(Command::TcpThroughput {
                host: "10.0.0.20".into(),
                port: 7,
                bytes: 64 << 20,
                chunk: 64 << 10,
                timeout_secs: 120
            })
        );
        assert_eq!(
            p("blk-seq --dev /dev/xvda --read --bytes 32M --bs 256K --verify"),
            Ok(Command::BlkSeq {
                dev: "/dev/xvda".into(),
                write: false,
                bytes: 32 << 20,
                bs: 256 << 10,
                direct: true,
                verify: true
            })
        );
        assert_eq!(
            p("blk-randread --dev d --count 50 --span 8M --buffered"),
            Ok(Command::BlkRandRead {
                dev: "d".into(),
                count: 50,
                bs: 4096,
                span: Some(8 << 20),
                seed: 1,
                direct: false,
                verify: false
            })
        );
        assert_eq!(p(""), Ok(Command::Help));
        assert_eq!(p("blk-seq --help"), Ok(Command::Help));
    }

    #[test]
    fn bad_command_lines_say_what_is_wrong() {
        let e = |s: &str| p(s).unwrap_err();
        assert!(e("frobnicate").contains("unknown command"));
        assert!(e("tcp-throughput --bytes 1M").contains("--host is required"));
        assert!(e("tcp-throughput --host h").contains("--bytes is required"));
        assert!(e("tcp-throughput --host h --bytes 1M --port x").contains("not a number"));
        assert!(e("tcp-throughput --host h --bytes 1M --port 70000").contains("not a number"));
        assert!(e("tcp-throughput --host h --bytes 1M --colour red").contains("unknown option"));
        assert!(e("tcp-throughput --host").contains("needs a value"));
        assert!(e("tcp-throughput --host h --bytes 1M --verify").contains("unknown flag"));
        assert!(e("echo-server extra").contains("unexpected argument"));
        assert!(e("echo-server --tcp-only --udp-only").contains("exclude"));
        assert!(e("blk-seq --dev d --bytes 1M").contains("exactly one"));
        assert!(e("blk-seq --dev d --bytes 1M --read --write").contains("exactly one"));
        assert!(e("blk-seq --dev d --bytes 1000 --read").contains("multiple of 512"));
        assert!(e("blk-seq --dev d --bytes 1M --read --bs 1000").contains("multiple of 512"));
        assert!(e("blk-seq --dev d --bytes 1M --write --verify").contains("--verify is for"));
        assert!(e("udp-latency --host h --size 4").contains("--size"));
    }

    #[test]
    fn reports_print_and_parse_back() {
        let r = Report::new("tcp-throughput")
            .add("host", "10.0.0.20")
            .add("bytes", 1024u64)
            .addf("mb_per_s", 12.34567)
            .add("note", "two words");
        let line = r.to_string();
        assert_eq!(
            line,
            "GUESTBENCH tcp-throughput host=10.0.0.20 bytes=1024 mb_per_s=12.346 note=two_words"
        );
        let back = parse_report(&format!("[xh2-linux] {line}")).unwrap();
        assert_eq!(back.kind, "tcp-throughput");
        assert_eq!(back.get("mb_per_s"), Some("12.346"));
        assert_eq!(back.get("bytes"), Some("1024"));
        assert_eq!(back.get("nope"), None);
        assert!(parse_report("no report here").is_none());
        assert!(parse_report("GUESTBENCH ").is_none());
    }

    #[test]
    fn pattern_detects_loss_duplication_and_corruption() {
        let pat = Pattern::new();
        let mut buf = vec![0u8; 3 * Pattern::PERIOD + 17];
        pat.fill(&mut buf, 12345);
        assert_eq!(pat.check(&buf, 12345), None);
        assert_eq!(buf[0], pat.byte(12345));
        assert_eq!(buf[Pattern::PERIOD], pat.byte(12345));
        // one byte flipped
        let mut bad = buf.clone();
        bad[70000] ^= 1;
        assert_eq!(
            pat.check(&bad, 12345),
            Some((12345 + 70000, buf[70000], buf[70000] ^ 1))
        );
        // a lost byte (shift by one) shows within a few bytes
        let lost: Vec<u8> = buf[..100].iter().chain(&buf[101..200]).copied().collect();
        let (at, _, _) = pat.check(&lost, 12345).unwrap();
        assert!((12345 + 100..12345 + 110).contains(&at), "{at}");
        // a duplicated chunk of 4096 bytes
        let dup: Vec<u8> = buf[..8192]
            .iter()
            .chain(&buf[4096..8192])
            .copied()
            .collect();
        assert!(pat.check(&dup, 12345).is_some());
        // the wrong starting offset
        assert!(pat.check(&buf[..64], 12346).is_some());
        // all zeros (an unwritten disk) is not the pattern
        assert!(pat.check(&[0u8; 4096], 0).is_some());
    }

    #[test]
    fn pattern_runs_cover_the_stream() {
        let pat = Pattern::new();
        let r = pat.run(Pattern::PERIOD as u64 - 10, 100);
        assert_eq!(r.len(), 10);
        assert_eq!(pat.run(5, 100).len(), 100);
        assert_eq!(r[0], pat.byte(Pattern::PERIOD as u64 - 10));
    }

    #[test]
    fn xorshift_is_deterministic_and_bounded() {
        let mut a = XorShift::new(1);
        let mut b = XorShift::new(1);
        let va: Vec<u64> = (0..100).map(|_| a.below(1000)).collect();
        let vb: Vec<u64> = (0..100).map(|_| b.below(1000)).collect();
        assert_eq!(va, vb);
        assert!(va.iter().all(|&v| v < 1000));
        // spread: at least half of 100 draws from 1000 are distinct
        let mut d = va.clone();
        d.sort_unstable();
        d.dedup();
        assert!(d.len() > 50);
        let mut z = XorShift::new(0);
        assert_ne!(z.next_u64(), 0);
        assert_ne!(XorShift::new(2).next_u64(), XorShift::new(1).next_u64());
    }

    #[test]
    fn latency_summary() {
        assert_eq!(Summary::of(&[]), None);
        let s = Summary::of(&[5, 1, 3, 2, 4]).unwrap();
        assert_eq!((s.n, s.min, s.p50, s.max), (5, 1, 3, 5));
        assert!((s.avg - 3.0).abs() < 1e-9);
        let v: Vec<u64> = (1..=100).collect();
        let s = Summary::of(&v).unwrap();
        assert_eq!((s.p50, s.p99, s.max), (50, 99, 100));
        let line = s.add_to(Report::new("x"), "rtt_").to_string();
        assert!(line.contains("rtt_p99_us=99"), "{line}");
    }

    #[test]
    fn throughput_figure() {
        assert!((mb_per_s(10_000_000, 2.0) - 5.0).abs() < 1e-9);
        assert_eq!(mb_per_s(5, 0.0), 0.0);
    }
}
