//! WebSocket framing rules, checked by the scripted server in its ActiveMQ-strict mode:
//! one frame per message, text unless the frame is not UTF-8, heart-beats of exactly
//! `"\n"`; and inbound: non-UTF-8 text messages, packed and split frames, fragments.

mod fake;

use std::thread;
use std::time::Duration;

use stompws::{AckMode, Client, Config};

fn quick() -> Config {
    Config::new()
        .heartbeat(0, 0)
        .receipt_timeout(Duration::from_secs(5))
}

#[test]
fn one_frame_per_message_text_or_binary_by_content() {
    let server = fake::ws(|mut p| {
        let connect = p.handshake("1.2", "0,0");
        assert!(!connect.binary);
        let seen = p.serve_until_disconnect();
        let sends: Vec<_> = seen.iter().filter(|f| f.command == "SEND").collect();
        assert_eq!(sends.len(), 3);
        assert!(!sends[0].binary, "a UTF-8 frame goes as text");
        assert_eq!(sends[0].body, b"hello");
        assert!(sends[1].binary, "a non-UTF-8 frame goes as binary");
        assert_eq!(sends[1].body, [0u8, 0xFF, 0xFE, b'a']);
        assert!(!sends[2].binary);
        assert_eq!(sends[2].body.len(), 200_000);
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    assert_eq!(client.subprotocol(), Some("v12.stomp"));
    client.send("/queue/a", &[], b"hello").unwrap();
    client
        .send("/queue/a", &[], &[0, 0xFF, 0xFE, b'a'])
        .unwrap();
    client
        .send_with_receipt("/queue/a", &[], &vec![b'z'; 200_000])
        .unwrap();
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn binary_frames_option_sends_everything_binary() {
    let server = fake::ws(|mut p| {
        let connect = p.handshake("1.2", "0,0");
        assert!(connect.binary);
        let seen = p.serve_until_disconnect();
        assert!(seen.iter().all(|f| f.binary));
    });
    let client = Client::connect(&server.url, &quick().binary_frames(true)).unwrap();
    client
        .send_with_receipt("/queue/a", &[], b"text body")
        .unwrap();
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn heartbeat_is_a_text_message_of_exactly_newline() {
    let server = fake::ws(|mut p| {
        p.handshake("1.2", "0,200");
        thread::sleep(Duration::from_millis(800));
        p.serve_until_disconnect();
        // fake::Peer::read_frame asserts the exact form of each beat.
        assert!(p.heartbeats >= 3, "{} heart-beats", p.heartbeats);
    });
    let client = Client::connect(&server.url, &quick().heartbeat(200, 0)).unwrap();
    thread::sleep(Duration::from_millis(800));
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn inbound_non_utf8_text_packed_split_and_fragmented_frames_arrive_exactly() {
    let server = fake::ws(|mut p| {
        p.handshake("1.2", "0,0");
        let sub = p.expect("SUBSCRIBE");
        p.receipt(&sub);
        // 1. A text message whose bytes are not UTF-8 (RabbitMQ does this).
        let mut m1 = b"MESSAGE\nsubscription:s\nmessage-id:1\ncontent-length:4\n\n".to_vec();
        m1.extend_from_slice(&[0xFF, 0x00, 0xC3, 0x28]);
        m1.push(0);
        p.send_message(0x1, &m1);
        // 2. Two frames packed into one message, with EOLs between them.
        p.send_message(
            0x1,
            b"MESSAGE\nsubscription:s\nmessage-id:2\n\ntwo\0\n\nMESSAGE\nsubscription:s\nmessage-id:3\n\nthree\0\n",
        );
        // 3. One frame split over two messages.
        p.send_message(0x2, b"MESSAGE\nsubscription:s\nmessage-id:4\ncontent-le");
        p.send_message(0x2, b"ngth:4\n\nfour\0");
        // 4. One frame in a fragmented message (text, continuation, continuation+FIN).
        let f = b"MESSAGE\nsubscription:s\nmessage-id:5\n\nfive\0";
        let mut out = vec![0x01, 10];
        out.extend_from_slice(&f[..10]);
        out.extend_from_slice(&[0x00, 10]);
        out.extend_from_slice(&f[10..20]);
        out.extend_from_slice(&[0x80, (f.len() - 20) as u8]);
        out.extend_from_slice(&f[20..]);
        // a ping in the middle of the stream
        out.extend_from_slice(&[0x89, 2, b'h', b'i']);
        use std::io::Write;
        p.stream.write_all(&out).unwrap();
        p.serve_until_disconnect();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    let sub = client
        .subscribe("/queue/q", AckMode::Auto, &[("id", "s"), ("receipt", "r1")])
        .unwrap();
    let bodies: Vec<Vec<u8>> = (0..5)
        .map(|_| {
            sub.recv_timeout(Duration::from_secs(5))
                .unwrap()
                .body()
                .to_vec()
        })
        .collect();
    assert_eq!(bodies[0], [0xFF, 0x00, 0xC3, 0x28]);
    assert_eq!(bodies[1], b"two");
    assert_eq!(bodies[2], b"three");
    assert_eq!(bodies[3], b"four");
    assert_eq!(bodies[4], b"five");
    drop(sub);
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn extra_http_headers_and_subprotocols_reach_the_upgrade() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/stomp", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut req = Vec::new();
        let mut b = [0u8; 4096];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut b).unwrap();
            req.extend_from_slice(&b[..n]);
        }
        s.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        String::from_utf8(req).unwrap()
    });
    let config = quick()
        .http_header("Authorization", "Bearer abc")
        .http_header("Origin", "http://example.test")
        .versions("1.1,1.0");
    let err = Client::connect(&url, &config).unwrap_err();
    assert!(
        matches!(&err, stompws::Error::Handshake(d) if d.contains("403")),
        "{err:?}"
    );
    let req = server.join().unwrap();
    assert!(req.starts_with("GET /stomp HTTP/1.1\r\n"), "{req}");
    assert!(req.contains("Authorization: Bearer abc\r\n"), "{req}");
    assert!(req.contains("Origin: http://example.test\r\n"), "{req}");
    let proto = req
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("sec-websocket-protocol:")
        })
        .unwrap();
    assert!(proto.contains("v11.stomp") && proto.contains("v10.stomp") && !proto.contains("v12"));
}
