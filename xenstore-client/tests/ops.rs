//! Every operation against the fake xenstored, and the errors it gives.

mod common;

use common::{request_types, setup, MS};
use xen_abi::xs_wire::{XENSTORE_PAYLOAD_MAX, XS_DIRECTORY, XS_DIRECTORY_PART, XS_READ};
use xenstore_client::{Perm, PermKind, ProtocolError, XsErrno, XsError};

#[test]
fn write_then_read_relative_and_absolute() {
    let (fake, mut xs) = setup();
    xs.write("data/greeting", b"hello").unwrap();
    assert_eq!(xs.read("data/greeting").unwrap(), "hello");
    assert_eq!(xs.read("/local/domain/1/data/greeting").unwrap(), "hello");
    assert_eq!(
        fake.value("/local/domain/1/data/greeting").unwrap(),
        b"hello"
    );
    xs.write("data/greeting", b"").unwrap();
    assert_eq!(xs.read("data/greeting").unwrap(), "");
}

#[test]
fn values_are_bytes() {
    let (_fake, mut xs) = setup();
    xs.write("data/bin", b"a\0\xff").unwrap();
    assert_eq!(xs.read_bytes("data/bin").unwrap(), b"a\0\xff");
    assert_eq!(
        xs.read("data/bin"),
        Err(XsError::Protocol(ProtocolError::NotUtf8))
    );
}

#[test]
fn payloads_larger_than_the_ring_stream_through_it() {
    let (_fake, mut xs) = setup();
    // The ring is 1024 bytes; a 4000-byte value goes out and comes back in pieces.
    let value: Vec<u8> = (0..4000u32).map(|i| b'a' + (i % 26) as u8).collect();
    xs.write("data/big", &value).unwrap();
    assert_eq!(xs.read_bytes("data/big").unwrap(), value);
}

#[test]
fn write_creates_parents_and_directory_lists_children() {
    let (_fake, mut xs) = setup();
    xs.write("data/a/x", b"1").unwrap();
    xs.write("data/a/y", b"2").unwrap();
    xs.write("data/b", b"3").unwrap();
    assert_eq!(xs.directory("data").unwrap(), ["a", "b"]);
    assert_eq!(xs.directory("data/a").unwrap(), ["x", "y"]);
    assert_eq!(xs.directory("data/b").unwrap(), Vec::<String>::new());
    assert_eq!(xs.read("data/a").unwrap(), "", "created parents are empty");
}

#[test]
fn directory_too_large_for_one_reply_is_read_in_parts() {
    let (fake, mut xs) = setup();
    let names: Vec<String> = (0..400)
        .map(|i| format!("child-with-a-long-name-{i:04}"))
        .collect();
    for n in &names {
        fake.write_as(0, &format!("/local/domain/1/data/many/{n}"), b"")
            .unwrap();
    }
    let mut got = xs.directory("data/many").unwrap();
    got.sort();
    assert_eq!(got, names);
    let types = request_types(fake);
    assert!(types.contains(&XS_DIRECTORY));
    assert!(types.iter().filter(|&&t| t == XS_DIRECTORY_PART).count() >= 3);
}

#[test]
fn mkdir_and_rm() {
    let (fake, mut xs) = setup();
    xs.mkdir("data/dir").unwrap();
    assert_eq!(xs.read("data/dir").unwrap(), "");
    xs.write("data/dir", b"v").unwrap();
    xs.mkdir("data/dir").unwrap();
    assert_eq!(
        xs.read("data/dir").unwrap(),
        "v",
        "mkdir leaves an existing node alone"
    );
    xs.write("data/dir/sub/leaf", b"1").unwrap();
    xs.rm("data/dir").unwrap();
    assert_eq!(
        xs.read("data/dir/sub/leaf"),
        Err(XsError::Errno(XsErrno::ENOENT))
    );
    assert_eq!(xs.read("data/dir"), Err(XsError::Errno(XsErrno::ENOENT)));
    assert!(fake.value("data/dir").is_none());
    // Removing what is not there is fine while the parent exists...
    xs.rm("data/dir").unwrap();
    // ...and ENOENT when the parent does not.
    assert_eq!(xs.rm("data/nope/x"), Err(XsError::Errno(XsErrno::ENOENT)));
}

#[test]
fn permissions() {
    let (fake, mut xs) = setup();
    xs.write("data/p", b"1").unwrap();
    // The guest created it, so it owns it.
    let perms = xs.get_perms("data/p").unwrap();
    assert_eq!(perms[0], Perm::new(1, PermKind::None));
    let new = [Perm::new(1, PermKind::None), Perm::new(2, PermKind::Read)];
    xs.set_perms("data/p", &new).unwrap();
    assert_eq!(xs.get_perms("data/p").unwrap(), new);
    assert_eq!(fake.read_as(2, "/local/domain/1/data/p").unwrap(), b"1");
    assert_eq!(
        fake.write_as(2, "/local/domain/1/data/p", b"x"),
        Err(XsErrno::EACCES)
    );
    assert_eq!(
        fake.read_as(3, "/local/domain/1/data/p"),
        Err(XsErrno::EACCES)
    );

    // Read-only for us: `domid` belongs to dom0.
    assert_eq!(
        xs.write("domid", b"9"),
        Err(XsError::Errno(XsErrno::EACCES))
    );
    assert_eq!(
        xs.set_perms("domid", &[Perm::new(1, PermKind::Both)]),
        Err(XsError::Errno(XsErrno::EACCES))
    );
    // Closed to us: dom0's home.
    fake.write_as(0, "/local/domain/0/secret", b"s").unwrap();
    assert_eq!(
        xs.read("/local/domain/0/secret"),
        Err(XsError::Errno(XsErrno::EACCES))
    );
    assert_eq!(
        xs.directory("/local/domain/0"),
        Err(XsError::Errno(XsErrno::EACCES))
    );
    // An empty list is refused before sending.
    assert_eq!(
        xs.set_perms("data/p", &[]),
        Err(XsError::Errno(XsErrno::EINVAL))
    );
}

#[test]
fn xenstored_errors_are_typed() {
    let (_fake, mut xs) = setup();
    assert_eq!(
        xs.read("data/missing"),
        Err(XsError::Errno(XsErrno::ENOENT))
    );
    assert_eq!(xs.read("bad path!"), Err(XsError::Errno(XsErrno::EINVAL)));
    assert_eq!(xs.write("a//b", b""), Err(XsError::Errno(XsErrno::EINVAL)));
    assert_eq!(
        xs.unwatch("data", "never-registered"),
        Err(XsError::Errno(XsErrno::ENOENT))
    );
    let e = xs.read("data/missing").unwrap_err();
    assert_eq!(e.to_string(), "xenstore: ENOENT");
}

#[test]
fn oversized_and_malformed_requests_are_refused_locally() {
    let (fake, mut xs) = setup();
    let big = vec![b'v'; XENSTORE_PAYLOAD_MAX];
    assert_eq!(
        xs.write("data/k", &big),
        Err(XsError::Errno(XsErrno::E2BIG))
    );
    let long_path = "p".repeat(XENSTORE_PAYLOAD_MAX + 1);
    assert_eq!(xs.read(&long_path), Err(XsError::Errno(XsErrno::E2BIG)));
    assert_eq!(xs.read("a\0b"), Err(XsError::Errno(XsErrno::EINVAL)));
    assert_eq!(
        xs.watch("data", "t\0"),
        Err(XsError::Errno(XsErrno::EINVAL))
    );
    assert!(fake.requests().is_empty(), "nothing was sent");
    assert!(!fake.is_broken());
    // The largest legal payload goes through.
    let fits = vec![b'v'; XENSTORE_PAYLOAD_MAX - "data/k".len() - 1];
    xs.write("data/k", &fits).unwrap();
    assert_eq!(xs.read_bytes("data/k").unwrap(), fits);
}

#[test]
fn domid_and_domain_path() {
    let (_fake, mut xs) = setup();
    assert_eq!(xs.domid().unwrap(), 1);
    assert_eq!(xs.get_domain_path(7).unwrap(), "/local/domain/7");
    assert_eq!(xs.read("name").unwrap(), "guest");
}

#[test]
fn waiting_is_event_driven_not_a_busy_loop() {
    let (fake, mut xs) = setup();
    xs.write("data/x", b"1").unwrap();
    let before = fake.waits();
    assert_eq!(xs.read("data/x").unwrap(), "1");
    assert_eq!(fake.waits() - before, 1, "one wait for one reply");

    // No reply at all: one wait that times out at the deadline, not a spin.
    fake.set_paused(true);
    xs.set_timeout(50 * MS);
    let before = (fake.waits(), fake.now());
    assert_eq!(xs.read("data/x"), Err(XsError::Timeout));
    assert!(
        fake.waits() - before.0 <= 2,
        "waits: {}",
        fake.waits() - before.0
    );
    assert!(fake.now() - before.1 >= 50 * MS);

    // The late reply, once xenstored comes back, is dropped; the connection still works.
    fake.set_paused(false);
    assert_eq!(xs.read("data/x").unwrap(), "1");
    assert_eq!(xs.stats().late_replies, 1);
    assert_eq!(xs.stats().stray_replies, 0);
    assert_eq!(xs.outstanding(), 0);
}

#[test]
fn notifies_xenstored_and_uses_fresh_request_ids() {
    let (fake, mut xs) = setup();
    xs.write("data/x", b"1").unwrap();
    xs.read("data/x").unwrap();
    assert!(fake.notifies() >= 2);
    let ids: Vec<u32> = fake.requests().iter().map(|h| h.req_id).collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert!(ids.iter().all(|&id| id != 0));
    assert_eq!(request_types(fake)[1], XS_READ);
}

#[test]
fn a_failed_notification_is_an_error_and_is_retried() {
    let (fake, mut xs) = setup();
    fake.set_notify_error(Some(xen_hal::XenError::EINVAL));
    assert_eq!(
        xs.read("name"),
        Err(XsError::Notify(xen_hal::XenError::EINVAL))
    );
    fake.set_notify_error(None);
    assert_eq!(xs.read("name").unwrap(), "guest");
}
