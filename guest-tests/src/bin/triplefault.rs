//! A PVH guest that triple-faults before it is ready: Xen logs the triple fault and reboots
//! the domain. The test runner must retry the case once (a triple fault under QEMU's emulated
//! SVM is retried), then report it as a failure that says Xen logged a triple fault: the test
//! of the runner's retry, which must not hide a guest that triple-faults every time.
#![no_std]
#![no_main]

fn main() {
    minios::println!("triple-fault test: loading an empty IDT, then ud2");
    if !minios::triple_fault_for_test() {
        panic!("triple-fault test: a PV guest has no IDT to break (run it as PVH)");
    }
}

minios::main!(main);
