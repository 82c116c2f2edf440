//! The frames callers ask for, and the receipt rule: SEND, SUBSCRIBE, UNSUBSCRIBE,
//! ACK/NACK, BEGIN/COMMIT/ABORT, each on the live link or on the one it belongs to.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use crate::error::{Error, Result};

use super::leader::Wait;
use super::outbox::{Gate, Origin};
use super::session::{Phase, Session, SubEntry, Target};
use super::sync::lock;

/// What a frame is about, for error texts: its command and destination, or the
/// transaction or subscription id it names.
#[cold]
fn frame_name(command: &str, own: &[(&str, &str)], headers: &[(&str, &str)]) -> String {
    let all = || own.iter().chain(headers);
    let about = ["destination", "transaction", "id"]
        .iter()
        .find_map(|h| all().find(|(n, _)| n == h).map(|&(_, v)| v));
    match about {
        Some(v) => format!("{command} {v}"),
        None => command.to_string(),
    }
}

/// A `Timeout` that came while the frame waited to go out gets the frame's name in
/// front of what it waited for.
#[cold]
fn named(e: Error, command: &str, own: &[(&str, &str)], headers: &[(&str, &str)]) -> Error {
    if e == Error::Timeout {
        crate::error::prefix_detail(&frame_name(command, own, headers), "timeout");
    }
    e
}

/// A `Timeout` waiting for the frame's RECEIPT: "no RECEIPT for SUBSCRIBE /queue/x
/// within 30000 ms".
#[cold]
fn no_receipt(
    e: Error,
    command: &str,
    own: &[(&str, &str)],
    headers: &[(&str, &str)],
    waited: Duration,
) -> Error {
    if e == Error::Timeout {
        crate::error::note_detail(format!(
            "no RECEIPT for {} within {} ms",
            frame_name(command, own, headers),
            waited.as_millis()
        ));
    }
    e
}

/// How a caller's frame asks for a receipt.
enum Receipt {
    None,
    /// The caller put a `receipt` header among its headers.
    Caller(String),
    /// The library adds `receipt:<id>` (commit, abort, send_with_receipt).
    Library(String),
}

impl Session {
    /// Sends one frame: `own` headers (the library's) first, then the caller's. Follows
    /// the receipt rule: when the caller's headers hold `receipt`, or `with_receipt` is
    /// set, waits for the RECEIPT (or the ERROR naming it) up to the receipt timeout.
    /// During an outage it waits for the next link first (reconnect rule 7).
    // Always inlined: a call of its own only moved its arguments on to request_on's.
    #[inline(always)]
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

    /// [`Session::request`] for a frame that belongs to the link `epoch` (an ack, a
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
                let expected = self.expect_receipt(id, epoch);
                Some((
                    id.clone(),
                    expected.map_err(|e| named(e, command, own, headers))?,
                ))
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
                for &(n, v) in own.iter().chain(library_receipt.iter()) {
                    w.own_header(n, v);
                }
                for &(n, v) in headers {
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
            None => sent.map_err(|e| named(e, command, own, headers)),
            Some((id, (rx, _))) => {
                if let Err(e) = sent {
                    self.forget_receipt(&id);
                    return Err(named(e, command, own, headers));
                }
                self.wait_receipt(&id, &rx, self.settings.receipt_timeout)
                    .map_err(|e| {
                        no_receipt(e, command, own, headers, self.settings.receipt_timeout)
                    })
            }
        }
    }

    /// Refuses a frame whose `transaction` header names a transaction that a lost link
    /// took with it, and none of the live link (reconnect rule 3).
    pub(super) fn check_transaction(&self, tx: &str) -> Result<()> {
        let st = lock(&self.state);
        if !st.transactions.contains_key(tx) && st.lost_transactions.iter().any(|t| t == tx) {
            return Err(self.disconnected());
        }
        Ok(())
    }

    /// During an outage, waits for the next link, at most the send timeout
    /// ([`Error::Timeout`]); [`Error::Disconnected`] once closed for good.
    pub(super) fn await_link(&self) -> Result<()> {
        let guard = lock(&self.link.outbox);
        let guard = if guard.gate() == Gate::Down {
            let (g, timed_out) = self.wait_in_line(guard);
            if timed_out {
                return Err(self.no_link());
            }
            g
        } else {
            guard
        };
        match guard.gate() {
            Gate::Open => Ok(()),
            _ => Err(self.disconnected()),
        }
    }

    /// Registers interest in the RECEIPT `id` before the frame that asks for it goes out,
    /// on the live link (after waiting for one when `epoch` is `None`), or on `epoch`
    /// only. Returns the receiver and the link's epoch.
    pub(super) fn expect_receipt(
        &self,
        id: &str,
        epoch: Option<u64>,
    ) -> Result<(Receiver<Result<()>>, u64)> {
        if epoch.is_none() {
            self.await_link()?;
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let mut st = lock(&self.state);
        if st.phase != Phase::Up || epoch.is_some_and(|e| e != st.epoch) {
            return Err(self.disconnected());
        }
        if st.receipts.contains_key(id) {
            return Err(Error::invalid(format!(
                "receipt id {id:?} is already awaited"
            )));
        }
        st.receipts.insert(id.to_string(), tx);
        Ok((rx, st.epoch))
    }

    pub(super) fn forget_receipt(&self, id: &str) {
        lock(&self.state).receipts.remove(id);
    }

    pub(super) fn wait_receipt(
        &self,
        id: &str,
        rx: &Receiver<Result<()>>,
        timeout: Duration,
    ) -> Result<()> {
        let now = Instant::now();
        let answer = self.wait_for(now, Some(now + timeout), Wait::InRead, None, &mut |wait| {
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
                Err(RecvTimeoutError::Disconnected) => Some(Err(self.disconnected())),
            }
        });
        answer.unwrap_or_else(|| {
            self.forget_receipt(id);
            Err(Error::timeout(format!(
                "no RECEIPT {id} within {} ms",
                timeout.as_millis()
            )))
        })
    }

    /// Registers a subscription, then sends SUBSCRIBE (receipt rule applies). The entry
    /// goes in first so that no MESSAGE can arrive for an unknown id. Once the call
    /// succeeded, a reconnect subscribes again with the same id. Returns the entry's
    /// `seq`, which tells it apart from a later subscription with the same id.
    ///
    /// A failed call leaves nothing behind: the entry is forgotten, and after a
    /// `Timeout` (the SUBSCRIBE may have reached the broker, whose receipt never came)
    /// an UNSUBSCRIBE for the id follows, so that the broker keeps no subscription the
    /// caller has no handle for. A local entry (`subscribe_unhandled`) sends nothing.
    pub(crate) fn subscribe(
        &self,
        id: &str,
        mut entry: SubEntry,
        headers: &[(&str, &str)],
    ) -> Result<u64> {
        let destination = entry.destination.clone();
        let ack = entry.ack;
        let local = entry.local;
        let seq = {
            let mut st = lock(&self.state);
            if st.phase == Phase::Closed {
                return Err(self.disconnected());
            }
            if st.subs.contains_key(id) {
                return Err(Error::invalid(if local {
                    "a subscription for unhandled messages is already open".to_string()
                } else {
                    format!("subscription id {id:?} is already in use")
                }));
            }
            let seq = st.next_seq;
            entry.seq = seq;
            entry.confirmed = local;
            st.next_seq += 1;
            st.subs.insert(id.to_string(), entry);
            seq
        };
        if local {
            return Ok(seq);
        }
        let own = [
            ("destination", destination.as_str()),
            ("id", id),
            ("ack", ack),
        ];
        let r = self.request("SUBSCRIBE", &own, headers, b"", false);
        let mut st = lock(&self.state);
        let mine = st.subs.get_mut(id).filter(|e| e.seq == seq);
        match &r {
            Ok(()) => {
                if let Some(e) = mine {
                    e.confirmed = true;
                }
            }
            // Whether the broker saw it or not, the caller gets no handle: forget it.
            Err(e) => {
                let timed_out = *e == Error::Timeout;
                let forgotten = match mine {
                    Some(_) => st.forget_subscription(id),
                    None => None,
                };
                drop(st);
                drop(forgotten);
                if timed_out {
                    self.unsubscribe_abandoned(id);
                }
            }
        }
        r.map(|()| seq)
    }

    /// After a SUBSCRIBE whose receipt did not come in time: UNSUBSCRIBE for its id,
    /// without waiting, on the live link (none during an outage: the broker's side went
    /// with the link). The caller's error keeps its own detail.
    #[cold]
    fn unsubscribe_abandoned(&self, id: &str) {
        let detail = crate::error::take_detail();
        let _ = self.enqueue_frame(
            |w| {
                w.header("id", id);
            },
            "UNSUBSCRIBE",
            b"",
            Origin::Internal,
        );
        if let Some(d) = detail {
            crate::error::note_detail(d);
        }
    }

    /// Forgets the subscription `id` (its queue ends after what was delivered) and sends
    /// UNSUBSCRIBE, when it is the one created as `seq` (`None`: whichever has the id).
    /// `Ok(false)` when it was not active any more. During an outage it sends nothing:
    /// the broker's side went with the link (reconnect rule 7); nor for a local
    /// subscription, which the broker never saw.
    pub(crate) fn unsubscribe(
        &self,
        id: &str,
        seq: Option<u64>,
        headers: &[(&str, &str)],
    ) -> Result<bool> {
        let (removed, epoch) = {
            let mut st = lock(&self.state);
            let epoch = (st.phase == Phase::Up).then_some(st.epoch);
            let mine = st
                .subs
                .get(id)
                .is_some_and(|e| seq.map_or(true, |s| s == e.seq));
            (mine.then(|| st.forget_subscription(id)).flatten(), epoch)
        };
        let Some(entry) = removed else {
            return Ok(false);
        };
        let local = entry.local;
        self.end_entry(entry);
        let Some(epoch) = epoch.filter(|_| !local) else {
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

    /// UNSUBSCRIBE with this id and these headers whether or not a subscription of this
    /// session has it (removing an ActiveMQ durable subscription after its consumer is
    /// gone, say). An open one with the id ends first, as by its own unsubscribe, and
    /// its handle's unsubscribe then does nothing and succeeds. The frame goes out on
    /// the live link (during an outage, on the next, waiting at most the send timeout);
    /// the receipt rule applies.
    pub(crate) fn unsubscribe_id(&self, id: &str, headers: &[(&str, &str)]) -> Result<()> {
        let removed = {
            let mut st = lock(&self.state);
            if st.phase == Phase::Closed {
                return Err(self.disconnected());
            }
            st.forget_subscription(id)
        };
        if let Some(entry) = removed {
            entry.stats.released.store(true, Ordering::Release);
            self.end_entry(entry);
        }
        self.request("UNSUBSCRIBE", &[("id", id)], headers, b"", false)
    }

    /// A forgotten subscription's last step: a callback is never called again once this
    /// returns (except from inside it), and a pull queue ends after what it holds.
    fn end_entry(&self, entry: SubEntry) {
        if let Target::Callback(slot) = &entry.target {
            slot.remove(self.on_dispatch_thread());
        }
        drop(entry);
    }

    /// BEGIN on the live link (waiting for one during an outage); returns its epoch, to
    /// which the transaction belongs.
    pub(crate) fn begin(&self, id: &str) -> Result<u64> {
        self.await_link()?;
        let epoch = {
            let mut st = lock(&self.state);
            if st.phase != Phase::Up {
                return Err(self.disconnected());
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

    pub(super) fn forget_transaction(&self, id: &str, epoch: u64) {
        let mut st = lock(&self.state);
        if st.transactions.get(id) == Some(&epoch) {
            st.transactions.remove(id);
        }
    }
}
