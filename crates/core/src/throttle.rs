//! Growing delays against password guessing (NIST SP 800-63B rev. 4 §3.2.2, "Rate Limiting
//! (Throttling)"; OWASP Authentication Cheat Sheet, "Login Throttling").
//!
//! A few failures are free; after that every attempt must wait a delay that doubles up to a cap.
//! There is never a permanent lockout: an attacker must not be able to lock a victim out for good
//! by failing on purpose, so the worst a flood achieves is one attempt per capped delay.
//!
//! Counters are kept per normalised login identifier (`login:<identifier>`, never the account id, so
//! unknown and known names behave identically) and per client address (`ip:<address>`), in the
//! database so that every node sees the same counts. The rules here are pure; the server applies
//! them with the store's atomic increment and claim (see `ThrottleStore`).

use chrono::{DateTime, Duration, Utc};

use crate::model::ThrottleState;

/// The delay schedule for one kind of counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Attempts allowed without any delay.
    pub free_attempts: i32,
    /// The delay after the last free attempt; it doubles with every further attempt.
    pub base_delay: Duration,
    /// No delay is ever longer than this.
    pub max_delay: Duration,
    /// A counter untouched for this long starts again from zero.
    pub reset_after: Duration,
}

impl ThrottlePolicy {
    /// Per login identifier: 5 free attempts, then 2 s, 4 s, 8 s, ... up to 15 minutes.
    pub fn per_identifier() -> Self {
        Self {
            free_attempts: 5,
            base_delay: Duration::seconds(2),
            max_delay: Duration::minutes(15),
            reset_after: Duration::hours(24),
        }
    }

    /// Per client address: more generous, because many people can share one address (offices,
    /// carrier NAT); it stops one machine from spraying guesses across many accounts.
    pub fn per_ip() -> Self {
        Self {
            free_attempts: 20,
            base_delay: Duration::seconds(2),
            max_delay: Duration::minutes(15),
            reset_after: Duration::hours(1),
        }
    }

    /// How long the next attempt must wait after `attempts` counted attempts: nothing while within
    /// the free allowance, then `base * 2^(attempts - free)`, capped.
    pub fn delay_after(&self, attempts: i32) -> Duration {
        if attempts < self.free_attempts {
            return Duration::zero();
        }
        let doublings = u32::try_from(attempts - self.free_attempts).unwrap_or(0).min(30);
        let delay = self.base_delay.checked_mul(1 << doublings).unwrap_or(self.max_delay);
        delay.min(self.max_delay)
    }

    /// Is this counter so old that it should start again?
    pub fn is_stale(&self, state: &ThrottleState, now: DateTime<Utc>) -> bool {
        now - state.last_failure_at >= self.reset_after
    }

    /// Before counting an attempt: refuse at once while a delay runs (no write, no hash).
    pub fn precheck(&self, state: Option<&ThrottleState>, now: DateTime<Utc>) -> Decision {
        match state.and_then(|s| s.locked_until) {
            Some(until) if until > now && !state.is_some_and(|s| self.is_stale(s, now)) => {
                Decision::Refuse { retry_after: until - now }
            }
            _ => Decision::Allow,
        }
    }

    /// After the attempt was counted (`state` is what the atomic increment returned): within the
    /// free allowance it may go on; beyond it, only one caller may go on per elapsed delay, which
    /// the server settles with the store's atomic claim ([`AfterCount::Claim`]).
    pub fn after_count(&self, state: &ThrottleState, now: DateTime<Utc>) -> AfterCount {
        if state.failures < self.free_attempts {
            AfterCount::Allow
        } else if state.failures == self.free_attempts {
            // The last free attempt: start the first delay now, before the password is checked, so
            // a burst of parallel attempts cannot slip past the allowance while this one is hashing.
            AfterCount::AllowAndLock { until: now + self.delay_after(state.failures) }
        } else {
            AfterCount::Claim { until: now + self.delay_after(state.failures) }
        }
    }

    /// The refusal for a counter whose claim failed: wait for its running delay (at least a second).
    pub fn refusal(&self, state: Option<&ThrottleState>, now: DateTime<Utc>) -> Decision {
        let wait = state.and_then(|s| s.locked_until).map_or(self.base_delay, |until| until - now);
        Decision::Refuse { retry_after: wait.max(Duration::seconds(1)) }
    }
}

/// Whether an attempt may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Refuse { retry_after: Duration },
}

/// What to do once an attempt has been counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterCount {
    Allow,
    /// Go on, and set the lock to `until` first.
    AllowAndLock {
        until: DateTime<Utc>,
    },
    /// Go on only if the store's atomic claim (an expired lock replaced by `until`) succeeds.
    Claim {
        until: DateTime<Utc>,
    },
}

/// Seconds for a `Retry-After` header: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let ms = wait.num_milliseconds().max(1);
    u64::try_from((ms + 999) / 1000).unwrap_or(1)
}

/// A wait in words for the 429 page: "3 seconds", "2 minutes".
pub fn human_wait(wait: Duration) -> String {
    let secs = retry_after_secs(wait);
    match secs {
        1 => "1 second".to_owned(),
        s if s < 90 => format!("{s} seconds"),
        s => {
            let minutes = s.div_ceil(60);
            if minutes == 1 { "1 minute".to_owned() } else { format!("{minutes} minutes") }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap_or_default()
    }

    fn state(failures: i32, last: i64, locked: Option<i64>) -> ThrottleState {
        ThrottleState { key: "login:alice".into(), failures, last_failure_at: at(last), locked_until: locked.map(at) }
    }

    #[test]
    fn delays_grow_exponentially_to_the_cap() {
        let p = ThrottlePolicy::per_identifier();
        let table = [
            (0, 0),
            (1, 0),
            (4, 0),
            (5, 2),
            (6, 4),
            (7, 8),
            (8, 16),
            (9, 32),
            (10, 64),
            (11, 128),
            (12, 256),
            (13, 512),
            (14, 900),
            (15, 900),
            (1_000, 900),
            (i32::MAX, 900),
        ];
        for (attempts, secs) in table {
            assert_eq!(p.delay_after(attempts), Duration::seconds(secs), "{attempts} attempts");
        }
        assert_eq!(ThrottlePolicy::per_ip().delay_after(19), Duration::zero());
        assert_eq!(ThrottlePolicy::per_ip().delay_after(20), Duration::seconds(2));
    }

    #[test]
    fn counted_attempts_decide_who_goes_on() {
        let p = ThrottlePolicy::per_identifier();
        assert_eq!(p.after_count(&state(1, 0, None), at(0)), AfterCount::Allow);
        assert_eq!(p.after_count(&state(4, 0, None), at(0)), AfterCount::Allow);
        assert_eq!(p.after_count(&state(5, 0, None), at(0)), AfterCount::AllowAndLock { until: at(2) });
        assert_eq!(p.after_count(&state(6, 0, Some(2)), at(3)), AfterCount::Claim { until: at(7) });
    }

    #[test]
    fn precheck_refuses_while_a_delay_runs_and_never_forever() {
        let p = ThrottlePolicy::per_identifier();
        assert_eq!(p.precheck(None, at(0)), Decision::Allow);
        assert_eq!(p.precheck(Some(&state(3, 0, None)), at(0)), Decision::Allow);
        assert_eq!(
            p.precheck(Some(&state(9, 0, Some(60))), at(10)),
            Decision::Refuse { retry_after: Duration::seconds(50) }
        );
        assert_eq!(p.precheck(Some(&state(9, 0, Some(60))), at(60)), Decision::Allow);
        // Even a huge count never locks for more than the cap past the last attempt.
        let worst = state(i32::MAX, 0, Some(p.max_delay.num_seconds()));
        assert_eq!(p.precheck(Some(&worst), at(p.max_delay.num_seconds())), Decision::Allow);
        // And a day of quiet forgets the counter.
        assert!(p.is_stale(&state(50, 0, None), at(86_400)));
        assert!(!p.is_stale(&state(50, 0, None), at(86_399)));
    }

    #[test]
    fn waits_read_well() {
        assert_eq!(retry_after_secs(Duration::milliseconds(1)), 1);
        assert_eq!(retry_after_secs(Duration::milliseconds(1_001)), 2);
        assert_eq!(retry_after_secs(Duration::seconds(-5)), 1);
        assert_eq!(human_wait(Duration::seconds(1)), "1 second");
        assert_eq!(human_wait(Duration::seconds(8)), "8 seconds");
        assert_eq!(human_wait(Duration::seconds(60)), "60 seconds");
        assert_eq!(human_wait(Duration::seconds(128)), "3 minutes");
        assert_eq!(human_wait(Duration::minutes(15)), "15 minutes");
    }
}
