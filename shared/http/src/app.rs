//! The request pipeline: route lookup, limits, authentication and the route's guard, then one
//! domain call per route.

use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use portal_core::account::AccountName;
use portal_core::permissions::Permissions;
use portal_core::sessions::Authenticated;
use portal_core::staff::{NewStaff, PermissionsChange, StaffActor, StaffInput};
use portal_core::tenants::{SettingsChange, SettingsInput};
use portal_core::{DomainError, Portal};
use secrecy::SecretString;
use serde::Deserialize;

use crate::MAX_BODY_BYTES;
use crate::problem::{from_domain, problem};
use crate::request::{bearer, json_body, query_params};
use crate::response::{created, no_content, ok};
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
    Session(Authenticated),
    Staff(Box<StaffActor>),
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
            Lookup::MethodNotAllowed => {
                return problem(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "this path does not take that method",
                    &[],
                    None,
                    None,
                );
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
            Guard::Public | Guard::Session => Ok(Caller::Session(auth)),
            Guard::Staff => Ok(Caller::Staff(Box::new(
                self.portal.staff_actor(auth, false).await?,
            ))),
            Guard::Office(task, level) => {
                let actor = self.portal.staff_actor(auth, true).await?;
                actor.require(task, level)?;
                Ok(Caller::Staff(Box::new(actor)))
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
                        "cursor" => cursor = Some(v),
                        _ => {}
                    }
                }
                ok(&p.audit_page(account, limit, cursor.as_deref()).await?)
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

fn param<'a>(params: &'a Params, name: &str) -> Result<&'a str, DomainError> {
    params.get(name).ok_or(DomainError::NotFound)
}
