//! Rendering the account pages: HTML that is never cached and whose forms post with a real `Origin`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tera::Context;

use crate::http::error::PageError;
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
