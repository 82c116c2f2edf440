//! The dispatch thread: runs push-subscription callbacks and event callbacks, one at a
//! time and in arrival order, away from the I/O thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::event::Event;
use crate::frame::Frame;

use super::{lock, Queue, QueueStats, Shared};

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

    fn call(&self, frame: Frame) -> bool {
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

/// The thread's body.
pub(crate) fn run(shared: Arc<Shared>, jobs: Arc<Queue<Job>>) {
    while let Ok(job) = jobs.recv(None) {
        match job {
            Job::Message(slot, stats, frame) => {
                stats.taken(&frame);
                if !slot.call(frame) {
                    shared.abort("a message callback panicked");
                }
                run_deferred();
            }
            Job::Event(event, detail) => {
                if let Some(f) = &shared.settings.on_event {
                    if catch_unwind(AssertUnwindSafe(|| f(event, &detail))).is_err() {
                        shared.abort("the event callback panicked");
                    }
                    run_deferred();
                }
            }
            Job::Stop => {
                if !shared.is_connected() {
                    // Run what is already queued (the final events), then end.
                    while let Ok(job) = jobs.recv(Some(std::time::Duration::ZERO)) {
                        if let Job::Event(event, detail) = job {
                            if let Some(f) = &shared.settings.on_event {
                                let _ = catch_unwind(AssertUnwindSafe(|| f(event, &detail)));
                            }
                        }
                    }
                    break;
                }
            }
        }
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

fn run_deferred() {
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
