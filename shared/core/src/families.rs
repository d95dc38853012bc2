//! Families: a primary guardian (full access) and secondary guardians (view-only), the family
//! switcher, and the gates every family route passes through in one place.

use serde::{Deserialize, Serialize};
use serde_json::Map;

use crate::account::AccountName;
use crate::error::{DomainError, DomainResult};
use crate::guardian::GuardianRecord;
use crate::keys;
use crate::policy::PendingPolicy;
use crate::portal::Portal;
use crate::sessions::{ActiveFamilyRead, Authenticated, SubjectKind};
use crate::store::{Batch, Item, Query, take_item};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Primary,
    Secondary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Full,
    View,
}

impl Role {
    pub fn access(self) -> Access {
        match self {
            Role::Primary => Access::Full,
            Role::Secondary => Access::View,
        }
    }
}

/// A family as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FamilyRecord {
    pub id: String,
    pub name: String,
    pub primary_guardian_id: String,
    /// The primary email (lower-cased), guarded unique per account.
    pub primary_email: String,
    pub referral_source: Option<String>,
    #[serde(default)]
    pub custom_fields: Map<String, serde_json::Value>,
    pub address: Option<crate::guardian::Address>,
    /// Where the family signed up: `web` or `mobile`.
    pub client: String,
    /// Set when nothing was pending at sign-up, or once the primary (or staff) accepted the last
    /// pending policy. It no longer decides anything: a family's setup is complete exactly when
    /// no required policy's current version is pending ([`FamilyContext::setup_complete`]).
    /// Still written, so that code reading it (an older version during a deploy) agrees.
    pub setup_finalized: bool,
    pub created_at: i64,
    /// Bumped by a change of primary guardian, which revokes every other link and every pending
    /// invitation in one write: links and invitations of an older generation are dead, whether
    /// or not the clean-up after the change has reached them yet (so no count of guardians or
    /// invitations ever has to fit into one transaction).
    #[serde(default)]
    pub access_generation: u64,
}

/// A guardian's link to a family, stored on both sides (family and guardian partitions).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Membership {
    pub family_id: String,
    pub guardian_id: String,
    pub family_name: String,
    pub role: Role,
    pub added_at: i64,
    /// The family's access generation when the link was made.
    #[serde(default)]
    pub generation: u64,
    /// On the primary's link: the latest version of each policy the family has accepted,
    /// written with every acceptance, so that the primary's login and family requests know
    /// what is pending without reading the acceptances. `None`: not known (secondary links,
    /// links made before it existed, a new primary): read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<std::collections::BTreeMap<String, u32>>,
}

impl Membership {
    /// Whether the link still grants access to `family` (see
    /// [`FamilyRecord::access_generation`]).
    pub fn is_live(&self, family: &FamilyRecord) -> bool {
        self.generation == family.access_generation
    }
}

/// One family in the switcher and in login responses.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyEntry {
    pub family_id: String,
    pub name: String,
    pub role: Role,
    pub access: Access,
}

impl From<&Membership> for FamilyEntry {
    fn from(m: &Membership) -> Self {
        Self {
            family_id: m.family_id.clone(),
            name: m.family_name.clone(),
            role: m.role,
            access: m.role.access(),
        }
    }
}

/// The guardian behind a portal request.
#[derive(Debug, Clone)]
pub struct GuardianActor {
    pub auth: Authenticated,
    pub guardian: GuardianRecord,
    pub guardian_version: u64,
}

/// The family links among a guardian partition's items (the switcher's order: primaries first).
pub fn memberships_in(items: &[Item]) -> DomainResult<Vec<Membership>> {
    let mut memberships = items
        .iter()
        .filter(|i| i.key.sk.starts_with(keys::GUARDIAN_FAMILY_PREFIX))
        .map(|i| i.record())
        .collect::<Result<Vec<Membership>, _>>()?;
    memberships.sort_by_key(|m| (m.role != Role::Primary, m.added_at));
    Ok(memberships)
}

/// The active family of a guardian request, after every gate.
#[derive(Debug, Clone)]
pub struct FamilyContext {
    pub actor: GuardianActor,
    pub family: FamilyRecord,
    pub family_version: u64,
    /// The guardian's side of the link, and its version.
    pub membership: Membership,
    pub membership_version: u64,
    /// Required policies whose current version the family has not accepted.
    pub pending: Vec<PendingPolicy>,
    /// The account's policies (summaries) and, when any is required, the family's
    /// acceptances, as the gate read them.
    pub policies: Vec<crate::policy::PolicySummary>,
    pub accepted: Vec<crate::policy::Acceptance>,
}

impl FamilyContext {
    /// Every required policy's current version is accepted; with no required policy, from
    /// sign-up on. `409 policies_pending` is therefore never answered with nothing pending.
    pub fn setup_complete(&self) -> bool {
        self.pending.is_empty()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PortalFamilyGuardian {
    pub guardian_id: String,
    pub first_name: String,
    pub last_name: String,
    pub primary: bool,
}

/// `GET portal/family`.
#[derive(Debug, Clone, Serialize)]
pub struct PortalFamily {
    pub family_id: String,
    pub name: String,
    pub guardians: Vec<PortalFamilyGuardian>,
    pub setup_complete: bool,
    pub can_add_students: bool,
    pub access: Access,
}

/// One profile card per guardian (Office Portal).
#[derive(Debug, Clone, Serialize)]
pub struct GuardianCard {
    pub guardian_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub primary: bool,
    pub can_log_in: bool,
    pub access: &'static str,
}

/// `GET office/families/{family_id}`.
#[derive(Debug, Clone, Serialize)]
pub struct OfficeFamily {
    pub family_id: String,
    pub name: String,
    pub guardians: Vec<GuardianCard>,
    pub setup_complete: bool,
    pub pending_policies: Vec<PendingPolicy>,
}

/// Whether a family route only reads or also writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyUse {
    Read,
    Write,
}

impl Membership {
    /// The writes that store the link on both sides (family and guardian partitions).
    pub fn writes(
        &self,
        account: &AccountName,
        condition: crate::store::Condition,
    ) -> DomainResult<Vec<crate::store::Write>> {
        use crate::store::{Condition, Item, Write};
        Ok(vec![
            Write::Put(
                Item::from_record(
                    keys::family_member(account, &self.family_id, &self.guardian_id),
                    self,
                )?,
                condition,
            ),
            Write::Put(
                Item::from_record(
                    keys::guardian_family(account, &self.guardian_id, &self.family_id),
                    self,
                )?,
                // The guardian's side follows the family's, which carries the condition.
                Condition::Always,
            ),
        ])
    }
}

impl Portal {
    /// The guardian behind a guardian session; a staff session on a portal route is forbidden.
    pub async fn guardian_actor(&self, auth: Authenticated) -> DomainResult<GuardianActor> {
        if auth.kind != SubjectKind::Guardian {
            return Err(DomainError::Forbidden);
        }
        // Read with the session (see `authenticate`): no read of its own.
        let guardian = auth.subject.record()?;
        let guardian_version = auth.subject.version;
        Ok(GuardianActor {
            auth,
            guardian,
            guardian_version,
        })
    }

    pub async fn family_record(
        &self,
        account: &AccountName,
        family_id: &str,
    ) -> DomainResult<(FamilyRecord, u64)> {
        self.family_record_in(&Batch::default(), account, family_id)
            .await
    }

    /// [`Portal::family_record`], found among the items read along with the session when it
    /// is one of them.
    pub async fn family_record_in(
        &self,
        along: &Batch,
        account: &AccountName,
        family_id: &str,
    ) -> DomainResult<(FamilyRecord, u64)> {
        let key = keys::family(account, family_id);
        match along.read(self.store.as_ref(), &key).await? {
            Some(item) => Ok((item.record()?, item.version)),
            None => Err(DomainError::NotFound),
        }
    }

    /// Every family of a guardian (the switcher), primaries first.
    pub async fn memberships(
        &self,
        account: &AccountName,
        guardian_id: &str,
    ) -> DomainResult<Vec<Membership>> {
        let page = self
            .store
            .query(
                &keys::guardian_partition(account, guardian_id),
                Query {
                    sk_prefix: keys::GUARDIAN_FAMILY_PREFIX.into(),
                    ..Default::default()
                },
            )
            .await?;
        memberships_in(&page.items)
    }

    /// The live members of a family (family side).
    pub async fn family_members(
        &self,
        account: &AccountName,
        family: &FamilyRecord,
    ) -> DomainResult<Vec<Membership>> {
        Ok(self
            .all_family_links(account, &family.id)
            .await?
            .into_iter()
            .filter(|m| m.is_live(family))
            .collect())
    }

    /// Every link stored on the family's side, live or left over from a revocation whose
    /// clean-up has not finished.
    pub(crate) async fn all_family_links(
        &self,
        account: &AccountName,
        family_id: &str,
    ) -> DomainResult<Vec<Membership>> {
        let page = self
            .store
            .query(
                &keys::family_partition(account, family_id),
                Query {
                    sk_prefix: keys::MEMBER_PREFIX.into(),
                    ..Default::default()
                },
            )
            .await?;
        let mut members = page
            .items
            .iter()
            .map(|i| i.record())
            .collect::<Result<Vec<Membership>, _>>()?;
        members.sort_by_key(|m| (m.role != Role::Primary, m.added_at));
        Ok(members)
    }

    /// The active family of a guardian request, through every gate, in this order: the link
    /// still exists (`access_revoked`); a secondary user has confirmed being 18+
    /// (`age_confirmation_required`) and the primary has accepted every required policy
    /// (`primary_policies_pending`); a write needs full access (`view_only`).
    pub async fn family_context(
        &self,
        actor: GuardianActor,
        usage: FamilyUse,
    ) -> DomainResult<FamilyContext> {
        let account = actor.auth.account.clone();
        let family_id = actor.auth.family_id.clone().ok_or(DomainError::Forbidden)?;
        // Read with the session (see `authenticate`); on its own only when it was not.
        let (read, catalog) = match actor.auth.active_family.clone() {
            Some(read) => {
                let catalog = Some(read.catalog.clone());
                (read, catalog)
            }
            None => {
                let member_key = keys::guardian_family(&account, &actor.guardian.id, &family_id);
                let family_key = keys::family(&account, &family_id);
                let mut found = self
                    .store
                    .get_many(&[member_key.clone(), family_key.clone()])
                    .await?;
                let read = ActiveFamilyRead {
                    membership: take_item(&mut found, &member_key),
                    family: take_item(&mut found, &family_key),
                    catalog: None,
                };
                (read, None)
            }
        };
        let membership_item = read.membership.ok_or(DomainError::AccessRevoked)?;
        let membership: Membership = membership_item.record()?;
        let family_item = read.family.ok_or(DomainError::AccessRevoked)?;
        let family: FamilyRecord = family_item.record()?;
        if !membership.is_live(&family) {
            return Err(DomainError::AccessRevoked);
        }
        let (policies, accepted) = self.policy_state(&account, &family_id, catalog).await?;
        let pending = crate::policy::still_pending(&policies, &accepted);
        if membership.role == Role::Secondary {
            if !actor.guardian.age_confirmed {
                return Err(DomainError::AgeConfirmationRequired);
            }
            if !pending.is_empty() {
                return Err(DomainError::PrimaryPoliciesPending);
            }
        }
        if usage == FamilyUse::Write && membership.role != Role::Primary {
            return Err(DomainError::ViewOnly);
        }
        Ok(FamilyContext {
            actor,
            family_version: family_item.version,
            family,
            membership,
            membership_version: membership_item.version,
            pending,
            policies,
            accepted,
        })
    }

    /// `GET portal/family`.
    pub async fn portal_family(&self, ctx: &FamilyContext) -> DomainResult<PortalFamily> {
        let account = &ctx.actor.auth.account;
        let members = self.family_members(account, &ctx.family).await?;
        let keys: Vec<_> = members
            .iter()
            .map(|m| keys::guardian(account, &m.guardian_id))
            .collect();
        let guardians = self.store.get_many(&keys).await?;
        let mut out = Vec::new();
        for m in &members {
            if let Some(item) = guardians
                .iter()
                .find(|i| i.key == keys::guardian(account, &m.guardian_id))
            {
                let g: GuardianRecord = item.record()?;
                out.push(PortalFamilyGuardian {
                    guardian_id: g.id,
                    first_name: g.first_name,
                    last_name: g.last_name,
                    primary: m.role == Role::Primary,
                });
            }
        }
        let setup_complete = ctx.setup_complete();
        Ok(PortalFamily {
            family_id: ctx.family.id.clone(),
            name: ctx.family.name.clone(),
            guardians: out,
            setup_complete,
            can_add_students: setup_complete && ctx.membership.role == Role::Primary,
            access: ctx.membership.role.access(),
        })
    }

    /// `GET office/families/{family_id}`.
    pub async fn office_family(
        &self,
        account: &AccountName,
        family_id: &str,
    ) -> DomainResult<OfficeFamily> {
        self.office_family_in(&Batch::default(), account, family_id)
            .await
    }

    /// [`Portal::office_family`] starting from the items read along with the session (the
    /// family and the policy catalog, where they are).
    pub async fn office_family_in(
        &self,
        along: &Batch,
        account: &AccountName,
        family_id: &str,
    ) -> DomainResult<OfficeFamily> {
        let (family, _) = self.family_record_in(along, account, family_id).await?;
        let members = self.family_members(account, &family).await?;
        let keys: Vec<_> = members
            .iter()
            .map(|m| keys::guardian(account, &m.guardian_id))
            .collect();
        let mut guardians = self.store.get_many(&keys).await?;
        let mut cards = Vec::new();
        for m in members {
            if let Some(item) = take_item(&mut guardians, &keys::guardian(account, &m.guardian_id))
            {
                cards.push((m, item.record()?));
            }
        }
        let catalog = along.find(&keys::policy_catalog(account));
        let pending = self
            .pending_policies_in(account, family_id, catalog)
            .await?;
        Ok(office_family_view(family, &cards, pending))
    }
}

/// The office's view of a family: one card per live member, with the guardian's record.
pub fn office_family_view(
    family: FamilyRecord,
    members: &[(Membership, GuardianRecord)],
    pending: Vec<PendingPolicy>,
) -> OfficeFamily {
    let cards = members
        .iter()
        .map(|(m, g)| {
            let can_log_in = g.can_log_in();
            GuardianCard {
                guardian_id: g.id.clone(),
                first_name: g.first_name.clone(),
                last_name: g.last_name.clone(),
                email: Some(g.email.to_string()),
                phone: g.phones.first().map(|p| p.number.to_string()),
                primary: m.role == Role::Primary,
                can_log_in,
                access: match (can_log_in, m.role) {
                    (false, _) => "none",
                    (true, Role::Primary) => "full",
                    (true, Role::Secondary) => "view",
                },
            }
        })
        .collect();
    OfficeFamily {
        family_id: family.id,
        name: family.name,
        guardians: cards,
        setup_complete: pending.is_empty(),
        pending_policies: pending,
    }
}
