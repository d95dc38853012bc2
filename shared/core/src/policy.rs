//! A policy, a family's acceptance of one of its versions, and what is pending. The flows are
//! in `policies`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::audit::Actor;

/// A policy as stored and as the office sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub id: String,
    pub title: String,
    pub body: String,
    pub required: bool,
    pub version: u32,
}

/// A policy without its body: what a family's setup is decided by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySummary {
    pub id: String,
    pub title: String,
    pub required: bool,
    pub version: u32,
}

impl From<&PolicyRecord> for PolicySummary {
    fn from(p: &PolicyRecord) -> Self {
        Self {
            id: p.id.clone(),
            title: p.title.clone(),
            required: p.required,
            version: p.version,
        }
    }
}

/// Every policy of an account as a summary, in the order they were created: one small item
/// beside the policies, written in the same transaction as every policy change, so that a
/// login, a sign-up or a family request learns what is required from the batch read it
/// already makes instead of querying the policies. An account without it (made before it
/// existed) is answered from the policies themselves until its next policy change writes it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PolicyCatalog {
    pub policies: Vec<PolicySummary>,
}

impl PolicyCatalog {
    /// Puts `summary` in place of the policy's older version, or last when it is new.
    pub fn record(&mut self, summary: PolicySummary) {
        match self.policies.iter_mut().find(|p| p.id == summary.id) {
            Some(old) => *old = summary,
            None => self.policies.push(summary),
        }
    }
}

/// A family's acceptance of one version of a policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Acceptance {
    pub policy_id: String,
    pub version: u32,
    pub accepted_at: i64,
    pub actor: Actor,
    /// `web`, `mobile` (the portal client) or `office` (manual acceptance).
    pub channel: String,
    pub manual: bool,
    pub note: Option<String>,
}

/// A required policy whose current version the family has not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingPolicy {
    pub id: String,
    pub title: String,
    pub version: u32,
}

/// The required policies whose current version is not among `accepted`.
pub fn still_pending(policies: &[PolicySummary], accepted: &[Acceptance]) -> Vec<PendingPolicy> {
    policies
        .iter()
        .filter(|p| p.required)
        .filter(|p| {
            !accepted
                .iter()
                .any(|a| a.policy_id == p.id && a.version == p.version)
        })
        .map(|p| PendingPolicy {
            id: p.id.clone(),
            title: p.title.clone(),
            version: p.version,
        })
        .collect()
}

/// The required policies whose current version is not the one `accepted` records (policy id ->
/// the latest version the family accepted; versions only grow, so the latest is the one that
/// can be current).
pub fn pending_against(
    policies: &[PolicySummary],
    accepted: &BTreeMap<String, u32>,
) -> Vec<PendingPolicy> {
    policies
        .iter()
        .filter(|p| p.required && accepted.get(&p.id) != Some(&p.version))
        .map(|p| PendingPolicy {
            id: p.id.clone(),
            title: p.title.clone(),
            version: p.version,
        })
        .collect()
}

/// The latest accepted version of each policy among `acceptances`.
pub fn latest_accepted(acceptances: &[Acceptance]) -> BTreeMap<String, u32> {
    let mut latest = BTreeMap::new();
    for a in acceptances {
        let v = latest.entry(a.policy_id.clone()).or_insert(a.version);
        *v = (*v).max(a.version);
    }
    latest
}
