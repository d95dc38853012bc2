//! Sessions: a signed bearer token (JWT, HS256) naming the tenant, the session and the subject,
//! checked against a session record on every request, so logout, password changes and
//! revocation take effect at once. Idle deadline: last data-submitting request + 3600 s
//! (none for persistent sessions).
//!
//! Ending every session of a user is O(1), whatever their number or age: each login record
//! carries a credential epoch, every session records the epoch it was started under, and a
//! password change bumps the epoch in the same write as the new hash. Every request reads the
//! session and its subject's record together (one batch read) and refuses a session from an
//! older epoch. Nothing has to find the user's sessions, so no count can make that fail.
//!
//! The same for a whole tenant: the tenant record carries a sessions epoch that an operator
//! moves on (`portal-admin end-sessions`, `suspend-tenant`); every session records the one it
//! started under, and the tenant record joins the same batch read (no extra round trip; the
//! routes that need the settings find it there too).

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::account::AccountName;
use crate::clock::rfc3339_epoch;
use crate::error::{DomainError, DomainResult};
use crate::keys;
use crate::portal::Portal;
use crate::signer::Claims;
pub use crate::signer::{SessionSubject, SubjectKind};
use crate::store::{Condition, Item, Key, StoreError, Write, take_item};
use crate::tokens::new_id;

/// A session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub kind: SubjectKind,
    pub subject_id: String,
    pub persistent: bool,
    pub idle_expires_at: Option<i64>,
    pub created_at: i64,
    /// The subject's credential epoch when the session started; a later password change
    /// moves the subject's epoch on and so ends this session.
    #[serde(default)]
    pub epoch: u64,
    /// The tenant's sessions epoch when the session started (see the module documentation).
    #[serde(default)]
    pub tenant_epoch: u64,
}

/// The credential epoch stored on a login record (staff or guardian): the number of password
/// changes so far. Sessions and reset links issued under an older one are dead.
pub const CREDENTIAL_EPOCH_FIELD: &str = "credential_epoch";

/// The tenant record's field that holds its sessions epoch (`TenantRecord::sessions_epoch`).
pub const TENANT_SESSIONS_EPOCH_FIELD: &str = "sessions_epoch";

/// The sessions epoch of a stored tenant record.
pub fn tenant_sessions_epoch(tenant: &Item) -> u64 {
    tenant
        .data
        .get(TENANT_SESSIONS_EPOCH_FIELD)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

/// The key of the record that holds a subject's credential epoch (and password).
pub fn subject_key(account: &AccountName, kind: SubjectKind, subject_id: &str) -> Key {
    match kind {
        SubjectKind::Staff => keys::staff(account, subject_id),
        SubjectKind::Guardian => keys::guardian(account, subject_id),
    }
}

/// The credential epoch of a stored login record.
pub fn credential_epoch(subject: &Item) -> u64 {
    subject
        .data
        .get(CREDENTIAL_EPOCH_FIELD)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

/// A new session: the bearer token and what the login response shows of it.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub token: String,
    pub id: String,
    pub persistent: bool,
    /// The idle timeout it runs under (`None`: persistent).
    pub idle_timeout_seconds: Option<i64>,
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
            idle_timeout_seconds: s.idle_timeout_seconds,
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
    /// The subject's record as read with the session (staff or guardian), and for staff the
    /// platform terms read in the same batch, so that the routes' own checks need no read.
    pub subject: Item,
    pub terms: Option<Item>,
    /// For a guardian session naming an active family: the guardian's membership in it and
    /// the family record, as read in the same batch (either may be absent), so that the family
    /// routes' gate needs no read of its own.
    pub active_family: Option<ActiveFamilyRead>,
    /// Items the route asked to read along with the session (keys known from the path, see
    /// [`Portal::authenticate_with`]): its flow finds them here instead of reading them.
    pub read_along: crate::store::Batch,
    /// The idle-deadline move this request owes (data-submitting requests on sessions with an
    /// idle timeout), written inside the route's own transaction where it has one
    /// ([`Portal::transact_as`]), else on its own when the request ends
    /// ([`Portal::finish_activity`]): one round trip fewer for every write route.
    pub activity: Activity,
}

/// See [`Authenticated::active_family`].
#[derive(Debug, Clone)]
pub struct ActiveFamilyRead {
    pub membership: Option<Item>,
    pub family: Option<Item>,
    /// The account's policy catalog (what the family gate needs to tell what is pending).
    pub catalog: Option<Item>,
}

/// A request's pending idle-deadline write, shared by every copy of its [`Authenticated`].
#[derive(Debug, Clone, Default)]
pub struct Activity(Arc<Mutex<Option<Write>>>);

impl Activity {
    fn owing(write: Write) -> Self {
        Self(Arc::new(Mutex::new(Some(write))))
    }

    fn pending(&self) -> Option<Write> {
        self.0.lock().ok().and_then(|w| w.clone())
    }

    fn done(&self) {
        if let Ok(mut w) = self.0.lock() {
            *w = None;
        }
    }
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
    /// The write that starts a session under the subject's credential `epoch` (read with the
    /// login record the caller just checked) and the tenant's sessions epoch (read with the
    /// tenant record, whose suspension the caller checked); callers add it to the transaction
    /// of the login they complete.
    pub fn session_writes(
        &self,
        account: &AccountName,
        tenant_epoch: u64,
        subject: SessionSubject<'_>,
        persistent: bool,
        family_id: Option<&str>,
    ) -> DomainResult<(NewSession, Vec<Write>)> {
        let now = self.clock.epoch();
        let id = new_id()?;
        let record = SessionRecord {
            kind: subject.kind,
            subject_id: subject.id.to_owned(),
            persistent,
            idle_expires_at: (!persistent).then_some(now + self.security.idle_timeout_seconds),
            created_at: now,
            epoch: subject.epoch,
            tenant_epoch,
        };
        let mut session = Item::from_record(keys::session(account, &id), &record)?;
        if let Some(at) = record.idle_expires_at {
            session = session.expiring_at(at);
        }
        let token = self.signer.sign(&Claims {
            acct: account.to_string(),
            sid: id.clone(),
            kind: subject.kind,
            sub: subject.id.to_owned(),
            fam: family_id.map(str::to_owned),
            iat: now,
        })?;
        Ok((
            NewSession {
                token,
                id,
                persistent,
                idle_timeout_seconds: (!persistent).then_some(self.security.idle_timeout_seconds),
            },
            vec![Write::Put(session, Condition::Absent)],
        ))
    }

    /// Checks a bearer token for `account`: the session and its subject's record are read in
    /// one batch; the session must be live and from the subject's current credential epoch. A
    /// request that submits data (`activity`) moves the idle deadline; a GET does not.
    pub async fn authenticate(
        &self,
        account: &AccountName,
        bearer: &str,
        activity: bool,
    ) -> DomainResult<Authenticated> {
        self.authenticate_with(account, bearer, activity, Vec::new())
            .await
    }

    /// [`Portal::authenticate`], reading `also` in the same batch (the keys a route knows
    /// from its path, see [`crate::read_along`]); they reach the route's flow as
    /// [`Authenticated::read_along`], so that its own reads need no round trip.
    pub async fn authenticate_with(
        &self,
        account: &AccountName,
        bearer: &str,
        activity: bool,
        also: Vec<Key>,
    ) -> DomainResult<Authenticated> {
        let claims = self
            .signer
            .check(bearer)
            .await
            .filter(|c| c.acct == account.as_str())
            .ok_or(DomainError::Unauthenticated)?;
        let key = keys::session(account, &claims.sid);
        let subject_key = subject_key(account, claims.kind, &claims.sub);
        let terms_key = keys::platform_terms();
        let mut wanted = vec![key.clone(), subject_key.clone()];
        if claims.kind == SubjectKind::Staff {
            wanted.push(terms_key.clone());
        }
        let family_keys = match (&claims.kind, &claims.fam) {
            // The guardian's side of the link (it carries the primary's accepted policies).
            (SubjectKind::Guardian, Some(family_id)) => Some((
                keys::guardian_family(account, &claims.sub, family_id),
                keys::family(account, family_id),
                keys::policy_catalog(account),
            )),
            _ => None,
        };
        if let Some((member, family, catalog)) = &family_keys {
            wanted.push(member.clone());
            wanted.push(family.clone());
            wanted.push(catalog.clone());
        }
        // The tenant record (its sessions epoch) goes with the route's own keys, so that a
        // route that needs the settings finds it read along.
        let tenant_key = keys::tenant_record(account);
        // A key the batch already holds is read once (a batch may not name a key twice).
        let also: Vec<Key> = also
            .into_iter()
            .chain([tenant_key.clone()])
            .filter(|k| !wanted.contains(k))
            .fold(Vec::new(), |mut v, k| {
                if !v.contains(&k) {
                    v.push(k);
                }
                v
            });
        wanted.extend(also.iter().cloned());
        let mut found = self.store.get_many(&wanted).await?;
        let item = take_item(&mut found, &key).ok_or(DomainError::Unauthenticated)?;
        let subject = take_item(&mut found, &subject_key).ok_or(DomainError::Unauthenticated)?;
        let terms = take_item(&mut found, &terms_key);
        let active_family = family_keys.map(|(member, family, catalog)| ActiveFamilyRead {
            membership: take_item(&mut found, &member),
            family: take_item(&mut found, &family),
            catalog: take_item(&mut found, &catalog),
        });
        let read_along = crate::store::Batch::from_parts(also, found);
        let tenant = read_along
            .find(&tenant_key)
            .flatten()
            .ok_or(DomainError::Unauthenticated)?;
        let mut record: SessionRecord = item.record()?;
        let now = self.clock.epoch();
        let live = record.kind == claims.kind
            && record.subject_id == claims.sub
            && record.epoch == credential_epoch(&subject)
            && record.tenant_epoch == tenant_sessions_epoch(&tenant)
            && record.idle_expires_at.is_none_or(|at| now < at);
        if !live {
            return Err(DomainError::Unauthenticated);
        }
        let mut owed = Activity::default();
        if activity && !record.persistent {
            let at = now + self.security.idle_timeout_seconds;
            record.idle_expires_at = Some(at);
            let updated = Item::from_record(key, &record)?
                .with_version(item.version + 1)
                .expiring_at(at);
            // Conditional on the session still existing: a logout in between wins (the write
            // is then dropped), and two concurrent requests both succeed.
            owed = Activity::owing(Write::Put(updated, Condition::Exists));
        }
        Ok(Authenticated {
            account: account.clone(),
            session_id: claims.sid,
            kind: record.kind,
            subject_id: record.subject_id,
            family_id: claims.fam,
            persistent: record.persistent,
            idle_expires_at: record.idle_expires_at,
            subject,
            terms,
            active_family,
            read_along,
            activity: owed,
        })
    }

    /// Commits a route's writes together with the caller's pending idle-deadline move (one
    /// transaction). The route's writes keep their indexes (the move goes last); when only the
    /// move failed (the session ended meanwhile) the route's writes are committed without it,
    /// as a separate write would have been dropped.
    pub async fn transact_as(
        &self,
        auth: &Authenticated,
        mut writes: Vec<Write>,
    ) -> Result<(), StoreError> {
        let Some(touch) = auth.activity.pending() else {
            return self.store.transact(writes).await;
        };
        if writes.len() >= crate::store::MAX_TRANSACTION_WRITES {
            return self.store.transact(writes).await;
        }
        let at = writes.len();
        writes.push(touch);
        match self.store.transact(writes.clone()).await {
            Ok(()) => {
                auth.activity.done();
                Ok(())
            }
            Err(StoreError::TransactionConflict(Some(i))) if i == at => {
                auth.activity.done();
                writes.pop();
                self.store.transact(writes).await
            }
            Err(e) => Err(e),
        }
    }

    /// The items under `keys`: from the items read along with the session when it read them
    /// all, else in one batch now.
    pub async fn read_all(
        &self,
        along: &crate::store::Batch,
        keys: &[Key],
    ) -> Result<Vec<Item>, StoreError> {
        match along.find_all(keys) {
            Some(items) => Ok(items),
            None => self.store.get_many(keys).await,
        }
    }

    /// [`Portal::transact_as`] for a caller that may have no session (operator tools).
    pub async fn transact_maybe_as(
        &self,
        auth: Option<&Authenticated>,
        writes: Vec<Write>,
    ) -> Result<(), StoreError> {
        match auth {
            Some(auth) => self.transact_as(auth, writes).await,
            None => self.store.transact(writes).await,
        }
    }

    /// Writes a request's idle-deadline move if its route did not carry it (a read, a refusal,
    /// a route without a transaction). A session ended meanwhile stays ended.
    pub async fn finish_activity(&self, activity: &Activity) -> DomainResult<()> {
        let Some(Write::Put(item, condition)) = activity.pending() else {
            return Ok(());
        };
        activity.done();
        match self.store.put(item, condition).await {
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e.into()),
        }
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
        // No idle deadline to move on a session that ends now.
        auth.activity.done();
        self.store
            .delete(
                &keys::session(&auth.account, &auth.session_id),
                Condition::Always,
            )
            .await?;
        Ok(())
    }
}
