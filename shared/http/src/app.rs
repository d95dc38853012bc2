//! The request pipeline: route lookup, limits, authentication and the route's guard, then one
//! domain call per route.

use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use portal_core::account::AccountName;
use portal_core::families::{FamilyContext, GuardianActor};
use portal_core::sessions::{Activity, Authenticated};
use portal_core::staff::StaffActor;
use portal_core::{DomainError, Portal};

use crate::MAX_BODY_BYTES;
#[cfg_attr(not(feature = "all"), allow(unused_imports))]
use crate::handlers;
use crate::origin::OriginGuard;
use crate::problem::{from_domain, problem};
use crate::request::bearer;
use crate::response::Outcome;
use crate::routes::{Function, Guard, Lookup, Params, Route, lookup};

/// One function's (or, with `None`, every route's) HTTP handler over the domain.
#[derive(Clone)]
pub struct App {
    portal: Portal,
    function: Option<Function>,
    /// Behind the front door: CloudFront's origin-verify header, required on every request.
    origin: Option<std::sync::Arc<OriginGuard>>,
}

/// What a route's guard established about the caller. (A build with only some route groups
/// reads only some of it.)
#[cfg_attr(not(feature = "all"), allow(dead_code))]
pub(crate) enum Caller {
    Anonymous,
    Session(Box<Authenticated>),
    Staff(Box<StaffActor>),
    Guardian(Box<GuardianActor>),
    Family(Box<FamilyContext>),
}

impl Caller {
    /// The request's pending idle-deadline move, if it has a session.
    fn activity(&self) -> Option<Activity> {
        match self {
            Caller::Anonymous => None,
            Caller::Session(auth) => Some(auth.activity.clone()),
            Caller::Staff(actor) => Some(actor.auth.activity.clone()),
            Caller::Guardian(actor) => Some(actor.auth.activity.clone()),
            Caller::Family(ctx) => Some(ctx.actor.auth.activity.clone()),
        }
    }
}

impl App {
    pub fn new(portal: Portal, function: Option<Function>) -> Self {
        Self {
            portal,
            function,
            origin: None,
        }
    }

    /// Requires CloudFront's origin-verify header on every request (see [`OriginGuard`]).
    pub fn with_origin_guard(mut self, guard: OriginGuard) -> Self {
        self.origin = Some(std::sync::Arc::new(guard));
        self
    }

    pub fn portal(&self) -> &Portal {
        &self.portal
    }

    /// Handles one request. Logs one line per request: route pattern (never the path, which
    /// may hold a token), account, status and latency; counts a server error (see
    /// [`crate::problem::count_answer`]).
    pub async fn handle(&self, req: Request<Bytes>, request_id: Option<&str>) -> Response<Bytes> {
        let started = Instant::now();
        if let Some(guard) = &self.origin
            && let Err(refused) = guard.check(req.headers(), request_id)
        {
            // Not through the front door: no route, account or body is looked at.
            tracing::warn!(
                request_id = request_id.unwrap_or("-"),
                status = refused.status().as_u16(),
                "request without the front door's origin header"
            );
            return refused;
        }
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
        let response = match self.run_page(route, &params, &req).await {
            Some(response) => Ok(response),
            None => self.run(route, &params, &req).await,
        };
        let response = match response {
            Ok(response) => response,
            Err(err) => {
                if matches!(err, DomainError::Internal(_) | DomainError::Store(_)) {
                    tracing::error!(route = route.path, account = %account, error = %err, "request failed");
                }
                from_domain(&err, request_id)
            }
        };
        crate::problem::count_answer(self.portal.metrics.as_ref(), &response);
        tracing::info!(
            request_id = request_id.unwrap_or("-"),
            route = route.path,
            method = %route.method,
            account = %account,
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        response
    }

    /// A hosted page (HTML): the pages answer every outcome themselves, errors included.
    #[cfg_attr(not(feature = "pages"), allow(unused_variables))]
    async fn run_page(
        &self,
        route: &'static Route,
        params: &Params,
        req: &Request<Bytes>,
    ) -> Option<Response<Bytes>> {
        match route.id {
            #[cfg(feature = "pages")]
            crate::routes::RouteId::Page(page) => {
                Some(crate::pages::handle(&self.portal, page, params, req).await)
            }
            _ => None,
        }
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
        let also = handlers::read_along(route.id, &account, params);
        let caller = match self.guard(route.guard, &account, req, also).await {
            Ok(caller) => caller,
            Err(DomainError::Unauthenticated) => {
                // An account that does not exist is named as such, not as a token problem.
                self.portal.tenant(&account).await?;
                return Err(DomainError::Unauthenticated);
            }
            Err(e) => return Err(e),
        };
        let activity = caller.activity();
        let outcome = self.dispatch(route, &account, params, req, caller).await;
        if let Some(activity) = activity {
            // Activity counts whatever the route answered; most write routes already carried
            // it in their own transaction, and then this writes nothing.
            if let Err(e) = self.portal.finish_activity(&activity).await {
                tracing::warn!(route = route.path, error = %e, "idle deadline not moved");
            }
        }
        outcome
    }

    async fn guard(
        &self,
        guard: Guard,
        account: &AccountName,
        req: &Request<Bytes>,
        also: Vec<portal_core::store::Key>,
    ) -> Result<Caller, DomainError> {
        if guard == Guard::Public {
            return Ok(Caller::Anonymous);
        }
        let token = bearer(req).ok_or(DomainError::Unauthenticated)?;
        let activity = req.method() != Method::GET && req.method() != Method::HEAD;
        let auth = self
            .portal
            .authenticate_with(account, token, activity, also)
            .await?;
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

    /// Hands the request to its route group's handlers.
    #[cfg_attr(not(feature = "all"), allow(unused_variables))]
    async fn dispatch(
        &self,
        route: &'static Route,
        account: &AccountName,
        params: &Params,
        req: &Request<Bytes>,
        caller: Caller,
    ) -> Outcome {
        let call = handlers::Call {
            p: &self.portal,
            id: route.id,
            account,
            params,
            req,
        };
        match route.function {
            #[cfg(feature = "login")]
            Function::Login => handlers::login::dispatch(call, caller).await,
            #[cfg(feature = "office")]
            Function::Office => handlers::office::dispatch(call, caller).await,
            #[cfg(feature = "signup")]
            Function::Signup => handlers::signup::dispatch(call, caller).await,
            #[cfg(feature = "invite")]
            Function::Invite => handlers::invite::dispatch(call, caller).await,
            #[cfg(feature = "revoke")]
            Function::Revoke => handlers::revoke::dispatch(call, caller).await,
            #[cfg(feature = "reset-password")]
            Function::ResetPassword => handlers::reset_password::dispatch(call, caller).await,
            // A group this build does not carry (a Lambda serves only its own routes, see
            // `App::new`): unreachable unless the route table and the build disagree.
            #[allow(unreachable_patterns)]
            other => Err(DomainError::Internal(format!(
                "route group {} is not built into this binary",
                other.name()
            ))),
        }
    }
}
