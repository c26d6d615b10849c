//! netfront as a `smoltcp::phy::Device` (Ethernet, MTU 1500, checksums computed by smoltcp:
//! netfront announces `feature-no-csum-offload`, so every frame carries full checksums both
//! ways).
//!
//! **Neighbours learned from IPv4 frames.** smoltcp fills its ARP cache only from ARP, and it
//! has no queue for a packet waiting on ARP: the answer to a packet from a host we have no
//! ARP entry for is dropped while smoltcp asks for the host's address. A host that still has
//! our address cached (dom0 after an earlier guest with the same address and MAC, or after a
//! reboot of this one) sends its first packet without asking, and so its first ping went
//! unanswered. So before smoltcp sees an IPv4 frame sent to our MAC by a sender it may not
//! know, the device hands it a synthetic ARP reply with the frame's source MAC and IPv4
//! address (lwIP's `ETHARP_TRUST_IP_MAC`; Linux queues the answer instead). smoltcp's own
//! checks still apply: the target must be one of our addresses and the sender on our subnet.
//! A sender is announced again after [`RELEARN_MS`]. Trusting the frame is no weaker than
//! trusting ARP, which anyone on the bridge can send.

use alloc::vec::Vec;

use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant;

use crate::{NetPlatform, Netfront, ETH_FRAME_MAX};

/// A received frame.
#[derive(Debug)]
pub struct NetRxToken(Vec<u8>);

/// Room to send one frame.
#[derive(Debug)]
pub struct NetTxToken<'a, P: NetPlatform>(&'a mut Netfront<P>);

impl RxToken for NetRxToken {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.0)
    }
}

impl<P: NetPlatform> TxToken for NetTxToken<'_, P> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut buf = alloc::vec![0u8; len];
        let r = f(&mut buf);
        // `transmit` only hands out a token when a buffer is free, so this succeeds unless the
        // carrier went down meanwhile; smoltcp retransmits what matters.
        if self.0.send(&buf).is_err() {
            self.0.stats.tx_dropped += 1;
        }
        r
    }
}

impl<P: NetPlatform> Device for Netfront<P> {
    type RxToken<'a>
        = NetRxToken
    where
        Self: 'a;
    type TxToken<'a>
        = NetTxToken<'a, P>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        // Only with room to answer (ARP, ICMP echo, TCP acks): a received frame otherwise
        // waits in the queue until a tx buffer comes back.
        if !self.can_send() {
            return None;
        }
        let frame = self.receive()?;
        let mac = self.mac;
        if let Some(arp) = self.learned.hint(&frame, mac, timestamp.total_millis()) {
            // The frame itself goes first in the queue: smoltcp gets it on its next call.
            self.rx_queue.push_front(frame);
            self.stats.neighbours_learned += 1;
            return Some((NetRxToken(arp), NetTxToken(self)));
        }
        Some((NetRxToken(frame), NetTxToken(self)))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        if self.can_send() {
            Some(NetTxToken(self))
        } else {
            None
        }
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = ETH_FRAME_MAX;
        caps.max_burst_size = Some(self.tx_bufs.len().max(1));
        caps
    }
}

/// How long a sender announced to smoltcp stays announced (smoltcp keeps an ARP entry 60 s).
pub const RELEARN_MS: i64 = 20_000;

/// A sender announced to smoltcp: IPv4 address, MAC, when (ms).
type Announced = ([u8; 4], [u8; 6], i64);

/// Senders recently announced to smoltcp (see the module docs).
#[derive(Debug, Default)]
pub struct Learned {
    recent: [Option<Announced>; 8],
    next: usize,
}

impl Learned {
    /// For an IPv4 frame to `our_mac` from a unicast sender not announced in the last
    /// [`RELEARN_MS`]: the ARP reply frame that teaches smoltcp the sender's MAC.
    pub fn hint(&mut self, frame: &[u8], our_mac: [u8; 6], now_ms: i64) -> Option<Vec<u8>> {
        if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] || frame[0..6] != our_mac {
            return None;
        }
        let src_mac: [u8; 6] = frame[6..12].try_into().ok()?;
        let ip = &frame[14..];
        if ip[0] >> 4 != 4 || ip[0] & 0xf < 5 {
            return None;
        }
        let src_ip: [u8; 4] = ip[12..16].try_into().ok()?;
        let dst_ip: [u8; 4] = ip[16..20].try_into().ok()?;
        // A unicast, non-zero MAC; a unicast IPv4 source (not 0/8, multicast or broadcast).
        if src_mac[0] & 1 != 0 || src_mac == [0; 6] || src_ip[0] == 0 || src_ip[0] >= 224 {
            return None;
        }
        let fresh = |e: &Option<Announced>| {
            matches!(e, Some((i, m, t)) if *i == src_ip && *m == src_mac
                && now_ms >= *t && now_ms - *t < RELEARN_MS)
        };
        if self.recent.iter().any(fresh) {
            return None;
        }
        // Replace this sender's old entry, else the oldest slot in turn.
        let slot = match self
            .recent
            .iter()
            .position(|e| matches!(e, Some((i, _, _)) if *i == src_ip))
        {
            Some(k) => k,
            None => {
                let k = self.next;
                self.next = (self.next + 1) % self.recent.len();
                k
            }
        };
        self.recent[slot] = Some((src_ip, src_mac, now_ms));
        let mut f = Vec::with_capacity(42);
        f.extend_from_slice(&our_mac); // to us
        f.extend_from_slice(&src_mac); // from the sender
        f.extend_from_slice(&[0x08, 0x06]); // ARP
        f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 2]); // Ethernet/IPv4, reply
        f.extend_from_slice(&src_mac);
        f.extend_from_slice(&src_ip);
        f.extend_from_slice(&our_mac);
        f.extend_from_slice(&dst_ip);
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{ArpOperation, ArpPacket, ArpRepr, EthernetFrame, EthernetProtocol};

    const US: [u8; 6] = [0, 0x16, 0x3e, 0, 0, 2];
    const THEM: [u8; 6] = [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff];

    fn ipv4_frame(dst_mac: [u8; 6], src_mac: [u8; 6], src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst_mac);
        f.extend_from_slice(&src_mac);
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f
    }

    #[test]
    fn a_sender_is_announced_once_per_period_as_an_arp_reply() {
        let mut l = Learned::default();
        let f = ipv4_frame(US, THEM, [10, 0, 0, 1], [10, 0, 0, 2]);
        let arp = l.hint(&f, US, 1000).expect("first frame from the sender");
        let eth = EthernetFrame::new_checked(&arp[..]).unwrap();
        assert_eq!(eth.dst_addr().0, US);
        assert_eq!(eth.src_addr().0, THEM);
        assert_eq!(eth.ethertype(), EthernetProtocol::Arp);
        let repr = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_hardware_addr,
            target_protocol_addr,
        } = repr
        else {
            panic!("{repr:?}")
        };
        assert_eq!(operation, ArpOperation::Reply);
        assert_eq!(source_hardware_addr.0, THEM);
        assert_eq!(source_protocol_addr.octets(), [10, 0, 0, 1]);
        assert_eq!(target_hardware_addr.0, US);
        assert_eq!(target_protocol_addr.octets(), [10, 0, 0, 2]);
        // Not again within the period; again after it, or at once with a new MAC.
        assert!(l.hint(&f, US, 1000 + RELEARN_MS - 1).is_none());
        assert!(l.hint(&f, US, 1000 + RELEARN_MS).is_some());
        let moved = ipv4_frame(US, [2, 0, 0, 0, 0, 9], [10, 0, 0, 1], [10, 0, 0, 2]);
        assert!(l.hint(&moved, US, 1000 + RELEARN_MS + 1).is_some());
        assert!(l.hint(&moved, US, 1000 + RELEARN_MS + 2).is_none());
    }

    #[test]
    fn only_unicast_ipv4_to_us_from_a_unicast_sender_is_learned() {
        let mut l = Learned::default();
        let ok = ipv4_frame(US, THEM, [10, 0, 0, 1], [10, 0, 0, 2]);
        let bcast = ipv4_frame([0xff; 6], THEM, [10, 0, 0, 1], [10, 0, 0, 255]);
        let mcast_mac = ipv4_frame(US, [1, 0, 0x5e, 0, 0, 1], [10, 0, 0, 1], [10, 0, 0, 2]);
        let zero_ip = ipv4_frame(US, THEM, [0, 0, 0, 0], [10, 0, 0, 2]);
        let mcast_ip = ipv4_frame(US, THEM, [224, 0, 0, 1], [10, 0, 0, 2]);
        let mut arp = ok.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        for (what, f) in [
            ("broadcast", &bcast),
            ("multicast MAC", &mcast_mac),
            ("0.0.0.0", &zero_ip),
            ("multicast IP", &mcast_ip),
            ("not IPv4", &arp),
            ("truncated", &ok[..30].to_vec()),
        ] {
            assert!(l.hint(f, US, 0).is_none(), "{what}");
        }
        assert!(l.hint(&ok, US, 0).is_some());
    }

    #[test]
    fn more_senders_than_slots_still_get_announced() {
        let mut l = Learned::default();
        for round in 0..3 {
            for k in 0..20u8 {
                let f = ipv4_frame(US, [2, 0, 0, 0, 0, k], [10, 0, 1, k], [10, 0, 0, 2]);
                // 20 senders in 8 slots: each is announced again (never wrongly skipped).
                assert!(l.hint(&f, US, round).is_some(), "round {round} sender {k}");
            }
        }
    }
}
