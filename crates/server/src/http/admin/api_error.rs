//! The admin API's error body: `{"error": "<stable code>", "message": "...", "field": "..."}`,
//! never cached, with `WWW-Authenticate` on 401 and 403 answers of the bearer check.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::ServiceError;

/// An error of the admin API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: `invalid_input`, `conflict`, `not_found`, `unauthorized`, `invalid_token`,
    /// `insufficient_scope`, `invalid_json`, `builtin_role`, `self_lockout`, `public_client`,
    /// `role_not_held`, `busy`, `unavailable`, `server_error`.
    pub error: String,
    /// For people; may change between versions.
    pub message: String,
    /// The input field at fault, for `invalid_input` and `conflict`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AdminApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    pub challenge: Option<String>,
}

impl AdminApiError {
    pub fn new(status: StatusCode, error: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody { error: error.to_owned(), message: message.into(), field: None },
            challenge: None,
        }
    }

    pub fn with_challenge(mut self, challenge: String) -> Self {
        self.challenge = Some(challenge);
        self
    }
}

impl From<ServiceError> for AdminApiError {
    fn from(err: ServiceError) -> Self {
        let status = match &err {
            ServiceError::Invalid { .. } => StatusCode::BAD_REQUEST,
            ServiceError::Conflict { .. } | ServiceError::Refused { .. } => StatusCode::CONFLICT,
            ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
            ServiceError::Busy | ServiceError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Internal(detail) => {
                tracing::error!(%detail, "admin API internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut out = Self::new(status, err.code(), err.to_string());
        out.body.field = err.field().map(str::to_owned);
        out
    }
}

impl From<latchkey_core::StoreError> for AdminApiError {
    fn from(err: latchkey_core::StoreError) -> Self {
        ServiceError::from(err).into()
    }
}

impl IntoResponse for AdminApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}
