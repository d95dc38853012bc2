//! The request pipeline: route lookup, limits, authentication and the route's guard, then one
//! domain call per route.

use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use portal_core::account::AccountName;
use portal_core::families::{FamilyContext, FamilyEntry, GuardianActor};
use portal_core::invitations::AcceptInvitationInput;
use portal_core::permissions::Permissions;
use portal_core::policies::{AcceptInput, PolicyInput};
use portal_core::revocations::PrimaryChangeInput;
use portal_core::sessions::Authenticated;
use portal_core::signup::{EmailStep, SignupInput};
use portal_core::staff::{NewStaff, PermissionsChange, StaffActor, StaffInput};
use portal_core::tenants::{SettingsChange, SettingsInput};
use portal_core::tokens::{MAX_CURSOR_LENGTH, MAX_ID_LENGTH, MAX_TOKEN_LENGTH, is_opaque};
use portal_core::{DomainError, Portal};
use secrecy::SecretString;
use serde::Deserialize;

use crate::MAX_BODY_BYTES;
use crate::problem::{from_domain, problem};
use crate::request::{bearer, json_body, query_params};
use crate::response::{accepted, created, json, no_content, ok};
use crate::routes::{Function, Guard, Lookup, Params, Route, RouteId, lookup};

/// One function's (or, with `None`, every route's) HTTP handler over the domain.
#[derive(Clone)]
pub struct App {
    portal: Portal,
    function: Option<Function>,
}

use crate::response::Outcome;

/// What a route's guard established about the caller.
enum Caller {
    Anonymous,
    Session(Box<Authenticated>),
    Staff(Box<StaffActor>),
    Guardian(Box<GuardianActor>),
    Family(Box<FamilyContext>),
}

impl App {
    pub fn new(portal: Portal, function: Option<Function>) -> Self {
        Self { portal, function }
    }

    pub fn portal(&self) -> &Portal {
        &self.portal
    }

    /// Handles one request. Logs one line per request: route pattern (never the path, which
    /// may hold a token), account, status and latency.
    pub async fn handle(&self, req: Request<Bytes>, request_id: Option<&str>) -> Response<Bytes> {
        let started = Instant::now();
        let (route, params) = match lookup(req.method(), req.uri().path(), self.function) {
            Lookup::Found(route, params) => (route, params),
            Lookup::MethodNotAllowed(allowed) => {
                let mut response = problem(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "this path does not take that method",
                    &[],
                    None,
                    None,
                );
                // RFC 9110 §15.5.6: a 405 lists the methods the path does take.
                let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
                if let Ok(value) = http::HeaderValue::from_str(&allow.join(", ")) {
                    response.headers_mut().insert(http::header::ALLOW, value);
                }
                return response;
            }
            Lookup::NotFound => {
                return problem(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such route",
                    &[],
                    None,
                    None,
                );
            }
        };
        let account = params.get("account").unwrap_or_default().to_owned();
        let response = match self.run(route, &params, &req).await {
            Ok(response) => response,
            Err(err) => {
                if matches!(err, DomainError::Internal(_) | DomainError::Store(_)) {
                    tracing::error!(route = route.path, account = %account, error = %err, "request failed");
                }
                from_domain(&err, request_id)
            }
        };
        tracing::info!(
            route = route.path,
            method = %route.method,
            account = %account,
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        response
    }

    async fn run(&self, route: &'static Route, params: &Params, req: &Request<Bytes>) -> Outcome {
        let account = params
            .get("account")
            .and_then(AccountName::parse)
            .ok_or(DomainError::AccountNotFound)?;
        if req.body().len() > MAX_BODY_BYTES {
            return Ok(problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("bodies are limited to {MAX_BODY_BYTES} bytes"),
                &[],
                None,
                None,
            ));
        }
        let caller = match self.guard(route.guard, &account, req).await {
            Ok(caller) => caller,
            Err(DomainError::Unauthenticated) => {
                // An account that does not exist is named as such, not as a token problem.
                self.portal.tenant(&account).await?;
                return Err(DomainError::Unauthenticated);
            }
            Err(e) => return Err(e),
        };
        self.dispatch(route.id, &account, params, req, caller).await
    }

    async fn guard(
        &self,
        guard: Guard,
        account: &AccountName,
        req: &Request<Bytes>,
    ) -> Result<Caller, DomainError> {
        if guard == Guard::Public {
            return Ok(Caller::Anonymous);
        }
        let token = bearer(req).ok_or(DomainError::Unauthenticated)?;
        let activity = req.method() != Method::GET && req.method() != Method::HEAD;
        let auth = self.portal.authenticate(account, token, activity).await?;
        match guard {
            Guard::Public | Guard::Session => Ok(Caller::Session(Box::new(auth))),
            Guard::Staff => Ok(Caller::Staff(Box::new(
                self.portal.staff_actor(auth, false).await?,
            ))),
            Guard::Office(task, level) => {
                let actor = self.portal.staff_actor(auth, true).await?;
                actor.require(task, level)?;
                Ok(Caller::Staff(Box::new(actor)))
            }
            Guard::Guardian => Ok(Caller::Guardian(Box::new(
                self.portal.guardian_actor(auth).await?,
            ))),
            Guard::Family(usage) => {
                let actor = self.portal.guardian_actor(auth).await?;
                Ok(Caller::Family(Box::new(
                    self.portal.family_context(actor, usage).await?,
                )))
            }
        }
    }

    async fn dispatch(
        &self,
        id: RouteId,
        account: &AccountName,
        params: &Params,
        req: &Request<Bytes>,
        caller: Caller,
    ) -> Outcome {
        let p = &self.portal;
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
            (RouteId::ListUserGroups, Caller::Staff(_)) => {
                ok(&serde_json::json!({ "user_groups": p.user_groups(account).await? }))
            }
            (RouteId::CreateUserGroup, Caller::Staff(actor)) => {
                let body: GroupBody = json_body(req)?;
                let name = body.name.ok_or_else(|| required("name"))?;
                let group = p
                    .create_user_group(&actor, &name, body.permissions.unwrap_or_default())
                    .await?;
                created(&group)
            }
            (RouteId::ListStaff, Caller::Staff(_)) => {
                ok(&serde_json::json!({ "staff": p.list_staff(account).await? }))
            }
            (RouteId::CreateStaff, Caller::Staff(actor)) => {
                let input: StaffInput = json_body(req)?;
                let new = NewStaff::parse(input, "")?;
                created(&p.create_staff(&actor, new).await?)
            }
            (RouteId::GetStaff, Caller::Staff(_)) => {
                ok(&p.staff_view(account, param(params, "staff_id")?).await?)
            }
            (RouteId::PutStaffPermissions, Caller::Staff(actor)) => {
                let change: PermissionsChange = json_body(req)?;
                ok(&p
                    .change_permissions(&actor, param(params, "staff_id")?, change)
                    .await?)
            }
            (RouteId::GetSettings, Caller::Staff(_)) => ok(&p.settings(account).await?),
            (RouteId::PatchSettings, Caller::Staff(actor)) => {
                let input: SettingsInput = json_body(req)?;
                let change = SettingsChange::parse(&input)?;
                ok(&p.update_settings(account, actor.actor(), &change).await?)
            }
            (RouteId::GetAudit, Caller::Staff(_)) => {
                let mut limit = None;
                let mut cursor = None;
                for (k, v) in query_params(req)? {
                    match k.as_str() {
                        "limit" => {
                            limit = Some(v.parse::<usize>().map_err(|_| {
                                DomainError::Malformed("limit must be an integer".into())
                            })?)
                        }
                        // Checked here, before any store call; the audit flow checks that it
                        // decodes to a position in the log.
                        "cursor" if !is_opaque(&v, MAX_CURSOR_LENGTH) => {
                            return Err(DomainError::Malformed("invalid cursor".into()));
                        }
                        "cursor" => cursor = Some(v),
                        _ => {}
                    }
                }
                ok(&p.audit_page(account, limit, cursor.as_deref()).await?)
            }
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
            (RouteId::CreatePolicy, Caller::Staff(actor)) => {
                let input: PolicyInput = json_body(req)?;
                created(&p.create_policy(&actor, input).await?)
            }
            (RouteId::UpdatePolicy, Caller::Staff(actor)) => {
                let input: PolicyInput = json_body(req)?;
                ok(&p
                    .update_policy(&actor, param(params, "policy_id")?, input)
                    .await?)
            }
            (RouteId::GetOfficeFamily, Caller::Staff(_)) => ok(&p
                .office_family(account, param(params, "family_id")?)
                .await?),
            (RouteId::ManualAcceptPolicy, Caller::Staff(actor)) => {
                let body: NoteBody = json_body(req)?;
                let out = p
                    .manually_accept_policy(
                        &actor,
                        param(params, "family_id")?,
                        param(params, "policy_id")?,
                        body.note,
                    )
                    .await?;
                ok(&out)
            }
            // Passwords (function `reset-password`).
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
            // A guard and a handler disagree about the caller: a bug in the route table.
            (id, _) => Err(DomainError::Internal(format!(
                "route {id:?} got the wrong caller"
            ))),
        }
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
struct EmailBody {
    email: Option<String>,
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

#[derive(Deserialize)]
struct NoteBody {
    note: Option<String>,
}

#[derive(Deserialize)]
struct TermsBody {
    version: Option<String>,
    newsletter_opt_in: Option<bool>,
}

#[derive(Deserialize)]
struct GroupBody {
    name: Option<String>,
    permissions: Option<Permissions>,
}

fn required(field: &str) -> DomainError {
    DomainError::Validation(vec![portal_core::FieldError::required(field)])
}

/// A path parameter, checked at the edge before any store call: a value no id or token of
/// this service could have (over-long, or outside base64url) is answered like an unknown one,
/// `invalid_token` for a token and `not_found` for an id. Handlers call this after the route's
/// guard, so a request without a valid session still answers 401 and a caller without the
/// level 403, as for any unknown id.
fn param<'a>(params: &'a Params, name: &str) -> Result<&'a str, DomainError> {
    let value = params.get(name).ok_or(DomainError::NotFound)?;
    match name {
        "token" if !is_opaque(value, MAX_TOKEN_LENGTH) => Err(DomainError::InvalidToken),
        _ if !is_opaque(value, MAX_ID_LENGTH) => Err(DomainError::NotFound),
        _ => Ok(value),
    }
}

/// A token from a body, checked at the edge like a path token. A missing or empty one is
/// left to the flow (which answers `invalid_token` for it too, after naming an unknown
/// account).
fn body_token(token: Option<&str>) -> Result<(), DomainError> {
    match token.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if !is_opaque(t, MAX_TOKEN_LENGTH) => Err(DomainError::InvalidToken),
        _ => Ok(()),
    }
}

// Bodies of the password routes.

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
