//! Sessions: a signed bearer token (JWT, HS256) naming the tenant, the session and the subject,
//! checked against a session record on every request, so logout, password changes and
//! revocation take effect at once. Idle deadline: last data-submitting request + 3600 s
//! (none for persistent sessions).

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

use crate::account::AccountName;
use crate::clock::rfc3339_epoch;
use crate::error::{DomainError, DomainResult};
use crate::keys;
use crate::portal::Portal;
use crate::store::{Condition, Item, Query, StoreError, Write};
use crate::tokens::new_id;

pub const IDLE_TIMEOUT_SECONDS: i64 = 3600;

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

/// A session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub kind: SubjectKind,
    pub subject_id: String,
    pub persistent: bool,
    pub idle_expires_at: Option<i64>,
    pub created_at: i64,
}

/// The claims of the bearer token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    /// The account the token belongs to.
    acct: String,
    /// Session id.
    sid: String,
    kind: SubjectKind,
    sub: String,
    /// Active family (guardians).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fam: Option<String>,
    iat: i64,
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

    fn sign(&self, claims: &Claims) -> DomainResult<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| DomainError::Internal(format!("token signing: {e}")))
    }

    fn check(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// A new session: the bearer token and what the login response shows of it.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub id: String,
    pub persistent: bool,
}

/// The `session` object of login responses.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: String,
    pub persistent: bool,
    pub idle_timeout_seconds: Option<i64>,
}

impl From<&NewSession> for SessionView {
    fn from(s: &NewSession) -> Self {
        Self {
            id: s.id.clone(),
            persistent: s.persistent,
            idle_timeout_seconds: (!s.persistent).then_some(IDLE_TIMEOUT_SECONDS),
        }
    }
}

/// A request's verified caller.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub account: AccountName,
    pub session_id: String,
    pub kind: SubjectKind,
    pub subject_id: String,
    pub family_id: Option<String>,
    pub persistent: bool,
    pub idle_expires_at: Option<i64>,
}

/// `GET session`.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    pub kind: SubjectKind,
    pub subject_id: String,
    pub persistent: bool,
    pub idle_expires_at: Option<String>,
}

impl Portal {
    /// The writes that start a session (the session and its entry in the user's index);
    /// callers add them to the transaction of the login they complete.
    pub fn session_writes(
        &self,
        account: &AccountName,
        kind: SubjectKind,
        subject_id: &str,
        persistent: bool,
        family_id: Option<&str>,
    ) -> DomainResult<(NewSession, Vec<Write>)> {
        let now = self.clock.epoch();
        let id = new_id()?;
        let record = SessionRecord {
            kind,
            subject_id: subject_id.to_owned(),
            persistent,
            idle_expires_at: (!persistent).then_some(now + IDLE_TIMEOUT_SECONDS),
            created_at: now,
        };
        let mut session = Item::from_record(keys::session(account, &id), &record)?;
        let mut index = Item::from_record(
            keys::user_session(account, kind.as_str(), subject_id, &id),
            &serde_json::json!({}),
        )?;
        if let Some(at) = record.idle_expires_at {
            session = session.expiring_at(at);
            index = index.expiring_at(at);
        }
        let token = self.signer.sign(&Claims {
            acct: account.to_string(),
            sid: id.clone(),
            kind,
            sub: subject_id.to_owned(),
            fam: family_id.map(str::to_owned),
            iat: now,
        })?;
        Ok((
            NewSession {
                token,
                id,
                persistent,
            },
            vec![
                Write::Put(session, Condition::Absent),
                Write::Put(index, Condition::Always),
            ],
        ))
    }

    /// Checks a bearer token for `account`. A request that submits data (`activity`) moves the
    /// idle deadline; a GET does not.
    pub async fn authenticate(
        &self,
        account: &AccountName,
        bearer: &str,
        activity: bool,
    ) -> DomainResult<Authenticated> {
        let claims = self
            .signer
            .check(bearer)
            .filter(|c| c.acct == account.as_str())
            .ok_or(DomainError::Unauthenticated)?;
        let key = keys::session(account, &claims.sid);
        let item = self
            .store
            .get(&key)
            .await?
            .ok_or(DomainError::Unauthenticated)?;
        let mut record: SessionRecord = item.record()?;
        let now = self.clock.epoch();
        let live = record.kind == claims.kind
            && record.subject_id == claims.sub
            && record.idle_expires_at.is_none_or(|at| now < at);
        if !live {
            return Err(DomainError::Unauthenticated);
        }
        if activity && !record.persistent {
            let at = now + IDLE_TIMEOUT_SECONDS;
            record.idle_expires_at = Some(at);
            let updated = Item::from_record(key, &record)?
                .with_version(item.version + 1)
                .expiring_at(at);
            // Conditional on the version read: a logout in between wins, and two concurrent
            // requests both succeed (one moves the deadline, the other already has).
            match self
                .store
                .put(updated, Condition::VersionIs(item.version))
                .await
            {
                Ok(()) | Err(StoreError::ConditionFailed) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Authenticated {
            account: account.clone(),
            session_id: claims.sid,
            kind: record.kind,
            subject_id: record.subject_id,
            family_id: claims.fam,
            persistent: record.persistent,
            idle_expires_at: record.idle_expires_at,
        })
    }

    /// A new token for the same session, naming another active family.
    pub fn reissue_token(
        &self,
        auth: &Authenticated,
        family_id: Option<&str>,
    ) -> DomainResult<String> {
        self.signer.sign(&Claims {
            acct: auth.account.to_string(),
            sid: auth.session_id.clone(),
            kind: auth.kind,
            sub: auth.subject_id.clone(),
            fam: family_id.map(str::to_owned),
            iat: self.clock.epoch(),
        })
    }

    pub fn session_info(&self, auth: &Authenticated) -> SessionInfo {
        SessionInfo {
            kind: auth.kind,
            subject_id: auth.subject_id.clone(),
            persistent: auth.persistent,
            idle_expires_at: auth.idle_expires_at.map(rfc3339_epoch),
        }
    }

    /// Ends the caller's session at once.
    pub async fn logout(&self, auth: &Authenticated) -> DomainResult<()> {
        self.store
            .transact(vec![
                Write::Delete(
                    keys::session(&auth.account, &auth.session_id),
                    Condition::Always,
                ),
                Write::Delete(
                    keys::user_session(
                        &auth.account,
                        auth.kind.as_str(),
                        &auth.subject_id,
                        &auth.session_id,
                    ),
                    Condition::Always,
                ),
            ])
            .await?;
        Ok(())
    }

    /// Ends every session of a user (password change or reset, revocation).
    pub async fn end_all_sessions(
        &self,
        account: &AccountName,
        kind: SubjectKind,
        subject_id: &str,
    ) -> DomainResult<usize> {
        let partition = keys::user_sessions_partition(account, kind.as_str(), subject_id);
        let page = self.store.query(&partition, Query::default()).await?;
        let mut ended = 0;
        for entry in page.items {
            let sid = entry.key.sk.clone();
            self.store
                .transact(vec![
                    Write::Delete(keys::session(account, &sid), Condition::Always),
                    Write::Delete(entry.key, Condition::Always),
                ])
                .await?;
            ended += 1;
        }
        Ok(ended)
    }
}
