//! The transport layer: from a URL to a connected, non-blocking byte stream and the
//! framing that carries STOMP over it.
//!
//! ```text
//! url.rs        ws:// wss:// tcp:// ssl:// -> Endpoint
//! tcp.rs        TCP connect within a deadline
//! tls.rs        TLS through native-tls: CA file, client certificate, insecure mode
//! no_tls.rs     tls.rs's stand-in without the `tls` feature: wss/ssl fail, saying why
//! handshake.rs  the WebSocket upgrade request and the checks of its answer
//! stream.rs     Stream (plain or TLS) and RawIo (what Client::over accepts)
//! framing.rs    Framing: raw STOMP bytes, or STOMP in WebSocket messages
//! ws.rs         RFC 6455 client framing (our own, see there why)
//! mask.rs       masking keys and the XOR
//! fd.rs         poll with a deadline, O_NONBLOCK
//! socket.rs     a plain socket by its descriptor: reads that wait, and all that do not
//! ```
//!
//! Everything here runs before the connection's I/O thread takes over the stream, or on
//! that thread; nothing is shared between threads.

mod fd;
mod framing;
mod handshake;
mod mask;
pub(crate) mod socket;
mod stream;
mod tcp;
#[cfg(feature = "tls")]
mod tls;
#[cfg(not(feature = "tls"))]
#[path = "no_tls.rs"]
mod tls;
mod url;
mod ws;

#[cfg(all(test, feature = "tls"))]
mod testpki;
#[cfg(test)]
mod testutil;

use std::os::fd::AsFd;
use std::time::Instant;

use crate::config::Config;
use crate::error::{Error, Result};

pub(crate) use fd::{poll_once, wait_fd};
pub(crate) use framing::Framing;
pub(crate) use stream::{RawIo, Stream};
pub(crate) use url::{parse_url, Endpoint};

/// A stream that is connected (and upgraded, for ws/wss) and ready for STOMP.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The byte stream; reads and writes through it never wait.
    pub stream: Stream,
    /// Raw for tcp/ssl, WebSocket for ws/wss.
    pub framing: Framing,
    /// Bytes the server sent right after its upgrade answer (the start of the WebSocket
    /// stream, e.g. a CONNECTED frame when the server is quick): feed them to
    /// `framing.read` before anything read from the stream, and then read the stream
    /// until `WouldBlock` before the first poll (TLS may already hold more; see
    /// [`Stream`]). Always empty for tcp/ssl.
    pub leftover: Vec<u8>,
    /// The server's `Sec-WebSocket-Protocol` answer (ws/wss only). May be one we did not
    /// offer (ActiveMQ answers `stomp`); it never decides the STOMP version, CONNECTED
    /// does.
    pub subprotocol: Option<String>,
}

/// Connects to `ep`: TCP (every resolved address in turn, `TCP_NODELAY` on), then TLS for
/// wss/ssl, then the WebSocket upgrade for ws/wss, all within `deadline`. Name resolution
/// itself is not bounded by the deadline (see `tcp::connect`).
///
/// Errors: [`Error::Timeout`] when the deadline passes at any step (the stage and peer
/// are then in the thread's error detail, `crate::error::take_detail`); [`Error::Io`] naming `host:port` and the stage
/// when the connect is refused or fails, or the peer closes during setup;
/// [`Error::Tls`] for TLS failures (a certificate that fails verification says
/// "certificate verify failed"), and for wss/ssl in a build without the `tls` feature;
/// [`Error::Handshake`] with the HTTP status line and the peer when the upgrade is
/// refused; [`Error::Protocol`] for an upgrade answer that is malformed or wrong.
pub(crate) fn open(ep: &Endpoint, config: &Config, deadline: Instant) -> Result<Opened> {
    let _ = crate::error::take_detail(); // a stale one is not this attempt's
                                         // The TLS context first: setting it up (OpenSSL's algorithm fetches, the CA file)
                                         // is slow, many times so under valgrind, and a server's handshake timeout (5 s on
                                         // RabbitMQ) runs from the TCP accept.
    let connector = tls_connector(ep, config)?;
    let tcp = tcp::connect(ep, deadline).map_err(|e| at_stage(e, Stage::Tcp, ep, config))?;
    finish(Box::new(tcp), connector, ep, config, deadline)
}

/// The steps of [`open`], for the text of a timeout.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Tcp,
    Tls,
    Upgrade,
}

/// Passes `e` on; a timeout leaves a text naming `stage` and the peer (see
/// `crate::error::take_detail`).
fn at_stage(e: Error, stage: Stage, ep: &Endpoint, config: &Config) -> Error {
    if e != Error::Timeout {
        return e;
    }
    let peer = ep.peer();
    let within = format!(
        "within the connect timeout ({} ms)",
        config.connect_timeout.as_millis()
    );
    let text = match stage {
        Stage::Tcp => format!("TCP connect to {peer} did not complete {within}"),
        Stage::Tls => format!("no answer from {peer} to the TLS handshake {within}"),
        Stage::Upgrade => {
            let plain = if ep.scheme.is_tls() { "ssl" } else { "tcp" };
            format!(
                "no answer from {peer} to the WebSocket upgrade request (GET {path}) {within}; \
                 a plain STOMP port never answers it: if {peer} speaks STOMP without \
                 WebSocket, {plain}://{peer} is the URL",
                path = ep.path
            )
        }
    };
    crate::error::note_detail(text);
    e
}

/// Like [`open`] over a stream the caller already connected (`Client::over`): no TCP
/// connect; TLS for wss/ssl, the upgrade for ws/wss, nothing more for tcp. The stream's
/// descriptor is switched to non-blocking mode, and a plain socket then to the mode of
/// `socket.rs`; the caller sees that if it shares the descriptor.
pub(crate) fn open_over(
    io: Box<dyn RawIo>,
    ep: &Endpoint,
    config: &Config,
    deadline: Instant,
) -> Result<Opened> {
    let _ = crate::error::take_detail(); // a stale one is not this attempt's
    fd::set_nonblocking(io.as_fd()).map_err(|e| {
        Error::Io(format!(
            "{}: cannot make the stream non-blocking: {e}",
            ep.peer()
        ))
    })?;
    let connector = tls_connector(ep, config)?;
    finish(io, connector, ep, config, deadline)
}

/// The TLS context for wss/ssl, none for the plain schemes.
fn tls_connector(ep: &Endpoint, config: &Config) -> Result<Option<tls::TlsConnector>> {
    ep.scheme
        .is_tls()
        .then(|| tls::connector(config))
        .transpose()
}

fn finish(
    io: Box<dyn RawIo>,
    connector: Option<tls::TlsConnector>,
    ep: &Endpoint,
    config: &Config,
    deadline: Instant,
) -> Result<Opened> {
    let mut stream = match connector {
        Some(connector) => tls::handshake(io, &connector, ep, config, deadline)
            .map_err(|e| at_stage(e, Stage::Tls, ep, config))?,
        None => Stream::plain(io, ep.peer()),
    };
    if !ep.scheme.is_websocket() {
        return Ok(Opened {
            stream,
            framing: Framing::raw(ep),
            leftover: Vec::new(),
            subprotocol: None,
        });
    }
    let upgraded = handshake::upgrade(&mut stream, ep, config, deadline)
        .map_err(|e| at_stage(e, Stage::Upgrade, ep, config))?;
    Ok(Opened {
        stream,
        framing: Framing::websocket(config),
        leftover: upgraded.leftover,
        subprotocol: upgraded.subprotocol,
    })
}

#[cfg(test)]
mod tests;
