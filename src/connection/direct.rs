//! A caller that owns the socket's write side while it writes large frames.
//!
//! When the socket is plain TCP and the I/O thread has nothing of its own to write, a
//! caller with a large frame writes it itself and waits in `poll` while the socket is
//! full, as the blocking write of a single-threaded client does: straight from the
//! caller's body with `sendmsg` on raw framing, after the one masking copy on WebSocket.
//! Handed to the I/O thread instead, every large frame would cost a copy and, once the
//! socket buffer is full, a wake-up and a context switch. Which frames go this way, and
//! how a burst is batched, is the outbox's rule (`Outbox::route_large`); this file makes
//! the write.
//!
//! Frames a burst left in the outbox go out when the caller next waits for anything
//! from the connection (`Outbox::before_wait`), or else when the flush timer fires
//! through the I/O thread.
//!
//! While a caller writes, the outbox's `writer_busy` keeps everybody else off the write
//! side: other large frames wait for it, small ones queue behind it (write-through is
//! off), the I/O thread neither takes the outbox nor writes, and it closes the socket
//! only after the writer let go. The writer hands what queued up behind it on when it
//! is done.

use std::io;
use std::os::fd::RawFd;
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::frame::FrameWriter;
use crate::transport::{poll_once, socket};

use super::outbox::{Outbox, Written};
use super::session::Session;
use super::sync::lock;

/// How long a writer waits for room before it looks whether the session still runs.
const WRITER_SLICE: Duration = Duration::from_millis(10);

impl Session {
    /// Waits until nobody else writes to the socket (the I/O thread finishing its batch,
    /// another direct writer), at most the send timeout, or until bytes queue in the
    /// outbox meanwhile (the frame then goes behind them). [`Outbox::claim`] then tells
    /// whether the write side is free.
    pub(crate) fn claim_write_side<'a>(
        &'a self,
        ob: MutexGuard<'a, Outbox>,
    ) -> MutexGuard<'a, Outbox> {
        if ob.write_side_taken() {
            return self.wait_for_space(ob, |ob| ob.write_side_taken()).0;
        }
        ob
    }

    /// Encodes one frame and writes it to `fd` from the caller's thread, everything queued
    /// before it first. Called with the outbox locked, after [`Outbox::claim`] gave
    /// `fd`. Returns once the frame is on the socket, or, when the socket stays full for
    /// the send timeout, once the rest of it is queued for the I/O thread.
    pub(crate) fn send_direct(
        &self,
        mut guard: MutexGuard<'_, Outbox>,
        fd: RawFd,
        headers: impl FnOnce(&mut FrameWriter<'_>),
        command: &str,
        body: &[u8],
    ) -> Result<()> {
        let mut direct = guard.begin_direct(command, headers, body, self.settings.debug.is_some());
        drop(guard);
        if direct.notify {
            self.link.space.notify_all();
        }
        let parts: &[&[u8]] = if direct.raw {
            &[&direct.pending, &direct.wire, body, b"\0"]
        } else {
            &[&direct.pending, &direct.wire]
        };
        let written = self.write_parts(fd, parts, Instant::now() + self.settings.send_timeout);
        let line = direct.line.take();
        let end = lock(&self.link.outbox).end_direct(Instant::now(), direct, written, socket::send);
        if end.notify {
            self.link.space.notify_all();
        }
        if end.wake {
            self.link.waker.wake();
        }
        if let (Some(d), Some(line)) = (&self.settings.debug, line) {
            d(&line);
        }
        if end.sent {
            Ok(())
        } else {
            Err(self.disconnected())
        }
    }

    /// Writes `parts` in order to the socket `fd`, with sends that do not wait and, in
    /// between, waits for room in slices until `deadline`.
    fn write_parts(&self, fd: RawFd, parts: &[&[u8]], deadline: Instant) -> Written {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut done = 0;
        while done < total {
            match send_parts(fd, parts, done) {
                Ok(n) => {
                    done += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Written::Failed,
            }
            loop {
                if !self.is_connected() {
                    return Written::Failed;
                }
                let now = Instant::now();
                if now >= deadline {
                    return Written::Rest(rest_of(parts, done));
                }
                match poll_once(fd, libc::POLLOUT, (deadline - now).min(WRITER_SLICE)) {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(_) => return Written::Failed,
                }
            }
        }
        Written::All
    }

    /// Called by the I/O thread before it closes the socket: waits until no caller
    /// writes to it. A writer notices the ended session within one slice.
    pub(crate) fn wait_for_writer(&self) {
        let mut ob = lock(&self.link.outbox);
        ob.wait_for_space();
        while ob.writer_busy() {
            ob = self
                .link
                .space
                .wait_timeout(ob, WRITER_SLICE)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        ob.done_waiting();
    }
}

/// One `sendmsg` of `parts` from byte `skip` on, which does not wait.
fn send_parts(fd: RawFd, parts: &[&[u8]], mut skip: usize) -> io::Result<usize> {
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 4];
    let mut count = 0;
    for part in parts {
        if skip >= part.len() {
            skip -= part.len();
            continue;
        }
        let rest = &part[skip..];
        skip = 0;
        if count == iov.len() {
            break;
        }
        iov[count] = libc::iovec {
            iov_base: rest.as_ptr() as *mut libc::c_void,
            iov_len: rest.len(),
        };
        count += 1;
    }
    // SAFETY: the first `count` entries of `iov` describe live slices of `parts`, which
    // outlive the call; the caller keeps `fd` open.
    match unsafe { socket::send_vectored(fd, &mut iov[..count]) }? {
        0 => Err(io::ErrorKind::WriteZero.into()),
        n => Ok(n),
    }
}

/// The bytes of `parts` from `done` on, in one buffer.
fn rest_of(parts: &[&[u8]], mut done: usize) -> Vec<u8> {
    let mut rest = Vec::new();
    for part in parts {
        let skip = done.min(part.len());
        done -= skip;
        rest.extend_from_slice(&part[skip..]);
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_of_skips_whole_and_partial_parts() {
        let parts: &[&[u8]] = &[b"ab", b"", b"cde", b"f"];
        assert_eq!(rest_of(parts, 0), b"abcdef");
        assert_eq!(rest_of(parts, 3), b"def");
        assert_eq!(rest_of(parts, 5), b"f");
        assert_eq!(rest_of(parts, 6), b"");
    }

    #[test]
    fn send_parts_sends_in_order_from_an_offset() {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let parts: &[&[u8]] = &[b"", b"head:", b"body", b"\0"];
        let n = send_parts(a.as_raw_fd(), parts, 2).unwrap();
        assert_eq!(n, 8);
        let mut got = [0u8; 8];
        b.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ad:body\0");
    }
}
