//! The key layout of the one table: the only place keys are spelled. Every tenant key starts
//! with `T#<account>#`; the platform's own records (Terms & Conditions, the tenant registry, the
//! purge checkpoint, queued notices) live under `P#`.
//!
//! | partition                       | sort key            | item                              |
//! |---------------------------------|---------------------|-----------------------------------|
//! | `T#<account>`                   | `TENANT`            | settings, suspension, sessions epoch |
//! | `T#<account>`                   | `SMS_CREDITS`       | SMS credits                       |
//! | `T#<account>#AUDIT`             | `<ms:016>#<id>`     | audit entries, in time order      |
//! | `T#<account>#SESSION#<id>`      | `#`                 | one session                       |
//! | `T#<account>#LOCK#<kind>#<login>` | `#`               | failed-login state of one login   |
//! | `P#TENANTS`                     | `<account>`         | the tenant registry (one per tenant) |
//! | `P#TERMS`, `P#PURGE`            | `#`                 | platform terms, purge checkpoint  |
//! | `P#NOTICES`                     | `<account>#<id>`    | queued notices                    |
//!
//! (and the other tenant partitions below, each spelled by its function).

use crate::account::AccountName;
use crate::store::Key;

/// Sort key of single-item partitions.
const ONE: &str = "#";

/// Sort-key prefixes of the items that share a partition, for queries by kind.
pub const GUARDIAN_FAMILY_PREFIX: &str = "FAMILY#";
pub const MEMBER_PREFIX: &str = "MEMBER#";
pub const ACCEPTANCE_PREFIX: &str = "ACCEPT#";
pub const INVITATION_PREFIX: &str = "INVITE#";

fn tenant(account: &AccountName) -> String {
    format!("T#{account}")
}

pub fn tenant_record(account: &AccountName) -> Key {
    Key::new(tenant(account), "TENANT")
}

/// SMS credits live apart from the settings so a settings update never races a credit change.
pub fn sms_credits(account: &AccountName) -> Key {
    Key::new(tenant(account), "SMS_CREDITS")
}

/// What every family's setup needs of the account's policies (see `policy::PolicyCatalog`).
pub fn policy_catalog(account: &AccountName) -> Key {
    Key::new(tenant(account), "POLICY_CATALOG")
}

/// The tenant registry: one item per tenant, written in the tenant's creation transaction, so
/// that an operator can list every tenant with a paged Query of one partition (the table is
/// partitioned by tenant and is never scanned). Sorted by account name.
pub fn tenant_registry_partition() -> &'static str {
    "P#TENANTS"
}

pub fn tenant_registry(account: &AccountName) -> Key {
    Key::new(tenant_registry_partition(), account.as_str())
}

pub fn platform_terms() -> Key {
    Key::new("P#TERMS", ONE)
}

pub fn staff_partition(account: &AccountName) -> String {
    format!("{}#STAFF", tenant(account))
}

pub fn staff(account: &AccountName, staff_id: &str) -> Key {
    Key::new(staff_partition(account), staff_id)
}

/// Uniqueness guard of a staff username (lower-cased) within a tenant.
pub fn username(account: &AccountName, username_normalized: &str) -> Key {
    Key::new(
        format!("{}#USERNAME#{username_normalized}", tenant(account)),
        ONE,
    )
}

pub fn user_group_partition(account: &AccountName) -> String {
    format!("{}#GROUPS", tenant(account))
}

pub fn user_group(account: &AccountName, group_id: &str) -> Key {
    Key::new(user_group_partition(account), group_id)
}

/// Failed-login state of one login name (staff username or guardian email, lower-cased).
pub fn login_lock(account: &AccountName, kind: &str, login_normalized: &str) -> Key {
    Key::new(
        format!("{}#LOCK#{kind}#{login_normalized}", tenant(account)),
        ONE,
    )
}

pub fn session(account: &AccountName, session_id: &str) -> Key {
    Key::new(format!("{}#SESSION#{session_id}", tenant(account)), ONE)
}

pub fn audit_partition(account: &AccountName) -> String {
    format!("{}#AUDIT", tenant(account))
}

pub fn audit_entry(account: &AccountName, sort: &str) -> Key {
    Key::new(audit_partition(account), sort)
}

/// The count of a tenant's limited mails on one UTC day (`2026-11-30`).
pub fn daily_mails(account: &AccountName, utc_day: &str) -> Key {
    Key::new(format!("{}#MAILS#{utc_day}", tenant(account)), ONE)
}

/// Recent sends of one kind of message to one address.
pub fn send_log(account: &AccountName, kind: &str, address_normalized: &str) -> Key {
    Key::new(
        format!("{}#SENT#{kind}#{address_normalized}", tenant(account)),
        ONE,
    )
}

pub fn guardian_partition(account: &AccountName, guardian_id: &str) -> String {
    format!("{}#GUARDIAN#{guardian_id}", tenant(account))
}

pub fn guardian(account: &AccountName, guardian_id: &str) -> Key {
    Key::new(guardian_partition(account, guardian_id), ONE)
}

/// A guardian's link to a family (the guardian's side, for the family switcher).
pub fn guardian_family(account: &AccountName, guardian_id: &str, family_id: &str) -> Key {
    Key::new(
        guardian_partition(account, guardian_id),
        format!("{GUARDIAN_FAMILY_PREFIX}{family_id}"),
    )
}

/// Uniqueness guard of a guardian login email (lower-cased) within a tenant.
pub fn login_email(account: &AccountName, email_normalized: &str) -> Key {
    Key::new(format!("{}#LOGIN#{email_normalized}", tenant(account)), ONE)
}

pub fn family_partition(account: &AccountName, family_id: &str) -> String {
    format!("{}#FAMILY#{family_id}", tenant(account))
}

pub fn family(account: &AccountName, family_id: &str) -> Key {
    Key::new(family_partition(account, family_id), ONE)
}

/// A guardian's membership in a family (the family's side).
pub fn family_member(account: &AccountName, family_id: &str, guardian_id: &str) -> Key {
    Key::new(
        family_partition(account, family_id),
        format!("{MEMBER_PREFIX}{guardian_id}"),
    )
}

/// A family's acceptance of one version of a policy.
pub fn policy_acceptance(
    account: &AccountName,
    family_id: &str,
    policy_id: &str,
    version: u32,
) -> Key {
    Key::new(
        family_partition(account, family_id),
        format!("{ACCEPTANCE_PREFIX}{policy_id}#{version:08}"),
    )
}

/// Uniqueness guard of a family's primary email (lower-cased) within a tenant.
pub fn primary_email(account: &AccountName, email_normalized: &str) -> Key {
    Key::new(
        format!("{}#PRIMARY_EMAIL#{email_normalized}", tenant(account)),
        ONE,
    )
}

pub fn policy_partition(account: &AccountName) -> String {
    format!("{}#POLICIES", tenant(account))
}

pub fn policy(account: &AccountName, policy_id: &str) -> Key {
    Key::new(policy_partition(account), policy_id)
}

/// The current email validation code for an address (one at a time: a new code replaces it).
pub fn signup_code(account: &AccountName, email_normalized: &str) -> Key {
    Key::new(
        format!("{}#SIGNUP_CODE#{email_normalized}", tenant(account)),
        ONE,
    )
}

/// A proof that an address was validated, by the hash of its token.
pub fn email_verification(account: &AccountName, token_hash: &str) -> Key {
    Key::new(
        format!("{}#EMAIL_VERIFIED#{token_hash}", tenant(account)),
        ONE,
    )
}

/// A password reset link, by the hash of its token.
pub fn reset_token(account: &AccountName, token_hash: &str) -> Key {
    Key::new(format!("{}#RESET#{token_hash}", tenant(account)), ONE)
}

/// An invitation, by id (the family's invitations are listed through the family partition).
pub fn invitation(account: &AccountName, family_id: &str, invitation_id: &str) -> Key {
    Key::new(
        family_partition(account, family_id),
        format!("{INVITATION_PREFIX}{invitation_id}"),
    )
}

/// Looks an invitation up by the hash of its token.
pub fn invitation_token(account: &AccountName, token_hash: &str) -> Key {
    Key::new(
        format!("{}#INVITE_TOKEN#{token_hash}", tenant(account)),
        ONE,
    )
}

/// The purge job's checkpoint: the first expiry bucket not yet fully purged.
pub fn purge_checkpoint() -> Key {
    Key::new("P#PURGE", ONE)
}

/// What an expired item is, for the purge's count: every expired item is removed, but only
/// these kinds are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgedKind {
    ResetLink,
    ValidationCode,
    Invitation,
    Session,
    /// Index entries, guards, send logs, lock state and the like.
    Other,
}

/// Classifies a key by the layout above (`T#<account>#<KIND>#...`; account names hold no `#`).
pub fn purged_kind(key: &Key) -> PurgedKind {
    let mut parts = key.pk.splitn(4, '#');
    if parts.next() != Some("T") || parts.next().is_none() {
        return PurgedKind::Other;
    }
    match parts.next() {
        Some("SESSION") => PurgedKind::Session,
        Some("RESET") => PurgedKind::ResetLink,
        Some("SIGNUP_CODE") => PurgedKind::ValidationCode,
        Some("FAMILY") if key.sk.starts_with(INVITATION_PREFIX) => PurgedKind::Invitation,
        _ => PurgedKind::Other,
    }
}

/// Notices (emails) that must not be lost: written in the same transaction as the change they
/// announce, deleted once delivered, retried by the scheduled job. A platform partition (the
/// sort key starts with the account) so the job finds every tenant's notices with one query.
pub fn notice_partition() -> &'static str {
    "P#NOTICES"
}

pub fn notice(account: &AccountName, notice_id: &str) -> Key {
    Key::new(notice_partition(), format!("{account}#{notice_id}"))
}
