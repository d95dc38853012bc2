//! The operator's incident tools (`portal-admin`'s domain flows, `portal_core::operator`) on
//! both stores, seen through the API and the hosted pages of a server on the same store: ending
//! every session of a tenant (far more than one transaction could hold), suspension, the tenant
//! registry past one page, the audit export past one page. (`portal-admin` itself, the binary,
//! is tested against moto in `functions/admin/tests`.)

use std::sync::Arc;

use portal_core::Portal;
use portal_core::account::AccountName;
use portal_core::audit::{Actor, ActorKind};
use portal_core::clock::SystemClock;
use portal_core::onboarding::NewTenant;
use portal_core::operator::{StateChange, TENANT_PAGE};
use portal_core::passwords::PasswordHasherConfig;
use portal_core::staff::{NewStaff, StaffInput};
use portal_core::store::Store;
use portal_core::tenants::SettingsChange;
use portal_core::token_signer::TokenSigner;
use portal_local::Outbox;
use secrecy::SecretString;
use serde_json::json;

use crate::both_stores;
use crate::support::app::{Backend, OWNER_PASSWORD, TestApp, store_for};
use crate::support::browser::Browser;

both_stores!(
    a_suspended_tenant_is_refused_everywhere_until_resumed,
    the_registry_lists_every_tenant_page_by_page,
    the_audit_export_pages_in_time_order,
);

/// The operator's side: the domain on the server's store (its own signer: it issues no session).
fn operator_portal(store: Arc<dyn Store>) -> Portal {
    let clock = Arc::new(SystemClock);
    let outbox = Arc::new(Outbox::new(clock.clone()));
    Portal {
        store,
        mailer: outbox.clone(),
        sms: outbox,
        clock,
        metrics: Arc::new(portal_core::metrics::NoMetrics),
        hasher: PasswordHasherConfig::default(),
        security: portal_core::security::SecurityPolicy::default(),
        signer: TokenSigner::new(&b"operator-side-key-operator-side-k".to_vec().into()).unwrap(),
        portal_url: "https://portal.test".into(),
    }
}

fn ops() -> Actor {
    Actor::operator("jane")
}

fn swim() -> AccountName {
    AccountName::parse("swim").unwrap()
}

async fn setup(backend: Backend) -> (TestApp, Portal) {
    let store = store_for(backend).await;
    let app = TestApp::spawn_custom(store.clone(), None).await;
    app.create_tenant("swim", "owner").await;
    (app, operator_portal(store))
}

async fn session_status(app: &TestApp, token: &str) -> u16 {
    app.get(&app.at("session"), Some(token))
        .await
        .status
        .as_u16()
}

/// On the embedded store here; on DynamoDB through the `portal-admin` binary (its tests), as
/// 250 logins on moto take minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_tenants_sessions_ends_250_at_once() {
    let (app, portal) = setup(Backend::Embedded).await;
    let app = Arc::new(app);
    // 250 sessions, five logins at a time (the lockout's parallel limit).
    let mut lanes = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let app = app.clone();
        lanes.spawn(async move {
            let mut tokens = Vec::new();
            for _ in 0..50 {
                let login = app.staff_login("owner", OWNER_PASSWORD).await;
                tokens.push(login.expect(200)["token"].as_str().unwrap().to_owned());
            }
            tokens
        });
    }
    let mut tokens = Vec::new();
    while let Some(lane) = lanes.join_next().await {
        tokens.extend(lane.unwrap());
    }
    assert_eq!(tokens.len(), 250);
    assert_eq!(session_status(&app, &tokens[0]).await, 200);
    assert_eq!(session_status(&app, &tokens[249]).await, 200);

    portal.end_tenant_sessions(&swim(), ops()).await.unwrap();
    for chunk in tokens.chunks(25) {
        let mut checks = tokio::task::JoinSet::new();
        for token in chunk {
            let (app, token) = (app.clone(), token.clone());
            checks.spawn(async move { session_status(&app, &token).await });
        }
        while let Some(status) = checks.join_next().await {
            assert_eq!(status.unwrap(), 401);
        }
    }
    // A new login works at once.
    let fresh = app.owner_token().await;
    assert_eq!(session_status(&app, &fresh).await, 200);
    let audit = portal.audit_page(&swim(), None, None).await.unwrap();
    let ended = audit
        .entries
        .iter()
        .find(|e| e.action == "sessions.ended")
        .expect("audited");
    assert_eq!(ended.actor, ops());
    assert_eq!(ended.details, json!({"scope": "tenant"}));
}

async fn a_suspended_tenant_is_refused_everywhere_until_resumed(backend: Backend) {
    let (app, portal) = setup(backend).await;
    let token = app.owner_token().await;
    let change = portal
        .suspend_tenant(&swim(), ops(), Some("unpaid"))
        .await
        .unwrap();
    assert_eq!(change, StateChange::Changed);
    assert_eq!(session_status(&app, &token).await, 401);
    for (route, body) in [
        (
            "staff/login",
            json!({"username": "owner", "password": OWNER_PASSWORD}),
        ),
        (
            "portal/login",
            json!({"email": "pat@swim.test", "password": OWNER_PASSWORD}),
        ),
        ("portal/signup/email", json!({"email": "pat@swim.test"})),
        (
            "portal/signup/email/verify",
            json!({"email": "pat@swim.test", "code": "123456"}),
        ),
        ("portal/signup", json!({})),
        (
            "portal/invitations/accept",
            json!({"token": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
        ),
        ("staff/password/forgot", json!({"username": "owner"})),
        ("portal/password/forgot", json!({"email": "pat@swim.test"})),
    ] {
        app.post(&app.at(route), None, body)
            .await
            .expect_problem(403, "account_suspended");
    }
    // The hosted page says it in words.
    let mut browser = Browser::new(&app);
    browser.get("staff-sign-in").await.expect(200);
    let page = browser
        .post(
            "staff-sign-in",
            &[("username", "owner"), ("password", OWNER_PASSWORD)],
        )
        .await;
    assert!(
        page.html.contains("portal is suspended for now"),
        "{}",
        page.html
    );

    assert_eq!(
        portal.suspend_tenant(&swim(), ops(), None).await.unwrap(),
        StateChange::Unchanged
    );
    assert_eq!(
        portal.resume_tenant(&swim(), ops()).await.unwrap(),
        StateChange::Changed
    );
    let fresh = app.owner_token().await;
    assert_eq!(session_status(&app, &fresh).await, 200);
    assert_eq!(session_status(&app, &token).await, 401);
    let actions: Vec<_> = portal
        .audit_page(&swim(), Some(100), None)
        .await
        .unwrap()
        .entries
        .into_iter()
        .filter(|e| e.actor.kind == ActorKind::Operator)
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["tenant.resumed", "tenant.suspended"]);
}

async fn the_registry_lists_every_tenant_page_by_page(backend: Backend) {
    let portal = operator_portal(store_for(backend).await);
    // A cheap hash: the owners' passwords are not what is tested.
    let portal = Portal {
        hasher: PasswordHasherConfig {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        },
        ..portal
    };
    let portal = Arc::new(portal);
    let count = TENANT_PAGE + 10;
    let mut creations = tokio::task::JoinSet::new();
    for i in 0..count {
        let portal = portal.clone();
        creations.spawn(async move {
            let owner = NewStaff::parse(
                StaffInput {
                    username: Some("owner".into()),
                    first_name: Some("Olive".into()),
                    last_name: Some("Owner".into()),
                    password: Some(SecretString::from(OWNER_PASSWORD.to_owned())),
                    ..Default::default()
                },
                "",
            )
            .unwrap();
            portal
                .create_tenant(NewTenant {
                    account: AccountName::parse(&format!("school-{i:03}")).unwrap(),
                    business_name: format!("School {i}"),
                    owner,
                    settings: SettingsChange::default(),
                    sms_credits: 0,
                    actor: ops(),
                })
                .await
                .unwrap();
        });
        if creations.len() >= 8 {
            creations.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = creations.join_next().await {
        done.unwrap();
    }
    portal
        .suspend_tenant(&AccountName::parse("school-007").unwrap(), ops(), None)
        .await
        .unwrap();
    let (mut listed, mut pages, mut after) = (Vec::new(), 0, None);
    loop {
        let page = portal.list_tenants(after).await.unwrap();
        pages += 1;
        assert!(page.tenants.len() <= TENANT_PAGE);
        listed.extend(page.tenants);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert!(pages >= 2, "{pages} pages");
    let names: Vec<_> = listed.iter().map(|t| t.account.clone()).collect();
    let expected: Vec<_> = (0..count).map(|i| format!("school-{i:03}")).collect();
    assert_eq!(names, expected);
    assert_eq!(listed[7].business_name, "School 7");
    assert!(listed[7].suspended && !listed[8].suspended);
}

async fn the_audit_export_pages_in_time_order(backend: Backend) {
    let portal = operator_portal(store_for(backend).await);
    let (account, other) = (swim(), AccountName::parse("other").unwrap());
    for i in 0..130 {
        portal
            .audit(&account, ops(), "test.entry", None, json!({"n": i}))
            .await
            .unwrap();
    }
    portal
        .audit(&other, ops(), "test.entry", None, json!({"n": -1}))
        .await
        .unwrap();
    let export = |from: Option<i64>, to: Option<i64>| {
        let (portal, account) = (&portal, &account);
        async move {
            let (mut all, mut pages, mut after) = (Vec::new(), 0, None);
            loop {
                let page = portal
                    .audit_range_page(account, from, to, after)
                    .await
                    .unwrap();
                pages += 1;
                all.extend(page.entries);
                match page.next {
                    Some(next) => after = Some(next),
                    None => return (all, pages),
                }
            }
        }
    };
    let (all, pages) = export(None, None).await;
    assert!(pages >= 2);
    // Oldest first to the millisecond (entries of one millisecond have no order among them),
    // this tenant's only.
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
    let mut numbers: Vec<i64> = all
        .iter()
        .map(|e| e.details["n"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..130).collect::<Vec<_>>());
    // A range: nothing before the first entry's second or after the last one's.
    let millis = |at: &str| portal_core::clock::parse_rfc3339_millis(at).unwrap();
    let first = millis(&all[0].at);
    let last = millis(&all[129].at);
    assert_eq!(export(Some(first), Some(last + 999)).await.0.len(), 130);
    assert!(export(Some(last + 1000), None).await.0.is_empty());
    assert!(export(None, Some(first - 1)).await.0.is_empty());
}
