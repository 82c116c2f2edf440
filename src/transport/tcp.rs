//! TCP connect within a deadline.

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Instant;

use super::url::Endpoint;
use crate::error::{Error, Result};

/// Resolves the endpoint's host and connects to each address in turn until one answers,
/// all within `deadline`. The stream comes back with `TCP_NODELAY` on (STOMP frames are
/// small and latency matters more than packet count; we batch writes ourselves) and
/// non-blocking (a plain stream is then switched to the mode of `socket.rs`).
///
/// Name resolution uses the system resolver through `ToSocketAddrs`, which blocks and is
/// **not** bounded by the deadline: a hung DNS server delays the connect by the
/// resolver's own timeout (`options timeout:` in resolv.conf). IP literals and
/// `/etc/hosts` names never wait.
///
/// Each address gets an equal share of the time left, so one unreachable address
/// (say an IPv6 `localhost` that nothing listens on, silently dropped) cannot eat the
/// whole deadline before the next is tried; the last address gets all that remains.
///
/// Errors: [`Error::Timeout`] when the deadline passes (every attempt timed out),
/// [`Error::Io`] naming `host:port` for refused, unreachable or unresolvable.
pub(crate) fn connect(ep: &Endpoint, deadline: Instant) -> Result<TcpStream> {
    let peer = ep.peer();
    let addrs: Vec<SocketAddr> = (ep.host.as_str(), ep.port)
        .to_socket_addrs()
        .map_err(|e| Error::Io(format!("cannot resolve {}: {e}", ep.host)))?
        .collect();
    if addrs.is_empty() {
        return Err(Error::Io(format!("{} resolves to no address", ep.host)));
    }
    let mut last_error: Option<(SocketAddr, io::Error)> = None;
    for (i, addr) in addrs.iter().enumerate() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let left = deadline - now;
        let share = left / (addrs.len() - i) as u32;
        let share = if share.is_zero() { left } else { share };
        match TcpStream::connect_timeout(addr, share) {
            Ok(stream) => {
                let setup = stream
                    .set_nodelay(true)
                    .and_then(|()| stream.set_nonblocking(true));
                setup.map_err(|e| Error::io(&peer, &e))?;
                return Ok(stream);
            }
            // Keep the most telling error: a refusal says more than a timeout.
            Err(e) => {
                let keep = match &last_error {
                    Some((_, prev)) => {
                        e.kind() != io::ErrorKind::TimedOut
                            || prev.kind() == io::ErrorKind::TimedOut
                    }
                    None => true,
                };
                if keep {
                    last_error = Some((*addr, e));
                }
            }
        }
    }
    match last_error {
        Some((addr, e)) if e.kind() != io::ErrorKind::TimedOut => {
            // Name the address when it adds something: a host name, or several addresses.
            if addr.ip().to_string() == ep.host && addrs.len() == 1 {
                Err(Error::Io(format!("TCP connect to {peer} failed: {e}")))
            } else {
                Err(Error::Io(format!(
                    "TCP connect to {peer} ({addr}) failed: {e}"
                )))
            }
        }
        _ => Err(Error::Timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::url::parse_url;
    use std::net::TcpListener;
    use std::time::Duration;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[test]
    fn connects_with_nodelay_and_non_blocking() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ep = parse_url(&format!("tcp://127.0.0.1:{port}")).unwrap();
        let mut s = connect(&ep, soon()).unwrap();
        assert!(s.nodelay().unwrap());
        let e = io::Read::read(&mut s, &mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn refused_names_the_port() {
        // Bind then drop: the port is (almost certainly) closed now.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ep = parse_url(&format!("tcp://127.0.0.1:{port}")).unwrap();
        match connect(&ep, soon()) {
            Err(Error::Io(msg)) => {
                assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
                assert!(msg.to_lowercase().contains("refused"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn localhost_tries_every_address() {
        // `localhost` may resolve to ::1 first; a listener on 127.0.0.1 only must still
        // be found.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ep = parse_url(&format!("tcp://localhost:{port}")).unwrap();
        connect(&ep, soon()).unwrap();
    }

    #[test]
    fn passed_deadline_is_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ep = parse_url(&format!("tcp://127.0.0.1:{port}")).unwrap();
        assert_eq!(connect(&ep, Instant::now()).unwrap_err(), Error::Timeout);
    }
}
