//! JWS signing and verification of the tokens we issue (RFC 7515 compact serialization).
//!
//! A [`KeyRing`] is built once per key-set refresh: the active keys' private parts are decrypted
//! and parsed into aws-lc-rs key pairs there, never per request (parsing and checking an RSA key
//! costs about as much as a signature). Signing is the aws-lc-rs key pair over
//! `base64url(header) "." base64url(claims)`; jsonwebtoken (with its aws-lc-rs backend) signs by
//! re-parsing the DER key on every call, so it is used for the header type and for everything on
//! the verifying side: header parsing, algorithm checks, signature verification, `iss`.
//!
//! Verification accepts only our own keys, by `kid`, with exactly the algorithm the key is for:
//! `alg: none`, an unknown `kid`, an algorithm the key is not for, a bad signature, a wrong
//! issuer or an expired token (against the injected `now`) are all rejected.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, Header, TokenData, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::keys::{self, Algorithm, Kek, KeyError};
use crate::model::{KeyState, SigningKey};

/// Why a token could not be signed or was not accepted. Every verification failure is
/// `invalid_token` on the wire; the variant is for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("no active {0:?} signing key")]
    NoActiveKey(Algorithm),
    #[error("signing failed")]
    Sign,
    #[error("claims cannot be serialized: {0}")]
    Encode(String),
    #[error("not a well-formed JWS")]
    Malformed,
    #[error("the token names no key or an unknown key")]
    UnknownKid,
    #[error("the token's algorithm is not the one its key is for")]
    AlgorithmMismatch,
    #[error("the token carries a critical header we do not understand")]
    CriticalHeader,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token has the wrong type")]
    WrongType,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token has expired")]
    Expired,
    #[error("the token's claims are invalid: {0}")]
    Claims(String),
}

/// Claims that carry an expiry (`exp`, seconds since the epoch).
pub trait Expiring {
    fn expires_at(&self) -> i64;
}

/// What a verified token must look like besides a good signature.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// Exact `iss` (OIDC Core §3.1.3.7 step 2; RFC 9068 §4).
    pub issuer: &'a str,
    /// The `typ` header, compared case-insensitively with or without the `application/` prefix
    /// (RFC 7515 §4.1.9): `at+jwt` for access tokens (RFC 9068 §4), `JWT` for ID tokens.
    pub typ: &'a str,
    /// An `id_token_hint` may be expired (OIDC RP-Initiated Logout §2); nothing else may.
    pub allow_expired: bool,
}

enum KeyPair {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

struct ActiveSigner {
    kid: String,
    alg: Algorithm,
    pair: KeyPair,
    activated_at: Option<DateTime<Utc>>,
}

struct Verifier {
    alg: jsonwebtoken::Algorithm,
    key: DecodingKey,
}

/// The published keys of one refresh, ready to sign and verify, with the JWKS document.
pub struct KeyRing {
    signers: HashMap<Algorithm, ActiveSigner>,
    verifiers: HashMap<String, Verifier>,
    jwks: Vec<u8>,
    /// Claims of tokens already verified with these keys ([`KeyRing::verify_cached`]).
    verified: Mutex<HashMap<[u8; 32], Arc<dyn Any + Send + Sync>>>,
}

/// At most this many verified tokens are remembered per ring (a few hundred KiB); when full the
/// memory is dropped and refilled, and the ring itself is rebuilt at every key refresh.
const VERIFIED_CACHE_ENTRIES: usize = 1024;

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("active", &self.signers.values().map(|s| s.kid.as_str()).collect::<Vec<_>>())
            .field("published", &self.verifiers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The public members a JWK may have in our JWKS (RFC 7517 §4, RFC 7518 §6.2.1, §6.3.1, RFC 8037
/// §2). Anything else in a stored JWK (a private member, by some accident) is never published.
const PUBLIC_JWK_MEMBERS: [&str; 9] = ["kty", "kid", "alg", "use", "n", "e", "crv", "x", "y"];

pub fn jwt_algorithm(alg: Algorithm) -> jsonwebtoken::Algorithm {
    match alg {
        Algorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
        Algorithm::Es256 => jsonwebtoken::Algorithm::ES256,
        Algorithm::EdDsa => jsonwebtoken::Algorithm::EdDSA,
    }
}

fn jwk_str<'a>(jwk: &'a Value, member: &str, kid: &str) -> Result<&'a str, KeyError> {
    jwk.get(member)
        .and_then(Value::as_str)
        .ok_or_else(|| KeyError::Decrypt(format!("{kid} (public JWK lacks {member})")))
}

fn decoding_key(key: &SigningKey, alg: Algorithm) -> Result<DecodingKey, KeyError> {
    let jwk = &key.public_jwk;
    let bad = |_| KeyError::Decrypt(format!("{} (bad public JWK)", key.kid));
    match alg {
        Algorithm::Rs256 => {
            DecodingKey::from_rsa_components(jwk_str(jwk, "n", &key.kid)?, jwk_str(jwk, "e", &key.kid)?).map_err(bad)
        }
        Algorithm::Es256 => {
            DecodingKey::from_ec_components(jwk_str(jwk, "x", &key.kid)?, jwk_str(jwk, "y", &key.kid)?).map_err(bad)
        }
        Algorithm::EdDsa => DecodingKey::from_ed_components(jwk_str(jwk, "x", &key.kid)?).map_err(bad),
    }
}

fn key_pair(key: &SigningKey, alg: Algorithm, kek: &Kek) -> Result<KeyPair, KeyError> {
    let pkcs8 = keys::decrypt_private_key(key, kek)?;
    let bad = |_| KeyError::Decrypt(key.kid.clone());
    Ok(match alg {
        Algorithm::Rs256 => KeyPair::Rsa(RsaKeyPair::from_pkcs8(&pkcs8).map_err(bad)?),
        // FIXED: r || s, the JWS encoding (RFC 7518 §3.4), not ASN.1 DER.
        Algorithm::Es256 => {
            KeyPair::Ecdsa(EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).map_err(bad)?)
        }
        Algorithm::EdDsa => KeyPair::Ed25519(Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(bad)?),
    })
}

impl KeyRing {
    /// A ring with no keys: signs nothing, verifies nothing, publishes `{"keys":[]}`.
    pub fn empty() -> Self {
        Self {
            signers: HashMap::new(),
            verifiers: HashMap::new(),
            jwks: br#"{"keys":[]}"#.to_vec(),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// Builds the ring from the stored keys: the published ones (next, active, and retired within
    /// `retain`, see [`keys::published`]) verify and appear in JWKS; the active ones sign.
    pub fn load(
        stored: &[SigningKey],
        kek: &Kek,
        now: DateTime<Utc>,
        retain: chrono::Duration,
    ) -> Result<Self, KeyError> {
        let mut signers: HashMap<Algorithm, ActiveSigner> = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut published = Vec::new();
        for key in keys::published(stored, now, retain) {
            let alg =
                Algorithm::parse(&key.algorithm).ok_or_else(|| KeyError::UnknownAlgorithm(key.algorithm.clone()))?;
            verifiers.insert(key.kid.clone(), Verifier { alg: jwt_algorithm(alg), key: decoding_key(key, alg)? });
            let mut jwk = Map::new();
            for member in PUBLIC_JWK_MEMBERS {
                if let Some(v) = key.public_jwk.get(member) {
                    jwk.insert(member.to_owned(), v.clone());
                }
            }
            published.push(Value::Object(jwk));
            if key.state == KeyState::Active {
                // Two active keys of one algorithm only exist for a moment during a rotation by
                // another node; the most recently activated one wins, as it will after the refresh.
                let newer = signers.get(&alg).is_none_or(|s| key.activated_at > s.activated_at);
                if newer {
                    let pair = key_pair(key, alg, kek)?;
                    signers
                        .insert(alg, ActiveSigner { kid: key.kid.clone(), alg, pair, activated_at: key.activated_at });
                }
            }
        }
        let jwks = serde_json::to_vec(&serde_json::json!({ "keys": published }))
            .map_err(|e| KeyError::Decrypt(format!("JWKS serialization: {e}")))?;
        Ok(Self { signers, verifiers, jwks, verified: Mutex::new(HashMap::new()) })
    }

    /// The JWKS document (RFC 7517 §5), serialized once per refresh.
    pub fn jwks_json(&self) -> &[u8] {
        &self.jwks
    }

    /// The kid of the key that signs with `alg` now.
    pub fn active_kid(&self, alg: Algorithm) -> Option<&str> {
        self.signers.get(&alg).map(|s| s.kid.as_str())
    }

    /// Algorithms we can sign with right now, RS256 first.
    pub fn signing_algorithms(&self) -> Vec<Algorithm> {
        Algorithm::ALL.into_iter().filter(|a| self.signers.contains_key(a)).collect()
    }

    /// Signs `claims` as a compact JWS with the active key of `alg`, with `typ` and `kid` in the header.
    pub fn sign<T: Serialize>(&self, alg: Algorithm, typ: &str, claims: &T) -> Result<String, JwsError> {
        let signer = self.signers.get(&alg).ok_or(JwsError::NoActiveKey(alg))?;
        let mut header = Header::new(jwt_algorithm(signer.alg));
        header.typ = Some(typ.to_owned());
        header.kid = Some(signer.kid.clone());
        let header = serde_json::to_vec(&header).map_err(|e| JwsError::Encode(e.to_string()))?;
        let claims = serde_json::to_vec(claims).map_err(|e| JwsError::Encode(e.to_string()))?;
        let mut token = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 350);
        URL_SAFE_NO_PAD.encode_string(&header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&claims, &mut token);
        let rng = SystemRandom::new();
        let sig = match &signer.pair {
            KeyPair::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &rng, token.as_bytes(), &mut sig)
                    .map_err(|_| JwsError::Sign)?;
                sig
            }
            KeyPair::Ecdsa(pair) => pair.sign(&rng, token.as_bytes()).map_err(|_| JwsError::Sign)?.as_ref().to_vec(),
            KeyPair::Ed25519(pair) => pair.sign(token.as_bytes()).as_ref().to_vec(),
        };
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&sig, &mut token);
        Ok(token)
    }

    /// [`KeyRing::verify`] for tokens presented again and again (a resource server's access token at
    /// userinfo or introspection): the claims of a token that verified are remembered, by SHA-256
    /// of the exact token text with the expected issuer and type, so the next presentation of the
    /// same bytes skips the RSA verification and JSON decoding. Only what the signature proves is
    /// remembered, never whether the token was revoked (the caller's record lookup decides that,
    /// every time); expiry is checked against `now` on every call; and the memory belongs to this
    /// ring, so it is gone when the keys are reloaded.
    pub fn verify_cached<T>(&self, token: &str, expect: Expect<'_>, now: DateTime<Utc>) -> Result<T, JwsError>
    where
        T: DeserializeOwned + Expiring + Clone + Send + Sync + 'static,
    {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for part in [expect.issuer, "\0", expect.typ, "\0", token] {
            ctx.update(part.as_bytes());
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        let cache = || self.verified.lock().unwrap_or_else(|p| p.into_inner());
        let hit = cache().get(&key).and_then(|c| Arc::clone(c).downcast::<T>().ok());
        if let Some(claims) = hit {
            if !expect.allow_expired && claims.expires_at() <= now.timestamp() {
                return Err(JwsError::Expired);
            }
            return Ok(T::clone(&claims));
        }
        let claims = self.verify::<T>(token, expect, now)?.claims;
        let mut cache = cache();
        if cache.len() >= VERIFIED_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, Arc::new(claims.clone()));
        Ok(claims)
    }

    /// Verifies one of our own tokens and returns its header and claims.
    pub fn verify<T: DeserializeOwned + Expiring>(
        &self,
        token: &str,
        expect: Expect<'_>,
        now: DateTime<Utc>,
    ) -> Result<TokenData<T>, JwsError> {
        // Unknown `alg` values, `none` among them, fail to parse into jsonwebtoken's Algorithm.
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwsError::Malformed)?;
        // RFC 7515 §4.1.11: a recipient must reject critical extensions it does not understand; we use none.
        if header.crit.is_some() {
            return Err(JwsError::CriticalHeader);
        }
        let verifier = header.kid.as_deref().and_then(|kid| self.verifiers.get(kid)).ok_or(JwsError::UnknownKid)?;
        // RFC 8725 §3.1: the algorithm comes from the key, never from the token.
        if header.alg != verifier.alg {
            return Err(JwsError::AlgorithmMismatch);
        }
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            let t = t.strip_prefix("application/").unwrap_or(t);
            t.eq_ignore_ascii_case(expect.typ)
        });
        // RFC 8725 §3.11: explicit typing keeps one kind of token from passing for another.
        if !typ_ok {
            return Err(JwsError::WrongType);
        }
        let mut validation = Validation::new(verifier.alg);
        // Time is checked below against the injected clock, not the system time.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims = ["exp", "iss", "sub"].into_iter().map(String::from).collect();
        validation.set_issuer(&[expect.issuer]);
        let data = jsonwebtoken::decode::<T>(token, &verifier.key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => JwsError::BadSignature,
                ErrorKind::InvalidIssuer => JwsError::WrongIssuer,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => JwsError::AlgorithmMismatch,
                ErrorKind::MissingRequiredClaim(c) => JwsError::Claims(format!("{c} is missing")),
                ErrorKind::Json(e) => JwsError::Claims(e.to_string()),
                _ => JwsError::Malformed,
            }
        })?;
        if !expect.allow_expired && data.claims.expires_at() <= now.timestamp() {
            return Err(JwsError::Expired);
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate_signing_key;
    use chrono::Duration;
    use serde::Deserialize;

    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    struct Claims {
        iss: String,
        sub: String,
        exp: i64,
    }

    impl Expiring for Claims {
        fn expires_at(&self) -> i64 {
            self.exp
        }
    }

    const ISS: &str = "https://id.example.com";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn claims(exp: i64) -> Claims {
        Claims { iss: ISS.into(), sub: "alice".into(), exp }
    }

    fn expect() -> Expect<'static> {
        Expect { issuer: ISS, typ: "at+jwt", allow_expired: false }
    }

    /// One active key per algorithm, plus one `next` RSA key.
    fn ring() -> (KeyRing, Vec<SigningKey>) {
        let kek = Kek::generate().unwrap();
        let mut stored = Vec::new();
        for alg in Algorithm::ALL {
            let mut key = generate_signing_key(alg, &kek, now()).unwrap();
            key.state = KeyState::Active;
            key.activated_at = Some(now());
            stored.push(key);
        }
        stored.push(generate_signing_key(Algorithm::Rs256, &kek, now()).unwrap());
        (KeyRing::load(&stored, &kek, now(), Duration::days(7)).unwrap(), stored)
    }

    fn b64json(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn signs_and_verifies_with_every_algorithm() {
        let (ring, _) = ring();
        let exp = now().timestamp() + 600;
        for alg in Algorithm::ALL {
            let token = ring.sign(alg, "at+jwt", &claims(exp)).unwrap();
            let data = ring.verify::<Claims>(&token, expect(), now()).unwrap();
            assert_eq!(data.claims, claims(exp));
            assert_eq!(data.header.kid.as_deref(), ring.active_kid(alg));
            assert_eq!(data.header.alg, jwt_algorithm(alg));
        }
    }

    #[test]
    fn jwks_has_published_public_keys_only() {
        let (ring, stored) = ring();
        let jwks: Value = serde_json::from_slice(ring.jwks_json()).unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), stored.len(), "active and next keys are published");
        for k in keys {
            for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
                assert!(k.get(private).is_none(), "{private} in {k}");
            }
            assert_eq!(k["use"], "sig");
            assert!(k["kid"].is_string() && k["alg"].is_string() && k["kty"].is_string());
        }
    }

    #[test]
    fn rejects_alg_none_unknown_kid_and_wrong_alg_for_key() {
        let (ring, _) = ring();
        let exp = now().timestamp() + 600;
        let good = ring.sign(Algorithm::Rs256, "at+jwt", &claims(exp)).unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let kid = ring.active_kid(Algorithm::Rs256).unwrap();
        let body = b64json(&serde_json::to_value(claims(exp)).unwrap());

        let none = format!("{}.{}.", b64json(&serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": kid})), body);
        assert_eq!(ring.verify::<Claims>(&none, expect(), now()).unwrap_err(), JwsError::Malformed);

        let unknown = format!(
            "{}.{}.{}",
            b64json(&serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": "nope"})),
            parts[1],
            parts[2]
        );
        assert_eq!(ring.verify::<Claims>(&unknown, expect(), now()).unwrap_err(), JwsError::UnknownKid);

        // The RSA key's kid with an ES256 header: the key decides the algorithm, not the token.
        let es = ring.sign(Algorithm::Es256, "at+jwt", &claims(exp)).unwrap();
        let es_parts: Vec<&str> = es.split('.').collect();
        let confused = format!(
            "{}.{}.{}",
            b64json(&serde_json::json!({"alg": "ES256", "typ": "at+jwt", "kid": kid})),
            es_parts[1],
            es_parts[2]
        );
        assert_eq!(ring.verify::<Claims>(&confused, expect(), now()).unwrap_err(), JwsError::AlgorithmMismatch);

        // HS256 with the public key as the HMAC secret (the classic confusion attack).
        let hs = format!("{}.{}.{}", b64json(&serde_json::json!({"alg": "HS256", "kid": kid})), parts[1], parts[2]);
        assert_eq!(ring.verify::<Claims>(&hs, expect(), now()).unwrap_err(), JwsError::AlgorithmMismatch);
    }

    #[test]
    fn rejects_tampering_wrong_issuer_type_and_expiry() {
        let (ring, _) = ring();
        let exp = now().timestamp() + 600;
        let good = ring.sign(Algorithm::Rs256, "at+jwt", &claims(exp)).unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let mut evil = claims(exp);
        evil.sub = "mallory".into();
        let tampered = format!("{}.{}.{}", parts[0], b64json(&serde_json::to_value(&evil).unwrap()), parts[2]);
        assert_eq!(ring.verify::<Claims>(&tampered, expect(), now()).unwrap_err(), JwsError::BadSignature);

        let other_iss = Claims { iss: "https://evil.example".into(), ..claims(exp) };
        let token = ring.sign(Algorithm::Rs256, "at+jwt", &other_iss).unwrap();
        assert_eq!(ring.verify::<Claims>(&token, expect(), now()).unwrap_err(), JwsError::WrongIssuer);

        let id_token = ring.sign(Algorithm::Rs256, "JWT", &claims(exp)).unwrap();
        assert_eq!(ring.verify::<Claims>(&id_token, expect(), now()).unwrap_err(), JwsError::WrongType);
        let id_expect = Expect { typ: "JWT", ..expect() };
        assert!(ring.verify::<Claims>(&id_token, id_expect, now()).is_ok());

        // Expiry uses the injected clock: valid one second before exp, expired at exp.
        assert!(ring.verify::<Claims>(&good, expect(), now() + Duration::seconds(599)).is_ok());
        assert_eq!(
            ring.verify::<Claims>(&good, expect(), now() + Duration::seconds(600)).unwrap_err(),
            JwsError::Expired
        );
        let lenient = Expect { allow_expired: true, ..expect() };
        assert!(ring.verify::<Claims>(&good, lenient, now() + Duration::days(1)).is_ok());

        assert_eq!(ring.verify::<Claims>("not-a-jwt", expect(), now()).unwrap_err(), JwsError::Malformed);
    }

    #[test]
    fn cached_verification_still_checks_expiry_issuer_and_signature() {
        let (ring, _) = ring();
        let exp = now().timestamp() + 600;
        let token = ring.sign(Algorithm::Rs256, "at+jwt", &claims(exp)).unwrap();
        for _ in 0..2 {
            assert_eq!(ring.verify_cached::<Claims>(&token, expect(), now()).unwrap(), claims(exp));
        }
        let later = now() + Duration::seconds(600);
        assert_eq!(ring.verify_cached::<Claims>(&token, expect(), later).unwrap_err(), JwsError::Expired);
        let other_issuer = Expect { issuer: "https://other.example", ..expect() };
        assert_eq!(ring.verify_cached::<Claims>(&token, other_issuer, now()).unwrap_err(), JwsError::WrongIssuer);
        let mut tampered = token.clone().into_bytes();
        let i = tampered.len() - 10;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(ring.verify_cached::<Claims>(&tampered, expect(), now()).unwrap_err(), JwsError::BadSignature);
    }

    #[test]
    fn retired_keys_verify_until_retention_ends_and_never_sign() {
        let kek = Kek::generate().unwrap();
        let mut old = generate_signing_key(Algorithm::Rs256, &kek, now()).unwrap();
        old.state = KeyState::Active;
        old.activated_at = Some(now());
        let before = KeyRing::load(std::slice::from_ref(&old), &kek, now(), Duration::days(7)).unwrap();
        let token = before.sign(Algorithm::Rs256, "at+jwt", &claims(now().timestamp() + 3600)).unwrap();

        old.state = KeyState::Retired;
        old.retired_at = Some(now());
        let after = KeyRing::load(std::slice::from_ref(&old), &kek, now(), Duration::days(7)).unwrap();
        assert!(after.active_kid(Algorithm::Rs256).is_none());
        assert!(after.verify::<Claims>(&token, expect(), now()).is_ok());
        let later = KeyRing::load(&[old], &kek, now() + Duration::days(8), Duration::days(7)).unwrap();
        assert_eq!(later.verify::<Claims>(&token, expect(), now()).unwrap_err(), JwsError::UnknownKid);
    }

    /// Malformed tokens (fuzz/fuzz_targets/id_token_hint.rs explores the rest): each is an error,
    /// never a panic, whether or not an expired token is allowed.
    #[test]
    fn malformed_tokens_are_errors() {
        let (ring, stored) = ring();
        let kid = stored[0].kid.as_str();
        let good_header = b64json(&serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid}));
        let payload = b64json(&serde_json::json!({"iss": ISS, "sub": "alice", "exp": 1}));
        let with_header = |h: Value| format!("{}.{payload}.c2ln", b64json(&h));
        let cases = [
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            "a.b.c".into(),
            "a.b.c.d".into(),
            good_header.clone(),
            format!("{good_header}.{payload}"),
            format!("{good_header}.{payload}."),
            format!("{good_header}.{payload}.!!!"),
            format!("{good_header}.!!!.c2ln"),
            format!("{good_header}.{payload}.{}", "A".repeat(100_000)),
            format!("{}.{payload}.c2ln", URL_SAFE_NO_PAD.encode(b"\xff\xfe")),
            with_header(serde_json::json!([1, 2])),
            with_header(serde_json::json!(null)),
            with_header(serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": 7})),
            with_header(serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid, "crit": ["exp"]})),
            with_header(serde_json::json!({"alg": "RS256", "typ": 1, "kid": kid})),
            with_header(serde_json::json!({"alg": "none", "typ": "JWT", "kid": kid})),
        ];
        for token in &cases {
            for allow_expired in [true, false] {
                let expect = Expect { typ: "JWT", allow_expired, ..expect() };
                assert!(ring.verify::<Claims>(token, expect, now()).is_err(), "{token:.80}");
            }
        }
        // Claims of the wrong shape behind a good signature: an error, not a panic.
        let lenient = Expect { typ: "JWT", allow_expired: true, ..expect() };
        for claims in [
            serde_json::json!({"iss": ISS, "sub": "alice", "exp": "soon"}),
            serde_json::json!({"iss": ISS, "sub": "alice", "exp": 1e300}),
            serde_json::json!({"iss": ISS, "exp": 1}),
            serde_json::json!({"iss": [ISS], "sub": "alice", "exp": 1}),
            serde_json::json!([1]),
            serde_json::json!(null),
        ] {
            let token = ring.sign(Algorithm::Es256, "JWT", &claims).unwrap();
            assert!(ring.verify::<Claims>(&token, lenient, now()).is_err(), "{claims}");
        }
        // Expiry at the edges of i64: a negative one is not a NumericDate (RFC 7519 §2) and counts
        // as missing; 0 is expired, allowed only where expired tokens are; the largest is valid.
        let strict = Expect { allow_expired: false, ..lenient };
        for (exp, lenient_ok, strict_ok) in [(i64::MIN, false, false), (-1, false, false), (0, true, false)] {
            let token = ring.sign(Algorithm::EdDsa, "JWT", &claims(exp)).unwrap();
            assert_eq!(ring.verify::<Claims>(&token, lenient, now()).is_ok(), lenient_ok, "exp {exp}");
            assert_eq!(ring.verify::<Claims>(&token, strict, now()).is_ok(), strict_ok, "exp {exp}");
        }
        let far = ring.sign(Algorithm::EdDsa, "JWT", &claims(i64::MAX)).unwrap();
        assert!(ring.verify::<Claims>(&far, strict, now()).is_ok());
    }
}
