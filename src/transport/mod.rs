//! The transport layer: from a URL to a connected, non-blocking byte stream and the
//! framing that carries STOMP over it.
//!
//! ```text
//! url.rs        ws:// wss:// tcp:// ssl:// -> Endpoint
//! fd.rs         poll with a deadline, O_NONBLOCK
//! ```

mod fd;
mod url;

pub(crate) use fd::wait_fd;
pub(crate) use url::{parse_url, Endpoint, Scheme};
