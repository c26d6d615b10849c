//! Ring slots of the blkif ring: requests and responses encoded into the 112-byte slot of
//! `union blkif_sring_entry` as little-endian words, field by field at the C offsets.

use xen_abi::blkif::{
    BlkifRequest, BlkifRequestIndirect, BlkifRequestSegment, BlkifResponse,
    BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, BLKIF_MAX_SEGMENTS_PER_REQUEST, BLKIF_OP_INDIRECT,
    BLKIF_SRING_ENTRY_BYTES,
};
use xen_ring::Slot;

const WORDS: usize = BLKIF_SRING_ENTRY_BYTES / 4;

/// A request as it goes into a ring slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Read, write, barrier or flush: `struct blkif_request`.
    Direct(BlkifRequest),
    /// `struct blkif_request_indirect` (operation `BLKIF_OP_INDIRECT`).
    Indirect(BlkifRequestIndirect),
}

impl Request {
    pub fn id(&self) -> u64 {
        match self {
            Request::Direct(r) => r.id,
            Request::Indirect(r) => r.id,
        }
    }

    /// The `operation` byte (`BLKIF_OP_INDIRECT` for an indirect request).
    pub fn operation(&self) -> u8 {
        match self {
            Request::Direct(r) => r.operation,
            Request::Indirect(r) => r.operation,
        }
    }
}

/// A response as read from a ring slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response(pub BlkifResponse);

fn put(bytes: &mut [u8], off: usize, v: &[u8]) {
    bytes[off..off + v.len()].copy_from_slice(v);
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    (u32_at(b, off) as u64) | ((u32_at(b, off + 4) as u64) << 32)
}

fn to_words(bytes: &[u8; BLKIF_SRING_ENTRY_BYTES], out: &mut [u32]) {
    for (w, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

fn to_bytes(words: &[u32]) -> [u8; BLKIF_SRING_ENTRY_BYTES] {
    let mut b = [0u8; BLKIF_SRING_ENTRY_BYTES];
    for (c, w) in b.chunks_exact_mut(4).zip(words) {
        c.copy_from_slice(&w.to_le_bytes());
    }
    b
}

/// Encodes a segment descriptor (8 bytes: gref, first_sect, last_sect, 2 bytes padding).
pub fn encode_segment(s: &BlkifRequestSegment) -> [u8; 8] {
    let mut b = [0u8; 8];
    put(&mut b, 0, &s.gref.to_le_bytes());
    b[4] = s.first_sect;
    b[5] = s.last_sect;
    b
}

/// Decodes a segment descriptor.
pub fn decode_segment(b: &[u8]) -> BlkifRequestSegment {
    BlkifRequestSegment {
        gref: u32_at(b, 0),
        first_sect: b[4],
        last_sect: b[5],
    }
}

impl Slot for Request {
    const WORDS: usize = WORDS;

    fn encode(&self, out: &mut [u32]) {
        let mut b = [0u8; BLKIF_SRING_ENTRY_BYTES];
        match self {
            Request::Direct(r) => {
                b[0] = r.operation;
                b[1] = r.nr_segments;
                put(&mut b, 2, &r.handle.to_le_bytes());
                put(&mut b, 8, &r.id.to_le_bytes());
                put(&mut b, 16, &r.sector_number.to_le_bytes());
                for (i, s) in r.seg.iter().enumerate() {
                    put(&mut b, 24 + 8 * i, &encode_segment(s));
                }
            }
            Request::Indirect(r) => {
                b[0] = r.operation;
                b[1] = r.indirect_op;
                put(&mut b, 2, &r.nr_segments.to_le_bytes());
                put(&mut b, 8, &r.id.to_le_bytes());
                put(&mut b, 16, &r.sector_number.to_le_bytes());
                put(&mut b, 24, &r.handle.to_le_bytes());
                for (i, g) in r.indirect_grefs.iter().enumerate() {
                    put(&mut b, 28 + 4 * i, &g.to_le_bytes());
                }
            }
        }
        to_words(&b, out);
    }

    fn decode(words: &[u32]) -> Self {
        let b = to_bytes(words);
        if b[0] == BLKIF_OP_INDIRECT {
            let mut grefs = [0u32; BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
            for (i, g) in grefs.iter_mut().enumerate() {
                *g = u32_at(&b, 28 + 4 * i);
            }
            Request::Indirect(BlkifRequestIndirect {
                operation: b[0],
                indirect_op: b[1],
                nr_segments: u16_at(&b, 2),
                id: u64_at(&b, 8),
                sector_number: u64_at(&b, 16),
                handle: u16_at(&b, 24),
                indirect_grefs: grefs,
            })
        } else {
            let mut seg = [BlkifRequestSegment::default(); BLKIF_MAX_SEGMENTS_PER_REQUEST];
            for (i, s) in seg.iter_mut().enumerate() {
                *s = decode_segment(&b[24 + 8 * i..]);
            }
            Request::Direct(BlkifRequest {
                operation: b[0],
                nr_segments: b[1],
                handle: u16_at(&b, 2),
                id: u64_at(&b, 8),
                sector_number: u64_at(&b, 16),
                seg,
            })
        }
    }
}

impl Slot for Response {
    const WORDS: usize = WORDS;

    fn encode(&self, out: &mut [u32]) {
        let mut b = [0u8; BLKIF_SRING_ENTRY_BYTES];
        put(&mut b, 0, &self.0.id.to_le_bytes());
        b[8] = self.0.operation;
        put(&mut b, 10, &self.0.status.to_le_bytes());
        to_words(&b, out);
    }

    fn decode(words: &[u32]) -> Self {
        let b = to_bytes(words);
        Response(BlkifResponse {
            id: u64_at(&b, 0),
            operation: b[8],
            status: u16_at(&b, 10) as i16,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xen_abi::blkif::{BLKIF_OP_READ, BLKIF_OP_WRITE};

    #[test]
    fn request_round_trips_at_the_c_offsets() {
        let mut seg = [BlkifRequestSegment::default(); BLKIF_MAX_SEGMENTS_PER_REQUEST];
        seg[0] = BlkifRequestSegment {
            gref: 0x1122_3344,
            first_sect: 1,
            last_sect: 7,
        };
        seg[10].gref = 0xdead_beef;
        let r = Request::Direct(BlkifRequest {
            operation: BLKIF_OP_WRITE,
            nr_segments: 11,
            handle: 0x0300,
            id: 0x0102_0304_0506_0708,
            sector_number: 0xaabb_ccdd_eeff,
            seg,
        });
        let mut w = [0u32; WORDS];
        r.encode(&mut w);
        assert_eq!(w[0], 0x0300_0b01, "operation, nr_segments, handle");
        assert_eq!(w[1], 0, "padding before id");
        assert_eq!((w[2], w[3]), (0x0506_0708, 0x0102_0304));
        assert_eq!((w[4], w[5]), (0xccdd_eeff, 0xaabb));
        assert_eq!(w[6], 0x1122_3344, "seg[0].gref at byte 24");
        assert_eq!(w[7], 0x0701, "first_sect, last_sect");
        assert_eq!(w[6 + 2 * 10], 0xdead_beef, "seg[10].gref at byte 104");
        assert_eq!(Request::decode(&w), r);
    }

    #[test]
    fn indirect_and_response_round_trip() {
        let r = Request::Indirect(BlkifRequestIndirect {
            operation: BLKIF_OP_INDIRECT,
            indirect_op: BLKIF_OP_READ,
            nr_segments: 300,
            id: 9,
            sector_number: 77,
            handle: 5,
            indirect_grefs: [1, 2, 3, 4, 5, 6, 7, 8],
        });
        let mut w = [0u32; WORDS];
        r.encode(&mut w);
        assert_eq!(w[0], (300 << 16) | 6);
        assert_eq!(w[6], 5, "handle at byte 24");
        assert_eq!(w[7], 1, "indirect_grefs at byte 28");
        assert_eq!(Request::decode(&w), r);

        let rsp = Response(BlkifResponse {
            id: u64::MAX - 1,
            operation: 3,
            status: -2,
        });
        let mut w = [0u32; WORDS];
        rsp.encode(&mut w);
        assert_eq!(w[2], 0xfffe_0003, "operation at 8, status at 10");
        assert_eq!(Response::decode(&w), rsp);
    }
}
