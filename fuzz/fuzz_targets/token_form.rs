//! The token endpoint's request body: `FormParams::parse` (the form decoding of the OAuth
//! endpoints' route layer, RFC 6749 §3.2), its deserialization into the `TokenRequest` the grant
//! sees, and which client credentials the body presents. Anything may be refused with
//! `invalid_request` / `invalid_client`; nothing may panic.

#![no_main]

use http::HeaderMap;
use latchkey_core::error::OAuthErrorCode;
use latchkey_core::grants::TokenRequest;
use latchkey_server::http::client_auth::{FormParams, presented_credentials};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let params = match FormParams::parse(data) {
        Ok(params) => params,
        Err(err) => {
            assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
            return;
        }
    };
    // RFC 6749 §3.1: no parameter twice, no empty value kept.
    for (i, (name, value)) in params.0.iter().enumerate() {
        assert!(!value.is_empty(), "empty values count as omitted");
        assert!(params.0[..i].iter().all(|(seen, _)| seen != name), "{name:?} kept twice");
    }
    match params.deserialize::<TokenRequest>() {
        Ok(req) => assert_eq!(req.grant_type.as_deref(), params.get("grant_type")),
        Err(err) => assert_eq!(err.code, OAuthErrorCode::InvalidRequest),
    }
    let _ = presented_credentials(&HeaderMap::new(), Some(&params));
});
