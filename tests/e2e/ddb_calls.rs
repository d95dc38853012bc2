//! DynamoDB requests per flow, counted at the SDK boundary (an interceptor on the client)
//! against moto. Written to `target/ddb-calls.json` for the benchmark summary; the bounds below
//! guard against regressions (request counts, not timings).

use std::collections::BTreeMap;
use std::sync::Arc;

use portal_aws::{CallCounter, DynamoStore};
use serde_json::json;

use crate::signup::{GUARDIAN_PASSWORD, signup_body};
use crate::support::app::{OWNER_PASSWORD, TestApp};
use crate::support::aws::{sdk_config, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_flow() {
    let config = sdk_config().await;
    let counter = CallCounter::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(&config)
        .interceptor(counter.clone())
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), unique("calls"));
    store.ensure_table().await.unwrap();
    let app = TestApp::spawn_custom(Arc::new(store), None).await;
    app.create_tenant("swim", "owner").await;
    app.patch_tenant(json!({"email_validation_required": false}))
        .await;
    let owner = app.owner_token().await;

    let mut counts = BTreeMap::new();
    let mut measure = |name: &str, calls: usize| {
        counts.insert(name.to_owned(), calls);
    };

    counter.reset();
    app.staff_login("owner", OWNER_PASSWORD).await.expect(200);
    measure("staff_login", counter.total());

    counter.reset();
    app.get(&app.at("session"), Some(&owner)).await.expect(200);
    measure("get_session", counter.total());

    counter.reset();
    app.post(
        &app.at("staff/terms/accept"),
        Some(&owner),
        json!({"version": "1999"}),
    )
    .await
    .expect_problem(409, "terms_version_mismatch");
    measure("activity_post", counter.total());

    counter.reset();
    app.get(&app.at("office/settings"), Some(&owner))
        .await
        .expect(200);
    measure("office_get_settings", counter.total());

    counter.reset();
    let family = app
        .post(
            &app.at("portal/signup"),
            None,
            signup_body("calls@guard.test", None),
        )
        .await;
    family.expect(201);
    measure("signup", counter.total());

    counter.reset();
    app.post(
        &app.at("portal/login"),
        None,
        json!({"email": "calls@guard.test", "password": GUARDIAN_PASSWORD}),
    )
    .await
    .expect(200);
    measure("guardian_login", counter.total());

    let t = family.body["token"].as_str().unwrap();
    app.post(
        &app.at("portal/policies/accept"),
        Some(t),
        json!({"policies": []}),
    )
    .await
    .expect(200);
    app.post(
        &app.at("portal/invitations"),
        Some(t),
        json!({"email": "second@guard.test"}),
    )
    .await
    .expect(201);
    let token = crate::secondary::last_token_to(&app, "second@guard.test").await;
    counter.reset();
    crate::secondary::accept(&app, &token, json!({"age_confirmed": true}))
        .await
        .expect(200);
    measure("invite_accept", counter.total());

    let text = serde_json::to_string_pretty(&counts).unwrap();
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/ddb-calls.json");
    std::fs::write(out, &text).unwrap();
    println!("DynamoDB requests per flow: {text}");
    // Regression guards (see docs: each bound is today's count). Every password check reserves
    // a lockout slot before hashing and settles it after (+2 on each login), so that the limit
    // holds under parallel requests.
    for (flow, bound) in [
        ("staff_login", 4),
        ("get_session", 1),
        ("activity_post", 3),
        ("office_get_settings", 2),
        ("signup", 6),
        ("guardian_login", 9),
        ("invite_accept", 10),
    ] {
        assert!(
            counts[flow] <= bound,
            "{flow}: {} requests (bound {bound}): {counts:?}",
            counts[flow]
        );
    }
}
