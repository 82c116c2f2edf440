//! One client shared by many threads: 8 threads send 10 000 messages each, and all
//! 80 000 arrive intact and in per-thread order.

mod common;
mod ops;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{unique, GUEST};
use ops::config;
use stompws::{AckMode, Client};

const THREADS: usize = 8;
const PER_THREAD: usize = 10_000;

#[test]
fn eight_threads_send_through_one_client_in_per_thread_order() {
    let url = require!("STOMPWS_RABBITMQ_WS");
    // No client heart-beats: RabbitMQ 3.10's Web STOMP crashes the connection's
    // heart-beat receiver ({unexpected_message,resume} in its log) when credit flow
    // control pauses and resumes a connection that publishes this fast. A broker bug,
    // documented in the README; the flood itself is what this test is about.
    // Generous waits: on a loaded machine RabbitMQ's credit flow can hold a
    // publisher back for a long time, and this test is about integrity and order.
    let client = Client::connect(
        &url,
        &config(GUEST)
            .heartbeat(0, 0)
            .send_timeout(Duration::from_secs(120))
            .receipt_timeout(Duration::from_secs(120)),
    )
    .unwrap();
    let q = format!("/queue/{}", unique("conc"));
    let sub = Arc::new(
        client
            .subscribe(&q, AckMode::Auto, &[("receipt", &unique("r"))])
            .unwrap(),
    );
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let (c, q) = (client.clone(), q.clone());
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let body = format!("{t}:{i}:{}", "x".repeat(i % 64));
                    c.send(&q, &[("x-thread", &t.to_string())], body.as_bytes())
                        .unwrap();
                }
                c.send_with_receipt(&q, &[("x-thread", "done")], b"")
                    .unwrap();
            })
        })
        .collect();
    let mut next = [0usize; THREADS];
    let mut done = 0;
    while done < THREADS {
        let m = sub
            .recv_timeout(Duration::from_secs(120))
            .expect("messages keep coming");
        if m.header("x-thread") == Some("done") {
            done += 1;
            continue;
        }
        let body = std::str::from_utf8(m.body()).unwrap();
        let mut parts = body.splitn(3, ':');
        let t: usize = parts.next().unwrap().parse().unwrap();
        let i: usize = parts.next().unwrap().parse().unwrap();
        assert_eq!(parts.next().unwrap(), "x".repeat(i % 64), "body intact");
        assert_eq!(m.header("x-thread"), Some(t.to_string().as_str()));
        assert_eq!(i, next[t], "thread {t} out of order");
        next[t] += 1;
    }
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(next, [PER_THREAD; THREADS]);
    drop(sub);
    client.disconnect().unwrap();
}

#[test]
fn client_and_handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<stompws::Client>();
    check::<stompws::Subscription>();
    check::<stompws::Message>();
    fn send<T: Send>() {}
    send::<stompws::Transaction>();
}
