//! Heart-beat negotiation and timing (STOMP 1.1+ `heart-beat` header).

use std::time::{Duration, Instant};

/// Negotiated heart-beat intervals of a session and the clocks that drive them.
///
/// Per the spec each direction is the larger of what one side offers and the other asks
/// for, and 0 on either side disables it. We send after half the outgoing interval of
/// silence, because brokers (ActiveMQ) drop late beats; we declare the connection lost
/// after `tolerance` times the incoming interval without a single byte, since any
/// inbound byte proves the peer alive.
#[derive(Debug, Clone)]
pub(crate) struct Heartbeat {
    pub(crate) outgoing: Option<Duration>,
    pub(crate) incoming: Option<Duration>,
    tolerance: f64,
    last_write: Instant,
    last_read: Instant,
}

impl Heartbeat {
    /// `ours` is what we put in CONNECT (cx, cy); `theirs` the CONNECTED header (sx, sy).
    pub(crate) fn negotiate(ours: (u32, u32), theirs: Option<&str>, tolerance: f64) -> Heartbeat {
        let (sx, sy) = theirs.and_then(parse_pair).unwrap_or((0, 0));
        let (cx, cy) = ours;
        let pick = |a: u32, b: u32| {
            if a == 0 || b == 0 {
                None
            } else {
                Some(Duration::from_millis(u64::from(a.max(b))))
            }
        };
        let now = Instant::now();
        Heartbeat {
            outgoing: pick(cx, sy),
            incoming: pick(cy, sx),
            tolerance,
            last_write: now,
            last_read: now,
        }
    }

    /// No heart-beats at all (STOMP 1.0).
    pub(crate) fn none() -> Heartbeat {
        Heartbeat::negotiate((0, 0), None, 2.0)
    }

    /// Records a write at `at`, by the I/O thread or by a caller writing directly.
    pub(crate) fn wrote(&mut self, at: Instant) {
        self.last_write = self.last_write.max(at);
    }

    pub(crate) fn read(&mut self, at: Instant) {
        self.last_read = self.last_read.max(at);
    }

    /// How long the broker has been silent.
    pub(crate) fn silent_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_read)
    }

    /// When we must send a beat if nothing else was written.
    pub(crate) fn send_due(&self) -> Option<Instant> {
        self.outgoing.map(|d| self.last_write + d / 2)
    }

    /// When silence from the broker becomes a lost connection.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.incoming
            .map(|d| self.last_read + d.mul_f64(self.tolerance))
    }

    /// The earliest moment the I/O thread must wake up for heart-beat work.
    pub(crate) fn next_wakeup(&self) -> Option<Instant> {
        match (self.send_due(), self.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn parse_pair(s: &str) -> Option<(u32, u32)> {
    let (x, y) = s.split_once(',')?;
    Some((x.trim().parse().ok()?, y.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_the_spec() {
        let h = Heartbeat::negotiate((10_000, 10_000), Some("5000,20000"), 2.0);
        assert_eq!(h.outgoing, Some(Duration::from_millis(20_000)));
        assert_eq!(h.incoming, Some(Duration::from_millis(10_000)));
        let h = Heartbeat::negotiate((0, 10_000), Some("1000,1000"), 2.0);
        assert_eq!(h.outgoing, None);
        assert_eq!(h.incoming, Some(Duration::from_millis(10_000)));
        let h = Heartbeat::negotiate((1000, 1000), Some("0,0"), 2.0);
        assert!(h.outgoing.is_none() && h.incoming.is_none());
        let h = Heartbeat::negotiate((1000, 1000), None, 2.0);
        assert!(h.next_wakeup().is_none());
        let h = Heartbeat::negotiate((1000, 1000), Some("garbage"), 2.0);
        assert!(h.next_wakeup().is_none());
    }

    #[test]
    fn send_at_half_interval_and_lose_after_tolerance() {
        let mut h = Heartbeat::negotiate((1000, 1000), Some("1000,1000"), 3.0);
        let t0 = Instant::now();
        h.wrote(t0);
        h.read(t0);
        assert_eq!(h.send_due(), Some(t0 + Duration::from_millis(500)));
        assert_eq!(h.deadline(), Some(t0 + Duration::from_millis(3000)));
        assert_eq!(h.next_wakeup(), Some(t0 + Duration::from_millis(500)));
    }
}
