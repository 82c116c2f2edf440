//! File-descriptor helpers: waiting with a deadline, and switching to non-blocking mode.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Waits until `fd` is readable (`read`), writable (`write`) or either, or until
/// `deadline` passes, which gives [`Error::Timeout`]. Retries `EINTR`.
///
/// An error or hang-up condition on the descriptor counts as ready: the read or write
/// that follows reports it properly. With neither `read` nor `write` it just sleeps until
/// the deadline.
pub(crate) fn wait_fd(fd: RawFd, read: bool, write: bool, deadline: Instant) -> Result<()> {
    let mut events: libc::c_short = 0;
    if read {
        events |= libc::POLLIN;
    }
    if write {
        events |= libc::POLLOUT;
    }
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout);
        }
        // Round up so that a wait of 0.3 ms does not become a busy loop of poll(0).
        let left = deadline - now;
        let ms = left.as_millis() + u128::from(left.subsec_nanos() % 1_000_000 != 0);
        let timeout = ms.min(libc::c_int::MAX as u128) as libc::c_int;
        let mut pfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: `pfd` is a valid, initialised pollfd that lives across the call, and
        // we pass a count of exactly one. poll does not keep the pointer.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::Io(format!("poll: {e}")));
        }
        if n > 0 {
            if pfd.revents & libc::POLLNVAL != 0 {
                return Err(Error::Io(format!("poll: file descriptor {fd} is not open")));
            }
            return Ok(());
        }
        // n == 0: poll timed out; the loop head decides whether the deadline has passed
        // (poll may wake a little early with a coarse clock).
    }
}

/// One `poll(2)` of one descriptor for `events` (`POLLIN`, `POLLOUT`), at most `timeout`
/// (rounded up to whole milliseconds, so that a short wait does not become a busy loop).
/// Returns whether it is ready; an error or hang-up counts as ready, for the read or
/// write that follows to report. `EINTR` is "not ready yet".
pub(crate) fn poll_once(fd: RawFd, events: libc::c_short, timeout: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    // SAFETY: one live, initialised pollfd and a count of 1; poll keeps no pointer.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    Ok(r > 0)
}

/// Sets `O_NONBLOCK` on a descriptor the caller handed us (for a `TcpStream` we use
/// `set_nonblocking` instead).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: `raw` comes from a BorrowedFd, so it is open for the duration of this
    // call; F_GETFL takes no further argument and touches no memory of ours.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        return Ok(());
    }
    // SAFETY: as above; F_SETFL takes an int of flags, which we pass.
    let r = unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The raw descriptor of anything that has one.
pub(crate) fn raw_fd_of(io: &impl AsFd) -> RawFd {
    io.as_fd().as_raw_fd()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    #[test]
    fn wait_fd_times_out_then_sees_data() {
        let (a, mut b) = UnixStream::pair().unwrap();
        let start = Instant::now();
        let r = wait_fd(
            a.as_raw_fd(),
            true,
            false,
            start + Duration::from_millis(50),
        );
        assert_eq!(r, Err(Error::Timeout));
        assert!(start.elapsed() >= Duration::from_millis(50));
        b.write_all(b"x").unwrap();
        wait_fd(
            a.as_raw_fd(),
            true,
            false,
            Instant::now() + Duration::from_secs(5),
        )
        .unwrap();
        // A socket with room in its buffer is writable at once.
        wait_fd(
            a.as_raw_fd(),
            false,
            true,
            Instant::now() + Duration::from_secs(5),
        )
        .unwrap();
        // A deadline already passed is a timeout even when the fd is ready.
        assert_eq!(
            wait_fd(a.as_raw_fd(), true, true, Instant::now()),
            Err(Error::Timeout)
        );
    }

    #[test]
    fn set_nonblocking_makes_reads_would_block() {
        use std::io::Read;
        let (mut a, _b) = UnixStream::pair().unwrap();
        set_nonblocking(a.as_fd()).unwrap();
        set_nonblocking(a.as_fd()).unwrap(); // idempotent
        let mut buf = [0u8; 4];
        let e = a.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }
}
