//! `open` and `open_over` end to end, against servers run on threads of the test:
//! plain HTTP upgrade, refusals, silence, TLS with a throw-away CA.

use std::io::{self, Read, Write};
use std::net::TcpListener;
#[cfg(feature = "tls")]
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tungstenite::handshake::derive_accept_key;

#[cfg(feature = "tls")]
use super::testpki::Pki;
use super::testutil::{parse_client_messages, server_frame};
use super::*;

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

/// Reads an HTTP request head; returns it as text.
fn read_request<S: Read>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8(buf).unwrap()
}

fn request_key(request: &str) -> String {
    request
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .expect("the request has a key")
        .trim()
        .to_string()
}

fn switching(key: &str, extra: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        derive_accept_key(key.as_bytes())
    )
}

/// A one-connection WebSocket server on 127.0.0.1. `answer` gets the request and returns
/// the bytes to send back. The thread returns the request, plus whatever the client sent
/// after it until it closed or 2 s of silence.
fn serve_once(
    answer: impl FnOnce(&str) -> Vec<u8> + Send + 'static,
) -> (u16, JoinHandle<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let request = read_request(&mut s);
        s.write_all(&answer(&request)).unwrap();
        let mut after = Vec::new();
        let _ = s.read_to_end(&mut after);
        (request, after)
    });
    (port, handle)
}

/// Reads from the non-blocking stream until `n` bytes came.
fn read_exactly(stream: &mut Stream, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < n {
        match stream.read(&mut buf) {
            Ok(0) => panic!("closed after {out:?}"),
            Ok(k) => out.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_fd(stream.raw_fd(), true, false, soon()).unwrap()
            }
            Err(e) => panic!("{e}"),
        }
    }
    out
}

fn write_all(stream: &mut Stream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_fd(stream.raw_fd(), false, true, soon()).unwrap()
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn decode(framing: &mut Framing, input: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    framing
        .read(
            input,
            &mut |d| {
                payload.extend_from_slice(d);
                Ok(())
            },
            &mut Vec::new(),
        )
        .unwrap();
    payload
}

#[test]
fn upgrade_ok_with_leftover_bytes_then_frames_both_ways() {
    let (port, server) = serve_once(|req| {
        let mut out =
            switching(&request_key(req), "Sec-WebSocket-Protocol: v12.stomp\r\n").into_bytes();
        // The server's first frame in the same segment as its answer.
        out.extend(server_frame(true, 1, b"CONNECTED\nversion:1.2\n\n\0"));
        out
    });
    let ep = parse_url(&format!("ws://127.0.0.1:{port}/ws")).unwrap();
    let mut opened = open(&ep, &Config::new(), soon()).unwrap();
    assert_eq!(opened.subprotocol.as_deref(), Some("v12.stomp"));
    assert!(!opened.framing.is_raw());
    assert!(!opened.stream.is_tls());
    assert_eq!(opened.stream.peer(), format!("127.0.0.1:{port}"));
    let payload = decode(&mut opened.framing, &opened.leftover);
    assert_eq!(payload, b"CONNECTED\nversion:1.2\n\n\0");

    let mut out = Vec::new();
    opened
        .framing
        .write_frame(&mut out, b"SEND\ndestination:/q\n\n\xff\0");
    opened.framing.write_heartbeat(&mut out);
    opened.framing.write_close(&mut out);
    write_all(&mut opened.stream, &out);
    drop(opened);

    let (request, after) = server.join().unwrap();
    assert!(request.starts_with("GET /ws HTTP/1.1\r\n"), "{request}");
    assert!(request.contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")));
    assert!(request.contains("\r\nSec-WebSocket-Protocol: v12.stomp, v11.stomp, v10.stomp\r\n"));
    let msgs = parse_client_messages(&after);
    assert_eq!(msgs.len(), 3);
    assert_eq!(
        (msgs[0].opcode, &msgs[0].payload[..]),
        (2, &b"SEND\ndestination:/q\n\n\xff\0"[..])
    );
    assert_eq!((msgs[1].opcode, &msgs[1].payload[..]), (1, &b"\n"[..]));
    assert_eq!(msgs[2].opcode, 8);
}

#[test]
fn refused_upgrade_is_a_handshake_error_with_the_status_line() {
    let (port, _server) =
        serve_once(|_| b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\ndenied".to_vec());
    let ep = parse_url(&format!("ws://127.0.0.1:{port}/ws")).unwrap();
    match open(&ep, &Config::new(), soon()) {
        Err(Error::Handshake(m)) => {
            assert!(m.contains("403 Forbidden"), "{m}");
            assert!(m.contains(&format!("127.0.0.1:{port}")), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_accept_key_is_refused() {
    let (port, _server) = serve_once(|_| switching("not the key we sent", "").into_bytes());
    let ep = parse_url(&format!("ws://127.0.0.1:{port}/")).unwrap();
    match open(&ep, &Config::new(), soon()) {
        Err(Error::Protocol(m)) => assert!(m.contains("Sec-WebSocket-Accept"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn activemq_stomp_subprotocol_is_accepted() {
    let (port, _server) = serve_once(|req| {
        switching(&request_key(req), "Sec-WebSocket-Protocol: stomp\r\n").into_bytes()
    });
    let ep = parse_url(&format!("ws://127.0.0.1:{port}/")).unwrap();
    let opened = open(&ep, &Config::new(), soon()).unwrap();
    assert_eq!(opened.subprotocol.as_deref(), Some("stomp"));
    assert!(opened.leftover.is_empty());
}

#[test]
fn extra_http_headers_are_sent() {
    let (port, server) = serve_once(|req| switching(&request_key(req), "").into_bytes());
    let ep = parse_url(&format!("ws://localhost:{port}/stomp?token=t")).unwrap();
    let config = Config::new()
        .http_header("Authorization", "Bearer abc")
        .http_header("Cookie", "session=1; x=2")
        .http_header("Origin", "https://app.example");
    let opened = open(&ep, &config, soon()).unwrap();
    assert_eq!(opened.subprotocol, None);
    drop(opened);
    let (request, _) = server.join().unwrap();
    assert!(
        request.starts_with("GET /stomp?token=t HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(request.contains(&format!("\r\nHost: localhost:{port}\r\n")));
    for line in [
        "Authorization: Bearer abc",
        "Cookie: session=1; x=2",
        "Origin: https://app.example",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
    ] {
        assert!(
            request.contains(&format!("\r\n{line}\r\n")),
            "{line} missing in {request}"
        );
    }
}

/// The first connection within `limit`, if any. A test's server must not wait for ever:
/// a client that gives up before it connects (its deadline passed while it set up TLS,
/// say, on a loaded machine) never comes, and joining the server would hang the test.
fn accept_within(listener: &TcpListener, limit: Duration) -> Option<std::net::TcpStream> {
    listener.set_nonblocking(true).unwrap();
    let end = Instant::now() + limit;
    while Instant::now() < end {
        match listener.accept() {
            Ok((s, _)) => return Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
    None
}

#[test]
fn silent_server_times_out_at_the_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let s = accept_within(&listener, Duration::from_secs(10));
        let _ = stop_rx.recv_timeout(Duration::from_secs(10));
        drop(s);
    });
    let ep = parse_url(&format!("ws://127.0.0.1:{port}/")).unwrap();
    let start = Instant::now();
    let r = open(&ep, &Config::new(), start + Duration::from_millis(300));
    assert_eq!(r.unwrap_err(), Error::Timeout);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
    stop_tx.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn server_closing_before_answering_is_io() {
    let (port, _server) = serve_once(|_| b"HTTP/1.1 101 Swi".to_vec());
    let ep = parse_url(&format!("ws://127.0.0.1:{port}/")).unwrap();
    // The server thread waits up to 2 s for more and then closes.
    match open(&ep, &Config::new(), soon()) {
        Err(Error::Io(m)) => assert!(m.contains("closed during the WebSocket upgrade"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn endless_response_head_is_a_protocol_error() {
    let (port, _server) = serve_once(|_| {
        let mut out = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
        while out.len() < 70 * 1024 {
            out.extend(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        out
    });
    let ep = parse_url(&format!("ws://127.0.0.1:{port}/")).unwrap();
    match open(&ep, &Config::new(), soon()) {
        Err(Error::Protocol(m)) => assert!(m.contains("65536"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn connect_refused_is_io_naming_the_port() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ep = parse_url(&format!("ws://127.0.0.1:{port}/ws")).unwrap();
    match open(&ep, &Config::new(), soon()) {
        Err(Error::Io(m)) => assert!(m.contains(&port.to_string()), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tcp_scheme_is_raw_and_non_blocking() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"hello").unwrap();
        s
    });
    let ep = parse_url(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let mut opened = open(&ep, &Config::new(), soon()).unwrap();
    assert!(opened.framing.is_raw());
    assert!(opened.leftover.is_empty() && opened.subprotocol.is_none());
    let _server_end = server.join().unwrap();
    assert_eq!(read_exactly(&mut opened.stream, 5), b"hello");
    let e = opened.stream.read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn open_over_upgrades_a_unix_socket_and_makes_it_non_blocking() {
    let (client, mut server) = UnixStream::pair().unwrap();
    let server = thread::spawn(move || {
        let request = read_request(&mut server);
        let mut out = switching(&request_key(&request), "").into_bytes();
        out.extend(server_frame(true, 2, b"\n"));
        server.write_all(&out).unwrap();
        (request, server)
    });
    let ep = parse_url("ws://broker.internal/ws").unwrap();
    let mut opened = open_over(Box::new(client), &ep, &Config::new(), soon()).unwrap();
    let (request, _server_end) = server.join().unwrap();
    assert!(request.contains("\r\nHost: broker.internal\r\n"));
    assert_eq!(decode(&mut opened.framing, &opened.leftover), b"\n");
    let e = opened.stream.read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
}

#[test]
fn open_over_tcp_scheme_does_nothing_but_non_blocking() {
    let (client, mut server) = UnixStream::pair().unwrap();
    let ep = parse_url("tcp://ignored").unwrap();
    let mut opened = open_over(Box::new(client), &ep, &Config::new(), soon()).unwrap();
    assert!(opened.framing.is_raw());
    assert_eq!(
        opened.stream.read(&mut [0u8; 4]).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    server.write_all(b"x").unwrap();
    assert_eq!(read_exactly(&mut opened.stream, 1), b"x");
}

// ---- TLS -------------------------------------------------------------------------

/// A one-connection TLS server on 127.0.0.1 that writes `greeting` after the handshake
/// (or, with `websocket`, answers the upgrade first). Returns the handshake's result.
#[cfg(feature = "tls")]
fn tls_server(
    pki: &Pki,
    websocket: bool,
    greeting: &'static [u8],
) -> (u16, JoinHandle<std::result::Result<(), String>>) {
    let acceptor = pki.acceptor();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (s, _): (TcpStream, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut tls = acceptor.accept(s).map_err(|e| e.to_string())?;
        if websocket {
            let request = read_request(&mut tls);
            tls.write_all(switching(&request_key(&request), "").as_bytes())
                .map_err(|e| e.to_string())?;
        }
        tls.write_all(greeting).map_err(|e| e.to_string())?;
        let _ = tls.read(&mut [0u8; 1]);
        Ok(())
    });
    (port, handle)
}

#[cfg(feature = "tls")]
#[test]
fn tls_with_the_ca_file_connects() {
    let pki = Pki::new("localhost");
    let (port, server) = tls_server(&pki, false, b"CONNECTED\n\n\0");
    let ep = parse_url(&format!("ssl://localhost:{port}")).unwrap();
    let config = Config::new().tls_ca_file(&pki.ca_pem);
    let mut opened = open(&ep, &config, soon()).unwrap();
    assert!(opened.stream.is_tls() && opened.framing.is_raw());
    assert_eq!(read_exactly(&mut opened.stream, 12), b"CONNECTED\n\n\0");
    drop(opened);
    server.join().unwrap().unwrap();
}

#[cfg(feature = "tls")]
#[test]
fn wss_with_the_ca_file_upgrades_over_tls() {
    let pki = Pki::new("localhost");
    let (port, server) = tls_server(&pki, true, b"\x81\x01\n");
    let ep = parse_url(&format!("wss://localhost:{port}/ws")).unwrap();
    let config = Config::new().tls_ca_file(&pki.ca_pem);
    let mut opened = open(&ep, &config, soon()).unwrap();
    // The heart-beat may have come with the answer or after it.
    let mut payload = decode(&mut opened.framing, &opened.leftover);
    if payload.is_empty() {
        let wire = read_exactly(&mut opened.stream, 3);
        payload = decode(&mut opened.framing, &wire);
    }
    assert_eq!(payload, b"\n");
    drop(opened);
    server.join().unwrap().unwrap();
}

#[cfg(feature = "tls")]
#[test]
fn tls_without_the_ca_file_fails_verification() {
    let pki = Pki::new("localhost");
    let (port, server) = tls_server(&pki, false, b"");
    let ep = parse_url(&format!("ssl://localhost:{port}")).unwrap();
    match open(&ep, &Config::new(), soon()) {
        Err(Error::Tls(m)) => assert!(m.contains("certificate verify failed"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(server.join().unwrap().is_err());
}

#[cfg(feature = "tls")]
#[test]
fn tls_insecure_skips_verification() {
    let pki = Pki::new("some.other.name");
    let (port, server) = tls_server(&pki, false, b"ok");
    let ep = parse_url(&format!("ssl://127.0.0.1:{port}")).unwrap();
    let mut opened = open(&ep, &Config::new().tls_insecure(true), soon()).unwrap();
    assert_eq!(read_exactly(&mut opened.stream, 2), b"ok");
    drop(opened);
    server.join().unwrap().unwrap();
}

#[cfg(feature = "tls")]
#[test]
fn tls_wrong_host_name_fails() {
    // The CA is trusted, but the certificate names another host than the URL's.
    let pki = Pki::new("broker.example");
    let (port, server) = tls_server(&pki, false, b"");
    let ep = parse_url(&format!("ssl://127.0.0.1:{port}")).unwrap();
    let config = Config::new().tls_ca_file(&pki.ca_pem);
    match open(&ep, &config, soon()) {
        Err(Error::Tls(m)) => {
            assert!(m.contains("certificate verify failed"), "{m}");
            assert!(m.contains("mismatch"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert!(server.join().unwrap().is_err());
}

#[cfg(feature = "tls")]
#[test]
fn tls_handshake_times_out_against_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let s = accept_within(&listener, Duration::from_secs(10));
        let _ = stop_rx.recv_timeout(Duration::from_secs(10));
        drop(s);
    });
    let ep = parse_url(&format!("wss://127.0.0.1:{port}/")).unwrap();
    let start = Instant::now();
    let r = open(&ep, &Config::new(), start + Duration::from_millis(300));
    assert_eq!(r.unwrap_err(), Error::Timeout);
    stop_tx.send(()).unwrap();
    server.join().unwrap();
}

#[cfg(not(feature = "tls"))]
#[test]
fn without_the_tls_feature_wss_and_ssl_fail_before_connecting() {
    // Nothing listens on port 1: the error must come before any connect is tried.
    for url in ["wss://127.0.0.1:1/ws", "ssl://127.0.0.1:1"] {
        let ep = parse_url(url).unwrap();
        match open(&ep, &Config::new(), soon()) {
            Err(Error::Tls(m)) => assert!(m.contains("feature `tls`"), "{url}: {m}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}

// ---- The wrong scheme for the port, and what a timeout names --------------------

/// A one-connection server on 127.0.0.1 that reads once (the client's first bytes: an
/// upgrade request or a TLS ClientHello), then writes `answer` and closes.
fn answer_first_read(answer: &'static [u8]) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let Some(mut s) = accept_within(&listener, Duration::from_secs(10)) else {
            return;
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.read(&mut [0u8; 4096]);
        let _ = s.write_all(answer);
        // Let the client read the answer before the close (no reset on unread bytes).
        thread::sleep(Duration::from_millis(200));
    });
    (port, handle)
}

#[test]
fn ws_to_a_stomp_port_that_answers_says_tcp_was_meant() {
    let (port, server) = answer_first_read(b"ERROR\nmessage:Unknown STOMP action: GET\n\nbad\0");
    let ep = parse_url(&format!("ws://127.0.0.1:{port}/ws")).unwrap();
    match open(&ep, &Config::new(), soon()) {
        Err(Error::Protocol(m)) => {
            assert!(m.contains("WebSocket upgrade"), "{m}");
            assert!(
                m.contains(&format!("tcp://127.0.0.1:{port} was probably meant")),
                "{m}"
            );
            assert!(m.contains("\"ERROR\""), "{m}");
        }
        other => panic!("{other:?}"),
    }
    server.join().unwrap();
}

#[test]
fn ws_to_a_tls_port_says_wss_was_meant() {
    // A TLS alert record, as a TLS server answers plain text.
    let (port, server) = answer_first_read(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]);
    let ep = parse_url(&format!("ws://127.0.0.1:{port}/ws")).unwrap();
    match open(&ep, &Config::new(), soon()) {
        Err(Error::Protocol(m)) => {
            assert!(m.contains(&format!("wss://127.0.0.1:{port}/ws")), "{m}")
        }
        other => panic!("{other:?}"),
    }
    server.join().unwrap();
}

#[test]
fn ws_upgrade_answered_with_garbage_fails_at_once() {
    let (port, server) = answer_first_read(b"\x00\x01garbage without end");
    let ep = parse_url(&format!("ws://127.0.0.1:{port}/ws")).unwrap();
    let start = Instant::now();
    match open(&ep, &Config::new(), soon()) {
        Err(Error::Protocol(m)) => assert!(m.contains("did not answer"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(start.elapsed() < Duration::from_secs(2));
    server.join().unwrap();
}

#[test]
fn timeouts_leave_the_stage_and_peer() {
    // The upgrade: a server that accepts and never answers (a plain STOMP port waits
    // for the NUL that ends the "GET" frame it thinks it is reading).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let server = thread::spawn(move || {
        let s = accept_within(&listener, Duration::from_secs(10));
        let _ = stop_rx.recv_timeout(Duration::from_secs(10));
        drop(s);
    });
    let ep = parse_url(&format!("ws://127.0.0.1:{port}/ws")).unwrap();
    let config = Config::new().connect_timeout(Duration::from_millis(300));
    let r = open(&ep, &config, Instant::now() + Duration::from_millis(300));
    assert_eq!(r.unwrap_err(), Error::Timeout);
    let detail = crate::error::take_detail()
        .map(|d| d.into_owned())
        .expect("a timeout leaves its detail");
    assert!(
        detail.contains(&format!("127.0.0.1:{port}"))
            && detail.contains("WebSocket upgrade")
            && detail.contains("300 ms")
            && detail.contains(&format!("tcp://127.0.0.1:{port}")),
        "{detail}"
    );
    assert_eq!(
        crate::error::take_detail().map(|d| d.into_owned()),
        None,
        "taken once"
    );
    stop_tx.send(()).unwrap();
    server.join().unwrap();

    // Any other outcome clears it.
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ep = parse_url(&format!("tcp://127.0.0.1:{refused}")).unwrap();
    match open(&ep, &config, soon()) {
        Err(Error::Io(m)) => assert!(m.contains("TCP connect to 127.0.0.1:"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(crate::error::take_detail().map(|d| d.into_owned()), None);
}

/// A server whose answer is there before OpenSSL first reads (it answers at once, not
/// after the ClientHello): OpenSSL takes it in its first attempt, before any peek, and
/// the text still says what answered, from what OpenSSL read.
#[cfg(feature = "tls")]
#[test]
fn wss_to_a_port_that_answers_at_once_says_what_answered() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let Some(mut s) = accept_within(&listener, Duration::from_secs(10)) else {
            return;
        };
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        thread::sleep(Duration::from_millis(300));
    });
    // The answer is on the socket before the handshake starts.
    thread::sleep(Duration::from_millis(100));
    let ep = parse_url(&format!("wss://127.0.0.1:{port}/ws")).unwrap();
    match open(&ep, &Config::new(), soon()) {
        Err(Error::Tls(m)) => assert!(m.contains("plain HTTP"), "{m}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    server.join().unwrap();
}

#[cfg(feature = "tls")]
#[test]
fn wss_to_a_plain_port_says_which_scheme_was_meant() {
    type Case = (&'static [u8], &'static str, &'static str);
    let cases: [Case; 3] = [
        (
            b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            "plain HTTP",
            "ws://127.0.0.1:PORT/ws was probably meant",
        ),
        (
            b"ERROR\nmessage:Invalid frame\n\n\0",
            "plain STOMP",
            "tcp://127.0.0.1:PORT was probably meant",
        ),
        (
            b"",
            "closed the connection without a TLS answer",
            "tcp://127.0.0.1:PORT",
        ),
    ];
    for (answer, what, meant) in cases {
        let (port, server) = answer_first_read(answer);
        let ep = parse_url(&format!("wss://127.0.0.1:{port}/ws")).unwrap();
        let meant = meant.replace("PORT", &port.to_string());
        match open(&ep, &Config::new(), soon()) {
            Err(Error::Tls(m)) => {
                assert!(m.contains(what) && m.contains(&meant), "{m}");
                assert!(
                    m.contains(&format!("TLS handshake with 127.0.0.1:{port}")),
                    "{m}"
                );
            }
            other => panic!("{what}: {:?}", other.map(|_| ())),
        }
        server.join().unwrap();
    }
}
