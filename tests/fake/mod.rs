//! A scripted STOMP server for the faults a real broker will not produce on demand:
//! silence, malformed or oversized frames, a connection cut mid-frame, an ERROR that
//! leaves the socket open. Each test writes the server's side as a closure over a
//! [`Peer`].
//!
//! In WebSocket mode the server is strict like ActiveMQ's ws transport: every client
//! message must hold exactly one STOMP frame (or be a heart-beat of exactly `"\n"`), and
//! it records whether frames came as text or binary.
//!
//! [`spring`] serves one WebSocket connection the way a Spring `@EnableWebSocketMessageBroker`
//! server on Tomcat does (DESIGN.md §7): CONNECTED without `server` or `session`, a
//! RECEIPT only for DISCONNECT ([`Peer::receipt`]), a Close 1009 for any message over
//! [`SPRING_MESSAGE_LIMIT`] bytes, and STOMP frames reassembled from as many messages as
//! they come in (several frames in one message too), up to [`SPRING_FRAME_LIMIT`] bytes,
//! beyond which it sends an ERROR and closes. Each frame records the sizes of the messages
//! it came in ([`Seen::messages`]). [`Peer::serve_simple_broker`] plays its simple broker:
//! a SEND comes back as a MESSAGE to each subscription on its destination.
//!
//! [`tcp`] and [`ws`] serve one connection. [`tcp_many`] hands its script a [`Server`]
//! that accepts connection after connection on one port (a client that reconnects), can
//! refuse them (no listener on the port, or a reset right after accept), and records the
//! frames each connection's client sent, in order, for the test to read after
//! [`Many::join`]. [`Events`] collects a client's life-cycle events with timestamps.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use stompws::{Config, Event};

/// How long [`Server::accept`] waits for a client before the script fails.
pub const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest WebSocket message Spring on Tomcat takes by default; a larger one closes
/// the session with 1009.
pub const SPRING_MESSAGE_LIMIT: usize = 16_640;
/// Spring's limit on a STOMP frame being reassembled from several messages.
pub const SPRING_FRAME_LIMIT: usize = 64 * 1024;
/// The reason of Tomcat's Close 1009.
pub const SPRING_1009_REASON: &str = "The decoded text message was too big for the output buffer and the endpoint does not support partial messages";
/// The `message` of Spring's ERROR when a frame passes [`SPRING_FRAME_LIMIT`].
pub const SPRING_BUFFER_ERROR: &str =
    "The configured STOMP buffer size limit of 65536 bytes has been exceeded";

/// How the server side of a connection behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Tcp,
    /// ActiveMQ-strict WebSocket: one frame per message.
    Ws,
    /// Spring on Tomcat over WebSocket.
    Spring,
}

/// A client frame as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub command: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// ws only: the frame came in a binary message (spring: its last message did).
    pub binary: bool,
    /// ws only: the payload sizes of the WebSocket messages the frame came in, in order
    /// (one for the ActiveMQ-strict mode; spring mode: a message that held the end of
    /// one frame and the start of the next counts for both).
    pub messages: Vec<usize>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The server's end of one connection.
pub struct Peer {
    pub stream: TcpStream,
    ws: bool,
    mode: Mode,
    buf: Vec<u8>,
    /// spring: STOMP bytes reassembled from messages, not yet a whole frame.
    stomp: Vec<u8>,
    /// spring: the sizes of the messages whose bytes are in `stomp`.
    stomp_messages: Vec<usize>,
    /// spring: the Close code the server ended the connection with (1009), or the ERROR
    /// it sent ([`SPRING_BUFFER_ERROR`]), once it did.
    pub spring_ended: Option<String>,
    /// ws: heart-beat messages received.
    pub heartbeats: usize,
    /// Where every frame read is also recorded ([`tcp_many`] connections only).
    log: Option<Arc<Mutex<Vec<Seen>>>>,
    /// The connection's number on its server, from 0 (always 0 for [`tcp`] and [`ws`]).
    pub index: usize,
}

/// A running scripted server; `url` is what the client connects to.
pub struct Fake {
    pub url: String,
    handle: Option<JoinHandle<()>>,
}

impl Fake {
    /// Waits for the script to finish, re-raising its panic (a failed server-side check).
    pub fn join(mut self) {
        if let Some(h) = self.handle.take() {
            if let Err(p) = h.join() {
                std::panic::resume_unwind(p);
            }
        }
    }
}

/// Plain STOMP over TCP.
pub fn tcp(script: impl FnOnce(Peer) + Send + 'static) -> Fake {
    start(Mode::Tcp, script)
}

/// STOMP over WebSocket (path `/ws`), ActiveMQ-strict.
pub fn ws(script: impl FnOnce(Peer) + Send + 'static) -> Fake {
    start(Mode::Ws, script)
}

/// STOMP over WebSocket (path `/ws`) the way Spring on Tomcat serves it (see the module
/// documentation).
pub fn spring(script: impl FnOnce(Peer) + Send + 'static) -> Fake {
    start(Mode::Spring, script)
}

fn start(mode: Mode, script: impl FnOnce(Peer) + Send + 'static) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = if mode == Mode::Tcp {
        format!("tcp://127.0.0.1:{port}")
    } else {
        format!("ws://127.0.0.1:{port}/ws")
    };
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        script(Peer::with_mode(stream, mode, None, 0));
    });
    Fake {
        url,
        handle: Some(handle),
    }
}

impl Peer {
    fn new(stream: TcpStream, ws: bool, log: Option<Arc<Mutex<Vec<Seen>>>>, index: usize) -> Peer {
        let mode = if ws { Mode::Ws } else { Mode::Tcp };
        Peer::with_mode(stream, mode, log, index)
    }

    fn with_mode(
        stream: TcpStream,
        mode: Mode,
        log: Option<Arc<Mutex<Vec<Seen>>>>,
        index: usize,
    ) -> Peer {
        let ws = mode != Mode::Tcp;
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let mut peer = Peer {
            stream,
            ws,
            mode,
            stomp: Vec::new(),
            stomp_messages: Vec::new(),
            spring_ended: None,
            buf: Vec::new(),
            heartbeats: 0,
            log,
            index,
        };
        if ws {
            peer.accept_upgrade();
        }
        peer
    }

    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    fn accept_upgrade(&mut self) {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.fill(), "client went away during the upgrade");
        };
        let req = String::from_utf8(self.buf.drain(..end).collect()).unwrap();
        let key = req
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .or_else(|| {
                req.lines()
                    .find_map(|l| l.strip_prefix("sec-websocket-key: "))
            })
            .expect("no Sec-WebSocket-Key");
        let accept = tungstenite::handshake::derive_accept_key(key.trim().as_bytes());
        let proto = if req.contains("v12.stomp") {
            "Sec-WebSocket-Protocol: v12.stomp\r\n"
        } else {
            ""
        };
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{proto}\r\n"
        );
        self.stream.write_all(resp.as_bytes()).unwrap();
    }

    /// ws: the next client message (opcode, unmasked payload); None when the client left.
    /// Spring mode: None also after a message over [`SPRING_MESSAGE_LIMIT`], which the
    /// server answered, from its header alone, with a Close 1009 (see
    /// [`Peer::spring_ended`]).
    pub fn read_message(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if self.mode == Mode::Spring {
                if let Some(len) = ws_payload_len(&self.buf) {
                    if len > SPRING_MESSAGE_LIMIT {
                        self.spring_close(1009, SPRING_1009_REASON);
                        return None;
                    }
                }
            }
            if let Some((op, payload, used)) = parse_ws(&self.buf) {
                self.buf.drain(..used);
                return Some((op, payload));
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// The next client frame (heart-beats skipped and counted); None when the client left.
    pub fn read_frame(&mut self) -> Option<Seen> {
        let f = self.read_frame_unlogged()?;
        if let Some(log) = &self.log {
            log.lock().unwrap().push(f.clone());
        }
        Some(f)
    }

    fn read_frame_unlogged(&mut self) -> Option<Seen> {
        if self.mode == Mode::Spring {
            return self.read_spring_frame();
        }
        if self.ws {
            loop {
                let (op, payload) = self.read_message()?;
                match op {
                    0x8 => return None,
                    0x9 | 0xA => continue,
                    0x1 | 0x2 => {}
                    other => panic!("unexpected opcode {other}"),
                }
                if payload == b"\n" {
                    assert_eq!(op, 0x1, "a heart-beat must be a text message");
                    self.heartbeats += 1;
                    continue;
                }
                let (seen, used) =
                    parse_stomp(&payload).expect("a ws message without a whole frame");
                assert_eq!(used, payload.len(), "more than one frame in one ws message");
                return Some(Seen {
                    binary: op == 0x2,
                    messages: vec![payload.len()],
                    ..seen
                });
            }
        }
        loop {
            while self.buf.first().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                self.buf.remove(0);
                self.heartbeats += 1;
            }
            if let Some((seen, used)) = parse_stomp(&self.buf) {
                self.buf.drain(..used);
                return Some(seen);
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Spring: the next frame reassembled from as many messages as it takes.
    fn read_spring_frame(&mut self) -> Option<Seen> {
        let mut binary = false;
        loop {
            // Heart-beats (EOLs) between frames.
            let eols = self
                .stomp
                .iter()
                .take_while(|b| **b == b'\n' || **b == b'\r')
                .count();
            if eols > 0 {
                self.heartbeats += self.stomp[..eols].iter().filter(|b| **b == b'\n').count();
                self.stomp.drain(..eols);
                if self.stomp.is_empty() {
                    self.stomp_messages.clear();
                }
            }
            if let Some((seen, used)) = parse_stomp(&self.stomp) {
                self.stomp.drain(..used);
                let messages = std::mem::take(&mut self.stomp_messages);
                if !self.stomp.is_empty() {
                    // The last message holds the start of the next frame too.
                    self.stomp_messages.push(*messages.last().unwrap());
                }
                return Some(Seen {
                    binary,
                    messages,
                    ..seen
                });
            }
            let (op, payload) = self.read_message()?;
            match op {
                0x8 => return None,
                0x9 | 0xA => continue,
                0x1 | 0x2 => {}
                other => panic!("unexpected opcode {other}"),
            }
            binary = op == 0x2;
            self.stomp_messages.push(payload.len());
            self.stomp.extend_from_slice(&payload);
            // Spring's BufferingStompDecoder: the bytes buffered, or the content-length
            // announced, past the limit is an ERROR.
            if self.stomp.len() > SPRING_FRAME_LIMIT
                || declared_length(&self.stomp).is_some_and(|n| n > SPRING_FRAME_LIMIT)
            {
                let error = format!("ERROR\nmessage:{SPRING_BUFFER_ERROR}\n\n\0");
                self.send(error.as_bytes());
                self.spring_close(1002, "");
                self.spring_ended = Some(SPRING_BUFFER_ERROR.to_string());
                return None;
            }
        }
    }

    /// Spring: sends a Close with `code` and `reason`, then reads whatever the client
    /// still sends until it closes (at most 5 s), so that closing does not reset the
    /// connection under the client's feet before it read the Close.
    fn spring_close(&mut self, code: u16, reason: &str) {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        self.send_message(0x8, &payload);
        self.spring_ended = Some(code.to_string());
        let _ = self.stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut sink = [0u8; 65536];
        while matches!(self.stream.read(&mut sink), Ok(n) if n > 0) {}
    }

    /// Reads frames until one with this command comes.
    pub fn expect(&mut self, command: &str) -> Seen {
        loop {
            let f = self
                .read_frame()
                .unwrap_or_else(|| panic!("client left while the server expected {command}"));
            if f.command == command {
                return f;
            }
        }
    }

    /// Sends raw STOMP bytes (in ws mode as one text message).
    pub fn send(&mut self, bytes: &[u8]) {
        if self.ws {
            self.send_message(0x1, bytes);
        } else {
            let _ = self.stream.write_all(bytes);
        }
    }

    /// ws: one unmasked server message.
    pub fn send_message(&mut self, opcode: u8, payload: &[u8]) {
        let _ = self.stream.write_all(&ws_frame(true, opcode, payload));
    }

    /// Reads CONNECT and answers CONNECTED with this version and heart-beat (spring:
    /// without `server` and `session`, as Spring answers).
    pub fn handshake(&mut self, version: &str, heart_beat: &str) -> Seen {
        let connect = self.expect("CONNECT");
        let reply = if self.mode == Mode::Spring {
            format!("CONNECTED\nversion:{version}\nheart-beat:{heart_beat}\n\n\0")
        } else {
            format!("CONNECTED\nversion:{version}\nheart-beat:{heart_beat}\nserver:fake/1\nsession:s-1\n\n\0")
        };
        self.send(reply.as_bytes());
        connect
    }

    /// Answers a frame's receipt, if it asked for one (spring: only DISCONNECT's).
    pub fn receipt(&mut self, f: &Seen) {
        if self.mode == Mode::Spring && f.command != "DISCONNECT" {
            return;
        }
        if let Some(r) = f.header("receipt") {
            let reply = format!("RECEIPT\nreceipt-id:{r}\n\n\0");
            self.send(reply.as_bytes());
        }
    }

    /// Serves like a well-behaved broker until DISCONNECT: receipts for everything.
    pub fn serve_until_disconnect(&mut self) -> Vec<Seen> {
        let mut seen = Vec::new();
        while let Some(f) = self.read_frame() {
            self.receipt(&f);
            let done = f.command == "DISCONNECT";
            seen.push(f);
            if done {
                break;
            }
        }
        seen
    }

    /// Serves like a simple broker (Spring's `enableSimpleBroker`) until DISCONNECT:
    /// each SUBSCRIBE is remembered, each UNSUBSCRIBE forgets its id, and each SEND goes
    /// back as a MESSAGE to every subscription on its destination, with the SEND's other
    /// headers (Spring's simple broker copies a SEND's native headers onto the MESSAGEs
    /// it makes). Receipts as [`Peer::receipt`] answers them: in spring mode only
    /// DISCONNECT's. Returns the frames read.
    pub fn serve_simple_broker(&mut self) -> Vec<Seen> {
        let mut subs: Vec<(String, String)> = Vec::new();
        let mut seen = Vec::new();
        let mut next_message = 0;
        while let Some(f) = self.read_frame() {
            match f.command.as_str() {
                "SUBSCRIBE" => subs.push((
                    f.header("id").unwrap_or("").to_string(),
                    f.header("destination").unwrap_or("").to_string(),
                )),
                "UNSUBSCRIBE" => subs.retain(|(id, _)| Some(id.as_str()) != f.header("id")),
                "SEND" => {
                    let destination = f.header("destination").unwrap_or("");
                    for (id, _) in subs.iter().filter(|(_, d)| d == destination) {
                        next_message += 1;
                        let mut frame = format!(
                            "MESSAGE\ndestination:{destination}\nsubscription:{id}\n\
                             message-id:m-{next_message}\ncontent-length:{}\n",
                            f.body.len()
                        );
                        for (n, v) in &f.headers {
                            if !["destination", "content-length", "receipt"].contains(&n.as_str()) {
                                frame.push_str(&format!("{n}:{v}\n"));
                            }
                        }
                        let mut bytes = frame.into_bytes();
                        bytes.push(b'\n');
                        bytes.extend_from_slice(&f.body);
                        bytes.push(0);
                        self.send(&bytes);
                    }
                }
                _ => {}
            }
            self.receipt(&f);
            let done = f.command == "DISCONNECT";
            seen.push(f);
            if done {
                break;
            }
        }
        seen
    }

    /// Reads until the client closes the connection (EOF or a ws Close).
    pub fn wait_close(&mut self) {
        while self.read_frame().is_some() {}
    }

    /// Reads CONNECT and answers CONNECTED with these values (`server` and `session`
    /// let a test tell one session from the next).
    pub fn handshake_as(
        &mut self,
        version: &str,
        heart_beat: &str,
        server: &str,
        session: &str,
    ) -> Seen {
        let connect = self.expect("CONNECT");
        let reply = format!(
            "CONNECTED\nversion:{version}\nheart-beat:{heart_beat}\nserver:{server}\nsession:{session}\n\n\0"
        );
        self.send(reply.as_bytes());
        connect
    }

    /// Reads CONNECT and answers it with an ERROR carrying `message`, then closes the
    /// connection cleanly (as brokers do after refusing a login).
    pub fn refuse_connect(mut self, message: &str) -> Seen {
        let connect = self.expect("CONNECT");
        let reply = format!("ERROR\nmessage:{message}\n\nrefused by the script\0");
        self.send(reply.as_bytes());
        self.close();
        connect
    }

    /// Sends an ERROR frame (no `receipt-id`) carrying `message`, then closes cleanly.
    pub fn error_and_close(mut self, message: &str) {
        let reply = format!("ERROR\nmessage:{message}\n\nclosed by the script\0");
        self.send(reply.as_bytes());
        self.close();
    }

    /// Sends a MESSAGE on subscription `sub` with `ack` as its 1.2 `ack` header (and
    /// `message-id`), body `body`.
    pub fn message(&mut self, sub: &str, destination: &str, ack: &str, body: &str) {
        let frame = format!(
            "MESSAGE\nsubscription:{sub}\ndestination:{destination}\nmessage-id:{ack}\nack:{ack}\ncontent-length:{}\n\n{body}\0",
            body.len()
        );
        self.send(frame.as_bytes());
    }

    /// Serves like a well-behaved broker (receipts for everything) until a SEND to
    /// `destination` came; answers its receipt too and returns the frames read. The
    /// tests use it as an in-band trigger: when the client's `send_with_receipt` to that
    /// destination returns, every frame the server sent before was read by the client.
    pub fn serve_until_send(&mut self, destination: &str) -> Vec<Seen> {
        let mut seen = Vec::new();
        loop {
            let f = self.read_frame().unwrap_or_else(|| {
                panic!("client left while the server waited for a SEND to {destination}")
            });
            self.receipt(&f);
            let done = f.command == "SEND" && f.header("destination") == Some(destination);
            seen.push(f);
            if done {
                return seen;
            }
        }
    }

    /// Drops the connection abruptly: SO_LINGER 0, then close, so the client gets an RST
    /// (ECONNRESET), not a FIN.
    pub fn reset(self) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket descriptor owned by self.stream, and a pointer to a
        // live `linger` with its exact size.
        let r = unsafe {
            libc::setsockopt(
                self.stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(
            r,
            0,
            "setsockopt(SO_LINGER): {}",
            std::io::Error::last_os_error()
        );
        drop(self.stream);
    }

    /// Closes the connection cleanly: the client reads end-of-stream (a FIN).
    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// The payload length of the client ws frame starting `b`, once its length field is in.
fn ws_payload_len(b: &[u8]) -> Option<usize> {
    match *b.get(1)? & 0x7F {
        126 if b.len() >= 4 => Some(u16::from_be_bytes([b[2], b[3]]) as usize),
        127 if b.len() >= 10 => Some(u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize),
        126 | 127 => None,
        n => Some(n as usize),
    }
}

/// Parses one client ws frame from `b`: (opcode, payload, bytes used).
fn parse_ws(b: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    if b.len() < 2 {
        return None;
    }
    assert!(
        b[0] & 0x80 != 0,
        "fragmented client message (ActiveMQ closes on these)"
    );
    let op = b[0] & 0x0F;
    assert!(b[1] & 0x80 != 0, "client frames must be masked");
    let (len, mut pos) = match b[1] & 0x7F {
        126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
        127 if b.len() >= 10 => (
            u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
            10,
        ),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    if b.len() < pos + 4 + len {
        return None;
    }
    let mask = [b[pos], b[pos + 1], b[pos + 2], b[pos + 3]];
    pos += 4;
    let payload = b[pos..pos + len]
        .iter()
        .enumerate()
        .map(|(i, x)| x ^ mask[i % 4])
        .collect();
    Some((op, payload, pos + len))
}

/// The `content-length` of the frame starting `b`, once its head is complete.
fn declared_length(b: &[u8]) -> Option<usize> {
    let head_end = b.windows(2).position(|w| w == b"\n\n")?;
    std::str::from_utf8(&b[..head_end])
        .ok()?
        .split('\n')
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Parses one STOMP frame (no unescaping: the tests compare wire text) from `b`.
fn parse_stomp(b: &[u8]) -> Option<(Seen, usize)> {
    let head_end = b.windows(2).position(|w| w == b"\n\n")?;
    let head = std::str::from_utf8(&b[..head_end]).expect("frame head is not UTF-8");
    let mut lines = head.split('\n');
    let command = lines.next().unwrap().to_string();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header without a colon");
            (n.to_string(), v.to_string())
        })
        .collect();
    let start = head_end + 2;
    let len = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map(|(_, v)| v.parse::<usize>().unwrap());
    let body_end = match len {
        Some(n) => start + n,
        None => start + b[start..].iter().position(|&x| x == 0)?,
    };
    if b.len() <= body_end {
        return None;
    }
    assert_eq!(b[body_end], 0, "frame body not followed by NUL");
    let seen = Seen {
        command,
        headers,
        body: b[start..body_end].to_vec(),
        binary: false,
        messages: Vec::new(),
    };
    Some((seen, body_end + 1))
}

/// An unmasked server WebSocket frame: FIN when `fin`, then `opcode`, then `payload`.
pub fn ws_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let n = payload.len();
    if n < 126 {
        out.push(n as u8);
    } else if n < 65536 {
        out.push(126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// One connection's recorded frames, shared by its [`Peer`] and the test.
type Log = Arc<Mutex<Vec<Seen>>>;

/// The listening side of [`tcp_many`], handed to its script: accepts the client's
/// connections one after the other on one port, or refuses them.
pub struct Server {
    addr: SocketAddr,
    listener: Option<TcpListener>,
    ws: bool,
    logs: Arc<Mutex<Vec<Log>>>,
    accepted: Arc<Mutex<Vec<Instant>>>,
}

/// A running [`tcp_many`] server.
pub struct Many<T> {
    /// What the client connects to: `tcp://127.0.0.1:PORT`.
    pub url: String,
    handle: Option<JoinHandle<T>>,
    logs: Arc<Mutex<Vec<Log>>>,
    accepted: Arc<Mutex<Vec<Instant>>>,
}

/// A server on `tcp://127.0.0.1:PORT` whose script accepts (or refuses) as many
/// connections as it likes through the [`Server`] it is given; its return value comes
/// back from [`Many::join`].
pub fn tcp_many<T: Send + 'static>(
    script: impl FnOnce(&mut Server) -> T + Send + 'static,
) -> Many<T> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let logs: Arc<Mutex<Vec<Log>>> = Arc::default();
    let accepted: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let mut server = Server {
        addr,
        listener: Some(listener),
        ws: false,
        logs: Arc::clone(&logs),
        accepted: Arc::clone(&accepted),
    };
    let handle = thread::spawn(move || script(&mut server));
    Many {
        url: format!("tcp://127.0.0.1:{}", addr.port()),
        handle: Some(handle),
        logs,
        accepted,
    }
}

/// A `tcp://` URL on which nothing listens: connecting is refused at once (ECONNREFUSED).
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("tcp://127.0.0.1:{port}")
}

impl<T> Many<T> {
    /// Waits for the script to finish and returns its value, re-raising its panic (a
    /// failed server-side check). The recorded frames stay readable afterwards.
    pub fn join(&mut self) -> T {
        let handle = self.handle.take().expect("joined twice");
        match handle.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    /// The frames the client sent on connection `index` (from 0), in order, as far as
    /// the script read them.
    pub fn frames(&self, index: usize) -> Vec<Seen> {
        let logs = self.logs.lock().unwrap();
        match logs.get(index) {
            Some(log) => log.lock().unwrap().clone(),
            None => panic!(
                "connection {index} was never accepted ({} were)",
                logs.len()
            ),
        }
    }

    /// How many connections the script accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }

    /// When each accepted connection was accepted.
    pub fn accept_times(&self) -> Vec<Instant> {
        self.accepted.lock().unwrap().clone()
    }
}

impl Server {
    /// The next connection; the script fails after [`ACCEPT_TIMEOUT`] without one.
    pub fn accept(&mut self) -> Peer {
        self.accept_timeout(ACCEPT_TIMEOUT)
            .unwrap_or_else(|| panic!("no connection within {ACCEPT_TIMEOUT:?}"))
    }

    /// The next connection, or None when none came within `timeout` (or the listener is
    /// closed).
    pub fn accept_timeout(&mut self, timeout: Duration) -> Option<Peer> {
        let deadline = Instant::now() + timeout;
        let Some(listener) = &self.listener else {
            thread::sleep(timeout);
            return None;
        };
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    let at = Instant::now();
                    stream.set_nonblocking(false).unwrap();
                    let log: Log = Arc::default();
                    let index = {
                        let mut logs = self.logs.lock().unwrap();
                        logs.push(Arc::clone(&log));
                        logs.len() - 1
                    };
                    self.accepted.lock().unwrap().push(at);
                    return Some(Peer::new(stream, self.ws, Some(log), index));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    /// Fails the script if a connection comes within `d` (the listener must be open).
    pub fn expect_no_connection(&mut self, d: Duration) {
        assert!(
            self.listener.is_some(),
            "the listener is closed: nothing could come"
        );
        if let Some(p) = self.accept_timeout(d) {
            panic!("unexpected connection number {} within {d:?}", p.index);
        }
    }

    /// Accepts the next connection and resets it at once (an RST right after accept).
    /// Returns when it was accepted.
    pub fn reset_next(&mut self) -> Instant {
        let p = self.accept();
        p.reset();
        *self.accepted.lock().unwrap().last().unwrap()
    }

    /// Closes the listening socket: connecting to the port is refused (ECONNREFUSED),
    /// and connections the kernel had queued but nobody accepted are reset.
    pub fn close_listener(&mut self) {
        self.listener = None;
    }

    /// Listens on the same port again after [`Server::close_listener`].
    pub fn reopen(&mut self) {
        if self.listener.is_some() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        listener.set_nonblocking(true).unwrap();
        self.listener = Some(listener);
    }
}

/// One life-cycle event as [`Events`] saw it.
#[derive(Debug, Clone)]
pub struct Ev {
    /// When the callback ran.
    pub at: Instant,
    pub event: Event,
    pub detail: String,
}

/// Collects the events of `Config::on_event`, with the time each arrived.
#[derive(Clone, Default)]
pub struct Events {
    inner: Arc<(Mutex<Vec<Ev>>, Condvar)>,
}

impl Events {
    pub fn new() -> Events {
        Events::default()
    }

    /// `config` with an event callback that records into this collector.
    pub fn attach(&self, config: Config) -> Config {
        let me = self.clone();
        config.on_event(move |event, detail| me.record(event, detail))
    }

    /// Records one event (for a test's own callback that also does something else).
    pub fn record(&self, event: Event, detail: &str) {
        let (list, cv) = &*self.inner;
        list.lock().unwrap().push(Ev {
            at: Instant::now(),
            event,
            detail: detail.to_string(),
        });
        cv.notify_all();
    }

    /// Every event so far, in order.
    pub fn all(&self) -> Vec<Ev> {
        self.inner.0.lock().unwrap().clone()
    }

    /// The kinds of every event so far, in order.
    pub fn kinds(&self) -> Vec<Event> {
        self.all().into_iter().map(|e| e.event).collect()
    }

    /// The events of one kind so far, in order.
    pub fn of(&self, event: Event) -> Vec<Ev> {
        self.all()
            .into_iter()
            .filter(|e| e.event == event)
            .collect()
    }

    /// Waits up to `timeout` for the `n`th (from 1) event of kind `event` and returns
    /// it; panics with the events seen when it does not come.
    #[track_caller]
    pub fn wait_nth(&self, event: Event, n: usize, timeout: Duration) -> Ev {
        let deadline = Instant::now() + timeout;
        let (list, cv) = &*self.inner;
        let mut guard = list.lock().unwrap();
        loop {
            if let Some(e) = guard.iter().filter(|e| e.event == event).nth(n - 1) {
                return e.clone();
            }
            let now = Instant::now();
            if now >= deadline {
                let seen: Vec<(Event, &str)> =
                    guard.iter().map(|e| (e.event, e.detail.as_str())).collect();
                panic!("no {event:?} number {n} within {timeout:?}; events: {seen:?}");
            }
            guard = cv.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }

    /// Waits up to `timeout` for the first event of kind `event`.
    #[track_caller]
    pub fn wait(&self, event: Event, timeout: Duration) -> Ev {
        self.wait_nth(event, 1, timeout)
    }
}
