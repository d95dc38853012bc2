//! Every sample event in `events/` (one per route) goes through its function's Lambda handler,
//! exactly as the Lambda runtime would deliver it, and gets the status in `events/expected.json`.

use std::collections::BTreeMap;
use std::sync::Arc;

use lambda_http::Body;
use portal_core::Portal;
use portal_core::account::AccountName;
use portal_core::clock::SystemClock;
use portal_core::onboarding::NewTenant;
use portal_core::passwords::PasswordHasherConfig;
use portal_core::signer::TokenSigner;
use portal_core::staff::{NewStaff, StaffInput};
use portal_core::store::EmbeddedStore;
use portal_core::tenants::SettingsChange;
use portal_http::{App, Function, ROUTES};
use portal_local::Outbox;
use secrecy::SecretString;

pub const EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");

pub fn expected() -> BTreeMap<String, u16> {
    let text =
        std::fs::read_to_string(format!("{EVENTS}/expected.json")).expect("events/expected.json");
    serde_json::from_str(&text).expect("expected.json parses")
}

fn staff_input(username: &str, password: &str) -> StaffInput {
    StaffInput {
        username: Some(username.into()),
        first_name: Some("Olive".into()),
        last_name: Some("Owner".into()),
        email: Some(format!("{username}@swim.test")),
        password: Some(SecretString::from(password.to_owned())),
        ..Default::default()
    }
}

/// What the sample events' placeholders stand for.
pub struct Fixture {
    pub portal: Portal,
    token: String,
    staff_id: String,
    guardian_token: String,
    family_id: String,
    policy_id: String,
    guardian_id: String,
    secondary_id: String,
    invitation_id: String,
    invitation_token: String,
    reset_token: String,
}

impl Fixture {
    pub fn fill(&self, text: &str) -> String {
        text.replace("{{token}}", &self.token)
            .replace("{{staff_id}}", &self.staff_id)
            .replace("{{guardian_token}}", &self.guardian_token)
            .replace("{{family_id}}", &self.family_id)
            .replace("{{policy_id}}", &self.policy_id)
            .replace("{{guardian_id}}", &self.guardian_id)
            .replace("{{secondary_id}}", &self.secondary_id)
            .replace("{{invitation_id}}", &self.invitation_id)
            .replace("{{invitation_token}}", &self.invitation_token)
            .replace("{{reset_token}}", &self.reset_token)
    }
}

/// A portal with tenant `swim` (sign-up without email validation): its owner (terms
/// accepted), a second staff member, a required policy and a family (guardian
/// gwen@swim.test) that signed up.
pub async fn setup() -> Fixture {
    let clock = Arc::new(SystemClock);
    let outbox = Arc::new(Outbox::new(clock.clone()));
    let portal = Portal {
        store: Arc::new(EmbeddedStore::new()),
        mailer: outbox.clone(),
        sms: outbox.clone(),
        clock,
        hasher: PasswordHasherConfig::default(),
        security: portal_core::security::SecurityPolicy::default(),
        signer: TokenSigner::new(&b"0123456789abcdef0123456789abcdef".to_vec().into()).unwrap(),
        portal_url: "https://portal.test".into(),
    };
    let account = AccountName::parse("swim").unwrap();
    portal
        .create_tenant(NewTenant {
            account: account.clone(),
            business_name: "Swim School".into(),
            owner: NewStaff::parse(staff_input("owner", "Sw1m-Sch00l!x"), "").unwrap(),
            settings: SettingsChange::parse(
                &serde_json::from_value(serde_json::json!({
                    "email_validation_required": false
                }))
                .unwrap(),
            )
            .unwrap(),
            sms_credits: 0,
        })
        .await
        .unwrap();
    let login = portal
        .staff_login(
            &account,
            "owner",
            SecretString::from("Sw1m-Sch00l!x".to_owned()),
            false,
        )
        .await
        .unwrap();
    let auth = portal
        .authenticate(&account, &login.token, true)
        .await
        .unwrap();
    portal
        .accept_terms(auth, &login.terms.current_version, None)
        .await
        .unwrap();
    // A new request after the acceptance (a session's records are read per request).
    let auth = portal
        .authenticate(&account, &login.token, true)
        .await
        .unwrap();
    let actor = portal.staff_actor(auth, true).await.unwrap();
    let fred = portal
        .create_staff(
            &actor,
            NewStaff::parse(staff_input("fred", "Fr0nt-Desk!x"), "").unwrap(),
        )
        .await
        .unwrap();
    let policy = portal
        .create_policy(
            &actor,
            serde_json::from_value(serde_json::json!({
                "title": "Liability waiver", "body": "I accept the risks.", "required": true
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let family = portal
        .signup(
            &account,
            serde_json::from_value(serde_json::json!({
                "client": "web", "age_confirmed": true,
                "guardian": {"first_name": "Gwen", "last_name": "Guard", "relationship": "parent"},
                "email": {"address": "gwen@swim.test", "type": "home", "opt_in": true},
                "phones": [{"number": "+15551239999", "type": "mobile", "sms_opt_in": true}],
                "password": "Gu4rdian-Pw!x", "password_confirmation": "Gu4rdian-Pw!x",
                "address": {"line1": "1 Pool Lane", "city": "Springfield", "region": "IL",
                            "postal_code": "62701", "country": "US"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    // The family completes its setup, invites two people; one of them accepts.
    let auth = portal
        .authenticate(&account, &family.token, true)
        .await
        .unwrap();
    let write = |auth: portal_core::sessions::Authenticated| {
        let portal = portal.clone();
        async move {
            let actor = portal.guardian_actor(auth).await.unwrap();
            portal
                .family_context(actor, portal_core::families::FamilyUse::Write)
                .await
                .unwrap()
        }
    };
    let ctx = write(auth.clone()).await;
    let accept =
        serde_json::from_value(serde_json::json!([{"id": policy.id, "version": 1}])).unwrap();
    portal.accept_policies(&ctx, accept, "web").await.unwrap();
    let ctx = write(auth).await;
    portal.invite(&ctx, "pat@swim.test").await.unwrap();
    let pending = portal.invite(&ctx, "sam@swim.test").await.unwrap();
    let token_to = |to: &str| {
        let message = outbox
            .messages()
            .into_iter()
            .rev()
            .find(|m| m.to == to)
            .unwrap();
        let at = message.body.find("token=").unwrap() + "token=".len();
        message.body[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let pat = portal
        .accept_invitation(
            &account,
            serde_json::from_value(serde_json::json!({
                "token": token_to("pat@swim.test"), "age_confirmed": true,
                "first_name": "Pat", "last_name": "Second", "password": "P4t-Second!x"
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    // A reset link for fred (the password-reset samples).
    portal
        .forgot_staff_password(&account, "fred")
        .await
        .unwrap();
    let reset_token = token_to("fred@swim.test");
    Fixture {
        portal,
        token: login.token,
        staff_id: fred.id,
        guardian_token: family.token,
        family_id: family.family_id,
        policy_id: policy.id,
        guardian_id: family.guardian_id,
        secondary_id: pat.guardian.id,
        invitation_id: pending.invitation_id,
        invitation_token: token_to("sam@swim.test"),
        reset_token,
    }
}

#[test]
fn there_is_one_event_per_route() {
    let expected = expected();
    assert_eq!(
        expected.len(),
        ROUTES.len(),
        "events/expected.json vs the route table"
    );
    for route in ROUTES {
        let found = expected.keys().any(|file| {
            let text = std::fs::read_to_string(format!("{EVENTS}/{file}")).unwrap();
            let event: serde_json::Value = serde_json::from_str(&text).unwrap();
            file.starts_with(&format!("{}/", route.function.name()))
                && event["routeKey"] == format!("{} {}", route.method, route.path)
        });
        assert!(
            found,
            "no event for {} {} (run scripts/gen-events)",
            route.method, route.path
        );
    }
}

#[tokio::test]
async fn every_event_gets_its_expected_status_from_its_function() {
    for (file, status) in expected() {
        let fixture = setup().await;
        let function = Function::from_name(file.split('/').next().unwrap()).unwrap();
        let text = fixture.fill(&std::fs::read_to_string(format!("{EVENTS}/{file}")).unwrap());
        let app = App::new(fixture.portal, Some(function));
        let request =
            lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let response = portal_lambda::handle(&app, request).await;
        let body = match response.body() {
            Body::Text(t) => t.clone(),
            _ => String::new(),
        };
        assert_eq!(response.status().as_u16(), status, "{file}: {body}");
        if !body.is_empty() {
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/"),
                "{file}"
            );
            assert!(!body.contains("argon2"), "{file} leaks a hash");
        }
    }
}

#[tokio::test]
async fn a_function_serves_only_its_own_routes() {
    let fixture = setup().await;
    let text =
        fixture.fill(&std::fs::read_to_string(format!("{EVENTS}/login/get-session.json")).unwrap());
    let app = App::new(fixture.portal, Some(Function::Office));
    let response =
        portal_lambda::handle(&app, lambda_http::request::from_str(&text).unwrap()).await;
    assert_eq!(response.status().as_u16(), 404);
}

/// A store that never answers: the invocation's deadline (from the Lambda context) cuts the work
/// off and the caller gets the contract's 503 instead of a function timeout.
#[tokio::test]
async fn a_hanging_store_answers_503_before_the_invocation_deadline() {
    use crate::support::faults::{FaultStore, StoreFault};
    use lambda_http::RequestExt;

    let fixture = setup().await;
    let mut portal = fixture.portal.clone();
    portal.store = FaultStore::new(portal.store.clone(), StoreFault::Hang);
    let app = App::new(portal, Some(Function::Login));
    let text = fixture
        .fill(&std::fs::read_to_string(format!("{EVENTS}/login/post-staff-login.json")).unwrap());
    let mut context = lambda_http::Context::default();
    context.request_id = "deadline-test".into();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    context.deadline = now_ms + 300;
    let request = lambda_http::request::from_str(&text)
        .unwrap()
        .with_lambda_context(context);

    // Generous: fails instead of hanging when nothing bounds the work.
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        portal_lambda::handle(&app, request),
    )
    .await
    .expect("the handler answers before the outer timeout");
    assert_eq!(response.status().as_u16(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let Body::Text(body) = response.body() else {
        panic!("a problem body")
    };
    let problem: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["code"], "service_unavailable");
}
