//! When to try again: the back-off policy, the attempt count across links, and what a
//! reconnect needs (every endpoint, the config). Pure, apart from the clock.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::transport::Endpoint;

/// A new session counts as up (the attempt count and the delay start again) once it has
/// lasted this long; one lost sooner continues the count, so that a broker that accepts
/// CONNECT and then refuses a replayed SUBSCRIBE cannot make the client loop fast.
pub(crate) const STABLE_AFTER: Duration = Duration::from_secs(1);

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
    pub(crate) fn gives_up_after(&self, failed: u32) -> bool {
        self.max_attempts != 0 && failed >= self.max_attempts
    }
}

/// What reconnecting needs: the policy, every endpoint, and the config to connect with.
pub(crate) struct Plan {
    pub(crate) policy: Policy,
    pub(crate) endpoints: Vec<(String, Endpoint)>,
    pub(crate) config: Config,
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
    pub(crate) failed: u32,
    pub(crate) up_since: Instant,
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
    pub(crate) fn jitter(&mut self) -> f64 {
        let mut x = self.seed;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.seed = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
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
