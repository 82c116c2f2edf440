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

/// A terminal's master end: a stream whose descriptor is no socket.
struct Pty(std::fs::File);

impl std::io::Read for Pty {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl std::io::Write for Pty {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl std::os::fd::AsFd for Pty {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// A pseudo-terminal pair in raw mode (8-bit clean, no echo, no flow control): the
/// master for the client, the slave relayed to a TCP connection to `addr`.
fn pty_relayed_to(addr: &str) -> Pty {
    use std::os::fd::FromRawFd;
    // SAFETY: plain libc calls on descriptors this function opens and hands on once;
    // `termios` is written by tcgetattr before it is read; ptsname's string is copied
    // before the next call that could change it.
    let (master, slave) = unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(m >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let name = std::ffi::CStr::from_ptr(libc::ptsname(m)).to_owned();
        let s = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        assert!(s >= 0, "open {name:?}");
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(s, &mut t), 0);
        libc::cfmakeraw(&mut t);
        assert_eq!(libc::tcsetattr(s, libc::TCSANOW, &t), 0);
        (std::fs::File::from_raw_fd(m), std::fs::File::from_raw_fd(s))
    };
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    let pump = |mut from: Box<dyn std::io::Read + Send>, mut to: Box<dyn std::io::Write + Send>| {
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        })
    };
    pump(
        Box::new(slave.try_clone().unwrap()),
        Box::new(tcp.try_clone().unwrap()),
    );
    pump(Box::new(tcp), Box::new(slave));
    Pty(master)
}

#[test]
fn over_a_descriptor_that_is_no_socket() {
    // The direct socket calls (send, recv) do not apply here: the stream's own Read
    // and Write carry every byte, and a caller waiting for its receipt is served by
    // the I/O thread.
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        let seen = p.serve_until_disconnect();
        let sends: Vec<_> = seen.iter().filter(|f| f.command == "SEND").collect();
        assert_eq!(sends.len(), 21);
        assert_eq!(sends[20].body, vec![0xff; 100_000]);
    });
    let pty = pty_relayed_to(server.url.trim_start_matches("tcp://"));
    let client = Client::over(pty, &server.url, &quick()).unwrap();
    assert_eq!(client.version(), "1.2");
    for i in 0..10 {
        client
            .send("/queue/q", &[], format!("m{i}").as_bytes())
            .unwrap();
    }
    for _ in 0..10 {
        client.send_with_receipt("/queue/q", &[], b"r").unwrap();
    }
    client
        .send_with_receipt("/queue/q", &[], &vec![0xff; 100_000])
        .unwrap();
    client.disconnect().unwrap();
    server.join();
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
    // Right after a receipt this caller reads the socket itself (it leads), in reads
    // that wait 10 ms at a time: the timeout still ends the wait, not a slice later.
    let t = std::time::Instant::now();
    let r = client.send("/queue/q", &[("receipt", "never")], b"x");
    assert_eq!(r.unwrap_err(), Error::Timeout);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    assert!(client.is_connected());
    drop(_sub);
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn bad_config_and_bad_urls_are_reported() {
    // The first connect is not retried behind the caller's back: a refused port fails
    // at once, reconnect on or not, and with failover both endpoints are named.
    let r = Client::connect(
        "tcp://127.0.0.1:1",
        &Config::new().reconnect(Duration::from_secs(1), Duration::from_secs(5), 0),
    );
    assert!(matches!(r, Err(Error::Io(_))), "{r:?}");
    let r = Client::connect(
        "tcp://127.0.0.1:1",
        &Config::new().failover_url("tcp://127.0.0.1:2"),
    );
    let text = r.unwrap_err().to_string();
    assert!(
        text.contains("tcp://127.0.0.1:1") && text.contains("tcp://127.0.0.1:2"),
        "{text}"
    );
    let r = Client::connect(
        "tcp://127.0.0.1:1",
        &Config::new().failover_url("http://127.0.0.1:2"),
    );
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
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

/// A receiver that reads the socket itself (plain TCP, nothing else waiting) notices
/// its subscription closing under it at once, not when its timeout ends.
#[test]
fn a_leading_receiver_returns_when_its_subscription_closes() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        let sub = p.expect("SUBSCRIBE");
        p.receipt(&sub);
        p.expect("UNSUBSCRIBE");
        p.serve_until_disconnect();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    let sub = client
        .subscribe("/queue/q", AckMode::Auto, &[("id", "s"), ("receipt", "r")])
        .unwrap();
    let t0 = std::time::Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            client.unsubscribe_id("s", &[]).unwrap();
        });
        assert_eq!(
            sub.recv_timeout(Duration::from_secs(30)).map(|_| ()),
            Err(Error::Disconnected)
        );
    });
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    client.disconnect().unwrap();
    server.join();
}

/// A receiver that reads the socket itself takes its own subscription's message straight
/// off the wire; what came with it still goes where it belongs, in order: the rest of
/// its subscription's messages to its queue, another subscription's to that one.
#[test]
fn a_leading_receiver_gets_its_messages_in_order_and_leaves_the_others() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        for _ in 0..2 {
            let sub = p.expect("SUBSCRIBE");
            p.receipt(&sub);
        }
        // While the receiver waits, in one write.
        std::thread::sleep(Duration::from_millis(200));
        let mut all = Vec::new();
        for (n, id) in ["s", "s", "t", "s", "t", "s"].iter().enumerate() {
            all.extend(
                format!("MESSAGE\nsubscription:{id}\nmessage-id:{n}\nack:{n}\n\nm{n}\0").bytes(),
            );
        }
        p.send(&all);
        p.serve_until_disconnect();
    });
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let l = Arc::clone(&lines);
    let config = quick().debug(move |line| l.lock().unwrap().push(line.to_string()));
    let client = Client::connect(&server.url, &config).unwrap();
    let s = client
        .subscribe(
            "/queue/s",
            AckMode::Client,
            &[("id", "s"), ("receipt", "r1")],
        )
        .unwrap();
    let t = client
        .subscribe("/queue/t", AckMode::Auto, &[("id", "t"), ("receipt", "r2")])
        .unwrap();
    let body = |m: stompws::Message| String::from_utf8(m.body().to_vec()).unwrap();
    let first = s.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first.header("subscription"), Some("s"));
    first.ack(&[]).unwrap();
    let mut got = vec![body(first)];
    for _ in 0..3 {
        got.push(body(s.recv_timeout(Duration::from_secs(5)).unwrap()));
    }
    assert_eq!(got, ["m0", "m1", "m3", "m5"]);
    let others: Vec<_> = (0..2)
        .map(|_| body(t.recv_timeout(Duration::from_secs(5)).unwrap()))
        .collect();
    assert_eq!(others, ["m2", "m4"]);
    assert!(matches!(s.try_recv(), Err(Error::Timeout)));
    client.disconnect().unwrap();
    server.join();
    // The debug hook saw every one, the one taken off the wire too.
    let lines = lines.lock().unwrap();
    let seen = lines
        .iter()
        .filter(|l| l.starts_with("<<< MESSAGE"))
        .count();
    assert_eq!(seen, 6, "{lines:?}");
}

/// A receiver reading the socket itself while its subscription is unsubscribed under it
/// does not take a message for a new subscription that reuses the id: the new one gets
/// it, and the old receiver "disconnected".
#[test]
fn a_leading_receiver_leaves_a_reused_ids_message_to_the_new_subscription() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        let sub = p.expect("SUBSCRIBE");
        p.receipt(&sub);
        p.expect("UNSUBSCRIBE");
        p.expect("SUBSCRIBE");
        p.send(b"MESSAGE\nsubscription:s\nmessage-id:1\n\nfor the new one\0");
        p.serve_until_disconnect();
    });
    let client = Client::connect(&server.url, &quick()).unwrap();
    let old = client
        .subscribe("/queue/q", AckMode::Auto, &[("id", "s"), ("receipt", "r")])
        .unwrap();
    std::thread::scope(|scope| {
        // Its read is under way (it sleeps in it) when the id changes hands.
        let waiting = scope.spawn(|| old.recv_timeout(Duration::from_secs(10)).map(|_| ()));
        std::thread::sleep(Duration::from_millis(300));
        client.unsubscribe_id("s", &[]).unwrap();
        let new = client
            .subscribe("/queue/q", AckMode::Auto, &[("id", "s")])
            .unwrap();
        let m = new.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(m.body(), b"for the new one");
        assert_eq!(waiting.join().unwrap(), Err(Error::Disconnected));
    });
    client.disconnect().unwrap();
    server.join();
}

#[test]
fn recv_many_takes_what_is_queued_at_most_max_and_frees_the_queue_limit() {
    let server = fake::tcp(|mut p| {
        p.handshake("1.2", "0,0");
        let sub = p.expect("SUBSCRIBE");
        p.receipt(&sub);
        for round in 0..2 {
            for n in 0..4 {
                let n = round * 4 + n;
                p.send(format!("MESSAGE\nsubscription:s\nmessage-id:{n}\n\nm{n}\0").as_bytes());
            }
            // The next four only once the client took these: with a limit of four
            // queued messages, they pass it unless taking them released their share.
            p.expect("SEND");
        }
        p.serve_until_disconnect();
    });
    let client = Client::connect(&server.url, &quick().queue_limit(4, 1 << 20)).unwrap();
    let sub = client
        .subscribe("/queue/q", AckMode::Auto, &[("id", "s"), ("receipt", "r")])
        .unwrap();
    assert!(matches!(
        sub.recv_many(Duration::ZERO, 0, &mut Vec::new()),
        Err(Error::InvalidArgument(_))
    ));
    let mut got = vec![String::from("before")];
    let mut batches = Vec::new();
    for _ in 0..2 {
        let mut round = Vec::new();
        while round.len() < 4 {
            let n = sub
                .recv_many(Duration::from_secs(5), 3, &mut round)
                .unwrap();
            assert!((1..=3).contains(&n), "{n}");
            batches.push(n);
        }
        assert_eq!(round.len(), 4, "never more than asked for");
        got.extend(
            round
                .iter()
                .map(|m| String::from_utf8(m.body().to_vec()).unwrap()),
        );
        client.send("/queue/go", &[], b"").unwrap();
    }
    assert_eq!(
        got,
        ["before", "m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"],
        "appended, in order (batches {batches:?})"
    );
    assert!(
        sub.is_active(),
        "taken messages left the queue limit's count"
    );
    let mut none = Vec::new();
    assert_eq!(
        sub.recv_many(Duration::from_millis(100), 8, &mut none),
        Err(Error::Timeout)
    );
    assert!(none.is_empty());
    assert_eq!(
        sub.recv_many(Duration::ZERO, 8, &mut none),
        Err(Error::Timeout),
        "a zero timeout only looks"
    );
    sub.unsubscribe(&[]).unwrap();
    // A closed subscription answers at once, not when the timeout ends.
    let t0 = std::time::Instant::now();
    assert_eq!(
        sub.recv_many(Duration::from_secs(30), 8, &mut none),
        Err(Error::Disconnected)
    );
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert!(none.is_empty());
    client.disconnect().unwrap();
    server.join();
}
