//! The PV console.
//!
//! [`Console`] writes into the output half of the console ring page (io/console.h) and
//! notifies xenconsoled over the console event channel, so that `xl console` shows the text;
//! it reads the input half. [`EarlyConsole`] writes through the `console_io` hypercall, which
//! only a debug Xen (or `guest_loglvl=all`) shows: it is for the first instructions of boot,
//! before the ring is found.
#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

use xen_abi::console::XenconsInterface;
use xen_hal::{ConsoleIo, EventChannelOps, Port, SchedOps, XenError};
use xen_ring::{ByteRing, RingError};

/// How many times a writer yields waiting for xenconsoled to drain a full ring before it
/// gives up on the rest of a write (and counts the bytes as dropped). Output must never hang
/// the guest: a dom0 without xenconsoled would otherwise stop it for good.
pub const MAX_FULL_RING_YIELDS: u32 = 10_000;

/// Why console I/O failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleError {
    /// The ring indices are corrupt (xenconsoled is buggy or hostile).
    Ring(RingError),
    /// Notifying xenconsoled failed.
    Notify(XenError),
    /// The ring stayed full for [`MAX_FULL_RING_YIELDS`] yields.
    Stalled,
}

impl fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsoleError::Ring(e) => write!(f, "console ring: {e}"),
            ConsoleError::Notify(e) => write!(f, "console notify: {e}"),
            ConsoleError::Stalled => f.write_str("console ring full: xenconsoled is not reading"),
        }
    }
}

impl core::error::Error for ConsoleError {}

impl From<RingError> for ConsoleError {
    fn from(e: RingError) -> Self {
        ConsoleError::Ring(e)
    }
}

/// The console ring with its event channel, writing through a hypervisor `H`.
pub struct Console<'a, H> {
    ring: &'a XenconsInterface,
    port: Port,
    hv: H,
    dropped: u64,
    last_error: Option<ConsoleError>,
}

impl<H> fmt::Debug for Console<'_, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console")
            .field("port", &self.port)
            .field("dropped", &self.dropped)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

impl<'a, H: EventChannelOps + SchedOps> Console<'a, H> {
    /// A console over `ring`, notifying xenconsoled on `port`.
    pub fn new(ring: &'a XenconsInterface, port: Port, hv: H) -> Self {
        Self {
            ring,
            port,
            hv,
            dropped: 0,
            last_error: None,
        }
    }

    fn out(&self) -> ByteRing<'a> {
        ByteRing::new(&self.ring.output, &self.ring.out_cons, &self.ring.out_prod)
    }

    fn input(&self) -> ByteRing<'a> {
        ByteRing::new(&self.ring.input, &self.ring.in_cons, &self.ring.in_prod)
    }

    /// Bytes given up on so far (ring stalled or corrupt).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The last error met while writing, if any.
    pub fn last_error(&self) -> Option<ConsoleError> {
        self.last_error
    }

    /// Writes raw bytes (no newline translation), waiting while the ring is full.
    pub fn write_raw(&mut self, mut data: &[u8]) -> Result<(), ConsoleError> {
        let out = self.out();
        let mut yields = 0;
        while !data.is_empty() {
            let n = match out.write(data) {
                Ok(n) => n,
                Err(e) => return self.fail(data.len(), e.into()),
            };
            data = &data[n..];
            if data.is_empty() {
                break;
            }
            // Full: make sure xenconsoled knows there is something to read, then wait.
            if let Err(e) = self.hv.send(self.port) {
                return self.fail(data.len(), ConsoleError::Notify(e));
            }
            if n == 0 {
                yields += 1;
                if yields > MAX_FULL_RING_YIELDS {
                    return self.fail(data.len(), ConsoleError::Stalled);
                }
                self.hv.yield_now();
            }
        }
        self.hv.send(self.port).map_err(ConsoleError::Notify)
    }

    fn fail(&mut self, lost: usize, e: ConsoleError) -> Result<(), ConsoleError> {
        self.dropped += lost as u64;
        self.last_error = Some(e);
        Err(e)
    }

    /// Writes text, turning `\n` into `\r\n` as a terminal expects.
    pub fn write_text(&mut self, s: &str) -> Result<(), ConsoleError> {
        let mut rest = s.as_bytes();
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            self.write_raw(&rest[..i])?;
            self.write_raw(b"\r\n")?;
            rest = &rest[i + 1..];
        }
        if !rest.is_empty() {
            self.write_raw(rest)?;
        }
        Ok(())
    }

    /// Waits (yielding, bounded) until xenconsoled has consumed everything written, so that
    /// nothing is lost when the domain shuts down right after.
    pub fn flush(&mut self) -> Result<(), ConsoleError> {
        let out = self.out();
        for _ in 0..MAX_FULL_RING_YIELDS {
            if out.pending()? == 0 {
                return Ok(());
            }
            self.hv.send(self.port).map_err(ConsoleError::Notify)?;
            self.hv.yield_now();
        }
        Err(ConsoleError::Stalled)
    }

    /// Reads available input (dom0 to guest) into `buf`; returns the number of bytes read and
    /// tells xenconsoled the space is free again.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, ConsoleError> {
        let n = self.input().read(buf)?;
        if n > 0 {
            self.hv.send(self.port).map_err(ConsoleError::Notify)?;
        }
        Ok(n)
    }
}

impl<H: EventChannelOps + SchedOps> fmt::Write for Console<'_, H> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_text(s).map_err(|_| fmt::Error)
    }
}

/// Output through the `console_io` hypercall, for the first moments of boot.
#[derive(Debug)]
pub struct EarlyConsole<H>(pub H);

impl<H: ConsoleIo> fmt::Write for EarlyConsole<H> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // A release Xen refuses console_io with EPERM: that is expected, not an error worth
        // failing a print for.
        let _ = self.0.console_write(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::fmt::Write;
    use core::sync::atomic::Ordering;
    use std::boxed::Box;
    use std::rc::Rc;
    use std::vec::Vec;
    use xen_abi::console::XENCONS_OUT_SIZE;
    use xen_hal::fake::FakeHypervisor;

    fn leak_ring() -> &'static XenconsInterface {
        Box::leak(Box::new(XenconsInterface::new()))
    }

    /// Plays xenconsoled: drains the output ring.
    fn drain(ring: &XenconsInterface) -> Vec<u8> {
        let out = ByteRing::new(&ring.output, &ring.out_cons, &ring.out_prod);
        let mut v = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let n = out.read(&mut buf).unwrap();
            if n == 0 {
                return v;
            }
            v.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn writes_translate_newlines_and_notify() {
        let ring = leak_ring();
        let hv = FakeHypervisor::new();
        let mut c = Console::new(ring, 7, &hv);
        write!(c, "hello\nworld {}\n", 42).unwrap();
        assert_eq!(drain(ring), b"hello\r\nworld 42\r\n");
        assert!(!hv.sent.borrow().is_empty());
        assert!(hv.sent.borrow().iter().all(|&p| p == 7));
    }

    #[test]
    fn full_ring_waits_for_the_reader_and_loses_nothing() {
        let ring = leak_ring();
        let hv = FakeHypervisor::new();
        let seen = Rc::new(core::cell::RefCell::new(Vec::new()));
        let s2 = seen.clone();
        hv.set_on_yield(move || s2.borrow_mut().extend(drain(ring)));
        let mut c = Console::new(ring, 1, &hv);
        let text: Vec<u8> = (0..3 * XENCONS_OUT_SIZE)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        c.write_raw(&text).unwrap();
        seen.borrow_mut().extend(drain(ring));
        assert_eq!(*seen.borrow(), text);
        assert!(hv.yields.get() >= 2);
        assert_eq!(c.dropped(), 0);
    }

    #[test]
    fn a_reader_that_never_reads_stalls_with_an_error_not_a_hang() {
        let ring = leak_ring();
        let hv = FakeHypervisor::new();
        let mut c = Console::new(ring, 1, &hv);
        let text = std::vec![b'x'; XENCONS_OUT_SIZE + 10];
        assert_eq!(c.write_raw(&text), Err(ConsoleError::Stalled));
        assert_eq!(c.dropped(), 10);
        assert_eq!(hv.yields.get() as u32, MAX_FULL_RING_YIELDS);
    }

    #[test]
    fn hostile_out_cons_is_an_error() {
        let ring = leak_ring();
        ring.out_cons.store(5000, Ordering::Relaxed);
        let hv = FakeHypervisor::new();
        let mut c = Console::new(ring, 1, &hv);
        assert!(matches!(
            c.write_text("hi"),
            Err(ConsoleError::Ring(RingError::Corrupt { .. }))
        ));
        assert_eq!(c.dropped(), 2);
    }

    #[test]
    fn flush_waits_until_consumed() {
        let ring = leak_ring();
        let hv = FakeHypervisor::new();
        hv.set_on_yield(move || {
            drain(ring);
        });
        let mut c = Console::new(ring, 1, &hv);
        c.write_text("bye\n").unwrap();
        c.flush().unwrap();
        assert_eq!(ring.out_cons.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn reads_input() {
        let ring = leak_ring();
        let inp = ByteRing::new(&ring.input, &ring.in_cons, &ring.in_prod);
        inp.write(b"ls\r").unwrap();
        let hv = FakeHypervisor::new();
        let mut c = Console::new(ring, 3, &hv);
        let mut buf = [0u8; 8];
        assert_eq!(c.read(&mut buf), Ok(3));
        assert_eq!(&buf[..3], b"ls\r");
        assert_eq!(c.read(&mut buf), Ok(0));
    }

    #[test]
    fn notify_failure_is_reported() {
        let ring = leak_ring();
        let hv = FakeHypervisor::new();
        hv.send_error.set(Some(XenError::EINVAL));
        let mut c = Console::new(ring, 1, &hv);
        assert_eq!(
            c.write_text("x"),
            Err(ConsoleError::Notify(XenError::EINVAL))
        );
    }
}
