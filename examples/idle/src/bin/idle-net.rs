//! The density guest with networking (`./minios density --vif`): like `idle`, but it first
//! brings up netfront on every vif (address from the vif's `ip=`, the command line, or DHCP in
//! the background), prints `MINIOS-READY` once every vif is connected, and then answers ping
//! (smoltcp) between blocks in the hypervisor; smoltcp's own timers (ARP, DHCP renewal) are
//! the only wake-ups it sets. A vif that cannot connect is a panic: the instance must not
//! count as ready. It lives in `memory = 4` like `idle` (netfront's 128 buffer pages
//! included); `idle` stays the smaller image for console-only instances.
#![no_std]
#![no_main]

use minios::println;

fn main() {
    let mut net = match minios::net::init() {
        Ok(n) => n,
        Err(e) => panic!("idle-net: networking failed: {e}"),
    };
    println!("idle-net: {} vif(s) connected", net.len());
    minios::ready();
    loop {
        net.poll();
        net.wait(u64::MAX);
    }
}

minios::main!(main);
