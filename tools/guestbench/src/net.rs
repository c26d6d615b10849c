//! Network commands: the echo server (TCP and UDP), TCP throughput through an echo server
//! (byte-exact), UDP round-trip latency.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::{mb_per_s, Command, Pattern, Report, Summary};

#[derive(Default)]
struct EchoStats {
    tcp_conns: AtomicU64,
    tcp_bytes: AtomicU64,
    udp_packets: AtomicU64,
    udp_bytes: AtomicU64,
}

/// Prints a report line; a closed stdout is not worth a panic in a server thread.
fn print(r: Report) {
    let _ = writeln!(std::io::stdout().lock(), "{r}");
}

/// Copies everything back until EOF; returns the bytes echoed.
fn echo_conn(mut s: TcpStream, stats: &EchoStats) -> std::io::Result<u64> {
    let _ = s.set_nodelay(true);
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        s.write_all(&buf[..n])?;
        total += n as u64;
        stats.tcp_bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = s.shutdown(Shutdown::Write);
    Ok(total)
}

/// `echo-server`: TCP (a thread per connection) and UDP echo on one port.
pub fn echo_server(cmd: &Command) -> Result<(), String> {
    let Command::EchoServer {
        port,
        bind,
        max_secs,
        tcp,
        udp,
    } = cmd
    else {
        unreachable!()
    };
    let stats = Arc::new(EchoStats::default());
    let mut port = *port;
    let mut threads = Vec::new();
    if *tcp {
        let l = TcpListener::bind((bind.as_str(), port))
            .map_err(|e| format!("echo-server: TCP bind {bind}:{port}: {e}"))?;
        port = l.local_addr().map_err(|e| e.to_string())?.port();
        let st = stats.clone();
        threads.push(thread::spawn(move || {
            for c in l.incoming() {
                match c {
                    Ok(s) => {
                        let st = st.clone();
                        st.tcp_conns.fetch_add(1, Ordering::Relaxed);
                        thread::spawn(move || {
                            let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                            let r = echo_conn(s, &st);
                            let rep = Report::new("echo-conn").add("peer", peer);
                            print(match r {
                                Ok(n) => rep.add("bytes", n).add("status", "ok"),
                                Err(e) => rep.add("status", format!("error:{e}")),
                            });
                        });
                    }
                    Err(e) => eprintln!("echo-server: accept: {e}"),
                }
            }
        }));
    }
    if *udp {
        let u = UdpSocket::bind((bind.as_str(), port))
            .map_err(|e| format!("echo-server: UDP bind {bind}:{port}: {e}"))?;
        port = u.local_addr().map_err(|e| e.to_string())?.port();
        let st = stats.clone();
        threads.push(thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                match u.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        st.udp_packets.fetch_add(1, Ordering::Relaxed);
                        st.udp_bytes.fetch_add(n as u64, Ordering::Relaxed);
                        if let Err(e) = u.send_to(&buf[..n], from) {
                            eprintln!("echo-server: UDP send to {from}: {e}");
                        }
                    }
                    Err(e) => eprintln!("echo-server: UDP receive: {e}"),
                }
            }
        }));
    }
    print(
        Report::new("echo-server")
            .add("port", port)
            .add("tcp", u8::from(*tcp))
            .add("udp", u8::from(*udp))
            .add(
                "max_secs",
                max_secs.map_or("none".into(), |s| s.to_string()),
            ),
    );
    match max_secs {
        Some(s) => thread::sleep(Duration::from_secs(*s)),
        None => {
            for t in threads {
                let _ = t.join();
            }
        }
    }
    print(
        Report::new("echo-server-stats")
            .add("tcp_conns", stats.tcp_conns.load(Ordering::Relaxed))
            .add("tcp_bytes", stats.tcp_bytes.load(Ordering::Relaxed))
            .add("udp_packets", stats.udp_packets.load(Ordering::Relaxed))
            .add("udp_bytes", stats.udp_bytes.load(Ordering::Relaxed)),
    );
    Ok(())
}

fn resolve(host: &str, port: u16) -> Result<std::net::SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}:{port}: no address"))
}

/// `tcp-throughput`: a writer thread sends `bytes` of the pattern, this thread reads the echo
/// back and checks every byte; the figure is bytes / (first write .. last byte back).
pub fn tcp_throughput(cmd: &Command) -> Result<(), String> {
    let Command::TcpThroughput {
        host,
        port,
        bytes,
        chunk,
        timeout_secs,
    } = cmd
    else {
        unreachable!()
    };
    let (bytes, chunk) = (*bytes, *chunk);
    let timeout = Duration::from_secs((*timeout_secs).max(1));
    let addr = resolve(host, *port).map_err(|e| format!("tcp-throughput: {e}"))?;
    let t_connect = Instant::now();
    let s = TcpStream::connect_timeout(&addr, timeout.min(Duration::from_secs(30)))
        .map_err(|e| format!("tcp-throughput: connect {addr}: {e}"))?;
    let connect_ms = t_connect.elapsed().as_secs_f64() * 1e3;
    let _ = s.set_nodelay(true);
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let pat = Arc::new(Pattern::new());
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let wpat = pat.clone();
    let t0 = Instant::now();
    let writer = thread::spawn(move || -> Result<(), String> {
        let mut sent = 0u64;
        while sent < bytes {
            let n = ((bytes - sent) as usize).min(chunk);
            let run = wpat.run(sent, n);
            w.write_all(run)
                .map_err(|e| format!("send at byte {sent}: {e}"))?;
            sent += run.len() as u64;
        }
        w.shutdown(Shutdown::Write)
            .map_err(|e| format!("shutdown: {e}"))?;
        Ok(())
    });
    let mut r = s;
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0u64;
    let deadline = t0 + timeout;
    let mut fail: Option<String> = None;
    while got < bytes {
        if Instant::now() > deadline {
            fail = Some(format!("timed out after {timeout_secs} s"));
            break;
        }
        let want = ((bytes - got) as usize).min(buf.len());
        match r.read(&mut buf[..want]) {
            Ok(0) => {
                fail = Some("the server closed the connection early".into());
                break;
            }
            Ok(n) => {
                if let Some((at, exp, act)) = pat.check(&buf[..n], got) {
                    fail = Some(format!(
                        "data mismatch at byte {at}: expected 0x{exp:02x}, got 0x{act:02x}"
                    ));
                    break;
                }
                got += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                fail = Some(format!("receive at byte {got}: {e}"));
                break;
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if fail.is_some() {
        let _ = r.shutdown(Shutdown::Both);
    }
    let wres = writer
        .join()
        .unwrap_or_else(|_| Err("writer thread panicked".into()));
    if fail.is_none() {
        // the server must close its side after echoing everything: nothing extra may come
        let mut extra = [0u8; 1];
        match r.read(&mut extra) {
            Ok(0) => {}
            Ok(_) => fail = Some("the server sent more bytes than it was sent".into()),
            Err(e) => fail = Some(format!("waiting for the server's close: {e}")),
        }
    }
    let fail = fail.or(wres.err());
    let rep = Report::new("tcp-throughput")
        .add("host", host)
        .add("port", port)
        .add("bytes", bytes)
        .add("received", got)
        .add("chunk", chunk)
        .addf("connect_ms", connect_ms)
        .add("secs", format!("{secs:.6}"))
        .addf("mb_per_s", mb_per_s(got, secs))
        .add("verified", u8::from(fail.is_none()));
    match fail {
        None => {
            print(rep.add("status", "ok"));
            Ok(())
        }
        Some(e) => {
            print(rep.add("status", "error"));
            Err(format!("tcp-throughput: {e}"))
        }
    }
}

/// `udp-latency`: `count` numbered datagrams, one at a time; the round trip of each one that
/// comes back intact, in microseconds.
pub fn udp_latency(cmd: &Command) -> Result<(), String> {
    let Command::UdpLatency {
        host,
        port,
        count,
        size,
        timeout_ms,
    } = cmd
    else {
        unreachable!()
    };
    let addr = resolve(host, *port).map_err(|e| format!("udp-latency: {e}"))?;
    let local = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let u = UdpSocket::bind(local).map_err(|e| format!("udp-latency: bind: {e}"))?;
    u.connect(addr)
        .map_err(|e| format!("udp-latency: connect {addr}: {e}"))?;
    let pat = Pattern::new();
    let mut out = vec![0u8; *size];
    let mut inb = vec![0u8; 65536];
    let mut rtts = Vec::new();
    let (mut lost, mut bad) = (0u32, 0u32);
    let t0 = Instant::now();
    for seq in 0..*count {
        out[..8].copy_from_slice(&u64::from(seq).to_le_bytes());
        pat.fill(&mut out[8..], u64::from(seq));
        let start = Instant::now();
        let deadline = start + Duration::from_millis(*timeout_ms);
        u.send(&out)
            .map_err(|e| format!("udp-latency: send: {e}"))?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                lost += 1;
                break;
            }
            u.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
            match u.recv(&mut inb) {
                Ok(n) => {
                    if n >= 8 && inb[..8] == out[..8] {
                        if inb[..n] == out[..] {
                            rtts.push(start.elapsed().as_micros() as u64);
                        } else {
                            bad += 1;
                        }
                        break;
                    }
                    // a late answer to an earlier datagram: keep waiting for this one
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::ConnectionRefused
                    ) =>
                {
                    // no answer in time, or an ICMP port unreachable: this one is lost
                    if e.kind() == ErrorKind::ConnectionRefused {
                        thread::sleep(left.min(Duration::from_millis(10)));
                    }
                    lost += 1;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("udp-latency: receive: {e}")),
            }
        }
    }
    let mut rep = Report::new("udp-latency")
        .add("host", host)
        .add("port", port)
        .add("count", count)
        .add("size", size)
        .add("received", rtts.len())
        .add("lost", lost)
        .add("corrupt", bad)
        .add("secs", format!("{:.3}", t0.elapsed().as_secs_f64()));
    if let Some(s) = Summary::of(&rtts) {
        rep = s.add_to(rep, "rtt_");
    }
    let ok = bad == 0 && !rtts.is_empty();
    print(rep.add("status", if ok { "ok" } else { "error" }));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "udp-latency: {} of {count} answered, {bad} corrupt",
            rtts.len()
        ))
    }
}
