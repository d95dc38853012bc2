//! Invitations of secondary guardians by a family's primary guardian: 7 days valid, a fresh
//! link on resend, opened (GET) any number of times, accepted exactly once. Secondary access is
//! view-only. A pending invitation is kept 30 days after it expires so it can still be resent.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::account::AccountName;
use crate::audit::Actor;
use crate::clock::rfc3339_epoch;
use crate::contact::{Email, parse_text};
use crate::error::{Conflict, DomainError, DomainResult, FieldErrors};
use crate::families::{FamilyContext, FamilyRecord, Membership, Role};
use crate::guardians::{GuardianLogin, GuardianRecord};
use crate::keys;
use crate::limits::{MessageKind, send_log_key};
use crate::lockout::{LockRead, LoginKind};
use crate::messaging::compose_email;
use crate::passwords::{Password, PasswordAttempt, Verified};
use crate::portal::Portal;
use crate::security::in_words;
use crate::store::{Batch, Condition, Item, Query, StoreError, Write};
use crate::tenants::TenantRecord;
use crate::tokens::{new_id, new_token, token_hash};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Cancelled,
    Revoked,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvitationRecord {
    pub id: String,
    pub family_id: String,
    pub email: Email,
    pub inviter_id: String,
    pub inviter_name: String,
    pub token_hash: String,
    pub status: InvitationStatus,
    pub valid_until: i64,
    pub created_at: i64,
    /// The family's access generation when the invitation was sent: a change of primary
    /// guardian kills every invitation of an older one.
    #[serde(default)]
    pub generation: u64,
}

impl InvitationRecord {
    /// Pending, and not revoked by a change of the family's primary guardian since it was sent.
    pub fn is_pending_in(&self, family: &crate::families::FamilyRecord) -> bool {
        self.status == InvitationStatus::Pending && self.generation == family.access_generation
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TokenPointer {
    family_id: String,
    invitation_id: String,
    /// The invited email (lower-cased), so that the reads keyed by it (the login guard and the
    /// lock) join the batch that reads the invitation. Absent on links made before it was kept.
    #[serde(default)]
    email: Option<String>,
}

/// What an invitation link leads to, read in two batches: the tenant with the token's
/// pointer, then the invitation, its family and (by the invited email) the login guard and
/// lock; `rest` answers those last two without another round trip.
struct LinkReads {
    invitation: InvitationRecord,
    version: u64,
    family: FamilyRecord,
    family_version: u64,
    /// The account's policy catalog, read with the pointer.
    catalog: Option<Option<Item>>,
    /// The tenant, read with the pointer (its suspension and sessions epoch).
    tenant: crate::tenants::TenantRecord,
    rest: Batch,
}

/// An invitation as the primary sees it.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationView {
    pub invitation_id: String,
    pub email: Email,
    pub expires_at: String,
}

impl From<&InvitationRecord> for InvitationView {
    fn from(i: &InvitationRecord) -> Self {
        Self {
            invitation_id: i.id.clone(),
            email: i.email.clone(),
            expires_at: rfc3339_epoch(i.valid_until),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SecondaryUser {
    pub guardian_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Email,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvitationList {
    pub invitations: Vec<InvitationView>,
    pub secondary_users: Vec<SecondaryUser>,
}

/// `GET portal/invitation-links/{token}`.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationInfo {
    pub family_name: String,
    pub email: Email,
    pub inviter: String,
    pub expires_at: String,
}

/// What the hosted invitation page shows on landing: the link's details and whether the
/// invited email already has a login at this business (accepting then asks only for that
/// login's password; otherwise for a name and a new password). The holder of a live link
/// learns nothing the API's accept would not tell them (it answers `401` for an existing login
/// and `422` for a new email without a name), and the link went only to that mailbox.
#[derive(Debug, Clone)]
pub struct InvitationLanding {
    pub info: InvitationInfo,
    pub existing_login: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct AcceptInvitationInput {
    pub token: Option<String>,
    pub age_confirmed: Option<bool>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub password: Option<SecretString>,
}

/// The login an invitation creates for a new email, parsed at the edge (one `422` listing every
/// field that is not valid).
pub struct NewSecondary {
    pub first_name: String,
    pub last_name: String,
    pub password: Password,
}

impl NewSecondary {
    pub fn parse(
        first_name: Option<&str>,
        last_name: Option<&str>,
        password: SecretString,
    ) -> DomainResult<Self> {
        let mut errors = FieldErrors::new();
        let first = errors.take(parse_text(first_name.unwrap_or(""), "first_name", 100));
        let last = errors.take(parse_text(last_name.unwrap_or(""), "last_name", 100));
        let password = errors.take(Password::parse(password, "password"));
        errors.finish()?;
        match (first, last, password) {
            (Some(first_name), Some(last_name), Some(password)) => Ok(Self {
                first_name,
                last_name,
                password,
            }),
            _ => Err(DomainError::Internal("validation lost an error".into())),
        }
    }
}

fn info_of(invitation: &InvitationRecord, family: FamilyRecord) -> InvitationInfo {
    InvitationInfo {
        family_name: family.name,
        email: invitation.email.clone(),
        inviter: invitation.inviter_name.clone(),
        expires_at: rfc3339_epoch(invitation.valid_until),
    }
}

impl Portal {
    fn invitation_item(
        &self,
        account: &AccountName,
        invitation: &InvitationRecord,
        version: u64,
    ) -> DomainResult<Item> {
        Ok(Item::from_record(
            keys::invitation(account, &invitation.family_id, &invitation.id),
            invitation,
        )?
        .with_version(version)
        .expiring_at(invitation.valid_until + self.security.invitation_kept_seconds))
    }

    fn token_item(
        &self,
        account: &AccountName,
        invitation: &InvitationRecord,
    ) -> DomainResult<Item> {
        Ok(Item::from_record(
            keys::invitation_token(account, &invitation.token_hash),
            &TokenPointer {
                family_id: invitation.family_id.clone(),
                invitation_id: invitation.id.clone(),
                email: Some(invitation.email.normalized()),
            },
        )?
        .expiring_at(invitation.valid_until + self.security.invitation_kept_seconds))
    }

    /// The tenant, as read with the session (the family routes read it along).
    async fn tenant_of(&self, ctx: &FamilyContext) -> DomainResult<TenantRecord> {
        Ok(ctx
            .actor
            .auth
            .read_along
            .read(
                self.store.as_ref(),
                &keys::tenant_record(&ctx.actor.auth.account),
            )
            .await?
            .ok_or(DomainError::AccountNotFound)?
            .record()?)
    }

    async fn send_invitation(
        &self,
        ctx: &FamilyContext,
        tenant: &TenantRecord,
        invitation: &InvitationRecord,
        token: &str,
    ) -> DomainResult<()> {
        let account = &ctx.actor.auth.account;
        let link = format!("{}/a/{account}/invitation?token={token}", self.portal_url);
        let mail = compose_email(
            invitation.email.as_str(),
            &tenant.business_name,
            "You are invited to a family account",
            &[
                format!(
                    "{} invited you to view the {} account at {}.",
                    invitation.inviter_name, ctx.family.name, tenant.business_name
                ),
                format!(
                    "Open the link below within {} to accept. Your access will be view-only.",
                    in_words(self.security.invitation_seconds)
                ),
            ],
            Some(&link),
        );
        self.send_email(mail).await.map_err(|e| {
            tracing::warn!(error = %e, "invitation not delivered");
            DomainError::DeliveryFailed
        })
    }

    /// Every invitation of a family, with its version.
    pub(crate) async fn invitations_of(
        &self,
        account: &AccountName,
        family_id: &str,
    ) -> DomainResult<Vec<(InvitationRecord, u64)>> {
        let page = self
            .store
            .query(
                &keys::family_partition(account, family_id),
                Query {
                    sk_prefix: keys::INVITATION_PREFIX.into(),
                    ..Default::default()
                },
            )
            .await?;
        page.items
            .iter()
            .map(|i| Ok((i.record()?, i.version)))
            .collect()
    }

    /// `POST portal/invitations` (primary, setup complete).
    pub async fn invite(&self, ctx: &FamilyContext, email: &str) -> DomainResult<InvitationView> {
        let account = ctx.actor.auth.account.clone();
        let email = Email::parse(email, "email").map_err(|e| DomainError::Validation(vec![e]))?;
        let normalized = email.normalized();
        if !ctx.setup_complete() {
            return Err(DomainError::Conflict(Conflict::PoliciesPending));
        }
        // The login guard and the send log in one batch (both keyed by the email).
        let guard_key = keys::login_email(&account, &normalized);
        let log_key = send_log_key(&account, MessageKind::Invitation, &normalized);
        let mut batch = Batch::fetch(
            self.store.as_ref(),
            vec![guard_key.clone(), log_key.clone()],
        )
        .await?;
        let existing = batch
            .take(&guard_key)
            .flatten()
            .and_then(|i| crate::guardian::guardian_of_login(&i));
        if let Some(existing) = existing
            && self
                .store
                .get(&keys::family_member(&account, &ctx.family.id, &existing))
                .await?
                .is_some()
        {
            return Err(DomainError::Conflict(Conflict::AlreadyMember));
        }
        let now = self.clock.epoch();
        let (token, hash) = new_token()?;
        let invitation = InvitationRecord {
            id: new_id()?,
            family_id: ctx.family.id.clone(),
            email,
            inviter_id: ctx.actor.guardian.id.clone(),
            inviter_name: format!(
                "{} {}",
                ctx.actor.guardian.first_name, ctx.actor.guardian.last_name
            ),
            token_hash: hash,
            status: InvitationStatus::Pending,
            valid_until: now + self.security.invitation_seconds,
            created_at: now,
            generation: ctx.family.access_generation,
        };
        let audit = self.audit_write(
            &account,
            Actor::guardian(&ctx.actor.guardian.id),
            "secondary.invited",
            Some(&ctx.family.id),
            json!({"invitation_id": invitation.id, "email": normalized}),
        )?;
        // The invitation, its link, the audit entry, the sending allowance and the tenant's
        // daily mail count in one transaction; a concurrent send to the same address moves the
        // send log on: read it again.
        let tenant = self.tenant_of(ctx).await?;
        let limit = self.daily_mail_limit(&tenant);
        let (account_ref, invitation_ref, audit_ref) = (&account, &invitation, &audit);
        let (counted, allowance) = self
            .with_allowance(&log_key, batch.take(&log_key), |allowance| async move {
                let (daily, counted) = self.daily_mail(account_ref, limit);
                let writes = vec![
                    Write::Put(
                        self.invitation_item(account_ref, invitation_ref, 1)?,
                        Condition::Absent,
                    ),
                    Write::Put(
                        self.token_item(account_ref, invitation_ref)?,
                        Condition::Absent,
                    ),
                    audit_ref.clone(),
                    allowance,
                    daily,
                ];
                match self.transact_as(&ctx.actor.auth, writes).await {
                    Ok(()) => Ok(Some(counted)),
                    Err(StoreError::TransactionConflict(Some(3))) => Ok(None),
                    Err(StoreError::TransactionConflict(Some(4))) => {
                        Err(self.daily_ceiling_reached())
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        if let Err(e) = self
            .send_invitation(ctx, &tenant, &invitation, &token)
            .await
        {
            // Not delivered: nothing stays behind; the allowance and the count are given back.
            self.return_allowance(allowance).await;
            self.return_daily_mail(counted).await;
            let _ = self
                .store
                .transact(vec![
                    Write::Delete(
                        keys::invitation(&account, &invitation.family_id, &invitation.id),
                        Condition::Always,
                    ),
                    Write::Delete(
                        keys::invitation_token(&account, &invitation.token_hash),
                        Condition::Always,
                    ),
                ])
                .await;
            return Err(e);
        }
        Ok(InvitationView::from(&invitation))
    }

    /// `GET portal/invitations` (primary): pending invitations and current secondary users.
    pub async fn invitation_list(&self, ctx: &FamilyContext) -> DomainResult<InvitationList> {
        let account = &ctx.actor.auth.account;
        let mut invitations: Vec<InvitationRecord> = self
            .invitations_of(account, &ctx.family.id)
            .await?
            .into_iter()
            .map(|(i, _)| i)
            .filter(|i| i.is_pending_in(&ctx.family))
            .collect();
        invitations.sort_by_key(|i| i.created_at);
        let mut secondary_users = Vec::new();
        for m in self.family_members(account, &ctx.family).await? {
            if m.role == Role::Secondary {
                let (g, _) = self.guardian_record(account, &m.guardian_id).await?;
                secondary_users.push(SecondaryUser {
                    guardian_id: g.id,
                    first_name: g.first_name,
                    last_name: g.last_name,
                    email: g.email,
                });
            }
        }
        Ok(InvitationList {
            invitations: invitations.iter().map(InvitationView::from).collect(),
            secondary_users,
        })
    }

    async fn pending_invitation(
        &self,
        ctx: &FamilyContext,
        invitation_id: &str,
    ) -> DomainResult<(InvitationRecord, u64)> {
        let account = &ctx.actor.auth.account;
        let item = self
            .store
            .get(&keys::invitation(account, &ctx.family.id, invitation_id))
            .await?
            .ok_or(DomainError::NotFound)?;
        let invitation: InvitationRecord = item.record()?;
        if !invitation.is_pending_in(&ctx.family) {
            return Err(DomainError::NotFound);
        }
        Ok((invitation, item.version))
    }

    /// `DELETE portal/invitations/{id}`.
    pub async fn cancel_invitation(
        &self,
        ctx: &FamilyContext,
        invitation_id: &str,
    ) -> DomainResult<()> {
        let account = ctx.actor.auth.account.clone();
        let (mut invitation, version) = self.pending_invitation(ctx, invitation_id).await?;
        invitation.status = InvitationStatus::Cancelled;
        let audit = self.audit_write(
            &account,
            Actor::guardian(&ctx.actor.guardian.id),
            "secondary.invitation_cancelled",
            Some(&ctx.family.id),
            json!({"invitation_id": invitation.id}),
        )?;
        let mut item = self.invitation_item(&account, &invitation, version + 1)?;
        // Cancelled invitations go at the next purge.
        item.expires_at = Some(self.clock.epoch());
        self.transact_as(
            &ctx.actor.auth,
            vec![
                Write::Put(item, Condition::VersionIs(version)),
                Write::Delete(
                    keys::invitation_token(&account, &invitation.token_hash),
                    Condition::Always,
                ),
                audit,
            ],
        )
        .await
        .map_err(|e| match e {
            StoreError::TransactionConflict(_) => DomainError::NotFound,
            e => e.into(),
        })
    }

    /// `POST portal/invitations/{id}/resend`: a fresh link (the old one stops working) and 7
    /// more days, also after expiry. The new link is committed only after the mail carrying it
    /// went out: while the mail service fails the answer is 503 and nothing changes (the old
    /// link keeps working, with its expiry). Should the commit itself fail after the mail went
    /// out (the invitation was cancelled, accepted or resent meanwhile, or the store is down),
    /// the mailed link never works and the old one is as it was.
    pub async fn resend_invitation(
        &self,
        ctx: &FamilyContext,
        invitation_id: &str,
    ) -> DomainResult<InvitationView> {
        let account = ctx.actor.auth.account.clone();
        let (mut invitation, version) = self.pending_invitation(ctx, invitation_id).await?;
        // The sending allowance and the tenant's daily mail count before the mail (the limits
        // must hold before sending), in one transaction.
        let tenant = self.tenant_of(ctx).await?;
        let limit = self.daily_mail_limit(&tenant);
        let log_key = send_log_key(
            &account,
            MessageKind::Invitation,
            &invitation.email.normalized(),
        );
        let account_ref = &account;
        let (counted, allowance) = self
            .with_allowance(&log_key, None, |allowance| async move {
                let (daily, counted) = self.daily_mail(account_ref, limit);
                match self.store.transact(vec![allowance, daily]).await {
                    Ok(()) => Ok(Some(counted)),
                    Err(StoreError::TransactionConflict(Some(0))) => Ok(None),
                    Err(StoreError::TransactionConflict(Some(1))) => {
                        Err(self.daily_ceiling_reached())
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        let old_hash = invitation.token_hash.clone();
        let (token, hash) = new_token()?;
        invitation.token_hash = hash;
        invitation.valid_until = self.clock.epoch() + self.security.invitation_seconds;
        if let Err(e) = self
            .send_invitation(ctx, &tenant, &invitation, &token)
            .await
        {
            self.return_allowance(allowance).await;
            self.return_daily_mail(counted).await;
            return Err(e);
        }
        self.transact_as(&ctx.actor.auth, vec![
                Write::Put(
                    self.invitation_item(&account, &invitation, version + 1)?,
                    Condition::VersionIs(version),
                ),
                Write::Delete(
                    keys::invitation_token(&account, &old_hash),
                    Condition::Always,
                ),
                Write::Put(self.token_item(&account, &invitation)?, Condition::Absent),
            ])
            .await
            .map_err(|e| {
                tracing::warn!(account = %account, error = %e, "resent invitation mailed but not committed: its link will not work");
                match e {
                    StoreError::TransactionConflict(_) => DomainError::NotFound,
                    e => e.into(),
                }
            })?;
        Ok(InvitationView::from(&invitation))
    }

    /// Finds the pending invitation of a token and its family: unknown, used, cancelled or
    /// revoked tokens (a change of primary guardian included) are `invalid_token`; expired
    /// ones `token_expired`. Two round trips (see [`LinkReads`]).
    async fn link_reads(&self, account: &AccountName, token: &str) -> DomainResult<LinkReads> {
        if !crate::tokens::is_opaque(token, crate::tokens::MAX_TOKEN_LENGTH) {
            self.tenant(account).await?.ensure_open()?;
            return Err(DomainError::InvalidToken);
        }
        let hash = token_hash(token);
        let tenant_key = keys::tenant_record(account);
        let pointer_key = keys::invitation_token(account, &hash);
        let catalog_key = keys::policy_catalog(account);
        let mut first = Batch::fetch(
            self.store.as_ref(),
            vec![tenant_key.clone(), pointer_key.clone(), catalog_key.clone()],
        )
        .await?;
        let tenant: crate::tenants::TenantRecord = first
            .take(&tenant_key)
            .flatten()
            .ok_or(DomainError::AccountNotFound)?
            .record()?;
        // A suspended tenant's invitations cannot be opened or accepted (before the token is
        // looked at, so every link says so).
        tenant.ensure_open()?;
        let pointer: TokenPointer = first
            .take(&pointer_key)
            .flatten()
            .ok_or(DomainError::InvalidToken)?
            .record()?;
        let invitation_key = keys::invitation(account, &pointer.family_id, &pointer.invitation_id);
        let family_key = keys::family(account, &pointer.family_id);
        let mut wanted = vec![invitation_key.clone(), family_key.clone()];
        if let Some(email) = &pointer.email {
            wanted.push(keys::login_email(account, email));
            wanted.push(crate::lockout::lock_key(
                account,
                LoginKind::Guardian,
                email,
            ));
        }
        let mut rest = Batch::fetch(self.store.as_ref(), wanted).await?;
        let item = rest
            .take(&invitation_key)
            .flatten()
            .ok_or(DomainError::InvalidToken)?;
        let invitation: InvitationRecord = item.record()?;
        if invitation.status != InvitationStatus::Pending || invitation.token_hash != hash {
            return Err(DomainError::InvalidToken);
        }
        if invitation.valid_until <= self.clock.epoch() {
            return Err(DomainError::TokenExpired);
        }
        let family_item = rest
            .take(&family_key)
            .flatten()
            .ok_or(DomainError::InvalidToken)?;
        let family: FamilyRecord = family_item.record()?;
        if invitation.generation != family.access_generation {
            // Revoked by a change of primary guardian.
            return Err(DomainError::InvalidToken);
        }
        Ok(LinkReads {
            invitation,
            version: item.version,
            family,
            family_version: family_item.version,
            catalog: first.take(&catalog_key),
            tenant,
            rest,
        })
    }

    /// `GET portal/invitation-links/{token}`: never uses the link up.
    pub async fn invitation_info(
        &self,
        account: &AccountName,
        token: &str,
    ) -> DomainResult<InvitationInfo> {
        let LinkReads {
            invitation, family, ..
        } = self.link_reads(account, token).await?;
        Ok(info_of(&invitation, family))
    }

    /// [`Portal::invitation_info`] and whether the invited email already has a login (read in
    /// the same batch as the invitation: no extra round trip). Never uses the link up.
    pub async fn invitation_landing(
        &self,
        account: &AccountName,
        token: &str,
    ) -> DomainResult<InvitationLanding> {
        let LinkReads {
            invitation,
            family,
            mut rest,
            ..
        } = self.link_reads(account, token).await?;
        let existing_login = rest
            .get(
                self.store.as_ref(),
                &keys::login_email(account, &invitation.email.normalized()),
            )
            .await?
            .and_then(|i| crate::guardian::guardian_of_login(&i))
            .is_some();
        Ok(InvitationLanding {
            info: info_of(&invitation, family),
            existing_login,
        })
    }

    /// `POST portal/invitations/accept`: exactly once; a refused accept does not use it up.
    pub async fn accept_invitation(
        &self,
        account: &AccountName,
        input: AcceptInvitationInput,
    ) -> DomainResult<GuardianLogin> {
        let token = input.token.unwrap_or_default();
        let LinkReads {
            mut invitation,
            version,
            family,
            family_version,
            catalog,
            tenant,
            mut rest,
        } = self.link_reads(account, token.trim()).await?;
        let normalized = invitation.email.normalized();
        let password = input.password.unwrap_or_default();
        let now = self.clock.epoch();
        let mut writes = Vec::new();
        let existing = rest
            .get(
                self.store.as_ref(),
                &keys::login_email(account, &normalized),
            )
            .await?
            .and_then(|i| crate::guardian::guardian_of_login(&i));
        let mut success = None;
        let guardian: GuardianRecord = match &existing {
            Some(id) => {
                let (mut guardian, guardian_version) = self.guardian_record(account, id).await?;
                let lock_key = self.lock_key(account, LoginKind::Guardian, &normalized);
                let lock = LockRead {
                    item: rest.get(self.store.as_ref(), &lock_key).await?,
                    key: lock_key,
                };
                let (verified, settle) = self
                    .check_credentials_deferred(
                        lock,
                        &PasswordAttempt(password),
                        guardian.password_hash.as_ref(),
                    )
                    .await?;
                if verified == Verified::No {
                    return Err(DomainError::InvalidCredentials);
                }
                success = settle;
                if self
                    .store
                    .get(&keys::family_member(account, &invitation.family_id, id))
                    .await?
                    .is_some()
                {
                    return Err(DomainError::Conflict(Conflict::AlreadyMember));
                }
                if input.age_confirmed == Some(true) && !guardian.age_confirmed {
                    guardian.age_confirmed = true;
                    writes.push(Write::Put(
                        Item::from_record(keys::guardian(account, id), &guardian)?
                            .with_version(guardian_version + 1),
                        Condition::VersionIs(guardian_version),
                    ));
                }
                guardian
            }
            None => {
                let NewSecondary {
                    first_name,
                    last_name,
                    password,
                } = NewSecondary::parse(
                    input.first_name.as_deref(),
                    input.last_name.as_deref(),
                    password,
                )?;
                let guardian = GuardianRecord {
                    id: new_id()?,
                    first_name,
                    last_name,
                    relationship: None,
                    email: invitation.email.clone(),
                    email_type: None,
                    email_opt_in: false,
                    phones: Vec::new(),
                    address: None,
                    password_hash: Some(self.hasher.hash(&password).await?),
                    age_confirmed: input.age_confirmed == Some(true),
                    created_at: now,
                    credential_epoch: 0,
                };
                writes.extend(guardian.new_login_writes(account)?);
                guardian
            }
        };
        let membership = Membership {
            family_id: family.id.clone(),
            guardian_id: guardian.id.clone(),
            family_name: family.name.clone(),
            role: Role::Secondary,
            added_at: now,
            generation: family.access_generation,
            accepted: None,
        };
        invitation.status = InvitationStatus::Accepted;
        let mut accepted = self.invitation_item(account, &invitation, version + 1)?;
        accepted.expires_at = Some(now);
        // Index 0: the invitation itself, so exactly one concurrent accept wins.
        writes.insert(0, Write::Put(accepted, Condition::VersionIs(version)));
        writes.push(Write::Delete(
            keys::invitation_token(account, &invitation.token_hash),
            Condition::Exists,
        ));
        writes.extend(membership.writes(account, Condition::Absent)?);
        // A change of primary guardian at the same moment wins over this accept.
        writes.push(Write::Check(
            keys::family(account, &family.id),
            Condition::VersionIs(family_version),
        ));
        writes.push(self.audit_write(
            account,
            Actor::guardian(&guardian.id),
            "secondary.accepted",
            Some(&family.id),
            json!({"invitation_id": invitation.id, "new_login": existing.is_none()}),
        )?);
        // The families the guardian is in once this commits (the first login of a new one).
        let mut memberships = match &existing {
            Some(id) => self.memberships(account, id).await?,
            None => Vec::new(),
        };
        memberships.push(membership);
        // The accept and the first session commit together (one transaction).
        let session = self
            .start_guardian_session(
                account,
                &guardian,
                crate::guardians::SessionStart {
                    memberships,
                    stay_logged_in: false,
                    preferred: Some(&family.id),
                    action: "guardian.login",
                    with: writes,
                    success,
                    catalog,
                    tenant_epoch: tenant.sessions_epoch,
                },
            )
            .await;
        match session {
            Err(DomainError::Store(StoreError::TransactionConflict(_))) => {
                Err(DomainError::InvalidToken)
            }
            other => other,
        }
    }
}
