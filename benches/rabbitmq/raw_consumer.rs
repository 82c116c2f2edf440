//! The raw reference client of `benches/rabbitmq-cpu.sh`: STOMP written and parsed by
//! hand, no STOMP library, over plain tungstenite (ws://) or a plain TCP socket
//! (tcp://). Its CPU time per consumed message is what a client cannot go below without
//! doing less work; stompws is compared with it.
//!
//! Usage: `bench_raw_consumer URL SCENARIO N SIZE` with SCENARIO
//! - `consume`: CONNECT (no login: RabbitMQ takes guest; heart-beat 0,0), SUBSCRIBE to
//!   `/queue/firehose` with `ack:auto`, then count MESSAGE frames, checking each body is
//!   SIZE bytes, until the one with `x-last:true`; exactly N must come before it.
//!   Prints one JSON line like the harness's drivers (`seconds` from the SUBSCRIBE to the
//!   last MESSAGE), then DISCONNECTs.
//! - `preload`: CONNECT, SEND N messages of SIZE bytes (`a`..`z`) to `/queue/firehose`
//!   and one more with `x-last:true` and an empty body, that one with a receipt, and wait
//!   for the RECEIPT (the broker then holds them all). Prints nothing on success.
//!
//! These are the same destination and end marker as the harness's consume scenario, so
//! the stompws drivers (examples/bench_driver.rs, benches/c/bench_driver.c) run their
//! own consume scenario against the pre-loaded queue unchanged. Any failure (ERROR
//! frame, closed connection, wrong count or size) is reported on stderr with exit 1.

use std::io::{BufWriter, Read, Write};
use std::net::TcpStream;
use std::process::exit;
use std::time::{Duration, Instant};

use tungstenite::http::HeaderValue;
use tungstenite::{client::IntoClientRequest, Message, WebSocket};

const DESTINATION: &str = "/queue/firehose";
/// No read may wait longer than this: a stalled broker fails the run instead of hanging.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("raw_consumer error: {msg}");
    exit(1)
}

/// One connection: either transport, sending whole STOMP frames and handing received
/// bytes to a [`Parser`].
enum Conn {
    Ws(Box<WebSocket<TcpStream>>),
    Tcp(TcpStream, Vec<u8>),
}

impl Conn {
    fn open(url: &str) -> Conn {
        let (scheme, rest) = url
            .split_once("://")
            .unwrap_or_else(|| fail(format!("bad URL {url}")));
        let authority = rest.split('/').next().unwrap_or(rest);
        let stream = TcpStream::connect(authority)
            .unwrap_or_else(|e| fail(format!("connect to {authority}: {e}")));
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .unwrap_or_else(|e| fail(format!("set_read_timeout: {e}")));
        stream
            .set_nodelay(true)
            .unwrap_or_else(|e| fail(format!("set_nodelay: {e}")));
        match scheme {
            "ws" => {
                let mut req = url
                    .into_client_request()
                    .unwrap_or_else(|e| fail(format!("bad URL {url}: {e}")));
                req.headers_mut().insert(
                    "Sec-WebSocket-Protocol",
                    HeaderValue::from_static("v12.stomp, v11.stomp, v10.stomp"),
                );
                let (ws, _) = tungstenite::client(req, stream)
                    .unwrap_or_else(|e| fail(format!("WebSocket handshake: {e}")));
                Conn::Ws(Box::new(ws))
            }
            "tcp" => Conn::Tcp(stream, vec![0; 64 * 1024]),
            _ => fail(format!("unsupported scheme in {url}")),
        }
    }

    /// Sends `frame` (a whole STOMP frame, NUL included) as one message / write.
    fn send(&mut self, frame: &[u8]) {
        let r = match self {
            Conn::Ws(ws) => ws
                .send(Message::binary(frame.to_vec()))
                .map_err(|e| e.to_string()),
            Conn::Tcp(s, _) => s.write_all(frame).map_err(|e| e.to_string()),
        };
        r.unwrap_or_else(|e| fail(format!("send: {e}")));
    }

    /// Reads what the peer sent next and feeds it to `parser` until `done` says stop.
    fn read_until(&mut self, parser: &mut Parser, mut done: impl FnMut(&Frame) -> bool) {
        loop {
            let stop = match self {
                Conn::Ws(ws) => match ws.read() {
                    Ok(Message::Text(t)) => parser.feed(t.as_bytes(), &mut done),
                    Ok(Message::Binary(b)) => parser.feed(&b, &mut done),
                    Ok(Message::Close(c)) => fail(format!("the broker closed: {c:?}")),
                    Ok(_) => false, // ping (answered by tungstenite), pong
                    Err(e) => fail(format!("read: {e}")),
                },
                Conn::Tcp(s, buf) => match s.read(buf) {
                    Ok(0) => fail("the broker closed the connection"),
                    Ok(n) => parser.feed(&buf[..n], &mut done),
                    Err(e) => fail(format!("read: {e}")),
                },
            };
            if stop {
                return;
            }
        }
    }
}

/// The parts of a received frame the client looks at.
struct Frame<'a> {
    command: &'a [u8],
    /// The header lines, `name:value\n` each (no unescaping: the checked names and
    /// values need none).
    head: &'a [u8],
    body_len: usize,
}

impl Frame<'_> {
    /// The first header `name`, raw.
    fn header(&self, name: &[u8]) -> Option<&[u8]> {
        self.head.split(|&b| b == b'\n').find_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            line.strip_prefix(name)?.strip_prefix(b":")
        })
    }

    /// Fails on an ERROR frame, with its message header.
    fn check_not_error(&self) {
        if self.command == b"ERROR" {
            let message = self.header(b"message").unwrap_or(b"");
            fail(format!("ERROR frame: {}", String::from_utf8_lossy(message)));
        }
    }
}

/// Splits a byte stream into STOMP frames: EOLs between frames skipped, the body sized
/// by `content-length` when present, else up to the NUL. Bytes of an incomplete frame
/// are kept for the next call; a frame that arrives whole is parsed in place.
#[derive(Default)]
struct Parser {
    carry: Vec<u8>,
}

impl Parser {
    /// Parses every complete frame of `carry + data`, calling `each` on it; returns true
    /// (leaving the rest unparsed) as soon as `each` does.
    fn feed(&mut self, data: &[u8], each: &mut impl FnMut(&Frame) -> bool) -> bool {
        if self.carry.is_empty() {
            let (used, stop) = parse_all(data, each);
            self.carry.extend_from_slice(&data[used..]);
            stop
        } else {
            self.carry.extend_from_slice(data);
            let carry = std::mem::take(&mut self.carry);
            let (used, stop) = parse_all(&carry, each);
            self.carry = carry;
            self.carry.drain(..used);
            stop
        }
    }
}

/// Returns how many bytes were consumed and whether `each` asked to stop.
fn parse_all(mut data: &[u8], each: &mut impl FnMut(&Frame) -> bool) -> (usize, bool) {
    let total = data.len();
    loop {
        while let [b'\n' | b'\r', rest @ ..] = data {
            data = rest;
        }
        let Some((frame, len)) = parse_one(data) else {
            return (total - data.len(), false);
        };
        data = &data[len..];
        if each(&frame) {
            return (total - data.len(), true);
        }
    }
}

/// One complete frame at the start of `data` and its length, or None if incomplete.
fn parse_one(data: &[u8]) -> Option<(Frame<'_>, usize)> {
    let command_end = data.iter().position(|&b| b == b'\n')?;
    let command = &data[..command_end];
    let command = command.strip_suffix(b"\r").unwrap_or(command);
    // The header section ends at the first empty line.
    let mut at = command_end + 1;
    let head_start = at;
    let head_end = loop {
        let eol = at + data[at..].iter().position(|&b| b == b'\n')?;
        let line = &data[at..eol];
        if line.is_empty() || line == b"\r" {
            break at;
        }
        at = eol + 1;
    };
    let body_start = data[head_end..].iter().position(|&b| b == b'\n')? + head_end + 1;
    let mut frame = Frame {
        command,
        head: &data[head_start..head_end],
        body_len: 0,
    };
    let body_len = match frame.header(b"content-length") {
        Some(v) => std::str::from_utf8(v)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or_else(|| fail("bad content-length")),
        None => data[body_start..].iter().position(|&b| b == 0)?,
    };
    let nul = body_start + body_len;
    match data.get(nul) {
        None => return None,
        Some(0) => {}
        Some(_) => fail("no NUL after the body"),
    }
    frame.body_len = body_len;
    Some((frame, nul + 1))
}

fn connect(url: &str) -> (Conn, Parser) {
    let mut conn = Conn::open(url);
    let mut parser = Parser::default();
    conn.send(b"CONNECT\naccept-version:1.2,1.1,1.0\nheart-beat:0,0\n\n\0");
    conn.read_until(&mut parser, |f| {
        f.check_not_error();
        if f.command != b"CONNECTED" {
            fail(format!(
                "expected CONNECTED, got {}",
                String::from_utf8_lossy(f.command)
            ));
        }
        true
    });
    (conn, parser)
}

fn disconnect(mut conn: Conn, mut parser: Parser) {
    conn.send(b"DISCONNECT\nreceipt:bye\n\n\0");
    // RabbitMQ over ws never sends this RECEIPT (it closes instead), so only wait on
    // tcp; on ws a close frame is sent and the socket dropped.
    match conn {
        Conn::Tcp(..) => conn.read_until(&mut parser, |f| {
            f.check_not_error();
            f.command == b"RECEIPT"
        }),
        Conn::Ws(ref mut ws) => {
            let _ = ws.close(None);
            let _ = ws.flush();
        }
    }
}

fn consume(url: &str, n: u64, size: usize) -> f64 {
    let (mut conn, mut parser) = connect(url);
    let t0 = Instant::now();
    conn.send(
        format!("SUBSCRIBE\nid:0\ndestination:{DESTINATION}\nack:auto\nx-count:{n}\nx-size:{size}\n\n\0")
            .as_bytes(),
    );
    let mut got = 0u64;
    conn.read_until(&mut parser, |f| {
        if f.command != b"MESSAGE" {
            f.check_not_error();
            fail(format!(
                "unexpected {} frame",
                String::from_utf8_lossy(f.command)
            ));
        }
        if f.header(b"x-last") == Some(b"true") {
            return true;
        }
        if f.body_len != size {
            fail(format!("body of {} bytes, expected {size}", f.body_len));
        }
        got += 1;
        false
    });
    let secs = t0.elapsed().as_secs_f64();
    if got != n {
        fail(format!("received {got} messages, expected {n}"));
    }
    disconnect(conn, parser);
    secs
}

fn preload(url: &str, n: u64, size: usize) {
    let (conn, mut parser) = connect(url);
    let body: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
    let mut frame =
        format!("SEND\ndestination:{DESTINATION}\ncontent-length:{size}\n\n").into_bytes();
    frame.extend_from_slice(&body);
    frame.push(0);
    let last = format!(
        "SEND\ndestination:{DESTINATION}\nx-last:true\nreceipt:loaded\ncontent-length:0\n\n\0"
    );
    let mut conn = match conn {
        Conn::Tcp(s, buf) => {
            // Batched writes: the broker reads a stream, frame boundaries do not matter.
            let mut w = BufWriter::with_capacity(256 * 1024, s);
            for _ in 0..n {
                w.write_all(&frame)
                    .unwrap_or_else(|e| fail(format!("send: {e}")));
            }
            w.write_all(last.as_bytes())
                .unwrap_or_else(|e| fail(format!("send: {e}")));
            let s = w
                .into_inner()
                .unwrap_or_else(|e| fail(format!("send: {}", e.error())));
            Conn::Tcp(s, buf)
        }
        mut ws => {
            for _ in 0..n {
                ws.send(&frame);
            }
            ws.send(last.as_bytes());
            ws
        }
    };
    conn.read_until(&mut parser, |f| {
        f.check_not_error();
        f.command == b"RECEIPT" && f.header(b"receipt-id") == Some(b"loaded")
    });
    disconnect(conn, parser);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 4 {
        fail("usage: bench_raw_consumer URL consume|preload N SIZE");
    }
    let (url, scenario) = (&args[0], args[1].as_str());
    let n: u64 = args[2].parse().unwrap_or_else(|_| fail("bad N"));
    let size: usize = args[3].parse().unwrap_or_else(|_| fail("bad SIZE"));
    let transport = if url.starts_with("ws") { "ws" } else { "tcp" };
    match scenario {
        "consume" => {
            let secs = consume(url, n, size);
            println!(
                "{{\"client\":\"raw\",\"transport\":\"{transport}\",\"scenario\":\"consume\",\"n\":{n},\"size\":{size},\"seconds\":{secs:.6},\"msgs_per_s\":{:.1},\"p50_us\":null,\"p99_us\":null}}",
                n as f64 / secs
            );
        }
        "preload" => preload(url, n, size),
        other => fail(format!("unknown scenario {other}")),
    }
}
