//! The three ABIs' guest-side cores, over the atomics of memory shared with Xen.
//!
//! [`crate::EventChannels`] uses them with the 64-bit layout. The 2-level and 3-level cores are
//! generic over the word width ([`crate::words::Words`]) so that the reference's 32-bit test
//! vectors run on the host too; the guest itself is 64-bit only.

pub mod fifo;
pub mod three_level;
pub mod two_level;
