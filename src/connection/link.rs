//! The link: one socket's worth of state, reset for each new socket. The outbox (the
//! write side) and the condition variable its waiters sleep on, the read side, the
//! waker and flush timer the I/O thread sleeps on, and the clock of the last data read.
//! The socket itself is the I/O thread's (`io.rs`); the session holds one `Link`.

use std::io::ErrorKind;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::outbox::Outbox;
use super::reader::ReadSide;
use super::waker::{Timer, Waker};

/// The parts of a session that belong to its current socket.
pub(crate) struct Link {
    /// The write side: wire bytes waiting for the socket, and who may write them.
    pub(crate) outbox: Mutex<Outbox>,
    /// Signalled when the outbox has room, the write side is free, or the gate moved.
    pub(crate) space: Condvar,
    /// Wakes the I/O thread from `poll`.
    pub(crate) waker: Waker,
    /// Wakes the I/O thread to flush a batch of large frames a caller left in the outbox.
    pub(crate) flush_timer: Timer,
    /// Framing, decoder and buffers of whoever reads the socket.
    pub(crate) read_side: Mutex<ReadSide>,
    /// A leader met the end of the link (in `read_side.end`).
    pub(crate) leader_ended: AtomicBool,
    /// When the session started, and the last data read, in ns since then.
    started: Instant,
    last_read_ns: AtomicU64,
}

/// What `poll` saw.
pub(crate) struct Woke {
    /// The socket is readable or hung up.
    pub(crate) readable: bool,
    /// The waker fired.
    pub(crate) waker: bool,
    /// The flush timer fired.
    pub(crate) timer: bool,
}

impl Link {
    pub(crate) fn new(
        outbox: Outbox,
        read_side: ReadSide,
        waker: Waker,
        flush_timer: Timer,
    ) -> Link {
        Link {
            outbox: Mutex::new(outbox),
            space: Condvar::new(),
            waker,
            flush_timer,
            read_side: Mutex::new(read_side),
            leader_ended: AtomicBool::new(false),
            started: Instant::now(),
            last_read_ns: AtomicU64::new(0),
        }
    }

    /// Records that data came in at `at` (any byte proves the broker alive). Called
    /// only by whoever holds `read_side`, so a load and a store keep the time from going
    /// back, without the locked read-modify-write that each read would otherwise pay.
    pub(crate) fn saw_data(&self, at: Instant) {
        let ns = at.saturating_duration_since(self.started).as_nanos() as u64;
        if ns > self.last_read_ns.load(Ordering::Relaxed) {
            self.last_read_ns.store(ns, Ordering::Relaxed);
        }
    }

    /// When data last came in (the session's start if never).
    pub(crate) fn last_read(&self) -> Instant {
        self.started + Duration::from_nanos(self.last_read_ns.load(Ordering::Relaxed))
    }

    /// Empties the waker and the flush timer after a sleep that did not look at them.
    pub(crate) fn drain_wakeups(&self) {
        self.waker.drain();
        self.flush_timer.drain();
    }

    /// Waits for the socket (readable; writable when `want_write`), when given, the waker or
    /// the flush timer.
    pub(crate) fn poll(
        &self,
        socket: Option<RawFd>,
        want_write: bool,
        timeout: Option<Duration>,
    ) -> std::io::Result<Woke> {
        let mut events = libc::POLLIN;
        if want_write {
            events |= libc::POLLOUT;
        }
        let mut fds = [
            libc::pollfd {
                // A negative descriptor is ignored by poll: the waker alone.
                fd: socket.unwrap_or(-1),
                events,
                revents: 0,
            },
            libc::pollfd {
                fd: self.waker.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.flush_timer.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = match timeout {
            None => -1,
            // Round up so that we never wake just before a deadline and spin.
            Some(d) => d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32,
        };
        loop {
            // SAFETY: `fds` is a live array of three initialised pollfd structs, and its length
            // is passed along with it.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            if r >= 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let hangup = libc::POLLIN | libc::POLLHUP | libc::POLLERR;
        Ok(Woke {
            readable: fds[0].revents & hangup != 0,
            waker: fds[1].revents & libc::POLLIN != 0,
            timer: fds[2].revents & libc::POLLIN != 0,
        })
    }
}
