//! The PV console ring page (io/console.h).

use core::sync::atomic::{AtomicU32, AtomicU8};

use crate::{assert_offset, assert_size};

/// Size of the input ring (dom0 to guest).
pub const XENCONS_IN_SIZE: usize = 1024;
/// Size of the output ring (guest to dom0).
pub const XENCONS_OUT_SIZE: usize = 2048;

/// `struct xencons_interface`. Indices are free-running and masked with the ring size.
#[repr(C)]
#[derive(Debug)]
pub struct XenconsInterface {
    pub input: [AtomicU8; XENCONS_IN_SIZE],
    pub output: [AtomicU8; XENCONS_OUT_SIZE],
    pub in_cons: AtomicU32,
    pub in_prod: AtomicU32,
    pub out_cons: AtomicU32,
    pub out_prod: AtomicU32,
}
assert_size!(XenconsInterface, 3088);
assert_offset!(XenconsInterface, output, 1024);
assert_offset!(XenconsInterface, in_cons, 3072);
assert_offset!(XenconsInterface, in_prod, 3076);
assert_offset!(XenconsInterface, out_cons, 3080);
assert_offset!(XenconsInterface, out_prod, 3084);

impl XenconsInterface {
    /// A zeroed ring (for host tests and fakes).
    pub fn new() -> Self {
        Self {
            input: [const { AtomicU8::new(0) }; XENCONS_IN_SIZE],
            output: [const { AtomicU8::new(0) }; XENCONS_OUT_SIZE],
            in_cons: AtomicU32::new(0),
            in_prod: AtomicU32::new(0),
            out_cons: AtomicU32::new(0),
            out_prod: AtomicU32::new(0),
        }
    }
}

impl Default for XenconsInterface {
    fn default() -> Self {
        Self::new()
    }
}
