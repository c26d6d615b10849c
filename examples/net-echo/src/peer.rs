//! `peer=a.b.c.d` on the command line: before serving, this guest checks another echo guest
//! on the same bridge: ICMP echo, a UDP echo and 256 KiB over TCP that must come back
//! byte-exact. Prints `PEER-OK ...` or `PEER-FAIL <what>`.

use alloc::vec;
use alloc::vec::Vec;

use minios::net::{self, Net};
use minios::{events, println};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::{icmp, tcp, udp};
use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr, IpAddress, IpEndpoint, Ipv4Address};

const SECOND: u64 = 1_000_000_000;
const TCP_BYTES: usize = 256 * 1024;

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(131) ^ (i >> 9)) as u8
}

fn ping(net: &mut Net, peer: Ipv4Address) -> Result<u32, &'static str> {
    let rx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]);
    let tx = icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 1024]);
    let mut s = icmp::Socket::new(rx, tx);
    s.bind(icmp::Endpoint::Ident(0x4d52))
        .map_err(|_| "icmp bind")?;
    let h = net.vif(0).add_socket(s);
    let caps = ChecksumCapabilities::default();
    let mut replies = 0u32;
    let mut seq = 0u16;
    let deadline = events::now_ns() + 30 * SECOND;
    while replies < 3 && events::now_ns() < deadline {
        seq += 1;
        let sent = events::now_ns();
        {
            let s = net.vif(0).socket::<icmp::Socket>(h);
            let repr = Icmpv4Repr::EchoRequest {
                ident: 0x4d52,
                seq_no: seq,
                data: b"minios-peer-ping",
            };
            if let Ok(buf) = s.send(repr.buffer_len(), IpAddress::Ipv4(peer)) {
                repr.emit(&mut Icmpv4Packet::new_unchecked(buf), &caps);
            }
        }
        let got = net.run_until(SECOND, |n| {
            let s = n.vif(0).socket::<icmp::Socket>(h);
            while let Ok((data, _)) = s.recv() {
                if let Ok(p) = Icmpv4Packet::new_checked(data) {
                    if let Ok(Icmpv4Repr::EchoReply { seq_no, .. }) = Icmpv4Repr::parse(&p, &caps) {
                        if seq_no == seq {
                            return true;
                        }
                    }
                }
            }
            false
        });
        if got {
            replies += 1;
            println!(
                "net-echo: peer ping seq {seq}: {} us",
                (events::now_ns() - sent) / 1000
            );
        }
    }
    net.vif(0).sockets.remove(h);
    if replies == 3 {
        Ok(replies)
    } else {
        Err("icmp echo")
    }
}

fn udp_echo(net: &mut Net, peer: Ipv4Address) -> Result<(), &'static str> {
    let rx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 2048]);
    let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 4], vec![0; 2048]);
    let mut s = udp::Socket::new(rx, tx);
    s.bind(40007).map_err(|_| "udp bind")?;
    let h = net.vif(0).add_socket(s);
    let msg = b"minios-peer-udp-echo";
    let ep = IpEndpoint::new(IpAddress::Ipv4(peer), 7);
    let mut ok = false;
    for _ in 0..10 {
        let _ = net.vif(0).socket::<udp::Socket>(h).send_slice(msg, ep);
        ok = net.run_until(SECOND, |n| {
            let mut buf = [0u8; 64];
            matches!(n.vif(0).socket::<udp::Socket>(h).recv_slice(&mut buf), Ok((len, _)) if &buf[..len] == msg)
        });
        if ok {
            break;
        }
    }
    net.vif(0).sockets.remove(h);
    ok.then_some(()).ok_or("udp echo")
}

fn tcp_echo(net: &mut Net, peer: Ipv4Address) -> Result<usize, &'static str> {
    let s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        tcp::SocketBuffer::new(vec![0; 64 * 1024]),
    );
    let vif = net.vif(0);
    let h = vif.add_socket(s);
    {
        let (iface, sockets) = (&mut vif.iface, &mut vif.sockets);
        sockets
            .get_mut::<tcp::Socket>(h)
            .connect(iface.context(), (IpAddress::Ipv4(peer), 7), 40007)
            .map_err(|_| "tcp connect")?;
    }
    let mut sent = 0usize;
    let mut back: Vec<u8> = Vec::with_capacity(TCP_BYTES);
    let mut bad = false;
    let done = net.run_until(120 * SECOND, |n| {
        let t = n.vif(0).socket::<tcp::Socket>(h);
        if t.can_send() && sent < TCP_BYTES {
            let r = t.send(|buf| {
                let k = buf.len().min(TCP_BYTES - sent);
                for (i, b) in buf[..k].iter_mut().enumerate() {
                    *b = pattern(sent + i);
                }
                (k, k)
            });
            if let Ok(k) = r {
                sent += k;
            }
            if sent == TCP_BYTES {
                t.close();
            }
        }
        while t.can_recv() {
            let _ = t.recv(|data| {
                for (i, &b) in data.iter().enumerate() {
                    if b != pattern(back.len() + i) {
                        bad = true;
                    }
                }
                back.extend_from_slice(data);
                (data.len(), ())
            });
        }
        back.len() >= TCP_BYTES || !t.is_open()
    });
    net.vif(0).socket::<tcp::Socket>(h).abort();
    net.poll();
    net.vif(0).sockets.remove(h);
    if !done || bad || back.len() != TCP_BYTES {
        println!(
            "net-echo: peer tcp: sent {sent}, got back {} (mismatch {bad})",
            back.len()
        );
        return Err("tcp echo");
    }
    Ok(back.len())
}

/// Runs the three checks against `peer`.
pub fn check(net: &mut Net, peer: &str) {
    let Some(s) = net::IpSetting::parse(peer) else {
        println!("PEER-FAIL bad peer address {peer:?}");
        return;
    };
    let [a, b, c, d] = s.addr;
    let ip = Ipv4Address::new(a, b, c, d);
    println!("net-echo: checking peer {ip}");
    let r = ping(net, ip).and_then(|n| {
        udp_echo(net, ip)?;
        let t = tcp_echo(net, ip)?;
        Ok((n, t))
    });
    match r {
        Ok((n, t)) => println!("PEER-OK {ip}: icmp {n}/3, udp echo, tcp {t} bytes byte-exact"),
        Err(what) => println!("PEER-FAIL {ip}: {what}"),
    }
}
