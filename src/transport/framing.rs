//! `Framing`: how STOMP bytes are put on and taken off the wire, raw or in WebSocket
//! messages. The connection thread talks to this one type whatever the URL scheme.

use super::ws::{ReadOutcome, WsFraming};
use crate::config::Config;
use crate::error::Result;

/// How STOMP bytes are put on and taken off the wire.
#[derive(Debug)]
pub(crate) enum Framing {
    /// `tcp://`, `ssl://`: STOMP bytes are the wire bytes.
    Raw,
    /// `ws://`, `wss://`: each outbound STOMP frame is one WebSocket message; inbound
    /// payload is unwrapped from messages of any kind and size.
    Ws(WsFraming),
}

impl Framing {
    /// The WebSocket framing for a connection made with `config`.
    pub(crate) fn websocket(config: &Config) -> Framing {
        Framing::Ws(WsFraming::new(config.binary_frames, config.max_frame_size))
    }

    /// A framing for the writing side with the same settings (see [`WsFraming::writer`]).
    pub(crate) fn writer(&self) -> Framing {
        match self {
            Framing::Raw => Framing::Raw,
            Framing::Ws(ws) => Framing::Ws(ws.writer()),
        }
    }

    /// True for raw framing, where the caller may encode STOMP straight into the output
    /// buffer instead of going through [`Framing::write_frame`].
    pub(crate) fn is_raw(&self) -> bool {
        matches!(self, Framing::Raw)
    }

    /// Appends one complete, already encoded STOMP frame to `out` as wire bytes. Raw: as
    /// is. WebSocket: exactly one masked message with FIN set, text when the whole frame
    /// is UTF-8 and `binary_frames` is off, binary otherwise.
    pub(crate) fn write_frame(&mut self, out: &mut Vec<u8>, frame: &[u8]) {
        match self {
            Framing::Raw => out.extend_from_slice(frame),
            Framing::Ws(ws) => ws.write_frame(out, frame),
        }
    }

    /// [`Framing::write_frame`] for a frame given in pieces; see
    /// [`WsFraming::write_frame_parts`].
    pub(crate) fn write_frame_parts(&mut self, out: &mut Vec<u8>, parts: &[&[u8]]) {
        match self {
            Framing::Raw => parts.iter().for_each(|p| out.extend_from_slice(p)),
            Framing::Ws(ws) => ws.write_frame_parts(out, parts),
        }
    }

    /// How many of the next wire bytes are STOMP bytes that a reader may take off the
    /// socket itself (reporting them with [`Framing::payload_taken`]): all of them on
    /// raw framing, the rest of the current data frame's payload on WebSocket.
    pub(crate) fn payload_room(&self) -> usize {
        match self {
            Framing::Raw => usize::MAX,
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
            Framing::Raw => out.push(b'\n'),
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
    /// Raw: all of `input` goes to `data` (nothing when it is empty).
    pub(crate) fn read(
        &mut self,
        input: &[u8],
        data: &mut dyn FnMut(&[u8]) -> Result<()>,
        replies: &mut Vec<u8>,
    ) -> Result<ReadOutcome> {
        match self {
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
    use crate::transport::testutil::parse_client_messages;

    #[test]
    fn raw_framing_passes_bytes_through() {
        let mut f = Framing::Raw;
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
}
