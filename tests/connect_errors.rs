//! Connect failures as a user reads them (issue 12, API.md's rules): each text names the
//! peer and the stage that failed, and when the URL's scheme does not fit the port (an
//! HTTP answer on `tcp://`, a plain answer on `wss://`, a STOMP port behind `ws://`) it
//! says which scheme was probably meant. Checked against listeners made here and against
//! the real brokers' ports; and two small rules: an empty `host` and a WebSocket message
//! limit below 1024 are INVALID_ARGUMENT.

mod common;

use std::ffi::{CStr, CString};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use stompws::ffi;
use stompws::{Client, Config, Error};

fn quick() -> Config {
    Config::new()
        .heartbeat(0, 0)
        .connect_timeout(Duration::from_secs(5))
}

/// The error of a connect that must fail.
#[track_caller]
fn connect_error(url: &str, config: &Config) -> Error {
    match Client::connect(url, config) {
        Ok(_) => panic!("{url}: connected, but should have failed"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_mentions(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            text.contains(part),
            "the error text lacks {part:?}:\n    {text}"
        );
    }
}

/// What a scripted listener does with each connection after reading the client's first
/// bytes.
#[derive(Clone, Copy)]
enum Answer {
    /// Writes these bytes, then closes (after a moment, so they are read first).
    Bytes(&'static [u8]),
    /// Closes without a word.
    Close,
    /// Says nothing and keeps the connection open until the listener is dropped.
    Silence,
}

/// A listener on 127.0.0.1 that answers every connection as `answer` says, until dropped.
struct Listener {
    port: u16,
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Listener {
    fn new(answer: Answer) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if !matches!(stopped.try_recv(), Err(mpsc::TryRecvError::Empty)) {
                    return;
                }
                let mut s = match listener.accept() {
                    Ok((s, _)) => s,
                    Err(_) => {
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let _ = s.read(&mut [0u8; 4096]);
                match answer {
                    Answer::Bytes(b) => {
                        let _ = s.write_all(b);
                        thread::sleep(Duration::from_millis(100));
                    }
                    Answer::Close => {}
                    Answer::Silence => held.push(s),
                }
            }
        });
        Listener {
            port,
            stop: Some(stop),
            handle: Some(handle),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// What RabbitMQ's web-stomp (cowboy) answers to a STOMP CONNECT.
const HTTP_400: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";

/// A C connect through the public C API: the result code and `stompws_last_error`.
fn c_connect(url: &str, connect_timeout_ms: u32) -> (u32, String) {
    let url = CString::new(url).unwrap();
    // SAFETY: a config from stompws_config_new, used by this thread only and freed once;
    // the URL is NUL-terminated and `out` is a live local; the client, if any, is freed
    // once; the buffer passed to stompws_last_error is live and of the length given.
    unsafe {
        let config = ffi::stompws_config_new();
        assert_eq!(
            ffi::stompws_config_set_connect_timeout(config, connect_timeout_ms) as u32,
            0
        );
        let mut out = std::ptr::null_mut();
        let r = ffi::stompws_client_connect(url.as_ptr(), config, &mut out) as u32;
        let mut buf = [0 as std::ffi::c_char; 1024];
        ffi::stompws_last_error(buf.as_mut_ptr(), buf.len());
        let text = CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned();
        ffi::stompws_client_free(out);
        ffi::stompws_config_free(config);
        (r, text)
    }
}

// ---- tcp:// (or ssl://) at an HTTP port ---------------------------------------------

#[test]
fn tcp_url_at_an_http_port_says_ws_was_meant() {
    let http = Listener::new(Answer::Bytes(HTTP_400));
    let port = http.port;
    let e = connect_error(&format!("tcp://127.0.0.1:{port}"), &quick());
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    let text = e.to_string();
    eprintln!("tcp:// at an HTTP port: {text}");
    assert_mentions(
        &text,
        &[
            &format!("127.0.0.1:{port} answered CONNECT with HTTP"),
            "HTTP/1.1 400 Bad Request",
            &format!("ws://127.0.0.1:{port}/... was probably meant"),
        ],
    );
    assert!(!text.contains("content-length"), "{text}");
}

#[test]
fn tcp_url_at_rabbitmq_web_stomp_says_ws_was_meant() {
    let ws = require!("STOMPWS_RABBITMQ_WS");
    let (host, port) = common::host_port(&ws);
    let e = connect_error(&format!("tcp://{host}:{port}"), &quick());
    let text = e.to_string();
    eprintln!("tcp:// at RabbitMQ's web-stomp port: {text}");
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    assert_mentions(
        &text,
        &[
            &format!("{host}:{port} answered CONNECT with HTTP"),
            &format!("ws://{host}:{port}/... was probably meant"),
        ],
    );
}

// ---- wss:// at a plain port ------------------------------------------------------------

#[test]
fn wss_url_at_a_plain_http_port_says_ws_was_meant() {
    let http = Listener::new(Answer::Bytes(HTTP_400));
    let port = http.port;
    let e = connect_error(&format!("wss://127.0.0.1:{port}/ws"), &quick());
    assert!(matches!(e, Error::Tls(_)), "{e:?}");
    let text = e.to_string();
    eprintln!("wss:// at a plain HTTP port: {text}");
    assert_mentions(
        &text,
        &[
            &format!("TLS handshake with 127.0.0.1:{port} failed"),
            "answered in plain HTTP",
            &format!("ws://127.0.0.1:{port}/ws was probably meant"),
        ],
    );
}

#[test]
fn wss_url_at_a_plain_stomp_port_that_closes_says_so() {
    let stomp = Listener::new(Answer::Close);
    let port = stomp.port;
    let e = connect_error(&format!("wss://127.0.0.1:{port}/ws"), &quick());
    assert!(matches!(e, Error::Tls(_)), "{e:?}");
    let text = e.to_string();
    assert_mentions(
        &text,
        &[
            &format!("TLS handshake with 127.0.0.1:{port} failed"),
            "without a TLS answer",
            &format!("tcp://127.0.0.1:{port} was meant"),
        ],
    );
}

#[test]
fn wss_url_at_rabbitmqs_plain_ports_says_which_scheme_was_meant() {
    let tcp = require!("STOMPWS_RABBITMQ_TCP");
    let ws = require!("STOMPWS_RABBITMQ_WS");
    // The STOMP port closes on a ClientHello without a word.
    let (host, port) = common::host_port(&tcp);
    let e = connect_error(&format!("wss://{host}:{port}/ws"), &quick());
    let text = e.to_string();
    eprintln!("wss:// at RabbitMQ's STOMP port: {text}");
    assert!(matches!(e, Error::Tls(_)), "{e:?}");
    assert_mentions(
        &text,
        &[
            &format!("TLS handshake with {host}:{port} failed"),
            "without a TLS answer",
            &format!("tcp://{host}:{port} was meant"),
        ],
    );
    // The web-stomp port answers the ClientHello with HTTP 400.
    let (host, port) = common::host_port(&ws);
    let e = connect_error(&format!("wss://{host}:{port}/ws"), &quick());
    let text = e.to_string();
    eprintln!("wss:// at RabbitMQ's web-stomp port: {text}");
    assert_mentions(
        &text,
        &[
            "answered in plain HTTP",
            &format!("ws://{host}:{port}/ws was probably meant"),
        ],
    );
}

// ---- ws:// at a STOMP port --------------------------------------------------------------

#[test]
fn ws_url_at_a_stomp_port_that_answers_says_tcp_was_meant() {
    let stomp = Listener::new(Answer::Bytes(
        b"ERROR\nmessage:Unknown command GET\n\nbad frame\0",
    ));
    let port = stomp.port;
    let e = connect_error(&format!("ws://127.0.0.1:{port}/ws"), &quick());
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
    let text = e.to_string();
    eprintln!("ws:// at a STOMP port that answers: {text}");
    assert_mentions(
        &text,
        &[
            &format!("127.0.0.1:{port} answered the WebSocket upgrade request with STOMP"),
            &format!("tcp://127.0.0.1:{port} was probably meant"),
        ],
    );
}

/// A STOMP port that reads the upgrade request as the start of a frame and waits for its
/// NUL (RabbitMQ and ActiveMQ do): the connect times out. The C detail names the stage,
/// the peer and the scheme that fits.
#[test]
fn ws_url_at_a_silent_stomp_port_times_out_naming_the_stage() {
    let stomp = Listener::new(Answer::Silence);
    let url = format!("ws://127.0.0.1:{}/ws", stomp.port);
    let config = quick().connect_timeout(Duration::from_millis(500));
    assert_eq!(connect_error(&url, &config), Error::Timeout);
    let (code, text) = c_connect(&url, 500);
    eprintln!("ws:// at a silent STOMP port (C): {text}");
    assert_eq!(code, Error::Timeout.code());
    let peer = format!("127.0.0.1:{}", stomp.port);
    assert_mentions(
        &text,
        &[
            &format!("no answer from {peer} to the WebSocket upgrade request"),
            "500 ms",
            &format!("tcp://{peer}"),
        ],
    );
}

#[test]
fn ws_url_at_rabbitmqs_stomp_port_times_out_naming_the_stage() {
    let tcp = require!("STOMPWS_RABBITMQ_TCP");
    let (host, port) = common::host_port(&tcp);
    let url = format!("ws://{host}:{port}/ws");
    let (code, text) = c_connect(&url, 1000);
    eprintln!("ws:// at RabbitMQ's STOMP port (C): {text}");
    assert_eq!(code, Error::Timeout.code(), "{text}");
    assert_mentions(
        &text,
        &[
            &format!("no answer from {host}:{port} to the WebSocket upgrade request"),
            &format!("tcp://{host}:{port}"),
        ],
    );
}

// ---- the TCP stage -------------------------------------------------------------------

#[test]
fn refused_tcp_connect_names_the_stage_and_peer() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = connect_error(&format!("ws://127.0.0.1:{port}/ws"), &quick());
    assert!(matches!(e, Error::Io(_)), "{e:?}");
    let text = e.to_string();
    eprintln!("refused: {text}");
    assert_mentions(
        &text,
        &[
            &format!("TCP connect to 127.0.0.1:{port} failed"),
            "refused",
        ],
    );
}

// ---- arguments refused before connecting ------------------------------------------------

#[test]
fn an_empty_host_is_an_invalid_argument() {
    // Nothing listens here: the refusal must come before any connect is tried.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    match connect_error(&url, &quick().host("")) {
        Error::InvalidArgument(m) => assert!(m.contains("host"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A real host is fine as far as the arguments go (then refused by the port).
    assert!(matches!(
        connect_error(&url, &quick().host("/")),
        Error::Io(_)
    ));
}

#[test]
fn a_ws_message_limit_below_1024_is_an_invalid_argument() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    for bad in [1, 512, 1023] {
        match connect_error(&url, &quick().ws_message_limit(bad)) {
            Error::InvalidArgument(m) => assert!(m.contains("1024"), "{m}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    for fine in [0, 1024, 16_000] {
        assert!(matches!(
            connect_error(&url, &quick().ws_message_limit(fine)),
            Error::Io(_)
        ));
    }
}
