//! Faults a real broker will not produce on demand, played by the scripted server in
//! `tests/fake`: silence, malformed and oversized frames, a cut connection, a missing
//! CONNECTED, an ERROR that leaves the socket open, and panicking callbacks.

mod fake;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use stompws::{AckMode, Client, Config, Error};

/// Records the largest single allocation, to show that an announced 2 GiB frame is
/// refused before its memory is asked for.
struct Counting;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn quick() -> Config {
    Config::new()
        .heartbeat(0, 0)
        .connect_timeout(Duration::from_secs(5))
        .receipt_timeout(Duration::from_secs(5))
}

fn wait_closed(client: &Client) {
    let t = Instant::now();
    while client.is_connected() && t.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(5));
    }
    assert!(
        !client.is_connected(),
        "the client did not notice the close"
    );
}

#[test]
fn silence_after_connected_is_a_heartbeat_timeout() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "500,0");
        thread::sleep(Duration::from_secs(3)); // say nothing at all
    });
    let client = Client::connect(
        &server.url,
        &quick().heartbeat(0, 500).heartbeat_tolerance(2.0),
    )
    .unwrap();
    let sub = client.subscribe("/queue/q", AckMode::Auto, &[]).unwrap();
    let t = Instant::now();
    let r = sub.recv_timeout(Duration::from_secs(10));
    let waited = t.elapsed();
    assert_eq!(r.unwrap_err(), Error::Disconnected);
    // 500 ms x 2.0 tolerance, plus a margin for a loaded machine.
    assert!(
        waited >= Duration::from_millis(900),
        "lost too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_millis(1800),
        "lost too late: {waited:?}"
    );
    let reason = client.close_reason().unwrap();
    assert!(reason.contains("heart-beat"), "{reason}");
    server.join();
}

#[test]
fn heartbeats_are_sent_and_received_beats_keep_the_connection() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "200,200");
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(1500) {
            p.send(b"\n");
            thread::sleep(Duration::from_millis(150));
        }
        let f = p.expect("DISCONNECT");
        assert!(
            p.heartbeats >= 4,
            "only {} heart-beats from the client",
            p.heartbeats
        );
        p.receipt(&f);
    });
    let client = Client::connect(&server.url, &quick().heartbeat(200, 200)).unwrap();
    thread::sleep(Duration::from_millis(1500));
    assert!(client.is_connected(), "{:?}", client.close_reason());
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn malformed_connected_is_a_protocol_error() {
    let server = fake::tcp(|mut p| {
        p.expect("CONNECT");
        p.send(b"CONNECTED\nversion 1.2\n\n\0");
        p.wait_close();
    });
    let err = Client::connect(&server.url, &quick()).unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    server.join();
}

#[test]
fn malformed_frame_after_connect_closes_with_protocol_reason() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        p.expect("SUBSCRIBE");
        p.send(b"MESSAGE\nsubscription:sub-0\nbad\\tescape:x\n\nbody\0");
        p.wait_close();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    let sub = client
        .subscribe("/queue/q", AckMode::Auto, &[("id", "sub-0")])
        .unwrap();
    assert_eq!(
        sub.recv_timeout(Duration::from_secs(5)).unwrap_err(),
        Error::Disconnected
    );
    let reason = client.close_reason().unwrap();
    assert!(reason.starts_with("protocol error"), "{reason}");
    server.join();
}

#[test]
fn oversized_frame_is_refused_before_allocation() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        p.expect("SUBSCRIBE");
        p.send(b"MESSAGE\nsubscription:s\ncontent-length:2147483648\n\n");
        p.send(&[b'x'; 4096]);
        p.wait_close();
    });
    let client = Client::connect(&server.url, &quick().max_frame_size(1 << 20)).unwrap();
    let sub = client
        .subscribe("/queue/q", AckMode::Auto, &[("id", "s")])
        .unwrap();
    assert_eq!(
        sub.recv_timeout(Duration::from_secs(5)).unwrap_err(),
        Error::Disconnected
    );
    let reason = client.close_reason().unwrap();
    assert!(reason.starts_with("protocol error"), "{reason}");
    assert!(
        LARGEST.load(Ordering::Relaxed) < 256 << 20,
        "a huge allocation was made"
    );
    server.join();
}

#[test]
fn cut_mid_frame_wakes_every_waiter_within_100ms() {
    let cut_at = Arc::new(Mutex::new(None::<Instant>));
    let cut = Arc::clone(&cut_at);
    let server = fake::tcp(move |mut p| {
        p.handshake("1.2", "0,0");
        // Let the waiters start waiting: a subscription, two receipts, a commit.
        let mut receipts = 0;
        while receipts < 2 {
            let f = p.read_frame().unwrap();
            if f.header("receipt").is_some() && f.command != "SUBSCRIBE" {
                receipts += 1;
            } else {
                p.receipt(&f);
            }
        }
        thread::sleep(Duration::from_millis(200));
        p.send(b"MESSAGE\nsubscription:s\ncontent-length:100\n\nonly part of the bo");
        *cut.lock().unwrap() = Some(Instant::now());
        p.stream.shutdown(std::net::Shutdown::Both).unwrap();
    });
    let client = Client::connect(
        &server.url,
        &quick().receipt_timeout(Duration::from_secs(20)),
    )
    .unwrap();
    let sub = client
        .subscribe("/queue/q", AckMode::Auto, &[("id", "s")])
        .unwrap();
    let tx = client.begin().unwrap();
    let done = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    {
        let done = Arc::clone(&done);
        handles.push(thread::spawn(move || {
            let r = sub.recv_timeout(Duration::from_secs(20));
            done.lock().unwrap().push(("recv", Instant::now(), r.err()));
        }));
    }
    {
        let (c, done) = (client.clone(), Arc::clone(&done));
        handles.push(thread::spawn(move || {
            let r = c.send_with_receipt("/queue/q", &[], b"x");
            done.lock()
                .unwrap()
                .push(("send_with_receipt", Instant::now(), r.err()));
        }));
    }
    {
        let done = Arc::clone(&done);
        handles.push(thread::spawn(move || {
            let r = tx.commit();
            done.lock()
                .unwrap()
                .push(("commit", Instant::now(), r.err()));
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let cut = cut_at.lock().unwrap().expect("the server did not cut");
    for (what, when, err) in done.lock().unwrap().iter() {
        assert_eq!(err.as_ref(), Some(&Error::Disconnected), "{what}");
        let after = when.saturating_duration_since(cut);
        assert!(
            after < Duration::from_millis(100),
            "{what} woke {after:?} after the cut"
        );
    }
    assert!(!client.is_connected());
    server.join();
}

#[test]
fn no_connected_gives_the_connect_timeout() {
    let server = fake::tcp(|mut p| {
        p.expect("CONNECT");
        thread::sleep(Duration::from_secs(2));
    });
    let t = Instant::now();
    let err = Client::connect(
        &server.url,
        &quick().connect_timeout(Duration::from_millis(300)),
    )
    .unwrap_err();
    assert_eq!(err, Error::Timeout);
    assert!(
        t.elapsed() < Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    server.join();
}

#[test]
fn no_upgrade_answer_gives_the_connect_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let hold = thread::spawn(move || {
        let (_s, _) = listener.accept().unwrap();
        thread::sleep(Duration::from_secs(2));
    });
    let err =
        Client::connect(&url, &quick().connect_timeout(Duration::from_millis(300))).unwrap_err();
    assert_eq!(err, Error::Timeout);
    hold.join().unwrap();
}

#[test]
fn error_on_open_socket_gives_server_error_and_closes() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        let f = p.expect("SEND");
        let r = f.header("receipt").unwrap().to_string();
        p.send(format!("ERROR\nmessage:not allowed\nreceipt-id:{r}\n\ngo away\0").as_bytes());
        // Like RabbitMQ: keep the socket open. The client must close it.
        p.wait_close();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    let err = client.send_with_receipt("/queue/q", &[], b"x").unwrap_err();
    assert_eq!(
        err,
        Error::ServerError {
            message: "not allowed".into(),
            body: "go away".into()
        }
    );
    wait_closed(&client);
    assert!(client.close_reason().unwrap().contains("not allowed"));
    assert_eq!(
        client.send("/queue/q", &[], b"y").unwrap_err(),
        Error::Disconnected
    );
    server.join(); // returns only once the client closed the socket
}

#[test]
fn error_answering_connect_is_a_server_error() {
    let server = fake::tcp(|mut p| {
        p.expect("CONNECT");
        p.send(b"ERROR\nmessage:Bad CONNECT\ncontent-type:text/plain\ncontent-length:32\n\nAccess refused for user 'guest'\n\0");
        p.wait_close();
    });
    let err = Client::connect(&server.url, &quick().login("guest", "nope")).unwrap_err();
    match err {
        Error::ServerError { message, body } => {
            assert_eq!(message, "Bad CONNECT");
            assert_eq!(body, "Access refused for user 'guest'");
        }
        other => panic!("{other:?}"),
    }
    server.join();
}

#[test]
fn panicking_callback_closes_the_connection_not_the_process() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        let sub = p.expect("SUBSCRIBE");
        p.receipt(&sub);
        p.send(b"MESSAGE\nsubscription:cb\nmessage-id:1\ncontent-length:1\n\nx\0");
        p.wait_close();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    let _sub = client
        .subscribe_callback(
            "/queue/q",
            AckMode::Auto,
            &[("id", "cb"), ("receipt", "r")],
            |_m| panic!("a callback bug"),
        )
        .unwrap();
    wait_closed(&client);
    assert!(client.close_reason().unwrap().contains("panicked"));
    server.join();
}

#[test]
fn disconnect_inside_a_callback_is_refused() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        let sub = p.expect("SUBSCRIBE");
        p.receipt(&sub);
        p.send(b"MESSAGE\nsubscription:cb\nmessage-id:1\n\nx\0");
        p.serve_until_disconnect();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    let (tx, rx) = crossbeam_channel::bounded(1);
    let c = client.clone();
    let sub = client
        .subscribe_callback(
            "/queue/q",
            AckMode::Auto,
            &[("id", "cb"), ("receipt", "r")],
            move |_m| {
                let _ = tx.send(c.disconnect());
            },
        )
        .unwrap();
    let r = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    drop(sub);
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn handles_outlive_the_client() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        p.serve_until_disconnect();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    let sub = client.subscribe("/queue/q", AckMode::Client, &[]).unwrap();
    let tx = client.begin().unwrap();
    drop(client);
    assert_eq!(
        sub.recv_timeout(Duration::from_millis(10)).unwrap_err(),
        Error::Disconnected
    );
    assert_eq!(sub.unsubscribe(&[]).unwrap_err(), Error::Disconnected);
    assert_eq!(tx.commit().unwrap_err(), Error::Disconnected);
    server.join();
}

#[test]
fn disconnect_is_ok_on_clean_close_without_receipt() {
    // RabbitMQ over ws: DISCONNECT is answered by closing, never by the receipt.
    let server = fake::ws(|mut p| {
        p.handshake("1.2", "0,0");
        p.expect("DISCONNECT");
        p.send_message(0x8, &[0x03, 0xE8]);
        p.wait_close();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    let t = Instant::now();
    client.disconnect().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(!client.is_connected());
    client.disconnect().unwrap(); // again: OK
    server.join();
}

#[test]
fn disconnect_times_out_when_nothing_answers() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        p.expect("DISCONNECT");
        p.wait_close();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    assert_eq!(
        client
            .disconnect_timeout(Duration::from_millis(200))
            .unwrap_err(),
        Error::Timeout
    );
    assert!(!client.is_connected());
    server.join();
}
