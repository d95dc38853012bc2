//! Every sample event in `events/` (one per route) goes through its function's Lambda handler,
//! exactly as the Lambda runtime would deliver it, and gets the status in `events/expected.json`.

use std::collections::BTreeMap;
use std::sync::Arc;

use lambda_http::Body;
use portal_core::Portal;
use portal_core::account::AccountName;
use portal_core::clock::SystemClock;
use portal_core::passwords::PasswordHasherConfig;
use portal_core::sessions::TokenSigner;
use portal_core::staff::{NewStaff, StaffInput};
use portal_core::store::EmbeddedStore;
use portal_core::tenants::{NewTenant, SettingsChange};
use portal_http::{App, Function, ROUTES};
use portal_local::Outbox;
use secrecy::SecretString;

const EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");

fn expected() -> BTreeMap<String, u16> {
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

/// A portal with tenant `swim`: its owner (terms accepted) and a second staff member.
async fn setup() -> (Portal, String, String) {
    let clock = Arc::new(SystemClock);
    let outbox = Arc::new(Outbox::new(clock.clone()));
    let portal = Portal {
        store: Arc::new(EmbeddedStore::new()),
        mailer: outbox.clone(),
        sms: outbox,
        clock,
        hasher: PasswordHasherConfig::default(),
        signer: TokenSigner::new(&b"0123456789abcdef0123456789abcdef".to_vec().into()).unwrap(),
        portal_url: "https://portal.test".into(),
    };
    let account = AccountName::parse("swim").unwrap();
    portal
        .create_tenant(NewTenant {
            account: account.clone(),
            business_name: "Swim School".into(),
            owner: NewStaff::parse(staff_input("owner", "Sw1m-Sch00l!x"), "").unwrap(),
            settings: SettingsChange::default(),
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
        .accept_terms(auth.clone(), &login.terms.current_version, None)
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
    (portal, login.token, fred.id)
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
        let (portal, token, staff_id) = setup().await;
        let function = Function::from_name(file.split('/').next().unwrap()).unwrap();
        let app = App::new(portal, Some(function));
        let text = std::fs::read_to_string(format!("{EVENTS}/{file}"))
            .unwrap()
            .replace("{{token}}", &token)
            .replace("{{staff_id}}", &staff_id);
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
    let (portal, token, _) = setup().await;
    let app = App::new(portal, Some(Function::Office));
    let text = std::fs::read_to_string(format!("{EVENTS}/login/get-session.json"))
        .unwrap()
        .replace("{{token}}", &token);
    let response =
        portal_lambda::handle(&app, lambda_http::request::from_str(&text).unwrap()).await;
    assert_eq!(response.status().as_u16(), 404);
}
