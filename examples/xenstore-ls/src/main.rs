//! Prints the guest's own xenstore subtree (`/local/domain/<domid>`), one `path = "value"`
//! line per node, like dom0's `xenstore-ls -f`.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use minios::println;
use minios::xenstore::{self, XsError};

fn main() -> Result<(), XsError> {
    let domid = xenstore::with(|xs| xs.read("domid"))?;
    let root = format!("/local/domain/{domid}");
    let mut stack: Vec<String> = Vec::from([root]);
    let mut nodes = 0;
    while let Some(path) = stack.pop() {
        let value = xenstore::with(|xs| xs.read(&path)).unwrap_or_default();
        println!("{path} = {value:?}");
        nodes += 1;
        let mut children = xenstore::with(|xs| xs.directory(&path)).unwrap_or_default();
        children.sort();
        for c in children.into_iter().rev() {
            stack.push(format!("{path}/{c}"));
        }
    }
    println!("XENSTORE-LS nodes={nodes}");
    minios::ready();
    Ok(())
}

minios::main!(main);
