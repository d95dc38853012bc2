//! Revoking secondary access: by the primary guardian, by staff (who can never grant), and by a
//! change of primary guardian (which revokes every secondary user and pending invitation). The
//! secondary user's access to the family ends at once (the family gate reads the membership on
//! every request); both the secondary user and the primary guardian are told by email, through
//! queued notices that survive a mail failure.

use serde::Deserialize;
use serde_json::json;

use crate::account::AccountName;
use crate::audit::Actor;
use crate::error::{Conflict, DomainError, DomainResult, FieldError};
use crate::families::{FamilyRecord, Membership, OfficeFamily, Role};
use crate::guardians::GuardianRecord;
use crate::invitations::InvitationStatus;
use crate::keys;
use crate::messaging::compose_email;
use crate::notices::QueuedNotice;
use crate::portal::Portal;
use crate::sessions::Authenticated;
use crate::store::{Batch, Condition, Item, StoreError, Write, take_item};

/// Writes of one clean-up transaction at most (well inside the store's limit).
const CLEANUP_BATCH: usize = 50;

/// Groups the clean-up's units (the writes of one revoked link or invitation, which stay
/// together) into transactions of at most [`CLEANUP_BATCH`] writes.
fn batches(units: Vec<Vec<Write>>) -> Vec<Vec<Write>> {
    let mut out: Vec<Vec<Write>> = Vec::new();
    for unit in units {
        match out.last_mut() {
            Some(last) if last.len() + unit.len() <= CLEANUP_BATCH => last.extend(unit),
            _ => out.push(unit),
        }
    }
    out
}

/// The same write without a condition on the stored item (clean-up writes may be repeated).
fn unconditional(write: Write) -> Write {
    match write {
        Write::Delete(key, _) => Write::Delete(key, Condition::Always),
        Write::Put(item, _) => Write::Put(item, Condition::Always),
        other => other,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct PrimaryChangeInput {
    pub guardian_id: Option<String>,
}

impl Portal {
    /// The writes and notices that end one secondary user's access to a family.
    async fn revocation(
        &self,
        account: &AccountName,
        family: &FamilyRecord,
        secondary: &GuardianRecord,
        primary: &GuardianRecord,
        actor: Actor,
        business_name: &str,
    ) -> DomainResult<(Vec<Write>, Vec<QueuedNotice>)> {
        let mut writes = vec![
            Write::Delete(
                keys::family_member(account, &family.id, &secondary.id),
                Condition::Exists,
            ),
            Write::Delete(
                keys::guardian_family(account, &secondary.id, &family.id),
                Condition::Always,
            ),
            self.audit_write(
                account,
                actor,
                "secondary.revoked",
                Some(&secondary.id),
                json!({"family_id": family.id}),
            )?,
        ];
        let mut notices = Vec::new();
        let to_secondary = compose_email(
            secondary.email.as_str(),
            business_name,
            "Your access to a family account ended",
            &[format!(
                "Your view-only access to the {} account at {business_name} has been revoked.",
                family.name
            )],
            None,
        );
        let to_primary = compose_email(
            primary.email.as_str(),
            business_name,
            "A secondary user's access ended",
            &[format!(
                "{} {} no longer has access to the {} account at {business_name}.",
                secondary.first_name, secondary.last_name, family.name
            )],
            None,
        );
        for email in [to_secondary, to_primary] {
            let (notice, write) = self.queue_notice(account, email)?;
            writes.push(write);
            notices.push(notice);
        }
        Ok((writes, notices))
    }

    async fn revoke(
        &self,
        account: &AccountName,
        family_id: &str,
        secondary_id: &str,
        actor: Actor,
        auth: &Authenticated,
        known: Option<&FamilyRecord>,
    ) -> DomainResult<()> {
        // The family as the caller's gate read it, else as read with the session.
        let family = match known {
            Some(family) => family.clone(),
            None => {
                self.family_record_in(&auth.read_along, account, family_id)
                    .await?
                    .0
            }
        };
        // Everything else in one batch: the member's link, both guardians, the tenant.
        let member_key = keys::family_member(account, family_id, secondary_id);
        let secondary_key = keys::guardian(account, secondary_id);
        let primary_key = keys::guardian(account, &family.primary_guardian_id);
        let tenant_key = keys::tenant_record(account);
        let mut batch = Batch::fetch(
            self.store.as_ref(),
            vec![
                member_key.clone(),
                secondary_key.clone(),
                primary_key.clone(),
                tenant_key.clone(),
            ],
        )
        .await?;
        let member: Membership = batch
            .take(&member_key)
            .flatten()
            .ok_or(DomainError::NotFound)?
            .record()?;
        if member.role != Role::Secondary || !member.is_live(&family) {
            return Err(DomainError::NotFound);
        }
        let secondary: GuardianRecord = batch
            .take(&secondary_key)
            .flatten()
            .ok_or(DomainError::NotFound)?
            .record()?;
        let primary: GuardianRecord = batch
            .take(&primary_key)
            .flatten()
            .ok_or(DomainError::NotFound)?
            .record()?;
        let tenant: crate::tenants::TenantRecord = batch
            .take(&tenant_key)
            .flatten()
            .ok_or(DomainError::AccountNotFound)?
            .record()?;
        let (writes, notices) = self
            .revocation(
                account,
                &family,
                &secondary,
                &primary,
                actor,
                &tenant.business_name,
            )
            .await?;
        match self.transact_as(auth, writes).await {
            Ok(()) => {}
            Err(StoreError::TransactionConflict(_)) => return Err(DomainError::NotFound),
            Err(e) => return Err(e.into()),
        }
        self.send_notices(notices).await;
        Ok(())
    }

    /// `DELETE portal/secondary-users/{user_id}` (the primary, on the active family).
    pub async fn primary_revokes(
        &self,
        ctx: &crate::families::FamilyContext,
        secondary_id: &str,
    ) -> DomainResult<()> {
        self.revoke(
            &ctx.actor.auth.account,
            &ctx.family.id,
            secondary_id,
            Actor::guardian(&ctx.actor.guardian.id),
            &ctx.actor.auth,
            Some(&ctx.family),
        )
        .await
    }

    /// `DELETE office/families/{family_id}/secondary-users/{user_id}` (staff, families: full).
    pub async fn staff_revokes(
        &self,
        actor: &crate::staff::StaffActor,
        family_id: &str,
        secondary_id: &str,
    ) -> DomainResult<()> {
        self.revoke(
            &actor.auth.account,
            family_id,
            secondary_id,
            actor.actor(),
            &actor.auth,
            None,
        )
        .await
    }

    /// `PUT office/families/{family_id}/primary-guardian`: the new primary is one of the
    /// family's guardians; every secondary access (the old primary's included) and every
    /// pending invitation is revoked; the new primary must invite again.
    pub async fn change_primary(
        &self,
        actor: &crate::staff::StaffActor,
        family_id: &str,
        input: PrimaryChangeInput,
    ) -> DomainResult<OfficeFamily> {
        let account = &actor.auth.account;
        let new_id = input
            .guardian_id
            .filter(|g| !g.trim().is_empty())
            .ok_or_else(|| DomainError::Validation(vec![FieldError::required("guardian_id")]))?;
        let (mut family, family_version) = self
            .family_record_in(&actor.auth.read_along, account, family_id)
            .await?;
        let members = self.family_members(account, &family).await?;
        let not_member = || {
            DomainError::Validation(vec![FieldError::new(
                "guardian_id",
                "not_found",
                "not a guardian of this family",
            )])
        };
        members
            .iter()
            .find(|m| m.guardian_id == new_id)
            .ok_or_else(not_member)?;
        if family.primary_guardian_id == new_id {
            return self
                .office_family_in(&actor.auth.read_along, account, family_id)
                .await;
        }
        // Every member's record (the new primary's among them) and the tenant, in one batch.
        let tenant_key = keys::tenant_record(account);
        let mut wanted: Vec<_> = members
            .iter()
            .map(|m| keys::guardian(account, &m.guardian_id))
            .collect();
        wanted.push(tenant_key.clone());
        let mut found = self.store.get_many(&wanted).await?;
        let tenant: crate::tenants::TenantRecord = take_item(&mut found, &tenant_key)
            .ok_or(DomainError::AccountNotFound)?
            .record()?;
        let mut records = std::collections::HashMap::new();
        for item in found {
            let g: GuardianRecord = item.record()?;
            records.insert(g.id.clone(), g);
        }
        let new_primary = records.get(&new_id).cloned().ok_or_else(not_member)?;
        let new_email = new_primary.email.normalized();
        // The decision, one transaction of fixed size: the primary-email guards, the family
        // with a new access generation (which ends every other link and every pending
        // invitation at once, see `FamilyRecord::access_generation`), the new primary's link
        // and the audit entry.
        let old_primary_id = family.primary_guardian_id.clone();
        let old_email = family.primary_email.clone();
        family.primary_guardian_id = new_id.clone();
        family.primary_email = new_email.clone();
        family.access_generation += 1;
        let promoted = Membership {
            family_id: family.id.clone(),
            guardian_id: new_id.clone(),
            family_name: family.name.clone(),
            role: Role::Primary,
            added_at: self.clock.epoch(),
            generation: family.access_generation,
            // The family's acceptances are not read here: the new primary's requests read them.
            accepted: None,
        };
        let mut writes = vec![
            Write::Delete(keys::primary_email(account, &old_email), Condition::Always),
            Write::Put(
                Item::from_record(
                    keys::primary_email(account, &new_email),
                    &json!({"family_id": family.id}),
                )?,
                Condition::Absent,
            ),
            Write::Put(
                Item::from_record(keys::family(account, &family.id), &family)?
                    .with_version(family_version + 1),
                Condition::VersionIs(family_version),
            ),
            self.audit_write(
                account,
                actor.actor(),
                "family.primary_changed",
                Some(&family.id),
                json!({"old": old_primary_id, "new": new_id}),
            )?,
        ];
        writes.extend(promoted.writes(account, Condition::Exists)?);
        let promoted_view = promoted.clone();
        match self.transact_as(&actor.auth, writes).await {
            Ok(()) => {}
            Err(StoreError::TransactionConflict(Some(1))) => {
                return Err(DomainError::Conflict(Conflict::EmailInUse));
            }
            Err(StoreError::TransactionConflict(_)) => {
                return Err(DomainError::Store(StoreError::Contention));
            }
            Err(e) => return Err(e.into()),
        }
        // The clean-up, in bounded batches: the dead links go, each revoked guardian and the
        // new primary are told, the dead invitations stop answering. Every write is idempotent,
        // so a batch may be retried; access already ended with the decision above.
        let mut cleanup = Vec::new();
        let mut notices = Vec::new();
        for m in &members {
            if m.guardian_id == new_id {
                continue;
            }
            let Some(g) = records.get(&m.guardian_id) else {
                continue;
            };
            let (w, n) = self
                .revocation(
                    account,
                    &family,
                    g,
                    &new_primary,
                    actor.actor(),
                    &tenant.business_name,
                )
                .await?;
            cleanup.push(w.into_iter().map(unconditional).collect::<Vec<_>>());
            notices.extend(n);
        }
        let now = self.clock.epoch();
        for (mut invitation, _) in self.invitations_of(account, family_id).await? {
            if invitation.status != InvitationStatus::Pending {
                continue;
            }
            invitation.status = InvitationStatus::Revoked;
            cleanup.push(vec![
                Write::Delete(
                    keys::invitation_token(account, &invitation.token_hash),
                    Condition::Always,
                ),
                Write::Put(
                    Item::from_record(
                        keys::invitation(account, family_id, &invitation.id),
                        &invitation,
                    )?
                    .expiring_at(now),
                    Condition::Always,
                ),
            ]);
        }
        for batch in batches(cleanup) {
            self.store.transact(batch).await?;
        }
        self.send_notices(notices).await;
        // The view after the change, from what is in hand: the new primary is the one live
        // member; the policies' state is the family's, which a change of primary leaves alone.
        let catalog = actor.auth.read_along.find(&keys::policy_catalog(account));
        let pending = self
            .pending_policies_in(account, family_id, catalog)
            .await?;
        Ok(crate::families::office_family_view(
            family,
            &[(promoted_view, new_primary)],
            pending,
        ))
    }
}
