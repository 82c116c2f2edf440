//! The write path: wire bytes waiting for the socket, and how a frame gets there.
//!
//! Callers encode straight into the outbox under its lock. The I/O thread takes the
//! whole buffer at once (by swapping buffers) and writes it in as few syscalls as the
//! socket allows. When the I/O thread sleeps and the socket is plain TCP, a caller
//! about to wait for an answer (or one sending a large frame, or the first few frames
//! of a burst) writes the bytes itself, saving a wake-up and a context switch.

use std::sync::MutexGuard;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::frame::FrameWriter;
use crate::transport::{socket, Framing};

use super::direct::{Route, FLUSH_DELAY, LARGE_FRAME};
use super::{debug, lock, Shared};

/// Bytes callers may queue ahead of the socket before `send` waits (send timeout). Small
/// enough to keep memory flat, large enough that a publisher on one core fills a whole
/// scheduler time slice before it has to yield to the I/O thread.
pub(crate) const OUTBOX_HIGH_WATER: usize = 256 << 10;

/// Wire bytes waiting for the socket, and the writer half of the framing.
pub(crate) struct Outbox {
    pub(crate) buf: Vec<u8>,
    pub(crate) scratch: Vec<u8>,
    pub(crate) framing: Framing,
    /// Whether frames are accepted, for which link.
    pub(crate) gate: Gate,
    /// The link (see `Shared::live_epoch`) the bytes in here are for.
    pub(crate) epoch: u64,
    /// The STOMP version of that link, which encoding follows.
    pub(crate) version: crate::frame::Version,
    /// Callers waiting for the next link, by ticket in call order: once it is up they
    /// go on one at a time, front first, so their frames leave in call order
    /// (reconnect rule 5).
    pub(crate) line: std::collections::VecDeque<u64>,
    /// The next ticket for `line`.
    pub(crate) next_ticket: u64,
    /// The I/O thread is in (or about to enter) poll and must be woken for new bytes.
    pub(crate) io_sleeping: bool,
    /// Threads waiting on `outbox_space`: callers in `send` for the buffer to drain or
    /// for the write side, the I/O thread for a direct writer to let go.
    pub(crate) space_waiters: usize,
    /// The socket, for callers to write to (and lead on) themselves while the I/O
    /// thread sleeps (plain TCP only: a TLS stream has state only its owner may touch).
    pub(crate) direct_fd: Option<std::os::fd::RawFd>,
    /// The sleeping I/O thread watches the socket (so no caller may lead).
    pub(crate) io_polls_socket: bool,
    /// A caller reads the socket for its receipt (see `leader.rs`).
    pub(crate) leader: bool,
    /// Until then the I/O thread leaves the socket to leaders.
    pub(crate) window_until: Option<Instant>,
    /// The I/O thread has bytes of its own to write (a batch it took from here, replies):
    /// no caller may write directly until they are out.
    pub(crate) io_writing: bool,
    /// When the flush timer, armed for frames left in here (`direct.rs`), fires; `None`
    /// once it did.
    pub(crate) flush_at: Option<Instant>,
    /// When the last large frame was sent, or its direct write ended: the next one
    /// within a moment makes a burst.
    pub(crate) last_large: Option<Instant>,
    /// A caller writes a large frame to the socket itself, outside this lock (see
    /// `direct.rs`): nobody else writes until it lets go.
    pub(crate) writer_busy: bool,
    /// A direct write gave up with the socket full after the send timeout and left the
    /// rest of its frame in here. Until the I/O thread has written all of it, large
    /// frames queue like small ones (and wait for room, and time out): a direct writer
    /// would take that rest back and leave a larger one, and the outbox would grow
    /// without bound while every send seemed to succeed.
    pub(crate) stalled: bool,
    /// When a caller last wrote to the socket itself: the I/O thread's heart-beat clock
    /// counts it.
    pub(crate) wrote_at: Option<Instant>,
    /// That caller's buffer for the masked copy of a WebSocket frame, kept between frames.
    pub(crate) direct_buf: Vec<u8>,
    /// Plain sends written through since a caller last waited: past a few, a burst is
    /// under way and is left to the I/O thread to write in large batches.
    pub(crate) through_streak: u32,
    /// Callers waiting without leading: while there are any (and no leader), the I/O
    /// thread must watch the socket for them.
    pub(crate) followers: usize,
    /// A waiter was just handed its answer. The followers counted may be exactly the
    /// ones served, not yet back to deregister: the next sleep ignores them.
    pub(crate) served: bool,
}

/// Whether the outbox takes frames. One state, since each excludes the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Frames are accepted for the live link.
    Open,
    /// The link was lost and the I/O thread is making a new one: callers that must send
    /// wait for it, at most the send timeout (API.md, reconnect rule 7).
    Down,
    /// No frame is accepted any more: DISCONNECT is queued, or the session ended.
    Closed,
    /// Closed, and the I/O thread should flush what is queued and close the socket.
    Shutdown,
}

impl Gate {
    /// Frames are accepted.
    pub(crate) fn is_open(self) -> bool {
        self == Gate::Open
    }

    /// Closes for good, keeping a shutdown already asked for.
    pub(crate) fn close(&mut self) {
        if *self != Gate::Shutdown {
            *self = Gate::Closed;
        }
    }
}

impl Outbox {
    /// Joins the line of callers waiting for the next link; returns the ticket.
    fn join_line(&mut self) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.line.push_back(ticket);
        ticket
    }

    /// Whether the caller with `ticket` must go on waiting: the link is down, or it is
    /// up and callers that came before are still in line.
    fn waits_in_line(&self, ticket: u64) -> bool {
        self.gate == Gate::Down || (self.gate.is_open() && self.line.front() != Some(&ticket))
    }

    /// Leaves the line (done waiting, or gave up).
    fn leave_line(&mut self, ticket: u64) {
        self.line.retain(|&t| t != ticket);
    }

    /// Encodes a frame's command and headers, up to and with the blank line, into
    /// `scratch` (for a caller that puts the body on the wire itself).
    pub(crate) fn encode_head(
        &mut self,
        command: &str,
        version: crate::frame::Version,
        headers: impl FnOnce(&mut FrameWriter<'_>),
    ) {
        self.scratch.clear();
        let mut w = FrameWriter::new(&mut self.scratch, command, version);
        headers(&mut w);
        w.finish_head();
    }
}

/// The debug line of a frame given as its encoded head and its body.
pub(crate) fn head_and_body_line(head: &[u8], body: &[u8]) -> String {
    let mut whole = Vec::with_capacity(head.len() + body.len() + 1);
    whole.extend_from_slice(head);
    whole.extend_from_slice(body);
    whole.push(0);
    debug::encoded_line(">>>", &whole)
}

/// Plain sends a caller writes itself before the rest of a burst goes to the I/O thread.
const BURST: u32 = 4;

/// Who queues a frame, which decides how it reaches the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// An application thread that goes on. When the I/O thread sleeps its frame is
    /// written at once (a request whose answer will be waited for), except within a
    /// burst of sends with nobody waiting in between: those wait in the outbox for the
    /// I/O thread, so that they leave in a few large writes.
    Caller,
    /// An application thread that will now wait for a receipt: nothing else is coming
    /// from it, so it writes the outbox itself when it can ([`write_through`]).
    Awaiting,
    /// The library's reading side (the I/O thread, or a leader), which must never
    /// wait for the buffer that only the I/O thread drains.
    Internal,
}

/// Writes the outbox to the socket from the caller's thread, when that is safe: the
/// I/O thread sleeps in `poll` (it writes only after clearing `io_sleeping` under the
/// outbox lock, which the caller holds) and the socket is plain TCP. Saves a wake-up and
/// a context switch per frame on a quiet connection (request/response round trips).
/// Returns true when everything was written; otherwise the I/O thread must be woken for
/// the rest.
pub(crate) fn write_through(ob: &mut Outbox) -> bool {
    let Some(fd) = ob.direct_fd else {
        return false;
    };
    if !ob.gate.is_open() || ob.writer_busy {
        return false;
    }
    // The fd belongs to the stream the I/O thread owns and keeps open until it has marked
    // the outbox closed under this lock (checked above).
    let n = match socket::send(fd, &ob.buf) {
        Ok(n) if n > 0 => n,
        _ => return false, // would block, or an error the I/O thread will meet and report
    };
    ob.buf.drain(..n);
    ob.wrote_at = Some(Instant::now());
    ob.buf.is_empty()
}

impl Shared {
    /// Encodes one frame into the outbox and wakes the I/O thread if it sleeps. An
    /// application thread waits (at most the send timeout) while the outbox is over its
    /// high-water mark; see [`Origin`] for the rest.
    pub(crate) fn enqueue_frame(
        &self,
        headers: impl FnOnce(&mut FrameWriter<'_>),
        command: &str,
        body: &[u8],
        mode: Origin,
    ) -> Result<()> {
        self.enqueue_frame_on(None, headers, command, body, mode)
    }

    /// [`Shared::enqueue_frame`] for one link only: with `Some(epoch)`, a frame that
    /// would go out on another link than `epoch` is refused with
    /// [`Error::Disconnected`] (an ack, a commit, a frame that waited for a receipt
    /// registered on that link). During an outage (`Gate::Down`) an application
    /// thread waits for the next link, at most the send timeout.
    pub(crate) fn enqueue_frame_on(
        &self,
        epoch: Option<u64>,
        headers: impl FnOnce(&mut FrameWriter<'_>),
        command: &str,
        body: &[u8],
        mode: Origin,
    ) -> Result<()> {
        let may_wait = mode != Origin::Internal;
        let over = |ob: &Outbox| {
            ob.gate.is_open() && !ob.buf.is_empty() && ob.buf.len() + body.len() > OUTBOX_HIGH_WATER
        };
        let mut guard = lock(&self.outbox);
        if guard.gate == Gate::Down {
            if !may_wait || epoch.is_some() {
                return Err(Error::Disconnected);
            }
            let (g, timed_out) = self.wait_in_line(guard);
            guard = g;
            if timed_out {
                return Err(Error::Timeout);
            }
        }
        if epoch.is_some_and(|e| e != guard.epoch) {
            return Err(Error::Disconnected);
        }
        let mut defer = false;
        if mode != Origin::Internal && body.len() >= LARGE_FRAME && guard.gate.is_open() {
            let (g, route) = self.route_large(guard, body.len(), mode);
            guard = g;
            match route {
                Route::Direct(fd) => return self.send_direct(guard, fd, headers, command, body),
                Route::Defer => defer = true,
                Route::Queue => {}
            }
        }
        if may_wait && !defer && over(&guard) {
            let (g, timed_out) = self.wait_for_space(guard, |ob| over(ob));
            guard = g;
            if timed_out {
                return Err(Error::Timeout);
            }
            if guard.gate == Gate::Down && epoch.is_none() {
                // Lost while waiting for room: wait for the next link (rule 7).
                let (g, timed_out) = self.wait_for_space(guard, |ob| ob.gate == Gate::Down);
                guard = g;
                if timed_out {
                    return Err(Error::Timeout);
                }
            }
        }
        if !guard.gate.is_open() || epoch.is_some_and(|e| e != guard.epoch) {
            return Err(Error::Disconnected);
        }
        let ob = &mut *guard;
        let version = ob.version;
        let debug = self.settings.debug.is_some();
        let line = if ob.framing.is_raw() {
            // Raw framing: encode straight into the outgoing buffer, no copy.
            let start = ob.buf.len();
            let mut w = FrameWriter::new(&mut ob.buf, command, version);
            headers(&mut w);
            w.finish(body);
            debug.then(|| debug::encoded_line(">>>", &ob.buf[start..]))
        } else {
            // WebSocket: the head goes through a small scratch buffer; the body is copied
            // once, masked, straight into the outgoing buffer.
            ob.encode_head(command, version, headers);
            ob.framing
                .write_frame_parts(&mut ob.buf, &[&ob.scratch, body, b"\0"]);
            debug.then(|| head_and_body_line(&ob.scratch, body))
        };
        if defer {
            // The next frame of the burst writes it, or the caller when it next waits
            // (`try_lead`), or the I/O thread when the timer fires first.
            let now = Instant::now();
            if ob.flush_at.map_or(true, |at| at < now + FLUSH_DELAY / 2) {
                self.flush_timer.arm(FLUSH_DELAY);
                ob.flush_at = Some(now + FLUSH_DELAY);
            }
            drop(guard);
            if let (Some(d), Some(line)) = (&self.settings.debug, line) {
                d(&line);
            }
            return Ok(());
        }
        let through = match mode {
            Origin::Awaiting => true,
            // A large frame is worth its own syscall: handing it to the I/O thread
            // costs more than writing it here.
            Origin::Caller => ob.through_streak < BURST || body.len() >= LARGE_FRAME,
            Origin::Internal => false,
        };
        let mut wrote_all = false;
        if ob.io_sleeping && through {
            // Every attempt counts: a full socket buffer must not turn a burst into a
            // failed syscall per send.
            if mode == Origin::Caller {
                ob.through_streak += 1;
            }
            wrote_all = write_through(ob);
        }
        // Behind a caller that writes directly, the frame waits for that caller.
        let wake = ob.io_sleeping && !wrote_all && !ob.writer_busy;
        if wake {
            ob.io_sleeping = false;
        }
        drop(guard);
        if wake {
            self.waker.wake();
        }
        // The hook runs outside the lock: it may be slow and must not stall senders.
        if let (Some(d), Some(line)) = (&self.settings.debug, line) {
            d(&line);
        }
        Ok(())
    }

    /// During an outage: waits for the next link, at most the send timeout, and then for
    /// the callers that began waiting before this one (the guard is returned to the one
    /// whose turn it is, so it queues its frame before the next goes on). Returns the
    /// guard and whether it timed out.
    pub(crate) fn wait_in_line<'a>(
        &'a self,
        mut guard: MutexGuard<'a, Outbox>,
    ) -> (MutexGuard<'a, Outbox>, bool) {
        let ticket = guard.join_line();
        let (mut g, timed_out) = self.wait_for_space(guard, |ob| ob.waits_in_line(ticket));
        g.leave_line(ticket);
        if !g.line.is_empty() {
            // The next in line may go on once this one let go of the lock.
            self.outbox_space.notify_all();
        }
        (g, timed_out)
    }

    /// Waits on `outbox_space` while `blocked` holds, at most the send timeout; counted
    /// in `space_waiters` meanwhile, so that whoever makes room knows to notify. Returns
    /// the guard and whether it timed out with `blocked` still holding.
    pub(crate) fn wait_for_space<'a>(
        &'a self,
        mut guard: MutexGuard<'a, Outbox>,
        mut blocked: impl FnMut(&mut Outbox) -> bool,
    ) -> (MutexGuard<'a, Outbox>, bool) {
        guard.space_waiters += 1;
        let (mut guard, result) = self
            .outbox_space
            .wait_timeout_while(guard, self.settings.send_timeout, |ob| blocked(ob))
            .unwrap_or_else(|e| e.into_inner());
        guard.space_waiters -= 1;
        (guard, result.timed_out())
    }

    /// Appends wire bytes produced by a leader (pongs, a Close reply) to the outbox.
    pub(crate) fn enqueue_wire(&self, bytes: &[u8]) {
        let mut ob = lock(&self.outbox);
        if !ob.gate.is_open() {
            return;
        }
        ob.buf.extend_from_slice(bytes);
        let wake = ob.io_sleeping && !ob.writer_busy && !write_through(&mut ob);
        if wake {
            ob.io_sleeping = false;
        }
        drop(ob);
        if wake {
            self.waker.wake();
        }
    }

    /// Queues a heart-beat in the connection's framing (from the I/O thread's timer).
    pub(crate) fn enqueue_heartbeat(&self) {
        let mut ob = lock(&self.outbox);
        let ob = &mut *ob;
        if ob.gate.is_open() {
            ob.framing.write_heartbeat(&mut ob.buf);
        }
    }
}
