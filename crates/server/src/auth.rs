//! Signing up, signing in and ending sessions: the steps the pages share with the OpenID Connect
//! authorization flow, so both sign people in exactly the same way (throttling, timing, audit).
//!
//! The rules come from `latchkey_core` (session lifetimes, throttle delays, username, email and
//! password policies); this module sequences them with the store and the password hasher.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use latchkey_core::StoreError;
use latchkey_core::account::{EMAIL_MAX, email_key, normalize_username, validate_email, validate_signup_username};
use latchkey_core::model::{Account, AccountId, AuditEvent, AuditOutcome, NewAccount, Session};
use latchkey_core::password::PasswordPolicy;
use latchkey_core::secret::Secret;
use latchkey_core::store::{AccountStore as _, AuditStore as _, SessionStore as _, ThrottleStore as _};
use latchkey_core::throttle::{AfterCount, Decision, ThrottlePolicy};

use crate::http::session::session_policy;
use crate::passwords::HashError;
use crate::state::AppState;

/// Longest user agent kept with a session or an audit event.
const USER_AGENT_MAX: usize = 512;
/// Longest login identifier looked up: the longest email address (RFC 5321).
pub const LOGIN_MAX: usize = EMAIL_MAX;

/// Who is asking, for sessions and the audit log.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    pub fn new(ip: Option<String>, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent.map(|ua| ua.chars().take(USER_AGENT_MAX).collect());
        Self { ip, user_agent }
    }
}

/// A person who just signed in (or up), with the session to hand to the browser.
#[derive(Debug)]
pub struct SignedIn {
    pub account: Account,
    pub session: Session,
    /// The cookie value; only its hash is stored.
    pub secret: Secret,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown account, wrong password, disabled account, no password: deliberately one case, so
    /// nothing downstream can tell them apart (no user enumeration). The reason is audited.
    #[error("incorrect username or password")]
    Invalid,
    #[error("too many attempts")]
    Throttled { retry_after: chrono::Duration },
    #[error("password hashing is at capacity")]
    Busy,
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<HashError> for SignInError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy => Self::Busy,
            HashError::Internal(detail) => Self::Internal(detail),
        }
    }
}

/// The throttle key of a login identifier: the same normalisation as the lookup, so `Alice`,
/// ` alice ` and `ＡＬＩＣＥ` share one counter. Emails and usernames live in one namespace
/// (`@` cannot occur in a username).
pub fn login_key(login: &str) -> String {
    if login.contains('@') {
        format!("login:{}", email_key(login))
    } else {
        format!("login:{}", normalize_username(login))
    }
}

async fn find_by_login(app: &AppState, login: &str) -> Result<Option<Account>, StoreError> {
    if login.contains('@') {
        app.store.find_account_by_email(login.trim()).await
    } else {
        app.store.find_account_by_username(&normalize_username(login)).await
    }
}

/// A browser that has signed in to `account` before, recognised by the signed device cookie it
/// was given then (OWASP Authentication Cheat Sheet, "device cookies"). Its sign-ins to that
/// account are throttled on a counter of its own, so failures from anywhere else (an attacker
/// guessing, or failing on purpose to lock the owner out) never delay the owner's own browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice {
    pub account: AccountId,
    /// Random, made at each successful sign-in; names this browser's counter.
    pub nonce: String,
}

impl KnownDevice {
    fn throttle_key(&self) -> String {
        format!("device:{}", self.nonce)
    }
}

/// Checks a username-or-email and password, throttled, and starts a new session on success.
///
/// Order matters: every counter is incremented (atomically, in the database) *before* the password
/// is verified, and the attempt is refused without hashing once past the free allowance, so a
/// burst of 100 parallel guesses gets no more verifications than 100 patient ones would. Two
/// counters apply: the client address's (across every name it tries), and the login name's, or,
/// for a [`KnownDevice`] of this account, the device's own. The address counts only failures: an
/// attempt that did not fail (it succeeded, was refused by either counter, or found the hasher
/// busy) is given back, so people behind one address do not throttle each other by signing in;
/// what one address cannot have is more than its allowance of sign-ins in flight at once.
pub async fn sign_in(
    app: &AppState,
    login: &str,
    password: &str,
    remember_me: bool,
    meta: &RequestMeta,
    device: Option<&KnownDevice>,
) -> Result<SignedIn, SignInError> {
    let now = app.clock.now();
    let ip_key = meta.ip.as_ref().map(|ip| format!("ip:{ip}"));

    if let Some(ip_key) = &ip_key
        && let Err(wait) = gate_address(app, ip_key, now).await?
    {
        return Err(throttled(app, meta, None, "ip", wait).await);
    }
    let account = find_by_login(app, login).await?;
    let account_id = account.as_ref().map(|a| a.id);
    let device = device.filter(|d| Some(d.account) == account_id);
    let (gate_key, counter) = match device {
        Some(device) => (device.throttle_key(), "device"),
        None => (login_key(login), "login"),
    };
    if let Err(wait) = gate_counting(app, &gate_key, now).await? {
        give_back(app, ip_key.as_deref()).await?;
        return Err(throttled(app, meta, account_id, counter, wait).await);
    }

    // An unknown account verifies a dummy hash: the same work, so the same time, as a wrong password.
    let stored = account.as_ref().and_then(|a| a.password_hash.as_deref());
    let verified = match app.passwords.verify(password, stored).await {
        Ok(verified) => verified,
        Err(err) => {
            // Nothing was checked (the hasher is busy or broken): the attempt does not count.
            give_back(app, ip_key.as_deref()).await?;
            give_back(app, Some(&gate_key)).await?;
            return Err(err.into());
        }
    };

    let failure = match &account {
        None => Some("unknown_account"),
        Some(a) if a.password_hash.is_none() => Some("no_password"),
        Some(_) if !verified.ok => Some("wrong_password"),
        Some(a) if a.disabled => Some("disabled"),
        Some(_) => None,
    };
    let Some(account) = account.filter(|_| failure.is_none()) else {
        let reason = failure.unwrap_or("unknown_account");
        audit(
            app,
            "login.failure",
            account_id,
            AuditOutcome::Failure,
            meta,
            serde_json::json!({ "reason": reason, "counter": counter }),
        )
        .await;
        return Err(SignInError::Invalid);
    };

    app.store.clear_throttle(&gate_key).await?;
    give_back(app, ip_key.as_deref()).await?;
    if verified.needs_rehash {
        // The parameters changed since this hash was made: upgrade it now that we hold the password.
        match app.passwords.hash(password).await {
            Ok(hash) => app.store.update_password_hash(account.id, &hash, now).await?,
            Err(err) => tracing::warn!(error = %err, "password rehash skipped"),
        }
    }
    let (session, secret) = start_session(app, &account, remember_me, meta, now).await?;
    audit(
        app,
        "login.success",
        Some(account.id),
        AuditOutcome::Success,
        meta,
        serde_json::json!({
            "remember_me": remember_me,
            "session_id": session.id,
            "rehashed": verified.needs_rehash,
            "known_device": device.is_some(),
        }),
    )
    .await;
    Ok(SignedIn { account, session, secret })
}

/// What a throttle gate decided, and whether it counted the attempt.
enum Gate {
    Pass,
    Refused { retry_after: chrono::Duration, counted: bool },
}

/// [`gate`] under the per-identifier policy.
pub(crate) async fn gate_counting(
    app: &AppState,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), chrono::Duration>, StoreError> {
    Ok(match gate(app, key, ThrottlePolicy::per_identifier(), now).await? {
        Gate::Pass => Ok(()),
        Gate::Refused { retry_after, .. } => Err(retry_after),
    })
}

/// The per-address gate: like the others, except that an attempt it refuses after counting is
/// given back at once. The address's counter then holds failures and attempts in flight only, so
/// a burst of sign-ins from a busy shared address leaves nothing behind that would shorten its
/// allowance later.
async fn gate_address(
    app: &AppState,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Result<(), chrono::Duration>, StoreError> {
    match gate(app, key, ThrottlePolicy::per_ip(), now).await? {
        Gate::Pass => Ok(Ok(())),
        Gate::Refused { retry_after, counted } => {
            if counted {
                give_back(app, Some(key)).await?;
            }
            Ok(Err(retry_after))
        }
    }
}

/// Counts the attempt first (exact under concurrency), then lets it through if the policy allows.
async fn gate(app: &AppState, key: &str, policy: ThrottlePolicy, now: DateTime<Utc>) -> Result<Gate, StoreError> {
    let mut state = app.store.find_throttle(key).await?;
    if state.as_ref().is_some_and(|s| policy.is_stale(s, now)) {
        app.store.clear_throttle(key).await?;
        state = None;
    }
    if let Decision::Refuse { retry_after } = policy.precheck(state.as_ref(), now) {
        return Ok(Gate::Refused { retry_after, counted: false });
    }
    let counted = app.store.increment_throttle(key, now).await?;
    match policy.after_count(&counted, now) {
        AfterCount::Allow => Ok(Gate::Pass),
        AfterCount::AllowAndLock { until } => {
            app.store.set_throttle_lock(key, Some(until)).await?;
            Ok(Gate::Pass)
        }
        AfterCount::Claim { until } => {
            if app.store.claim_throttle(key, now, until).await? {
                return Ok(Gate::Pass);
            }
            match policy.refusal(app.store.find_throttle(key).await?.as_ref(), now) {
                Decision::Refuse { retry_after } => Ok(Gate::Refused { retry_after, counted: true }),
                Decision::Allow => Ok(Gate::Pass),
            }
        }
    }
}

/// Takes back one attempt counted by [`gate`] that turned out not to be a failure.
async fn give_back(app: &AppState, key: Option<&str>) -> Result<(), StoreError> {
    match key {
        Some(key) => app.store.forgive_throttle(key).await,
        None => Ok(()),
    }
}

async fn throttled(
    app: &AppState,
    meta: &RequestMeta,
    account: Option<AccountId>,
    counter: &str,
    retry_after: chrono::Duration,
) -> SignInError {
    // A flood of refusals is one event per counter per second, carrying how many it stands for:
    // writing one row per refused request would turn a cheap refusal into a database write.
    let key = format!("{counter}:{}", account.map_or_else(|| meta.ip.clone().unwrap_or_default(), |a| a.to_string()));
    if let Some(refused) = app.throttle_audit.due(&key, app.clock.now()) {
        audit(
            app,
            "login.throttled",
            account,
            AuditOutcome::Failure,
            meta,
            serde_json::json!({
                "counter": counter,
                "retry_after_secs": retry_after.num_seconds(),
                "refusals": refused,
            }),
        )
        .await;
    }
    SignInError::Throttled { retry_after }
}

/// Limits `login.throttled` audit events to one per key per second on this node. Only audit
/// volume depends on it: the throttling itself is in the database, shared by every node.
#[derive(Debug, Default)]
pub struct ThrottleAuditLimiter {
    /// key -> (when last audited, refusals since then).
    seen: std::sync::Mutex<std::collections::HashMap<String, (DateTime<Utc>, u64)>>,
}

impl ThrottleAuditLimiter {
    /// Past this many keys the map starts afresh (bounds memory under a flood of distinct keys).
    const MAX_KEYS: usize = 10_000;

    /// `Some(refusals this event stands for)` when `key` is due an event at `now`; counts it otherwise.
    pub fn due(&self, key: &str, now: DateTime<Utc>) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= Self::MAX_KEYS && !seen.contains_key(key) {
            seen.clear();
        }
        match seen.get_mut(key) {
            Some((at, count)) if now - *at < chrono::Duration::seconds(1) => {
                *count += 1;
                None
            }
            Some((at, count)) => {
                let refusals = *count + 1;
                *at = now;
                *count = 0;
                Some(refusals)
            }
            None => {
                seen.insert(key.to_owned(), (now, 0));
                Some(1)
            }
        }
    }
}

/// Starts a brand-new session (new id, new secret) for `account`. Never reuses anything the
/// browser sent before: that is what makes session fixation impossible.
pub async fn start_session(
    app: &AppState,
    account: &Account,
    remember_me: bool,
    meta: &RequestMeta,
    now: DateTime<Utc>,
) -> Result<(Session, Secret), StoreError> {
    let (mut session, secret) = session_policy(&app.config.session).start(account.id, remember_me, now);
    session.user_agent = meta.user_agent.clone();
    session.client_ip = meta.ip.clone();
    app.store.insert_session(session.clone()).await?;
    Ok((session, secret))
}

/// Ends a session on the server and audits why (`logout`, `session.expired`, ...).
pub async fn end_session(
    app: &AppState,
    session: &Session,
    event_type: &str,
    meta: &RequestMeta,
    detail: serde_json::Value,
) {
    if let Err(err) = app.store.delete_session(session.id).await {
        tracing::warn!(error = %err, "could not delete a session");
    }
    let mut detail = detail;
    if let Some(map) = detail.as_object_mut() {
        map.insert("session_id".into(), serde_json::json!(session.id));
    }
    audit(app, event_type, Some(session.account_id), AuditOutcome::Success, meta, detail).await;
}

/// Writes an audit event. A failure to write is logged loudly but does not fail the request: the
/// person's action already happened, and refusing service because the log is down helps nobody.
pub async fn audit(
    app: &AppState,
    event_type: &str,
    account_id: Option<AccountId>,
    outcome: AuditOutcome,
    meta: &RequestMeta,
    detail: serde_json::Value,
) {
    let event = AuditEvent {
        id: uuid::Uuid::now_v7(),
        at: app.clock.now(),
        event_type: event_type.to_owned(),
        account_id,
        actor_id: None,
        client_id: None,
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        outcome,
        detail,
    };
    if let Err(err) = app.store.insert_audit_event(event).await {
        tracing::error!(error = %err, event_type, "audit event could not be written");
    }
}

/// What the sign-up form submits.
#[derive(Debug, Clone, Default)]
pub struct SignUp {
    pub username: String,
    pub email: String,
    pub password: String,
    pub password_confirm: String,
}

/// Field name -> message, for the form.
pub type FieldErrors = BTreeMap<&'static str, String>;

#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    #[error("invalid fields")]
    Invalid(FieldErrors),
    /// The username or the email is taken; which one is not said (no account enumeration beyond
    /// the unavoidable).
    #[error("username or email taken")]
    Taken,
    #[error("password hashing is at capacity")]
    Busy,
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<HashError> for SignUpError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy => Self::Busy,
            HashError::Internal(detail) => Self::Internal(detail),
        }
    }
}

pub(crate) fn sentence(message: impl std::fmt::Display) -> String {
    let text = message.to_string();
    let mut chars = text.chars();
    let mut out: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// Checks every field (all messages at once, so one round trip fixes everything).
pub fn validate_sign_up(app: &AppState, input: &SignUp) -> Result<(String, String), FieldErrors> {
    let mut errors = FieldErrors::new();
    // Bound the work on absurd input before normalising it.
    let username = if input.username.chars().count() > 4 * latchkey_core::account::USERNAME_MAX {
        Err(latchkey_core::account::UsernameError::TooLong)
    } else {
        validate_signup_username(&input.username)
    };
    let username = username.map_err(|e| errors.insert("username", sentence(e))).ok();
    let email = validate_email(&input.email).map_err(|e| errors.insert("email", sentence(e))).ok();
    let policy = PasswordPolicy { min_length: app.config.passwords.min_length, ..PasswordPolicy::default() };
    let (_, max) = policy.effective_bounds();
    if input.password.chars().count() > 4 * max {
        errors.insert("password", sentence(latchkey_core::password::PasswordProblem::TooLong { max }));
    } else if let Err(problem) =
        policy.check(&input.password, username.as_deref().unwrap_or(&input.username), email.as_deref().unwrap_or(""))
    {
        errors.insert("password", problem.to_string());
    }
    if input.password_confirm != input.password {
        errors.insert("password_confirm", "The two passwords do not match; type the same password twice.".into());
    }
    match (username, email) {
        (Some(u), Some(e)) if errors.is_empty() => Ok((u, e)),
        _ => Err(errors),
    }
}

/// Creates an account from the sign-up form and signs its owner in.
pub async fn sign_up(app: &AppState, input: &SignUp, meta: &RequestMeta) -> Result<SignedIn, SignUpError> {
    let now = app.clock.now();
    let (username, email) = validate_sign_up(app, input).map_err(SignUpError::Invalid)?;
    let taken = app.store.find_account_by_username(&username).await?.is_some()
        || app.store.find_account_by_email(&email).await?.is_some();
    if taken {
        audit(
            app,
            "account.signup",
            None,
            AuditOutcome::Failure,
            meta,
            serde_json::json!({
                "reason": "taken", "username": username,
            }),
        )
        .await;
        return Err(SignUpError::Taken);
    }
    let hash = app.passwords.hash(&input.password).await?;
    let new = NewAccount {
        id: AccountId::new(),
        username: username.clone(),
        email,
        email_verified: false,
        password_hash: Some(hash),
        display_name: None,
    };
    let account = match app.store.insert_account(new, now).await {
        Ok(account) => account,
        // Lost a race with another sign-up for the same name: the same answer as above.
        Err(StoreError::Conflict(field)) => {
            audit(
                app,
                "account.signup",
                None,
                AuditOutcome::Failure,
                meta,
                serde_json::json!({
                    "reason": "taken", "field": field, "username": username,
                }),
            )
            .await;
            return Err(SignUpError::Taken);
        }
        Err(err) => return Err(err.into()),
    };
    audit(app, "account.signup", Some(account.id), AuditOutcome::Success, meta, serde_json::json!({})).await;
    let (session, secret) = start_session(app, &account, false, meta, now).await?;
    audit(
        app,
        "login.success",
        Some(account.id),
        AuditOutcome::Success,
        meta,
        serde_json::json!({
            "via": "signup", "remember_me": false, "session_id": session.id,
        }),
    )
    .await;
    Ok(SignedIn { account, session, secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_refusals_is_one_audit_event_per_key_per_second() {
        let limiter = ThrottleAuditLimiter::default();
        let t0 = DateTime::from_timestamp(1_750_000_000, 0).unwrap_or_default();
        assert_eq!(limiter.due("login:alice", t0), Some(1));
        for _ in 0..99 {
            assert_eq!(limiter.due("login:alice", t0 + chrono::Duration::milliseconds(500)), None);
        }
        assert_eq!(limiter.due("ip:192.0.2.1", t0), Some(1), "another key has its own window");
        // The next event a second later stands for the 99 refusals in between and itself.
        assert_eq!(limiter.due("login:alice", t0 + chrono::Duration::seconds(1)), Some(100));
        assert_eq!(limiter.due("login:alice", t0 + chrono::Duration::seconds(3)), Some(1));
    }
}
