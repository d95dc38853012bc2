//! What an operator does to a tenant in an incident (`portal-admin`): list the tenants, suspend
//! and resume one, unlock a login, end sessions. (The owner's reset link is in `resets`, the
//! audit export in `audit`: each next to the code it reuses.) Every change is written with its
//! audit entry, the operator as actor, in one transaction.
//!
//! Ending sessions never looks for them: a user's sessions end with their credential epoch
//! (as a password change does, which also kills their outstanding reset links), a tenant's with
//! its sessions epoch (see `sessions`). So any number of sessions ends in one write, and the
//! very next request with any of them answers `401`.

use serde::Serialize;
use serde_json::json;

use crate::account::AccountName;
use crate::audit::Actor;
use crate::clock::rfc3339_epoch;
use crate::contact::Email;
use crate::error::{DomainError, DomainResult, FieldError};
use crate::guardians::GuardianRecord;
use crate::keys;
use crate::lockout::LoginKind;
use crate::portal::Portal;
use crate::staff::StaffRecord;
use crate::store::{Condition, Item, Query, Write, take_item};
use crate::tenants::{Suspension, TenantRecord};

/// Tenants listed per registry page (one Query, then one batch read of their records: a batch
/// holds at most 100 keys).
pub const TENANT_PAGE: usize = 100;

/// Longest suspension reason kept.
const MAX_REASON: usize = 500;

/// A login an operator names: a staff username or a guardian's login email, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    Staff(String),
    Guardian(String),
}

impl LoginName {
    /// The login's kind and its normalized name (the form the keys are spelled with).
    fn normalized(&self) -> DomainResult<(LoginKind, String)> {
        match self {
            LoginName::Staff(name) => {
                let n = name.trim().to_lowercase();
                if n.is_empty() || n.len() > 256 {
                    return Err(DomainError::Validation(vec![FieldError::new(
                        "staff_username",
                        "invalid",
                        "give the staff member's username",
                    )]));
                }
                Ok((LoginKind::Staff, n))
            }
            LoginName::Guardian(email) => {
                let email = Email::parse(email, "guardian_email")
                    .map_err(|e| DomainError::Validation(vec![e]))?;
                Ok((LoginKind::Guardian, email.normalized()))
            }
        }
    }
}

/// One tenant as listed.
#[derive(Debug, Clone, Serialize)]
pub struct TenantSummary {
    pub account: String,
    pub business_name: String,
    pub suspended: bool,
    pub suspended_at: Option<String>,
    pub suspension_reason: Option<String>,
    pub created_at: String,
}

/// A page of the tenant registry, by account name.
#[derive(Debug, Clone)]
pub struct TenantPage {
    pub tenants: Vec<TenantSummary>,
    /// The account to continue after, when more may follow.
    pub next: Option<String>,
}

/// What a suspend or resume did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateChange {
    Changed,
    /// The tenant was already in that state: nothing was written.
    Unchanged,
}

impl Portal {
    /// One page of the tenant registry (see `keys::tenant_registry`): a Query, then the
    /// tenants' records in one batch.
    pub async fn list_tenants(&self, after: Option<String>) -> DomainResult<TenantPage> {
        let page = self
            .store
            .query(
                keys::tenant_registry_partition(),
                Query {
                    after,
                    limit: Some(TENANT_PAGE),
                    ..Default::default()
                },
            )
            .await?;
        let accounts: Vec<AccountName> = page
            .items
            .iter()
            .filter_map(|i| AccountName::parse(&i.key.sk))
            .collect();
        let keys: Vec<_> = accounts.iter().map(keys::tenant_record).collect();
        let mut found = if keys.is_empty() {
            Vec::new()
        } else {
            self.store.get_many(&keys).await?
        };
        let mut tenants = Vec::new();
        for key in &keys {
            // A registry entry whose tenant is gone is left out.
            let Some(item) = take_item(&mut found, key) else {
                continue;
            };
            let t: TenantRecord = item.record()?;
            tenants.push(TenantSummary {
                suspended: t.suspended.is_some(),
                suspended_at: t.suspended.as_ref().map(|s| rfc3339_epoch(s.at)),
                suspension_reason: t.suspended.and_then(|s| s.reason),
                account: t.account,
                business_name: t.business_name,
                created_at: rfc3339_epoch(t.created_at),
            });
        }
        Ok(TenantPage {
            tenants,
            next: page.next,
        })
    }

    /// Changes the tenant record on the version read, with an audit entry, retrying when it
    /// loses to a concurrent change. `change` answers whether there is anything to write.
    async fn change_tenant(
        &self,
        account: &AccountName,
        actor: &Actor,
        action: &str,
        details: serde_json::Value,
        change: impl Fn(&mut TenantRecord) -> bool,
    ) -> DomainResult<StateChange> {
        crate::retry::optimistic(|| async {
            let item = self
                .store
                .get(&keys::tenant_record(account))
                .await?
                .ok_or(DomainError::AccountNotFound)?;
            let mut tenant: TenantRecord = item.record()?;
            if !change(&mut tenant) {
                return Ok(Some(StateChange::Unchanged));
            }
            let updated =
                Item::from_record(item.key.clone(), &tenant)?.with_version(item.version + 1);
            let written = self
                .store
                .transact(vec![
                    Write::Put(updated, Condition::VersionIs(item.version)),
                    self.audit_write(account, actor.clone(), action, None, details.clone())?,
                ])
                .await;
            Ok(crate::retry::won(written)?.then_some(StateChange::Changed))
        })
        .await
    }

    /// Suspends a tenant: from now on its logins, sign-ups, invitation acceptance and reset
    /// requests answer `account_suspended`, and every session it has ends (the same write
    /// moves its sessions epoch on). Already suspended: nothing changes.
    pub async fn suspend_tenant(
        &self,
        account: &AccountName,
        actor: Actor,
        reason: Option<&str>,
    ) -> DomainResult<StateChange> {
        let reason = match reason.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => Some(
                crate::contact::parse_text(r, "reason", MAX_REASON)
                    .map_err(|e| DomainError::Validation(vec![e]))?,
            ),
            None => None,
        };
        let at = self.clock.epoch();
        self.change_tenant(
            account,
            &actor,
            "tenant.suspended",
            json!({"reason": reason}),
            |t| {
                if t.suspended.is_some() {
                    return false;
                }
                t.suspended = Some(Suspension {
                    at,
                    reason: reason.clone(),
                });
                t.sessions_epoch += 1;
                true
            },
        )
        .await
    }

    /// Lifts a suspension (sessions it ended stay ended). Not suspended: nothing changes.
    pub async fn resume_tenant(
        &self,
        account: &AccountName,
        actor: Actor,
    ) -> DomainResult<StateChange> {
        self.change_tenant(account, &actor, "tenant.resumed", json!({}), |t| {
            t.suspended.take().is_some()
        })
        .await
    }

    /// Ends every session of the tenant, however many: one write of the tenant record.
    pub async fn end_tenant_sessions(
        &self,
        account: &AccountName,
        actor: Actor,
    ) -> DomainResult<()> {
        self.change_tenant(
            account,
            &actor,
            "sessions.ended",
            json!({"scope": "tenant"}),
            |t| {
                t.sessions_epoch += 1;
                true
            },
        )
        .await
        .map(|_| ())
    }

    /// Clears a login's failed-attempt state so the next right password works at once.
    /// `not_found` when no staff member or guardian has that login. Returns the user's id.
    pub async fn unlock_login(
        &self,
        account: &AccountName,
        login: &LoginName,
        actor: Actor,
    ) -> DomainResult<String> {
        let (kind, normalized) = login.normalized()?;
        let user_id = self.login_user(account, kind, &normalized).await?.id();
        self.store
            .transact(vec![
                Write::Delete(self.lock_key(account, kind, &normalized), Condition::Always),
                self.audit_write(
                    account,
                    actor,
                    "login.unlocked",
                    Some(&user_id),
                    json!({"kind": kind.as_str()}),
                )?,
            ])
            .await?;
        Ok(user_id)
    }

    /// Ends every session of one user (and, with their credential epoch, any reset link they
    /// have outstanding), however many. Returns the user's id.
    pub async fn end_user_sessions(
        &self,
        account: &AccountName,
        login: &LoginName,
        actor: Actor,
    ) -> DomainResult<String> {
        let (kind, normalized) = login.normalized()?;
        crate::retry::optimistic(|| async {
            let user = self.login_user(account, kind, &normalized).await?;
            let id = user.id();
            let mut writes = match user {
                LoginUser::Staff(mut staff, version) => {
                    staff.credential_epoch += 1;
                    self.staff_update(account, &staff, version)?
                }
                LoginUser::Guardian(mut guardian, version) => {
                    guardian.credential_epoch += 1;
                    let item = Item::from_record(keys::guardian(account, &guardian.id), &guardian)?
                        .with_version(version + 1);
                    vec![Write::Put(item, Condition::VersionIs(version))]
                }
            };
            writes.push(self.audit_write(
                account,
                actor.clone(),
                "sessions.ended",
                Some(&id),
                json!({"scope": "user", "kind": kind.as_str()}),
            )?);
            let written = self.store.transact(writes).await;
            Ok(crate::retry::won(written)?.then_some(id))
        })
        .await
    }

    /// The staff member or guardian behind a login name, with the version read (the tenant
    /// must exist: `account_not_found` else, `not_found` for an unknown login).
    async fn login_user(
        &self,
        account: &AccountName,
        kind: LoginKind,
        normalized: &str,
    ) -> DomainResult<LoginUser> {
        let tenant_key = keys::tenant_record(account);
        let guard_key = match kind {
            LoginKind::Staff => keys::username(account, normalized),
            LoginKind::Guardian => keys::login_email(account, normalized),
        };
        let mut found = self
            .store
            .get_many(&[tenant_key.clone(), guard_key.clone()])
            .await?;
        take_item(&mut found, &tenant_key).ok_or(DomainError::AccountNotFound)?;
        let guard = take_item(&mut found, &guard_key).ok_or(DomainError::NotFound)?;
        match kind {
            LoginKind::Staff => {
                // The username guard is the login copy; the record itself is the one to change.
                let copy: StaffRecord = guard.record()?;
                let (staff, version) = self.staff_record(account, &copy.id).await?;
                Ok(LoginUser::Staff(staff, version))
            }
            LoginKind::Guardian => {
                let id = crate::guardian::guardian_of_login(&guard).ok_or(DomainError::NotFound)?;
                let item = self
                    .store
                    .get(&keys::guardian(account, &id))
                    .await?
                    .ok_or(DomainError::NotFound)?;
                Ok(LoginUser::Guardian(item.record()?, item.version))
            }
        }
    }
}

/// A user found by login name, with the version of their record.
enum LoginUser {
    Staff(StaffRecord, u64),
    Guardian(GuardianRecord, u64),
}

impl LoginUser {
    fn id(&self) -> String {
        match self {
            LoginUser::Staff(s, _) => s.id.clone(),
            LoginUser::Guardian(g, _) => g.id.clone(),
        }
    }
}
