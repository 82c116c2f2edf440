//! What wakes the I/O thread out of `poll` besides its socket: an eventfd that callers
//! write to, and a timer they arm.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Wakes the connection's I/O thread. Writing is cheap and never blocks: the eventfd
/// counter saturates long before it could, and the I/O thread drains it on every wake-up.
pub(crate) struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; a negative return is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by eventfd, is valid and owned by nobody else.
        Ok(Waker {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Makes the next (or current) poll on [`Waker::fd`] return.
    pub(crate) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd. EAGAIN (counter
        // full) means a wake-up is already pending, so the result can be ignored.
        unsafe {
            libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    /// Clears pending wake-ups; called by the I/O thread after poll returns.
    pub(crate) fn drain(&self) {
        drain_counter(&self.fd);
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A timerfd in the I/O thread's poll set: callers arm it to have the I/O thread wake at
/// a later time without waking it now (the tail of a batch of large frames is flushed
/// this way, see `direct.rs`). Arming again moves the deadline; it fires once.
pub(crate) struct Timer {
    fd: OwnedFd,
}

impl Timer {
    pub(crate) fn new() -> io::Result<Timer> {
        // SAFETY: timerfd_create takes no pointers; a negative return is checked below.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by timerfd_create, is valid and owned by nobody else.
        Ok(Timer {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Makes the timer fire once, `after` from now (replacing any earlier deadline).
    pub(crate) fn arm(&self, after: std::time::Duration) {
        self.set(libc::timespec {
            tv_sec: after.as_secs() as libc::time_t,
            // A zero it_value would disarm the timer: at least 1 ns.
            tv_nsec: libc::c_long::from(after.subsec_nanos().max(1)),
        });
    }

    fn set(&self, value: libc::timespec) {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        // SAFETY: `spec` is a live, initialised itimerspec; a null old value is allowed.
        // It cannot fail for our own timerfd and a valid spec; if it did, the I/O thread
        // would still flush when it next wakes.
        unsafe {
            libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut());
        }
    }

    /// Clears a fired timer; called by the I/O thread after poll returns.
    pub(crate) fn drain(&self) {
        drain_counter(&self.fd);
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Reads (and so resets) the 8-byte counter of an eventfd or timerfd; nothing to read
/// (EAGAIN) is fine.
fn drain_counter(fd: &OwnedFd) {
    let mut n: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live u64 from a descriptor we own, opened
    // non-blocking.
    unsafe {
        libc::read(fd.as_raw_fd(), (&mut n as *mut u64).cast(), 8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn fired(fd: RawFd, within: Duration) -> bool {
        crate::transport::poll_once(fd, libc::POLLIN, within).unwrap()
    }

    #[test]
    fn timer_fires_once_after_its_deadline_and_rearming_moves_it() {
        let t = Timer::new().unwrap();
        assert!(!fired(t.fd(), Duration::ZERO));
        let start = Instant::now();
        t.arm(Duration::from_millis(20));
        t.arm(Duration::from_millis(60)); // moves the deadline
        assert!(!fired(t.fd(), Duration::from_millis(30)));
        assert!(fired(t.fd(), Duration::from_secs(2)));
        assert!(start.elapsed() >= Duration::from_millis(60));
        t.drain();
        assert!(!fired(t.fd(), Duration::from_millis(30)), "fires only once");
    }

    #[test]
    fn waker_wakes_until_drained() {
        let w = Waker::new().unwrap();
        assert!(!fired(w.fd(), Duration::ZERO));
        w.wake();
        w.wake();
        assert!(fired(w.fd(), Duration::ZERO));
        w.drain();
        assert!(!fired(w.fd(), Duration::ZERO));
    }
}
