//! The admin API, `/admin/api/v1`: JSON for the console's operations, for automation. Every
//! handler takes [`AdminBearer`] (a Latchkey access token with the `latchkey:admin` scope) and
//! makes one call into [`crate::service`]. The OpenAPI 3.1 document at
//! `/admin/api/openapi.json` is generated from these handlers' annotations by `utoipa`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use latchkey_core::model::{Account, AccountId, AuditEvent, Client, ClientId, Role, Session, SessionId, SigningKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use super::api_error::{AdminApiError, ErrorBody};
use super::guard::AdminBearer;
use crate::http::client_auth::no_store_json;
use crate::service::accounts::{self, AccountSummary, NewAccountInput, ProfileInput};
use crate::service::audit::{self, AuditFilter};
use crate::service::clients::{self, ClientInput};
use crate::service::{Ctx, ServiceError, keys, roles};
use crate::state::AppState;

type ApiResult = Result<Response, AdminApiError>;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/api/openapi.json", get(openapi_get))
        .route("/admin/api/v1/accounts", get(accounts_list).post(accounts_create))
        .route("/admin/api/v1/accounts/{id}", get(account_get).patch(account_update).delete(account_delete))
        .route("/admin/api/v1/accounts/{id}/disable", post(account_disable))
        .route("/admin/api/v1/accounts/{id}/enable", post(account_enable))
        .route("/admin/api/v1/accounts/{id}/password", post(account_password))
        .route("/admin/api/v1/accounts/{id}/require-password-change", post(account_require_change))
        .route("/admin/api/v1/accounts/{id}/roles", axum::routing::put(account_roles))
        .route("/admin/api/v1/accounts/{id}/sessions", get(sessions_list).delete(sessions_end_all))
        .route("/admin/api/v1/accounts/{id}/sessions/{session_id}", delete(session_end))
        .route("/admin/api/v1/roles", get(roles_list).post(roles_create))
        .route("/admin/api/v1/roles/{name}", delete(role_delete))
        .route("/admin/api/v1/clients", get(clients_list).post(clients_create))
        .route("/admin/api/v1/clients/{id}", get(client_get).put(client_update).delete(client_delete))
        .route("/admin/api/v1/clients/{id}/secret", post(client_rotate_secret))
        .route("/admin/api/v1/keys", get(keys_list))
        .route("/admin/api/v1/keys/rotate", post(keys_rotate))
        .route("/admin/api/v1/audit-events", get(audit_list))
        // Unknown API paths answer in the API's own error format.
        .route("/admin/api/v1/{*rest}", axum::routing::any(unknown_endpoint))
}

async fn unknown_endpoint() -> AdminApiError {
    AdminApiError::new(StatusCode::NOT_FOUND, "not_found", "There is no such endpoint in the admin API.")
}

// ------------------------------------------------------------------------------------------------
// Extractors: JSON bodies and query strings whose rejections are this API's JSON errors.
// ------------------------------------------------------------------------------------------------

/// A JSON request body; anything else is a 400 (or 415) in the API's error format.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ApiJson<T> {
    type Rejection = AdminApiError;

    async fn from_request(request: Request, app: &AppState) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(AdminApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_json",
                "Send a JSON body with Content-Type: application/json.",
            ));
        }
        let bytes = Bytes::from_request(request, app)
            .await
            .map_err(|_| AdminApiError::new(StatusCode::BAD_REQUEST, "invalid_json", "The body could not be read."))?;
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| AdminApiError::new(StatusCode::BAD_REQUEST, "invalid_json", format!("Invalid JSON body: {e}")))
    }
}

/// A query string; a malformed one is a 400 in the API's error format.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = AdminApiError;

    async fn from_request_parts(parts: &mut Parts, _app: &AppState) -> Result<Self, Self::Rejection> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default()).map(Self).map_err(|e| {
            AdminApiError::new(StatusCode::BAD_REQUEST, "invalid_input", format!("Invalid query parameters: {e}"))
        })
    }
}

fn created<T: Serialize>(body: &T) -> Response {
    let mut response = no_store_json(body);
    *response.status_mut() = StatusCode::CREATED;
    response
}

fn no_content() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn account_id(raw: &str) -> Result<AccountId, AdminApiError> {
    raw.parse::<uuid::Uuid>().map(AccountId).map_err(|_| ServiceError::not_found("account", "no such account").into())
}

async fn load_account(ctx: &Ctx<'_>, raw: &str) -> Result<Account, AdminApiError> {
    Ok(accounts::find(ctx, account_id(raw)?).await?)
}

// ------------------------------------------------------------------------------------------------
// Bodies
// ------------------------------------------------------------------------------------------------

/// An account as the API shows it (never its password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub display_name: Option<String>,
    pub disabled: bool,
    pub password_change_required: bool,
    pub has_password: bool,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<AccountSummary> for AccountView {
    fn from(AccountSummary { account: a, roles }: AccountSummary) -> Self {
        Self {
            id: a.id.to_string(),
            username: a.username,
            email: a.email,
            email_verified: a.email_verified,
            display_name: a.display_name,
            disabled: a.disabled,
            password_change_required: a.password_change_required,
            has_password: a.password_hash.is_some(),
            roles,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountPage {
    pub items: Vec<AccountView>,
    /// Every account matching the search.
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountListQuery {
    /// Case-insensitive substring of the username, email or display name.
    pub search: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u64>,
    /// Rows to skip (default 0).
    pub offset: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateAccount {
    pub username: String,
    pub email: String,
    /// Checked against the password policy.
    pub password: String,
    pub display_name: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub email_verified: bool,
    /// The person must choose a new password at their first sign-in.
    #[serde(default)]
    pub require_password_change: bool,
}

/// Fields left out keep their value; `display_name: ""` clears it.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateAccount {
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub email_verified: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetPassword {
    pub password: String,
    /// Require yet another new password at the next sign-in (a temporary password).
    #[serde(default)]
    pub require_change: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RequirePasswordChange {
    pub required: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetRoles {
    /// The account's roles afterwards, exactly.
    pub roles: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisableResult {
    pub sessions_ended: u64,
    pub tokens_revoked: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndedSessions {
    pub ended: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub auth_time: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub remember_me: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl From<Session> for SessionView {
    fn from(s: Session) -> Self {
        Self {
            id: s.id.to_string(),
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            auth_time: s.auth_time,
            expires_at: s.expires_at,
            remember_me: s.remember_me,
            ip: s.client_ip,
            user_agent: s.user_agent,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    pub name: String,
    pub description: Option<String>,
    pub builtin: bool,
}

impl From<Role> for RoleView {
    fn from(r: Role) -> Self {
        Self { name: r.name, description: r.description, builtin: r.builtin }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateRole {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    pub public: bool,
    pub first_party: bool,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub access_token_lifetime: Option<i64>,
    pub refresh_token_lifetime: Option<i64>,
    pub id_token_lifetime: Option<i64>,
    pub id_token_signed_response_alg: String,
    /// Declared in the configuration file (re-registered at each start).
    pub from_config: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Client> for ClientView {
    fn from(c: Client) -> Self {
        Self {
            client_id: c.id.0,
            name: c.name,
            public: c.public,
            first_party: c.first_party,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            scopes: c.scopes,
            grant_types: c.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
            token_endpoint_auth_method: c.token_endpoint_auth_method.as_str().to_owned(),
            access_token_lifetime: c.access_token_lifetime,
            refresh_token_lifetime: c.refresh_token_lifetime,
            id_token_lifetime: c.id_token_lifetime,
            id_token_signed_response_alg: c.id_token_signed_response_alg,
            from_config: c.from_config,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A client registration or its new settings. Empty `scopes` / `grant_types` take the defaults
/// (`openid profile email offline_access`; `authorization_code refresh_token`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClientWrite {
    /// Required to register; ignored on update (the path names the client).
    pub client_id: Option<String>,
    /// Public clients (no secret, PKCE only); fixed at registration.
    #[serde(default)]
    pub public: bool,
    pub name: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub first_party: bool,
    /// `client_secret_basic` (default) or `client_secret_post`.
    pub token_endpoint_auth_method: Option<String>,
    pub access_token_lifetime: Option<i64>,
    pub refresh_token_lifetime: Option<i64>,
    pub id_token_lifetime: Option<i64>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    pub id_token_signed_response_alg: Option<String>,
    /// Allow `http` redirect URIs on non-loopback hosts (development only).
    #[serde(default)]
    pub allow_insecure_http: bool,
}

impl ClientWrite {
    fn input(self) -> ClientInput {
        ClientInput {
            name: self.name,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            scopes: self.scopes,
            grants: self.grant_types,
            first_party: self.first_party,
            auth_method: self.token_endpoint_auth_method,
            access_token_lifetime: self.access_token_lifetime,
            refresh_token_lifetime: self.refresh_token_lifetime,
            id_token_lifetime: self.id_token_lifetime,
            id_token_alg: self.id_token_signed_response_alg,
            allow_insecure_http: self.allow_insecure_http,
        }
    }
}

/// The registered client and, for a confidential client, its secret: shown this once only.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientCreated {
    pub client: ClientView,
    pub client_secret: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientSecret {
    pub client_id: String,
    /// Shown this once only.
    pub client_secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub kid: String,
    pub algorithm: String,
    /// `next` (published), `active` (signing) or `retired` (published, not signing).
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<SigningKey> for KeyView {
    fn from(k: SigningKey) -> Self {
        Self {
            kid: k.kid,
            algorithm: k.algorithm,
            state: k.state.as_str().to_owned(),
            created_at: k.created_at,
            activated_at: k.activated_at,
            retired_at: k.retired_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
    /// When the scheduled rotation next activates a key.
    pub next_rotation: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RotateResult {
    pub activated: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: String,
    pub at: DateTime<Utc>,
    pub event_type: String,
    /// `success` or `failure`.
    pub outcome: String,
    pub account_id: Option<String>,
    /// The administrator who acted, when a person did.
    pub actor_id: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id.to_string(),
            at: e.at,
            event_type: e.event_type,
            outcome: e.outcome.as_str().to_owned(),
            account_id: e.account_id.map(|a| a.to_string()),
            actor_id: e.actor_id.map(|a| a.to_string()),
            client_id: e.client_id.map(|c| c.0),
            ip: e.ip,
            user_agent: e.user_agent,
            detail: e.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEventView>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditListQuery {
    pub account_id: Option<String>,
    pub client_id: Option<String>,
    /// Exact event type, e.g. `login.failure` or `admin.account.disabled`.
    pub event_type: Option<String>,
    /// RFC 3339; events at or after.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339; events before.
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

// ------------------------------------------------------------------------------------------------
// Handlers
// ------------------------------------------------------------------------------------------------

/// The OpenAPI 3.1 document of this API (generated from the code).
#[utoipa::path(get, path = "/admin/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi_get() -> Response {
    match ApiDoc::openapi().to_json() {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(e) => AdminApiError::from(ServiceError::Internal(e.to_string())).into_response(),
    }
}

#[utoipa::path(get, path = "/admin/api/v1/accounts", tag = "accounts", params(AccountListQuery),
    responses((status = 200, body = AccountPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn accounts_list(
    State(app): State<AppState>,
    auth: AdminBearer,
    ApiQuery(q): ApiQuery<AccountListQuery>,
) -> ApiResult {
    let ctx = auth.ctx(&app);
    let page = accounts::list(&ctx, q.search.as_deref(), q.limit, q.offset).await?;
    Ok(no_store_json(&AccountPage {
        items: page.items.into_iter().map(AccountView::from).collect(),
        total: page.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

#[utoipa::path(post, path = "/admin/api/v1/accounts", tag = "accounts", request_body = CreateAccount,
    responses((status = 201, body = AccountView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn accounts_create(
    State(app): State<AppState>,
    auth: AdminBearer,
    ApiJson(body): ApiJson<CreateAccount>,
) -> ApiResult {
    let ctx = auth.ctx(&app);
    let input = NewAccountInput {
        username: body.username,
        email: body.email,
        display_name: body.display_name,
        password: body.password,
        roles: body.roles,
        email_verified: body.email_verified,
        require_password_change: body.require_password_change,
    };
    let account = accounts::create(&ctx, input).await?;
    Ok(created(&AccountView::from(accounts::summary(&ctx, account).await?)))
}

#[utoipa::path(get, path = "/admin/api/v1/accounts/{id}", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = AccountView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn account_get(State(app): State<AppState>, auth: AdminBearer, Path(id): Path<String>) -> ApiResult {
    let ctx = auth.ctx(&app);
    let account = load_account(&ctx, &id).await?;
    Ok(no_store_json(&AccountView::from(accounts::summary(&ctx, account).await?)))
}

#[utoipa::path(patch, path = "/admin/api/v1/accounts/{id}", tag = "accounts", params(("id" = String, Path)),
    request_body = UpdateAccount,
    responses((status = 200, body = AccountView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn account_update(
    State(app): State<AppState>,
    auth: AdminBearer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateAccount>,
) -> ApiResult {
    let ctx = auth.ctx(&app);
    let account = load_account(&ctx, &id).await?;
    let input = ProfileInput {
        email: body.email.unwrap_or_else(|| account.email.clone()),
        display_name: body.display_name.or_else(|| account.display_name.clone()),
        email_verified: body.email_verified.unwrap_or(account.email_verified),
    };
    let account = accounts::update_profile(&ctx, &account, input).await?;
    Ok(no_store_json(&AccountView::from(accounts::summary(&ctx, account).await?)))
}

#[utoipa::path(delete, path = "/admin/api/v1/accounts/{id}", tag = "accounts", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted with its sessions, tokens and consents"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn account_delete(State(app): State<AppState>, auth: AdminBearer, Path(id): Path<String>) -> ApiResult {
    let ctx = auth.ctx(&app);
    let account = load_account(&ctx, &id).await?;
    accounts::delete(&ctx, &account).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/admin/api/v1/accounts/{id}/disable", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = DisableResult, description = "Disabled; its sessions ended and tokens revoked"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn account_disable(State(app): State<AppState>, auth: AdminBearer, Path(id): Path<String>) -> ApiResult {
    let ctx = auth.ctx(&app);
    let account = load_account(&ctx, &id).await?;
    let d = accounts::set_disabled(&ctx, &account, true).await?;
    Ok(no_store_json(&DisableResult { sessions_ended: d.sessions_ended, tokens_revoked: d.tokens_revoked }))
}

#[utoipa::path(post, path = "/admin/api/v1/accounts/{id}/enable", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = AccountView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn account_enable(State(app): State<AppState>, auth: AdminBearer, Path(id): Path<String>) -> ApiResult {
    let ctx = auth.ctx(&app);
    let account = load_account(&ctx, &id).await?;
    accounts::set_disabled(&ctx, &account, false).await?;
    let account = accounts::find(&ctx, account.id).await?;
    Ok(no_store_json(&AccountView::from(accounts::summary(&ctx, account).await?)))
}

#[utoipa::path(post, path = "/admin/api/v1/accounts/{id}/password", tag = "accounts", params(("id" = String, Path)),
    request_body = SetPassword,
    responses((status = 200, body = EndedSessions, description = "Password set; the account's sessions ended"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn account_password(
    State(app): State<AppState>,
    auth: AdminBearer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SetPassword>,
) -> ApiResult {
    let ctx = auth.ctx(&app);
    let account = load_account(&ctx, &id).await?;
    let ended = accounts::set_password(&ctx, &account, &body.password, body.require_change).await?;
    Ok(no_store_json(&EndedSessions { ended }))
}

#[utoipa::path(post, path = "/admin/api/v1/accounts/{id}/require-password-change", tag = "accounts",
    params(("id" = String, Path)), request_body = RequirePasswordChange,
    responses((status = 200, body = AccountView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn account_require_change(
    State(app): State<AppState>,
    auth: AdminBearer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RequirePasswordChange>,
) -> ApiResult {
    let ctx = auth.ctx(&app);
    let account = load_account(&ctx, &id).await?;
    accounts::require_password_change(&ctx, &account, body.required).await?;
    let account = accounts::find(&ctx, account.id).await?;
    Ok(no_store_json(&AccountView::from(accounts::summary(&ctx, account).await?)))
}

#[utoipa::path(put, path = "/admin/api/v1/accounts/{id}/roles", tag = "accounts", params(("id" = String, Path)),
    request_body = SetRoles,
    responses((status = 200, body = AccountView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn account_roles(
    State(app): State<AppState>,
    auth: AdminBearer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SetRoles>,
) -> ApiResult {
    let ctx = auth.ctx(&app);
    let account = load_account(&ctx, &id).await?;
    roles::set_roles(&ctx, &account, &body.roles).await?;
    Ok(no_store_json(&AccountView::from(accounts::summary(&ctx, account).await?)))
}

#[utoipa::path(get, path = "/admin/api/v1/accounts/{id}/sessions", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = Vec<SessionView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn sessions_list(State(app): State<AppState>, auth: AdminBearer, Path(id): Path<String>) -> ApiResult {
    let ctx = auth.ctx(&app);
    let account = load_account(&ctx, &id).await?;
    let list: Vec<SessionView> = accounts::sessions(&ctx, &account).await?.into_iter().map(Into::into).collect();
    Ok(no_store_json(&list))
}

#[utoipa::path(delete, path = "/admin/api/v1/accounts/{id}/sessions", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = EndedSessions), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn sessions_end_all(State(app): State<AppState>, auth: AdminBearer, Path(id): Path<String>) -> ApiResult {
    let ctx = auth.ctx(&app);
    let account = load_account(&ctx, &id).await?;
    let ended = accounts::end_all_sessions(&ctx, &account).await?;
    Ok(no_store_json(&EndedSessions { ended }))
}

#[utoipa::path(delete, path = "/admin/api/v1/accounts/{id}/sessions/{session_id}", tag = "sessions",
    params(("id" = String, Path), ("session_id" = String, Path)),
    responses((status = 204, description = "Ended"), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn session_end(
    State(app): State<AppState>,
    auth: AdminBearer,
    Path((id, session_id)): Path<(String, String)>,
) -> ApiResult {
    let ctx = auth.ctx(&app);
    let account = load_account(&ctx, &id).await?;
    let session = session_id
        .parse::<uuid::Uuid>()
        .map(SessionId)
        .map_err(|_| AdminApiError::from(ServiceError::not_found("session", "no such session")))?;
    accounts::end_session(&ctx, &account, session).await?;
    Ok(no_content())
}

#[utoipa::path(get, path = "/admin/api/v1/roles", tag = "roles",
    responses((status = 200, body = Vec<RoleView>)), security(("bearer" = [])))]
pub async fn roles_list(State(app): State<AppState>, auth: AdminBearer) -> ApiResult {
    let ctx = auth.ctx(&app);
    let list: Vec<RoleView> = roles::list(&ctx).await?.into_iter().map(Into::into).collect();
    Ok(no_store_json(&list))
}

#[utoipa::path(post, path = "/admin/api/v1/roles", tag = "roles", request_body = CreateRole,
    responses((status = 201, body = RoleView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn roles_create(
    State(app): State<AppState>,
    auth: AdminBearer,
    ApiJson(body): ApiJson<CreateRole>,
) -> ApiResult {
    let ctx = auth.ctx(&app);
    let role = roles::create(&ctx, &body.name, body.description.as_deref()).await?;
    Ok(created(&RoleView::from(role)))
}

#[utoipa::path(delete, path = "/admin/api/v1/roles/{name}", tag = "roles", params(("name" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "A built-in role")), security(("bearer" = [])))]
pub async fn role_delete(State(app): State<AppState>, auth: AdminBearer, Path(name): Path<String>) -> ApiResult {
    let ctx = auth.ctx(&app);
    roles::delete(&ctx, &name).await?;
    Ok(no_content())
}

#[utoipa::path(get, path = "/admin/api/v1/clients", tag = "clients",
    responses((status = 200, body = Vec<ClientView>)), security(("bearer" = [])))]
pub async fn clients_list(State(app): State<AppState>, auth: AdminBearer) -> ApiResult {
    let ctx = auth.ctx(&app);
    let list: Vec<ClientView> = clients::list(&ctx).await?.into_iter().map(Into::into).collect();
    Ok(no_store_json(&list))
}

#[utoipa::path(post, path = "/admin/api/v1/clients", tag = "clients", request_body = ClientWrite,
    responses((status = 201, body = ClientCreated), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn clients_create(
    State(app): State<AppState>,
    auth: AdminBearer,
    ApiJson(body): ApiJson<ClientWrite>,
) -> ApiResult {
    let ctx = auth.ctx(&app);
    let id = body.client_id.clone().unwrap_or_default();
    let public = body.public;
    let reg = clients::create(&ctx, &id, public, body.input(), None).await?;
    let secret = reg.secret.as_ref().map(|s| s.expose().to_owned());
    Ok(created(&ClientCreated { client: reg.client.into(), client_secret: secret }))
}

#[utoipa::path(get, path = "/admin/api/v1/clients/{id}", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = ClientView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn client_get(State(app): State<AppState>, auth: AdminBearer, Path(id): Path<String>) -> ApiResult {
    let ctx = auth.ctx(&app);
    Ok(no_store_json(&ClientView::from(clients::find(&ctx, &id).await?)))
}

#[utoipa::path(put, path = "/admin/api/v1/clients/{id}", tag = "clients", params(("id" = String, Path)),
    request_body = ClientWrite,
    responses((status = 200, body = ClientView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn client_update(
    State(app): State<AppState>,
    auth: AdminBearer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ClientWrite>,
) -> ApiResult {
    let ctx = auth.ctx(&app);
    Ok(no_store_json(&ClientView::from(clients::update(&ctx, &id, body.input()).await?)))
}

#[utoipa::path(delete, path = "/admin/api/v1/clients/{id}", tag = "clients", params(("id" = String, Path)),
    responses((status = 204, description = "Deleted with its codes, tokens and consents"),
        (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn client_delete(State(app): State<AppState>, auth: AdminBearer, Path(id): Path<String>) -> ApiResult {
    let ctx = auth.ctx(&app);
    clients::delete(&ctx, &id).await?;
    Ok(no_content())
}

#[utoipa::path(post, path = "/admin/api/v1/clients/{id}/secret", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = ClientSecret, description = "A new secret; the old one stops working"),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "A public client")),
    security(("bearer" = [])))]
pub async fn client_rotate_secret(State(app): State<AppState>, auth: AdminBearer, Path(id): Path<String>) -> ApiResult {
    let ctx = auth.ctx(&app);
    let (client, secret) = clients::rotate_secret(&ctx, &id).await?;
    Ok(no_store_json(&ClientSecret { client_id: client.id.0, client_secret: secret.expose().to_owned() }))
}

fn rotation_interval(app: &AppState) -> chrono::Duration {
    chrono::Duration::from_std(app.config.keys.rotation_interval).unwrap_or(chrono::Duration::days(90))
}

#[utoipa::path(get, path = "/admin/api/v1/keys", tag = "keys",
    responses((status = 200, body = KeyList)), security(("bearer" = [])))]
pub async fn keys_list(State(app): State<AppState>, auth: AdminBearer) -> ApiResult {
    let ctx = auth.ctx(&app);
    let list = keys::list(&ctx).await?;
    let next_rotation = keys::next_rotation(&list, rotation_interval(&app));
    Ok(no_store_json(&KeyList { keys: list.into_iter().map(Into::into).collect(), next_rotation }))
}

#[utoipa::path(post, path = "/admin/api/v1/keys/rotate", tag = "keys",
    responses((status = 200, body = RotateResult)), security(("bearer" = [])))]
pub async fn keys_rotate(State(app): State<AppState>, auth: AdminBearer) -> ApiResult {
    let ctx = auth.ctx(&app);
    let activated = keys::rotate(&ctx, &app.keys, rotation_interval(&app)).await?;
    Ok(no_store_json(&RotateResult { activated }))
}

#[utoipa::path(get, path = "/admin/api/v1/audit-events", tag = "audit", params(AuditListQuery),
    responses((status = 200, body = AuditPage), (status = 400, body = ErrorBody)), security(("bearer" = [])))]
pub async fn audit_list(
    State(app): State<AppState>,
    auth: AdminBearer,
    ApiQuery(q): ApiQuery<AuditListQuery>,
) -> ApiResult {
    let ctx = auth.ctx(&app);
    let account_id = match q.account_id.as_deref() {
        None => None,
        Some(raw) => Some(raw.parse::<uuid::Uuid>().map(AccountId).map_err(|_| {
            AdminApiError::from(ServiceError::invalid("account_id", "account_id must be an account's id (a UUID)"))
        })?),
    };
    let filter = AuditFilter {
        account_id,
        client_id: q.client_id.map(ClientId),
        event_type: q.event_type,
        from: q.from,
        to: q.to,
        limit: q.limit,
        offset: q.offset,
    };
    let page = audit::list(&ctx, filter).await?;
    Ok(no_store_json(&AuditPage {
        items: page.items.into_iter().map(Into::into).collect(),
        total: page.total,
        limit: page.limit,
        offset: page.offset,
    }))
}

// ------------------------------------------------------------------------------------------------
// The document
// ------------------------------------------------------------------------------------------------

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".into());
        http.description = Some(
            "An access token issued by this Latchkey server with the `latchkey:admin` scope: client_credentials \
             for a client allowed that scope, or an administrator's own token."
                .into(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Latchkey admin API", version = "1",
        description = "Administer accounts, roles, clients, signing keys and read the audit log."),
    paths(openapi_get, accounts_list, accounts_create, account_get, account_update, account_delete, account_disable,
        account_enable, account_password, account_require_change, account_roles, sessions_list, sessions_end_all,
        session_end, roles_list, roles_create, role_delete, clients_list, clients_create, client_get, client_update,
        client_delete, client_rotate_secret, keys_list, keys_rotate, audit_list),
    components(schemas(ErrorBody)),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;
