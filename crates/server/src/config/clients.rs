//! `[[clients]]`: declarative client registrations, checked with the same rules as clients
//! registered at run time (latchkey-core's `client` module).

use std::collections::HashMap;

use latchkey_core::client::{validate_client_id, validate_redirect_uri, validate_scope_token};
use latchkey_core::model::GrantType;
use latchkey_core::secret::Secret;
use serde_json::Value;

use super::ClientConfig;
use super::walk::{Got, Table, Walker};

const DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
const DEFAULT_GRANTS: [GrantType; 2] = [GrantType::AuthorizationCode, GrantType::RefreshToken];
/// A confidential client's secret must carry at least as much entropy as a generated one could.
const MIN_CLIENT_SECRET_CHARS: usize = 32;

const CLIENT_KEYS: &[&str] = &[
    "id",
    "name",
    "secret",
    "redirect_uris",
    "post_logout_redirect_uris",
    "public",
    "first_party",
    "scopes",
    "grants",
    "allow_insecure_http",
];

pub(super) fn clients(w: &mut Walker<'_>, root: &Table<'_>) -> Got<Vec<ClientConfig>> {
    let items = w.table_array("clients", root.get("clients"))?;
    let mut clients = Vec::with_capacity(items.len());
    let mut result = Ok(());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        match client(w, &format!("clients[{i}]"), item) {
            Ok(client) => {
                if let Some(first) = seen.get(&client.id) {
                    let message = format!("duplicate client id {:?} (also clients[{first}])", client.id);
                    result = Err(w.error(&format!("clients[{i}].id"), message));
                } else {
                    seen.insert(client.id.clone(), i);
                }
                clients.push(client);
            }
            Err(e) => result = Err(e),
        }
    }
    result.map(|()| clients)
}

fn client(w: &mut Walker<'_>, path: &str, value: &Value) -> Got<ClientConfig> {
    let t = w.table(path, Some(value), CLIENT_KEYS)?;

    let id_path = t.path("id");
    let id = match w.string(&id_path, t.get("id"), false) {
        Ok(None) => Err(w.error(&id_path, "required")),
        Ok(Some(id)) => validate_client_id(&id).map(|()| id).map_err(|e| w.error(&id_path, e)),
        Err(e) => Err(e),
    };
    let name = w.string(&t.path("name"), t.get("name"), false);
    let secret_path = t.path("secret");
    let secret = w.string(&secret_path, t.get("secret"), true);
    let public = flag(w, &t, "public");
    let first_party = flag(w, &t, "first_party");
    let allow_insecure_http = flag(w, &t, "allow_insecure_http");

    // Without a readable allow_insecure_http, checking URIs would only add misleading messages.
    let redirect_uris = allow_insecure_http.and_then(|insecure| uri_list(w, &t, "redirect_uris", insecure));
    let post_logout = allow_insecure_http.and_then(|insecure| uri_list(w, &t, "post_logout_redirect_uris", insecure));

    let scopes_path = t.path("scopes");
    let scopes = match w.string_list(&scopes_path, t.get("scopes")) {
        Ok(None) => Ok(DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect()),
        Ok(Some(scopes)) => {
            let mut result = Ok(());
            for (i, scope) in scopes.iter().enumerate() {
                if let Err(e) = validate_scope_token(scope) {
                    result = Err(w.error(&format!("{scopes_path}[{i}]"), e));
                }
            }
            result.map(|()| dedup(scopes))
        }
        Err(e) => Err(e),
    };

    let grants_path = t.path("grants");
    let grants = match w.string_list(&grants_path, t.get("grants")) {
        Ok(None) => Ok(DEFAULT_GRANTS.to_vec()),
        Ok(Some(names)) if names.is_empty() => Err(w.error(&grants_path, "at least one grant type is required")),
        Ok(Some(names)) => {
            let mut grants = Vec::new();
            let mut result = Ok(());
            for (i, name) in names.iter().enumerate() {
                match GrantType::parse(name.trim()) {
                    Some(g) if !grants.contains(&g) => grants.push(g),
                    Some(_) => {}
                    None => {
                        let message = format!(
                            "unknown grant type {name:?}; \
                             expected authorization_code, refresh_token or client_credentials"
                        );
                        result = Err(w.error(&format!("{grants_path}[{i}]"), message));
                    }
                }
            }
            result.map(|()| grants)
        }
        Err(e) => Err(e),
    };

    // Redirect URIs are what the authorization endpoint needs; a client that only uses
    // client_credentials never goes through it.
    if let (Ok(uris), Ok(grants)) = (&redirect_uris, &grants)
        && uris.is_empty()
        && grants.contains(&GrantType::AuthorizationCode)
    {
        w.error(&t.path("redirect_uris"), "at least one redirect URI is required");
    }

    let secret = match (&public, secret) {
        (Ok(true), Ok(Some(_))) => Err(w.error(&secret_path, "a public client must not have a secret")),
        (Ok(false), Ok(None)) => {
            Err(w.error(&secret_path, "required for a confidential client (or set public = true)"))
        }
        (_, Ok(Some(s))) if s.chars().count() < MIN_CLIENT_SECRET_CHARS => {
            let len = s.chars().count();
            Err(w.error(&secret_path, format_args!("must be at least {MIN_CLIENT_SECRET_CHARS} characters, got {len}")))
        }
        (_, secret) => secret.map(|s| s.map(Secret::new)),
    };

    // RFC 6749 §4.4: the client credentials grant is for clients that can authenticate.
    if let (Ok(true), Ok(grants)) = (&public, &grants)
        && grants.contains(&GrantType::ClientCredentials)
    {
        w.error(&grants_path, "client_credentials is not allowed for a public client");
    }

    Ok(ClientConfig {
        id: id?,
        name: name?,
        secret: secret?,
        redirect_uris: redirect_uris?,
        post_logout_redirect_uris: post_logout?,
        public: public?,
        first_party: first_party?,
        scopes: scopes?,
        grants: grants?,
        allow_insecure_http: allow_insecure_http?,
    })
}

fn flag(w: &mut Walker<'_>, t: &Table<'_>, key: &str) -> Got<bool> {
    Ok(w.boolean(&t.path(key), t.get(key))?.unwrap_or(false))
}

/// Redirect URIs are kept exactly as written: the authorization endpoint compares them as strings.
fn uri_list(w: &mut Walker<'_>, t: &Table<'_>, key: &str, allow_insecure_http: bool) -> Got<Vec<String>> {
    let path = t.path(key);
    let uris = w.string_list(&path, t.get(key))?.unwrap_or_default();
    let mut result = Ok(());
    for (i, uri) in uris.iter().enumerate() {
        if let Err(e) = validate_redirect_uri(uri, allow_insecure_http) {
            result = Err(w.error(&format!("{path}[{i}]"), e));
        }
    }
    result.map(|()| dedup(uris))
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}
