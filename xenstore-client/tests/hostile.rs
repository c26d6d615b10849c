//! A buggy or hostile xenstored: every malformed reply is an error, never a panic, and does
//! not break later requests where the framing survives.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use common::{setup, MS};
use xen_abi::xs_wire::*;
use xenstore_client::fake::{message, HookAction};
use xenstore_client::{ProtocolError, Request, TxId, XsErrno, XsError};

/// Replaces the reply to the next request of type `ty` with `f(req_id)`.
fn replace_next(fake: &xenstore_client::fake::FakeXenstored, ty: u32, f: fn(u32) -> Vec<u8>) {
    let done = Rc::new(Cell::new(false));
    fake.set_reply_hook(move |h, _| {
        if h.ty == ty && !done.get() {
            done.set(true);
            HookAction::Replace(f(h.req_id))
        } else {
            HookAction::Serve
        }
    });
}

#[test]
fn oversized_reply_fails_its_request_and_later_ones_still_work() {
    let (fake, mut xs) = setup();
    replace_next(fake, XS_READ, |id| {
        let mut m = message(XS_READ, id, 0, &[]);
        m[12..16].copy_from_slice(&5000u32.to_ne_bytes());
        m.extend(std::iter::repeat_n(b'z', 5000));
        m
    });
    assert_eq!(
        xs.read("name"),
        Err(XsError::Protocol(ProtocolError::ReplyTooLong { len: 5000 }))
    );
    xs.set_timeout(100 * MS);
    assert_eq!(xs.read("name").unwrap(), "guest", "framing survived");
    assert_eq!(xs.domid().unwrap(), 1);
}

#[test]
fn oversized_message_before_the_real_reply_is_skipped() {
    let (fake, mut xs) = setup();
    fake.set_reply_hook(|h, _| {
        let mut m = message(XS_WATCH_EVENT, 0, 0, &[]);
        m[12..16].copy_from_slice(&(XENSTORE_PAYLOAD_MAX as u32 + 1).to_ne_bytes());
        m.extend(std::iter::repeat_n(0xffu8, XENSTORE_PAYLOAD_MAX + 1));
        let _ = h;
        HookAction::Before(m)
    });
    assert_eq!(xs.read("name").unwrap(), "guest");
    assert_eq!(
        xs.stats().last_protocol_error,
        Some(ProtocolError::ReplyTooLong { len: 4097 })
    );
}

#[test]
fn unknown_request_ids_are_dropped_and_counted() {
    let (fake, mut xs) = setup();
    fake.set_reply_hook(|_, _| HookAction::Before(message(XS_READ, 0xdead, 0, b"bogus")));
    assert_eq!(xs.read("name").unwrap(), "guest");
    assert_eq!(xs.stats().stray_replies, 1);
    assert_eq!(
        xs.stats().last_protocol_error,
        Some(ProtocolError::UnknownReqId { req_id: 0xdead })
    );
}

#[test]
fn a_reply_with_the_wrong_id_leaves_the_request_to_time_out() {
    let (fake, mut xs) = setup();
    replace_next(fake, XS_READ, |id| message(XS_READ, id + 100, 0, b"x"));
    xs.set_timeout(20 * MS);
    assert_eq!(xs.read("name"), Err(XsError::Timeout));
    fake.clear_reply_hook();
    assert_eq!(xs.read("name").unwrap(), "guest");
}

#[test]
fn unknown_and_unexpected_types() {
    let (fake, mut xs) = setup();
    replace_next(fake, XS_READ, |id| message(20, id, 0, b"x\0"));
    assert_eq!(
        xs.read("name"),
        Err(XsError::Protocol(ProtocolError::UnknownType { ty: 20 }))
    );
    replace_next(fake, XS_READ, |id| message(XS_INVALID, id, 0, b""));
    assert_eq!(
        xs.read("name"),
        Err(XsError::Protocol(ProtocolError::UnknownType {
            ty: XS_INVALID
        }))
    );
    replace_next(fake, XS_READ, |id| message(XS_RM, id, 0, b"OK\0"));
    assert_eq!(
        xs.read("name"),
        Err(XsError::Protocol(ProtocolError::UnexpectedType {
            expected: XS_READ,
            got: XS_RM
        }))
    );
    fake.clear_reply_hook();
    assert_eq!(xs.read("name").unwrap(), "guest");
}

#[test]
fn malformed_payloads() {
    let (fake, mut xs) = setup();
    xs.write("data/x", b"1").unwrap();
    replace_next(fake, XS_DIRECTORY, |id| {
        message(XS_DIRECTORY, id, 0, b"a\0b")
    });
    assert_eq!(
        xs.directory("data"),
        Err(XsError::Protocol(ProtocolError::NotNulTerminated))
    );
    replace_next(fake, XS_DIRECTORY, |id| {
        message(XS_DIRECTORY, id, 0, b"\xc3\x28\0")
    });
    assert_eq!(
        xs.directory("data"),
        Err(XsError::Protocol(ProtocolError::NotUtf8))
    );
    replace_next(fake, XS_READ, |id| message(XS_READ, id, 0, b"\xff\xfe"));
    assert_eq!(
        xs.read("name"),
        Err(XsError::Protocol(ProtocolError::NotUtf8))
    );
    replace_next(fake, XS_WRITE, |id| message(XS_WRITE, id, 0, b"OK"));
    assert_eq!(
        xs.write("data/x", b"2"),
        Err(XsError::Protocol(ProtocolError::BadAck))
    );
    replace_next(fake, XS_GET_PERMS, |id| {
        message(XS_GET_PERMS, id, 0, b"q7\0")
    });
    assert_eq!(
        xs.get_perms("data/x"),
        Err(XsError::Protocol(ProtocolError::BadPerm))
    );
    replace_next(fake, XS_TRANSACTION_START, |id| {
        message(XS_TRANSACTION_START, id, 0, b"12x\0")
    });
    assert_eq!(
        xs.transaction_start(),
        Err(XsError::Protocol(ProtocolError::BadNumber))
    );
    replace_next(fake, XS_READ, |id| message(XS_ERROR, id, 0, b"ENOENT"));
    assert_eq!(
        xs.read("name"),
        Err(XsError::Protocol(ProtocolError::NotNulTerminated))
    );
    replace_next(fake, XS_READ, |id| message(XS_ERROR, id, 0, b"EWEIRD\0"));
    assert_eq!(xs.read("name"), Err(XsError::Errno(XsErrno::Unknown)));
    replace_next(fake, XS_GET_DOMAIN_PATH, |id| {
        message(XS_GET_DOMAIN_PATH, id, 0, b"/a\0/b\0")
    });
    assert_eq!(
        xs.get_domain_path(3),
        Err(XsError::Protocol(ProtocolError::NotNulTerminated))
    );
    replace_next(fake, XS_READ, |id| message(XS_READ, id, 0, b"abc"));
    assert_eq!(xs.domid(), Err(XsError::Protocol(ProtocolError::BadNumber)));
    fake.clear_reply_hook();
    assert_eq!(
        xs.read("data/x").unwrap(),
        "1",
        "the connection still works"
    );
    assert!(xs.stats().protocol_errors >= 5);
}

#[test]
fn malformed_directory_parts_end() {
    let (fake, mut xs) = setup();
    for i in 0..400 {
        fake.write_as(
            0,
            &format!("/local/domain/1/data/many/child-{i:04}-with-padding"),
            b"",
        )
        .unwrap();
    }
    // A part that makes no progress and never ends.
    fake.set_reply_hook(|h, _| {
        if h.ty == XS_DIRECTORY_PART {
            HookAction::Replace(message(XS_DIRECTORY_PART, h.req_id, 0, b"1\0"))
        } else {
            HookAction::Serve
        }
    });
    assert_eq!(
        xs.directory("data/many"),
        Err(XsError::Protocol(ProtocolError::BadDirectoryPart))
    );
    // Parts whose generation keeps changing.
    let gen = Rc::new(Cell::new(0u32));
    fake.set_reply_hook(move |h, _| {
        if h.ty == XS_DIRECTORY_PART {
            gen.set(gen.get() + 1);
            let p = format!("{}\0a\0", gen.get());
            HookAction::Replace(message(XS_DIRECTORY_PART, h.req_id, 0, p.as_bytes()))
        } else {
            HookAction::Serve
        }
    });
    assert_eq!(
        xs.directory("data/many"),
        Err(XsError::Errno(XsErrno::EAGAIN))
    );
}

#[test]
fn truncated_reply_times_out_without_panicking() {
    let (fake, mut xs) = setup();
    replace_next(fake, XS_READ, |id| {
        message(XS_READ, id, 0, b"guest")[..10].to_vec()
    });
    xs.set_timeout(20 * MS);
    assert_eq!(xs.read("name"), Err(XsError::Timeout));
    replace_next(fake, XS_READ, |id| {
        message(XS_READ, id, 0, b"guest")[..18].to_vec()
    });
    assert_eq!(xs.read("name"), Err(XsError::Timeout));
}

#[test]
fn corrupt_response_index_is_a_ring_error() {
    let (fake, mut xs) = setup();
    xs.read("name").unwrap();
    let ring = fake.ring();
    let cons = ring.rsp_cons.load(Ordering::Relaxed);
    ring.rsp_prod.store(
        cons.wrapping_add(XENSTORE_RING_SIZE as u32 + 1),
        Ordering::Relaxed,
    );
    assert!(matches!(xs.read("name"), Err(XsError::Ring(_))));
    assert!(matches!(xs.next_watch_event(MS), Err(XsError::Ring(_))));
}

#[test]
fn corrupt_request_index_is_a_ring_error() {
    let (fake, mut xs) = setup();
    let ring = fake.ring();
    ring.req_cons.store(5000, Ordering::Relaxed);
    assert!(matches!(xs.read("name"), Err(XsError::Ring(_))));
}

#[test]
fn malformed_and_stray_watch_events_are_dropped() {
    let (fake, mut xs) = setup();
    xs.watch("data", "tok").unwrap();
    xs.next_watch_event(MS).unwrap();
    fake.inject_message(XS_WATCH_EVENT, 0, 0, b"data\0tok"); // not terminated
    fake.inject_message(XS_WATCH_EVENT, 0, 0, b"data\0"); // no token
    fake.inject_message(XS_WATCH_EVENT, 0, 0, b"data\0other\0"); // unknown token
    fake.inject_message(XS_WATCH_EVENT, 0, 0, b"\xff\0tok\0"); // not UTF-8
    assert_eq!(xs.next_watch_event(MS), Err(XsError::Timeout));
    assert_eq!(xs.stats().stray_events, 1);
    assert_eq!(xs.stats().protocol_errors, 3);
    fake.inject_message(XS_WATCH_EVENT, 0, 0, b"data/ok\0tok\0");
    assert_eq!(xs.next_watch_event(MS).unwrap().path, "data/ok");
}

#[test]
fn a_duplicate_reply_keeps_the_first() {
    let (fake, mut xs) = setup();
    fake.set_paused(true);
    let id = xs
        .submit(TxId::NONE, Request::Read { path: "name" })
        .unwrap();
    fake.inject_message(XS_READ, id.value(), 0, b"first");
    fake.inject_message(XS_READ, id.value(), 0, b"second");
    assert_eq!(xs.complete(id, MS).unwrap().payload(), b"first");
    assert_eq!(xs.stats().stray_replies, 1);
}

/// A small deterministic generator, so that this runs in every `cargo test`.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_response_streams_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..300 {
        let (fake, mut xs) = setup();
        xs.set_timeout(MS);
        fake.set_paused(true);
        let ids: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|p| xs.submit(TxId::NONE, Request::Read { path: p }).unwrap())
            .collect();
        xs.watch("data", "tok").unwrap_err();
        // A stream of plausible headers (ids and types near the real ones) and junk.
        let mut stream = Vec::new();
        for _ in 0..(rng.next() % 8) {
            let r = rng.next();
            let ty = [XS_READ, XS_ERROR, XS_WATCH_EVENT, (r >> 8) as u32 % 30][(r % 4) as usize];
            let id = (r >> 16) as u32 % 6;
            let len = if r & (1 << 40) != 0 {
                (r >> 20) as usize % 64
            } else {
                (r >> 20) as usize % 6000
            };
            let mut m = message(ty, id, 0, &vec![0u8; len.min(300)]);
            m[12..16].copy_from_slice(&(len as u32).to_ne_bytes());
            for b in m.iter_mut().skip(16) {
                *b = [0u8, b'E', b'N', b'O', b'/', 0xff, b'a', b't'][(rng.next() % 8) as usize];
            }
            stream.extend(m);
        }
        for b in 0..(rng.next() % 40) {
            stream.push((rng.next() >> (b % 8)) as u8);
        }
        fake.inject(&stream);
        for id in ids {
            let _ = xs.complete(id, MS);
        }
        let _ = xs.next_watch_event(MS);
        let _ = xs.directory("data");
        assert!(xs.outstanding() <= 4, "round {round}");
    }
}
