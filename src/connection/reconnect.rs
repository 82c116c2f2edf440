//! New links: connect (each endpoint once, in order), and, with reconnect on, the loop
//! the I/O thread runs after a link is lost (API.md, "Reconnect and failover").

use std::cell::RefCell;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::transport::{self, Endpoint, RawIo};

use super::end::End;
use super::handshake::{self, Established, IoParts};
use super::policy::{Rounds, STABLE_AFTER};
use super::session::Session;

/// Opens the transport to `ep` (or over `io`) and says CONNECT, all within the connect
/// timeout.
pub(crate) fn open_link(
    ep: &Endpoint,
    io: Option<Box<dyn RawIo>>,
    config: &Config,
) -> Result<Established> {
    let deadline = Instant::now() + config.connect_timeout;
    let opened = match io {
        Some(io) => transport::open_over(io, ep, config, deadline)?,
        None => transport::open(ep, config, deadline)?,
    };
    handshake::establish(opened, config, deadline)
}

thread_local! {
    /// The text naming each endpoint tried and its error, when connect failed on
    /// several and the last one's error carries no text of its own (a timeout).
    static CONNECT_DETAIL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Takes the text [`connect_first`] left for `stompws_last_error` on this thread, if any.
pub(crate) fn take_connect_detail() -> Option<String> {
    CONNECT_DETAIL.with(|d| d.borrow_mut().take())
}

/// Connect: tries the endpoints in order, once each, without waiting in between, and
/// returns on the first CONNECTED. An ERROR answering CONNECT ends it at once (a refused
/// login is the caller's to fix, not the endpoint's). When all fail, the error is the
/// last endpoint's, with a text naming each endpoint and its error.
pub(crate) fn connect_first(
    endpoints: &[(String, Endpoint)],
    config: &Config,
) -> Result<(String, Established)> {
    CONNECT_DETAIL.with(|d| d.borrow_mut().take());
    let mut tried = Vec::new();
    let mut last = None;
    for (url, ep) in endpoints {
        match open_link(ep, None, config) {
            Ok(est) => return Ok((url.clone(), est)),
            Err(e @ Error::ServerError { .. }) => return Err(e),
            Err(e) => {
                let text = match e {
                    // Their text is the detail noted for stompws_last_error.
                    Error::Timeout | Error::Disconnected => crate::error::take_detail()
                        .map_or_else(|| e.to_string(), |d| d.into_owned()),
                    _ => e.to_string(),
                };
                tried.push(format!("{url}: {text}"));
                last = Some(e);
            }
        }
    }
    let last = last.unwrap_or(Error::Disconnected);
    if tried.len() < 2 {
        if matches!(last, Error::Timeout | Error::Disconnected) {
            crate::error::note_detail(tried.pop().unwrap_or_default());
        }
        return Err(last);
    }
    let detail = format!(
        "no endpoint answered ({} tried): {}",
        tried.len(),
        tried.join("; ")
    );
    Err(match last {
        Error::InvalidArgument(_) => Error::InvalidArgument(detail),
        Error::Protocol(_) => Error::Protocol(detail),
        Error::Tls(_) => Error::Tls(detail),
        Error::Io(_) => Error::Io(detail),
        Error::Handshake(_) => Error::Handshake(detail),
        Error::Unsupported(_) => Error::Unsupported(detail),
        other => {
            CONNECT_DETAIL.with(|d| *d.borrow_mut() = Some(detail));
            other
        }
    })
}

/// The reconnect loop, on the I/O thread after `end` ended a link: waits, tries every
/// endpoint, and repeats, until a new link is up (returned, already installed), the
/// client closes, or `max_attempts` failed attempts end it (the session is then
/// finished here). `None` in the last two cases.
pub(crate) fn reconnect(shared: &Session, rounds: &mut Rounds, end: End) -> Option<IoParts> {
    let plan = shared.settings.reconnect.as_ref()?;
    if rounds.up_since.elapsed() >= STABLE_AFTER {
        rounds.failed = 0;
    }
    let mut last_error = end.reason();
    loop {
        if plan.policy.gives_up_after(rounds.failed) {
            // Also when the last attempt connected but its link was lost within
            // STABLE_AFTER: it counts as failed.
            if !shared.is_closed() {
                shared.finish(End::Lost(format!(
                    "gave up reconnecting after {} attempts; last error: {last_error}",
                    rounds.failed
                )));
            }
            return None;
        }
        let attempt = rounds.failed + 1;
        let wait = plan.policy.delay(attempt, rounds.jitter());
        if shared.is_closed() {
            return None;
        }
        shared.event(
            Event::Reconnecting,
            &format!("attempt {attempt}: waiting {} ms", wait.as_millis()),
        );
        if !sleep(shared, wait) {
            return None;
        }
        for (url, ep) in &plan.endpoints {
            if shared.is_closed() {
                return None;
            }
            match open_link(ep, None, &plan.config) {
                Ok(est) => {
                    rounds.up_since = Instant::now();
                    // An attempt that connected counts until its link has stayed up.
                    rounds.failed += 1;
                    return shared.install(url, est);
                }
                Err(Error::ServerError { message, body }) => {
                    shared.event(Event::ServerError, &message);
                    last_error = format!("{url}: {}", Error::ServerError { message, body });
                }
                Err(e) => last_error = format!("{url}: {e}"),
            }
        }
        rounds.failed += 1;
    }
}

/// Waits `d` in the back-off, woken early when the client closes. False once closed.
fn sleep(shared: &Session, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        if shared.is_closed() {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        if shared.link.poll(None, false, Some(left)).is_err() {
            std::thread::sleep(left.min(Duration::from_millis(10)));
        }
        shared.link.drain_wakeups();
    }
}
