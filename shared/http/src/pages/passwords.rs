//! Password pages: forgot (the same answer whatever happened), reset from the mailed link (the
//! token leaves the address bar on landing), and change (staff and guardians).

use maud::html;
use portal_core::DomainError;
use portal_core::signer::SubjectKind;

use super::layout::{FormErrors, Input, form, notice};
use super::messages::Msg;
use super::{Ctx, PageResult, status_of, with_status};

fn rules_hint() -> String {
    Msg::PasswordRules.fill(&[("min", &portal_core::passwords::MIN_LENGTH.to_string())])
}

fn link_minutes(ctx: &Ctx<'_>) -> String {
    (ctx.p.security.reset_link_seconds / 60).to_string()
}

/// `forgot-password` (`?for=staff`: by username).
pub(crate) async fn forgot(ctx: &mut Ctx<'_>) -> PageResult {
    let staff = ctx.query("for").as_deref() == Some("staff")
        || (ctx.is_post() && ctx.form.get("for") == "staff");
    if ctx.is_post() {
        let name = ctx
            .form
            .get(if staff { "username" } else { "email" })
            .trim()
            .to_owned();
        if staff {
            ctx.p.forgot_staff_password(&ctx.account, &name).await?;
        } else {
            ctx.p.forgot_guardian_password(&ctx.account, &name).await?;
        }
        return ctx.redirect(if staff {
            "forgot-password?for=staff&sent=1"
        } else {
            "forgot-password?sent=1"
        });
    }
    let csrf = ctx.flow_csrf()?;
    let action = ctx.path("forgot-password");
    let minutes = link_minutes(ctx);
    let errors = FormErrors::none();
    let sent = ctx.query("sent").map(|_| Msg::ForgotSent);
    let back = ctx.path(if staff { "staff-sign-in" } else { "sign-in" });
    let content = html! {
        (notice(sent))
        @if staff {
            p { (Msg::ForgotIntroStaff.fill(&[("minutes", &minutes)])) }
        } @else {
            p { (Msg::ForgotIntroGuardian.fill(&[("minutes", &minutes)])) }
        }
        (form(&action, &csrf, html! {
            @if staff {
                input type="hidden" name="for" value="staff";
                (Input::new("username", Msg::LabelUsername.en(), "text").autocomplete("username").render(&errors))
            } @else {
                (Input::new("email", Msg::LabelEmail.en(), "email").autocomplete("email").render(&errors))
            }
            div.actions { button type="submit" { (Msg::ForgotButton) } }
        }))
        p { a href=(back) { (Msg::Back) } }
    };
    ctx.page(Msg::ForgotTitle.en(), content)
}

/// `reset-password`: lands from the mailed link (token kept in the flow, `303` without it),
/// then the new password twice.
pub(crate) async fn reset(ctx: &mut Ctx<'_>) -> PageResult {
    if !ctx.is_post() {
        if let Some(token) = ctx.query("token") {
            // Landing: checked when the page is shown, never used up here.
            ctx.flow()?.reset_token = Some(token);
            ctx.save_flow()?;
            return ctx.redirect("reset-password");
        }
        if let Some(kind) = ctx.query("done") {
            let sign_in = ctx.path(if kind == "staff" {
                "staff-sign-in"
            } else {
                "sign-in"
            });
            let content = html! {
                (notice(Some(Msg::ResetDone)))
                p { a href=(sign_in) { (Msg::SignInTitle) } }
            };
            return ctx.page(Msg::ResetTitle.en(), content);
        }
    }
    let Some(token) = ctx.flow()?.reset_token.clone() else {
        let forgot = ctx.path("forgot-password");
        let content = html! {
            p { (Msg::ResetNoLink) }
            p { a href=(forgot) { (Msg::ForgotTitle) } }
        };
        return ctx.page(Msg::ResetTitle.en(), content);
    };
    let info = match ctx.p.check_reset_link(&ctx.account, &token).await {
        Ok(info) => info,
        Err(e @ (DomainError::InvalidToken | DomainError::TokenExpired)) => {
            return dead_link(ctx, &e);
        }
        Err(e) => return Err(e),
    };
    if !ctx.is_post() {
        return show_reset(ctx, &FormErrors::none());
    }
    let new = ctx.form.secret("new_password");
    if ctx.form.get("new_password") != ctx.form.get("new_password_confirmation") {
        let mut errors = FormErrors::none();
        errors.field("new_password_confirmation", Msg::FieldMismatch.en());
        return show_reset(ctx, &errors)
            .map(|r| with_status(r, Some(http::StatusCode::UNPROCESSABLE_ENTITY)));
    }
    match ctx.p.complete_reset(&ctx.account, &token, new).await {
        Ok(()) => {
            ctx.end_flow();
            ctx.redirect(match info.kind {
                SubjectKind::Staff => "reset-password?done=staff",
                SubjectKind::Guardian => "reset-password?done=guardian",
            })
        }
        Err(e @ (DomainError::InvalidToken | DomainError::TokenExpired)) => dead_link(ctx, &e),
        Err(e) => match status_of(&e) {
            Some(status) => show_reset(ctx, &FormErrors::from_domain(&e, &[]))
                .map(|r| with_status(r, Some(status))),
            None => Err(e),
        },
    }
}

fn show_reset(ctx: &mut Ctx<'_>, errors: &FormErrors) -> PageResult {
    let csrf = ctx.flow_csrf()?;
    let action = ctx.path("reset-password");
    let hint = rules_hint();
    let content = html! {
        (errors.summary())
        (form(&action, &csrf, html! {
            (Input::new("new_password", Msg::LabelNewPassword.en(), "password").autocomplete("new-password").hint(&hint).render(errors))
            (Input::new("new_password_confirmation", Msg::LabelConfirmNewPassword.en(), "password").autocomplete("new-password").render(errors))
            div.actions { button type="submit" { (Msg::ResetButton) } }
        }))
    };
    ctx.page(Msg::ResetTitle.en(), content)
}

/// A used, replaced or expired link: said in words, with the way to a new one.
fn dead_link(ctx: &mut Ctx<'_>, err: &DomainError) -> PageResult {
    ctx.end_flow();
    let errors = FormErrors::from_domain(err, &[]);
    let forgot = ctx.path("forgot-password");
    let content = html! {
        (errors.summary())
        p { a href=(forgot) { (Msg::ForgotTitle) } }
    };
    ctx.page_with_status(
        status_of(err).unwrap_or(http::StatusCode::BAD_REQUEST),
        Msg::ResetTitle.en(),
        content,
    )
}

/// `change-password`: current password, new password twice (staff and guardians). Every
/// session of the user ends, this one too, so the page sends them to sign in again.
pub(crate) async fn change(ctx: &mut Ctx<'_>) -> PageResult {
    let Some(auth) = ctx.session().await? else {
        return ctx.sign_in_first(SubjectKind::Guardian);
    };
    let kind = auth.kind;
    if !ctx.is_post() {
        return show_change(ctx, kind, &FormErrors::none());
    }
    if ctx.form.get("new_password") != ctx.form.get("new_password_confirmation") {
        let mut errors = FormErrors::none();
        errors.field("new_password_confirmation", Msg::FieldMismatch.en());
        return show_change(ctx, kind, &errors)
            .map(|r| with_status(r, Some(http::StatusCode::UNPROCESSABLE_ENTITY)));
    }
    let current = ctx.form.secret("current_password");
    let new = ctx.form.secret("new_password");
    let outcome = match kind {
        SubjectKind::Staff => {
            let actor = ctx.p.staff_actor(auth, false).await?;
            ctx.p.change_own_password(&actor, current, new).await
        }
        SubjectKind::Guardian => {
            let actor = ctx.p.guardian_actor(auth).await?;
            ctx.p.change_guardian_password(&actor, current, new).await
        }
    };
    match outcome {
        Ok(()) => {
            ctx.clear_session();
            ctx.redirect(match kind {
                SubjectKind::Staff => "staff-sign-in?changed=1",
                SubjectKind::Guardian => "sign-in?changed=1",
            })
        }
        Err(e) => match status_of(&e) {
            Some(status) => {
                let mut errors = FormErrors::from_domain(&e, &[]);
                if matches!(e, DomainError::WrongCurrentPassword) {
                    errors = FormErrors::none();
                    errors.field("current_password", Msg::ErrorWrongCurrentPassword.en());
                }
                show_change(ctx, kind, &errors).map(|r| with_status(r, Some(status)))
            }
            None => Err(e),
        },
    }
}

fn show_change(ctx: &mut Ctx<'_>, kind: SubjectKind, errors: &FormErrors) -> PageResult {
    let csrf = ctx.session_csrf();
    let action = ctx.path("change-password");
    let back = ctx.path(match kind {
        SubjectKind::Staff => "staff-home",
        SubjectKind::Guardian => "family",
    });
    let hint = rules_hint();
    let content = html! {
        (errors.summary())
        (form(&action, &csrf, html! {
            (Input::new("current_password", Msg::LabelCurrentPassword.en(), "password").autocomplete("current-password").render(errors))
            (Input::new("new_password", Msg::LabelNewPassword.en(), "password").autocomplete("new-password").hint(&hint).render(errors))
            (Input::new("new_password_confirmation", Msg::LabelConfirmNewPassword.en(), "password").autocomplete("new-password").render(errors))
            div.actions { button type="submit" { (Msg::ChangePasswordButton) } }
        }))
        p { a href=(back) { (Msg::Back) } }
    };
    ctx.page(Msg::ChangePasswordTitle.en(), content)
}
