//! The invitation page (`invitation`), from the mailed link `invitation?token=…`.
//!
//! Landing with `?token=` keeps the token in the flow cookie and answers `303` to `invitation`
//! without it (gone from the address bar, history and `Referer`); opening the link, as often as
//! anyone likes, never uses it up (mail scanners follow links). The page then says who invites
//! to which family, and accepting is one POST to `Portal::accept_invitation` with the API's
//! `AcceptInvitationInput`; the new session is the browser's and the answer is `303 family`
//! (which asks for the 18+ confirmation when it is still owed).
//!
//! New or existing login: the page asks the domain (`Portal::invitation_landing`, read in the
//! same batch as the link) whether the invited email already has a login here, and shows one
//! form: for an existing login its password only; for a new one first name, last name,
//! password and its confirmation. Both carry the optional 18+ box (`age_confirmed`). The
//! domain decides again on accept, so a login created meanwhile is asked for its password
//! (`invalid_credentials`) and the page then shows the other form. Telling the link's holder
//! whether that email has a login reveals nothing the API's accept does not (`401` against
//! `422` for the same request), and the link went only to that mailbox.
//!
//! Errors in words: `invalid_token` (used, cancelled, replaced or revoked) and `token_expired`
//! end the flow and say so; a wrong password, the password policy, missing names or a mismatch
//! are shown next to their fields, and such a refused accept keeps the token (the domain does
//! not use it up).

use http::StatusCode;
use maud::html;
use portal_core::DomainError;
use portal_core::invitations::{AcceptInvitationInput, InvitationLanding};

use super::layout::{FormErrors, Input, checkbox, form};
use super::messages::Msg;
use super::{Ctx, PageResult, status_of, with_status};

/// What a refused accept keeps in the form (never a password).
#[derive(Default)]
struct Typed {
    first_name: String,
    last_name: String,
    age_confirmed: bool,
}

/// `invitation`: landing, the invitation, and accepting it.
pub(crate) async fn invitation(ctx: &mut Ctx<'_>) -> PageResult {
    if !ctx.is_post()
        && let Some(token) = ctx.query("token")
    {
        // Landing: checked when the page is shown, never used up here.
        ctx.flow()?.invitation_token = Some(token);
        ctx.save_flow()?;
        return ctx.redirect("invitation");
    }
    let Some(token) = ctx.flow()?.invitation_token.clone() else {
        let sign_in = ctx.path("sign-in");
        let content = html! {
            p { (Msg::InvitationNoLink) }
            p { a href=(sign_in) { (Msg::SignInTitle) } }
        };
        return ctx.page(Msg::InvitationTitle.en(), content);
    };
    let landing = match ctx.p.invitation_landing(&ctx.account, &token).await {
        Ok(landing) => landing,
        Err(e @ (DomainError::InvalidToken | DomainError::TokenExpired)) => {
            return dead_link(ctx, &e);
        }
        Err(e) => return Err(e),
    };
    if !ctx.is_post() {
        return show(ctx, &landing, &Typed::default(), &FormErrors::none());
    }
    let typed = Typed {
        first_name: ctx.form.get("first_name").trim().to_owned(),
        last_name: ctx.form.get("last_name").trim().to_owned(),
        age_confirmed: ctx.form.checked("age_confirmed"),
    };
    if !landing.existing_login && ctx.form.get("password") != ctx.form.get("password_confirmation")
    {
        let mut errors = FormErrors::none();
        errors.field("password_confirmation", Msg::FieldMismatch.en());
        return show(ctx, &landing, &typed, &errors)
            .map(|r| with_status(r, Some(StatusCode::UNPROCESSABLE_ENTITY)));
    }
    let names = |v: &str| (!landing.existing_login).then(|| v.to_owned());
    let input = AcceptInvitationInput {
        token: Some(token),
        age_confirmed: Some(typed.age_confirmed),
        first_name: names(&typed.first_name),
        last_name: names(&typed.last_name),
        password: Some(ctx.form.secret("password")),
    };
    match ctx.p.accept_invitation(&ctx.account, input).await {
        Ok(login) => {
            // The invitation's first session is never a persistent one (as in the API).
            ctx.start_session(&login.token, false);
            ctx.redirect("family?notice=accepted")
        }
        Err(e @ (DomainError::InvalidToken | DomainError::TokenExpired)) => dead_link(ctx, &e),
        Err(e) => match status_of(&e) {
            Some(status) => {
                let errors = if matches!(e, DomainError::InvalidCredentials) {
                    let mut errors = FormErrors::none();
                    errors.field("password", Msg::InvitationWrongPassword.en());
                    errors
                } else {
                    FormErrors::from_domain(&e, &[])
                };
                // The domain decided on the login as it is now: show the form that fits it.
                let landing = InvitationLanding {
                    existing_login: landing.existing_login
                        || matches!(e, DomainError::InvalidCredentials),
                    ..landing
                };
                show(ctx, &landing, &typed, &errors).map(|r| with_status(r, Some(status)))
            }
            None => Err(e),
        },
    }
}

fn show(
    ctx: &mut Ctx<'_>,
    landing: &InvitationLanding,
    typed: &Typed,
    errors: &FormErrors,
) -> PageResult {
    let csrf = ctx.flow_csrf()?;
    let action = ctx.path("invitation");
    let info = &landing.info;
    let email = info.email.as_str();
    let date = info.expires_at.get(..10).unwrap_or(&info.expires_at);
    let rules =
        Msg::PasswordRules.fill(&[("min", &portal_core::passwords::MIN_LENGTH.to_string())]);
    let intro = Msg::InvitationIntro.fill(&[
        ("inviter", &info.inviter),
        ("family", &info.family_name),
        ("business", &ctx.tenant.business_name),
    ]);
    let content = html! {
        (errors.summary())
        p { (intro) }
        p { (Msg::InvitationFor.fill(&[("email", email), ("date", date)])) }
        @if landing.existing_login {
            h2 { (Msg::InvitationExistingTitle) }
            p { (Msg::InvitationExistingIntro.fill(&[("email", email)])) }
        } @else {
            h2 { (Msg::InvitationNewTitle) }
            p { (Msg::InvitationNewIntro.fill(&[("email", email)])) }
        }
        (form(&action, &csrf, html! {
            @if landing.existing_login {
                (Input::new("password", Msg::LabelPassword.en(), "password").autocomplete("current-password").render(errors))
            } @else {
                (Input::new("first_name", Msg::LabelFirstName.en(), "text").value(&typed.first_name).autocomplete("given-name").render(errors))
                (Input::new("last_name", Msg::LabelLastName.en(), "text").value(&typed.last_name).autocomplete("family-name").render(errors))
                (Input::new("password", Msg::LabelPassword.en(), "password").autocomplete("new-password").hint(&rules).render(errors))
                (Input::new("password_confirmation", Msg::LabelPasswordConfirmation.en(), "password").autocomplete("new-password").render(errors))
            }
            p.hint { (Msg::InvitationAgeHint) }
            (checkbox("age_confirmed", Msg::LabelAgeConfirmed.en(), typed.age_confirmed, errors))
            div.actions { button type="submit" { (Msg::InvitationAccept) } }
        }))
    };
    ctx.page(Msg::InvitationTitle.en(), content)
}

/// A used, cancelled, replaced, revoked or expired link: said in words; the flow ends.
fn dead_link(ctx: &mut Ctx<'_>, err: &DomainError) -> PageResult {
    ctx.end_flow();
    let errors = FormErrors::from_domain(err, &[]);
    let sign_in = ctx.path("sign-in");
    let content = html! {
        (errors.summary())
        p { (Msg::InvitationDeadHint) }
        p { a href=(sign_in) { (Msg::SignInTitle) } }
    };
    ctx.page_with_status(
        status_of(err).unwrap_or(StatusCode::BAD_REQUEST),
        Msg::InvitationTitle.en(),
        content,
    )
}
