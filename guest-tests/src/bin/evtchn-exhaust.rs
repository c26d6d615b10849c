//! Port exhaustion is an error, not a panic: with `max_event_channels` set low in the xl
//! config, `alloc_unbound` must fail with ENOSPC after the last free port, and the guest goes
//! on working (it closes the ports and powers off normally).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use minios::events;
use minios::println;

const DOMID_SELF: u16 = 0x7ff0;

fn main() {
    let mut ports = Vec::new();
    let err = loop {
        match events::alloc_unbound(DOMID_SELF, |_| {}) {
            Ok(p) => ports.push(p),
            Err(e) => break e,
        }
        assert!(ports.len() < 100_000, "no limit reached");
    };
    println!(
        "EVTCHN-EXHAUSTED after {} ports (last {:?}): {err}",
        ports.len(),
        ports.last()
    );
    for p in ports {
        events::close(p).expect("close");
    }
    // Everything freed: allocation works again.
    let p = events::alloc_unbound(DOMID_SELF, |_| {}).expect("a port after freeing");
    events::close(p).expect("close");
    minios::ready();
}

minios::main!(main);
