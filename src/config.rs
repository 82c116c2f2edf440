//! `Config`: everything a connection is set up with. Read only while connecting.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::event::Event;
use crate::frame::Version;

/// The debug hook: one line per frame sent or received, passcode redacted.
pub(crate) type DebugFn = Arc<dyn Fn(&str) + Send + Sync + 'static>;
/// The event hook, run on the client's dispatch thread.
pub(crate) type EventFn = Arc<dyn Fn(Event, &str) + Send + Sync + 'static>;

/// Default size of the largest inbound frame: 64 MiB.
pub(crate) const DEFAULT_MAX_FRAME_SIZE: usize = 64 << 20;
/// Default per-subscription queue bound, in messages.
pub(crate) const DEFAULT_QUEUE_MESSAGES: usize = 1_000_000;
/// Default per-subscription queue bound, in body and header bytes: 256 MiB.
pub(crate) const DEFAULT_QUEUE_BYTES: usize = 256 << 20;

/// How a client connects: credentials, versions, heart-beats, timeouts, limits, TLS and
/// hooks.
///
/// Built by value (`Config::new().login("guest", "guest").heartbeat(0, 0)`), cloned
/// cheaply, and only read while connecting: changing it afterwards does not affect an
/// existing client. Invalid values (a zero timeout, an unknown version) are reported by
/// `Client::connect` as [`Error::InvalidArgument`].
///
/// ```
/// use std::time::Duration;
/// let config = stompws::Config::new()
///     .login("guest", "guest")
///     .heartbeat(5_000, 5_000)
///     .receipt_timeout(Duration::from_secs(5));
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) login: Option<(String, String)>,
    pub(crate) host: Option<String>,
    pub(crate) heartbeat: (u32, u32),
    pub(crate) versions: String,
    pub(crate) subprotocols: Option<String>,
    pub(crate) binary_frames: bool,
    pub(crate) connect_headers: Vec<(String, String)>,
    pub(crate) http_headers: Vec<(String, String)>,
    pub(crate) connect_timeout: Duration,
    pub(crate) receipt_timeout: Duration,
    pub(crate) send_timeout: Duration,
    pub(crate) heartbeat_tolerance: f64,
    pub(crate) max_frame_size: usize,
    pub(crate) ws_message_limit: usize,
    pub(crate) queue_limit: (usize, usize),
    pub(crate) auto_content_length: bool,
    pub(crate) tls_ca_file: Option<PathBuf>,
    pub(crate) tls_client_cert: Option<(PathBuf, PathBuf)>,
    pub(crate) tls_insecure: bool,
    pub(crate) reconnect: Option<(Duration, Duration, u32)>,
    pub(crate) failover_urls: Vec<String>,
    pub(crate) debug: Option<DebugFn>,
    pub(crate) on_event: Option<EventFn>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            login: None,
            host: None,
            heartbeat: (10_000, 10_000),
            versions: "1.2,1.1,1.0".to_string(),
            subprotocols: None,
            binary_frames: false,
            connect_headers: Vec::new(),
            http_headers: Vec::new(),
            connect_timeout: Duration::from_secs(30),
            receipt_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(30),
            heartbeat_tolerance: 2.0,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            ws_message_limit: 0,
            queue_limit: (DEFAULT_QUEUE_MESSAGES, DEFAULT_QUEUE_BYTES),
            auto_content_length: true,
            tls_ca_file: None,
            tls_client_cert: None,
            tls_insecure: false,
            reconnect: None,
            failover_urls: Vec::new(),
            debug: None,
            on_event: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("login", &self.login.as_ref().map(|(l, _)| (l, "***")))
            .field("host", &self.host)
            .field("heartbeat", &self.heartbeat)
            .field("versions", &self.versions)
            .field("subprotocols", &self.subprotocols)
            .field("binary_frames", &self.binary_frames)
            .field("connect_timeout", &self.connect_timeout)
            .field("receipt_timeout", &self.receipt_timeout)
            .field("send_timeout", &self.send_timeout)
            .field("max_frame_size", &self.max_frame_size)
            .field("ws_message_limit", &self.ws_message_limit)
            .field("queue_limit", &self.queue_limit)
            .field("tls_insecure", &self.tls_insecure)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The defaults: no login, heart-beats 10000/10000 ms, versions `1.2,1.1,1.0`,
    /// 30 s timeouts, 64 MiB frames, TLS verified against the system roots.
    pub fn new() -> Config {
        Config::default()
    }

    /// Sends `login` and `passcode` on CONNECT. The passcode never appears in debug output.
    pub fn login(mut self, login: &str, passcode: &str) -> Self {
        self.login = Some((login.to_string(), passcode.to_string()));
        self
    }

    /// Sends the STOMP `host` header (RabbitMQ: the virtual host). Not sent by default.
    /// An empty host makes `Client::connect` fail with [`Error::InvalidArgument`]
    /// (RabbitMQ refuses it; leave the host unset for the broker's default).
    pub fn host(mut self, host: &str) -> Self {
        self.host = Some(host.to_string());
        self
    }

    /// Heart-beats asked for, in ms: how often we promise to send, and how often we want
    /// to hear from the broker. 0 disables a direction. Default 10000, 10000.
    pub fn heartbeat(mut self, outgoing_ms: u32, incoming_ms: u32) -> Self {
        self.heartbeat = (outgoing_ms, incoming_ms);
        self
    }

    /// The `accept-version` list, e.g. `"1.2"` or `"1.1,1.0"`. Default `"1.2,1.1,1.0"`.
    pub fn versions(mut self, accept_version: &str) -> Self {
        self.versions = accept_version.to_string();
        self
    }

    /// Overrides the `Sec-WebSocket-Protocol` offer (comma separated). Default: derived
    /// from the versions, `"v12.stomp,v11.stomp,v10.stomp"`. An empty string offers none.
    pub fn subprotocols(mut self, comma_list: &str) -> Self {
        self.subprotocols = Some(comma_list.to_string());
        self
    }

    /// WebSocket only: send every frame as a binary message. By default a frame goes as
    /// a text message when it is valid UTF-8 and as binary otherwise.
    pub fn binary_frames(mut self, always: bool) -> Self {
        self.binary_frames = always;
        self
    }

    /// Adds a header to the CONNECT frame, e.g. `client-id`.
    pub fn connect_header(mut self, name: &str, value: &str) -> Self {
        self.connect_headers
            .push((name.to_string(), value.to_string()));
        self
    }

    /// Adds a header to the HTTP upgrade request (Authorization, Cookie, Origin).
    pub fn http_header(mut self, name: &str, value: &str) -> Self {
        self.http_headers
            .push((name.to_string(), value.to_string()));
        self
    }

    /// One deadline for TCP, TLS, the WebSocket upgrade and CONNECTED. Default 30 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a call that asked for a receipt waits for it. Default 30 s.
    pub fn receipt_timeout(mut self, timeout: Duration) -> Self {
        self.receipt_timeout = timeout;
        self
    }

    /// How long a send may wait for room in the outgoing buffer. Default 30 s.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Silence longer than `factor` times the negotiated incoming heart-beat interval
    /// means the connection is lost. Must be at least 1.0. Default 2.0.
    pub fn heartbeat_tolerance(mut self, factor: f64) -> Self {
        self.heartbeat_tolerance = factor;
        self
    }

    /// The largest inbound frame (and WebSocket message) accepted; a larger one is a
    /// [`Error::Protocol`] and closes the connection. Default 64 MiB.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// WebSocket only (ignored for `tcp://` and `ssl://`): a STOMP frame longer than
    /// `bytes` goes out as several WebSocket messages of at most `bytes` each, for
    /// servers that reassemble a STOMP frame across messages but refuse large messages:
    /// Spring, which on Tomcat closes the session (1009) on a message over 16,640 bytes
    /// and reassembles frames up to 64 KiB. A text frame is cut on UTF-8 character
    /// boundaries, so every piece is a valid text message. 0 (the default): one frame
    /// per message, as ActiveMQ requires. 1 to 1023 makes `Client::connect` fail with
    /// [`Error::InvalidArgument`].
    pub fn ws_message_limit(mut self, bytes: usize) -> Self {
        self.ws_message_limit = bytes;
        self
    }

    /// Bounds each pull subscription's queue. When either bound is passed the
    /// subscription is closed: its receiver gets what was queued, then
    /// [`Error::Disconnected`]. Default 1 000 000 messages, 256 MiB.
    pub fn queue_limit(mut self, messages: usize, bytes: usize) -> Self {
        self.queue_limit = (messages, bytes);
        self
    }

    /// `true` (default): every SEND carries `content-length`. `false`: only bodies that
    /// hold a NUL byte get one (ActiveMQ then delivers a TextMessage).
    pub fn auto_content_length(mut self, always: bool) -> Self {
        self.auto_content_length = always;
        self
    }

    /// Trusts the certificates in this PEM file, in addition to the system's roots. A
    /// path that does not exist makes connect fail with [`Error::InvalidArgument`],
    /// whatever the URL's scheme (the C setter refuses it at once).
    pub fn tls_ca_file(mut self, pem_path: impl AsRef<Path>) -> Self {
        self.tls_ca_file = Some(pem_path.as_ref().to_path_buf());
        self
    }

    /// Presents this client certificate (PEM) with its PKCS#8 PEM key.
    pub fn tls_client_cert(
        mut self,
        cert_pem: impl AsRef<Path>,
        key_pem: impl AsRef<Path>,
    ) -> Self {
        self.tls_client_cert = Some((
            cert_pem.as_ref().to_path_buf(),
            key_pem.as_ref().to_path_buf(),
        ));
        self
    }

    /// Skips certificate and host name verification. Off by default; for tests only.
    pub fn tls_insecure(mut self, insecure: bool) -> Self {
        self.tls_insecure = insecure;
        self
    }

    /// Reconnect after a lost connection, with back-off from `initial` to `max`, giving up
    /// after `max_attempts` failed attempts (0 = never). Off by default; a zero `initial`
    /// turns it off. Attempt n waits min(initial x 2^(n-1), max) times a random factor
    /// in [0.8, 1.2] (at most `max`), then tries every endpoint once, in order. The count
    /// and delay start again once a new connection has stayed up for 1 s.
    ///
    /// What happens at a loss (API.md, "Reconnect and failover"): an
    /// [`Event::ConnectionLost`](crate::Event::ConnectionLost); calls waiting for a receipt
    /// return [`Error::Disconnected`]; acks of earlier messages and commits of earlier
    /// transactions are refused with [`Error::Disconnected`]; sends, subscribes and
    /// begins wait for the new connection (at most the send timeout); receives keep
    /// waiting; after reconnecting, every subscription is made again with its id before
    /// any other frame, then [`Event::Connected`](crate::Event::Connected) fires with the
    /// endpoint's URL. `max < initial` makes `Client::connect` fail with
    /// [`Error::InvalidArgument`]; `Client::over` refuses reconnect altogether.
    pub fn reconnect(mut self, initial: Duration, max: Duration, max_attempts: u32) -> Self {
        self.reconnect = if initial.is_zero() {
            None
        } else {
            Some((initial, max, max_attempts))
        };
        self
    }

    /// Another broker to try, after the URL given to `Client::connect` and the failover
    /// URLs added before: connect tries each once, in order, without waiting, and each
    /// reconnect attempt goes through the list from the first. A URL that connect would
    /// refuse makes `Client::connect` fail with [`Error::InvalidArgument`].
    pub fn failover_url(mut self, url: &str) -> Self {
        self.failover_urls.push(url.to_string());
        self
    }

    /// One line per frame sent (`>>> SEND ...`) and received (`<<< MESSAGE ...`), headers
    /// included, body abbreviated, passcode never shown. May run on any of the client's
    /// threads, so it must be quick and must not call back into the client.
    pub fn debug(mut self, f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.debug = Some(Arc::new(f));
        self
    }

    /// Life-cycle events. Runs on the client's dispatch thread, never the I/O thread, so
    /// it may use the client (even wait for receipts), but not disconnect it.
    pub fn on_event(mut self, f: impl Fn(Event, &str) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }

    pub(crate) fn clear_debug(&mut self) {
        self.debug = None;
    }

    pub(crate) fn clear_on_event(&mut self) {
        self.on_event = None;
    }

    /// The versions to offer, best first; checked by [`parse_versions`].
    pub(crate) fn accepted_versions(&self) -> Result<Vec<Version>> {
        parse_versions(&self.versions)
    }

    /// The subprotocols to offer on the upgrade request.
    pub(crate) fn offered_subprotocols(&self) -> Result<Vec<String>> {
        match &self.subprotocols {
            Some(list) => Ok(split_list(list)),
            None => Ok(self
                .accepted_versions()?
                .iter()
                .map(|v| v.subprotocol().to_string())
                .collect()),
        }
    }

    /// Checks every value that a builder method could not reject on its own.
    pub(crate) fn validate(&self) -> Result<()> {
        self.accepted_versions()?;
        check_timeout("connect timeout", self.connect_timeout)?;
        check_timeout("receipt timeout", self.receipt_timeout)?;
        check_timeout("send timeout", self.send_timeout)?;
        check_tolerance(self.heartbeat_tolerance)?;
        check_max_frame_size(self.max_frame_size)?;
        check_ws_message_limit(self.ws_message_limit)?;
        if let Some(host) = &self.host {
            check_host(host)?;
        }
        check_queue_limit(self.queue_limit.0, self.queue_limit.1)?;
        for (name, value) in &self.http_headers {
            check_http_header(name, value)?;
        }
        if let Some((initial, max, _)) = self.reconnect {
            if max < initial {
                return Err(Error::invalid(format!(
                    "the reconnect delay's maximum ({} ms) is less than its initial value ({} ms)",
                    max.as_millis(),
                    initial.as_millis()
                )));
            }
        }
        for url in &self.failover_urls {
            crate::transport::parse_url(url)?;
        }
        // Whatever the scheme: a missing file is a mistake even where it is not read
        // (ws://, tcp://), and the C setters refuse it at once.
        if let Some(path) = &self.tls_ca_file {
            check_file("TLS CA file", path)?;
        }
        if let Some((cert, key)) = &self.tls_client_cert {
            check_file("TLS client certificate", cert)?;
            check_file("TLS client key", key)?;
        }
        Ok(())
    }
}

fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses an `accept-version` list such as `"1.2,1.1"`, best version first.
pub(crate) fn parse_versions(list: &str) -> Result<Vec<Version>> {
    let mut out = Vec::new();
    for part in list.split(',') {
        let v = Version::parse(part).ok_or_else(|| {
            Error::invalid(format!(
                "unknown STOMP version {:?} in {list:?}",
                part.trim()
            ))
        })?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out.sort_by(|a, b| b.cmp(a));
    Ok(out)
}

/// A file named by a TLS setting exists: `"TLS CA file /x.pem: No such file or
/// directory (os error 2)"` otherwise, from Rust (at connect) and C (at the setter)
/// alike.
pub(crate) fn check_file(what: &str, path: &Path) -> Result<()> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|e| Error::invalid(format!("{what} {}: {e}", path.display())))
}

pub(crate) fn check_timeout(what: &str, d: Duration) -> Result<()> {
    if d.is_zero() {
        return Err(Error::invalid(format!("{what} must be greater than 0")));
    }
    Ok(())
}

pub(crate) fn check_tolerance(factor: f64) -> Result<()> {
    if !factor.is_finite() || factor < 1.0 {
        return Err(Error::invalid(format!(
            "heart-beat tolerance must be a finite number >= 1.0, not {factor}"
        )));
    }
    Ok(())
}

pub(crate) fn check_max_frame_size(bytes: usize) -> Result<()> {
    if bytes < 64 {
        return Err(Error::invalid(format!(
            "max frame size {bytes} is below 64 bytes"
        )));
    }
    Ok(())
}

/// The smallest WebSocket message limit accepted: a smaller one would make every frame
/// many messages for no server known to need it.
pub(crate) const MIN_WS_MESSAGE_LIMIT: usize = 1024;

pub(crate) fn check_ws_message_limit(bytes: usize) -> Result<()> {
    if bytes != 0 && bytes < MIN_WS_MESSAGE_LIMIT {
        return Err(Error::invalid(format!(
            "WebSocket message limit {bytes} is below {MIN_WS_MESSAGE_LIMIT} bytes \
             (0 sends each frame as one message)"
        )));
    }
    Ok(())
}

/// An empty `host` header is refused here rather than by the broker at CONNECT
/// (RabbitMQ: "Virtual host '' access denied").
pub(crate) fn check_host(host: &str) -> Result<()> {
    if host.is_empty() {
        return Err(Error::invalid(
            "the STOMP host is empty; leave it unset for the broker's default virtual host",
        ));
    }
    Ok(())
}

pub(crate) fn check_queue_limit(messages: usize, bytes: usize) -> Result<()> {
    if messages == 0 || bytes == 0 {
        return Err(Error::invalid("queue limits must be greater than 0"));
    }
    Ok(())
}

/// HTTP header names are tokens; values may not hold CR, LF or NUL.
pub(crate) fn check_http_header(name: &str, value: &str) -> Result<()> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(Error::invalid(format!(
            "{name:?} is not a valid HTTP header name"
        )));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(Error::invalid(format!(
            "the value of HTTP header {name:?} holds CR, LF or NUL"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_sorted_best_first() {
        let v = parse_versions("1.0, 1.2,1.1").unwrap();
        assert_eq!(v, vec![Version::V1_2, Version::V1_1, Version::V1_0]);
        assert!(parse_versions("1.3").is_err());
        assert!(parse_versions("").is_err());
    }

    #[test]
    fn subprotocols_follow_versions_unless_overridden() {
        let c = Config::new().versions("1.1,1.0");
        assert_eq!(
            c.offered_subprotocols().unwrap(),
            vec!["v11.stomp", "v10.stomp"]
        );
        let c = c.subprotocols("stomp, v12.stomp");
        assert_eq!(
            c.offered_subprotocols().unwrap(),
            vec!["stomp", "v12.stomp"]
        );
    }

    #[test]
    fn validate_rejects_bad_values() {
        assert!(Config::new().validate().is_ok());
        assert!(Config::new()
            .connect_timeout(Duration::ZERO)
            .validate()
            .is_err());
        assert!(Config::new().heartbeat_tolerance(0.5).validate().is_err());
        assert!(Config::new()
            .heartbeat_tolerance(f64::NAN)
            .validate()
            .is_err());
        assert!(Config::new().queue_limit(0, 1).validate().is_err());
        for bad in [1, 64, 1023] {
            assert!(Config::new().ws_message_limit(bad).validate().is_err());
        }
        for good in [0, 1024, 16_000, usize::MAX] {
            assert!(Config::new().ws_message_limit(good).validate().is_ok());
        }
        match Config::new().host("").validate() {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("host"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(Config::new().host("/").validate().is_ok());
        // A missing TLS file is refused whatever the scheme, with the C setter's text.
        let missing = "/nonexistent/stompws-ca.pem";
        let rust = Config::new().tls_ca_file(missing).validate().unwrap_err();
        assert_eq!(
            rust,
            check_file("TLS CA file", Path::new(missing)).unwrap_err()
        );
        assert!(rust.to_string().contains(missing), "{rust}");
        assert!(Config::new()
            .tls_client_cert(missing, missing)
            .validate()
            .is_err());
        assert!(Config::new()
            .http_header("Bad Name", "x")
            .validate()
            .is_err());
        assert!(Config::new()
            .http_header("Cookie", "a\r\nb")
            .validate()
            .is_err());
    }

    #[test]
    fn debug_output_hides_the_passcode() {
        let s = format!("{:?}", Config::new().login("user", "s3cret"));
        assert!(!s.contains("s3cret"));
    }
}
