//! What stands in for `tls.rs` when the crate is built without the `tls` feature: the
//! same two functions, and a connector that cannot exist, so `wss://` and `ssl://` fail
//! at the start of a connect, before any socket is opened, with an error that says why.

use std::time::Instant;

use super::stream::{RawIo, Stream};
use super::url::Endpoint;
use crate::config::Config;
use crate::error::{Error, Result};

/// No value of this type exists: without TLS there is nothing to connect with.
pub(crate) enum TlsConnector {}

/// Always [`Error::Tls`]: this build has no TLS.
pub(crate) fn connector(_config: &Config) -> Result<TlsConnector> {
    Err(Error::Tls(
        "wss:// and ssl:// need TLS, and this stompws was built without it (cargo \
         feature `tls`, on by default, was turned off)"
            .to_string(),
    ))
}

/// Never runs: there is no connector to call it with.
pub(crate) fn handshake(
    _io: Box<dyn RawIo>,
    connector: &TlsConnector,
    _ep: &Endpoint,
    _config: &Config,
    _deadline: Instant,
) -> Result<Stream> {
    match *connector {}
}
