//! [`Frame`]: one STOMP frame as a value, in one allocation.

use std::ffi::CStr;
use std::fmt;

use super::{scan, text};

/// A decoded or built STOMP frame: a command, headers in order (repeats kept) and a
/// body of arbitrary bytes.
///
/// Header names and values are held unescaped, exactly as the application sees them;
/// escaping happens in [`Frame::encode`] and unescaping in [`Decoder`](super::Decoder).
///
/// ```
/// use stompws::Frame;
///
/// let mut frame = Frame::new("MESSAGE")
///     .with_header("destination", "/queue/a")
///     .with_header("foo", "World")
///     .with_body(b"hi");
/// frame.add_header("foo", "Hello");
/// assert_eq!(frame.command(), "MESSAGE");
/// assert_eq!(frame.header("foo"), Some("World")); // the first occurrence wins
/// assert_eq!(frame.header_count(), 3);
/// assert_eq!(frame.header_at(2), Some(("foo", "Hello")));
/// let names: Vec<&str> = frame.headers().map(|(name, _)| name).collect();
/// assert_eq!(names, ["destination", "foo", "foo"]);
/// assert_eq!(frame.body(), b"hi");
/// ```
#[derive(Clone)]
pub struct Frame {
    /// The head, `command\0name\0value\0name\0value\0...`, then the body and one 0 byte
    /// (nothing after the head when the body is empty). One allocation per frame: a
    /// received frame is allocated by the reading thread and freed by the application's,
    /// where the allocator's per-thread caches do not help, so each one counts. Every
    /// head piece is both a `&str` and a NUL-terminated C string without copying, and so
    /// is a text body, for the C API.
    data: Vec<u8>,
    /// Length of the head in `data`. Invariant: `data[..head_len]` is valid UTF-8; it is
    /// written only from `&str`s or checked (`from_buffer`), and nothing else writes it.
    head_len: usize,
    /// Length of the command, so `command()` needs no scan.
    command_len: usize,
    header_count: usize,
    /// Where the first headers end, for `header`.
    index: HeaderIndex,
    /// The link (connection) of a client session this frame was received on; 0 for a
    /// frame a client did not receive. Acks check it: a message of a lost connection
    /// cannot be acked on the next one. Not part of the frame's value (equality ignores it).
    epoch: u64,
}

/// How many headers `HeaderIndex` covers: enough for a broker's usual MESSAGE frame.
const INDEXED: usize = 11;

/// Where the first headers of a frame end in its head (just past each value's NUL),
/// so that `Frame::header` compares names in place without scanning for the ends of
/// names and values, which cost more than the comparisons. Header `i` is
/// `data[end(i - 1)..end(i)]`, the first one starting after the command. A cache of
/// what the head says: frame equality ignores it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HeaderIndex {
    ends: [u16; INDEXED],
    /// How many of `ends` are set: the first headers, as far as their ends fit a u16.
    len: u8,
}

impl HeaderIndex {
    /// Notes where the next header ends, if there is room. Called for every header in
    /// order, it indexes the first ones: once an end does not fit, no later one does.
    #[inline]
    pub(crate) fn push(&mut self, end: usize) {
        let len = usize::from(self.len);
        if len < INDEXED && end <= usize::from(u16::MAX) {
            self.ends[len] = end as u16;
            self.len += 1;
        }
    }

    /// The index of `head`, laid out as `Frame::data`'s head with a command of
    /// `command_len` bytes, found by scanning it.
    pub(crate) fn scan(head: &[u8], command_len: usize) -> HeaderIndex {
        let mut index = HeaderIndex::default();
        let mut at = command_len + 1;
        while usize::from(index.len) < INDEXED && at < head.len() {
            let Some(name) = scan::find_nul_or(0, &head[at..]) else {
                break;
            };
            let Some(value) = scan::find_nul_or(0, &head[at + name + 1..]) else {
                break;
            };
            at += name + value + 2;
            index.push(at);
        }
        index
    }

    fn ends(&self) -> &[u16] {
        &self.ends[..usize::from(self.len)]
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        // `index` follows from the rest.
        (
            &self.data,
            self.head_len,
            self.command_len,
            self.header_count,
        ) == (
            &other.data,
            other.head_len,
            other.command_len,
            other.header_count,
        )
    }
}

impl Eq for Frame {}

impl Frame {
    /// A frame with this command, no headers and an empty body.
    ///
    /// A NUL byte cannot be stored (every piece of a frame is also a C string); one in
    /// `command` is replaced by U+FFFD. STOMP could not carry it anyway.
    pub fn new(command: &str) -> Frame {
        // Room for a few typical headers, so building a frame rarely reallocates.
        let mut data = Vec::with_capacity(command.len() + 96);
        push_piece(&mut data, command);
        Frame {
            command_len: data.len() - 1,
            head_len: data.len(),
            data,
            header_count: 0,
            index: HeaderIndex::default(),
            epoch: 0,
        }
    }

    /// Assembles a frame from a buffer laid out as `Frame::data` by the decoder, which
    /// has checked the layout and indexed its headers; `None` when the head is not UTF-8
    /// (checked here, so the decoder's fast path needs no check of its own).
    pub(crate) fn from_buffer(
        data: Vec<u8>,
        head_len: usize,
        command_len: usize,
        header_count: usize,
        index: HeaderIndex,
    ) -> Option<Frame> {
        text::utf8(&data[..head_len])?;
        debug_assert_eq!(data.get(command_len), Some(&0));
        debug_assert_eq!(data[..head_len].last(), Some(&0));
        debug_assert!(data.len() == head_len || data.last() == Some(&0));
        debug_assert_eq!(
            index.ends(),
            HeaderIndex::scan(&data[..head_len], command_len).ends()
        );
        debug_assert!(index.ends().len() <= header_count);
        Some(Frame {
            data,
            head_len,
            command_len,
            header_count,
            index,
            epoch: 0,
        })
    }

    /// The link this frame was received on (0 if none); see `Frame::epoch`.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Tags the frame with the link it was received on.
    pub(crate) fn set_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
    }

    /// Appends a header and returns the frame, for building in one expression.
    ///
    /// Nothing is validated here (see [`check_header`](super::check_header)); a NUL byte is replaced by U+FFFD.
    pub fn with_header(mut self, name: &str, value: &str) -> Frame {
        self.add_header(name, value);
        self
    }

    /// Appends a header after the existing ones; an existing header of the same name is
    /// kept and still wins in [`Frame::header`].
    ///
    /// Nothing is validated here (see [`check_header`](super::check_header)); a NUL byte is replaced by U+FFFD.
    pub fn add_header(&mut self, name: &str, value: &str) {
        if self.data.len() == self.head_len {
            push_piece(&mut self.data, name);
            push_piece(&mut self.data, value);
            self.head_len = self.data.len();
        } else {
            // The body comes after the head: make room in front of it (rare, and the
            // builder's usual order, headers then body, never gets here).
            let mut pieces = Vec::new();
            push_piece(&mut pieces, name);
            push_piece(&mut pieces, value);
            let added = pieces.len();
            self.data.splice(self.head_len..self.head_len, pieces);
            self.head_len += added;
        }
        self.index.push(self.head_len);
        self.header_count += 1;
    }

    /// Replaces the body and returns the frame.
    pub fn with_body(mut self, body: &[u8]) -> Frame {
        self.data.truncate(self.head_len);
        if !body.is_empty() {
            self.data.reserve_exact(body.len() + 1);
            self.data.extend_from_slice(body);
            self.data.push(0);
        }
        self
    }

    /// The head: `command\0name\0value\0...`.
    fn text(&self) -> &str {
        // SAFETY: `data[..head_len]` is valid UTF-8, the invariant of `head_len`: the
        // constructors write the head from `&str`s (`push_piece`) or check it
        // (`from_buffer`), `add_header` only adds whole pieces from `&str`s, and
        // `with_body` only changes bytes after `head_len`.
        unsafe { std::str::from_utf8_unchecked(&self.data[..self.head_len]) }
    }

    /// The body followed by its 0 byte; empty when the body is.
    fn body_and_nul(&self) -> &[u8] {
        &self.data[self.head_len..]
    }

    /// The command, e.g. `"MESSAGE"`.
    pub fn command(&self) -> &str {
        &self.text()[..self.command_len]
    }

    /// The value of the first header called `name` (names are case-sensitive), as STOMP
    /// says repeated headers are to be read.
    pub fn header(&self, name: &str) -> Option<&str> {
        let (start, end) = self.header_span(name.as_bytes())?;
        Self::found(self.text(), start, end, name)
    }

    /// Where the value of the first header called `wanted` is in `text()`: its start,
    /// and its end, where its NUL is.
    #[inline]
    fn header_span(&self, wanted: &[u8]) -> Option<(usize, usize)> {
        // On the receive path for every message (subscription routing, the caller's
        // own lookups): the indexed headers first, whose ends are known, then a scan.
        let bytes = self.text().as_bytes();
        // Where `name\0` would be at `at`, and the name at `at` is `wanted` or longer.
        let is_wanted = |at: usize| {
            let rest = &bytes[at..];
            rest.get(wanted.len()) == Some(&0) && rest.starts_with(wanted)
        };
        let mut pos = self.command_len + 1;
        for &end in self.index.ends() {
            let end = usize::from(end);
            if is_wanted(pos) {
                return Some((pos + wanted.len() + 1, end - 1));
            }
            pos = end;
        }
        // Headers past the index: the name's end is found only when it is not the one.
        while pos < bytes.len() {
            let hit = is_wanted(pos);
            let name_len = if hit {
                wanted.len()
            } else {
                scan::find_nul_or(0, &bytes[pos..])?
            };
            let value_start = pos + name_len + 1;
            let value_end = value_start + scan::find_nul_or(0, &bytes[value_start..])?;
            if hit {
                return Some((value_start, value_end));
            }
            pos = value_end + 1;
        }
        None
    }

    /// The value `text[start..end]` of a header whose name matched `name`, unless that
    /// was only because `name` holds a NUL (which no header name does).
    fn found<'a>(text: &'a str, start: usize, end: usize, name: &str) -> Option<&'a str> {
        // Both ends sit next to a NUL (ASCII), so they are char boundaries.
        let holds_nul = scan::find_nul_or(0, name.as_bytes()).is_some();
        (!holds_nul).then(|| &text[start..end])
    }

    /// All headers in frame order, repeats included.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut rest = &self.text()[self.command_len + 1..];
        // Pieces are short, so a byte loop beats `split` and its memchr setup.
        let mut next_piece = move || {
            let end = rest.bytes().position(|b| b == 0)?;
            let piece = &rest[..end];
            rest = &rest[end + 1..];
            Some(piece)
        };
        std::iter::from_fn(move || Some((next_piece()?, next_piece()?)))
    }

    /// The number of headers, repeats included.
    pub fn header_count(&self) -> usize {
        self.header_count
    }

    /// The `index`th header (from 0) in frame order, or `None` past the end.
    pub fn header_at(&self, index: usize) -> Option<(&str, &str)> {
        self.headers().nth(index)
    }

    /// The body; empty when the frame has none.
    pub fn body(&self) -> &[u8] {
        match self.body_and_nul().split_last() {
            Some((_, body)) => body,
            None => &[],
        }
    }

    /// Takes the body out of the frame, in the frame's own buffer: no allocation, but
    /// the body's bytes move to the front of it (head and body share one allocation).
    pub fn into_body(mut self) -> Vec<u8> {
        self.data.drain(..self.head_len);
        self.data.pop();
        self.data
    }

    /// The command as a C string borrowed from the frame.
    pub(crate) fn command_cstr(&self) -> &CStr {
        cstr_at(self.text(), 0)
    }

    /// The first header called `name` (bytes, as C gives them: no UTF-8 check needed to
    /// compare), as a C string borrowed from the frame. Found through the header index
    /// like [`Frame::header`].
    pub(crate) fn header_cstr(&self, name: &[u8]) -> Option<&CStr> {
        let (start, end) = self.header_span(name)?;
        // The value ends at its NUL (`end`), so the C string is exactly the value.
        CStr::from_bytes_with_nul(&self.text().as_bytes()[start..=end]).ok()
    }

    /// The `index`th header as C strings borrowed from the frame.
    pub(crate) fn header_at_cstr(&self, index: usize) -> Option<(&CStr, &CStr)> {
        self.header_offsets()
            .nth(index)
            .map(|(n, v)| (cstr_at(self.text(), n), cstr_at(self.text(), v)))
    }

    /// The body followed by one 0 byte that is not part of it, so C can read a text body
    /// as a string.
    pub(crate) fn body_with_nul(&self) -> &[u8] {
        match self.body_and_nul() {
            [] => &[0],
            body => body,
        }
    }

    /// Bytes of head text and body together, for sizing an encoding.
    pub(super) fn text_len(&self) -> usize {
        self.data.len()
    }

    /// Approximate heap bytes held by the frame, for queue byte limits.
    pub fn size_hint(&self) -> usize {
        std::mem::size_of::<Frame>() + self.data.capacity()
    }

    /// Start offsets in `text` of each header's name and value.
    fn header_offsets(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let bytes = self.text().as_bytes();
        let mut at = self.command_len + 1;
        let mut next_piece = move || {
            let start = at;
            let len = bytes.get(start..)?.iter().position(|&b| b == 0)?;
            at = start + len + 1;
            Some(start)
        };
        std::iter::from_fn(move || Some((next_piece()?, next_piece()?)))
    }
}

/// Appends `s` and its terminating NUL, replacing NULs inside `s` so the layout holds.
/// What it appends is valid UTF-8.
fn push_piece(data: &mut Vec<u8>, s: &str) {
    if s.contains('\0') {
        let replaced: String = s
            .chars()
            .map(|c| if c == '\0' { '\u{FFFD}' } else { c })
            .collect();
        data.extend_from_slice(replaced.as_bytes());
    } else {
        data.extend_from_slice(s.as_bytes());
    }
    data.push(0);
}

/// The NUL-terminated piece of `text` starting at `start`.
fn cstr_at(text: &str, start: usize) -> &CStr {
    // Every piece ends with a NUL (see `Frame::text`), so this finds one; the fallback
    // only keeps a broken invariant from panicking.
    CStr::from_bytes_until_nul(&text.as_bytes()[start..]).unwrap_or_default()
}

impl fmt::Debug for Frame {
    /// Command and headers in full (except a `passcode`), the body as its length and
    /// first bytes, so that logging a 64 MiB message stays readable.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 32;
        struct Headers<'a>(&'a Frame);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Frames end up in logs; a CONNECT frame's password should not.
                let redacted = self.0.headers().map(|(name, value)| match name {
                    "passcode" => (name, "<redacted>"),
                    _ => (name, value),
                });
                f.debug_list().entries(redacted).finish()
            }
        }
        struct Body<'a>(&'a [u8]);
        impl fmt::Debug for Body<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let shown = &self.0[..self.0.len().min(SHOWN)];
                let more = if self.0.len() > SHOWN { "..." } else { "" };
                write!(
                    f,
                    "{} bytes b\"{}{more}\"",
                    self.0.len(),
                    shown.escape_ascii()
                )
            }
        }
        f.debug_struct("Frame")
            .field("command", &self.command())
            .field("headers", &Headers(self))
            .field("body", &Body(self.body()))
            .finish()
    }
}
