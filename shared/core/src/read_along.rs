//! What a route can read together with its caller's session: the items whose keys its path
//! already names (the account's settings, the staff member or guardian a route acts on, a
//! family). `Portal::authenticate_with` reads them in the session's one batch, and the flows
//! find them in `Authenticated::read_along`, so an office route needs no read of its own
//! before its transaction. Ids no item could have are left out (never sent to the store).

use crate::account::AccountName;
use crate::keys;
use crate::store::Key;
use crate::tokens::{MAX_ID_LENGTH, is_opaque};

/// The account's settings: the tenant record and the SMS credits.
pub fn settings(account: &AccountName) -> Vec<Key> {
    vec![keys::tenant_record(account), keys::sms_credits(account)]
}

/// The tenant record (business name for a message).
pub fn tenant(account: &AccountName) -> Vec<Key> {
    vec![keys::tenant_record(account)]
}

/// A staff member a route acts on.
pub fn staff_member(account: &AccountName, staff_id: &str) -> Vec<Key> {
    opaque(staff_id)
        .map(|id| keys::staff(account, id))
        .into_iter()
        .collect()
}

/// A guardian a route acts on.
pub fn guardian(account: &AccountName, guardian_id: &str) -> Vec<Key> {
    opaque(guardian_id)
        .map(|id| keys::guardian(account, id))
        .into_iter()
        .collect()
}

/// A family a route acts on.
pub fn family(account: &AccountName, family_id: &str) -> Vec<Key> {
    opaque(family_id)
        .map(|id| keys::family(account, id))
        .into_iter()
        .collect()
}

/// A family as the office sees it: the family and the policy catalog (its setup state).
pub fn family_view(account: &AccountName, family_id: &str) -> Vec<Key> {
    let mut keys = family(account, family_id);
    keys.push(keys::policy_catalog(account));
    keys
}

/// A policy a route acts on.
pub fn policy(account: &AccountName, policy_id: &str) -> Vec<Key> {
    opaque(policy_id)
        .map(|id| keys::policy(account, id))
        .into_iter()
        .collect()
}

/// A change of the account's policies: the catalog (and the policy, when one is named).
pub fn policy_change(account: &AccountName, policy_id: Option<&str>) -> Vec<Key> {
    let mut keys = vec![keys::policy_catalog(account)];
    keys.extend(policy_id.map(|id| policy(account, id)).unwrap_or_default());
    keys
}

/// A policy accepted for a family by staff: the family, the policy and the catalog (to tell
/// whether the family's setup is now complete).
pub fn family_policy(account: &AccountName, family_id: &str, policy_id: &str) -> Vec<Key> {
    let mut keys = family(account, family_id);
    keys.extend(policy_change(account, Some(policy_id)));
    keys
}

/// An office reset or password change of a staff member: the target and the settings (SMS,
/// business name for the message).
pub fn staff_password(account: &AccountName, staff_id: &str) -> Vec<Key> {
    let mut keys = staff_member(account, staff_id);
    keys.extend(settings(account));
    keys
}

/// An office reset of a guardian's password: the target and the settings.
pub fn guardian_password(account: &AccountName, guardian_id: &str) -> Vec<Key> {
    let mut keys = guardian(account, guardian_id);
    keys.extend(settings(account));
    keys
}

fn opaque(id: &str) -> Option<&str> {
    is_opaque(id, MAX_ID_LENGTH).then_some(id)
}
