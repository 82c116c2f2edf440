//! How many threads a client costs: one (its I/O thread) while it has no push
//! subscription and no event hook, two once a callback needs the dispatch thread.
//! Alone in its test binary, so that no other test's clients change the count.

mod fake;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stompws::{AckMode, Client, Config, Event};

/// "stompws-dispatch" as Linux keeps it: a thread's name is cut to 15 bytes.
const DISPATCH: &str = "stompws-dispatc";

/// The names of this process's threads that stompws started.
fn stompws_threads() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let comm = task.unwrap().path().join("comm");
        if let Ok(name) = std::fs::read_to_string(comm) {
            if name.starts_with("stompws-") {
                names.push(name.trim().to_string());
            }
        }
    }
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
