//! Typed mirrors of the Xen public ABI (x86_64) used by Mini-OS in Rust.
//!
//! Every structure is `#[repr(C)]` with compile-time size and offset assertions; the test
//! `tests/layout.rs` compiles a C program against Debian's `libxen-dev` headers and compares
//! every size and offset (and the constants re-exported from `xen-sys`) with this crate.
//!
//! Memory that Xen or a backend writes while we read it (shared_info, vcpu_info, the time
//! area, rings) is typed with atomics, so that a shared `&` reference to it is sound and
//! protocol code can be plain safe Rust that also runs on the host against fakes.
//!
//! Constants come from the `xen-sys` crate where it has them (`xen_sys::*`, generated from
//! xen.h and sched.h); the structures here are our own because xen-sys's bindgen structs use
//! plain (non-atomic) fields for memory the hypervisor writes concurrently, and xen-sys has no
//! console ring, grant-table, xenstore, netif/blkif or PVH start-info types.
#![no_std]
#![forbid(unsafe_code)]

pub mod blkif;
pub mod console;
pub mod consts;
pub mod evtchn_fifo;
pub mod flags;
pub mod grant_table;
pub mod hvm;
pub mod hypercall;
pub mod netif;
pub mod xen;
pub mod xs_wire;

pub use console::XenconsInterface;
pub use consts::{LEGACY_MAX_VCPUS, MAX_GUEST_CMDLINE, PAGE_SHIFT, PAGE_SIZE};
pub use evtchn_fifo::EvtchnFifoControlBlock;
pub use flags::{GtfFlags, PteFlags, SifFlags, TrapFlags, VgcfFlags};
pub use grant_table::{GnttabQuerySize, GnttabSetupTable, GrantEntryV1};
pub use hypercall::*;
pub use xen::*;
pub use xs_wire::{XenstoreDomainInterface, XsdSockmsg};

/// Assert `size_of::<T>() == size` at compile time.
#[macro_export]
macro_rules! assert_size {
    ($t:ty, $size:expr) => {
        const _: () = assert!(::core::mem::size_of::<$t>() == $size);
    };
}

/// Assert `offset_of!(T, field) == off` at compile time.
#[macro_export]
macro_rules! assert_offset {
    ($t:ty, $($field:tt).+, $off:expr) => {
        const _: () = assert!(::core::mem::offset_of!($t, $($field).+) == $off);
    };
}
