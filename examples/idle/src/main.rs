//! The density guest: prints `MINIOS-READY`, then idles blocked in the hypervisor with no
//! periodic or one-shot timer, so that an idle instance costs no CPU. It runs until the
//! toolstack destroys it.
#![no_std]
#![no_main]

fn main() {
    minios::ready();
    minios::events::idle_forever()
}

minios::main!(main);
