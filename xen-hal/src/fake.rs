//! A fake hypervisor for host tests: records what protocol code asks of Xen, and lets a test
//! play the other end (e.g. xenconsoled draining a ring) whenever the code under test yields.

extern crate std;

use core::cell::{Cell, RefCell};
use std::boxed::Box;
use std::vec::Vec;

use crate::{ConsoleIo, EventChannelOps, Port, SchedOps, XenError};

/// Records sends and yields; runs `on_yield` on every yield.
#[derive(Default)]
pub struct FakeHypervisor {
    /// Every port passed to `send`, in order.
    pub sent: RefCell<Vec<Port>>,
    /// Number of `yield_now` calls.
    pub yields: Cell<usize>,
    /// Bytes written through `console_write`.
    pub console_io: RefCell<Vec<u8>>,
    /// When set, `send` fails with this error.
    pub send_error: Cell<Option<XenError>>,
    on_yield: RefCell<Option<Box<dyn FnMut()>>>,
}

impl core::fmt::Debug for FakeHypervisor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FakeHypervisor")
            .field("sent", &self.sent)
            .field("yields", &self.yields)
            .finish_non_exhaustive()
    }
}

impl FakeHypervisor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` each time the code under test yields (plays the peer).
    pub fn set_on_yield(&self, f: impl FnMut() + 'static) {
        *self.on_yield.borrow_mut() = Some(Box::new(f));
    }
}

impl EventChannelOps for FakeHypervisor {
    fn send(&self, port: Port) -> Result<(), XenError> {
        if let Some(e) = self.send_error.get() {
            return Err(e);
        }
        self.sent.borrow_mut().push(port);
        Ok(())
    }
}

impl SchedOps for FakeHypervisor {
    fn yield_now(&self) {
        self.yields.set(self.yields.get() + 1);
        if let Some(f) = self.on_yield.borrow_mut().as_mut() {
            f();
        }
    }
}

impl ConsoleIo for FakeHypervisor {
    fn console_write(&self, bytes: &[u8]) -> Result<(), XenError> {
        self.console_io.borrow_mut().extend_from_slice(bytes);
        Ok(())
    }
}
