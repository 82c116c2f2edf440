//! The connected byte stream: plain, or TLS over it.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, RawFd};

use super::fd::raw_fd_of;
use super::socket;

/// Anything a caller can hand us (`Client::over`), and what we make of a `TcpStream`: a
/// byte stream with a file descriptor we can poll.
pub(crate) trait RawIo: Read + Write + AsFd + Send {}
impl<T: Read + Write + AsFd + Send> RawIo for T {}

/// The connected byte stream, plain or TLS, owned by the connection's I/O thread.
///
/// Non-blocking once `open` returns: reads and writes that cannot proceed fail with
/// [`io::ErrorKind::WouldBlock`], and the owner waits on [`Stream::raw_fd`] with poll.
/// A plain socket is read and written through its descriptor with calls that do not
/// wait, the descriptor itself in blocking mode for a leader's waiting read (see
/// `socket.rs`); anything else through its `Read` and `Write`, in non-blocking mode.
///
/// The contract a non-blocking owner must keep:
/// - **Read until `WouldBlock`** before polling for readability again. With TLS, OpenSSL
///   may already hold decrypted bytes (a record read whole but handed out in part) that
///   poll cannot see on the socket; polling first could sleep on data we already have.
/// - **After a write fails with `WouldBlock`, offer the same bytes again** (more may be
///   appended after them). OpenSSL may have consumed part of a record; the connector
///   runs with partial writes and a moving write buffer allowed, so a retry starting at
///   the same unsent byte is correct, but dropping those bytes is not.
/// - `Ok(0)` from `read` means the peer closed (for TLS, with or without close_notify).
pub(crate) struct Stream {
    inner: Inner,
    peer: String,
}

enum Inner {
    /// A socket (`socket::adopt` took it); the box only keeps it open.
    Socket(Box<dyn RawIo>),
    /// A descriptor that is no socket, through its `Read` and `Write`.
    Plain(Box<dyn RawIo>),
    #[cfg(feature = "tls")]
    Tls(Box<native_tls::TlsStream<Box<dyn RawIo>>>),
}

impl Stream {
    /// A plain stream, switched to the socket mode of `socket.rs` when it is a socket.
    pub(crate) fn plain(io: Box<dyn RawIo>, peer: String) -> Stream {
        let inner = if socket::adopt(raw_fd_of(&io)) {
            Inner::Socket(io)
        } else {
            Inner::Plain(io)
        };
        Stream { inner, peer }
    }

    /// A stream whose TLS handshake is done.
    #[cfg(feature = "tls")]
    pub(crate) fn tls(tls: native_tls::TlsStream<Box<dyn RawIo>>, peer: String) -> Stream {
        Stream {
            inner: Inner::Tls(Box::new(tls)),
            peer,
        }
    }

    /// The socket's descriptor, to poll. Stays owned by the stream.
    pub(crate) fn raw_fd(&self) -> RawFd {
        match &self.inner {
            Inner::Socket(io) | Inner::Plain(io) => raw_fd_of(io),
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => raw_fd_of(tls.get_ref()),
        }
    }

    /// The descriptor of a plain socket, which may be read and written directly with
    /// the calls of `socket.rs` (which is how the stream itself does it); `None` for
    /// TLS and for a descriptor that is no socket.
    pub(crate) fn socket_fd(&self) -> Option<RawFd> {
        match &self.inner {
            Inner::Socket(io) => Some(raw_fd_of(io)),
            _ => None,
        }
    }

    /// `host:port` of the peer (IPv6 in brackets), for error messages.
    pub(crate) fn peer(&self) -> &str {
        &self.peer
    }

    /// True when TLS runs on this stream.
    pub(crate) fn is_tls(&self) -> bool {
        match self.inner {
            Inner::Socket(_) | Inner::Plain(_) => false,
            #[cfg(feature = "tls")]
            Inner::Tls(_) => true,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Socket(io) => socket::recv(raw_fd_of(io), buf, false),
            Inner::Plain(io) => io.read(buf),
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Socket(io) => socket::send(raw_fd_of(io), buf),
            Inner::Plain(io) => io.write(buf),
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Socket(_) => Ok(()),
            Inner::Plain(io) => io.flush(),
            #[cfg(feature = "tls")]
            Inner::Tls(tls) => tls.flush(),
        }
    }
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("peer", &self.peer)
            .field("tls", &self.is_tls())
            .field("fd", &self.raw_fd())
            .finish()
    }
}
