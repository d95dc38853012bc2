//! The `invite` route group: invitations of secondary guardians: create, list, open, cancel, resend, accept. Each arm parses the request into
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
        (RouteId::CreateInvitation, Caller::Family(ctx)) => {
            let body: EmailBody = json_body(req)?;
            let email = body.email.ok_or_else(|| required("email"))?;
            created(&p.invite(&ctx, &email).await?)
        }
        (RouteId::ListInvitations, Caller::Family(ctx)) => ok(&p.invitation_list(&ctx).await?),
        (RouteId::InvitationInfo, _) => {
            ok(&p.invitation_info(account, param(params, "token")?).await?)
        }
        (RouteId::CancelInvitation, Caller::Family(ctx)) => {
            p.cancel_invitation(&ctx, param(params, "invitation_id")?)
                .await?;
            Ok(no_content())
        }
        (RouteId::ResendInvitation, Caller::Family(ctx)) => json(
            StatusCode::ACCEPTED,
            &p.resend_invitation(&ctx, param(params, "invitation_id")?)
                .await?,
        ),
        (RouteId::AcceptInvitation, _) => {
            let input: AcceptInvitationInput = json_body(req)?;
            body_token(input.token.as_deref())?;
            ok(&p.accept_invitation(account, input).await?)
        }
        (id, _) => Err(wrong_caller(id)),
    }
}
