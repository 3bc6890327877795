//! Sign-in sessions: how long they live, when they must be touched, and where a person may be sent
//! after signing in.
//!
//! Every decision here is a pure function of the session record and `now`, so the one-hour idle
//! timeout is tested by moving a clock, never by sleeping. Expiry is always decided on the server:
//! a cookie's own lifetime is a convenience for the browser, not a control (OWASP Session
//! Management Cheat Sheet, "Session Expiration").

use chrono::{DateTime, Duration, Utc};

use crate::model::{AccountId, Session, SessionId};
use crate::secret::Secret;

/// Timeouts for one deployment. `Default` is the documented default configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Without "Remember me": ends after this long without a request.
    pub idle_timeout: Duration,
    /// Without "Remember me": ends this long after sign-in, however active.
    pub absolute_timeout: Duration,
    /// With "Remember me": the absolute lifetime (and the cookie's `Max-Age`).
    pub remember_me_lifetime: Duration,
    /// With "Remember me": the idle timeout.
    pub remember_me_idle_timeout: Duration,
    /// `last_seen_at` is written at most this often, so a page view is not always a database write.
    /// Idle time is therefore measured to this precision (it can only make a session end earlier).
    pub touch_interval: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::seconds(3600),
            absolute_timeout: Duration::hours(12),
            remember_me_lifetime: Duration::days(30),
            remember_me_idle_timeout: Duration::days(7),
            touch_interval: Duration::seconds(60),
        }
    }
}

/// What a presented session is worth right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Usable. `touch`: write `last_seen_at = now` (the last write is older than the touch interval).
    Valid { touch: bool },
    /// No request for longer than the idle timeout.
    IdleExpired,
    /// Past its absolute lifetime.
    AbsoluteExpired,
}

impl SessionStatus {
    pub fn is_valid(self) -> bool {
        matches!(self, Self::Valid { .. })
    }

    /// For the audit log (`session.expired` detail).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Valid { .. } => "valid",
            Self::IdleExpired => "idle",
            Self::AbsoluteExpired => "absolute",
        }
    }
}

impl SessionPolicy {
    pub fn idle_timeout(&self, remember_me: bool) -> Duration {
        if remember_me { self.remember_me_idle_timeout } else { self.idle_timeout }
    }

    pub fn lifetime(&self, remember_me: bool) -> Duration {
        if remember_me { self.remember_me_lifetime } else { self.absolute_timeout }
    }

    /// How long the browser should keep the cookie: only a remembered session outlives the browser
    /// (a cookie without `Max-Age` is dropped when the browser closes).
    pub fn cookie_max_age(&self, remember_me: bool) -> Option<Duration> {
        remember_me.then_some(self.remember_me_lifetime)
    }

    /// A new session for a person who just proved who they are. The secret goes to the browser;
    /// the record keeps only its hash. A fresh secret at every sign-in is what defeats session
    /// fixation (OWASP Session Management Cheat Sheet, "Renew the Session ID After Any Privilege Level Change").
    pub fn start(&self, account_id: AccountId, remember_me: bool, now: DateTime<Utc>) -> (Session, Secret) {
        let secret = Secret::generate();
        let session = Session {
            id: SessionId::new(),
            secret_hash: secret.hash(),
            account_id,
            created_at: now,
            last_seen_at: now,
            auth_time: now,
            expires_at: now + self.lifetime(remember_me),
            remember_me,
            user_agent: None,
            client_ip: None,
        };
        (session, secret)
    }

    /// Decides whether `session` may be used at `now`. A session ends at exactly its deadline
    /// (the idle timeout is "at most an hour", so 60 minutes idle is already too long).
    pub fn check(&self, session: &Session, now: DateTime<Utc>) -> SessionStatus {
        if now >= session.expires_at {
            return SessionStatus::AbsoluteExpired;
        }
        if now >= session.last_seen_at + self.idle_timeout(session.remember_me) {
            return SessionStatus::IdleExpired;
        }
        SessionStatus::Valid { touch: now - session.last_seen_at >= self.touch_interval }
    }
}

/// Where to go after signing in, when nothing (or nothing safe) was asked for.
pub const DEFAULT_RETURN_TO: &str = "/account";

/// `return_to` is followed only when it is a path on this server: one leading `/` (so there is no
/// scheme and no host), the path part (before `?` or `#`) without `//` (`//evil.example` is a
/// protocol-relative URL to browsers) and without `\` (browsers read it as `/`, so `/\evil.example`
/// is protocol-relative too), and no control or whitespace characters anywhere (browsers strip tabs
/// and newlines inside URLs, turning `/\t/evil` into `//evil`). Anything else is replaced by
/// [`DEFAULT_RETURN_TO`] (OWASP Unvalidated Redirects and Forwards Cheat Sheet). The query is left
/// alone: an authorization request kept for after sign-in carries `redirect_uri=https://...` there.
pub fn safe_return_to(requested: Option<&str>) -> String {
    match requested {
        Some(path) if is_local_path(path) => path.to_owned(),
        _ => DEFAULT_RETURN_TO.to_owned(),
    }
}

/// Longest `return_to` that is followed, so a crafted value cannot bloat forms and logs.
pub const RETURN_TO_MAX: usize = 2048;

fn is_local_path(target: &str) -> bool {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    target.len() <= RETURN_TO_MAX
        && path.starts_with('/')
        && !path.contains("//")
        && !path.contains('\\')
        && !target.chars().any(|c| c.is_control() || c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap_or_default()
    }

    fn session(policy: &SessionPolicy, remember_me: bool) -> Session {
        policy.start(AccountId::new(), remember_me, at(0)).0
    }

    #[test]
    fn default_idle_timeout_is_exactly_one_hour() {
        let policy = SessionPolicy::default();
        assert_eq!(policy.idle_timeout.num_seconds(), 3600);
        assert_eq!(policy.absolute_timeout.num_seconds(), 12 * 3600);
        assert_eq!(policy.remember_me_lifetime.num_days(), 30);
        assert_eq!(policy.remember_me_idle_timeout.num_days(), 7);
        assert_eq!(policy.touch_interval.num_seconds(), 60);
    }

    #[test]
    fn idle_expiry_table() {
        let policy = SessionPolicy::default();
        let s = session(&policy, false);
        let cases = [
            (0, SessionStatus::Valid { touch: false }),
            (59, SessionStatus::Valid { touch: false }),
            (60, SessionStatus::Valid { touch: true }),
            (59 * 60, SessionStatus::Valid { touch: true }),
            (3599, SessionStatus::Valid { touch: true }),
            (3600, SessionStatus::IdleExpired),
            (61 * 60, SessionStatus::IdleExpired),
        ];
        for (secs, want) in cases {
            assert_eq!(policy.check(&s, at(secs)), want, "{secs}s idle");
        }
    }

    #[test]
    fn activity_slides_the_idle_timeout_but_not_the_absolute_one() {
        let policy = SessionPolicy::default();
        let mut s = session(&policy, false);
        // Active every 50 minutes: never idle, but gone at 12 hours.
        for step in 1..=14 {
            let now = at(step * 50 * 60);
            let status = policy.check(&s, now);
            if step * 50 < 12 * 60 {
                assert_eq!(status, SessionStatus::Valid { touch: true }, "step {step}");
                s.last_seen_at = now;
            } else {
                assert_eq!(status, SessionStatus::AbsoluteExpired, "step {step}");
            }
        }
        assert_eq!(policy.check(&s, at(12 * 3600 - 1)), SessionStatus::Valid { touch: true });
        assert_eq!(policy.check(&s, at(12 * 3600)), SessionStatus::AbsoluteExpired);
    }

    #[test]
    fn remember_me_lives_thirty_days_and_idles_seven() {
        let policy = SessionPolicy::default();
        let mut s = session(&policy, true);
        assert_eq!(s.expires_at - s.created_at, Duration::days(30));
        assert!(policy.check(&s, at(6 * 86_400 + 86_399)).is_valid());
        assert_eq!(policy.check(&s, at(7 * 86_400)), SessionStatus::IdleExpired);
        s.last_seen_at = at(25 * 86_400);
        assert!(policy.check(&s, at(29 * 86_400)).is_valid());
        assert_eq!(policy.check(&s, at(30 * 86_400)), SessionStatus::AbsoluteExpired);
        assert_eq!(policy.cookie_max_age(true), Some(Duration::days(30)));
        assert_eq!(policy.cookie_max_age(false), None);
    }

    #[test]
    fn every_start_gets_a_new_id_and_secret() {
        let policy = SessionPolicy::default();
        let account = AccountId::new();
        let (a, sa) = policy.start(account, false, at(0));
        let (b, sb) = policy.start(account, false, at(0));
        assert_ne!(a.id, b.id);
        assert_ne!(sa, sb);
        assert_eq!(a.secret_hash, sa.hash());
        assert_eq!(a.auth_time, at(0));
    }

    #[test]
    fn return_to_table() {
        let cases = [
            (None, "/account"),
            (Some(""), "/account"),
            (Some("/"), "/"),
            (Some("/account"), "/account"),
            (
                Some("/authorize?client_id=a&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"),
                "/authorize?client_id=a&redirect_uri=https%3A%2F%2Fapp.example%2Fcb",
            ),
            (Some("/a/b?c=d#e"), "/a/b?c=d#e"),
            (Some("//evil.example"), "/account"),
            (Some("//evil.example/path"), "/account"),
            (Some("/\\evil.example"), "/account"),
            (Some("\\\\evil.example"), "/account"),
            (Some("/a\\b"), "/account"),
            (Some("https://evil.example"), "/account"),
            (Some("http:/evil.example"), "/account"),
            (Some("javascript:alert(1)"), "/account"),
            (Some("/javascript:alert(1)"), "/javascript:alert(1)"), // a relative path on this server
            (Some("/authorize?redirect_uri=https://app.example/cb"), "/authorize?redirect_uri=https://app.example/cb"),
            (Some("?next=/x"), "/account"),
            (Some("evil.example"), "/account"),
            (Some("account"), "/account"),
            (Some("/\t/evil.example"), "/account"),
            (Some("/\n/evil.example"), "/account"),
            (Some("/ /evil.example"), "/account"),
            (Some("/a//b"), "/account"),
            (Some("/%2F%2Fevil.example"), "/%2F%2Fevil.example"), // stays a local path once decoded by us
            (Some("/caf\u{e9}"), "/caf\u{e9}"),
            (Some("/\u{0}"), "/account"),
        ];
        for (input, want) in cases {
            assert_eq!(safe_return_to(input), want, "{input:?}");
        }
        assert_eq!(safe_return_to(Some(&format!("/{}", "a".repeat(RETURN_TO_MAX)))), "/account");
    }
}
