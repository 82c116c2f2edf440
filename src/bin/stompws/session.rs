//! One connection for one subcommand: the config built from the options, the debug
//! hook (passcode hidden), and the mapping of the library's errors onto exit statuses.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use stompws::{Client, Config, Error, Event};

use crate::args::Options;

/// What replaces the passcode in debug output.
const HIDDEN: &str = "********";

/// A failed subcommand: the exit status and the text for standard error.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// The library's error as it is: its `stompws_result` number and its text.
    pub fn from_error(e: &Error) -> Failure {
        Failure {
            code: u8::try_from(e.code()).unwrap_or(u8::MAX),
            message: e.to_string(),
        }
    }

    /// A failure of the program's own input or output (standard input, standard
    /// output): an I/O error, `STOMPWS_RESULT_IO`.
    pub fn io(what: &str, e: &std::io::Error) -> Failure {
        Failure::from_error(&Error::Io(format!("{what}: {e}")))
    }
}

/// Text shared between the library's threads and the command.
#[derive(Default)]
struct Seen {
    /// The `message` of the first ERROR frame of the session (the event's detail).
    server_error: Option<String>,
    /// The debug line of the CONNECTED frame, kept for `ping`.
    connected: Option<String>,
}

/// A connected client and what its hooks saw.
pub struct Session {
    pub client: Client,
    seen: Arc<Mutex<Seen>>,
}

impl Session {
    /// Connects as the options say. `want_connected_line` keeps the CONNECTED frame's
    /// debug line (see [`Session::connected_line`]) even without `--debug`.
    pub fn connect(opts: &Options, want_connected_line: bool) -> Result<Session, Failure> {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut config = Config::new().heartbeat(opts.heartbeat.0, opts.heartbeat.1);
        if let Some((login, passcode)) = &opts.login {
            config = config.login(login, passcode);
        }
        if let Some(host) = &opts.host {
            config = config.host(host);
        }
        if let Some(versions) = &opts.versions {
            config = config.versions(versions);
        }
        if let Some(ca) = &opts.ca_file {
            config = config.tls_ca_file(ca);
        }
        if opts.insecure {
            config = config.tls_insecure(true);
        }
        if opts.debug || want_connected_line {
            let print = opts.debug;
            let passcode = opts
                .login
                .as_ref()
                .map(|(_, p)| p.clone())
                .unwrap_or_default();
            let seen = Arc::clone(&seen);
            config = config.debug(move |line| {
                if want_connected_line && line.starts_with("<<< CONNECTED") {
                    lock(&seen).connected = Some(line.to_string());
                }
                if print {
                    let line = redact(line, &passcode);
                    // Debug output is best effort: a closed stderr must not stop the client.
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
            });
        }
        let events = Arc::clone(&seen);
        config = config.on_event(move |event, detail| {
            if event == Event::ServerError {
                lock(&events)
                    .server_error
                    .get_or_insert_with(|| detail.to_string());
            }
        });
        let client = Client::connect(&opts.url, &config).map_err(|e| Failure::from_error(&e))?;
        Ok(Session { client, seen })
    }

    /// The CONNECTED frame as the debug hook showed it, when `connect` was asked to keep it.
    pub fn connected_line(&self) -> Option<String> {
        lock(&self.seen).connected.clone()
    }

    /// The failure to report for an error of a call on this session.
    ///
    /// When the broker ended the session with an ERROR frame, that is the failure
    /// (exit status 5, with the broker's text), whichever call noticed the end: a call
    /// not waiting for that ERROR's receipt sees only `Disconnected`. Otherwise the
    /// error itself, a `Disconnected` with the close reason added.
    ///
    /// It ends the session first (without waiting: the command is failing anyway),
    /// which joins the client's dispatch thread, so an ERROR's event that raced with the
    /// error has been seen.
    pub fn failure(&self, e: &Error) -> Failure {
        let _ = self.client.disconnect_timeout(Duration::ZERO);
        if let Some(f) = self.server_error() {
            return f;
        }
        let mut f = Failure::from_error(e);
        if matches!(e, Error::Disconnected) {
            if let Some(reason) = self.client.close_reason().filter(|r| !r.is_empty()) {
                f.message = format!("{}: {reason}", f.message);
            }
        }
        f
    }

    /// Disconnects, waiting for the DISCONNECT receipt, and reports an ERROR frame that
    /// ended the session meanwhile. (Brokers may answer DISCONNECT before they refuse a
    /// SEND that asked for no receipt, RabbitMQ and ActiveMQ both do: only a receipt
    /// confirms a frame.)
    pub fn finish(self) -> Result<(), Failure> {
        let result = self.client.disconnect();
        // disconnect has joined the dispatch thread, so every event has been seen.
        if let Some(f) = self.server_error() {
            return Err(f);
        }
        result.map_err(|e| self.failure(&e))
    }

    fn server_error(&self) -> Option<Failure> {
        let message = lock(&self.seen).server_error.clone()?;
        let code = Failure::from_error(&Error::ServerError {
            message: String::new(),
            body: String::new(),
        })
        .code;
        // The close reason of a session an ERROR ended holds its message and body.
        let message = match self.client.close_reason() {
            Some(reason) if reason.starts_with("server error") => reason,
            _ => format!("server error: {message}"),
        };
        Some(Failure { code, message })
    }
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A debug line with the passcode hidden: the value of any `passcode:` header, and any
/// other occurrence of the passcode's text (as it is, and as the hook escapes it), e.g.
/// a login equal to the passcode. The library hides the CONNECT frame's passcode header
/// itself; this also covers text it cannot know to be secret.
pub fn redact(line: &str, passcode: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find(" passcode:") {
        let value_start = i + " passcode:".len();
        out.push_str(&rest[..value_start]);
        out.push_str(HIDDEN);
        let value_len = rest[value_start..]
            .find(' ')
            .unwrap_or(rest.len() - value_start);
        rest = &rest[value_start + value_len..];
    }
    out.push_str(rest);
    if passcode.is_empty() {
        return out;
    }
    let escaped = passcode.escape_debug().to_string();
    for secret in [passcode, escaped.as_str()] {
        if out.contains(secret) {
            out = out.replace(secret, HIDDEN);
        }
    }
    out
}

/// The heart-beat intervals in force, outgoing and incoming in ms, as STOMP 1.1
/// negotiates them: for each direction 0 when either side said 0, else the larger of
/// the two. `ours` is what CONNECT asked for; `connected_line` is the CONNECTED frame's
/// debug line, whose `heart-beat` header (absent: `0,0`) is the broker's answer. STOMP
/// 1.0 has no heart-beats.
pub fn negotiated_heartbeat(ours: (u32, u32), version: &str, connected_line: &str) -> (u32, u32) {
    if version == "1.0" {
        return (0, 0);
    }
    let theirs = connected_line
        .split(' ')
        .find_map(|word| word.strip_prefix("heart-beat:"))
        .and_then(|v| {
            let (x, y) = v.split_once(',')?;
            Some((x.trim().parse().ok()?, y.trim().parse().ok()?))
        })
        .unwrap_or((0u32, 0u32));
    let pick = |a: u32, b: u32| if a == 0 || b == 0 { 0 } else { a.max(b) };
    (pick(ours.0, theirs.1), pick(ours.1, theirs.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_passcode_header_and_text() {
        let line = ">>> CONNECT accept-version:1.2 login:bob passcode:s3cret heart-beat:0,0";
        assert_eq!(
            redact(line, ""),
            ">>> CONNECT accept-version:1.2 login:bob passcode:******** heart-beat:0,0"
        );
        assert_eq!(
            redact(">>> CONNECT login:same passcode:same", "same"),
            ">>> CONNECT login:******** passcode:********"
        );
        assert_eq!(
            redact("<<< ERROR message:bad | pass was a\\\"b", "a\"b"),
            "<<< ERROR message:bad | pass was ********"
        );
        assert_eq!(
            redact(">>> SEND passcode:", "x"),
            ">>> SEND passcode:********"
        );
        assert_eq!(
            redact(">>> SEND destination:/q", "pw"),
            ">>> SEND destination:/q"
        );
    }

    #[test]
    fn heartbeat_negotiation() {
        let line = "<<< CONNECTED server:RabbitMQ/3.10.8 heart-beat:4000,2000 version:1.2";
        assert_eq!(
            negotiated_heartbeat((1000, 5000), "1.2", line),
            (2000, 5000)
        );
        assert_eq!(negotiated_heartbeat((0, 5000), "1.2", line), (0, 5000));
        assert_eq!(negotiated_heartbeat((1000, 0), "1.2", line), (2000, 0));
        assert_eq!(negotiated_heartbeat((1000, 1000), "1.0", line), (0, 0));
        let none = "<<< CONNECTED version:1.1";
        assert_eq!(negotiated_heartbeat((1000, 1000), "1.1", none), (0, 0));
    }
}
