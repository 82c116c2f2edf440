//! One STOMP session: the state shared by the caller-facing handles and the connection's
//! two threads. A session outlives its links (connections): with reconnect on, the I/O
//! thread makes a new link when one is lost ([`reconnect`]), and the session's
//! subscriptions, ids and handles carry over; what belonged to the lost link (receipt
//! waits, ack ids, transactions) is tagged with its epoch and refused afterwards.
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
//!
//! Files:
//! - `debug.rs`: the debug hook's lines.
//! - `direct.rs`: a caller writing large frames to the socket itself.
//! - `dispatch.rs`: the dispatch thread (callbacks, events).
//! - `handshake.rs`: CONNECT and CONNECTED.
//! - `heartbeat.rs`: heart-beat negotiation and clocks.
//! - `idmap.rs`: the id-keyed maps of receipts and subscriptions.
//! - `io.rs`: the I/O thread's loop over one link.
//! - `leader.rs`: leader/followers, a waiting caller reading the socket itself.
//! - `outbox.rs`: the write path, and the outbox's gate.
//! - `queue.rs`: the queues of pull subscriptions and of the dispatch thread.
//! - `reader.rs`: the read side, and the delivery of what is decoded.
//! - `reconnect.rs`: the endpoint list, back-off, and making a new link.
//! - `waker.rs`: the eventfd and timerfd the I/O thread sleeps on.

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
mod reconnect;
mod waker;

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};

use crate::config::{Config, DebugFn, EventFn};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::frame::{check_header, Frame, Version};
use crate::transport::{Endpoint, RawIo};

pub(crate) use dispatch::{defer as defer_on_dispatch_thread, CallbackSlot};
use idmap::IdMap;
pub(crate) use leader::Wait;
use outbox::{Gate, Origin, Outbox};
pub(crate) use queue::{Empty, Queue};
pub(crate) use reconnect::take_connect_detail;
use reconnect::Policy;

/// Locks a mutex, ignoring poisoning: every critical section here leaves the data
/// consistent, and a panic elsewhere must not turn into a panic in the host program.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the session settled on at CONNECTED, readable without locks.
#[derive(Debug, Clone)]
pub(crate) struct SessionInfo {
    /// The endpoint's URL, as given to connect or `failover_url`.
    pub(crate) url: String,
    pub(crate) version: Version,
    pub(crate) server: Option<String>,
    pub(crate) session: Option<String>,
    pub(crate) subprotocol: Option<String>,
    /// The same strings NUL-terminated, for the C API's getters.
    pub(crate) c: CInfo,
}

/// [`SessionInfo`]'s strings as C strings.
#[derive(Debug, Clone, Default)]
pub(crate) struct CInfo {
    pub(crate) version: std::ffi::CString,
    pub(crate) server: Option<std::ffi::CString>,
    pub(crate) session: Option<std::ffi::CString>,
}

impl CInfo {
    fn of(version: Version, server: Option<&str>, session: Option<&str>) -> CInfo {
        // Header values hold no NUL (a frame stores them NUL-terminated).
        let c = |s: &str| std::ffi::CString::new(s).unwrap_or_default();
        CInfo {
            version: c(version.as_str()),
            server: server.map(c),
            session: session.map(c),
        }
    }
}

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
    pub(crate) reconnect: Option<Box<reconnect::Plan>>,
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

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Phase {
    /// A link is up.
    #[default]
    Up,
    /// The link was lost and the I/O thread is making a new one.
    Outage,
    /// Closed for good.
    Closed,
}

#[derive(Default)]
struct State {
    phase: Phase,
    /// The live link's epoch (the first link is 1); during an outage, the lost one's.
    epoch: u64,
    /// Why the last link ended (cleared by a new link), or why the session closed.
    close_reason: Option<String>,
    /// The client itself asked to disconnect (so a close is expected, not a loss).
    closing: bool,
    receipts: IdMap<Sender<Result<()>>>,
    subs: IdMap<SubEntry>,
    /// The last few subscription ids given up, newest last: a delivery the broker had in
    /// flight may still name them (see `reader::late_delivery_error`).
    unsubscribed: std::collections::VecDeque<String>,
    /// Open transactions, with the epoch of the link they began on.
    transactions: std::collections::HashMap<String, u64>,
    /// Ids of transactions that a lost link took with it, newest last.
    lost_transactions: std::collections::VecDeque<String>,
    /// The next subscription's `seq`.
    next_seq: u64,
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

    /// A link was lost: its transactions are over.
    fn lose_transactions(&mut self) {
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

struct Threads {
    io: Option<JoinHandle<()>>,
    dispatch: Option<JoinHandle<()>>,
}

/// The session state shared by `Client`, `Subscription`, `Message`, `Transaction` and
/// the connection's threads.
pub(crate) struct Shared {
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
    live_epoch: AtomicU64,
    /// Some transaction ids were lost with a link (frames naming them are refused).
    lost_transactions: AtomicBool,
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
    /// Connects to the first endpoint that answers (each tried once, in order; see
    /// `reconnect::connect_first`), or over the caller's stream, then starts the I/O and
    /// dispatch threads.
    pub(crate) fn connect(
        endpoints: Vec<(String, Endpoint)>,
        io: Option<Box<dyn RawIo>>,
        config: &Config,
    ) -> Result<Arc<Shared>> {
        let (url, est) = match io {
            Some(io) => {
                let (url, ep) = &endpoints[0];
                (url.clone(), reconnect::open_link(ep, Some(io), config)?)
            }
            None => reconnect::connect_first(&endpoints, config)?,
        };
        let waker = waker::Waker::new().map_err(|e| Error::io("eventfd", &e))?;
        let flush_timer = waker::Timer::new().map_err(|e| Error::io("timerfd", &e))?;
        let jobs = Queue::new();
        let reconnect = config.reconnect.map(|(initial, max, attempts)| {
            Box::new(reconnect::Plan::new(
                Policy::new(initial, max, attempts),
                endpoints,
                config,
            ))
        });
        let mut info = est.info.clone();
        info.url = url.clone();
        let shared = Arc::new(Shared {
            info: AtomicPtr::new(std::ptr::null_mut()),
            infos: Mutex::new(Vec::new()),
            settings: Settings {
                receipt_timeout: config.receipt_timeout,
                send_timeout: config.send_timeout,
                auto_content_length: config.auto_content_length,
                queue_limit: config.queue_limit,
                debug: config.debug.clone(),
                on_event: config.on_event.clone(),
                reconnect,
            },
            live_epoch: AtomicU64::new(1),
            lost_transactions: AtomicBool::new(false),
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
                gate: Gate::Open,
                epoch: 1,
                version: info.version,
                line: std::collections::VecDeque::new(),
                next_ticket: 0,
                io_sleeping: false,
                space_waiters: 0,
            }),
            outbox_space: Condvar::new(),
            waker,
            flush_timer,
            state: Mutex::new(State {
                epoch: 1,
                ..State::default()
            }),
            jobs: Arc::clone(&jobs),
            dispatch_thread: Mutex::new(None),
            threads: Mutex::new(Threads {
                io: None,
                dispatch: None,
            }),
            disconnecting: Mutex::new(()),
            next_id: AtomicU64::new(0),
            read_side: Mutex::new(reader::ReadSide::new(est.reader, est.decoder, 1)),
            leader_ended: AtomicBool::new(false),
            epoch: Instant::now(),
            last_read_ns: AtomicU64::new(0),
        });
        shared.set_info(info);
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
        shared.event(Event::Connected, &url);
        Ok(shared)
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
    fn set_info(&self, mut info: SessionInfo) {
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

    /// Sends one frame: `own` headers (the library's) first, then the caller's. Follows
    /// the receipt rule: when the caller's headers hold `receipt`, or `with_receipt` is
    /// set, waits for the RECEIPT (or the ERROR naming it) up to the receipt timeout.
    /// During an outage it waits for the next link first (reconnect rule 7).
    #[inline]
    pub(crate) fn request(
        &self,
        command: &str,
        own: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
        with_receipt: bool,
    ) -> Result<()> {
        self.request_on(None, command, own, headers, body, with_receipt)
    }

    /// [`Shared::request`] for a frame that belongs to the link `epoch` (an ack, a
    /// commit): refused with [`Error::Disconnected`], and not sent, on any other link.
    // Inlined into its callers: out of line, its many arguments went through the stack,
    // and a send (the hottest path there is) cost measurably more CPU.
    #[inline]
    pub(crate) fn request_on(
        &self,
        epoch: Option<u64>,
        command: &str,
        own: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
        with_receipt: bool,
    ) -> Result<()> {
        if self.lost_transactions.load(Ordering::Acquire) {
            if let Some(&(_, tx)) = headers.iter().find(|(n, _)| *n == "transaction") {
                self.check_transaction(tx)?;
            }
        }
        let receipt = match headers.iter().find(|(n, _)| *n == "receipt") {
            Some(&(_, id)) => Receipt::Caller(id.to_string()),
            None if with_receipt => Receipt::Library(self.next_id("rcpt")),
            None => Receipt::None,
        };
        let waiter = match &receipt {
            Receipt::None => None,
            Receipt::Caller(id) | Receipt::Library(id) => {
                Some((id.clone(), self.expect_receipt(id, epoch)?))
            }
        };
        // A receipt is awaited on one link: the frame must go out on that one.
        let epoch = waiter.as_ref().map_or(epoch, |(_, (_, e))| Some(*e));
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
        let sent = self.enqueue_frame_on(
            epoch,
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
            Some((id, (rx, _))) => {
                if let Err(e) = sent {
                    self.forget_receipt(&id);
                    return Err(e);
                }
                self.wait_receipt(&id, &rx, self.settings.receipt_timeout)
            }
        }
    }

    /// Refuses a frame whose `transaction` header names a transaction that a lost link
    /// took with it, and none of the live link (reconnect rule 3).
    fn check_transaction(&self, tx: &str) -> Result<()> {
        let st = lock(&self.state);
        if !st.transactions.contains_key(tx) && st.lost_transactions.iter().any(|t| t == tx) {
            return Err(Error::Disconnected);
        }
        Ok(())
    }

    /// During an outage, waits for the next link, at most the send timeout
    /// ([`Error::Timeout`]); [`Error::Disconnected`] once closed for good.
    fn await_link(&self) -> Result<()> {
        let guard = lock(&self.outbox);
        let guard = if guard.gate == Gate::Down {
            let (g, timed_out) = self.wait_in_line(guard);
            if timed_out {
                return Err(Error::Timeout);
            }
            g
        } else {
            guard
        };
        match guard.gate {
            Gate::Open => Ok(()),
            _ => Err(Error::Disconnected),
        }
    }

    /// Registers interest in the RECEIPT `id` before the frame that asks for it goes out,
    /// on the live link (after waiting for one when `epoch` is `None`), or on `epoch`
    /// only. Returns the receiver and the link's epoch.
    fn expect_receipt(&self, id: &str, epoch: Option<u64>) -> Result<(Receiver<Result<()>>, u64)> {
        if epoch.is_none() {
            self.await_link()?;
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let mut st = lock(&self.state);
        if st.phase != Phase::Up || epoch.is_some_and(|e| e != st.epoch) {
            return Err(Error::Disconnected);
        }
        if st.receipts.contains_key(id) {
            return Err(Error::invalid(format!(
                "receipt id {id:?} is already awaited"
            )));
        }
        st.receipts.insert(id.to_string(), tx);
        Ok((rx, st.epoch))
    }

    fn forget_receipt(&self, id: &str) {
        lock(&self.state).receipts.remove(id);
    }

    fn wait_receipt(&self, id: &str, rx: &Receiver<Result<()>>, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let answer = self.wait_for(
            Some(deadline),
            Wait::InRead,
            &mut || !rx.is_empty(),
            &mut |wait| {
                let r = match wait {
                    Some(w) if w.is_zero() => rx.try_recv().map_err(|e| match e {
                        TryRecvError::Empty => RecvTimeoutError::Timeout,
                        TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                    }),
                    Some(w) => rx.recv_timeout(w),
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match r {
                    Ok(r) => Some(r),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(Err(Error::Disconnected)),
                }
            },
        );
        answer.unwrap_or_else(|| {
            self.forget_receipt(id);
            Err(Error::Timeout)
        })
    }

    /// Registers a subscription, then sends SUBSCRIBE (receipt rule applies). The entry
    /// goes in first so that no MESSAGE can arrive for an unknown id. Once the call
    /// succeeded, a reconnect subscribes again with the same id.
    pub(crate) fn subscribe(
        &self,
        id: &str,
        mut entry: SubEntry,
        headers: &[(&str, &str)],
    ) -> Result<()> {
        let destination = entry.destination.clone();
        let ack = entry.ack;
        {
            let mut st = lock(&self.state);
            if st.phase == Phase::Closed {
                return Err(Error::Disconnected);
            }
            if st.subs.contains_key(id) {
                return Err(Error::invalid(format!(
                    "subscription id {id:?} is already in use"
                )));
            }
            entry.seq = st.next_seq;
            entry.confirmed = false;
            st.next_seq += 1;
            st.subs.insert(id.to_string(), entry);
        }
        let own = [
            ("destination", destination.as_str()),
            ("id", id),
            ("ack", ack),
        ];
        let r = self.request("SUBSCRIBE", &own, headers, b"", false);
        let mut st = lock(&self.state);
        match &r {
            Ok(()) => {
                if let Some(e) = st.subs.get_mut(id) {
                    e.confirmed = true;
                }
            }
            // Whether the broker saw it or not, the caller gets no handle: forget it.
            Err(_) => drop(st.subs.remove(id)),
        }
        r
    }

    /// Forgets the subscription (its queue ends after what was delivered) and sends
    /// UNSUBSCRIBE. `Ok(false)` when it was not active any more. During an outage it
    /// sends nothing: the broker's side went with the link (reconnect rule 7).
    pub(crate) fn unsubscribe(&self, id: &str, headers: &[(&str, &str)]) -> Result<bool> {
        let (removed, epoch) = {
            let mut st = lock(&self.state);
            let epoch = (st.phase == Phase::Up).then_some(st.epoch);
            (st.forget_subscription(id), epoch)
        };
        let Some(entry) = removed else {
            return Ok(false);
        };
        if let Target::Callback(slot) = &entry.target {
            slot.remove(self.on_dispatch_thread());
        }
        drop(entry);
        let Some(epoch) = epoch else {
            return Ok(true);
        };
        let own = [("id", id)];
        match self.request_on(Some(epoch), "UNSUBSCRIBE", &own, headers, b"", false) {
            Ok(()) => Ok(true),
            // Lost meanwhile, and no receipt asked for: as in an outage.
            Err(Error::Disconnected)
                if !self.is_closed() && !headers.iter().any(|(n, _)| *n == "receipt") =>
            {
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `id` is still an active subscription of this session.
    pub(crate) fn is_subscribed(&self, id: &str) -> bool {
        lock(&self.state).subs.contains_key(id)
    }

    /// BEGIN on the live link (waiting for one during an outage); returns its epoch, to
    /// which the transaction belongs.
    pub(crate) fn begin(&self, id: &str) -> Result<u64> {
        self.await_link()?;
        let epoch = {
            let mut st = lock(&self.state);
            if st.phase != Phase::Up {
                return Err(Error::Disconnected);
            }
            let epoch = st.epoch;
            st.transactions.insert(id.to_string(), epoch);
            epoch
        };
        let r = self.request_on(
            Some(epoch),
            "BEGIN",
            &[("transaction", id)],
            &[],
            b"",
            false,
        );
        if r.is_err() {
            self.forget_transaction(id, epoch);
        }
        r.map(|()| epoch)
    }

    /// COMMIT or ABORT of the transaction `id` begun on link `epoch`, with a receipt:
    /// [`Error::Disconnected`] when that link is gone (reconnect rule 3).
    pub(crate) fn end_transaction(&self, id: &str, epoch: u64, command: &str) -> Result<()> {
        let r = self.request_on(Some(epoch), command, &[("transaction", id)], &[], b"", true);
        self.forget_transaction(id, epoch);
        r
    }

    /// A transaction dropped open: ABORT without waiting, if its link is still up.
    pub(crate) fn drop_transaction(&self, id: &str, epoch: u64) {
        if self.live_epoch() == epoch {
            let own = [("transaction", id)];
            let _ = self.request_on(Some(epoch), "ABORT", &own, &[], b"", false);
        }
        self.forget_transaction(id, epoch);
    }

    fn forget_transaction(&self, id: &str, epoch: u64) {
        let mut st = lock(&self.state);
        if st.transactions.get(id) == Some(&epoch) {
            st.transactions.remove(id);
        }
    }

    /// DISCONNECT with a receipt, then closes the socket and stops both threads. See
    /// `Client::disconnect` for the results. During an outage: stops reconnecting and
    /// returns at once (reconnect rule 8).
    pub(crate) fn disconnect(&self, timeout: Duration) -> Result<()> {
        let _one_at_a_time = lock(&self.disconnecting);
        if lock(&self.threads).io.is_none() {
            self.join_dispatch();
            return Ok(());
        }
        if self.close_outage("disconnected by the client") {
            // The I/O thread may be in a connect attempt: it ends it in the background
            // and exits without reporting anything.
            drop(lock(&self.threads).io.take());
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
            if st.phase != Phase::Up {
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
        lock(&self.outbox).gate.close();
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
            if ob.gate != Gate::Shutdown {
                ob.gate = Gate::Shutdown;
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
        if self.close_outage(reason) {
            return;
        }
        {
            let mut st = lock(&self.state);
            st.closing = true;
            if st.close_reason.is_none() {
                st.close_reason = Some(reason.to_string());
            }
        }
        lock(&self.outbox).gate = Gate::Shutdown;
        self.waker.wake();
    }

    /// Queues an event for the dispatch thread.
    pub(crate) fn event(&self, event: Event, detail: &str) {
        if self.settings.on_event.is_some() {
            self.jobs
                .push(dispatch::Job::Event(event, detail.to_string()));
        }
    }

    /// A link ended with reconnect on: starts the outage, unless the session was
    /// closing or closed (then `false`, and the caller finishes the session). Pending
    /// receipt waits end with "disconnected" at once; callers that must send wait for
    /// the next link (reconnect rules 1, 2, 3, 7).
    fn lose(&self, end: &io::End) -> bool {
        let (receipts, reason) = {
            let mut st = lock(&self.state);
            if st.closing || st.phase != Phase::Up {
                return false;
            }
            st.phase = Phase::Outage;
            let reason = end.reason();
            st.close_reason = Some(reason.clone());
            st.lose_transactions();
            if !st.lost_transactions.is_empty() {
                self.lost_transactions.store(true, Ordering::Release);
            }
            (std::mem::take(&mut st.receipts), reason)
        };
        self.live_epoch.store(0, Ordering::Release);
        // Dropping the senders wakes every receipt waiter at once with "disconnected".
        drop(receipts);
        {
            let mut ob = lock(&self.outbox);
            if ob.gate.is_open() {
                ob.gate = Gate::Down;
            }
            ob.buf = Vec::new();
            // Nobody may lead or write on the dead socket.
            ob.direct_fd = None;
        }
        self.outbox_space.notify_all();
        if let io::End::ServerError { message, .. } = end {
            self.event(Event::ServerError, message);
        }
        self.event(Event::ConnectionLost, &reason);
        true
    }

    /// Ends an outage for good (disconnect, or a failure on the dispatch thread): `false`
    /// when there is none. Callers waiting for the next link get "disconnected", and so
    /// do receivers once their queues are empty.
    fn close_outage(&self, reason: &str) -> bool {
        let subs = {
            let mut st = lock(&self.state);
            if st.phase != Phase::Outage {
                return false;
            }
            st.phase = Phase::Closed;
            st.closing = true;
            st.close_reason = Some(reason.to_string());
            std::mem::take(&mut st.subs)
        };
        if let Some(plan) = &self.settings.reconnect {
            plan.close();
        }
        drop(subs);
        lock(&self.outbox).gate.close();
        self.outbox_space.notify_all();
        self.waker.wake(); // out of a back-off wait
        self.event(Event::Disconnected, reason);
        self.jobs.push(dispatch::Job::Stop);
        true
    }

    /// Makes the link `est` (to the endpoint `url`) the session's, unless the client
    /// closed meanwhile (then `None`, and the link is dropped unused). Every subscription
    /// that was made OK is subscribed again first, with its id and headers (less
    /// `receipt`), in creation order, before any caller's frame; then callers waiting for
    /// a link go on (reconnect rule 5).
    fn install(&self, url: &str, est: handshake::Established) -> Option<io::IoParts> {
        let handshake::Established {
            mut info,
            writer,
            reader,
            decoder,
            io,
        } = est;
        info.url = url.to_string();
        let version = info.version;
        let mut rs = lock(&self.read_side);
        let mut st = lock(&self.state);
        if st.phase != Phase::Outage {
            return None;
        }
        st.phase = Phase::Up;
        st.epoch += 1;
        st.close_reason = None;
        let epoch = st.epoch;
        let mut subs: Vec<_> = st.subs.iter().filter(|(_, e)| e.confirmed).collect();
        subs.sort_by_key(|(_, e)| e.seq);
        *rs = reader::ReadSide::new(reader, decoder, epoch);
        self.leader_ended.store(false, Ordering::Release);
        self.set_info(info);
        let mut guard = lock(&self.outbox);
        let ob = &mut *guard;
        ob.framing = writer;
        ob.direct_fd = io.stream.socket_fd();
        ob.version = version;
        ob.epoch = epoch;
        ob.buf.clear();
        ob.stalled = false;
        ob.io_writing = false;
        ob.leader = false;
        ob.window_until = None;
        ob.flush_at = None;
        ob.last_large = None;
        ob.through_streak = 0;
        ob.served = false;
        ob.io_sleeping = false;
        ob.io_polls_socket = true;
        ob.wrote_at = None;
        let mut lines = Vec::new();
        for (id, e) in subs {
            ob.encode_head("SUBSCRIBE", version, |w| {
                w.header("destination", &e.destination);
                w.header("id", id);
                w.header("ack", e.ack);
                for (n, v) in e.headers.iter().filter(|(n, _)| n != "receipt") {
                    w.header(n, v);
                }
            });
            ob.framing
                .write_frame_parts(&mut ob.buf, &[&ob.scratch, b"\0"]);
            if self.settings.debug.is_some() {
                lines.push(outbox::head_and_body_line(&ob.scratch, b""));
            }
        }
        ob.gate = Gate::Open;
        drop(guard);
        drop(st);
        drop(rs);
        self.live_epoch.store(epoch, Ordering::Release);
        self.saw_data();
        self.outbox_space.notify_all();
        if let Some(d) = &self.settings.debug {
            for line in &lines {
                d(line);
            }
        }
        self.event(Event::Connected, url);
        Some(io)
    }

    /// Called by the I/O thread when the session ends for good, for whatever reason:
    /// records why, wakes every waiter (receipts, receivers, blocked senders) and
    /// reports the events. After an outage (reconnect gave up), the loss was reported
    /// already.
    fn finish(&self, end: io::End) {
        self.live_epoch.store(0, Ordering::Release);
        let (receipts, subs, closing, reason, was_up) = {
            let mut st = lock(&self.state);
            if st.phase == Phase::Closed {
                // Closed during an outage by close_outage, which did the rest.
                drop(st);
                self.jobs.push(dispatch::Job::Stop);
                return;
            }
            let was_up = st.phase == Phase::Up;
            st.phase = Phase::Closed;
            let closing = st.closing;
            if !was_up {
                st.close_reason = Some(end.reason());
            } else if st.close_reason.is_none() {
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
                was_up,
            )
        };
        // Dropping the senders wakes every waiter at once with "disconnected".
        drop(receipts);
        drop(subs);
        {
            let mut ob = lock(&self.outbox);
            ob.gate.close();
            ob.buf = Vec::new();
        }
        self.outbox_space.notify_all();
        if was_up {
            if let io::End::ServerError { message, .. } = &end {
                self.event(Event::ServerError, message);
            }
            if !closing {
                self.event(Event::ConnectionLost, &reason);
            }
        }
        self.event(Event::Disconnected, &reason);
        self.jobs.push(dispatch::Job::Stop);
    }
}
