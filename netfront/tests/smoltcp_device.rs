//! netfront as smoltcp's Device against the mock netback: smoltcp answers ARP and ICMP echo
//! requests that arrive through the rx ring, and its replies leave through the tx ring.

use std::rc::Rc;

use netfront::mock::{MockNetback, MockPlatform};
use netfront::{NetConfig, Netfront};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::time::Instant;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpCidr, IpProtocol, Ipv4Address,
    Ipv4Cidr, Ipv4Packet, Ipv4Repr,
};
use xenstore_client::fake::FakeXenstored;
use xenstore_client::{XenbusState, Xenstore};

const GUEST_MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0, 0, 2];
const PEER_MAC: [u8; 6] = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff];

fn backend(fake: &FakeXenstored, fe: String, be: String) {
    let st = |d: &str| {
        fake.value(&format!("{d}/state"))
            .and_then(|v| XenbusState::parse(&v))
    };
    if st(&fe) == Some(XenbusState::Connected) && st(&be) == Some(XenbusState::InitWait) {
        fake.write_as(0, &format!("{be}/state"), b"4").unwrap();
    }
    fake.schedule(1_000_000, move |f| backend(f, fe, be));
}

fn eth(dst: [u8; 6], proto: EthernetProtocol, payload_len: usize) -> (Vec<u8>, EthernetRepr) {
    let repr = EthernetRepr {
        src_addr: EthernetAddress(PEER_MAC),
        dst_addr: EthernetAddress(dst),
        ethertype: proto,
    };
    (vec![0u8; repr.buffer_len() + payload_len], repr)
}

const GUEST_IP: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const PEER_IP: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);

/// A netfront connected to the mock netback (`bufs` buffers each way) with a smoltcp
/// interface at 10.0.0.2/24. The fake xenstored is returned to keep it alive.
fn connected(
    bufs: usize,
) -> (
    Rc<FakeXenstored>,
    Netfront<MockPlatform>,
    MockNetback,
    Interface,
    SocketSet<'static>,
) {
    let fake = Rc::new(FakeXenstored::new());
    let (fe, be) = fake.add_device("vif", 0);
    let fe_abs = format!("{}/{fe}", fake.home());
    fake.write_as(0, &format!("{fe_abs}/mac"), b"00:16:3e:00:00:02")
        .unwrap();
    fake.write_as(0, &format!("{be}/feature-rx-copy"), b"1")
        .unwrap();
    fake.write_as(0, &format!("{be}/state"), b"2").unwrap();
    let (a, b) = (fe_abs.clone(), be.clone());
    fake.schedule(1_000_000, move |f| backend(f, a, b));
    let plat = MockPlatform::new(1);
    let mut xs = Xenstore::new(fake.ring(), &*fake);
    let cfg = NetConfig {
        rx_buffers: bufs,
        tx_buffers: bufs,
        ..NetConfig::default()
    };
    let mut dev = Netfront::connect(plat.clone(), &mut xs, &fe, &cfg).unwrap();
    let (txg, rxg) = dev.ring_grefs();
    let nb = MockNetback::attach(&plat, 0, txg, rxg).unwrap();
    let mut iface = Interface::new(
        Config::new(HardwareAddress::Ethernet(EthernetAddress(GUEST_MAC))),
        &mut dev,
        Instant::from_millis(0),
    );
    iface.update_ip_addrs(|a| a.push(IpCidr::Ipv4(Ipv4Cidr::new(GUEST_IP, 24))).unwrap());
    drop(xs);
    (fake, dev, nb, iface, SocketSet::new(vec![]))
}

#[test]
fn smoltcp_answers_arp_and_ping_through_the_rings() {
    let (_fake, mut dev, mut nb, mut iface, mut sockets) = connected(8);
    let (guest_ip, peer_ip) = (GUEST_IP, PEER_IP);

    // ARP: who has 10.0.0.2?
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(PEER_MAC),
        source_protocol_addr: peer_ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: guest_ip,
    };
    let (mut buf, e) = eth([0xff; 6], EthernetProtocol::Arp, arp.buffer_len());
    let mut f = EthernetFrame::new_unchecked(&mut buf);
    e.emit(&mut f);
    arp.emit(&mut ArpPacket::new_unchecked(f.payload_mut()));
    nb.deliver(&buf).unwrap();
    iface.poll(Instant::from_millis(1), &mut dev, &mut sockets);
    let out = nb.collect_tx().unwrap();
    assert_eq!(out.len(), 1, "one ARP reply");
    let f = EthernetFrame::new_checked(&out[0][..]).unwrap();
    assert_eq!(f.ethertype(), EthernetProtocol::Arp);
    assert_eq!(f.src_addr(), EthernetAddress(GUEST_MAC));
    let reply = ArpRepr::parse(&ArpPacket::new_checked(f.payload()).unwrap()).unwrap();
    assert!(matches!(
        reply,
        ArpRepr::EthernetIpv4 { operation: ArpOperation::Reply, source_protocol_addr, .. }
            if source_protocol_addr == guest_ip
    ));

    // ICMP echo request -> echo reply with the same data.
    nb.deliver(&echo_request(peer_ip, guest_ip, 1)).unwrap();
    iface.poll(Instant::from_millis(2), &mut dev, &mut sockets);
    let out = nb.collect_tx().unwrap();
    assert_eq!(out.len(), 1, "one echo reply");
    assert_echo_reply(&out[0], peer_ip, 1);
    assert_eq!(dev.stats().hostile(), 0);
}

/// An Ethernet frame from the peer: ICMP echo request `seq` from `src` to `dst`.
fn echo_request(src: Ipv4Address, dst: Ipv4Address, seq: u16) -> Vec<u8> {
    let caps = ChecksumCapabilities::default();
    let icmp = Icmpv4Repr::EchoRequest {
        ident: 7,
        seq_no: seq,
        data: b"ping through netfront",
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        hop_limit: 64,
    };
    let (mut buf, e) = eth(
        GUEST_MAC,
        EthernetProtocol::Ipv4,
        ip.buffer_len() + icmp.buffer_len(),
    );
    let mut f = EthernetFrame::new_unchecked(&mut buf);
    e.emit(&mut f);
    let mut p = Ipv4Packet::new_unchecked(f.payload_mut());
    ip.emit(&mut p, &caps);
    icmp.emit(&mut Icmpv4Packet::new_unchecked(p.payload_mut()), &caps);
    buf
}

fn assert_echo_reply(frame: &[u8], to: Ipv4Address, seq: u16) {
    let caps = ChecksumCapabilities::default();
    let f = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(
        f.ethertype(),
        EthernetProtocol::Ipv4,
        "an IPv4 frame, not ARP"
    );
    assert_eq!(f.dst_addr(), EthernetAddress(PEER_MAC));
    let p = Ipv4Packet::new_checked(f.payload()).unwrap();
    assert!(p.verify_checksum(), "full checksums (no offload)");
    assert_eq!(p.dst_addr(), to);
    let r = Icmpv4Repr::parse(&Icmpv4Packet::new_checked(p.payload()).unwrap(), &caps).unwrap();
    assert_eq!(
        r,
        Icmpv4Repr::EchoReply {
            ident: 7,
            seq_no: seq,
            data: b"ping through netfront"
        }
    );
}

/// A host that has our address cached pings without asking ARP first (dom0 after an earlier
/// guest with the same address): the first ping is answered at once, not lost to smoltcp's
/// ARP lookup (netfront's device announces the sender from the frame).
#[test]
fn the_first_ping_from_a_host_that_never_asked_arp_is_answered() {
    let (_fake, mut dev, mut nb, mut iface, mut sockets) = connected(64);
    let (guest_ip, peer_ip) = (GUEST_IP, PEER_IP);

    for seq in 1..=3u16 {
        nb.deliver(&echo_request(peer_ip, guest_ip, seq)).unwrap();
        iface.poll(Instant::from_millis(i64::from(seq)), &mut dev, &mut sockets);
        let out = nb.collect_tx().unwrap();
        assert_eq!(out.len(), 1, "ping {seq}: one frame out");
        assert_echo_reply(&out[0], peer_ip, seq);
    }
    // Announced once (not per packet); nothing counted as hostile.
    assert_eq!(dev.stats().neighbours_learned, 1);
    assert_eq!(dev.stats().hostile(), 0);
    // A sender off our subnet is not learned (smoltcp's own check), and with no route to it
    // nothing goes out at all.
    nb.deliver(&echo_request(Ipv4Address::new(192, 168, 1, 1), guest_ip, 9))
        .unwrap();
    iface.poll(Instant::from_millis(10), &mut dev, &mut sockets);
    assert!(nb.collect_tx().unwrap().is_empty());
}
