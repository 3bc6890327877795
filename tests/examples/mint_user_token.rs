//! Benchmark helper (bench/oidc.sh): issues an end-user access token straight from the store and
//! the key set, the way the authorization_code grant will, so userinfo can be measured before the
//! browser flow exists. Usage: mint_user_token <database-url> <kek-file> <issuer> <client-id> <username>

use anyhow::Context as _;
use chrono::{Duration, Utc};
use latchkey_core::jws::KeyRing;
use latchkey_core::keys::Kek;
use latchkey_core::model::ClientId;
use latchkey_core::store::{AccountStore as _, ClientStore as _, GrantStore as _, KeyStore as _};
use latchkey_core::tokens::{AccessTokenRequest, TokenSettings, issue_access_token};
use latchkey_store::SeaStore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, kek_file, issuer, client_id, username] = args.as_slice() else {
        anyhow::bail!("usage: mint_user_token <database-url> <kek-file> <issuer> <client-id> <username>");
    };
    let store = SeaStore::connect(url, 1).await?;
    let kek = Kek::from_base64(&std::fs::read_to_string(kek_file)?)?;
    let now = Utc::now();
    let ring = KeyRing::load(&store.list_keys().await?, &kek, now, Duration::days(7))?;
    let client = store.find_client(&ClientId(client_id.clone())).await?.context("no such client")?;
    let account = store.find_account_by_username(username).await?.context("no such account")?;
    let scopes: Vec<String> = ["openid", "profile", "email"].map(String::from).to_vec();
    // Long enough for any benchmark run.
    let settings = TokenSettings { access_token_lifetime: Duration::hours(2), ..TokenSettings::default() };
    let request = AccessTokenRequest {
        client: &client,
        account: Some(account.id),
        scopes: &scopes,
        roles: &[],
        auth_time: Some(now),
        session_id: None,
        family_id: None,
    };
    let issued = issue_access_token(&ring, &settings, issuer, request, now)?;
    store.insert_access_token(issued.record).await?;
    println!("{}", issued.token);
    Ok(())
}
