//! Error responses, one wrapper per response channel (DESIGN.md, Errors).
//!
//! `PageError` is for the HTML pages: a handler returns it and the `error_pages` layer renders the
//! error page with the request id, so every page error (and every error a tower layer produces:
//! 404, 408, 413, a caught panic) looks the same and never shows internals. `ApiError` is the JSON
//! channel (RFC 6749 §5.2 shape) for protocol and API endpoints.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Marks a response whose body the `error_pages` layer must render as the HTML error page.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub title: &'static str,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("too many requests")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    #[error("service unavailable")]
    Unavailable { retry_after_secs: u64 },
    /// The detail goes to the log with the request id, never to the browser.
    #[error("internal error: {0}")]
    Internal(String),
}

impl PageError {
    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<latchkey_core::StoreError> for PageError {
    fn from(err: latchkey_core::StoreError) -> Self {
        match err {
            latchkey_core::StoreError::Unavailable(_) => {
                tracing::warn!(error = %err, "database unavailable");
                Self::Unavailable { retry_after_secs: 5 }
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message, retry) = match self {
            Self::BadRequest(msg) => (StatusCode::BAD_REQUEST, "Bad request", msg, None),
            Self::Forbidden(msg) => (StatusCode::FORBIDDEN, "Not allowed", msg, None),
            Self::NotFound => {
                (StatusCode::NOT_FOUND, "Page not found", "There is nothing at this address.".into(), None)
            }
            Self::TooManyRequests { message, retry_after_secs } => {
                (StatusCode::TOO_MANY_REQUESTS, "Too many attempts", message, Some(retry_after_secs))
            }
            Self::Unavailable { retry_after_secs } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The service is busy or briefly unavailable. Please try again in a moment.".into(),
                Some(retry_after_secs),
            ),
            Self::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "An unexpected error occurred. If it persists, give the request id below to your administrator."
                        .into(),
                    None,
                )
            }
        };
        let mut response = status.into_response();
        if let Some(secs) = retry {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(ErrorPage { title, message });
        response
    }
}

/// A JSON error: `{"error": "...", "error_description": "..."}` with `Cache-Control: no-store`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// For 401 answers: the `WWW-Authenticate` challenge.
    pub www_authenticate: Option<String>,
}

#[derive(Serialize)]
struct ApiErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self { status, error, description: description.into(), www_authenticate: None }
    }

    /// Any store or internal failure: logged, answered as `server_error` without detail.
    pub fn server_error(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "The server could not complete the request.")
    }

    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "The service is briefly unavailable.")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ApiErrorBody { error: self.error, error_description: &self.description });
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE || self.status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Some(challenge) = self.www_authenticate.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

impl From<latchkey_core::StoreError> for ApiError {
    fn from(err: latchkey_core::StoreError) -> Self {
        match err {
            latchkey_core::StoreError::Unavailable(_) => Self::unavailable(),
            other => Self::server_error(other),
        }
    }
}
