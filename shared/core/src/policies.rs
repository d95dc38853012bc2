//! Family policies: the business's policies (a version each; an update bumps it and every family
//! must accept again), acceptance by the primary guardian, and manual acceptance by staff.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::account::AccountName;
use crate::audit::Actor;
use crate::clock::rfc3339_epoch;
use crate::contact::parse_text;
use crate::error::{DomainError, DomainResult, FieldError, FieldErrors};
use crate::families::{FamilyContext, FamilyRecord, Membership, Role};
use crate::keys;
use crate::portal::Portal;
use crate::staff::StaffActor;
use crate::store::{Condition, Item, Query, StoreError, Write};
use crate::tokens::new_id;

pub use crate::policy::{
    Acceptance, PendingPolicy, PolicyCatalog, PolicyRecord, PolicySummary, still_pending,
};

/// `GET portal/policies` entry.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyStatus {
    pub id: String,
    pub title: String,
    pub version: u32,
    pub required: bool,
    pub accepted: bool,
    pub accepted_at: Option<String>,
    pub manual: bool,
}

/// A policy as received from the office.
#[derive(Debug, Default, Deserialize)]
pub struct PolicyInput {
    pub title: Option<String>,
    pub body: Option<String>,
    pub required: Option<bool>,
}

/// `POST portal/policies/accept` body entry.
#[derive(Debug, Deserialize)]
pub struct AcceptInput {
    pub id: Option<String>,
    pub version: Option<u32>,
}

/// `POST portal/policies/accept` outcome.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptOutcome {
    pub setup_complete: bool,
    pub pending_policies: Vec<PendingPolicy>,
}

/// `POST office/.../manual-accept` outcome.
#[derive(Debug, Clone, Serialize)]
pub struct ManualAcceptance {
    pub family_id: String,
    pub policy_id: String,
    pub version: u32,
    /// Always true: the family has now accepted this version (openapi.yaml `ManualAcceptance`).
    pub accepted: bool,
    pub accepted_at: String,
    pub manual: bool,
    pub note: Option<String>,
}

struct ParsedPolicy {
    title: String,
    body: String,
    required: bool,
}

/// The longest policy text, as openapi.yaml documents it (`PolicyInput.body.maxLength`).
const MAX_BODY_CHARS: usize = 12_000;

fn parse_policy(input: PolicyInput) -> DomainResult<ParsedPolicy> {
    let mut errors = FieldErrors::new();
    let title = errors.take(parse_text(
        input.title.as_deref().unwrap_or(""),
        "title",
        200,
    ));
    let body = match input.body.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(FieldError::required("body"));
            None
        }
        Some(b) if b.chars().count() > MAX_BODY_CHARS => {
            errors.push(FieldError::new(
                "body",
                "too_long",
                format!("at most {MAX_BODY_CHARS} characters"),
            ));
            None
        }
        Some(b) => Some(b.to_owned()),
    };
    if input.required.is_none() {
        errors.push(FieldError::required("required"));
    }
    errors.finish()?;
    match (title, body, input.required) {
        (Some(title), Some(body), Some(required)) => Ok(ParsedPolicy {
            title,
            body,
            required,
        }),
        _ => Err(DomainError::Internal("validation lost an error".into())),
    }
}

impl Portal {
    pub async fn policies(&self, account: &AccountName) -> DomainResult<Vec<PolicyRecord>> {
        let page = self
            .store
            .query(&keys::policy_partition(account), Query::default())
            .await?;
        page.items.iter().map(|i| Ok(i.record()?)).collect()
    }

    async fn acceptances(
        &self,
        account: &AccountName,
        family_id: &str,
    ) -> DomainResult<Vec<Acceptance>> {
        let page = self
            .store
            .query(
                &keys::family_partition(account, family_id),
                Query {
                    sk_prefix: keys::ACCEPTANCE_PREFIX.into(),
                    ..Default::default()
                },
            )
            .await?;
        page.items.iter().map(|i| Ok(i.record()?)).collect()
    }

    /// The account's policies as summaries: from the catalog item as read (`Some(Some)`), or,
    /// when it was not read or the account has none yet, from the policies themselves.
    pub async fn policy_catalog(
        &self,
        account: &AccountName,
        read: Option<Option<Item>>,
    ) -> DomainResult<Vec<PolicySummary>> {
        match read {
            Some(Some(item)) => Ok(item.record::<PolicyCatalog>()?.policies),
            _ => Ok(self
                .policies(account)
                .await?
                .iter()
                .map(PolicySummary::from)
                .collect()),
        }
    }

    /// The required policies whose current version the family has not accepted.
    pub async fn pending_policies(
        &self,
        account: &AccountName,
        family_id: &str,
    ) -> DomainResult<Vec<PendingPolicy>> {
        self.pending_policies_in(account, family_id, None).await
    }

    /// [`Portal::pending_policies`] from the policy catalog as read (see
    /// [`Portal::policy_catalog`]): one query (the family's acceptances), none when nothing
    /// is required.
    pub async fn pending_policies_in(
        &self,
        account: &AccountName,
        family_id: &str,
        catalog: Option<Option<Item>>,
    ) -> DomainResult<Vec<PendingPolicy>> {
        let (policies, accepted) = self.policy_state(account, family_id, catalog).await?;
        Ok(still_pending(&policies, &accepted))
    }

    /// The account's policies and the family's acceptances (none read when no policy is
    /// required: nothing can be pending then).
    pub async fn policy_state(
        &self,
        account: &AccountName,
        family_id: &str,
        catalog: Option<Option<Item>>,
    ) -> DomainResult<(Vec<PolicySummary>, Vec<Acceptance>)> {
        let policies = self.policy_catalog(account, catalog).await?;
        if !policies.iter().any(|p| p.required) {
            return Ok((policies, Vec::new()));
        }
        let accepted = self.acceptances(account, family_id).await?;
        Ok((policies, accepted))
    }

    /// What a family that has accepted nothing yet (a new one) must accept: every required
    /// policy (from the catalog as read, see [`Portal::policy_catalog`]).
    pub async fn required_policies(
        &self,
        account: &AccountName,
        catalog: Option<Option<Item>>,
    ) -> DomainResult<Vec<PendingPolicy>> {
        Ok(still_pending(
            &self.policy_catalog(account, catalog).await?,
            &[],
        ))
    }

    /// The write that records `summary` in the account's policy catalog, from the catalog as
    /// read (`read`: `None` when it was not read; then it is read now). An account without a
    /// catalog gets one built from its policies, so none is left out.
    async fn catalog_write(
        &self,
        account: &AccountName,
        read: Option<Option<Item>>,
        summary: PolicySummary,
    ) -> DomainResult<Write> {
        let key = keys::policy_catalog(account);
        let current = match read {
            Some(read) => read,
            None => self.store.get(&key).await?,
        };
        let (mut catalog, version, condition) = match current {
            Some(item) => (
                item.record::<PolicyCatalog>()?,
                item.version + 1,
                Condition::VersionIs(item.version),
            ),
            None => (
                PolicyCatalog {
                    policies: self
                        .policies(account)
                        .await?
                        .iter()
                        .map(PolicySummary::from)
                        .collect(),
                },
                1,
                Condition::Absent,
            ),
        };
        catalog.record(summary);
        Ok(Write::Put(
            Item::from_record(key, &catalog)?.with_version(version),
            condition,
        ))
    }

    /// `POST office/policies`.
    pub async fn create_policy(
        &self,
        actor: &StaffActor,
        input: PolicyInput,
    ) -> DomainResult<PolicyRecord> {
        let parsed = parse_policy(input)?;
        let account = &actor.auth.account;
        let policy = PolicyRecord {
            id: new_id()?,
            title: parsed.title,
            body: parsed.body,
            required: parsed.required,
            version: 1,
        };
        let audit = self.audit_write(
            account,
            actor.actor(),
            "policy.created",
            Some(&policy.id),
            json!({"version": 1, "required": policy.required}),
        )?;
        self.commit_with_catalog(
            actor,
            vec![
                Write::Put(
                    Item::from_record(keys::policy(account, &policy.id), &policy)?,
                    Condition::Absent,
                ),
                audit,
            ],
            PolicySummary::from(&policy),
        )
        .await?;
        Ok(policy)
    }

    /// `PUT office/policies/{id}`: a new version every family must accept.
    pub async fn update_policy(
        &self,
        actor: &StaffActor,
        policy_id: &str,
        input: PolicyInput,
    ) -> DomainResult<PolicyRecord> {
        let account = &actor.auth.account;
        let item = actor
            .auth
            .read_along
            .read(self.store.as_ref(), &keys::policy(account, policy_id))
            .await?
            .ok_or(DomainError::NotFound)?;
        let parsed = parse_policy(input)?;
        let mut policy: PolicyRecord = item.record()?;
        policy.title = parsed.title;
        policy.body = parsed.body;
        policy.required = parsed.required;
        policy.version += 1;
        let audit = self.audit_write(
            account,
            actor.actor(),
            "policy.updated",
            Some(&policy.id),
            json!({"version": policy.version, "required": policy.required}),
        )?;
        let updated = Item::from_record(item.key.clone(), &policy)?.with_version(item.version + 1);
        self.commit_with_catalog(
            actor,
            vec![
                Write::Put(updated, Condition::VersionIs(item.version)),
                audit,
            ],
            PolicySummary::from(&policy),
        )
        .await?;
        Ok(policy)
    }

    /// `GET portal/policies` for the active family.
    /// Commits a policy change with its catalog entry (and the caller's idle deadline) in one
    /// transaction; a concurrent change of another policy moves the catalog on: read it again.
    async fn commit_with_catalog(
        &self,
        actor: &StaffActor,
        writes: Vec<Write>,
        summary: PolicySummary,
    ) -> DomainResult<()> {
        let account = &actor.auth.account;
        let key = keys::policy_catalog(account);
        let first = std::sync::atomic::AtomicBool::new(true);
        crate::retry::optimistic(|| async {
            let read = if first.swap(false, std::sync::atomic::Ordering::Relaxed) {
                actor.auth.read_along.find(&key)
            } else {
                None
            };
            let mut all = writes.clone();
            let at = all.len();
            all.push(self.catalog_write(account, read, summary.clone()).await?);
            match self.transact_as(&actor.auth, all).await {
                Ok(()) => Ok(Some(())),
                Err(StoreError::TransactionConflict(Some(i))) if i == at => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    pub async fn policy_statuses(&self, ctx: &FamilyContext) -> DomainResult<Vec<PolicyStatus>> {
        let account = &ctx.actor.auth.account;
        // The gate read the catalog and, when something is required, the acceptances.
        let policies = ctx.policies.clone();
        let accepted = if policies.iter().any(|p| p.required) {
            ctx.accepted.clone()
        } else {
            self.acceptances(account, &ctx.family.id).await?
        };
        Ok(policies
            .into_iter()
            .map(|p| {
                let acceptance = accepted
                    .iter()
                    .find(|a| a.policy_id == p.id && a.version == p.version);
                PolicyStatus {
                    id: p.id,
                    title: p.title,
                    version: p.version,
                    required: p.required,
                    accepted: acceptance.is_some(),
                    accepted_at: acceptance.map(|a| rfc3339_epoch(a.accepted_at)),
                    manual: acceptance.is_some_and(|a| a.manual),
                }
            })
            .collect())
    }

    /// The primary's link with the family's accepted versions after `chosen` (see
    /// `Membership::accepted`), on the version the gate read. `None` when no policy is
    /// required: the gate then did not read the acceptances, and none is needed to tell what
    /// is pending (a policy becomes required only with a new version, which no acceptance
    /// can have yet).
    fn primary_link_after(
        &self,
        ctx: &FamilyContext,
        chosen: &[&PolicySummary],
    ) -> DomainResult<Option<Write>> {
        if ctx.membership.role != Role::Primary || !ctx.policies.iter().any(|p| p.required) {
            return Ok(None);
        }
        let mut accepted = crate::policy::latest_accepted(&ctx.accepted);
        for c in chosen {
            let v = accepted.entry(c.id.clone()).or_insert(c.version);
            *v = (*v).max(c.version);
        }
        let mut link = ctx.membership.clone();
        link.accepted = Some(accepted);
        let key = keys::guardian_family(
            &ctx.actor.auth.account,
            &ctx.actor.guardian.id,
            &ctx.family.id,
        );
        Ok(Some(Write::Put(
            Item::from_record(key, &link)?.with_version(ctx.membership_version + 1),
            Condition::VersionIs(ctx.membership_version),
        )))
    }

    /// `POST portal/policies/accept` (primary only: the context was taken for writing).
    pub async fn accept_policies(
        &self,
        ctx: &FamilyContext,
        accepted: Vec<AcceptInput>,
        channel: &str,
    ) -> DomainResult<AcceptOutcome> {
        let account = ctx.actor.auth.account.clone();
        let family_id = ctx.family.id.clone();
        let policies = &ctx.policies;
        let mut errors = FieldErrors::new();
        let mut chosen: Vec<&PolicySummary> = Vec::new();
        for (i, a) in accepted.iter().enumerate() {
            let Some(id) = a.id.as_deref() else {
                errors.push(FieldError::required(format!("policies[{i}].id")));
                continue;
            };
            let Some(policy) = policies.iter().find(|p| p.id == id) else {
                errors.push(FieldError::new(
                    format!("policies[{i}].id"),
                    "not_found",
                    "no such policy",
                ));
                continue;
            };
            match a.version {
                None => errors.push(FieldError::required(format!("policies[{i}].version"))),
                Some(v) if v != policy.version => errors.push(FieldError::new(
                    format!("policies[{i}].version"),
                    "version_mismatch",
                    format!("the current version is {}", policy.version),
                )),
                Some(_) => {
                    if !chosen.iter().any(|c| c.id == policy.id) {
                        chosen.push(policy)
                    }
                }
            }
        }
        errors.finish()?;
        let now = self.clock.epoch();
        let actor = Actor::guardian(&ctx.actor.guardian.id);
        let batches: Vec<&[&PolicySummary]> = chosen.chunks(10).collect();
        for (n, batch) in batches.iter().enumerate() {
            let mut writes = Vec::new();
            if n + 1 == batches.len()
                && let Some(link) = self.primary_link_after(ctx, &chosen)?
            {
                writes.push(link);
            }
            for p in batch.iter() {
                let acceptance = Acceptance {
                    policy_id: p.id.clone(),
                    version: p.version,
                    accepted_at: now,
                    actor: actor.clone(),
                    channel: channel.to_owned(),
                    manual: false,
                    note: None,
                };
                writes.push(Write::Put(
                    Item::from_record(
                        keys::policy_acceptance(&account, &family_id, &p.id, p.version),
                        &acceptance,
                    )?,
                    Condition::Always,
                ));
                writes.push(self.audit_write(
                    &account,
                    actor.clone(),
                    "policy.accepted",
                    Some(&family_id),
                    json!({"policy_id": p.id, "version": p.version, "channel": channel}),
                )?);
            }
            self.transact_as(&ctx.actor.auth, writes).await?;
        }
        // What the gate found pending, less what was accepted now.
        let pending: Vec<PendingPolicy> = ctx
            .pending
            .iter()
            .filter(|p| {
                !chosen
                    .iter()
                    .any(|c| c.id == p.id && c.version == p.version)
            })
            .cloned()
            .collect();
        if pending.is_empty() && !ctx.family.setup_finalized {
            self.finalize_setup(
                &account,
                &family_id,
                Some((ctx.family.clone(), ctx.family_version)),
            )
            .await?;
        }
        Ok(AcceptOutcome {
            setup_complete: pending.is_empty(),
            pending_policies: pending,
        })
    }

    /// Marks the family's setup as completed once (see `FamilyRecord::setup_finalized`);
    /// `known`: the family record and version the caller read (no read on a first try).
    async fn finalize_setup(
        &self,
        account: &AccountName,
        family_id: &str,
        known: Option<(FamilyRecord, u64)>,
    ) -> DomainResult<()> {
        let known = std::sync::Mutex::new(known);
        crate::retry::optimistic(|| async {
            let first = known.lock().ok().and_then(|mut k| k.take());
            let (mut family, version) = match first {
                Some(read) => read,
                None => self.family_record(account, family_id).await?,
            };
            if family.setup_finalized {
                return Ok(Some(()));
            }
            family.setup_finalized = true;
            let item = Item::from_record(keys::family(account, family_id), &family)?
                .with_version(version + 1);
            let written = self.store.put(item, Condition::VersionIs(version)).await;
            Ok(crate::retry::won(written)?.then_some(()))
        })
        .await
    }

    /// `POST office/families/{family_id}/policies/{policy_id}/manual-accept`.
    pub async fn manually_accept_policy(
        &self,
        actor: &StaffActor,
        family_id: &str,
        policy_id: &str,
        note: Option<String>,
    ) -> DomainResult<ManualAcceptance> {
        let account = &actor.auth.account;
        let along = &actor.auth.read_along;
        let family = self.family_record_in(along, account, family_id).await?;
        let policy: PolicyRecord = along
            .read(self.store.as_ref(), &keys::policy(account, policy_id))
            .await?
            .ok_or(DomainError::NotFound)?
            .record()?;
        let note = match note.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(n) if n.chars().count() > 1000 => {
                return Err(DomainError::Validation(vec![FieldError::new(
                    "note",
                    "too_long",
                    "at most 1000 characters",
                )]));
            }
            Some(n) => Some(n.to_owned()),
        };
        let now = self.clock.epoch();
        let acceptance = Acceptance {
            policy_id: policy.id.clone(),
            version: policy.version,
            accepted_at: now,
            actor: actor.actor(),
            channel: "office".into(),
            manual: true,
            note: note.clone(),
        };
        let audit = self.audit_write(
            account,
            actor.actor(),
            "policy.manually_accepted",
            Some(family_id),
            json!({"policy_id": policy.id, "version": policy.version, "staff_id": actor.record.id, "note": note}),
        )?;
        let mut writes = vec![
            Write::Put(
                Item::from_record(
                    keys::policy_acceptance(account, family_id, &policy.id, policy.version),
                    &acceptance,
                )?,
                Condition::Always,
            ),
            audit,
        ];
        // The primary's link keeps the family's accepted versions (where it does).
        let link_key = keys::guardian_family(account, &family.0.primary_guardian_id, family_id);
        if let Some(item) = self.store.get(&link_key).await? {
            let mut link: Membership = item.record()?;
            if let Some(accepted) = link.accepted.as_mut() {
                let v = accepted.entry(policy.id.clone()).or_insert(policy.version);
                *v = (*v).max(policy.version);
                writes.push(Write::Put(
                    Item::from_record(link_key, &link)?.with_version(item.version + 1),
                    Condition::VersionIs(item.version),
                ));
            }
        }
        self.transact_as(&actor.auth, writes).await?;
        if !family.0.setup_finalized {
            let catalog = along.find(&keys::policy_catalog(account));
            if self
                .pending_policies_in(account, family_id, catalog)
                .await?
                .is_empty()
            {
                self.finalize_setup(account, family_id, Some(family))
                    .await?;
            }
        }
        Ok(ManualAcceptance {
            family_id: family_id.to_owned(),
            policy_id: policy.id,
            version: policy.version,
            accepted: true,
            accepted_at: rfc3339_epoch(now),
            manual: true,
            note,
        })
    }
}
