//! The I/O thread: the owner of the socket.
//!
//! Each turn of the loop writes what callers queued (all of it in as few syscalls as the
//! socket takes), reads until the socket would block, dispatches what was decoded, keeps
//! heart-beats, then sleeps in `poll` on the socket and the waker until one of them, or
//! the next heart-beat deadline, needs it. While a caller leads (see `leader.rs`) it
//! leaves the socket's read side alone and polls only the waker.

use std::io::{ErrorKind, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::end::End;
use super::handshake::IoParts;
use super::outbox::{Gate, Outbox, LEADER_RECHECK, LEADER_WINDOW};
use super::policy::Rounds;
use super::reader::READS_PER_TURN;
use super::reconnect;
use super::session::Session;
use super::sync::lock;

/// How long the thread keeps flushing after the client asked it to close.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(1);

/// How often the thread looks again while a caller writes directly (it is woken when
/// that caller lets go with bytes queued behind it).
const BUSY_RECHECK: Duration = Duration::from_millis(10);

/// What `take_outgoing` saw in the outbox.
struct Outgoing {
    /// The client asked to close.
    shutdown: bool,
    /// A caller writes to the socket itself (`direct.rs`).
    writer_busy: bool,
}

/// The thread's body: runs the loop over each link, turns a panic into a lost
/// connection, and always finishes the session so that no waiter is left hanging. With
/// reconnect on, a lost link is followed by the reconnect loop on this same thread
/// (never the dispatch thread, whose callbacks may wait for the next link).
pub(crate) fn run(shared: Arc<Session>, parts: IoParts) {
    no_wakeup_preemption();
    let mut parts = parts;
    let mut rounds = Rounds::new();
    loop {
        let end = catch_unwind(AssertUnwindSafe(|| Io::new(&shared, &mut parts).run()))
            .unwrap_or_else(|_| End::Lost("internal error: the I/O thread panicked".into()));
        let outage = shared.settings.reconnect.is_some()
            && !matches!(end, End::Shutdown)
            && shared.lose(&end);
        if !outage {
            shared.finish(end);
            close_link(&shared, parts);
            return;
        }
        close_link(&shared, parts);
        let next = catch_unwind(AssertUnwindSafe(|| {
            reconnect::reconnect(&shared, &mut rounds, end)
        }))
        .unwrap_or_else(|_| {
            shared.finish(End::Lost(
                "internal error: the reconnect loop panicked".into(),
            ));
            None
        });
        match next {
            Some(next) => parts = next,
            None => return,
        }
    }
}

/// Closes an ended link's socket once nobody uses it: a leader reads the socket by its
/// descriptor, a caller may write a large frame to it, and each notices that the link
/// ended within one poll slice.
fn close_link(shared: &Session, parts: IoParts) {
    drop(lock(&shared.link.read_side));
    shared.wait_for_writer();
    drop(parts);
}

/// Puts the calling thread under `SCHED_BATCH`: same priority and share of the CPU, but
/// waking it never preempts the thread running on its core; it runs when that thread
/// blocks or its time slice ends.
///
/// Why: a caller that sends faster than it may write through wakes this thread, and on
/// a shared core (one core, or a pinned process) the wake-up preempted the caller at
/// once, to write the few frames queued so far: a context switch per few frames. Left
/// to run on, the caller fills the outbox and this thread writes it in a few large
/// batches, with far fewer context switches and less CPU time per frame. Round trips
/// are not slowed: a caller that waits for an answer blocks, which lets this thread
/// run; a wake-up on another, idle core runs at once as before.
///
/// Best effort: where the policy cannot be set (a seccomp filter, say), the thread
/// runs as it was.
fn no_wakeup_preemption() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a live sched_param, and
    // SCHED_BATCH requires priority 0 and no privilege. The result is ignored on purpose.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
    }
}

struct Io<'a> {
    shared: &'a Session,
    parts: &'a mut IoParts,
    wbuf: Vec<u8>,
    wpos: usize,
    /// The peer's name for error messages, made once rather than on every read.
    peer: String,
}

impl<'a> Io<'a> {
    fn new(shared: &'a Session, parts: &'a mut IoParts) -> Io<'a> {
        let peer = parts.stream.peer().to_string();
        Io {
            shared,
            parts,
            wbuf: Vec::new(),
            wpos: 0,
            peer,
        }
    }

    fn run(&mut self) -> End {
        let carry = std::mem::take(&mut self.parts.carry);
        if let Err(end) = lock(&self.shared.link.read_side).stomp_bytes(self.shared, &carry) {
            return end;
        }
        let mut more_to_read = false;
        loop {
            if let Some(end) = self.shared.leader_end() {
                let _ = self.write();
                return end;
            }
            let out = self.take_outgoing();
            if out.shutdown {
                return self.flush_and_close();
            }
            // While a caller writes directly, our buffer is empty (we only let one start
            // while asleep, and replies queue behind its frame): nothing to write.
            if let Err(end) = self.write() {
                return end;
            }
            let unwritten = self.wpos < self.wbuf.len();
            let now = Instant::now();
            let hb = &mut self.parts.heartbeat;
            hb.read(self.shared.link.last_read());
            let writing = unwritten || out.writer_busy;
            if !writing && hb.send_due().is_some_and(|due| now >= due) {
                self.shared.enqueue_heartbeat();
                continue;
            }
            if hb.deadline().is_some_and(|deadline| now >= deadline) {
                return End::Lost(format!(
                    "heart-beat timeout: nothing from the broker for {} ms (interval {} ms)",
                    hb.silent_for(now).as_millis(),
                    hb.incoming.unwrap_or_default().as_millis()
                ));
            }
            let next_beat = hb.next_wakeup();
            let (poll_socket, leading) = if unwritten {
                (true, false) // not asleep: the outbox is not touched, leaders stay away
            } else {
                match self.sleep(now, more_to_read) {
                    Some(sleep) => sleep,
                    None => continue, // a caller queued more meanwhile
                }
            };
            let mut timeout = next_beat.map(|t| t.saturating_duration_since(now));
            if more_to_read {
                timeout = Some(Duration::ZERO);
            } else if out.writer_busy {
                // A heart-beat may be due that only the writer's frame can replace: look
                // again in a while rather than spin on a deadline already passed.
                timeout =
                    Some(timeout.map_or(BUSY_RECHECK, |t| t.clamp(LEADER_WINDOW, BUSY_RECHECK)));
            } else if !poll_socket {
                // Off the socket: look again when the leader window may have closed, or
                // while a caller leads, now and then (see LEADER_RECHECK).
                let recheck = if leading {
                    LEADER_RECHECK
                } else {
                    LEADER_WINDOW
                };
                timeout = Some(timeout.map_or(recheck, |t| t.min(recheck)));
            }
            let fd = poll_socket.then(|| self.parts.stream.raw_fd());
            let woke = match self.shared.link.poll(fd, unwritten, timeout) {
                Ok(r) => r,
                Err(e) => return End::Lost(format!("poll failed: {e}")),
            };
            if woke.waker {
                self.shared.link.waker.drain();
            }
            if woke.timer {
                self.shared.link.flush_timer.drain();
            }
            // The loop's next turn takes the outbox: that flushes what the timer was for.
            self.shared.awake(woke.timer);
            let readable = woke.readable;
            if poll_socket && (readable || more_to_read) {
                let mut rs = lock(&self.shared.link.read_side);
                let r = rs.read_from(
                    self.shared,
                    &mut self.parts.stream,
                    &self.peer,
                    READS_PER_TURN,
                );
                if !rs.replies.is_empty() {
                    self.queue_replies(&rs.replies);
                    rs.replies.clear();
                }
                drop(rs);
                match r {
                    Ok(turn) => more_to_read = turn.more,
                    Err(end) => {
                        let _ = self.write(); // e.g. our reply to the broker's Close
                        return end;
                    }
                }
            }
        }
    }

    /// Moves queued bytes from the outbox to our write buffer once the previous batch
    /// is fully written (see [`Outbox::take_batch`]). Notes the writes callers made
    /// themselves.
    fn take_outgoing(&mut self) -> Outgoing {
        let mut ob = lock(&self.shared.link.outbox);
        if let Some(at) = ob.take_wrote_at() {
            self.parts.heartbeat.wrote(at);
        }
        let mut notify = false;
        if self.wpos == self.wbuf.len() {
            if let Some(waiters) = ob.take_batch(&mut self.wbuf) {
                self.wpos = 0;
                notify = waiters;
            }
        }
        notify |= self.publish_writing(&mut ob);
        let out = Outgoing {
            shutdown: ob.gate() == Gate::Shutdown,
            writer_busy: ob.writer_busy(),
        };
        drop(ob);
        if notify {
            self.shared.link.space.notify_all();
        }
        out
    }

    /// Our answers to the broker (pongs, the reply to its Close): written next, or
    /// behind the frame of a caller writing directly.
    fn queue_replies(&mut self, replies: &[u8]) {
        let mut ob = lock(&self.shared.link.outbox);
        if !ob.behind_writer(replies) {
            self.wbuf.extend_from_slice(replies);
            let notify = self.publish_writing(&mut ob);
            drop(ob);
            if notify {
                self.shared.link.space.notify_all();
            }
        }
    }

    /// Tells the outbox whether we have bytes of our own to write
    /// ([`Outbox::io_writing`]); returns whether to notify.
    fn publish_writing(&mut self, ob: &mut Outbox) -> bool {
        let writing = self.wpos < self.wbuf.len();
        let notify = ob.io_writing(writing, &mut self.wbuf);
        if !writing {
            self.wpos = self.wbuf.len(); // an empty buffer may have been swapped in
        }
        notify
    }

    /// Marks the thread as sleeping unless the outbox has bytes (then `None`: don't
    /// sleep); else whether to watch the socket ([`Outbox::io_sleep`]) and whether a
    /// caller leads.
    fn sleep(&mut self, now: Instant, more_to_read: bool) -> Option<(bool, bool)> {
        let mut ob = lock(&self.shared.link.outbox);
        let (poll_socket, notify) = ob.io_sleep(now, more_to_read, &mut self.wbuf);
        let leading = ob.leading();
        self.wpos = self.wbuf.len();
        drop(ob);
        if notify {
            self.shared.link.space.notify_all();
        }
        poll_socket.map(|p| (p, leading))
    }

    /// Writes until the buffer is empty or the socket would block.
    fn write(&mut self) -> Result<(), End> {
        while self.wpos < self.wbuf.len() {
            match self.parts.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(End::Lost("the socket accepted no more data".into())),
                Ok(n) => {
                    self.wpos += n;
                    self.parts.heartbeat.wrote(Instant::now());
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(End::Lost(format!(
                        "write to {} failed: {e}",
                        self.parts.stream.peer()
                    )))
                }
            }
        }
        if self.wpos == self.wbuf.len() {
            // Keep the allocation unless a huge frame blew it up.
            if self.wbuf.capacity() > 4 << 20 {
                self.wbuf = Vec::new();
            }
            self.wbuf.clear();
            self.wpos = 0;
            if let Err(e) = self.parts.stream.flush() {
                if e.kind() != ErrorKind::WouldBlock {
                    return Err(End::Lost(format!(
                        "flush to {} failed: {e}",
                        self.parts.stream.peer()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The client is closing: write what is left (the DISCONNECT, the WebSocket Close)
    /// for a bounded time, then end.
    fn flush_and_close(&mut self) -> End {
        let deadline = Instant::now() + SHUTDOWN_FLUSH;
        loop {
            let out = self.take_outgoing();
            let left = deadline.saturating_duration_since(Instant::now());
            if out.writer_busy {
                // A caller finishes its frame first; it wakes us when it lets go.
                if left.is_zero()
                    || self
                        .shared
                        .link
                        .poll(None, false, Some(left.min(BUSY_RECHECK)))
                        .is_err()
                {
                    break;
                }
                self.shared.link.waker.drain();
                continue;
            }
            if self.write().is_err() || self.wpos == self.wbuf.len() {
                break;
            }
            let fd = Some(self.parts.stream.raw_fd());
            if left.is_zero() || self.shared.link.poll(fd, true, Some(left)).is_err() {
                break;
            }
        }
        End::Shutdown
    }
}
