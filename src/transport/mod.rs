//! The transport layer: from a URL to a connected, non-blocking byte stream and the
//! framing that carries STOMP over it.
//!
//! ```text
//! url.rs        ws:// wss:// tcp:// ssl:// -> Endpoint
//! framing.rs    Framing: raw STOMP bytes, or STOMP in WebSocket messages
//! ws.rs         RFC 6455 client framing (our own, see there why)
//! mask.rs       masking keys and the XOR
//! fd.rs         poll with a deadline, O_NONBLOCK
//! ```

mod fd;
mod framing;
mod mask;
mod url;
mod ws;

#[cfg(test)]
mod testutil;

pub(crate) use fd::wait_fd;
pub(crate) use framing::Framing;
pub(crate) use url::{parse_url, Endpoint, Scheme};
pub(crate) use ws::{CloseInfo, ReadOutcome, WsFraming};
