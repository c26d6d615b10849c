//! XenBus front-end helpers against the fake.

mod common;

use common::{request_types, setup, MS};
use xen_abi::xs_wire::{XS_READ, XS_WATCH, XS_WRITE};
use xenstore_client::xenbus::{backend_path, read_state, switch_state, wait_for_state};
use xenstore_client::{ProtocolError, XenbusState, XsError};

#[test]
fn state_numbers_names_and_parsing() {
    assert_eq!(XenbusState::Unknown as u32, 0);
    assert_eq!(XenbusState::Reconfigured as u32, 8);
    assert_eq!(XenbusState::from_u32(4), Some(XenbusState::Connected));
    assert_eq!(XenbusState::from_u32(9), None);
    assert_eq!(XenbusState::parse(b"4"), Some(XenbusState::Connected));
    assert_eq!(XenbusState::parse(b"2\n"), Some(XenbusState::InitWait));
    assert_eq!(XenbusState::parse(b"9"), None);
    assert_eq!(XenbusState::parse(b""), None);
    assert_eq!("6".parse(), Ok(XenbusState::Closed));
    assert_eq!("InitWait".parse(), Ok(XenbusState::InitWait));
    assert_eq!("x".parse::<XenbusState>(), Err(ProtocolError::BadNumber));
    assert_eq!(XenbusState::Connected.to_string(), "Connected (4)");
}

#[test]
fn backend_path_and_switch_state() {
    let (fake, mut xs) = setup();
    let (fe, be) = fake.add_device("vif", 0);
    assert_eq!(backend_path(&mut xs, &fe).unwrap(), be);
    assert_eq!(read_state(&mut xs, &fe).unwrap(), XenbusState::Initialising);
    switch_state(&mut xs, &fe, XenbusState::Initialised).unwrap();
    assert_eq!(fake.value(&format!("{fe}/state")).unwrap(), b"3");
    let writes = |f: &xenstore_client::fake::FakeXenstored| {
        request_types(f).iter().filter(|&&t| t == XS_WRITE).count()
    };
    let before = writes(fake);
    switch_state(&mut xs, &fe, XenbusState::Initialised).unwrap();
    assert_eq!(writes(fake), before, "same state: nothing written");
    // The back end's directory is readable, not writable, for us.
    assert_eq!(read_state(&mut xs, &be).unwrap(), XenbusState::Unknown);
    assert!(matches!(
        switch_state(&mut xs, &be, XenbusState::Closed),
        Err(XsError::Errno(_))
    ));
}

#[test]
fn a_missing_backend_node_is_enoent() {
    let (_fake, mut xs) = setup();
    assert!(matches!(
        backend_path(&mut xs, "device/vif/9"),
        Err(XsError::Errno(xenstore_client::XsErrno::ENOENT))
    ));
}

#[test]
fn waits_through_a_watch_for_a_backend_that_writes_late() {
    let (fake, mut xs) = setup();
    let (fe, be) = fake.add_device("vbd", 768);
    // The back end has not even created `state` yet; it goes InitWait, then Connected, late.
    let be2 = be.clone();
    fake.schedule(200 * MS, move |f| {
        f.write_as(0, &format!("{be2}/state"), b"2").unwrap();
        f.write_as(0, &format!("{be2}/sectors"), b"2048").unwrap();
    });
    let be3 = be.clone();
    fake.schedule(500 * MS, move |f| {
        f.write_as(0, &format!("{be3}/state"), b"4").unwrap();
    });
    switch_state(&mut xs, &fe, XenbusState::Initialising).unwrap();
    let st = wait_for_state(&mut xs, &be, |s| s == XenbusState::InitWait, 5_000 * MS).unwrap();
    assert_eq!(st, XenbusState::InitWait);
    assert_eq!(xs.read(&format!("{be}/sectors")).unwrap(), "2048");
    switch_state(&mut xs, &fe, XenbusState::Initialised).unwrap();
    let st = wait_for_state(&mut xs, &be, |s| s == XenbusState::Connected, 5_000 * MS).unwrap();
    assert_eq!(st, XenbusState::Connected);
    assert!(fake.now() >= 500 * MS);
    // Through a watch, re-reading after events; the watch is gone afterwards.
    let types = request_types(fake);
    assert_eq!(types.iter().filter(|&&t| t == XS_WATCH).count(), 2);
    assert!(types.iter().filter(|&&t| t == XS_READ).count() >= 4);
    assert!(fake.watches().is_empty());
    assert!(fake.waits() < 50, "blocked, did not poll: {}", fake.waits());
}

#[test]
fn a_state_already_reached_returns_at_once() {
    let (fake, mut xs) = setup();
    let (_fe, be) = fake.add_device("vif", 1);
    fake.write_as(0, &format!("{be}/state"), b"4").unwrap();
    let t0 = fake.now();
    let st = wait_for_state(&mut xs, &be, |s| s == XenbusState::Connected, 1_000 * MS).unwrap();
    assert_eq!(st, XenbusState::Connected);
    assert!(fake.now() - t0 < MS);
}

#[test]
fn waiting_times_out_and_removes_its_watch() {
    let (fake, mut xs) = setup();
    let (_fe, be) = fake.add_device("vif", 2);
    fake.write_as(0, &format!("{be}/state"), b"2").unwrap();
    let r = wait_for_state(&mut xs, &be, |s| s == XenbusState::Connected, 100 * MS);
    assert_eq!(r, Err(XsError::Timeout));
    assert!(fake.watches().is_empty());
    assert_eq!(xs.queued_events(), 0);
}

#[test]
fn closing_backend_can_end_the_wait() {
    let (fake, mut xs) = setup();
    let (_fe, be) = fake.add_device("vif", 3);
    let be2 = be.clone();
    fake.schedule(10 * MS, move |f| {
        f.write_as(0, &format!("{be2}/state"), b"5").unwrap();
    });
    let st = wait_for_state(
        &mut xs,
        &be,
        |s| {
            matches!(
                s,
                XenbusState::Connected | XenbusState::Closing | XenbusState::Closed
            )
        },
        1_000 * MS,
    )
    .unwrap();
    assert_eq!(st, XenbusState::Closing);
}

#[test]
fn garbage_state_is_an_error() {
    let (fake, mut xs) = setup();
    let (_fe, be) = fake.add_device("vif", 4);
    fake.write_as(0, &format!("{be}/state"), b"connected!")
        .unwrap();
    assert_eq!(
        wait_for_state(&mut xs, &be, |_| true, 100 * MS),
        Err(XsError::Protocol(ProtocolError::BadNumber))
    );
    assert!(fake.watches().is_empty());
}
