//! Rendering the account pages: HTML that is never cached and whose forms post with a real `Origin`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tera::Context;

use crate::http::error::PageError;
use crate::http::layers::csp_with_form_action;
use crate::state::AppState;

/// Renders `template` with `status`. Every such page shows a form or account data, so:
/// - `Cache-Control: no-store`: no shared or browser cache keeps a copy, and the back button after
///   signing out does not show the account again from cache (OWASP Session Management Cheat Sheet, "Web
///   Content Caching");
/// - `Referrer-Policy: same-origin` instead of the default `no-referrer`: with `no-referrer` browsers
///   send `Origin: null` on the page's own form posts (Fetch §3.1 "append a request Origin header"),
///   which would blind the cross-site check; `same-origin` still sends nothing to other sites.
pub fn render(app: &AppState, status: StatusCode, template: &str, context: &Context) -> Result<Response, PageError> {
    let html =
        app.templates.render(template, context).map_err(|err| PageError::internal(format!("{template}: {err:?}")))?;
    let mut response = (status, axum::response::Html(html)).into_response();
    no_store(&mut response);
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    Ok(response)
}

/// Marks a response (a page, or a redirect that sets a session cookie) as never to be cached.
pub fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Lets this page's forms end in a redirect to `targets` (absolute URIs: a client's registered
/// redirect or post-logout URIs) by naming their origins in `form-action`; see
/// [`csp_with_form_action`]. A private-use scheme (`com.example.app:/cb`) has no origin and is
/// named by its scheme.
pub fn allow_form_redirects(response: &mut Response, targets: &[String]) {
    let mut sources: Vec<String> = Vec::new();
    for target in targets {
        let Ok(url) = url::Url::parse(target) else { continue };
        let origin = url.origin();
        let source = if origin.is_tuple() { origin.ascii_serialization() } else { format!("{}:", url.scheme()) };
        // Only characters a CSP source expression can carry; anything else is left out.
        if source.bytes().all(|b| b.is_ascii_alphanumeric() || b":/.-+[]".contains(&b)) && !sources.contains(&source) {
            sources.push(source);
        }
    }
    if sources.is_empty() {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(&csp_with_form_action(&sources)) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The registered redirect URIs a sign-in or sign-up form may end at when `return_to` resumes an
/// authorization request (`/authorize?client_id=...`): the request's `redirect_uri` if it is
/// registered for the client, else all of the client's URIs. Nothing for any other `return_to`.
pub async fn authorize_redirect_targets(app: &AppState, return_to: &str) -> Vec<String> {
    use latchkey_core::store::ClientStore as _;
    let Some(query) = return_to.strip_prefix(crate::http::paths::AUTHORIZE).and_then(|r| r.strip_prefix('?')) else {
        return Vec::new();
    };
    let mut client_id = None;
    let mut redirect_uri = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "client_id" => client_id = Some(v.into_owned()),
            "redirect_uri" => redirect_uri = Some(v.into_owned()),
            _ => {}
        }
    }
    let Some(client_id) = client_id else { return Vec::new() };
    let Ok(Some(client)) = app.store.find_client(&latchkey_core::model::ClientId(client_id)).await else {
        return Vec::new();
    };
    match redirect_uri {
        Some(uri) if client.redirect_uris.contains(&uri) => vec![uri],
        Some(_) => Vec::new(),
        None => client.redirect_uris,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_redirect_origins() {
        let mut response = Response::new(axum::body::Body::empty());
        allow_form_redirects(
            &mut response,
            &[
                "http://127.0.0.1:8081/callback".into(),
                "http://127.0.0.1:8081/other".into(),
                "com.example.app:/cb".into(),
                "not a url".into(),
            ],
        );
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        assert!(csp.contains("form-action 'self' http://127.0.0.1:8081 com.example.app:;"), "{csp}");
        let mut untouched = Response::new(axum::body::Body::empty());
        allow_form_redirects(&mut untouched, &["not a url".into()]);
        assert!(untouched.headers().get(header::CONTENT_SECURITY_POLICY).is_none());
    }
}
