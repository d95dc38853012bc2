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
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
        })
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
