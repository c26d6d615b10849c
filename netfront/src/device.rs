//! netfront as a `smoltcp::phy::Device` (Ethernet, MTU 1500, checksums computed by smoltcp:
//! netfront announces `feature-no-csum-offload`, so every frame carries full checksums both
//! ways).

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

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        // Only with room to answer (ARP, ICMP echo, TCP acks): a received frame otherwise
        // waits in the queue until a tx buffer comes back.
        if !self.can_send() {
            return None;
        }
        let frame = self.receive()?;
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
