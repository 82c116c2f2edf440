//! The decoder's fast path: a frame (or heart-beat) that lies whole at the front of the
//! input, decoded in one pass.
//!
//! The state machine in `decode.rs` accepts the input in any split, at the price of
//! taking each line through its states and copying each header piece on its own. But a
//! read usually holds whole frames, and for those much of that work is not needed: here
//! the head's lines are found and checked in one scan, and the frame's head text is made
//! by copying the raw head once and overwriting each line feed and each header line's
//! first `:` with a NUL, which for a head without escapes is exactly `Frame`'s layout.
//!
//! This path never reports an error. It declines (returns `None`) whenever the frame is
//! not complete in the input or anything is unusual: a limit passed, a malformed line, a
//! carriage return at a line end, invalid UTF-8, a bad escape. The state machine then
//! decodes the same bytes from the same state, so errors, and frames that need CR LF
//! handling, come out exactly as they always did. What it must get right is only the
//! frames it accepts: the same [`Frame`], including the capacity of its buffers.

use super::decoded::{Decoded, Limits};
use super::scan::{contains, find_nul_or};
use super::text::{parse_content_length, unescape_into, utf8};
use super::value::{Frame, HeaderIndex};
use super::version::{escapes_headers, Version};

/// Reusable buffers of the fast path, kept in the decoder so no frame allocates them.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// For each header line, the offsets in the input of its `:` and its line feed.
    marks: Vec<usize>,
    /// The head of an escaped frame, unescaped, before it is copied into the frame.
    text: String,
}

impl Scratch {
    /// Drops a buffer that a huge header section grew, so that it does not pin its
    /// memory for the connection's life.
    fn trim(&mut self) {
        if self.text.capacity() > 64 << 10 {
            self.text = String::new();
        }
    }
}

/// Decodes the frame or heart-beat at the front of `input` if it is complete there and
/// plain enough; returns it and the number of bytes it took. `None` leaves the input to
/// the state machine. Must be called only between frames (nothing of a line consumed).
pub(super) fn decode_whole(
    input: &[u8],
    limits: &Limits,
    version: Option<Version>,
    scratch: &mut Scratch,
) -> Option<(Decoded, usize)> {
    let (command, mut pos) = line_at(input, 0, limits)?;
    if command.is_empty() || command == b"\r" {
        // A CR LF heart-beat is one byte of "command line", within the limits just
        // checked; the state machine counts it the same way.
        return (command.len() <= limits.max_frame_size).then_some((Decoded::Heartbeat, pos));
    }
    if command.ends_with(b"\r") {
        return None; // the CR is dropped from the command: not a plain copy
    }
    // The command's own check comes first because it decides unescaping, which the
    // header lines need to be read by.
    let unescape = version.is_some_and(|v| utf8(command).is_some_and(|c| escapes_headers(v, c)));
    scratch.marks.clear();
    let mut content_length = None;
    let mut index = HeaderIndex::default();
    loop {
        let (line, next) = line_at(input, pos, limits)?;
        pos = next;
        if line.is_empty() {
            break;
        }
        if line.ends_with(b"\r") || scratch.marks.len() / 2 >= limits.max_headers {
            return None;
        }
        // The line holds no NUL, so this finds the first ':'.
        let colon = find_nul_or(b':', line)?;
        if content_length.is_none() && &line[..colon] == b"content-length" {
            // An escape in the value makes it invalid either way: no digit unescapes.
            content_length = Some(parse_content_length(&line[colon + 1..])?);
        }
        scratch.marks.push(next - 1 - line.len() + colon);
        scratch.marks.push(next - 1);
        // The line feed becomes the value's NUL: the header ends just after it.
        index.push(next);
    }
    let (body, end) = body_at(input, pos, content_length, limits)?;
    // One scan of the whole head: cheaper than one per line.
    let escaped = unescape && contains(b'\\', &input[..pos]);
    let header_count = scratch.marks.len() / 2;
    // `from_buffer` checks that the head is UTF-8.
    let frame = if escaped {
        let head = unescaped_head(input, command.len(), version, scratch)?;
        let data = frame_buffer(head, command.len(), &[], body);
        let index = HeaderIndex::scan(head, command.len());
        let frame = Frame::from_buffer(data, head.len(), command.len(), header_count, index);
        scratch.trim();
        frame?
    } else {
        // Everything before the blank line's line feed.
        let head = &input[..pos - 1];
        let data = frame_buffer(head, command.len(), &scratch.marks, body);
        Frame::from_buffer(data, head.len(), command.len(), header_count, index)?
    };
    Some((Decoded::Frame(frame), end))
}

/// The complete line starting at `start`, without its line feed, and the offset after
/// it; `None` when it does not end in `input`, holds a NUL or is over the line limit.
#[inline]
fn line_at<'a>(input: &'a [u8], start: usize, limits: &Limits) -> Option<(&'a [u8], usize)> {
    let rest = &input[start..];
    let end = find_nul_or(b'\n', rest)?;
    if rest[end] != b'\n' || end > limits.max_header_line {
        return None;
    }
    Some((&rest[..end], start + end + 1))
}

/// The body starting at `start` and the offset after the frame's NUL; `None` when the
/// frame is incomplete, over the size limit, or its content-length body is not followed
/// by a NUL.
fn body_at<'a>(
    input: &'a [u8],
    start: usize,
    content_length: Option<usize>,
    limits: &Limits,
) -> Option<(&'a [u8], usize)> {
    let len = match content_length {
        Some(len) => len,
        None => find_nul_or(0, &input[start..])?,
    };
    // `start` counts the whole head, blank line included, as the state machine does.
    if start.saturating_add(len) > limits.max_frame_size {
        return None;
    }
    let nul = start + len;
    if *input.get(nul)? != 0 {
        return None;
    }
    Some((&input[start..nul], nul + 1))
}

/// The frame's buffer (see `Frame::data`), exactly sized as the state machine sizes it:
/// `head` with a NUL after the command and at each offset in `nuls` (the header lines'
/// first `:` and line feeds, which makes a raw head without escapes `Frame`'s head),
/// then the body and its 0.
fn frame_buffer(head: &[u8], command_len: usize, nuls: &[usize], body: &[u8]) -> Vec<u8> {
    let body_len = if body.is_empty() { 0 } else { body.len() + 1 };
    let mut data = Vec::with_capacity(head.len() + body_len);
    data.extend_from_slice(head);
    data[command_len] = 0;
    for &at in nuls {
        data[at] = 0;
    }
    if !body.is_empty() {
        data.extend_from_slice(body);
        data.push(0);
    }
    data
}

/// `Frame`'s head for a head with escapes, built piece by piece in the scratch buffer.
/// `None` on invalid UTF-8 or a bad escape.
fn unescaped_head<'a>(
    input: &[u8],
    command_len: usize,
    version: Option<Version>,
    scratch: &'a mut Scratch,
) -> Option<&'a [u8]> {
    let crlf = version == Some(Version::V1_2);
    let text = &mut scratch.text;
    text.clear();
    text.push_str(utf8(&input[..command_len])?);
    text.push('\0');
    let mut start = command_len + 1;
    for mark in scratch.marks.chunks_exact(2) {
        let (colon, lf) = (mark[0], mark[1]);
        let line = utf8(&input[start..lf])?;
        let (name, value) = line.split_at(colon - start);
        unescape_into(text, name, crlf).ok()?;
        unescape_into(text, &value[1..], crlf).ok()?;
        start = lf + 1;
    }
    Some(text.as_bytes())
}
