//! Broker URLs: `ws://`, `wss://`, `tcp://` and `ssl://`, parsed into an [`Endpoint`].
//!
//! Written by hand rather than with a URL crate: the grammar we accept is small, and we
//! want to reject (not silently accept) the parts that make no sense for a broker
//! connection: user info, fragments, whitespace.

use std::net::Ipv6Addr;

use crate::error::{Error, Result};

/// How STOMP travels to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `ws://`: STOMP in WebSocket messages over plain TCP.
    Ws,
    /// `wss://`: STOMP in WebSocket messages over TLS.
    Wss,
    /// `tcp://`: raw STOMP over plain TCP.
    Tcp,
    /// `ssl://`: raw STOMP over TLS.
    Ssl,
}

impl Scheme {
    /// The port used when the URL names none: ws 80, wss 443, tcp 61613, ssl 61614.
    pub(crate) fn default_port(self) -> u16 {
        match self {
            Scheme::Ws => 80,
            Scheme::Wss => 443,
            Scheme::Tcp => 61613,
            Scheme::Ssl => 61614,
        }
    }

    /// True for the schemes that run TLS under everything else (`wss`, `ssl`).
    pub(crate) fn is_tls(self) -> bool {
        matches!(self, Scheme::Wss | Scheme::Ssl)
    }

    /// True for the schemes that upgrade to WebSocket (`ws`, `wss`).
    pub(crate) fn is_websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }
}

/// A parsed broker URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The URL's scheme.
    pub scheme: Scheme,
    /// Host name or IP literal, without the brackets of an IPv6 literal.
    pub host: String,
    /// The port: the URL's, or the scheme's default.
    pub port: u16,
    /// Path and query for the upgrade request, `"/"` when the URL has none. Ignored by
    /// `tcp` and `ssl`.
    pub path: String,
    /// The URL as the caller wrote it, for messages.
    pub url: String,
}

impl Endpoint {
    /// `host:port` for error messages, IPv6 literals in brackets: `[::1]:15674`.
    pub(crate) fn peer(&self) -> String {
        format!("{}:{}", self.host_for_uri(), self.port)
    }

    /// The host as it appears in a URI or a `Host` header: IPv6 literals in brackets.
    pub(crate) fn host_for_uri(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// The value of the HTTP `Host` header: the port only when it is not the scheme's
    /// default (RFC 6455 §4.1, RFC 7230 §5.4).
    pub(crate) fn host_header(&self) -> String {
        if self.port == self.scheme.default_port() {
            self.host_for_uri()
        } else {
            self.peer()
        }
    }
}

/// Parses a broker URL: `ws://host[:port]/path?query`, `wss://...`, `tcp://host[:port]`,
/// `ssl://host[:port]`. The scheme is case-insensitive. IPv6 literals go in brackets.
///
/// Errors ([`Error::InvalidArgument`]): another scheme, no host, a port that is empty,
/// not a number or out of 1..=65535, user info (`user@host`: credentials belong in the
/// config), a fragment, whitespace or control characters anywhere.
pub(crate) fn parse_url(url: &str) -> Result<Endpoint> {
    let bad = |why: &str| Error::invalid(format!("bad URL {url:?}: {why}"));
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace or control characters"));
    }
    let (scheme_text, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected ws://, wss://, tcp:// or ssl://"))?;
    let scheme = match scheme_text.to_ascii_lowercase().as_str() {
        "ws" => Scheme::Ws,
        "wss" => Scheme::Wss,
        "tcp" => Scheme::Tcp,
        "ssl" => Scheme::Ssl,
        _ => return Err(bad("the scheme must be ws, wss, tcp or ssl")),
    };
    if rest.contains('#') {
        return Err(bad("a WebSocket URL cannot have a fragment (#)"));
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(bad(
            "user info (user@host) is not supported; use the config's login or an \
             Authorization http header",
        ));
    }

    let (host, port_text) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (literal, after) = bracketed
            .split_once(']')
            .ok_or_else(|| bad("an IPv6 literal lacks its closing ']'"))?;
        if literal.parse::<Ipv6Addr>().is_err() {
            return Err(bad("the text in brackets is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| bad("unexpected text after the IPv6 literal"))?,
            ),
        };
        (literal, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if !authority.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(bad(
            "the host may hold only letters, digits, '-', '.' and '_' (IPv6 in brackets)",
        ));
    }
    let port = match port_text {
        None => scheme.default_port(),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        },
    };
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok(Endpoint {
        scheme,
        host: host.to_string(),
        port,
        path,
        url: url.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_urls() {
        let table: &[(&str, Scheme, &str, u16, &str)] = &[
            (
                "ws://127.0.0.1:15674/ws",
                Scheme::Ws,
                "127.0.0.1",
                15674,
                "/ws",
            ),
            ("ws://example.com", Scheme::Ws, "example.com", 80, "/"),
            ("ws://example.com/", Scheme::Ws, "example.com", 80, "/"),
            (
                "wss://broker.example/stomp?x=1&y=2",
                Scheme::Wss,
                "broker.example",
                443,
                "/stomp?x=1&y=2",
            ),
            ("ws://h?token=abc", Scheme::Ws, "h", 80, "/?token=abc"),
            ("tcp://localhost", Scheme::Tcp, "localhost", 61613, "/"),
            (
                "tcp://localhost:61623",
                Scheme::Tcp,
                "localhost",
                61623,
                "/",
            ),
            ("ssl://localhost", Scheme::Ssl, "localhost", 61614, "/"),
            ("SSL://LocalHost:1/", Scheme::Ssl, "LocalHost", 1, "/"),
            ("ws://[::1]:15674/ws", Scheme::Ws, "::1", 15674, "/ws"),
            ("wss://[fe80::1:2]/", Scheme::Wss, "fe80::1:2", 443, "/"),
            ("tcp://[::1]", Scheme::Tcp, "::1", 61613, "/"),
            (
                "ws://my_host-1.local:65535/a/b",
                Scheme::Ws,
                "my_host-1.local",
                65535,
                "/a/b",
            ),
        ];
        for &(url, scheme, host, port, path) in table {
            let ep = parse_url(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(ep.scheme, scheme, "{url}");
            assert_eq!(ep.host, host, "{url}");
            assert_eq!(ep.port, port, "{url}");
            assert_eq!(ep.path, path, "{url}");
            assert_eq!(ep.url, url);
        }
    }

    #[test]
    fn bad_urls() {
        for url in [
            "",
            "localhost:61613",
            "http://localhost/",
            "stomp://localhost",
            "ws://",
            "ws:///path",
            "ws://:80/",
            "ws://host:/",
            "ws://host:0/",
            "ws://host:65536/",
            "ws://host:-1/",
            "ws://host:+80/",
            "ws://host:80x/",
            "ws://user:pw@host/",
            "ws://user@host/",
            "ws://host/pa th",
            " ws://host/",
            "ws://host/\n",
            "ws://host/#frag",
            "ws://::1/",
            "ws://[::1/",
            "ws://[::1]x/",
            "ws://[nothost]/",
            "ws://ho%73t/",
        ] {
            match parse_url(url) {
                Err(Error::InvalidArgument(msg)) => assert!(msg.contains("bad URL"), "{msg}"),
                other => panic!("{url:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn host_header_and_peer() {
        let ep = parse_url("ws://[::1]:15674/ws").unwrap();
        assert_eq!(ep.peer(), "[::1]:15674");
        assert_eq!(ep.host_header(), "[::1]:15674");
        let ep = parse_url("wss://[::1]/ws").unwrap();
        assert_eq!(ep.host_header(), "[::1]");
        let ep = parse_url("ws://example.com:80/").unwrap();
        assert_eq!(ep.host_header(), "example.com");
        let ep = parse_url("wss://example.com:80/").unwrap();
        assert_eq!(ep.host_header(), "example.com:80");
        assert!(ep.scheme.is_tls() && ep.scheme.is_websocket());
        let ep = parse_url("ssl://h").unwrap();
        assert!(ep.scheme.is_tls() && !ep.scheme.is_websocket());
    }
}
