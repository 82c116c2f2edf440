//! What the dispatch thread runs: jobs (a message for a push subscription's callback, an
//! event), the callback slots that can be emptied while a call runs, the accounting of
//! a subscription's queue, and work deferred until the current callback returns.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::event::Event;
use crate::frame::Frame;

use super::sync::lock;

/// Queue accounting of one subscription, shared with its receiver.
#[derive(Default)]
pub(crate) struct QueueStats {
    pub(crate) messages: AtomicUsize,
    pub(crate) bytes: AtomicUsize,
    /// `Client::unsubscribe_id` ended the subscription: its handle's own unsubscribe
    /// then succeeds without sending anything.
    pub(crate) released: std::sync::atomic::AtomicBool,
}

impl QueueStats {
    /// Called by a receiver for every frame it takes off the queue.
    pub(crate) fn taken(&self, frame: &Frame) {
        self.messages.fetch_sub(1, Ordering::Relaxed);
        self.bytes.fetch_sub(frame.size_hint(), Ordering::Relaxed);
    }
}

/// A push subscription's callback.
pub(crate) type MessageFn = Box<dyn FnMut(Frame) + Send + 'static>;

/// Work for the dispatch thread.
pub(crate) enum Job {
    Message(Arc<CallbackSlot>, Arc<QueueStats>, Frame),
    Event(Event, String),
    Stop,
}

/// Holds a push subscription's callback. Removing it waits for a running call to end
/// (so that, once `unsubscribe` or drop returns, the callback is never called again and
/// what it captured may be released), except on the dispatch thread itself, where
/// waiting would deadlock: there the removal takes effect when the call returns.
pub(crate) struct CallbackSlot {
    f: Mutex<Option<MessageFn>>,
    removed: AtomicBool,
}

impl CallbackSlot {
    pub(crate) fn new(f: MessageFn) -> Arc<CallbackSlot> {
        Arc::new(CallbackSlot {
            f: Mutex::new(Some(f)),
            removed: AtomicBool::new(false),
        })
    }

    /// Stops calls for good. `on_dispatch_thread`: we are inside a callback.
    pub(crate) fn remove(&self, on_dispatch_thread: bool) {
        self.removed.store(true, Ordering::Release);
        if !on_dispatch_thread {
            // Taken out under the lock, dropped after it: dropping the closure may drop
            // the last client, whose disconnect waits for this very thread.
            let f = lock(&self.f).take();
            drop(f);
        }
    }

    /// Calls the callback unless removed; false when it panicked.
    pub(crate) fn call(&self, frame: Frame) -> bool {
        if self.removed.load(Ordering::Acquire) {
            return true;
        }
        let mut g = lock(&self.f);
        let ok = match g.as_mut() {
            Some(f) => catch_unwind(AssertUnwindSafe(|| f(frame))).is_ok(),
            None => true,
        };
        let f = if self.removed.load(Ordering::Acquire) {
            g.take()
        } else {
            None
        };
        drop(g);
        drop(f);
        ok
    }
}

thread_local! {
    /// Work a callback asked to run after it returns (freeing the client from inside a
    /// callback, in the C API).
    static DEFERRED: std::cell::RefCell<Vec<Box<dyn FnOnce()>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this dispatch thread once the current callback has returned.
pub(crate) fn defer(f: Box<dyn FnOnce()>) {
    DEFERRED.with(|d| d.borrow_mut().push(f));
}

/// Runs what the callback that just returned deferred.
pub(crate) fn run_deferred() {
    loop {
        let next = DEFERRED.with(|d| d.borrow_mut().pop());
        match next {
            Some(f) => {
                let _ = catch_unwind(AssertUnwindSafe(f));
            }
            None => break,
        }
    }
}
