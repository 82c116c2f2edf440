//! Helpers shared by the integration tests that talk to the real brokers.
//!
//! Use it with `mod common;` at the top of a test file. The brokers are started by
//! `tests/run.sh` (or `tests/brokers/rabbitmq.sh start`, `tests/brokers/activemq.sh
//! start`), which also exports the `STOMPWS_*` variables read here; without them the
//! defaults below are the addresses those scripts use.
//!
//! A test asks for its broker with [`require!`]:
//!
//! ```ignore
//! #[test]
//! fn subscribe_and_receive() {
//!     let url = require!("STOMPWS_RABBITMQ_TCP");
//!     // ...
//! }
//! ```
//!
//! When the broker does not answer, the test passes after printing
//! `skipping: STOMPWS_RABBITMQ_TCP unreachable`, unless `STOMPWS_REQUIRE_BROKERS=1` (set
//! by `tests/run.sh` and so in CI), where it fails.
#![allow(dead_code)]

pub mod cluster;
pub mod library;
pub mod netns;
pub mod program;
pub mod proxy;
pub mod restart;

use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The users both brokers know, as (login, passcode).
pub const GUEST: (&str, &str) = ("guest", "guest");
/// Full rights (on RabbitMQ on the vhosts `/` and `stomptest`).
pub const STOMPWS: (&str, &str) = ("stompws", "stompws");
/// May subscribe and receive, may not send.
pub const READ_ONLY: (&str, &str) = ("stompro", "stompro");

/// The second RabbitMQ vhost the users have rights on.
pub const RABBITMQ_VHOST: &str = "stomptest";

/// How long [`url`] waits for a broker's port to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The address the broker scripts use for each variable.
pub fn default_url(var: &str) -> Option<&'static str> {
    Some(match var {
        "STOMPWS_RABBITMQ_WS" => "ws://127.0.0.1:15674/ws",
        "STOMPWS_RABBITMQ_WSS" => "wss://localhost:15673/ws",
        "STOMPWS_RABBITMQ_TCP" => "tcp://127.0.0.1:61613",
        "STOMPWS_RABBITMQ_SSL" => "ssl://localhost:61614",
        "STOMPWS_ACTIVEMQ_TCP" => "tcp://127.0.0.1:61623",
        "STOMPWS_ACTIVEMQ_SSL" => "ssl://localhost:61625",
        _ => return None,
    })
}

/// True when `STOMPWS_REQUIRE_BROKERS=1`: an unreachable broker fails the test.
pub fn brokers_required() -> bool {
    std::env::var("STOMPWS_REQUIRE_BROKERS").is_ok_and(|v| v == "1")
}

/// The URL in the environment variable `var` (or its default), once its host and port
/// accept a TCP connection within [`CONNECT_TIMEOUT`].
///
/// When they do not: panics if [`brokers_required`], otherwise prints
/// `skipping: <var> unreachable` to stderr and returns `None`.
#[track_caller]
pub fn url(var: &str) -> Option<String> {
    let url = match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => match default_url(var) {
            Some(d) => d.to_string(),
            None => panic!("{var} is not set and has no default URL"),
        },
    };
    match probe(&url) {
        Ok(()) => Some(url),
        Err(e) if brokers_required() => panic!(
            "STOMPWS_REQUIRE_BROKERS=1 but {var} ({url}) is unreachable: {e}; \
             start the brokers with tests/run.sh or tests/brokers/<broker>.sh start"
        ),
        Err(e) => {
            eprintln!("skipping: {var} unreachable ({url}: {e})");
            None
        }
    }
}

/// Host and port of a URL such as `ws://127.0.0.1:15674/ws`, `ssl://localhost:61614`
/// or `tcp://[::1]:61613`. Without a port, the scheme's usual one.
pub fn host_port(url: &str) -> (String, u16) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("tcp", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .unwrap_or_else(|| panic!("bad IPv6 address in {url}"));
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse()
            .unwrap_or_else(|_| panic!("bad port {p:?} in {url}")),
        None => match scheme {
            "ws" | "http" => 80,
            "wss" | "https" => 443,
            "ssl" | "stomp+ssl" => 61614,
            _ => 61613,
        },
    };
    (host.to_string(), port)
}

/// Whether something accepts TCP connections at the URL's host and port.
pub fn probe(url: &str) -> std::io::Result<()> {
    let (host, port) = host_port(url);
    let mut last = None;
    for addr in (host.as_str(), port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no address for the host")
    }))
}

/// Evaluates to the URL in an environment variable (see [`url`]), or returns from the
/// calling test when the broker is unreachable and not required. In a test that returns
/// a value, give the value to return as the second argument:
/// `require!("STOMPWS_ACTIVEMQ_TCP", Ok(()))`.
#[macro_export]
macro_rules! require {
    ($var:expr) => {
        match $crate::common::url($var) {
            Some(url) => url,
            None => return,
        }
    };
    ($var:expr, $ret:expr) => {
        match $crate::common::url($var) {
            Some(url) => url,
            None => return $ret,
        }
    };
}

/// Runs rabbitmqctl against the test node through `STOMPWS_RABBITMQ_CTL` (default
/// `tests/brokers/rabbitmq.sh ctl`), e.g. `rabbitmq_ctl(&["stop_app"])` and
/// `rabbitmq_ctl(&["start_app"])` to take RabbitMQ's listeners away and back for
/// reconnect tests (the node, its queues and messages stay). Returns stdout, or the exit
/// status with stderr. `start_app` does not wait for the listeners: wait with
/// [`probe`], or run `tests/brokers/rabbitmq.sh start`, which waits.
pub fn rabbitmq_ctl(args: &[&str]) -> Result<String, String> {
    let ctl = std::env::var("STOMPWS_RABBITMQ_CTL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| {
            format!(
                "{}/tests/brokers/rabbitmq.sh ctl",
                env!("CARGO_MANIFEST_DIR")
            )
        });
    let mut words = ctl.split_whitespace();
    let program = words.next().expect("STOMPWS_RABBITMQ_CTL names a program");
    let out = std::process::Command::new(program)
        .args(words)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{ctl}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{ctl} {}: {}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The CA that signed the brokers' TLS certificate (`STOMPWS_TLS_CA_FILE`).
pub fn ca_file() -> PathBuf {
    match std::env::var_os("STOMPWS_TLS_CA_FILE") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("/tmp/stompws-brokers/tls/ca.pem"),
    }
}

/// `prefix` made unique to this call: process id, time and a counter, e.g.
/// `orders-4711-1732312345123-3`. Use it in destination names (`/queue/{unique}`) so
/// tests, and runs of the tests, never see each other's messages. Only letters, digits
/// and `-`, which both brokers accept in queue and topic names.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{prefix}-{}-{millis}-{n}", std::process::id())
}
