//! Real broker restarts during traffic, with reconnect on (API.md "Reconnect and
//! failover", the delivery paragraph): every send that got its receipt is received at
//! least once.
//!
//! Each test wipes and starts the `restart` instance of its broker through the broker
//! script (tests/common/restart.rs, which holds the instance's use lock and stops it at
//! the end, also when the test fails), then runs two clients of their own against a
//! durable queue with a unique name:
//! - a producer (reconnect on, no heart-beats: RabbitMQ 3.10 kills a heart-beating
//!   publisher under flow control, README "Known broker issues") sends the numbers
//!   0..[`N`] at about [`RATE`] per second with `send_with_receipt` and `persistent:true`.
//!   A send that returns an error has an unknown outcome: it is sent again with the same
//!   number and counted as an unconfirmed attempt;
//! - a consumer (reconnect on, heart-beats 1000/1000) subscribes client-individual with
//!   a prefetch limit and acks each message. An ack refused with `Disconnected` belongs
//!   to a lost session: the broker redelivers that message.
//!
//! While both run, the test disrupts the broker: RabbitMQ `restart-app` (stop_app, 1 s
//! down, start_app) and then `kill` (SIGKILL) + `start`; ActiveMQ `restart` (stop +
//! start, KahaDB). Each disruption waits until the producer has confirmed [`FIRST_AT`]
//! sends (or [`BETWEEN`] more since the previous resume), and the next one waits until
//! the consumer is connected again and has received a message.
//!
//! Printed (stderr, `--nocapture`): lost (asserted 0), duplicates, unconfirmed attempts,
//! refused acks, and per loss of the consumer: the time from its ConnectionLost event
//! to its next Connected event, and to the first message after it. Bounded by [`BOUND`]
//! per test after the broker started. Under STOMPWS_REQUIRE_BROKERS=1 a broker that does
//! not start fails the test.
//!
//! Run: `cargo test --test restarts -- --nocapture` (about 2 minutes: the two RabbitMQ
//! tests share one instance and run one after the other; ActiveMQ runs beside them).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::restart::{Broker, RestartBroker};
use stompws::{AckMode, Client, Config, Error, Event, Subscription};

/// Messages the producer sends (numbers 0..N).
const N: usize = 2000;
/// The producer's pace in sends per second; a paced producer keeps traffic going across
/// the disruptions instead of finishing before them.
const RATE: f64 = 150.0;
/// Confirmed sends before the first disruption.
const FIRST_AT: usize = 300;
/// Confirmed sends after a resume before the next disruption.
const BETWEEN: usize = 300;
/// The bound on the traffic phase of one test (the broker's wipe and start come before).
const BOUND: Duration = Duration::from_secs(90);
/// How long one receive waits before the consumer looks at its stop conditions.
const POLL: Duration = Duration::from_millis(100);

/// One disruption of the broker: the script verbs run one after the other.
struct Disruption {
    label: &'static str,
    verbs: &'static [&'static [&'static str]],
}

struct Scenario {
    name: &'static str,
    broker: Broker,
    /// The variable of the script's `env` verb that holds the URL.
    url_var: &'static str,
    send_headers: &'static [(&'static str, &'static str)],
    subscribe_headers: &'static [(&'static str, &'static str)],
    disruptions: &'static [Disruption],
}

/// RabbitMQ declares the queue on SEND and on SUBSCRIBE: both carry the same
/// declaration (durable, not auto-delete), or the second declaration is refused.
const RABBITMQ_SEND: &[(&str, &str)] = &[
    ("persistent", "true"),
    ("durable", "true"),
    ("auto-delete", "false"),
];
const RABBITMQ_SUBSCRIBE: &[(&str, &str)] = &[
    ("durable", "true"),
    ("auto-delete", "false"),
    ("prefetch-count", "100"),
];
const RABBITMQ_DISRUPTIONS: &[Disruption] = &[
    Disruption {
        label: "restart-app (stop_app, 1 s down, start_app)",
        verbs: &[&["restart-app", "1"]],
    },
    Disruption {
        label: "kill (SIGKILL) + start",
        verbs: &[&["kill"], &["start"]],
    },
];

fn rabbitmq(name: &'static str, url_var: &'static str) -> Scenario {
    Scenario {
        name,
        broker: Broker::RabbitMq,
        url_var,
        send_headers: RABBITMQ_SEND,
        subscribe_headers: RABBITMQ_SUBSCRIBE,
        disruptions: RABBITMQ_DISRUPTIONS,
    }
}

#[test]
fn rabbitmq_tcp_restart_app_and_kill() {
    run(&rabbitmq("restart-rmq-tcp", "STOMPWS_RABBITMQ_RESTART_TCP"));
}

#[test]
fn rabbitmq_ws_restart_app_and_kill() {
    run(&rabbitmq("restart-rmq-ws", "STOMPWS_RABBITMQ_RESTART_WS"));
}

#[test]
fn activemq_tcp_restart_with_kahadb() {
    run(&Scenario {
        name: "restart-amq-tcp",
        broker: Broker::ActiveMq,
        url_var: "STOMPWS_ACTIVEMQ_RESTART_TCP",
        send_headers: &[("persistent", "true")],
        subscribe_headers: &[("activemq.prefetchSize", "100")],
        disruptions: &[Disruption {
            label: "restart (stop + start, KahaDB)",
            verbs: &[&["restart"]],
        }],
    });
}

/// The events of one client, with the time each came.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<(Instant, Event, String)>>>);

impl Events {
    fn record(&self, config: Config) -> Config {
        let log = self.clone();
        config.on_event(move |event, detail| {
            log.0
                .lock()
                .unwrap()
                .push((Instant::now(), event, detail.to_string()))
        })
    }

    fn all(&self) -> Vec<(Instant, Event, String)> {
        self.0.lock().unwrap().clone()
    }

    fn count(&self, event: Event) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.1 == event)
            .count()
    }

    /// When the last event of this kind came.
    fn last(&self, event: Event) -> Option<Instant> {
        let log = self.0.lock().unwrap();
        log.iter().rev().find(|e| e.1 == event).map(|e| e.0)
    }
}

/// What the producer and the consumer share with the test's thread.
struct State {
    /// Ends both loops (the bound passed, or the test thread is unwinding).
    stop: AtomicBool,
    producer_done: AtomicBool,
    /// By number: the send got its receipt.
    confirmed: Mutex<Vec<bool>>,
    confirmed_count: AtomicUsize,
    /// By number: how many times it was received.
    received: Mutex<Vec<u32>>,
    /// When each message (any number, redeliveries too) arrived, in order.
    arrivals: Mutex<Vec<Instant>>,
}

impl State {
    fn new() -> State {
        State {
            stop: AtomicBool::new(false),
            producer_done: AtomicBool::new(false),
            confirmed: Mutex::new(vec![false; N]),
            confirmed_count: AtomicUsize::new(0),
            received: Mutex::new(vec![0; N]),
            arrivals: Mutex::new(Vec::new()),
        }
    }

    fn confirmed(&self) -> usize {
        self.confirmed_count.load(Ordering::SeqCst)
    }

    /// Whether a message arrived at or after `t`.
    fn arrived_since(&self, t: Instant) -> bool {
        self.arrivals
            .lock()
            .unwrap()
            .last()
            .is_some_and(|&a| a >= t)
    }

    /// Every confirmed number has been received.
    fn all_confirmed_received(&self) -> bool {
        let confirmed = self.confirmed.lock().unwrap();
        let received = self.received.lock().unwrap();
        confirmed
            .iter()
            .zip(received.iter())
            .all(|(&c, &r)| !c || r > 0)
    }
}

/// Stops the client threads when the test thread leaves `run`, by a panic too.
struct StopOnDrop(Arc<State>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct ProducerReport {
    unconfirmed_attempts: usize,
    /// Errors of sends, by kind.
    errors: BTreeMap<String, usize>,
    /// The longest successful send_with_receipt (it includes waits for a new session).
    slowest: Duration,
    took: Duration,
}

#[derive(Default)]
struct ConsumerReport {
    acks: usize,
    /// Acks refused with Disconnected: the message came on a lost session.
    stale_acks: usize,
    ack_errors: BTreeMap<String, usize>,
    redelivered: usize,
    /// Bodies that are not a number below N.
    foreign: usize,
    /// Why the receive loop ended, when a receive failed (it never should).
    recv_error: Option<Error>,
}

/// A short name for an error, to count errors by kind.
fn kind(e: &Error) -> String {
    match e {
        Error::Disconnected => "disconnected".into(),
        Error::Timeout => "timeout".into(),
        other => {
            let mut s = format!("{other}");
            s.truncate(80);
            s
        }
    }
}

/// What both clients share: login, timeouts, and reconnect from 100 ms to 2 s with no
/// limit on attempts. The send and receipt timeouts outlast an outage of a few seconds,
/// so that most sends during an outage wait for the new session instead of timing out.
fn base() -> Config {
    Config::new()
        .login(common::GUEST.0, common::GUEST.1)
        .connect_timeout(Duration::from_secs(3))
        .receipt_timeout(Duration::from_secs(10))
        .send_timeout(Duration::from_secs(10))
        .reconnect(Duration::from_millis(100), Duration::from_secs(2), 0)
}

fn produce(
    client: &Client,
    dest: &str,
    headers: &[(&str, &str)],
    st: &State,
    deadline: Instant,
) -> ProducerReport {
    let mut report = ProducerReport::default();
    let t0 = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / RATE);
    let mut next = t0;
    'numbers: for seq in 0..N {
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        }
        next = next.max(now) + interval;
        let body = seq.to_string();
        loop {
            if st.stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                break 'numbers;
            }
            let t = Instant::now();
            match client.send_with_receipt(dest, headers, body.as_bytes()) {
                Ok(()) => {
                    report.slowest = report.slowest.max(t.elapsed());
                    st.confirmed.lock().unwrap()[seq] = true;
                    st.confirmed_count.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                Err(e) => {
                    report.unconfirmed_attempts += 1;
                    *report.errors.entry(kind(&e)).or_default() += 1;
                    // A cut send returns at once and the retry then waits for the new
                    // session; this pause only keeps a client closed for good (a bug,
                    // asserted below) from spinning until the deadline.
                    thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
    report.took = t0.elapsed();
    report
}

fn consume(sub: &Subscription, st: &State, deadline: Instant) -> ConsumerReport {
    let mut report = ConsumerReport::default();
    loop {
        if st.stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
            break;
        }
        if st.producer_done.load(Ordering::SeqCst) && st.all_confirmed_received() {
            break;
        }
        let msg = match sub.recv_timeout(POLL) {
            Ok(m) => m,
            Err(Error::Timeout) => continue,
            Err(e) => {
                report.recv_error = Some(e);
                break;
            }
        };
        st.arrivals.lock().unwrap().push(Instant::now());
        let seq = std::str::from_utf8(msg.body())
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&n| n < N);
        match seq {
            Some(n) => st.received.lock().unwrap()[n] += 1,
            None => report.foreign += 1,
        }
        if msg.header("redelivered") == Some("true") {
            report.redelivered += 1;
        }
        match msg.ack(&[]) {
            Ok(()) => report.acks += 1,
            Err(Error::Disconnected) => report.stale_acks += 1,
            Err(e) => *report.ack_errors.entry(kind(&e)).or_default() += 1,
        }
    }
    report
}

/// Waits until `cond` holds; panics naming `what` at the deadline.
#[track_caller]
fn wait_until(deadline: Instant, what: &str, cond: impl Fn() -> bool) {
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "bound of {} s passed waiting until {what}",
            BOUND.as_secs()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// "123 ms", or "-" for a time that does not apply or never came.
fn opt_ms(d: Option<u128>) -> String {
    d.map_or_else(|| "-".to_string(), |d| format!("{d} ms"))
}

/// One loss of a client: when it was lost, why, the reconnect attempts, and when it was
/// connected again.
struct Loss {
    at: Instant,
    reason: String,
    attempts: usize,
    server_errors: Vec<String>,
    connected: Option<Instant>,
}

/// The losses in an event log, each with what followed it until the next loss.
fn losses(events: &[(Instant, Event, String)]) -> Vec<Loss> {
    let mut out: Vec<Loss> = Vec::new();
    for (at, event, detail) in events {
        match event {
            Event::ConnectionLost => out.push(Loss {
                at: *at,
                reason: detail.clone(),
                attempts: 0,
                server_errors: Vec::new(),
                connected: None,
            }),
            Event::Reconnecting => {
                if let Some(l) = out.last_mut() {
                    l.attempts += 1;
                }
            }
            Event::ServerError => {
                if let Some(l) = out.last_mut() {
                    l.server_errors.push(detail.clone());
                }
            }
            Event::Connected => {
                if let Some(l) = out.last_mut() {
                    l.connected.get_or_insert(*at);
                }
            }
            _ => {}
        }
    }
    out
}

fn run(s: &Scenario) {
    let Some(broker) = RestartBroker::start(s.broker) else {
        return;
    };
    let url = broker.url(s.url_var);
    let dest = format!("/queue/{}", common::unique(s.name));
    let begin = Instant::now();
    let deadline = begin + BOUND;
    eprintln!("[{}] {url} {dest}: {N} sends at {RATE}/s", s.name);

    let consumer_events = Events::default();
    let producer_events = Events::default();
    let consumer = Client::connect(&url, &consumer_events.record(base().heartbeat(1000, 1000)))
        .expect("consumer connects");
    let sub = consumer
        .subscribe(&dest, AckMode::ClientIndividual, s.subscribe_headers)
        .expect("consumer subscribes");
    // No heart-beats for the producer (module comment).
    let producer = Client::connect(&url, &producer_events.record(base().heartbeat(0, 0)))
        .expect("producer connects");

    let st = Arc::new(State::new());
    let _stop = StopOnDrop(Arc::clone(&st));
    let consumer_thread = {
        let st = Arc::clone(&st);
        thread::spawn(move || consume(&sub, &st, deadline))
    };
    let producer_thread = {
        let st = Arc::clone(&st);
        let producer = producer.clone();
        let dest = dest.clone();
        let headers = s.send_headers;
        thread::spawn(move || produce(&producer, &dest, headers, &st, deadline))
    };

    // The disruptions: (label, when it began, how long the script verbs took).
    let mut done: Vec<(&str, Instant, Duration)> = Vec::new();
    let mut mark = FIRST_AT;
    for d in s.disruptions {
        wait_until(
            deadline,
            &format!("the producer confirmed {mark} sends"),
            || st.confirmed() >= mark,
        );
        let connected_before = consumer_events.count(Event::Connected);
        let t0 = Instant::now();
        for verbs in d.verbs {
            let ran = broker.run(verbs);
            eprintln!(
                "[{}] {} {}: {:.1} s; {}",
                s.name,
                s.broker.script_name(),
                verbs.join(" "),
                ran.took.as_secs_f64(),
                ran.stderr.trim().replace('\n', " | ")
            );
        }
        done.push((d.label, t0, t0.elapsed()));
        wait_until(
            deadline,
            &format!("the consumer resumed after {}", d.label),
            || {
                consumer_events.count(Event::Connected) > connected_before
                    && consumer_events
                        .last(Event::Connected)
                        .is_some_and(|c| st.arrived_since(c))
            },
        );
        mark = st.confirmed() + BETWEEN;
    }

    let produced = producer_thread.join().expect("producer thread");
    st.producer_done.store(true, Ordering::SeqCst);
    let consumed = consumer_thread.join().expect("consumer thread");
    let traffic = begin.elapsed();
    // The events up to here; what disconnect fires comes after.
    let consumer_log = consumer_events.all();
    let producer_log = producer_events.all();
    let closed = (
        producer.disconnect_timeout(Duration::from_secs(2)),
        consumer.disconnect_timeout(Duration::from_secs(2)),
    );

    // Figures.
    let confirmed = st.confirmed.lock().unwrap().clone();
    let received = st.received.lock().unwrap().clone();
    let arrivals = st.arrivals.lock().unwrap().clone();
    let n_confirmed = confirmed.iter().filter(|&&c| c).count();
    let lost: Vec<usize> = (0..N)
        .filter(|&i| confirmed[i] && received[i] == 0)
        .collect();
    let distinct = received.iter().filter(|&&r| r > 0).count();
    let duplicates: u32 = received.iter().map(|&r| r.saturating_sub(1)).sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "[{}] {:.1} s of traffic: sent {N}, confirmed {n_confirmed}, lost {}, received {} \
         ({distinct} distinct), duplicates {duplicates}, redelivered:true {}",
        s.name,
        traffic.as_secs_f64(),
        lost.len(),
        arrivals.len(),
        consumed.redelivered
    );
    let _ = writeln!(
        out,
        "[{}] producer: {:.1} s, unconfirmed attempts {} {:?}, slowest confirmed send {} ms, \
         losses {}",
        s.name,
        produced.took.as_secs_f64(),
        produced.unconfirmed_attempts,
        produced.errors,
        ms(produced.slowest),
        losses(&producer_log).len()
    );
    let _ = writeln!(
        out,
        "[{}] consumer: acks {}, refused as stale (Disconnected) {}, other ack errors {:?}, \
         foreign bodies {}",
        s.name, consumed.acks, consumed.stale_acks, consumed.ack_errors, consumed.foreign
    );
    let consumer_losses = losses(&consumer_log);
    for (who, list) in [
        ("consumer", &consumer_losses),
        ("producer", &losses(&producer_log)),
    ] {
        for l in list.iter() {
            // The disruption the loss falls in: the last one that began before it.
            let during = done
                .iter()
                .rev()
                .find(|d| d.1 <= l.at)
                .map_or("before any disruption", |d| d.0);
            let since_disruption = done
                .iter()
                .rev()
                .find(|d| d.1 <= l.at)
                .map(|d| ms(l.at - d.1));
            let resume = l.connected.map(|c| ms(c - l.at));
            let first_msg = if who == "consumer" {
                l.connected
                    .and_then(|c| arrivals.iter().find(|&&a| a >= c))
                    .map(|&a| ms(a - l.at))
            } else {
                None
            };
            let _ = writeln!(
                out,
                "[{}] {who} lost during {during} ({} after it began): to Connected {}, \
                 to first message {}, {} reconnect attempts, server errors {:?}; reason: {}",
                s.name,
                opt_ms(since_disruption),
                opt_ms(resume),
                opt_ms(first_msg),
                l.attempts,
                l.server_errors,
                l.reason
            );
        }
    }
    for (label, _, took) in &done {
        let _ = writeln!(
            out,
            "[{}] disruption {label}: script took {} ms",
            s.name,
            ms(*took)
        );
    }
    let _ = writeln!(out, "[{}] disconnect: {closed:?}", s.name);
    eprint!("{out}");

    // Invariants.
    assert!(
        lost.is_empty(),
        "[{}] {} confirmed sends never received, e.g. {:?}",
        s.name,
        lost.len(),
        &lost[..lost.len().min(20)]
    );
    assert_eq!(
        n_confirmed,
        N,
        "[{}] the producer did not get every receipt within {} s",
        s.name,
        BOUND.as_secs()
    );
    assert!(
        consumed.recv_error.is_none(),
        "[{}] a receive failed: {:?} (receives wait across an outage)",
        s.name,
        consumed.recv_error
    );
    assert_eq!(
        consumed.foreign, 0,
        "[{}] bodies that are not our numbers",
        s.name
    );
    assert!(
        consumed.ack_errors.is_empty(),
        "[{}] acks failed other than with Disconnected: {:?}",
        s.name,
        consumed.ack_errors
    );
    for (who, log) in [("consumer", &consumer_log), ("producer", &producer_log)] {
        assert!(
            !log.iter().any(|e| e.1 == Event::Disconnected),
            "[{}] the {who} was closed for good during the test: {:?}",
            s.name,
            log.iter().find(|e| e.1 == Event::Disconnected)
        );
        let lost_events = losses(log);
        assert!(
            lost_events.iter().all(|l| l.connected.is_some()),
            "[{}] a loss of the {who} was not followed by Connected",
            s.name
        );
    }
    for (k, (label, t0, _)) in done.iter().enumerate() {
        let until = done.get(k + 1).map(|d| d.1);
        assert!(
            consumer_losses
                .iter()
                .any(|l| l.at >= *t0 && until.map_or(true, |u| l.at < u)),
            "[{}] the consumer saw no loss during {label}: the broker was not restarted \
             under it",
            s.name
        );
    }
    assert!(
        consumer_losses.len() >= s.disruptions.len(),
        "[{}] {} consumer losses for {} disruptions",
        s.name,
        consumer_losses.len(),
        s.disruptions.len()
    );
}
