//! The write path of a session: a caller's frame encoded into the outbox, waiting for
//! room or for the next link, and the wake-up of the I/O thread when it sleeps.

use std::sync::MutexGuard;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::frame::FrameWriter;

use crate::transport::socket;

use super::outbox::{Gate, Origin, Outbox, Route, FLUSH_DELAY, LARGE_FRAME};
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
        let mut guard = lock(&self.link.outbox);
        if guard.gate() == Gate::Down {
            if !may_wait || epoch.is_some() {
                return Err(self.disconnected());
            }
            let (g, timed_out) = self.wait_in_line(guard);
            guard = g;
            if timed_out {
                return Err(self.no_link());
            }
        }
        if epoch.is_some_and(|e| e != guard.epoch()) {
            return Err(self.disconnected());
        }
        let mut defer = false;
        if mode != Origin::Internal && body.len() >= LARGE_FRAME && guard.gate().is_open() {
            match guard.route_large(Instant::now(), body.len(), mode) {
                Route::Claim => {
                    let g = self.claim_write_side(guard);
                    guard = g;
                    if let Some(fd) = guard.claim() {
                        return self.send_direct(guard, fd, headers, command, body);
                    }
                }
                Route::Defer => defer = true,
                Route::Queue => {}
            }
        }
        if may_wait && !defer && guard.over_high_water(body.len()) {
            let (g, timed_out) = self.wait_for_space(guard, |ob| ob.over_high_water(body.len()));
            guard = g;
            if timed_out {
                return Err(Error::timeout(format!(
                    "the send buffer stayed full for {} ms (the send timeout): the broker \
                     does not read fast enough",
                    self.settings.send_timeout.as_millis()
                )));
            }
            if guard.gate() == Gate::Down && epoch.is_none() {
                // Lost while waiting for room: wait for the next link (rule 7).
                let (g, timed_out) = self.wait_for_space(guard, |ob| ob.gate() == Gate::Down);
                guard = g;
                if timed_out {
                    return Err(self.no_link());
                }
            }
        }
        if !guard.gate().is_open() || epoch.is_some_and(|e| e != guard.epoch()) {
            return Err(self.disconnected());
        }
        let line = guard.encode(command, headers, body, self.settings.debug.is_some());
        let wake = if defer {
            // The next frame of the burst writes it, or the caller when it next waits,
            // or the I/O thread when the timer fires first.
            if guard.deferred(Instant::now()) {
                self.link.flush_timer.arm(FLUSH_DELAY);
            }
            false
        } else {
            guard.frame_queued(mode, body.len(), socket::send)
        };
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

    /// The `Timeout` of a caller that waited the send timeout for the next link.
    #[cold]
    pub(crate) fn no_link(&self) -> Error {
        let reason = lock(&self.reason).clone().unwrap_or_default();
        Error::timeout(format!(
            "no connection within the send timeout of {} ms (reconnecting after: {reason})",
            self.settings.send_timeout.as_millis()
        ))
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
        if g.leave_line(ticket) {
            // The next in line may go on once this one let go of the lock.
            self.link.space.notify_all();
        }
        (g, timed_out)
    }

    /// Waits on the link's `space` condition while `blocked` holds, at most the send
    /// timeout; counted meanwhile, so that whoever makes room knows to notify. Returns
    /// the guard and whether it timed out with `blocked` still holding.
    pub(crate) fn wait_for_space<'a>(
        &'a self,
        mut guard: MutexGuard<'a, Outbox>,
        mut blocked: impl FnMut(&mut Outbox) -> bool,
    ) -> (MutexGuard<'a, Outbox>, bool) {
        guard.wait_for_space();
        let (mut guard, result) = self
            .link
            .space
            .wait_timeout_while(guard, self.settings.send_timeout, |ob| blocked(ob))
            .unwrap_or_else(|e| e.into_inner());
        guard.done_waiting();
        (guard, result.timed_out())
    }

    /// Appends wire bytes produced by a leader (pongs, a Close reply) to the outbox.
    pub(crate) fn enqueue_wire(&self, bytes: &[u8]) {
        let wake = lock(&self.link.outbox).wire_queued(bytes, socket::send);
        if wake {
            self.link.waker.wake();
        }
    }

    /// Queues a heart-beat in the link's framing (from the I/O thread's timer).
    pub(crate) fn enqueue_heartbeat(&self) {
        lock(&self.link.outbox).heartbeat();
    }
}
