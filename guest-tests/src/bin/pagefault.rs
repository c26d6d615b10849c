//! A guest that touches an unmapped page (page 0, which the kernel unmaps at boot): the trap
//! table must turn the #PF into a panic naming the fault and its address, and the domain must
//! shut down with `crash`.
#![no_std]
#![no_main]

fn main() {
    minios::println!("pagefault test: reading address 0x18");
    let addr = core::hint::black_box(0x18usize);
    #[allow(unsafe_code)]
    // SAFETY: deliberately unsound for the test: page 0 is unmapped, so this read faults and
    // the fault handler never returns here.
    let v = unsafe { core::ptr::read_volatile(addr as *const u64) };
    minios::println!("read {v:#x}: the page fault was not raised");
}

minios::main!(main);
