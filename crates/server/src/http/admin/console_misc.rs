//! Console pages: the overview, roles, signing keys and the audit log.

use axum::extract::Path;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use latchkey_core::model::{AccountId, ClientId, KeyState};
use serde::{Deserialize, Serialize};
use tera::Context;

use super::console_accounts::page_error;
use super::{Confirm, Console, Fields, Pager, page_offset, paths, when};
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CsrfToken, PageQuery};
use crate::service::audit::{self, AuditFilter};
use crate::service::{keys, roles};
use crate::state::AppState;

#[derive(Debug, Serialize)]
struct KeyRow {
    kid: String,
    algorithm: String,
    state: &'static str,
    created: String,
    activated: String,
    retired: String,
}

fn key_rows(list: &[latchkey_core::model::SigningKey]) -> Vec<KeyRow> {
    let opt = |t: Option<DateTime<Utc>>| t.map(when).unwrap_or_else(|| "–".into());
    list.iter()
        .map(|k| KeyRow {
            kid: k.kid.clone(),
            algorithm: k.algorithm.clone(),
            state: k.state.as_str(),
            created: when(k.created_at),
            activated: opt(k.activated_at),
            retired: opt(k.retired_at),
        })
        .collect()
}

fn rotation_interval(app: &AppState) -> chrono::Duration {
    chrono::Duration::from_std(app.config.keys.rotation_interval).unwrap_or(chrono::Duration::days(90))
}

pub async fn overview_get(console: Console, csrf: CsrfToken) -> Result<Response, PageError> {
    use latchkey_core::store::{AccountStore as _, SessionStore as _};
    let (app, svc) = (&console.app, console.svc());
    let now = app.clock.now();
    let accounts = app.store.count_accounts(None).await?;
    let clients = crate::service::clients::list(&svc).await.map_err(page_error)?.len();
    let sessions = app.store.count_active_sessions(now).await?;
    let (sign_ins, failures) = audit::sign_ins_last_day(&svc).await.map_err(page_error)?;
    let all_keys = keys::list(&svc).await.map_err(page_error)?;
    let active: Vec<_> = all_keys.iter().filter(|k| k.state == KeyState::Active).cloned().collect();
    let next = keys::next_rotation(&all_keys, rotation_interval(app));
    let mut ctx = Context::new();
    ctx.insert("accounts", &accounts);
    ctx.insert("clients", &clients);
    ctx.insert("sessions", &sessions);
    ctx.insert("sign_ins", &sign_ins);
    ctx.insert("failures", &failures);
    ctx.insert("active_keys", &key_rows(&active));
    ctx.insert("next_rotation", &next.map(when));
    console.page(&csrf, "overview", "idp/admin/overview.html", ctx)
}

pub async fn roles_get(console: Console, csrf: CsrfToken) -> Result<Response, PageError> {
    #[derive(Serialize)]
    struct Row {
        name: String,
        description: String,
        builtin: bool,
    }
    let rows: Vec<Row> = roles::list(&console.svc())
        .await
        .map_err(page_error)?
        .into_iter()
        .map(|r| Row { name: r.name, description: r.description.unwrap_or_default(), builtin: r.builtin })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("roles", &rows);
    console.page(&csrf, "roles", "idp/admin/roles.html", ctx)
}

pub async fn roles_post(
    console: Console,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(form);
    let result = roles::create(&console.svc(), fields.get("name"), fields.opt("description").as_deref()).await;
    console.outcome(paths::ROLES, result, |role| format!("Role {} created.", role.name))
}

pub async fn role_delete_get(
    console: Console,
    csrf: CsrfToken,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let role = roles::find(&console.svc(), &name).await.map_err(page_error)?;
    let encoded: String = url::form_urlencoded::byte_serialize(role.name.as_bytes()).collect();
    let what = Confirm::new(
        format!("Delete the role {}", role.name),
        format!(
            "Delete the role {}? Every account loses it, and relying parties stop seeing it in the roles claim.",
            role.name
        ),
        format!("{}/{encoded}/delete", paths::ROLES),
        "Delete the role",
        paths::ROLES.to_owned(),
    );
    console.confirm(&csrf, "roles", &what)
}

pub async fn role_delete_post(
    console: Console,
    Path(name): Path<String>,
    CsrfForm(_form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let result = roles::delete(&console.svc(), &name).await;
    console.outcome(paths::ROLES, result, |()| format!("The role {name} has been deleted."))
}

pub async fn keys_get(console: Console, csrf: CsrfToken) -> Result<Response, PageError> {
    let all = keys::list(&console.svc()).await.map_err(page_error)?;
    let mut ctx = Context::new();
    ctx.insert("keys", &key_rows(&all));
    ctx.insert("next_rotation", &keys::next_rotation(&all, rotation_interval(&console.app)).map(when));
    console.page(&csrf, "keys", "idp/admin/keys.html", ctx)
}

pub async fn rotate_get(console: Console, csrf: CsrfToken) -> Result<Response, PageError> {
    let what = Confirm::new(
        "Rotate the signing keys".into(),
        "Rotate now? For each algorithm the published next key starts signing, the current key is retired (it \
         stays in JWKS so tokens it signed still verify) and a new next key is published."
            .into(),
        paths::KEYS_ROTATE.into(),
        "Rotate now",
        paths::KEYS.into(),
    );
    console.confirm(&csrf, "keys", &what)
}

pub async fn rotate_post(
    console: Console,
    CsrfForm(_form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let app = &console.app;
    let result = keys::rotate(&console.svc(), &app.keys, rotation_interval(app)).await;
    console.outcome(paths::KEYS, result, |kids| format!("Keys rotated: {} key(s) activated.", kids.len()))
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct AuditPageQuery {
    pub account: Option<String>,
    pub client: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub page: Option<u64>,
}

/// `2026-11-27`, `2026-11-27T10:00` or RFC 3339; a date alone is midnight UTC.
pub fn parse_time(raw: Option<&str>) -> Result<Option<DateTime<Utc>>, String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(None) };
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M") {
        return Ok(Some(t.and_utc()));
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()));
    }
    Err(format!("{raw:?} is not a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM, UTC)"))
}

const AUDIT_PER_PAGE: u64 = 50;

pub async fn audit_get(
    console: Console,
    csrf: CsrfToken,
    PageQuery(query): PageQuery<AuditPageQuery>,
) -> Result<Response, PageError> {
    use latchkey_core::store::AccountStore as _;
    let (app, svc) = (&console.app, console.svc());
    let (page_no, offset) = page_offset(query.page, AUDIT_PER_PAGE);
    let mut problem = None;
    // The account filter takes a username or an account id.
    let account_id = match query.account.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => None,
        Some(raw) => match raw.parse::<uuid::Uuid>() {
            Ok(id) => Some(AccountId(id)),
            Err(_) => {
                let name = latchkey_core::account::normalize_username(raw);
                match app.store.find_account_by_username(&name).await? {
                    Some(a) => Some(a.id),
                    None => {
                        problem = Some(format!("No account named {raw:?}."));
                        // Match nothing rather than everything.
                        Some(AccountId(uuid::Uuid::nil()))
                    }
                }
            }
        },
    };
    let from = parse_time(query.from.as_deref()).unwrap_or_else(|e| {
        problem = Some(e);
        None
    });
    let to = parse_time(query.to.as_deref()).unwrap_or_else(|e| {
        problem = Some(e);
        None
    });
    let filter = AuditFilter {
        account_id,
        client_id: query.client.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(|c| ClientId(c.to_owned())),
        event_type: query.event_type.clone(),
        from,
        to,
        limit: Some(AUDIT_PER_PAGE),
        offset: Some(offset),
    };
    let found = audit::list(&svc, filter).await.map_err(page_error)?;
    #[derive(Serialize)]
    struct Row {
        at: String,
        event_type: String,
        outcome: &'static str,
        account: Option<String>,
        actor: Option<String>,
        client: Option<String>,
        ip: Option<String>,
        detail: String,
    }
    let rows: Vec<Row> = found
        .items
        .into_iter()
        .map(|e| Row {
            at: e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            event_type: e.event_type,
            outcome: e.outcome.as_str(),
            account: e.account_id.map(|a| a.to_string()),
            actor: e.actor_id.map(|a| a.to_string()),
            client: e.client_id.map(|c| c.0),
            ip: e.ip,
            detail: e.detail.to_string(),
        })
        .collect();
    // The pager's links keep the filter.
    let mut keep = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("account", &query.account),
        ("client", &query.client),
        ("type", &query.event_type),
        ("from", &query.from),
        ("to", &query.to),
    ] {
        if let Some(v) = v.as_deref().filter(|v| !v.trim().is_empty()) {
            keep.append_pair(k, v);
        }
    }
    let mut ctx = Context::new();
    ctx.insert("events", &rows);
    ctx.insert("pager", &Pager::new(page_no, AUDIT_PER_PAGE, found.total, rows.len()));
    ctx.insert("query", &query);
    ctx.insert("keep", &keep.finish());
    ctx.insert("q", "");
    if let Some(problem) = problem {
        ctx.insert("flash", &super::flash::AdminFlash::error(problem));
    }
    console.page(&csrf, "audit", "idp/admin/audit.html", ctx)
}
