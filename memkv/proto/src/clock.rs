//! Freshness checks: the clock-skew window and per-connection request-id ordering.

/// A frame whose timestamp is outside the allowed window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "frame timestamp is {drift_ns} ns away from this clock, outside the allowed window of {window_ns} ns: synchronize the clocks (NTP/chrony)"
)]
pub struct ClockDrift {
    /// The frame's timestamp.
    pub ts_ns: u64,
    /// The allowed skew either way.
    pub window_ns: u64,
    /// Frame time minus local time (negative: the frame is from the past).
    pub drift_ns: i64,
}

/// Checks a frame timestamp against the local clock (`now_ns`, ns since the Unix epoch).
pub fn check_clock(ts_ns: u64, now_ns: u64, window_ns: u64) -> Result<(), ClockDrift> {
    let drift = i128::from(ts_ns) - i128::from(now_ns);
    if drift.unsigned_abs() <= u128::from(window_ns) {
        Ok(())
    } else {
        let drift_ns = i64::try_from(drift).unwrap_or(if drift < 0 { i64::MIN } else { i64::MAX });
        Err(ClockDrift {
            ts_ns,
            window_ns,
            drift_ns,
        })
    }
}

/// Refuses request ids that do not increase on a connection, so a frame captured on a
/// connection cannot be replayed on that same connection either (the session key already stops
/// replays onto other connections).
#[derive(Debug, Default, Clone)]
pub struct ReplayGuard {
    last: Option<u64>,
}

impl ReplayGuard {
    /// Accepts `request_id` if it is larger than every id accepted before.
    pub fn accept(&mut self, request_id: u64) -> bool {
        match self.last {
            Some(last) if request_id <= last => false,
            _ => {
                self.last = Some(request_id);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_window_is_inclusive_both_ways() {
        assert!(check_clock(1_000, 1_500, 500).is_ok());
        assert!(check_clock(2_000, 1_500, 500).is_ok());
        let e = check_clock(0, 1_501, 1_500).unwrap_err();
        assert_eq!(e.drift_ns, -1_501);
        let e = check_clock(u64::MAX, 0, 10).unwrap_err();
        assert_eq!(e.drift_ns, i64::MAX);
    }

    #[test]
    fn replay_guard_needs_strictly_increasing_ids() {
        let mut g = ReplayGuard::default();
        assert!(g.accept(0));
        assert!(g.accept(5));
        assert!(!g.accept(5));
        assert!(!g.accept(3));
        assert!(g.accept(6));
    }
}
