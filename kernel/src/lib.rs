//! Mini-OS in Rust: the kernel.
//!
//! The arch crate enters, maps what it must and calls [`boot`]'s `minios_kernel_main`, which
//! sets up the console, the heap and the page allocator, prints the boot log and runs the
//! application that the image defines with [`main!`]. When the application returns, the
//! domain powers off; a panic prints its message and location and shuts down with `crash`.
//!
//! The pure parts ([`cmdline`], [`mm`]) are plain Rust tested on the host; the rest is built
//! for the guest target only.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod cmdline;
pub mod mm;

#[cfg(target_os = "none")]
pub mod blk;
#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
pub mod events;
#[cfg(target_os = "none")]
pub mod gnttab;
#[cfg(target_os = "none")]
pub mod net;
#[cfg(target_os = "none")]
pub mod print;
#[cfg(target_os = "none")]
pub mod xenstore;
#[cfg(target_os = "none")]
pub use boot::*;

/// What an application's `main` may return: `()` or a `Result` whose error is reported.
pub trait AppResult {
    /// Reports a failure by panicking with the error, which crashes the domain.
    fn report(self);
}

impl AppResult for () {
    fn report(self) {}
}

impl<E: core::fmt::Display> AppResult for Result<(), E> {
    fn report(self) {
        if let Err(e) = self {
            panic!("application failed: {e}");
        }
    }
}

/// Defines the application entry: `minios::main!(my_main);` where `fn my_main()` or
/// `fn my_main() -> Result<(), E>` with `E: Display`. The kernel runs it after boot and
/// powers the domain off when it returns.
#[macro_export]
macro_rules! main {
    ($f:path) => {
        #[allow(unsafe_code)] // `no_mangle`: the kernel calls this symbol; one app per image.
        #[no_mangle]
        pub fn minios_app_main() {
            $crate::AppResult::report($f());
        }
    };
}
