//! The endpoint list, back-off and new links: connect (each endpoint once, in order),
//! and, with reconnect on, the loop the I/O thread runs after a link is lost (API.md,
//! "Reconnect and failover").

use std::cell::RefCell;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::transport::{self, Endpoint, RawIo};

use super::handshake::{self, Established};
use super::io::{self, End, IoParts};
use super::Shared;

/// A new session counts as up (the attempt count and the delay start again) once it has
/// lasted this long; one lost sooner continues the count, so that a broker that accepts
/// CONNECT and then refuses a replayed SUBSCRIBE cannot make the client loop fast.
const STABLE_AFTER: Duration = Duration::from_secs(1);

/// Back-off between attempts: attempt n (from 1) waits min(initial x 2^(n-1), max), times
/// a random factor in [0.8, 1.2], clamped to max.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    initial: Duration,
    max: Duration,
    /// 0: never give up.
    max_attempts: u32,
}

impl Policy {
    pub(crate) fn new(initial: Duration, max: Duration, max_attempts: u32) -> Policy {
        Policy {
            initial,
            max,
            max_attempts,
        }
    }

    /// The wait before attempt `n` (from 1), for a `jitter` in [0, 1).
    pub(crate) fn delay(&self, n: u32, jitter: f64) -> Duration {
        let doubling = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        let base = self.initial.saturating_mul(doubling).min(self.max);
        base.mul_f64(0.8 + 0.4 * jitter).min(self.max)
    }

    /// Whether `failed` failed attempts end reconnecting.
    fn gives_up_after(&self, failed: u32) -> bool {
        self.max_attempts != 0 && failed >= self.max_attempts
    }
}

/// What reconnecting needs: the policy, every endpoint, and the config to connect with.
pub(crate) struct Plan {
    pub(crate) policy: Policy,
    pub(crate) endpoints: Vec<(String, Endpoint)>,
    config: Config,
    /// False once the client closed: the debug hook of an attempt still in flight is not
    /// called any more (its userdata may be gone). A write lock waits for a running call.
    debug_open: Arc<RwLock<bool>>,
}

impl Plan {
    pub(crate) fn new(policy: Policy, endpoints: Vec<(String, Endpoint)>, config: &Config) -> Plan {
        let debug_open = Arc::new(RwLock::new(true));
        let mut config = config.clone();
        if let Some(d) = config.debug.take() {
            let open = Arc::clone(&debug_open);
            config.debug = Some(Arc::new(move |line: &str| {
                if *open.read().unwrap_or_else(|e| e.into_inner()) {
                    d(line);
                }
            }));
        }
        Plan {
            policy,
            endpoints,
            config,
            debug_open,
        }
    }

    /// The client closed during an outage: no more debug lines from attempts.
    pub(crate) fn close(&self) {
        *self.debug_open.write().unwrap_or_else(|e| e.into_inner()) = false;
    }
}

/// The attempt count across links: it continues while links are lost within
/// [`STABLE_AFTER`].
pub(crate) struct Rounds {
    failed: u32,
    up_since: Instant,
    seed: u64,
}

impl Rounds {
    pub(crate) fn new() -> Rounds {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let here = &now as *const u64 as u64;
        Rounds {
            failed: 0,
            up_since: Instant::now(),
            seed: (now ^ here.rotate_left(32)) | 1,
        }
    }

    /// A uniform number in [0, 1) (xorshift64*: jitter needs no better).
    fn jitter(&mut self) -> f64 {
        let mut x = self.seed;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.seed = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

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
                tried.push(format!("{url}: {e}"));
                last = Some(e);
            }
        }
    }
    let last = last.unwrap_or(Error::Disconnected);
    if tried.len() < 2 {
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
pub(crate) fn reconnect(shared: &Shared, rounds: &mut Rounds, end: End) -> Option<IoParts> {
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
fn sleep(shared: &Shared, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        if shared.is_closed() {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        if io::poll(None, shared, false, Some(left)).is_err() {
            std::thread::sleep(left.min(Duration::from_millis(10)));
        }
        shared.waker.drain();
        shared.flush_timer.drain();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delay_doubles_and_is_capped() {
        let p = Policy::new(ms(100), ms(1000), 0);
        assert_eq!(p.delay(1, 0.5), ms(100));
        assert_eq!(p.delay(2, 0.5), ms(200));
        assert_eq!(p.delay(4, 0.5), ms(800));
        assert_eq!(p.delay(5, 0.5), ms(1000));
        // The exponent saturates.
        assert_eq!(p.delay(200, 0.5), ms(1000));
        assert_eq!(p.delay(u32::MAX, 0.0), ms(800));
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_under_the_cap() {
        let p = Policy::new(ms(100), ms(1000), 0);
        assert_eq!(p.delay(1, 0.0), ms(80));
        assert!(p.delay(1, 0.999_999) <= ms(120));
        assert!(p.delay(1, 0.999_999) > ms(119));
        // Jitter never takes it over the cap.
        assert_eq!(p.delay(5, 0.999_999), ms(1000));
        let mut r = Rounds::new();
        let mut seen = (f64::MAX, f64::MIN);
        for _ in 0..10_000 {
            let j = r.jitter();
            assert!((0.0..1.0).contains(&j));
            seen = (seen.0.min(j), seen.1.max(j));
        }
        assert!(seen.0 < 0.01 && seen.1 > 0.99, "{seen:?}");
    }

    #[test]
    fn max_attempts_zero_never_gives_up() {
        assert!(!Policy::new(ms(1), ms(1), 0).gives_up_after(u32::MAX));
        let p = Policy::new(ms(1), ms(1), 3);
        assert!(!p.gives_up_after(2));
        assert!(p.gives_up_after(3));
    }
}
