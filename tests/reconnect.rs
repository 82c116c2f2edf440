//! API.md "Reconnect and failover", rule by rule, against the scripted server of
//! `tests/fake`: each test is named after the rule it checks (`connect_*` for the Connect
//! paragraph, `ruleN_*`, `event_order_*`).
//!
//! Most server scripts serve their first session until the client's `send_with_receipt`
//! to [`CUT`] (an in-band trigger: when it returns, the client has read every frame the
//! server sent before), then cuts the connection. Sessions are told apart by their
//! CONNECTED headers: session number N answers `server:fake/N`, `session:s-N`.
//! Backoff delays are 20-100 ms so that the file runs in seconds.
//!
//! Event details checked (the implementation's, see API.md): `ConnectionLost` = the loss
//! reason (also `close_reason` during the outage), `Reconnecting` = "attempt N: waiting
//! M ms", `Connected` = the endpoint URL as given to connect or `failover_url`.
//!
//! The last two tests run with reconnect off: the "off by default" paragraph, and a
//! check of the scripted server's own tools that the rule tests rely on.

mod fake;

use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fake::{Events, Peer, Seen};
use stompws::{AckMode, Client, Config, Error, Event};

/// The destination of the trigger SEND, see the module comment.
const CUT: &str = "/queue/cut";
/// How long a test waits for an event that should come within milliseconds.
const WAIT: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// No heart-beats (a script's silence is then no loss), short timeouts.
fn base() -> Config {
    Config::new()
        .heartbeat(0, 0)
        .connect_timeout(Duration::from_secs(2))
        .receipt_timeout(Duration::from_secs(5))
        .send_timeout(Duration::from_secs(5))
}

fn with_reconnect(initial_ms: u64, max_ms: u64, max_attempts: u32) -> Config {
    base().reconnect(ms(initial_ms), ms(max_ms), max_attempts)
}

/// Server side: CONNECTED for session number `n` (1.2, no heart-beats).
fn up(p: &mut Peer, n: usize) {
    p.handshake_as("1.2", "0,0", &format!("fake/{n}"), &format!("s-{n}"));
}

/// Server side: serves until the trigger, gives the client a moment to read the
/// trigger's RECEIPT, then resets the connection (RST). Returns when it was cut.
fn cut_at_trigger(mut p: Peer) -> Instant {
    p.serve_until_send(CUT);
    thread::sleep(ms(50));
    let at = Instant::now();
    p.reset();
    at
}

/// Client side: pulls the trigger and waits for the `n`th loss.
fn cut(client: &Client, events: &Events, n: usize) -> fake::Ev {
    client.send_with_receipt(CUT, &[], b"").unwrap();
    events.wait_nth(Event::ConnectionLost, n, WAIT)
}

/// Parses a Reconnecting detail, "attempt N: waiting M ms", into (N, M).
#[track_caller]
fn attempt(detail: &str) -> (u32, u64) {
    let parse = || {
        let rest = detail.strip_prefix("attempt ")?;
        let (n, rest) = rest.split_once(": waiting ")?;
        let m = rest.strip_suffix(" ms")?;
        Some((n.parse().ok()?, m.parse().ok()?))
    };
    parse().unwrap_or_else(|| {
        panic!("Reconnecting detail {detail:?} is not \"attempt N: waiting M ms\"")
    })
}

/// The attempt numbers of every Reconnecting event so far.
fn attempt_numbers(events: &Events) -> Vec<u32> {
    events
        .of(Event::Reconnecting)
        .iter()
        .map(|e| attempt(&e.detail).0)
        .collect()
}

/// The kinds of the events after the first one (the first connect's Connected).
fn kinds_after_connect(events: &Events) -> Vec<Event> {
    let kinds = events.kinds();
    assert_eq!(kinds.first(), Some(&Event::Connected), "{kinds:?}");
    kinds[1..].to_vec()
}

/// The frames the client sent on connection `index` of `server`, after its CONNECT.
#[track_caller]
fn session<T>(server: &fake::Many<T>, index: usize) -> Vec<Seen> {
    let frames = server.frames(index);
    assert_eq!(
        frames.first().map(|f| f.command.as_str()),
        Some("CONNECT"),
        "{frames:?}"
    );
    frames[1..].to_vec()
}

fn commands(frames: &[Seen]) -> Vec<String> {
    frames.iter().map(|f| f.command.clone()).collect()
}

fn subscribe_ids(frames: &[Seen]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f.command == "SUBSCRIBE")
        .map(|f| f.header("id").unwrap_or("").to_string())
        .collect()
}

fn sends_to<'a>(frames: &'a [Seen], destination: &str) -> Vec<&'a Seen> {
    frames
        .iter()
        .filter(|f| f.command == "SEND" && f.header("destination") == Some(destination))
        .collect()
}

// ---- Connect ----------------------------------------------------------------------

#[test]
fn connect_tries_endpoints_once_in_order_without_backoff() {
    // Two endpoints that reset the connection at accept, then a good one.
    let failing = || {
        fake::tcp_many(|s| {
            let at = s.reset_next();
            s.expect_no_connection(ms(500));
            at
        })
    };
    let mut a = failing();
    let mut b = failing();
    let mut c = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        p.serve_until_disconnect();
        s.expect_no_connection(ms(200));
    });
    let events = Events::new();
    // A 1 s initial delay: any backoff between endpoints would show.
    let config = events.attach(
        with_reconnect(1000, 2000, 0)
            .failover_url(&b.url)
            .failover_url(&c.url),
    );
    let t = Instant::now();
    let client = Client::connect(&a.url, &config).unwrap();
    let took = t.elapsed();
    assert!(
        took < ms(500),
        "connect took {took:?}: it waited between endpoints"
    );
    assert_eq!(client.session(), Some("s-1"));
    let connected = events.wait(Event::Connected, WAIT);
    assert_eq!(connected.detail, c.url, "Connected names the endpoint");
    assert!(
        events.of(Event::Reconnecting).is_empty(),
        "{:?}",
        events.all()
    );
    let c_at = c.accept_times()[0];
    client.disconnect().unwrap();
    let a_at = a.join();
    let b_at = b.join();
    c.join();
    assert!(
        a_at < b_at && b_at < c_at,
        "endpoints were not tried in list order"
    );
}

#[test]
fn connect_fails_naming_every_endpoint_when_all_fail() {
    let mut a = fake::tcp_many(|s| {
        s.reset_next();
        s.expect_no_connection(ms(300));
    });
    let b_url = fake::refused_url();
    let config = base().failover_url(&b_url);
    let t = Instant::now();
    let err = Client::connect(&a.url, &config).unwrap_err();
    assert!(t.elapsed() < ms(1000), "took {:?}", t.elapsed());
    // The result is the last endpoint's: a refused TCP connect.
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&a.url), "{text:?} does not name {}", a.url);
    assert!(text.contains(&b_url), "{text:?} does not name {b_url}");
    assert!(
        text.to_lowercase().contains("refused"),
        "{text:?} does not give the last endpoint's error"
    );
    a.join();
}

#[test]
fn connect_ends_at_once_on_an_error_answering_connect() {
    let mut a = fake::tcp_many(|s| {
        s.accept().refuse_connect("bad credentials");
        s.expect_no_connection(ms(500));
    });
    // The next endpoint would work, but must not be tried.
    let mut b = fake::tcp_many(|s| s.expect_no_connection(ms(1000)));
    let config = with_reconnect(50, 100, 0).failover_url(&b.url);
    let t = Instant::now();
    let err = Client::connect(&a.url, &config).unwrap_err();
    assert!(t.elapsed() < ms(1000), "took {:?}", t.elapsed());
    match err {
        Error::ServerError { message, .. } => assert_eq!(message, "bad credentials"),
        other => panic!("expected ServerError, got {other:?}"),
    }
    a.join();
    b.join();
}

#[test]
fn connect_failure_is_not_retried_in_the_background() {
    let mut a = fake::tcp_many(|s| {
        s.reset_next();
        // Attempts every 20-40 ms would show here.
        s.expect_no_connection(ms(700));
    });
    let events = Events::new();
    let err = Client::connect(&a.url, &events.attach(with_reconnect(20, 40, 0))).unwrap_err();
    assert!(
        matches!(err, Error::Io(_) | Error::Disconnected | Error::Protocol(_)),
        "{err:?}"
    );
    a.join();
    assert!(
        events.of(Event::Reconnecting).is_empty(),
        "{:?}",
        events.all()
    );
}

// ---- Rule 1: the loss ---------------------------------------------------------------

#[test]
fn rule1_connection_lost_fires_and_getters_keep_the_lost_session() {
    let (go, go_rx) = mpsc::channel::<()>();
    let mut server = fake::tcp_many(move |s| {
        let mut p = s.accept();
        up(&mut p, 1);
        s.close_listener();
        cut_at_trigger(p);
        go_rx.recv_timeout(WAIT).unwrap();
        s.reopen();
        let mut p = s.accept();
        up(&mut p, 2);
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 0))).unwrap();
    assert_eq!(events.wait(Event::Connected, WAIT).detail, server.url);
    assert!(client.is_connected());
    assert_eq!(client.close_reason(), None);

    let lost = cut(&client, &events, 1);
    assert!(!lost.detail.is_empty(), "ConnectionLost must say why");
    for _ in 0..2 {
        assert!(!client.is_connected());
        assert_eq!(client.version(), "1.2");
        assert_eq!(client.server(), Some("fake/1"));
        assert_eq!(client.session(), Some("s-1"));
        assert_eq!(client.close_reason().as_deref(), Some(lost.detail.as_str()));
        // Some refused attempts later, still the same.
        thread::sleep(ms(150));
    }
    assert!(
        events.of(Event::Reconnecting).len() >= 2,
        "{:?}",
        events.all()
    );

    go.send(()).unwrap();
    let back = events.wait_nth(Event::Connected, 2, WAIT);
    assert_eq!(back.detail, server.url);
    assert!(client.is_connected());
    assert_eq!(
        client.close_reason(),
        None,
        "Connected clears the close reason"
    );
    assert_eq!(client.server(), Some("fake/2"));
    assert_eq!(client.session(), Some("s-2"));
    client.disconnect().unwrap();
    server.join();
}

// ---- Rule 2: receipt waits end at the cut --------------------------------------------

#[test]
fn rule2_receipt_waits_return_disconnected_at_the_cut() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        p.expect("BEGIN");
        // A SEND and a COMMIT asking for receipts: neither is answered.
        let mut asked: Vec<String> = (0..2)
            .map(|_| {
                let f = p.read_frame().expect("client left");
                assert!(f.header("receipt").is_some(), "{f:?}");
                f.command
            })
            .collect();
        asked.sort();
        assert_eq!(asked, ["COMMIT", "SEND"]);
        thread::sleep(ms(200));
        p.reset();
        let mut p = s.accept();
        up(&mut p, 2);
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let config = events.attach(with_reconnect(20, 50, 0).receipt_timeout(Duration::from_secs(10)));
    let client = Client::connect(&server.url, &config).unwrap();
    let tx = client.begin_with_id("tx-1").unwrap();
    let committer = thread::spawn(move || {
        let t = Instant::now();
        (tx.commit(), t.elapsed())
    });
    thread::sleep(ms(50));
    let t = Instant::now();
    let r = client.send_with_receipt("/queue/a", &[], b"x");
    let took = t.elapsed();
    assert_eq!(r, Err(Error::Disconnected));
    assert!(
        took < ms(1500),
        "the receipt wait ended after {took:?}, not at the cut"
    );
    let (r, took) = committer.join().unwrap();
    assert_eq!(r, Err(Error::Disconnected));
    assert!(
        took < ms(1500),
        "the commit ended after {took:?}, not at the cut"
    );

    events.wait_nth(Event::Connected, 2, WAIT);
    client.disconnect().unwrap();
    server.join();
    let again = session(&server, 1);
    assert!(sends_to(&again, "/queue/a").is_empty(), "{again:?}");
    assert!(
        !commands(&again).contains(&"COMMIT".to_string()),
        "{again:?}"
    );
}

// ---- Rule 3: the lost session's state ---------------------------------------------

#[test]
fn rule3_acks_of_old_session_messages_are_refused_and_not_sent() {
    let (go, go_rx) = mpsc::channel::<()>();
    let mut server = fake::tcp_many(move |s| {
        let mut p = s.accept();
        up(&mut p, 1);
        p.expect("SUBSCRIBE");
        p.expect("SUBSCRIBE");
        p.message("sub-ci", "/queue/ci", "a-1", "m1");
        p.message("sub-ci", "/queue/ci", "a-2", "m2");
        p.message("sub-ci", "/queue/ci", "a-3", "m3");
        p.message("sub-auto", "/queue/auto", "b-1", "m4");
        s.close_listener();
        cut_at_trigger(p);
        go_rx.recv_timeout(WAIT).unwrap();
        s.reopen();
        let mut p = s.accept();
        up(&mut p, 2);
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 0))).unwrap();
    let ci = client
        .subscribe("/queue/ci", AckMode::ClientIndividual, &[("id", "sub-ci")])
        .unwrap();
    let auto = client
        .subscribe("/queue/auto", AckMode::Auto, &[("id", "sub-auto")])
        .unwrap();
    let m1 = ci.recv_timeout(WAIT).unwrap();
    let m2 = ci.recv_timeout(WAIT).unwrap();
    let m4 = auto.recv_timeout(WAIT).unwrap();
    assert_eq!(
        (m1.body(), m2.body(), m4.body()),
        (&b"m1"[..], &b"m2"[..], &b"m4"[..])
    );
    m2.ack(&[]).unwrap();
    cut(&client, &events, 1);

    // During the outage. The checks go in order: auto, already settled, lost session.
    assert!(matches!(m4.ack(&[]), Err(Error::InvalidArgument(_))));
    assert!(matches!(m2.ack(&[]), Err(Error::InvalidArgument(_))));
    assert_eq!(m1.ack(&[]), Err(Error::Disconnected));

    go.send(()).unwrap();
    events.wait_nth(Event::Connected, 2, WAIT);
    // On the new session: still refused, and a refused ack does not use the message up.
    assert_eq!(m1.ack(&[]), Err(Error::Disconnected));
    assert_eq!(m1.ack(&[]), Err(Error::Disconnected));
    assert_eq!(m1.nack(&[]), Err(Error::Disconnected));
    assert_eq!(
        m1.clone().ack(&[("receipt", "r-stale")]),
        Err(Error::Disconnected)
    );
    assert!(matches!(m4.ack(&[]), Err(Error::InvalidArgument(_))));
    assert!(matches!(m2.nack(&[]), Err(Error::InvalidArgument(_))));
    // A message queued before the loss is still there, and belongs to the lost session.
    let m3 = ci.recv_timeout(WAIT).unwrap();
    assert_eq!(m3.body(), b"m3");
    assert_eq!(m3.ack(&[]), Err(Error::Disconnected));

    client.disconnect().unwrap();
    server.join();
    let first = session(&server, 0);
    let acks: Vec<_> = first.iter().filter(|f| f.command == "ACK").collect();
    assert_eq!(acks.len(), 1, "{first:?}");
    assert_eq!(acks[0].header("id"), Some("a-2"));
    let again = commands(&session(&server, 1));
    assert!(
        !again.iter().any(|c| c == "ACK" || c == "NACK"),
        "an old-session ack went out on the new session: {again:?}"
    );
}

#[test]
fn rule3_queued_pull_messages_survive_the_loss() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        p.expect("SUBSCRIBE");
        for i in 1..=3 {
            p.message("sub-q", "/queue/q", &format!("q-{i}"), &format!("old-{i}"));
        }
        cut_at_trigger(p);
        let mut p = s.accept();
        up(&mut p, 2);
        p.expect("SUBSCRIBE");
        p.message("sub-q", "/queue/q", "q-4", "new-4");
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 0))).unwrap();
    let sub = client
        .subscribe("/queue/q", AckMode::Auto, &[("id", "sub-q")])
        .unwrap();
    cut(&client, &events, 1);
    let bodies: Vec<Vec<u8>> = (0..4)
        .map(|_| sub.recv_timeout(WAIT).unwrap().body().to_vec())
        .collect();
    assert_eq!(bodies, [&b"old-1"[..], b"old-2", b"old-3", b"new-4"]);
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn rule3_old_transactions_are_refused_and_not_sent() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        cut_at_trigger(p);
        let mut p = s.accept();
        up(&mut p, 2);
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 0))).unwrap();
    let old = client.begin_with_id("tx-old").unwrap();
    let old2 = client.begin_with_id("tx-old2").unwrap();
    cut(&client, &events, 1);
    events.wait_nth(Event::Connected, 2, WAIT);

    let in_old = [("transaction", "tx-old")];
    assert_eq!(
        client.send("/queue/t", &in_old, b"x"),
        Err(Error::Disconnected)
    );
    assert_eq!(
        client.send_with_receipt("/queue/t", &in_old, b"x"),
        Err(Error::Disconnected)
    );
    assert_eq!(old.commit(), Err(Error::Disconnected));
    assert_eq!(old2.abort(), Err(Error::Disconnected));
    // A transaction of the new session works.
    let new = client.begin_with_id("tx-new").unwrap();
    client
        .send("/queue/t", &[("transaction", "tx-new")], b"y")
        .unwrap();
    new.commit().unwrap();

    client.disconnect().unwrap();
    server.join();
    let again = session(&server, 1);
    let old_tx = |f: &&Seen| matches!(f.header("transaction"), Some("tx-old" | "tx-old2"));
    assert!(
        !again.iter().any(|f| old_tx(&f)),
        "a frame naming an old transaction was sent: {again:?}"
    );
    let new_tx: Vec<String> = again
        .iter()
        .filter(|f| f.header("transaction") == Some("tx-new"))
        .map(|f| f.command.clone())
        .collect();
    assert_eq!(new_tx, ["BEGIN", "SEND", "COMMIT"]);
}

#[test]
fn rule3_subscribe_cut_during_its_receipt_wait_is_not_replayed() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        let keep = p.expect("SUBSCRIBE");
        assert_eq!(keep.header("id"), Some("sub-keep"));
        let cut = p.expect("SUBSCRIBE");
        assert_eq!(cut.header("id"), Some("sub-cut"));
        thread::sleep(ms(100)); // its receipt never comes
        p.reset();
        let mut p = s.accept();
        up(&mut p, 2);
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 0))).unwrap();
    let _keep = client
        .subscribe("/queue/keep", AckMode::Auto, &[("id", "sub-keep")])
        .unwrap();
    let r = client.subscribe(
        "/queue/cut",
        AckMode::Auto,
        &[("id", "sub-cut"), ("receipt", "r-cut")],
    );
    assert_eq!(r.unwrap_err(), Error::Disconnected);
    events.wait_nth(Event::Connected, 2, WAIT);
    client.disconnect().unwrap();
    server.join();
    assert_eq!(subscribe_ids(&session(&server, 1)), ["sub-keep"]);
}

// ---- Rule 4: attempts ---------------------------------------------------------------

#[test]
fn rule4_backoff_doubles_with_jitter_up_to_the_max() {
    const ATTEMPTS: usize = 4;
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        let cut_at = cut_at_trigger(p);
        let tries: Vec<Instant> = (0..ATTEMPTS).map(|_| s.reset_next()).collect();
        s.expect_no_connection(ms(800));
        (cut_at, tries)
    });
    let events = Events::new();
    let config = events.attach(with_reconnect(100, 400, ATTEMPTS as u32));
    let client = Client::connect(&server.url, &config).unwrap();
    cut(&client, &events, 1);
    events.wait(Event::Disconnected, WAIT);
    let (cut_at, tries) = server.join();

    let reconnecting = events.of(Event::Reconnecting);
    assert_eq!(reconnecting.len(), ATTEMPTS, "{:?}", events.all());
    let mut previous = cut_at;
    for (i, (ev, at)) in reconnecting.iter().zip(&tries).enumerate() {
        let n = i as u32 + 1;
        let (number, announced) = attempt(&ev.detail);
        assert_eq!(number, n, "{:?}", ev.detail);
        // min(initial x 2^(n-1), max) x [0.8, 1.2], then clamped to max.
        let base = (100u64 << i).min(400);
        let (low, high) = (base * 8 / 10, (base * 12 / 10).min(400));
        // The announced wait may be rounded either way by a millisecond, but never
        // exceeds the max.
        let announced_high = if high == 400 { 400 } else { high + 1 };
        assert!(
            (low - 1..=announced_high).contains(&announced),
            "attempt {n} announced {announced} ms, outside [{low}, {high}]"
        );
        // Measured from the loss or the previous attempt's end to this attempt's
        // connection. The margins: up to 2 ms of the script's accept polling below, and
        // the loss detection, the refused attempt and scheduling on a shared machine
        // above.
        let gap = at.duration_since(previous).as_millis() as u64;
        assert!(
            gap + 2 >= low && gap <= high + 60,
            "attempt {n} came {gap} ms after the previous event, expected [{low}, {high}] \
             (announced {announced} ms)"
        );
        assert!(
            gap + 2 >= announced && gap <= announced + 60,
            "attempt {n} came {gap} ms after the previous event, announced {announced} ms"
        );
        previous = *at;
    }
    assert_eq!(
        kinds_after_connect(&events),
        [
            Event::ConnectionLost,
            Event::Reconnecting,
            Event::Reconnecting,
            Event::Reconnecting,
            Event::Reconnecting,
            Event::Disconnected
        ]
    );
    assert!(!client.is_connected());
    client.disconnect().unwrap();
}

#[test]
fn rule4_error_answering_connect_is_a_failed_attempt() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        cut_at_trigger(p);
        s.accept().refuse_connect("not now");
        let mut p = s.accept();
        up(&mut p, 2);
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 0))).unwrap();
    cut(&client, &events, 1);
    events.wait_nth(Event::Connected, 2, WAIT);
    assert_eq!(
        kinds_after_connect(&events),
        [
            Event::ConnectionLost,
            Event::Reconnecting,
            Event::ServerError,
            Event::Reconnecting,
            Event::Connected
        ]
    );
    assert_eq!(events.of(Event::ServerError)[0].detail, "not now");
    assert_eq!(attempt_numbers(&events), [1, 2]);
    assert_eq!(client.session(), Some("s-2"));
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn rule4_error_answering_connect_counts_against_max_attempts() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        cut_at_trigger(p);
        s.accept().refuse_connect("not now");
        s.expect_no_connection(ms(500));
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 1))).unwrap();
    cut(&client, &events, 1);
    events.wait(Event::Disconnected, WAIT);
    assert_eq!(
        kinds_after_connect(&events),
        [
            Event::ConnectionLost,
            Event::Reconnecting,
            Event::ServerError,
            Event::Disconnected
        ]
    );
    server.join();
    assert_eq!(client.send("/queue/x", &[], b""), Err(Error::Disconnected));
}

#[test]
fn rule4_error_answering_connect_goes_on_to_the_next_endpoint() {
    let mut a = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        cut_at_trigger(p);
        s.accept().refuse_connect("node is starting");
        s.expect_no_connection(ms(300));
    });
    let mut b = fake::tcp_many(|s| {
        let mut p = s.accept();
        p.handshake_as("1.2", "0,0", "fake-b", "b-1");
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let config = events.attach(with_reconnect(20, 50, 0).failover_url(&b.url));
    let client = Client::connect(&a.url, &config).unwrap();
    cut(&client, &events, 1);
    let back = events.wait_nth(Event::Connected, 2, WAIT);
    assert_eq!(back.detail, b.url);
    assert_eq!(
        kinds_after_connect(&events),
        [
            Event::ConnectionLost,
            Event::Reconnecting,
            Event::ServerError,
            Event::Connected
        ],
        "the ERROR ends that endpoint's try, not the attempt"
    );
    assert_eq!(client.session(), Some("b-1"));
    client.disconnect().unwrap();
    a.join();
    b.join();
}

#[test]
fn rule4_count_continues_when_the_new_session_is_lost_within_1s() {
    const MAX: u32 = 3;
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        cut_at_trigger(p);
        // A broker that refuses the replayed SUBSCRIBE and closes.
        for n in 2..=MAX as usize + 1 {
            let mut p = s.accept();
            up(&mut p, n);
            assert_eq!(p.expect("SUBSCRIBE").header("id"), Some("sub-r"));
            p.error_and_close("subscription refused");
        }
        s.expect_no_connection(ms(800));
    });
    let events = Events::new();
    let client =
        Client::connect(&server.url, &events.attach(with_reconnect(20, 200, MAX))).unwrap();
    let _sub = client
        .subscribe("/queue/r", AckMode::Auto, &[("id", "sub-r")])
        .unwrap();
    cut(&client, &events, 1);
    events.wait(Event::Disconnected, WAIT);
    server.join();
    assert_eq!(attempt_numbers(&events), [1, 2, 3], "{:?}", events.all());
    // The delay continues too: attempt n waits about 20 x 2^(n-1) ms.
    let waits: Vec<u64> = events
        .of(Event::Reconnecting)
        .iter()
        .map(|e| attempt(&e.detail).1)
        .collect();
    // 0.8 x 40 and 0.8 x 80, less a millisecond of rounding.
    assert!(
        waits[1] >= 31 && waits[2] >= 63,
        "waits {waits:?} did not grow"
    );
    use Event::*;
    assert_eq!(
        kinds_after_connect(&events),
        [
            ConnectionLost,
            Reconnecting,
            Connected,
            ServerError,
            ConnectionLost,
            Reconnecting,
            Connected,
            ServerError,
            ConnectionLost,
            Reconnecting,
            Connected,
            ServerError,
            ConnectionLost,
            Disconnected
        ]
    );
}

#[test]
fn rule4_count_restarts_after_a_session_stayed_up_1s() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        cut_at_trigger(p);
        s.reset_next(); // attempt 1 fails
        let mut p = s.accept(); // attempt 2 succeeds and stays up over 1 s
        up(&mut p, 2);
        thread::sleep(ms(1300));
        p.reset();
        s.reset_next(); // attempt 1 again: with max_attempts 2 the count must have restarted
        let mut p = s.accept();
        up(&mut p, 3);
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 2))).unwrap();
    cut(&client, &events, 1);
    events.wait_nth(Event::Connected, 3, WAIT);
    assert_eq!(attempt_numbers(&events), [1, 2, 1, 2], "{:?}", events.all());
    assert!(
        events.of(Event::Disconnected).is_empty(),
        "{:?}",
        events.all()
    );
    assert_eq!(client.session(), Some("s-3"));
    client.disconnect().unwrap();
    server.join();
}

// ---- Rule 5: after reconnecting -----------------------------------------------------

#[test]
fn rule5_subscriptions_are_replayed_first_then_the_waiting_sends() {
    let (go, go_rx) = mpsc::channel::<()>();
    let mut server = fake::tcp_many(move |s| {
        let mut p = s.accept();
        up(&mut p, 1);
        s.close_listener();
        cut_at_trigger(p);
        go_rx.recv_timeout(WAIT).unwrap();
        s.reopen();
        let mut p = s.accept();
        // The new session negotiates another version: the getters must follow.
        p.handshake_as("1.1", "0,0", "fake/2", "s-2");
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 0))).unwrap();
    let _a = client
        .subscribe(
            "/queue/a",
            AckMode::ClientIndividual,
            &[("id", "sub-a"), ("prefetch-count", "5")],
        )
        .unwrap();
    let _b = client
        .subscribe_callback(
            "/queue/b",
            AckMode::Auto,
            &[("id", "sub-b"), ("selector", "x = 1")],
            |_| {},
        )
        .unwrap();
    let _c = client
        .subscribe(
            "/queue/c",
            AckMode::Client,
            &[("id", "sub-c"), ("receipt", "r-c"), ("x-extra", "1")],
        )
        .unwrap();
    let d = client
        .subscribe("/queue/d", AckMode::Auto, &[("id", "sub-d")])
        .unwrap();
    d.unsubscribe(&[]).unwrap();
    cut(&client, &events, 1);

    // Two sends wait for the new session, called in a known order.
    let mut waiting = Vec::new();
    for n in ["1", "2"] {
        let c = client.clone();
        waiting.push(thread::spawn(move || {
            c.send("/queue/w", &[("n", n)], n.as_bytes())
        }));
        thread::sleep(ms(100));
    }
    go.send(()).unwrap();
    let back = events.wait_nth(Event::Connected, 2, WAIT);
    assert_eq!(back.detail, server.url);
    for w in waiting {
        assert_eq!(w.join().unwrap(), Ok(()));
    }
    assert_eq!(client.version(), "1.1");
    assert_eq!(client.server(), Some("fake/2"));
    assert_eq!(client.session(), Some("s-2"));
    client.disconnect().unwrap();
    server.join();

    let first = session(&server, 0);
    let again = session(&server, 1);
    assert!(again.len() >= 5, "{again:?}");
    assert_eq!(
        commands(&again[..5]),
        ["SUBSCRIBE", "SUBSCRIBE", "SUBSCRIBE", "SEND", "SEND"],
        "{again:?}"
    );
    assert_eq!(subscribe_ids(&again), ["sub-a", "sub-b", "sub-c"]);
    // Same id, destination, ack mode and caller headers; no receipt.
    let sorted_without_receipt = |f: &Seen| {
        let mut h: Vec<(String, String)> = f
            .headers
            .iter()
            .filter(|(n, _)| n != "receipt")
            .cloned()
            .collect();
        h.sort();
        h
    };
    for replayed in &again[..3] {
        assert_eq!(replayed.header("receipt"), None, "{replayed:?}");
        let id = replayed.header("id");
        let original = first
            .iter()
            .find(|f| f.command == "SUBSCRIBE" && f.header("id") == id)
            .unwrap();
        assert_eq!(
            sorted_without_receipt(replayed),
            sorted_without_receipt(original)
        );
    }
    assert_eq!(again[0].header("prefetch-count"), Some("5"));
    assert_eq!(again[1].header("selector"), Some("x = 1"));
    assert_eq!(again[2].header("ack"), Some("client"));
    let order: Vec<Option<&str>> = again[3..5].iter().map(|f| f.header("n")).collect();
    assert_eq!(
        order,
        [Some("1"), Some("2")],
        "waiting sends out of call order"
    );
    assert_eq!(sends_to(&again, "/queue/w").len(), 2);
}

#[test]
fn rule5_failover_reconnects_to_the_next_endpoint() {
    let mut a = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        s.close_listener(); // endpoint 1 stays down
        cut_at_trigger(p);
    });
    let mut b = fake::tcp_many(|s| {
        let mut p = s.accept();
        p.handshake_as("1.2", "0,0", "fake-b", "b-1");
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let config = events.attach(with_reconnect(20, 50, 0).failover_url(&b.url));
    let client = Client::connect(&a.url, &config).unwrap();
    assert_eq!(events.wait(Event::Connected, WAIT).detail, a.url);
    let _sub = client
        .subscribe("/queue/f", AckMode::Auto, &[("id", "sub-f")])
        .unwrap();
    cut(&client, &events, 1);
    let back = events.wait_nth(Event::Connected, 2, WAIT);
    assert_eq!(back.detail, b.url);
    assert_eq!(client.server(), Some("fake-b"));
    assert_eq!(client.session(), Some("b-1"));
    client.disconnect().unwrap();
    a.join();
    b.join();
    assert_eq!(subscribe_ids(&session(&b, 0)), ["sub-f"]);
}

// ---- Rule 6: giving up --------------------------------------------------------------

#[test]
fn rule6_after_max_attempts_every_call_returns_disconnected() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        p.expect("SUBSCRIBE");
        p.message("sub-g", "/queue/g", "g-1", "m1");
        p.message("sub-g", "/queue/g", "g-2", "m2");
        s.close_listener(); // every attempt is refused
        cut_at_trigger(p);
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 40, 2))).unwrap();
    let sub = client
        .subscribe("/queue/g", AckMode::ClientIndividual, &[("id", "sub-g")])
        .unwrap();
    cut(&client, &events, 1);
    let gone = events.wait(Event::Disconnected, WAIT);
    server.join();
    assert_eq!(
        kinds_after_connect(&events),
        [
            Event::ConnectionLost,
            Event::Reconnecting,
            Event::Reconnecting,
            Event::Disconnected
        ]
    );
    assert_eq!(attempt_numbers(&events), [1, 2]);
    assert!(!client.is_connected());
    let reason = client.close_reason().expect("close_reason says why");
    assert!(!reason.is_empty() && !gone.detail.is_empty());

    // Every call answers at once (the send timeout is 5 s).
    let t = Instant::now();
    assert_eq!(client.send("/queue/x", &[], b""), Err(Error::Disconnected));
    assert_eq!(
        client.send_with_receipt("/queue/x", &[], b""),
        Err(Error::Disconnected)
    );
    assert_eq!(
        client
            .subscribe("/queue/x", AckMode::Auto, &[])
            .unwrap_err(),
        Error::Disconnected
    );
    assert_eq!(
        client
            .subscribe_callback("/queue/x", AckMode::Auto, &[], |_| {})
            .unwrap_err(),
        Error::Disconnected
    );
    assert_eq!(client.begin().unwrap_err(), Error::Disconnected);
    assert!(t.elapsed() < ms(500), "calls took {:?}", t.elapsed());

    // The pull subscription ends once its queued messages are taken.
    let m1 = sub.recv_timeout(WAIT).unwrap();
    assert_eq!(m1.body(), b"m1");
    assert_eq!(sub.recv_timeout(WAIT).unwrap().body(), b"m2");
    let t = Instant::now();
    assert_eq!(sub.recv_timeout(WAIT).unwrap_err(), Error::Disconnected);
    assert!(
        t.elapsed() < ms(500),
        "the ended subscription waited {:?}",
        t.elapsed()
    );
    assert_eq!(m1.ack(&[]), Err(Error::Disconnected));

    assert_eq!(client.disconnect(), Ok(()));
    assert_eq!(client.disconnect(), Ok(()));
}

// ---- Rule 7: during the outage ------------------------------------------------------

/// A server whose second session comes when the test says so.
fn gated_server() -> (fake::Many<()>, mpsc::Sender<()>) {
    let (go, go_rx) = mpsc::channel::<()>();
    let server = fake::tcp_many(move |s| {
        let mut p = s.accept();
        up(&mut p, 1);
        s.close_listener();
        cut_at_trigger(p);
        go_rx.recv_timeout(WAIT).unwrap();
        s.reopen();
        let mut p = s.accept();
        up(&mut p, 2);
        p.serve_until_disconnect();
    });
    (server, go)
}

#[test]
fn rule7_calls_during_the_outage_wait_and_go_out_on_the_new_session() {
    let (mut server, go) = gated_server();
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 0))).unwrap();
    cut(&client, &events, 1);

    let c = client.clone();
    let sender = thread::spawn(move || {
        let t = Instant::now();
        (c.send("/queue/late", &[], b"late"), t.elapsed())
    });
    let c = client.clone();
    let subscriber =
        thread::spawn(move || c.subscribe("/queue/new", AckMode::Auto, &[("id", "sub-new")]));
    let c = client.clone();
    let beginner = thread::spawn(move || c.begin_with_id("tx-outage"));
    thread::sleep(ms(300));
    assert!(
        !sender.is_finished(),
        "a send during the outage did not wait"
    );
    assert!(
        !subscriber.is_finished(),
        "a subscribe during the outage did not wait"
    );
    assert!(
        !beginner.is_finished(),
        "a begin during the outage did not wait"
    );

    go.send(()).unwrap();
    events.wait_nth(Event::Connected, 2, WAIT);
    let (r, took) = sender.join().unwrap();
    assert_eq!(r, Ok(()));
    assert!(took >= ms(250), "{took:?}");
    let sub = subscriber.join().unwrap().unwrap();
    assert_eq!(sub.id(), "sub-new");
    let tx = beginner.join().unwrap().unwrap();
    tx.commit().unwrap();
    client.disconnect().unwrap();
    server.join();

    let again = session(&server, 1);
    assert_eq!(sends_to(&again, "/queue/late").len(), 1, "{again:?}");
    assert_eq!(subscribe_ids(&again), ["sub-new"]);
    let in_tx: Vec<String> = again
        .iter()
        .filter(|f| f.header("transaction") == Some("tx-outage"))
        .map(|f| f.command.clone())
        .collect();
    assert_eq!(in_tx, ["BEGIN", "COMMIT"]);
    assert!(sends_to(&session(&server, 0), "/queue/late").is_empty());
}

#[test]
fn rule7_a_call_that_times_out_in_the_outage_is_never_sent() {
    let (mut server, go) = gated_server();
    let events = Events::new();
    let config = events.attach(with_reconnect(20, 50, 0).send_timeout(ms(300)));
    let client = Client::connect(&server.url, &config).unwrap();
    cut(&client, &events, 1);

    let timed = |what: &str, f: &dyn Fn() -> Result<(), Error>| {
        let t = Instant::now();
        assert_eq!(f(), Err(Error::Timeout), "{what}");
        let took = t.elapsed();
        assert!(took >= ms(250) && took < ms(1500), "{what} took {took:?}");
    };
    timed("send", &|| client.send("/queue/never", &[], b"never"));
    timed("subscribe", &|| {
        client
            .subscribe("/queue/never", AckMode::Auto, &[("id", "sub-never")])
            .map(drop)
    });
    timed("begin", &|| client.begin_with_id("tx-never").map(drop));

    go.send(()).unwrap();
    events.wait_nth(Event::Connected, 2, WAIT);
    thread::sleep(ms(100));
    client.disconnect().unwrap();
    server.join();
    let again = session(&server, 1);
    assert_eq!(
        commands(&again),
        ["DISCONNECT"],
        "a call that returned Timeout was sent later: {again:?}"
    );
}

#[test]
fn rule7_unsubscribe_during_the_outage_ends_it_at_once() {
    let (mut server, go) = gated_server();
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 0))).unwrap();
    let x = client
        .subscribe("/queue/x", AckMode::Auto, &[("id", "sub-x")])
        .unwrap();
    let _y = client
        .subscribe("/queue/y", AckMode::Auto, &[("id", "sub-y")])
        .unwrap();
    cut(&client, &events, 1);

    let t = Instant::now();
    assert_eq!(x.unsubscribe(&[]), Ok(()));
    let took = t.elapsed();
    assert!(took < ms(200), "unsubscribe waited {took:?}");
    assert!(!x.is_active());
    assert_eq!(x.try_recv().unwrap_err(), Error::Disconnected);

    go.send(()).unwrap();
    events.wait_nth(Event::Connected, 2, WAIT);
    client.disconnect().unwrap();
    server.join();
    assert!(!commands(&session(&server, 0)).contains(&"UNSUBSCRIBE".to_string()));
    let again = session(&server, 1);
    assert_eq!(subscribe_ids(&again), ["sub-y"], "{again:?}");
    assert!(
        !commands(&again).contains(&"UNSUBSCRIBE".to_string()),
        "{again:?}"
    );
}

#[test]
fn rule7_a_receive_keeps_waiting_across_the_outage() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        s.close_listener();
        cut_at_trigger(p);
        thread::sleep(ms(300));
        s.reopen();
        let mut p = s.accept();
        up(&mut p, 2);
        assert_eq!(p.expect("SUBSCRIBE").header("id"), Some("sub-r"));
        p.message("sub-r", "/queue/r", "r-1", "after");
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 0))).unwrap();
    let sub = Arc::new(
        client
            .subscribe("/queue/r", AckMode::ClientIndividual, &[("id", "sub-r")])
            .unwrap(),
    );
    let s2 = Arc::clone(&sub);
    let receiver = thread::spawn(move || {
        let t = Instant::now();
        (s2.recv_timeout(WAIT), t.elapsed())
    });
    thread::sleep(ms(50));
    cut(&client, &events, 1);
    let (msg, took) = receiver.join().unwrap();
    let msg = msg.unwrap();
    assert_eq!(msg.body(), b"after");
    assert!(took >= ms(300), "{took:?}");
    // A message of the new session is acked normally.
    msg.ack(&[]).unwrap();
    client.disconnect().unwrap();
    server.join();
    let again = session(&server, 1);
    let acks: Vec<Option<&str>> = again
        .iter()
        .filter(|f| f.command == "ACK")
        .map(|f| f.header("id"))
        .collect();
    assert_eq!(acks, [Some("r-1")], "{again:?}");
}

#[test]
fn rule7_a_callback_subscription_resumes() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        p.expect("SUBSCRIBE");
        p.message("sub-cb", "/queue/cb", "c-1", "before");
        cut_at_trigger(p);
        let mut p = s.accept();
        up(&mut p, 2);
        assert_eq!(p.expect("SUBSCRIBE").header("id"), Some("sub-cb"));
        p.message("sub-cb", "/queue/cb", "c-2", "after");
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 0))).unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let _sub = client
        .subscribe_callback("/queue/cb", AckMode::Auto, &[("id", "sub-cb")], move |m| {
            let _ = tx.send(m.body().to_vec());
        })
        .unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), b"before");
    cut(&client, &events, 1);
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), b"after");
    client.disconnect().unwrap();
    server.join();
}

// ---- Rule 8: disconnect during the outage ---------------------------------------------

#[test]
fn rule8_disconnect_during_the_outage_returns_at_once_and_stops_reconnecting() {
    let (go, go_rx) = mpsc::channel::<()>();
    let mut server = fake::tcp_many(move |s| {
        let mut p = s.accept();
        up(&mut p, 1);
        s.close_listener();
        cut_at_trigger(p);
        go_rx.recv_timeout(WAIT).unwrap();
        s.reopen();
        // Attempts every 50-100 ms would show here.
        s.expect_no_connection(ms(600));
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(50, 100, 0))).unwrap();
    cut(&client, &events, 1);
    let c = client.clone();
    let waiting = thread::spawn(move || {
        let r = c.send("/queue/w", &[], b"w");
        (r, Instant::now())
    });
    thread::sleep(ms(150));
    let t = Instant::now();
    assert_eq!(client.disconnect(), Ok(()));
    let took = t.elapsed();
    assert!(took < ms(300), "disconnect during the outage took {took:?}");
    let (r, ended) = waiting.join().unwrap();
    assert_eq!(r, Err(Error::Disconnected));
    assert!(
        ended.duration_since(t) < ms(500),
        "the waiting send ended {:?} after disconnect",
        ended.duration_since(t)
    );
    events.wait(Event::Disconnected, WAIT);
    go.send(()).unwrap();
    server.join();
    assert_eq!(events.of(Event::Connected).len(), 1, "{:?}", events.all());
    assert_eq!(events.kinds().last(), Some(&Event::Disconnected));
}

#[test]
fn rule8_disconnect_abandons_an_attempt_in_flight() {
    let (in_flight, in_flight_rx) = mpsc::channel::<()>();
    let mut server = fake::tcp_many(move |s| {
        let mut p = s.accept();
        up(&mut p, 1);
        cut_at_trigger(p);
        // The attempt's CONNECT is never answered.
        let mut q = s.accept();
        q.expect("CONNECT");
        in_flight.send(()).unwrap();
        let t = Instant::now();
        q.wait_close();
        let closed_after = t.elapsed();
        s.expect_no_connection(ms(300));
        closed_after
    });
    let events = Events::new();
    let config = events.attach(with_reconnect(20, 50, 0).connect_timeout(Duration::from_secs(2)));
    let client = Client::connect(&server.url, &config).unwrap();
    cut(&client, &events, 1);
    in_flight_rx.recv_timeout(WAIT).unwrap();
    let t = Instant::now();
    assert_eq!(client.disconnect(), Ok(()));
    let took = t.elapsed();
    assert!(
        took < ms(300),
        "disconnect waited {took:?} for the attempt in flight"
    );
    events.wait(Event::Disconnected, WAIT);
    // The abandoned attempt ends in the background, within its connect timeout.
    let closed_after = server.join();
    assert!(
        closed_after < ms(2500),
        "the abandoned attempt lived {closed_after:?}"
    );
}

// ---- Rule 9: where the loop runs, and what is refused -----------------------------------

#[test]
fn rule9_over_with_reconnect_or_failover_is_invalid() {
    for config in [
        with_reconnect(100, 1000, 0),
        base().failover_url(&fake::refused_url()),
    ] {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let err = Client::over(ours, "tcp://127.0.0.1:61613", &config).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    }
}

#[test]
fn rule9_bad_reconnect_settings_are_invalid_at_connect() {
    let mut server = fake::tcp_many(|s| s.expect_no_connection(ms(1000)));
    let cases = [
        ("max < initial", base().reconnect(ms(200), ms(100), 0)),
        ("bad failover URL", base().failover_url("not a url")),
        (
            "failover URL with a bad scheme",
            with_reconnect(20, 50, 0).failover_url("http://127.0.0.1:1/"),
        ),
    ];
    for (what, config) in cases {
        let err = Client::connect(&server.url, &config).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{what}: {err:?}");
    }
    // Refused before any endpoint was contacted.
    server.join();
}

#[test]
fn rule9_an_event_callback_that_sends_during_the_outage_does_not_deadlock() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        s.close_listener();
        cut_at_trigger(p);
        thread::sleep(ms(200));
        s.reopen();
        let mut p = s.accept();
        up(&mut p, 2);
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let slot: Arc<Mutex<Option<Client>>> = Arc::default();
    let (result, result_rx) = mpsc::channel::<Result<(), Error>>();
    let config = {
        let events = events.clone();
        let slot = Arc::clone(&slot);
        let result = Mutex::new(result);
        with_reconnect(20, 50, 0).on_event(move |event, detail| {
            events.record(event, detail);
            if event == Event::ConnectionLost {
                let client = slot.lock().unwrap().clone();
                if let Some(client) = client {
                    // Runs on the dispatch thread and waits for the new session.
                    let r = client.send("/queue/from-callback", &[], b"cb");
                    let _ = result.lock().unwrap().send(r);
                }
            }
        })
    };
    let client = Client::connect(&server.url, &config).unwrap();
    *slot.lock().unwrap() = Some(client.clone());
    cut(&client, &events, 1);
    assert_eq!(result_rx.recv_timeout(WAIT).unwrap(), Ok(()));
    events.wait_nth(Event::Connected, 2, WAIT);
    slot.lock().unwrap().take();
    client.disconnect().unwrap();
    server.join();
    assert_eq!(
        sends_to(&session(&server, 1), "/queue/from-callback").len(),
        1
    );
}

// ---- The order of one loss's events -------------------------------------------------

#[test]
fn event_order_of_one_loss() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        p.serve_until_send(CUT);
        thread::sleep(ms(50));
        p.error_and_close("going down");
        s.reset_next(); // attempt 1 fails
        s.accept().refuse_connect("still starting"); // attempt 2: ERROR answers CONNECT
        let mut p = s.accept(); // attempt 3 succeeds
        up(&mut p, 2);
        p.serve_until_disconnect();
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(with_reconnect(20, 50, 0))).unwrap();
    cut(&client, &events, 1);
    events.wait_nth(Event::Connected, 2, WAIT);
    client.disconnect().unwrap();
    events.wait(Event::Disconnected, WAIT);
    server.join();
    use Event::*;
    assert_eq!(
        events.kinds(),
        [
            Connected,
            ServerError,
            ConnectionLost,
            Reconnecting,
            Reconnecting,
            ServerError,
            Reconnecting,
            Connected,
            Disconnected
        ],
        "{:?}",
        events.all()
    );
    let errors = events.of(ServerError);
    assert_eq!(errors[0].detail, "going down");
    assert_eq!(errors[1].detail, "still starting");
    assert_eq!(attempt_numbers(&events), [1, 2, 3]);
    for c in events.of(Connected) {
        assert_eq!(c.detail, server.url);
    }
}

// ---- Off by default, and the scripted server's own tools ------------------------------

#[test]
fn off_by_default_a_loss_closes_the_client_for_good() {
    let mut server = fake::tcp_many(|s| {
        let mut p = s.accept();
        up(&mut p, 1);
        cut_at_trigger(p);
        s.expect_no_connection(ms(300));
    });
    let events = Events::new();
    let client = Client::connect(&server.url, &events.attach(base())).unwrap();
    let lost = cut(&client, &events, 1);
    events.wait(Event::Disconnected, WAIT);
    server.join();
    assert_eq!(
        events.kinds(),
        [Event::Connected, Event::ConnectionLost, Event::Disconnected]
    );
    assert!(!client.is_connected());
    assert_eq!(client.close_reason().as_deref(), Some(lost.detail.as_str()));
    assert_eq!(client.send("/queue/x", &[], b""), Err(Error::Disconnected));
    assert_eq!(client.disconnect(), Ok(()));
}

/// The rule tests above rely on these behaviours of `tests/fake`; they pass without
/// reconnect, so a failure here is the script's, not the library's.
#[test]
fn fake_server_refuses_resets_reopens_and_records() {
    let (step, step_rx) = mpsc::channel::<()>();
    let mut server = fake::tcp_many(move |s| {
        s.accept().refuse_connect("no such user");
        s.reset_next();
        s.close_listener();
        step_rx.recv_timeout(WAIT).unwrap();
        s.reopen();
        let mut p = s.accept();
        up(&mut p, 3);
        p.serve_until_send(CUT);
        p.close();
        s.expect_no_connection(ms(200));
    });
    let config = base().connect_timeout(Duration::from_secs(2));
    match Client::connect(&server.url, &config).unwrap_err() {
        Error::ServerError { message, .. } => assert_eq!(message, "no such user"),
        other => panic!("an ERROR answering CONNECT gave {other:?}"),
    }
    let err = Client::connect(&server.url, &config).unwrap_err();
    assert!(
        matches!(err, Error::Io(_) | Error::Disconnected | Error::Protocol(_)),
        "a reset at accept gave {err:?}"
    );
    // The listener is closed once the script reaches close_listener.
    let t = Instant::now();
    let refused = loop {
        match Client::connect(&server.url, &config) {
            Err(Error::Io(e)) if e.to_lowercase().contains("refused") => break e,
            Err(_) if t.elapsed() < WAIT => thread::sleep(ms(10)),
            r => panic!("the closed listener gave {r:?}"),
        }
    };
    assert!(!refused.is_empty());
    step.send(()).unwrap();
    let t = Instant::now();
    let client = loop {
        match Client::connect(&server.url, &config) {
            Ok(c) => break c,
            Err(_) if t.elapsed() < WAIT => thread::sleep(ms(10)),
            Err(e) => panic!("the reopened listener gave {e:?}"),
        }
    };
    assert_eq!(client.session(), Some("s-3"));
    client.send("/queue/one", &[("n", "1")], b"1").unwrap();
    client.send_with_receipt(CUT, &[], b"").unwrap();
    // A clean close: the client sees end-of-stream.
    let t = Instant::now();
    while client.is_connected() && t.elapsed() < WAIT {
        thread::sleep(ms(5));
    }
    assert!(!client.is_connected());
    server.join();
    assert_eq!(server.connections(), 3);
    let frames = server.frames(2);
    assert_eq!(commands(&frames), ["CONNECT", "SEND", "SEND"]);
    assert_eq!(frames[1].header("n"), Some("1"));
    assert_eq!(frames[2].header("destination"), Some(CUT));
    assert_eq!(commands(&server.frames(0)), ["CONNECT"]);
}
