//! The session: what survives a lost link. Settings, the subscription registry, receipt
//! waiters, transactions, id counters, the dispatch thread's queue, the epoch of the live
//! link, and the one [`Link`] whose parts are reset for every new socket. `Client`,
//! `Subscription`, `Message` and `Transaction` hold an `Arc<Session>`.
//!
//! What a session does is cut by responsibility into the files that `impl Session`:
//! `open.rs` (starting), `request.rs` (the frames callers ask for), `send.rs` and
//! `direct.rs` (the write path), `leader.rs` (waiting), `deliver.rs` (what the read side
//! decoded), `lifecycle.rs` (loss, a new link, the end).

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::config::{DebugFn, EventFn};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::frame::{check_header, check_value, Frame};

use super::callback::{CallbackSlot, Job, QueueStats};
use super::debug;
use super::idmap::IdMap;
use super::info::{CInfo, SessionInfo};
use super::link::Link;
use super::policy::Plan;
use super::queue::Queue;
use super::sync::lock;

/// Settings the connection keeps from the `Config` it was made with.
pub(crate) struct Settings {
    pub(crate) receipt_timeout: Duration,
    pub(crate) send_timeout: Duration,
    pub(crate) auto_content_length: bool,
    pub(crate) queue_limit: (usize, usize),
    pub(crate) debug: Option<DebugFn>,
    pub(crate) on_event: Option<EventFn>,
    /// Reconnect on loss: the policy, and the endpoints and config to reconnect with.
    /// Boxed: a whole `Config` inside, which would push the fields every send reads
    /// apart.
    pub(crate) reconnect: Option<Box<Plan>>,
}

/// Where a subscription's MESSAGE frames go.
pub(crate) enum Target {
    /// A pull subscription's queue.
    Pull(Arc<Queue<Frame>>),
    /// A push subscription: run on the dispatch thread.
    Callback(Arc<CallbackSlot>),
}

/// One active subscription, remembered by the session (not the socket) so that a
/// reconnect can subscribe again with the same id.
pub(crate) struct SubEntry {
    pub(crate) destination: String,
    pub(crate) ack: &'static str,
    /// The caller's headers, less `id`, `destination` and `ack`: sent again (without
    /// `receipt`) when a reconnect subscribes again.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) target: Target,
    pub(crate) stats: Arc<QueueStats>,
    /// Creation order, which a reconnect keeps.
    pub(crate) seq: u64,
    /// The subscribe call returned OK: only such subscriptions are made again after a
    /// reconnect (rule 3: one that did not return OK is forgotten).
    pub(crate) confirmed: bool,
    /// Never sent to the broker: the subscription for unhandled messages (id
    /// [`UNHANDLED_ID`]). Unsubscribing it, closing it at its queue limit and
    /// reconnecting send nothing for it.
    pub(crate) local: bool,
}

impl Drop for SubEntry {
    /// The session forgets the subscription: its receivers get what is queued, then
    /// "disconnected".
    fn drop(&mut self) {
        if let Target::Pull(q) = &self.target {
            q.close();
        }
    }
}

/// The id of the subscription that receives unhandled messages: MESSAGE frames whose
/// `subscription` names no open subscription (see `deliver.rs`). Reserved: a caller may
/// not use it.
pub(crate) const UNHANDLED_ID: &str = "*";

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Phase {
    /// A link is up.
    #[default]
    Up,
    /// The link was lost and the I/O thread is making a new one.
    Outage,
    /// Closed for good.
    Closed,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) phase: Phase,
    /// The live link's epoch (the first link is 1); during an outage, the lost one's.
    pub(super) epoch: u64,
    /// The client itself asked to disconnect (so a close is expected, not a loss).
    pub(super) closing: bool,
    pub(super) receipts: IdMap<Sender<Result<()>>>,
    pub(super) subs: IdMap<SubEntry>,
    /// The last few subscription ids given up, newest last: a delivery the broker had in
    /// flight may still name them (see `deliver.rs`).
    pub(super) unsubscribed: std::collections::VecDeque<String>,
    /// Open transactions, with the epoch of the link they began on.
    pub(super) transactions: std::collections::HashMap<String, u64>,
    /// Ids of transactions that a lost link took with it, newest last.
    pub(super) lost_transactions: std::collections::VecDeque<String>,
    /// The next subscription's `seq`.
    pub(super) next_seq: u64,
}

/// How many unsubscribed ids are remembered.
const UNSUBSCRIBED_MEMORY: usize = 64;

impl State {
    pub(super) fn forget_subscription(&mut self, id: &str) -> Option<SubEntry> {
        let entry = self.subs.remove(id)?;
        // Closed now, under the state lock, and not only when the entry is dropped: a
        // leader that takes this subscription's MESSAGE frames straight off the wire
        // (`leader.rs`) must find it closed before a new subscription can take the id.
        if let Target::Pull(q) = &entry.target {
            q.close();
        }
        if self.unsubscribed.len() == UNSUBSCRIBED_MEMORY {
            self.unsubscribed.pop_front();
        }
        self.unsubscribed.push_back(id.to_string());
        Some(entry)
    }

    /// Whether `id` was unsubscribed recently.
    pub(crate) fn was_unsubscribed(&self, id: &str) -> bool {
        self.unsubscribed.iter().any(|u| u == id)
    }

    /// A link was lost: its transactions are over.
    pub(super) fn lose_transactions(&mut self) {
        for (id, _) in self.transactions.drain() {
            if self.lost_transactions.len() == LOST_TRANSACTION_MEMORY {
                self.lost_transactions.pop_front();
            }
            self.lost_transactions.push_back(id);
        }
    }
}

/// How many transaction ids of lost links are remembered (to refuse frames naming them).
const LOST_TRANSACTION_MEMORY: usize = 1024;

pub(super) struct Threads {
    pub(super) io: Option<JoinHandle<()>>,
    pub(super) dispatch: Option<JoinHandle<()>>,
    /// The dispatch thread was stopped (or never started, and is not wanted any more).
    pub(super) dispatch_done: bool,
}

/// The session: what `Client`, `Subscription`, `Message`, `Transaction` and the
/// connection's threads share, and what survives a lost link.
pub(crate) struct Session {
    /// The current link's `SessionInfo`: one of the boxes in `infos`.
    info: AtomicPtr<SessionInfo>,
    /// Every `SessionInfo` this session had, kept until it is dropped, so that strings
    /// handed out (to C too) stay valid after a reconnect. Boxed so that each stays put
    /// while the list grows: `info` points into one.
    #[allow(clippy::vec_box)]
    infos: Mutex<Vec<Box<SessionInfo>>>,
    pub(crate) settings: Settings,
    /// The live link's epoch, 0 while none is up (so also whether the session is
    /// connected): what a message, receipt or transaction of a link is checked against.
    pub(super) live_epoch: AtomicU64,
    /// Some transaction ids were lost with a link (frames naming them are refused).
    pub(super) lost_transactions: AtomicBool,
    /// The current socket's state.
    pub(super) link: Link,
    pub(super) state: Mutex<State>,
    /// Why the last link ended (cleared by a new link), or why the session closed. A
    /// leaf lock (nothing is locked while it is held), so that an error can name the
    /// reason from under any other lock.
    pub(super) reason: Mutex<Option<String>>,
    pub(super) jobs: Arc<Queue<Job>>,
    pub(super) dispatch_thread: Mutex<Option<ThreadId>>,
    pub(super) threads: Mutex<Threads>,
    /// Serialises `disconnect` so that a second caller waits for the first to finish.
    pub(super) disconnecting: Mutex<()>,
    next_id: AtomicU64,
}

impl Session {
    /// A session over its first link, with no threads yet (`open.rs` starts them).
    pub(super) fn new(
        settings: Settings,
        link: Link,
        jobs: Arc<Queue<Job>>,
        info: SessionInfo,
    ) -> Session {
        let session = Session {
            info: AtomicPtr::new(std::ptr::null_mut()),
            infos: Mutex::new(Vec::new()),
            settings,
            live_epoch: AtomicU64::new(1),
            lost_transactions: AtomicBool::new(false),
            link,
            state: Mutex::new(State {
                epoch: 1,
                ..State::default()
            }),
            reason: Mutex::new(None),
            jobs,
            dispatch_thread: Mutex::new(None),
            threads: Mutex::new(Threads {
                io: None,
                dispatch: None,
                dispatch_done: false,
            }),
            disconnecting: Mutex::new(()),
            next_id: AtomicU64::new(0),
        };
        session.set_info(info);
        session
    }

    /// What the current link settled on at CONNECTED. After a reconnect this is the new
    /// link's; what an earlier call returned stays valid (see `infos`).
    pub(crate) fn info(&self) -> &SessionInfo {
        // SAFETY: `info` is set in `connect` before the session is shared, and always
        // points at a box in `infos`, which only grows and is dropped with `self`; a
        // box's contents never move or change.
        unsafe { &*self.info.load(Ordering::Acquire) }
    }

    /// Makes `info` the current link's.
    pub(super) fn set_info(&self, mut info: SessionInfo) {
        info.c = CInfo::of(
            info.version,
            info.server.as_deref(),
            info.session.as_deref(),
        );
        let boxed = Box::new(info);
        let ptr = &*boxed as *const SessionInfo as *mut SessionInfo;
        lock(&self.infos).push(boxed);
        self.info.store(ptr, Ordering::Release);
    }

    /// The live link's epoch, 0 while none is up.
    pub(crate) fn live_epoch(&self) -> u64 {
        self.live_epoch.load(Ordering::Acquire)
    }

    /// Closed for good: no link, and none coming.
    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.state).phase == Phase::Closed
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.live_epoch() != 0
    }

    pub(crate) fn close_reason(&self) -> Option<String> {
        lock(&self.reason).clone()
    }

    /// [`Error::Disconnected`], with why for `stompws_last_error`: the close reason, or
    /// during a reconnect outage the loss being repaired. Callable under any lock.
    pub(crate) fn disconnected(&self) -> Error {
        // The reason alone: a C program prints it after stompws_result_str's
        // "disconnected".
        match lock(&self.reason).as_deref() {
            Some(r) => crate::error::note_detail(r.to_string()),
            None => crate::error::note_detail("not connected"),
        }
        Error::Disconnected
    }

    /// A fresh id for receipts, subscriptions and transactions: `"<prefix>-<n>"`.
    pub(crate) fn next_id(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// True on this session's dispatch thread, i.e. inside one of its callbacks.
    pub(crate) fn on_dispatch_thread(&self) -> bool {
        *lock(&self.dispatch_thread) == Some(thread::current().id())
    }

    /// Checks caller headers for this version and command; `reserved` names are the
    /// library's own and may not be given.
    #[inline]
    pub(crate) fn check_headers(
        &self,
        command: &str,
        headers: &[(&str, &str)],
        reserved: &[&str],
    ) -> Result<()> {
        for &(name, value) in headers {
            if reserved.contains(&name) {
                return Err(Error::invalid(format!(
                    "the {name:?} header of {command} is set by the library"
                )));
            }
            check_header(name, value, self.info().version, command)?;
        }
        Ok(())
    }

    /// Checks the value the caller gives for a header the library names itself (a
    /// destination, an id): see [`check_value`].
    pub(crate) fn check_own_header(&self, command: &str, name: &str, value: &str) -> Result<()> {
        check_value(name, value, self.info().version, command)
    }

    /// Whether the subscription `id` created as `seq` is still active.
    pub(crate) fn is_subscribed(&self, id: &str, seq: u64) -> bool {
        lock(&self.state).subs.get(id).is_some_and(|e| e.seq == seq)
    }

    /// Shows a frame that was read on the debug hook, if there is one.
    pub(crate) fn debug_received(&self, frame: &Frame) {
        if let Some(d) = &self.settings.debug {
            d(&debug::frame_line("<<<", frame, self.info().version));
        }
    }

    /// Queues an event for the dispatch thread.
    pub(crate) fn event(&self, event: Event, detail: &str) {
        if self.settings.on_event.is_some() {
            self.jobs.push(Job::Event(event, detail.to_string()));
        }
    }
}
