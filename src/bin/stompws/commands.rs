//! The three subcommands: send, subscribe, ping.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use stompws::{AckMode, Error};

use crate::args::{Mode, Options};
use crate::output::write_message;
use crate::session::{negotiated_heartbeat, Failure, Session};

/// How long one wait for a message lasts when `--timeout` is absent; the loop then
/// waits again, for ever.
const FOREVER_SLICE: Duration = Duration::from_secs(3600);

/// The `receipt` header `subscribe` puts on its SUBSCRIBE (unless the caller gave one),
/// so that a refused subscription fails at once instead of looking like silence.
const SUBSCRIBE_RECEIPT: &str = "stompws-cli-subscribe";

/// Runs the subcommand; `Ok` is exit status 0.
pub fn run(opts: &Options) -> Result<(), Failure> {
    match &opts.mode {
        Mode::Send {
            dest,
            body,
            receipt,
        } => send(opts, dest, body.as_deref(), *receipt),
        Mode::Subscribe {
            dest,
            ack,
            count,
            timeout,
            json,
        } => subscribe(opts, dest, *ack, *count, *timeout, *json),
        Mode::Ping => ping(opts),
    }
}

fn header_refs(opts: &Options) -> Vec<(&str, &str)> {
    opts.headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// SEND of the BODY argument or of all of standard input (read before connecting, so
/// a slow producer does not hold a connection open). With `receipt`, success means the
/// broker confirmed the frame; without, that the frame went out and the broker answered
/// the DISCONNECT, which RabbitMQ and ActiveMQ both do even when they refuse the SEND
/// (e.g. for a user without write rights): only `--receipt` detects that.
fn send(opts: &Options, dest: &str, body: Option<&[u8]>, receipt: bool) -> Result<(), Failure> {
    let stdin_body;
    let body = match body {
        Some(b) => b,
        None => {
            let mut buf = Vec::new();
            io::stdin()
                .lock()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::io("standard input", &e))?;
            stdin_body = buf;
            &stdin_body
        }
    };
    let session = Session::connect(opts, false)?;
    let headers = header_refs(opts);
    let sent = if receipt {
        session.client.send_with_receipt(dest, &headers, body)
    } else {
        session.client.send(dest, &headers, body)
    };
    if let Err(e) = sent {
        return Err(session.failure(&e));
    }
    session.finish()
}

/// SUBSCRIBE, then write each message out (flushed) and, unless the ack mode is auto,
/// ack it once written: a message that could not be written is not acked.
///
/// Ends with `Ok` after `count` messages, or when `timeout` passes without a message
/// and no count was given; with a count, that timeout is [`Error::Timeout`] (exit 3).
/// Without a timeout it waits until the connection ends (an error).
fn subscribe(
    opts: &Options,
    dest: &str,
    ack: AckMode,
    count: Option<u64>,
    timeout: Option<Duration>,
    json: bool,
) -> Result<(), Failure> {
    let session = Session::connect(opts, false)?;
    let mut headers = header_refs(opts);
    if !headers.iter().any(|(n, _)| *n == "receipt") {
        headers.push(("receipt", SUBSCRIBE_RECEIPT));
    }
    let sub = match session.client.subscribe(dest, ack, &headers) {
        Ok(sub) => sub,
        Err(e) => return Err(session.failure(&e)),
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut received: u64 = 0;
    while !count.is_some_and(|n| received >= n) {
        let msg = match sub.recv_timeout(timeout.unwrap_or(FOREVER_SLICE)) {
            Ok(msg) => msg,
            Err(Error::Timeout) if timeout.is_none() => continue,
            Err(Error::Timeout) if count.is_none() => break,
            Err(Error::Timeout) => {
                let _ = session.client.disconnect();
                return Err(Failure {
                    message: format!(
                        "timeout: {received} of {} messages before {} s without one",
                        count.unwrap_or_default(),
                        timeout.unwrap_or_default().as_secs_f64()
                    ),
                    ..Failure::from_error(&Error::Timeout)
                });
            }
            Err(e) => return Err(session.failure(&e)),
        };
        write_message(&mut out, &msg, json)
            .and_then(|()| out.flush())
            .map_err(|e| Failure::io("standard output", &e))?;
        if ack != AckMode::Auto {
            msg.ack(&[]).map_err(|e| session.failure(&e))?;
        }
        received += 1;
    }
    drop(sub);
    session.finish()
}

/// Connects, prints what CONNECTED said, then times BEGIN followed by ABORT, which
/// waits for its receipt: one round trip through the broker. A broker that sends no
/// receipts makes ABORT time out (exit 3).
fn ping(opts: &Options) -> Result<(), Failure> {
    let session = Session::connect(opts, true)?;
    let client = &session.client;
    let (out_ms, in_ms) = negotiated_heartbeat(
        opts.heartbeat,
        client.version(),
        &session.connected_line().unwrap_or_default(),
    );
    let stdout = io::stdout();
    let mut out = stdout.lock();
    write!(
        out,
        "version: {}\nserver: {}\nsession: {}\nheart-beat: {out_ms},{in_ms}\n",
        client.version(),
        client.server().unwrap_or("(none)"),
        client.session().unwrap_or("(none)"),
    )
    .and_then(|()| out.flush())
    .map_err(|e| Failure::io("standard output", &e))?;
    let start = Instant::now();
    let timed = client.begin().and_then(|tx| tx.abort());
    let rtt = start.elapsed();
    if let Err(e) = timed {
        return Err(session.failure(&e));
    }
    writeln!(out, "rtt_ms: {:.3}", rtt.as_secs_f64() * 1000.0)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::io("standard output", &e))?;
    session.finish()
}
