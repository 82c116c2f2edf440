//! A scripted STOMP server for the faults a real broker will not produce on demand:
//! silence, malformed or oversized frames, a connection cut mid-frame, an ERROR that
//! leaves the socket open. Each test writes the server's side as a closure over a
//! [`Peer`].
//!
//! In WebSocket mode the server is strict like ActiveMQ's ws transport: every client
//! message must hold exactly one STOMP frame (or be a heart-beat of exactly `"\n"`), and
//! it records whether frames came as text or binary.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A client frame as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub command: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// ws only: the frame came in a binary message.
    pub binary: bool,
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
    buf: Vec<u8>,
    /// ws: heart-beat messages received.
    pub heartbeats: usize,
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
    start(false, script)
}

/// STOMP over WebSocket (path `/ws`), ActiveMQ-strict.
pub fn ws(script: impl FnOnce(Peer) + Send + 'static) -> Fake {
    start(true, script)
}

fn start(ws: bool, script: impl FnOnce(Peer) + Send + 'static) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = if ws {
        format!("ws://127.0.0.1:{port}/ws")
    } else {
        format!("tcp://127.0.0.1:{port}")
    };
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        let mut peer = Peer {
            stream,
            ws,
            buf: Vec::new(),
            heartbeats: 0,
        };
        if ws {
            peer.accept_upgrade();
        }
        script(peer);
    });
    Fake {
        url,
        handle: Some(handle),
    }
}

impl Peer {
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
    pub fn read_message(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
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

    /// Reads CONNECT and answers CONNECTED with this version and heart-beat.
    pub fn handshake(&mut self, version: &str, heart_beat: &str) -> Seen {
        let connect = self.expect("CONNECT");
        let reply = format!("CONNECTED\nversion:{version}\nheart-beat:{heart_beat}\nserver:fake/1\nsession:s-1\n\n\0");
        self.send(reply.as_bytes());
        connect
    }

    /// Answers a frame's receipt, if it asked for one.
    pub fn receipt(&mut self, f: &Seen) {
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

    /// Reads until the client closes the connection (EOF or a ws Close).
    pub fn wait_close(&mut self) {
        while self.read_frame().is_some() {}
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
