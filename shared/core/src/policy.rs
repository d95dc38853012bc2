//! A policy, a family's acceptance of one of its versions, and what is pending. The flows are
//! in `policies`.

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
