#![no_std]
#![no_main]
fn main() {}
minios::main!(main);
