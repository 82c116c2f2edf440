//! The write path of a session: a caller's frame encoded into the outbox, waiting for
//! room or for the next link, and the wake-up of the I/O thread when it sleeps.

use std::sync::MutexGuard;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::frame::FrameWriter;

use super::debug;
use super::outbox::{
    head_and_body_line, write_through, Gate, Origin, Outbox, Route, BURST, FLUSH_DELAY,
    LARGE_FRAME, OUTBOX_HIGH_WATER,
};
use super::session::Session;
use super::sync::lock;

impl Session {
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

    /// [`Session::enqueue_frame`] for one link only: with `Some(epoch)`, a frame that
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
        let mut guard = lock(&self.link.outbox);
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
                self.link.flush_timer.arm(FLUSH_DELAY);
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
            self.link.waker.wake();
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
            self.link.space.notify_all();
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
            .link
            .space
            .wait_timeout_while(guard, self.settings.send_timeout, |ob| blocked(ob))
            .unwrap_or_else(|e| e.into_inner());
        guard.space_waiters -= 1;
        (guard, result.timed_out())
    }

    /// Appends wire bytes produced by a leader (pongs, a Close reply) to the outbox.
    pub(crate) fn enqueue_wire(&self, bytes: &[u8]) {
        let mut ob = lock(&self.link.outbox);
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
            self.link.waker.wake();
        }
    }

    /// Queues a heart-beat in the connection's framing (from the I/O thread's timer).
    pub(crate) fn enqueue_heartbeat(&self) {
        let mut ob = lock(&self.link.outbox);
        let ob = &mut *ob;
        if ob.gate.is_open() {
            ob.framing.write_heartbeat(&mut ob.buf);
        }
    }
}
