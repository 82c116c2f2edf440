//! One STOMP session: the state shared by the caller-facing handles and the connection's
//! two threads.
//!
//! - The **I/O thread** ([`io`]) owns the socket. It writes what callers queued in the
//!   [`Outbox`], reads and decodes frames, resolves receipts, hands MESSAGE frames to the
//!   subscriptions, and keeps heart-beats.
//! - The **dispatch thread** ([`dispatch`]) runs user callbacks and events, so a slow
//!   callback never stops reading or heart-beats, and a callback may wait for a receipt.
//! - Callers encode their frames straight into the [`outbox`] (no per-frame hand-off)
//!   and wake the I/O thread only when it sleeps in `poll`; a caller about to wait
//!   writes its frame itself.
//! - Whoever reads the socket holds the [`reader`]'s state: the I/O thread, or on a
//!   plain socket a caller waiting for its answer ([`leader`]).
//!
//! Lock order: `read_side`, then `state`, then `outbox`; none is held across a blocking
//! wait (a leader holds `read_side` while it polls the socket, in bounded slices).

mod debug;
mod direct;
mod dispatch;
mod handshake;
mod heartbeat;
mod idmap;
mod io;
mod leader;
mod outbox;
mod queue;
mod reader;
mod waker;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::config::{Config, DebugFn, EventFn};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::frame::{check_header, Frame, Version};
use crate::transport::{self, Endpoint, RawIo};

pub(crate) use dispatch::{defer as defer_on_dispatch_thread, CallbackSlot};
use idmap::IdMap;
pub(crate) use leader::{lead_until, Lead, Wait};
use outbox::{Origin, Outbox};
pub(crate) use queue::{Empty, Queue};

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data
/// consistent, and a panic elsewhere must not turn into a panic in the host program.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the session settled on at CONNECTED, readable without locks.
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    pub(crate) version: Version,
    pub(crate) server: Option<String>,
    pub(crate) session: Option<String>,
    pub(crate) subprotocol: Option<String>,
}

/// Settings the connection keeps from the `Config` it was made with.
pub(crate) struct Settings {
    pub(crate) receipt_timeout: Duration,
    pub(crate) send_timeout: Duration,
    pub(crate) auto_content_length: bool,
    pub(crate) queue_limit: (usize, usize),
    pub(crate) debug: Option<DebugFn>,
    pub(crate) on_event: Option<EventFn>,
}

/// Queue accounting of one subscription, shared with its receiver.
#[derive(Default)]
pub(crate) struct QueueStats {
    pub(crate) messages: AtomicUsize,
    pub(crate) bytes: AtomicUsize,
}

impl QueueStats {
    /// Called by a receiver for every frame it takes off the queue.
    pub(crate) fn taken(&self, frame: &Frame) {
        self.messages.fetch_sub(1, Ordering::Relaxed);
        self.bytes.fetch_sub(frame.size_hint(), Ordering::Relaxed);
    }
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
    /// Kept for the resubscription after a reconnect (a later release).
    #[allow(dead_code)]
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) target: Target,
    pub(crate) stats: Arc<QueueStats>,
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

#[derive(Default)]
struct State {
    /// Set once, when the session closes: why.
    close_reason: Option<String>,
    /// The client itself asked to disconnect (so a close is expected, not a loss).
    closing: bool,
    receipts: IdMap<Sender<Result<()>>>,
    subs: IdMap<SubEntry>,
    /// The last few subscription ids given up, newest last: a delivery the broker had in
    /// flight may still name them (see `reader::late_delivery_error`).
    unsubscribed: std::collections::VecDeque<String>,
}

/// How many unsubscribed ids are remembered.
const UNSUBSCRIBED_MEMORY: usize = 64;

impl State {
    fn forget_subscription(&mut self, id: &str) -> Option<SubEntry> {
        let entry = self.subs.remove(id)?;
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
}

struct Threads {
    io: Option<JoinHandle<()>>,
    dispatch: Option<JoinHandle<()>>,
}

/// The session state shared by `Client`, `Subscription`, `Message`, `Transaction` and
/// the connection's threads.
pub(crate) struct Shared {
    pub(crate) info: SessionInfo,
    pub(crate) settings: Settings,
    connected: AtomicBool,
    outbox: Mutex<Outbox>,
    outbox_space: Condvar,
    waker: waker::Waker,
    /// Wakes the I/O thread to flush a batch of large frames a caller left in the outbox.
    flush_timer: waker::Timer,
    state: Mutex<State>,
    jobs: Arc<Queue<dispatch::Job>>,
    dispatch_thread: Mutex<Option<ThreadId>>,
    threads: Mutex<Threads>,
    /// Serialises `disconnect` so that a second caller waits for the first to finish.
    disconnecting: Mutex<()>,
    next_id: AtomicU64,
    /// Framing, decoder and buffers of whoever reads the socket.
    read_side: Mutex<reader::ReadSide>,
    /// A leader met the end of the connection (in `read_side.end`).
    leader_ended: AtomicBool,
    /// When the connection started, and the last data read, in ns since then.
    epoch: Instant,
    last_read_ns: AtomicU64,
}

/// How a caller's frame asks for a receipt.
enum Receipt {
    None,
    /// The caller put a `receipt` header among its headers.
    Caller(String),
    /// The library adds `receipt:<id>` (commit, abort, send_with_receipt).
    Library(String),
}

impl Shared {
    /// Connects: transport, CONNECT/CONNECTED, then starts the I/O and dispatch threads.
    pub(crate) fn connect(
        endpoint: &Endpoint,
        io: Option<Box<dyn RawIo>>,
        config: &Config,
    ) -> Result<Arc<Shared>> {
        let deadline = Instant::now() + config.connect_timeout;
        let opened = match io {
            Some(io) => transport::open_over(io, endpoint, config, deadline)?,
            None => transport::open(endpoint, config, deadline)?,
        };
        let est = handshake::establish(opened, config, deadline)?;
        let waker = waker::Waker::new().map_err(|e| Error::io("eventfd", &e))?;
        let flush_timer = waker::Timer::new().map_err(|e| Error::io("timerfd", &e))?;
        let jobs = Queue::new();
        let shared = Arc::new(Shared {
            info: est.info.clone(),
            settings: Settings {
                receipt_timeout: config.receipt_timeout,
                send_timeout: config.send_timeout,
                auto_content_length: config.auto_content_length,
                queue_limit: config.queue_limit,
                debug: config.debug.clone(),
                on_event: config.on_event.clone(),
            },
            connected: AtomicBool::new(true),
            outbox: Mutex::new(Outbox {
                buf: Vec::new(),
                scratch: Vec::new(),
                io_writing: false,
                flush_at: None,
                last_large: None,
                writer_busy: false,
                stalled: false,
                wrote_at: None,
                direct_buf: Vec::new(),
                framing: est.writer,
                direct_fd: est.io.stream.socket_fd(),
                io_polls_socket: true,
                leader: false,
                window_until: None,
                through_streak: 0,
                followers: 0,
                served: false,
                closed: false,
                shutdown: false,
                io_sleeping: false,
                space_waiters: 0,
            }),
            outbox_space: Condvar::new(),
            waker,
            flush_timer,
            state: Mutex::new(State::default()),
            jobs: Arc::clone(&jobs),
            dispatch_thread: Mutex::new(None),
            threads: Mutex::new(Threads {
                io: None,
                dispatch: None,
            }),
            disconnecting: Mutex::new(()),
            next_id: AtomicU64::new(0),
            read_side: Mutex::new(reader::ReadSide::new(est.reader, est.decoder)),
            leader_ended: AtomicBool::new(false),
            epoch: Instant::now(),
            last_read_ns: AtomicU64::new(0),
        });
        let d = Arc::clone(&shared);
        let dispatch = thread::Builder::new()
            .name("stompws-dispatch".into())
            .spawn(move || dispatch::run(d, jobs))
            .map_err(|e| Error::io("spawning the dispatch thread", &e))?;
        *lock(&shared.dispatch_thread) = Some(dispatch.thread().id());
        lock(&shared.threads).dispatch = Some(dispatch);
        let s = Arc::clone(&shared);
        let io = thread::Builder::new()
            .name("stompws-io".into())
            .spawn(move || io::run(s, est.io))
            .map_err(|e| Error::io("spawning the I/O thread", &e));
        match io {
            Ok(h) => lock(&shared.threads).io = Some(h),
            Err(e) => {
                shared.finish(io::End::Lost(e.to_string()));
                shared.join_dispatch();
                return Err(e);
            }
        }
        shared.event(
            Event::Connected,
            shared.info.server.as_deref().unwrap_or(""),
        );
        Ok(shared)
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub(crate) fn close_reason(&self) -> Option<String> {
        lock(&self.state).close_reason.clone()
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
            check_header(name, value, self.info.version, command)?;
        }
        Ok(())
    }

    /// Sends one frame: `own` headers (the library's) first, then the caller's. Follows
    /// the receipt rule: when the caller's headers hold `receipt`, or `with_receipt` is
    /// set, waits for the RECEIPT (or the ERROR naming it) up to the receipt timeout.
    pub(crate) fn request(
        &self,
        command: &str,
        own: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
        with_receipt: bool,
    ) -> Result<()> {
        let receipt = match headers.iter().find(|(n, _)| *n == "receipt") {
            Some(&(_, id)) => Receipt::Caller(id.to_string()),
            None if with_receipt => Receipt::Library(self.next_id("rcpt")),
            None => Receipt::None,
        };
        let waiter = match &receipt {
            Receipt::None => None,
            Receipt::Caller(id) | Receipt::Library(id) => {
                Some((id.clone(), self.expect_receipt(id)?))
            }
        };
        let library_receipt = match &receipt {
            Receipt::Library(id) => Some(("receipt", id.as_str())),
            _ => None,
        };
        let content_length =
            command == "SEND" && (self.settings.auto_content_length || body.contains(&0));
        let mode = if waiter.is_some() {
            Origin::Awaiting
        } else {
            Origin::Caller
        };
        let sent = self.enqueue_frame(
            |w| {
                for &(n, v) in own.iter().chain(library_receipt.iter()).chain(headers) {
                    w.header(n, v);
                }
                if content_length {
                    w.content_length(body.len());
                }
            },
            command,
            body,
            mode,
        );
        match waiter {
            None => sent,
            Some((id, rx)) => {
                if let Err(e) = sent {
                    self.forget_receipt(&id);
                    return Err(e);
                }
                self.wait_receipt(&id, &rx, self.settings.receipt_timeout)
            }
        }
    }

    /// Registers interest in the RECEIPT `id` before the frame that asks for it goes out.
    fn expect_receipt(&self, id: &str) -> Result<Receiver<Result<()>>> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let mut st = lock(&self.state);
        if st.close_reason.is_some() {
            return Err(Error::Disconnected);
        }
        if st.receipts.contains_key(id) {
            return Err(Error::invalid(format!(
                "receipt id {id:?} is already awaited"
            )));
        }
        st.receipts.insert(id.to_string(), tx);
        Ok(rx)
    }

    fn forget_receipt(&self, id: &str) {
        lock(&self.state).receipts.remove(id);
    }

    fn wait_receipt(&self, id: &str, rx: &Receiver<Result<()>>, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let result = loop {
            let (follower, recheck) = match self.try_lead() {
                Lead::Leader(fd) => match leader::lead(self, fd, rx, deadline) {
                    Some(answer) => return answer,
                    None => (self.follow(), None),
                },
                Lead::Follower(f, recheck) => (f, recheck),
            };
            let until = recheck.map_or(deadline, |r| deadline.min(Instant::now() + r));
            let r = rx.recv_deadline(until);
            drop(follower);
            match r {
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => continue,
                r => break r,
            }
        };
        match result {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => {
                self.forget_receipt(id);
                Err(Error::Timeout)
            }
            Err(RecvTimeoutError::Disconnected) => Err(Error::Disconnected),
        }
    }

    /// Registers a subscription, then sends SUBSCRIBE (receipt rule applies). The entry
    /// goes in first so that no MESSAGE can arrive for an unknown id.
    pub(crate) fn subscribe(
        &self,
        id: &str,
        entry: SubEntry,
        headers: &[(&str, &str)],
    ) -> Result<()> {
        let destination = entry.destination.clone();
        let ack = entry.ack;
        {
            let mut st = lock(&self.state);
            if st.close_reason.is_some() {
                return Err(Error::Disconnected);
            }
            if st.subs.contains_key(id) {
                return Err(Error::invalid(format!(
                    "subscription id {id:?} is already in use"
                )));
            }
            st.subs.insert(id.to_string(), entry);
        }
        let own = [
            ("destination", destination.as_str()),
            ("id", id),
            ("ack", ack),
        ];
        let r = self.request("SUBSCRIBE", &own, headers, b"", false);
        if r.is_err() {
            // Whether the broker saw it or not, the caller gets no handle: forget it.
            lock(&self.state).subs.remove(id);
        }
        r
    }

    /// Forgets the subscription (its queue ends after what was delivered) and sends
    /// UNSUBSCRIBE. `Ok(false)` when it was not active any more.
    pub(crate) fn unsubscribe(&self, id: &str, headers: &[(&str, &str)]) -> Result<bool> {
        let removed = lock(&self.state).forget_subscription(id);
        let Some(entry) = removed else {
            return Ok(false);
        };
        if let Target::Callback(slot) = &entry.target {
            slot.remove(self.on_dispatch_thread());
        }
        drop(entry);
        let own = [("id", id)];
        self.request("UNSUBSCRIBE", &own, headers, b"", false)?;
        Ok(true)
    }

    /// Whether `id` is still an active subscription of this session.
    pub(crate) fn is_subscribed(&self, id: &str) -> bool {
        lock(&self.state).subs.contains_key(id)
    }

    /// DISCONNECT with a receipt, then closes the socket and stops both threads. See
    /// `Client::disconnect` for the results.
    pub(crate) fn disconnect(&self, timeout: Duration) -> Result<()> {
        let _one_at_a_time = lock(&self.disconnecting);
        if lock(&self.threads).io.is_none() {
            self.join_dispatch();
            return Ok(());
        }
        let result = self.say_goodbye(timeout);
        self.shutdown_io();
        self.join_dispatch();
        result
    }

    fn say_goodbye(&self, timeout: Duration) -> Result<()> {
        let id = self.next_id("disconnect");
        let rx = {
            let mut st = lock(&self.state);
            if st.close_reason.is_some() {
                return Ok(());
            }
            st.closing = true;
            let (tx, rx) = crossbeam_channel::bounded(1);
            st.receipts.insert(id.clone(), tx);
            rx
        };
        if self
            .enqueue_frame(
                |w| {
                    w.header("receipt", &id);
                },
                "DISCONNECT",
                b"",
                Origin::Awaiting,
            )
            .is_err()
        {
            return Ok(()); // closed meanwhile
        }
        lock(&self.outbox).closed = true;
        match rx.recv_timeout(timeout) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            // The I/O thread ended: the broker closed the connection (RabbitMQ over ws
            // never sends this receipt) or it was lost. Either way it is closed.
            Err(RecvTimeoutError::Disconnected) => Ok(()),
            Err(RecvTimeoutError::Timeout) => {
                self.forget_receipt(&id);
                Err(Error::Timeout)
            }
        }
    }

    /// Asks the I/O thread to flush, close the socket and end; waits for it.
    fn shutdown_io(&self) {
        lock(&self.state).closing = true;
        {
            let mut ob = lock(&self.outbox);
            ob.closed = true;
            if !ob.shutdown {
                ob.shutdown = true;
                let ob = &mut *ob;
                ob.framing.write_close(&mut ob.buf);
            }
        }
        self.waker.wake();
        let io = lock(&self.threads).io.take();
        if let Some(h) = io {
            let _ = h.join();
        }
    }

    /// Stops the dispatch thread after the jobs already queued; waits for it unless this
    /// is that thread (a callback dropping the last client).
    fn join_dispatch(&self) {
        self.jobs.push(dispatch::Job::Stop);
        if self.on_dispatch_thread() {
            return;
        }
        let d = lock(&self.threads).dispatch.take();
        if let Some(h) = d {
            let _ = h.join();
        }
    }

    /// Closes the session from any thread without waiting for the broker (a panicking
    /// callback, for instance).
    pub(crate) fn abort(&self, reason: &str) {
        {
            let mut st = lock(&self.state);
            if st.close_reason.is_none() {
                st.close_reason = Some(reason.to_string());
            }
        }
        let mut ob = lock(&self.outbox);
        ob.closed = true;
        ob.shutdown = true;
        drop(ob);
        self.waker.wake();
    }

    /// Queues an event for the dispatch thread.
    pub(crate) fn event(&self, event: Event, detail: &str) {
        if self.settings.on_event.is_some() {
            self.jobs
                .push(dispatch::Job::Event(event, detail.to_string()));
        }
    }

    /// Called by the I/O thread when it ends, for whatever reason: records why, wakes
    /// every waiter (receipts, receivers, blocked senders) and reports the events.
    fn finish(&self, end: io::End) {
        self.connected.store(false, Ordering::Release);
        let (receipts, subs, closing, reason) = {
            let mut st = lock(&self.state);
            let closing = st.closing;
            if st.close_reason.is_none() {
                st.close_reason = Some(if closing {
                    "disconnected by the client".to_string()
                } else {
                    end.reason()
                });
            }
            let receipts = std::mem::take(&mut st.receipts);
            let subs = std::mem::take(&mut st.subs);
            (
                receipts,
                subs,
                closing,
                st.close_reason.clone().unwrap_or_default(),
            )
        };
        // Dropping the senders wakes every waiter at once with "disconnected".
        drop(receipts);
        drop(subs);
        {
            let mut ob = lock(&self.outbox);
            ob.closed = true;
            ob.buf = Vec::new();
        }
        self.outbox_space.notify_all();
        if let io::End::ServerError { message, .. } = &end {
            self.event(Event::ServerError, message);
        }
        if !closing {
            self.event(Event::ConnectionLost, &reason);
        }
        self.event(Event::Disconnected, &reason);
        self.jobs.push(dispatch::Job::Stop);
    }
}
