//! Customer sign-up, email validation, sending limits, policies and guardian sign-in over HTTP,
//! on both stores.

use std::sync::Arc;

use async_trait::async_trait;
use portal_core::messaging::{DeliveryError, Email, Mailer};
use portal_core::store::EmbeddedStore;
use serde_json::{Value, json};

use crate::both_stores;
use crate::office_staff::futures_join_all;
use crate::support::app::{Backend, TestApp, six_digit_code};
use crate::support::faults::{FaultStore, StoreFault};

both_stores!(
    signup_can_be_disabled,
    validated_signup_creates_a_family_and_logs_in,
    codes_expire_and_allow_five_tries,
    verification_tokens_prove_one_address,
    signup_without_validation_and_web_versus_mobile,
    every_invalid_field_is_listed_at_once,
    custom_fields_are_enforced,
    primary_emails_are_unique_in_any_case,
    concurrent_signups_with_one_email_create_one_family,
    validation_codes_are_limited_per_address,
    policies_gate_setup_and_new_versions_must_be_accepted_again,
    the_primary_login_knows_what_is_pending_as_the_family_routes_do,
    guardians_sign_in_and_see_their_family,
    logins_belong_to_one_account,
);

pub const GUARDIAN_PASSWORD: &str = "Gu4rdian-Pw!x";

/// A complete sign-up body for `email` (web client).
pub fn signup_body(email: &str, token: Option<&str>) -> Value {
    let mut body = json!({
        "client": "web",
        "age_confirmed": true,
        "guardian": {"first_name": "Gwen", "last_name": "Guard", "relationship": "parent"},
        "email": {"address": email, "type": "home", "opt_in": true},
        "phones": [{"number": "(555) 123-9999", "type": "mobile", "sms_opt_in": true}],
        "password": GUARDIAN_PASSWORD,
        "password_confirmation": GUARDIAN_PASSWORD,
        "address": {"line1": "1 Pool Lane", "city": "Springfield", "region": "IL",
                    "postal_code": "62701", "country": "US"},
        "referral_source": "friend"
    });
    if let Some(t) = token {
        body["email_verification_token"] = json!(t);
    }
    body
}

/// Signs a family up on an account without email validation; returns the response body.
pub async fn sign_up(app: &TestApp, email: &str) -> Value {
    app.post(&app.at("portal/signup"), None, signup_body(email, None))
        .await
        .expect(201)
        .clone()
}

async fn without_validation(backend: Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.patch_tenant(json!({"email_validation_required": false}))
        .await;
    app
}

async fn request_code(app: &TestApp, email: &str) -> String {
    app.post(
        &app.at("portal/signup/email"),
        None,
        json!({"email": email}),
    )
    .await
    .expect(202);
    let messages = app.messages_to(email).await;
    let last = messages.last().expect("a code was mailed");
    assert!(
        last["html"].as_str().unwrap().contains("<p>"),
        "an HTML part too"
    );
    six_digit_code(last["body"].as_str().unwrap()).expect("exactly one 6-digit number")
}

async fn verify(app: &TestApp, email: &str, code: &str) -> crate::support::app::Reply {
    app.post(
        &app.at("portal/signup/email/verify"),
        None,
        json!({"email": email, "code": code}),
    )
    .await
}

async fn signup_can_be_disabled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.patch_tenant(json!({"customer_signup_enabled": false}))
        .await;
    app.post(
        &app.at("portal/signup/email"),
        None,
        json!({"email": "a@b.test"}),
    )
    .await
    .expect_problem(403, "signup_disabled");
    app.post(
        &app.at("portal/signup"),
        None,
        signup_body("a@b.test", None),
    )
    .await
    .expect_problem(403, "signup_disabled");
    assert!(app.outbox().await.is_empty());
    assert_eq!(
        app.get("/a/swim", None).await.body["customer_signup_enabled"],
        false
    );
}

async fn validated_signup_creates_a_family_and_logs_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let code = request_code(&app, "Gwen@Guard.test").await;
    let message = &app.messages_to("Gwen@Guard.test").await[0];
    assert!(
        message["subject"]
            .as_str()
            .unwrap()
            .contains("swim swim school"),
        "names the business"
    );
    let wrong = if code == "000000" { "000001" } else { "000000" };
    verify(&app, "gwen@guard.test", wrong)
        .await
        .expect_problem(400, "invalid_code");
    let token =
        verify(&app, "GWEN@guard.test", &code).await.expect(200)["email_verification_token"]
            .as_str()
            .unwrap()
            .to_owned();
    // A code is used once.
    verify(&app, "gwen@guard.test", &code)
        .await
        .expect_problem(400, "invalid_code");
    let created = app
        .post(
            &app.at("portal/signup"),
            None,
            signup_body("Gwen@Guard.test", Some(&token)),
        )
        .await;
    let body = created.expect(201).clone();
    // No required policy: the setup is complete at sign-up.
    assert_eq!(body["setup_complete"], true);
    assert_eq!(body["pending_policies"], json!([]));
    assert_eq!(body["requires_age_confirmation"], false);
    assert_eq!(body["guardian"]["email"], "Gwen@Guard.test");
    assert_eq!(body["families"][0]["role"], "primary");
    assert_eq!(body["families"][0]["access"], "full");
    assert_eq!(body["active_family_id"], body["family_id"]);
    let t = body["token"].as_str().unwrap();
    let session = app.get(&app.at("session"), Some(t)).await;
    assert_eq!(session.expect(200)["kind"], "guardian");
    assert_eq!(session.body["subject_id"], body["guardian_id"]);
    // The token is used up by the sign-up.
    app.post(
        &app.at("portal/signup"),
        None,
        signup_body("other@guard.test", Some(&token)),
    )
    .await
    .expect_problem(400, "email_not_verified");
    // The address is now a family's primary email.
    app.post(
        &app.at("portal/signup/email"),
        None,
        json!({"email": "gwen@GUARD.test"}),
    )
    .await
    .expect_problem(409, "email_in_use");
    app.post(
        &app.at("portal/login"),
        None,
        json!({"email": "gwen@guard.test", "password": GUARDIAN_PASSWORD}),
    )
    .await
    .expect(200);
}

async fn codes_expire_and_allow_five_tries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let code = request_code(&app, "a@guard.test").await;
    app.advance_clock(31 * 60).await;
    verify(&app, "a@guard.test", &code)
        .await
        .expect_problem(410, "code_expired");

    let code = request_code(&app, "b@guard.test").await;
    let wrong = if code == "999999" { "999998" } else { "999999" };
    for _ in 0..5 {
        verify(&app, "b@guard.test", wrong)
            .await
            .expect_problem(400, "invalid_code");
    }
    verify(&app, "b@guard.test", &code)
        .await
        .expect_problem(429, "too_many_attempts");

    // A new code replaces the old one and its tries; 29 minutes later it still works.
    let old = request_code(&app, "c@guard.test").await;
    let new = request_code(&app, "c@guard.test").await;
    if old != new {
        verify(&app, "c@guard.test", &old)
            .await
            .expect_problem(400, "invalid_code");
    }
    app.advance_clock(29 * 60).await;
    verify(&app, "c@guard.test", &new).await.expect(200);
    verify(&app, "nobody@guard.test", "123456")
        .await
        .expect_problem(400, "invalid_code");
}

async fn verification_tokens_prove_one_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let code = request_code(&app, "a@guard.test").await;
    let token = verify(&app, "a@guard.test", &code).await.expect(200)["email_verification_token"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &app.at("portal/signup"),
        None,
        signup_body("b@guard.test", Some(&token)),
    )
    .await
    .expect_problem(400, "email_not_verified");
    app.post(
        &app.at("portal/signup"),
        None,
        signup_body("a@guard.test", None),
    )
    .await
    .expect_problem(400, "email_not_verified");
    app.post(
        &app.at("portal/signup"),
        None,
        signup_body("a@guard.test", Some("made-up")),
    )
    .await
    .expect_problem(400, "email_not_verified");
    // The refused attempts did not use the token up.
    app.post(
        &app.at("portal/signup"),
        None,
        signup_body("A@guard.test", Some(&token)),
    )
    .await
    .expect(201);
}

async fn signup_without_validation_and_web_versus_mobile(backend: Backend) {
    let app = without_validation(backend).await;
    app.post(
        &app.at("portal/signup/email"),
        None,
        json!({"email": "w@guard.test"}),
    )
    .await
    .expect(204);
    assert!(app.outbox().await.is_empty());
    let mut web = signup_body("w@guard.test", None);
    web["phones"] = json!([]);
    web.as_object_mut().unwrap().remove("address");
    let refused = app.post(&app.at("portal/signup"), None, web.clone()).await;
    refused.expect_problem(422, "validation_failed");
    let fields = refused.field_errors();
    assert!(
        fields.contains(&("phones".into(), "required".into())),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("address".into(), "required".into())),
        "{fields:?}"
    );
    web["client"] = json!("mobile");
    let created = app.post(&app.at("portal/signup"), None, web).await;
    created.expect(201);
    // An abandoned code never blocks an address: ask for a code elsewhere, never use it.
    app.patch_tenant(json!({"email_validation_required": true}))
        .await;
    request_code(&app, "later@guard.test").await;
    app.patch_tenant(json!({"email_validation_required": false}))
        .await;
    sign_up(&app, "later@guard.test").await;
}

async fn every_invalid_field_is_listed_at_once(backend: Backend) {
    let app = without_validation(backend).await;
    let body = json!({
        "client": "web", "age_confirmed": false,
        "guardian": {"first_name": "", "last_name": "Guard"},
        "email": {"address": "not-an-email", "type": "pager", "opt_in": true},
        "phones": [{"number": "12", "type": "mobile", "sms_opt_in": false}],
        "password": "weak", "password_confirmation": "weaker",
        "address": {"line1": "1 Pool Lane", "city": "", "region": "IL", "postal_code": "62701", "country": "US"}
    });
    let r = app.post(&app.at("portal/signup"), None, body).await;
    r.expect_problem(422, "validation_failed");
    let fields = r.field_errors();
    for (f, c) in [
        ("age_confirmed", "required"),
        ("guardian.first_name", "required"),
        ("guardian.relationship", "required"),
        ("email.address", "invalid_email"),
        ("email.type", "invalid"),
        ("phones[0].number", "invalid_phone"),
        ("password", "password_policy"),
        ("password_confirmation", "mismatch"),
        ("address.city", "required"),
    ] {
        assert!(
            fields.contains(&(f.to_owned(), c.to_owned())),
            "{f}/{c} in {fields:?}"
        );
    }
    // Wrong JSON types are malformed, not a validation failure.
    app.post(
        &app.at("portal/signup"),
        None,
        json!({"age_confirmed": "yes"}),
    )
    .await
    .expect_problem(400, "malformed_request");
    // Nothing was created: the address is still free.
    sign_up(&app, "not-an-email@guard.test").await;
}

async fn custom_fields_are_enforced(backend: Backend) {
    let app = without_validation(backend).await;
    app.patch_tenant(json!({"custom_fields": [
        {"key": "medical", "label": "Medical notes", "required": true},
        {"key": "school", "label": "School", "required": false}
    ]}))
    .await;
    let r = app
        .post(
            &app.at("portal/signup"),
            None,
            signup_body("c@guard.test", None),
        )
        .await;
    assert_eq!(
        r.field_errors(),
        vec![("custom_fields.medical".to_owned(), "required".to_owned())]
    );
    let mut body = signup_body("c@guard.test", None);
    body["custom_fields"] = json!({"medical": "   "});
    let r = app.post(&app.at("portal/signup"), None, body.clone()).await;
    assert_eq!(
        r.field_errors(),
        vec![("custom_fields.medical".to_owned(), "required".to_owned())]
    );
    body["custom_fields"] = json!({"medical": "none", "unknown": "ignored"});
    app.post(&app.at("portal/signup"), None, body)
        .await
        .expect(201);
}

async fn primary_emails_are_unique_in_any_case(backend: Backend) {
    let app = without_validation(backend).await;
    sign_up(&app, "Dup@Guard.test").await;
    for email in ["dup@guard.test", "DUP@GUARD.TEST", " dup@guard.test "] {
        app.post(&app.at("portal/signup"), None, signup_body(email, None))
            .await
            .expect_problem(409, "email_in_use");
        app.post(
            &app.at("portal/signup/email"),
            None,
            json!({"email": email}),
        )
        .await
        .expect_problem(409, "email_in_use");
    }
}

async fn concurrent_signups_with_one_email_create_one_family(backend: Backend) {
    let app = without_validation(backend).await;
    let url = app.at("portal/signup");
    let bodies: Vec<Value> = (0..5)
        .map(|i| {
            signup_body(
                if i % 2 == 0 {
                    "race@guard.test"
                } else {
                    "RACE@guard.test"
                },
                None,
            )
        })
        .collect();
    let replies = futures_join_all(bodies.into_iter().map(|b| app.post(&url, None, b))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        replies
            .iter()
            .filter(|r| r.status != 201)
            .all(|r| r.code() == "email_in_use"),
        "{statuses:?}"
    );
    // The winner's login works; exactly one family exists for the address.
    let login = app
        .post(
            &app.at("portal/login"),
            None,
            json!({"email": "race@guard.test", "password": GUARDIAN_PASSWORD}),
        )
        .await;
    assert_eq!(login.expect(200)["families"].as_array().unwrap().len(), 1);
}

async fn validation_codes_are_limited_per_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..5 {
        request_code(&app, "busy@guard.test").await;
    }
    let limited = app
        .post(
            &app.at("portal/signup/email"),
            None,
            json!({"email": "BUSY@guard.test"}),
        )
        .await;
    limited.expect_problem(429, "too_many_requests");
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(app.messages_to("busy@guard.test").await.len(), 5);
    // Another address is not affected; an hour later the first may try again.
    request_code(&app, "calm@guard.test").await;
    app.advance_clock(3601).await;
    request_code(&app, "busy@guard.test").await;
}

async fn policies_gate_setup_and_new_versions_must_be_accepted_again(backend: Backend) {
    let app = without_validation(backend).await;
    let owner = app.owner_token().await;
    let mut ids = Vec::new();
    for (title, required) in [
        ("Waiver", true),
        ("Photo release", true),
        ("Newsletter", false),
    ] {
        let p = app
            .post(
                &app.at("office/policies"),
                Some(&owner),
                json!({"title": title, "body": "Text", "required": required}),
            )
            .await;
        assert_eq!(p.expect(201)["version"], 1);
        ids.push(p.body["id"].as_str().unwrap().to_owned());
    }
    app.post(
        &app.at("office/policies"),
        Some(&owner),
        json!({"title": "", "body": "x"}),
    )
    .await
    .expect_problem(422, "validation_failed");
    let family = sign_up(&app, "p@guard.test").await;
    let t = family["token"].as_str().unwrap().to_owned();
    assert_eq!(family["pending_policies"].as_array().unwrap().len(), 2);
    assert_eq!(family["pending_policies"][0]["version"], 1);
    let fam = app.get(&app.at("portal/family"), Some(&t)).await;
    assert_eq!(fam.expect(200)["setup_complete"], false);
    assert_eq!(fam.body["can_add_students"], false);
    let listed = app.get(&app.at("portal/policies"), Some(&t)).await;
    assert_eq!(listed.expect(200)["policies"].as_array().unwrap().len(), 3);

    let accept = |id: &str, version: u32| json!({"policies": [{"id": id, "version": version}], "client": "mobile"});
    let r = app
        .post(
            &app.at("portal/policies/accept"),
            Some(&t),
            accept(&ids[0], 1),
        )
        .await;
    assert_eq!(r.expect(200)["setup_complete"], false);
    assert_eq!(
        r.body["pending_policies"],
        json!([{"id": ids[1], "title": "Photo release", "version": 1}])
    );
    let bad = app
        .post(
            &app.at("portal/policies/accept"),
            Some(&t),
            accept(&ids[1], 7),
        )
        .await;
    assert_eq!(
        bad.field_errors(),
        vec![(
            "policies[0].version".to_owned(),
            "version_mismatch".to_owned()
        )]
    );
    let r = app
        .post(
            &app.at("portal/policies/accept"),
            Some(&t),
            accept(&ids[1], 1),
        )
        .await;
    assert_eq!(r.expect(200)["setup_complete"], true);
    assert_eq!(r.body["pending_policies"], json!([]));
    let fam = app.get(&app.at("portal/family"), Some(&t)).await;
    assert_eq!(fam.body["setup_complete"], true);
    assert_eq!(fam.body["can_add_students"], true);

    // A new version must be accepted again.
    let updated = app
        .put(
            &app.at(&format!("office/policies/{}", ids[0])),
            Some(&owner),
            json!({"title": "Waiver", "body": "New text", "required": true}),
        )
        .await;
    assert_eq!(updated.expect(200)["version"], 2);
    let fam = app.get(&app.at("portal/family"), Some(&t)).await;
    assert_eq!(fam.body["setup_complete"], false);
    let listed = app.get(&app.at("portal/policies"), Some(&t)).await;
    let waiver = listed.body["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == ids[0].as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (waiver["version"].clone(), waiver["accepted"].clone()),
        (json!(2), json!(false))
    );

    // Staff accept it manually, with a note, in the audit log.
    let family_id = family["family_id"].as_str().unwrap();
    let manual = app
        .post(
            &app.at(&format!(
                "office/families/{family_id}/policies/{}/manual-accept",
                ids[0]
            )),
            Some(&owner),
            json!({"note": "Signed on paper"}),
        )
        .await;
    assert_eq!(manual.expect(200)["manual"], true);
    let listed = app.get(&app.at("portal/policies"), Some(&t)).await;
    let waiver = listed.body["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == ids[0].as_str())
        .unwrap()
        .clone();
    assert_eq!(waiver["accepted"], true);
    assert_eq!(waiver["manual"], true);
    assert!(waiver["accepted_at"].is_string());
    assert_eq!(
        app.get(&app.at("portal/family"), Some(&t)).await.body["setup_complete"],
        true
    );
    let audit = app
        .get(
            &format!("{}?limit=100", app.at("office/audit")),
            Some(&owner),
        )
        .await;
    let entry = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "policy.manually_accepted")
        .unwrap()
        .clone();
    assert_eq!(entry["actor"]["kind"], "staff");
    assert_eq!(entry["details"]["note"], "Signed on paper");
    assert_eq!(entry["target"], family_id);
    assert!(
        audit.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "policy.accepted" && e["actor"]["kind"] == "guardian")
    );
    app.post(
        &app.at(&format!(
            "office/families/{family_id}/policies/nope/manual-accept"
        )),
        Some(&owner),
        json!({}),
    )
    .await
    .expect_problem(404, "not_found");
}

async fn guardians_sign_in_and_see_their_family(backend: Backend) {
    let app = without_validation(backend).await;
    let family = sign_up(&app, "g@guard.test").await;
    let wrong = app
        .post(
            &app.at("portal/login"),
            None,
            json!({"email": "g@guard.test", "password": "Wrong-Pw-123!"}),
        )
        .await;
    let unknown = app
        .post(
            &app.at("portal/login"),
            None,
            json!({"email": "x@guard.test", "password": "Wrong-Pw-123!"}),
        )
        .await;
    wrong.expect_problem(401, "invalid_credentials");
    unknown.expect_problem(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
    let login = app
        .post(&app.at("portal/login"), None, json!({"email": " G@GUARD.test", "password": GUARDIAN_PASSWORD, "stay_logged_in": true}))
        .await;
    let body = login.expect(200).clone();
    assert_eq!(body["session"]["persistent"], true);
    assert_eq!(body["active_family_id"], family["family_id"]);
    assert_eq!(body["guardian"]["first_name"], "Gwen");
    let t = body["token"].as_str().unwrap();
    let fam = app.get(&app.at("portal/family"), Some(t)).await;
    assert_eq!(fam.expect(200)["name"], "Guard Family");
    assert_eq!(fam.body["access"], "full");
    assert_eq!(fam.body["guardians"][0]["primary"], true);
    let families = app.get(&app.at("portal/families"), Some(t)).await;
    assert_eq!(
        families.expect(200)["families"].as_array().unwrap().len(),
        1
    );
    app.post(
        &app.at("portal/session/family"),
        Some(t),
        json!({"family_id": "someone-else"}),
    )
    .await
    .expect_problem(403, "forbidden");

    // Staff see the family's profile cards; guardians never reach office routes, nor staff portal ones.
    let owner = app.owner_token().await;
    let family_id = family["family_id"].as_str().unwrap();
    let cards = app
        .get(
            &app.at(&format!("office/families/{family_id}")),
            Some(&owner),
        )
        .await;
    let card = &cards.expect(200)["guardians"][0];
    assert_eq!(card["can_log_in"], true);
    assert_eq!(card["primary"], true);
    assert_eq!(card["access"], "full");
    assert_eq!(card["phone"], "+15551239999");
    assert!(!cards.body.to_string().contains("argon2"));
    app.get(&app.at(&format!("office/families/{family_id}")), Some(t))
        .await
        .expect_problem(403, "forbidden");
    app.get(&app.at("portal/family"), Some(&owner))
        .await
        .expect_problem(403, "forbidden");
    app.get(&app.at("office/families/nope"), Some(&owner))
        .await
        .expect_problem(404, "not_found");

    // The same lockout as staff.
    for _ in 0..5 {
        app.post(
            &app.at("portal/login"),
            None,
            json!({"email": "g@guard.test", "password": "Wrong-Pw-123!"}),
        )
        .await
        .expect_problem(401, "invalid_credentials");
    }
    app.post(
        &app.at("portal/login"),
        None,
        json!({"email": "g@guard.test", "password": GUARDIAN_PASSWORD}),
    )
    .await
    .expect_problem(429, "too_many_attempts");
}

async fn logins_belong_to_one_account(backend: Backend) {
    let app = without_validation(backend).await;
    app.create_tenant("gym", "boss").await;
    app.patch(
        "/_dev/tenants/gym",
        None,
        json!({"email_validation_required": false}),
    )
    .await
    .expect(200);
    sign_up(&app, "twin@guard.test").await;
    let mut other = signup_body("twin@guard.test", None);
    other["password"] = json!("Other-Acc0unt!x");
    other["password_confirmation"] = json!("Other-Acc0unt!x");
    app.post("/a/gym/portal/signup", None, other)
        .await
        .expect(201);
    app.post(
        "/a/gym/portal/login",
        None,
        json!({"email": "twin@guard.test", "password": GUARDIAN_PASSWORD}),
    )
    .await
    .expect_problem(401, "invalid_credentials");
    app.post(
        "/a/gym/portal/login",
        None,
        json!({"email": "twin@guard.test", "password": "Other-Acc0unt!x"}),
    )
    .await
    .expect(200);
}

/// A mailer that always fails (fault injection).
struct FailingMailer;

#[async_trait]
impl Mailer for FailingMailer {
    async fn send_email(&self, _: Email) -> Result<(), DeliveryError> {
        Err(DeliveryError::Failed("injected".into()))
    }
}

#[tokio::test]
async fn a_code_that_cannot_be_mailed_leaves_nothing_behind() {
    let store = Arc::new(EmbeddedStore::new());
    let app = TestApp::spawn_custom(store, Some(Arc::new(FailingMailer))).await;
    app.create_tenant("swim", "owner").await;
    for _ in 0..6 {
        app.post(
            &app.at("portal/signup/email"),
            None,
            json!({"email": "f@guard.test"}),
        )
        .await
        .expect_problem(503, "service_unavailable");
    }
    // No code was left to guess, and the failures did not use up the sending allowance.
    verify(&app, "f@guard.test", "123456")
        .await
        .expect_problem(400, "invalid_code");
}

#[tokio::test]
async fn a_signup_the_store_refuses_leaves_nothing_behind() {
    let store = FaultStore::new(Arc::new(EmbeddedStore::new()), StoreFault::None);
    let app = TestApp::spawn_custom(store.clone(), None).await;
    app.create_tenant("swim", "owner").await;
    app.patch_tenant(json!({"email_validation_required": false}))
        .await;
    store.set(StoreFault::TransactionsFail);
    let refused = app
        .post(
            &app.at("portal/signup"),
            None,
            signup_body("half@guard.test", None),
        )
        .await;
    refused.expect_problem(503, "service_unavailable");
    assert!(refused.headers.contains_key("retry-after"));
    store.set(StoreFault::None);
    // No login and no family were left: the address is free and has no password.
    app.post(
        &app.at("portal/login"),
        None,
        json!({"email": "half@guard.test", "password": GUARDIAN_PASSWORD}),
    )
    .await
    .expect_problem(401, "invalid_credentials");
    app.post(
        &app.at("portal/signup/email"),
        None,
        json!({"email": "half@guard.test"}),
    )
    .await
    .expect(204);
    sign_up(&app, "half@guard.test").await;
}

/// The primary's login answers pending policies from the versions its link records (no read of
/// the acceptances); the family routes read the acceptances. Both must agree after every kind
/// of change: the primary accepting, staff accepting, a new version, a new required policy, a
/// change of primary guardian.
async fn the_primary_login_knows_what_is_pending_as_the_family_routes_do(backend: Backend) {
    let app = without_validation(backend).await;
    let owner = app.owner_token().await;
    let waiver = app.create_policy(&owner, "Waiver", true).await;
    app.create_policy(&owner, "Newsletter", false).await;
    let family = sign_up(&app, "p@guard.test").await;
    let family_id = family["family_id"].as_str().unwrap().to_owned();
    let pending_ids = |v: &Value| -> Vec<(String, u64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap().to_owned(),
                    p["version"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    // The login's view, checked against the family route's.
    let check = |email: &'static str, expected: Vec<(String, u64)>| {
        let app = &app;
        async move {
            let login = app
                .post(
                    &app.at("portal/login"),
                    None,
                    json!({"email": email, "password": GUARDIAN_PASSWORD}),
                )
                .await;
            let body = login.expect(200).clone();
            let mut got = pending_ids(&body["pending_policies"]);
            got.sort();
            let mut want = expected;
            want.sort();
            assert_eq!(got, want, "login of {email}: {body}");
            assert_eq!(body["setup_complete"], want.is_empty());
            let t = body["token"].as_str().unwrap();
            let fam = app.get(&app.at("portal/family"), Some(t)).await;
            assert_eq!(fam.expect(200)["setup_complete"], want.is_empty());
            t.to_owned()
        }
    };
    let t = check("p@guard.test", vec![(waiver.clone(), 1)]).await;
    app.post(
        &app.at("portal/policies/accept"),
        Some(&t),
        json!({"policies": [{"id": waiver, "version": 1}]}),
    )
    .await
    .expect(200);
    check("p@guard.test", vec![]).await;
    // A new version, then a new required policy.
    app.put(
        &app.at(&format!("office/policies/{waiver}")),
        Some(&owner),
        json!({"title": "Waiver", "body": "New text", "required": true}),
    )
    .await
    .expect(200);
    check("p@guard.test", vec![(waiver.clone(), 2)]).await;
    let photos = app.create_policy(&owner, "Photo release", true).await;
    check(
        "p@guard.test",
        vec![(waiver.clone(), 2), (photos.clone(), 1)],
    )
    .await;
    // Staff accept one on the family's behalf.
    app.post(
        &app.at(&format!(
            "office/families/{family_id}/policies/{waiver}/manual-accept"
        )),
        Some(&owner),
        json!({"note": "signed at the desk"}),
    )
    .await
    .expect(200);
    let t = check("p@guard.test", vec![(photos.clone(), 1)]).await;
    app.post(
        &app.at("portal/policies/accept"),
        Some(&t),
        json!({"policies": [{"id": photos, "version": 1}]}),
    )
    .await
    .expect(200);
    let t = check("p@guard.test", vec![]).await;
    // A new primary: their login reads the acceptances, and sees the family's state.
    let (second, _) = crate::secondary::secondary(&app, &t, "s@guard.test").await;
    app.put(
        &app.at(&format!("office/families/{family_id}/primary-guardian")),
        Some(&owner),
        json!({"guardian_id": second}),
    )
    .await
    .expect(200);
    app.post(
        &app.at("portal/login"),
        None,
        json!({"email": "s@guard.test", "password": crate::secondary::SECONDARY_PASSWORD}),
    )
    .await
    .expect(200);
    let login = app
        .post(
            &app.at("portal/login"),
            None,
            json!({"email": "s@guard.test", "password": crate::secondary::SECONDARY_PASSWORD}),
        )
        .await;
    assert_eq!(login.expect(200)["setup_complete"], true, "{}", login.body);
    app.put(
        &app.at(&format!("office/policies/{photos}")),
        Some(&owner),
        json!({"title": "Photo release", "body": "v2", "required": true}),
    )
    .await
    .expect(200);
    let login = app
        .post(
            &app.at("portal/login"),
            None,
            json!({"email": "s@guard.test", "password": crate::secondary::SECONDARY_PASSWORD}),
        )
        .await;
    assert_eq!(
        pending_ids(&login.expect(200)["pending_policies"]),
        vec![(photos.clone(), 2)]
    );
}
