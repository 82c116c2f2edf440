//! Received messages and their acknowledgement.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::connection::Session;
use crate::error::{Error, Result};
use crate::frame::{Frame, Version};

use super::AckMode;

/// A MESSAGE frame received on a subscription.
///
/// Immutable, `Clone + Send + Sync`; clones share the acknowledgement state, so a message
/// and all its clones are acked or nacked at most once.
#[derive(Clone)]
pub struct Message {
    inner: Arc<Inner>,
}

struct Inner {
    frame: Frame,
    shared: Arc<Session>,
    ack: AckMode,
    settled: AtomicBool,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.frame.fmt(f)
    }
}

impl Message {
    pub(crate) fn new(frame: Frame, shared: Arc<Session>, ack: AckMode) -> Message {
        Message {
            inner: Arc::new(Inner {
                frame,
                shared,
                ack,
                settled: AtomicBool::new(false),
            }),
        }
    }

    /// The message as one pointer, for the C API's handles: the pointer owns what this
    /// `Message` owned, until [`Message::from_raw`] takes it back. No allocation.
    pub(crate) fn into_raw(self) -> *const () {
        Arc::into_raw(self.inner).cast()
    }

    /// The same pointer, borrowed: valid while `self` lives.
    pub(crate) fn as_raw(&self) -> *const () {
        Arc::as_ptr(&self.inner).cast()
    }

    /// Takes back a pointer from [`Message::into_raw`] (or, wrapped in `ManuallyDrop`,
    /// borrows one from [`Message::as_raw`]).
    ///
    /// # Safety
    /// `raw` came from `into_raw` or `as_raw` and its message is alive; an owned one is
    /// taken back at most once.
    pub(crate) unsafe fn from_raw(raw: *const ()) -> Message {
        Message {
            // SAFETY: per the contract, a live pointer from Arc::into_raw/as_ptr.
            inner: unsafe { Arc::from_raw(raw.cast::<Inner>()) },
        }
    }

    /// The frame of a message given by its pointer, for as long as the caller says.
    ///
    /// # Safety
    /// `raw` came from [`Message::into_raw`] or [`Message::as_raw`], and that message
    /// lives at least as long as `'a`.
    pub(crate) unsafe fn frame_of<'a>(raw: *const ()) -> &'a Frame {
        // SAFETY: per the contract, `raw` points at a live Inner.
        unsafe { &(*raw.cast::<Inner>()).frame }
    }

    /// The frame's command: `"MESSAGE"`.
    pub fn command(&self) -> &str {
        self.inner.frame.command()
    }

    /// The `destination` header.
    pub fn destination(&self) -> Option<&str> {
        self.inner.frame.header("destination")
    }

    /// The first header with this name, unescaped.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.frame.header(name)
    }

    /// Every header in order, repeats included.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.inner.frame.headers()
    }

    /// The body, byte-exact (it may hold NUL bytes).
    pub fn body(&self) -> &[u8] {
        self.inner.frame.body()
    }

    /// The whole frame.
    pub fn frame(&self) -> &Frame {
        &self.inner.frame
    }

    /// ACK with the header the session's version needs (1.2: `id` = the message's `ack`
    /// header; 1.1: `message-id` and `subscription`; 1.0: `message-id`). Extra headers
    /// (`transaction`, `receipt`) are passed through; a `receipt` makes the call wait.
    /// A second ack or nack of the same message (or a clone) is
    /// [`Error::InvalidArgument`] and sends nothing, and so is an ack on an `ack:auto`
    /// subscription, whose messages need none.
    pub fn ack(&self, headers: &[(&str, &str)]) -> Result<()> {
        self.settle("ACK", headers)
    }

    /// NACK, like [`Message::ack`]. On a STOMP 1.0 session: [`Error::Unsupported`].
    pub fn nack(&self, headers: &[(&str, &str)]) -> Result<()> {
        self.settle("NACK", headers)
    }

    fn settle(&self, command: &str, headers: &[(&str, &str)]) -> Result<()> {
        let inner = &*self.inner;
        let shared = &inner.shared;
        let version = shared.info().version;
        if command == "NACK" && version == Version::V1_0 {
            return Err(Error::Unsupported(
                "NACK does not exist in STOMP 1.0".into(),
            ));
        }
        if inner.ack == AckMode::Auto {
            return Err(Error::invalid(
                "messages of an ack:auto subscription need no ack or nack",
            ));
        }
        if inner.settled.load(Ordering::Acquire) {
            return Err(Error::invalid("this message was already acked or nacked"));
        }
        // A message of a lost connection: the broker redelivers it; nothing is sent, and
        // the refused attempt does not use up its one ack (reconnect rule 3).
        let epoch = inner.frame.epoch();
        if shared.live_epoch() != epoch {
            return Err(shared.disconnected());
        }
        let frame = &inner.frame;
        let missing =
            |h: &str| Error::protocol(format!("the MESSAGE has no {h} header to {command} it by"));
        let header = |h: &'static str| frame.header(h).ok_or_else(|| missing(h));
        // The headers that name the message, without allocating: acks are per message.
        let (own, reserved): ([(&str, &str); 2], &[&str]) = match version {
            Version::V1_2 => ([("id", header("ack")?), ("", "")], &["id"]),
            Version::V1_1 => (
                [
                    ("message-id", header("message-id")?),
                    ("subscription", header("subscription")?),
                ],
                &["message-id", "subscription"],
            ),
            Version::V1_0 => (
                [("message-id", header("message-id")?), ("", "")],
                &["message-id"],
            ),
        };
        let own = &own[..reserved.len()];
        shared.check_headers(command, headers, reserved)?;
        if inner.settled.swap(true, Ordering::AcqRel) {
            return Err(Error::invalid("this message was already acked or nacked"));
        }
        let r = shared.request_on(Some(epoch), command, own, headers, b"", false);
        if matches!(r, Err(Error::Disconnected)) && shared.live_epoch() != epoch {
            // Lost on the way: refused, as above, not used up.
            inner.settled.store(false, Ordering::Release);
        }
        r
    }
}
