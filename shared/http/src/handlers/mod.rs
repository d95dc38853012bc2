//! The handlers, one module per route group (the Lambda function that serves it), and what
//! they share: the caller a guard established, path and body helpers.

// A build with only some route groups (a Lambda function's) leaves part of the shared helpers
// and the prelude unused; the full build (portal-local, tests, clippy in CI) uses all of them.
#![cfg_attr(not(feature = "all"), allow(dead_code, unused_imports))]

#[cfg(feature = "invite")]
pub(crate) mod invite;
#[cfg(feature = "login")]
pub(crate) mod login;
#[cfg(feature = "office")]
pub(crate) mod office;
#[cfg(feature = "reset-password")]
pub(crate) mod reset_password;
#[cfg(feature = "revoke")]
pub(crate) mod revoke;
#[cfg(feature = "signup")]
pub(crate) mod signup;

use portal_core::DomainError;
use portal_core::tokens::{MAX_ID_LENGTH, MAX_TOKEN_LENGTH, is_opaque};
use serde::Deserialize;

use bytes::Bytes;
use http::Request;
use portal_core::Portal;
use portal_core::account::AccountName;

use crate::routes::{Params, RouteId};

/// What every handler module uses.
mod prelude {
    pub(crate) use http::StatusCode;
    pub(crate) use portal_core::DomainError;
    pub(crate) use portal_core::families::FamilyEntry;
    pub(crate) use portal_core::invitations::AcceptInvitationInput;
    pub(crate) use portal_core::permissions::Permissions;
    pub(crate) use portal_core::policies::{AcceptInput, PolicyInput};
    pub(crate) use portal_core::revocations::PrimaryChangeInput;
    pub(crate) use portal_core::signup::{EmailStep, SignupInput};
    pub(crate) use portal_core::staff::{NewStaff, PermissionsChange, StaffInput};
    pub(crate) use portal_core::tenants::{SettingsChange, SettingsInput};
    pub(crate) use portal_core::tokens::{MAX_CURSOR_LENGTH, MAX_ID_LENGTH, is_opaque};
    pub(crate) use secrecy::SecretString;
    pub(crate) use serde::Deserialize;

    pub(crate) use super::{Call, EmailBody, body_token, param, required, wrong_caller};
    pub(crate) use crate::app::Caller;
    pub(crate) use crate::request::{json_body, query_params};
    pub(crate) use crate::response::{Outcome, accepted, created, json, no_content, ok};
    pub(crate) use crate::routes::RouteId;
}

/// One request as a handler module gets it (besides the caller its guard established).
pub(crate) struct Call<'a> {
    pub(crate) p: &'a Portal,
    pub(crate) id: RouteId,
    pub(crate) account: &'a AccountName,
    pub(crate) params: &'a Params,
    pub(crate) req: &'a Request<Bytes>,
}

/// A guard and a handler disagree about the caller: a bug in the route table.
pub(crate) fn wrong_caller(id: RouteId) -> DomainError {
    DomainError::Internal(format!("route {id:?} got the wrong caller"))
}

#[derive(Deserialize)]
pub(crate) struct EmailBody {
    pub(crate) email: Option<String>,
}

pub(crate) fn required(field: &str) -> DomainError {
    DomainError::Validation(vec![portal_core::FieldError::required(field)])
}

/// A path parameter, checked at the edge before any store call: a value no id or token of
/// this service could have (over-long, or outside base64url) is answered like an unknown one,
/// `invalid_token` for a token and `not_found` for an id. Handlers call this after the route's
/// guard, so a request without a valid session still answers 401 and a caller without the
/// level 403, as for any unknown id.
pub(crate) fn param<'a>(params: &'a Params, name: &str) -> Result<&'a str, DomainError> {
    let value = params.get(name).ok_or(DomainError::NotFound)?;
    match name {
        "token" if !is_opaque(value, MAX_TOKEN_LENGTH) => Err(DomainError::InvalidToken),
        _ if !is_opaque(value, MAX_ID_LENGTH) => Err(DomainError::NotFound),
        _ => Ok(value),
    }
}

/// What a route reads together with its caller's session (see `portal_core::read_along`):
/// the items its path names, so its flow starts with them in hand.
pub(crate) fn read_along(
    id: RouteId,
    account: &AccountName,
    params: &Params,
) -> Vec<portal_core::store::Key> {
    use portal_core::read_along as along;
    let named = |name: &str| params.get(name).unwrap_or_default();
    match id {
        RouteId::GetSettings | RouteId::PatchSettings => along::settings(account),
        RouteId::GetStaff | RouteId::PutStaffPermissions => {
            along::staff_member(account, named("staff_id"))
        }
        RouteId::SetStaffPassword | RouteId::SendStaffReset => {
            along::staff_password(account, named("staff_id"))
        }
        RouteId::SendGuardianReset => along::guardian_password(account, named("guardian_id")),
        RouteId::CreateInvitation | RouteId::ResendInvitation => along::tenant(account),
        RouteId::CreatePolicy => along::policy_change(account, None),
        RouteId::UpdatePolicy => along::policy_change(account, Some(named("policy_id"))),
        RouteId::ManualAcceptPolicy => {
            along::family_policy(account, named("family_id"), named("policy_id"))
        }
        RouteId::StaffRevokes => along::family(account, named("family_id")),
        RouteId::GetOfficeFamily | RouteId::ChangePrimary => {
            along::family_view(account, named("family_id"))
        }
        _ => Vec::new(),
    }
}

/// A token from a body, checked at the edge like a path token. A missing or empty one is
/// left to the flow (which answers `invalid_token` for it too, after naming an unknown
/// account).
pub(crate) fn body_token(token: Option<&str>) -> Result<(), DomainError> {
    match token.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if !is_opaque(t, MAX_TOKEN_LENGTH) => Err(DomainError::InvalidToken),
        _ => Ok(()),
    }
}
