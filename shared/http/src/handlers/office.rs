//! The `office` route group: staff, user groups, permissions, settings, audit, policies and office family views. Each arm parses the request into
//! domain types, calls one service and maps the outcome.

use super::prelude::*;

pub(crate) async fn dispatch(call: Call<'_>, caller: Caller) -> Outcome {
    let Call {
        p,
        id,
        account,
        params,
        req,
    } = call;
    match (id, caller) {
        (RouteId::ListUserGroups, Caller::Staff(_)) => {
            ok(&serde_json::json!({ "user_groups": p.user_groups(account).await? }))
        }
        (RouteId::CreateUserGroup, Caller::Staff(actor)) => {
            let body: GroupBody = json_body(req)?;
            let name = body.name.ok_or_else(|| required("name"))?;
            let group = p
                .create_user_group(&actor, &name, body.permissions.unwrap_or_default())
                .await?;
            created(&group)
        }
        (RouteId::ListStaff, Caller::Staff(_)) => {
            ok(&serde_json::json!({ "staff": p.list_staff(account).await? }))
        }
        (RouteId::CreateStaff, Caller::Staff(actor)) => {
            let input: StaffInput = json_body(req)?;
            let new = NewStaff::parse(input, "")?;
            created(&p.create_staff(&actor, new).await?)
        }
        (RouteId::GetStaff, Caller::Staff(actor)) => {
            ok(&p.staff_view(&actor, param(params, "staff_id")?).await?)
        }
        (RouteId::PutStaffPermissions, Caller::Staff(actor)) => {
            let change: PermissionsChange = json_body(req)?;
            ok(&p
                .change_permissions(&actor, param(params, "staff_id")?, change)
                .await?)
        }
        (RouteId::GetSettings, Caller::Staff(actor)) => {
            ok(&p.settings_in(&actor.auth.read_along, account).await?)
        }
        (RouteId::PatchSettings, Caller::Staff(actor)) => {
            let input: SettingsInput = json_body(req)?;
            let change = SettingsChange::parse(&input)?;
            ok(&p
                .update_settings(account, actor.actor(), &change, Some(&actor.auth))
                .await?)
        }
        (RouteId::GetAudit, Caller::Staff(_)) => {
            let mut limit = None;
            let mut cursor = None;
            for (k, v) in query_params(req)? {
                match k.as_str() {
                    "limit" => {
                        limit = Some(v.parse::<usize>().map_err(|_| {
                            DomainError::Malformed("limit must be an integer".into())
                        })?)
                    }
                    // Checked here, before any store call; the audit flow checks that it
                    // decodes to a position in the log.
                    "cursor" if !is_opaque(&v, MAX_CURSOR_LENGTH) => {
                        return Err(DomainError::Malformed("invalid cursor".into()));
                    }
                    "cursor" => cursor = Some(v),
                    _ => {}
                }
            }
            ok(&p.audit_page(account, limit, cursor.as_deref()).await?)
        }
        (RouteId::CreatePolicy, Caller::Staff(actor)) => {
            let input: PolicyInput = json_body(req)?;
            created(&p.create_policy(&actor, input).await?)
        }
        (RouteId::UpdatePolicy, Caller::Staff(actor)) => {
            let input: PolicyInput = json_body(req)?;
            ok(&p
                .update_policy(&actor, param(params, "policy_id")?, input)
                .await?)
        }
        (RouteId::GetOfficeFamily, Caller::Staff(actor)) => ok(&p
            .office_family_in(&actor.auth.read_along, account, param(params, "family_id")?)
            .await?),
        (RouteId::ManualAcceptPolicy, Caller::Staff(actor)) => {
            let body: NoteBody = json_body(req)?;
            let out = p
                .manually_accept_policy(
                    &actor,
                    param(params, "family_id")?,
                    param(params, "policy_id")?,
                    body.note,
                )
                .await?;
            ok(&out)
        }
        // Passwords (function `reset-password`).
        (id, _) => Err(wrong_caller(id)),
    }
}

#[derive(Deserialize)]
struct NoteBody {
    note: Option<String>,
}

#[derive(Deserialize)]
struct GroupBody {
    name: Option<String>,
    permissions: Option<Permissions>,
}
