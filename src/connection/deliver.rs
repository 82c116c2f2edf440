//! What the read side decoded, handed on: MESSAGE frames to their subscriptions (or the
//! dispatch thread), RECEIPT to its waiter, ERROR to the waiter it names and the end of
//! the link.

use std::sync::Arc;
use std::time::Instant;

use crate::error::Error;
use crate::event::Event;
use crate::frame::Frame;

use super::callback::Job;
use super::end::End;
use super::outbox::Origin;
use super::reader::{Batch, Deliver};
use super::session::{Session, Target, UNHANDLED_ID};
use super::sync::lock;

impl Deliver for Session {
    fn saw_data(&self, at: Instant) {
        self.link.saw_data(at);
    }

    fn deliver(&self, frame: Frame, batch: &mut Batch) -> std::result::Result<(), End> {
        deliver(self, frame, batch)
    }
}

/// Hands one decoded frame to whoever waits for it. An ERROR ends the link.
fn deliver(shared: &Session, frame: Frame, batch: &mut Batch) -> std::result::Result<(), End> {
    shared.debug_received(&frame);
    match frame.command() {
        "MESSAGE" => {
            deliver_message(shared, frame, batch);
            Ok(())
        }
        "RECEIPT" => {
            if let Some(id) = frame.header("receipt-id") {
                let waiter = lock(&shared.state).receipts.remove(id);
                if let Some(tx) = waiter {
                    let _ = tx.send(Ok(()));
                    shared.open_leader_window();
                }
            }
            Ok(())
        }
        "ERROR" if late_delivery_error(shared, &frame) => {
            // Not fatal: see late_delivery_error. Reported, and the session goes on.
            let message = frame.header("message").unwrap_or("");
            shared.event(Event::ServerError, message);
            Ok(())
        }
        "ERROR" => {
            let message = frame.header("message").unwrap_or("").to_string();
            let body = String::from_utf8_lossy(frame.body()).trim_end().to_string();
            if let Some(id) = frame.header("receipt-id") {
                if let Some(tx) = lock(&shared.state).receipts.remove(id) {
                    let _ = tx.send(Err(Error::ServerError {
                        message: message.clone(),
                        body: body.clone(),
                    }));
                }
            }
            Err(End::ServerError { message, body })
        }
        _ => Ok(()), // e.g. a second CONNECTED: nothing waits for it
    }
}

/// RabbitMQ answers a delivery that crossed our UNSUBSCRIBE with
/// `ERROR message:Subscription not found` naming the subscription's tag `T_<id>`, and
/// keeps the connection open. Ending the session for that would make unsubscribing
/// from a busy destination lose the connection now and then, so this one ERROR, for an
/// id we gave up ourselves and asked no receipt of, is not fatal.
fn late_delivery_error(shared: &Session, frame: &Frame) -> bool {
    if frame.header("message") != Some("Subscription not found")
        || frame.header("receipt-id").is_some()
    {
        return false;
    }
    let body = String::from_utf8_lossy(frame.body());
    let Some(tag) = body.split('\'').nth(1) else {
        return false;
    };
    let id = tag.strip_prefix("T_").unwrap_or(tag);
    lock(&shared.state).was_unsubscribed(id)
}

fn deliver_message(shared: &Session, frame: Frame, batch: &mut Batch) {
    let mut st = lock(&shared.state);
    let entry = match frame.header("subscription") {
        Some(id) => st.subs.get_key_value(id),
        // STOMP 1.0 brokers may omit it: match by destination when that is unambiguous.
        None => {
            let dest = frame.header("destination").unwrap_or("");
            let mut hits = st
                .subs
                .iter()
                .filter(|(_, e)| !e.local && e.destination == dest);
            match (hits.next(), hits.next()) {
                (Some(hit), None) => Some(hit),
                _ => None,
            }
        }
    };
    // Nobody's: a reply RabbitMQ delivers on a subscription it made itself (temp
    // queues), or a delivery that crossed an UNSUBSCRIBE. The subscription for
    // unhandled messages takes it, if there is one.
    let entry = entry.or_else(|| st.subs.get_key_value(UNHANDLED_ID));
    let Some((id, entry)) = entry else {
        drop(st);
        if let Some(d) = &shared.settings.debug {
            d(&format!(
                "--- MESSAGE for subscription {} dropped: no such subscription is open \
                 (a subscribe_unhandled subscription receives such messages)",
                frame.header("subscription").unwrap_or("(none)")
            ));
        }
        return;
    };
    let size = frame.size_hint();
    let queued = entry
        .stats
        .messages
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        + 1;
    let bytes = entry
        .stats
        .bytes
        .fetch_add(size, std::sync::atomic::Ordering::Relaxed)
        + size;
    batch.queued(bytes);
    match &entry.target {
        Target::Pull(q) => {
            // Someone waited for this: likely request/response, as after a RECEIPT. Once
            // per batch: the receiver waits until the batch is done, and every frame of
            // a long one would otherwise find it waiting and take the outbox's lock.
            if q.push_quiet(frame) && batch.woke(q) {
                shared.open_leader_window();
            }
        }
        Target::Callback(slot) => {
            let job = Job::Message(Arc::clone(slot), Arc::clone(&entry.stats), frame);
            if shared.jobs.push_quiet(job) {
                batch.woke_jobs(&shared.jobs);
            }
        }
    }
    let (max_messages, max_bytes) = shared.settings.queue_limit;
    if queued > max_messages || bytes > max_bytes {
        let local = entry.local;
        // Never stop reading for a slow consumer: close its subscription instead. Its
        // receiver still gets what is queued, then "disconnected".
        let id = id.clone();
        let entry = st.forget_subscription(&id);
        drop(st);
        drop(entry);
        if !local {
            let _ = shared.enqueue_frame(
                |w| {
                    w.header("id", &id);
                },
                "UNSUBSCRIBE",
                b"",
                Origin::Internal,
            );
        }
        shared.event(
            Event::SubscriptionClosed,
            &format!("{id}: queue limit of {max_messages} messages / {max_bytes} bytes passed"),
        );
    }
}
