//! Spring's WebSocket message limit (issue 12, API.md "split frames"): with
//! `ws_message_limit`, a large STOMP frame goes out as several WebSocket messages, which
//! Spring reassembles; without it, Spring on Tomcat closes the session (1009). The
//! scripted server's spring mode plays Spring as DESIGN.md §7 describes it, and its
//! ActiveMQ-strict ws mode checks that the default still sends one frame per message.

mod fake;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use stompws::{Client, Config, Error};

/// The limit that suits Spring on Tomcat (16,640 bytes per message).
const LIMIT: usize = 16_000;

fn quick() -> Config {
    Config::new()
        .heartbeat(0, 0)
        .receipt_timeout(Duration::from_secs(5))
}

/// A body of `len` bytes that shows where a piece went missing or moved: its position
/// repeated in text.
fn body(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0;
    while out.len() < len {
        out.extend_from_slice(format!("{i:07},").as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// Waits until the client says it is no longer connected (at most 5 s).
fn wait_disconnected(client: &Client) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.is_connected() {
        assert!(
            Instant::now() < deadline,
            "still connected 5 s after the server closed"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn with_a_limit_40_and_60_kb_bodies_arrive_whole_at_spring() {
    let sizes = [40_000usize, 60_000];
    let server = fake::spring(move |mut p| {
        p.handshake("1.2", "0,0");
        let seen = p.serve_until_disconnect();
        let sends: Vec<_> = seen.iter().filter(|f| f.command == "SEND").collect();
        assert_eq!(sends.len(), 3, "{:?}", seen.iter().map(|f| &f.command));
        for (f, len) in sends.iter().zip(sizes) {
            assert!(f.body == body(len), "the {len}-byte body arrived changed");
            assert!(
                f.messages.len() >= len.div_ceil(LIMIT),
                "{len} bytes in messages of {:?}",
                f.messages
            );
            assert!(f.messages.iter().all(|&m| m <= LIMIT), "{:?}", f.messages);
            assert!(!f.binary);
        }
        // A text body of 2-, 3- and 4-byte characters: every piece was a valid text
        // message (the fake would have seen its bytes in order either way, so check
        // the reassembled body and the sizes: pieces a few bytes short of the limit).
        let utf8 = sends[2];
        assert_eq!(utf8.body, "\u{e9}\u{20ac}\u{1f600}".repeat(3000).as_bytes());
        assert!(utf8.messages.len() >= 2, "{:?}", utf8.messages);
        assert!(utf8.messages[..utf8.messages.len() - 1]
            .iter()
            .all(|&m| m <= LIMIT && m + 3 >= LIMIT));
        assert!(p.spring_ended.is_none());
    });
    let client = Client::connect(&server.url, &quick().ws_message_limit(LIMIT)).unwrap();
    assert_eq!(
        client.server(),
        None,
        "Spring's CONNECTED has no server header"
    );
    for len in sizes {
        client.send("/app/big", &[], &body(len)).unwrap();
    }
    client
        .send(
            "/app/big",
            &[],
            "\u{e9}\u{20ac}\u{1f600}".repeat(3000).as_bytes(),
        )
        .unwrap();
    // Spring answers the DISCONNECT receipt, and only that one.
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn without_a_limit_spring_closes_1009_and_the_client_says_why() {
    for len in [40_000usize, 60_000] {
        let server = fake::spring(|mut p| {
            p.handshake("1.2", "0,0");
            assert!(
                p.read_frame().is_none(),
                "the big frame must end the session"
            );
            assert_eq!(p.spring_ended.as_deref(), Some("1009"));
        });
        let client = Client::connect(&server.url, &quick()).unwrap();
        // The send itself is queued; the server's Close 1009 ends the connection.
        let _ = client.send("/app/big", &[], &body(len));
        wait_disconnected(&client);
        let reason = client.close_reason().expect("a close reason");
        assert!(
            reason.contains("1009") && reason.contains("too big"),
            "{len}: {reason}"
        );
        assert_eq!(
            client.send("/app/big", &[], b"after").unwrap_err(),
            Error::Disconnected
        );
        server.join();
    }
}

#[test]
fn a_frame_over_64_kib_gets_springs_error_even_split() {
    let server = fake::spring(|mut p| {
        p.handshake("1.2", "0,0");
        assert!(p.read_frame().is_none());
        assert_eq!(p.spring_ended.as_deref(), Some(fake::SPRING_BUFFER_ERROR));
    });
    let client = Client::connect(&server.url, &quick().ws_message_limit(LIMIT)).unwrap();
    let _ = client.send("/app/big", &[], &body(70_000));
    wait_disconnected(&client);
    let reason = client.close_reason().expect("a close reason");
    assert!(reason.contains(fake::SPRING_BUFFER_ERROR), "{reason}");
}

/// The body length of the probe SEND that tells the test how many bytes this client's
/// SEND head (with a five-digit `content-length`) takes.
const PROBE: usize = 10_000;

/// The body length that makes a SEND (same destination and headers as the probe) exactly
/// `frame` bytes long, given the probe's frame length.
fn body_len_for(frame: usize, probe_frame: usize) -> usize {
    let len = frame - (probe_frame - PROBE);
    assert_eq!(
        len.to_string().len(),
        PROBE.to_string().len(),
        "same digits"
    );
    len
}

#[test]
fn the_limit_edge_one_message_at_the_limit_two_above() {
    let (tx, rx) = mpsc::channel::<usize>();
    let server = fake::spring(move |mut p| {
        p.handshake("1.2", "0,0");
        let probe = p.expect("SEND");
        assert_eq!(probe.messages.len(), 1);
        tx.send(probe.messages[0]).unwrap();
        let at = p.expect("SEND");
        assert_eq!(at.messages, vec![LIMIT], "a frame of exactly the limit");
        let above = p.expect("SEND");
        assert_eq!(
            above.messages,
            vec![LIMIT, 1],
            "a frame one byte over the limit"
        );
        p.serve_until_disconnect();
    });
    let client = Client::connect(&server.url, &quick().ws_message_limit(LIMIT)).unwrap();
    client.send("/app/edge", &[], &body(PROBE)).unwrap();
    let probe = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    for frame in [LIMIT, LIMIT + 1] {
        client
            .send("/app/edge", &[], &body(body_len_for(frame, probe)))
            .unwrap();
    }
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn activemq_mode_default_sends_one_frame_per_message_also_past_springs_limit() {
    let (tx, rx) = mpsc::channel::<usize>();
    let server = fake::ws(move |mut p| {
        p.handshake("1.2", "0,0");
        let probe = p.expect("SEND");
        tx.send(probe.messages[0]).unwrap();
        // The strict mode fails the script on a fragment or on a message that does not
        // hold exactly one frame; here the sizes are checked too.
        let edge = fake::SPRING_MESSAGE_LIMIT;
        for frame in [LIMIT, edge, edge + 1] {
            let f = p.expect("SEND");
            assert_eq!(f.messages, vec![frame], "one message of the whole frame");
        }
        let big = p.expect("SEND");
        assert_eq!(big.messages.len(), 1);
        assert!(big.messages[0] > 99_000);
        p.receipt(&big);
        p.serve_until_disconnect();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    client.send("/queue/edge", &[], &body(PROBE)).unwrap();
    let probe = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let edge = fake::SPRING_MESSAGE_LIMIT;
    for frame in [LIMIT, edge, edge + 1] {
        client
            .send("/queue/edge", &[], &body(body_len_for(frame, probe)))
            .unwrap();
    }
    client
        .send_with_receipt("/queue/edge", &[], &body(99_000))
        .unwrap();
    client.disconnect().unwrap();
    server.join();
}
