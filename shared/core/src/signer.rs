//! Signing and checking bearer tokens (JWT, HS256) with one HMAC key. The token names the
//! tenant, the session and the subject; what makes it live is the session record (see
//! `sessions`), so the token carries no expiry.

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

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

/// Signs and checks bearer tokens with one HMAC key (at least 32 bytes).
#[derive(Clone)]
pub struct TokenSigner {
    /// The key itself, for the keys derived from it ([`TokenSigner::derive_key`]).
    root: SecretSlice<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenSigner {
    pub fn new(key: &SecretSlice<u8>) -> DomainResult<Self> {
        let key = key.expose_secret();
        if key.len() < 32 {
            return Err(DomainError::Internal(
                "the token signing key must be at least 32 bytes".into(),
            ));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry lives in the session record (idle deadline, logout); the token carries none.
        validation.required_spec_claims = HashSet::new();
        validation.validate_exp = false;
        validation.validate_aud = false;
        Ok(Self {
            root: SecretSlice::from(key.to_vec()),
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
        })
    }

    /// A 32-byte key for another purpose (the hosted pages' cookie sealing and CSRF tokens),
    /// derived from the signing key so that there is one secret to keep and rotate, and so
    /// that no purpose's key is the signing key: SHA-256 over a purpose label and the key.
    pub fn derive_key(&self, purpose: &str) -> zeroize::Zeroizing<[u8; 32]> {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(b"portal derived key v1\0");
        hasher.update((purpose.len() as u64).to_be_bytes());
        hasher.update(purpose.as_bytes());
        hasher.update(self.root.expose_secret());
        zeroize::Zeroizing::new(hasher.finalize().into())
    }

    pub(crate) fn sign(&self, claims: &Claims) -> DomainResult<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| DomainError::Internal(format!("token signing: {e}")))
    }

    pub(crate) fn check(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// Whose session is being started, and under which credential epoch.
#[derive(Debug, Clone, Copy)]
pub struct SessionSubject<'a> {
    pub kind: SubjectKind,
    pub id: &'a str,
    pub epoch: u64,
}
