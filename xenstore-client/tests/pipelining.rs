//! Several outstanding requests, replies matched by request id, events interleaved.

mod common;

use common::{setup, MS};
use xenstore_client::{Request, TxId, XsErrno, XsError, MAX_OUTSTANDING};

#[test]
fn replies_in_reverse_order_are_matched_by_request_id() {
    let (fake, mut xs) = setup();
    for i in 0..5 {
        xs.write(&format!("data/k{i}"), format!("v{i}").as_bytes())
            .unwrap();
    }
    fake.set_reorder(true);
    let paths: Vec<String> = (0..5).map(|i| format!("data/k{i}")).collect();
    let ids: Vec<_> = paths
        .iter()
        .map(|p| xs.submit(TxId::NONE, Request::Read { path: p }).unwrap())
        .collect();
    assert_eq!(xs.outstanding(), 5);
    // Complete in yet another order.
    for i in [2, 0, 4, 1, 3] {
        let r = xs.complete(ids[i], 10 * MS).unwrap();
        assert_eq!(r.into_string().unwrap(), format!("v{i}"));
    }
    assert_eq!(xs.outstanding(), 0);
    assert_eq!(xs.stats().protocol_errors, 0);
}

#[test]
fn mixed_outstanding_operations_and_errors() {
    let (_fake, mut xs) = setup();
    let w = xs
        .submit(
            TxId::NONE,
            Request::Write {
                path: "data/a",
                value: b"1",
            },
        )
        .unwrap();
    let missing = xs
        .submit(TxId::NONE, Request::Read { path: "data/none" })
        .unwrap();
    let r = xs
        .submit(TxId::NONE, Request::Read { path: "data/a" })
        .unwrap();
    let d = xs
        .submit(TxId::NONE, Request::Directory { path: "data" })
        .unwrap();
    assert_eq!(xs.complete(d, 10 * MS).unwrap().directory().unwrap(), ["a"]);
    assert_eq!(
        xs.complete(missing, 10 * MS),
        Err(XsError::Errno(XsErrno::ENOENT))
    );
    assert_eq!(xs.complete(r, 10 * MS).unwrap().payload(), b"1");
    xs.complete(w, 10 * MS).unwrap().ack().unwrap();
}

#[test]
fn watch_events_interleaved_with_replies_are_kept() {
    let (fake, mut xs) = setup();
    xs.watch("data", "tok").unwrap();
    let a = xs
        .submit(
            TxId::NONE,
            Request::Write {
                path: "data/a",
                value: b"1",
            },
        )
        .unwrap();
    let b = xs
        .submit(
            TxId::NONE,
            Request::Write {
                path: "data/b",
                value: b"2",
            },
        )
        .unwrap();
    xs.complete(b, 10 * MS).unwrap();
    xs.complete(a, 10 * MS).unwrap();
    let mut paths = Vec::new();
    while let Ok(e) = xs.next_watch_event(MS) {
        paths.push(e.path);
    }
    assert_eq!(paths, ["data", "data/a", "data/b"]);
    assert_eq!(fake.value("data/b").unwrap(), b"2");
}

#[test]
fn unknown_or_completed_ids_are_errors() {
    let (_fake, mut xs) = setup();
    let id = xs
        .submit(TxId::NONE, Request::Read { path: "name" })
        .unwrap();
    xs.complete(id, 10 * MS).unwrap();
    assert_eq!(xs.complete(id, 10 * MS), Err(XsError::UnknownRequest(id)));
    let id2 = xs
        .submit(TxId::NONE, Request::Read { path: "name" })
        .unwrap();
    xs.cancel(id2);
    assert_eq!(xs.complete(id2, 10 * MS), Err(XsError::UnknownRequest(id2)));
}

#[test]
fn a_timed_out_request_can_be_completed_later() {
    let (fake, mut xs) = setup();
    fake.set_paused(true);
    let id = xs
        .submit(TxId::NONE, Request::Read { path: "name" })
        .unwrap();
    assert_eq!(xs.complete(id, 5 * MS), Err(XsError::Timeout));
    fake.set_paused(false);
    assert_eq!(xs.complete(id, 5 * MS).unwrap().payload(), b"guest");
}

#[test]
fn outstanding_requests_are_bounded() {
    let (fake, mut xs) = setup();
    fake.set_paused(true);
    let ids: Vec<_> = (0..MAX_OUTSTANDING)
        .map(|_| {
            xs.submit(TxId::NONE, Request::Read { path: "name" })
                .unwrap()
        })
        .collect();
    assert_eq!(
        xs.submit(TxId::NONE, Request::Read { path: "name" }),
        Err(XsError::TooManyOutstanding)
    );
    fake.set_paused(false);
    for id in ids {
        assert_eq!(xs.complete(id, 10 * MS).unwrap().payload(), b"guest");
    }
    xs.read("name").unwrap();
}

#[test]
fn transaction_requests_can_be_pipelined() {
    let (fake, mut xs) = setup();
    xs.transaction(|t| {
        let a = t.submit(Request::Write {
            path: "data/p",
            value: b"1",
        })?;
        let b = t.submit(Request::Write {
            path: "data/q",
            value: b"2",
        })?;
        t.complete(a, 10 * MS)?.ack()?;
        t.complete(b, 10 * MS)?.ack()
    })
    .unwrap();
    assert_eq!(fake.value("data/q").unwrap(), b"2");
}
