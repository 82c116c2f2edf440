//! The dispatch thread: runs push-subscription callbacks and event callbacks, one at a
//! time and in arrival order, away from the I/O thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::callback::{run_deferred, Job};
use super::queue::Queue;
use super::session::Session;

/// The thread's body.
pub(crate) fn run(shared: Arc<Session>, jobs: Arc<Queue<Job>>) {
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
