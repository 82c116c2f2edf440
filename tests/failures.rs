//! Reconnect against the shared RabbitMQ through real faults, with figures: a reset
//! (the test proxy's cut) over `tcp://` and `ws://`, the order of frames on the new
//! connection, the proxy's blackhole with heart-beats, a real network partition (a
//! network namespace whose veth link goes down), and 1000 receipted sends through a
//! proxy that delays every chunk by 50 ms.
//!
//! Each test prints its figures (detection: fault to `ConnectionLost`; resume: fault,
//! or its end, to `Connected` and to the first message received after it) with
//! `eprintln!`; run with `--nocapture` to see them. The times of events are taken in
//! the event hook, on the client's dispatch thread, so they include its hand-over.
//!
//! Needs RabbitMQ (`tests/brokers/rabbitmq.sh start`); the partition test also needs
//! root and iproute2. Without them a test prints `skipping: ...` and passes, except
//! under `STOMPWS_REQUIRE_BROKERS=1` (CI), where it fails. Every wait is bounded, and
//! each test ends within about 30 s.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::netns::Partition;
use common::proxy::Proxy;
use common::{host_port, unique, STOMPWS};
use stompws::{AckMode, Client, Config, Error, Event};

/// The first reconnect wait; the backoff doubles from it up to [`BACKOFF_MAX`].
const BACKOFF_INITIAL: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_millis(500);
/// How long a test waits for something that takes milliseconds when all is well.
const WAIT: Duration = Duration::from_secs(10);
/// The library's default `heartbeat_tolerance`: silence of this many negotiated
/// intervals is a lost connection.
const TOLERANCE: f64 = 2.0;
/// What a detection by heart-beat silence may take beyond tolerance x interval: the I/O
/// thread's wake-up, the hand-over to the dispatch thread that reports the event, and
/// scheduling on a busy 2-core machine.
const DETECT_MARGIN: Duration = Duration::from_millis(500);
/// The bound on a resume after a reset, from the cut to the first message received on
/// the new connection: a first attempt after ~50 ms, a local connect and handshake,
/// one send and its delivery. Generous, for a loaded machine.
const RESUME_BOUND: Duration = Duration::from_secs(5);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The socket address of a broker URL (its host resolved, first address).
fn addr_of(url: &str) -> SocketAddr {
    let (host, port) = host_port(url);
    (host.as_str(), port)
        .to_socket_addrs()
        .unwrap_or_else(|e| panic!("resolve {url}: {e}"))
        .next()
        .unwrap_or_else(|| panic!("no address for {url}"))
}

/// One reported event and when the hook saw it.
#[derive(Debug, Clone)]
struct Ev {
    kind: Event,
    detail: String,
    at: Instant,
}

/// Records every event of a client (through `Config::on_event`) and lets a test wait
/// for the nth of a kind.
#[derive(Clone, Default)]
struct Events(Arc<(Mutex<Vec<Ev>>, Condvar)>);

impl Events {
    fn lock(&self) -> MutexGuard<'_, Vec<Ev>> {
        self.0 .0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hook(&self, config: Config) -> Config {
        let me = self.clone();
        config.on_event(move |kind, detail| {
            let at = Instant::now();
            me.lock().push(Ev {
                kind,
                detail: detail.to_string(),
                at,
            });
            me.0 .1.notify_all();
        })
    }

    fn of(&self, kind: Event) -> Vec<Ev> {
        self.lock()
            .iter()
            .filter(|e| e.kind == kind)
            .cloned()
            .collect()
    }

    /// The `n`th (from 1) event of `kind`; panics with every event so far after `timeout`.
    #[track_caller]
    fn wait_nth(&self, kind: Event, n: usize, timeout: Duration) -> Ev {
        let deadline = Instant::now() + timeout;
        let mut evs = self.lock();
        loop {
            if let Some(e) = evs.iter().filter(|e| e.kind == kind).nth(n - 1) {
                return e.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "no {kind:?} number {n} within {timeout:?}; events: {:?}",
                    *evs
                );
            }
            evs = self
                .0
                 .1
                .wait_timeout(evs, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// A one-line summary: kind and detail of each event, in order.
    fn summary(&self) -> String {
        self.lock()
            .iter()
            .map(|e| format!("{}({})", e.kind.as_str(), e.detail))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The `heart-beat` header of the last CONNECTED the client received, through the debug
/// hook's `<<< CONNECTED ...` line.
#[derive(Clone, Default)]
struct ConnectedHeartbeat(Arc<Mutex<Option<String>>>);

impl ConnectedHeartbeat {
    fn hook(&self, config: Config) -> Config {
        let me = self.clone();
        config.debug(move |line| {
            if let Some(rest) = line.strip_prefix("<<< CONNECTED") {
                let hb = rest
                    .split(' ')
                    .find_map(|w| w.strip_prefix("heart-beat:"))
                    .map(str::to_string);
                *me.0.lock().unwrap_or_else(|e| e.into_inner()) = hb;
            }
        })
    }

    /// The incoming interval negotiated from our `cy` and the broker's `sx` (the larger
    /// of the two; RabbitMQ rounds to whole seconds). Panics if the broker sent none.
    #[track_caller]
    fn incoming(&self, ours_cy: u32) -> Duration {
        let hb = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .expect("the broker's CONNECTED has a heart-beat header");
        let sx: u32 = hb
            .split(',')
            .next()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("bad heart-beat header {hb:?}"));
        assert!(sx > 0 && ours_cy > 0, "no incoming heart-beats: {hb:?}");
        Duration::from_millis(u64::from(sx.max(ours_cy)))
    }
}

/// Credentials, short timeouts, reconnect on, the event hook.
fn config(events: &Events, heartbeat: (u32, u32)) -> Config {
    events.hook(
        Config::new()
            .login(STOMPWS.0, STOMPWS.1)
            .heartbeat(heartbeat.0, heartbeat.1)
            .connect_timeout(Duration::from_secs(1))
            .receipt_timeout(WAIT)
            .send_timeout(WAIT)
            .reconnect(BACKOFF_INITIAL, BACKOFF_MAX, 0),
    )
}

/// Receives until a message with `body` comes (earlier ones are skipped); panics after
/// `timeout`.
#[track_caller]
fn recv_body(sub: &stompws::Subscription, body: &[u8], timeout: Duration) -> stompws::Message {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match sub.recv_timeout(left) {
            Ok(m) if m.body() == body => return m,
            Ok(_) => continue,
            Err(e) => panic!(
                "no message {:?} within {timeout:?}: {e:?}",
                String::from_utf8_lossy(body)
            ),
        }
    }
}

/// Stays idle for longer than the tolerated silence, so that the session lives on the
/// broker's heart-beats alone (no loss may be declared), and the fault that follows
/// starts at a random point of the broker's beat cycle rather than right after a
/// receipt.
#[track_caller]
fn idle_on_heartbeats(events: &Events, interval: Duration) {
    thread::sleep(interval.mul_f64(TOLERANCE) + interval / 2);
    assert!(
        events.of(Event::ConnectionLost).is_empty(),
        "lost while the broker's heart-beats flowed: {}",
        events.summary()
    );
}

// ---- 1. Cut (RST) ----------------------------------------------------------------

/// Connects through a proxy to the broker at `var`, cuts, and measures detection and
/// resume; the send after the loss waits for the new connection (rule 7).
fn cut_and_resume(var: &str, scheme: &str, path: &str) {
    let url = require!(var);
    let proxy = Proxy::start(addr_of(&url));
    let events = Events::default();
    let client = Client::connect(&proxy.url(scheme, path), &config(&events, (0, 0))).unwrap();
    let queue = format!("/queue/{}", unique("cut"));
    let sub = client.subscribe(&queue, AckMode::Auto, &[]).unwrap();
    client.send_with_receipt(&queue, &[], b"before").unwrap();
    recv_body(&sub, b"before", WAIT);

    let cut_at = Instant::now();
    proxy.cut();
    let lost = events.wait_nth(Event::ConnectionLost, 1, WAIT);
    // Waits for the new connection, then for its receipt.
    client.send_with_receipt(&queue, &[], b"after").unwrap();
    recv_body(&sub, b"after", WAIT);
    let received_at = Instant::now();
    let connected = events.wait_nth(Event::Connected, 2, WAIT);

    let detect = lost.at.saturating_duration_since(cut_at);
    let to_connected = connected.at.saturating_duration_since(cut_at);
    let to_message = received_at.saturating_duration_since(cut_at);
    eprintln!(
        "cut over {scheme}: detection {:.1} ms (\"{}\"), resume: Connected after {:.1} ms, \
         first message after {:.1} ms; attempts {}, proxy connections {}",
        ms(detect),
        lost.detail,
        ms(to_connected),
        ms(to_message),
        events.of(Event::Reconnecting).len(),
        proxy.accepted()
    );
    assert!(
        detect < Duration::from_secs(1),
        "a reset took {detect:?} to detect"
    );
    assert!(
        to_message < RESUME_BOUND,
        "resume took {to_message:?} (bound {RESUME_BOUND:?}); events: {}",
        events.summary()
    );
    assert!(client.is_connected());
    assert!(proxy.accepted() >= 2, "the new session is a new connection");
    client.disconnect().unwrap();
}

#[test]
fn cut_over_tcp_detects_and_resumes() {
    cut_and_resume("STOMPWS_RABBITMQ_TCP", "tcp", "");
}

#[test]
fn cut_over_ws_detects_and_resumes() {
    cut_and_resume("STOMPWS_RABBITMQ_WS", "ws", "/ws");
}

// ---- 2. Frame order on the new connection --------------------------------------------

/// A frame as the client wrote it.
#[derive(Debug, Clone, PartialEq)]
struct Wire {
    command: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Wire {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The headers by name, without `receipt`.
    fn headers_but_receipt(&self) -> BTreeMap<String, String> {
        self.headers
            .iter()
            .filter(|(n, _)| n != "receipt")
            .cloned()
            .collect()
    }
}

/// Splits the bytes a client sent over `tcp://` into frames: heart-beat EOLs between
/// frames are skipped, a body ends after `content-length` bytes or at the first NUL.
/// A trailing incomplete frame is left out.
fn parse_frames(mut bytes: &[u8]) -> Vec<Wire> {
    let mut frames = Vec::new();
    loop {
        while let Some(rest) = bytes
            .strip_prefix(b"\n")
            .or_else(|| bytes.strip_prefix(b"\r\n"))
        {
            bytes = rest;
        }
        let Some(head_end) = bytes.windows(2).position(|w| w == b"\n\n") else {
            return frames;
        };
        let head = String::from_utf8_lossy(&bytes[..head_end]).replace('\r', "");
        let mut lines = head.split('\n');
        let command = lines.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap_or((l, ""));
                (n.to_string(), v.to_string())
            })
            .collect();
        let body_start = head_end + 2;
        let len = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let body_end = match len {
            Some(n) if body_start + n < bytes.len() => body_start + n,
            Some(_) => return frames,
            None => match bytes[body_start..].iter().position(|&b| b == 0) {
                Some(p) => body_start + p,
                None => return frames,
            },
        };
        frames.push(Wire {
            command,
            headers,
            body: bytes[body_start..body_end].to_vec(),
        });
        bytes = &bytes[body_end + 1..];
    }
}

#[test]
fn after_a_cut_subscriptions_are_replayed_before_a_waiting_send() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    let proxy = Proxy::start(addr_of(&url));
    let events = Events::default();
    let client = Client::connect(&proxy.url("tcp", ""), &config(&events, (0, 0))).unwrap();
    let (qa, qb) = (
        format!("/queue/{}", unique("order-a")),
        format!("/queue/{}", unique("order-b")),
    );
    // Each subscribe carries a caller's receipt: it returns once the broker has it (so
    // the first session's SUBSCRIBEs are certainly on the wire before the cut; without
    // one, a subscribe returns once its frame is queued), and the replay must leave
    // the receipt out.
    let sub_a = client
        .subscribe(
            &qa,
            AckMode::ClientIndividual,
            &[("id", "sub-a"), ("prefetch-count", "5"), ("receipt", "r-a")],
        )
        .unwrap();
    let _sub_b = client
        .subscribe(
            &qb,
            AckMode::Client,
            &[("id", "sub-b"), ("prefetch-count", "7"), ("receipt", "r-b")],
        )
        .unwrap();

    // New connections are refused while the send below is issued, so that it certainly
    // waits for a connection that is not there yet.
    proxy.refuse(true);
    let cut_at = Instant::now();
    proxy.cut();
    events.wait_nth(Event::ConnectionLost, 1, WAIT);
    let sender = {
        let (client, qa) = (client.clone(), qa.clone());
        thread::spawn(move || client.send_with_receipt(&qa, &[("x-order", "3")], b"queued"))
    };
    thread::sleep(Duration::from_millis(300));
    assert!(
        !sender.is_finished(),
        "the send did not wait for a connection"
    );
    assert!(!client.is_connected());
    let refused = proxy.refused();
    proxy.refuse(false);
    let connected = events.wait_nth(Event::Connected, 2, WAIT);
    sender
        .join()
        .unwrap()
        .expect("the waiting send goes out on the new connection");
    let m = recv_body(&sub_a, b"queued", WAIT);
    m.ack(&[]).unwrap();

    // Connection 0 was the first session; refused ones have no bytes; the one that
    // carried the new session is the first after 0 with bytes.
    let index = (1..proxy.accepted())
        .find(|&i| !proxy.client_bytes(i).is_empty())
        .expect("a connection that carried the new session");
    let first = parse_frames(&proxy.client_bytes(0));
    let second = parse_frames(&proxy.client_bytes(index));
    let commands: Vec<&str> = second.iter().map(|f| f.command.as_str()).collect();
    eprintln!(
        "frame order: {refused} connections refused, session on proxy connection {index}, \
         Connected {:.1} ms after the cut; frames sent: {commands:?}",
        ms(connected.at.saturating_duration_since(cut_at))
    );
    assert!(
        commands.len() >= 4,
        "CONNECT, 2 SUBSCRIBE, SEND expected: {second:?}"
    );
    assert_eq!(
        &commands[..4],
        ["CONNECT", "SUBSCRIBE", "SUBSCRIBE", "SEND"]
    );
    let first_subs: Vec<&Wire> = first.iter().filter(|f| f.command == "SUBSCRIBE").collect();
    assert_eq!(first_subs.len(), 2, "{first:?}");
    assert_eq!(first_subs[0].header("receipt"), Some("r-a"));
    assert_eq!(first_subs[1].header("receipt"), Some("r-b"));
    for (replayed, original) in second[1..3].iter().zip(&first_subs) {
        assert_eq!(replayed.header("receipt"), None, "{replayed:?}");
        assert_eq!(
            replayed.headers_but_receipt(),
            original.headers_but_receipt(),
            "a replayed SUBSCRIBE differs from the original"
        );
    }
    assert_eq!(second[1].header("id"), Some("sub-a"));
    assert_eq!(second[1].header("destination"), Some(qa.as_str()));
    assert_eq!(second[1].header("ack"), Some("client-individual"));
    assert_eq!(second[1].header("prefetch-count"), Some("5"));
    assert_eq!(second[2].header("id"), Some("sub-b"));
    assert_eq!(second[2].header("destination"), Some(qb.as_str()));
    assert_eq!(second[2].header("ack"), Some("client"));
    assert_eq!(second[2].header("prefetch-count"), Some("7"));
    assert_eq!(second[3].header("destination"), Some(qa.as_str()));
    assert_eq!(second[3].header("x-order"), Some("3"));
    assert_eq!(second[3].body, b"queued");
    client.disconnect().unwrap();
}

// ---- 3. Blackhole ------------------------------------------------------------------

#[test]
fn blackhole_is_detected_by_heartbeats_and_recovers() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    let proxy = Proxy::start(addr_of(&url));
    let events = Events::default();
    let hb = ConnectedHeartbeat::default();
    let client = Client::connect(
        &proxy.url("tcp", ""),
        &hb.hook(config(&events, (1000, 1000))),
    )
    .unwrap();
    let interval = hb.incoming(1000);
    let bound = interval.mul_f64(TOLERANCE) + DETECT_MARGIN;
    let queue = format!("/queue/{}", unique("blackhole"));
    let sub = client.subscribe(&queue, AckMode::Auto, &[]).unwrap();
    idle_on_heartbeats(&events, interval);

    let on_at = Instant::now();
    proxy.blackhole(true);
    let lost = events.wait_nth(Event::ConnectionLost, 1, bound + WAIT);
    let detect = lost.at.saturating_duration_since(on_at);
    // Attempts meanwhile reach the proxy and go silent: none may succeed.
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(events.of(Event::Connected).len(), 1, "{}", events.summary());
    let attempts_during = events.of(Event::Reconnecting).len();

    let off_at = Instant::now();
    proxy.blackhole(false);
    let connected = events.wait_nth(Event::Connected, 2, WAIT);
    client.send_with_receipt(&queue, &[], b"after").unwrap();
    recv_body(&sub, b"after", WAIT);
    let received_at = Instant::now();

    eprintln!(
        "blackhole: negotiated incoming interval {} ms, detection {:.1} ms (bound {:.0} ms, \
         \"{}\"); {attempts_during} attempts while silent; resume after the blackhole's \
         end: Connected after {:.1} ms, first message after {:.1} ms; proxy connections {}",
        interval.as_millis(),
        ms(detect),
        ms(bound),
        lost.detail,
        ms(connected.at.saturating_duration_since(off_at)),
        ms(received_at.saturating_duration_since(off_at)),
        proxy.accepted()
    );
    assert!(
        detect <= bound,
        "detection took {detect:?}, more than {TOLERANCE} x {interval:?} + {DETECT_MARGIN:?}"
    );
    assert!(
        detect >= interval.mul_f64(TOLERANCE).saturating_sub(interval),
        "detected after {detect:?}: sooner than the silence the tolerance allows"
    );
    assert!(attempts_during >= 1, "{}", events.summary());
    assert!(
        received_at.saturating_duration_since(off_at) < RESUME_BOUND,
        "resume took more than {RESUME_BOUND:?}: {}",
        events.summary()
    );
    assert!(proxy.accepted() >= 2, "the new session is a new connection");
    client.disconnect().unwrap();
}

// ---- 4. Real partition ---------------------------------------------------------------

#[test]
fn partition_is_detected_by_heartbeats_and_heals() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    let Some(part) = Partition::require() else {
        return;
    };
    let listener = part.listen().expect("listen inside the namespace");
    let proxy = Proxy::start_on(listener, addr_of(&url));
    let events = Events::default();
    let hb = ConnectedHeartbeat::default();
    let client = Client::connect(
        &proxy.url("tcp", ""),
        &hb.hook(config(&events, (1000, 1000))),
    )
    .unwrap();
    let interval = hb.incoming(1000);
    let bound = interval.mul_f64(TOLERANCE) + DETECT_MARGIN;
    let queue = format!("/queue/{}", unique("partition"));
    let sub = client.subscribe(&queue, AckMode::Auto, &[]).unwrap();
    client.send_with_receipt(&queue, &[], b"before").unwrap();
    recv_body(&sub, b"before", WAIT);
    idle_on_heartbeats(&events, interval);

    let down_at = Instant::now();
    part.link_down().expect("take the link down");
    let lost = events.wait_nth(Event::ConnectionLost, 1, bound + WAIT);
    let detect = lost.at.saturating_duration_since(down_at);
    // An attempt with nothing answering ends at the connect timeout (1 s); the second
    // attempt's wait begins once the first failed.
    let second = events.wait_nth(Event::Reconnecting, 2, WAIT);
    let first_failed_after = second.at.saturating_duration_since(lost.at);
    assert_eq!(events.of(Event::Connected).len(), 1, "{}", events.summary());
    let attempts_during = events.of(Event::Reconnecting).len();

    let up_at = Instant::now();
    part.link_up().expect("bring the link up");
    let connected = events.wait_nth(Event::Connected, 2, WAIT);
    client.send_with_receipt(&queue, &[], b"after").unwrap();
    recv_body(&sub, b"after", WAIT);
    let received_at = Instant::now();

    eprintln!(
        "partition: negotiated incoming interval {} ms, detection {:.1} ms (bound {:.0} ms, \
         \"{}\"); first attempt failed {:.1} ms after the loss; {attempts_during} attempts \
         while down (up for {:.1} ms); resume after link up: Connected after {:.1} ms, \
         first message after {:.1} ms; proxy connections {}",
        interval.as_millis(),
        ms(detect),
        ms(bound),
        lost.detail,
        ms(first_failed_after),
        ms(up_at.saturating_duration_since(down_at)),
        ms(connected.at.saturating_duration_since(up_at)),
        ms(received_at.saturating_duration_since(up_at)),
        proxy.accepted()
    );
    assert!(
        detect <= bound,
        "detection took {detect:?}, more than {TOLERANCE} x {interval:?} + {DETECT_MARGIN:?}"
    );
    // Once the link is back, the attempt under way ends within the connect timeout (its
    // SYN went into the void) and the next one starts within the longest backoff.
    assert!(
        received_at.saturating_duration_since(up_at) < RESUME_BOUND,
        "resume took more than {RESUME_BOUND:?}: {}",
        events.summary()
    );
    assert!(
        connected.detail.contains(&part.inner_ip().to_string()),
        "Connected names the endpoint: {:?}",
        connected.detail
    );
    client.disconnect().unwrap();
}

// ---- 5. Delay ------------------------------------------------------------------------

#[test]
fn a_thousand_receipted_sends_through_a_50_ms_delay_lose_nothing() {
    const SENDS: usize = 1000;
    const THREADS: usize = 20;
    const DELAY: Duration = Duration::from_millis(50);
    let url = require!("STOMPWS_RABBITMQ_TCP");
    let proxy = Proxy::start(addr_of(&url));
    proxy.delay(DELAY);
    let events = Events::default();
    let client = Client::connect(&proxy.url("tcp", ""), &config(&events, (0, 0))).unwrap();
    let queue = format!("/queue/{}", unique("delay"));
    let sub = client.subscribe(&queue, AckMode::Auto, &[]).unwrap();

    // Phase 1: every send waits for its own receipt, THREADS at a time.
    let started = Instant::now();
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let (client, queue) = (client.clone(), queue.clone());
            thread::spawn(move || {
                let mut slowest = Duration::ZERO;
                for i in (t..SENDS).step_by(THREADS) {
                    let at = Instant::now();
                    client
                        .send_with_receipt(&queue, &[], format!("r-{i}").as_bytes())
                        .unwrap_or_else(|e| panic!("receipted send r-{i}: {e:?}"));
                    slowest = slowest.max(at.elapsed());
                }
                slowest
            })
        })
        .collect();
    let slowest = senders
        .into_iter()
        .map(|h| h.join().unwrap())
        .max()
        .unwrap();
    let receipted = started.elapsed();

    // Phase 2: pipelined, a batch confirmed by one receipt at its end.
    let started = Instant::now();
    for i in 0..SENDS {
        client
            .send(&queue, &[], format!("p-{i}").as_bytes())
            .unwrap();
    }
    client.send_with_receipt(&queue, &[], b"p-end").unwrap();
    let pipelined = started.elapsed();

    let mut want: HashSet<Vec<u8>> = (0..SENDS)
        .flat_map(|i| [format!("r-{i}"), format!("p-{i}")])
        .map(String::into_bytes)
        .collect();
    want.insert(b"p-end".to_vec());
    let expected = want.len();
    let (mut received, mut duplicates) = (0usize, 0usize);
    let deadline = Instant::now() + WAIT;
    while !want.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match sub.recv_timeout(left) {
            Ok(m) => {
                received += 1;
                if !want.remove(m.body()) {
                    duplicates += 1;
                }
            }
            Err(Error::Timeout) => break,
            Err(e) => panic!("receive: {e:?}"),
        }
    }
    eprintln!(
        "delay {} ms each way: {SENDS} receipted sends from {THREADS} threads in {:.0} ms \
         ({:.0}/s, slowest {:.0} ms); {SENDS} pipelined sends + 1 receipt in {:.0} ms \
         ({:.0}/s); received {received} of {expected}, lost {}, duplicates {duplicates}",
        DELAY.as_millis(),
        ms(receipted),
        SENDS as f64 / receipted.as_secs_f64(),
        ms(slowest),
        ms(pipelined),
        SENDS as f64 / pipelined.as_secs_f64(),
        want.len()
    );
    assert!(want.is_empty(), "{} messages lost", want.len());
    assert_eq!(duplicates, 0);
    assert!(
        slowest < WAIT / 2,
        "a receipt took {slowest:?}, near the receipt timeout {WAIT:?}"
    );
    assert_eq!(
        events.of(Event::ConnectionLost).len(),
        0,
        "{}",
        events.summary()
    );
    client.disconnect().unwrap();
}
