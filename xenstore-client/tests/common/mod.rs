//! Shared set-up: a fake xenstored and a client over the same ring page.
#![allow(dead_code)]

use xenstore_client::fake::FakeXenstored;
use xenstore_client::Xenstore;

pub type Client = Xenstore<&'static FakeXenstored>;

/// One millisecond of virtual time.
pub const MS: u64 = 1_000_000;

/// A fake (leaked, so that the client can borrow it for `'static`) and a client on it.
pub fn setup() -> (&'static FakeXenstored, Client) {
    let fake: &'static FakeXenstored = Box::leak(Box::new(FakeXenstored::new()));
    let xs = Xenstore::new(fake.ring(), fake);
    (fake, xs)
}

/// Types of the requests the fake has seen.
pub fn request_types(fake: &FakeXenstored) -> Vec<u32> {
    fake.requests().iter().map(|h| h.ty).collect()
}
