//! The `signup` route group: email validation, sign-up and the policies step. Each arm parses the request into
//! domain types, calls one service and maps the outcome.

use super::prelude::*;

pub(crate) async fn dispatch(call: Call<'_>, caller: Caller) -> Outcome {
    let Call {
        p,
        id,
        account,
        req,
        ..
    } = call;
    match (id, caller) {
        (RouteId::SignupEmail, _) => {
            let body: EmailBody = json_body(req)?;
            match p
                .start_signup(account, body.email.as_deref().unwrap_or_default())
                .await?
            {
                EmailStep::CodeSent => accepted(),
                EmailStep::NotRequired => Ok(no_content()),
            }
        }
        (RouteId::SignupVerify, _) => {
            let body: VerifyBody = json_body(req)?;
            let token = p
                .verify_signup_code(
                    account,
                    body.email.as_deref().unwrap_or_default(),
                    body.code.as_deref().unwrap_or_default(),
                )
                .await?;
            ok(&serde_json::json!({ "email_verification_token": token }))
        }
        (RouteId::Signup, _) => {
            let input: SignupInput = json_body(req)?;
            created(&p.signup(account, input).await?)
        }
        (RouteId::ListPolicies, Caller::Family(ctx)) => {
            ok(&serde_json::json!({ "policies": p.policy_statuses(&ctx).await? }))
        }
        (RouteId::AcceptPolicies, Caller::Family(ctx)) => {
            let body: AcceptBody = json_body(req)?;
            let policies = body.policies.ok_or_else(|| required("policies"))?;
            let channel = match body.client.as_deref() {
                Some("mobile") => "mobile",
                _ => "web",
            };
            ok(&p.accept_policies(&ctx, policies, channel).await?)
        }
        (id, _) => Err(wrong_caller(id)),
    }
}

#[derive(Deserialize)]
struct VerifyBody {
    email: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
struct AcceptBody {
    policies: Option<Vec<AcceptInput>>,
    /// The portal client (`web` or `mobile`), recorded as the acceptance's channel.
    client: Option<String>,
}
