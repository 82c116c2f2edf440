//! Frame to bytes: `Frame::encode` and the allocation-free `FrameWriter`.

use super::scan::find_escaped;
use super::value::Frame;
use super::version::{escapes_headers, Version};

/// Which bytes of header names and values get a backslash escape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escaping {
    /// STOMP 1.0, or a CONNECT, STOMP or CONNECTED frame.
    Off,
    /// STOMP 1.1: backslash, line feed, `:`.
    V1_1,
    /// STOMP 1.2: as 1.1, plus carriage return.
    V1_2,
}

impl Escaping {
    fn new(version: Version, command: &str) -> Escaping {
        match version {
            _ if !escapes_headers(version, command) => Escaping::Off,
            Version::V1_1 => Escaping::V1_1,
            _ => Escaping::V1_2,
        }
    }

    /// The escape for `b`, or `None` when `b` goes out as it is.
    const fn escape(self, b: u8) -> Option<&'static [u8; 2]> {
        match (self, b) {
            (Escaping::Off, _) => None,
            (_, b'\\') => Some(b"\\\\"),
            (_, b'\n') => Some(b"\\n"),
            (_, b':') => Some(b"\\c"),
            (Escaping::V1_2, b'\r') => Some(b"\\r"),
            _ => None,
        }
    }
}

/// Writes one frame straight into a byte buffer, with no allocation of its own: the
/// encoder of the hot send path.
///
/// Call [`FrameWriter::header`] for each header, optionally
/// [`FrameWriter::content_length`], then [`FrameWriter::finish`] with the body. A writer
/// dropped before `finish` leaves a partial frame in the buffer.
///
/// Headers are escaped for the version and command (see [`check_header`] for which
/// headers can be carried at all) but not validated.
///
/// [`check_header`]: super::version::check_header
///
/// ```
/// use stompws::frame::{FrameWriter, Version};
///
/// let mut out = Vec::new();
/// let body = b"hello";
/// let mut w = FrameWriter::new(&mut out, "SEND", Version::V1_2);
/// w.header("destination", "/queue/a").content_length(body.len());
/// w.finish(body);
/// assert_eq!(out, b"SEND\ndestination:/queue/a\ncontent-length:5\n\nhello\0");
/// ```
#[must_use = "a frame is complete only after finish()"]
pub struct FrameWriter<'a> {
    out: &'a mut Vec<u8>,
    escaping: Escaping,
}

impl<'a> FrameWriter<'a> {
    /// Starts a frame by appending the command line to `out`.
    ///
    /// Header escaping is on for version 1.1 and later unless `command` is CONNECT, STOMP
    /// or CONNECTED. The command itself is never escaped.
    pub fn new(out: &'a mut Vec<u8>, command: &str, version: Version) -> Self {
        out.extend_from_slice(command.as_bytes());
        out.push(b'\n');
        FrameWriter {
            out,
            escaping: Escaping::new(version, command),
        }
    }

    /// Appends the header line `name:value`, escaping both as the frame requires.
    ///
    /// Does not validate: a header that [`check_header`](super::version::check_header) rejects
    /// produces a frame the peer will misread.
    pub fn header(&mut self, name: &str, value: &str) -> &mut Self {
        self.write_escaped(name.as_bytes());
        self.value(value)
    }

    /// [`FrameWriter::header`] for a name of the library's own, which needs no escape
    /// (`destination`, `id`, `receipt`): only the value is escaped.
    #[inline]
    pub(crate) fn own_header(&mut self, name: &str, value: &str) -> &mut Self {
        debug_assert!(find_escaped(name.as_bytes(), true).is_none(), "{name:?}");
        self.out.extend_from_slice(name.as_bytes());
        self.value(value)
    }

    /// The rest of a header line after its name: `:`, the escaped value, line feed.
    #[inline]
    fn value(&mut self, value: &str) -> &mut Self {
        self.out.push(b':');
        self.write_escaped(value.as_bytes());
        self.out.push(b'\n');
        self
    }

    /// Appends `content-length:len` without allocating.
    pub fn content_length(&mut self, len: usize) -> &mut Self {
        self.out.extend_from_slice(b"content-length:");
        // u64::MAX has 20 digits.
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = len;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.out.extend_from_slice(&digits[at..]);
        self.out.push(b'\n');
        self
    }

    /// Ends the header section and appends the body and the terminating NUL.
    pub fn finish(self, body: &[u8]) {
        self.out.reserve(body.len() + 2);
        self.out.push(b'\n');
        self.out.extend_from_slice(body);
        self.out.push(0);
    }

    /// Ends the header section (the blank line) without a body, for a caller that
    /// writes the body and the NUL itself (the WebSocket path, which masks as it copies).
    pub(crate) fn finish_head(self) {
        self.out.push(b'\n');
    }

    fn write_escaped(&mut self, mut s: &[u8]) {
        if self.escaping == Escaping::Off {
            self.out.extend_from_slice(s);
            return;
        }
        let cr = self.escaping == Escaping::V1_2;
        // Copy runs that need no escape in one go; most headers are a single run.
        while let Some(i) = find_escaped(s, cr) {
            self.out.extend_from_slice(&s[..i]);
            if let Some(escape) = self.escaping.escape(s[i]) {
                self.out.extend_from_slice(escape);
            }
            s = &s[i + 1..];
        }
        self.out.extend_from_slice(s);
    }
}

impl Frame {
    /// Appends the frame, encoded for `version`, to `out`.
    ///
    /// Headers are escaped as the version and command require (see [`FrameWriter::new`])
    /// and are not validated (see [`check_header`](super::version::check_header)). When
    /// `content_length` is true and the frame has no `content-length` header, one giving
    /// the body's length is added after the other headers; sending it always is what
    /// keeps bodies with NUL bytes intact.
    ///
    /// ```
    /// use stompws::frame::{Frame, Version};
    ///
    /// let frame = Frame::new("SEND").with_header("destination", "/queue/a");
    /// let mut out = Vec::new();
    /// frame.encode(Version::V1_2, false, &mut out);
    /// assert_eq!(out, b"SEND\ndestination:/queue/a\n\n\0");
    /// ```
    pub fn encode(&self, version: Version, content_length: bool, out: &mut Vec<u8>) {
        // Header text plus escapes, ':' and '\n' per header, a content-length line and the
        // framing: usually enough that the whole frame is one reservation.
        out.reserve(self.text_len() + self.header_count() * 2 + 40);
        let mut w = FrameWriter::new(out, self.command(), version);
        let mut has_content_length = false;
        for (name, value) in self.headers() {
            has_content_length |= name == "content-length";
            w.header(name, value);
        }
        if content_length && !has_content_length {
            w.content_length(self.body().len());
        }
        w.finish(self.body());
    }
}
