//! The hosted pages (`PAGES.md`): server-rendered HTML over the same domain calls as the JSON
//! handlers (not a client of them), so the rules, errors, limits and audit entries are the
//! API's. One request: the tenant is read, the cookies opened, a POST checked (fetch metadata
//! or `Origin`, then the CSRF token of its session or flow), and the page's module called.
//!
//! Modules: the parts (`messages`, `cookies`, `layout`, `assets`) at the bottom; the page
//! groups on top (`staff`, `guardian`, `passwords`, `signup`, `family`, `invitation`).

mod assets;
mod cookies;
mod family;
mod guardian;
mod invitation;
mod layout;
mod messages;
mod passwords;
mod signup;
mod staff;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use maud::html;
use portal_core::account::AccountName;
use portal_core::sessions::Authenticated;
use portal_core::signer::SubjectKind;
use portal_core::tenants::TenantRecord;
use portal_core::{DomainError, Portal};
use secrecy::SecretString;

use crate::request::percent_decode;
use crate::routes::{Page, Params};
use cookies::{Binding, CookieKeys, FLOW_COOKIE, Flow, SESSION_COOKIE};
use layout::{Shell, html_response, see_other};
use messages::Msg;

/// A page's answer (an HTML page, a redirect, a file); `Err` only for what no page can show
/// in a form (the store down, a bug): answered with the "try again" page.
pub(crate) type PageResult = Result<Response<Bytes>, DomainError>;

/// Handles one request to a page route.
pub(crate) async fn handle(
    portal: &Portal,
    page: Page,
    params: &Params,
    req: &Request<Bytes>,
) -> Response<Bytes> {
    let Some(account) = params.get("account").and_then(AccountName::parse) else {
        return account_not_found();
    };
    // The two files need no tenant read beyond the theme's.
    if page == Page::Asset {
        return match assets::file(params.get("file").unwrap_or_default()) {
            Some((content_type, body)) => {
                layout::asset_response(content_type, body, "public, max-age=31536000, immutable")
            }
            None => not_found_plain(),
        };
    }
    let tenant = match portal.tenant(&account).await {
        Ok(tenant) => tenant,
        Err(DomainError::AccountNotFound) => return account_not_found(),
        Err(e) => return unavailable(None, &e),
    };
    if page == Page::Theme {
        return layout::asset_response(
            "text/css; charset=utf-8",
            assets::theme(&tenant.branding),
            "public, max-age=300",
        );
    }
    let mut ctx = Ctx::new(portal, account, tenant, params, req);
    if req.method() == Method::POST
        && let Err(refusal) = ctx.check_post(page)
    {
        return *refusal;
    }
    let result = match page {
        Page::SignIn => guardian::sign_in(&mut ctx).await,
        Page::StaffSignIn => staff::sign_in(&mut ctx).await,
        Page::Terms => staff::terms(&mut ctx).await,
        Page::StaffHome => staff::home(&mut ctx).await,
        Page::SignOut => guardian::sign_out(&mut ctx).await,
        Page::ForgotPassword => passwords::forgot(&mut ctx).await,
        Page::ResetPassword => passwords::reset(&mut ctx).await,
        Page::ChangePassword => passwords::change(&mut ctx).await,
        Page::SignUp => signup::sign_up(&mut ctx).await,
        Page::Policies => signup::policies(&mut ctx).await,
        Page::Family
        | Page::FamilySwitch
        | Page::FamilyAge
        | Page::FamilyInvite
        | Page::FamilyInvitationResend
        | Page::FamilyInvitationCancel
        | Page::FamilyRevoke => family::handle(&mut ctx, page).await,
        Page::Invitation => invitation::invitation(&mut ctx).await,
        Page::Theme | Page::Asset => unreachable!("answered above"),
    };
    let activity = ctx.activity.take();
    let response = match result {
        Ok(response) => response,
        Err(e) => {
            if !matches!(e, DomainError::Store(ref s) if s.is_transient()) {
                tracing::error!(page = ?page, error = %e, "page failed");
            }
            unavailable(Some(&ctx), &e)
        }
    };
    if let Some(activity) = activity
        && let Err(e) = portal.finish_activity(&activity).await
    {
        tracing::warn!(page = ?page, error = %e, "idle deadline not moved");
    }
    response
}

/// How a page's POST is protected against cross-site requests.
enum Protection {
    /// Before sign-in: the CSRF token is bound to the flow cookie.
    Flow,
    /// Signed in: bound to the session cookie.
    Session,
}

fn protection(page: Page) -> Protection {
    match page {
        Page::SignIn
        | Page::StaffSignIn
        | Page::ForgotPassword
        | Page::ResetPassword
        | Page::SignUp
        | Page::Invitation => Protection::Flow,
        _ => Protection::Session,
    }
}

/// One page request.
pub(crate) struct Ctx<'a> {
    pub(crate) p: &'a Portal,
    pub(crate) account: AccountName,
    pub(crate) tenant: TenantRecord,
    pub(crate) params: &'a Params,
    pub(crate) req: &'a Request<Bytes>,
    keys: CookieKeys,
    /// Unix seconds, read once per request.
    pub(crate) now: i64,
    /// The flow cookie as opened (absent, forged or expired: `None`).
    flow: Option<Flow>,
    /// The submitted form of a POST.
    pub(crate) form: Form,
    /// `Set-Cookie` values for the response.
    pub(crate) cookies: Vec<String>,
    /// The session's pending idle-deadline move, written after the page (POSTs only, like the
    /// API: reading a page is not activity).
    activity: Option<portal_core::sessions::Activity>,
}

impl<'a> Ctx<'a> {
    fn new(
        p: &'a Portal,
        account: AccountName,
        tenant: TenantRecord,
        params: &'a Params,
        req: &'a Request<Bytes>,
    ) -> Self {
        let keys = CookieKeys::new(&p.signer, account.as_str());
        let now = p.clock.now().unix_timestamp();
        let flow = cookie(req, FLOW_COOKIE).and_then(|v| keys.open(v, now));
        Self {
            p,
            account,
            tenant,
            params,
            req,
            keys,
            now,
            flow,
            form: Form::default(),
            cookies: Vec::new(),
            activity: None,
        }
    }

    pub(crate) fn shell(&self) -> Shell<'_> {
        Shell::of(&self.tenant, &self.p.portal_url)
    }

    pub(crate) fn path(&self, page: &str) -> String {
        format!("/a/{}/{page}", self.account.as_str())
    }

    pub(crate) fn is_post(&self) -> bool {
        self.req.method() == Method::POST
    }

    /// A query parameter.
    pub(crate) fn query(&self, name: &str) -> Option<String> {
        crate::request::query_params(self.req)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Refuses a POST from another site or without the right CSRF token; parses its form.
    fn check_post(&mut self, page: Page) -> Result<(), Box<Response<Bytes>>> {
        if !self.same_origin() {
            return Err(self.refusal(StatusCode::FORBIDDEN, Msg::CrossSiteTitle, Msg::CrossSite));
        }
        if self.req.body().len() > crate::MAX_BODY_BYTES {
            return Err(self.refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                Msg::FormExpiredTitle,
                Msg::FormTooLarge,
            ));
        }
        self.form = match Form::parse(self.req) {
            Some(form) => form,
            None => {
                return Err(self.refusal(
                    StatusCode::FORBIDDEN,
                    Msg::FormExpiredTitle,
                    Msg::FormExpired,
                ));
            }
        };
        let submitted = self.form.get("csrf");
        let ok = match protection(page) {
            Protection::Flow => self.flow.as_ref().is_some_and(|f| {
                self.keys
                    .csrf_matches(&Binding::Flow(f.id.clone()), submitted)
            }),
            Protection::Session => match cookie(self.req, SESSION_COOKIE) {
                Some(token) => self
                    .keys
                    .csrf_matches(&Binding::Session(token.to_owned()), submitted),
                // No session at all: the page itself sends the caller to sign in.
                None => true,
            },
        };
        if ok {
            Ok(())
        } else {
            Err(self.refusal(
                StatusCode::FORBIDDEN,
                Msg::FormExpiredTitle,
                Msg::FormExpired,
            ))
        }
    }

    /// Fetch metadata first (`cross-site` is refused, `same-origin` and `none` pass), else the
    /// `Origin` must be `PORTAL_URL`'s.
    fn same_origin(&self) -> bool {
        let header = |name: &str| {
            self.req
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase)
        };
        match header("sec-fetch-site").as_deref() {
            Some("cross-site") => false,
            Some("same-origin") | Some("none") => true,
            _ => header("origin")
                .is_some_and(|o| o == layout::origin_of(&self.p.portal_url) && !o.is_empty()),
        }
    }

    fn refusal(&self, status: StatusCode, title: Msg, body: Msg) -> Box<Response<Bytes>> {
        let shell = self.shell();
        let markup = shell.page(
            title.en(),
            html! {
                p { (body) }
                p { a href=(self.path("sign-in")) { (Msg::SignInTitle) } }
            },
        );
        Box::new(html_response(status, markup, &[]))
    }

    /// The flow of this request, started (and its cookie set) when there is none.
    pub(crate) fn flow(&mut self) -> Result<&mut Flow, DomainError> {
        if self.flow.is_none() {
            self.flow = Some(Flow::start(self.now)?);
            self.save_flow()?;
        }
        Ok(self.flow.as_mut().expect("just set"))
    }

    /// Writes the flow back to its cookie (after a change).
    pub(crate) fn save_flow(&mut self) -> Result<(), DomainError> {
        if let Some(flow) = &self.flow {
            let value = self.keys.seal(flow)?;
            self.cookies
                .retain(|c| !c.starts_with(&format!("{FLOW_COOKIE}=")));
            self.cookies.push(cookies::set(
                FLOW_COOKIE,
                &value,
                Some((flow.exp - self.now).max(1)),
            ));
        }
        Ok(())
    }

    /// Ends the flow (its cookie removed).
    pub(crate) fn end_flow(&mut self) {
        self.flow = None;
        self.cookies
            .retain(|c| !c.starts_with(&format!("{FLOW_COOKIE}=")));
        self.cookies.push(cookies::clear(FLOW_COOKIE));
    }

    /// The CSRF token for this flow's forms.
    pub(crate) fn flow_csrf(&mut self) -> Result<String, DomainError> {
        let id = self.flow()?.id.clone();
        Ok(self.keys.csrf_token(&Binding::Flow(id)))
    }

    /// The session of the session cookie, if it is live. POSTs count as activity (the idle
    /// deadline moves after the page), GETs do not, as in the API.
    pub(crate) async fn session(&mut self) -> Result<Option<Authenticated>, DomainError> {
        let Some(token) = cookie(self.req, SESSION_COOKIE) else {
            return Ok(None);
        };
        let activity = self.is_post();
        match self
            .p
            .authenticate_with(&self.account, token, activity, Vec::new())
            .await
        {
            Ok(auth) => {
                if activity {
                    self.activity = Some(auth.activity.clone());
                }
                Ok(Some(auth))
            }
            Err(DomainError::Unauthenticated) => {
                // Ended (idle, signed out, password changed): the cookie goes too.
                self.cookies.push(cookies::clear(SESSION_COOKIE));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The CSRF token for forms of the signed-in pages.
    pub(crate) fn session_csrf(&self) -> String {
        let token = cookie(self.req, SESSION_COOKIE).unwrap_or_default();
        self.keys.csrf_token(&Binding::Session(token.to_owned()))
    }

    /// A new session from a sign-in: its cookie set, the flow ended, and the CSRF token its
    /// forms will carry.
    pub(crate) fn start_session(&mut self, token: &str, persistent: bool) {
        self.end_flow();
        let max_age = persistent.then_some(cookies::PERSISTENT_COOKIE_SECONDS);
        self.cookies
            .push(cookies::set(SESSION_COOKIE, token, max_age));
    }

    /// Replaces the session token (a family switch issues a new one).
    pub(crate) fn replace_session_token(&mut self, token: &str, persistent: bool) {
        let max_age = persistent.then_some(cookies::PERSISTENT_COOKIE_SECONDS);
        self.cookies
            .push(cookies::set(SESSION_COOKIE, token, max_age));
    }

    /// Ends the browser's session cookie.
    pub(crate) fn clear_session(&mut self) {
        self.cookies.push(cookies::clear(SESSION_COOKIE));
    }

    /// A page (200).
    pub(crate) fn page(&self, title: &str, content: maud::Markup) -> PageResult {
        self.page_with_status(StatusCode::OK, title, content)
    }

    pub(crate) fn page_with_status(
        &self,
        status: StatusCode,
        title: &str,
        content: maud::Markup,
    ) -> PageResult {
        let markup = self.shell().page(title, content);
        Ok(html_response(status, markup, &self.cookies))
    }

    /// `303` to one of this tenant's pages.
    pub(crate) fn redirect(&self, page: &str) -> PageResult {
        Ok(see_other(&self.path(page), &self.cookies))
    }

    /// Where a signed-out visitor of a signed-in page goes.
    pub(crate) fn sign_in_first(&mut self, kind: SubjectKind) -> PageResult {
        let page = match kind {
            SubjectKind::Staff => "staff-sign-in",
            SubjectKind::Guardian => "sign-in",
        };
        self.redirect(&format!("{page}?ended=1"))
    }
}

/// The status of a page re-shown with a domain error in its form (the API's status for it);
/// `None` for errors no form can show (a dependency down, a bug), which go to the "try again"
/// page.
pub(crate) fn status_of(err: &DomainError) -> Option<StatusCode> {
    let status = crate::problem::status_of(err);
    (!status.is_server_error()).then_some(status)
}

/// A response with another status.
pub(crate) fn with_status(
    mut response: Response<Bytes>,
    status: Option<StatusCode>,
) -> Response<Bytes> {
    if let Some(status) = status {
        *response.status_mut() = status;
    }
    response
}

/// A cookie of the request.
fn cookie<'r>(req: &'r Request<Bytes>, name: &str) -> Option<&'r str> {
    let header = req
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok());
    cookies::read(header, name)
}

/// A submitted `application/x-www-form-urlencoded` form.
#[derive(Debug, Default)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    fn parse(req: &Request<Bytes>) -> Option<Self> {
        let body = std::str::from_utf8(req.body()).ok()?;
        let mut fields = Vec::new();
        for pair in body.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            fields.push((percent_decode(k).ok()?, percent_decode(v).ok()?));
        }
        Some(Self(fields))
    }

    /// A field's first value ("" when absent).
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of a repeated field (checkbox groups).
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a checkbox was ticked.
    pub(crate) fn checked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    /// A password field (never trimmed, never logged).
    pub(crate) fn secret(&self, name: &str) -> SecretString {
        SecretString::from(self.get(name).to_owned())
    }
}

fn account_not_found() -> Response<Bytes> {
    let markup = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (Msg::NotFoundTitle) } }
            body { main { h1 { (Msg::NotFoundTitle) } p { (Msg::AccountNotFoundBody) } } }
        }
    };
    html_response(StatusCode::NOT_FOUND, markup, &[])
}

fn not_found_plain() -> Response<Bytes> {
    let markup = html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { (Msg::NotFoundTitle) } }
            body { main { h1 { (Msg::NotFoundTitle) } p { (Msg::NotFoundBody) } } }
        }
    };
    html_response(StatusCode::NOT_FOUND, markup, &[])
}

/// The "try again" page (503 for a dependency that is down, 500 otherwise).
fn unavailable(ctx: Option<&Ctx<'_>>, err: &DomainError) -> Response<Bytes> {
    let status = if crate::problem::code_of(err) == "service_unavailable" {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let content = html! { p { (Msg::Unavailable) } };
    let mut response = match ctx {
        Some(ctx) => html_response(
            status,
            ctx.shell().page(Msg::UnavailableTitle.en(), content),
            &[],
        ),
        None => {
            let markup = html! {
                (maud::DOCTYPE)
                html lang="en" {
                    head { meta charset="utf-8"; title { (Msg::UnavailableTitle) } }
                    body { main { h1 { (Msg::UnavailableTitle) } (content) } }
                }
            };
            html_response(status, markup, &[])
        }
    };
    response
        .extensions_mut()
        .insert(crate::problem::ProblemCode(crate::problem::code_of(err)));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            http::HeaderValue::from(crate::problem::UNAVAILABLE_RETRY_AFTER),
        );
    }
    response
}
