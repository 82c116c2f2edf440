//! The one error type of the crate, mapped one-to-one onto the C `stompws_result`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

/// Everything that can go wrong in a stompws call.
///
/// Each variant corresponds to one `STOMPWS_RESULT_*` value of the C API (see
/// [`Error::code`]), and its documentation says what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The caller passed something the library cannot use: a malformed URL, a header
    /// STOMP cannot carry, a value out of range, or a call on a handle in the wrong
    /// state. Fix the call; retrying it unchanged fails the same way.
    InvalidArgument(String),
    /// The wait ended before the answer came (receive, receipt, connect, send buffer).
    /// The connection may still be fine; retrying is reasonable.
    Timeout,
    /// The connection is closed, was lost, or never came up. Read
    /// `Client::close_reason` for why; a new connection is needed.
    Disconnected,
    /// The broker sent an ERROR frame answering this call.
    ServerError {
        /// The ERROR frame's `message` header (empty when absent).
        message: String,
        /// The ERROR frame's body, decoded lossily as UTF-8.
        body: String,
    },
    /// The peer broke the protocol: a malformed or oversized frame, or an unexpected
    /// reply. The connection is closed.
    Protocol(String),
    /// TLS setup, handshake or certificate verification failed. Check the CA file, the
    /// host name in the URL, or the client certificate. Also the answer to a `wss://` or
    /// `ssl://` URL in a build without the `tls` cargo feature.
    Tls(String),
    /// A name lookup, connect, read or write failed at the operating-system level. The
    /// detail names the peer.
    Io(String),
    /// The HTTP upgrade to WebSocket was refused; the detail holds the status line.
    Handshake(String),
    /// The operation does not exist on this session, e.g. NACK on STOMP 1.0.
    Unsupported(String),
}

/// Shorthand for `std::result::Result<T, stompws::Error>`.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The number of the matching `STOMPWS_RESULT_*` constant of the C API.
    pub fn code(&self) -> u32 {
        match self {
            Error::InvalidArgument(_) => 2,
            Error::Timeout => 3,
            Error::Disconnected => 4,
            Error::ServerError { .. } => 5,
            Error::Protocol(_) => 6,
            Error::Tls(_) => 7,
            Error::Io(_) => 8,
            Error::Handshake(_) => 9,
            Error::Unsupported(_) => 10,
        }
    }

    /// Shorthand for building [`Error::InvalidArgument`].
    pub(crate) fn invalid(detail: impl Into<String>) -> Error {
        Error::InvalidArgument(detail.into())
    }

    /// Shorthand for building [`Error::Protocol`].
    pub(crate) fn protocol(detail: impl Into<String>) -> Error {
        Error::Protocol(detail.into())
    }

    /// [`Error::Timeout`], with what timed out for `stompws_last_error`.
    pub(crate) fn timeout(detail: impl Into<Cow<'static, str>>) -> Error {
        note_detail(detail);
        Error::Timeout
    }

    /// Shorthand for building [`Error::Io`] from an I/O error and the peer it concerns.
    pub(crate) fn io(peer: &str, e: &std::io::Error) -> Error {
        Error::Io(format!("{peer}: {e}"))
    }
}

thread_local! {
    /// What the last `Timeout` or `Disconnected` made on this thread was about: which
    /// frame waited for what and how long, or why the connection is closed. Those
    /// variants carry no text (their shape is part of the public API), so the C API's
    /// `stompws_last_error` reads it from here ([`take_detail`]).
    static DETAIL: RefCell<Option<Cow<'static, str>>> = const { RefCell::new(None) };
}

/// Records the detail of an error about to be returned on this thread.
pub(crate) fn note_detail(detail: impl Into<Cow<'static, str>>) {
    DETAIL.with(|d| *d.borrow_mut() = Some(detail.into()));
}

/// Puts `prefix` before the detail recorded on this thread (a frame naming itself before
/// what it waited for), or records `prefix` and `otherwise` when there is none.
pub(crate) fn prefix_detail(prefix: &str, otherwise: &str) {
    DETAIL.with(|d| {
        let mut d = d.borrow_mut();
        let text = match d.take() {
            Some(t) => format!("{prefix}: {t}"),
            None => format!("{prefix}: {otherwise}"),
        };
        *d = Some(text.into());
    });
}

/// Takes the detail recorded on this thread, if any.
pub(crate) fn take_detail() -> Option<Cow<'static, str>> {
    DETAIL.with(|d| d.borrow_mut().take())
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(d) => write!(f, "invalid argument: {d}"),
            Error::Timeout => f.write_str("timeout"),
            Error::Disconnected => f.write_str("disconnected"),
            Error::ServerError { message, body } if body.is_empty() => {
                write!(f, "server error: {message}")
            }
            Error::ServerError { message, body } => write!(f, "server error: {message}\n{body}"),
            Error::Protocol(d) => write!(f, "protocol error: {d}"),
            Error::Tls(d) => write!(f, "TLS error: {d}"),
            Error::Io(d) => write!(f, "I/O error: {d}"),
            Error::Handshake(d) => write!(f, "WebSocket handshake refused: {d}"),
            Error::Unsupported(d) => write!(f, "unsupported: {d}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_c_enum() {
        assert_eq!(Error::invalid("x").code(), 2);
        assert_eq!(Error::Timeout.code(), 3);
        assert_eq!(Error::Disconnected.code(), 4);
        let e = Error::ServerError {
            message: "m".into(),
            body: String::new(),
        };
        assert_eq!(e.code(), 5);
        assert_eq!(e.to_string(), "server error: m");
        assert_eq!(Error::protocol("p").code(), 6);
        assert_eq!(Error::Tls("t".into()).code(), 7);
        assert_eq!(Error::Io("i".into()).code(), 8);
        assert_eq!(Error::Handshake("h".into()).code(), 9);
        assert_eq!(Error::Unsupported("u".into()).code(), 10);
    }

    #[test]
    fn details_are_per_thread_and_taken_once() {
        let _ = take_detail();
        assert_eq!(Error::timeout("no RECEIPT"), Error::Timeout);
        prefix_detail("SEND /queue/a", "unused");
        std::thread::spawn(|| assert!(take_detail().is_none()))
            .join()
            .unwrap();
        assert_eq!(take_detail().as_deref(), Some("SEND /queue/a: no RECEIPT"));
        assert!(take_detail().is_none());
        prefix_detail("SEND /queue/a", "timeout");
        assert_eq!(take_detail().as_deref(), Some("SEND /queue/a: timeout"));
    }

    #[test]
    fn error_is_send_sync_static() {
        fn check<T: std::error::Error + Send + Sync + 'static>() {}
        check::<Error>();
    }
}
