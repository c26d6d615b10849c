//! The kernel console: the PV console ring once boot found it, `console_io` before that.

use core::fmt::{self, Write};

use arch::{Port, Xen};
use console::{Console, EarlyConsole};
use xen_abi::XenconsInterface;

static CONSOLE: spin::Mutex<Option<Console<'static, Xen>>> = spin::Mutex::new(None);
static RING: spin::Once<(&'static XenconsInterface, Port)> = spin::Once::new();

pub(crate) fn init(ring: &'static XenconsInterface, port: Port) {
    RING.call_once(|| (ring, port));
    *CONSOLE.lock() = Some(Console::new(ring, port, Xen));
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut guard = CONSOLE.lock();
    match guard.as_mut() {
        Some(c) => {
            let _ = c.write_fmt(args);
        }
        None => {
            let _ = EarlyConsole(Xen).write_fmt(args);
        }
    }
}

/// Prints from a context that may have interrupted a printer (a panic): never waits for the
/// console lock, and writes through a fresh writer over the same ring if it is held.
pub(crate) fn emergency(args: fmt::Arguments<'_>) {
    if let Some(mut guard) = CONSOLE.try_lock() {
        if let Some(c) = guard.as_mut() {
            let _ = c.write_fmt(args);
            let _ = c.flush();
            return;
        }
    }
    match RING.get().copied().or_else(arch::boot_console) {
        Some((ring, port)) => {
            let mut c = Console::new(ring, port, Xen);
            let _ = c.write_fmt(args);
            let _ = c.flush();
        }
        None => {
            let _ = EarlyConsole(Xen).write_fmt(args);
        }
    }
}

/// Waits (bounded) until xenconsoled has read everything printed.
pub fn flush() {
    if let Some(mut guard) = CONSOLE.try_lock() {
        if let Some(c) = guard.as_mut() {
            let _ = c.flush();
        }
    }
}

/// Prints to the Xen console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::print::_print(format_args!($($arg)*)) };
}

/// Prints a line to the Xen console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::print::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
