//! The real binary over loopback (127.0.0.1 only, bounded in size and time): an echo server
//! and the clients against it, and the block commands on a file in the target directory.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use guestbench::{parse_report, Report};

const BIN: &str = env!("CARGO_BIN_EXE_guestbench");

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `guestbench echo-server --port 0` (bounded to 60 s) and reads its port from the
/// start line.
fn server(extra: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .args([
            "echo-server",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--max-secs",
            "60",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn echo-server");
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    // keep draining its later report lines
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let r = parse_report(&line).unwrap_or_else(|| panic!("no start line: {line:?}"));
    assert_eq!(r.kind, "echo-server");
    let port = r.get("port").unwrap().parse().unwrap();
    assert_ne!(port, 0);
    Server { child, port }
}

/// Runs the binary, returns (success, its report lines).
fn run(args: &[&str]) -> (bool, Vec<Report>) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run guestbench");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let reps: Vec<Report> = text.lines().filter_map(parse_report).collect();
    (out.status.success(), reps)
}

fn one(reps: &[Report], kind: &str) -> Report {
    let v: Vec<&Report> = reps.iter().filter(|r| r.kind == kind).collect();
    assert_eq!(v.len(), 1, "one {kind} report expected in {reps:?}");
    v[0].clone()
}

#[test]
fn tcp_throughput_through_the_echo_server_is_byte_exact() {
    let s = server(&[]);
    let port = s.port.to_string();
    // 8 MiB with an odd chunk size, so writes straddle the pattern period
    let (ok, reps) = run(&[
        "tcp-throughput",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--bytes",
        "8M",
        "--chunk",
        "12345",
        "--timeout-secs",
        "60",
    ]);
    let r = one(&reps, "tcp-throughput");
    assert!(ok, "{r:?}");
    assert_eq!(r.get("status"), Some("ok"));
    assert_eq!(r.get("verified"), Some("1"));
    assert_eq!(r.get("bytes"), Some("8388608"));
    assert_eq!(r.get("received"), Some("8388608"));
    let mbps: f64 = r.get("mb_per_s").unwrap().parse().unwrap();
    assert!(mbps > 0.0);
}

#[test]
fn tcp_throughput_fails_against_a_server_that_does_not_echo() {
    // a listener that accepts and sends back something else than it got
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut c, _) = l.accept().unwrap();
        let mut buf = [0u8; 4096];
        let n = c.read(&mut buf).unwrap();
        for b in &mut buf[..n] {
            *b = b.wrapping_add(1);
        }
        let _ = c.write_all(&buf[..n]);
        std::thread::sleep(Duration::from_millis(200));
    });
    let (ok, reps) = run(&[
        "tcp-throughput",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--bytes",
        "64K",
        "--timeout-secs",
        "20",
    ]);
    t.join().unwrap();
    assert!(!ok);
    let r = one(&reps, "tcp-throughput");
    assert_eq!(r.get("status"), Some("error"));
    assert_eq!(r.get("verified"), Some("0"));
    let e = one(&reps, "error");
    assert!(
        e.get("message").unwrap().contains("mismatch_at_byte_0"),
        "{e:?}"
    );
}

#[test]
fn tcp_throughput_fails_when_nothing_listens() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (ok, reps) = run(&[
        "tcp-throughput",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--bytes",
        "1K",
    ]);
    assert!(!ok);
    assert!(one(&reps, "error")
        .get("message")
        .unwrap()
        .contains("connect"));
}

#[test]
fn udp_latency_through_the_echo_server() {
    let s = server(&["--udp-only"]);
    let (ok, reps) = run(&[
        "udp-latency",
        "--host",
        "127.0.0.1",
        "--port",
        &s.port.to_string(),
        "--count",
        "50",
        "--size",
        "200",
    ]);
    let r = one(&reps, "udp-latency");
    assert!(ok, "{r:?}");
    assert_eq!(r.get("received"), Some("50"));
    assert_eq!(r.get("lost"), Some("0"));
    assert_eq!(r.get("corrupt"), Some("0"));
    assert!(r.get("rtt_p50_us").is_some());
}

#[test]
fn udp_latency_counts_losses_when_nobody_answers() {
    // a bound socket that never answers
    let quiet = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = quiet.local_addr().unwrap().port();
    let (ok, reps) = run(&[
        "udp-latency",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--count",
        "3",
        "--timeout-ms",
        "100",
    ]);
    assert!(!ok);
    let r = one(&reps, "udp-latency");
    assert_eq!(r.get("lost"), Some("3"));
    assert_eq!(r.get("status"), Some("error"));
}

#[test]
fn block_write_then_verified_reads_on_a_file() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let path = dir.join(format!("guestbench-blk-{}.img", std::process::id()));
    std::fs::write(&path, vec![0u8; 4 << 20]).unwrap();
    let dev = path.to_str().unwrap();
    // --buffered: the target directory may be on a file system without O_DIRECT
    let (ok, reps) = run(&[
        "blk-seq",
        "--dev",
        dev,
        "--write",
        "--bytes",
        "4M",
        "--bs",
        "192K",
        "--buffered",
    ]);
    let w = one(&reps, "blk-seq");
    assert!(ok, "{w:?}");
    assert_eq!(
        (w.get("op"), w.get("bytes")),
        (Some("write"), Some("4194304"))
    );
    let (ok, reps) = run(&[
        "blk-seq",
        "--dev",
        dev,
        "--read",
        "--bytes",
        "4M",
        "--verify",
        "--buffered",
    ]);
    let r = one(&reps, "blk-seq");
    assert!(ok, "{r:?}");
    assert_eq!(r.get("verified"), Some("1"));
    let (ok, reps) = run(&[
        "blk-randread",
        "--dev",
        dev,
        "--count",
        "200",
        "--verify",
        "--buffered",
    ]);
    let r = one(&reps, "blk-randread");
    assert!(ok, "{r:?}");
    assert_eq!(
        (r.get("count"), r.get("verified")),
        (Some("200"), Some("1"))
    );
    assert!(r.get("iops").unwrap().parse::<f64>().unwrap() > 0.0);

    // a corrupted block is found, by both readers
    let mut data = std::fs::read(&path).unwrap();
    data[3 << 20] ^= 0xff;
    std::fs::write(&path, &data).unwrap();
    let (ok, reps) = run(&[
        "blk-seq",
        "--dev",
        dev,
        "--read",
        "--bytes",
        "4M",
        "--verify",
        "--buffered",
    ]);
    assert!(!ok);
    assert!(one(&reps, "error")
        .get("message")
        .unwrap()
        .contains(&format!("mismatch_at_byte_{}", 3 << 20)));
    let (ok, _) = run(&[
        "blk-randread",
        "--dev",
        dev,
        "--count",
        "2000",
        "--verify",
        "--buffered",
    ]);
    assert!(
        !ok,
        "2000 random reads of 1024 blocks should hit the bad one"
    );

    // more bytes than the device has is an error, not a short measurement
    let (ok, reps) = run(&[
        "blk-seq",
        "--dev",
        dev,
        "--read",
        "--bytes",
        "8M",
        "--buffered",
    ]);
    assert!(!ok);
    assert!(one(&reps, "error")
        .get("message")
        .unwrap()
        .contains("fewer_than"));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn bad_usage_exits_2() {
    let out = Command::new(BIN)
        .args(["blk-seq", "--dev", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exactly one of --write and --read"));
}
