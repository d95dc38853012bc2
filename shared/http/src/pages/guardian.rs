//! Guardian sign-in, and signing out (staff and guardians).

use maud::html;
use portal_core::guardians::GuardianLogin;
use portal_core::signer::SubjectKind;

use super::layout::{FormErrors, Input, checkbox, form, notice};
use super::messages::Msg;
use super::{Ctx, PageResult, status_of, with_status};

/// `sign-in`: email, password, "stay signed in"; links to forgot password and sign-up.
pub(crate) async fn sign_in(ctx: &mut Ctx<'_>) -> PageResult {
    if !ctx.is_post() {
        let ended = ctx.query("ended").map(|_| Msg::SessionEnded);
        let signed_out = ctx.query("signed_out").map(|_| Msg::SignedOut);
        let reset = ctx.query("reset").map(|_| Msg::ResetDone);
        let changed = ctx.query("changed").map(|_| Msg::ChangePasswordDone);
        let message = ended.or(signed_out).or(reset).or(changed);
        return show(ctx, "", false, &FormErrors::none(), message);
    }
    let email = ctx.form.get("email").trim().to_owned();
    let stay = ctx.form.checked("stay_signed_in");
    match ctx
        .p
        .guardian_login(&ctx.account, &email, ctx.form.secret("password"), stay)
        .await
    {
        Ok(login) => {
            ctx.start_session(&login.token, login.session.persistent);
            ctx.redirect(after_sign_in(&login))
        }
        Err(e) => match status_of(&e) {
            Some(status) => {
                let errors = FormErrors::from_domain(&e, &[]);
                show(ctx, &email, stay, &errors, None).map(|r| with_status(r, Some(status)))
            }
            None => Err(e),
        },
    }
}

/// Where a guardian goes after signing in: the policies step while the primary's family has
/// required policies pending, else the family page (which asks for the 18+ confirmation when
/// it is owed).
pub(crate) fn after_sign_in(login: &GuardianLogin) -> &'static str {
    let primary = login.families.iter().any(|f| {
        Some(&f.family_id) == login.active_family_id.as_ref()
            && f.role == portal_core::families::Role::Primary
    });
    if primary && !login.pending_policies.is_empty() {
        "policies"
    } else {
        "family"
    }
}

fn show(
    ctx: &mut Ctx<'_>,
    email: &str,
    stay: bool,
    errors: &FormErrors,
    message: Option<Msg>,
) -> PageResult {
    let csrf = ctx.flow_csrf()?;
    let action = ctx.path("sign-in");
    let forgot = ctx.path("forgot-password");
    let sign_up = ctx.path("sign-up");
    let staff = ctx.path("staff-sign-in");
    let signup_enabled = ctx.tenant.customer_signup_enabled;
    let content = html! {
        (notice(message))
        (errors.summary())
        (form(&action, &csrf, html! {
            (Input::new("email", Msg::LabelEmail.en(), "email").value(email).autocomplete("email").render(errors))
            (Input::new("password", Msg::LabelPassword.en(), "password").autocomplete("current-password").render(errors))
            (checkbox("stay_signed_in", Msg::StaySignedIn.en(), stay, errors))
            div.actions { button type="submit" { (Msg::SignInButton) } }
        }))
        p { a href=(forgot) { (Msg::ForgotPasswordLink) } }
        @if signup_enabled {
            p { a href=(sign_up) { (Msg::SignUpLink) } }
        }
        p { a href=(staff) { (Msg::StaffSignInLink) } }
    };
    ctx.page(Msg::SignInTitle.en(), content)
}

/// `sign-out` (POST only): the session ends on the server and its cookie goes.
pub(crate) async fn sign_out(ctx: &mut Ctx<'_>) -> PageResult {
    let Some(auth) = ctx.session().await? else {
        ctx.clear_session();
        return ctx.redirect("sign-in?signed_out=1");
    };
    ctx.p.logout(&auth).await?;
    ctx.clear_session();
    match auth.kind {
        SubjectKind::Staff => ctx.redirect("staff-sign-in?signed_out=1"),
        SubjectKind::Guardian => ctx.redirect("sign-in?signed_out=1"),
    }
}
