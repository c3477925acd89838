//! When a plugin call must stop: the clock behind each call's epoch deadline.
//!
//! A call has two limits, both in the guest's time (time the host spends on a `files`
//! operation it was asked for, such as `remove-tree`, is excused):
//! - **idle**: the plugin's call timeout without progress. Progress is reading from a
//!   blob, or a host operation finishing; a call that reads nothing (most calls) simply
//!   stops at its timeout.
//! - **budget**: the call timeout, plus, for each blob lent to the call, the time the
//!   blob takes at [`STREAM_FLOOR`]. A guest that trickles through a blob, a byte per
//!   tick, still stops once the budget is spent; an honest driver applying a layer of
//!   any size stays far inside it (a 29 MB layer of 4.5 million files buys two hours
//!   and takes two minutes).
//!
//! The engine ticks the epoch every [`crate::engine::TICK`]; at each expiry the store's
//! callback asks [`CallClock::check`], which either stops the call or names the time
//! left until the nearer limit, so a call stops within a tick of its limit.

use std::fmt;
use std::time::{Duration, Instant};

/// The slowest a guest may read a blob lent to its call, for its budget: bytes per
/// second. Low, because compressed bytes can stand for much work: a gzip layer of empty
/// files packs one into about 7 bytes (4 KiB/s still asks only 600 files a second of a
/// driver that writes 40 000), and zeros compress a thousandfold.
pub const STREAM_FLOOR: u64 = 4 * 1024;

/// Why a call was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// No progress for the whole call timeout.
    Idle { timeout: Duration, streamed: bool },
    /// The call's budget of guest time is spent.
    Budget { budget: Duration, timeout: Duration, stream_bytes: u64 },
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Idle { timeout, streamed: false } => {
                write!(f, "it exceeded its call deadline of {}ms", timeout.as_millis())
            }
            Stop::Idle { timeout, streamed: true } => {
                write!(f, "it made no progress for {}ms, its call deadline", timeout.as_millis())
            }
            Stop::Budget { budget, timeout, stream_bytes } => write!(
                f,
                "it used up its budget of {}ms (the {}ms call deadline, plus {stream_bytes} bytes of stream at {} KiB/s)",
                budget.as_millis(),
                timeout.as_millis(),
                STREAM_FLOOR / 1024
            ),
        }
    }
}

/// One call's clock; see the module docs.
#[derive(Debug, Clone)]
pub struct CallClock {
    started: Instant,
    timeout: Duration,
    stream_bytes: u64,
    excused: Duration,
    last_progress: Instant,
    stopped: Option<Stop>,
}

impl CallClock {
    pub fn new(timeout: Duration, now: Instant) -> Self {
        CallClock { started: now, timeout, stream_bytes: 0, excused: Duration::ZERO, last_progress: now, stopped: None }
    }

    /// A blob of `bytes` is lent to the call: its budget grows by the blob's time at
    /// [`STREAM_FLOOR`].
    pub fn allow_stream(&mut self, bytes: u64) {
        self.stream_bytes = self.stream_bytes.saturating_add(bytes);
    }

    /// The guest moved forward (read from a blob).
    pub fn progress(&mut self, now: Instant) {
        self.last_progress = now;
    }

    /// The host worked for the guest from `since` to `now`: not the guest's time, and
    /// progress when it ends.
    pub fn excuse(&mut self, since: Instant, now: Instant) {
        self.excused += now.saturating_duration_since(since);
        self.last_progress = now;
    }

    fn budget(&self) -> Duration {
        let stream = Duration::from_secs_f64(self.stream_bytes as f64 / STREAM_FLOOR as f64);
        self.timeout.saturating_add(stream)
    }

    /// At a deadline: the time left until the nearer limit, or why the call stops.
    pub fn check(&mut self, now: Instant) -> Result<Duration, Stop> {
        let guest_time = now.saturating_duration_since(self.started).saturating_sub(self.excused);
        let budget = self.budget();
        let idle = now.saturating_duration_since(self.last_progress);
        let stop = if idle >= self.timeout {
            Stop::Idle { timeout: self.timeout, streamed: self.stream_bytes > 0 }
        } else if guest_time >= budget {
            Stop::Budget { budget, timeout: self.timeout, stream_bytes: self.stream_bytes }
        } else {
            return Ok((budget - guest_time).min(self.timeout - idle));
        };
        self.stopped = Some(stop.clone());
        Err(stop)
    }

    /// Why the call was stopped, if it was.
    pub fn stopped(&self) -> Option<&Stop> {
        self.stopped.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_call_without_progress_stops_at_its_timeout() {
        let t0 = Instant::now();
        let mut clock = CallClock::new(300 * MS, t0);
        assert_eq!(clock.check(t0 + 100 * MS), Ok(200 * MS));
        assert_eq!(clock.check(t0 + 300 * MS), Err(Stop::Idle { timeout: 300 * MS, streamed: false }));
        assert!(clock.stopped().is_some());
    }

    #[test]
    fn progress_restarts_the_idle_limit_until_the_budget_is_spent() {
        let t0 = Instant::now();
        let mut clock = CallClock::new(300 * MS, t0);
        clock.allow_stream(STREAM_FLOOR); // one second more
        clock.progress(t0 + 250 * MS);
        assert_eq!(clock.check(t0 + 300 * MS), Ok(250 * MS), "idle from the last read");
        clock.progress(t0 + 1200 * MS);
        assert_eq!(clock.check(t0 + 1250 * MS), Ok(50 * MS), "the budget (1300ms) is nearer");
        let stop = clock.check(t0 + 1300 * MS).unwrap_err();
        assert_eq!(stop, Stop::Budget { budget: 1300 * MS, timeout: 300 * MS, stream_bytes: STREAM_FLOOR });
        assert!(stop.to_string().contains("budget of 1300ms"), "{stop}");
    }

    #[test]
    fn time_the_host_works_is_excused_and_counts_as_progress() {
        let t0 = Instant::now();
        let mut clock = CallClock::new(300 * MS, t0);
        clock.excuse(t0 + 100 * MS, t0 + 60_100 * MS);
        // 200ms of the guest's own time so far, 100ms since the host's work ended.
        assert_eq!(clock.check(t0 + 60_200 * MS), Ok(100 * MS));
        assert!(matches!(clock.check(t0 + 60_300 * MS), Err(Stop::Budget { .. })));
    }
}
