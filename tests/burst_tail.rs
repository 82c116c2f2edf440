//! The tail of a burst of large frames, left in the outbox to be batched, goes out as
//! soon as the caller waits for anything from the connection, not when the flush timer
//! fires (at most 1 ms later). Request/response with large requests depends on it.
//!
//! A test binary of its own: it measures round trips, and runs best without other tests
//! competing for the CPUs.

mod fake;

use std::time::{Duration, Instant};

use stompws::{AckMode, Client, Config};

/// Bodies this large are written by the caller and batched within a burst.
const BODY: usize = 16 << 10;
/// Frames per burst: the first goes out at once (it starts the burst), the rest wait in
/// the outbox for the batch to fill.
const BURST: usize = 4;
const ROUNDS: usize = 25;
const PAUSE: Duration = Duration::from_millis(3);
/// Without the early flush the tail leaves when the flush timer fires, armed by the
/// burst's first deferred frame for 1 ms, so no round could come back sooner than that.
const BOUND: Duration = Duration::from_micros(450);

/// Each round: a burst of large SENDs, then the caller waits for the MESSAGE that the
/// server sends once it has read the whole burst. The fastest round must come back
/// sooner than the flush timer could have sent the tail.
fn tail_leaves_when_the_caller_waits(
    transport: &str,
    start: fn(Box<dyn FnOnce(fake::Peer) + Send>) -> fake::Fake,
) {
    let server = start(Box::new(|mut p| {
        p.handshake("1.2", "0,0");
        let sub = p.expect("SUBSCRIBE");
        let id = sub.header("id").unwrap().to_string();
        for round in 0..ROUNDS {
            for seq in 0..BURST {
                let f = p.expect("SEND");
                assert_eq!(f.header("seq"), Some(format!("{round}.{seq}").as_str()));
                assert_eq!(f.body.len(), BODY);
            }
            let reply = format!(
                "MESSAGE\nsubscription:{id}\nmessage-id:{round}\ndestination:/queue/r\n\n{round}\0"
            );
            p.send(reply.as_bytes());
        }
        p.serve_until_disconnect();
    }));
    let config = Config::new()
        .heartbeat(0, 0)
        .connect_timeout(Duration::from_secs(5));
    let client = Client::connect(&server.url, &config).unwrap();
    let sub = client.subscribe("/queue/r", AckMode::Auto, &[]).unwrap();
    let body = vec![7u8; BODY];
    let seqs: Vec<Vec<String>> = (0..ROUNDS)
        .map(|r| (0..BURST).map(|s| format!("{r}.{s}")).collect())
        .collect();
    let mut fastest = Duration::MAX;
    for (round, seqs) in seqs.iter().enumerate() {
        // Long enough for the I/O thread to go back to sleep (awake, it would take the
        // tail itself) and for the last round's flush timer to fire.
        std::thread::sleep(PAUSE);
        for seq in seqs {
            client.send("/queue/w", &[("seq", seq)], &body).unwrap();
        }
        let sent = Instant::now();
        let m = sub.recv_timeout(Duration::from_secs(5)).unwrap();
        fastest = fastest.min(sent.elapsed());
        assert_eq!(m.body(), round.to_string().as_bytes());
    }
    assert!(
        fastest < BOUND,
        "{transport}: the fastest of {ROUNDS} rounds took {fastest:?}: the tail waited for the flush timer"
    );
    client.disconnect().unwrap();
    server.join();
}

/// One test, both transports in turn: run at the same time they would slow each other.
#[test]
fn the_tail_of_a_burst_leaves_when_the_caller_waits() {
    tail_leaves_when_the_caller_waits("tcp", fake::tcp);
    tail_leaves_when_the_caller_waits("ws", fake::ws);
}
