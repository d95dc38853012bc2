//! The `reset-password` route group: forgotten passwords, reset links (email, SMS), completing a reset, setting and changing passwords. Each arm parses the request into
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
        (RouteId::ForgotStaffPassword, _) => {
            let body: ForgotStaffBody = json_body(req)?;
            p.forgot_staff_password(account, body.username.as_deref().unwrap_or_default())
                .await?;
            accepted()
        }
        (RouteId::ForgotGuardianPassword, _) => {
            let body: ForgotGuardianBody = json_body(req)?;
            p.forgot_guardian_password(account, body.email.as_deref().unwrap_or_default())
                .await?;
            accepted()
        }
        (RouteId::CheckResetToken, _) => {
            ok(&p.check_reset_link(account, param(params, "token")?).await?)
        }
        (RouteId::CompleteReset, _) => {
            let body: ResetBody = json_body(req)?;
            body_token(body.token.as_deref())?;
            p.complete_reset(
                account,
                body.token.as_deref().unwrap_or_default(),
                body.new_password.unwrap_or_default(),
            )
            .await?;
            Ok(no_content())
        }
        (RouteId::ChangeOwnPassword, Caller::Staff(actor)) => {
            let body: ChangeOwnPasswordBody = json_body(req)?;
            p.change_own_password(
                &actor,
                body.current_password.unwrap_or_default(),
                body.new_password.unwrap_or_default(),
            )
            .await?;
            Ok(no_content())
        }
        (RouteId::SetStaffPassword, Caller::Staff(actor)) => {
            let body: SetPasswordBody = json_body(req)?;
            p.office_set_staff_password(
                &actor,
                param(params, "staff_id")?,
                body.new_password.unwrap_or_default(),
            )
            .await?;
            Ok(no_content())
        }
        (RouteId::SendStaffReset, Caller::Staff(actor)) => {
            let body: ChannelBody = json_body(req)?;
            p.office_reset_staff(&actor, param(params, "staff_id")?, body.channel.as_deref())
                .await?;
            accepted()
        }
        (RouteId::SendGuardianReset, Caller::Staff(actor)) => {
            let body: ChannelBody = json_body(req)?;
            p.office_reset_guardian(
                &actor,
                param(params, "guardian_id")?,
                body.channel.as_deref(),
            )
            .await?;
            accepted()
        }
        (RouteId::SetGuardianPassword, Caller::Staff(_)) => {
            Err(DomainError::StaffCannotSetGuardianPassword)
        }
        (id, _) => Err(wrong_caller(id)),
    }
}

#[derive(Deserialize)]
struct ForgotStaffBody {
    username: Option<String>,
}

#[derive(Deserialize)]
struct ForgotGuardianBody {
    email: Option<String>,
}

#[derive(Deserialize)]
struct ResetBody {
    token: Option<String>,
    new_password: Option<SecretString>,
}

#[derive(Deserialize)]
struct ChangeOwnPasswordBody {
    current_password: Option<SecretString>,
    new_password: Option<SecretString>,
}

#[derive(Deserialize)]
struct SetPasswordBody {
    new_password: Option<SecretString>,
}

#[derive(Deserialize)]
struct ChannelBody {
    channel: Option<String>,
}
