//! `Framing`: how STOMP bytes are put on and taken off the wire, raw or in WebSocket
//! messages. The connection thread talks to this one type whatever the URL scheme.

use super::url::{Endpoint, Scheme};
use super::ws::{ReadOutcome, WsFraming};
use crate::config::Config;
use crate::error::{Error, Result};

/// How STOMP bytes are put on and taken off the wire.
#[derive(Debug)]
pub(crate) enum Framing {
    /// `tcp://`, `ssl://`: STOMP bytes are the wire bytes.
    Raw,
    /// Raw framing whose reader has not yet seen enough of the server's first bytes to
    /// know they are no HTTP answer or TLS record (see [`Sniff`]); it turns into
    /// [`Framing::Raw`] once they are known to be something else.
    RawChecking(Box<Sniff>),
    /// `ws://`, `wss://`: each outbound STOMP frame is one WebSocket message (or, with a
    /// message limit, several); inbound payload is unwrapped from messages of any kind
    /// and size.
    Ws(WsFraming),
}

/// A look at the first bytes the server sends on a raw connection, to say which scheme
/// was meant when a `tcp://` or `ssl://` URL points at an HTTP (WebSocket) port or at a
/// TLS port. Without it the STOMP decoder reads `HTTP/1.1 400 Bad Request` as a frame
/// and reports a confusing "invalid content-length".
#[derive(Debug)]
pub(crate) struct Sniff {
    scheme: Scheme,
    peer: String,
    /// The first bytes from the server, at most [`SNIFF_KEEP`].
    seen: Vec<u8>,
}

/// How many of the first bytes are kept for the error text (an HTTP status line).
const SNIFF_KEEP: usize = 200;

/// What the first bytes of a raw stream are.
#[derive(Debug, PartialEq, Eq)]
enum FirstBytes {
    /// Too few to tell.
    Unknown,
    /// Not HTTP, not TLS: STOMP (or garbage the decoder will name).
    Stomp,
    /// An HTTP answer (`HTTP/`).
    Http,
    /// A TLS record (content type 20-23, then major version 3).
    Tls,
}

fn classify(seen: &[u8]) -> FirstBytes {
    const HTTP: &[u8] = b"HTTP/";
    match seen {
        [] => FirstBytes::Unknown,
        [0x14..=0x17] => FirstBytes::Unknown,
        [0x14..=0x17, 3, ..] => FirstBytes::Tls,
        _ if seen.len() < HTTP.len() && HTTP.starts_with(seen) => FirstBytes::Unknown,
        _ if seen.starts_with(HTTP) => FirstBytes::Http,
        _ => FirstBytes::Stomp,
    }
}

impl Sniff {
    /// Looks at `input`, the next bytes from the server: Ok(true) while it cannot tell
    /// yet, Ok(false) once they are known to be no HTTP answer or TLS record, an error
    /// naming the peer and the scheme probably meant when they are.
    fn check(&mut self, input: &[u8]) -> Result<bool> {
        let room = SNIFF_KEEP - self.seen.len();
        self.seen.extend_from_slice(&input[..room.min(input.len())]);
        match classify(&self.seen) {
            FirstBytes::Unknown => Ok(true),
            FirstBytes::Stomp => Ok(false),
            FirstBytes::Http => Err(self.http_error()),
            FirstBytes::Tls => Err(self.tls_error()),
        }
    }

    fn http_error(&self) -> Error {
        let line = self
            .seen
            .split(|&b| b == b'\r' || b == b'\n')
            .next()
            .unwrap_or_default();
        let ws = if self.scheme == Scheme::Ssl {
            "wss"
        } else {
            "ws"
        };
        Error::protocol(format!(
            "{peer} answered CONNECT with HTTP ({line:?}), not STOMP: it is an HTTP \
             (WebSocket) port; {ws}://{peer}/... was probably meant, not {scheme}://",
            peer = self.peer,
            line = String::from_utf8_lossy(line),
            scheme = scheme_name(self.scheme),
        ))
    }

    fn tls_error(&self) -> Error {
        Error::protocol(format!(
            "{peer} answered CONNECT with TLS, not plain STOMP: it is a TLS port; \
             ssl://{peer} (or wss:// for a WebSocket port) was probably meant, not {scheme}://",
            peer = self.peer,
            scheme = scheme_name(self.scheme),
        ))
    }
}

/// The scheme as written in a URL.
pub(crate) fn scheme_name(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Ws => "ws",
        Scheme::Wss => "wss",
        Scheme::Tcp => "tcp",
        Scheme::Ssl => "ssl",
    }
}

impl Framing {
    /// Raw framing for a connection to `ep`; its reading side checks the server's first
    /// bytes (see [`Sniff`]).
    pub(crate) fn raw(ep: &Endpoint) -> Framing {
        Framing::RawChecking(Box::new(Sniff {
            scheme: ep.scheme,
            peer: ep.peer(),
            seen: Vec::new(),
        }))
    }

    /// The WebSocket framing for a connection made with `config`, with its message limit
    /// (`ws_message_limit`, 0 for none).
    pub(crate) fn websocket(config: &Config) -> Framing {
        Framing::Ws(
            WsFraming::new(config.binary_frames, config.max_frame_size)
                .with_message_limit(Some(config.ws_message_limit)),
        )
    }

    /// A framing for the writing side with the same settings (see [`WsFraming::writer`]).
    pub(crate) fn writer(&self) -> Framing {
        match self {
            Framing::Raw | Framing::RawChecking(_) => Framing::Raw,
            Framing::Ws(ws) => Framing::Ws(ws.writer()),
        }
    }

    /// True for raw framing, where the caller may encode STOMP straight into the output
    /// buffer instead of going through [`Framing::write_frame`].
    pub(crate) fn is_raw(&self) -> bool {
        matches!(self, Framing::Raw | Framing::RawChecking(_))
    }

    /// The most payload bytes per outbound WebSocket message, when a frame longer than
    /// that is split into several messages (`ws_message_limit`); None on raw framing and
    /// when every frame goes as one message. A caller that writes WebSocket frames
    /// itself, rather than through [`Framing::write_frame`] or
    /// [`Framing::write_frame_parts`], must not do so for a frame longer than this.
    #[allow(dead_code)] // For the direct write path in src/connection/direct.rs.
    pub(crate) fn message_limit(&self) -> Option<usize> {
        match self {
            Framing::Raw | Framing::RawChecking(_) => None,
            Framing::Ws(ws) => ws.message_limit(),
        }
    }

    /// Appends one complete, already encoded STOMP frame to `out` as wire bytes. Raw: as
    /// is. WebSocket: one masked message with FIN set, text when the whole frame is UTF-8
    /// and `binary_frames` is off, binary otherwise; with a message limit, a longer frame
    /// goes as several such messages of at most the limit each, a text frame cut on
    /// UTF-8 character boundaries.
    pub(crate) fn write_frame(&mut self, out: &mut Vec<u8>, frame: &[u8]) {
        match self {
            Framing::Raw | Framing::RawChecking(_) => out.extend_from_slice(frame),
            Framing::Ws(ws) => ws.write_frame(out, frame),
        }
    }

    /// [`Framing::write_frame`] for a frame given in pieces; see
    /// [`WsFraming::write_frame_parts`].
    pub(crate) fn write_frame_parts(&mut self, out: &mut Vec<u8>, parts: &[&[u8]]) {
        match self {
            Framing::Raw | Framing::RawChecking(_) => {
                parts.iter().for_each(|p| out.extend_from_slice(p))
            }
            Framing::Ws(ws) => ws.write_frame_parts(out, parts),
        }
    }

    /// How many of the next wire bytes are STOMP bytes that a reader may take off the
    /// socket itself (reporting them with [`Framing::payload_taken`]): all of them on
    /// raw framing, the rest of the current data frame's payload on WebSocket.
    pub(crate) fn payload_room(&self) -> usize {
        match self {
            Framing::Raw | Framing::RawChecking(_) => usize::MAX,
            Framing::Ws(ws) => usize::try_from(ws.payload_remaining()).unwrap_or(usize::MAX),
        }
    }

    /// Accounts for `n` bytes read past the framing, at most [`Framing::payload_room`].
    pub(crate) fn payload_taken(&mut self, n: usize) {
        if let Framing::Ws(ws) = self {
            ws.payload_taken(n);
        }
    }

    /// Appends a heart-beat: raw `"\n"`; WebSocket a text message holding exactly `"\n"`.
    pub(crate) fn write_heartbeat(&mut self, out: &mut Vec<u8>) {
        match self {
            Framing::Raw | Framing::RawChecking(_) => out.push(b'\n'),
            Framing::Ws(ws) => ws.write_heartbeat(out),
        }
    }

    /// Appends the orderly close: WebSocket a Close frame with code 1000, only the first
    /// time (and not after we answered the server's Close); raw nothing.
    pub(crate) fn write_close(&mut self, out: &mut Vec<u8>) {
        if let Framing::Ws(ws) = self {
            ws.write_close(out);
        }
    }

    /// Decodes wire bytes read from the socket.
    ///
    /// STOMP payload bytes (from text, binary and continuation messages alike, never
    /// checked for UTF-8) go to `data` in order, as slices of `input` (not copied). A
    /// partial header or payload is remembered, so input may be split anywhere between
    /// calls. A Ping appends a masked Pong with the same payload to `replies`, for the
    /// caller to write. A Close from the server appends our Close reply to `replies`
    /// (unless we sent ours already) and is reported in the outcome; bytes after it are
    /// ignored, now and later.
    ///
    /// Errors: [`crate::Error::Protocol`] for a masked server frame, reserved bits, an
    /// unknown opcode, a fragmented or over-long (> 125 bytes) control frame, a
    /// continuation with no message open, a new data message while a fragmented one is
    /// open, and a message (its fragments summed) longer than `max_frame_size`, caught
    /// from the length field before any of it is passed on. Errors from `data` are
    /// returned as they are. After an error the framing state is undefined: close the
    /// connection.
    ///
    /// Raw: all of `input` goes to `data` (nothing when it is empty). Until the first
    /// bytes are known to be no HTTP answer or TLS record, they are checked first: an
    /// HTTP answer or a TLS record is a [`crate::Error::Protocol`] naming the peer and the
    /// scheme that was probably meant, before any of it reaches `data`. (Bytes that
    /// arrive one at a time may reach `data` before the check decides; they are never
    /// a whole STOMP frame.)
    pub(crate) fn read(
        &mut self,
        input: &[u8],
        data: &mut dyn FnMut(&[u8]) -> Result<()>,
        replies: &mut Vec<u8>,
    ) -> Result<ReadOutcome> {
        match self {
            Framing::RawChecking(sniff) => {
                if !sniff.check(input)? {
                    *self = Framing::Raw;
                }
                if !input.is_empty() {
                    data(input)?;
                }
                Ok(ReadOutcome::default())
            }
            Framing::Raw => {
                if !input.is_empty() {
                    data(input)?;
                }
                Ok(ReadOutcome::default())
            }
            Framing::Ws(ws) => ws.read(input, data, replies),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::mask::MaskRng;
    use crate::transport::testutil::parse_client_messages;
    use crate::transport::url::parse_url;

    #[test]
    fn raw_framing_passes_bytes_through() {
        let mut f = Framing::raw(&parse_url("tcp://127.0.0.1:61613").unwrap());
        assert!(f.is_raw());
        let mut out = Vec::new();
        f.write_frame(&mut out, b"SEND\n\n\xff\0");
        f.write_heartbeat(&mut out);
        f.write_close(&mut out);
        assert_eq!(out, b"SEND\n\n\xff\0\n");
        let mut seen = Vec::new();
        let mut replies = Vec::new();
        let outcome = f
            .read(
                b"MESSAGE\n\n\0\n",
                &mut |d| {
                    seen.extend_from_slice(d);
                    Ok(())
                },
                &mut replies,
            )
            .unwrap();
        assert_eq!(seen, b"MESSAGE\n\n\0\n");
        assert!(replies.is_empty() && outcome.closed.is_none());
        f.read(
            b"",
            &mut |_| panic!("no call for empty input"),
            &mut replies,
        )
        .unwrap();
    }

    #[test]
    fn websocket_framing_follows_the_config() {
        let config = Config::new().binary_frames(true);
        let mut f = Framing::websocket(&config);
        assert!(!f.is_raw());
        let mut out = Vec::new();
        f.write_frame(&mut out, b"SEND\n\nx\0");
        f.write_heartbeat(&mut out);
        f.write_close(&mut out);
        f.write_close(&mut out);
        let msgs = parse_client_messages(&out);
        let ops: Vec<u8> = msgs.iter().map(|m| m.opcode).collect();
        assert_eq!(ops, vec![0x2, 0x1, 0x8]);
    }

    /// A framing with a fixed mask seed and this message limit.
    fn limited(limit: usize, binary: bool) -> Framing {
        Framing::Ws(
            WsFraming::with_rng(binary, 1 << 20, MaskRng::with_seed(7))
                .with_message_limit(Some(limit)),
        )
    }

    #[test]
    fn message_limit_comes_from_the_config() {
        let raw = Framing::raw(&parse_url("tcp://127.0.0.1:61613").unwrap());
        assert_eq!(raw.message_limit(), None);
        assert_eq!(Framing::websocket(&Config::new()).message_limit(), None);
        let f = Framing::websocket(&Config::new().ws_message_limit(16_000));
        assert_eq!(f.message_limit(), Some(16_000));
        assert_eq!(f.writer().message_limit(), Some(16_000));
    }

    #[test]
    fn a_frame_over_the_limit_goes_as_several_whole_messages() {
        let head = b"SEND\ndestination:/queue/a\ncontent-length:40000\n\n".to_vec();
        let body: Vec<u8> = (0..40_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mut frame = head.clone();
        frame.extend(&body);
        frame.push(0);
        for limit in [1024, 16_000, frame.len() - 1] {
            for parts in [false, true] {
                let mut f = limited(limit, false);
                let mut out = Vec::new();
                if parts {
                    f.write_frame_parts(&mut out, &[&head, &body, b"\0"]);
                } else {
                    f.write_frame(&mut out, &frame);
                }
                let msgs = parse_client_messages(&out);
                assert_eq!(msgs.len(), frame.len().div_ceil(limit), "limit {limit}");
                let mut joined = Vec::new();
                for (i, m) in msgs.iter().enumerate() {
                    assert!(m.fin && m.masked, "message {i}: a whole, masked message");
                    assert_eq!(m.opcode, 0x1, "message {i}: text, never a continuation");
                    let expected = if i + 1 < msgs.len() {
                        limit
                    } else {
                        frame.len() - limit * i
                    };
                    assert_eq!(m.payload.len(), expected, "limit {limit}, message {i}");
                    joined.extend_from_slice(&m.payload);
                }
                assert!(
                    joined == frame,
                    "limit {limit}: the pieces join to the frame"
                );
                // Masked on the wire: the body's text does not show.
                assert!(!out.windows(26).any(|w| w == b"abcdefghijklmnopqrstuvwxyz"));
            }
        }
    }

    #[test]
    fn a_frame_at_the_limit_or_below_is_one_message() {
        let mut frame = b"SEND\n\n".to_vec();
        frame.resize(2048, b'x');
        for limit in [2048, 4096] {
            let mut out = Vec::new();
            limited(limit, false).write_frame(&mut out, &frame);
            let msgs = parse_client_messages(&out);
            assert_eq!(msgs.len(), 1);
            assert_eq!(msgs[0].payload, frame);
        }
        // Without a limit, even a large frame is one message.
        let big = vec![b'y'; 100_000];
        let mut out = Vec::new();
        Framing::websocket(&Config::new()).write_frame(&mut out, &big);
        assert_eq!(parse_client_messages(&out).len(), 1);
    }

    #[test]
    fn text_is_cut_on_character_boundaries() {
        // Characters of 2, 3 and 4 bytes, so that the cut positions meet each kind of
        // character at each of its byte offsets.
        let mut body = String::new();
        while body.len() < 10_000 {
            body.push_str("\u{e9}\u{20ac}\u{1f600}a");
        }
        let head = b"SEND\ndestination:/queue/u\n\n";
        let mut frame = head.to_vec();
        frame.extend(body.as_bytes());
        frame.push(0);
        for limit in 1024..1034 {
            let mut out = Vec::new();
            limited(limit, false).write_frame_parts(&mut out, &[head, body.as_bytes(), b"\0"]);
            let msgs = parse_client_messages(&out);
            let mut joined = Vec::new();
            for (i, m) in msgs.iter().enumerate() {
                assert_eq!(m.opcode, 0x1);
                assert!(m.payload.len() <= limit);
                assert!(
                    m.payload.len() + 3 >= limit || i + 1 == msgs.len(),
                    "cut earlier than the character boundary needs"
                );
                assert!(
                    std::str::from_utf8(&m.payload).is_ok(),
                    "limit {limit}: message {i} is not valid UTF-8 on its own"
                );
                joined.extend_from_slice(&m.payload);
            }
            assert!(joined == frame, "limit {limit}");
            // The same frame given whole is cut the same way.
            let mut whole = Vec::new();
            limited(limit, false).write_frame(&mut whole, &frame);
            assert_eq!(whole, out, "limit {limit}: whole and in parts differ");
        }
    }

    #[test]
    fn binary_frames_are_cut_at_the_limit() {
        let body: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8 | 0x80).collect();
        let head = b"SEND\ncontent-length:5000\n\n";
        // Not UTF-8: binary, cut exactly at the limit; and binary_frames on a text frame.
        for (binary_frames, body) in [(false, body.clone()), (true, vec![b't'; 5000])] {
            let mut out = Vec::new();
            limited(1024, binary_frames).write_frame_parts(&mut out, &[head, &body, b"\0"]);
            let msgs = parse_client_messages(&out);
            let total = head.len() + body.len() + 1;
            assert_eq!(msgs.len(), total.div_ceil(1024));
            assert!(msgs.iter().all(|m| m.opcode == 0x2 && m.fin && m.masked));
            assert!(msgs[..msgs.len() - 1]
                .iter()
                .all(|m| m.payload.len() == 1024));
            let joined: Vec<u8> = msgs.iter().flat_map(|m| m.payload.clone()).collect();
            assert_eq!(&joined[head.len()..head.len() + body.len()], &body[..]);
        }
    }

    #[test]
    fn heartbeats_and_close_ignore_the_limit() {
        let mut f = limited(1024, false);
        let mut out = Vec::new();
        f.write_heartbeat(&mut out);
        f.write_close(&mut out);
        let ops: Vec<u8> = parse_client_messages(&out)
            .iter()
            .map(|m| m.opcode)
            .collect();
        assert_eq!(ops, vec![0x1, 0x8]);
    }

    fn raw_read(f: &mut Framing, input: &[u8]) -> Result<Vec<u8>> {
        let mut seen = Vec::new();
        f.read(
            input,
            &mut |d| {
                seen.extend_from_slice(d);
                Ok(())
            },
            &mut Vec::new(),
        )?;
        Ok(seen)
    }

    #[test]
    fn raw_http_answer_names_the_scheme_meant() {
        let answer = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        for (url, peer, meant) in [
            (
                "tcp://127.0.0.1:15674",
                "127.0.0.1:15674",
                "ws://127.0.0.1:15674/",
            ),
            (
                "ssl://localhost:15673",
                "localhost:15673",
                "wss://localhost:15673/",
            ),
        ] {
            // Whole, and in pieces (the check then spans reads).
            for step in [answer.len(), 3, 1] {
                let mut f = Framing::raw(&parse_url(url).unwrap());
                let mut result = Ok(Vec::new());
                for piece in answer.chunks(step) {
                    result = raw_read(&mut f, piece);
                    if result.is_err() {
                        break;
                    }
                }
                match result {
                    Err(Error::Protocol(m)) => {
                        assert!(m.contains(meant) && m.contains(peer), "{m}");
                        if step == answer.len() {
                            assert!(m.contains("HTTP/1.1 400 Bad Request"), "{m}");
                        }
                    }
                    other => panic!("{url} step {step}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn raw_tls_answer_names_ssl() {
        let mut f = Framing::raw(&parse_url("tcp://localhost:61614").unwrap());
        match raw_read(&mut f, &[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x32]) {
            Err(Error::Protocol(m)) => assert!(m.contains("ssl://localhost:61614"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn raw_stomp_passes_and_the_check_ends() {
        let ep = parse_url("tcp://127.0.0.1:61613").unwrap();
        let mut f = Framing::raw(&ep);
        assert_eq!(raw_read(&mut f, b"\n").unwrap(), b"\n");
        // Once decided, later bytes are never looked at.
        assert_eq!(raw_read(&mut f, b"HTTP/1.1 ok").unwrap(), b"HTTP/1.1 ok");
        let mut f = Framing::raw(&ep);
        assert_eq!(raw_read(&mut f, b"CONN").unwrap(), b"CONN");
        assert_eq!(raw_read(&mut f, b"ECTED\n").unwrap(), b"ECTED\n");
        // "HT" could start HTTP: passed on, and "TP/" after it decides.
        let mut f = Framing::raw(&ep);
        assert_eq!(raw_read(&mut f, b"HT").unwrap(), b"HT");
        assert!(matches!(
            raw_read(&mut f, b"TP/1.0 200 OK\r\n"),
            Err(Error::Protocol(_))
        ));
        // The writing side's framing checks nothing.
        let mut w = Framing::raw(&ep).writer();
        assert_eq!(raw_read(&mut w, b"HTTP/1.1 200 OK\r\n").unwrap().len(), 17);
    }
}
