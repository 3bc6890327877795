//! Plumbing shared by the OAuth endpoints (token, introspection, revocation, userinfo):
//!
//! - [`oauth_form`], a route layer that reads an `application/x-www-form-urlencoded` body once,
//!   rejecting a bad body or a repeated parameter with `invalid_request` JSON (never a 500 or
//!   axum's plain-text rejection), and leaves the parameters in the request's extensions;
//! - [`OAuthForm<T>`], the parameters deserialized into `T`;
//! - [`ClientAuth`], the authenticated client: `client_secret_basic`, `client_secret_post` or
//!   `none` (RFC 6749 §2.3), `invalid_client` (401 with `WWW-Authenticate`) otherwise;
//! - the mapping of core's [`OAuthError`] to [`ApiError`], and [`no_store_json`].
//!
//! Both extractors read the parameters the layer left, so a handler can take `ClientAuth` and
//! `OAuthForm<T>` together although the body can only be read once.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use latchkey_core::error::{OAuthError, OAuthErrorCode};
use latchkey_core::model::{Client, ClientId, TokenEndpointAuthMethod};
use latchkey_core::secret::TokenHash;
use latchkey_core::store::ClientStore as _;
use serde::Serialize;
use serde::de::value::MapDeserializer;
use serde::de::{DeserializeOwned, IntoDeserializer, Visitor};

use super::error::ApiError;
use crate::state::AppState;

/// The realm in our `WWW-Authenticate` challenges.
pub const REALM: &str = "latchkey";

/// The form parameters of an OAuth request, each at most once, empty values dropped.
#[derive(Debug, Clone, Default)]
pub struct FormParams(pub Vec<(String, String)>);

impl FormParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Parses a form body. RFC 6749 §3.1: parameters sent without a value are treated as omitted,
    /// and none may appear more than once.
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut params: Vec<(String, String)> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            if v.is_empty() {
                continue;
            }
            if params.iter().any(|(seen, _)| *seen == k) {
                return Err(OAuthError::invalid_request(format!("The {k:?} parameter is repeated.")));
            }
            params.push((k.into_owned(), v.into_owned()));
        }
        Ok(Self(params))
    }

    /// The parameters deserialized into `T` (a struct of `Option<String>` fields; unknown
    /// parameters are ignored, RFC 6749 §3.1). Pure, like [`FormParams::parse`], so the two can be
    /// fuzzed together without a server (fuzz/).
    ///
    /// Straight from the parsed pairs (no intermediate JSON map of copied keys and values, which
    /// every OAuth request paid for).
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, OAuthError> {
        let pairs = self.0.iter().map(|(k, v)| (k.as_str(), FormValue(v.as_str())));
        T::deserialize(MapDeserializer::<_, serde::de::value::Error>::new(pairs))
            .map_err(|e| OAuthError::invalid_request("The request parameters are malformed.").with_detail(e))
    }
}

/// One parameter's value: a string, which an `Option` field receives as `Some` (a parameter that
/// is absent, or was sent empty, never reaches the deserializer).
struct FormValue<'a>(&'a str);

impl<'de> IntoDeserializer<'de, serde::de::value::Error> for FormValue<'_> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> serde::Deserializer<'de> for FormValue<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_str(self.0)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// Route layer for the OAuth endpoints: a POST body must be a form (RFC 6749 §3.2, RFC 7662 §2.1,
/// RFC 7009 §2.1, RFC 6750 §2.2); its parameters go into the request's extensions.
pub async fn oauth_form(State(app): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    if !is_form(request.headers()) {
        return ApiError::from(OAuthError::invalid_request("The body must be application/x-www-form-urlencoded."))
            .into_response();
    }
    let (mut parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, app.config.http.body_limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "The request body is too large.")
                .into_response();
        }
    };
    match FormParams::parse(&bytes) {
        Ok(params) => {
            parts.extensions.insert(params);
            next.run(Request::from_parts(parts, Body::empty())).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The request's form parameters deserialized into `T` (a struct of `Option<String>` fields;
/// unknown parameters are ignored, RFC 6749 §3.1). A GET has none: every field is `None`.
#[derive(Debug, Clone)]
pub struct OAuthForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for OAuthForm<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let none = FormParams::default();
        let params = parts.extensions.get::<FormParams>().unwrap_or(&none);
        Ok(OAuthForm(params.deserialize()?))
    }
}

/// An authenticated client and how it authenticated.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    pub client: Client,
    pub method: TokenEndpointAuthMethod,
}

fn invalid_client(description: &str) -> OAuthError {
    OAuthError::invalid_client(description)
}

/// RFC 6749 §2.3.1: the client id and secret are form-urlencoded *before* Basic encoding, so
/// both are decoded again after base64 (`+` is a space, `%XX` an octet).
fn form_decode(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(|c| c.into_owned())
}

/// The credentials of an `Authorization: Basic` header; `Err` for any other scheme or a malformed value.
pub fn parse_basic(value: &HeaderValue) -> Result<(String, String), OAuthError> {
    let bad = || invalid_client("The Authorization header is not valid Basic client authentication.");
    let value = value.to_str().map_err(|_| bad())?;
    let (scheme, rest) = value.trim().split_once(' ').ok_or_else(bad)?;
    // RFC 7235 §2.1: the scheme is case-insensitive.
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let (id, secret) = (form_decode(id).ok_or_else(bad)?, form_decode(secret).ok_or_else(bad)?);
    if id.is_empty() {
        return Err(bad());
    }
    Ok((id, secret))
}

/// Which credentials the request presents: (client id, secret, method).
pub fn presented_credentials(
    headers: &HeaderMap,
    form: Option<&FormParams>,
) -> Result<(String, Option<String>, TokenEndpointAuthMethod), OAuthError> {
    let mut auth = headers.get_all(header::AUTHORIZATION).iter();
    let basic = match (auth.next(), auth.next()) {
        (None, _) => None,
        (Some(v), None) => Some(parse_basic(v)?),
        (Some(_), Some(_)) => return Err(OAuthError::invalid_request("The Authorization header is repeated.")),
    };
    let body_id = form.and_then(|f| f.get("client_id"));
    let body_secret = form.and_then(|f| f.get("client_secret"));
    match (basic, body_id, body_secret) {
        // RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each request."
        (Some(_), _, Some(_)) => {
            Err(OAuthError::invalid_request("Use one client authentication method, not the header and the body."))
        }
        (Some((id, _)), Some(body), None) if body != id => {
            Err(OAuthError::invalid_request("client_id in the body differs from the Authorization header."))
        }
        (Some((id, secret)), _, None) => Ok((id, Some(secret), TokenEndpointAuthMethod::ClientSecretBasic)),
        (None, Some(id), Some(secret)) => {
            Ok((id.to_owned(), Some(secret.to_owned()), TokenEndpointAuthMethod::ClientSecretPost))
        }
        (None, Some(id), None) => Ok((id.to_owned(), None, TokenEndpointAuthMethod::None)),
        (None, None, _) => Err(invalid_client("Client authentication is required.")),
    }
}

/// Checks the presented credentials against the registration. Every failure is the same
/// `invalid_client` to the caller, except a correct secret sent with the wrong method, which says
/// which method to use (only someone holding the secret learns it).
pub fn authenticate(
    client: Option<Client>,
    secret: Option<&str>,
    method: TokenEndpointAuthMethod,
) -> Result<Client, OAuthError> {
    let failed = || invalid_client("Client authentication failed.");
    let Some(client) = client else {
        // Spend the same hashing work as for a known client, so timing does not enumerate client ids.
        if let Some(secret) = secret {
            let _ = TokenHash::of("").verify(secret);
        }
        return Err(failed());
    };
    match (method, secret) {
        (TokenEndpointAuthMethod::None, _) => {
            if client.public && client.token_endpoint_auth_method == TokenEndpointAuthMethod::None {
                Ok(client)
            } else {
                Err(failed().with_detail(format!("client {} sent no secret", client.id)))
            }
        }
        (_, None) => Err(failed()),
        (_, Some(secret)) => {
            // A public client has no secret: presenting one is not a way in.
            let hash = client.secret_hash.as_ref().filter(|_| !client.public).ok_or_else(failed)?;
            // Constant-time comparison of SHA-256 hashes (core::secret).
            if !hash.verify(secret) {
                return Err(failed().with_detail(format!("wrong secret for client {}", client.id)));
            }
            if client.token_endpoint_auth_method != method {
                return Err(invalid_client(&format!(
                    "This client is registered to authenticate with {}.",
                    client.token_endpoint_auth_method.as_str()
                )));
            }
            Ok(client)
        }
    }
}

impl FromRequestParts<AppState> for ClientAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let (id, secret, method) = presented_credentials(&parts.headers, parts.extensions.get::<FormParams>())?;
        let id = ClientId(id);
        // A few seconds' memory of the record (SeaStore::cached_client: a change made through
        // another process reaches this one within CLIENT_CACHE_TTL). A refusal is always decided on
        // a fresh read, so a secret just replaced elsewhere works at once, and every refusal costs
        // the same one lookup whether or not the client id was remembered (no enumeration by timing).
        let remembered =
            app.store.cached_client(&id).and_then(|c| authenticate(Some(c), secret.as_deref(), method).ok());
        let client = match remembered {
            Some(client) => client,
            None => authenticate(app.store.find_client(&id).await?, secret.as_deref(), method)?,
        };
        Ok(ClientAuth { client, method })
    }
}

/// Removes what may not appear inside a quoted-string of a challenge (RFC 6750 §3: error_description
/// is limited to %x20-21 / %x23-5B / %x5D-7E).
fn challenge_safe(s: &str) -> String {
    s.chars().filter(|c| matches!(*c as u32, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)).collect()
}

impl From<OAuthError> for ApiError {
    fn from(err: OAuthError) -> Self {
        use OAuthErrorCode as C;
        let status = match err.code {
            C::InvalidClient | C::InvalidToken => StatusCode::UNAUTHORIZED,
            C::InsufficientScope => StatusCode::FORBIDDEN,
            C::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            C::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        match (&err.code, &err.detail) {
            (C::ServerError, detail) => tracing::error!(detail = detail.as_deref().unwrap_or("-"), "internal error"),
            (C::TemporarilyUnavailable, detail) => {
                tracing::warn!(detail = detail.as_deref().unwrap_or("-"), "database unavailable")
            }
            (code, Some(detail)) => tracing::info!(error = code.as_str(), detail, "request refused"),
            _ => {}
        }
        let www_authenticate = match err.code {
            // RFC 6749 §5.2: 401 with a challenge for the scheme the client can use.
            C::InvalidClient => Some(format!("Basic realm=\"{REALM}\"")),
            // RFC 6750 §3.
            C::InvalidToken | C::InsufficientScope => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"{}\", error_description=\"{}\"",
                err.code.as_str(),
                challenge_safe(&err.description)
            )),
            _ => None,
        };
        ApiError { status, error: err.code.as_str(), description: err.description, www_authenticate }
    }
}

/// A JSON answer that no cache may keep (RFC 6749 §5.1: `Cache-Control: no-store`, `Pragma: no-cache`).
pub fn no_store_json<T: Serialize>(body: &T) -> Response {
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> HeaderValue {
        HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))).unwrap()
    }

    #[test]
    fn basic_credentials_are_form_decoded_after_base64() {
        // RFC 6749 §2.3.1: "a:b c%" is sent form-encoded as "a%3Ab+c%25".
        assert_eq!(parse_basic(&basic("my%3Aclient", "a%3Ab+c%25")).unwrap(), ("my:client".into(), "a:b c%".into()));
        assert_eq!(parse_basic(&basic("app", "s3cret")).unwrap(), ("app".into(), "s3cret".into()));
        assert!(parse_basic(&HeaderValue::from_static("Bearer abc")).is_err());
        assert!(parse_basic(&HeaderValue::from_static("Basic !!!")).is_err());
        assert!(
            parse_basic(&HeaderValue::from_str(&format!("Basic {}", STANDARD.encode("nocolon"))).unwrap()).is_err()
        );
        assert!(parse_basic(&HeaderValue::from_str(&format!("basic {}", STANDARD.encode("a:b"))).unwrap()).is_ok());
    }

    /// Hostile or broken header values (fuzz/fuzz_targets/basic_credentials.rs explores the rest): each
    /// is an answer, never a panic. `None` means refused as `invalid_client`.
    #[test]
    fn hostile_basic_values_are_answered_without_panicking() {
        let b64 = |raw: &[u8]| STANDARD.encode(raw);
        type Case = (String, Option<(&'static str, &'static str)>);
        let cases: Vec<Case> = vec![
            ("Basic".into(), None),
            ("Basic ".into(), None),
            ("  Basic   ".into(), None),
            ("Basic ====".into(), None),
            ("Basic\tYTpi".into(), None),
            ("Digest YTpi".into(), None),
            (format!("Basic {} extra", b64(b"a:b")), None),
            (format!("Basic {}", b64(b":")), None),
            (format!("Basic {}", b64(b":secret")), None),
            (format!("Basic {}", b64(b"\xff\xfe:x")), None),
            (format!("Basic {}", b64(b"app:%ff")), None),
            (format!("Basic {}", b64(b"%E2%82:x")), None),
            (format!("Basic {}", b64(b"app")), None),
            (format!("Basic    {}  ", b64(b"a:b")), Some(("a", "b"))),
            (format!("Basic {}", b64(b"a:b:c")), Some(("a", "b:c"))),
            (format!("Basic {}", b64(b"a+b:c+d")), Some(("a b", "c d"))),
            (format!("Basic {}", b64(b"app%:x%2")), Some(("app%", "x%2"))),
            (format!("Basic {}", b64(b"app:")), Some(("app", ""))),
            (format!("BASIC {}", b64("\u{e9}t\u{e9}:\u{1f511}".as_bytes())), Some(("\u{e9}t\u{e9}", "\u{1f511}"))),
        ];
        for (value, expected) in cases {
            let header = HeaderValue::from_str(&value).unwrap();
            let got = parse_basic(&header);
            match expected {
                None => assert_eq!(got.map_err(|e| e.code), Err(OAuthErrorCode::InvalidClient), "{value:?}"),
                Some((id, secret)) => assert_eq!(got.unwrap(), (id.to_owned(), secret.to_owned()), "{value:?}"),
            }
        }
    }

    /// Hostile or broken form bodies (fuzz/fuzz_targets/token_form.rs explores the rest).
    #[test]
    fn hostile_form_bodies_are_answered_without_panicking() {
        let empty: &[(&str, &str)] = &[];
        type Case = (&'static [u8], Option<&'static [(&'static str, &'static str)]>);
        let cases: [Case; 9] = [
            (b"", Some(empty)),
            (b"%", Some(empty)),
            (b"=&=&=", Some(empty)),
            (b"&&&a=1&&", Some(&[("a", "1")])),
            (b"a=%ff", Some(&[("a", "\u{fffd}")])),
            (b"\xff=1", Some(&[("\u{fffd}", "1")])),
            (b"a=%2", Some(&[("a", "%2")])),
            (b"grant_type=a&grant_type=b", None),
            (b"x=1&x=", Some(&[("x", "1")])),
        ];
        for (body, expected) in cases {
            let got = FormParams::parse(body);
            match expected {
                None => assert_eq!(got.map(|p| p.0).map_err(|e| e.code), Err(OAuthErrorCode::InvalidRequest)),
                Some(pairs) => {
                    let params = got.unwrap();
                    let want: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
                    assert_eq!(params.0, want, "{body:?}");
                    let req: latchkey_core::grants::TokenRequest = params.deserialize().unwrap();
                    assert_eq!(req.grant_type, None);
                }
            }
        }
    }

    #[test]
    fn form_parameters_fill_their_fields_and_unknown_ones_are_ignored() {
        let params = FormParams::parse(b"grant_type=client_credentials&scope=api%3Aread+api%3Awrite&extra=1").unwrap();
        let req: latchkey_core::grants::TokenRequest = params.deserialize().unwrap();
        assert_eq!(req.grant_type.as_deref(), Some("client_credentials"));
        assert_eq!(req.scope.as_deref(), Some("api:read api:write"));
        assert_eq!((req.code, req.redirect_uri, req.code_verifier, req.refresh_token), (None, None, None, None));

        // A field that is not a string is a clear invalid_request, never a panic.
        #[derive(Debug, serde::Deserialize)]
        struct Typed {
            #[allow(dead_code)]
            n: Option<u32>,
        }
        let err = FormParams::parse(b"n=7").unwrap().deserialize::<Typed>().unwrap_err();
        assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
        assert_eq!(err.description, "The request parameters are malformed.");
    }

    #[test]
    fn form_rejects_repeats_and_drops_empty_values() {
        assert_eq!(FormParams::parse(b"a=1&a=2").unwrap_err().code, OAuthErrorCode::InvalidRequest);
        let p = FormParams::parse(b"a=&a=2&b=x+y%21").unwrap();
        assert_eq!(p.get("a"), Some("2"));
        assert_eq!(p.get("b"), Some("x y!"));
    }

    #[test]
    fn bearer_challenge_is_quoted_safely() {
        let e = ApiError::from(OAuthError::invalid_token("bad \"token\" \\ here"));
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            e.www_authenticate.as_deref(),
            Some("Bearer realm=\"latchkey\", error=\"invalid_token\", error_description=\"bad token  here\"")
        );
    }
}
