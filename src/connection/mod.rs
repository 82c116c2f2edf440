//! One STOMP session and its links. A [`Session`] outlives its links (connections):
//! with reconnect on, the I/O thread makes a new link when one is lost, and the
//! session's subscriptions, ids and handles carry over; what belonged to the lost link
//! (receipt waits, ack ids, transactions) is tagged with its epoch and refused
//! afterwards.
//!
//! - The **I/O thread** ([`io`]) owns the socket. It writes what callers queued in the
//!   outbox, reads and decodes frames, hands them on ([`deliver`]), and keeps
//!   heart-beats; after a loss it runs the reconnect loop ([`reconnect`]).
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
//! Files, from the bottom up (each uses only files above it in this list, and none
//! uses this one):
//! - `sync.rs`: locking without poisoning.
//! - `debug.rs`: the debug hook's lines.
//! - `idmap.rs`: the id-keyed maps of receipts and subscriptions.
//! - `heartbeat.rs`: heart-beat negotiation and clocks.
//! - `waker.rs`: the eventfd and timerfd the I/O thread sleeps on.
//! - `queue.rs`: the queues of pull subscriptions and of the dispatch thread.
//! - `end.rs`: how a link ended.
//! - `info.rs`: what a link settled on at CONNECTED.
//! - `callback.rs`: the dispatch thread's jobs and callback slots.
//! - `policy.rs`: back-off, attempt counting, what a reconnect needs.
//! - `handshake.rs`: CONNECT and CONNECTED over an opened transport.
//! - `outbox.rs`: the write side and its rules, without system calls.
//! - `reader.rs`: the read side: framing, decoder, read buffer.
//! - `link.rs`: one socket's worth of state (outbox, read side, waker).
//! - `session.rs`: the session: settings, subscriptions, receipts, state, the link.
//! - `send.rs`: a caller's frame into the outbox; waiting for room or a link.
//! - `direct.rs`: a caller writing large frames to the socket itself.
//! - `leader.rs`: the one wait of a caller, leading the read when it can (and a
//!   receiver's lead taking its message straight off the wire).
//! - `request.rs`: the frames callers ask for, and the receipt rule.
//! - `deliver.rs`: what the read side decoded, handed to its waiters.
//! - `lifecycle.rs`: disconnect, a lost link, a new link, the end.
//! - `reconnect.rs`: connect to the first endpoint that answers; the reconnect loop.
//! - `io.rs`: the I/O thread's loop over each link.
//! - `dispatch.rs`: the dispatch thread's loop.
//! - `open.rs`: starting a session: the first link, then both threads.

mod callback;
mod debug;
mod deliver;
mod direct;
mod dispatch;
mod end;
mod handshake;
mod heartbeat;
mod idmap;
mod info;
mod io;
mod leader;
mod lifecycle;
mod link;
mod open;
mod outbox;
mod policy;
mod queue;
mod reader;
mod reconnect;
mod request;
mod send;
mod session;
mod sync;
mod waker;

pub(crate) use callback::{defer as defer_on_dispatch_thread, CallbackSlot, QueueStats};
pub(crate) use info::SessionInfo;
pub(crate) use leader::{Claim, Wait};
pub(crate) use queue::{Empty, Queue};
pub(crate) use reconnect::take_connect_detail;
pub(crate) use session::{Session, SubEntry, Target, UNHANDLED_ID};
