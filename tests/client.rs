//! Client behaviour checked frame by frame against the scripted server: ACK/NACK headers
//! per version, the queue-limit policy, the debug hook, events, `Client::over`, header
//! checks and the receipt rule.

mod fake;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use stompws::{AckMode, Client, Config, Error, Event};

fn quick() -> Config {
    Config::new()
        .heartbeat(0, 0)
        .receipt_timeout(Duration::from_secs(5))
}

#[test]
fn ack_and_nack_use_the_header_of_the_negotiated_version() {
    for version in ["1.0", "1.1", "1.2"] {
        let server = fake::tcp(move |mut p| {
            p.handshake(version, "0,0");
            let sub = p.expect("SUBSCRIBE");
            assert_eq!(sub.header("ack"), Some("client-individual"));
            let id = sub.header("id").unwrap().to_string();
            for n in 1..=2 {
                let msg = format!("MESSAGE\nsubscription:{id}\nmessage-id:m{n}\nack:a{n}\ndestination:/queue/q\n\nx\0");
                p.send(msg.as_bytes());
            }
            let ack = p.expect("ACK");
            match version {
                "1.2" => {
                    assert_eq!(ack.header("id"), Some("a1"));
                    assert_eq!(ack.header("message-id"), None);
                }
                "1.1" => {
                    assert_eq!(ack.header("message-id"), Some("m1"));
                    assert_eq!(ack.header("subscription"), Some(id.as_str()));
                }
                _ => {
                    assert_eq!(ack.header("message-id"), Some("m1"));
                    assert_eq!(ack.header("subscription"), None);
                }
            }
            assert_eq!(ack.header("transaction"), Some("t1"));
            if version != "1.0" {
                let nack = p.expect("NACK");
                assert_eq!(
                    nack.header(if version == "1.2" { "id" } else { "message-id" }),
                    Some(if version == "1.2" { "a2" } else { "m2" })
                );
            }
            p.serve_until_disconnect();
        });
        let client = Client::connect(&server.url, &quick().versions(version)).unwrap();
        assert_eq!(client.version(), version);
        let sub = client
            .subscribe("/queue/q", AckMode::ClientIndividual, &[])
            .unwrap();
        let m1 = sub.recv_timeout(Duration::from_secs(5)).unwrap();
        let m2 = sub.recv_timeout(Duration::from_secs(5)).unwrap();
        m1.ack(&[("transaction", "t1")]).unwrap();
        let clone = m1.clone();
        assert!(
            matches!(clone.ack(&[]), Err(Error::InvalidArgument(_))),
            "clones share the ack state"
        );
        if version == "1.0" {
            assert!(matches!(m2.nack(&[]), Err(Error::Unsupported(_))));
        } else {
            m2.nack(&[]).unwrap();
        }
        drop(sub);
        client.disconnect().unwrap();
        server.join();
    }
}

#[test]
fn a_full_queue_closes_its_subscription_and_keeps_what_arrived() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        let sub = p.expect("SUBSCRIBE");
        p.receipt(&sub);
        for n in 0..10 {
            p.send(format!("MESSAGE\nsubscription:s\nmessage-id:{n}\n\nm{n}\0").as_bytes());
        }
        let unsub = p.expect("UNSUBSCRIBE");
        assert_eq!(unsub.header("id"), Some("s"));
        p.serve_until_disconnect();
    });
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = Arc::clone(&events);
    let config = quick()
        .queue_limit(5, 1 << 20)
        .on_event(move |e, d| ev.lock().unwrap().push((e, d.to_string())));
    let client = Client::connect(&server.url, &config).unwrap();
    let sub = client
        .subscribe("/queue/q", AckMode::Auto, &[("id", "s"), ("receipt", "r")])
        .unwrap();
    std::thread::sleep(Duration::from_millis(500)); // let the queue overflow
    let mut got = Vec::new();
    loop {
        match sub.recv_timeout(Duration::from_secs(5)) {
            Ok(m) => got.push(String::from_utf8(m.body().to_vec()).unwrap()),
            Err(Error::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // Everything up to and including the message that passed the bound is kept.
    assert_eq!(got, ["m0", "m1", "m2", "m3", "m4", "m5"]);
    assert!(!sub.is_active());
    assert!(client.is_connected(), "only the subscription closes");
    client.disconnect().unwrap();
    let events = events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|(e, d)| *e == Event::SubscriptionClosed && d.starts_with("s:")),
        "{events:?}"
    );
    assert_eq!(events.first().map(|e| e.0), Some(Event::Connected));
    assert_eq!(events.last().map(|e| e.0), Some(Event::Disconnected));
    server.join();
}

#[test]
fn debug_hook_shows_frames_but_never_the_passcode() {
    let server = fake::ws(|mut p| {
        let c = p.handshake("1.2", "0,0");
        assert_eq!(c.header("passcode"), Some("top-secret"));
        p.serve_until_disconnect();
    });
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let l = Arc::clone(&lines);
    let config = quick()
        .login("me", "top-secret")
        .debug(move |line| l.lock().unwrap().push(line.to_string()));
    let client = Client::connect(&server.url, &config).unwrap();
    client
        .send_with_receipt("/queue/q", &[("x", "y")], b"payload")
        .unwrap();
    client.disconnect().unwrap();
    let lines = lines.lock().unwrap();
    assert!(lines.iter().all(|l| !l.contains("top-secret")), "{lines:?}");
    assert!(lines
        .iter()
        .any(|l| l.starts_with(">>> CONNECT") && l.contains("login:me")));
    assert!(lines.iter().any(|l| l.starts_with("<<< CONNECTED")));
    assert!(lines
        .iter()
        .any(|l| l.starts_with(">>> SEND") && l.contains("x:y") && l.ends_with("| payload")));
    assert!(lines.iter().any(|l| l.starts_with("<<< RECEIPT")));
    server.join();
}

#[test]
fn over_a_stream_the_caller_opened() {
    for ws in [false, true] {
        let server = if ws {
            fake::ws(|mut p| {
                p.handshake("1.2", "0,0");
                p.serve_until_disconnect();
            })
        } else {
            fake::tcp(|mut p| {
                p.handshake("1.2", "0,0");
                p.serve_until_disconnect();
            })
        };
        let addr = server
            .url
            .split("://")
            .nth(1)
            .unwrap()
            .trim_end_matches("/ws")
            .to_string();
        let stream = std::net::TcpStream::connect(&addr).unwrap();
        let client = Client::over(stream, &server.url, &quick()).unwrap();
        assert_eq!(client.server(), Some("fake/1"));
        assert_eq!(client.session(), Some("s-1"));
        client.send_with_receipt("/queue/q", &[], b"x").unwrap();
        client.disconnect().unwrap();
        server.join();
    }
}

#[test]
fn headers_stomp_cannot_carry_are_refused_before_sending() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.0", "0,0");
        let seen = p.serve_until_disconnect();
        assert_eq!(seen.iter().filter(|f| f.command == "SEND").count(), 1);
    });
    let client = Client::connect(&server.url, &quick().versions("1.0")).unwrap();
    let bad: [&[(&str, &str)]; 4] = [
        &[("x", "line\nbreak")],
        &[("x:y", "v")],
        &[("destination", "/queue/other")],
        &[("content-length", "3")],
    ];
    for headers in bad {
        let r = client.send("/queue/q", headers, b"x");
        assert!(
            matches!(r, Err(Error::InvalidArgument(_))),
            "{headers:?}: {r:?}"
        );
    }
    assert!(matches!(
        client.subscribe("/queue/q", AckMode::Auto, &[("ack", "client")]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        client.send("", &[], b"x"),
        Err(Error::InvalidArgument(_))
    ));
    client
        .send_with_receipt("/queue/q", &[("x", "fine")], b"x")
        .unwrap();
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn escaped_headers_go_out_escaped_on_1_2() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        let f = p.expect("SEND");
        assert_eq!(f.header("k\\cey"), Some("a\\cb\\nc\\\\d\\r"));
        assert_eq!(f.header("content-length"), Some("3"));
        p.receipt(&f);
        p.serve_until_disconnect();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    client
        .send_with_receipt("/queue/q", &[("k:ey", "a:b\nc\\d\r")], b"abc")
        .unwrap();
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn receipt_header_makes_any_call_wait_and_an_unanswered_one_times_out() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        let sub = p.expect("SUBSCRIBE");
        assert_eq!(sub.header("receipt"), Some("sub-r"));
        p.receipt(&sub);
        let send = p.expect("SEND");
        assert_eq!(send.header("receipt"), Some("never"));
        p.serve_until_disconnect();
    });
    let client = Client::connect(
        &server.url,
        &quick().receipt_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let _sub = client
        .subscribe("/queue/q", AckMode::Auto, &[("receipt", "sub-r")])
        .unwrap();
    let r = client.send("/queue/q", &[("receipt", "never")], b"x");
    assert_eq!(r.unwrap_err(), Error::Timeout);
    assert!(client.is_connected());
    drop(_sub);
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn unsupported_config_and_bad_urls_are_reported() {
    let r = Client::connect(
        "tcp://127.0.0.1:1",
        &Config::new().reconnect(Duration::from_secs(1), Duration::from_secs(5), 0),
    );
    assert!(matches!(r, Err(Error::Unsupported(_))));
    let r = Client::connect(
        "tcp://127.0.0.1:1",
        &Config::new().failover_url("tcp://127.0.0.1:2"),
    );
    assert!(matches!(r, Err(Error::Unsupported(_))));
    assert!(matches!(
        Client::connect("http://x/", &Config::new()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Client::connect("tcp://127.0.0.1:1", &Config::new()),
        Err(Error::Io(_))
    ));
    let r = Client::connect(
        "tcp://127.0.0.1:1",
        &Config::new().connect_timeout(Duration::ZERO),
    );
    assert!(matches!(r, Err(Error::InvalidArgument(_))));
}

#[test]
fn rabbitmqs_late_delivery_error_after_unsubscribe_is_not_fatal() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        p.expect("SUBSCRIBE");
        p.expect("UNSUBSCRIBE");
        // What RabbitMQ sends for a delivery that crossed the UNSUBSCRIBE.
        p.send(b"ERROR\nmessage:Subscription not found\ncontent-type:text/plain\n\nMessage with id 3 has no subscription with tag 'T_s'\0");
        let f = p.expect("SEND");
        p.receipt(&f);
        p.expect("SEND");
        // The same error for an id the client never gave up is fatal.
        p.send(b"ERROR\nmessage:Subscription not found\n\nno current subscription with tag 'T_other'\0");
        p.wait_close();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    let sub = client
        .subscribe("/queue/q", AckMode::Auto, &[("id", "s")])
        .unwrap();
    sub.unsubscribe(&[]).unwrap();
    client
        .send_with_receipt("/queue/q", &[], b"still here")
        .unwrap();
    assert!(client.is_connected());
    client.send("/queue/q", &[], b"go on").unwrap();
    let t = std::time::Instant::now();
    while client.is_connected() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(client
        .close_reason()
        .unwrap()
        .contains("Subscription not found"));
    server.join();
}
