//! The write side of a link: wire bytes waiting for the socket, the gate, and the rules
//! that decide who writes them (the I/O thread, a caller writing through, a caller
//! owning the socket for a large frame, a leader). No system call is made here but the
//! write-through `send`; the session's `send.rs`, `direct.rs`, `leader.rs` and the
//! I/O thread act on what these rules decide.
//!
//! Callers encode straight into the outbox under its lock. The I/O thread takes the
//! whole buffer at once (by swapping buffers) and writes it in as few syscalls as the
//! socket allows. When the I/O thread sleeps and the socket is plain TCP, a caller
//! about to wait for an answer (or one sending a large frame, or the first few frames
//! of a burst) writes the bytes itself, saving a wake-up and a context switch.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::frame::FrameWriter;
use crate::transport::{socket, Framing};

use super::debug;

/// Bytes callers may queue ahead of the socket before `send` waits (send timeout). Small
/// enough to keep memory flat, large enough that a publisher on one core fills a whole
/// scheduler time slice before it has to yield to the I/O thread.
pub(crate) const OUTBOX_HIGH_WATER: usize = 256 << 10;

/// A body this large goes out from the caller's thread whenever the I/O thread sleeps.
pub(crate) const LARGE_FRAME: usize = 16 << 10;

/// A large frame sent this soon after the previous one is part of a burst.
pub(crate) const BURST_GAP: Duration = Duration::from_micros(100);

/// A burst's frames are written in batches of at most this many bytes (unless a frame
/// is larger by itself).
///
/// At most, not about: with the batch written by the frame that would take it past
/// 1 MiB, writes were 1 MiB plus a frame, and publishing cost 12-20% more CPU time than
/// with writes just under 1 MiB (perf stat task-clock, medians of 11 interleaved runs,
/// 5 000 x 64 KiB over tcp: 77.7 against 68.1 ms, 66 against 76 k/s; 20 000 x 16 KiB:
/// 79.5 against 64.5 ms; ws 75.7 against 74.2 ms). 768 KiB and 2 MiB were slower too.
pub(crate) const BATCH: usize = 1 << 20;

/// How long after the last frame of a burst the flush timer has the I/O thread write
/// what is left in the outbox. Each deferred frame moves the deadline, at most every
/// half of it, so that a running burst is never interrupted: not even while a batch is
/// written, which takes longer than 200 µs for 1 MiB. So the timer stays armed across
/// the batches of a burst, and fires once, after it (for nothing when the last frame
/// wrote the batch).
///
/// Why not shorter: setting a timer that expires before the kernel's next tick
/// reprograms the CPU's timer, and on a virtual machine that is an exit to the
/// hypervisor. `timerfd_settime` costs 5.8-7.7 µs for a 200 µs deadline here, 2.0-2.2 µs
/// for 1 ms and 0.6-0.7 µs beyond the 4 ms tick. With 200 µs the timer was armed and
/// disarmed for every batch: 640 calls, about 3 ms of CPU time, per 5 000 x 64 KiB
/// published in 80 ms; now about 120 calls.
pub(crate) const FLUSH_DELAY: Duration = Duration::from_millis(1);

/// Where a large frame goes; see `Session::route_large`.
pub(crate) enum Route {
    /// Into the outbox, to be written with the next frames of its burst (or by the I/O
    /// thread when the flush timer fires first).
    Defer,
    /// To the socket, from the caller's thread, with what waits in the outbox first.
    Direct(RawFd),
    /// Into the outbox, for the I/O thread, like a small frame.
    Queue,
}

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
    /// The write side of a new link: `framing` writes, `direct_fd` is the socket when
    /// callers may write to it themselves (plain TCP), `version` is what frames are
    /// encoded for.
    pub(crate) fn new(
        framing: Framing,
        direct_fd: Option<RawFd>,
        version: crate::frame::Version,
    ) -> Outbox {
        Outbox {
            buf: Vec::new(),
            scratch: Vec::new(),
            io_writing: false,
            flush_at: None,
            last_large: None,
            writer_busy: false,
            stalled: false,
            wrote_at: None,
            direct_buf: Vec::new(),
            framing,
            direct_fd,
            io_polls_socket: true,
            leader: false,
            window_until: None,
            through_streak: 0,
            followers: 0,
            served: false,
            gate: Gate::Open,
            epoch: 1,
            version,
            line: std::collections::VecDeque::new(),
            next_ticket: 0,
            io_sleeping: false,
            space_waiters: 0,
        }
    }

    /// Joins the line of callers waiting for the next link; returns the ticket.
    pub(crate) fn join_line(&mut self) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.line.push_back(ticket);
        ticket
    }

    /// Whether the caller with `ticket` must go on waiting: the link is down, or it is
    /// up and callers that came before are still in line.
    pub(crate) fn waits_in_line(&self, ticket: u64) -> bool {
        self.gate == Gate::Down || (self.gate.is_open() && self.line.front() != Some(&ticket))
    }

    /// Leaves the line (done waiting, or gave up).
    pub(crate) fn leave_line(&mut self, ticket: u64) {
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
pub(crate) const BURST: u32 = 4;

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
