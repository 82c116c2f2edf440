//! RFC 6455 client framing, written here rather than taken from tungstenite.
//!
//! Why our own: tungstenite's reader rejects text messages that are not UTF-8, but
//! RabbitMQ sends every STOMP frame as a text message, binary bodies included, and we
//! must read those bytes exactly. And the I/O thread wants to encode many frames into
//! one buffer and write them with one syscall, and to hand payload to the STOMP decoder
//! straight from the read buffer. Client framing is small: no extensions are offered, so
//! the reserved bits must stay clear, and only the client masks.
//!
//! Inbound payload is streamed, never assembled: bytes of text, binary and continuation
//! frames go to the caller's `data` function as slices of the input, in order, with no
//! UTF-8 check. STOMP's own framing (the NUL terminator, `content-length`) then finds
//! the frame boundaries, which need not coincide with WebSocket message boundaries.

use super::mask::{apply_mask, extend_masked, MaskRng};
use crate::error::{Error, Result};

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

const FIN: u8 = 0x80;
const RSV_BITS: u8 = 0x70;
const MASK_BIT: u8 = 0x80;

/// The largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;
/// The longest header a server may send: 2 bytes, then a 64-bit length, never a mask.
const MAX_SERVER_HEADER: usize = 10;

/// Close status code for a normal closure.
pub(crate) const CLOSE_NORMAL: u16 = 1000;

/// What [`WsFraming::read`] found besides payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReadOutcome {
    /// Some when the server's Close frame arrived in this input. Anything after it is
    /// ignored, in this call and in later ones.
    pub closed: Option<CloseInfo>,
}

/// The content of the server's Close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CloseInfo {
    /// The status code (1000 normal, 1007 invalid data, 1009 too big, ...); None when the
    /// frame had no payload.
    pub code: Option<u16>,
    /// The reason text, decoded lossily (RabbitMQ: `STOMP died`); may be empty.
    pub reason: String,
}

/// Where the reader is inside the inbound byte stream.
#[derive(Debug, Clone, Copy)]
enum ReadState {
    /// Collecting a frame header into `WsFraming::header`.
    Header,
    /// Inside a text, binary or continuation frame's payload.
    Data { remaining: u64, fin: bool },
    /// Inside a control frame's payload, collected into `WsFraming::control`.
    Control { opcode: u8, remaining: usize },
}

/// The state of one WebSocket connection's framing, both directions. Client side only:
/// everything we send is masked, and a masked frame from the server is an error.
#[derive(Debug)]
pub(crate) struct WsFraming {
    binary_frames: bool,
    /// The largest WebSocket message accepted, summed over its fragments.
    max_message: u64,
    /// Outbound: the most payload bytes per message; a longer STOMP frame is split into
    /// several messages. None: one message per frame, whatever its size.
    message_limit: Option<usize>,
    rng: MaskRng,
    close_sent: bool,
    close_received: bool,
    state: ReadState,
    /// A frame header being collected; may span several `read` calls.
    header: [u8; MAX_SERVER_HEADER],
    header_len: usize,
    /// A control frame's payload being collected (at most 125 bytes).
    control: Vec<u8>,
    /// True between the first frame of a fragmented message and its FIN frame.
    message_open: bool,
    /// Length of the message being read, summed over the frames seen so far (each frame
    /// counted whole as soon as its header arrives).
    message_len: u64,
}

impl WsFraming {
    /// Framing for one connection. `binary_frames`: send every STOMP frame as a binary
    /// message; `max_message`: the largest inbound message (the config's
    /// `max_frame_size`).
    pub(crate) fn new(binary_frames: bool, max_message: usize) -> WsFraming {
        WsFraming::with_rng(binary_frames, max_message, MaskRng::new())
    }

    /// A second framing with the same settings and its own mask generator, for the
    /// writing side: callers encode outbound frames while the I/O thread decodes.
    pub(crate) fn writer(&self) -> WsFraming {
        WsFraming::new(self.binary_frames, self.max_message as usize)
            .with_message_limit(self.message_limit)
    }

    /// Sets the outbound message limit: a STOMP frame longer than `limit` bytes goes out
    /// as several complete messages of at most `limit` payload bytes each (see
    /// [`WsFraming::write_frame`]). None, or Some(0): one message per frame.
    pub(crate) fn with_message_limit(mut self, limit: Option<usize>) -> WsFraming {
        self.message_limit = limit.filter(|&l| l > 0);
        self
    }

    /// The outbound message limit, None when every frame goes as one message.
    pub(crate) fn message_limit(&self) -> Option<usize> {
        self.message_limit
    }

    /// The same with a given key generator (tests use a fixed seed).
    pub(crate) fn with_rng(binary_frames: bool, max_message: usize, rng: MaskRng) -> WsFraming {
        WsFraming {
            binary_frames,
            max_message: max_message as u64,
            message_limit: None,
            rng,
            close_sent: false,
            close_received: false,
            state: ReadState::Header,
            header: [0; MAX_SERVER_HEADER],
            header_len: 0,
            control: Vec::with_capacity(MAX_CONTROL_PAYLOAD),
            message_open: false,
            message_len: 0,
        }
    }

    /// Appends one STOMP frame as exactly one masked WebSocket message with FIN set: text
    /// when the whole frame is UTF-8 and `binary_frames` is off, binary otherwise.
    ///
    /// One message per frame is what ActiveMQ's ws transport requires; text when possible
    /// because it ignores binary messages, binary when not because RabbitMQ closes with
    /// 1007 on a text message that is not UTF-8.
    ///
    /// With a message limit, a frame longer than the limit goes out as several complete
    /// messages instead (see [`WsFraming::write_split`]).
    pub(crate) fn write_frame(&mut self, out: &mut Vec<u8>, frame: &[u8]) {
        if self.message_limit.is_some_and(|l| frame.len() > l) {
            self.write_split(out, &[frame]);
            return;
        }
        let opcode = if !self.binary_frames && std::str::from_utf8(frame).is_ok() {
            OP_TEXT
        } else {
            OP_BINARY
        };
        self.write_message(out, opcode, frame);
    }

    /// Like [`WsFraming::write_frame`] for a frame given in pieces (head, body, NUL), so
    /// that a large body is copied only once, straight into `out`. Each piece is checked
    /// for UTF-8 on its own, which equals checking the whole frame because the head ends
    /// in an ASCII line feed.
    pub(crate) fn write_frame_parts(&mut self, out: &mut Vec<u8>, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if self.message_limit.is_some_and(|l| len > l) {
            self.write_split(out, parts);
            return;
        }
        let key = self.rng.next_key();
        let header_at = out.len();
        self.write_header(out, OP_BINARY, len, key);
        // Copy, mask and ASCII check in one pass; a full UTF-8 check only for the rare
        // frame that is not ASCII. The opcode is settled afterwards.
        let mut ascii = true;
        let mut offset = 0;
        for p in parts {
            ascii &= extend_masked(out, p, key, offset);
            offset += p.len();
        }
        let text =
            !self.binary_frames && (ascii || parts.iter().all(|p| std::str::from_utf8(p).is_ok()));
        if text {
            out[header_at] = FIN | OP_TEXT;
        }
    }

    /// One STOMP frame, given in pieces, as several complete masked messages (FIN set on
    /// each, none a continuation) of at most `message_limit` payload bytes, in order.
    ///
    /// Complete messages rather than fragments of one message: a server with a message
    /// size limit (Tomcat's 16 KiB under Spring) counts a fragmented message whole, while
    /// Spring reassembles a STOMP frame from several messages. Every piece has the
    /// frame's opcode: text when the whole frame is UTF-8 and `binary_frames` is off, cut
    /// on character boundaries so that each piece is valid UTF-8 on its own (RabbitMQ
    /// closes with 1007 on one that is not); binary otherwise, cut at the limit.
    ///
    /// Each piece is checked for UTF-8 on its own, which equals checking the whole frame
    /// because callers cut the frame after an ASCII byte (the head ends in a line feed).
    fn write_split(&mut self, out: &mut Vec<u8>, parts: &[&[u8]]) {
        let limit = self.message_limit.unwrap_or(usize::MAX);
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let text = !self.binary_frames && parts.iter().all(|p| std::str::from_utf8(p).is_ok());
        let opcode = if text { OP_TEXT } else { OP_BINARY };
        let mut start = 0;
        while start < total {
            let mut end = total.min(start.saturating_add(limit));
            if text {
                // Back off to the start of a character: at most 3 continuation bytes,
                // and the limit (at least 1024) leaves room for them.
                while end < total && end > start + 1 && is_continuation(byte_at(parts, end)) {
                    end -= 1;
                }
            }
            let key = self.rng.next_key();
            self.write_header(out, opcode, end - start, key);
            let mut offset = 0;
            for piece in slices_in(parts, start, end) {
                extend_masked(out, piece, key, offset);
                offset += piece.len();
            }
            start = end;
        }
    }

    /// A heart-beat: a text message holding exactly `"\n"` (ActiveMQ drops the
    /// connection on `"\r\n"`).
    pub(crate) fn write_heartbeat(&mut self, out: &mut Vec<u8>) {
        self.write_message(out, OP_TEXT, b"\n");
    }

    /// A Close frame with code 1000, once: later calls, and a call after we answered the
    /// server's Close, append nothing.
    pub(crate) fn write_close(&mut self, out: &mut Vec<u8>) {
        if !self.close_sent {
            self.close_sent = true;
            self.write_message(out, OP_CLOSE, &CLOSE_NORMAL.to_be_bytes());
        }
    }

    /// True once we have queued our Close frame (ours or the reply to the server's).
    #[cfg(test)]
    pub(crate) fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// Header plus masked payload, straight into `out`: the payload is copied once and
    /// masked in place there.
    fn write_message(&mut self, out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
        let key = self.rng.next_key();
        self.write_header(out, opcode, payload.len(), key);
        let start = out.len();
        out.extend_from_slice(payload);
        apply_mask(&mut out[start..], key);
    }

    /// The frame header of a masked, final message of `len` payload bytes.
    fn write_header(&self, out: &mut Vec<u8>, opcode: u8, len: usize, key: [u8; 4]) {
        out.reserve(14 + len);
        out.push(FIN | opcode);
        if len < 126 {
            out.push(MASK_BIT | len as u8);
        } else if len <= usize::from(u16::MAX) {
            out.push(MASK_BIT | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(MASK_BIT | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
        out.extend_from_slice(&key);
    }

    /// Decodes wire bytes; see `Framing::read` for the contract. Consumes all of `input`
    /// (a partial header or payload is remembered for the next call) unless it returns an
    /// error or a Close frame arrived.
    pub(crate) fn read(
        &mut self,
        input: &[u8],
        data: &mut dyn FnMut(&[u8]) -> Result<()>,
        replies: &mut Vec<u8>,
    ) -> Result<ReadOutcome> {
        let mut pos = 0;
        while !self.close_received {
            match self.state {
                ReadState::Header => {
                    if !self.fill_header(input, &mut pos) {
                        break;
                    }
                    self.start_frame()?;
                }
                ReadState::Data { remaining, fin } => {
                    let mut remaining = remaining;
                    if remaining > 0 {
                        let available = input.len() - pos;
                        if available == 0 {
                            break;
                        }
                        let n = remaining.min(available as u64) as usize;
                        remaining -= n as u64;
                        self.state = ReadState::Data { remaining, fin };
                        let chunk = &input[pos..pos + n];
                        pos += n;
                        data(chunk)?;
                    }
                    if remaining == 0 {
                        if fin {
                            self.message_open = false;
                            self.message_len = 0;
                        }
                        self.state = ReadState::Header;
                    }
                }
                ReadState::Control { opcode, remaining } => {
                    let mut remaining = remaining;
                    if remaining > 0 {
                        let available = input.len() - pos;
                        if available == 0 {
                            break;
                        }
                        let n = remaining.min(available);
                        self.control.extend_from_slice(&input[pos..pos + n]);
                        pos += n;
                        remaining -= n;
                        self.state = ReadState::Control { opcode, remaining };
                    }
                    if remaining == 0 {
                        self.state = ReadState::Header;
                        if let Some(info) = self.finish_control(opcode, replies)? {
                            return Ok(ReadOutcome { closed: Some(info) });
                        }
                    }
                }
            }
        }
        Ok(ReadOutcome::default())
    }

    /// Payload bytes of the current data frame still to come: bytes a reader may take
    /// off the socket itself, without [`WsFraming::read`], as long as it then reports
    /// them with [`WsFraming::payload_taken`]. 0 unless inside a data frame's payload.
    pub(crate) fn payload_remaining(&self) -> u64 {
        match self.state {
            ReadState::Data { remaining, .. } if !self.close_received => remaining,
            _ => 0,
        }
    }

    /// Accounts for `n` payload bytes read past the framing (at most
    /// [`WsFraming::payload_remaining`]), exactly as `read` would have.
    pub(crate) fn payload_taken(&mut self, n: usize) {
        let ReadState::Data { remaining, fin } = self.state else {
            debug_assert!(n == 0, "payload taken outside a data frame");
            return;
        };
        debug_assert!(n as u64 <= remaining);
        let remaining = remaining.saturating_sub(n as u64);
        if remaining > 0 {
            self.state = ReadState::Data { remaining, fin };
            return;
        }
        if fin {
            self.message_open = false;
            self.message_len = 0;
        }
        self.state = ReadState::Header;
    }

    /// Moves header bytes from `input` into `self.header` until the header is complete
    /// (true) or the input is used up (false). Each input byte is looked at once.
    fn fill_header(&mut self, input: &[u8], pos: &mut usize) -> bool {
        loop {
            let needed = match self.header_len {
                0 | 1 => 2,
                _ => match self.header[1] & 0x7F {
                    126 => 4,
                    127 => 10,
                    _ => 2,
                },
            };
            if self.header_len >= needed {
                return true;
            }
            let available = input.len() - *pos;
            if available == 0 {
                return false;
            }
            let n = (needed - self.header_len).min(available);
            self.header[self.header_len..self.header_len + n]
                .copy_from_slice(&input[*pos..*pos + n]);
            self.header_len += n;
            *pos += n;
        }
    }

    /// Checks a complete header and sets up the payload state. Every check happens here,
    /// from the header alone, before any payload is read or memory reserved.
    fn start_frame(&mut self) -> Result<()> {
        let b0 = self.header[0];
        let b1 = self.header[1];
        let header_len = self.header_len;
        self.header_len = 0;
        let fin = b0 & FIN != 0;
        let opcode = b0 & 0x0F;
        if b0 & RSV_BITS != 0 {
            return Err(Error::protocol(format!(
                "WebSocket frame with reserved bits set (0x{:02x}); no extension was negotiated",
                b0 & RSV_BITS
            )));
        }
        if b1 & MASK_BIT != 0 {
            return Err(Error::protocol(
                "masked WebSocket frame from the server (RFC 6455 forbids it)",
            ));
        }
        let len = match header_len {
            4 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.header[2..10]);
                let len = u64::from_be_bytes(b);
                if len >> 63 != 0 {
                    return Err(Error::protocol(
                        "WebSocket frame length has its most significant bit set",
                    ));
                }
                len
            }
            _ => u64::from(b1 & 0x7F),
        };
        match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin {
                    return Err(Error::protocol("fragmented WebSocket control frame"));
                }
                if len > MAX_CONTROL_PAYLOAD as u64 {
                    return Err(Error::protocol(format!(
                        "WebSocket control frame with a {len}-byte payload (at most 125)"
                    )));
                }
                self.control.clear();
                self.state = ReadState::Control {
                    opcode,
                    remaining: len as usize,
                };
            }
            OP_CONTINUATION => {
                if !self.message_open {
                    return Err(Error::protocol(
                        "WebSocket continuation frame without a message to continue",
                    ));
                }
                self.add_to_message(len)?;
                self.state = ReadState::Data {
                    remaining: len,
                    fin,
                };
            }
            OP_TEXT | OP_BINARY => {
                if self.message_open {
                    return Err(Error::protocol(
                        "new WebSocket message while a fragmented one is still open",
                    ));
                }
                self.message_open = true;
                self.message_len = 0;
                self.add_to_message(len)?;
                self.state = ReadState::Data {
                    remaining: len,
                    fin,
                };
            }
            other => {
                return Err(Error::protocol(format!(
                    "WebSocket frame with unknown opcode 0x{other:x}"
                )))
            }
        }
        Ok(())
    }

    fn add_to_message(&mut self, len: u64) -> Result<()> {
        self.message_len = self.message_len.saturating_add(len);
        if self.message_len > self.max_message {
            return Err(Error::protocol(format!(
                "WebSocket message of at least {} bytes exceeds the maximum frame size of {} bytes",
                self.message_len, self.max_message
            )));
        }
        Ok(())
    }

    /// Acts on a complete control frame; Some when it was a Close.
    fn finish_control(&mut self, opcode: u8, replies: &mut Vec<u8>) -> Result<Option<CloseInfo>> {
        match opcode {
            OP_PING => {
                // After our Close, RFC 6455 §5.5.1 lets nothing but the closing handshake
                // follow, so a late ping goes unanswered.
                if !self.close_sent {
                    let payload = std::mem::take(&mut self.control);
                    self.write_message(replies, OP_PONG, &payload);
                    self.control = payload;
                }
                Ok(None)
            }
            OP_CLOSE => {
                let info = match self.control.len() {
                    0 => CloseInfo {
                        code: None,
                        reason: String::new(),
                    },
                    1 => {
                        return Err(Error::protocol(
                            "WebSocket Close frame with a 1-byte payload",
                        ))
                    }
                    _ => CloseInfo {
                        code: Some(u16::from_be_bytes([self.control[0], self.control[1]])),
                        reason: String::from_utf8_lossy(&self.control[2..]).into_owned(),
                    },
                };
                self.close_received = true;
                if !self.close_sent {
                    self.close_sent = true;
                    // Echo the code, as RFC 6455 §5.5.1 suggests, unless it is one of the
                    // codes that must never appear on the wire; then a plain 1000.
                    let reply = match info.code {
                        None => Vec::new(),
                        Some(c) if sendable_close_code(c) => c.to_be_bytes().to_vec(),
                        Some(_) => CLOSE_NORMAL.to_be_bytes().to_vec(),
                    };
                    self.write_message(replies, OP_CLOSE, &reply);
                }
                Ok(Some(info))
            }
            _ => Ok(None), // Pong: we never ping, and an unsolicited pong needs no answer.
        }
    }
}

/// True for a UTF-8 continuation byte (10xxxxxx): not the start of a character.
fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// The byte at offset `at` of `parts` taken as one sequence; `at` is below their total
/// length.
fn byte_at(parts: &[&[u8]], mut at: usize) -> u8 {
    for p in parts {
        if at < p.len() {
            return p[at];
        }
        at -= p.len();
    }
    unreachable!("offset past the end of the parts")
}

/// The slices of `parts`, taken as one sequence, that cover offsets `start..end`.
fn slices_in<'a>(
    parts: &'a [&'a [u8]],
    start: usize,
    end: usize,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut base = 0;
    parts.iter().filter_map(move |p| {
        let (lo, hi) = (base, base + p.len());
        base = hi;
        let (a, b) = (start.max(lo), end.min(hi));
        (a < b).then(|| &p[a - lo..b - lo])
    })
}

/// Codes a Close frame may carry (RFC 6455 §7.4): 1000-1003, 1007-1014 and the
/// registered/private ranges 3000-4999. 1004, 1005, 1006 and 1015 are reserved.
fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::testutil::{parse_client_messages, server_frame, ClientMessage};

    const MAX: usize = 1 << 20;

    fn framing() -> WsFraming {
        WsFraming::with_rng(false, MAX, MaskRng::with_seed(42))
    }

    /// Feeds `input` in pieces of `step` bytes; returns the payload seen, the replies,
    /// and the close info.
    fn feed(
        ws: &mut WsFraming,
        input: &[u8],
        step: usize,
    ) -> Result<(Vec<u8>, Vec<u8>, Option<CloseInfo>)> {
        let mut payload = Vec::new();
        let mut replies = Vec::new();
        let mut closed = None;
        for piece in input.chunks(step.max(1)) {
            let out = ws.read(
                piece,
                &mut |d| {
                    payload.extend_from_slice(d);
                    Ok(())
                },
                &mut replies,
            )?;
            if out.closed.is_some() {
                closed = out.closed;
            }
        }
        Ok((payload, replies, closed))
    }

    fn one_message(bytes: &[u8]) -> ClientMessage {
        let mut msgs = parse_client_messages(bytes);
        assert_eq!(msgs.len(), 1, "expected one message in {bytes:?}");
        msgs.remove(0)
    }

    fn protocol_error(input: &[u8]) -> String {
        let mut ws = framing();
        match feed(&mut ws, input, input.len()) {
            Err(Error::Protocol(msg)) => msg,
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    #[test]
    fn lengths_7_16_and_64_bit_encode_and_decode() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70_000] {
            let frame: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut out = Vec::new();
            framing().write_frame(&mut out, &frame);
            let header_len = match len {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            } + 4;
            assert_eq!(out.len(), header_len + len, "length {len}");
            assert_eq!(
                out[1] & 0x7F,
                match len {
                    0..=125 => len as u8,
                    126..=65535 => 126,
                    _ => 127,
                }
            );
            let m = one_message(&out);
            assert!(m.fin && m.masked);
            assert_eq!(m.opcode, OP_TEXT);
            assert_eq!(m.payload, frame, "masking round trip, length {len}");

            // And the same lengths from the server side decode.
            let wire = server_frame(true, OP_BINARY, &frame);
            let (payload, replies, closed) = feed(&mut framing(), &wire, 4096).unwrap();
            assert_eq!(payload, frame);
            assert!(replies.is_empty() && closed.is_none());
        }
    }

    #[test]
    fn payload_is_masked_on_the_wire() {
        let mut out = Vec::new();
        framing().write_frame(&mut out, b"SEND\ndestination:/queue/a\n\nhello\0");
        assert!(!out.windows(5).any(|w| w == b"hello"));
    }

    #[test]
    fn text_or_binary_choice() {
        let mut out = Vec::new();
        let mut ws = framing();
        ws.write_frame(&mut out, b"SEND\n\nplain text \xc3\xa9\0");
        ws.write_frame(&mut out, b"SEND\n\n\xff\xfe binary\0");
        let msgs = parse_client_messages(&out);
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].opcode, OP_TEXT);
        assert_eq!(msgs[1].opcode, OP_BINARY);
        assert_eq!(msgs[1].payload, b"SEND\n\n\xff\xfe binary\0");

        let mut out = Vec::new();
        let mut ws = WsFraming::with_rng(true, MAX, MaskRng::with_seed(1));
        ws.write_frame(&mut out, b"SEND\n\ntext\0");
        ws.write_heartbeat(&mut out);
        let msgs = parse_client_messages(&out);
        assert_eq!(msgs[0].opcode, OP_BINARY, "binary_frames sends binary");
        assert_eq!(msgs[1].opcode, OP_TEXT, "heart-beats stay text");
    }

    #[test]
    fn heartbeat_is_a_text_message_holding_one_newline() {
        let mut out = Vec::new();
        framing().write_heartbeat(&mut out);
        assert_eq!(out.len(), 2 + 4 + 1);
        assert_eq!(out[0], 0x81);
        assert_eq!(out[1], 0x81);
        assert_eq!(out[6] ^ out[2], b'\n');
        let m = one_message(&out);
        assert_eq!((m.opcode, m.payload.as_slice()), (OP_TEXT, &b"\n"[..]));
    }

    #[test]
    fn close_is_written_once() {
        let mut ws = framing();
        let mut out = Vec::new();
        ws.write_close(&mut out);
        ws.write_close(&mut out);
        let m = one_message(&out);
        assert_eq!(m.opcode, OP_CLOSE);
        assert_eq!(m.payload, 1000u16.to_be_bytes());
        assert!(ws.close_sent());
        // After our close, the server's close needs no reply.
        let (_, replies, closed) =
            feed(&mut ws, &server_frame(true, OP_CLOSE, &[3, 232]), 1).unwrap();
        assert!(replies.is_empty());
        assert_eq!(closed.unwrap().code, Some(1000));
    }

    #[test]
    fn fragmented_message_in_every_split() {
        let mut wire = Vec::new();
        wire.extend(server_frame(false, OP_TEXT, b"MESSAGE\nid:1\n"));
        wire.extend(server_frame(false, OP_CONTINUATION, b""));
        wire.extend(server_frame(true, OP_PING, b"ping!"));
        wire.extend(server_frame(false, OP_CONTINUATION, &[0xff; 300]));
        wire.extend(server_frame(true, OP_CONTINUATION, b"\n\xfe\0"));
        wire.extend(server_frame(true, OP_TEXT, b"\n"));
        let mut expected = b"MESSAGE\nid:1\n".to_vec();
        expected.extend([0xff; 300]);
        expected.extend(b"\n\xfe\0\n");
        for step in [1, 2, 3, 5, 7, 64, wire.len()] {
            let (payload, replies, closed) = feed(&mut framing(), &wire, step).unwrap();
            assert_eq!(payload, expected, "step {step}");
            assert!(closed.is_none());
            let pong = one_message(&replies);
            assert_eq!(
                (pong.opcode, pong.payload.as_slice()),
                (OP_PONG, &b"ping!"[..])
            );
            assert!(pong.masked);
        }
    }

    #[test]
    fn payload_is_borrowed_from_the_input() {
        let wire = server_frame(true, OP_TEXT, b"SEND\n\nbody\0");
        let range = wire.as_ptr_range();
        let mut ws = framing();
        let mut seen = 0;
        ws.read(
            &wire,
            &mut |d| {
                assert!(range.contains(&d.as_ptr()), "payload was copied");
                seen += d.len();
                Ok(())
            },
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(seen, 11);
    }

    #[test]
    fn non_utf8_text_message_is_read_exactly() {
        let body = b"MESSAGE\ncontent-length:3\n\n\x00\xff\x80\0\n";
        let (payload, _, _) = feed(&mut framing(), &server_frame(true, OP_TEXT, body), 3).unwrap();
        assert_eq!(payload, body);
    }

    #[test]
    fn ping_gets_a_pong_with_the_same_payload() {
        let mut ws = framing();
        let (payload, replies, _) = feed(&mut ws, &server_frame(true, OP_PING, b"abc"), 1).unwrap();
        assert!(payload.is_empty());
        let pong = one_message(&replies);
        assert_eq!(pong.opcode, OP_PONG);
        assert_eq!(pong.payload, b"abc");
        // An empty ping, and an unsolicited pong, which needs nothing.
        let mut wire = server_frame(true, OP_PING, b"");
        wire.extend(server_frame(true, OP_PONG, b"x"));
        let (_, replies, _) = feed(&mut ws, &wire, 2).unwrap();
        let pong = one_message(&replies);
        assert_eq!((pong.opcode, pong.payload.len()), (OP_PONG, 0));
        // No pong after our close.
        ws.write_close(&mut Vec::new());
        let (_, replies, _) = feed(&mut ws, &server_frame(true, OP_PING, b"late"), 9).unwrap();
        assert!(replies.is_empty());
    }

    #[test]
    fn server_close_gets_a_reply_and_is_reported() {
        let mut wire = server_frame(true, OP_TEXT, b"ERROR\n\nbye\0");
        let mut close = 1000u16.to_be_bytes().to_vec();
        close.extend(b"STOMP died");
        wire.extend(server_frame(true, OP_CLOSE, &close));
        wire.extend(server_frame(true, OP_TEXT, b"ignored after close"));
        for step in [1, 4, wire.len()] {
            let mut ws = framing();
            let (payload, replies, closed) = feed(&mut ws, &wire, step).unwrap();
            assert_eq!(payload, b"ERROR\n\nbye\0");
            assert_eq!(
                closed,
                Some(CloseInfo {
                    code: Some(1000),
                    reason: "STOMP died".into()
                })
            );
            let reply = one_message(&replies);
            assert_eq!(
                (reply.opcode, reply.payload.as_slice()),
                (OP_CLOSE, &[3u8, 232][..])
            );
            // Our own close is not sent a second time.
            let mut out = Vec::new();
            ws.write_close(&mut out);
            assert!(out.is_empty());
        }
        // 1007 is echoed; an empty close gets an empty close; a reserved code gets 1000.
        for (payload, code, reply) in [
            (vec![0x03, 0xEF], Some(1007), vec![0x03, 0xEF]),
            (vec![], None, vec![]),
            (vec![0x03, 0xED], Some(1005), vec![0x03, 0xE8]),
        ] {
            let (_, replies, closed) =
                feed(&mut framing(), &server_frame(true, OP_CLOSE, &payload), 1).unwrap();
            assert_eq!(closed.unwrap().code, code);
            assert_eq!(one_message(&replies).payload, reply);
        }
    }

    #[test]
    fn protocol_errors() {
        let mut masked = server_frame(true, OP_TEXT, b"x");
        masked[1] |= 0x80;
        let msg = protocol_error(&masked);
        assert!(msg.contains("masked"), "{msg}");

        for rsv in [0x40, 0x20, 0x10] {
            let mut f = server_frame(true, OP_TEXT, b"x");
            f[0] |= rsv;
            assert!(protocol_error(&f).contains("reserved"));
        }
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert!(protocol_error(&server_frame(true, op, b"")).contains("opcode"));
        }
        assert!(protocol_error(&server_frame(false, OP_PING, b"")).contains("fragmented"));
        assert!(protocol_error(&server_frame(false, OP_CLOSE, b"")).contains("fragmented"));
        assert!(protocol_error(&server_frame(true, OP_PING, &[0; 126])).contains("126"));
        assert!(protocol_error(&server_frame(true, OP_CLOSE, &[3])).contains("1-byte"));
        assert!(protocol_error(&server_frame(true, OP_CONTINUATION, b"x")).contains("continuation"));
        let mut open = server_frame(false, OP_TEXT, b"a");
        open.extend(server_frame(true, OP_BINARY, b"b"));
        assert!(protocol_error(&open).contains("still open"));
        // A complete message closes the fragment sequence: a continuation after it fails.
        let mut done = server_frame(true, OP_TEXT, b"a");
        done.extend(server_frame(true, OP_CONTINUATION, b"b"));
        assert!(protocol_error(&done).contains("continuation"));
        // 64-bit length with the top bit set.
        let mut top = vec![0x82, 127];
        top.extend((1u64 << 63).to_be_bytes());
        assert!(protocol_error(&top).contains("significant"));
    }

    #[test]
    fn message_size_limit_counts_fragments_and_comes_from_the_header() {
        let mut ws = WsFraming::with_rng(false, 100, MaskRng::with_seed(3));
        let mut ok = server_frame(true, OP_TEXT, &[b'a'; 100]);
        ok.extend(server_frame(false, OP_TEXT, &[b'b'; 60]));
        let (payload, _, _) = feed(&mut ws, &ok, 7).unwrap();
        assert_eq!(payload.len(), 160);
        // The second fragment brings the message to 120 bytes: refused at its header,
        // before any of its payload is passed on.
        let mut seen = 0;
        let r = ws.read(
            &server_frame(true, OP_CONTINUATION, &[b'c'; 60])[..4],
            &mut |d| {
                seen += d.len();
                Ok(())
            },
            &mut Vec::new(),
        );
        assert!(
            matches!(r, Err(Error::Protocol(ref m)) if m.contains("maximum frame size")),
            "{r:?}"
        );
        assert_eq!(seen, 0);
    }

    #[test]
    fn huge_length_is_refused_without_allocating() {
        // A 2^40-byte binary frame: only the 10 header bytes exist. The limit check fires
        // on the header; nothing is reserved (we never buffer data payload anyway, and a
        // 1 TiB allocation would abort the test process).
        let mut header = vec![0x82, 127];
        header.extend((1u64 << 40).to_be_bytes());
        let mut ws = framing();
        let mut called = false;
        let r = ws.read(
            &header,
            &mut |_| {
                called = true;
                Ok(())
            },
            &mut Vec::new(),
        );
        assert!(
            matches!(r, Err(Error::Protocol(ref m)) if m.contains("1099511627776")),
            "{r:?}"
        );
        assert!(!called);

        // Within the limit, a large length streams: only the bytes present are handed on.
        let mut ws = WsFraming::with_rng(false, usize::MAX, MaskRng::with_seed(3));
        let mut seen = 0;
        let mut wire = header.clone();
        wire.extend([7u8; 1000]);
        ws.read(
            &wire,
            &mut |d| {
                seen += d.len();
                Ok(())
            },
            &mut Vec::new(),
        )
        .unwrap();
        assert_eq!(seen, 1000);
    }

    #[test]
    fn data_errors_pass_through() {
        let mut ws = framing();
        let r = ws.read(
            &server_frame(true, OP_TEXT, b"bad frame"),
            &mut |_| Err(Error::protocol("codec says no")),
            &mut Vec::new(),
        );
        assert_eq!(r, Err(Error::protocol("codec says no")));
    }

    #[test]
    fn sixteen_and_sixty_four_bit_headers_split_byte_by_byte() {
        let body: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let mut wire = server_frame(true, OP_BINARY, &body[..300]);
        wire.extend(server_frame(true, OP_BINARY, &body));
        let (payload, _, _) = feed(&mut framing(), &wire, 1).unwrap();
        assert_eq!(&payload[..300], &body[..300]);
        assert_eq!(&payload[300..], &body[..]);
    }

    /// A reader that takes data payload off the wire itself whenever the framing says
    /// it may (as the connection does for large bodies) sees the same payload, replies
    /// and message ends as one that feeds every byte through `read`.
    #[test]
    fn payload_taken_past_the_framing_matches_read() {
        let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
        let mut wire = Vec::new();
        wire.extend(server_frame(false, OP_BINARY, &big[..30_000]));
        wire.extend(server_frame(true, OP_PING, b"p"));
        wire.extend(server_frame(true, OP_CONTINUATION, &big[30_000..]));
        wire.extend(server_frame(true, OP_TEXT, b"\n"));
        wire.extend(server_frame(true, OP_BINARY, &big[..200]));
        let mut expected = big.clone();
        expected.extend(b"\n");
        expected.extend(&big[..200]);
        for (step, take) in [
            (1, 1),
            (7, 5000),
            (100, 1 << 20),
            (4096, 3),
            (1 << 20, 1 << 20),
        ] {
            let mut ws = framing();
            let (mut payload, mut replies) = (Vec::new(), Vec::new());
            let mut pos = 0;
            while pos < wire.len() {
                let room = ws.payload_remaining() as usize;
                if room > 0 {
                    let n = room.min(take).min(wire.len() - pos);
                    payload.extend_from_slice(&wire[pos..pos + n]);
                    ws.payload_taken(n);
                    pos += n;
                    continue;
                }
                let end = (pos + step).min(wire.len());
                let out = ws
                    .read(
                        &wire[pos..end],
                        &mut |d| {
                            payload.extend_from_slice(d);
                            Ok(())
                        },
                        &mut replies,
                    )
                    .unwrap();
                assert!(out.closed.is_none());
                pos = end;
            }
            assert!(payload == expected, "step {step}, take {take}");
            assert_eq!(one_message(&replies).payload, b"p");
            assert_eq!(ws.payload_remaining(), 0);
            assert!(!ws.message_open, "the message did not end");
        }
    }
}
