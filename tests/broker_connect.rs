//! Proves the real-broker harness: plain STOMP over `std::net::TcpStream`, without the
//! library, against the RabbitMQ and ActiveMQ that `tests/run.sh` starts. It checks the
//! brokers' listeners, users and permissions as `tests/brokers/*.sh` set them up.

mod common;

use common::{READ_ONLY, STOMPWS};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A raw STOMP connection: frames written by hand, read up to their NUL.
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

/// A received frame: command, headers in order, body.
#[derive(Debug)]
struct Frame {
    command: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Frame {
    fn header(&self, name: &str) -> Option<&str> {
        // With repeated headers the first one counts.
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Raw {
    fn open(url: &str) -> Raw {
        let (host, port) = common::host_port(url);
        let stream = TcpStream::connect((host.as_str(), port))
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Raw {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    fn send(&mut self, command: &str, headers: &[(&str, &str)], body: &str) {
        let mut frame = format!("{command}\n");
        for (k, v) in headers {
            frame.push_str(&format!("{k}:{v}\n"));
        }
        frame.push('\n');
        frame.push_str(body);
        frame.push('\0');
        self.writer.write_all(frame.as_bytes()).unwrap();
    }

    /// The next frame, or `None` when the broker closed the connection first.
    fn recv(&mut self) -> Option<Frame> {
        // Skip the end-of-lines between frames (and heart-beats).
        loop {
            let buf = self.reader.fill_buf().expect("read from the broker");
            match buf.first() {
                None => return None,
                Some(b'\n' | b'\r') => self.reader.consume(1),
                Some(_) => break,
            }
        }
        let mut raw = Vec::new();
        self.reader.read_until(0, &mut raw).expect("read a frame");
        if raw.pop() != Some(0) {
            panic!(
                "connection closed in the middle of a frame: {:?}",
                String::from_utf8_lossy(&raw)
            );
        }
        let text = String::from_utf8(raw).expect("frame is UTF-8");
        let (head, body) = text
            .split_once("\n\n")
            .unwrap_or_else(|| panic!("frame without a blank line: {text:?}"));
        let mut lines = head.lines().map(|l| l.trim_end_matches('\r'));
        let command = lines.next().unwrap_or_default().to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Frame {
            command,
            headers,
            body: body.to_string(),
        })
    }

    fn expect(&mut self, command: &str) -> Frame {
        match self.recv() {
            Some(f) if f.command == command => f,
            Some(f) => panic!("expected {command}, got {f:?}"),
            None => panic!("expected {command}, the broker closed the connection"),
        }
    }

    /// CONNECT as `user` (no host header: RabbitMQ would take it as the vhost), no
    /// heart-beats; returns the broker's answer.
    fn connect(url: &str, user: (&str, &str)) -> (Raw, Frame) {
        let mut raw = Raw::open(url);
        raw.send(
            "CONNECT",
            &[
                ("accept-version", "1.2"),
                ("login", user.0),
                ("passcode", user.1),
                ("heart-beat", "0,0"),
            ],
            "",
        );
        let answer = raw
            .recv()
            .unwrap_or_else(|| panic!("{url} closed the connection instead of answering"));
        (raw, answer)
    }

    fn disconnect(mut self) {
        self.send("DISCONNECT", &[("receipt", "bye")], "");
        // RabbitMQ sends the RECEIPT; a close is as good.
        let _ = self.recv();
    }
}

fn connect_ok(url: &str) {
    let mut raw = Raw::open(url);
    raw.send(
        "CONNECT",
        &[
            ("accept-version", "1.2"),
            ("login", STOMPWS.0),
            ("passcode", STOMPWS.1),
            ("heart-beat", "0,0"),
        ],
        "",
    );
    // The reply as bytes, to check it starts with the command.
    let mut reply = Vec::new();
    raw.reader.read_until(0, &mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply).into_owned();
    assert!(
        reply.starts_with("CONNECTED\n") || reply.starts_with("CONNECTED\r\n"),
        "{url}: {reply:?}"
    );
    assert!(
        reply.lines().any(|l| l.trim_end() == "version:1.2"),
        "{url}: no version:1.2 in {reply:?}"
    );
    raw.disconnect();
}

fn bad_password(url: &str) {
    let (raw, answer) = Raw::connect(url, (STOMPWS.0, "wrong-password"));
    assert_eq!(answer.command, "ERROR", "{url}: {answer:?}");
    assert!(answer.header("message").is_some(), "{url}: {answer:?}");
    // RabbitMQ leaves the connection open after this ERROR; the client closes it.
    let _ = raw.writer.shutdown(std::net::Shutdown::Both);
}

/// stompro may subscribe to queues and topics and receive, and may not send.
fn read_only_user(url: &str) {
    let queue = format!("/queue/{}", common::unique("ro"));
    let topic = format!("/topic/{}", common::unique("ro"));

    let (mut ro, answer) = Raw::connect(url, READ_ONLY);
    assert_eq!(answer.command, "CONNECTED", "{url}: {answer:?}");
    for (id, dest) in [("q", &queue), ("t", &topic)] {
        let receipt = format!("sub-{id}");
        ro.send(
            "SUBSCRIBE",
            &[("id", id), ("destination", dest), ("receipt", &receipt)],
            "",
        );
        let r = ro.expect("RECEIPT");
        assert_eq!(r.header("receipt-id"), Some(receipt.as_str()));
    }

    let (mut rw, answer) = Raw::connect(url, STOMPWS);
    assert_eq!(answer.command, "CONNECTED", "{url}: {answer:?}");
    for dest in [&queue, &topic] {
        rw.send("SEND", &[("destination", dest), ("receipt", dest)], dest);
        rw.expect("RECEIPT");
    }
    rw.disconnect();

    let mut got = Vec::new();
    for _ in 0..2 {
        let m = ro.expect("MESSAGE");
        assert_eq!(m.header("destination"), Some(m.body.as_str()), "{m:?}");
        got.push(m.body);
    }
    got.sort();
    let mut want = vec![queue.clone(), topic.clone()];
    want.sort();
    assert_eq!(got, want);

    ro.send(
        "SEND",
        &[("destination", &queue), ("receipt", "refused")],
        "must not arrive",
    );
    // RabbitMQ: an ERROR without receipt-id ("ACCESS_REFUSED - access to exchange
    // 'amq.default' ..."), then it closes the connection.
    // ActiveMQ: an ERROR with receipt-id:refused ("User stompro is not authorized to
    // write to: queue://..."); the connection stays open.
    match ro.recv() {
        Some(f) if f.command == "ERROR" => {
            let text = format!("{} {}", f.header("message").unwrap_or(""), f.body);
            assert!(
                text.contains("ACCESS_REFUSED") || text.contains("not authorized"),
                "{url}: refused for another reason: {f:?}"
            );
        }
        other => panic!("{url}: a read-only SEND was not refused: {other:?}"),
    }
}

#[test]
fn rabbitmq_tcp_connect() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    connect_ok(&url);
}

#[test]
fn rabbitmq_tcp_bad_password() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    bad_password(&url);
}

#[test]
fn rabbitmq_tcp_read_only_user() {
    let url = require!("STOMPWS_RABBITMQ_TCP");
    read_only_user(&url);
}

#[test]
fn activemq_tcp_connect() {
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    connect_ok(&url);
}

#[test]
fn activemq_tcp_bad_password() {
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    bad_password(&url);
}

#[test]
fn activemq_tcp_read_only_user() {
    let url = require!("STOMPWS_ACTIVEMQ_TCP");
    read_only_user(&url);
}
