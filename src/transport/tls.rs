//! TLS for `wss://` and `ssl://`, through native-tls (OpenSSL on Linux).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub(crate) use native_tls::TlsConnector;
use native_tls::{Certificate, HandshakeError, Identity};

use super::fd::{raw_fd_of, wait_fd};
use super::stream::{RawIo, Stream};
use super::url::Endpoint;
use crate::config::Config;
use crate::error::{Error, Result};

/// Builds the connector from the config: the system's roots plus every certificate of
/// `tls_ca_file`, the client certificate if one is set, and, only when `tls_insecure`
/// asks for it, no certificate or host name checks.
pub(crate) fn connector(config: &Config) -> Result<TlsConnector> {
    let mut builder = TlsConnector::builder();
    if let Some(path) = &config.tls_ca_file {
        for cert in read_ca_file(path)? {
            builder.add_root_certificate(cert);
        }
    }
    if let Some((cert_path, key_path)) = &config.tls_client_cert {
        let cert = read_file(cert_path, "client certificate")?;
        let key = read_file(key_path, "client key")?;
        let identity = Identity::from_pkcs8(&cert, &key).map_err(|e| {
            Error::Tls(format!(
                "cannot use client certificate {} with key {}: {e} (the key must be \
                 PEM \"BEGIN PRIVATE KEY\", i.e. PKCS#8: convert with \
                 `openssl pkcs8 -topk8 -nocrypt`)",
                cert_path.display(),
                key_path.display()
            ))
        })?;
        builder.identity(identity);
    }
    if config.tls_insecure {
        builder.danger_accept_invalid_certs(true);
        builder.danger_accept_invalid_hostnames(true);
    }
    builder
        .build()
        .map_err(|e| Error::Tls(format!("cannot set up TLS: {e}")))
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Tls(format!("cannot read {what} {}: {e}", path.display())))
}

/// Every `BEGIN CERTIFICATE` block of a PEM file (a bundle may hold several, and
/// `Certificate::from_pem` takes one). Other blocks (keys, parameters) and text between
/// blocks are skipped. A file with no certificate at all is an error: trusting nothing
/// extra while the user believes otherwise would fail later with a confusing message.
fn read_ca_file(path: &Path) -> Result<Vec<Certificate>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let pem = read_file(path, "CA file")?;
    let text = String::from_utf8_lossy(&pem);
    let mut certs = Vec::new();
    let mut rest: &str = &text;
    while let Some(start) = rest.find(BEGIN) {
        let block = &rest[start..];
        let end = block.find(END).ok_or_else(|| {
            Error::Tls(format!(
                "CA file {}: certificate {} has no END line",
                path.display(),
                certs.len() + 1
            ))
        })? + END.len();
        let cert = Certificate::from_pem(&block.as_bytes()[..end]).map_err(|e| {
            Error::Tls(format!(
                "CA file {}: certificate {} is invalid: {e}",
                path.display(),
                certs.len() + 1
            ))
        })?;
        certs.push(cert);
        rest = &block[end..];
    }
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// Runs the TLS client handshake with `connector` (from [`connector`]) over `io`
/// (already non-blocking) within `deadline`, with SNI and host name verification
/// against the URL's host (an IP literal is checked against the certificate's IP
/// addresses and is not sent as SNI).
///
/// Errors: [`Error::Timeout`]; [`Error::Tls`] for everything else, including a failed
/// certificate verification, whose text carries OpenSSL's reason ("certificate verify
/// failed", then e.g. "unable to get local issuer certificate" or "hostname mismatch").
/// When the server's first answer was no TLS record (an HTTP answer, a STOMP frame, or
/// a close without a word: a plain port), the text says so and which scheme was
/// probably meant, instead of leaving the user with OpenSSL's "wrong version number".
pub(crate) fn handshake(
    io: Box<dyn RawIo>,
    connector: &TlsConnector,
    ep: &Endpoint,
    config: &Config,
    deadline: Instant,
) -> Result<Stream> {
    let peer = ep.peer();
    let fd = raw_fd_of(&io);
    let noted = Arc::new(Mutex::new(Noted::default()));
    let io: Box<dyn RawIo> = Box::new(Noting {
        io,
        noted: Arc::clone(&noted),
        done: false,
    });
    let mut attempt = connector.connect(&ep.host, io);
    // The server's first bytes, looked at (not taken) before OpenSSL reads them.
    let mut first_answer: Option<FirstAnswer> = None;
    loop {
        match attempt {
            Ok(tls) => return Ok(Stream::tls(tls, peer)),
            Err(HandshakeError::WouldBlock(mid)) => {
                // native-tls does not say which direction OpenSSL waits for. After the
                // ClientHello (a few hundred bytes, always accepted by an empty socket
                // buffer) a client handshake only ever waits to read, and waiting for
                // "writable" too would spin, since the socket is nearly always writable.
                wait_fd(fd, true, false, deadline)?;
                if first_answer.is_none() {
                    first_answer = peek_first_answer(fd);
                }
                attempt = mid.handshake();
            }
            Err(HandshakeError::Failure(e)) => {
                let text = e.to_string();
                // The peek shows more of the answer; when it came too late (OpenSSL read
                // the answer in its first attempt), what OpenSSL read is noted.
                let first_answer = first_answer.or_else(|| lock_noted(&noted).answer());
                if let Some(plain) = first_answer.as_ref().and_then(|a| a.not_tls(ep)) {
                    return Err(Error::Tls(format!(
                        "TLS handshake with {peer} failed: {plain} (OpenSSL: {text})"
                    )));
                }
                let hint = if !text.contains("certificate verify failed") {
                    String::new()
                } else if text.contains("mismatch") {
                    format!(" (the certificate is not issued for {:?})", ep.host)
                } else if config.tls_ca_file.is_some() {
                    " (no trusted CA, neither among the system roots nor in the CA file, \
                     signed the certificate)"
                        .to_string()
                } else {
                    " (no CA among the system roots signed the certificate; tls_ca_file \
                     adds one to trust)"
                        .to_string()
                };
                return Err(Error::Tls(format!(
                    "TLS handshake with {peer} failed: {text}{hint}"
                )));
            }
        }
    }
}

/// The server's first bytes as OpenSSL read them during the handshake.
#[derive(Default)]
struct Noted {
    bytes: Vec<u8>,
    /// The server closed before sending anything.
    closed: bool,
}

impl Noted {
    fn answer(&self) -> Option<FirstAnswer> {
        if !self.bytes.is_empty() {
            Some(FirstAnswer::Bytes(self.bytes.clone()))
        } else if self.closed {
            Some(FirstAnswer::Closed)
        } else {
            None
        }
    }
}

fn lock_noted(noted: &Mutex<Noted>) -> std::sync::MutexGuard<'_, Noted> {
    noted.lock().unwrap_or_else(|e| e.into_inner())
}

/// How many of the server's first bytes are noted.
const NOTED: usize = 64;

/// The stream under TLS, noting the first bytes the server sends, so that a failed
/// handshake can say what answered instead of TLS. Once they are noted, a read costs
/// one more branch.
struct Noting {
    io: Box<dyn RawIo>,
    noted: Arc<Mutex<Noted>>,
    done: bool,
}

impl std::io::Read for Noting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.io.read(buf)?;
        if !self.done {
            let mut noted = lock_noted(&self.noted);
            if n == 0 && noted.bytes.is_empty() {
                noted.closed = true;
            }
            let room = NOTED - noted.bytes.len();
            noted.bytes.extend_from_slice(&buf[..n.min(room)]);
            self.done = noted.bytes.len() >= NOTED || n == 0;
        }
        Ok(n)
    }
}

impl std::io::Write for Noting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.io.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.io.flush()
    }
}

impl std::os::fd::AsFd for Noting {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.as_fd()
    }
}

/// What the server sent first during the TLS handshake.
#[derive(Debug)]
enum FirstAnswer {
    /// It closed the connection without a byte.
    Closed,
    /// Its first bytes (a few dozen at most).
    Bytes(Vec<u8>),
}

/// Looks at the first bytes waiting on `fd` without taking them (`MSG_PEEK`), so that
/// OpenSSL still reads them. None when nothing can be seen: no bytes yet, or `fd` is no
/// socket (a stream given to `Client::over`).
fn peek_first_answer(fd: std::os::fd::RawFd) -> Option<FirstAnswer> {
    let mut buf = [0u8; 64];
    // SAFETY: `buf` is a live local buffer of the length passed; recv writes at most
    // that many bytes and keeps no pointer. `fd` is the open descriptor of the stream
    // being handshaken.
    let n = unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    match n {
        0 => Some(FirstAnswer::Closed),
        n if n > 0 => Some(FirstAnswer::Bytes(buf[..n as usize].to_vec())),
        _ => None,
    }
}

impl FirstAnswer {
    /// A sentence saying the port is no TLS port and which scheme was probably meant,
    /// when this answer shows it; None for a TLS record.
    fn not_tls(&self, ep: &Endpoint) -> Option<String> {
        let peer = ep.peer();
        let raw = format!("tcp://{peer}");
        let ws = if ep.scheme.is_websocket() {
            format!("ws://{peer}{}", ep.path)
        } else {
            format!("ws://{peer}/...")
        };
        let bytes = match self {
            FirstAnswer::Closed => {
                let other = if ep.scheme.is_websocket() {
                    format!(", for plain WebSocket {ws}")
                } else {
                    String::new()
                };
                return Some(format!(
                    "the server closed the connection without a TLS answer: probably not a \
                     TLS port (a plain STOMP port closes like this); for plain STOMP \
                     {raw} was meant{other}"
                ));
            }
            FirstAnswer::Bytes(b) => b,
        };
        // A TLS record: content type 20-23 (alert, handshake...), major version 3.
        if bytes.len() >= 2 && (0x14..=0x17).contains(&bytes[0]) && bytes[1] == 3 {
            return None;
        }
        if bytes.len() == 1 && (0x14..=0x17).contains(&bytes[0]) {
            return None;
        }
        let line = bytes
            .split(|&b| b == b'\r' || b == b'\n')
            .next()
            .unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        Some(if bytes.starts_with(b"HTTP/") {
            format!(
                "the server answered in plain HTTP ({line:?}), not TLS: it is a plain HTTP \
                 (WebSocket) port; {ws} was probably meant"
            )
        } else if bytes.first().is_some_and(u8::is_ascii_uppercase) {
            format!(
                "the server answered in plain text ({line:?}), not TLS: probably a plain \
                 STOMP port; {raw} was probably meant"
            )
        } else {
            format!(
                "the server's answer is no TLS record (it starts {:02x?}): not a TLS port",
                &bytes[..bytes.len().min(8)]
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::testpki::{Pki, TempDir};

    #[test]
    fn ca_file_with_several_certificates() {
        let a = Pki::new("a.test");
        let b = Pki::new("b.test");
        let dir = TempDir::new("bundle");
        let bundle = dir.path().join("bundle.pem");
        let mut text = b"# a comment line\n".to_vec();
        text.extend(std::fs::read(&a.ca_pem).unwrap());
        text.extend(b"\nbetween\n");
        text.extend(std::fs::read(&b.ca_pem).unwrap());
        std::fs::write(&bundle, text).unwrap();
        assert_eq!(read_ca_file(&bundle).unwrap().len(), 2);

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing here").unwrap();
        assert!(matches!(read_ca_file(&empty), Err(Error::Tls(m)) if m.contains("no PEM")));

        let cut = dir.path().join("cut.pem");
        std::fs::write(&cut, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
        assert!(matches!(read_ca_file(&cut), Err(Error::Tls(m)) if m.contains("END")));

        let missing = dir.path().join("missing.pem");
        assert!(matches!(read_ca_file(&missing), Err(Error::Tls(m)) if m.contains("missing.pem")));
    }

    #[test]
    fn client_certificate_is_loaded_or_explained() {
        let pki = Pki::new("c.test");
        let config = Config::new().tls_client_cert(&pki.client_cert, &pki.client_key);
        connector(&config).unwrap();
        // The certificate given as the key: not PKCS#8.
        let config = Config::new().tls_client_cert(&pki.client_cert, &pki.client_cert);
        match connector(&config) {
            Err(Error::Tls(m)) => assert!(m.contains("PKCS#8"), "{m}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }
}
