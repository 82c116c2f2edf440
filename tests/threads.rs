//! How many threads a client costs: one (its I/O thread) while it has no push
//! subscription and no event hook, two once a callback needs the dispatch thread; and
//! how often that thread wakes while the connection is quiet. Alone in its test binary,
//! and the tests one at a time ([`SERIAL`]), so that no other client's threads count.

mod fake;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stompws::{AckMode, Client, Config, Event};

/// Held by each test: one client at a time in this process.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// "stompws-dispatch" as Linux keeps it: a thread's name is cut to 15 bytes.
const DISPATCH: &str = "stompws-dispatc";

/// This process's threads: each one's `/proc` folder and name.
fn threads() -> Vec<(std::path::PathBuf, String)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        // A thread that ended meanwhile has no comm any more: skipped.
        if let Ok(name) = std::fs::read_to_string(path.join("comm")) {
            found.push((path, name.trim().to_string()));
        }
    }
    found
}

/// The names of this process's threads that stompws started.
fn stompws_threads() -> Vec<String> {
    let mut names: Vec<String> = threads()
        .into_iter()
        .map(|(_, name)| name)
        .filter(|name| name.starts_with("stompws-"))
        .collect();
    names.sort();
    names
}

/// Waits (a thread ends a moment after its join handle is let go) until the count is
/// `expected`, then returns the names.
fn settle(expected: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = stompws_threads();
        if now.len() == expected || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn quick() -> Config {
    Config::new().heartbeat(0, 0)
}

#[test]
fn an_idle_client_costs_one_thread_and_a_callback_starts_the_second() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        p.serve_until_disconnect();
    });
    assert_eq!(settle(0), Vec::<String>::new());
    let client = Client::connect(&server.url, &quick()).unwrap();
    assert_eq!(settle(1), vec!["stompws-io"], "an idle client");
    // A pull subscription needs no other thread.
    let pull = client.subscribe("/queue/a", AckMode::Auto, &[]).unwrap();
    assert_eq!(settle(1), vec!["stompws-io"]);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let push = client
        .subscribe_callback("/queue/b", AckMode::Auto, &[], move |_| {
            c.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    assert_eq!(settle(2), vec![DISPATCH, "stompws-io"]);
    drop(push);
    drop(pull);
    client.disconnect().unwrap();
    drop(client);
    assert_eq!(settle(0), Vec::<String>::new(), "both end with the client");
    server.join();

    // An event hook needs the dispatch thread from the start.
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        p.serve_until_disconnect();
    });
    let events = Arc::new(AtomicUsize::new(0));
    let e = Arc::clone(&events);
    let config = quick().on_event(move |event, _| {
        if event == Event::Connected {
            e.fetch_add(1, Ordering::Relaxed);
        }
    });
    let client = Client::connect(&server.url, &config).unwrap();
    assert_eq!(settle(2), vec![DISPATCH, "stompws-io"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while events.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(events.load(Ordering::Relaxed), 1, "CONNECTED reported");
    client.disconnect().unwrap();
    drop(client);
    assert_eq!(settle(0), Vec::<String>::new());
    server.join();
}

/// The `/proc` folder of this process's one thread named `name`; waits until there is
/// one (a client's thread ends a moment after the client).
fn thread_dir(name: &str) -> std::path::PathBuf {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut found: Vec<_> = threads()
            .into_iter()
            .filter(|(_, n)| n == name)
            .map(|(path, _)| path)
            .collect();
        if found.len() == 1 || Instant::now() > deadline {
            assert_eq!(found.len(), 1, "threads named {name}: {found:?}");
            return found.remove(0);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How often the thread whose `/proc` folder is `dir` has gone to sleep and woken so far
/// (its voluntary context switches).
fn wakeups(dir: &std::path::Path) -> u64 {
    let status = std::fs::read_to_string(dir.join("status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("voluntary_ctxt_switches:"))
        .unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_io_thread_stays_asleep_while_a_receiver_waits_on_a_quiet_subscription() {
    // A receiver that waits on a plain socket reads it itself (it leads); the I/O thread
    // meanwhile looks only now and then whether it should take the socket back. It used
    // to look every millisecond: a thousand wake-ups a second of an idle connection.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        p.serve_until_disconnect();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    // The receipt is what lets the receive lead: after an answer, the I/O thread leaves
    // the socket to a caller for a moment (request/response traffic comes in runs).
    let sub = client
        .subscribe("/queue/quiet", AckMode::Auto, &[("receipt", "subscribed")])
        .unwrap();
    let wait = Duration::from_secs(1);
    let io = thread_dir("stompws-io");
    let before = wakeups(&io);
    let started = Instant::now();
    assert!(sub.recv_timeout(wait).is_err(), "nothing was sent");
    let waited = started.elapsed();
    let woke = wakeups(&io) - before;
    // About one wake-up per LEADER_RECHECK (10 ms), some more on a loaded machine; at
    // one per millisecond it would be near a thousand.
    assert!(
        woke < 400,
        "the I/O thread woke {woke} times during a receive of {waited:?}"
    );
    drop(sub);
    client.disconnect().unwrap();
}
