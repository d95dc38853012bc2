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
            .and_then(|i| crate::guardian::guardian_of_login(&i)))
    }
}

/// How a guardian session starts: the families of the login (the switcher's order), the
/// family to make active when it is one of them, the audit action, writes to commit in the
/// same transaction (an invitation's acceptance) and a password check to settle there.
pub struct SessionStart<'a> {
    pub memberships: Vec<crate::families::Membership>,
    pub stay_logged_in: bool,
    pub preferred: Option<&'a str>,
    pub action: &'a str,
    pub with: Vec<crate::store::Write>,
    pub success: Option<crate::lockout::SuccessToSettle>,
    /// The policy catalog as read (see `Portal::policy_catalog`), `None` when not read.
    pub catalog: Option<Option<crate::store::Item>>,
    /// The tenant's sessions epoch, from the tenant record the flow read (and whose suspension
    /// it checked).
    pub tenant_epoch: u64,
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
    /// `POST portal/login` (and the sign-in page): the same generic errors and lockout as
    /// staff, counted by outcome.
    pub async fn guardian_login(
        &self,
        account: &AccountName,
        email: &str,
        password: secrecy::SecretString,
        stay_logged_in: bool,
    ) -> DomainResult<GuardianLogin> {
        let outcome = self
            .guardian_login_now(account, email, password, stay_logged_in)
            .await;
        self.count_login(outcome)
    }

    async fn guardian_login_now(
        &self,
        account: &AccountName,
        email: &str,
        password: secrecy::SecretString,
        stay_logged_in: bool,
    ) -> DomainResult<GuardianLogin> {
        use crate::lockout::{LockRead, LoginKind};
        use crate::passwords::{PasswordAttempt, Verified};
        let normalized = email.trim().to_lowercase();
        let attempt = PasswordAttempt(password);
        if normalized.is_empty() || normalized.len() > 320 {
            self.tenant(account).await?.ensure_open()?;
            self.hasher.verify(&attempt, None).await?;
            return Err(DomainError::InvalidCredentials);
        }
        // One batch for the tenant, its policy catalog, the lock and the login guard (which
        // names the guardian).
        let tenant_key = keys::tenant_record(account);
        let catalog_key = keys::policy_catalog(account);
        let lock_key = self.lock_key(account, LoginKind::Guardian, &normalized);
        let guard_key = keys::login_email(account, &normalized);
        let found = self
            .store
            .get_many(&[
                tenant_key.clone(),
                catalog_key.clone(),
                lock_key.clone(),
                guard_key.clone(),
            ])
            .await?;
        let catalog = Some(found.iter().find(|i| i.key == catalog_key).cloned());
        let tenant: crate::tenants::TenantRecord = found
            .iter()
            .find(|i| i.key == tenant_key)
            .ok_or(DomainError::AccountNotFound)?
            .record()?;
        // Before the password is checked: a suspended tenant's logins count no failures.
        tenant.ensure_open()?;
        let lock = LockRead {
            item: found.iter().find(|i| i.key == lock_key).cloned(),
            key: lock_key,
        };
        let guardian_id = found
            .iter()
            .find(|i| i.key == guard_key)
            .and_then(crate::guardian::guardian_of_login);
        // The slot is reserved while the guardian's partition (record and family links) is
        // read: two round trips at once. The same reads for an unknown email as for a known
        // one (a partition no guardian has), so the time taken does not tell whether an
        // account exists.
        let partition = keys::guardian_partition(
            account,
            guardian_id.as_deref().unwrap_or(UNKNOWN_GUARDIAN_ID),
        );
        let (reserved, items) = tokio::join!(
            self.reserve_slot(lock),
            self.store.query(&partition, crate::store::Query::default())
        );
        let reserved = reserved?;
        let items = match items {
            Ok(page) => page.items,
            Err(e) => {
                self.release_reserved(reserved).await?;
                return Err(e.into());
            }
        };
        let record_key = keys::guardian(
            account,
            guardian_id.as_deref().unwrap_or(UNKNOWN_GUARDIAN_ID),
        );
        let guardian = match items.iter().find(|i| i.key == record_key) {
            Some(item) if guardian_id.is_some() => Some(item.record::<GuardianRecord>()?),
            _ => None,
        };
        let stored = guardian.as_ref().and_then(|g| g.password_hash.as_ref());
        let (verified, success) = self.verify_reserved(reserved, &attempt, stored).await?;
        let Some(guardian) = guardian.filter(|_| verified != Verified::No) else {
            return Err(DomainError::InvalidCredentials);
        };
        let memberships = crate::families::memberships_in(&items)?;
        self.start_guardian_session(
            account,
            &guardian,
            SessionStart {
                memberships,
                stay_logged_in,
                preferred: None,
                action: "guardian.login",
                with: Vec::new(),
                success,
                catalog,
                tenant_epoch: tenant.sessions_epoch,
            },
        )
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
        let tenant = self.tenant(account).await?;
        tenant.ensure_open()?;
        let memberships = self.memberships(account, &guardian.id).await?;
        self.start_guardian_session(
            account,
            guardian,
            SessionStart {
                memberships,
                stay_logged_in,
                preferred,
                action,
                with: Vec::new(),
                success: None,
                catalog: None,
                tenant_epoch: tenant.sessions_epoch,
            },
        )
        .await
    }

    /// The session of a checked guardian login: one transaction (the caller's writes, the
    /// session, its audit entry and the settlement of the password check), while the active
    /// family's pending policies are read.
    pub async fn start_guardian_session(
        &self,
        account: &AccountName,
        guardian: &GuardianRecord,
        start: SessionStart<'_>,
    ) -> DomainResult<GuardianLogin> {
        let SessionStart {
            memberships,
            stay_logged_in,
            preferred,
            action,
            with,
            success,
            catalog,
            tenant_epoch,
        } = start;
        let active = preferred
            .and_then(|p| memberships.iter().find(|m| m.family_id == p))
            .or_else(|| memberships.first());
        let active_id = active.map(|m| m.family_id.clone());
        let (session, session_writes) = self.session_writes(
            account,
            tenant_epoch,
            guardian.session_subject(),
            stay_logged_in,
            active_id.as_deref(),
        )?;
        let mut writes = with;
        writes.extend(session_writes);
        writes.push(self.audit_write(
            account,
            crate::audit::Actor::guardian(&guardian.id),
            action,
            Some(&guardian.id),
            serde_json::json!({"persistent": stay_logged_in}),
        )?);
        // A primary's link records what the family accepted: no read of the acceptances.
        let known = active.and_then(|m| match m.role {
            crate::families::Role::Primary => m.accepted.clone(),
            crate::families::Role::Secondary => None,
        });
        let pending = async {
            match (&active_id, known) {
                (Some(_), Some(accepted)) => {
                    let policies = self.policy_catalog(account, catalog).await?;
                    Ok(Some(crate::policy::pending_against(&policies, &accepted)))
                }
                (Some(fid), None) => self
                    .pending_policies_in(account, fid, catalog)
                    .await
                    .map(Some),
                (None, _) => DomainResult::Ok(None),
            }
        };
        let (committed, pending) =
            tokio::join!(self.transact_settling(writes, success, None), pending);
        committed?;
        let (setup_complete, pending) = match pending? {
            Some(pending) => (pending.is_empty(), pending),
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
        // The first try starts from the record read with the session.
        let first = std::sync::Mutex::new(Some((actor.guardian.clone(), actor.guardian_version)));
        crate::retry::optimistic(|| async {
            let read = first.lock().ok().and_then(|mut f| f.take());
            let (mut guardian, version) = match read {
                Some(read) => read,
                None => self.guardian_record(account, &actor.guardian.id).await?,
            };
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
                .transact_as(
                    &actor.auth,
                    vec![
                        crate::store::Write::Put(item, crate::store::Condition::VersionIs(version)),
                        audit,
                    ],
                )
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
