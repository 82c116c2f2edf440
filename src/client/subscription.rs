//! Subscriptions: pull queues and push callbacks.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::connection::{Claim, Empty, Queue, QueueStats, Session, Wait};
use crate::error::{Error, Result};
use crate::frame::Frame;

use super::Message;

/// How the broker expects messages of a subscription to be acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckMode {
    /// `ack:auto`: delivered means acknowledged; no ACK frames are sent.
    Auto,
    /// `ack:client`: an ACK acknowledges this message and every earlier one of the
    /// subscription (cumulative).
    Client,
    /// `ack:client-individual`: each message is acknowledged on its own.
    ClientIndividual,
}

impl AckMode {
    /// The value of the SUBSCRIBE `ack` header.
    pub fn header_value(self) -> &'static str {
        match self {
            AckMode::Auto => "auto",
            AckMode::Client => "client",
            AckMode::ClientIndividual => "client-individual",
        }
    }
}

/// An active subscription. Dropping it unsubscribes.
///
/// `Send + Sync`: several threads may receive on one subscription at once, each message
/// going to one of them. Iterating (`for msg in &sub`) blocks for each message and ends
/// when the subscription or the connection is closed.
#[must_use = "dropping a Subscription unsubscribes at once"]
pub struct Subscription {
    shared: Arc<Session>,
    id: String,
    /// Tells this subscription apart from a later one with the same id.
    seq: u64,
    ack: AckMode,
    rx: Option<Arc<Queue<Frame>>>,
    stats: Arc<QueueStats>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("push", &self.rx.is_none())
            .finish()
    }
}

impl Subscription {
    pub(crate) fn new(
        shared: Arc<Session>,
        id: String,
        seq: u64,
        ack: AckMode,
        rx: Option<Arc<Queue<Frame>>>,
        stats: Arc<QueueStats>,
    ) -> Self {
        Subscription {
            shared,
            id,
            seq,
            ack,
            rx,
            stats,
        }
    }

    /// The subscription id (the SUBSCRIBE `id` header).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn receiver(&self) -> Result<&Queue<Frame>> {
        self.rx
            .as_deref()
            .ok_or_else(|| Error::invalid("a callback subscription has no queue to receive from"))
    }

    fn wrap(&self, frame: Frame) -> Message {
        self.stats.taken(&frame);
        Message::new(frame, Arc::clone(&self.shared), self.ack)
    }

    /// Waits up to `timeout` for the next message. [`Error::Timeout`] if none came;
    /// [`Error::Disconnected`] once the subscription or connection is closed and nothing
    /// is queued; [`Error::InvalidArgument`] on a callback subscription.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message> {
        self.take(Some(timeout))
    }

    /// The next message if one is queued: `Err(Error::Timeout)` when the queue is empty,
    /// `Err(Error::Disconnected)` once it is closed and empty.
    pub fn try_recv(&self) -> Result<Message> {
        self.take(Some(Duration::ZERO))
    }

    /// Waits up to `timeout` for at least one message, then appends it and whatever else
    /// is queued, up to `max` in all, to `out` without waiting more; returns how many it
    /// appended (1 to `max`). Errors as [`recv_timeout`](Self::recv_timeout) (nothing is
    /// appended then); `max` 0 is [`Error::InvalidArgument`]. A consumer that keeps up
    /// with a busy queue takes a whole batch under one lock.
    pub fn recv_many(
        &self,
        timeout: Duration,
        max: usize,
        out: &mut Vec<Message>,
    ) -> Result<usize> {
        self.take_many(timeout, max, |m| out.push(m))
    }

    /// [`recv_many`](Self::recv_many) handing each message to `put` instead of a `Vec`
    /// (the C API writes them straight into the caller's array). `put` is called only
    /// after the receive can no longer fail.
    pub(crate) fn take_many(
        &self,
        timeout: Duration,
        max: usize,
        mut put: impl FnMut(Message),
    ) -> Result<usize> {
        if max == 0 {
            return Err(Error::invalid("a receive of at most 0 messages"));
        }
        let queue = self.receiver()?;
        match queue.take_queued(max, |f| put(self.wrap(f))) {
            Ok(0) if timeout.is_zero() => return Err(self.empty(Empty::Timeout)),
            Ok(0) => {}
            r => return r.map_err(|e| self.empty(e)),
        }
        // Nothing queued: wait for one the way a single receive does (reading the socket
        // itself when it may), then take what came with it.
        put(self.wait_take(queue, Some(timeout))?);
        Ok(1 + queue
            .take_queued(max - 1, |f| put(self.wrap(f)))
            .unwrap_or(0))
    }

    /// Blocks for the next message; `None` once closed and drained.
    fn recv(&self) -> Option<Message> {
        self.take(None).ok()
    }

    fn take(&self, timeout: Option<Duration>) -> Result<Message> {
        let queue = self.receiver()?;
        // One look first (one lock), which is all a receiver that keeps up with a busy
        // queue needs: it never reads the clock either.
        match queue.recv(Some(Duration::ZERO)) {
            Err(Empty::Timeout) if timeout != Some(Duration::ZERO) => {}
            r => return self.finish_take(r),
        }
        self.wait_take(queue, timeout)
    }

    /// [`take`](Self::take) once a look found `queue` empty: waits up to `timeout`.
    fn wait_take(&self, queue: &Queue<Frame>, timeout: Option<Duration>) -> Result<Message> {
        let now = Instant::now();
        let deadline = timeout.map(|t| now + t);
        // About to wait: on a plain socket whose I/O thread is idle, this thread may read
        // it itself instead of waiting to be handed the message, and take it straight
        // off the wire (see connection/leader.rs).
        let claim = Claim {
            id: &self.id,
            queue,
            answer: Got::Claimed,
        };
        let answer =
            self.shared.wait_for(
                now,
                deadline,
                Wait::Stream,
                Some(&claim),
                &mut |wait| match queue.recv(wait) {
                    Err(Empty::Timeout) => None,
                    r => Some(Got::Queued(r)),
                },
            );
        match answer {
            Some(Got::Queued(r)) => self.finish_take(r),
            // Never queued: not in the queue's accounting either.
            Some(Got::Claimed(f)) => Ok(Message::new(f, Arc::clone(&self.shared), self.ack)),
            None => Err(Error::timeout(format!(
                "no MESSAGE on subscription {} within {} ms",
                self.id,
                timeout.unwrap_or_default().as_millis()
            ))),
        }
    }

    fn finish_take(&self, r: std::result::Result<Frame, Empty>) -> Result<Message> {
        r.map(|f| self.wrap(f)).map_err(|e| self.empty(e))
    }

    /// The error of a receive that found the queue empty without waiting, or closed.
    fn empty(&self, e: Empty) -> Error {
        match e {
            Empty::Timeout => Error::timeout("no MESSAGE queued on the subscription"),
            Empty::Closed => self.closed(),
        }
    }

    /// The error of a receive on a closed queue: why it closed, for `stompws_last_error`.
    fn closed(&self) -> Error {
        if self.shared.is_closed() {
            return self.shared.disconnected();
        }
        crate::error::note_detail(format!(
            "subscription {} is closed: unsubscribed, or its queue limit was passed",
            self.id
        ));
        Error::Disconnected
    }

    /// UNSUBSCRIBE, with extra headers (a `receipt` makes the call wait for it). Messages
    /// already queued can still be received. A second call is
    /// [`Error::InvalidArgument`]; after the connection closed, [`Error::Disconnected`].
    /// During a reconnect outage it ends the subscription at once and sends nothing (the
    /// broker's side went with the connection); it is not made again.
    pub fn unsubscribe(&self, headers: &[(&str, &str)]) -> Result<()> {
        self.shared.check_headers("UNSUBSCRIBE", headers, &["id"])?;
        if self.shared.is_closed() {
            return Err(self.shared.disconnected());
        }
        match self.shared.unsubscribe(&self.id, Some(self.seq), headers)? {
            true => Ok(()),
            // Ended by Client::unsubscribe_id, which sent the UNSUBSCRIBE.
            false if self.stats.released.load(Ordering::Acquire) => Ok(()),
            false => Err(Error::invalid(format!(
                "subscription {} is not active",
                self.id
            ))),
        }
    }

    /// Whether the subscription is still active.
    pub fn is_active(&self) -> bool {
        self.shared.is_subscribed(&self.id, self.seq)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if !self.shared.is_closed() {
            let _ = self.shared.unsubscribe(&self.id, Some(self.seq), &[]);
        }
    }
}

/// What a receiver's wait brought.
enum Got {
    /// What the queue gave.
    Queued(std::result::Result<Frame, Empty>),
    /// A message its lead took straight off the wire.
    Claimed(Frame),
}

/// Blocking iterator over a pull subscription's messages; see [`Subscription`].
pub struct SubscriptionIter<'a> {
    sub: &'a Subscription,
}

impl Iterator for SubscriptionIter<'_> {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        self.sub.recv()
    }
}

impl<'a> IntoIterator for &'a Subscription {
    type Item = Message;
    type IntoIter = SubscriptionIter<'a>;

    fn into_iter(self) -> SubscriptionIter<'a> {
        SubscriptionIter { sub: self }
    }
}
