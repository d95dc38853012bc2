//! The `login` route group: staff and guardian sign-in, terms, sessions, the family switcher and the 18+ step. Each arm parses the request into
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
        (RouteId::Tenant, _) => ok(&p.tenant_info(account).await?),
        (RouteId::StaffLogin, _) => {
            let body: LoginBody = json_body(req)?;
            let out = p
                .staff_login(
                    account,
                    body.username.as_deref().unwrap_or_default(),
                    body.password.unwrap_or_default(),
                    body.stay_logged_in.unwrap_or(false),
                )
                .await?;
            ok(&out)
        }
        (RouteId::StaffTermsAccept, Caller::Staff(actor)) => {
            let body: TermsBody = json_body(req)?;
            let version = body.version.ok_or_else(|| required("version"))?;
            p.accept_terms(actor.auth, &version, body.newsletter_opt_in)
                .await?;
            Ok(no_content())
        }
        (RouteId::Logout, Caller::Session(auth)) => {
            p.logout(&auth).await?;
            Ok(no_content())
        }
        (RouteId::GetSession, Caller::Session(auth)) => ok(&p.session_info(&auth)),
        (RouteId::GuardianLogin, _) => {
            let body: GuardianLoginBody = json_body(req)?;
            let out = p
                .guardian_login(
                    account,
                    body.email.as_deref().unwrap_or_default(),
                    body.password.unwrap_or_default(),
                    body.stay_logged_in.unwrap_or(false),
                )
                .await?;
            ok(&out)
        }
        (RouteId::SwitchFamily, Caller::Guardian(actor)) => {
            let body: FamilyBody = json_body(req)?;
            let family_id = body.family_id.ok_or_else(|| required("family_id"))?;
            // No family has such an id: answered like a family the guardian is not in.
            if !is_opaque(&family_id, MAX_ID_LENGTH) {
                return Err(DomainError::Forbidden);
            }
            ok(&p.switch_family(&actor, &family_id).await?)
        }
        (RouteId::ListFamilies, Caller::Guardian(actor)) => {
            let families = p.memberships(account, &actor.guardian.id).await?;
            let families: Vec<FamilyEntry> = families.iter().map(FamilyEntry::from).collect();
            ok(&serde_json::json!({ "families": families }))
        }
        (RouteId::GetFamily, Caller::Family(ctx)) => ok(&p.portal_family(&ctx).await?),
        (RouteId::ConfirmAge, Caller::Guardian(actor)) => {
            let body: AgeBody = json_body(req)?;
            if body.confirmed != Some(true) {
                return Err(DomainError::Validation(vec![portal_core::FieldError::new(
                    "confirmed",
                    "required",
                    "confirm that you are 18 or older",
                )]));
            }
            p.confirm_age(&actor).await?;
            Ok(no_content())
        }
        (id, _) => Err(wrong_caller(id)),
    }
}

#[derive(Deserialize)]
struct LoginBody {
    username: Option<String>,
    password: Option<SecretString>,
    stay_logged_in: Option<bool>,
}

#[derive(Deserialize)]
struct GuardianLoginBody {
    email: Option<String>,
    password: Option<SecretString>,
    stay_logged_in: Option<bool>,
}

#[derive(Deserialize)]
struct FamilyBody {
    family_id: Option<String>,
}

#[derive(Deserialize)]
struct AgeBody {
    confirmed: Option<bool>,
}

#[derive(Deserialize)]
struct TermsBody {
    version: Option<String>,
    newsletter_opt_in: Option<bool>,
}
