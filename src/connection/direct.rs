//! A caller that owns the socket's write side while it writes large frames.
//!
//! Handed to the I/O thread, a large frame costs a copy into the outbox and, once the
//! socket buffer is full, a wake-up and a context switch between the caller and the I/O
//! thread for about every frame: on one core that halves a publisher's throughput. So
//! when the socket is plain TCP and the I/O thread has nothing of its own to write
//! (`io_writing`), a caller with a large frame writes it itself and waits in `poll`
//! while the socket is full, as the blocking write of a single-threaded client does:
//! straight from the caller's body with `sendmsg` on raw framing, after the one masking
//! copy on WebSocket. A large frame that finds the I/O thread finishing a batch waits
//! for it rather than queue behind it, so that a stream of large frames stays with the
//! caller.
//!
//! Within a burst (large frames less than [`BURST_GAP`] apart) frames are batched: they
//! are encoded into the outbox, and the frame after which another of its size would no
//! longer fit in [`BATCH`] bytes writes them all with one `sendmsg`. Each write wakes
//! the reader on the other end, and on a virtual machine that wake-up costs more than
//! the copy: 512 KiB batches publish 64 KiB frames about 60% faster than one write per
//! frame, and 1 MiB batches (what the benchmark's buffered single-threaded client uses)
//! 6-12% faster again (medians of 7 interleaved runs, tcp and ws); 2 MiB gain nothing
//! more. Frames left over when the
//! caller stops go out when the caller next waits for anything from the connection
//! (`Session::try_lead`), or else when the flush timer fires, at most [`FLUSH_DELAY`]
//! after the last one, through the I/O thread; a frame after a pause, and a frame whose
//! caller will wait for an answer, are never held back.
//!
//! `writer_busy`, under the outbox lock, keeps everybody else off the write side
//! meanwhile: other large frames wait for it, small ones queue behind it (write-through
//! is off), the I/O thread neither takes the outbox nor writes, and it closes the socket
//! only after the writer let go. The writer hands what queued up behind it on when it
//! is done.

use std::io;
use std::os::fd::RawFd;
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::frame::FrameWriter;
use crate::transport::{poll_once, socket};

use super::outbox::{head_and_body_line, write_through, Origin, Outbox, Route, BATCH, BURST_GAP};
use super::session::Session;
use super::sync::lock;

/// How long a writer waits for room before it looks whether the session still runs.
const WRITER_SLICE: Duration = Duration::from_millis(10);

/// A writer's buffer (the masked copy of a WebSocket frame) is kept for the next frame
/// unless a huge frame blew it up.
const KEEP_BUFFER: usize = 4 << 20;

/// How a direct write ended.
enum Written {
    All,
    /// The send timeout passed with the socket full: these bytes (the rest of the frame)
    /// are left for the I/O thread.
    Rest(Vec<u8>),
    /// The socket failed or the session ended.
    Failed,
}

impl Session {
    /// Where a large frame (body of [`LARGE_FRAME`] or more) from an application thread
    /// goes: see the module docs.
    pub(crate) fn route_large<'a>(
        &'a self,
        mut ob: MutexGuard<'a, Outbox>,
        body_len: usize,
        mode: Origin,
    ) -> (MutexGuard<'a, Outbox>, Route) {
        if ob.direct_fd.is_none() || ob.stalled {
            return (ob, Route::Queue);
        }
        let now = Instant::now();
        let burst = ob
            .last_large
            .is_some_and(|t| now.saturating_duration_since(t) < BURST_GAP);
        ob.last_large = Some(now);
        let idle = !ob.io_writing && !ob.writer_busy;
        // This frame joins the batch if the next one, of the same size, still could: the
        // one that could not writes the batch, itself included, within BATCH.
        let fits = ob.buf.len() + 2 * body_len <= BATCH;
        if mode == Origin::Caller && burst && idle && fits {
            return (ob, Route::Defer);
        }
        let (ob, fd) = self.claim_write_side(ob);
        (ob, fd.map_or(Route::Queue, Route::Direct))
    }

    /// Claims the write side once nobody else writes to the socket (the I/O thread
    /// finishing its batch, another direct writer), waiting at most the send timeout.
    /// Gives up at once when bytes queue in the outbox meanwhile: the frame then goes
    /// behind them, through the I/O thread. Returns the socket to write to when claimed
    /// (`writer_busy` is not yet set: [`Session::send_direct`] does that under the same
    /// lock).
    fn claim_write_side<'a>(
        &'a self,
        mut ob: MutexGuard<'a, Outbox>,
    ) -> (MutexGuard<'a, Outbox>, Option<RawFd>) {
        let Some(fd) = ob.direct_fd else {
            return (ob, None);
        };
        let busy = |ob: &Outbox| ob.io_writing || ob.writer_busy;
        if busy(&ob) && ob.buf.is_empty() && ob.gate.is_open() {
            ob = self
                .wait_for_space(ob, |ob| busy(ob) && ob.buf.is_empty() && ob.gate.is_open())
                .0;
        }
        let free = !busy(&ob) && ob.gate.is_open();
        (ob, free.then_some(fd))
    }

    /// Encodes one frame and writes it to `fd` from the caller's thread, everything queued
    /// before it first. Called with the outbox locked after [`Session::claim_write_side`]
    /// gave `fd`.
    /// Returns once the frame is on the socket, or, when the socket stays full for the
    /// send timeout, once the rest of it is queued for the I/O thread.
    pub(crate) fn send_direct(
        &self,
        mut guard: MutexGuard<'_, Outbox>,
        fd: RawFd,
        headers: impl FnOnce(&mut FrameWriter<'_>),
        command: &str,
        body: &[u8],
    ) -> Result<()> {
        let ob = &mut *guard;
        ob.writer_busy = true;
        // Bytes queued before this frame go first; the outbox is free for the others.
        // The flush timer stays armed: the burst goes on, and disarming it for every
        // batch would cost more than its one firing at the end (see FLUSH_DELAY).
        let mut pending = std::mem::take(&mut ob.buf);
        if ob.space_waiters > 0 {
            self.link.space.notify_all();
        }
        ob.encode_head(command, ob.version, headers);
        let mut wire = std::mem::take(&mut ob.direct_buf);
        wire.clear();
        let raw = ob.framing.is_raw();
        if raw {
            wire.extend_from_slice(&ob.scratch);
        } else {
            ob.framing
                .write_frame_parts(&mut wire, &[&ob.scratch, body, b"\0"]);
        }
        let line = (self.settings.debug.is_some()).then(|| head_and_body_line(&ob.scratch, body));
        drop(guard);

        let parts: &[&[u8]] = if raw {
            &[&pending, &wire, body, b"\0"]
        } else {
            &[&pending, &wire]
        };
        let written = self.write_parts(fd, parts, Instant::now() + self.settings.send_timeout);

        let mut ob = lock(&self.link.outbox);
        ob.writer_busy = false;
        let now = Instant::now();
        ob.wrote_at = Some(now);
        // The gap to the next frame counts from here: a caller that sends back to back
        // is still in its burst after writing a whole batch, which takes longer than
        // the gap itself. (Counted from the start, every batch was followed by a frame
        // written alone: twice the syscalls.)
        ob.last_large = Some(now);
        if wire.capacity() <= KEEP_BUFFER {
            ob.direct_buf = wire;
        }
        let result = match written {
            Written::All => Ok(()),
            Written::Rest(rest) => {
                ob.buf.splice(0..0, rest);
                ob.stalled = true;
                Ok(())
            }
            Written::Failed => Err(Error::Disconnected),
        };
        if ob.buf.is_empty() && pending.capacity() <= KEEP_BUFFER {
            pending.clear();
            ob.buf = pending;
        }
        // What others queued meanwhile: written through, or handed to the I/O thread.
        let wake =
            (!ob.buf.is_empty() || result.is_err()) && !(ob.io_sleeping && write_through(&mut ob));
        if wake {
            ob.io_sleeping = false;
        }
        // Senders may wait for the write side, the I/O thread for the writer to let go (to
        // close the socket). Only then: a notify is a syscall even with nobody waiting.
        let notify = ob.space_waiters > 0;
        drop(ob);
        if notify {
            self.link.space.notify_all();
        }
        if wake {
            self.link.waker.wake();
        }
        if let (Some(d), Some(line)) = (&self.settings.debug, line) {
            d(&line);
        }
        result
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
        ob.space_waiters += 1;
        while ob.writer_busy {
            ob = self
                .link
                .space
                .wait_timeout(ob, WRITER_SLICE)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        ob.space_waiters -= 1;
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
