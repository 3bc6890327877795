//! The service rules against a real store (SQLite in memory) and a fixed clock: each rule once,
//! whichever surface calls it.

use chrono::{DateTime, Duration, Utc};
use latchkey_core::FixedClock;
use latchkey_core::model::{AccessTokenRecord, AuditQuery, ClientId, GrantType};
use latchkey_core::session::SessionPolicy;
use latchkey_core::store::{AuditStore as _, ClientStore as _, GrantStore as _, SessionStore as _};
use latchkey_store::SeaStore;
use latchkey_store::testing::sqlite_memory;

use super::accounts::{self, NewAccountInput, ProfileInput};
use super::clients::{self, ClientInput};
use super::{Actor, Ctx, ServiceError, roles, setup};
use crate::auth::RequestMeta;
use crate::config::Config;
use crate::passwords::PasswordHasher;

const PASSWORD: &str = "violet-tractor-sunrise-917";

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

struct Env {
    store: SeaStore,
    clock: FixedClock,
    hasher: PasswordHasher,
    config: Config,
}

impl Env {
    async fn new() -> Self {
        let mut config = Config::default();
        // Cheap hashing: these tests are about the rules, not Argon2's cost.
        config.passwords.argon2_memory_kib = 1024;
        config.passwords.argon2_iterations = 1;
        let hasher = PasswordHasher::new(&config.passwords).unwrap();
        Self { store: sqlite_memory().await, clock: FixedClock::new(t0()), hasher, config }
    }

    fn ctx(&self, actor: Actor) -> Ctx<'_> {
        Ctx::new(&self.config, &self.store, &self.clock, &self.hasher, actor, "console", RequestMeta::default())
    }
}

fn person(name: &str) -> NewAccountInput {
    NewAccountInput {
        username: name.into(),
        email: format!("{name}@example.com"),
        password: PASSWORD.into(),
        ..NewAccountInput::default()
    }
}

fn field(err: ServiceError) -> (&'static str, Option<&'static str>) {
    (err.code(), err.field())
}

#[test]
fn role_names() {
    for ok in ["editors", "team:ops", "a", "x.y-z_1"] {
        assert!(roles::validate_role_name(ok).is_ok(), "{ok}");
    }
    for bad in ["", "Editors", "has space", "é", &"a".repeat(65)] {
        assert!(roles::validate_role_name(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn accounts_are_validated_with_the_field_named() {
    let env = Env::new().await;
    let ctx = env.ctx(Actor::Cli);
    let cases = [
        (NewAccountInput { username: "a".into(), ..person("x") }, "username"),
        (NewAccountInput { email: "nope".into(), ..person("bob") }, "email"),
        (NewAccountInput { password: "short".into(), ..person("bob") }, "password"),
        (NewAccountInput { password: "bob-bob-bob-bob-bob".into(), ..person("bob") }, "password"),
        (NewAccountInput { display_name: Some("d".repeat(129)), ..person("bob") }, "display_name"),
    ];
    for (input, want) in cases {
        let err = accounts::create(&ctx, input).await.unwrap_err();
        assert_eq!(field(err), ("invalid_input", Some(want)));
    }
    let err = accounts::create(&ctx, NewAccountInput { roles: vec!["wizards".into()], ..person("bob") }).await;
    assert_eq!(err.unwrap_err().code(), "not_found");
    accounts::create(&ctx, person("bob")).await.unwrap();
    let err = accounts::create(&ctx, NewAccountInput { email: "BOB@example.com".into(), ..person("other") }).await;
    assert_eq!(field(err.unwrap_err()), ("conflict", Some("username")));
}

#[tokio::test]
async fn disabling_ends_sessions_and_revokes_tokens_and_is_audited_with_the_actor() {
    let env = Env::new().await;
    let cli = env.ctx(Actor::Cli);
    let admin =
        accounts::create(&cli, NewAccountInput { roles: vec!["admin".into()], ..person("root") }).await.unwrap();
    let bob = accounts::create(&cli, person("bob")).await.unwrap();
    let (session, _) = SessionPolicy::default().start(bob.id, false, t0());
    env.store.insert_session(session).await.unwrap();
    let registered = clients::create(
        &cli,
        "web",
        false,
        ClientInput { redirect_uris: vec!["https://rp.example/cb".into()], ..ClientInput::default() },
        None,
    )
    .await
    .unwrap();
    let record = AccessTokenRecord {
        jti: "jti-1".into(),
        client_id: registered.client.id.clone(),
        account_id: Some(bob.id),
        family_id: None,
        scopes: vec!["openid".into()],
        created_at: t0(),
        expires_at: t0() + Duration::minutes(10),
        revoked_at: None,
    };
    env.store.insert_access_token(record).await.unwrap();

    let ctx = env.ctx(Actor::Admin(admin.id));
    let done = accounts::set_disabled(&ctx, &bob, true).await.unwrap();
    assert_eq!((done.sessions_ended, done.tokens_revoked), (1, 1));
    assert!(env.store.list_sessions_of(bob.id).await.unwrap().is_empty());
    assert!(env.store.find_access_token("jti-1").await.unwrap().unwrap().revoked_at.is_some());
    let query = AuditQuery { event_type: Some("admin.account.disabled".into()), ..AuditQuery::default() };
    let events = env.store.list_audit_events(&query).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].account_id, events[0].actor_id), (Some(bob.id), Some(admin.id)));
    assert_eq!(events[0].detail["via"], "console");

    // No lock-out of oneself.
    assert_eq!(accounts::set_disabled(&ctx, &admin, true).await.unwrap_err().code(), "self_lockout");
    assert_eq!(accounts::delete(&ctx, &admin).await.unwrap_err().code(), "self_lockout");
    assert_eq!(roles::revoke(&ctx, &admin, "admin").await.unwrap_err().code(), "self_lockout");
    assert_eq!(roles::delete(&ctx, "admin").await.unwrap_err().code(), "builtin_role");
}

#[tokio::test]
async fn passwords_profiles_and_deletion() {
    let env = Env::new().await;
    let ctx = env.ctx(Actor::Cli);
    let bob = accounts::create(&ctx, person("bob")).await.unwrap();
    accounts::create(&ctx, person("carol")).await.unwrap();
    let err = accounts::set_password(&ctx, &bob, "short", false).await.unwrap_err();
    assert_eq!(field(err), ("invalid_input", Some("password")));
    let (session, _) = SessionPolicy::default().start(bob.id, false, t0());
    env.store.insert_session(session).await.unwrap();
    assert_eq!(accounts::set_password(&ctx, &bob, "another-long-passphrase", true).await.unwrap(), 1);
    assert!(accounts::find(&ctx, bob.id).await.unwrap().password_change_required);

    let taken = ProfileInput { email: "CAROL@example.com".into(), ..ProfileInput::default() };
    assert_eq!(field(accounts::update_profile(&ctx, &bob, taken).await.unwrap_err()), ("conflict", Some("email")));
    let input =
        ProfileInput { email: "bob@new.example".into(), display_name: Some(" Bob ".into()), email_verified: true };
    let bob = accounts::update_profile(&ctx, &bob, input).await.unwrap();
    assert_eq!((bob.email.as_str(), bob.display_name.as_deref()), ("bob@new.example", Some("Bob")));

    accounts::delete(&ctx, &bob).await.unwrap();
    assert_eq!(accounts::find(&ctx, bob.id).await.unwrap_err().code(), "not_found");
    let page = accounts::list(&ctx, Some("o"), Some(1000), None).await.unwrap();
    assert_eq!((page.total, page.limit), (1, super::MAX_PAGE));
}

#[tokio::test]
async fn client_registrations_follow_the_uri_and_type_rules() {
    let env = Env::new().await;
    let ctx = env.ctx(Actor::Cli);
    let uris = |u: &[&str]| u.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let base = || ClientInput { redirect_uris: uris(&["https://rp.example/cb"]), ..ClientInput::default() };
    let cases: Vec<(ClientInput, bool, Option<String>, &str)> = vec![
        (ClientInput { redirect_uris: uris(&["https://rp.example/cb#f"]), ..base() }, false, None, "redirect_uris"),
        (ClientInput { redirect_uris: uris(&["rp.example/cb"]), ..base() }, false, None, "redirect_uris"),
        (ClientInput { redirect_uris: uris(&["http://rp.example/cb"]), ..base() }, false, None, "redirect_uris"),
        (ClientInput { redirect_uris: vec![], ..base() }, false, None, "redirect_uris"),
        (
            ClientInput { post_logout_redirect_uris: uris(&["javascript:alert(1)"]), ..base() },
            false,
            None,
            "post_logout_redirect_uris",
        ),
        (ClientInput { grants: vec!["client_credentials".into()], ..base() }, true, None, "grants"),
        (ClientInput { grants: vec!["implicit".into()], ..base() }, false, None, "grants"),
        (ClientInput { scopes: vec!["bad\"scope".into()], ..base() }, false, None, "scopes"),
        (ClientInput { access_token_lifetime: Some(0), ..base() }, false, None, "access_token_lifetime"),
        (ClientInput { id_token_lifetime: Some(90_000), ..base() }, false, None, "id_token_lifetime"),
        (ClientInput { id_token_alg: Some("HS256".into()), ..base() }, false, None, "id_token_alg"),
        (ClientInput { auth_method: Some("none".into()), ..base() }, false, None, "auth_method"),
        (base(), false, Some("short".into()), "secret"),
        (base(), true, Some("x".repeat(40)), "secret"),
    ];
    for (i, (input, public, secret, want)) in cases.into_iter().enumerate() {
        let err = clients::create(&ctx, &format!("c{i}"), public, input, secret).await.unwrap_err();
        assert_eq!(field(err), ("invalid_input", Some(want)), "case {i}");
    }
    let loopback = ClientInput { redirect_uris: uris(&["http://127.0.0.1:8000/cb"]), ..base() };
    let spa = clients::create(&ctx, "spa", true, loopback, None).await.unwrap();
    assert!(spa.secret.is_none() && spa.client.secret_hash.is_none());
    let dev = ClientInput { redirect_uris: uris(&["http://dev.example/cb"]), allow_insecure_http: true, ..base() };
    let web = clients::create(&ctx, "web", false, dev, None).await.unwrap();
    let secret = web.secret.expect("generated and shown once");
    assert!(web.client.secret_hash.as_ref().unwrap().verify(secret.expose()));
    assert_eq!(web.client.grant_types, [GrantType::AuthorizationCode, GrantType::RefreshToken]);
    let err = clients::create(&ctx, "web", false, base(), None).await.unwrap_err();
    assert_eq!(field(err), ("conflict", Some("client_id")));
    assert_eq!(clients::rotate_secret(&ctx, "spa").await.unwrap_err().code(), "public_client");
    let (_, rotated) = clients::rotate_secret(&ctx, "web").await.unwrap();
    assert_ne!(rotated.expose(), secret.expose());
    let updated = clients::update(&ctx, "web", ClientInput { name: Some("Web".into()), ..base() }).await.unwrap();
    assert!(updated.secret_hash.as_ref().unwrap().verify(rotated.expose()), "an edit keeps the secret");
    clients::delete(&ctx, "web").await.unwrap();
    assert_eq!(clients::find(&ctx, "web").await.unwrap_err().code(), "not_found");
    assert!(env.store.find_client(&ClientId("web".into())).await.unwrap().is_none());
}

#[tokio::test]
async fn the_setup_link_is_issued_once_and_works_once() {
    let env = Env::new().await;
    let ctx = env.ctx(Actor::Setup);
    let link = setup::issue_link_if_needed(&ctx, &env.store, "https://id.example/base/").await.unwrap().unwrap();
    let token = link.strip_prefix("https://id.example/base/setup?token=").expect(&link).to_owned();
    assert_eq!(token.len(), 43);
    let weak = NewAccountInput { password: "password".into(), ..person("boss") };
    let err = setup::complete(&ctx, &env.store, &token, weak).await.unwrap_err();
    assert_eq!(field(err), ("invalid_input", Some("password")), "a refused form does not spend the link");
    let boss = setup::complete(&ctx, &env.store, &token, person("boss")).await.unwrap().unwrap();
    assert!(accounts::is_admin(&ctx, boss.id).await.unwrap());
    let again = setup::complete(&ctx, &env.store, &token, person("intruder")).await.unwrap();
    assert_eq!(again.unwrap_err(), latchkey_store::SetupTokenState::Used);
    assert!(setup::issue_link_if_needed(&ctx, &env.store, "https://id.example").await.unwrap().is_none());

    // Expiry, on a fresh database.
    let env = Env::new().await;
    let ctx = env.ctx(Actor::Setup);
    let link = setup::issue_link_if_needed(&ctx, &env.store, "https://id.example").await.unwrap().unwrap();
    let token = link.rsplit('=').next().unwrap().to_owned();
    env.clock.advance(setup::link_lifetime());
    let late = setup::complete(&ctx, &env.store, &token, person("boss")).await.unwrap();
    assert_eq!(late.unwrap_err(), latchkey_store::SetupTokenState::Expired);
}
