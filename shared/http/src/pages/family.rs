//! The family page (`family`) and its actions, over the same domain calls as the JSON API
//! (`portal/family`, `portal/families`, `portal/session/family`, `portal/age-confirmation`,
//! `portal/invitations…`, `portal/secondary-users/{id}`), through the same gates
//! (`Portal::guardian_actor`, then `Portal::family_context` for reading or writing).
//!
//! GET `family` shows the active family (name, guardians, the caller's access), the switcher
//! when the guardian has other families, and for the family's primary guardian the pending
//! invitations (resend, cancel), the secondary users (revoke) and the invite form. The gates in
//! words: an owed 18+ confirmation shows its form (`200`: a step to take, like the terms);
//! `access_revoked`, `primary_policies_pending` and a session without a family show the
//! message with the switcher, with the API's status (`403`); a primary with policies pending
//! gets a link to `policies`.
//!
//! Each action is a POST answered `303 family?notice=<id>` (only ids of [`notice_of`] are ever
//! shown). A refused action shows the family page again with the error in words and the API's
//! status for it.

use http::StatusCode;
use maud::{Markup, html};
use portal_core::DomainError;
use portal_core::families::{FamilyContext, FamilyUse, GuardianActor, Membership, Role};
use portal_core::invitations::InvitationList;
use portal_core::signer::SubjectKind;
use portal_core::tokens::{MAX_ID_LENGTH, is_opaque};

use super::layout::{FormErrors, Input, button_form, checkbox, form, notice};
use super::messages::Msg;
use super::staff::sign_out_form;
use super::{Ctx, PageResult, status_of, with_status};
use crate::routes::Page;

/// The confirmation of a `?notice=` id; anything else shows nothing.
fn notice_of(id: &str) -> Option<Msg> {
    Some(match id {
        "switched" => Msg::NoticeSwitched,
        "age_confirmed" => Msg::NoticeAgeConfirmed,
        "invited" => Msg::NoticeInvited,
        "resent" => Msg::NoticeResent,
        "cancelled" => Msg::NoticeCancelled,
        "revoked" => Msg::NoticeRevoked,
        "accepted" => Msg::NoticeAccepted,
        _ => return None,
    })
}

/// The family page and every action posting to it.
pub(crate) async fn handle(ctx: &mut Ctx<'_>, page: Page) -> PageResult {
    let Some(auth) = ctx.session().await? else {
        return ctx.sign_in_first(SubjectKind::Guardian);
    };
    if auth.kind != SubjectKind::Guardian {
        return ctx.redirect("staff-home");
    }
    let actor = ctx.p.guardian_actor(auth).await?;
    let outcome = match page {
        Page::FamilySwitch => switch(ctx, &actor).await,
        Page::FamilyAge => confirm_age(ctx, &actor).await,
        Page::FamilyInvite => invite(ctx, &actor).await,
        Page::FamilyInvitationResend => resend(ctx, &actor).await,
        Page::FamilyInvitationCancel => cancel(ctx, &actor).await,
        Page::FamilyRevoke => revoke(ctx, &actor).await,
        _ => {
            let shown = notice_of(ctx.query("notice").as_deref().unwrap_or_default());
            return show(ctx, &actor, &Shown::notice(shown)).await;
        }
    };
    match outcome {
        Ok(notice) => ctx.redirect(&format!("family?notice={notice}")),
        Err(Refused::Domain(e)) => match status_of(&e) {
            Some(status) => {
                let shown = Shown::error(&e, ctx.form.get("email"));
                show(ctx, &actor, &shown)
                    .await
                    .map(|r| with_status(r, Some(status)))
            }
            None => Err(e),
        },
        Err(Refused::Age) => {
            let mut errors = FormErrors::none();
            errors.field("age_confirmed", Msg::FamilyAgeRequired.en());
            let shown = Shown {
                errors,
                ..Shown::default()
            };
            show(ctx, &actor, &shown)
                .await
                .map(|r| with_status(r, Some(StatusCode::UNPROCESSABLE_ENTITY)))
        }
    }
}

/// Why an action did not happen.
enum Refused {
    Domain(DomainError),
    /// The 18+ box was not ticked.
    Age,
}

impl From<DomainError> for Refused {
    fn from(e: DomainError) -> Self {
        Refused::Domain(e)
    }
}

/// An action's notice id, or why it was refused.
type Action = Result<&'static str, Refused>;

/// `family/switch` (`family_id`): a new token for the same session on another of the
/// guardian's families.
async fn switch(ctx: &mut Ctx<'_>, actor: &GuardianActor) -> Action {
    let family_id = ctx.form.get("family_id").trim().to_owned();
    // No family has such an id: answered like a family the guardian is not in (as the API).
    if !is_opaque(&family_id, MAX_ID_LENGTH) {
        return Err(DomainError::Forbidden.into());
    }
    let switched = ctx.p.switch_family(actor, &family_id).await?;
    ctx.replace_session_token(&switched.token, actor.auth.persistent);
    Ok("switched")
}

/// `family/age-confirmation` (`age_confirmed` ticked).
async fn confirm_age(ctx: &mut Ctx<'_>, actor: &GuardianActor) -> Action {
    if !ctx.form.checked("age_confirmed") {
        return Err(Refused::Age);
    }
    ctx.p.confirm_age(actor).await?;
    Ok("age_confirmed")
}

/// The active family through the gate for writing (the primary's actions).
async fn writable(ctx: &Ctx<'_>, actor: &GuardianActor) -> Result<FamilyContext, DomainError> {
    ctx.p.family_context(actor.clone(), FamilyUse::Write).await
}

/// A path parameter naming an id, checked like the API's (`not_found` when no id could be it).
fn id_param(ctx: &Ctx<'_>, name: &str) -> Result<String, DomainError> {
    match ctx.params.get(name) {
        Some(value) if is_opaque(value, MAX_ID_LENGTH) => Ok(value.to_owned()),
        _ => Err(DomainError::NotFound),
    }
}

/// `family/invitations` (`email`).
async fn invite(ctx: &mut Ctx<'_>, actor: &GuardianActor) -> Action {
    let family = writable(ctx, actor).await?;
    let email = ctx.form.get("email").to_owned();
    ctx.p.invite(&family, &email).await?;
    Ok("invited")
}

/// `family/invitations/{invitation_id}/resend`.
async fn resend(ctx: &mut Ctx<'_>, actor: &GuardianActor) -> Action {
    let family = writable(ctx, actor).await?;
    let id = id_param(ctx, "invitation_id")?;
    ctx.p.resend_invitation(&family, &id).await?;
    Ok("resent")
}

/// `family/invitations/{invitation_id}/cancel`.
async fn cancel(ctx: &mut Ctx<'_>, actor: &GuardianActor) -> Action {
    let family = writable(ctx, actor).await?;
    let id = id_param(ctx, "invitation_id")?;
    ctx.p.cancel_invitation(&family, &id).await?;
    Ok("cancelled")
}

/// `family/secondary-users/{user_id}/revoke`.
async fn revoke(ctx: &mut Ctx<'_>, actor: &GuardianActor) -> Action {
    let family = writable(ctx, actor).await?;
    let id = id_param(ctx, "user_id")?;
    ctx.p.primary_revokes(&family, &id).await?;
    Ok("revoked")
}

/// What the page shows besides the family: a confirmation, or a refused action's errors (and
/// the email typed into the invite form).
#[derive(Default)]
struct Shown {
    notice: Option<Msg>,
    errors: FormErrors,
    email: String,
}

impl Shown {
    fn notice(notice: Option<Msg>) -> Self {
        Self {
            notice,
            ..Self::default()
        }
    }

    fn error(err: &DomainError, email: &str) -> Self {
        Self {
            errors: FormErrors::from_domain(err, &[]),
            email: email.trim().to_owned(),
            ..Self::default()
        }
    }
}

/// The family page, or the gate that stands before it.
async fn show(ctx: &mut Ctx<'_>, actor: &GuardianActor, shown: &Shown) -> PageResult {
    let account = actor.auth.account.clone();
    let memberships = ctx.p.memberships(&account, &actor.guardian.id).await?;
    let active = actor.auth.family_id.clone();
    let others: Vec<&Membership> = memberships
        .iter()
        .filter(|m| Some(&m.family_id) != active.as_ref())
        .collect();
    let family = match ctx.p.family_context(actor.clone(), FamilyUse::Read).await {
        Ok(family) => family,
        Err(DomainError::AgeConfirmationRequired) => return show_age(ctx, shown),
        Err(
            e @ (DomainError::AccessRevoked
            | DomainError::PrimaryPoliciesPending
            | DomainError::Forbidden),
        ) => return show_gate(ctx, &e, &others, shown),
        Err(e) => return Err(e),
    };
    let view = ctx.p.portal_family(&family).await?;
    let primary = family.membership.role == Role::Primary;
    let list = if primary {
        Some(ctx.p.invitation_list(&family).await?)
    } else {
        None
    };
    let csrf = ctx.session_csrf();
    let policies = ctx.path("policies");
    let content = html! {
        (notice(shown.notice))
        (shown.errors.summary())
        p {
            @if primary { (Msg::FamilyRolePrimary) } @else { (Msg::FamilyRoleSecondary) }
        }
        @if primary && !family.setup_complete() {
            div.warning role="region" aria-labelledby="policies-title" {
                h2 #policies-title { (Msg::ErrorPoliciesPending) }
                p { (Msg::FamilyPoliciesPending) }
                p { a href=(policies) { (Msg::FamilyPoliciesLink) } }
            }
        }
        h2 { (Msg::FamilyGuardians) }
        ul.plain {
            @for g in &view.guardians {
                li {
                    (g.first_name) " " (g.last_name)
                    @if g.primary { " – " (Msg::FamilyPrimaryGuardian) }
                    @if g.guardian_id == actor.guardian.id { " " (Msg::FamilyYou) }
                }
            }
        }
        p {
            (Msg::FamilyYourAccess) " "
            strong {
                @match view.access {
                    portal_core::families::Access::Full => (Msg::FamilyAccessFull),
                    portal_core::families::Access::View => (Msg::FamilyAccessView),
                }
            }
        }
        @if let Some(list) = &list {
            (primary_parts(ctx, list, shown, &csrf))
        }
        (switcher(ctx, &others, &csrf))
        (account_links(ctx, &csrf))
    };
    ctx.page(&view.name, content)
}

/// The primary's invitations, secondary users and invite form.
fn primary_parts(ctx: &Ctx<'_>, list: &InvitationList, shown: &Shown, csrf: &str) -> Markup {
    let period = portal_core::security::in_words(ctx.p.security.invitation_seconds);
    let invite_action = ctx.path("family/invitations");
    html! {
        h2 { (Msg::FamilyInvitationsTitle) }
        p { (Msg::FamilyInvitationsIntro.fill(&[("period", &period)])) }
        @if list.invitations.is_empty() {
            p { (Msg::FamilyNoInvitations) }
        } @else {
            ul.plain {
                @for i in &list.invitations {
                    @let base = format!("family/invitations/{}", i.invitation_id);
                    @let date = i.expires_at.get(..10).unwrap_or(&i.expires_at);
                    li.row {
                        span {
                            (i.email.as_str()) br;
                            (Msg::FamilyInvitationExpires.fill(&[("date", date)]))
                        }
                        div.actions {
                            (button_form(&ctx.path(&format!("{base}/resend")), csrf, Msg::FamilyResend.en(), false))
                            (button_form(&ctx.path(&format!("{base}/cancel")), csrf, Msg::FamilyCancel.en(), true))
                        }
                    }
                }
            }
        }
        (form(&invite_action, csrf, html! {
            (Input::new("email", Msg::LabelEmail.en(), "email").value(&shown.email).render(&shown.errors))
            div.actions { button type="submit" { (Msg::FamilyInviteButton) } }
        }))
        h2 { (Msg::FamilySecondaryTitle) }
        @if list.secondary_users.is_empty() {
            p { (Msg::FamilyNoSecondary) }
        } @else {
            ul.plain {
                @for u in &list.secondary_users {
                    @let action = ctx.path(&format!("family/secondary-users/{}/revoke", u.guardian_id));
                    li.row {
                        span { (u.first_name) " " (u.last_name) br; (u.email.as_str()) }
                        (button_form(&action, csrf, Msg::FamilyRevoke.en(), true))
                    }
                }
            }
        }
    }
}

/// The switcher: the guardian's other families, each a small form.
fn switcher(ctx: &Ctx<'_>, others: &[&Membership], csrf: &str) -> Markup {
    let action = ctx.path("family/switch");
    html! {
        @if !others.is_empty() {
            h2 { (Msg::FamilySwitcherTitle) }
            ul.plain {
                @for m in others {
                    li.row {
                        span {
                            (m.family_name) " – "
                            @match m.role {
                                Role::Primary => (Msg::FamilyAccessFull),
                                Role::Secondary => (Msg::FamilyAccessView),
                            }
                        }
                        (form(&action, csrf, html! {
                            input type="hidden" name="family_id" value=(m.family_id);
                            button.secondary type="submit" {
                                (Msg::FamilySwitchTo.fill(&[("name", &m.family_name)]))
                            }
                        }))
                    }
                }
            }
        }
    }
}

/// Change password and sign out.
fn account_links(ctx: &Ctx<'_>, csrf: &str) -> Markup {
    let change = ctx.path("change-password");
    html! {
        h2 { (Msg::FamilyAccountTitle) }
        p { a href=(change) { (Msg::ChangePasswordLink) } }
        (sign_out_form(ctx, csrf))
    }
}

/// The 18+ confirmation a secondary user owes before seeing any family.
fn show_age(ctx: &mut Ctx<'_>, shown: &Shown) -> PageResult {
    let csrf = ctx.session_csrf();
    let action = ctx.path("family/age-confirmation");
    let content = html! {
        (notice(shown.notice))
        (shown.errors.summary())
        p { (Msg::FamilyAgeIntro) }
        (form(&action, &csrf, html! {
            (checkbox("age_confirmed", Msg::LabelAgeConfirmed.en(), false, &shown.errors))
            div.actions { button type="submit" { (Msg::Continue) } }
        }))
        (account_links(ctx, &csrf))
    };
    ctx.page(Msg::FamilyAgeTitle.en(), content)
}

/// A family the guardian cannot see now (revoked, the primary's policies pending, no family at
/// all): the reason in words, and the way to another family.
fn show_gate(
    ctx: &mut Ctx<'_>,
    err: &DomainError,
    others: &[&Membership],
    shown: &Shown,
) -> PageResult {
    let csrf = ctx.session_csrf();
    let reason = match err {
        DomainError::Forbidden => Msg::FamilyNoFamily,
        DomainError::AccessRevoked => Msg::ErrorAccessRevoked,
        _ => Msg::ErrorPrimaryPoliciesPending,
    };
    let content = html! {
        (notice(shown.notice))
        (shown.errors.summary())
        div.warning role="status" { p { (reason) } }
        (switcher(ctx, others, &csrf))
        (account_links(ctx, &csrf))
    };
    ctx.page_with_status(
        status_of(err).unwrap_or(StatusCode::FORBIDDEN),
        Msg::FamilyTitle.en(),
        content,
    )
}
