//! A plain socket, read and written through its descriptor.
//!
//! Everyone but a leader (`connection/leader.rs`) reads and writes the socket without
//! waiting, with `MSG_DONTWAIT` on each call, and waits in `poll`. A leader that waits
//! for a receipt waits in the read itself: one `recv` that sleeps until data comes, where a
//! non-blocking socket needs a `poll` and then a `recv`. On a request/response round
//! trip that second system call was the largest part of what we cost above a plain
//! blocking client. So the
//! descriptor itself is left in blocking mode, with a receive timeout of
//! [`WAIT_SLICE`] so that a leader's read still comes back to look at its deadline and
//! at the session, and nothing here blocks except a read that asks to.
//!
//! Each call enters the kernel directly (`syscall`) rather than through the C library's
//! `recv`, `send` and the like. Those are cancellation points: in a process with more
//! than one thread they switch the thread's cancellation state around the call, and a
//! consumer paced by its broker, which reads once per message, spent a visible share of
//! its time in user space on that. Nothing here uses thread cancellation.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// How long a waiting read sleeps without data (the socket's `SO_RCVTIMEO`) before it
/// fails with `WouldBlock`. The kernel counts it in clock ticks, rounded up, and ends it
/// on a tick: 8 to 12 ms with 4 ms ticks (HZ=250), never more than [`WAIT_BOUND`].
pub(crate) const WAIT_SLICE: Duration = Duration::from_millis(10);

/// The longest a waiting read takes: [`WAIT_SLICE`] rounded up to whole clock ticks is
/// at most this for any tick of 10 ms (HZ=100) or shorter.
pub(crate) const WAIT_BOUND: Duration = Duration::from_millis(20);

/// Makes `fd` ready for the calls below when it is a socket: blocking mode with a
/// receive timeout of [`WAIT_SLICE`]. Returns false, and leaves the descriptor in the
/// mode it was in, when it is no socket or refuses either setting; it is then used
/// through its `Read` and `Write` in non-blocking mode.
pub(crate) fn adopt(fd: RawFd) -> bool {
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: WAIT_SLICE.as_micros() as libc::suseconds_t,
    };
    // SAFETY: `fd` is open (the caller owns the stream it belongs to); setsockopt reads
    // exactly `size_of::<timeval>()` bytes from a live timeval. A descriptor that is no
    // socket fails with ENOTSOCK and is left alone.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return false;
    }
    // SAFETY: as above; F_GETFL takes no further argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above; F_SETFL takes an int of flags, which we pass.
    flags >= 0 && unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } == 0
}

/// Flags of a call that must not wait. `MSG_NOSIGNAL`: a closed peer is an error, not a
/// SIGPIPE for the host program.
const NO_WAIT: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;

fn recv_flags(wait: bool) -> libc::c_int {
    if wait {
        libc::MSG_NOSIGNAL
    } else {
        NO_WAIT
    }
}

fn result(n: libc::c_long) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// One `recv` into `buf`; with `wait`, it sleeps until data comes or [`WAIT_SLICE`]
/// passes (then `WouldBlock`; see there how long that can be). The caller keeps `fd`
/// open.
pub(crate) fn recv(fd: RawFd, buf: &mut [u8], wait: bool) -> io::Result<usize> {
    let none = std::ptr::null_mut::<libc::c_void>();
    // SAFETY: recvfrom's arguments: `buf` is live and writable for its length, which is
    // passed with it, and there is no address to fill (both pointers null).
    result(unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf.as_mut_ptr(),
            buf.len(),
            recv_flags(wait),
            none,
            none,
        )
    })
}

/// One `recvmsg` into the regions `iov` describes, waiting as [`recv`] does.
///
/// # Safety
/// Every entry of `iov` must describe memory that is live and writable for its length
/// (it may be uninitialised: the kernel only writes it), and `fd` must stay open.
pub(crate) unsafe fn recv_vectored(
    fd: RawFd,
    iov: &mut [libc::iovec],
    wait: bool,
) -> io::Result<usize> {
    // SAFETY: a zeroed msghdr is valid (no name, no control data); it points at `iov`,
    // whose entries the caller vouches for, and which outlives the call.
    result(unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len() as _;
        libc::syscall(
            libc::SYS_recvmsg,
            fd,
            &mut msg as *mut libc::msghdr,
            recv_flags(wait),
        )
    })
}

/// One `send` of `buf` that does not wait. The caller keeps `fd` open.
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    let none = std::ptr::null::<libc::c_void>();
    // SAFETY: sendto's arguments: `buf` is live for its length, which is passed with it,
    // and only read; no address (null, 0).
    result(unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd,
            buf.as_ptr(),
            buf.len(),
            NO_WAIT,
            none,
            0 as libc::socklen_t,
        )
    })
}

/// One `sendmsg` of the regions `iov` describes that does not wait.
///
/// # Safety
/// Every entry of `iov` must describe memory that is live and readable for its length,
/// and `fd` must stay open.
pub(crate) unsafe fn send_vectored(fd: RawFd, iov: &mut [libc::iovec]) -> io::Result<usize> {
    // SAFETY: as in `recv_vectored`; sendmsg only reads through the entries.
    result(unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len() as _;
        libc::syscall(libc::SYS_sendmsg, fd, &msg as *const libc::msghdr, NO_WAIT)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::time::Instant;

    #[test]
    fn a_waiting_read_waits_for_data_and_gives_up_in_bounded_time() {
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        assert!(adopt(a.as_raw_fd()));
        let mut buf = [0u8; 8];
        let e = recv(a.as_raw_fd(), &mut buf, false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);

        // No data: it gives up. (How soon depends on the clock tick; see WAIT_SLICE.)
        let t = Instant::now();
        let e = recv(a.as_raw_fd(), &mut buf, true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

        // Data 2 ms later: it sleeps until then. A read that did not wait would come
        // back empty thousands of times meanwhile; one that waits, at most twice (the
        // first slice may end at a tick that comes early).
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(2));
            b.write_all(b"hi").unwrap();
            b
        });
        let mut empty = 0;
        let n = loop {
            match recv(a.as_raw_fd(), &mut buf, true) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => empty += 1,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(&buf[..n], b"hi");
        assert!(empty <= 2, "{empty} empty waiting reads");
        drop(writer.join().unwrap());
    }

    #[test]
    fn sends_do_not_wait_on_a_full_socket() {
        let (a, _b) = UnixStream::pair().unwrap();
        assert!(adopt(a.as_raw_fd()));
        let chunk = vec![7u8; 64 << 10];
        let t = Instant::now();
        let e = loop {
            match send(a.as_raw_fd(), &chunk) {
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let mut iov = [libc::iovec {
            iov_base: chunk.as_ptr() as *mut libc::c_void,
            iov_len: chunk.len(),
        }];
        // SAFETY: the entry describes `chunk`, live for the call.
        let e = unsafe { send_vectored(a.as_raw_fd(), &mut iov) }.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_descriptor_that_is_no_socket_is_not_adopted() {
        let mut fds = [0; 2];
        // SAFETY: pipe writes two descriptors into the array it is given.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert!(!adopt(fds[0]));
        for fd in fds {
            // SAFETY: both descriptors came from pipe above and are closed once.
            unsafe { libc::close(fd) };
        }
    }
}
