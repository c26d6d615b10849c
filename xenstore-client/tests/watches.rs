//! Watches: the initial event, events for changes, routing by token, unwatch.

mod common;

use common::{setup, MS};
use xen_abi::xs_wire::XS_WATCH_EVENT;
use xenstore_client::{WatchEvent, XsErrno, XsError};

fn ev(path: &str, token: &str) -> WatchEvent {
    WatchEvent {
        path: path.into(),
        token: token.into(),
    }
}

#[test]
fn registration_fires_an_initial_event() {
    let (_fake, mut xs) = setup();
    xs.watch("data/w", "tok").unwrap();
    assert_eq!(xs.next_watch_event(10 * MS).unwrap(), ev("data/w", "tok"));
    assert_eq!(xs.next_watch_event(10 * MS), Err(XsError::Timeout));
}

#[test]
fn changes_at_or_below_the_path_fire_and_others_do_not() {
    let (fake, mut xs) = setup();
    xs.watch("data/w", "tok").unwrap();
    xs.next_watch_event(10 * MS).unwrap();
    xs.write("data/other", b"x").unwrap();
    xs.write("data/w/child", b"1").unwrap();
    fake.write_as(0, "/local/domain/1/data/w", b"2").unwrap();
    assert_eq!(
        xs.next_watch_event(10 * MS).unwrap(),
        ev("data/w/child", "tok")
    );
    assert_eq!(xs.next_watch_event(10 * MS).unwrap(), ev("data/w", "tok"));
    assert_eq!(xs.next_watch_event(10 * MS), Err(XsError::Timeout));
    // Removing an ancestor fires the watch with its own path.
    xs.rm("data").unwrap();
    assert_eq!(xs.next_watch_event(10 * MS).unwrap(), ev("data/w", "tok"));
}

#[test]
fn absolute_watches_get_absolute_paths() {
    let (fake, mut xs) = setup();
    xs.watch("/local/domain/1/data", "abs").unwrap();
    assert_eq!(
        xs.next_watch_event(10 * MS).unwrap(),
        ev("/local/domain/1/data", "abs")
    );
    fake.write_as(0, "/local/domain/1/data/k", b"v").unwrap();
    assert_eq!(
        xs.next_watch_event(10 * MS).unwrap(),
        ev("/local/domain/1/data/k", "abs")
    );
}

#[test]
fn events_are_delivered_to_their_subscriber() {
    let (fake, mut xs) = setup();
    xs.watch("data/a", "A").unwrap();
    xs.watch("data/b", "B").unwrap();
    fake.write_as(0, "/local/domain/1/data/a", b"1").unwrap();
    fake.write_as(0, "/local/domain/1/data/b", b"1").unwrap();
    // B's subscriber takes B's events; A's stay queued for A.
    assert_eq!(
        xs.next_watch_event_for("B", 10 * MS).unwrap(),
        ev("data/b", "B")
    );
    assert_eq!(
        xs.next_watch_event_for("B", 10 * MS).unwrap(),
        ev("data/b", "B")
    );
    assert_eq!(xs.next_watch_event_for("B", 10 * MS), Err(XsError::Timeout));
    // A's initial event and its change are identical (same path and token): coalesced.
    assert_eq!(xs.queued_events(), 1);
    assert_eq!(
        xs.next_watch_event_for("A", 10 * MS).unwrap(),
        ev("data/a", "A")
    );
}

#[test]
fn events_are_received_while_waiting_for_a_late_change() {
    let (fake, mut xs) = setup();
    xs.watch("data/late", "t").unwrap();
    xs.next_watch_event(10 * MS).unwrap();
    fake.schedule(300 * MS, |f| {
        f.write_as(0, "/local/domain/1/data/late", b"now").unwrap();
    });
    let t0 = fake.now();
    assert_eq!(
        xs.next_watch_event(1_000 * MS).unwrap(),
        ev("data/late", "t")
    );
    assert!(fake.now() - t0 >= 300 * MS);
    assert!(
        fake.waits() < 10,
        "blocked, did not spin: {} waits",
        fake.waits()
    );
}

#[test]
fn unwatch_stops_events_and_drops_queued_ones() {
    let (fake, mut xs) = setup();
    xs.watch("data/w", "tok").unwrap();
    fake.write_as(0, "/local/domain/1/data/w", b"1").unwrap();
    xs.unwatch("data/w", "tok").unwrap();
    assert_eq!(xs.queued_events(), 0);
    fake.write_as(0, "/local/domain/1/data/w", b"2").unwrap();
    assert_eq!(xs.next_watch_event(10 * MS), Err(XsError::Timeout));
    assert!(fake.watches().is_empty());
}

#[test]
fn duplicate_watch_is_eexist_and_keeps_the_first() {
    let (fake, mut xs) = setup();
    xs.watch("data/w", "tok").unwrap();
    assert_eq!(
        xs.watch("data/w", "tok"),
        Err(XsError::Errno(XsErrno::EEXIST))
    );
    xs.next_watch_event(10 * MS).unwrap();
    fake.write_as(0, "/local/domain/1/data/w", b"1").unwrap();
    assert_eq!(xs.next_watch_event(10 * MS).unwrap(), ev("data/w", "tok"));
}

#[test]
fn a_refused_watch_is_not_registered() {
    let (fake, mut xs) = setup();
    assert_eq!(
        xs.watch("bad path!", "t"),
        Err(XsError::Errno(XsErrno::EINVAL))
    );
    // An event with that token (from a buggy xenstored) is not delivered.
    fake.inject_message(XS_WATCH_EVENT, 0, 0, b"bad path!\0t\0");
    assert_eq!(xs.next_watch_event(10 * MS), Err(XsError::Timeout));
    assert_eq!(xs.stats().stray_events, 1);
}

#[test]
fn identical_pending_events_are_coalesced() {
    let (fake, mut xs) = setup();
    xs.watch("data/w", "tok").unwrap();
    xs.next_watch_event(10 * MS).unwrap();
    for i in 0..5u8 {
        fake.write_as(0, "/local/domain/1/data/w", &[b'0' + i])
            .unwrap();
    }
    assert_eq!(xs.next_watch_event(10 * MS).unwrap(), ev("data/w", "tok"));
    assert_eq!(xs.next_watch_event(10 * MS), Err(XsError::Timeout));
    assert_eq!(xs.stats().coalesced_events, 4);
}

#[test]
fn special_paths_can_be_watched() {
    let (_fake, mut xs) = setup();
    xs.watch("@releaseDomain", "rel").unwrap();
    assert_eq!(
        xs.next_watch_event(10 * MS).unwrap(),
        ev("@releaseDomain", "rel")
    );
}
