//! `Authorization: Basic` client credentials (RFC 6749 §2.3.1, RFC 7617): `parse_basic` on any
//! header value a client can send, alone and together with body credentials
//! (`presented_credentials`). Must never panic; and what it accepts must survive the encoding a
//! client applies (form-urlencode each part, join with `:`, base64) unchanged.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderValue};
use latchkey_server::http::client_auth::{FormParams, parse_basic, presented_credentials};
use libfuzzer_sys::fuzz_target;

/// RFC 6749 §2.3.1's encoding of one part: application/x-www-form-urlencoded.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else { return };
    let parsed = parse_basic(&value);
    if let Ok((id, secret)) = &parsed {
        assert!(!id.is_empty(), "an empty client id is refused");
        let encoded = STANDARD.encode(format!("{}:{}", form_encode(id), form_encode(secret)));
        let again = HeaderValue::from_str(&format!("Basic {encoded}")).map(|v| parse_basic(&v));
        assert_eq!(again.ok().and_then(Result::ok).as_ref(), Some(&(id.clone(), secret.clone())), "round trip");
    }
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    for body in [&b""[..], b"client_id=app", b"client_id=app&client_secret=s3cret"] {
        let form = FormParams::parse(body).ok();
        let _ = presented_credentials(&headers, form.as_ref());
    }
});
