//! The bundled restart policies, with Docker's semantics (moby's `restartmanager`):
//!
//! - `no`: never restart.
//! - `always`: restart after every exit; at daemon start, start it again.
//! - `unless-stopped`: as `always`, except that a container a user stopped stays stopped,
//!   also across daemon restarts.
//! - `on-failure[:N]`: restart after a non-zero exit, at most N times (no limit without
//!   N) counted since the last manual start.
//!
//! A user's `stop` or `kill` never restarts a container. The delay before a restart starts
//! at 100 ms and doubles up to one minute, and drops back to 100 ms once a run lasted ten
//! seconds. The daemon keeps the timers and counts; this component only decides.

use hostctl_sdk::restart::{Decision, Exit, Occasion, RestartPolicy};
use hostctl_sdk::{Error, Result};

/// The first delay, and what a long enough run resets it to.
pub const FIRST_DELAY_MS: u64 = 100;
/// The longest delay.
pub const MAX_DELAY_MS: u64 = 60_000;
/// A run at least this long resets the back-off.
pub const RESET_AFTER_MS: u64 = 10_000;

/// A parsed policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    No,
    Always,
    UnlessStopped,
    /// At most this many restarts (`None`: no limit).
    OnFailure(Option<u32>),
}

/// Parse Docker's policy strings, with Docker's refusals.
pub fn parse(policy: &str) -> std::result::Result<Policy, String> {
    let (name, count) = match policy.split_once(':') {
        Some((name, count)) => (name, Some(count)),
        None => (policy, None),
    };
    match (name, count) {
        ("" | "no", None) => Ok(Policy::No),
        ("always", None) => Ok(Policy::Always),
        ("unless-stopped", None) => Ok(Policy::UnlessStopped),
        ("on-failure", None) => Ok(Policy::OnFailure(None)),
        ("on-failure", Some(n)) => match n.parse::<u32>() {
            Ok(0) => Ok(Policy::OnFailure(None)),
            Ok(n) => Ok(Policy::OnFailure(Some(n))),
            Err(_) => Err(format!("invalid restart policy {policy:?}: the maximum retry count must be a number")),
        },
        ("no" | "always" | "unless-stopped", Some(_)) => {
            Err(format!("invalid restart policy {policy:?}: a maximum retry count works only with on-failure"))
        }
        _ => Err(format!("invalid restart policy {policy:?}: expected no, always, unless-stopped or on-failure[:N]")),
    }
}

/// The delay before the next restart, after one of `previous` ms and a run of `ran_for`.
pub fn next_delay(previous_ms: u64, ran_for_ms: u64) -> u64 {
    let previous = if ran_for_ms >= RESET_AFTER_MS { 0 } else { previous_ms };
    if previous == 0 { FIRST_DELAY_MS } else { previous.saturating_mul(2).min(MAX_DELAY_MS) }
}

/// The decision for `exit` under `policy`.
pub fn decide(policy: Policy, exit: &Exit) -> Decision {
    let no = |reason: &str| Decision { restart: false, delay_ms: 0, reason: reason.to_owned() };
    let yes = |delay_ms: u64, reason: String| Decision { restart: true, delay_ms, reason };
    match exit.occasion {
        Occasion::StoppedByUser => return no("stopped by a user"),
        Occasion::DaemonStart => {
            return match policy {
                Policy::Always => yes(0, "restart policy always: started with the daemon".into()),
                Policy::UnlessStopped if !exit.stopped_by_user_before => {
                    yes(0, "restart policy unless-stopped: started with the daemon".into())
                }
                Policy::UnlessStopped => no("restart policy unless-stopped: a user stopped it"),
                _ => no("not started with the daemon by this policy"),
            };
        }
        Occasion::Exited => {}
    }
    let delay = next_delay(exit.previous_delay_ms, exit.ran_for_ms);
    match policy {
        Policy::No => no("restart policy no"),
        Policy::Always => yes(delay, format!("restart policy always: exit code {}", exit.exit_code)),
        Policy::UnlessStopped => yes(delay, format!("restart policy unless-stopped: exit code {}", exit.exit_code)),
        Policy::OnFailure(_) if exit.exit_code == 0 => no("restart policy on-failure: exited with 0"),
        Policy::OnFailure(Some(max)) if exit.restart_count >= max => {
            no(&format!("restart policy on-failure:{max}: restarted {} times already", exit.restart_count))
        }
        Policy::OnFailure(_) => yes(delay, format!("restart policy on-failure: exit code {}", exit.exit_code)),
    }
}

struct Restart;

impl RestartPolicy for Restart {
    fn validate(policy: String) -> Result<()> {
        parse(&policy).map(drop).map_err(Error::invalid)
    }

    fn decide(policy: String, exit: Exit) -> Result<Decision> {
        let policy = parse(&policy).map_err(Error::invalid)?;
        Ok(decide(policy, &exit))
    }
}

hostctl_sdk::export_restart_policy!(Restart);

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: i32, count: u32, ran_for_ms: u64, previous_delay_ms: u64) -> Exit {
        Exit { occasion: Occasion::Exited, exit_code: code, restart_count: count, ran_for_ms, previous_delay_ms, stopped_by_user_before: false }
    }

    #[test]
    fn policies_parse_as_dockers() {
        assert_eq!(parse("no").unwrap(), Policy::No);
        assert_eq!(parse("").unwrap(), Policy::No);
        assert_eq!(parse("always").unwrap(), Policy::Always);
        assert_eq!(parse("unless-stopped").unwrap(), Policy::UnlessStopped);
        assert_eq!(parse("on-failure").unwrap(), Policy::OnFailure(None));
        assert_eq!(parse("on-failure:3").unwrap(), Policy::OnFailure(Some(3)));
        assert!(parse("always:3").unwrap_err().contains("only with on-failure"));
        assert!(parse("on-failure:x").is_err());
        assert!(parse("sometimes").unwrap_err().contains("expected no, always"));
    }

    #[test]
    fn the_delay_starts_at_100ms_doubles_and_caps_at_a_minute() {
        let mut delay = 0;
        let mut seen = Vec::new();
        for _ in 0..12 {
            delay = next_delay(delay, 50);
            seen.push(delay);
        }
        assert_eq!(&seen[..5], &[100, 200, 400, 800, 1600]);
        assert_eq!(*seen.last().unwrap(), 60_000);
    }

    #[test]
    fn a_run_of_ten_seconds_resets_the_delay() {
        assert_eq!(next_delay(6400, 10_000), 100);
        assert_eq!(next_delay(6400, 9_999), 12_800);
    }

    #[test]
    fn on_failure_counts_and_ignores_success() {
        let p = Policy::OnFailure(Some(3));
        assert!(decide(p, &exit(1, 0, 10, 0)).restart);
        assert!(decide(p, &exit(1, 2, 10, 0)).restart);
        assert!(!decide(p, &exit(1, 3, 10, 0)).restart);
        assert!(!decide(p, &exit(0, 0, 10, 0)).restart);
        assert!(decide(Policy::OnFailure(None), &exit(2, 1000, 10, 0)).restart);
    }

    #[test]
    fn a_user_stop_never_restarts() {
        for p in [Policy::Always, Policy::UnlessStopped, Policy::OnFailure(None)] {
            let e = Exit { occasion: Occasion::StoppedByUser, ..exit(137, 0, 10, 0) };
            assert!(!decide(p, &e).restart, "{p:?}");
        }
    }

    #[test]
    fn at_daemon_start_always_and_unless_stopped_start_but_not_a_stopped_one() {
        let start = |stopped| Exit { occasion: Occasion::DaemonStart, stopped_by_user_before: stopped, ..exit(0, 0, 0, 0) };
        assert!(decide(Policy::Always, &start(true)).restart);
        assert!(decide(Policy::UnlessStopped, &start(false)).restart);
        assert!(!decide(Policy::UnlessStopped, &start(true)).restart);
        assert!(!decide(Policy::OnFailure(None), &start(false)).restart);
        assert!(!decide(Policy::No, &start(false)).restart);
    }
}
