//! The WebSocket opening handshake, client side (RFC 6455 §4.1), over a non-blocking
//! stream within a deadline.
//!
//! tungstenite provides the key and the accept-key derivation; the request and response
//! are handled here because tungstenite's handshake machine would own the stream, blocks
//! or hands back `WouldBlock` states of its own, and rejects the answer ActiveMQ gives
//! (a subprotocol we did not offer).

use std::io::{self, Read, Write};
use std::time::Instant;

use tungstenite::handshake::client::generate_key;
use tungstenite::handshake::derive_accept_key;

use super::fd::wait_fd;
use super::stream::Stream;
use super::url::{Endpoint, Scheme};
use crate::config::{check_http_header, Config};
use crate::error::{Error, Result};

/// The most we read looking for the end of the response head.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// What the upgrade produced besides the open WebSocket.
#[derive(Debug)]
pub(crate) struct Upgraded {
    /// Bytes that arrived after the response head: the start of the WebSocket stream.
    pub leftover: Vec<u8>,
    /// The server's `Sec-WebSocket-Protocol`, if it sent one.
    pub subprotocol: Option<String>,
}

/// Sends the upgrade request and checks the answer.
///
/// Errors: [`Error::Timeout`] when the deadline passes; [`Error::Handshake`] when the
/// server answers with another status than 101 (the detail holds its status line and the
/// peer); [`Error::Protocol`] as soon as the first bytes of the answer are not HTTP (a
/// STOMP port answering in STOMP, a TLS port answering with a TLS record: the text says
/// which scheme was probably meant), and when a 101 answer is malformed or wrong (no
/// `Upgrade: websocket`, no `Connection: upgrade`, a wrong `Sec-WebSocket-Accept`, an
/// extension we did not offer) or the head passes 64 KiB; [`Error::Io`] when the
/// connection fails or closes first; [`Error::InvalidArgument`] for a config that cannot
/// make a request (unknown version, a bad http header).
///
/// A subprotocol that we did not offer is accepted and recorded, against RFC 6455:
/// ActiveMQ answers `stomp` whatever was offered, and refusing it would make ActiveMQ
/// unreachable over ws.
pub(crate) fn upgrade(
    stream: &mut Stream,
    ep: &Endpoint,
    config: &Config,
    deadline: Instant,
) -> Result<Upgraded> {
    let key = generate_key();
    let request = build_request(ep, config, &key)?;
    write_all(stream, request.as_bytes(), deadline)?;
    let (head_len, mut buf) = read_head(stream, ep, deadline)?;
    let leftover = buf.split_off(head_len);
    let response = Response::parse(&buf, stream.peer())?;
    let subprotocol = response.check(&key, &ep.path, stream.peer())?;
    Ok(Upgraded {
        leftover,
        subprotocol,
    })
}

/// The request: our headers first, then the caller's verbatim (Authorization, Cookie,
/// Origin...). A caller header that repeats one of ours is sent as well; the server sees
/// both.
pub(crate) fn build_request(ep: &Endpoint, config: &Config, key: &str) -> Result<String> {
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
        ep.path,
        ep.host_header()
    );
    let protocols = config.offered_subprotocols()?;
    if !protocols.is_empty() {
        req.push_str("Sec-WebSocket-Protocol: ");
        req.push_str(&protocols.join(", "));
        req.push_str("\r\n");
    }
    for (name, value) in &config.http_headers {
        // Checked again here, whoever built the config: a CR or LF in a value would let
        // it write headers of its own choosing (request splitting).
        check_http_header(name, value)?;
        req.push_str(name);
        req.push_str(": ");
        req.push_str(value);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    Ok(req)
}

/// Writes all of `bytes` to the non-blocking stream, waiting for room until `deadline`.
fn write_all(stream: &mut Stream, mut bytes: &[u8], deadline: Instant) -> Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => {
                return Err(Error::Io(format!(
                    "{}: connection closed while sending the WebSocket upgrade",
                    stream.peer()
                )))
            }
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_fd(stream.raw_fd(), false, true, deadline)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(stream.peer(), &e)),
        }
    }
    loop {
        match stream.flush() {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_fd(stream.raw_fd(), false, true, deadline)?
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(stream.peer(), &e)),
        }
    }
}

/// Reads until the blank line that ends the response head. Returns the head's length
/// (blank line included) and everything read, which may go on past the head.
///
/// Reads until `WouldBlock` before polling (see [`Stream`]: TLS may hold decrypted bytes
/// poll cannot see), and scans each byte for the terminator once.
fn read_head(stream: &mut Stream, ep: &Endpoint, deadline: Instant) -> Result<(usize, Vec<u8>)> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut scanned: usize = 0;
    loop {
        let have = buf.len();
        // Never read more than the cap plus one chunk: a server streaming garbage cannot
        // make us buffer without bound.
        buf.resize(have + 4096, 0);
        let n = match stream.read(&mut buf[have..]) {
            Ok(n) => n,
            Err(e) => {
                buf.truncate(have);
                match e.kind() {
                    io::ErrorKind::WouldBlock => {
                        wait_fd(stream.raw_fd(), true, false, deadline)?;
                        continue;
                    }
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(Error::io(stream.peer(), &e)),
                }
            }
        };
        buf.truncate(have + n);
        if have < SNIFF_LEN {
            not_http(&buf, ep)?;
        }
        if n == 0 {
            return Err(Error::Io(format!(
                "{}: connection closed during the WebSocket upgrade{}",
                stream.peer(),
                if have == 0 {
                    String::new()
                } else {
                    format!(
                        ", after {have} bytes of an incomplete answer starting {:?}",
                        first_line(&buf)
                    )
                }
            )));
        }
        // The terminator may straddle reads: look back 3 bytes.
        let from = scanned.saturating_sub(3);
        if let Some(i) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            let end = from + i + 4;
            if end > MAX_RESPONSE_HEAD {
                return Err(head_too_long(stream.peer()));
            }
            return Ok((end, buf));
        }
        scanned = buf.len();
        if buf.len() >= MAX_RESPONSE_HEAD {
            return Err(head_too_long(stream.peer()));
        }
    }
}

const HTTP: &[u8] = b"HTTP/";
/// How many of the first bytes [`not_http`] may need to tell: a STOMP command and its
/// line end.
const SNIFF_LEN: usize = 16;

/// Fails as soon as the first bytes of the upgrade answer cannot start an HTTP answer,
/// saying what they are and which scheme was probably meant: waiting for the end of an
/// HTTP head that never comes would only end in a timeout or a confusing close.
fn not_http(buf: &[u8], ep: &Endpoint) -> Result<()> {
    let n = buf.len().min(HTTP.len());
    if buf[..n] == HTTP[..n] {
        return Ok(());
    }
    let peer = ep.peer();
    let plain = match ep.scheme {
        Scheme::Wss => "ssl",
        _ => "tcp",
    };
    let line = first_line(buf);
    // A TLS record: content type 20-23, major version 3. (Only over ws://: over wss://
    // these bytes arrive decrypted.)
    if buf.len() >= 2 && (0x14..=0x17).contains(&buf[0]) && buf[1] == 3 {
        return Err(Error::protocol(format!(
            "{peer} answered the WebSocket upgrade request with TLS, not HTTP: it is a \
             TLS port; wss://{peer}{path} was probably meant, not ws://",
            path = ep.path
        )));
    }
    // A STOMP frame: a command of capital letters on a line of its own.
    let command_len = buf.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if command_len > 0 && matches!(buf.get(command_len), Some(b'\n' | b'\r')) {
        return Err(Error::protocol(format!(
            "{peer} answered the WebSocket upgrade request with STOMP ({line:?}), not HTTP: \
             it is a plain STOMP port; {plain}://{peer} was probably meant"
        )));
    }
    if command_len == buf.len() && buf.len() < SNIFF_LEN {
        return Ok(()); // Capital letters so far: wait for the end of the line.
    }
    Err(Error::protocol(format!(
        "{peer} did not answer the WebSocket upgrade request with HTTP: {line:?}"
    )))
}

fn head_too_long(peer: &str) -> Error {
    Error::protocol(format!(
        "{peer}: the WebSocket upgrade answer has no end of headers within {MAX_RESPONSE_HEAD} bytes"
    ))
}

fn first_line(bytes: &[u8]) -> String {
    let line = bytes
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or(&[]);
    let line = &line[..line.len().min(200)];
    String::from_utf8_lossy(line).into_owned()
}

/// A parsed response head.
#[derive(Debug)]
struct Response {
    status_line: String,
    status: u16,
    /// Names lower-cased; values trimmed.
    headers: Vec<(String, String)>,
}

impl Response {
    fn parse(head: &[u8], peer: &str) -> Result<Response> {
        // Header values are ASCII in practice; lossy decoding keeps odd bytes from
        // making a readable answer unreadable.
        let text = String::from_utf8_lossy(head);
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or("").to_string();
        let status = parse_status(&status_line).ok_or_else(|| {
            Error::protocol(format!(
                "{peer} did not answer the WebSocket upgrade with HTTP: {:?}",
                first_line(status_line.as_bytes())
            ))
        })?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.is_empty() {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                // Obsolete line folding (RFC 7230 §3.2.4): continues the previous value.
                if let Some((_, value)) = headers.last_mut() {
                    if !value.is_empty() {
                        value.push(' ');
                    }
                    value.push_str(line.trim());
                    continue;
                }
            }
            let (name, value) = line.split_once(':').ok_or_else(|| {
                Error::protocol(format!(
                    "{peer}: malformed header line in the WebSocket upgrade answer: {line:?}"
                ))
            })?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        Ok(Response {
            status_line,
            status,
            headers,
        })
    }

    /// The first header of that (lower-case) name.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Checks a response to our request with `key`; returns the chosen subprotocol.
    fn check(&self, key: &str, path: &str, peer: &str) -> Result<Option<String>> {
        if self.status != 101 {
            return Err(Error::Handshake(format!(
                "{peer} answered {:?} to the upgrade request for {path}",
                self.status_line
            )));
        }
        let bad = |what: String| {
            Error::protocol(format!("{peer}: invalid WebSocket upgrade answer: {what}"))
        };
        match self.header("upgrade") {
            Some(v) if v.eq_ignore_ascii_case("websocket") => {}
            other => return Err(bad(format!("Upgrade is {other:?}, not \"websocket\""))),
        }
        // Connection is a token list ("keep-alive, Upgrade" is valid); any of the
        // Connection headers may carry the token.
        let has_upgrade = self
            .headers
            .iter()
            .filter(|(n, _)| n == "connection")
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
        if !has_upgrade {
            return Err(bad(format!(
                "Connection is {:?}, without \"upgrade\"",
                self.header("connection")
            )));
        }
        let expected = derive_accept_key(key.as_bytes());
        match self.header("sec-websocket-accept") {
            Some(v) if v == expected => {}
            other => {
                return Err(bad(format!(
                    "Sec-WebSocket-Accept is {other:?}, expected {expected:?}"
                )))
            }
        }
        // We offer no extension, so the server may not choose one: its frames would set
        // reserved bits we cannot interpret.
        if let Some(ext) = self.header("sec-websocket-extensions") {
            if !ext.is_empty() {
                return Err(bad(format!("extension {ext:?} was not offered")));
            }
        }
        Ok(self
            .header("sec-websocket-protocol")
            .filter(|p| !p.is_empty())
            .map(str::to_string))
    }
}

/// The status code of `HTTP/1.x NNN reason`.
fn parse_status(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("HTTP/1.")?;
    let mut parts = rest.splitn(3, ' ');
    let _minor = parts.next()?;
    let code = parts.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::url::parse_url;

    #[test]
    fn request_has_every_header() {
        let ep = parse_url("ws://[::1]:15674/ws?x=1").unwrap();
        let config = Config::new()
            .http_header("Authorization", "Basic Z3Vlc3Q6Z3Vlc3Q=")
            .http_header("Origin", "http://example.com");
        let req = build_request(&ep, &config, "dGhlIHNhbXBsZSBub25jZQ==").unwrap();
        assert_eq!(
            req,
            "GET /ws?x=1 HTTP/1.1\r\nHost: [::1]:15674\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: v12.stomp, v11.stomp, v10.stomp\r\n\
             Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\nOrigin: http://example.com\r\n\r\n"
        );
        let ep = parse_url("wss://example.com/").unwrap();
        let req = build_request(&ep, &Config::new().subprotocols(""), "k").unwrap();
        assert!(req.contains("\r\nHost: example.com\r\n"));
        assert!(!req.contains("Sec-WebSocket-Protocol"));
    }

    #[test]
    fn request_refuses_header_injection() {
        let ep = parse_url("ws://h/").unwrap();
        let config = Config::new().http_header("Cookie", "a\r\nEvil: 1");
        assert!(matches!(
            build_request(&ep, &config, "k"),
            Err(Error::InvalidArgument(_))
        ));
    }

    fn ok_head(key: &str, extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\n\
             connection: keep-alive, upgrade\r\nsec-websocket-accept: {}\r\n{extra}\r\n",
            derive_accept_key(key.as_bytes())
        )
    }

    #[test]
    fn response_checks() {
        let key = "x3JJHMbDL1EzLkh9GBhXDw==";
        let check =
            |head: &str| Response::parse(head.as_bytes(), "peer:1")?.check(key, "/ws", "peer:1");
        assert_eq!(check(&ok_head(key, "")).unwrap(), None);
        assert_eq!(
            check(&ok_head(key, "Sec-WebSocket-Protocol: v12.stomp\r\n")).unwrap(),
            Some("v12.stomp".to_string())
        );
        // ActiveMQ's answer, not offered: accepted.
        assert_eq!(
            check(&ok_head(key, "Sec-WebSocket-Protocol: stomp\r\n")).unwrap(),
            Some("stomp".to_string())
        );
        match check("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n") {
            Err(Error::Handshake(m)) => {
                assert!(
                    m.contains("HTTP/1.1 403 Forbidden") && m.contains("peer:1"),
                    "{m}"
                )
            }
            other => panic!("{other:?}"),
        }
        let wrong = ok_head("another key", "");
        assert!(matches!(check(&wrong), Err(Error::Protocol(m)) if m.contains("Accept")));
        let no_upgrade = ok_head(key, "").replace("upgrade: WebSocket\r\n", "");
        assert!(matches!(check(&no_upgrade), Err(Error::Protocol(m)) if m.contains("Upgrade")));
        let no_conn = ok_head(key, "").replace("keep-alive, upgrade", "keep-alive");
        assert!(matches!(check(&no_conn), Err(Error::Protocol(m)) if m.contains("Connection")));
        let ext = ok_head(key, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
        assert!(matches!(check(&ext), Err(Error::Protocol(m)) if m.contains("extension")));
        assert!(matches!(
            check("SSH-2.0-OpenSSH\r\n\r\n"),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(
            check("HTTP/1.1 101\r\nbad line\r\n\r\n"),
            Err(Error::Protocol(_))
        ));
        let folded = ok_head(key, "Sec-WebSocket-Protocol:\r\n v12.stomp\r\n");
        assert_eq!(check(&folded).unwrap(), Some("v12.stomp".to_string()));
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status("HTTP/1.1 101 Switching Protocols"), Some(101));
        assert_eq!(parse_status("HTTP/1.0 404 Not Found"), Some(404));
        assert_eq!(parse_status("HTTP/1.1 200"), Some(200));
        assert_eq!(parse_status("HTTP/2 101 x"), None);
        assert_eq!(parse_status("HTTP/1.1 1011 x"), None);
        assert_eq!(parse_status("HTTP/1.1 +10 x"), None);
    }
}
