//! Staff pages: sign-in, the Terms & Conditions step, and the signed-in home with the
//! missing-settings warning.

use maud::html;
use portal_core::DomainError;
use portal_core::signer::SubjectKind;
use portal_core::staff::StaffActor;

use super::layout::{FormErrors, Input, checkbox, form, notice};
use super::messages::Msg;
use super::{Ctx, PageResult, status_of};

/// `staff-sign-in`: username, password, "stay signed in".
pub(crate) async fn sign_in(ctx: &mut Ctx<'_>) -> PageResult {
    if !ctx.is_post() {
        let ended = ctx.query("ended").map(|_| Msg::SessionEnded);
        let signed_out = ctx.query("signed_out").map(|_| Msg::SignedOut);
        let changed = ctx.query("changed").map(|_| Msg::ChangePasswordDone);
        let message = ended.or(signed_out).or(changed);
        return show_sign_in(ctx, "", false, &FormErrors::none(), message);
    }
    let username = ctx.form.get("username").trim().to_owned();
    let stay = ctx.form.checked("stay_signed_in");
    match ctx
        .p
        .staff_login(&ctx.account, &username, ctx.form.secret("password"), stay)
        .await
    {
        Ok(login) => {
            ctx.start_session(&login.token, login.session.persistent);
            ctx.redirect(if login.terms.accepted {
                "staff-home"
            } else {
                "terms"
            })
        }
        Err(e) if status_of(&e).is_some() => {
            let errors = FormErrors::from_domain(&e, &[]);
            show_sign_in(ctx, &username, stay, &errors, None)
                .map(|r| super::with_status(r, status_of(&e)))
        }
        Err(e) => Err(e),
    }
}

fn show_sign_in(
    ctx: &mut Ctx<'_>,
    username: &str,
    stay: bool,
    errors: &FormErrors,
    message: Option<Msg>,
) -> PageResult {
    let csrf = ctx.flow_csrf()?;
    let action = ctx.path("staff-sign-in");
    let forgot = ctx.path("forgot-password?for=staff");
    let content = html! {
        (notice(message))
        (errors.summary())
        (form(&action, &csrf, html! {
            (Input::new("username", Msg::LabelUsername.en(), "text").value(username).autocomplete("username").render(errors))
            (Input::new("password", Msg::LabelPassword.en(), "password").autocomplete("current-password").render(errors))
            (checkbox("stay_signed_in", Msg::StaySignedIn.en(), stay, errors))
            div.actions { button type="submit" { (Msg::SignInButton) } }
        }))
        p { a href=(forgot) { (Msg::ForgotPasswordLink) } }
    };
    ctx.page(Msg::StaffSignInTitle.en(), content)
}

/// The staff member of the session cookie, or where to send a visitor without one.
async fn staff(ctx: &mut Ctx<'_>) -> Result<Result<StaffActor, PageResult>, DomainError> {
    let Some(auth) = ctx.session().await? else {
        return Ok(Err(ctx.sign_in_first(SubjectKind::Staff)));
    };
    if auth.kind != SubjectKind::Staff {
        return Ok(Err(ctx.redirect("family")));
    }
    Ok(Ok(ctx.p.staff_actor(auth, false).await?))
}

fn terms_accepted(actor: &StaffActor) -> bool {
    let current = portal_core::tenants::terms_version(actor.auth.terms.as_ref());
    actor.record.terms_accepted_version.as_deref() == Some(current.as_str())
}

/// `terms`: the current version with the newsletter choice (unticked).
pub(crate) async fn terms(ctx: &mut Ctx<'_>) -> PageResult {
    let actor = match staff(ctx).await? {
        Ok(actor) => actor,
        Err(redirect) => return redirect,
    };
    let current = portal_core::tenants::terms_version(actor.auth.terms.as_ref());
    if !ctx.is_post() {
        if terms_accepted(&actor) {
            return ctx.redirect("staff-home");
        }
        return show_terms(ctx, &actor, &current, false, &FormErrors::none());
    }
    let version = ctx.form.get("version").to_owned();
    let newsletter = ctx.form.checked("newsletter_opt_in");
    match ctx
        .p
        .accept_terms(actor.auth.clone(), &version, Some(newsletter))
        .await
    {
        Ok(()) => ctx.redirect("staff-home"),
        Err(e) if status_of(&e).is_some() => {
            let errors = FormErrors::from_domain(&e, &[]);
            show_terms(ctx, &actor, &current, newsletter, &errors)
                .map(|r| super::with_status(r, status_of(&e)))
        }
        Err(e) => Err(e),
    }
}

fn show_terms(
    ctx: &mut Ctx<'_>,
    actor: &StaffActor,
    current: &str,
    newsletter: bool,
    errors: &FormErrors,
) -> PageResult {
    let csrf = ctx.session_csrf();
    let action = ctx.path("terms");
    let content = html! {
        (errors.summary())
        p { (Msg::TermsIntro.fill(&[("version", current)])) }
        (form(&action, &csrf, html! {
            input type="hidden" name="version" value=(current);
            @if actor.record.email.is_some() {
                (checkbox("newsletter_opt_in", Msg::LabelNewsletter.en(), newsletter, errors))
            }
            div.actions { button type="submit" { (Msg::TermsAccept) } }
        }))
        (sign_out_form(ctx, &csrf))
    };
    ctx.page(Msg::TermsTitle.en(), content)
}

/// `staff-home`: who is signed in, what settings are missing, change password, sign out.
pub(crate) async fn home(ctx: &mut Ctx<'_>) -> PageResult {
    let actor = match staff(ctx).await? {
        Ok(actor) => actor,
        Err(redirect) => return redirect,
    };
    if !terms_accepted(&actor) {
        return ctx.redirect("terms");
    }
    let csrf = ctx.session_csrf();
    let missing: Vec<Msg> = ctx
        .tenant
        .missing_settings()
        .into_iter()
        .filter_map(|s| Msg::by_id(&format!("setting.{s}")))
        .collect();
    let title = Msg::StaffHomeTitle.fill(&[("name", &actor.record.first_name)]);
    let change = ctx.path("change-password");
    let content = html! {
        (notice(ctx.query("changed").map(|_| Msg::ChangePasswordDone)))
        p { (Msg::StaffHomeIntro.fill(&[("business", &ctx.tenant.business_name)])) }
        @if !missing.is_empty() {
            div.warning role="region" aria-labelledby="missing-title" {
                h2 #missing-title { (Msg::MissingSettingsTitle) }
                p { (Msg::MissingSettingsHint) }
                ul { @for m in &missing { li { (m) } } }
            }
        }
        p { a href=(change) { (Msg::ChangePasswordLink) } }
        (sign_out_form(ctx, &csrf))
    };
    ctx.page(&title, content)
}

/// The sign-out button.
pub(crate) fn sign_out_form(ctx: &Ctx<'_>, csrf: &str) -> maud::Markup {
    super::layout::button_form(&ctx.path("sign-out"), csrf, Msg::SignOut.en(), true)
}
