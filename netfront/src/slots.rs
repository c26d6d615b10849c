//! The netif ring entries as ring slots: each ring's slot is the C union of its request and
//! response (tx: 12 bytes = 3 words, rx: 8 bytes = 2 words), encoded field by field in
//! little-endian words exactly as the C structs lie in memory (tested below against the
//! byte layout xen-abi checks against the headers).

use xen_abi::netif::{
    NetifExtraInfo, NetifRxRequest, NetifRxResponse, NetifTxRequest, NetifTxResponse,
};

use xen_ring::sring::Slot;

const fn lo(w: u32) -> u16 {
    w as u16
}
const fn hi(w: u32) -> u16 {
    (w >> 16) as u16
}
const fn pair(lo: u16, hi: u16) -> u32 {
    lo as u32 | (hi as u32) << 16
}

/// Words of the tx ring's slot (`union { netif_tx_request; netif_tx_response }`).
pub const TX_SLOT_WORDS: usize = 3;
/// Words of the rx ring's slot (`union { netif_rx_request; netif_rx_response }`).
pub const RX_SLOT_WORDS: usize = 2;

/// A tx request in its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxReq(pub NetifTxRequest);
/// A tx response in its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxRsp(pub NetifTxResponse);
/// An rx request in its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxReq(pub NetifRxRequest);
/// An rx response in its slot (or, after a response flagged `NETRXF_extra_info`, an extra-info
/// descriptor in the same slot: see [`RxRsp::as_extra`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxRsp(pub NetifRxResponse);

impl Slot for TxReq {
    const WORDS: usize = TX_SLOT_WORDS;
    fn encode(&self, out: &mut [u32]) {
        let r = &self.0;
        out[0] = r.gref;
        out[1] = pair(r.offset, r.flags);
        out[2] = pair(r.id, r.size);
    }
    fn decode(w: &[u32]) -> Self {
        TxReq(NetifTxRequest {
            gref: w[0],
            offset: lo(w[1]),
            flags: hi(w[1]),
            id: lo(w[2]),
            size: hi(w[2]),
        })
    }
}

impl Slot for TxRsp {
    const WORDS: usize = TX_SLOT_WORDS;
    fn encode(&self, out: &mut [u32]) {
        out[0] = pair(self.0.id, self.0.status as u16);
    }
    fn decode(w: &[u32]) -> Self {
        TxRsp(NetifTxResponse {
            id: lo(w[0]),
            status: hi(w[0]) as i16,
        })
    }
}

impl Slot for RxReq {
    const WORDS: usize = RX_SLOT_WORDS;
    fn encode(&self, out: &mut [u32]) {
        out[0] = pair(self.0.id, self.0.pad);
        out[1] = self.0.gref;
    }
    fn decode(w: &[u32]) -> Self {
        RxReq(NetifRxRequest {
            id: lo(w[0]),
            pad: hi(w[0]),
            gref: w[1],
        })
    }
}

impl Slot for RxRsp {
    const WORDS: usize = RX_SLOT_WORDS;
    fn encode(&self, out: &mut [u32]) {
        let r = &self.0;
        out[0] = pair(r.id, r.offset);
        out[1] = pair(r.flags, r.status as u16);
    }
    fn decode(w: &[u32]) -> Self {
        RxRsp(NetifRxResponse {
            id: lo(w[0]),
            offset: hi(w[0]),
            flags: lo(w[1]),
            status: hi(w[1]) as i16,
        })
    }
}

impl RxRsp {
    /// The slot read as the extra-info descriptor that shares it.
    pub fn as_extra(&self) -> NetifExtraInfo {
        let mut w = [0u32; RX_SLOT_WORDS];
        self.encode(&mut w);
        let b0 = w[0].to_le_bytes();
        let b1 = w[1].to_le_bytes();
        NetifExtraInfo {
            ty: b0[0],
            flags: b0[1],
            u: [b0[2], b0[3], b1[0], b1[1], b1[2], b1[3]],
        }
    }

    /// An extra-info descriptor written into an rx slot (for mock back ends).
    pub fn from_extra(e: &NetifExtraInfo) -> Self {
        let w0 = u32::from_le_bytes([e.ty, e.flags, e.u[0], e.u[1]]);
        let w1 = u32::from_le_bytes([e.u[2], e.u[3], e.u[4], e.u[5]]);
        Self::decode(&[w0, w1])
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use core::mem::size_of;

    /// The little-endian words of a value's C bytes (the structs are plain integers).
    fn le_words(bytes: &[u8]) -> std::vec::Vec<u32> {
        bytes
            .chunks(4)
            .map(|c| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(b)
            })
            .collect()
    }

    #[test]
    fn slot_sizes_are_the_union_sizes() {
        assert_eq!(TX_SLOT_WORDS * 4, size_of::<NetifTxRequest>());
        assert!(size_of::<NetifTxResponse>() <= TX_SLOT_WORDS * 4);
        assert!(size_of::<NetifExtraInfo>() <= TX_SLOT_WORDS * 4);
        assert_eq!(RX_SLOT_WORDS * 4, size_of::<NetifRxRequest>());
        assert_eq!(RX_SLOT_WORDS * 4, size_of::<NetifRxResponse>());
        assert_eq!(xen_ring::sring::ring_size(1, TX_SLOT_WORDS), 256);
        assert_eq!(xen_ring::sring::ring_size(1, RX_SLOT_WORDS), 256);
    }

    #[test]
    fn encoding_matches_the_c_byte_layout() {
        // Bytes as the C struct would hold them (offsets checked by xen-abi's layout test).
        let req = NetifTxRequest {
            gref: 0x1122_3344,
            offset: 0x5566,
            flags: 0x0004,
            id: 0x0102,
            size: 0x05dc,
        };
        let mut c = std::vec::Vec::new();
        c.extend_from_slice(&req.gref.to_le_bytes());
        c.extend_from_slice(&req.offset.to_le_bytes());
        c.extend_from_slice(&req.flags.to_le_bytes());
        c.extend_from_slice(&req.id.to_le_bytes());
        c.extend_from_slice(&req.size.to_le_bytes());
        let mut w = [0u32; 3];
        TxReq(req).encode(&mut w);
        assert_eq!(w.to_vec(), le_words(&c));
        assert_eq!(TxReq::decode(&w).0, req);

        let rsp = NetifRxResponse {
            id: 7,
            offset: 0x10,
            flags: 0x4,
            status: -1,
        };
        let mut c = std::vec::Vec::new();
        for v in [rsp.id, rsp.offset, rsp.flags, rsp.status as u16] {
            c.extend_from_slice(&v.to_le_bytes());
        }
        let mut w = [0u32; 2];
        RxRsp(rsp).encode(&mut w);
        assert_eq!(w.to_vec(), le_words(&c));
        assert_eq!(RxRsp::decode(&w).0, rsp);

        let rx = NetifRxRequest {
            id: 9,
            pad: 0,
            gref: 0xdead_beef,
        };
        let mut w = [0u32; 2];
        RxReq(rx).encode(&mut w);
        assert_eq!(w, [9, 0xdead_beef]);
        assert_eq!(RxReq::decode(&w).0, rx);

        let t = NetifTxResponse { id: 3, status: -2 };
        let mut w = [0u32; 3];
        TxRsp(t).encode(&mut w);
        assert_eq!(w[0], 3 | 0xfffe << 16);
        assert_eq!(TxRsp::decode(&w).0, t);

        let e = NetifExtraInfo {
            ty: 1,
            flags: 1,
            u: [1, 2, 3, 4, 5, 6],
        };
        assert_eq!(RxRsp::from_extra(&e).as_extra(), e);
    }
}
