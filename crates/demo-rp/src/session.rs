//! The app's own sessions, kept in memory on the server.
//!
//! The browser holds only a random session id (in a private cookie, see [`crate::cookies`]); the
//! person's claims and the ID token stay here, so no token ever reaches the browser. A session
//! ends after `idle_timeout` without a request to a protected page, and each such request slides
//! it. In memory means a restart signs everyone out and several instances would not share
//! sessions: fine for a demo, not for production (use a database or a shared cache there).
//!
//! Sign-ins in progress (state, nonce and PKCE verifier between `/login` and `/callback`) live
//! here too, for at most [`LOGIN_TTL`], keyed by another random id in a short-lived cookie.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use openidconnect::{CsrfToken, Nonce, PkceCodeVerifier};

use crate::oidc::{IdToken, SignedIn};

/// How long a person may take on the provider's pages between "Sign in" and the callback.
pub const LOGIN_TTL: Duration = Duration::from_secs(10 * 60);

/// At most this many sign-ins in progress: each costs memory before anyone has authenticated.
pub const MAX_PENDING_LOGINS: usize = 10_000;

/// Expired sessions are kept this long so that a returning browser is told "Your session
/// expired" rather than "Please sign in"; then they are forgotten.
const FORGET_EXPIRED_AFTER: Duration = Duration::from_secs(24 * 3600);

/// 256 random bits, URL-safe: unguessable session and sign-in ids.
pub fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// OWASP Session Management: an idle session ends once `idle_timeout` has passed since the last
/// request; at exactly `idle_timeout` it has ended.
pub fn is_idle_expired(last_seen: DateTime<Utc>, now: DateTime<Utc>, idle_timeout: Duration) -> bool {
    let idle = chrono::Duration::from_std(idle_timeout).unwrap_or(chrono::Duration::MAX);
    now.signed_duration_since(last_seen) >= idle
}

/// A signed-in person, as the pages see them.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: SignedIn,
    /// Sent back to the provider as `id_token_hint` when signing out.
    pub id_token: IdToken,
    pub signed_in_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// When the session ends unless another request to a protected page comes first.
    pub expires_at: DateTime<Utc>,
}

/// What a session id from a cookie leads to.
#[derive(Debug, Clone)]
pub enum Lookup {
    Active(Box<Session>),
    /// It existed and ran out of idle time; it is gone now.
    Expired,
    /// Unknown: never existed, signed out, or forgotten (e.g. after a restart).
    Missing,
}

/// A sign-in between `POST /login` and `GET /callback`.
#[derive(Debug)]
pub struct PendingLogin {
    /// Must come back unchanged as `state` (OAuth 2.0 CSRF protection, RFC 6749 §10.12).
    pub state: CsrfToken,
    /// Must come back inside the ID token (OIDC Core §3.1.2.1: replay protection).
    pub nonce: Nonce,
    /// Proves at the token endpoint that we started this flow (PKCE, RFC 7636).
    pub pkce_verifier: PkceCodeVerifier,
    /// The local page to return to afterwards (already checked by [`crate::pages::safe_return_to`]).
    pub return_to: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
#[error("too many sign-ins in progress")]
pub struct TooManyLogins;

/// The in-memory store.
#[derive(Debug)]
pub struct SessionStore {
    idle_timeout: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    pending: HashMap<String, PendingLogin>,
}

impl SessionStore {
    pub fn new(idle_timeout: Duration) -> Self {
        Self { idle_timeout, inner: Mutex::default() }
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing in here can be left half-updated by a panic; keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn expiry(&self, last_seen: DateTime<Utc>) -> DateTime<Utc> {
        last_seen + chrono::Duration::from_std(self.idle_timeout).unwrap_or(chrono::Duration::MAX)
    }

    /// Starts a session for a person who just signed in; returns its new id. A fresh id on every
    /// sign-in means a session id planted before sign-in is worthless (session fixation).
    pub fn create(&self, user: SignedIn, id_token: IdToken, now: DateTime<Utc>) -> String {
        let id = random_id();
        let session = Session { user, id_token, signed_in_at: now, last_seen: now, expires_at: self.expiry(now) };
        let mut inner = self.lock();
        let forget =
            chrono::Duration::from_std(self.idle_timeout + FORGET_EXPIRED_AFTER).unwrap_or(chrono::Duration::MAX);
        inner.sessions.retain(|_, s| now.signed_duration_since(s.last_seen) < forget);
        inner.sessions.insert(id.clone(), session);
        id
    }

    /// The session behind `id` for a protected page: an active one slides (its idle time starts
    /// again); an expired one is removed.
    pub fn touch(&self, id: &str, now: DateTime<Utc>) -> Lookup {
        self.lookup(id, now, true)
    }

    /// Like [`touch`](Self::touch) without sliding: for pages that only show whether someone is
    /// signed in.
    pub fn peek(&self, id: &str, now: DateTime<Utc>) -> Lookup {
        self.lookup(id, now, false)
    }

    fn lookup(&self, id: &str, now: DateTime<Utc>, slide: bool) -> Lookup {
        let mut inner = self.lock();
        let Some(session) = inner.sessions.get_mut(id) else { return Lookup::Missing };
        if is_idle_expired(session.last_seen, now, self.idle_timeout) {
            inner.sessions.remove(id);
            return Lookup::Expired;
        }
        if slide {
            session.last_seen = now;
            session.expires_at = self.expiry(now);
        }
        Lookup::Active(Box::new(session.clone()))
    }

    /// Ends a session (sign-out), handing it back for the logout redirect.
    pub fn end(&self, id: &str) -> Option<Session> {
        self.lock().sessions.remove(id)
    }

    /// Remembers a sign-in in progress; returns the id for its cookie.
    pub fn begin_login(&self, login: PendingLogin, now: DateTime<Utc>) -> Result<String, TooManyLogins> {
        let mut inner = self.lock();
        inner.pending.retain(|_, p| !is_idle_expired(p.created_at, now, LOGIN_TTL));
        if inner.pending.len() >= MAX_PENDING_LOGINS {
            return Err(TooManyLogins);
        }
        let id = random_id();
        inner.pending.insert(id.clone(), login);
        Ok(id)
    }

    /// Takes a sign-in in progress out: each can be completed (or failed) once. `None` when it is
    /// unknown or older than [`LOGIN_TTL`].
    pub fn take_login(&self, id: &str, now: DateTime<Utc>) -> Option<PendingLogin> {
        self.lock().pending.remove(id).filter(|p| !is_idle_expired(p.created_at, now, LOGIN_TTL))
    }

    /// How many sessions are held (for tests and logs).
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::oidc::test_support::{signed_in, unverified_id_token};

    fn min(n: i64) -> chrono::Duration {
        chrono::Duration::minutes(n)
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2030-01-01T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn store() -> SessionStore {
        SessionStore::new(Config::default().idle_timeout)
    }

    #[test]
    fn default_idle_timeout_is_pinned_at_3600_seconds() {
        assert_eq!(store().idle_timeout(), Duration::from_secs(3600));
    }

    #[test]
    fn idle_expiry_boundaries() {
        let hour = Duration::from_secs(3600);
        assert!(!is_idle_expired(t0(), t0(), hour));
        assert!(!is_idle_expired(t0(), t0() + min(59), hour));
        assert!(!is_idle_expired(t0(), t0() + chrono::Duration::seconds(3599), hour));
        assert!(is_idle_expired(t0(), t0() + chrono::Duration::seconds(3600), hour));
        assert!(is_idle_expired(t0(), t0() + min(61), hour));
    }

    #[test]
    fn session_is_valid_after_59_minutes_and_expired_after_61() {
        let store = store();
        let id = store.create(signed_in("ada"), unverified_id_token(), t0());
        assert!(matches!(store.touch(&id, t0() + min(59)), Lookup::Active(_)));

        let other = store.create(signed_in("bob"), unverified_id_token(), t0());
        assert!(matches!(store.touch(&other, t0() + min(61)), Lookup::Expired));
        // Gone for good: the next look finds nothing.
        assert!(matches!(store.touch(&other, t0() + min(61)), Lookup::Missing));
    }

    #[test]
    fn each_protected_request_slides_the_session() {
        let store = store();
        let id = store.create(signed_in("ada"), unverified_id_token(), t0());
        // Three requests 50 minutes apart: 100 minutes after sign-in, still valid.
        for step in 1..=2 {
            let Lookup::Active(s) = store.touch(&id, t0() + min(step * 50)) else { panic!("step {step}") };
            assert_eq!(s.expires_at, t0() + min(step * 50) + min(60));
        }
        assert!(matches!(store.touch(&id, t0() + min(159)), Lookup::Active(_)));
        assert!(matches!(store.touch(&id, t0() + min(220)), Lookup::Expired));
    }

    #[test]
    fn peeking_does_not_slide() {
        let store = store();
        let id = store.create(signed_in("ada"), unverified_id_token(), t0());
        assert!(matches!(store.peek(&id, t0() + min(50)), Lookup::Active(_)));
        assert!(matches!(store.peek(&id, t0() + min(61)), Lookup::Expired));
    }

    #[test]
    fn a_configured_idle_timeout_is_used() {
        let store = SessionStore::new(Duration::from_secs(5));
        let id = store.create(signed_in("ada"), unverified_id_token(), t0());
        assert!(matches!(store.touch(&id, t0() + chrono::Duration::seconds(4)), Lookup::Active(_)));
        assert!(matches!(store.touch(&id, t0() + chrono::Duration::seconds(10)), Lookup::Expired));
    }

    #[test]
    fn ending_a_session_removes_it_and_ids_are_fresh() {
        let store = store();
        let a = store.create(signed_in("ada"), unverified_id_token(), t0());
        let b = store.create(signed_in("ada"), unverified_id_token(), t0());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "256 bits in base64url");
        assert!(store.end(&a).is_some());
        assert!(matches!(store.touch(&a, t0()), Lookup::Missing));
        assert!(store.end(&a).is_none());
        assert_eq!(store.len(), 1);
    }

    fn pending(now: DateTime<Utc>) -> PendingLogin {
        PendingLogin {
            state: CsrfToken::new_random(),
            nonce: Nonce::new_random(),
            pkce_verifier: PkceCodeVerifier::new("v".repeat(43)),
            return_to: "/protected".into(),
            created_at: now,
        }
    }

    #[test]
    fn a_pending_login_is_taken_once_and_expires() {
        let store = store();
        let id = store.begin_login(pending(t0()), t0()).unwrap();
        assert!(store.take_login(&id, t0() + min(1)).is_some());
        assert!(store.take_login(&id, t0() + min(1)).is_none(), "single use");

        let late = store.begin_login(pending(t0()), t0()).unwrap();
        assert!(store.take_login(&late, t0() + min(11)).is_none(), "older than LOGIN_TTL");
        assert!(store.take_login("unknown", t0()).is_none());
    }
}
