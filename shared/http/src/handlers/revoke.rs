//! The `revoke` route group: revoking secondary access and changing the primary guardian. Each arm parses the request into
//! domain types, calls one service and maps the outcome.

use super::prelude::*;

pub(crate) async fn dispatch(call: Call<'_>, caller: Caller) -> Outcome {
    let Call {
        p, id, params, req, ..
    } = call;
    match (id, caller) {
        (RouteId::PrimaryRevokes, Caller::Family(ctx)) => {
            p.primary_revokes(&ctx, param(params, "user_id")?).await?;
            Ok(no_content())
        }
        (RouteId::StaffRevokes, Caller::Staff(actor)) => {
            p.staff_revokes(
                &actor,
                param(params, "family_id")?,
                param(params, "user_id")?,
            )
            .await?;
            Ok(no_content())
        }
        (RouteId::ChangePrimary, Caller::Staff(actor)) => {
            let input: PrimaryChangeInput = json_body(req)?;
            ok(&p
                .change_primary(&actor, param(params, "family_id")?, input)
                .await?)
        }
        (id, _) => Err(wrong_caller(id)),
    }
}
