//! What the decoder gives, and the limits it keeps.

use super::value::Frame;

/// Bounds on what the [`Decoder`](super::Decoder) accepts, so a broken or hostile peer cannot make it
/// allocate without limit. Each is checked before the memory it guards is allocated.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest frame: command line, header section and body together. A
    /// `content-length` that would exceed it fails as soon as the header is read.
    pub max_frame_size: usize,
    /// The most headers one frame may carry, repeats included.
    pub max_headers: usize,
    /// The longest command or header line, in bytes, without its line feed.
    pub max_header_line: usize,
}

impl Default for Limits {
    /// 64 MiB frames, 1024 headers, 64 KiB lines.
    fn default() -> Limits {
        Limits {
            max_frame_size: 64 << 20,
            max_headers: 1024,
            max_header_line: 64 << 10,
        }
    }
}

/// One thing the [`Decoder`](super::Decoder) found in the byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A complete frame.
    Frame(Frame),
    /// One end-of-line (`\n` or `\r\n`) between frames: a heart-beat from the peer.
    Heartbeat,
}
