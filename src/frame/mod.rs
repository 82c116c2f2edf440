//! STOMP 1.0/1.1/1.2 frame codec: pure, no I/O.
//!
//! A frame is a command line, header lines `name:value`, a blank line, the body and a
//! NUL byte. [`Frame`] holds one decoded or built frame, [`Frame::encode`] and the
//! allocation-free [`FrameWriter`] turn frames into bytes, and [`Decoder`] turns bytes
//! that arrive in any split back into frames and heart-beats.
//!
//! Header escaping follows the negotiated [`Version`]: 1.1 writes backslash, line feed
//! and `:` as `\\`, `\n` and `\c`; 1.2 also writes carriage return as `\r`; 1.0 and the
//! CONNECT, STOMP and CONNECTED frames of every version are never escaped. An undefined
//! escape on receipt is a protocol error.
//!
//! ```
//! use stompws::frame::{Decoded, Decoder, Frame, Limits, Version};
//!
//! let send = Frame::new("SEND")
//!     .with_header("destination", "/queue/a")
//!     .with_header("note", "a:b")
//!     .with_body(b"hello\0world");
//! let mut wire = Vec::new();
//! send.encode(Version::V1_2, true, &mut wire);
//! assert_eq!(wire, b"SEND\ndestination:/queue/a\nnote:a\\cb\ncontent-length:11\n\nhello\0world\0");
//!
//! let mut decoder = Decoder::new(Limits::default());
//! decoder.set_version(Version::V1_2);
//! let mut input = &wire[..];
//! match decoder.decode(&mut input)? {
//!     Some(Decoded::Frame(f)) => {
//!         assert_eq!(f.header("note"), Some("a:b"));
//!         assert_eq!(f.body(), b"hello\0world");
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! assert!(input.is_empty());
//! # Ok::<(), stompws::Error>(())
//! ```

//!
//! Files, each depending only on those listed before it:
//! - `scan.rs`: byte scans, eight bytes at a time.
//! - `text.rs`: header text: unescaping, UTF-8, `content-length`.
//! - `version.rs`: [`Version`], and which headers a frame can carry.
//! - `value.rs`: [`Frame`], one frame as a value.
//! - `decoded.rs`: what the decoder gives ([`Decoded`]) and its [`Limits`].
//! - `encode.rs`: frame to bytes, [`FrameWriter`].
//! - `fast.rs`: the decoder's fast path for a frame that lies whole in the input.
//! - `decode.rs`: bytes to frames, the incremental [`Decoder`].

mod decode;
mod decoded;
mod encode;
mod fast;
mod scan;
#[cfg(test)]
mod tests;
mod text;
mod value;
mod version;

pub use decode::Decoder;
pub use decoded::{Decoded, Limits};
pub use encode::FrameWriter;
pub use value::Frame;
pub use version::{check_header, Version};
pub(crate) use version::{check_value, escapes_headers};
