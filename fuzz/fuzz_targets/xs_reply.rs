//! Arbitrary bytes as xenstored's side of the conversation.
//!
//! 1. The whole input through every reply parser of `xenstore_client::wire`.
//! 2. The input as the response stream of the ring page, while the client has requests of
//!    every kind outstanding and a watch registered: raw bytes (first byte even), or a
//!    sequence of messages built from compact records (first byte odd) so that plausible
//!    headers (the real request ids and types, lengths around the limit) are common.
//!
//! Nothing may panic, every wait ends (virtual time), and the client's bookkeeping stays
//! bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xen_abi::xs_wire::{self as abi, XenstoreDomainInterface};
use xenstore_client::fake::{message, FakeXenstored};
use xenstore_client::wire;
use xenstore_client::{
    Perm, Request, TxId, XenbusState, Xenstore, MAX_OUTSTANDING, MAX_QUEUED_EVENTS,
};

/// One page for every run (a leaked page per run would look like a leak to libFuzzer).
static RING: XenstoreDomainInterface = XenstoreDomainInterface::new();

const MS: u64 = 1_000_000;

fn parsers(data: &[u8]) {
    let _ = wire::parse_directory(data);
    let _ = wire::parse_perms(data);
    let _ = wire::parse_tx_id(data);
    let _ = wire::parse_error(data);
    let _ = wire::parse_ack(data);
    let _ = wire::parse_watch_event(data);
    let _ = wire::parse_directory_part(data);
    let _ = wire::parse_single_string(data);
    let _ = wire::parse_decimal_value(data);
    let _ = Perm::parse(data);
    let _ = XenbusState::parse(data);
    if let Ok(s) = core::str::from_utf8(data) {
        let _ = s.parse::<XenbusState>();
    }
}

const TYPES: [u32; 10] = [
    abi::XS_READ,
    abi::XS_DIRECTORY,
    abi::XS_GET_PERMS,
    abi::XS_TRANSACTION_START,
    abi::XS_WRITE,
    abi::XS_ERROR,
    abi::XS_WATCH_EVENT,
    abi::XS_DIRECTORY_PART,
    abi::XS_GET_DOMAIN_PATH,
    abi::XS_INVALID,
];

/// Records of `[type index, req id, len lo, len hi, flags, payload...]`.
fn messages(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while data.len() >= 5 {
        let ty = TYPES[data[0] as usize % TYPES.len()];
        let req_id = u32::from(data[1] % 8);
        let len = usize::from(u16::from_le_bytes([data[2], data[3]]));
        let flags = data[4];
        data = &data[5..];
        // Mostly small payloads taken from the input; sometimes a header that lies.
        let take = (len % 64).min(data.len());
        let mut m = message(ty, req_id, 0, &data[..take]);
        data = &data[take..];
        if flags & 1 != 0 {
            let claimed = if flags & 2 != 0 {
                abi::XENSTORE_PAYLOAD_MAX as u32 + u32::from(flags >> 2)
            } else {
                len as u32
            };
            m[12..16].copy_from_slice(&claimed.to_ne_bytes());
        }
        out.extend(m);
    }
    out.extend_from_slice(data);
    out
}

fuzz_target!(|data: &[u8]| {
    parsers(data);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let stream = if mode & 1 == 0 { rest.to_vec() } else { messages(rest) };

    let fake = FakeXenstored::with_ring(&RING, 1);
    let mut xs = Xenstore::new(&RING, &fake);
    xs.set_timeout(MS);
    // Register a watch while the fake still serves, then stop it answering.
    let _ = xs.watch("data", "tok");
    fake.set_paused(true);
    let perms = [Perm::new(1, xenstore_client::PermKind::Read)];
    let reqs = [
        Request::Read { path: "a" },
        Request::Directory { path: "d" },
        Request::GetPerms { path: "p" },
        Request::TransactionStart,
        Request::Write {
            path: "w",
            value: b"v",
        },
        Request::SetPerms {
            path: "p",
            perms: &perms,
        },
        Request::DirectoryPart {
            path: "d",
            offset: 0,
        },
        Request::GetDomainPath { domid: 3 },
    ];
    let ids: Vec<_> = reqs
        .iter()
        .filter_map(|r| xs.submit(TxId::NONE, *r).ok())
        .collect();

    // Deliver the stream in pieces, completing requests in between.
    let chunk = 1 + (mode as usize >> 1) * 37;
    for (i, piece) in stream.chunks(chunk).enumerate() {
        fake.inject(piece);
        if let Some(&id) = ids.get(i) {
            if let Ok(r) = xs.complete(id, MS) {
                let _ = r.directory();
                let _ = r.perms();
                let _ = r.transaction_id();
                let _ = r.string();
                let _ = r.ack();
                let _ = r.into_string();
            }
        }
    }
    for id in ids {
        let _ = xs.complete(id, MS);
    }
    while xs.next_watch_event(MS).is_ok() {}
    assert!(xs.outstanding() <= MAX_OUTSTANDING);
    assert!(xs.queued_events() <= MAX_QUEUED_EVENTS);

    // The client still issues requests normally (they may fail: the stream may be mid-message).
    fake.set_paused(false);
    let _ = xs.read("name");
    let _ = xs.directory("data");
});
