//! Bytes to frames: the incremental `Decoder`.

use std::mem::MaybeUninit;

use super::decoded::{Decoded, Limits};
use super::fast::{self, Scratch};
use super::scan::find_nul_or;
use super::text::{parse_content_length, unescape_into, utf8, BadEscape};
use super::value::{Frame, HeaderIndex};
use super::version::{escapes_headers, Version};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames: the next line is a heart-beat or a command line.
    Idle,
    /// After the command line: header lines until the blank line.
    Headers,
    /// `content-length` was given: this many body bytes are still to come, then a NUL.
    Body { remaining: usize },
    /// No `content-length`: the body runs to the first NUL.
    BodyToNul,
}

/// The incremental STOMP decoder: feed it bytes as they arrive, in any split, and it
/// returns frames and heart-beats one at a time.
///
/// A frame that lies whole in the input is decoded in one pass; one that does not goes
/// through a line-by-line state machine, which keeps what it has consumed between calls
/// and never scans a byte twice for a line end or a NUL (a frame the one-pass path gave
/// up on is scanned once more). Either way the result is the same, and a frame costs
/// one allocation: its head (command and headers) and body share it.
///
/// Until [`Decoder::set_version`] is called no header is unescaped (the CONNECTED frame
/// that negotiates the version is never escaped) and CR LF line ends are accepted. Once
/// the version is set, 1.1 and 1.2 frames other than CONNECT, STOMP and CONNECTED are
/// unescaped, and on 1.0 and 1.1 a carriage return before a header line's line feed
/// belongs to the value (only 1.2 defines CR LF line ends). On every version a CR LF is
/// a heart-beat between frames, a CR ending the command line is dropped, and a line
/// holding just a CR ends the header section.
///
/// After an error the stream cannot be resynchronised: every later call returns the same
/// error.
///
/// ```
/// use stompws::frame::{Decoded, Decoder, Limits, Version};
///
/// let mut decoder = Decoder::new(Limits::default());
/// let mut got = Vec::new();
/// for chunk in [&b"CONNECTED\nversion:1.2\n\n\0\nMESS"[..], b"AGE\nid:a\\cb\n\nhi\0"] {
///     let mut input = chunk;
///     while let Some(item) = decoder.decode(&mut input)? {
///         if let Decoded::Frame(f) = &item {
///             if f.command() == "CONNECTED" {
///                 let version = f.header("version").and_then(Version::parse);
///                 decoder.set_version(version.unwrap_or(Version::V1_0));
///             }
///         }
///         got.push(item);
///     }
/// }
/// assert_eq!(got.len(), 3);
/// assert_eq!(got[1], Decoded::Heartbeat);
/// match &got[2] {
///     Decoded::Frame(f) => assert_eq!((f.header("id"), f.body()), (Some("a:b"), &b"hi"[..])),
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), stompws::Error>(())
/// ```
pub struct Decoder {
    limits: Limits,
    version: Option<Version>,
    state: State,
    /// The start of a line that began in an earlier input; empty otherwise, so lines
    /// that arrive whole are never copied here.
    line: Vec<u8>,
    /// The head of the frame being decoded, laid out as in `Frame`. Kept across frames
    /// and copied into `buffer`, so it allocates only while it grows.
    text: String,
    command_len: usize,
    header_count: usize,
    /// Whether this frame's header lines are unescaped.
    unescape: bool,
    /// The first `content-length` of this frame.
    content_length: Option<usize>,
    /// Bytes of this frame consumed before the body, for `max_frame_size`.
    head_bytes: usize,
    /// The frame being decoded, laid out as `Frame::data`: empty until the first body
    /// byte (or the body's size) is known, then the head copied from `text` and the body
    /// so far. Handed to the frame whole, so a frame costs one allocation.
    buffer: Vec<u8>,
    failed: Option<Error>,
    /// Buffers of the fast path for frames that arrive whole (see `fast.rs`).
    scratch: Scratch,
    /// Whether the fast path is tried; tests turn it off to compare the two paths.
    fast: bool,
    /// Frames and heart-beats the fast path decoded, so tests can see that it runs.
    #[cfg(test)]
    pub(super) fast_hits: usize,
}

impl Decoder {
    /// A decoder that enforces `limits` and has no version yet.
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            version: None,
            state: State::Idle,
            line: Vec::new(),
            text: String::new(),
            command_len: 0,
            header_count: 0,
            unescape: false,
            content_length: None,
            head_bytes: 0,
            buffer: Vec::new(),
            failed: None,
            scratch: Scratch::default(),
            fast: true,
            #[cfg(test)]
            fast_hits: 0,
        }
    }

    /// The same decoder with the fast path off: every byte goes through the state
    /// machine, which the fast path must agree with.
    #[cfg(test)]
    pub(super) fn without_fast_path(mut self) -> Decoder {
        self.fast = false;
        self
    }

    /// Sets the negotiated version, which decides unescaping and line ends for every
    /// frame whose command line is read from now on.
    pub fn set_version(&mut self, version: Version) {
        self.version = Some(version);
    }

    /// The version given to [`Decoder::set_version`], if any.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// Consumes bytes from the front of `*input` until a frame or an end-of-line
    /// heart-beat is complete, and returns it, leaving the remaining bytes in `*input`.
    ///
    /// Returns `Ok(None)` when `*input` ran out first; what was consumed is kept for the
    /// next call. Call again while it returns `Some`: one input may hold many frames.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for a malformed frame (a header line without `:`, an undefined
    /// escape, invalid UTF-8 in the head, a NUL in the head, a bad `content-length`, no
    /// NUL after a `content-length` body) or one beyond the [`Limits`]. The decoder is
    /// then stuck: the connection has to be closed.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Decoded>> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if input.is_empty() {
            // No state moves or fails without a byte (limits were checked as bytes
            // came), and the caller's loop always ends with this call.
            return Ok(None);
        }
        // Between frames, a frame that is whole in the input is decoded in one pass;
        // anything else (partial, unusual or wrong) is left to the state machine.
        if self.fast && self.state == State::Idle && self.line.is_empty() {
            let found = fast::decode_whole(input, &self.limits, self.version, &mut self.scratch);
            if let Some((decoded, len)) = found {
                #[cfg(test)]
                {
                    self.fast_hits += 1;
                }
                *input = &input[len..];
                return Ok(Some(decoded));
            }
        }
        let result = self.step(input);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// How many bytes of a `content-length` body are still to come; 0 between frames,
    /// in the head, or in a body without `content-length`.
    pub(crate) fn body_missing(&self) -> usize {
        match self.state {
            State::Body { remaining } => remaining,
            _ => 0,
        }
    }

    /// Room for the rest of a `content-length` body whose head is decoded and of
    /// which at least `min` bytes are still to come: the spare capacity of the frame's
    /// own buffer, exactly as long as the bytes missing. A reader may read from the
    /// socket straight into it, sparing the copy out of its read buffer, and then
    /// reports what it read with [`Decoder::body_filled`]. `None` otherwise (between
    /// frames, in the head, a body without `content-length`, a stuck decoder).
    pub(crate) fn body_spare(&mut self, min: usize) -> Option<&mut [MaybeUninit<u8>]> {
        match self.state {
            State::Body { remaining } if remaining >= min.max(1) && self.failed.is_none() => {
                // start_body reserved the whole body and its NUL: no reallocation here.
                Some(&mut self.buffer.spare_capacity_mut()[..remaining])
            }
            _ => None,
        }
    }

    /// Takes `n` body bytes written into the front of [`Decoder::body_spare`]'s slice.
    ///
    /// # Safety
    ///
    /// The first `n` bytes of the slice `body_spare` returned last must have been
    /// written, and `n` must not exceed its length.
    pub(crate) unsafe fn body_filled(&mut self, n: usize) {
        let State::Body { remaining } = self.state else {
            debug_assert!(n == 0, "body_filled outside a body");
            return;
        };
        debug_assert!(n <= remaining && self.buffer.len() + n <= self.buffer.capacity());
        let n = n.min(remaining);
        // SAFETY: the caller wrote the first `n` bytes of the spare capacity, and
        // `n <= remaining <= capacity - len` (start_body reserved the body).
        unsafe { self.buffer.set_len(self.buffer.len() + n) };
        self.state = State::Body {
            remaining: remaining - n,
        };
    }

    fn step(&mut self, input: &mut &[u8]) -> Result<Option<Decoded>> {
        loop {
            match self.state {
                State::Idle | State::Headers => {
                    let bytes = *input;
                    let Some(end) = self.find_line_end(bytes)? else {
                        *input = &[];
                        return Ok(None);
                    };
                    *input = &bytes[end + 1..];
                    let done = if self.line.is_empty() {
                        self.on_line(&bytes[..end])?
                    } else {
                        // Borrow the buffer out of `self` while the line is processed;
                        // taking and restoring it keeps its capacity.
                        let mut line = std::mem::take(&mut self.line);
                        line.extend_from_slice(&bytes[..end]);
                        let done = self.on_line(&line);
                        line.clear();
                        self.line = line;
                        done?
                    };
                    if let Some(decoded) = done {
                        return Ok(Some(decoded));
                    }
                }
                State::Body { remaining } => {
                    let bytes = *input;
                    let take = remaining.min(bytes.len());
                    self.buffer.extend_from_slice(&bytes[..take]);
                    let remaining = remaining - take;
                    self.state = State::Body { remaining };
                    let Some((&nul, rest)) = bytes[take..].split_first().filter(|_| remaining == 0)
                    else {
                        *input = &bytes[take..];
                        return Ok(None);
                    };
                    if nul != 0 {
                        // Strict on purpose: past a wrong length, where this frame
                        // ends and the next begins is unknown, and resuming at the next
                        // NUL could deliver an altered body or a made-up frame.
                        return Err(Error::protocol(format!(
                            "the {} frame's body of content-length {} is not followed by a \
                             NUL byte: the body is longer than its content-length header \
                             says (a server rewrote it without fixing the header, e.g. \
                             Spring replacing bytes that are not UTF-8)",
                            self.command(),
                            self.content_length.unwrap_or_default()
                        )));
                    }
                    *input = rest;
                    return self.finish_frame().map(Some);
                }
                State::BodyToNul => {
                    let bytes = *input;
                    let nul = find_nul_or(0, bytes);
                    let take = nul.unwrap_or(bytes.len());
                    let size = self.head_bytes + self.body_len() + take;
                    if size > self.limits.max_frame_size {
                        return Err(Error::protocol(format!(
                            "the {} frame is larger than the limit of {} bytes",
                            self.command(),
                            self.limits.max_frame_size
                        )));
                    }
                    if take > 0 {
                        // When the whole body is here, the frame is allocated exactly,
                        // NUL included.
                        self.start_buffer(take + usize::from(nul.is_some()));
                        self.buffer.extend_from_slice(&bytes[..take]);
                    }
                    let Some(nul) = nul else {
                        *input = &[];
                        return Ok(None);
                    };
                    *input = &bytes[nul + 1..];
                    return self.finish_frame().map(Some);
                }
            }
        }
    }

    /// Scans `bytes` for the end of the current line. On `None` all of `bytes` has been
    /// added to the partial line.
    fn find_line_end(&mut self, bytes: &[u8]) -> Result<Option<usize>> {
        let end = find_nul_or(b'\n', bytes);
        // Limits first, then the NUL: the checks then fail the same way however the
        // input is split, since a partial line sees only a prefix.
        let len = end.unwrap_or(bytes.len());
        if self.line.len() + len > self.limits.max_header_line {
            return Err(Error::protocol(format!(
                "a {} line is longer than the limit of {} bytes",
                if self.state == State::Idle {
                    "command"
                } else {
                    "header"
                },
                self.limits.max_header_line
            )));
        }
        self.head_bytes += len;
        if self.head_bytes > self.limits.max_frame_size {
            return Err(self.head_too_large());
        }
        match end {
            None => {
                self.line.extend_from_slice(bytes);
                Ok(None)
            }
            Some(end) if bytes[end] == 0 => Err(Error::protocol(if self.state == State::Idle {
                "a NUL byte where a command or heart-beat was expected".to_string()
            } else {
                format!(
                    "a NUL byte in the header section of a {} frame",
                    self.command()
                )
            })),
            Some(end) => {
                self.head_bytes += 1;
                Ok(Some(end))
            }
        }
    }

    /// Handles one complete line, without its line feed.
    fn on_line(&mut self, line: &[u8]) -> Result<Option<Decoded>> {
        if self.state == State::Idle {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                self.head_bytes = 0;
                return Ok(Some(Decoded::Heartbeat));
            }
            self.start_frame(line)?;
            return Ok(None);
        }
        let crlf = matches!(self.version, None | Some(Version::V1_2));
        let line = match line.strip_suffix(b"\r") {
            Some(stripped) if crlf || stripped.is_empty() => stripped,
            _ => line,
        };
        if line.is_empty() {
            self.start_body()?;
            return Ok(None);
        }
        self.add_header_line(line)?;
        Ok(None)
    }

    fn start_frame(&mut self, command: &[u8]) -> Result<()> {
        let command =
            utf8(command).ok_or_else(|| Error::protocol("the command line is not valid UTF-8"))?;
        self.text.clear();
        self.text.push_str(command);
        self.text.push('\0');
        self.command_len = command.len();
        self.header_count = 0;
        self.unescape = self.version.is_some_and(|v| escapes_headers(v, command));
        self.content_length = None;
        self.state = State::Headers;
        Ok(())
    }

    fn add_header_line(&mut self, line: &[u8]) -> Result<()> {
        if self.header_count >= self.limits.max_headers {
            return Err(Error::protocol(format!(
                "the {} frame has more than the limit of {} headers",
                self.command(),
                self.limits.max_headers
            )));
        }
        // Escapes are ASCII, so the line is valid UTF-8 exactly when its unescaped name
        // and value are: validating once up front lets unescaping work on &str.
        let line = utf8(line).ok_or_else(|| {
            Error::protocol(format!(
                "a header line of the {} frame is not valid UTF-8",
                self.command()
            ))
        })?;
        // Short lines: a plain loop beats the setup of a memchr-style search here.
        let colon = line.bytes().position(|b| b == b':');
        let Some((name, value)) = colon.map(|i| (&line[..i], &line[i + 1..])) else {
            return Err(Error::protocol(format!(
                "the header line {line:?} of the {} frame has no ':'",
                self.command()
            )));
        };
        let name_start = self.text.len();
        self.push_header_piece(name)?;
        let name_end = self.text.len();
        self.push_header_piece(value)?;
        self.header_count += 1;
        if self.content_length.is_none() && &self.text[name_start..name_end] == "content-length\0" {
            let value = &self.text[name_end..self.text.len() - 1];
            let len = parse_content_length(value.as_bytes()).ok_or_else(|| {
                Error::protocol(format!(
                    "the {} frame has an invalid content-length {value:?}",
                    self.command()
                ))
            })?;
            // Refuse here, before any body byte arrives or is allocated for.
            if self.head_bytes.saturating_add(len) > self.limits.max_frame_size {
                return Err(self.content_length_too_large(len));
            }
            self.content_length = Some(len);
        }
        Ok(())
    }

    /// Appends a header name or value, unescaped when the frame is escaped, and its NUL.
    fn push_header_piece(&mut self, piece: &str) -> Result<()> {
        if !self.unescape {
            self.text.push_str(piece);
            self.text.push('\0');
            return Ok(());
        }
        let crlf = self.version == Some(Version::V1_2);
        match unescape_into(&mut self.text, piece, crlf) {
            Ok(()) => Ok(()),
            Err(BadEscape::Undefined(escape)) => Err(Error::protocol(format!(
                "undefined escape {escape:?} in a header of the {} frame",
                self.command()
            ))),
            Err(BadEscape::LoneBackslash) => Err(Error::protocol(format!(
                "a header of the {} frame ends with a lone backslash",
                self.command()
            ))),
        }
    }

    fn start_body(&mut self) -> Result<()> {
        self.state = match self.content_length {
            Some(len) => {
                // Checked when the header was read, but later header lines count too.
                if self.head_bytes.saturating_add(len) > self.limits.max_frame_size {
                    return Err(self.content_length_too_large(len));
                }
                self.start_buffer(if len == 0 { 0 } else { len + 1 });
                State::Body { remaining: len }
            }
            None => State::BodyToNul,
        };
        Ok(())
    }

    /// Starts `buffer` with the head, unless it has been, with room for `more` bytes.
    fn start_buffer(&mut self, more: usize) {
        if self.buffer.is_empty() {
            self.buffer.reserve_exact(self.text.len() + more);
            self.buffer.extend_from_slice(self.text.as_bytes());
        }
    }

    /// Body bytes of this frame read so far.
    fn body_len(&self) -> usize {
        self.buffer.len().saturating_sub(self.text.len())
    }

    fn finish_frame(&mut self) -> Result<Decoded> {
        let has_body = self.body_len() > 0;
        self.start_buffer(0);
        if has_body {
            self.buffer.push(0);
        }
        let buffer = std::mem::take(&mut self.buffer);
        let head_len = self.text.len();
        // The head was checked line by line, so this does not fail.
        let index = HeaderIndex::scan(self.text.as_bytes(), self.command_len);
        let frame =
            Frame::from_buffer(buffer, head_len, self.command_len, self.header_count, index)
                .ok_or_else(|| Error::protocol("the frame's head is not valid UTF-8"))?;
        // A huge header section should not pin its memory for the connection's life.
        if self.text.capacity() > 64 << 10 {
            self.text = String::new();
        }
        self.state = State::Idle;
        self.head_bytes = 0;
        Ok(Decoded::Frame(frame))
    }

    /// Heap bytes held by the decoder's buffers, for tests of the limits.
    #[cfg(test)]
    pub(super) fn buffered(&self) -> usize {
        self.line.capacity() + self.text.capacity() + self.buffer.capacity()
    }

    fn command(&self) -> &str {
        &self.text[..self.command_len]
    }

    fn content_length_too_large(&self, len: usize) -> Error {
        Error::protocol(format!(
            "the {} frame's content-length {len} exceeds the frame size limit of {} bytes",
            self.command(),
            self.limits.max_frame_size
        ))
    }

    fn head_too_large(&self) -> Error {
        Error::protocol(format!(
            "a frame's command and header section exceed the frame size limit of {} bytes",
            self.limits.max_frame_size
        ))
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("limits", &self.limits)
            .field("version", &self.version)
            .field("state", &self.state)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}
