//! Bearer tokens (JWT, HS256) and the ring of HMAC keys that signs them. The token names the
//! tenant, the session and the subject; what makes it live is the session record (see
//! `sessions`), so the token carries no expiry.
//!
//! Key rotation without sign-outs: every token names its key (`kid` header); the ring signs with
//! its newest key and accepts a token signed by any key it holds. A retired key stays in the ring
//! for as long as a token it signed can still be in use (a "stay signed in" session has no expiry
//! and its browser cookie lasts 400 days), so rotating signs nobody out; dropping a key from the
//! ring is what ends its tokens. Tokens issued before keys had ids carry no `kid` and are checked
//! against every key.
//!
//! The ring's stored form (the secret's value) is either one plain key (the bootstrap value: a
//! ring of one) or JSON, newest first: `{"keys":[{"key":"...","created_at":1767225600},...]}`.
//! A key's id is derived from the key (never stored), so a key keeps its id when a plain value
//! becomes a ring.

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DomainError, DomainResult};

/// Who a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Staff,
    Guardian,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Staff => "staff",
            SubjectKind::Guardian => "guardian",
        }
    }
}

/// The claims of the bearer token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// The account the token belongs to.
    pub(crate) acct: String,
    /// Session id.
    pub(crate) sid: String,
    pub(crate) kind: SubjectKind,
    pub(crate) sub: String,
    /// Active family (guardians).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) fam: Option<String>,
    pub(crate) iat: i64,
}

/// The shortest key the ring accepts (HS256 wants at least the hash's 32 bytes).
pub const MIN_KEY_BYTES: usize = 32;

/// Hex characters of a key id: 64 bits of SHA-256, enough to tell a ring's keys apart (a ring
/// holds a few dozen keys at most) and to say nothing about the key.
const KID_HEX: usize = 16;

/// Why a ring's stored form was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    #[error("the key ring is empty")]
    Empty,
    #[error("key {index} of the ring is shorter than {MIN_KEY_BYTES} bytes")]
    TooShort { index: usize },
    #[error("key {kid} is in the ring twice")]
    Duplicate { kid: String },
    #[error("the key ring is not valid JSON of the expected shape: {0}")]
    Malformed(String),
}

/// One HMAC key of the ring.
#[derive(Clone)]
pub struct SigningKey {
    secret: SecretSlice<u8>,
    kid: String,
    /// Unix seconds: when the key became the ring's signing key.
    created_at: i64,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SigningKey {
    fn new(secret: Vec<u8>, created_at: i64, index: usize) -> Result<Self, KeyRingError> {
        if secret.len() < MIN_KEY_BYTES {
            return Err(KeyRingError::TooShort { index });
        }
        Ok(Self {
            kid: key_id(&secret),
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            secret: SecretSlice::from(secret),
            created_at,
        })
    }

    /// The key's id (the tokens' `kid` header): not secret.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn created_at(&self) -> i64 {
        self.created_at
    }

    /// A 32-byte key for another purpose (the hosted pages' cookie sealing and CSRF tokens),
    /// derived from this key so that there is one secret to keep and rotate, and so that no
    /// purpose's key is the signing key: SHA-256 over a purpose label and the key.
    pub fn derive(&self, purpose: &str) -> zeroize::Zeroizing<[u8; 32]> {
        let mut hasher = Sha256::new();
        hasher.update(b"portal derived key v1\0");
        hasher.update((purpose.len() as u64).to_be_bytes());
        hasher.update(purpose.as_bytes());
        hasher.update(self.secret.expose_secret());
        zeroize::Zeroizing::new(hasher.finalize().into())
    }
}

/// The id of a key: the first 16 hex characters of SHA-256 over a label and the key.
pub fn key_id(secret: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"portal signing key id v1\0")
        .chain_update(secret)
        .finalize();
    let mut hex = String::with_capacity(KID_HEX);
    for b in &digest[..KID_HEX / 2] {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// The stored form of a ring (see the module docs). Fields other than these are ignored, so
/// that a later writer may add some without stopping older readers.
#[derive(Serialize, Deserialize)]
struct StoredRing {
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    key: String,
    created_at: i64,
}

/// The ring: newest key first, never empty, each key at least [`MIN_KEY_BYTES`] and there once.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
}

/// What checking a token found.
pub(crate) enum Checked {
    Valid(Claims),
    /// The token names a key the ring does not hold (a newer ring may).
    UnknownKid,
    Invalid,
}

impl KeyRing {
    /// A ring of one key (tests, local runs, a plain stored value).
    pub fn single(secret: &[u8], created_at: i64) -> Result<Self, KeyRingError> {
        Ok(Self {
            keys: vec![SigningKey::new(secret.to_vec(), created_at, 0)?],
        })
    }

    /// The ring of a stored value: JSON when it starts with `{` (a generated plain key has no
    /// punctuation), else one plain key, dated `plain_created_at`.
    pub fn parse(text: &str, plain_created_at: i64) -> Result<Self, KeyRingError> {
        if !text.trim_start().starts_with('{') {
            return Self::single(text.as_bytes(), plain_created_at);
        }
        let stored: StoredRing =
            serde_json::from_str(text).map_err(|e| KeyRingError::Malformed(e.to_string()))?;
        let keys = stored
            .keys
            .into_iter()
            .enumerate()
            .map(|(i, k)| SigningKey::new(k.key.into_bytes(), k.created_at, i))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_keys(keys)
    }

    fn from_keys(keys: Vec<SigningKey>) -> Result<Self, KeyRingError> {
        if keys.is_empty() {
            return Err(KeyRingError::Empty);
        }
        let mut seen = HashSet::new();
        if let Some(k) = keys.iter().find(|k| !seen.insert(k.kid.clone())) {
            return Err(KeyRingError::Duplicate { kid: k.kid.clone() });
        }
        Ok(Self { keys })
    }

    /// The stored form (JSON, newest first). Keys are text: every key the ring holds came
    /// from text (a plain value, a JSON string or [`new_key`]).
    pub fn to_stored(&self) -> String {
        let stored = StoredRing {
            keys: self
                .keys
                .iter()
                .map(|k| StoredKey {
                    key: String::from_utf8_lossy(k.secret.expose_secret()).into_owned(),
                    created_at: k.created_at,
                })
                .collect(),
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// The signing key: the newest.
    pub fn current(&self) -> &SigningKey {
        &self.keys[0]
    }

    /// Every key, newest first.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    pub fn holds(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid == kid)
    }

    /// The ring after a rotation at `now`: `secret` becomes the signing key, and a key is kept
    /// while it was retired (the next newer key's `created_at`) at most `retention_seconds`
    /// ago: the longest a token it signed may still be presented. The key signing until now
    /// is always kept.
    pub fn rotated(
        &self,
        secret: &[u8],
        now: i64,
        retention_seconds: i64,
    ) -> Result<Self, KeyRingError> {
        let mut keys = vec![SigningKey::new(secret.to_vec(), now, 0)?];
        let mut retired_at = now;
        for key in &self.keys {
            if now - retired_at > retention_seconds {
                break;
            }
            keys.push(key.clone());
            retired_at = key.created_at;
        }
        Self::from_keys(keys)
    }

    pub(crate) fn sign(&self, claims: &Claims) -> DomainResult<String> {
        let key = self.current();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|e| DomainError::Internal(format!("token signing: {e}")))
    }

    /// Checks a token against the key its `kid` names, or, without a `kid` (a token issued
    /// before keys had ids), against every key.
    pub(crate) fn check(&self, token: &str) -> Checked {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Checked::Invalid;
        };
        let decode = |key: &SigningKey| {
            jsonwebtoken::decode::<Claims>(token, &key.decoding, validation())
                .ok()
                .map(|d| d.claims)
        };
        let found = match header.kid {
            Some(kid) => match self.keys.iter().find(|k| k.kid == kid) {
                Some(key) => decode(key),
                None => return Checked::UnknownKid,
            },
            None => self.keys.iter().find_map(decode),
        };
        found.map_or(Checked::Invalid, Checked::Valid)
    }
}

/// HS256 only; expiry lives in the session record (idle deadline, logout), so the token
/// carries none.
fn validation() -> &'static Validation {
    static VALIDATION: std::sync::OnceLock<Validation> = std::sync::OnceLock::new();
    VALIDATION.get_or_init(|| {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims = HashSet::new();
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation
    })
}

/// A new random key for the ring: 64 characters of `[A-Za-z0-9]` (about 381 bits), the shape
/// of the bootstrap key the stack generates.
pub fn new_key() -> Result<String, crate::tokens::RandomError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut key = String::with_capacity(64);
    while key.len() < 64 {
        let mut bytes = [0u8; 64];
        crate::tokens::fill_random(&mut bytes)?;
        // Rejection sampling: 248 = 4 * 62, so every accepted byte maps to a uniform symbol.
        for b in bytes.into_iter().filter(|b| *b < 248) {
            if key.len() < 64 {
                key.push(ALPHABET[usize::from(b) % 62] as char);
            }
        }
    }
    Ok(key)
}

/// Whose session is being started, and under which credential epoch.
#[derive(Debug, Clone, Copy)]
pub struct SessionSubject<'a> {
    pub kind: SubjectKind,
    pub id: &'a str,
    pub epoch: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"key a: 0123456789abcdef0123456789abcdef";
    const B: &[u8] = b"key b: 0123456789abcdef0123456789abcdef";
    const C: &[u8] = b"key c: 0123456789abcdef0123456789abcdef";
    const DAY: i64 = 86_400;

    fn claims() -> Claims {
        Claims {
            acct: "splash".into(),
            sid: "s1".into(),
            kind: SubjectKind::Staff,
            sub: "u1".into(),
            fam: None,
            iat: 1,
        }
    }

    fn valid(ring: &KeyRing, token: &str) -> bool {
        matches!(ring.check(token), Checked::Valid(c) if c.sid == "s1")
    }

    fn kid_of(token: &str) -> Option<String> {
        jsonwebtoken::decode_header(token).unwrap().kid
    }

    #[test]
    fn a_plain_value_is_a_ring_of_one_whose_kid_survives_the_json_form() {
        let plain = KeyRing::parse(std::str::from_utf8(A).unwrap(), 7).unwrap();
        assert_eq!(plain.keys().len(), 1);
        assert_eq!(plain.current().created_at(), 7);
        let kid = plain.current().kid().to_owned();
        assert_eq!(kid.len(), 16);
        assert!(kid.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(kid, key_id(A), "derived from the key alone");
        assert_ne!(kid, key_id(B));

        let rotated = plain.rotated(B, 100, 400 * DAY).unwrap();
        let stored = rotated.to_stored();
        let json: serde_json::Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(json["keys"][0]["created_at"], 100);
        assert_eq!(json["keys"][1]["key"], std::str::from_utf8(A).unwrap());
        assert_eq!(json["keys"][1]["created_at"], 7);
        assert!(
            json["keys"][0].get("kid").is_none(),
            "kids are derived, not stored"
        );
        let parsed = KeyRing::parse(&stored, 0).unwrap();
        let kids: Vec<&str> = parsed.keys().iter().map(|k| k.kid()).collect();
        assert_eq!(kids, [key_id(B).as_str(), kid.as_str()]);
    }

    #[test]
    fn malformed_rings_are_refused() {
        let key = std::str::from_utf8(A).unwrap();
        assert_eq!(
            KeyRing::parse("short", 0).err(),
            Some(KeyRingError::TooShort { index: 0 })
        );
        assert_eq!(
            KeyRing::parse(r#"{"keys":[]}"#, 0).err(),
            Some(KeyRingError::Empty)
        );
        let short_second = format!(
            r#"{{"keys":[{{"key":"{key}","created_at":1}},{{"key":"x","created_at":0}}]}}"#
        );
        assert_eq!(
            KeyRing::parse(&short_second, 0).err(),
            Some(KeyRingError::TooShort { index: 1 })
        );
        let twice = format!(
            r#"{{"keys":[{{"key":"{key}","created_at":1}},{{"key":"{key}","created_at":0}}]}}"#
        );
        assert!(matches!(
            KeyRing::parse(&twice, 0),
            Err(KeyRingError::Duplicate { .. })
        ));
        for broken in [r#"{"keys":"#, r#"{"key":"x"}"#, r#"{"keys":[{"key":"x"}]}"#] {
            assert!(matches!(
                KeyRing::parse(broken, 0),
                Err(KeyRingError::Malformed(_))
            ));
        }
        // Fields a later writer adds do not stop this reader.
        let extra = format!(r#"{{"keys":[{{"key":"{key}","created_at":1,"note":"x"}}],"v":2}}"#);
        assert!(KeyRing::parse(&extra, 0).is_ok());
    }

    #[test]
    fn the_ring_signs_with_its_newest_key_and_accepts_any_of_its_keys() {
        let old = KeyRing::single(A, 0).unwrap();
        let new = old.rotated(B, 10, 400 * DAY).unwrap();
        let before = old.sign(&claims()).unwrap();
        let after = new.sign(&claims()).unwrap();
        assert_eq!(kid_of(&before), Some(key_id(A)));
        assert_eq!(kid_of(&after), Some(key_id(B)));
        assert!(valid(&new, &before) && valid(&new, &after));
        assert!(matches!(old.check(&after), Checked::UnknownKid));
        // A kid that names a key of the ring is checked with that key only.
        let other = KeyRing::single(C, 0).unwrap().sign(&claims()).unwrap();
        let (_, rest) = other.split_once('.').unwrap();
        let (head, _) = before.split_once('.').unwrap();
        assert!(matches!(
            new.check(&format!("{head}.{rest}")),
            Checked::Invalid
        ));
        assert!(matches!(new.check("not a token"), Checked::Invalid));
    }

    #[test]
    fn tokens_without_a_kid_are_checked_against_every_key() {
        let legacy = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(A),
        )
        .unwrap();
        assert_eq!(kid_of(&legacy), None);
        let ring = KeyRing::single(A, 0)
            .unwrap()
            .rotated(B, 10, 400 * DAY)
            .unwrap()
            .rotated(C, 20, 400 * DAY)
            .unwrap();
        assert!(valid(&ring, &legacy));
        let without_a = KeyRing::single(B, 0)
            .unwrap()
            .rotated(C, 20, 400 * DAY)
            .unwrap();
        assert!(matches!(without_a.check(&legacy), Checked::Invalid));
    }

    #[test]
    fn a_key_is_kept_until_it_has_been_retired_for_the_retention() {
        let retention = 400 * DAY;
        let ring = KeyRing::single(A, 0).unwrap();
        let ring = ring.rotated(B, 30 * DAY, retention).unwrap(); // A retired at day 30
        let ring = ring.rotated(C, 60 * DAY, retention).unwrap(); // B retired at day 60
        assert_eq!(ring.keys().len(), 3);
        let d = b"key d: 0123456789abcdef0123456789abcdef";
        let kept = ring.rotated(d, 430 * DAY, retention).unwrap();
        assert_eq!(kept.keys().len(), 4, "A retired exactly 400 days ago");
        let dropped = ring.rotated(d, 430 * DAY + 1, retention).unwrap();
        let kids: Vec<&str> = dropped.keys().iter().map(|k| k.kid()).collect();
        assert_eq!(kids, [key_id(d), key_id(C), key_id(B)]);
        // However long ago, the key signing until now stays.
        let much_later = ring.rotated(d, 5_000 * DAY, 0).unwrap();
        assert_eq!(much_later.keys().len(), 2);
        assert!(ring.rotated(A, 70 * DAY, retention).is_err(), "a key twice");
    }

    #[test]
    fn new_keys_are_64_alphanumerics_and_differ() {
        let a = new_key().unwrap();
        let b = new_key().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert!(
            KeyRing::parse(&a, 0).is_ok(),
            "a plain value, never taken for JSON"
        );
    }
}
