//! An `id_token_hint` (at `/authorize` and `/end_session`): `verify_id_token` with a fixed key
//! ring (one active key per algorithm), exactly as the endpoints call it. Any input is answered
//! Ok or Err, never a panic; an unsigned or foreign input is never Ok. Inputs that are JSON are
//! also signed by the ring as claims and verified, so claim parsing past the signature check is
//! fuzzed too, and the same token with one byte changed must not verify.

#![no_main]

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use latchkey_core::jws::KeyRing;
use latchkey_core::keys::{Algorithm, Kek, generate_signing_key};
use latchkey_core::model::KeyState;
use latchkey_core::tokens::verify_id_token;
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://id.example.com";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

/// Generated once per process: RSA key generation is far slower than one fuzz iteration.
fn ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        let kek = Kek::generate().expect("a key-encryption key");
        let keys: Vec<_> = Algorithm::ALL
            .into_iter()
            .map(|alg| {
                let mut key = generate_signing_key(alg, &kek, now()).expect("a signing key");
                key.state = KeyState::Active;
                key.activated_at = Some(now());
                key
            })
            .collect();
        KeyRing::load(&keys, &kek, now(), Duration::days(7)).expect("the ring loads")
    })
}

fuzz_target!(|data: &[u8]| {
    let ring = ring();
    let Ok(token) = std::str::from_utf8(data) else { return };
    // The ring's keys are fresh per process, so no input can carry a valid signature: never Ok.
    for allow_expired in [true, false] {
        assert!(verify_id_token(ring, ISSUER, token, allow_expired, now()).is_err(), "accepted {token:?}");
    }
    // Claims we sign ourselves: parsing what is inside a valid token must not panic either.
    let Ok(claims) = serde_json::from_str::<serde_json::Value>(token) else { return };
    let alg = Algorithm::ALL[data.len() % Algorithm::ALL.len()];
    let Ok(signed) = ring.sign(alg, "JWT", &claims) else { return };
    let _ = verify_id_token(ring, ISSUER, &signed, true, now());
    let _ = verify_id_token(ring, ISSUER, &signed, false, now());
    // The signature's first character changed (all six of its bits are signature bits, unlike
    // the last one's): never accepted.
    let Some(dot) = signed.rfind('.') else { return };
    let mut tampered = signed.into_bytes();
    if let Some(first) = tampered.get_mut(dot + 1) {
        *first = if *first == b'A' { b'B' } else { b'A' };
    }
    if let Ok(tampered) = String::from_utf8(tampered) {
        assert!(verify_id_token(ring, ISSUER, &tampered, true, now()).is_err(), "a tampered signature verified");
    }
});
