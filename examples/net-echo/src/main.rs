//! Network echo appliance: on every vif it answers ping (smoltcp), echoes UDP datagrams and
//! TCP streams on port 7 (RFC 862), prints its address and `MINIOS-READY`, and idles blocked
//! in the hypervisor between packets. A UDP datagram `quit` to port 9 prints the counters,
//! disconnects the vifs cleanly and powers the guest off; so does the unplugging of its last
//! vif (`xl network-detach`), after following the back end through the close.
#![no_std]
#![no_main]

extern crate alloc;

mod peer;

use alloc::vec;
use alloc::vec::Vec;

use minios::net::{self, Net};
use minios::println;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::{tcp, udp};

const ECHO_PORT: u16 = 7;
const CONTROL_PORT: u16 = 9;
/// TCP connections served at once per vif.
const TCP_SOCKETS: usize = 4;
const TCP_BUF: usize = 64 * 1024;

struct VifSockets {
    udp: SocketHandle,
    control: SocketHandle,
    tcp: Vec<SocketHandle>,
}

fn udp_socket(port: u16) -> udp::Socket<'static> {
    let rx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 16], vec![0; 16 * 1024]);
    let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 16], vec![0; 16 * 1024]);
    let mut s = udp::Socket::new(rx, tx);
    s.bind(port).expect("bind a UDP port");
    s
}

fn tcp_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUF]),
        tcp::SocketBuffer::new(vec![0; TCP_BUF]),
    );
    s.set_nagle_enabled(false);
    s.listen(ECHO_PORT).expect("listen on the echo port");
    s
}

/// Echoes what every socket has; returns true when `quit` arrived.
fn serve(net: &mut Net, socks: &[VifSockets]) -> bool {
    let mut quit = false;
    let mut buf = [0u8; 2048];
    for (i, s) in socks.iter().enumerate() {
        let vif = net.vif(i);
        let u = vif.socket::<udp::Socket>(s.udp);
        while u.can_send() {
            let Ok((n, meta)) = u.recv_slice(&mut buf) else {
                break;
            };
            let _ = u.send_slice(&buf[..n], meta.endpoint);
        }
        let c = vif.socket::<udp::Socket>(s.control);
        while let Ok((n, _)) = c.recv_slice(&mut buf) {
            if buf[..n].trim_ascii() == b"quit" {
                quit = true;
            }
        }
        for &h in &s.tcp {
            let t = vif.socket::<tcp::Socket>(h);
            // Echo as much as both buffers allow, without an intermediate copy limit.
            while t.can_recv() && t.send_capacity() > t.send_queue() {
                let room = t.send_capacity() - t.send_queue();
                let r = t.recv(|data| {
                    let n = data.len().min(room);
                    (n, data[..n].to_vec())
                });
                match r {
                    Ok(d) if !d.is_empty() => {
                        let _ = t.send_slice(&d);
                    }
                    _ => break,
                }
            }
            // The peer finished sending and everything is echoed: close our side.
            if t.state() == tcp::State::CloseWait && !t.can_recv() && t.send_queue() == 0 {
                t.close();
            }
            if !t.is_open() {
                t.abort();
                let _ = t.listen(ECHO_PORT);
            }
        }
    }
    quit
}

/// Echo sockets for the vifs that have none yet (all at start, hot-plugged ones later).
fn add_sockets(net: &mut Net, socks: &mut Vec<VifSockets>) {
    for i in socks.len()..net.len() {
        let vif = net.vif(i);
        let udp = vif.add_socket(udp_socket(ECHO_PORT));
        let control = vif.add_socket(udp_socket(CONTROL_PORT));
        let tcp = (0..TCP_SOCKETS)
            .map(|_| vif.add_socket(tcp_socket()))
            .collect();
        socks.push(VifSockets { udp, control, tcp });
    }
}

fn main() -> Result<(), net::NetInitError> {
    let mut net = net::init()?;
    if net.is_empty() {
        println!("net-echo: no vif in this guest's configuration (vif = [...] in the xl config)");
        return Ok(());
    }
    let mut socks = Vec::new();
    add_sockets(&mut net, &mut socks);
    // Addresses by DHCP arrive later: wait (blocked) for every vif to have one.
    let all = net.run_until(60_000_000_000, |n| {
        n.vifs().iter().all(|v| v.ipv4().is_some())
    });
    if !all {
        println!("net-echo: no address on every vif after 60 s; serving those that have one");
    }
    for v in net.vifs() {
        match v.ipv4() {
            Some(a) => println!(
                "net-echo: vif{} {} ({}): ping, echo udp+tcp port {ECHO_PORT}",
                v.index(),
                a,
                v.source()
            ),
            None => println!("net-echo: vif{} has no address", v.index()),
        }
    }
    minios::ready();
    if let Some(p) = minios::cmdline::Cmdline::new(minios::system().cmdline).get("peer") {
        peer::check(&mut net, p);
    }
    loop {
        net.poll();
        if net.len() > socks.len() {
            // hot-plugged vifs (xl network-attach): serve them too
            let first = socks.len();
            add_sockets(&mut net, &mut socks);
            for v in &mut net.vifs()[first..] {
                println!(
                    "net-echo: vif{} {} ({}): ping, echo udp+tcp port {ECHO_PORT}",
                    v.index(),
                    v.ipv4().map(|a| alloc::format!("{a}")).unwrap_or_default(),
                    v.source()
                );
            }
        }
        if serve(&mut net, &socks) {
            break;
        }
        if net.vifs().iter().all(|v| v.dev.is_released()) {
            println!("net-echo: every vif was unplugged; powering off");
            return Ok(());
        }
        // Send what serve() queued before sleeping.
        net.poll();
        net.wait(u64::MAX);
    }
    println!("net-echo: quit received");
    net.print_stats();
    net.shutdown();
    Ok(())
}

minios::main!(main);
