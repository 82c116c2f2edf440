//! The read path for large frames, played against the scripted server in `tests/fake`:
//! bodies that arrive in pieces are read from the socket straight into their frames'
//! buffers (plain sockets), across WebSocket fragments and control frames, and come out
//! byte-exact and in order.

mod fake;

use std::io::Write;
use std::thread;
use std::time::Duration;

use stompws::{AckMode, Client, Config};

const SIZES: [usize; 7] = [20_000, 100_000, 5, 70_000, 300_000, 16 << 10, 64 << 10];

fn body(i: usize) -> Vec<u8> {
    (0..SIZES[i]).map(|j| (j * 13 + i * 101) as u8).collect()
}

fn message(i: usize) -> Vec<u8> {
    let b = body(i);
    let mut m = format!(
        "MESSAGE\nsubscription:s\nmessage-id:{i}\ndestination:/queue/r\ncontent-length:{}\n\n",
        b.len()
    )
    .into_bytes();
    m.extend(b);
    m.push(0);
    m
}

/// The messages as wire bytes: raw, or each in two or three WebSocket fragments with a
/// ping between two of them.
fn wire(ws: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..SIZES.len() {
        let m = message(i);
        if !ws {
            out.extend(m);
            continue;
        }
        let (a, rest) = m.split_at(m.len() / 3);
        let (b, c) = rest.split_at(rest.len() / 2);
        out.extend(fake::ws_frame(false, 0x2, a));
        out.extend(fake::ws_frame(true, 0x9, b"ping"));
        out.extend(fake::ws_frame(false, 0x0, b));
        out.extend(fake::ws_frame(true, 0x0, c));
    }
    out
}

fn large_frames_in_pieces(start: fn(Box<dyn FnOnce(fake::Peer) + Send>) -> fake::Fake, ws: bool) {
    let server = start(Box::new(move |mut p| {
        p.handshake("1.2", "0,0");
        p.expect("SUBSCRIBE");
        // Pieces of odd sizes with pauses between, so that the client reads frames
        // partly, then the rest of their bodies.
        let wire = wire(ws);
        for (k, piece) in wire.chunks(7_777).enumerate() {
            p.stream.write_all(piece).unwrap();
            p.stream.flush().unwrap();
            if k % 5 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
        }
        p.serve_until_disconnect();
    }));
    let config = Config::new()
        .heartbeat(0, 0)
        .receipt_timeout(Duration::from_secs(10));
    let client = Client::connect(&server.url, &config).unwrap();
    let sub = client
        .subscribe("/queue/r", AckMode::Auto, &[("id", "s")])
        .unwrap();
    for i in 0..SIZES.len() {
        let m = sub.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(m.header("message-id"), Some(i.to_string().as_str()));
        assert!(m.body() == body(i), "message {i}: body differs");
    }
    assert!(client.is_connected());
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn large_frames_arriving_in_pieces_are_exact_over_tcp() {
    large_frames_in_pieces(fake::tcp, false);
}

#[test]
fn large_frames_in_fragments_with_pings_are_exact_over_ws() {
    large_frames_in_pieces(fake::ws, true);
}
