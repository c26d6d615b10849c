//! The traits protocol crates need from the hypervisor, so that the same protocol code runs in
//! the guest (implemented by `minios-arch-x86_64` with hypercalls) and on the host (implemented
//! by the fakes under the `test-utils` feature).
#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

use xen_abi::consts::errno;

#[cfg(feature = "test-utils")]
pub mod fake;

/// An event-channel port number.
pub type Port = u32;

/// A hypercall failure: the Xen errno it returned (positive, e.g. 22 for EINVAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XenError(pub i32);

impl XenError {
    pub const EPERM: Self = Self(errno::EPERM);
    pub const ENOENT: Self = Self(errno::ENOENT);
    pub const EINVAL: Self = Self(errno::EINVAL);
    pub const ENOSPC: Self = Self(errno::ENOSPC);
    pub const ENOSYS: Self = Self(errno::ENOSYS);
    pub const EOPNOTSUPP: Self = Self(errno::EOPNOTSUPP);

    /// Turns a raw hypercall return value (`>= 0` success, `-errno` failure) into a result.
    pub fn check(ret: i64) -> Result<u64, XenError> {
        if ret >= 0 {
            Ok(ret as u64)
        } else if ret >= -(i32::MAX as i64) {
            Err(XenError((-ret) as i32))
        } else {
            Err(XenError(i32::MAX))
        }
    }

    /// The symbolic name of the errno, if it is one Xen defines that we know.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            errno::EPERM => "EPERM",
            errno::ENOENT => "ENOENT",
            errno::ESRCH => "ESRCH",
            errno::EINTR => "EINTR",
            errno::EIO => "EIO",
            errno::ENXIO => "ENXIO",
            errno::E2BIG => "E2BIG",
            errno::EAGAIN => "EAGAIN",
            errno::ENOMEM => "ENOMEM",
            errno::EACCES => "EACCES",
            errno::EFAULT => "EFAULT",
            errno::EBUSY => "EBUSY",
            errno::EEXIST => "EEXIST",
            errno::ENODEV => "ENODEV",
            errno::EINVAL => "EINVAL",
            errno::ENOSPC => "ENOSPC",
            errno::ENOSYS => "ENOSYS",
            errno::EOPNOTSUPP => "EOPNOTSUPP",
            _ => return None,
        })
    }
}

impl fmt::Display for XenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "Xen error {n} (-{})", self.0),
            None => write!(f, "Xen error -{}", self.0),
        }
    }
}

impl core::error::Error for XenError {}

/// Sending on event channels.
pub trait EventChannelOps {
    /// `EVTCHNOP_send`: raise the event on the remote end of `port`.
    fn send(&self, port: Port) -> Result<(), XenError>;
}

/// Giving the CPU back to the hypervisor.
pub trait SchedOps {
    /// `SCHEDOP_yield`: let other vCPUs run (used while waiting for a peer to make progress).
    fn yield_now(&self);
}

/// The `console_io` hypercall (visible only on debug builds of Xen, or with
/// `guest_loglvl=all`; a release Xen answers `EPERM`).
pub trait ConsoleIo {
    fn console_write(&self, bytes: &[u8]) -> Result<(), XenError>;
}

impl<T: EventChannelOps + ?Sized> EventChannelOps for &T {
    fn send(&self, port: Port) -> Result<(), XenError> {
        (**self).send(port)
    }
}

impl<T: SchedOps + ?Sized> SchedOps for &T {
    fn yield_now(&self) {
        (**self).yield_now()
    }
}

impl<T: ConsoleIo + ?Sized> ConsoleIo for &T {
    fn console_write(&self, bytes: &[u8]) -> Result<(), XenError> {
        (**self).console_write(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_maps_negative_errno() {
        assert_eq!(XenError::check(0), Ok(0));
        assert_eq!(XenError::check(7), Ok(7));
        assert_eq!(XenError::check(-22), Err(XenError::EINVAL));
        assert_eq!(XenError::check(i64::MIN), Err(XenError(i32::MAX)));
    }

    #[test]
    fn display_names_known_errnos() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(XenError::ENOSYS.to_string(), "Xen error ENOSYS (-38)");
        assert_eq!(XenError(999).to_string(), "Xen error -999");
    }
}
