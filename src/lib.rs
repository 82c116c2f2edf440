//! # stompws
//!
//! A blocking STOMP 1.0/1.1/1.2 client for synchronous Rust and, through the generated
//! header `include/stompws.h`, for C and C++. It speaks STOMP over WebSocket (`ws://`,
//! `wss://`), plain TCP (`tcp://`) and TLS (`ssl://`), or over a stream the caller
//! opened (`Client::over`).
//!
//! Layers, each in its own module, arrows pointing down only:
//!
//! ```text
//! ffi         extern "C" shims over the Rust API
//! client      Client, Subscription, Message, Transaction: the safe blocking API
//! connection  the per-connection I/O thread: socket, heart-beats, receipts, dispatch
//! transport   ws:// wss:// tcp:// ssl:// and caller-supplied streams; TLS options
//! frame       the STOMP codec: pure, no I/O
//! error       one Error enum, mapped one-to-one onto stompws_result
//! ```
//!
//! ## Cargo features
//!
//! - `tls` (on by default): `wss://` and `ssl://`, through native-tls (OpenSSL on
//!   Linux). A program that talks only `ws://` and `tcp://` can leave it out with
//!   `default-features = false`: it then links no TLS library, which saves about 1.7 MB
//!   of resident memory per process with Debian's shared OpenSSL (loaded and relocated
//!   at start-up, used or not). The API stays the same; connecting to a `wss://` or
//!   `ssl://` URL then fails at once with [`Error::Tls`], saying why.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod client;
mod config;
mod connection;
mod error;
mod event;
pub mod ffi;
pub mod frame;
mod transport;

pub use client::{AckMode, Client, Message, Subscription, SubscriptionIter, Transaction};
pub use config::Config;
pub use error::{Error, Result};
pub use event::Event;
pub use frame::{Frame, Version};
