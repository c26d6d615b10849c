//! A guest that panics before it is ready: the test runner must report it as a failure that
//! carries this panic message (the test of the test).
#![no_std]
#![no_main]

fn main() {
    minios::println!("panic test: about to panic");
    let depth = minios::system().nr_pages; // a runtime value, so nothing is folded away
    panic!("deliberate guest panic (nr_pages {depth})");
}

minios::main!(main);
