//! The one route table. Rust routers, the OpenAPI coverage test and the CDK stack (through the
//! generated `infra/routes.json`) all read it. Every route declares its guard; an office route
//! cannot be written without naming the task and level it needs.

use http::Method;
use portal_core::families::FamilyUse;
use portal_core::permissions::{Level, Task};

/// The Lambda function (route group) serving a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Login,
    Signup,
    Invite,
    ResetPassword,
    Revoke,
    Office,
    /// The hosted pages (HTML, `PAGES.md`).
    Pages,
}

impl Function {
    pub const ALL: [Function; 7] = [
        Function::Login,
        Function::Signup,
        Function::Invite,
        Function::ResetPassword,
        Function::Revoke,
        Function::Office,
        Function::Pages,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Function::Login => "login",
            Function::Signup => "signup",
            Function::Invite => "invite",
            Function::ResetPassword => "reset-password",
            Function::Revoke => "revoke",
            Function::Office => "office",
            Function::Pages => "pages",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// No token.
    Public,
    /// Any live session of the account (staff or guardian).
    Session,
    /// A staff session; Terms & Conditions need not be accepted yet.
    Staff,
    /// A staff session with the current terms accepted and at least this level for the task.
    Office(Task, Level),
    /// A guardian session (staff sessions are forbidden).
    Guardian,
    /// A guardian session on its active family, through the family gates (revoked access,
    /// secondary users' age and primary-policies gates; `Write` needs full access).
    Family(FamilyUse),
}

/// What a route does; the dispatcher matches on it exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteId {
    Tenant,
    StaffLogin,
    StaffTermsAccept,
    Logout,
    GetSession,
    ListUserGroups,
    CreateUserGroup,
    ListStaff,
    CreateStaff,
    GetStaff,
    PutStaffPermissions,
    GetSettings,
    PatchSettings,
    GetAudit,
    GuardianLogin,
    SwitchFamily,
    ListFamilies,
    GetFamily,
    ConfirmAge,
    SignupEmail,
    SignupVerify,
    Signup,
    ListPolicies,
    AcceptPolicies,
    CreatePolicy,
    UpdatePolicy,
    GetOfficeFamily,
    ManualAcceptPolicy,
    // Invitations and revocation (functions `invite`, `revoke`).
    CreateInvitation,
    ListInvitations,
    InvitationInfo,
    CancelInvitation,
    ResendInvitation,
    AcceptInvitation,
    PrimaryRevokes,
    StaffRevokes,
    ChangePrimary,
    // Passwords (function `reset-password`).
    ForgotStaffPassword,
    ForgotGuardianPassword,
    CheckResetToken,
    CompleteReset,
    ChangeOwnPassword,
    SetStaffPassword,
    SendStaffReset,
    SendGuardianReset,
    SetGuardianPassword,
    /// A hosted page (function `pages`): its guard is the page's own cookie check.
    Page(Page),
}

/// The hosted pages and their form posts (`PAGES.md`). A page and its form share one path:
/// `GET` shows it, `POST` submits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Page {
    SignIn,
    StaffSignIn,
    Terms,
    StaffHome,
    ForgotPassword,
    ResetPassword,
    SignUp,
    Policies,
    Family,
    FamilySwitch,
    FamilyAge,
    FamilyInvite,
    FamilyInvitationResend,
    FamilyInvitationCancel,
    FamilyRevoke,
    Invitation,
    ChangePassword,
    SignOut,
    /// The tenant's colours as CSS custom properties.
    Theme,
    /// The stylesheet, under a content-hashed name.
    Asset,
}

#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub function: Function,
    pub guard: Guard,
    pub id: RouteId,
}

macro_rules! route {
    ($method:ident $path:literal => $function:ident, $guard:expr, $id:ident) => {
        Route {
            method: Method::$method,
            path: $path,
            function: Function::$function,
            guard: $guard,
            id: RouteId::$id,
        }
    };
}

use FamilyUse::{Read, Write};
use Guard::{Family, Guardian, Office, Public, Session, Staff};
use Level::{Full, View};
use Task::{Families as FamiliesTask, Settings as SettingsTask, Staff as StaffTask};

pub static ROUTES: &[Route] = &[
    route!(GET "/a/{account}" => Login, Public, Tenant),
    route!(POST "/a/{account}/staff/login" => Login, Public, StaffLogin),
    route!(POST "/a/{account}/staff/terms/accept" => Login, Staff, StaffTermsAccept),
    route!(POST "/a/{account}/logout" => Login, Session, Logout),
    route!(GET "/a/{account}/session" => Login, Session, GetSession),
    route!(GET "/a/{account}/office/user-groups" => Office, Office(SettingsTask, View), ListUserGroups),
    route!(POST "/a/{account}/office/user-groups" => Office, Office(SettingsTask, Full), CreateUserGroup),
    route!(GET "/a/{account}/office/staff" => Office, Office(StaffTask, View), ListStaff),
    route!(POST "/a/{account}/office/staff" => Office, Office(StaffTask, Full), CreateStaff),
    route!(GET "/a/{account}/office/staff/{staff_id}" => Office, Office(StaffTask, View), GetStaff),
    route!(PUT "/a/{account}/office/staff/{staff_id}/permissions" => Office, Office(StaffTask, Full), PutStaffPermissions),
    route!(GET "/a/{account}/office/settings" => Office, Office(SettingsTask, View), GetSettings),
    route!(PATCH "/a/{account}/office/settings" => Office, Office(SettingsTask, Full), PatchSettings),
    route!(GET "/a/{account}/office/audit" => Office, Office(SettingsTask, View), GetAudit),
    // Guardians, families and sign-up.
    route!(POST "/a/{account}/portal/login" => Login, Public, GuardianLogin),
    route!(POST "/a/{account}/portal/session/family" => Login, Guardian, SwitchFamily),
    route!(GET "/a/{account}/portal/families" => Login, Guardian, ListFamilies),
    route!(GET "/a/{account}/portal/family" => Login, Family(Read), GetFamily),
    route!(POST "/a/{account}/portal/age-confirmation" => Login, Guardian, ConfirmAge),
    route!(POST "/a/{account}/portal/signup/email" => Signup, Public, SignupEmail),
    route!(POST "/a/{account}/portal/signup/email/verify" => Signup, Public, SignupVerify),
    route!(POST "/a/{account}/portal/signup" => Signup, Public, Signup),
    route!(GET "/a/{account}/portal/policies" => Signup, Family(Read), ListPolicies),
    route!(POST "/a/{account}/portal/policies/accept" => Signup, Family(Write), AcceptPolicies),
    route!(POST "/a/{account}/office/policies" => Office, Office(SettingsTask, Full), CreatePolicy),
    route!(PUT "/a/{account}/office/policies/{policy_id}" => Office, Office(SettingsTask, Full), UpdatePolicy),
    route!(GET "/a/{account}/office/families/{family_id}" => Office, Office(FamiliesTask, View), GetOfficeFamily),
    route!(POST "/a/{account}/office/families/{family_id}/policies/{policy_id}/manual-accept" => Office, Office(FamiliesTask, Full), ManualAcceptPolicy),
    // Invitations (primary only: the family gate for writing) and revocation.
    route!(POST "/a/{account}/portal/invitations" => Invite, Family(Write), CreateInvitation),
    route!(GET "/a/{account}/portal/invitations" => Invite, Family(Write), ListInvitations),
    route!(GET "/a/{account}/portal/invitation-links/{token}" => Invite, Public, InvitationInfo),
    route!(DELETE "/a/{account}/portal/invitations/{invitation_id}" => Invite, Family(Write), CancelInvitation),
    route!(POST "/a/{account}/portal/invitations/{invitation_id}/resend" => Invite, Family(Write), ResendInvitation),
    route!(POST "/a/{account}/portal/invitations/accept" => Invite, Public, AcceptInvitation),
    route!(DELETE "/a/{account}/portal/secondary-users/{user_id}" => Revoke, Family(Write), PrimaryRevokes),
    route!(DELETE "/a/{account}/office/families/{family_id}/secondary-users/{user_id}" => Revoke, Office(FamiliesTask, Full), StaffRevokes),
    route!(PUT "/a/{account}/office/families/{family_id}/primary-guardian" => Revoke, Office(FamiliesTask, Full), ChangePrimary),
    // Passwords: forgotten, reset, changed and office-set.
    route!(POST "/a/{account}/staff/password/forgot" => ResetPassword, Public, ForgotStaffPassword),
    route!(POST "/a/{account}/portal/password/forgot" => ResetPassword, Public, ForgotGuardianPassword),
    route!(GET "/a/{account}/password/reset/{token}" => ResetPassword, Public, CheckResetToken),
    route!(POST "/a/{account}/password/reset" => ResetPassword, Public, CompleteReset),
    route!(PUT "/a/{account}/staff/me/password" => ResetPassword, Staff, ChangeOwnPassword),
    route!(PUT "/a/{account}/office/staff/{staff_id}/password" => ResetPassword, Office(StaffTask, Full), SetStaffPassword),
    route!(POST "/a/{account}/office/staff/{staff_id}/password-reset" => ResetPassword, Office(StaffTask, Full), SendStaffReset),
    route!(POST "/a/{account}/office/guardians/{guardian_id}/password-reset" => ResetPassword, Office(FamiliesTask, Full), SendGuardianReset),
    route!(PUT "/a/{account}/office/guardians/{guardian_id}/password" => ResetPassword, Office(FamiliesTask, Full), SetGuardianPassword),
];

macro_rules! page {
    ($method:ident $path:literal => $page:ident) => {
        Route {
            method: Method::$method,
            path: $path,
            function: Function::Pages,
            guard: Public,
            id: RouteId::Page(Page::$page),
        }
    };
}

/// The hosted pages: paths no API route uses, under the account like the API's.
pub static PAGE_ROUTES: &[Route] = &[
    page!(GET "/a/{account}/sign-in" => SignIn),
    page!(POST "/a/{account}/sign-in" => SignIn),
    page!(GET "/a/{account}/staff-sign-in" => StaffSignIn),
    page!(POST "/a/{account}/staff-sign-in" => StaffSignIn),
    page!(GET "/a/{account}/terms" => Terms),
    page!(POST "/a/{account}/terms" => Terms),
    page!(GET "/a/{account}/staff-home" => StaffHome),
    page!(GET "/a/{account}/forgot-password" => ForgotPassword),
    page!(POST "/a/{account}/forgot-password" => ForgotPassword),
    page!(GET "/a/{account}/reset-password" => ResetPassword),
    page!(POST "/a/{account}/reset-password" => ResetPassword),
    page!(GET "/a/{account}/sign-up" => SignUp),
    page!(POST "/a/{account}/sign-up" => SignUp),
    page!(GET "/a/{account}/policies" => Policies),
    page!(POST "/a/{account}/policies" => Policies),
    page!(GET "/a/{account}/family" => Family),
    page!(POST "/a/{account}/family/switch" => FamilySwitch),
    page!(POST "/a/{account}/family/age-confirmation" => FamilyAge),
    page!(POST "/a/{account}/family/invitations" => FamilyInvite),
    page!(POST "/a/{account}/family/invitations/{invitation_id}/resend" => FamilyInvitationResend),
    page!(POST "/a/{account}/family/invitations/{invitation_id}/cancel" => FamilyInvitationCancel),
    page!(POST "/a/{account}/family/secondary-users/{user_id}/revoke" => FamilyRevoke),
    page!(GET "/a/{account}/invitation" => Invitation),
    page!(POST "/a/{account}/invitation" => Invitation),
    page!(GET "/a/{account}/change-password" => ChangePassword),
    page!(POST "/a/{account}/change-password" => ChangePassword),
    page!(POST "/a/{account}/sign-out" => SignOut),
    page!(GET "/a/{account}/theme.css" => Theme),
    page!(GET "/a/{account}/assets/{file}" => Asset),
];

/// Every route: the API's, then the pages'.
pub fn all_routes() -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().chain(PAGE_ROUTES.iter())
}

/// Path parameters of a matched route, by name.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Matches `path` against a route pattern.
pub fn match_path(pattern: &'static str, path: &str) -> Option<Params> {
    let mut params = Vec::new();
    let mut pattern_segments = pattern.trim_matches('/').split('/');
    let mut path_segments = path
        .trim_end_matches('/')
        .trim_start_matches('/')
        .split('/');
    loop {
        match (pattern_segments.next(), path_segments.next()) {
            (None, None) => return Some(Params(params)),
            (Some(p), Some(s)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    params.push((name, s.to_owned()));
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// The outcome of looking a request up in the table.
pub enum Lookup {
    Found(&'static Route, Params),
    /// The path exists with other methods: these (for the `Allow` header of the 405).
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

/// Finds the route for a request among those `function` serves (`None`: every route).
pub fn lookup(method: &Method, path: &str, function: Option<Function>) -> Lookup {
    let mut allowed = Vec::new();
    for route in all_routes().filter(|r| function.is_none_or(|f| r.function == f)) {
        if let Some(params) = match_path(route.path, path) {
            if route.method == *method {
                return Lookup::Found(route, params);
            }
            allowed.push(route.method.clone());
        }
    }
    if allowed.is_empty() {
        Lookup::NotFound
    } else {
        Lookup::MethodNotAllowed(allowed)
    }
}

/// The table as JSON for the CDK stack (`infra/routes.json`): functions and routes.
pub fn routes_json() -> serde_json::Value {
    let functions: Vec<&str> = Function::ALL
        .iter()
        .filter(|f| all_routes().any(|r| r.function == **f))
        .map(|f| f.name())
        .collect();
    let routes: Vec<serde_json::Value> = all_routes()
        .map(|r| {
            serde_json::json!({
                "method": r.method.as_str(),
                "path": r.path,
                "function": r.function.name(),
            })
        })
        .collect();
    serde_json::json!({ "functions": functions, "routes": routes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_params_and_methods() {
        let Lookup::Found(r, p) = lookup(&Method::GET, "/a/swim/office/staff/abc", None) else {
            panic!("no match");
        };
        assert_eq!(r.id, RouteId::GetStaff);
        assert_eq!(p.get("account"), Some("swim"));
        assert_eq!(p.get("staff_id"), Some("abc"));
        assert!(matches!(
            lookup(&Method::DELETE, "/a/swim/session", None),
            Lookup::MethodNotAllowed(allowed) if allowed == [Method::GET]
        ));
        assert!(matches!(
            lookup(&Method::GET, "/a/swim/nope", None),
            Lookup::NotFound
        ));
        assert!(matches!(
            lookup(&Method::GET, "/a/swim/session", Some(Function::Office)),
            Lookup::NotFound
        ));
    }

    #[test]
    fn every_route_is_unique() {
        let all: Vec<&Route> = all_routes().collect();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
    }

    #[test]
    fn office_routes_declare_a_level_and_others_do_not() {
        for r in all_routes() {
            let office = r.path.contains("/office/");
            assert_eq!(
                office,
                matches!(r.guard, Guard::Office(..)),
                "{} {}",
                r.method,
                r.path
            );
        }
    }

    #[test]
    fn infra_routes_json_is_generated_from_this_table() {
        let committed = include_str!("../../../infra/routes.json");
        let committed: serde_json::Value = serde_json::from_str(committed).unwrap();
        assert_eq!(
            committed,
            routes_json(),
            "infra/routes.json is stale: run `cargo run -p portal-local -- --print-routes > infra/routes.json`"
        );
    }
}
