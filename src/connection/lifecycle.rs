//! A session's life: disconnecting, a lost link and the outage that follows, a new link
//! installed, and the end.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;

use crate::error::{Error, Result};
use crate::event::Event;

use super::callback::Job;
use super::end::End;
use super::handshake::{Established, IoParts};
use super::outbox::Origin;
use super::reader::ReadSide;
use super::session::{Phase, Session};
use super::sync::lock;

impl Session {
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

    pub(super) fn say_goodbye(&self, timeout: Duration) -> Result<()> {
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
        lock(&self.link.outbox).close();
        match rx.recv_timeout(timeout) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            // The I/O thread ended: the broker closed the connection (RabbitMQ over ws
            // never sends this receipt) or it was lost. Either way it is closed.
            Err(RecvTimeoutError::Disconnected) => Ok(()),
            Err(RecvTimeoutError::Timeout) => {
                self.forget_receipt(&id);
                Err(Error::timeout(format!(
                    "no RECEIPT for DISCONNECT within {} ms",
                    timeout.as_millis()
                )))
            }
        }
    }

    /// Asks the I/O thread to flush, close the socket and end; waits for it.
    pub(super) fn shutdown_io(&self) {
        lock(&self.state).closing = true;
        {
            lock(&self.link.outbox).shut_down();
        }
        self.link.waker.wake();
        let io = lock(&self.threads).io.take();
        if let Some(h) = io {
            let _ = h.join();
        }
    }

    /// Stops the dispatch thread after the jobs already queued; waits for it unless this
    /// is that thread (a callback dropping the last client).
    pub(super) fn join_dispatch(&self) {
        self.jobs.push(Job::Stop);
        if self.on_dispatch_thread() {
            return;
        }
        let d = {
            let mut threads = lock(&self.threads);
            threads.dispatch_done = true; // none is started any more
            threads.dispatch.take()
        };
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
            let mut why = lock(&self.reason);
            if why.is_none() {
                *why = Some(reason.to_string());
            }
        }
        lock(&self.link.outbox).abort();
        self.link.waker.wake();
    }
    /// A link ended with reconnect on: starts the outage, unless the session was
    /// closing or closed (then `false`, and the caller finishes the session). Pending
    /// receipt waits end with "disconnected" at once; callers that must send wait for
    /// the next link (reconnect rules 1, 2, 3, 7).
    pub(super) fn lose(&self, end: &End) -> bool {
        let (receipts, reason) = {
            let mut st = lock(&self.state);
            if st.closing || st.phase != Phase::Up {
                return false;
            }
            st.phase = Phase::Outage;
            let reason = end.reason();
            *lock(&self.reason) = Some(reason.clone());
            st.lose_transactions();
            if !st.lost_transactions.is_empty() {
                self.lost_transactions.store(true, Ordering::Release);
            }
            (std::mem::take(&mut st.receipts), reason)
        };
        // The gate first: once the session says it is not connected, no send may
        // succeed on the dead link.
        lock(&self.link.outbox).link_lost();
        self.live_epoch.store(0, Ordering::Release);
        // Dropping the senders wakes every receipt waiter at once with "disconnected".
        drop(receipts);
        self.link.space.notify_all();
        if let End::ServerError { message, .. } = end {
            self.event(Event::ServerError, message);
        }
        self.event(Event::ConnectionLost, &reason);
        true
    }

    /// Ends an outage for good (disconnect, or a failure on the dispatch thread): `false`
    /// when there is none. Callers waiting for the next link get "disconnected", and so
    /// do receivers once their queues are empty.
    pub(super) fn close_outage(&self, reason: &str) -> bool {
        let subs = {
            let mut st = lock(&self.state);
            if st.phase != Phase::Outage {
                return false;
            }
            st.phase = Phase::Closed;
            st.closing = true;
            *lock(&self.reason) = Some(reason.to_string());
            std::mem::take(&mut st.subs)
        };
        if let Some(plan) = &self.settings.reconnect {
            plan.close();
        }
        drop(subs);
        lock(&self.link.outbox).close();
        self.link.space.notify_all();
        self.link.waker.wake(); // out of a back-off wait
        self.event(Event::Disconnected, reason);
        self.jobs.push(Job::Stop);
        true
    }

    /// Makes the link `est` (to the endpoint `url`) the session's, unless the client
    /// closed meanwhile (then `None`, and the link is dropped unused). Every subscription
    /// that was made OK is subscribed again first, with its id and headers (less
    /// `receipt`), in creation order, before any caller's frame; then callers waiting for
    /// a link go on (reconnect rule 5).
    pub(super) fn install(&self, url: &str, est: Established) -> Option<IoParts> {
        let Established {
            mut info,
            writer,
            reader,
            decoder,
            io,
        } = est;
        info.url = url.to_string();
        let version = info.version;
        let mut rs = lock(&self.link.read_side);
        let mut st = lock(&self.state);
        if st.phase != Phase::Outage {
            return None;
        }
        st.phase = Phase::Up;
        st.epoch += 1;
        *lock(&self.reason) = None;
        let epoch = st.epoch;
        let mut subs: Vec<_> = st
            .subs
            .iter()
            .filter(|(_, e)| e.confirmed && !e.local)
            .collect();
        subs.sort_by_key(|(_, e)| e.seq);
        *rs = ReadSide::new(reader, decoder, epoch);
        self.link.leader_ended.store(false, Ordering::Release);
        self.set_info(info);
        let mut ob = lock(&self.link.outbox);
        ob.new_link(writer, io.stream.socket_fd(), version, epoch);
        let debug = self.settings.debug.is_some();
        let mut lines = Vec::new();
        for (id, e) in subs {
            let line = ob.encode(
                "SUBSCRIBE",
                |w| {
                    w.header("destination", &e.destination);
                    w.header("id", id);
                    w.header("ack", e.ack);
                    for (n, v) in e.headers.iter().filter(|(n, _)| n != "receipt") {
                        w.header(n, v);
                    }
                },
                b"",
                debug,
            );
            lines.extend(line);
        }
        ob.open();
        drop(ob);
        drop(st);
        // Under the read side's lock, as `saw_data` requires.
        self.link.saw_data(Instant::now());
        drop(rs);
        self.live_epoch.store(epoch, Ordering::Release);
        self.link.space.notify_all();
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
    pub(super) fn finish(&self, end: End) {
        // The gate first: once the session says it is not connected, no send succeeds.
        lock(&self.link.outbox).close();
        self.live_epoch.store(0, Ordering::Release);
        let (receipts, subs, closing, reason, was_up) = {
            let mut st = lock(&self.state);
            if st.phase == Phase::Closed {
                // Closed during an outage by close_outage, which did the rest.
                drop(st);
                self.jobs.push(Job::Stop);
                return;
            }
            let was_up = st.phase == Phase::Up;
            st.phase = Phase::Closed;
            let closing = st.closing;
            let mut why = lock(&self.reason);
            if !was_up {
                *why = Some(end.reason());
            } else if why.is_none() {
                *why = Some(if closing {
                    "disconnected by the client".to_string()
                } else {
                    end.reason()
                });
            }
            let reason = why.clone().unwrap_or_default();
            drop(why);
            let receipts = std::mem::take(&mut st.receipts);
            let subs = std::mem::take(&mut st.subs);
            (receipts, subs, closing, reason, was_up)
        };
        // Dropping the senders wakes every waiter at once with "disconnected".
        drop(receipts);
        drop(subs);
        {
            lock(&self.link.outbox).close_and_clear();
        }
        self.link.space.notify_all();
        if was_up {
            if let End::ServerError { message, .. } = &end {
                self.event(Event::ServerError, message);
            }
            if !closing {
                self.event(Event::ConnectionLost, &reason);
            }
        }
        self.event(Event::Disconnected, &reason);
        self.jobs.push(Job::Stop);
    }
}
