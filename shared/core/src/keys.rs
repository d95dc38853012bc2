//! The key layout of the one table: the only place keys are spelled. Every tenant key starts
//! with `T#<account>#`; the platform's own records (Terms & Conditions) live under `P#`.

use crate::account::AccountName;
use crate::store::Key;

/// Sort key of single-item partitions.
const ONE: &str = "#";

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

/// Index of one user's sessions, so a password change can end all of them.
pub fn user_sessions_partition(account: &AccountName, kind: &str, subject_id: &str) -> String {
    format!("{}#USER_SESSIONS#{kind}#{subject_id}", tenant(account))
}

pub fn user_session(account: &AccountName, kind: &str, subject_id: &str, session_id: &str) -> Key {
    Key::new(
        user_sessions_partition(account, kind, subject_id),
        session_id,
    )
}

pub fn audit_partition(account: &AccountName) -> String {
    format!("{}#AUDIT", tenant(account))
}

pub fn audit_entry(account: &AccountName, sort: &str) -> Key {
    Key::new(audit_partition(account), sort)
}
