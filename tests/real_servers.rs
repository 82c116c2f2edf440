//! What real servers do that the rest of the suite never named (issue 12, API.md
//! "Messages nobody subscribed to, unsubscribing by id, split frames", DESIGN.md §7):
//!
//! - RabbitMQ request/reply: replies to `reply-to: /temp-queue/NAME` come on a
//!   subscription the broker made itself, so only `subscribe_unhandled` receives them
//!   (over ws and tcp; the median round trip is printed); without it they are dropped
//!   and the debug hook says so.
//! - `subscribe_unhandled`'s rules, at the scripted server: one at a time, the id `*`
//!   reserved, and nothing of it ever sent to the broker, reconnect included.
//! - ActiveMQ durable topic subscriptions removed with `unsubscribe_id` and
//!   `activemq.subscriptionName`, with a positive control that keeps one.
//! - `unsubscribe_id` on an open subscription, and an old handle next to a newer
//!   subscription with the same id.
//! - A SUBSCRIBE whose receipt never comes (Spring answers none) is followed by an
//!   UNSUBSCRIBE and forgotten; one answered by ERROR is not subscribed again after a
//!   reconnect.
//!
//! The broker tests find their brokers as the others do (`tests/common`, `require!`): a
//! missing broker skips them with a note, or fails them under `STOMPWS_REQUIRE_BROKERS=1`.
//! The texts of `stompws_last_error` for these cases are checked from C
//! (`tests/c/test_quirks.c`), since the Rust errors carry no detail for them.

mod common;
mod fake;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{unique, GUEST, STOMPWS};
use fake::{Events, Peer, Seen};
use stompws::{AckMode, Client, Config, Error, Event};

/// How long a test waits for something that should come within milliseconds.
const WAIT: Duration = Duration::from_secs(10);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A broker client: no heart-beats from us (RabbitMQ 3.10 kills a publisher that sends
/// them when its credit flow resumes, DESIGN.md §7), bounded waits.
fn broker_config(user: (&str, &str)) -> Config {
    Config::new()
        .login(user.0, user.1)
        .heartbeat(0, 10_000)
        .receipt_timeout(WAIT)
        .send_timeout(WAIT)
}

/// The lines a client's debug hook printed, shared with the test.
#[derive(Clone, Default)]
struct DebugLines(Arc<Mutex<Vec<String>>>);

impl DebugLines {
    fn attach(&self, config: Config) -> Config {
        let lines = self.clone();
        config.debug(move |line| lines.0.lock().unwrap().push(line.to_string()))
    }

    /// The first line holding every one of `parts`, waiting up to `timeout` for it.
    fn wait_for(&self, parts: &[&str], timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(l) = self
                .0
                .lock()
                .unwrap()
                .iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
            {
                return Some(l.clone());
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(ms(10));
        }
    }
}

// ---- 1. Request/reply over RabbitMQ -----------------------------------------------

/// The responder: replies to every request on `queue` at its `reply-to`, with its
/// `correlation-id` and the body "re: <request body>", until its client is closed.
/// Returns how many it answered.
fn start_responder(url: &str, queue: &str) -> (Client, thread::JoinHandle<usize>) {
    let responder = Client::connect(url, &broker_config(GUEST)).expect("responder connect");
    // The receipt: the queue exists and is consumed before the first request goes out.
    let requests = responder
        .subscribe(queue, AckMode::Auto, &[("receipt", "responder-ready")])
        .expect("responder subscribe");
    let sender = responder.clone();
    let handle = thread::spawn(move || {
        let mut answered = 0;
        for request in &requests {
            let reply_to = request
                .header("reply-to")
                .expect("a request without reply-to");
            let correlation = request.header("correlation-id").unwrap_or("").to_string();
            let mut body = b"re: ".to_vec();
            body.extend_from_slice(request.body());
            match sender.send(reply_to, &[("correlation-id", &correlation)], &body) {
                Ok(()) => answered += 1,
                Err(Error::Disconnected) => break,
                Err(e) => panic!("responder send to {reply_to}: {e}"),
            }
        }
        answered
    });
    (responder, handle)
}

fn request_reply_round_trips(var: &str) {
    const REQUESTS: usize = 200;
    let url = require!(var);
    let queue = format!("/queue/{}", unique("stompws-rpc"));
    let (responder, answering) = start_responder(&url, &queue);

    let requester = Client::connect(&url, &broker_config(GUEST)).expect("requester connect");
    let replies = requester
        .subscribe_unhandled()
        .expect("subscribe_unhandled");
    let mut round_trips = Vec::with_capacity(REQUESTS);
    let mut reply_subscription = None;
    for i in 0..REQUESTS {
        let correlation = format!("corr-{i}");
        let body = format!("request {i}");
        let t = Instant::now();
        requester
            .send(
                &queue,
                &[
                    ("reply-to", "/temp-queue/replies"),
                    ("correlation-id", &correlation),
                ],
                body.as_bytes(),
            )
            .expect("request send");
        let reply = replies
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("{var}: no reply to request {i} of {REQUESTS}: {e}"));
        round_trips.push(t.elapsed());
        assert_eq!(
            reply.header("correlation-id"),
            Some(correlation.as_str()),
            "{var}: reply {i} lost its correlation"
        );
        assert_eq!(reply.body(), format!("re: {body}").as_bytes());
        let sub = reply.header("subscription").unwrap_or("").to_string();
        assert_ne!(sub, replies.id(), "the broker never saw our id \"*\"");
        reply_subscription.get_or_insert(sub);
    }
    // Every reply came exactly once: nothing is left over.
    assert_eq!(replies.try_recv().unwrap_err(), Error::Timeout);
    requester.disconnect().unwrap();
    responder.disconnect().unwrap();
    assert_eq!(answering.join().unwrap(), REQUESTS);

    round_trips.sort();
    let median = round_trips[REQUESTS / 2];
    eprintln!(
        "{var}: {REQUESTS} requests over /temp-queue/replies, every reply with its \
         correlation-id; round trip median {:.3} ms, min {:.3} ms, max {:.3} ms \
         (replies came on subscription {:?})",
        median.as_secs_f64() * 1e3,
        round_trips[0].as_secs_f64() * 1e3,
        round_trips[REQUESTS - 1].as_secs_f64() * 1e3,
        reply_subscription.unwrap_or_default()
    );
}

#[test]
fn rabbitmq_ws_request_reply_over_a_temp_queue() {
    request_reply_round_trips("STOMPWS_RABBITMQ_WS");
}

#[test]
fn rabbitmq_tcp_request_reply_over_a_temp_queue() {
    request_reply_round_trips("STOMPWS_RABBITMQ_TCP");
}

/// Without `subscribe_unhandled`, RabbitMQ's reply has nowhere to go: the debug hook
/// says it was dropped, and it is not kept for a later `subscribe_unhandled` either.
fn reply_dropped_without_subscribe_unhandled(var: &str) {
    let url = require!(var);
    let queue = format!("/queue/{}", unique("stompws-rpc-drop"));
    let (responder, answering) = start_responder(&url, &queue);
    let debug = DebugLines::default();
    let requester =
        Client::connect(&url, &debug.attach(broker_config(GUEST))).expect("requester connect");
    // A subscription of ours that is not the reply's: it must not get the reply either.
    let other = requester
        .subscribe(
            &format!("/queue/{}", unique("stompws-rpc-other")),
            AckMode::Auto,
            &[("receipt", "other-ready")],
        )
        .unwrap();
    requester
        .send(
            &queue,
            &[
                ("reply-to", "/temp-queue/replies"),
                ("correlation-id", "lost-1"),
            ],
            b"anyone?",
        )
        .unwrap();
    let line = debug.wait_for(&["MESSAGE for subscription", "dropped"], WAIT);
    let line = line.unwrap_or_else(|| {
        panic!(
            "{var}: no debug line about the dropped reply; debug said:\n{}",
            debug.0.lock().unwrap().join("\n")
        )
    });
    assert!(line.contains("subscribe_unhandled"), "{line}");
    eprintln!("{var}: debug hook: {line}");
    assert_eq!(other.try_recv().unwrap_err(), Error::Timeout);
    let late = requester.subscribe_unhandled().unwrap();
    assert_eq!(
        late.recv_timeout(ms(500)).unwrap_err(),
        Error::Timeout,
        "a dropped reply came later"
    );
    requester.disconnect().unwrap();
    responder.disconnect().unwrap();
    assert_eq!(answering.join().unwrap(), 1);
}

#[test]
fn rabbitmq_ws_reply_without_subscribe_unhandled_is_dropped_and_logged() {
    reply_dropped_without_subscribe_unhandled("STOMPWS_RABBITMQ_WS");
}

#[test]
fn rabbitmq_tcp_reply_without_subscribe_unhandled_is_dropped_and_logged() {
    reply_dropped_without_subscribe_unhandled("STOMPWS_RABBITMQ_TCP");
}

// ---- 2. subscribe_unhandled's rules at the scripted server ------------------------

/// The destination of the trigger SEND: when the client's `send_with_receipt` to it
/// returns, the client has read every frame the server sent before.
const CUT: &str = "/queue/cut";

fn fake_config() -> Config {
    Config::new()
        .heartbeat(0, 0)
        .connect_timeout(Duration::from_secs(2))
        .receipt_timeout(Duration::from_secs(5))
        .send_timeout(Duration::from_secs(5))
}

/// Server side: CONNECTED for session number `n` (1.2, no heart-beats).
fn up(p: &mut Peer, n: usize) {
    p.handshake_as("1.2", "0,0", &format!("fake/{n}"), &format!("s-{n}"));
}

/// Every frame that names the subscription id `*` (SUBSCRIBE, UNSUBSCRIBE, or any other
/// with `id:*`).
fn naming_star(frames: &[Seen]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f.header("id") == Some("*") || f.header("subscription") == Some("*"))
        .map(|f| format!("{} {:?}", f.command, f.headers))
        .collect()
}

fn commands_of(frames: &[Seen], command: &str) -> Vec<Seen> {
    frames
        .iter()
        .filter(|f| f.command == command)
        .cloned()
        .collect()
}

#[test]
fn subscribe_unhandled_rules_and_nothing_sent_for_it_across_a_reconnect() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        p.serve_until_send(CUT);
        thread::sleep(ms(50));
        p.reset();
        let mut p = s.accept();
        up(&mut p, 2);
        // A MESSAGE for a subscription the client never made, after the reconnect.
        p.message(
            "broker-made-1",
            "/reply-queue/r",
            "m-1",
            "after the reconnect",
        );
        p.serve_until_disconnect();
        s.expect_no_connection(ms(200));
    });
    let events = Events::new();
    let config = events.attach(fake_config().reconnect(ms(20), ms(100), 0));
    let client = Client::connect(&server.url, &config).unwrap();

    let unhandled = client.subscribe_unhandled().unwrap();
    assert_eq!(unhandled.id(), "*");
    assert!(matches!(
        client.subscribe_unhandled().unwrap_err(),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        client
            .subscribe("/queue/a", AckMode::Auto, &[("id", "*")])
            .unwrap_err(),
        Error::InvalidArgument(_)
    ));
    assert!(matches!(
        client.unsubscribe_id("*", &[]).unwrap_err(),
        Error::InvalidArgument(_)
    ));
    // A subscription the broker does see, replayed after the reconnect: the control
    // that shows the frames of both sessions were recorded.
    let real = client
        .subscribe("/queue/real", AckMode::Auto, &[("id", "real")])
        .unwrap();

    client.send_with_receipt(CUT, &[], b"").unwrap();
    events.wait(Event::ConnectionLost, WAIT);
    events.wait_nth(Event::Connected, 2, WAIT);

    let m = unhandled.recv_timeout(WAIT).unwrap();
    assert_eq!(m.body(), b"after the reconnect");
    assert_eq!(m.header("subscription"), Some("broker-made-1"));
    assert!(unhandled.is_active());
    // Still one at a time after the reconnect.
    assert!(matches!(
        client.subscribe_unhandled().unwrap_err(),
        Error::InvalidArgument(_)
    ));
    unhandled.unsubscribe(&[]).unwrap();
    assert!(!unhandled.is_active());
    drop(unhandled);
    // Closed, so a new one may open; dropping it sends nothing either.
    let again = client.subscribe_unhandled().unwrap();
    drop(again);
    drop(real);
    client.disconnect().unwrap();
    server.join();

    let first = server.frames(0);
    let second = server.frames(1);
    assert_eq!(naming_star(&first), Vec::<String>::new());
    assert_eq!(naming_star(&second), Vec::<String>::new());
    let ids = |frames: &[Seen], command: &str| -> Vec<String> {
        commands_of(frames, command)
            .iter()
            .map(|f| f.header("id").unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(ids(&first, "SUBSCRIBE"), ["real"]);
    assert_eq!(ids(&second, "SUBSCRIBE"), ["real"], "the replay");
    assert_eq!(ids(&first, "UNSUBSCRIBE"), Vec::<String>::new());
    assert_eq!(ids(&second, "UNSUBSCRIBE"), ["real"], "only the real one's");
}

// ---- 3. ActiveMQ durable topic subscriptions --------------------------------------

/// One durable subscriber's life on ActiveMQ: subscribe durably, leave, come back with
/// the same client-id, optionally remove the subscription by id and name, publish a
/// persistent message (ActiveMQ keeps only persistent ones for an absent durable
/// subscriber), then subscribe again with the same name. Returns the body that arrived,
/// if any.
fn durable_after_leaving(url: &str, remove: bool) -> Option<Vec<u8>> {
    let client_id = unique("stompws-durable");
    let name = unique("stompws-durable-sub");
    let topic = format!("/topic/{}", unique("stompws-durable-topic"));
    let durable = broker_config(STOMPWS).connect_header("client-id", &client_id);
    let sub_headers = [
        ("id", "durable-1"),
        ("activemq.subscriptionName", name.as_str()),
        ("receipt", "durable-subscribed"),
    ];

    // Subscribe durably, then leave: the consumer goes, the subscription stays.
    let first = Client::connect(url, &durable).expect("durable connect");
    let sub = first
        .subscribe(&topic, AckMode::Auto, &sub_headers)
        .expect("durable subscribe");
    sub.unsubscribe(&[("receipt", "consumer-gone")]).unwrap();
    drop(sub);
    first.disconnect().unwrap();

    // Back with the same client-id; remove it by id and name after its consumer is gone.
    let second = Client::connect(url, &durable).expect("durable reconnect");
    if remove {
        second
            .unsubscribe_id(
                "durable-1",
                &[
                    ("activemq.subscriptionName", name.as_str()),
                    ("receipt", "durable-removed"),
                ],
            )
            .expect("removing the durable subscription");
    }

    let publisher = Client::connect(url, &broker_config(STOMPWS)).expect("publisher");
    publisher
        .send_with_receipt(&topic, &[("persistent", "true")], b"published while away")
        .unwrap();
    publisher.disconnect().unwrap();

    let sub = second
        .subscribe(&topic, AckMode::Auto, &sub_headers)
        .expect("durable subscribe again");
    let got = match sub.recv_timeout(Duration::from_secs(2)) {
        Ok(m) => Some(m.body().to_vec()),
        Err(Error::Timeout) => None,
        Err(e) => panic!("durable receive: {e}"),
    };
    // Leave nothing on the broker: end the consumer, then remove the subscription.
    sub.unsubscribe(&[("receipt", "cleanup-consumer")]).unwrap();
    second
        .unsubscribe_id(
            "durable-1",
            &[
                ("activemq.subscriptionName", name.as_str()),
                ("receipt", "cleanup-removed"),
            ],
        )
        .unwrap();
    second.disconnect().unwrap();
    got
}

#[test]
fn activemq_durable_subscription_removed_by_id_gets_nothing_afterwards() {
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    assert_eq!(
        durable_after_leaving(&url, true),
        None,
        "a message published after the removal arrived: the subscription was not removed"
    );
}

#[test]
fn activemq_durable_subscription_kept_gets_what_was_published_while_away() {
    // The positive control: the same steps without the removal deliver the message, so
    // the test above can fail.
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    assert_eq!(
        durable_after_leaving(&url, false).as_deref(),
        Some(&b"published while away"[..])
    );
}

// ---- 4. unsubscribe_id on an open subscription ------------------------------------

/// The destination of the SEND that makes the script push a MESSAGE on `same`.
const PUSH: &str = "/queue/push";

#[test]
fn unsubscribe_id_ends_an_open_subscription_and_an_old_handle_spares_a_newer_one() {
    let server = fake::tcp(|mut p| {
        up(&mut p, 1);
        let mut seen = Vec::new();
        let mut pushed = 0;
        while let Some(f) = p.read_frame() {
            if f.command == "SEND" && f.header("destination") == Some(PUSH) {
                pushed += 1;
                p.message(
                    "same",
                    "/queue/d",
                    &format!("m-{pushed}"),
                    &format!("push {pushed}"),
                );
            }
            p.receipt(&f);
            let done = f.command == "DISCONNECT";
            seen.push(f);
            if done {
                break;
            }
        }
        let subs: Vec<(String, String)> = seen
            .iter()
            .filter(|f| f.command.contains("SUBSCRIBE"))
            .map(|f| (f.command.clone(), f.header("id").unwrap_or("").to_string()))
            .collect();
        let expected: Vec<(String, String)> =
            ["SUBSCRIBE", "UNSUBSCRIBE", "SUBSCRIBE", "UNSUBSCRIBE"]
                .iter()
                .map(|c| (c.to_string(), "same".to_string()))
                .collect();
        // One UNSUBSCRIBE from unsubscribe_id; the old handle's unsubscribe and drop
        // sent none; the last is the newer subscription's own.
        assert_eq!(subs, expected);
    });
    let client = Client::connect(&server.url, &fake_config()).unwrap();
    let old = client
        .subscribe("/queue/d", AckMode::Auto, &[("id", "same")])
        .unwrap();
    client.send_with_receipt(PUSH, &[], b"").unwrap();
    client.unsubscribe_id("same", &[]).unwrap();
    assert!(!old.is_active());
    // Its receiver ends: what was queued, then Disconnected.
    assert_eq!(old.recv_timeout(WAIT).unwrap().body(), b"push 1");
    assert_eq!(old.recv_timeout(ms(100)).unwrap_err(), Error::Disconnected);
    // The handle's own unsubscribe succeeds and sends nothing.
    old.unsubscribe(&[]).unwrap();

    let newer = client
        .subscribe("/queue/d", AckMode::Auto, &[("id", "same")])
        .unwrap();
    // The old handle, again and dropped: the newer subscription stays.
    old.unsubscribe(&[]).unwrap();
    drop(old);
    assert!(newer.is_active());
    client.send_with_receipt(PUSH, &[], b"").unwrap();
    assert_eq!(newer.recv_timeout(WAIT).unwrap().body(), b"push 2");
    newer.unsubscribe(&[]).unwrap();
    assert!(matches!(
        newer.unsubscribe(&[]).unwrap_err(),
        Error::InvalidArgument(_)
    ));
    client.disconnect().unwrap();
    server.join();
}

// ---- 5. The subscribe-timeout cleanup ----------------------------------------------

#[test]
fn a_subscribe_without_receipt_from_spring_is_unsubscribed_and_its_messages_dropped() {
    let (ids_tx, ids_rx) = mpsc::channel::<String>();
    let server = fake::spring(move |mut p| {
        p.handshake("1.2", "0,0");
        let other = p.expect("SUBSCRIBE");
        assert_eq!(other.header("id"), Some("other"));
        let timed = p.expect("SUBSCRIBE");
        let id = timed.header("id").expect("SUBSCRIBE id").to_string();
        assert!(timed.header("receipt").is_some());
        // Spring answers no receipt; the client gives up and must take it back.
        let next = p.read_frame().expect("client left");
        assert_eq!(next.command, "UNSUBSCRIBE", "{next:?}");
        assert_eq!(next.header("id"), Some(id.as_str()));
        ids_tx.send(id.clone()).unwrap();
        // What the server still had in flight for the abandoned id, then a control.
        p.message(&id, "/topic/x", "m-1", "stray");
        p.message("other", "/topic/other", "m-2", "control");
        // The rest is the test's own: the id subscribed again by the caller, then the
        // drops and DISCONNECT. Nothing of the library's own for the abandoned id.
        let rest: Vec<(String, String)> = p
            .serve_until_disconnect()
            .iter()
            .map(|f| (f.command.clone(), f.header("id").unwrap_or("").to_string()))
            .collect();
        let expected: Vec<(String, String)> = [
            ("SUBSCRIBE", id.as_str()),
            ("UNSUBSCRIBE", id.as_str()),
            ("UNSUBSCRIBE", "other"),
            ("DISCONNECT", ""),
        ]
        .iter()
        .map(|(c, i)| (c.to_string(), i.to_string()))
        .collect();
        assert_eq!(rest, expected);
        assert!(p.spring_ended.is_none());
    });
    let debug = DebugLines::default();
    let config = debug.attach(fake_config().receipt_timeout(ms(300)));
    let client = Client::connect(&server.url, &config).unwrap();
    let other = client
        .subscribe("/topic/other", AckMode::Auto, &[("id", "other")])
        .unwrap();
    let t = Instant::now();
    assert_eq!(
        client
            .subscribe("/topic/x", AckMode::Auto, &[("receipt", "sub-x")])
            .unwrap_err(),
        Error::Timeout
    );
    assert!(t.elapsed() >= ms(300), "{:?}", t.elapsed());
    let id = ids_rx
        .recv_timeout(WAIT)
        .expect("the server saw no UNSUBSCRIBE");
    // The control comes after the stray message, so the stray one was handled by then.
    assert_eq!(other.recv_timeout(WAIT).unwrap().body(), b"control");
    assert_eq!(other.try_recv().unwrap_err(), Error::Timeout);
    let line = debug
        .wait_for(
            &[&format!("MESSAGE for subscription {id} dropped")],
            ms(100),
        )
        .unwrap_or_else(|| panic!("no debug line about {id}'s dropped message"));
    eprintln!("debug hook: {line}");
    // The id is free again: it was forgotten, not kept.
    let reused = client
        .subscribe("/topic/x", AckMode::Auto, &[("id", &id)])
        .expect("the abandoned id is free");
    drop(reused);
    drop(other);
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn a_subscribe_answered_by_error_is_not_subscribed_again_after_a_reconnect() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        let keep = p.expect("SUBSCRIBE");
        assert_eq!(keep.header("id"), Some("keep"));
        p.receipt(&keep);
        let bad = p.expect("SUBSCRIBE");
        assert_eq!(bad.header("id"), Some("bad"));
        let receipt = bad.header("receipt").expect("receipt").to_string();
        let error =
            format!("ERROR\nreceipt-id:{receipt}\nmessage:access refused to /queue/bad\n\nno\0");
        p.send(error.as_bytes());
        p.close();
        let mut p = s.accept();
        up(&mut p, 2);
        p.serve_until_disconnect();
        s.expect_no_connection(ms(200));
    });
    let events = Events::new();
    let config = events.attach(fake_config().reconnect(ms(20), ms(100), 0));
    let client = Client::connect(&server.url, &config).unwrap();
    let keep = client
        .subscribe(
            "/queue/keep",
            AckMode::Auto,
            &[("id", "keep"), ("receipt", "r-keep")],
        )
        .unwrap();
    match client
        .subscribe(
            "/queue/bad",
            AckMode::Auto,
            &[("id", "bad"), ("receipt", "r-bad")],
        )
        .unwrap_err()
    {
        Error::ServerError { message, .. } => {
            assert_eq!(message, "access refused to /queue/bad")
        }
        other => panic!("expected ServerError, got {other:?}"),
    }
    events.wait_nth(Event::Connected, 2, WAIT);
    // Resubscriptions go before any other frame: once this receipt is back, they are in.
    client.send_with_receipt("/queue/sync", &[], b"").unwrap();
    assert!(keep.is_active());
    client.disconnect().unwrap();
    server.join();
    let ids: Vec<String> = commands_of(&server.frames(1), "SUBSCRIBE")
        .iter()
        .map(|f| f.header("id").unwrap_or("").to_string())
        .collect();
    assert_eq!(
        ids,
        ["keep"],
        "only the confirmed subscription is made again"
    );
    drop(keep);
}
