//! xenstore on real Xen: the guest reads its domid and name, lists `device/`, writes keys
//! under its own `data/` path (dom0 reads them back with `xenstore-read` when it sees
//! `XS-WRITTEN`), then waits on a watch that dom0's `xenstore-write data/ping pong` fires;
//! finally a transaction updates a counter. Prints `XS-OK`.
#![no_std]
#![no_main]

use minios::println;
use minios::xenstore::{self, XsError};

const SEC: u64 = 1_000_000_000;

fn main() -> Result<(), XsError> {
    let domid = xenstore::with(|xs| xs.read("domid"))?;
    let name = xenstore::with(|xs| xs.read("name"))?;
    println!("xenstore test: domid {domid}, name {name}");
    match xenstore::with(|xs| xs.directory("device")) {
        Ok(devs) => println!("xenstore test: device/ = {devs:?}"),
        Err(e) => println!("xenstore test: device/: {e}"),
    }

    xenstore::with(|xs| xs.write("data/hello", b"world"))?;
    xenstore::with(|xs| xs.write("data/domid-echo", domid.as_bytes()))?;
    assert_eq!(xenstore::with(|xs| xs.read("data/hello"))?, "world");
    let missing = xenstore::with(|xs| xs.read("data/no-such-key"));
    assert!(missing.is_err(), "a missing key must be an error");
    println!(
        "xenstore test: missing key reads as: {}",
        missing.unwrap_err()
    );

    // The watch fires once when registered (xenstored does that), then on dom0's write.
    xenstore::with(|xs| xs.watch("data/ping", "ping"))?;
    println!("XS-WRITTEN domid={domid}");
    let deadline = minios::events::now_ns() + 60 * SEC;
    assert!(
        deadline > 60 * SEC,
        "the pvclock reads 0: system time is since the host booted"
    );
    let value = loop {
        let now = minios::events::now_ns();
        let ev = xenstore::with(|xs| xs.next_watch_event(deadline.saturating_sub(now)));
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                println!(
                    "xenstore test: waiting for the watch from t={now} ns (deadline {deadline}) \
                     failed at t={} ns: {e}",
                    minios::events::now_ns()
                );
                return Err(e);
            }
        };
        match xenstore::with(|xs| xs.read("data/ping")) {
            Ok(v) => {
                println!(
                    "xenstore test: watch event {} ({}) -> {v:?}",
                    ev.path, ev.token
                );
                if v == "pong" {
                    break v;
                }
            }
            Err(e) => println!(
                "xenstore test: watch event {} ({}) -> {e}",
                ev.path, ev.token
            ),
        }
    };
    println!("XS-WATCH-FIRED value={value}");
    xenstore::with(|xs| xs.unwatch("data/ping", "ping"))?;

    // A transaction: read-modify-write of a counter.
    let n = xenstore::with(|xs| {
        xs.transaction(|t| {
            let cur = t
                .read("data/counter")
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
                .unwrap_or(0);
            t.write("data/counter", alloc::format!("{}", cur + 1).as_bytes())?;
            Ok(cur + 1)
        })
    })?;
    println!("XS-OK counter={n}");
    minios::ready();
    Ok(())
}

extern crate alloc;

minios::main!(main);
