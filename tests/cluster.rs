//! Failover across a real 3-node RabbitMQ cluster (`tests/brokers/rabbitmq-cluster.sh`):
//! node kills during traffic, and no confirmed message lost.
//!
//! A producer and a consumer each connect with node 1 as the connect URL and nodes 2 and
//! 3 as failover URLs, reconnect on (100 ms to 2 s, never giving up). They use one quorum
//! queue: every SEND and the SUBSCRIBE carry `x-queue-type:quorum`, `durable:true` and
//! `auto-delete:false` (RabbitMQ refuses a SEND whose declaration arguments differ from
//! the queue's). The producer sends numbered messages (`persistent:true`) one at a time
//! with `send_with_receipt`; a send that fails has an unknown outcome and is sent again
//! with the same number. It sends no heart-beats: RabbitMQ 3.10 kills a heart-beating
//! publisher under flow control (README, "Known broker issues"). The consumer asks for
//! heart-beats every second, acks client-individual and counts what it receives; an ack
//! refused with `Disconnected` (a message of a lost session) is fine: the broker delivers
//! that message again.
//!
//! While traffic runs, three times: find the node the clients are on (from the URL of
//! their last `Connected` event), kill it (SIGKILL), wait until both clients are
//! connected again and messages are confirmed and consumed again, revive the node, wait
//! until it has rejoined and traffic flows, then go on. At the end every number that got
//! its receipt must have been received at least once (API.md "Reconnect and failover":
//! at least once for confirmed sends on a quorum queue when a minority of the nodes is
//! lost). The test prints the figures: lost, duplicates, per kill the time from
//! `ConnectionLost` to `Connected` and to the next message consumed (or confirmed), and
//! the totals.
//!
//! The test starts the cluster itself and stops it at the end if it started it
//! (common/cluster.rs); use of the cluster is serialised across processes by a flock.
//! Apart from waiting for that lock, the whole test is bounded by [`BUDGET`].
//! Run it with `cargo test --test cluster -- --nocapture` to see the figures; it uses
//! STOMP over TCP, or over WebSocket (web-stomp) with `STOMPWS_CLUSTER_TRANSPORT=ws`.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use stompws::{AckMode, Client, Config, Error, Event};

/// The whole test once the cluster lock is held: cluster start, kills, revives, drain
/// and the verdict (stopping the cluster afterwards is bounded by common/cluster.rs).
const BUDGET: Duration = Duration::from_secs(240);
/// How long the test waits for another process's use of the cluster to end.
const LOCK_WAIT: Duration = Duration::from_secs(600);
/// How long `start` may take (the script needs 15-30 s on this kind of machine).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Node kills.
const KILLS: usize = 3;
/// After a kill: how long both clients may take to be connected and moving again.
const RESUME_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a send may wait for a new session during an outage.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a send waits for its receipt (a quorum queue confirms within milliseconds,
/// within seconds while it elects a leader).
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Receipt timeouts in a row after which the producer replaces its client (see
/// [`produce`]).
const STUCK_TIMEOUTS: u32 = 2;
/// At the end: how long the consumer may go without a new message before the test
/// stops waiting for the confirmed numbers it has not seen.
const DRAIN_IDLE: Duration = Duration::from_secs(20);

/// Declaration headers of the quorum queue, on every SEND and the SUBSCRIBE.
const QUEUE_ARGS: [(&str, &str); 3] = [
    ("x-queue-type", "quorum"),
    ("durable", "true"),
    ("auto-delete", "false"),
];

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// Milliseconds from `a` to `b`, negative when `b` came first.
fn signed_ms(a: Instant, b: Instant) -> i128 {
    if b >= a {
        (b - a).as_millis() as i128
    } else {
        -((a - b).as_millis() as i128)
    }
}

/// One event: when it came, what, its detail, and the generation of the client.
type Logged = (Instant, Event, String, u32);

/// The events of one role's client, as the `on_event` callback saw them, with the time
/// they came. A role whose client is replaced (see [`produce`]) keeps its `Events`: each
/// client's config tags its events with a generation, and only the current one tells
/// whether the role is connected.
#[derive(Default)]
struct Events {
    list: Mutex<Vec<Logged>>,
    current: AtomicU32,
}

impl Events {
    /// `config` reporting to these events as the next generation, which becomes the
    /// current one.
    fn config(self: &Arc<Self>, name: &'static str, config: Config) -> Config {
        let generation = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        let events = Arc::clone(self);
        config.on_event(move |event, detail| {
            eprintln!("[{name}#{generation}] {event:?}: {detail}");
            let entry = (Instant::now(), event, detail.to_string(), generation);
            lock(&events.list).push(entry);
        })
    }

    /// The endpoint URL of the current client's last event if it is `Connected`: the
    /// client is up, there.
    fn connected_url(&self) -> Option<String> {
        let generation = self.current.load(Ordering::SeqCst);
        let list = lock(&self.list);
        match list.iter().rev().find(|e| e.3 == generation) {
            Some((_, Event::Connected, url, _)) => Some(url.clone()),
            _ => None,
        }
    }

    /// The first `event` at or after `since`, of any generation, with time and detail.
    fn first_after(&self, event: Event, since: Instant) -> Option<(Instant, String)> {
        lock(&self.list)
            .iter()
            .find(|(at, e, _, _)| *e == event && *at >= since)
            .map(|(at, _, d, _)| (*at, d.clone()))
    }

    /// How many `event`s came, from every generation.
    fn count(&self, event: Event) -> usize {
        lock(&self.list).iter().filter(|e| e.1 == event).count()
    }

    /// `Disconnected` events other than those of a client's own disconnect: a client
    /// that gave up reconnecting.
    fn gave_up(&self) -> usize {
        lock(&self.list)
            .iter()
            .filter(|e| e.1 == Event::Disconnected && e.2 != "disconnected by the client")
            .count()
    }
}

/// What the producer did. Numbers are confirmed in order, so `confirmed_at[i]` is when
/// number i + 1 got its receipt.
#[derive(Default)]
struct Sent {
    confirmed_at: Vec<Instant>,
    /// Sends of a number that had been sent before without a receipt.
    retries: u64,
    /// Failed sends by error, e.g. "Disconnected" or "Timeout".
    errors: BTreeMap<String, u64>,
    /// Clients replaced after [`STUCK_TIMEOUTS`] receipt timeouts in a row.
    replaced: u64,
    /// Failed connects of a replacement client, by error.
    connect_errors: BTreeMap<String, u64>,
}

/// What the consumer did.
#[derive(Default)]
struct Received {
    /// Number -> how many times it came.
    counts: HashMap<u64, u32>,
    /// When each message came, in order.
    at: Vec<Instant>,
    /// Messages that carried `redelivered:true`.
    redelivered: u64,
    acks_refused: u64,
    /// Acks failing otherwise than with `Disconnected`, by error.
    ack_errors: BTreeMap<String, u64>,
    /// Messages whose `seq` header was missing or not a number.
    foreign: u64,
}

fn error_kind(e: &Error) -> String {
    match e {
        Error::ServerError { message, .. } => format!("ServerError({message})"),
        other => format!("{other:?}")
            .split('(')
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// The settings both clients share: login, timeouts, reconnect and the failover URLs.
fn client_config(urls: &[String], order: &[usize]) -> Config {
    let mut config = Config::new()
        .login(common::STOMPWS.0, common::STOMPWS.1)
        .connect_timeout(Duration::from_secs(3))
        .receipt_timeout(RECEIPT_TIMEOUT)
        .send_timeout(SEND_TIMEOUT)
        .reconnect(Duration::from_millis(100), Duration::from_secs(2), 0);
    for &n in &order[1..] {
        config = config.failover_url(&urls[n - 1]);
    }
    config
}

/// How a replacement producer client connects: URL, config, and the events it reports to.
struct ConnectTo {
    url: String,
    config: Config,
    events: Arc<Events>,
}

/// The producer: numbered sends with receipts, a failed one sent again with its number.
///
/// A client whose sends time out [`STUCK_TIMEOUTS`] times in a row while it stays
/// connected is replaced by a new one: RabbitMQ 3.10's web-stomp drops a publisher
/// `basic.nack` (a quorum queue refusing a publish while it has no leader; its log says
/// "Web STOMP: unexpected message {'basic.nack',...}") and then nacks every later publish
/// on that connection, so no RECEIPT and no ERROR ever comes and reconnect has nothing
/// to react to. (Its STOMP-over-TCP reader crashes on the same nack and closes the
/// connection, which reconnect handles.) The returned client is the last one, `None` if
/// told to stop while connecting one.
fn produce(
    client: Client,
    connect_to: ConnectTo,
    dest: String,
    sent: Arc<Mutex<Sent>>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Option<Client>> {
    thread::spawn(move || {
        let mut client = client;
        let mut seq: u64 = 1;
        let mut failed_before = false;
        let mut timeouts = 0;
        while !stop.load(Ordering::Relaxed) {
            let n = seq.to_string();
            let body = format!("message {n}");
            let mut headers = QUEUE_ARGS.to_vec();
            headers.push(("persistent", "true"));
            headers.push(("seq", &n));
            if failed_before {
                lock(&sent).retries += 1;
            }
            match client.send_with_receipt(&dest, &headers, body.as_bytes()) {
                Ok(()) => {
                    lock(&sent).confirmed_at.push(Instant::now());
                    seq += 1;
                    failed_before = false;
                    timeouts = 0;
                }
                Err(e) => {
                    // Outcome unknown: the same number goes again.
                    *lock(&sent).errors.entry(error_kind(&e)).or_default() += 1;
                    failed_before = true;
                    timeouts = if matches!(e, Error::Timeout) && client.is_connected() {
                        timeouts + 1
                    } else {
                        0
                    };
                    if timeouts < STUCK_TIMEOUTS {
                        thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                    timeouts = 0;
                    eprintln!("producer: {STUCK_TIMEOUTS} receipt timeouts in a row; new client");
                    let _ = client.disconnect_timeout(Duration::from_secs(1));
                    client = loop {
                        if stop.load(Ordering::Relaxed) {
                            return None;
                        }
                        let config = connect_to
                            .events
                            .config("producer", connect_to.config.clone());
                        match Client::connect(&connect_to.url, &config) {
                            Ok(c) => break c,
                            Err(e) => {
                                let kind = error_kind(&e);
                                *lock(&sent).connect_errors.entry(kind).or_default() += 1;
                                thread::sleep(Duration::from_millis(200));
                            }
                        }
                    };
                    lock(&sent).replaced += 1;
                }
            }
        }
        Some(client)
    })
}

fn consume(
    client: Client,
    dest: String,
    received: Arc<Mutex<Received>>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Result<Client, String>> {
    thread::spawn(move || {
        let mut headers = QUEUE_ARGS.to_vec();
        headers.push(("prefetch-count", "200"));
        let sub = client
            .subscribe(&dest, AckMode::ClientIndividual, &headers)
            .map_err(|e| format!("subscribe: {e:?}"))?;
        while !stop.load(Ordering::Relaxed) {
            let msg = match sub.recv_timeout(Duration::from_millis(200)) {
                Ok(m) => m,
                Err(Error::Timeout) => continue,
                Err(e) => return Err(format!("recv: {e:?} ({:?})", client.close_reason())),
            };
            let now = Instant::now();
            {
                let mut r = lock(&received);
                match msg.header("seq").and_then(|s| s.parse::<u64>().ok()) {
                    Some(seq) => *r.counts.entry(seq).or_default() += 1,
                    None => r.foreign += 1,
                }
                if msg.header("redelivered") == Some("true") {
                    r.redelivered += 1;
                }
                r.at.push(now);
            }
            match msg.ack(&[]) {
                Ok(()) => {}
                Err(Error::Disconnected) => lock(&received).acks_refused += 1,
                Err(e) => {
                    *lock(&received)
                        .ack_errors
                        .entry(error_kind(&e))
                        .or_default() += 1
                }
            }
        }
        drop(sub);
        Ok(client)
    })
}

/// Polls `cond` every 50 ms until it holds (true) or `deadline` passes (false).
fn wait_until(deadline: Instant, mut cond: impl FnMut() -> bool) -> bool {
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The earlier of `now + d` and `end`.
fn within(d: Duration, end: Instant) -> Instant {
    (Instant::now() + d).min(end)
}

/// Figures of one kill, for one client that was on the killed node.
struct Outage {
    client: &'static str,
    /// `ConnectionLost` minus the moment `kill N` returned (the VM was gone).
    detect_ms: i128,
    to_connected: Duration,
    /// To the next message consumed (consumer) or confirmed (producer).
    to_resumed: Duration,
    node_after: usize,
}

#[test]
fn three_node_kills_lose_no_confirmed_message() {
    let Some(mut cluster) = Cluster::require(LOCK_WAIT, START_TIMEOUT) else {
        return;
    };
    let t0 = cluster.held_since();
    let end = t0 + BUDGET;
    let traffic_from = Instant::now();
    // STOMP over TCP, or over WebSocket with STOMPWS_CLUSTER_TRANSPORT=ws.
    let ws = std::env::var("STOMPWS_CLUSTER_TRANSPORT").is_ok_and(|v| v == "ws");
    let urls: Vec<String> = common::cluster::NODES
        .iter()
        .map(|&n| {
            let url = if ws {
                cluster.ws_url(n)
            } else {
                cluster.tcp_url(n)
            };
            url.to_string()
        })
        .collect();
    let node_of = |url: &str| match urls.iter().position(|u| u == url) {
        Some(i) => i + 1,
        None => panic!("Connected to {url}, which is no node of the cluster"),
    };

    let queue = common::unique("cluster-failover");
    let dest = format!("/queue/{queue}");
    let order = [1, 2, 3];
    let p_events = Arc::new(Events::default());
    let c_events = Arc::new(Events::default());
    let producer_config = client_config(&urls, &order).heartbeat(0, 0);
    let producer = Client::connect(
        &urls[order[0] - 1],
        &p_events.config("producer", producer_config.clone()),
    )
    .expect("producer connects");
    let consumer = Client::connect(
        &urls[order[0] - 1],
        &c_events.config(
            "consumer",
            client_config(&urls, &order).heartbeat(1000, 1000),
        ),
    )
    .expect("consumer connects");

    let sent = Arc::new(Mutex::new(Sent::default()));
    let received = Arc::new(Mutex::new(Received::default()));
    let stop_producer = Arc::new(AtomicBool::new(false));
    let stop_consumer = Arc::new(AtomicBool::new(false));
    let consumer_thread = consume(
        consumer,
        dest.clone(),
        Arc::clone(&received),
        Arc::clone(&stop_consumer),
    );
    let connect_to = ConnectTo {
        url: urls[order[0] - 1].clone(),
        config: producer_config,
        events: Arc::clone(&p_events),
    };
    let producer_thread = produce(
        producer,
        connect_to,
        dest.clone(),
        Arc::clone(&sent),
        Arc::clone(&stop_producer),
    );
    let confirmed = || lock(&sent).confirmed_at.len();
    let consumed = || lock(&received).at.len();
    // Ends the test: the clients' threads are told to stop, the cluster guard is dropped.
    macro_rules! failed {
        ($($what:tt)*) => {{
            stop_producer.store(true, Ordering::Relaxed);
            stop_consumer.store(true, Ordering::Relaxed);
            panic!(
                "{} after {:.1} s: {} confirmed, {} consumed; producer errors {:?}",
                format!($($what)*),
                t0.elapsed().as_secs_f64(),
                confirmed(),
                consumed(),
                lock(&sent).errors
            )
        }};
    }
    // Traffic flows: both clients connected, and `n` more confirmed and consumed.
    let flows = |n: usize, deadline: Instant| {
        let (c0, r0) = (confirmed(), consumed());
        wait_until(deadline, || {
            p_events.connected_url().is_some()
                && c_events.connected_url().is_some()
                && confirmed() >= c0 + n
                && consumed() >= r0 + n
        })
    };
    if !flows(100, within(Duration::from_secs(30), end)) {
        failed!("no traffic before the first kill");
    }
    eprintln!(
        "traffic flows {:.1} s after the clients connected",
        traffic_from.elapsed().as_secs_f64()
    );

    let mut outages: Vec<(usize, usize, Vec<Outage>)> = Vec::new();
    for round in 1..=KILLS {
        let p_url = p_events.connected_url();
        let c_url = c_events.connected_url();
        let (Some(p_url), Some(c_url)) = (p_url, c_url) else {
            failed!("kill {round}: a client is not connected");
        };
        let (p_node, c_node) = (node_of(&p_url), node_of(&c_url));
        // Both normally sit on the same node (the same endpoint list, tried in order);
        // if they do not, alternate between them.
        let target = if p_node == c_node || round % 2 == 1 {
            p_node
        } else {
            c_node
        };
        let on_target: Vec<(&'static str, &Arc<Events>)> = [
            ("producer", &p_events, p_node),
            ("consumer", &c_events, c_node),
        ]
        .into_iter()
        .filter(|(_, _, n)| *n == target)
        .map(|(name, ev, _)| (name, ev))
        .collect();
        eprintln!(
            "kill {round}: producer on node {p_node}, consumer on node {c_node}; killing node {target}"
        );
        let before_kill = Instant::now();
        if let Err(e) = cluster.kill(target, Duration::from_secs(30)) {
            failed!("kill {round}: {e}");
        }
        let killed_at = Instant::now();

        // Both clients up again, each one that was on the node with a new Connected, and
        // messages confirmed and consumed after that.
        let deadline = within(RESUME_TIMEOUT, end);
        let resumed = wait_until(deadline, || {
            let mut last_up = before_kill;
            for (_, ev) in &on_target {
                let Some((lost, _)) = ev.first_after(Event::ConnectionLost, before_kill) else {
                    return false;
                };
                let Some((up, _)) = ev.first_after(Event::Connected, lost) else {
                    return false;
                };
                last_up = last_up.max(up);
            }
            p_events.connected_url().is_some()
                && c_events.connected_url().is_some()
                && lock(&sent)
                    .confirmed_at
                    .last()
                    .is_some_and(|&t| t > last_up)
                && lock(&received).at.last().is_some_and(|&t| t > last_up)
        });
        if !resumed {
            failed!("kill {round}: traffic did not resume within {RESUME_TIMEOUT:?}");
        }
        let mut figures = Vec::new();
        for (name, ev) in &on_target {
            let (lost, _) = ev.first_after(Event::ConnectionLost, before_kill).unwrap();
            let (up, url) = ev.first_after(Event::Connected, lost).unwrap();
            let next = if *name == "producer" {
                lock(&sent).confirmed_at.iter().copied().find(|&t| t > up)
            } else {
                lock(&received).at.iter().copied().find(|&t| t > up)
            };
            figures.push(Outage {
                client: name,
                detect_ms: signed_ms(killed_at, lost),
                to_connected: up - lost,
                to_resumed: next.unwrap() - lost,
                node_after: node_of(&url),
            });
        }
        outages.push((round, target, figures));

        let revive = end.saturating_duration_since(Instant::now());
        match cluster.revive(target, revive) {
            Ok(o) => eprintln!(
                "kill {round}: node {target} revived and rejoined in {:.1} s",
                o.took.as_secs_f64()
            ),
            Err(e) => failed!("kill {round}: revive: {e}"),
        }
        if !flows(50, within(Duration::from_secs(30), end)) {
            failed!("kill {round}: no traffic after the revive");
        }
    }

    // Stop sending, then wait until the consumer has every confirmed number, or has
    // received nothing for DRAIN_IDLE.
    stop_producer.store(true, Ordering::Relaxed);
    let traffic = traffic_from.elapsed();
    let producer_deadline = within((SEND_TIMEOUT + RECEIPT_TIMEOUT) * 2, end);
    if !wait_until(producer_deadline, || producer_thread.is_finished()) {
        failed!("the producer did not stop");
    }
    let producer = producer_thread.join().expect("producer thread");
    let total_confirmed = confirmed() as u64;
    let drained = {
        let mut last = (consumed(), Instant::now());
        wait_until(end, || {
            let r = lock(&received);
            if (1..=total_confirmed).all(|s| r.counts.contains_key(&s)) {
                return true;
            }
            if r.at.len() != last.0 {
                last = (r.at.len(), Instant::now());
            }
            last.1.elapsed() >= DRAIN_IDLE
        })
    };
    stop_consumer.store(true, Ordering::Relaxed);
    if !wait_until(
        within(Duration::from_secs(5), end + Duration::from_secs(5)),
        || consumer_thread.is_finished(),
    ) {
        failed!("the consumer did not stop");
    }
    let consumer = match consumer_thread.join().expect("consumer thread") {
        Ok(c) => c,
        Err(e) => failed!("consumer: {e}"),
    };
    let gave_up = (p_events.gave_up(), c_events.gave_up());
    if let Some(producer) = producer {
        let _ = producer.disconnect_timeout(Duration::from_secs(2));
    }
    let _ = consumer.disconnect_timeout(Duration::from_secs(2));
    // Best effort: the queue would otherwise stay in a cluster that keeps running.
    if !cluster.started_here() {
        let _ = cluster.ctl(1, &["delete_queue", &queue], Duration::from_secs(30));
    }

    let sent = lock(&sent);
    let r = lock(&received);
    let lost: Vec<u64> = (1..=total_confirmed)
        .filter(|s| !r.counts.contains_key(s))
        .collect();
    let duplicates: u64 = r.counts.values().map(|&c| u64::from(c) - 1).sum();
    let unconfirmed_received = r.counts.keys().filter(|&&s| s > total_confirmed).count();
    let elapsed = t0.elapsed();
    println!(
        "=== RabbitMQ cluster failover over {}: {KILLS} node kills",
        if ws { "ws" } else { "tcp" }
    );
    for (round, node, figures) in &outages {
        for o in figures {
            println!(
                "kill {round} (node {node}): {:<8} ConnectionLost {:+} ms after the kill, \
                 Connected (node {}) after {} ms, next message {} after {} ms",
                o.client,
                o.detect_ms,
                o.node_after,
                ms(o.to_connected),
                if o.client == "producer" {
                    "confirmed"
                } else {
                    "consumed"
                },
                ms(o.to_resumed)
            );
        }
    }
    println!(
        "sent {} confirmed, {} retried sends, send errors {:?}; producer client replaced {} \
         times (connect errors {:?})",
        total_confirmed, sent.retries, sent.errors, sent.replaced, sent.connect_errors
    );
    println!(
        "received {} messages, {} distinct, {} duplicates, {} redelivered:true, \
         {} unconfirmed numbers received, {} acks refused (Disconnected), ack errors {:?}",
        r.at.len(),
        r.counts.len(),
        duplicates,
        r.redelivered,
        unconfirmed_received,
        r.acks_refused,
        r.ack_errors
    );
    println!(
        "events: producer {} lost / {} connected, consumer {} lost / {} connected",
        p_events.count(Event::ConnectionLost),
        p_events.count(Event::Connected),
        c_events.count(Event::ConnectionLost),
        c_events.count(Event::Connected)
    );
    println!(
        "lost {} (must be 0){}; {:.1} s in all (cluster start included), traffic for \
         {:.1} s, {:.0} confirmed/s",
        lost.len(),
        if drained {
            ""
        } else {
            " (the consumer's queue stayed empty for DRAIN_IDLE)"
        },
        elapsed.as_secs_f64(),
        traffic.as_secs_f64(),
        total_confirmed as f64 / traffic.as_secs_f64()
    );
    assert_eq!(r.foreign, 0, "messages without a seq header came");
    assert_eq!(outages.len(), KILLS);
    assert_eq!(
        gave_up,
        (0, 0),
        "a client was closed for good during the test"
    );
    assert_eq!(
        lost.len(),
        0,
        "confirmed numbers never received (first 20): {:?}",
        &lost[..lost.len().min(20)]
    );
}
