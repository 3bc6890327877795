//! Layers every response passes through: request ids, tracing, security headers, the panic
//! catcher and the error-page renderer.

use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use futures_util::FutureExt as _;
use tower_http::request_id::{MakeRequestId, RequestId};

use super::error::{ApiError, ErrorPage};
use crate::state::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id as text, for logs and error pages.
pub fn request_id_of(request: &Request) -> String {
    request_id_text(request.extensions().get::<RequestId>())
}

fn request_id_text(id: Option<&RequestId>) -> String {
    id.and_then(|id| id.header_value().to_str().ok()).unwrap_or("-").to_owned()
}

/// Request ids shaped as UUIDs: a random 64-bit prefix drawn once per process, then a counter.
/// Unique across nodes (the prefix) and within a process (the counter), without the random draw
/// (a `getrandom` system call) per request that tower-http's `MakeRequestUuid` makes.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeRequestIdSeq;

impl MakeRequestId for MakeRequestIdSeq {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        static PREFIX: OnceLock<u64> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let prefix = *PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid::Uuid::from_u64_pair(prefix, n).hyphenated().encode_lower(&mut buf);
        HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

/// The policy every response gets unless a page sets its own: no scripts at all, forms post only here.
pub const DEFAULT_CSP: &str = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// [`DEFAULT_CSP`] with other `form-action` sources. Browsers apply `form-action` to the whole
/// redirect chain of a form submission (CSP Level 3 §6.4.1), so a page whose form ends in a
/// redirect to a client (sign-in and consent during an authorization request, the end-session
/// confirmation) must name that client's origin, or the browser stops at our redirect.
pub fn csp_with_form_action(sources: &[String]) -> String {
    let mut list = vec!["'self'"];
    list.extend(sources.iter().map(String::as_str));
    format!(
        "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action {}; frame-ancestors 'none'",
        list.join(" ")
    )
}

/// Headers on every response. Pages that run a script set their own, stricter CSP with a nonce;
/// this default allows no scripts at all. Constants, so nothing is parsed or allocated per response.
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 7] = [
    (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DEFAULT_CSP)),
    (HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin")),
    (HeaderName::from_static("cross-origin-resource-policy"), HeaderValue::from_static("same-origin")),
    (
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    ),
];

fn set_security_headers(app: &AppState, headers: &mut axum::http::HeaderMap) {
    headers.reserve(SECURITY_HEADERS.len() + 1);
    for (name, value) in SECURITY_HEADERS {
        headers.entry(name).or_insert(value);
    }
    if app.config.issuer.scheme() == "https" {
        // Two years, the HSTS preload list's minimum; only when we are really served over https.
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
}

/// The one middleware every response passes (one layer rather than three: each `from_fn` layer
/// costs a clone of the service below it and a boxed future per request). From the inside out:
/// - a panic in a handler becomes a logged 500 with the request id, never a dropped connection;
/// - an error response without a body of its own gets the error page ([`error_page`]);
/// - every response gets the security headers, error pages included.
pub async fn responses(State(app): State<AppState>, request: Request, next: Next) -> Response {
    // A reference-counted header value; made into text only when an error needs it.
    let request_id = request.extensions().get::<RequestId>().cloned();
    let api = is_api_path(request.uri().path());
    let response = match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => panic_response(panic.as_ref(), &request_id_text(request_id.as_ref())),
    };
    let mut response = error_page(&app, api, request_id.as_ref(), response);
    set_security_headers(&app, response.headers_mut());
    response
}

fn panic_response(panic: &(dyn std::any::Any + Send), request_id: &str) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into());
    tracing::error!(request_id, panic = %detail, "handler panicked");
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response.extensions_mut().insert(ErrorPage {
        title: "Something went wrong",
        message: "An unexpected error occurred. If it persists, give the request id below to your administrator."
            .into(),
    });
    response
}

/// Paths whose clients are programs: their errors are JSON, never an HTML page.
fn is_api_path(path: &str) -> bool {
    const API: &[&str] = &["/token", "/introspect", "/revoke", "/userinfo", "/jwks", "/.well-known/", "/admin/api/"];
    API.iter().any(|p| path.starts_with(p))
}

/// Renders the error page for any error response without a body of its own: those carrying an
/// [`ErrorPage`] from a handler, and the bare statuses tower layers produce (404, 408, 413, ...).
fn error_page(app: &AppState, api: bool, request_id: Option<&RequestId>, response: Response) -> Response {
    let status = response.status();
    let page = response.extensions().get::<ErrorPage>().cloned();
    // A plain-text error body is a framework's or a layer's rejection (tower-http's 413 "length limit
    // exceeded", axum's extractor messages), never one of ours: it gets the page too.
    let own_body =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|ct| !ct.as_bytes().starts_with(b"text/plain"));
    if page.is_none() && (!status.is_client_error() && !status.is_server_error() || own_body) {
        return response;
    }
    let page = page.unwrap_or_else(|| default_page(status));
    let (mut parts, _) = response.into_parts();
    parts.extensions.remove::<ErrorPage>();
    if api {
        let code = match status {
            StatusCode::SERVICE_UNAVAILABLE => "temporarily_unavailable",
            s if s.is_server_error() => "server_error",
            _ => "invalid_request",
        };
        let mut json = ApiError::new(status, code, page.message).into_response();
        for (name, value) in &parts.headers {
            json.headers_mut().entry(name.clone()).or_insert(value.clone());
        }
        return json;
    }
    let html = app.templates.render_error(status, page.title, &page.message, &request_id_text(request_id));
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    parts.headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(Html(html).0))
}

fn default_page(status: StatusCode) -> ErrorPage {
    let (title, message) = match status {
        StatusCode::NOT_FOUND => ("Page not found", "There is nothing at this address."),
        StatusCode::METHOD_NOT_ALLOWED => ("Not allowed", "This address does not accept that kind of request."),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("Request too large", "The submitted data is larger than this server accepts.")
        }
        StatusCode::REQUEST_TIMEOUT => ("Request timed out", "The request took too long. Please try again."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("Unsupported request", "The submitted data is not in a format this page accepts.")
        }
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => {
            ("Bad request", "The submitted data could not be understood. Please go back and try again.")
        }
        s if s.is_server_error() => (
            "Something went wrong",
            "An unexpected error occurred. If it persists, give the request id below to your administrator.",
        ),
        _ => ("Request not accepted", "The request could not be completed."),
    };
    ErrorPage { title, message: message.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_action_sources_extend_the_default_policy() {
        assert_eq!(csp_with_form_action(&[]), DEFAULT_CSP);
        let csp = csp_with_form_action(&["http://127.0.0.1:8081".into()]);
        assert!(csp.contains("form-action 'self' http://127.0.0.1:8081;"), "{csp}");
    }

    #[test]
    fn api_paths_get_json_errors() {
        for p in ["/token", "/introspect", "/userinfo", "/.well-known/openid-configuration", "/admin/api/v1/accounts"] {
            assert!(is_api_path(p), "{p}");
        }
        for p in ["/login", "/account", "/admin", "/healthz", "/"] {
            assert!(!is_api_path(p), "{p}");
        }
    }
}
