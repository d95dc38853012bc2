//! Guardians: the people of a family who can sign in to the Customer Portal. A guardian's login
//! is their email, unique per account (case-insensitively); the same email in another account
//! is another, unrelated login.

use serde::Serialize;

use crate::account::AccountName;
use crate::error::{DomainError, DomainResult};
use crate::keys;
use crate::portal::Portal;

pub use crate::guardian::{Address, EmailType, GuardianRecord, GuardianView, Phone, PhoneType};

impl Portal {
    pub async fn guardian_record(
        &self,
        account: &AccountName,
        guardian_id: &str,
    ) -> DomainResult<(GuardianRecord, u64)> {
        match self
            .store
            .get(&keys::guardian(account, guardian_id))
            .await?
        {
            Some(item) => Ok((item.record()?, item.version)),
            None => Err(DomainError::NotFound),
        }
    }

    /// The guardian whose login email this is (lower-cased), if any.
    pub async fn guardian_id_by_email(
        &self,
        account: &AccountName,
        email_normalized: &str,
    ) -> DomainResult<Option<String>> {
        Ok(self
            .store
            .get(&keys::login_email(account, email_normalized))
            .await?
            .and_then(|i| {
                i.data
                    .get("guardian_id")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            }))
    }
}

/// A successful guardian login (also the answer to accepting an invitation).
#[derive(Debug, Clone, Serialize)]
pub struct GuardianLogin {
    pub token: String,
    pub session: crate::sessions::SessionView,
    pub guardian: GuardianView,
    pub families: Vec<crate::families::FamilyEntry>,
    pub active_family_id: Option<String>,
    pub requires_age_confirmation: bool,
    pub setup_complete: bool,
    pub pending_policies: Vec<crate::policies::PendingPolicy>,
}

/// `POST portal/session/family`.
#[derive(Debug, Clone, Serialize)]
pub struct FamilySwitch {
    pub token: String,
    pub active_family_id: String,
}

/// A guardian id that never exists (ids are 22 base64url characters): read in place of a real
/// one when an email has no login.
const UNKNOWN_GUARDIAN_ID: &str = "-";

impl Portal {
    /// `POST portal/login`: the same generic errors and lockout as staff.
    pub async fn guardian_login(
        &self,
        account: &AccountName,
        email: &str,
        password: secrecy::SecretString,
        stay_logged_in: bool,
    ) -> DomainResult<GuardianLogin> {
        use crate::lockout::{LockRead, LoginKind};
        use crate::passwords::{PasswordAttempt, Verified};
        self.tenant(account).await?;
        let normalized = email.trim().to_lowercase();
        let attempt = PasswordAttempt(password);
        if normalized.is_empty() || normalized.len() > 320 {
            self.hasher.verify(&attempt, None).await?;
            return Err(DomainError::InvalidCredentials);
        }
        let lock_key = self.lock_key(account, LoginKind::Guardian, &normalized);
        let guard_key = keys::login_email(account, &normalized);
        let found = self
            .store
            .get_many(&[lock_key.clone(), guard_key.clone()])
            .await?;
        let lock = LockRead {
            item: found.iter().find(|i| i.key == lock_key).cloned(),
            key: lock_key,
        };
        let guardian_id = found.iter().find(|i| i.key == guard_key).and_then(|i| {
            i.data
                .get("guardian_id")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        });
        // The same reads for an unknown email as for a known one (a key no guardian has), so
        // the time taken does not tell whether an account exists.
        let guardian = match self
            .store
            .get(&keys::guardian(
                account,
                guardian_id.as_deref().unwrap_or(UNKNOWN_GUARDIAN_ID),
            ))
            .await?
        {
            Some(item) if guardian_id.is_some() => Some(item.record::<GuardianRecord>()?),
            _ => None,
        };
        let stored = guardian.as_ref().and_then(|g| g.password_hash.as_ref());
        let verified = self.check_credentials(lock, &attempt, stored).await?;
        let Some(guardian) = guardian.filter(|_| verified != Verified::No) else {
            return Err(DomainError::InvalidCredentials);
        };
        self.guardian_session(account, &guardian, stay_logged_in, None, "guardian.login")
            .await
    }

    /// Starts a guardian session on `preferred` (or the first family) and describes it as a
    /// login response.
    pub async fn guardian_session(
        &self,
        account: &AccountName,
        guardian: &GuardianRecord,
        stay_logged_in: bool,
        preferred: Option<&str>,
        action: &str,
    ) -> DomainResult<GuardianLogin> {
        let memberships = self.memberships(account, &guardian.id).await?;
        let active = preferred
            .and_then(|p| memberships.iter().find(|m| m.family_id == p))
            .or_else(|| memberships.first());
        let active_id = active.map(|m| m.family_id.clone());
        let (session, mut writes) = self.session_writes(
            account,
            guardian.session_subject(),
            stay_logged_in,
            active_id.as_deref(),
        )?;
        writes.push(self.audit_write(
            account,
            crate::audit::Actor::guardian(&guardian.id),
            action,
            Some(&guardian.id),
            serde_json::json!({"persistent": stay_logged_in}),
        )?);
        self.store.transact(writes).await?;
        let (setup_complete, pending) = match &active_id {
            Some(fid) => {
                let pending = self.pending_policies(account, fid).await?;
                (pending.is_empty(), pending)
            }
            None => (false, Vec::new()),
        };
        Ok(GuardianLogin {
            token: session.token.clone(),
            session: crate::sessions::SessionView::from(&session),
            guardian: GuardianView::from(guardian),
            families: memberships
                .iter()
                .map(crate::families::FamilyEntry::from)
                .collect(),
            active_family_id: active_id,
            requires_age_confirmation: !guardian.age_confirmed,
            setup_complete,
            pending_policies: pending,
        })
    }

    /// `POST portal/age-confirmation`.
    pub async fn confirm_age(&self, actor: &crate::families::GuardianActor) -> DomainResult<()> {
        if actor.guardian.age_confirmed {
            return Ok(());
        }
        let account = &actor.auth.account;
        crate::retry::optimistic(|| async {
            let (mut guardian, version) = self.guardian_record(account, &actor.guardian.id).await?;
            guardian.age_confirmed = true;
            let item =
                crate::store::Item::from_record(keys::guardian(account, &guardian.id), &guardian)?
                    .with_version(version + 1);
            let audit = self.audit_write(
                account,
                crate::audit::Actor::guardian(&guardian.id),
                "guardian.age_confirmed",
                Some(&guardian.id),
                serde_json::json!({}),
            )?;
            let written = self
                .store
                .transact(vec![
                    crate::store::Write::Put(item, crate::store::Condition::VersionIs(version)),
                    audit,
                ])
                .await;
            Ok(crate::retry::won(written)?.then_some(()))
        })
        .await
    }

    /// `POST portal/session/family`: a token for the same session, on another family of the
    /// guardian's.
    pub async fn switch_family(
        &self,
        actor: &crate::families::GuardianActor,
        family_id: &str,
    ) -> DomainResult<FamilySwitch> {
        let account = &actor.auth.account;
        let linked = self
            .store
            .get(&keys::family_member(account, family_id, &actor.guardian.id))
            .await?
            .is_some();
        if !linked {
            return Err(DomainError::Forbidden);
        }
        let token = self.reissue_token(&actor.auth, Some(family_id))?;
        Ok(FamilySwitch {
            token,
            active_family_id: family_id.to_owned(),
        })
    }
}
