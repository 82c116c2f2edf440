//! Proves the rest of the real-broker harness: the TLS listeners (trusted through
//! `STOMPWS_TLS_CA_FILE`, for the name `localhost`) and RabbitMQ's ws and wss listeners
//! each answer a STOMP CONNECT, and `STOMPWS_RABBITMQ_CTL` reaches the node. Written by
//! hand over std and native-tls, without the library.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const CONNECT: &str =
    "CONNECT\naccept-version:1.2\nlogin:stompws\npasscode:stompws\nheart-beat:0,0\n\n\0";

fn tcp(url: &str) -> TcpStream {
    let (host, port) = common::host_port(url);
    let stream = TcpStream::connect((host.as_str(), port))
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// A TLS connection that trusts only the test CA and checks the certificate's name.
fn tls(url: &str) -> native_tls::TlsStream<TcpStream> {
    let pem = std::fs::read(common::ca_file())
        .unwrap_or_else(|e| panic!("read {}: {e}", common::ca_file().display()));
    let ca = native_tls::Certificate::from_pem(&pem).expect("a PEM certificate");
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(ca)
        .disable_built_in_roots(true)
        .build()
        .unwrap();
    let (host, _) = common::host_port(url);
    connector
        .connect(&host, tcp(url))
        .unwrap_or_else(|e| panic!("TLS handshake with {url}: {e}"))
}

fn assert_connected(url: &str, frame: &[u8]) {
    let text = String::from_utf8_lossy(frame);
    assert!(text.starts_with("CONNECTED\n"), "{url}: {text:?}");
    assert!(
        text.lines().any(|l| l == "version:1.2"),
        "{url}: no version:1.2 in {text:?}"
    );
}

/// CONNECT over a byte stream (STOMP over TLS).
fn stomp_connect<S: Read + Write>(url: &str, stream: S) {
    let mut r = BufReader::new(stream);
    r.get_mut().write_all(CONNECT.as_bytes()).unwrap();
    let mut frame = Vec::new();
    r.read_until(0, &mut frame).unwrap();
    assert_connected(url, &frame);
}

/// The opening handshake, offering the STOMP subprotocols; returns the response head.
fn ws_handshake<S: Read + Write>(url: &str, r: &mut BufReader<S>) -> String {
    let (host, port) = common::host_port(url);
    let path = url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or("/");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v12.stomp, v11.stomp, v10.stomp\r\n\r\n"
    );
    r.get_mut().write_all(request.as_bytes()).unwrap();
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    head
}

/// CONNECT over WebSocket: one masked text message out, one message back.
fn ws_connect<S: Read + Write>(url: &str, stream: S) {
    let mut r = BufReader::new(stream);
    let head = ws_handshake(url, &mut r);
    let lower = head.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 101"), "{url}: {head}");
    // The accept value for the key in RFC 6455's example.
    assert!(
        lower.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{url}: {head}"
    );
    assert!(
        lower.contains("sec-websocket-protocol: v12.stomp"),
        "{url}: {head}"
    );

    let payload = CONNECT.as_bytes();
    assert!(payload.len() < 126);
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut msg = vec![0x81, 0x80 | payload.len() as u8];
    msg.extend_from_slice(&mask);
    msg.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    r.get_mut().write_all(&msg).unwrap();

    let mut hdr = [0u8; 2];
    r.read_exact(&mut hdr).unwrap();
    assert_eq!(hdr[0] & 0x0f, 0x1, "{url}: not a text message: {hdr:?}");
    assert_eq!(hdr[1] & 0x80, 0, "{url}: server messages are not masked");
    let len = match hdr[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => panic!("{url}: a CONNECTED frame over 64 KiB"),
        n => n as usize,
    };
    let mut frame = vec![0u8; len];
    r.read_exact(&mut frame).unwrap();
    assert_connected(url, &frame);
}

#[test]
fn rabbitmq_tls_connect() {
    let url = require!("STOMPWS_RABBITMQ_SSL");
    stomp_connect(&url, tls(&url));
}

#[test]
fn activemq_tls_connect() {
    let url = require!("STOMPWS_ACTIVEMQ_SSL");
    stomp_connect(&url, tls(&url));
}

#[test]
fn rabbitmq_ws_connect() {
    let url = require!("STOMPWS_RABBITMQ_WS");
    ws_connect(&url, tcp(&url));
}

#[test]
fn rabbitmq_wss_connect() {
    let url = require!("STOMPWS_RABBITMQ_WSS");
    ws_connect(&url, tls(&url));
}

#[test]
fn rabbitmq_ctl_reaches_the_node() {
    let _url = require!("STOMPWS_RABBITMQ_TCP");
    let users = common::rabbitmq_ctl(&["list_users", "-q"]).unwrap();
    for user in [common::GUEST.0, common::STOMPWS.0, common::READ_ONLY.0] {
        assert!(
            users
                .lines()
                .any(|l| l.split_whitespace().next() == Some(user)),
            "{user} missing in {users:?}"
        );
    }
}

#[test]
fn helper_host_port_and_unique() {
    assert_eq!(
        common::host_port("ws://127.0.0.1:15674/ws"),
        ("127.0.0.1".into(), 15674)
    );
    assert_eq!(
        common::host_port("ssl://localhost:61614"),
        ("localhost".into(), 61614)
    );
    assert_eq!(
        common::host_port("tcp://[::1]:61613"),
        ("::1".into(), 61613)
    );
    assert_eq!(
        common::host_port("wss://u:p@example.test/ws?x=1"),
        ("example.test".into(), 443)
    );
    let (a, b) = (common::unique("q"), common::unique("q"));
    assert_ne!(a, b);
    assert!(a.starts_with("q-"));
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
}
