//! Console pages for OAuth clients: list, register (the secret is shown once, on the page that
//! answers the form, never stored or logged), edit, rotate the secret, delete.

use axum::extract::Path;
use axum::response::Response;
use latchkey_core::model::{Client, GrantType};
use serde::Serialize;
use tera::Context;

use super::console_accounts::page_error;
use super::{Confirm, Console, Fields, paths, when};
use crate::http::error::PageError;
use crate::http::extract::{CsrfForm, CsrfToken};
use crate::service::clients::{self, ClientInput};
use crate::service::{Ctx, ServiceError};

#[derive(Debug, Serialize, Default)]
struct FormView {
    client_id: String,
    name: String,
    public: bool,
    first_party: bool,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    scopes: String,
    grants: Vec<String>,
    auth_method: String,
    access_token_lifetime: String,
    refresh_token_lifetime: String,
    id_token_lifetime: String,
    id_token_alg: String,
    allow_insecure_http: bool,
}

impl FormView {
    fn of(c: &Client) -> Self {
        let opt = |v: Option<i64>| v.map(|s| s.to_string()).unwrap_or_default();
        Self {
            client_id: c.id.0.clone(),
            name: c.name.clone(),
            public: c.public,
            first_party: c.first_party,
            redirect_uris: c.redirect_uris.join("\n"),
            post_logout_redirect_uris: c.post_logout_redirect_uris.join("\n"),
            scopes: c.scopes.join(" "),
            grants: c.grant_types.iter().map(|g| g.as_str().to_owned()).collect(),
            auth_method: c.token_endpoint_auth_method.as_str().to_owned(),
            access_token_lifetime: opt(c.access_token_lifetime),
            refresh_token_lifetime: opt(c.refresh_token_lifetime),
            id_token_lifetime: opt(c.id_token_lifetime),
            id_token_alg: c.id_token_signed_response_alg.clone(),
            allow_insecure_http: false,
        }
    }

    fn from_fields(f: &Fields) -> Self {
        Self {
            client_id: f.get("client_id").trim().to_owned(),
            name: f.get("name").to_owned(),
            public: f.get("client_type") == "public",
            first_party: f.checked("first_party"),
            redirect_uris: f.get("redirect_uris").to_owned(),
            post_logout_redirect_uris: f.get("post_logout_redirect_uris").to_owned(),
            scopes: f.get("scopes").to_owned(),
            grants: f.all("grants"),
            auth_method: f.get("auth_method").to_owned(),
            access_token_lifetime: f.get("access_token_lifetime").to_owned(),
            refresh_token_lifetime: f.get("refresh_token_lifetime").to_owned(),
            id_token_lifetime: f.get("id_token_lifetime").to_owned(),
            id_token_alg: f.get("id_token_alg").to_owned(),
            allow_insecure_http: f.checked("allow_insecure_http"),
        }
    }
}

fn seconds(field: &'static str, raw: &str) -> Result<Option<i64>, ServiceError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>().map(Some).map_err(|_| ServiceError::invalid(field, "must be a whole number of seconds"))
}

/// The service input from the form's fields.
fn input(f: &Fields) -> Result<ClientInput, ServiceError> {
    Ok(ClientInput {
        name: f.opt("name"),
        redirect_uris: f.lines("redirect_uris"),
        post_logout_redirect_uris: f.lines("post_logout_redirect_uris"),
        scopes: f.get("scopes").split_whitespace().map(str::to_owned).collect(),
        grants: f.all("grants"),
        first_party: f.checked("first_party"),
        auth_method: f.opt("auth_method"),
        access_token_lifetime: seconds("access_token_lifetime", f.get("access_token_lifetime"))?,
        refresh_token_lifetime: seconds("refresh_token_lifetime", f.get("refresh_token_lifetime"))?,
        id_token_lifetime: seconds("id_token_lifetime", f.get("id_token_lifetime"))?,
        id_token_alg: f.opt("id_token_alg"),
        allow_insecure_http: f.checked("allow_insecure_http"),
    })
}

fn client_path(id: &str) -> String {
    let encoded: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("{}/{encoded}", paths::CLIENTS)
}

async fn load(ctx: &Ctx<'_>, id: &str) -> Result<Client, PageError> {
    clients::find(ctx, id).await.map_err(page_error)
}

#[derive(Debug, Serialize)]
struct Row {
    id: String,
    path: String,
    name: String,
    public: bool,
    first_party: bool,
    from_config: bool,
    redirect_uris: Vec<String>,
    grants: Vec<&'static str>,
    created: String,
}

pub async fn clients_get(console: Console, csrf: CsrfToken) -> Result<Response, PageError> {
    let rows: Vec<Row> = clients::list(&console.svc())
        .await
        .map_err(page_error)?
        .into_iter()
        .map(|c| Row {
            path: client_path(&c.id.0),
            id: c.id.0,
            name: c.name,
            public: c.public,
            first_party: c.first_party,
            from_config: c.from_config,
            redirect_uris: c.redirect_uris,
            grants: c.grant_types.iter().map(|g| g.as_str()).collect(),
            created: when(c.created_at),
        })
        .collect();
    let mut ctx = Context::new();
    ctx.insert("clients", &rows);
    console.page(&csrf, "clients", "idp/admin/clients.html", ctx)
}

fn form_page(
    console: &Console,
    csrf: &CsrfToken,
    form: &FormView,
    editing: bool,
    error: Option<&ServiceError>,
) -> Result<Response, PageError> {
    let mut ctx = Context::new();
    ctx.insert("form", form);
    ctx.insert("editing", &editing);
    ctx.insert("all_grants", &GrantType::ALL.map(GrantType::as_str));
    ctx.insert("algs", &["RS256", "ES256", "EdDSA"]);
    ctx.insert("action", &if editing { client_path(&form.client_id) } else { paths::CLIENTS.to_owned() });
    let mut errors = std::collections::BTreeMap::new();
    if let Some(err) = error {
        errors.insert(err.field().unwrap_or("form"), super::sentence(err));
        let what = if editing { "saved" } else { "registered" };
        ctx.insert("flash", &super::flash::AdminFlash::error(format!("The client was not {what}: see below.")));
    }
    ctx.insert("errors", &errors);
    console.page(csrf, "clients", "idp/admin/client_form.html", ctx)
}

pub async fn client_new_get(console: Console, csrf: CsrfToken) -> Result<Response, PageError> {
    let form = FormView {
        scopes: clients::DEFAULT_CLIENT_SCOPES.join(" "),
        grants: vec!["authorization_code".into(), "refresh_token".into()],
        id_token_alg: "RS256".into(),
        ..FormView::default()
    };
    form_page(&console, &csrf, &form, false, None)
}

fn secret_page(
    console: &Console,
    csrf: &CsrfToken,
    client: &Client,
    secret: Option<&str>,
    message: &str,
) -> Result<Response, PageError> {
    let mut ctx = Context::new();
    ctx.insert("client_id", &client.id.0);
    ctx.insert("client_path", &client_path(&client.id.0));
    ctx.insert("secret", &secret);
    ctx.insert("flash", &super::flash::AdminFlash::success(message));
    console.page(csrf, "clients", "idp/admin/client_secret.html", ctx)
}

pub async fn clients_post(
    console: Console,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(form);
    let view = FormView::from_fields(&fields);
    let created = match input(&fields) {
        Ok(i) => clients::create(&console.svc(), &view.client_id, view.public, i, None).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(reg) => {
            let secret = reg.secret.as_ref().map(|s| s.expose().to_owned());
            let msg = format!("Client {} registered.", reg.client.id);
            secret_page(&console, &csrf, &reg.client, secret.as_deref(), &msg)
        }
        Err(err @ (ServiceError::Invalid { .. } | ServiceError::Conflict { .. })) => {
            form_page(&console, &csrf, &view, false, Some(&err))
        }
        Err(err) => Err(page_error(err)),
    }
}

pub async fn client_get(console: Console, csrf: CsrfToken, Path(id): Path<String>) -> Result<Response, PageError> {
    let client = load(&console.svc(), &id).await?;
    let mut form = FormView::of(&client);
    // Keep an earlier exception for http URIs visible, or saving the form would refuse them.
    form.allow_insecure_http = client
        .redirect_uris
        .iter()
        .chain(&client.post_logout_redirect_uris)
        .any(|u| latchkey_core::client::validate_redirect_uri(u, false).is_err());
    form_page(&console, &csrf, &form, true, None)
}

pub async fn client_post(
    console: Console,
    csrf: CsrfToken,
    Path(id): Path<String>,
    CsrfForm(form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(form);
    let svc = console.svc();
    let current = load(&svc, &id).await?;
    let mut view = FormView::from_fields(&fields);
    view.client_id = current.id.0.clone();
    view.public = current.public;
    let updated = match input(&fields) {
        Ok(i) => clients::update(&svc, &id, i).await,
        Err(e) => Err(e),
    };
    match updated {
        Ok(c) => Ok(console.done(&client_path(&c.id.0), format!("Client {} saved.", c.id))),
        Err(err @ (ServiceError::Invalid { .. } | ServiceError::Conflict { .. })) => {
            form_page(&console, &csrf, &view, true, Some(&err))
        }
        Err(err) => Err(page_error(err)),
    }
}

pub async fn secret_get(console: Console, csrf: CsrfToken, Path(id): Path<String>) -> Result<Response, PageError> {
    let client = load(&console.svc(), &id).await?;
    let path = client_path(&client.id.0);
    let what = Confirm::new(
        format!("New secret for {}", client.id),
        format!(
            "Generate a new secret for {}? The current secret stops working at once: the application must be \
             given the new one.",
            client.id
        ),
        format!("{path}/secret"),
        "Generate a new secret",
        path,
    );
    console.confirm(&csrf, "clients", &what)
}

pub async fn secret_post(
    console: Console,
    csrf: CsrfToken,
    Path(id): Path<String>,
    CsrfForm(_form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let svc = console.svc();
    let client = load(&svc, &id).await?;
    match clients::rotate_secret(&svc, &id).await {
        Ok((client, secret)) => {
            let msg = format!("A new secret for {} has been generated.", client.id);
            secret_page(&console, &csrf, &client, Some(secret.expose()), &msg)
        }
        Err(err) => console.failed(&client_path(&client.id.0), err),
    }
}

pub async fn delete_get(console: Console, csrf: CsrfToken, Path(id): Path<String>) -> Result<Response, PageError> {
    let client = load(&console.svc(), &id).await?;
    let path = client_path(&client.id.0);
    let mut message = format!(
        "Delete the client {} ({})? Its authorization codes, tokens and consents are deleted with it, and its \
         users are signed out of it. This cannot be undone.",
        client.id, client.name
    );
    if client.from_config {
        message.push_str(" It is declared in the configuration file and will be registered again at the next start.");
    }
    let what =
        Confirm::new(format!("Delete {}", client.id), message, format!("{path}/delete"), "Delete the client", path);
    console.confirm(&csrf, "clients", &what)
}

pub async fn delete_post(
    console: Console,
    Path(id): Path<String>,
    CsrfForm(_form): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    match clients::delete(&console.svc(), &id).await {
        Ok(c) => Ok(console.done(paths::CLIENTS, format!("The client {} has been deleted.", c.id))),
        Err(err @ ServiceError::NotFound { .. }) => Err(page_error(err)),
        Err(err) => console.failed(&client_path(&id), err),
    }
}
