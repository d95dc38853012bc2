//! Staff members of a business: their records, sign-in to the Office Portal, Terms &
//! Conditions acceptance, and the actor every office route acts as.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::account::AccountName;
use crate::audit::Actor;
use crate::contact::{Email, PhoneNumber, parse_text};
use crate::error::{Conflict, DomainError, DomainResult, FieldError, FieldErrors};
use crate::keys;
use crate::lockout::{LockRead, LoginKind};
use crate::passwords::{Password, PasswordAttempt, PasswordHashString, Verified};
use crate::permissions::{Level, Permissions, Task};
use crate::portal::Portal;
use crate::sessions::{Authenticated, SessionView, SubjectKind};
use crate::store::{Batch, Condition, Item, Write};
use crate::tenants::TenantRecord;
use crate::tokens::new_id;

/// A staff username: trimmed, 1 to 64 characters, no spaces. Unique per account
/// case-insensitively; echoed back as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(FieldError::required(field));
        }
        if s.chars().count() > 64 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(FieldError::new(
                field,
                "invalid_username",
                "use 1 to 64 characters without spaces",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A staff member as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StaffRecord {
    pub id: String,
    pub username: Username,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<Email>,
    pub phone: Option<PhoneNumber>,
    pub is_owner: bool,
    pub user_group_id: Option<String>,
    /// The levels of `user_group_id`, copied when the group is assigned, so that a login and
    /// every office request know the effective levels without reading the group (groups never
    /// change once created). `None` on records written before the copy existed: read then.
    #[serde(default)]
    pub group_permissions: Option<Permissions>,
    #[serde(default)]
    pub advanced_permissions: Permissions,
    pub password_hash: PasswordHashString,
    pub terms_accepted_version: Option<String>,
    pub newsletter_opt_in: Option<bool>,
    pub created_at: i64,
    /// Password changes so far; see [`crate::sessions`] (named by `CREDENTIAL_EPOCH_FIELD`).
    #[serde(default)]
    pub credential_epoch: u64,
}

impl StaffRecord {
    /// A new password: every session and reset link issued before it stops working.
    pub fn replace_password(&mut self, hash: PasswordHashString) {
        self.password_hash = hash;
        self.credential_epoch += 1;
    }

    pub fn session_subject(&self) -> crate::signer::SessionSubject<'_> {
        crate::signer::SessionSubject {
            kind: SubjectKind::Staff,
            id: &self.id,
            epoch: self.credential_epoch,
        }
    }
}

/// The staff object of responses (never the hash).
#[derive(Debug, Clone, Serialize)]
pub struct StaffView {
    pub id: String,
    pub username: Username,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<Email>,
    pub phone: Option<PhoneNumber>,
    pub is_owner: bool,
    pub user_group_id: Option<String>,
    pub advanced_permissions: Permissions,
    pub permissions: Permissions,
}

impl StaffView {
    pub fn new(r: &StaffRecord, permissions: Permissions) -> Self {
        Self {
            id: r.id.clone(),
            username: r.username.clone(),
            first_name: r.first_name.clone(),
            last_name: r.last_name.clone(),
            email: r.email.clone(),
            phone: r.phone.clone(),
            is_owner: r.is_owner,
            user_group_id: r.user_group_id.clone(),
            advanced_permissions: r.advanced_permissions,
            permissions,
        }
    }
}

/// A new staff member as received.
#[derive(Debug, Default, Deserialize)]
pub struct StaffInput {
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password: Option<SecretString>,
    pub user_group_id: Option<String>,
    pub advanced_permissions: Option<Permissions>,
}

/// A validated new staff member.
#[derive(Debug)]
pub struct NewStaff {
    pub username: Username,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<Email>,
    pub phone: Option<PhoneNumber>,
    pub password: Password,
    pub user_group_id: Option<String>,
    pub advanced_permissions: Permissions,
}

impl NewStaff {
    /// Validates every field at once; `prefix` names nested fields (e.g. `owner.`).
    pub fn parse(input: StaffInput, prefix: &str) -> DomainResult<Self> {
        let mut errors = FieldErrors::new();
        let f = |name: &str| format!("{prefix}{name}");
        let username = errors.take(Username::parse(
            input.username.as_deref().unwrap_or(""),
            &f("username"),
        ));
        let first_name = errors.take(parse_text(
            input.first_name.as_deref().unwrap_or(""),
            &f("first_name"),
            100,
        ));
        let last_name = errors.take(parse_text(
            input.last_name.as_deref().unwrap_or(""),
            &f("last_name"),
            100,
        ));
        let email = match input.email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(e) => errors.take(Email::parse(e, &f("email"))),
        };
        let phone = match input.phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => errors.take(PhoneNumber::parse(p, &f("phone"))),
        };
        let password = errors.take(Password::parse(
            input.password.unwrap_or_default(),
            &f("password"),
        ));
        errors.finish()?;
        match (username, first_name, last_name, password) {
            (Some(username), Some(first_name), Some(last_name), Some(password)) => Ok(Self {
                username,
                first_name,
                last_name,
                email,
                phone,
                password,
                user_group_id: input.user_group_id.filter(|g| !g.is_empty()),
                advanced_permissions: input.advanced_permissions.unwrap_or_default(),
            }),
            _ => Err(DomainError::Internal("validation lost an error".into())),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TermsState {
    pub current_version: String,
    pub accepted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Warnings {
    pub missing_settings: Vec<&'static str>,
}

/// A successful staff login.
#[derive(Debug, Clone, Serialize)]
pub struct StaffLogin {
    pub token: String,
    pub session: SessionView,
    pub staff: StaffView,
    pub terms: TermsState,
    pub warnings: Warnings,
}

/// The staff member behind an office request, with their effective permissions as of now.
#[derive(Debug, Clone)]
pub struct StaffActor {
    pub auth: Authenticated,
    pub record: StaffRecord,
    pub permissions: Permissions,
}

impl StaffActor {
    /// The one permission guard of office routes.
    pub fn require(&self, task: Task, level: Level) -> DomainResult<()> {
        if self.permissions.allows(task, level) {
            Ok(())
        } else {
            Err(DomainError::Forbidden)
        }
    }

    pub fn actor(&self) -> Actor {
        Actor::staff(&self.record.id)
    }
}

impl Portal {
    /// Builds the record of a new staff member (hashing the password).
    pub async fn staff_record_for(
        &self,
        new: NewStaff,
        is_owner: bool,
    ) -> DomainResult<StaffRecord> {
        let password_hash = self.hasher.hash(&new.password).await?;
        Ok(StaffRecord {
            id: new_id()?,
            username: new.username,
            first_name: new.first_name,
            last_name: new.last_name,
            email: new.email,
            phone: new.phone,
            is_owner,
            user_group_id: if is_owner { None } else { new.user_group_id },
            group_permissions: None,
            advanced_permissions: if is_owner {
                Permissions::default()
            } else {
                new.advanced_permissions
            },
            password_hash,
            terms_accepted_version: None,
            newsletter_opt_in: None,
            created_at: self.clock.epoch(),
            credential_epoch: 0,
        })
    }

    /// The writes creating a staff member: the record and its username guard (one
    /// transaction, so a username is never taken twice).
    pub fn staff_writes(
        &self,
        account: &AccountName,
        staff: &StaffRecord,
    ) -> DomainResult<Vec<Write>> {
        Ok(vec![
            // The username guard is also the login copy of the record (see `staff_update`).
            Write::Put(
                Item::from_record(keys::username(account, &staff.username.normalized()), staff)?,
                Condition::Absent,
            ),
            Write::Put(
                Item::from_record(keys::staff(account, &staff.id), staff)?,
                Condition::Absent,
            ),
        ])
    }

    /// The writes that replace a staff record read at `version_read`: the record itself
    /// (conditional, so concurrent changes cannot be lost) and, in the same transaction, its
    /// login copy under the username guard, which lets a login read everything it needs in
    /// one round trip. Every change of a staff record goes through here.
    pub fn staff_update(
        &self,
        account: &AccountName,
        staff: &StaffRecord,
        version_read: u64,
    ) -> DomainResult<Vec<Write>> {
        Ok(vec![
            Write::Put(
                Item::from_record(keys::staff(account, &staff.id), staff)?
                    .with_version(version_read + 1),
                Condition::VersionIs(version_read),
            ),
            Write::Put(
                Item::from_record(keys::username(account, &staff.username.normalized()), staff)?
                    .with_version(version_read + 1),
                Condition::Exists,
            ),
        ])
    }

    pub async fn staff_record(
        &self,
        account: &AccountName,
        staff_id: &str,
    ) -> DomainResult<(StaffRecord, u64)> {
        self.staff_record_in(&Batch::default(), account, staff_id)
            .await
    }

    /// [`Portal::staff_record`], found among the items read along with the session when it
    /// is one of them.
    pub async fn staff_record_in(
        &self,
        along: &Batch,
        account: &AccountName,
        staff_id: &str,
    ) -> DomainResult<(StaffRecord, u64)> {
        match along
            .read(self.store.as_ref(), &keys::staff(account, staff_id))
            .await?
        {
            Some(item) => Ok((item.record()?, item.version)),
            None => Err(DomainError::NotFound),
        }
    }

    /// Effective permissions: owner full; else the group's level joined with the advanced one.
    pub async fn effective_permissions(
        &self,
        account: &AccountName,
        staff: &StaffRecord,
    ) -> DomainResult<Permissions> {
        if staff.is_owner {
            return Ok(Permissions::FULL);
        }
        let group = match (&staff.user_group_id, staff.group_permissions) {
            (None, _) => Permissions::default(),
            (Some(_), Some(copied)) => copied,
            (Some(id), None) => self.user_group_permissions(account, id).await?,
        };
        Ok(group.union(&staff.advanced_permissions))
    }

    /// Staff login (`POST staff/login` and the staff sign-in page), counted by outcome.
    pub async fn staff_login(
        &self,
        account: &AccountName,
        username: &str,
        password: SecretString,
        stay_logged_in: bool,
    ) -> DomainResult<StaffLogin> {
        let outcome = self
            .staff_login_now(account, username, password, stay_logged_in)
            .await;
        self.count_login(outcome)
    }

    async fn staff_login_now(
        &self,
        account: &AccountName,
        username: &str,
        password: SecretString,
        stay_logged_in: bool,
    ) -> DomainResult<StaffLogin> {
        let normalized = username.trim().to_lowercase();
        if normalized.is_empty() || normalized.len() > 256 {
            self.tenant(account).await?.ensure_open()?;
            // Still spend the same time as a real check.
            self.hasher.verify(&PasswordAttempt(password), None).await?;
            return Err(DomainError::InvalidCredentials);
        }
        // One round trip for everything the login needs before the staff record itself.
        let tenant_key = keys::tenant_record(account);
        let terms_key = keys::platform_terms();
        let lock_key = self.lock_key(account, LoginKind::Staff, &normalized);
        let guard_key = keys::username(account, &normalized);
        let found = self
            .store
            .get_many(&[
                tenant_key.clone(),
                terms_key.clone(),
                lock_key.clone(),
                guard_key.clone(),
            ])
            .await?;
        let tenant: TenantRecord = found
            .iter()
            .find(|i| i.key == tenant_key)
            .ok_or(DomainError::AccountNotFound)?
            .record()?;
        // Before the password is checked: a suspended tenant's logins count no failures.
        tenant.ensure_open()?;
        let current_version =
            crate::tenants::terms_version(found.iter().find(|i| i.key == terms_key));
        let lock = LockRead {
            item: found.iter().find(|i| i.key == lock_key).cloned(),
            key: lock_key,
        };
        // The username guard holds the login copy of the record: no second read.
        let staff: Option<(StaffRecord, u64)> = match found.iter().find(|i| i.key == guard_key) {
            Some(item) => Some((item.record()?, item.version)),
            None => None,
        };
        let staff_id = staff.as_ref().map(|(s, _)| s.id.clone());
        let attempt = PasswordAttempt(password);
        let (verified, success) = self
            .check_credentials_deferred(
                lock,
                &attempt,
                staff.as_ref().map(|(s, _)| &s.password_hash),
            )
            .await?;
        let Some((mut staff, version)) = staff.filter(|_| verified != Verified::No) else {
            // What was typed is never stored: a mistyped name is often a password.
            let (actor, target) = match &staff_id {
                Some(id) => (Actor::staff(id), Some(id.as_str())),
                None => (Actor::system(), None),
            };
            self.audit(
                account,
                actor,
                "staff.login_failed",
                target,
                json!({"known_username": staff_id.is_some()}),
            )
            .await?;
            return Err(DomainError::InvalidCredentials);
        };
        let (session, mut writes) = self.session_writes(
            account,
            tenant.sessions_epoch,
            staff.session_subject(),
            stay_logged_in,
            None,
        )?;
        if verified == Verified::YesRehash
            && let Ok(pw) = Password::parse(attempt.0, "password")
        {
            staff.password_hash = self.hasher.hash(&pw).await?;
            writes.extend(self.staff_update(account, &staff, version)?);
        }
        writes.push(self.audit_write(
            account,
            Actor::staff(&staff.id),
            "staff.login",
            Some(&staff.id),
            json!({"persistent": stay_logged_in}),
        )?);
        self.transact_settling(writes, success, None).await?;
        let permissions = self.effective_permissions(account, &staff).await?;
        Ok(StaffLogin {
            token: session.token.clone(),
            session: SessionView::from(&session),
            terms: TermsState {
                accepted: staff.terms_accepted_version.as_deref() == Some(current_version.as_str()),
                current_version,
            },
            staff: StaffView::new(&staff, permissions),
            warnings: Warnings {
                missing_settings: tenant.missing_settings(),
            },
        })
    }

    /// The staff member behind a staff session, with permissions read now (a level change
    /// applies from the next request). `require_terms`: office routes refuse until the current
    /// terms are accepted.
    pub async fn staff_actor(
        &self,
        auth: Authenticated,
        require_terms: bool,
    ) -> DomainResult<StaffActor> {
        if auth.kind != SubjectKind::Staff {
            return Err(DomainError::Forbidden);
        }
        // Read with the session (see `authenticate`): no read of its own.
        let record: StaffRecord = auth.subject.record()?;
        if require_terms {
            let current = crate::tenants::terms_version(auth.terms.as_ref());
            if record.terms_accepted_version.as_deref() != Some(current.as_str()) {
                return Err(DomainError::TermsNotAccepted);
            }
        }
        let permissions = self.effective_permissions(&auth.account, &record).await?;
        Ok(StaffActor {
            auth,
            record,
            permissions,
        })
    }

    /// `POST staff/terms/accept`. The newsletter choice is kept only for staff with an email.
    pub async fn accept_terms(
        &self,
        auth: Authenticated,
        version: &str,
        newsletter_opt_in: Option<bool>,
    ) -> DomainResult<()> {
        // The terms and the staff record were read with the session.
        let current = crate::tenants::terms_version(auth.terms.as_ref());
        if version.trim() != current {
            return Err(DomainError::Conflict(Conflict::TermsVersionMismatch));
        }
        let account = auth.account.clone();
        let (mut staff, version_read): (StaffRecord, u64) =
            (auth.subject.record()?, auth.subject.version);
        staff.terms_accepted_version = Some(current.clone());
        if staff.email.is_some() {
            staff.newsletter_opt_in = Some(newsletter_opt_in.unwrap_or(false));
        }
        let newsletter = staff.newsletter_opt_in;
        let audit = self.audit_write(
            &account,
            Actor::staff(&staff.id),
            "terms.accepted",
            Some(&staff.id),
            json!({"version": current, "newsletter_opt_in": newsletter}),
        )?;
        let mut writes = self.staff_update(&account, &staff, version_read)?;
        writes.push(audit);
        self.transact_as(&auth, writes).await?;
        Ok(())
    }
}

/// A permissions change as received: a field sent replaces the old value; one left out stays.
#[derive(Debug, Default, Deserialize)]
pub struct PermissionsChange {
    #[serde(default, deserialize_with = "crate::nullable")]
    pub user_group_id: Option<Option<String>>,
    pub advanced_permissions: Option<Permissions>,
}

impl Portal {
    /// Checks that `actor` may give `group_id` and `advanced` to someone: nobody grants a level
    /// above their own for any task.
    async fn check_grant(
        &self,
        actor: &StaffActor,
        group_id: Option<&str>,
        advanced: &Permissions,
    ) -> DomainResult<Option<Permissions>> {
        let account = &actor.auth.account;
        let group = match group_id {
            None => None,
            Some(id) => Some({
                // An id no group could have is unknown without asking the store.
                let item = if crate::tokens::is_opaque(id, crate::tokens::MAX_ID_LENGTH) {
                    self.store.get(&keys::user_group(account, id)).await?
                } else {
                    None
                };
                match item {
                    Some(item) => item.record::<crate::permissions::UserGroup>()?.permissions,
                    None => {
                        return Err(DomainError::Validation(vec![FieldError::new(
                            "user_group_id",
                            "not_found",
                            "no such user group",
                        )]));
                    }
                }
            }),
        };
        if group.unwrap_or_default().within(&actor.permissions)
            && advanced.within(&actor.permissions)
        {
            Ok(group)
        } else {
            Err(DomainError::Forbidden)
        }
    }

    /// `POST office/staff`.
    pub async fn create_staff(&self, actor: &StaffActor, new: NewStaff) -> DomainResult<StaffView> {
        let group = self
            .check_grant(
                actor,
                new.user_group_id.as_deref(),
                &new.advanced_permissions,
            )
            .await?;
        let account = &actor.auth.account;
        let mut record = self.staff_record_for(new, false).await?;
        record.group_permissions = group;
        let mut writes = self.staff_writes(account, &record)?;
        writes.push(self.audit_write(
            account,
            actor.actor(),
            "staff.created",
            Some(&record.id),
            json!({
                "username": record.username,
                "user_group_id": record.user_group_id,
                "advanced_permissions": record.advanced_permissions,
            }),
        )?);
        match self.transact_as(&actor.auth, writes).await {
            Ok(()) => {}
            Err(crate::store::StoreError::TransactionConflict(Some(0))) => {
                return Err(DomainError::Conflict(Conflict::UsernameTaken));
            }
            Err(e) => return Err(e.into()),
        }
        let permissions = self.effective_permissions(account, &record).await?;
        Ok(StaffView::new(&record, permissions))
    }

    pub async fn list_staff(&self, account: &AccountName) -> DomainResult<Vec<StaffView>> {
        let page = self
            .store
            .query(
                &keys::staff_partition(account),
                crate::store::Query::default(),
            )
            .await?;
        let groups = self.user_groups(account).await?;
        let mut staff = Vec::with_capacity(page.items.len());
        for item in &page.items {
            let record: StaffRecord = item.record()?;
            let permissions = if record.is_owner {
                Permissions::FULL
            } else {
                let group = groups
                    .iter()
                    .find(|g| Some(&g.id) == record.user_group_id.as_ref())
                    .map(|g| g.permissions)
                    .unwrap_or_default();
                group.union(&record.advanced_permissions)
            };
            staff.push(StaffView::new(&record, permissions));
        }
        staff.sort_by_key(|s| s.username.normalized());
        Ok(staff)
    }

    pub async fn staff_view(&self, actor: &StaffActor, staff_id: &str) -> DomainResult<StaffView> {
        let account = &actor.auth.account;
        let (record, _) = self
            .staff_record_in(&actor.auth.read_along, account, staff_id)
            .await?;
        let permissions = self.effective_permissions(account, &record).await?;
        Ok(StaffView::new(&record, permissions))
    }

    /// `PUT office/staff/{id}/permissions`. The owner cannot be demoted; the change applies from
    /// the target's next request.
    pub async fn change_permissions(
        &self,
        actor: &StaffActor,
        staff_id: &str,
        change: PermissionsChange,
    ) -> DomainResult<StaffView> {
        let account = &actor.auth.account;
        let (mut record, version) = self
            .staff_record_in(&actor.auth.read_along, account, staff_id)
            .await?;
        if record.is_owner {
            return Err(DomainError::Forbidden);
        }
        let before = (record.user_group_id.clone(), record.advanced_permissions);
        if let Some(group) = change.user_group_id {
            record.user_group_id = group.filter(|g| !g.is_empty());
        }
        if let Some(advanced) = change.advanced_permissions {
            record.advanced_permissions = advanced;
        }
        record.group_permissions = self
            .check_grant(
                actor,
                record.user_group_id.as_deref(),
                &record.advanced_permissions,
            )
            .await?;
        let audit = self.audit_write(
            account,
            actor.actor(),
            "staff.permissions_changed",
            Some(&record.id),
            json!({
                "old": {"user_group_id": before.0, "advanced_permissions": before.1},
                "new": {"user_group_id": record.user_group_id, "advanced_permissions": record.advanced_permissions},
            }),
        )?;
        let mut writes = self.staff_update(account, &record, version)?;
        writes.push(audit);
        self.transact_as(&actor.auth, writes).await?;
        let permissions = self.effective_permissions(account, &record).await?;
        Ok(StaffView::new(&record, permissions))
    }
}
