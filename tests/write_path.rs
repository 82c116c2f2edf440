//! The write path under load, played against the scripted server in `tests/fake`: large
//! frames that callers write to the socket themselves, mixed with small frames queued
//! for the I/O thread, from several threads; a broker that stops reading; a connection
//! cut under a blocked writer.

mod fake;

use std::thread;
use std::time::{Duration, Instant};

use stompws::{Client, Config, Error};

const THREADS: usize = 4;
const PER_THREAD: usize = 60;
const LARGE: usize = 64 << 10;

fn quick() -> Config {
    Config::new()
        .heartbeat(0, 0)
        .connect_timeout(Duration::from_secs(5))
        .receipt_timeout(Duration::from_secs(20))
}

/// The body of message `seq` of thread `t`: large for two of every three, not UTF-8
/// (so that ws sends those as binary messages), and different for every message.
fn body(t: usize, seq: usize) -> Vec<u8> {
    let len = if seq % 3 == 2 { 100 + seq } else { LARGE + seq };
    (0..len).map(|i| (i * 31 + t * 7 + seq) as u8).collect()
}

/// Threads send large and small frames through one client at once; the server checks
/// that every frame arrives whole (one per ws message in strict mode), byte-exact, and
/// in each thread's order.
fn mixed_sizes_from_many_threads(server: fake::Fake, client: Client) {
    let mut handles = Vec::new();
    for t in 0..THREADS {
        let c = client.clone();
        handles.push(thread::spawn(move || {
            for seq in 0..PER_THREAD {
                let (ts, ss) = (t.to_string(), seq.to_string());
                c.send("/queue/w", &[("t", &ts), ("seq", &ss)], &body(t, seq))
                    .unwrap();
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    client.disconnect().unwrap();
    server.join();
}

fn check_mixed(seen: Vec<fake::Seen>) {
    let mut next = [0usize; THREADS];
    for f in seen.iter().filter(|f| f.command == "SEND") {
        let t: usize = f.header("t").unwrap().parse().unwrap();
        let seq: usize = f.header("seq").unwrap().parse().unwrap();
        assert_eq!(seq, next[t], "thread {t}: out of order");
        next[t] += 1;
        assert!(
            f.body == body(t, seq),
            "thread {t} message {seq}: body differs"
        );
        assert_eq!(
            f.header("content-length"),
            Some(f.body.len().to_string().as_str())
        );
    }
    assert_eq!(next, [PER_THREAD; THREADS], "frames missing");
    assert_eq!(seen.last().unwrap().command, "DISCONNECT");
}

#[test]
fn mixed_sizes_from_many_threads_over_tcp() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        check_mixed(p.serve_until_disconnect());
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    mixed_sizes_from_many_threads(server, client);
}

#[test]
fn mixed_sizes_from_many_threads_over_ws() {
    let server = fake::ws(|mut p| {
        p.handshake("1.2", "0,0");
        let seen = p.serve_until_disconnect();
        let large_binary = seen
            .iter()
            .filter(|f| f.command == "SEND" && f.body.len() >= LARGE)
            .all(|f| f.binary);
        assert!(large_binary, "a non-UTF-8 frame went out as text");
        check_mixed(seen);
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    mixed_sizes_from_many_threads(server, client);
}

#[test]
fn a_broker_that_stops_reading_bounds_every_large_send() {
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let server = fake::tcp(move |mut p| {
        p.handshake("1.2", "0,0");
        // Never read again; hold the socket open until the client has given up and
        // been dropped.
        let _ = done_rx.recv_timeout(Duration::from_secs(60));
    });
    let timeout = Duration::from_millis(300);
    let client = Client::connect(&server.url, &quick().send_timeout(timeout)).unwrap();
    let big = vec![b'x'; LARGE];
    let start = Instant::now();
    let err = loop {
        let t = Instant::now();
        let r = client.send("/queue/w", &[], &big);
        // One wait for the socket, then at most one for room in the outbox.
        let took = t.elapsed();
        assert!(
            took < 2 * timeout + Duration::from_millis(500),
            "a send took {took:?}"
        );
        if let Err(e) = r {
            break e;
        }
        // A send that waits out its timeout after the socket took part of the frame
        // hands the rest to the I/O thread and succeeds; a loaded machine's kernel
        // may keep taking a little for a while (the send buffer grows), but not
        // for long.
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "sends never timed out"
        );
    };
    assert_eq!(err, Error::Timeout);
    // The client can still be dropped promptly: nobody stays stuck on the socket.
    let t = Instant::now();
    drop(client);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "drop took {:?}",
        t.elapsed()
    );
    done_tx.send(()).unwrap();
    server.join();
}

#[test]
fn a_cut_connection_wakes_a_blocked_large_send() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        // Let the client fill the socket and block in a send, then cut.
        thread::sleep(Duration::from_millis(800));
        p.stream.shutdown(std::net::Shutdown::Both).unwrap();
    });
    let client =
        Client::connect(&server.url, &quick().send_timeout(Duration::from_secs(30))).unwrap();
    let big = vec![b'x'; LARGE];
    let start = Instant::now();
    let err = loop {
        if let Err(e) = client.send("/queue/w", &[], &big) {
            break e;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "sends went on after the cut"
        );
    };
    assert_eq!(err, Error::Disconnected);
    // The cut comes at 800 ms; the blocked send must not wait for its 30 s timeout.
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "the blocked send woke after {:?}",
        start.elapsed()
    );
    // The send may meet the cut (EPIPE) a moment before the I/O thread reads it.
    let t = Instant::now();
    while client.is_connected() && t.elapsed() < Duration::from_secs(1) {
        thread::sleep(Duration::from_millis(5));
    }
    assert!(!client.is_connected());
    server.join();
}

#[test]
fn a_slow_reader_gets_every_large_frame_whole_and_in_order() {
    // How many frames it takes to fill the socket depends on the kernel's buffer
    // sizes, so the server reads nothing until a send has timed out, the client sends
    // a few more, and tells the server the count in a last frame.
    const AFTER_FULL: usize = 8;
    const CAP: usize = 2000; // 128 MiB: more than any loopback buffer holds
    let (full_tx, full_rx) = std::sync::mpsc::channel::<()>();
    let server = fake::tcp(move |mut p| {
        p.handshake("1.2", "0,0");
        // Stop reading until the socket is full, and then for longer than the send
        // timeout: writers give up on the socket mid-frame and leave the rest to the
        // I/O thread.
        let _ = full_rx.recv_timeout(Duration::from_secs(60));
        thread::sleep(Duration::from_millis(500));
        let seen = p.serve_until_disconnect();
        let sends: Vec<_> = seen.iter().filter(|f| f.command == "SEND").collect();
        let (last, sends) = sends.split_last().expect("no frames");
        let n: usize = last.header("count").unwrap().parse().unwrap();
        assert_eq!(sends.len(), n, "frames missing or repeated");
        for (seq, f) in sends.iter().enumerate() {
            assert_eq!(f.header("seq"), Some(seq.to_string().as_str()));
            assert!(f.body == body(0, seq * 3), "message {seq}: body differs");
        }
    });
    let client = Client::connect(
        &server.url,
        &quick().send_timeout(Duration::from_millis(200)),
    )
    .unwrap();
    let mut timeouts = 0;
    let mut seq = 0;
    let mut after = 0;
    while after < AFTER_FULL {
        assert!(
            seq < CAP,
            "the socket never filled after {CAP} frames: the test proves nothing"
        );
        let ss = seq.to_string();
        let b = body(0, seq * 3);
        // A timed-out send queued nothing: the application sends it again.
        loop {
            match client.send("/queue/w", &[("seq", &ss)], &b) {
                Ok(()) => break,
                Err(Error::Timeout) => {
                    if timeouts == 0 {
                        full_tx.send(()).unwrap();
                    }
                    timeouts += 1;
                }
                Err(e) => panic!("send {seq}: {e}"),
            }
        }
        seq += 1;
        if timeouts > 0 {
            after += 1;
        }
    }
    let count = seq.to_string();
    client
        .send("/queue/w", &[("count", &count)], b"end")
        .unwrap();
    client.disconnect().unwrap();
    server.join();
}

/// A burst of large frames is written in batches; the frames left over when the caller
/// stops must still leave within moments, with no further call from the caller. (On a
/// machine so slow that the sends do not come close enough together to make a burst,
/// nothing is deferred and this passes without testing the flush timer; the library is
/// built optimised for tests so that they do.)
fn burst_tail_is_flushed(start: fn(Box<dyn FnOnce(fake::Peer) + Send>) -> fake::Fake) {
    const N: usize = 10;
    let (tx, rx) = std::sync::mpsc::channel();
    let server = start(Box::new(move |mut p| {
        p.handshake("1.2", "0,0");
        for seq in 0..N {
            let f = p.expect("SEND");
            assert_eq!(f.header("seq"), Some(seq.to_string().as_str()));
            assert!(f.body == body(1, seq * 3), "message {seq}: body differs");
        }
        tx.send(Instant::now()).unwrap();
        p.serve_until_disconnect();
    }));
    let client = Client::connect(&server.url, &quick()).unwrap();
    // Made beforehand: the sends must come close enough together to make a burst.
    let bodies: Vec<_> = (0..N)
        .map(|seq| (seq.to_string(), body(1, seq * 3)))
        .collect();
    for (ss, b) in &bodies {
        client.send("/queue/w", &[("seq", ss)], b).unwrap();
    }
    let sent = Instant::now();
    // No call into the client until the server has everything (or gives up). Without
    // the flush timer the tail would wait for the next call, that is forever; the
    // timer fires at most 1 ms after the last frame, and the bound below leaves room for
    // a loaded machine.
    let got = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the end of the burst never reached the server");
    let late = got.saturating_duration_since(sent);
    assert!(late < Duration::from_secs(1), "the tail came {late:?} late");
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn the_tail_of_a_burst_leaves_without_another_call_over_tcp() {
    burst_tail_is_flushed(fake::tcp);
}

#[test]
fn the_tail_of_a_burst_leaves_without_another_call_over_ws() {
    burst_tail_is_flushed(fake::ws);
}
