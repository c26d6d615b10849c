//! Transactions: commit, abort, conflicts retried on EAGAIN.

mod common;

use std::cell::Cell;

use common::{setup, MS};
use xenstore_client::{TxId, XsErrno, XsError, MAX_TRANSACTION_ATTEMPTS};

#[test]
fn commit_makes_changes_visible_at_once() {
    let (fake, mut xs) = setup();
    xs.write("data/n", b"1").unwrap();
    let r = xs
        .transaction(|t| {
            let n: u32 = t.read("data/n")?.parse().unwrap();
            t.write("data/n", format!("{}", n + 1).as_bytes())?;
            t.write("data/m", b"new")?;
            // Not visible outside the transaction before the commit.
            assert_eq!(fake.value("data/n").unwrap(), b"1");
            assert!(fake.value("data/m").is_none());
            assert_eq!(t.read("data/m")?, "new", "visible inside");
            assert_eq!(t.directory("data")?, ["m", "n"]);
            Ok(n)
        })
        .unwrap();
    assert_eq!(r, 1);
    assert_eq!(xs.read("data/n").unwrap(), "2");
    assert_eq!(xs.read("data/m").unwrap(), "new");
    assert_eq!(fake.open_transactions(), 0);
}

#[test]
fn a_conflicting_write_from_another_domain_is_retried() {
    let (fake, mut xs) = setup();
    xs.write("data/counter", b"10").unwrap();
    let attempts = Cell::new(0);
    xs.transaction(|t| {
        attempts.set(attempts.get() + 1);
        let n: u32 = t.read("data/counter")?.parse().unwrap();
        if attempts.get() == 1 {
            // Another domain changes the node behind the transaction's back.
            fake.write_as(0, "/local/domain/1/data/counter", b"20")
                .unwrap();
        }
        t.write("data/counter", format!("{}", n + 1).as_bytes())
    })
    .unwrap();
    assert_eq!(
        attempts.get(),
        2,
        "EAGAIN on the first commit, success on the second"
    );
    assert_eq!(
        xs.read("data/counter").unwrap(),
        "21",
        "the retry saw the other write"
    );
    assert_eq!(fake.open_transactions(), 0);
}

#[test]
fn unrelated_concurrent_writes_do_not_conflict() {
    let (fake, mut xs) = setup();
    let attempts = Cell::new(0);
    xs.transaction(|t| {
        attempts.set(attempts.get() + 1);
        t.write("data/mine", b"1")?;
        fake.write_as(0, "/local/domain/1/elsewhere", b"x").unwrap();
        Ok(())
    })
    .unwrap();
    assert_eq!(attempts.get(), 1);
    assert_eq!(fake.value("elsewhere").unwrap(), b"x");
}

#[test]
fn retries_are_bounded() {
    let (fake, mut xs) = setup();
    xs.write("data/hot", b"0").unwrap();
    let attempts = Cell::new(0u32);
    let r = xs.transaction(|t| {
        attempts.set(attempts.get() + 1);
        t.read("data/hot")?;
        fake.write_as(0, "/local/domain/1/data/hot", b"x").unwrap();
        t.write("data/hot", b"mine")
    });
    assert_eq!(r, Err(XsError::Errno(XsErrno::EAGAIN)));
    assert_eq!(attempts.get(), MAX_TRANSACTION_ATTEMPTS);
    assert_eq!(fake.open_transactions(), 0);
}

#[test]
fn an_error_in_the_body_aborts() {
    let (fake, mut xs) = setup();
    let r: Result<(), _> = xs.transaction(|t| {
        t.write("data/partial", b"1")?;
        t.read("data/missing")?;
        Ok(())
    });
    assert_eq!(r, Err(XsError::Errno(XsErrno::ENOENT)));
    assert!(fake.value("data/partial").is_none(), "aborted");
    assert_eq!(fake.open_transactions(), 0);
}

#[test]
fn manual_start_and_abort() {
    let (fake, mut xs) = setup();
    let tx = xs.transaction_start().unwrap();
    assert_ne!(tx, TxId::NONE);
    assert_eq!(fake.open_transactions(), 1);
    xs.transaction_end(tx, false).unwrap();
    assert_eq!(fake.open_transactions(), 0);
    assert_eq!(
        xs.transaction_end(tx, true),
        Err(XsError::Errno(XsErrno::ENOENT))
    );
}

#[test]
fn watches_fire_on_commit_not_before() {
    let (fake, mut xs) = setup();
    xs.watch("data/t", "tok").unwrap();
    xs.next_watch_event(10 * MS).unwrap();
    xs.transaction(|t| {
        t.write("data/t", b"1")?;
        t.mkdir("data/t/sub")?;
        t.get_perms("data/t")?;
        Ok(())
    })
    .unwrap();
    let mut paths = Vec::new();
    while let Ok(e) = xs.next_watch_event(10 * MS) {
        paths.push(e.path);
    }
    assert_eq!(paths, ["data/t", "data/t/sub"]);
    assert_eq!(fake.value("data/t").unwrap(), b"1");
}

#[test]
fn rm_and_perms_inside_a_transaction() {
    let (_fake, mut xs) = setup();
    xs.write("data/x/y", b"1").unwrap();
    xs.transaction(|t| {
        t.rm("data/x/y")?;
        let perms = t.get_perms("data/x")?;
        t.set_perms("data/x", &perms)?;
        assert_eq!(t.read("data/x/y"), Err(XsError::Errno(XsErrno::ENOENT)));
        Ok(())
    })
    .unwrap();
    assert_eq!(xs.read("data/x/y"), Err(XsError::Errno(XsErrno::ENOENT)));
}
