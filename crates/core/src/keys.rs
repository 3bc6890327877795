//! Signing keys: generation, the public JWK, encryption of the private part at rest, and the
//! rotation lifecycle (next -> active -> retired).
//!
//! A key is published in JWKS while `next`, so relying parties have it cached before the first
//! token it signs; it signs while `active`; it stays published while `retired` for longer than
//! the longest token lifetime, so tokens it signed remain verifiable. Private keys are stored as
//! PKCS#8 encrypted with AES-256-GCM under the key-encryption key (KEK) from configuration, with
//! the kid as associated data so a ciphertext cannot be moved to another key's row.
//! Cryptography is aws-lc-rs (never the `rsa` crate: RUSTSEC-2023-0071).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsBigEndian as _;
use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::model::{KeyState, SigningKey};

/// JOSE signature algorithms we sign with (RFC 7518 §3.1, RFC 8037).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Rs256,
    Es256,
    EdDsa,
}

impl Algorithm {
    /// RS256 first: it is the OpenID Connect baseline and the default for every client.
    pub const ALL: [Algorithm; 3] = [Self::Rs256, Self::Es256, Self::EdDsa];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key-encryption key must be 32 bytes, base64-encoded")]
    BadKek,
    #[error("key generation failed")]
    Generation,
    #[error("the private key of {0} cannot be decrypted with this key-encryption key")]
    Decrypt(String),
    #[error("unknown key algorithm {0:?}")]
    UnknownAlgorithm(String),
}

/// The key-encryption key. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct Kek([u8; 32]);

impl Kek {
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim()))
            .map_err(|_| KeyError::BadKek)?;
        Ok(Self(bytes.try_into().map_err(|_| KeyError::BadKek)?))
    }

    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).map_err(|_| KeyError::Generation)?;
        Ok(Self(bytes))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Derives an independent key for another purpose (HKDF-SHA256, RFC 5869, with `label` as the
    /// `info`), so that every node sharing this key-encryption key agrees on, say, the CSRF key,
    /// without the key-encryption key itself ever being used for anything but encryption.
    pub fn derive(&self, label: &str, out: &mut [u8]) -> Result<(), KeyError> {
        struct Len(usize);
        impl aws_lc_rs::hkdf::KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        let salt = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"latchkey derived keys v1");
        let info = [label.as_bytes()];
        salt.extract(&self.0)
            .expand(&info, Len(out.len()))
            .and_then(|okm| okm.fill(out))
            .map_err(|_| KeyError::Generation)
    }

    fn aead(&self) -> Result<LessSafeKey, KeyError> {
        Ok(LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).map_err(|_| KeyError::BadKek)?))
    }
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek([redacted])")
    }
}

/// Format version of the encrypted blob: 1 = AES-256-GCM, nonce || ciphertext || tag.
const BLOB_V1: u8 = 1;

fn encrypt(kek: &Kek, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new().fill(&mut nonce).map_err(|_| KeyError::Generation)?;
    let mut buf = plaintext.to_vec();
    kek.aead()?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(kid.as_bytes()), &mut buf)
        .map_err(|_| KeyError::Generation)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
    out.push(BLOB_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    Ok(out)
}

/// The PKCS#8 DER of a stored key's private part.
pub fn decrypt_private_key(key: &SigningKey, kek: &Kek) -> Result<Vec<u8>, KeyError> {
    let fail = || KeyError::Decrypt(key.kid.clone());
    let blob = &key.encrypted_private_key;
    if blob.len() < 1 + NONCE_LEN || blob[0] != BLOB_V1 {
        return Err(fail());
    }
    let nonce: [u8; NONCE_LEN] = blob[1..1 + NONCE_LEN].try_into().map_err(|_| fail())?;
    let mut buf = blob[1 + NONCE_LEN..].to_vec();
    let plain = kek
        .aead()?
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(key.kid.as_bytes()), &mut buf)
        .map_err(|_| fail())?;
    Ok(plain.to_vec())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order, no spaces.
fn thumbprint(required: &[(&str, &str)]) -> String {
    let body: Vec<String> = required.iter().map(|(k, v)| format!("\"{k}\":\"{v}\"")).collect();
    b64(&Sha256::digest(format!("{{{}}}", body.join(",")).as_bytes()))
}

/// Generates a new key in state `next`, its private part encrypted under `kek`. The kid is the
/// key's RFC 7638 thumbprint, so it is unique and stable without coordination between nodes.
pub fn generate_signing_key(alg: Algorithm, kek: &Kek, now: DateTime<Utc>) -> Result<SigningKey, KeyError> {
    let (pkcs8, mut jwk, kid) = match alg {
        Algorithm::Rs256 => {
            let pair =
                signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|_| KeyError::Generation)?;
            let pkcs8 = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&pair)
                .map_err(|_| KeyError::Generation)?
                .as_ref()
                .to_vec();
            let public = pair.public_key();
            let n = b64(public.modulus().big_endian_without_leading_zero());
            let e = b64(public.exponent().big_endian_without_leading_zero());
            let kid = thumbprint(&[("e", &e), ("kty", "RSA"), ("n", &n)]);
            (pkcs8, json!({"kty": "RSA", "n": n, "e": e}), kid)
        }
        Algorithm::Es256 => {
            let pair = signature::EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(|_| KeyError::Generation)?;
            let pkcs8 = pair.to_pkcs8v1().map_err(|_| KeyError::Generation)?.as_ref().to_vec();
            let point: aws_lc_rs::encoding::EcPublicKeyUncompressedBin<'_> =
                pair.public_key().as_be_bytes().map_err(|_| KeyError::Generation)?;
            let point = point.as_ref();
            // SEC 1 uncompressed point: 0x04 || X (32 bytes) || Y (32 bytes).
            if point.len() != 65 {
                return Err(KeyError::Generation);
            }
            let (x, y) = (b64(&point[1..33]), b64(&point[33..65]));
            let kid = thumbprint(&[("crv", "P-256"), ("kty", "EC"), ("x", &x), ("y", &y)]);
            (pkcs8, json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}), kid)
        }
        Algorithm::EdDsa => {
            let pair = signature::Ed25519KeyPair::generate().map_err(|_| KeyError::Generation)?;
            let pkcs8 = pair.to_pkcs8().map_err(|_| KeyError::Generation)?.as_ref().to_vec();
            let x = b64(pair.public_key().as_ref());
            let kid = thumbprint(&[("crv", "Ed25519"), ("kty", "OKP"), ("x", &x)]);
            (pkcs8, json!({"kty": "OKP", "crv": "Ed25519", "x": x}), kid)
        }
    };
    if let Value::Object(map) = &mut jwk {
        map.insert("kid".into(), Value::String(kid.clone()));
        map.insert("alg".into(), Value::String(alg.as_str().into()));
        map.insert("use".into(), Value::String("sig".into()));
    }
    let encrypted_private_key = encrypt(kek, &kid, &pkcs8)?;
    Ok(SigningKey {
        kid,
        algorithm: alg.as_str().into(),
        encrypted_private_key,
        public_jwk: jwk,
        state: KeyState::Next,
        created_at: now,
        activated_at: None,
        retired_at: None,
    })
}

/// What the key set needs for one algorithm at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationPlan {
    /// Generate a `next` key (there is none).
    pub generate_next: bool,
    /// Make this `next` key active (there is no active key, or the active one is due for rotation).
    pub activate: Option<String>,
}

/// Decides what one algorithm's keys need: always one `next` key waiting, and an `active` key no
/// older than `interval`. `force` rotates now whatever the age (`latchkey keys rotate`).
/// A `next` key is activated only after it has been published for `publish_ahead`, unless there
/// is no active key at all (first start) or the rotation is forced.
pub fn plan_rotation(
    keys: &[SigningKey],
    alg: Algorithm,
    now: DateTime<Utc>,
    interval: chrono::Duration,
    publish_ahead: chrono::Duration,
    force: bool,
) -> RotationPlan {
    let of_alg = |state: KeyState| keys.iter().filter(move |k| k.algorithm == alg.as_str() && k.state == state);
    let active = of_alg(KeyState::Active).max_by_key(|k| k.activated_at);
    let next = of_alg(KeyState::Next).min_by_key(|k| k.created_at);
    let due = match active {
        None => true,
        Some(k) => force || k.activated_at.is_none_or(|at| now - at >= interval),
    };
    let activate = match next {
        Some(n) if due && (active.is_none() || force || now - n.created_at >= publish_ahead) => Some(n.kid.clone()),
        _ => None,
    };
    // After activating the only next key there is none left: generate its successor.
    RotationPlan { generate_next: next.is_none() || activate.is_some(), activate }
}

/// Keys to publish in JWKS: next, active, and retired ones still inside `retain`.
pub fn published(keys: &[SigningKey], now: DateTime<Utc>, retain: chrono::Duration) -> Vec<&SigningKey> {
    keys.iter()
        .filter(|k| match k.state {
            KeyState::Next | KeyState::Active => true,
            KeyState::Retired => k.retired_at.is_some_and(|at| now - at < retain),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn generated_keys_have_thumbprint_kids_and_decrypt() {
        let kek = Kek::generate().unwrap();
        for alg in Algorithm::ALL {
            let key = generate_signing_key(alg, &kek, now()).unwrap();
            assert_eq!(key.state, KeyState::Next);
            assert_eq!(key.public_jwk["kid"], key.kid.as_str());
            assert_eq!(key.public_jwk["alg"], alg.as_str());
            assert_eq!(key.public_jwk["use"], "sig");
            assert!(key.public_jwk.get("d").is_none(), "no private member in the public JWK");
            let pkcs8 = decrypt_private_key(&key, &kek).unwrap();
            match alg {
                Algorithm::Rs256 => assert!(signature::RsaKeyPair::from_pkcs8(&pkcs8).is_ok()),
                Algorithm::Es256 => assert!(
                    signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).is_ok()
                ),
                Algorithm::EdDsa => assert!(signature::Ed25519KeyPair::from_pkcs8(&pkcs8).is_ok()),
            }
        }
    }

    #[test]
    fn decrypt_fails_with_another_kek_or_a_moved_ciphertext() {
        let kek = Kek::generate().unwrap();
        let key = generate_signing_key(Algorithm::EdDsa, &kek, now()).unwrap();
        assert!(decrypt_private_key(&key, &Kek::generate().unwrap()).is_err());
        let moved = SigningKey { kid: "other".into(), ..key };
        assert_eq!(decrypt_private_key(&moved, &kek), Err(KeyError::Decrypt("other".into())));
    }

    #[test]
    fn kek_parsing_and_redaction() {
        let kek = Kek::generate().unwrap();
        assert!(Kek::from_base64(&kek.to_base64()).is_ok());
        assert_eq!(Kek::from_base64("dG9vIHNob3J0").err(), Some(KeyError::BadKek));
        assert_eq!(Kek::from_base64("not base64!").err(), Some(KeyError::BadKek));
        assert_eq!(format!("{kek:?}"), "Kek([redacted])");
    }

    fn key(kid: &str, state: KeyState, created: DateTime<Utc>, activated: Option<DateTime<Utc>>) -> SigningKey {
        SigningKey {
            kid: kid.into(),
            algorithm: "RS256".into(),
            encrypted_private_key: vec![],
            public_jwk: json!({}),
            state,
            created_at: created,
            activated_at: activated,
            retired_at: None,
        }
    }

    #[test]
    fn rotation_plan_cases() {
        let (d30, day) = (Duration::days(30), Duration::days(1));
        let plan = |keys: &[SigningKey], force| plan_rotation(keys, Algorithm::Rs256, now(), d30, day, force);
        // Empty: generate a next key; nothing to activate yet.
        assert_eq!(plan(&[], false), RotationPlan { generate_next: true, activate: None });
        // First start: a next key and no active one -> activate it at once, and generate its successor.
        let fresh = [key("n", KeyState::Next, now(), None)];
        assert_eq!(plan(&fresh, false), RotationPlan { generate_next: true, activate: Some("n".into()) });
        // Active and young, next waiting: nothing to do.
        let steady =
            [key("a", KeyState::Active, now() - day, Some(now() - day)), key("n", KeyState::Next, now() - day, None)];
        assert_eq!(plan(&steady, false), RotationPlan { generate_next: false, activate: None });
        // Forced: rotate now.
        assert_eq!(plan(&steady, true), RotationPlan { generate_next: true, activate: Some("n".into()) });
        // Active is old, next published long enough: rotate.
        let old = [
            key("a", KeyState::Active, now() - d30 * 2, Some(now() - d30 * 2)),
            key("n", KeyState::Next, now() - d30, None),
        ];
        assert_eq!(plan(&old, false), RotationPlan { generate_next: true, activate: Some("n".into()) });
        // Active is old but next was only just published: wait until relying parties can have cached it.
        let just =
            [key("a", KeyState::Active, now() - d30 * 2, Some(now() - d30 * 2)), key("n", KeyState::Next, now(), None)];
        assert_eq!(plan(&just, false), RotationPlan { generate_next: false, activate: None });
    }

    #[test]
    fn published_keeps_retired_keys_only_within_retention() {
        let mut old = key("old", KeyState::Retired, now() - Duration::days(60), None);
        old.retired_at = Some(now() - Duration::days(10));
        let mut recent = key("recent", KeyState::Retired, now() - Duration::days(40), None);
        recent.retired_at = Some(now() - Duration::hours(1));
        let keys = [key("a", KeyState::Active, now(), Some(now())), key("n", KeyState::Next, now(), None), old, recent];
        let kids: Vec<&str> = published(&keys, now(), Duration::days(2)).iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["a", "n", "recent"]);
    }
}
