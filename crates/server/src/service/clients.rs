//! OAuth clients: registration, editing, secrets (generated here, shown once), deletion.

use latchkey_core::client::{validate_client_id, validate_redirect_uri, validate_scope_token};
use latchkey_core::keys::Algorithm;
use latchkey_core::model::{Client, ClientId, GrantType, TokenEndpointAuthMethod};
use latchkey_core::secret::Secret;

use super::{Ctx, ServiceError, ServiceResult, audit};

/// Default scopes for a new client.
pub const DEFAULT_CLIENT_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Secrets given by the operator must be strong: they are compared by hash, not stretched.
pub const MIN_CLIENT_SECRET_LEN: usize = 32;

/// Longest per-client token lifetimes an administrator may set, in seconds.
const MAX_ACCESS_TOKEN_LIFETIME: i64 = 24 * 3600;
const MAX_ID_TOKEN_LIFETIME: i64 = 24 * 3600;
const MAX_REFRESH_TOKEN_LIFETIME: i64 = 365 * 24 * 3600;

/// Everything a registration or an edit sets. Empty `scopes` / `grants` take the defaults.
#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub grants: Vec<String>,
    pub first_party: bool,
    /// `client_secret_basic` (default) or `client_secret_post`; `none` for public clients.
    pub auth_method: Option<String>,
    pub access_token_lifetime: Option<i64>,
    pub refresh_token_lifetime: Option<i64>,
    pub id_token_lifetime: Option<i64>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    pub id_token_alg: Option<String>,
    /// Allow `http` redirect URIs on hosts other than loopback (development only).
    pub allow_insecure_http: bool,
}

/// A registered client and, for a confidential client whose secret was generated here, the
/// secret: it exists only in this value and is shown once.
#[derive(Debug)]
pub struct Registered {
    pub client: Client,
    pub secret: Option<Secret>,
}

/// The checked form of a [`ClientInput`].
struct Checked {
    name: Option<String>,
    scopes: Vec<String>,
    grants: Vec<GrantType>,
    auth_method: TokenEndpointAuthMethod,
    alg: Algorithm,
}

fn lifetime(field: &'static str, value: Option<i64>, max: i64) -> ServiceResult<()> {
    match value {
        Some(v) if !(1..=max).contains(&v) => {
            Err(ServiceError::invalid(field, format!("must be between 1 and {max} seconds (or empty for the default)")))
        }
        _ => Ok(()),
    }
}

fn check(input: &ClientInput, public: bool, has_given_secret: bool) -> ServiceResult<Checked> {
    let name = input.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
    if name.as_ref().is_some_and(|n| n.chars().count() > 128) {
        return Err(ServiceError::invalid("name", "name must be at most 128 characters"));
    }
    for uri in &input.redirect_uris {
        validate_redirect_uri(uri, input.allow_insecure_http).map_err(|e| ServiceError::invalid("redirect_uris", e))?;
    }
    for uri in &input.post_logout_redirect_uris {
        validate_redirect_uri(uri, input.allow_insecure_http)
            .map_err(|e| ServiceError::invalid("post_logout_redirect_uris", e))?;
    }
    let scopes: Vec<String> = if input.scopes.is_empty() {
        DEFAULT_CLIENT_SCOPES.iter().map(|s| (*s).to_owned()).collect()
    } else {
        let mut unique = Vec::new();
        for s in &input.scopes {
            validate_scope_token(s).map_err(|e| ServiceError::invalid("scopes", e))?;
            if !unique.contains(s) {
                unique.push(s.clone());
            }
        }
        unique
    };
    let grants: Vec<GrantType> = if input.grants.is_empty() {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    } else {
        let mut unique = Vec::new();
        for g in &input.grants {
            let grant = GrantType::parse(g).ok_or_else(|| {
                ServiceError::invalid(
                    "grants",
                    format!("unknown grant {g:?} (authorization_code, refresh_token or client_credentials)"),
                )
            })?;
            if !unique.contains(&grant) {
                unique.push(grant);
            }
        }
        unique
    };
    if grants.contains(&GrantType::AuthorizationCode) && input.redirect_uris.is_empty() {
        return Err(ServiceError::invalid("redirect_uris", "the authorization_code grant needs a redirect URI"));
    }
    if public && grants.contains(&GrantType::ClientCredentials) {
        return Err(ServiceError::invalid(
            "grants",
            "a public client cannot use client_credentials: it has no secret to authenticate with",
        ));
    }
    if public && has_given_secret {
        return Err(ServiceError::invalid("secret", "a public client has no secret"));
    }
    let auth_method = match (public, input.auth_method.as_deref().filter(|m| !m.is_empty())) {
        (true, None | Some("none")) => TokenEndpointAuthMethod::None,
        (true, Some(m)) => {
            return Err(ServiceError::invalid(
                "auth_method",
                format!("a public client authenticates with `none`, not {m:?}"),
            ));
        }
        (false, None) => TokenEndpointAuthMethod::ClientSecretBasic,
        (false, Some(m)) => match TokenEndpointAuthMethod::parse(m) {
            Some(TokenEndpointAuthMethod::None) | None => {
                return Err(ServiceError::invalid(
                    "auth_method",
                    format!("auth method must be client_secret_basic or client_secret_post, got {m:?}"),
                ));
            }
            Some(method) => method,
        },
    };
    lifetime("access_token_lifetime", input.access_token_lifetime, MAX_ACCESS_TOKEN_LIFETIME)?;
    lifetime("refresh_token_lifetime", input.refresh_token_lifetime, MAX_REFRESH_TOKEN_LIFETIME)?;
    lifetime("id_token_lifetime", input.id_token_lifetime, MAX_ID_TOKEN_LIFETIME)?;
    let alg = match input.id_token_alg.as_deref().filter(|a| !a.is_empty()) {
        None => Algorithm::Rs256,
        Some(a) => Algorithm::parse(a)
            .ok_or_else(|| ServiceError::invalid("id_token_alg", format!("{a:?} is not one of RS256, ES256, EdDSA")))?,
    };
    Ok(Checked { name, scopes, grants, auth_method, alg })
}

pub async fn list(ctx: &Ctx<'_>) -> ServiceResult<Vec<Client>> {
    Ok(ctx.store.list_clients().await?)
}

pub async fn find(ctx: &Ctx<'_>, id: &str) -> ServiceResult<Client> {
    ctx.store
        .find_client(&ClientId(id.to_owned()))
        .await?
        .ok_or_else(|| ServiceError::not_found("client", format!("no client with id {id:?}")))
}

/// Registers a client. A confidential client gets a generated secret unless `given_secret` is
/// set (at least [`MIN_CLIENT_SECRET_LEN`] characters); only its hash is stored.
pub async fn create(
    ctx: &Ctx<'_>,
    client_id: &str,
    public: bool,
    input: ClientInput,
    given_secret: Option<String>,
) -> ServiceResult<Registered> {
    let client_id = client_id.trim();
    validate_client_id(client_id).map_err(|e| ServiceError::invalid("client_id", e))?;
    let checked = check(&input, public, given_secret.is_some())?;
    let id = ClientId(client_id.to_owned());
    if ctx.store.find_client(&id).await?.is_some() {
        return Err(ServiceError::Conflict {
            field: "client_id",
            message: format!("a client with id {client_id:?} already exists"),
        });
    }
    let (secret, generated) = match (public, given_secret) {
        (true, _) => (None, false),
        (false, Some(s)) => {
            if s.chars().count() < MIN_CLIENT_SECRET_LEN {
                return Err(ServiceError::invalid(
                    "secret",
                    format!("a client secret must be at least {MIN_CLIENT_SECRET_LEN} characters of random data"),
                ));
            }
            (Some(Secret::new(s)), false)
        }
        (false, None) => (Some(Secret::generate()), true),
    };
    let now = ctx.now();
    let client = Client {
        id: id.clone(),
        secret_hash: secret.as_ref().map(Secret::hash),
        name: checked.name.unwrap_or_else(|| client_id.to_owned()),
        redirect_uris: input.redirect_uris,
        post_logout_redirect_uris: input.post_logout_redirect_uris,
        grant_types: checked.grants,
        scopes: checked.scopes,
        public,
        first_party: input.first_party,
        token_endpoint_auth_method: checked.auth_method,
        access_token_lifetime: input.access_token_lifetime,
        refresh_token_lifetime: input.refresh_token_lifetime,
        id_token_lifetime: input.id_token_lifetime,
        id_token_signed_response_alg: checked.alg.as_str().to_owned(),
        from_config: false,
        created_at: now,
        updated_at: now,
    };
    let client = ctx.store.insert_client(client).await.map_err(|e| match ServiceError::from(e) {
        ServiceError::Conflict { .. } => ServiceError::Conflict {
            field: "client_id",
            message: format!("a client with id {client_id:?} already exists"),
        },
        other => other,
    })?;
    audit::record(ctx, "admin.client.created", None, Some(id), serde_json::json!({"public": public})).await;
    Ok(Registered { client, secret: if generated { secret } else { None } })
}

/// Replaces a client's settings (not its id, type or secret).
pub async fn update(ctx: &Ctx<'_>, id: &str, input: ClientInput) -> ServiceResult<Client> {
    let current = find(ctx, id).await?;
    let checked = check(&input, current.public, false)?;
    let client = Client {
        name: checked.name.unwrap_or_else(|| current.id.0.clone()),
        redirect_uris: input.redirect_uris,
        post_logout_redirect_uris: input.post_logout_redirect_uris,
        grant_types: checked.grants,
        scopes: checked.scopes,
        first_party: input.first_party,
        token_endpoint_auth_method: checked.auth_method,
        access_token_lifetime: input.access_token_lifetime,
        refresh_token_lifetime: input.refresh_token_lifetime,
        id_token_lifetime: input.id_token_lifetime,
        id_token_signed_response_alg: checked.alg.as_str().to_owned(),
        updated_at: ctx.now(),
        ..current
    };
    let client = ctx.store.update_client(client).await?;
    audit::record(ctx, "admin.client.updated", None, Some(client.id.clone()), serde_json::json!({})).await;
    Ok(client)
}

/// Generates a new secret for a confidential client; the old one stops working at once.
pub async fn rotate_secret(ctx: &Ctx<'_>, id: &str) -> ServiceResult<(Client, Secret)> {
    let client = find(ctx, id).await?;
    if client.public {
        return Err(ServiceError::refused("public_client", format!("{id} is a public client: it has no secret")));
    }
    let secret = Secret::generate();
    ctx.store.update_client_secret(&client.id, secret.hash(), ctx.now()).await?;
    audit::record(ctx, "admin.client.secret_rotated", None, Some(client.id.clone()), serde_json::json!({})).await;
    Ok((client, secret))
}

/// Deletes a client with its codes, tokens and consents.
pub async fn delete(ctx: &Ctx<'_>, id: &str) -> ServiceResult<Client> {
    let client = find(ctx, id).await?;
    ctx.store.delete_client(&client.id).await?;
    audit::record(ctx, "admin.client.deleted", None, Some(client.id.clone()), serde_json::json!({})).await;
    Ok(client)
}
