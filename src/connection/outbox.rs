//! The write side of a link: wire bytes waiting for the socket, the gate, and the rules
//! that decide who writes them: the I/O thread, a caller writing through, a caller
//! owning the socket for a large frame, a caller leading the read.
//!
//! [`Outbox`] keeps its state private. Its methods take the events (a caller's frame,
//! a large frame, a caller about to wait, the I/O thread taking a batch or going to
//! sleep, a lost or new link) and return decisions; the system calls stay with the
//! socket: the one write a rule may make at once (writing through) is given the `send`
//! to make it with. The session's `send.rs`, `direct.rs` and `leader.rs` and the I/O
//! thread act on the decisions. So the rules are unit-tested here without a socket.
//!
//! Callers encode straight into the outbox under its lock. The I/O thread takes the
//! whole buffer at once (by swapping buffers) and writes it in as few syscalls as the
//! socket allows. When the I/O thread sleeps and the socket is plain TCP, a caller
//! about to wait for an answer (or one sending a large frame, or the first few frames
//! of a burst) writes the bytes itself, saving a wake-up and a context switch.

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::frame::{FrameWriter, Version};
use crate::transport::Framing;

use super::debug;

/// Bytes callers may queue ahead of the socket before `send` waits (send timeout). Small
/// enough to keep memory flat, large enough that a publisher on one core fills a whole
/// scheduler time slice before it has to yield to the I/O thread.
pub(crate) const OUTBOX_HIGH_WATER: usize = 256 << 10;

/// A body this large goes out from the caller's thread whenever the I/O thread sleeps.
pub(crate) const LARGE_FRAME: usize = 16 << 10;

/// A large frame sent this soon after the previous one is part of a burst.
const BURST_GAP: Duration = Duration::from_micros(100);

/// A burst's frames are written in batches of at most this many bytes (unless a frame
/// is larger by itself). At most, not about: writes of a batch plus one more frame cost
/// measurably more CPU time than writes just under it, and smaller or larger batches
/// were slower (each write wakes the reader on the other end, which on a virtual
/// machine costs more than the copy).
const BATCH: usize = 1 << 20;

/// How long after the last frame of a burst the flush timer has the I/O thread write
/// what is left in the outbox. Each deferred frame moves the deadline, at most every
/// half of it, so that a running burst is never interrupted: not even while a batch is
/// written, which takes longer than a short deadline. So the timer stays armed across
/// the batches of a burst, and fires once, after it (for nothing when the last frame
/// wrote the batch).
///
/// Why not shorter: setting a timer that expires before the kernel's next tick
/// reprograms the CPU's timer, and on a virtual machine that is an exit to the
/// hypervisor; a shorter deadline was armed and disarmed for every batch.
pub(crate) const FLUSH_DELAY: Duration = Duration::from_millis(1);

/// Plain sends a caller writes itself before the rest of a burst goes to the I/O thread.
const BURST: u32 = 4;

/// How long the I/O thread stays off the socket after a RECEIPT, for a leader to come.
pub(crate) const LEADER_WINDOW: Duration = Duration::from_millis(1);

/// How often the I/O thread, off the socket while a caller leads, looks again whether
/// it should watch the socket. A leader that gives the role back wakes it only when
/// followers wait; without any, the I/O thread takes up the socket after this at most.
/// Waking each `LEADER_WINDOW` instead cost a consumer that leads (or waits in a long
/// receive) a thousand wake-ups of the I/O thread a second.
pub(crate) const LEADER_RECHECK: Duration = Duration::from_millis(10);

/// Who queues a frame, which decides how it reaches the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// An application thread that goes on. When the I/O thread sleeps its frame is
    /// written at once (a request whose answer will be waited for), except within a
    /// burst of sends with nobody waiting in between: those wait in the outbox for the
    /// I/O thread, so that they leave in a few large writes.
    Caller,
    /// An application thread that will now wait for a receipt: nothing else is coming
    /// from it, so it writes the outbox itself when it can.
    Awaiting,
    /// The library's reading side (the I/O thread, or a leader), which must never
    /// wait for the buffer that only the I/O thread drains.
    Internal,
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
}

/// Where a large frame from an application thread goes; see [`Outbox::route_large`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Into the outbox, to be written with the next frames of its burst (or by the I/O
    /// thread when the flush timer fires first).
    Defer,
    /// To the socket from the caller's thread, once it has the write side
    /// ([`Outbox::claim`]), with what waits in the outbox first.
    Claim,
    /// Into the outbox, for the I/O thread, like a small frame.
    Queue,
}

/// What a caller about to wait for an answer becomes; see [`Outbox::before_wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// It reads the socket itself, on this descriptor, until its answer came.
    Leader(RawFd),
    /// It waits to be handed its answer, and is counted until it calls
    /// [`Outbox::unfollow`]. `recheck`: the I/O thread may stay off the socket for a
    /// while (a leader reads, or the window is open), so the follower should look again
    /// soon rather than wait for nobody.
    Follower { recheck: bool },
}

/// A large frame a caller writes itself: see [`Outbox::begin_direct`].
pub(crate) struct Direct {
    /// What was queued before the frame: written first.
    pub(crate) pending: Vec<u8>,
    /// On raw framing the frame's head; on WebSocket the whole masked frame.
    pub(crate) wire: Vec<u8>,
    /// Raw framing: the body (and the NUL) are written from the caller's own buffer.
    pub(crate) raw: bool,
    /// The debug hook's line, when asked for.
    pub(crate) line: Option<String>,
    /// Threads wait for room, which taking the queued bytes made.
    pub(crate) notify: bool,
}

/// How a direct write ended.
pub(crate) enum Written {
    All,
    /// The send timeout passed with the socket full: these bytes (the rest of the frame)
    /// are left for the I/O thread.
    Rest(Vec<u8>),
    /// The socket failed or the session ended.
    Failed,
}

/// What [`Outbox::end_direct`] decided.
pub(crate) struct DirectEnd {
    /// The frame is on the socket or queued (false: the link failed under it).
    pub(crate) sent: bool,
    /// The I/O thread must be woken for what is left in the outbox.
    pub(crate) wake: bool,
    /// Threads wait for the write side (senders) or for the writer to let go (the I/O
    /// thread, to close the socket).
    pub(crate) notify: bool,
}

/// A buffer a direct writer keeps for the next frame unless a huge frame blew it up.
const KEEP_BUFFER: usize = 4 << 20;

/// Wire bytes waiting for the socket, and the writer half of the framing.
pub(crate) struct Outbox {
    buf: Vec<u8>,
    scratch: Vec<u8>,
    framing: Framing,
    /// Whether frames are accepted, for which link.
    gate: Gate,
    /// The link (see `Session::live_epoch`) the bytes in here are for.
    epoch: u64,
    /// The STOMP version of that link, which encoding follows.
    version: Version,
    /// Callers waiting for the next link, by ticket in call order: once it is up they
    /// go on one at a time, front first, so their frames leave in call order
    /// (reconnect rule 5).
    line: VecDeque<u64>,
    /// The next ticket for `line`.
    next_ticket: u64,
    /// The I/O thread is in (or about to enter) poll and must be woken for new bytes.
    io_sleeping: bool,
    /// Threads waiting on the link's `space` condition: callers in `send` for the buffer to drain or
    /// for the write side, the I/O thread for a direct writer to let go.
    space_waiters: usize,
    /// The socket, for callers to write to (and lead on) themselves while the I/O
    /// thread sleeps (plain TCP only: a TLS stream has state only its owner may touch).
    direct_fd: Option<RawFd>,
    /// The sleeping I/O thread watches the socket (so no caller may lead).
    io_polls_socket: bool,
    /// A caller reads the socket for its receipt (see `leader.rs`).
    leader: bool,
    /// Until then the I/O thread leaves the socket to leaders.
    window_until: Option<Instant>,
    /// The I/O thread has bytes of its own to write (a batch it took from here, replies):
    /// no caller may write directly until they are out.
    io_writing: bool,
    /// When the flush timer, armed for frames left in here (`direct.rs`), fires; `None`
    /// once it did.
    flush_at: Option<Instant>,
    /// When the last large frame was sent, or its direct write ended: the next one
    /// within a moment makes a burst.
    last_large: Option<Instant>,
    /// A caller writes a large frame to the socket itself, outside this lock (see
    /// `direct.rs`): nobody else writes until it lets go.
    writer_busy: bool,
    /// A direct write gave up with the socket full after the send timeout and left the
    /// rest of its frame in here. Until the I/O thread has written all of it, large
    /// frames queue like small ones (and wait for room, and time out): a direct writer
    /// would take that rest back and leave a larger one, and the outbox would grow
    /// without bound while every send seemed to succeed.
    stalled: bool,
    /// When a caller last wrote to the socket itself: the I/O thread's heart-beat clock
    /// counts it.
    wrote_at: Option<Instant>,
    /// That caller's buffer for the masked copy of a WebSocket frame, kept between frames.
    direct_buf: Vec<u8>,
    /// Plain sends written through since a caller last waited: past a few, a burst is
    /// under way and is left to the I/O thread to write in large batches.
    through_streak: u32,
    /// Callers waiting without leading: while there are any (and no leader), the I/O
    /// thread must watch the socket for them.
    followers: usize,
    /// A waiter was just handed its answer. The followers counted may be exactly the
    /// ones served, not yet back to deregister: the next sleep ignores them.
    served: bool,
}

impl Outbox {
    /// The write side of a first link: `framing` writes, `direct_fd` is the socket when
    /// callers may write to it themselves (plain TCP), `version` is what frames are
    /// encoded for.
    pub(crate) fn new(framing: Framing, direct_fd: Option<RawFd>, version: Version) -> Outbox {
        Outbox {
            buf: Vec::new(),
            scratch: Vec::new(),
            framing,
            gate: Gate::Open,
            epoch: 1,
            version,
            line: VecDeque::new(),
            next_ticket: 0,
            io_sleeping: false,
            space_waiters: 0,
            direct_fd,
            io_polls_socket: true,
            leader: false,
            window_until: None,
            io_writing: false,
            flush_at: None,
            last_large: None,
            writer_busy: false,
            stalled: false,
            wrote_at: None,
            direct_buf: Vec::new(),
            through_streak: 0,
            followers: 0,
            served: false,
        }
    }

    // --- The gate and the link ----------------------------------------------------------

    pub(crate) fn gate(&self) -> Gate {
        self.gate
    }

    /// The link the bytes in here are for.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The link was lost: callers that must send wait for the next one (unless the
    /// gate was closed already), nothing queued is kept, and nobody may write to or
    /// lead on the dead socket.
    pub(crate) fn link_lost(&mut self) {
        if self.gate.is_open() {
            self.gate = Gate::Down;
        }
        self.buf = Vec::new();
        self.direct_fd = None;
    }

    /// A new link, `epoch`: everything about the old socket is forgotten. The gate stays
    /// as it is until [`Outbox::open`], so that what must go first (subscriptions made
    /// again) is queued before any caller's frame. Callers in line keep their places.
    pub(crate) fn new_link(
        &mut self,
        framing: Framing,
        direct_fd: Option<RawFd>,
        version: Version,
        epoch: u64,
    ) {
        self.framing = framing;
        self.direct_fd = direct_fd;
        self.version = version;
        self.epoch = epoch;
        self.buf.clear();
        self.stalled = false;
        self.io_writing = false;
        self.leader = false;
        self.window_until = None;
        self.flush_at = None;
        self.last_large = None;
        self.through_streak = 0;
        self.served = false;
        self.io_sleeping = false;
        self.io_polls_socket = true;
        self.wrote_at = None;
    }

    /// Frames are accepted for the current link.
    pub(crate) fn open(&mut self) {
        self.gate = Gate::Open;
    }

    /// No frame is accepted any more (DISCONNECT is queued), keeping a shutdown already
    /// asked for.
    pub(crate) fn close(&mut self) {
        if self.gate != Gate::Shutdown {
            self.gate = Gate::Closed;
        }
    }

    /// The session ended: closed, and what was queued is dropped.
    pub(crate) fn close_and_clear(&mut self) {
        self.close();
        self.buf = Vec::new();
    }

    /// The client asks the I/O thread to flush what is queued and close the socket. The
    /// first time a WebSocket Close is queued last.
    pub(crate) fn shut_down(&mut self) {
        if self.gate != Gate::Shutdown {
            self.gate = Gate::Shutdown;
            self.framing.write_close(&mut self.buf);
        }
    }

    /// Closes at once, without a goodbye to the broker.
    pub(crate) fn abort(&mut self) {
        self.gate = Gate::Shutdown;
    }

    // --- Callers that wait --------------------------------------------------------------

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

    /// Leaves the line (done waiting, or gave up). Returns whether others still wait in
    /// it (the next may go on once the lock is let go).
    pub(crate) fn leave_line(&mut self, ticket: u64) -> bool {
        self.line.retain(|&t| t != ticket);
        !self.line.is_empty()
    }

    /// A thread starts waiting on the link's `space` condition: whoever makes room or
    /// lets go of the write side must then notify.
    pub(crate) fn wait_for_space(&mut self) {
        self.space_waiters += 1;
    }

    /// That thread stopped waiting.
    pub(crate) fn done_waiting(&mut self) {
        self.space_waiters -= 1;
    }

    /// Whether a frame with a body of `body_len` bytes must wait for room: the gate is
    /// open and it would take a non-empty outbox over its high-water mark.
    pub(crate) fn over_high_water(&self, body_len: usize) -> bool {
        self.gate.is_open() && !self.buf.is_empty() && self.buf.len() + body_len > OUTBOX_HIGH_WATER
    }

    // --- Frames in --------------------------------------------------------------------

    /// Encodes one frame, in the link's version and framing, behind what is queued.
    /// Returns its debug line when `debug`.
    // Always inlined into the send path, where a call of its own cost a prologue and
    // argument moves per frame.
    #[inline(always)]
    pub(crate) fn encode(
        &mut self,
        command: &str,
        headers: impl FnOnce(&mut FrameWriter<'_>),
        body: &[u8],
        debug: bool,
    ) -> Option<String> {
        if self.framing.is_raw() {
            // Raw framing: encode straight into the outgoing buffer, no copy.
            let start = self.buf.len();
            let mut w = FrameWriter::new(&mut self.buf, command, self.version);
            headers(&mut w);
            w.finish(body);
            debug.then(|| debug::encoded_line(">>>", &self.buf[start..]))
        } else {
            // WebSocket: the head goes through a small scratch buffer; the body is copied
            // once, masked, straight into the outgoing buffer.
            self.encode_head(command, headers);
            self.framing
                .write_frame_parts(&mut self.buf, &[&self.scratch, body, b"\0"]);
            debug.then(|| head_and_body_line(&self.scratch, body))
        }
    }

    /// Encodes a frame's command and headers, up to and with the blank line, into
    /// `scratch`.
    fn encode_head(&mut self, command: &str, headers: impl FnOnce(&mut FrameWriter<'_>)) {
        self.scratch.clear();
        let mut w = FrameWriter::new(&mut self.scratch, command, self.version);
        headers(&mut w);
        w.finish_head();
    }

    /// A heart-beat in the link's framing, when the gate is open.
    pub(crate) fn heartbeat(&mut self) {
        if self.gate.is_open() {
            self.framing.write_heartbeat(&mut self.buf);
        }
    }

    /// Wire bytes of the library's reading side (pongs, a Close reply), when the gate is
    /// open: written through with `send` when the I/O thread sleeps. Returns whether the
    /// I/O thread must be woken for them.
    pub(crate) fn wire_queued(
        &mut self,
        bytes: &[u8],
        send: impl FnOnce(RawFd, &[u8]) -> io::Result<usize>,
    ) -> bool {
        if !self.gate.is_open() {
            return false;
        }
        self.buf.extend_from_slice(bytes);
        let wake = self.io_sleeping && !self.writer_busy && !self.write_through(send);
        if wake {
            self.io_sleeping = false;
        }
        wake
    }

    /// A frame from `mode` with a body of `body_len` bytes was encoded: it is written
    /// through with `send` when the I/O thread sleeps and `mode` allows (see [`Origin`]).
    /// Returns whether the I/O thread must be woken for what is left. Behind a caller
    /// that writes directly, the frame waits for that caller.
    #[inline]
    pub(crate) fn frame_queued(
        &mut self,
        mode: Origin,
        body_len: usize,
        send: impl FnOnce(RawFd, &[u8]) -> io::Result<usize>,
    ) -> bool {
        let through = match mode {
            Origin::Awaiting => true,
            // A large frame is worth its own syscall: handing it to the I/O thread
            // costs more than writing it here.
            Origin::Caller => self.through_streak < BURST || body_len >= LARGE_FRAME,
            Origin::Internal => false,
        };
        let mut wrote_all = false;
        if self.io_sleeping && through {
            // Every attempt counts: a full socket buffer must not turn a burst into a
            // failed syscall per send.
            if mode == Origin::Caller {
                self.through_streak += 1;
            }
            wrote_all = self.write_through(send);
        }
        let wake = self.io_sleeping && !wrote_all && !self.writer_busy;
        if wake {
            self.io_sleeping = false;
        }
        wake
    }

    /// Writes the outbox to the socket from the caller's thread, with `send` (which must
    /// not wait), when that is safe: the I/O thread sleeps in `poll` (it writes only
    /// after clearing `io_sleeping` under the outbox lock, which the caller holds), the
    /// socket is plain TCP, and nobody writes directly. Saves a wake-up and a context
    /// switch per frame on a quiet connection. Returns true when everything was
    /// written; otherwise the I/O thread must be woken for the rest.
    fn write_through(&mut self, send: impl FnOnce(RawFd, &[u8]) -> io::Result<usize>) -> bool {
        let Some(fd) = self.direct_fd else {
            return false;
        };
        if !self.gate.is_open() || self.writer_busy {
            return false;
        }
        // The fd belongs to the stream the I/O thread owns and keeps open until it has
        // marked the outbox closed under this lock (checked above).
        let n = match send(fd, &self.buf) {
            Ok(n) if n > 0 => n,
            _ => return false, // would block, or an error the I/O thread will meet and report
        };
        self.buf.drain(..n);
        self.wrote_at = Some(Instant::now());
        self.buf.is_empty()
    }

    // --- Large frames -------------------------------------------------------------------

    /// Where a large frame (body of [`LARGE_FRAME`] or more) from an application thread
    /// goes, sent at `now`.
    ///
    /// Handed to the I/O thread, a large frame costs a copy into the outbox and, once
    /// the socket buffer is full, a wake-up and a context switch between the caller and
    /// the I/O thread for about every frame. So on plain TCP a caller with a large frame
    /// writes it itself ([`Route::Claim`]). Within a burst (large frames less than
    /// `BURST_GAP` apart) frames are batched ([`Route::Defer`]): the frame after which
    /// another of its size would no longer fit in `BATCH` bytes writes them all at once.
    /// After a stalled direct write large frames queue like small ones (see `stalled`).
    pub(crate) fn route_large(&mut self, now: Instant, body_len: usize, mode: Origin) -> Route {
        if self.direct_fd.is_none() || self.stalled {
            return Route::Queue;
        }
        let burst = self
            .last_large
            .is_some_and(|t| now.saturating_duration_since(t) < BURST_GAP);
        self.last_large = Some(now);
        let idle = !self.io_writing && !self.writer_busy;
        // This frame joins the batch if the next one, of the same size, still could: the
        // one that could not writes the batch, itself included, within BATCH.
        let fits = self.buf.len() + 2 * body_len <= BATCH;
        if mode == Origin::Caller && burst && idle && fits {
            return Route::Defer;
        }
        Route::Claim
    }

    /// A frame was deferred at `now` (see [`Route::Defer`]): whether the flush timer
    /// must be (re)armed for [`FLUSH_DELAY`]. It moves at most every half of that, so
    /// that a running burst never reprograms it per frame.
    pub(crate) fn deferred(&mut self, now: Instant) -> bool {
        if self.flush_at.is_some_and(|at| at >= now + FLUSH_DELAY / 2) {
            return false;
        }
        self.flush_at = Some(now + FLUSH_DELAY);
        true
    }

    /// While a large frame waits to claim the write side: somebody else writes (the I/O
    /// thread its batch, another direct writer) and nothing queued up meanwhile (once
    /// something did, the frame goes behind it instead).
    pub(crate) fn write_side_taken(&self) -> bool {
        (self.io_writing || self.writer_busy) && self.buf.is_empty() && self.gate.is_open()
    }

    /// The socket to write a large frame to, when the write side is free.
    pub(crate) fn claim(&self) -> Option<RawFd> {
        let free = !self.io_writing && !self.writer_busy && self.gate.is_open();
        self.direct_fd.filter(|_| free)
    }

    /// A caller that got the socket from [`Outbox::claim`] starts its direct write: it
    /// owns the write side until [`Outbox::end_direct`]. What was queued goes first;
    /// the outbox is free for others meanwhile (their frames queue behind). The flush
    /// timer stays armed: the burst goes on, and disarming it for every batch would cost
    /// more than its one firing at the end.
    pub(crate) fn begin_direct(
        &mut self,
        command: &str,
        headers: impl FnOnce(&mut FrameWriter<'_>),
        body: &[u8],
        debug: bool,
    ) -> Direct {
        self.writer_busy = true;
        let pending = std::mem::take(&mut self.buf);
        self.encode_head(command, headers);
        let mut wire = std::mem::take(&mut self.direct_buf);
        wire.clear();
        let raw = self.framing.is_raw();
        if raw {
            wire.extend_from_slice(&self.scratch);
        } else {
            self.framing
                .write_frame_parts(&mut wire, &[&self.scratch, body, b"\0"]);
        }
        Direct {
            pending,
            wire,
            raw,
            line: debug.then(|| head_and_body_line(&self.scratch, body)),
            notify: self.space_waiters > 0,
        }
    }

    /// The direct write begun with `direct` ended at `now` as `written`. The rest of a
    /// stalled frame goes to the front of the outbox; what others queued meanwhile is
    /// written through with `send` when the I/O thread sleeps, else handed to it.
    pub(crate) fn end_direct(
        &mut self,
        now: Instant,
        direct: Direct,
        written: Written,
        send: impl FnOnce(RawFd, &[u8]) -> io::Result<usize>,
    ) -> DirectEnd {
        let Direct {
            mut pending, wire, ..
        } = direct;
        self.writer_busy = false;
        self.wrote_at = Some(now);
        // The gap to the next frame counts from here: a caller that sends back to back
        // is still in its burst after writing a whole batch, which takes longer than
        // the gap itself.
        self.last_large = Some(now);
        if wire.capacity() <= KEEP_BUFFER {
            self.direct_buf = wire;
        }
        let sent = match written {
            Written::All => true,
            Written::Rest(rest) => {
                self.buf.splice(0..0, rest);
                self.stalled = true;
                true
            }
            Written::Failed => false,
        };
        if self.buf.is_empty() && pending.capacity() <= KEEP_BUFFER {
            pending.clear();
            self.buf = pending;
        }
        let left = !self.buf.is_empty() || !sent;
        let wake = left && !(self.io_sleeping && self.write_through(send));
        if wake {
            self.io_sleeping = false;
        }
        DirectEnd {
            sent,
            wake,
            // Only then: a notify is a syscall even with nobody waiting.
            notify: self.space_waiters > 0,
        }
    }

    /// Whether a caller writes to the socket itself now.
    pub(crate) fn writer_busy(&self) -> bool {
        self.writer_busy
    }

    // --- Waiting for an answer: leader and followers ------------------------------------

    /// A caller is about to wait for an answer at `now`: it takes the leader role when
    /// the I/O thread sleeps off the socket, or else becomes a follower the I/O thread
    /// has to serve. A caller that waits has ended its burst: the next send starts a new
    /// one, and the large frames it left in the outbox go out now (through `send`, or by
    /// the I/O thread), since the answer may depend on them. Returns the role and
    /// whether the I/O thread must be woken.
    pub(crate) fn before_wait(
        &mut self,
        now: Instant,
        send: impl FnOnce(RawFd, &[u8]) -> io::Result<usize>,
    ) -> (Role, bool) {
        self.through_streak = 0;
        self.last_large = None;
        // With the I/O thread asleep, what waits in the outbox can only be deferred frames.
        let wake = self.io_sleeping
            && !self.writer_busy
            && !self.buf.is_empty()
            && !self.write_through(send);
        if wake {
            self.io_sleeping = false;
        }
        let role = match self.direct_fd {
            Some(fd)
                if self.gate.is_open()
                    && !self.leader
                    && self.io_sleeping
                    && !self.io_polls_socket =>
            {
                self.leader = true;
                Role::Leader(fd)
            }
            _ => {
                self.followers += 1;
                let recheck = self.leader || self.window_until.is_some_and(|w| now < w);
                Role::Follower { recheck }
            }
        };
        (role, wake)
    }

    /// A caller waits without leading (after leading gave up).
    pub(crate) fn follow(&mut self) {
        self.followers += 1;
    }

    /// A follower stopped waiting.
    pub(crate) fn unfollow(&mut self) {
        self.followers -= 1;
    }

    /// The leader gives the role back at `now`, keeping the window open for the next
    /// round trip. Returns whether followers wait (the I/O thread must serve them).
    pub(crate) fn end_lead(&mut self, now: Instant) -> bool {
        self.leader = false;
        self.window_until = Some(now + LEADER_WINDOW);
        self.followers > 0
    }

    /// A waiter was handed its answer at `now` (a RECEIPT, a message someone waited
    /// for): request/response traffic tends to come in runs, so the I/O thread leaves
    /// the socket to a leader for a moment.
    pub(crate) fn answered(&mut self, now: Instant) {
        if self.direct_fd.is_some() {
            self.window_until = Some(now + LEADER_WINDOW);
            self.served = true;
        }
    }

    // --- The I/O thread -----------------------------------------------------------------

    /// When a caller last wrote to the socket itself (once): the heart-beat clock
    /// counts it.
    pub(crate) fn take_wrote_at(&mut self) -> Option<Instant> {
        self.wrote_at.take()
    }

    /// The I/O thread, having written all of its own, takes what is queued into `wbuf`
    /// (by swapping buffers: no copy), unless a caller is writing directly (its frame
    /// goes first). `None` when it took nothing; else whether threads wait for the
    /// room this made.
    pub(crate) fn take_batch(&mut self, wbuf: &mut Vec<u8>) -> Option<bool> {
        if self.buf.is_empty() || self.writer_busy {
            return None;
        }
        wbuf.clear();
        std::mem::swap(wbuf, &mut self.buf);
        Some(self.space_waiters > 0)
    }

    /// The I/O thread's own bytes (pongs, the reply to a Close) behind a caller writing
    /// directly: queued here, after its frame. False when nobody writes directly (the
    /// I/O thread writes them next itself).
    pub(crate) fn behind_writer(&mut self, bytes: &[u8]) -> bool {
        if !self.writer_busy {
            return false;
        }
        self.buf.extend_from_slice(bytes);
        true
    }

    /// The I/O thread publishes whether it has bytes of its own to write in `wbuf`
    /// (`writing`); a caller waiting to write a large frame directly is told when it has
    /// none (the return value: notify). With nothing of its own, an empty outbox gets
    /// `wbuf` if that is the larger: after the I/O thread took a full batch, the outbox
    /// would otherwise grow a second one, resident for good.
    pub(crate) fn io_writing(&mut self, writing: bool, wbuf: &mut Vec<u8>) -> bool {
        if !writing
            && self.buf.is_empty()
            && !self.writer_busy
            && wbuf.capacity() > self.buf.capacity()
        {
            wbuf.clear();
            std::mem::swap(wbuf, &mut self.buf);
        }
        let notify = self.io_writing && !writing && self.space_waiters > 0;
        if !writing && self.buf.is_empty() {
            self.stalled = false; // the rest of a stalled direct write is out
        }
        self.io_writing = writing;
        notify
    }

    /// The I/O thread, with nothing of its own to write, is about to sleep at `now`.
    /// `None` when bytes wait in the outbox (it should not sleep); else whether it
    /// should watch the socket: not while a caller leads, nor in the leader window
    /// unless callers already wait that only it would serve (`more_to_read` overrides:
    /// those bytes are its to take). Also returns whether to notify (as
    /// [`Outbox::io_writing`]).
    pub(crate) fn io_sleep(
        &mut self,
        now: Instant,
        more_to_read: bool,
        wbuf: &mut Vec<u8>,
    ) -> (Option<bool>, bool) {
        if !self.buf.is_empty() && self.gate != Gate::Shutdown && !self.writer_busy {
            return (None, false);
        }
        let served = std::mem::take(&mut self.served);
        let leaders_welcome = self.leader
            || ((self.followers == 0 || served) && self.window_until.is_some_and(|w| now < w));
        let poll_socket = more_to_read || !leaders_welcome;
        let notify = self.io_writing(false, wbuf);
        self.io_sleeping = true;
        self.io_polls_socket = poll_socket;
        (Some(poll_socket), notify)
    }

    /// Whether a caller reads the socket as the leader.
    pub(crate) fn leading(&self) -> bool {
        self.leader
    }

    /// The I/O thread is back from `poll` (woken by the flush timer when `timer_fired`).
    pub(crate) fn io_awake(&mut self, timer_fired: bool) {
        self.io_sleeping = false;
        self.io_polls_socket = true;
        if timer_fired {
            self.flush_at = None;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::cell::RefCell;

    const FD: RawFd = 7;

    /// A plain TCP link's outbox (callers may write to the socket).
    fn tcp() -> Outbox {
        Outbox::new(Framing::Raw, Some(FD), Version::V1_2)
    }

    /// A WebSocket-over-TLS link's outbox (only the I/O thread writes).
    fn wss() -> Outbox {
        Outbox::new(Framing::websocket(&Config::default()), None, Version::V1_2)
    }

    fn send_frame(ob: &mut Outbox, body: &[u8]) {
        ob.encode(
            "SEND",
            |w| {
                w.header("destination", "/q");
            },
            body,
            false,
        );
    }

    /// A `send` that takes everything, recording what it was given.
    fn taking(log: &RefCell<Vec<Vec<u8>>>) -> impl FnOnce(RawFd, &[u8]) -> io::Result<usize> + '_ {
        move |fd, bytes| {
            assert_eq!(fd, FD);
            log.borrow_mut().push(bytes.to_vec());
            Ok(bytes.len())
        }
    }

    fn would_block(_: RawFd, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn never(_: RawFd, _: &[u8]) -> io::Result<usize> {
        panic!("no write was expected")
    }

    /// The I/O thread goes to sleep watching the socket; returns whether it polls it.
    fn io_sleeps(ob: &mut Outbox, now: Instant) -> Option<bool> {
        let mut wbuf = Vec::new();
        ob.io_sleep(now, false, &mut wbuf).0
    }

    #[test]
    fn encodes_raw_frames_straight_and_websocket_frames_masked() {
        let mut ob = tcp();
        let line = ob.encode(
            "SEND",
            |w| {
                w.header("destination", "/q");
            },
            b"hi",
            true,
        );
        assert_eq!(ob.buf, b"SEND\ndestination:/q\n\nhi\0");
        assert!(line.unwrap().contains("SEND"));
        let mut ws = wss();
        assert_eq!(
            ws.encode(
                "SEND",
                |w| {
                    w.header("destination", "/q");
                },
                b"hi",
                false
            ),
            None
        );
        // One masked text message: FIN + text opcode, mask bit, then a 4-byte key.
        assert_eq!(ws.buf[0], 0x81);
        assert_eq!(ws.buf[1], 0x80 | 24);
        assert_eq!(ws.buf.len(), 2 + 4 + 24);
    }

    #[test]
    fn a_caller_writes_through_only_while_the_io_thread_sleeps() {
        let mut ob = tcp();
        send_frame(&mut ob, b"x");
        // Awake I/O thread: it takes the bytes itself, nobody is woken.
        assert!(!ob.frame_queued(Origin::Caller, 1, never));
        assert_eq!(
            io_sleeps(&mut ob, Instant::now()),
            None,
            "bytes wait: no sleep"
        );
        let mut wbuf = Vec::new();
        assert_eq!(ob.take_batch(&mut wbuf), Some(false));
        assert!(!wbuf.is_empty() && ob.buf.is_empty());
        // Asleep: the next frame is written through, and the thread sleeps on.
        assert_eq!(io_sleeps(&mut ob, Instant::now()), Some(true));
        send_frame(&mut ob, b"y");
        let log = RefCell::new(Vec::new());
        assert!(!ob.frame_queued(Origin::Caller, 1, taking(&log)));
        assert_eq!(log.borrow().len(), 1);
        assert!(ob.buf.is_empty());
        assert!(
            ob.take_wrote_at().is_some(),
            "the heart-beat clock learns of the write"
        );
    }

    #[test]
    fn a_full_socket_wakes_the_io_thread_instead() {
        let mut ob = tcp();
        io_sleeps(&mut ob, Instant::now());
        send_frame(&mut ob, b"x");
        assert!(ob.frame_queued(Origin::Caller, 1, would_block));
        // Woken once: the next frame finds it awake.
        send_frame(&mut ob, b"y");
        assert!(!ob.frame_queued(Origin::Caller, 1, never));
    }

    #[test]
    fn a_burst_of_sends_is_left_to_the_io_thread_after_a_few() {
        let mut ob = tcp();
        let log = RefCell::new(Vec::new());
        for _ in 0..BURST {
            io_sleeps(&mut ob, Instant::now());
            send_frame(&mut ob, b"x");
            assert!(!ob.frame_queued(Origin::Caller, 1, taking(&log)));
        }
        io_sleeps(&mut ob, Instant::now());
        send_frame(&mut ob, b"x");
        assert!(
            ob.frame_queued(Origin::Caller, 1, never),
            "past the burst: wake"
        );
        // A caller that waits ends the burst, and one that awaits always writes.
        ob.before_wait(Instant::now(), never);
        let mut wbuf = Vec::new();
        ob.take_batch(&mut wbuf);
        io_sleeps(&mut ob, Instant::now());
        send_frame(&mut ob, b"x");
        assert!(!ob.frame_queued(Origin::Caller, 1, taking(&log)));
        assert_eq!(log.borrow().len(), BURST as usize + 1);
    }

    #[test]
    fn tls_and_internal_frames_never_write_through() {
        let mut ob = wss();
        io_sleeps(&mut ob, Instant::now());
        send_frame(&mut ob, b"x");
        assert!(ob.frame_queued(Origin::Awaiting, 1, never));
        let mut ob = tcp();
        io_sleeps(&mut ob, Instant::now());
        send_frame(&mut ob, b"x");
        assert!(ob.frame_queued(Origin::Internal, 1, never));
    }

    #[test]
    fn the_gate_follows_the_link() {
        let mut ob = tcp();
        send_frame(&mut ob, b"x");
        ob.link_lost();
        assert_eq!(ob.gate(), Gate::Down);
        assert!(ob.buf.is_empty(), "nothing of a lost link is kept");
        assert_eq!(ob.claim(), None, "nobody writes to the dead socket");
        ob.heartbeat();
        assert!(ob.buf.is_empty());
        assert!(!ob.wire_queued(b"pong", never));
        ob.new_link(Framing::Raw, Some(FD), Version::V1_1, 2);
        assert_eq!(
            (ob.gate(), ob.epoch()),
            (Gate::Down, 2),
            "open only when told"
        );
        ob.open();
        assert_eq!(ob.gate(), Gate::Open);
        assert_eq!(ob.claim(), Some(FD));
        // Closing keeps a shutdown; a shutdown queues a WebSocket Close once.
        let mut ws = wss();
        ws.shut_down();
        let close = ws.buf.len();
        assert!(close > 0);
        ws.shut_down();
        ws.close();
        assert_eq!((ws.gate(), ws.buf.len()), (Gate::Shutdown, close));
        ws.close_and_clear();
        assert!(ws.buf.is_empty());
        // A lost link does not reopen a closed gate.
        let mut ob = tcp();
        ob.close();
        ob.link_lost();
        assert_eq!(ob.gate(), Gate::Closed);
    }

    #[test]
    fn callers_waiting_for_a_link_go_on_in_call_order() {
        let mut ob = tcp();
        ob.link_lost();
        let (a, b) = (ob.join_line(), ob.join_line());
        assert!(ob.waits_in_line(a) && ob.waits_in_line(b));
        ob.new_link(Framing::Raw, Some(FD), Version::V1_2, 2);
        ob.open();
        assert!(!ob.waits_in_line(a), "the first goes on");
        assert!(ob.waits_in_line(b), "the second waits for the first");
        assert!(ob.leave_line(a), "b still waits");
        assert!(!ob.waits_in_line(b));
        assert!(!ob.leave_line(b));
        // Closed for good: nobody waits any more.
        let c = ob.join_line();
        ob.join_line();
        ob.close();
        assert!(!ob.waits_in_line(c + 1));
    }

    #[test]
    fn the_high_water_mark_holds_back_only_a_non_empty_open_outbox() {
        let mut ob = tcp();
        assert!(
            !ob.over_high_water(OUTBOX_HIGH_WATER * 2),
            "a huge frame goes alone"
        );
        send_frame(&mut ob, &vec![b'x'; OUTBOX_HIGH_WATER / 2]);
        assert!(!ob.over_high_water(1000));
        assert!(ob.over_high_water(OUTBOX_HIGH_WATER / 2));
        ob.close();
        assert!(
            !ob.over_high_water(OUTBOX_HIGH_WATER),
            "closed: refused, not held"
        );
    }

    #[test]
    fn large_frames_are_claimed_batched_within_a_burst_or_queued() {
        let t0 = Instant::now();
        let big = 64 << 10;
        assert_eq!(wss().route_large(t0, big, Origin::Caller), Route::Queue);
        let mut ob = tcp();
        assert_eq!(
            ob.route_large(t0, big, Origin::Caller),
            Route::Claim,
            "not a burst yet"
        );
        let t1 = t0 + Duration::from_micros(10);
        assert_eq!(ob.route_large(t1, big, Origin::Caller), Route::Defer);
        assert_eq!(
            ob.route_large(t1, big, Origin::Awaiting),
            Route::Claim,
            "never held back"
        );
        // The frame after which another would not fit in a batch writes it.
        send_frame(&mut ob, &vec![b'x'; BATCH - big]);
        assert_eq!(ob.route_large(t1, big, Origin::Caller), Route::Claim);
        // After a pause: not a burst.
        let later = t1 + BURST_GAP * 2;
        assert_eq!(ob.route_large(later, 100, Origin::Caller), Route::Claim);
    }

    #[test]
    fn the_flush_timer_moves_at_most_every_half_delay() {
        let mut ob = tcp();
        let t0 = Instant::now();
        assert!(ob.deferred(t0));
        assert!(!ob.deferred(t0 + FLUSH_DELAY / 4));
        assert!(ob.deferred(t0 + FLUSH_DELAY / 2 + Duration::from_micros(1)));
        ob.io_awake(true);
        assert!(ob.deferred(t0), "fired: armed again");
    }

    #[test]
    fn a_direct_write_owns_the_write_side_and_hands_on_what_queued_behind_it() {
        let mut ob = tcp();
        send_frame(&mut ob, b"before");
        let queued = ob.buf.clone();
        assert_eq!(ob.claim(), Some(FD));
        let direct = ob.begin_direct(
            "SEND",
            |w| {
                w.header("destination", "/q");
            },
            b"body",
            false,
        );
        assert_eq!(direct.pending, queued, "what was queued goes first");
        assert!(direct.raw);
        assert_eq!(
            direct.wire, b"SEND\ndestination:/q\n\n",
            "raw: the head only"
        );
        assert!(ob.writer_busy() && ob.claim().is_none());
        assert!(ob.write_side_taken());
        // Meanwhile others queue behind it, and the I/O thread keeps off.
        io_sleeps(&mut ob, Instant::now());
        send_frame(&mut ob, b"behind");
        assert!(
            !ob.frame_queued(Origin::Caller, 6, never),
            "no wake-up behind a writer"
        );
        let mut wbuf = Vec::new();
        assert_eq!(ob.take_batch(&mut wbuf), None);
        assert!(
            !ob.write_side_taken(),
            "something queued: the next large frame goes behind"
        );
        let log = RefCell::new(Vec::new());
        let end = ob.end_direct(Instant::now(), direct, Written::All, taking(&log));
        assert!(end.sent && !end.wake);
        assert_eq!(log.borrow().len(), 1, "written through when done");
        assert!(!ob.writer_busy());
    }

    #[test]
    fn a_stalled_direct_write_leaves_its_rest_and_large_frames_queue_until_it_is_out() {
        let mut ob = tcp();
        let direct = ob.begin_direct("SEND", |_| {}, b"body", false);
        let end = ob.end_direct(
            Instant::now(),
            direct,
            Written::Rest(b"rest".to_vec()),
            never,
        );
        assert!(end.sent && end.wake, "the I/O thread writes the rest");
        assert_eq!(ob.buf, b"rest");
        assert_eq!(
            ob.route_large(Instant::now(), 1 << 20, Origin::Caller),
            Route::Queue
        );
        let mut wbuf = Vec::new();
        ob.take_batch(&mut wbuf);
        ob.io_writing(true, &mut wbuf);
        assert_eq!(
            ob.route_large(Instant::now(), 1 << 20, Origin::Caller),
            Route::Queue
        );
        ob.io_writing(false, &mut Vec::new());
        assert_eq!(
            ob.route_large(Instant::now(), 1 << 20, Origin::Caller),
            Route::Claim
        );
        // A failed write reports it and wakes the I/O thread to find out why.
        let direct = ob.begin_direct("SEND", |_| {}, b"body", false);
        let end = ob.end_direct(Instant::now(), direct, Written::Failed, never);
        assert!(!end.sent && end.wake);
    }

    #[test]
    fn a_waiting_caller_leads_only_while_the_io_thread_sleeps_off_the_socket() {
        let t0 = Instant::now();
        let mut ob = tcp();
        // The I/O thread watches the socket: follow it.
        io_sleeps(&mut ob, t0);
        let (role, _) = ob.before_wait(t0, never);
        assert_eq!(role, Role::Follower { recheck: false });
        ob.unfollow();
        // A RECEIPT opens the leader window: the I/O thread sleeps off the socket.
        ob.io_awake(false);
        ob.answered(t0);
        assert_eq!(io_sleeps(&mut ob, t0), Some(false));
        let (role, _) = ob.before_wait(t0, never);
        assert_eq!(role, Role::Leader(FD));
        // A second waiter follows, and looks again soon: the leader may not serve it.
        let (role, _) = ob.before_wait(t0, never);
        assert_eq!(role, Role::Follower { recheck: true });
        assert!(ob.end_lead(t0), "a follower waits: wake the I/O thread");
        // With a follower waiting (not just served), the I/O thread watches the socket.
        ob.io_awake(false);
        assert_eq!(io_sleeps(&mut ob, t0), Some(true));
        ob.unfollow();
        // TLS: never a leader.
        let mut ws = wss();
        ws.answered(t0);
        io_sleeps(&mut ws, t0);
        assert!(matches!(ws.before_wait(t0, never).0, Role::Follower { .. }));
    }

    #[test]
    fn a_waiting_caller_flushes_the_frames_its_burst_left() {
        let mut ob = tcp();
        io_sleeps(&mut ob, Instant::now());
        send_frame(&mut ob, b"deferred");
        let log = RefCell::new(Vec::new());
        let (_, wake) = ob.before_wait(Instant::now(), taking(&log));
        assert!(!wake);
        assert_eq!(log.borrow().len(), 1);
        send_frame(&mut ob, b"deferred");
        let (_, wake) = ob.before_wait(Instant::now(), would_block);
        assert!(wake, "what it could not write, the I/O thread writes");
    }

    #[test]
    fn an_idle_io_thread_gives_its_larger_buffer_back() {
        let mut ob = tcp();
        let mut wbuf = Vec::with_capacity(1 << 16);
        assert!(!ob.io_writing(false, &mut wbuf));
        assert!(wbuf.capacity() < 1 << 16 && ob.buf.capacity() >= 1 << 16);
        // Space waiters are told when the I/O thread stops writing.
        ob.io_writing(true, &mut wbuf);
        ob.wait_for_space();
        assert!(ob.io_writing(false, &mut wbuf));
        ob.done_waiting();
    }

    #[test]
    fn replies_go_behind_a_direct_writer() {
        let mut ob = tcp();
        assert!(!ob.behind_writer(b"pong"));
        let _direct = ob.begin_direct("SEND", |_| {}, b"", false);
        assert!(ob.behind_writer(b"pong"));
        assert_eq!(ob.buf, b"pong");
    }
}
