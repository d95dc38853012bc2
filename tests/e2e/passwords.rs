//! Passwords over HTTP on both stores: forgot-password, office resets by email and SMS, SMS
//! credits, completing a reset, office-set and self-changed passwords, notices, audit, and the
//! purge of expired items (the purge's own costs and resumption: `purge.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use portal_core::account::AccountName;
use portal_core::keys;
use portal_core::store::{Condition, Item};
use serde_json::{Value, json};

use crate::both_stores;
use crate::support::app::{Backend, OWNER_PASSWORD, TestApp};
use crate::support::faults::{FailingMailer, FailingSms};

both_stores!(
    forgot_staff_password_sends_a_link_that_resets_once,
    forgot_answers_the_same_whatever_happened,
    links_expire_after_30_minutes_and_one_use_kills_the_others,
    office_staff_resets_follow_the_rules,
    sms_resets_cost_one_credit_each_and_never_overdraw,
    a_failed_sms_send_refunds_the_credit,
    a_failed_email_send_is_503_for_the_office_and_202_for_forgot,
    office_set_and_self_change_end_sessions_and_notify,
    guardian_resets_and_staff_cannot_set_guardian_passwords,
    purge_removes_expired_sessions_and_links_and_counts_them,
);

pub(crate) const FRED_PASSWORD: &str = "Fr0nt-Desk!x";
pub(crate) const NEW_PASSWORD: &str = "N3w-Secret!pw";
const GUARDIAN_PASSWORD: &str = "Gu4rdian-Pw!x";

pub(crate) async fn create_staff(
    app: &TestApp,
    owner: &str,
    username: &str,
    extra: Value,
) -> String {
    let mut body = json!({
        "username": username, "first_name": "Fred", "last_name": "Desk",
        "email": format!("{username}@swim.test"), "password": FRED_PASSWORD,
        "advanced_permissions": {"staff": "full", "families": "full"}
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post(&app.at("office/staff"), Some(owner), body)
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn outbox(app: &TestApp) -> Vec<Value> {
    app.get("/_dev/outbox", None).await.expect(200)["messages"]
        .as_array()
        .unwrap()
        .clone()
}

async fn clear_outbox(app: &TestApp) {
    app.request(reqwest::Method::DELETE, "/_dev/outbox", None, None)
        .await
        .expect(204);
}

/// The reset token in a message body (`...reset-password?token=<token>`).
pub(crate) fn token_in(message: &Value) -> String {
    let body = message["body"].as_str().unwrap();
    let at = body
        .find("/a/swim/reset-password?token=")
        .expect("a reset link")
        + 29;
    body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Asks for a staff link by username and returns the token from the new email.
pub(crate) async fn forgot_staff(app: &TestApp, username: &str) -> String {
    let before = outbox(app).await.len();
    app.post(
        &app.at("staff/password/forgot"),
        None,
        json!({"username": username}),
    )
    .await
    .expect(202);
    let messages = outbox(app).await;
    assert_eq!(messages.len(), before + 1, "one email: {messages:?}");
    token_in(messages.last().unwrap())
}

pub(crate) async fn reset(
    app: &TestApp,
    token: &str,
    password: &str,
) -> crate::support::app::Reply {
    app.post(
        &app.at("password/reset"),
        None,
        json!({"token": token, "new_password": password}),
    )
    .await
}

async fn patch_tenant(app: &TestApp, body: Value) {
    app.patch("/_dev/tenants/swim", None, body)
        .await
        .expect(200);
}

pub(crate) async fn sms_credits(app: &TestApp, owner: &str) -> i64 {
    app.get(&app.at("office/settings"), Some(owner))
        .await
        .expect(200)["sms_credits"]
        .as_i64()
        .unwrap()
}

/// The audit entries with this action, newest first.
async fn audit_entries(app: &TestApp, token: &str, action: &str) -> Vec<Value> {
    app.get(
        &format!("{}?limit=100", app.at("office/audit")),
        Some(token),
    )
    .await
    .expect(200)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

fn assert_notice(message: &Value, to: &str, password: &str) {
    assert_eq!(message["channel"], "email");
    assert_eq!(message["to"], to);
    let body = message["body"].as_str().unwrap();
    let subject = message["subject"].as_str().unwrap();
    assert!(subject.contains("password was changed"), "{subject}");
    assert!(
        body.contains("swim swim school"),
        "names the business: {body}"
    );
    assert!(body.contains("(UTC)"), "names the time: {body}");
    assert!(!body.contains("token="), "no link: {body}");
    assert!(!body.contains("http"), "no link: {body}");
    assert!(!body.contains(password), "no password: {body}");
}

async fn forgot_staff_password_sends_a_link_that_resets_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    let fred_id = create_staff(&app, &owner, "fred", json!({})).await;
    let session_a = app.staff_token("fred", FRED_PASSWORD).await;
    let session_b = app.persistent_staff_token("fred", FRED_PASSWORD).await;

    // Usernames compare case-insensitively.
    let r = app
        .post(
            &app.at("staff/password/forgot"),
            None,
            json!({"username": "  FRED "}),
        )
        .await;
    assert_eq!(r.expect(202), &json!({"status": "accepted"}));
    let messages = outbox(&app).await;
    assert_eq!(messages.len(), 1);
    let link = &messages[0];
    assert_eq!(link["to"], "fred@swim.test");
    assert!(
        link["subject"]
            .as_str()
            .unwrap()
            .contains("swim swim school")
    );
    assert!(
        link["body"]
            .as_str()
            .unwrap()
            .contains("https://portal.test/a/swim/reset-password?token=")
    );
    assert!(
        link["html"]
            .as_str()
            .unwrap()
            .contains("reset-password?token=")
    );
    let token = token_in(link);
    assert_eq!(token.len(), 43);

    let info = app
        .get(&app.at(&format!("password/reset/{token}")), None)
        .await;
    assert_eq!(info.expect(200)["kind"], "staff");
    assert!(info.body["expires_at"].as_str().unwrap().ends_with('Z'));
    // Checking never uses the link up.
    app.get(&app.at(&format!("password/reset/{token}")), None)
        .await
        .expect(200);

    // A refused reset does not use the link up.
    let weak = reset(&app, &token, "short").await;
    weak.expect_problem(422, "validation_failed");
    assert_eq!(
        weak.field_errors(),
        vec![("new_password".to_owned(), "password_policy".to_owned())]
    );
    reset(&app, &token, NEW_PASSWORD).await.expect(204);

    // Every session of fred ended, persistent ones too; the new password works, the old not.
    for t in [&session_a, &session_b] {
        app.get(&app.at("session"), Some(t))
            .await
            .expect_problem(401, "unauthenticated");
    }
    app.staff_login("fred", FRED_PASSWORD)
        .await
        .expect_problem(401, "invalid_credentials");
    app.staff_login("fred", NEW_PASSWORD).await.expect(200);

    // Single use.
    reset(&app, &token, "An0ther-Secret!")
        .await
        .expect_problem(400, "invalid_token");
    app.get(&app.at(&format!("password/reset/{token}")), None)
        .await
        .expect_problem(400, "invalid_token");
    reset(&app, "not-a-token", NEW_PASSWORD)
        .await
        .expect_problem(400, "invalid_token");
    reset(&app, "", NEW_PASSWORD)
        .await
        .expect_problem(400, "invalid_token");

    let messages = outbox(&app).await;
    assert_eq!(messages.len(), 2);
    assert_notice(&messages[1], "fred@swim.test", NEW_PASSWORD);

    let sent = audit_entries(&app, &owner, "password.reset_sent").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["actor"]["kind"], "system");
    assert_eq!(sent[0]["target"], fred_id.as_str());
    assert_eq!(
        sent[0]["details"],
        json!({"kind": "staff", "channel": "email"})
    );
    let done = audit_entries(&app, &owner, "password.reset_completed").await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["target"], fred_id.as_str());
    let text =
        serde_json::to_string(&app.get(&app.at("office/audit"), Some(&owner)).await.body).unwrap();
    assert!(!text.contains(&token), "the audit never holds a token");
}

async fn forgot_answers_the_same_whatever_happened(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    create_staff(&app, &owner, "fred", json!({})).await;
    create_staff(&app, &owner, "nomail", json!({"email": null})).await;

    let mut bodies = Vec::new();
    for body in [
        json!({"username": "owner"}),
        json!({"username": "OWNER"}),
        json!({"username": "nobody"}),
        json!({"username": "nomail"}),
        json!({"username": ""}),
        json!({}),
    ] {
        let r = app.post(&app.at("staff/password/forgot"), None, body).await;
        assert_eq!(r.status.as_u16(), 202);
        bodies.push(r.body.clone());
    }
    let r = app
        .post(
            &app.at("staff/password/forgot"),
            None,
            json!({"username": "fred"}),
        )
        .await;
    bodies.push(r.expect(202).clone());
    assert!(bodies.iter().all(|b| *b == json!({"status": "accepted"})));
    // Only fred got a link: never the owner, nor anyone without an email.
    let messages = outbox(&app).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["to"], "fred@swim.test");

    // Guardian route: unknown emails answer the same.
    for body in [
        json!({"email": "nobody@swim.test"}),
        json!({"email": "x"}),
        json!({}),
    ] {
        let r = app
            .post(&app.at("portal/password/forgot"), None, body)
            .await;
        assert_eq!(r.expect(202), &json!({"status": "accepted"}));
    }
    assert_eq!(outbox(&app).await.len(), 1);

    // Past the sending limit (5 an hour per address): still 202, nothing sent.
    for _ in 0..4 {
        forgot_staff(&app, "fred").await;
    }
    let r = app
        .post(
            &app.at("staff/password/forgot"),
            None,
            json!({"username": "fred"}),
        )
        .await;
    assert_eq!(r.expect(202), &json!({"status": "accepted"}));
    assert_eq!(outbox(&app).await.len(), 5);
    // An hour later the address has its allowance again.
    app.advance_clock(3601).await;
    forgot_staff(&app, "fred").await;

    // An unknown account is still named as such.
    app.post(
        "/a/nosuch/staff/password/forgot",
        None,
        json!({"username": "fred"}),
    )
    .await
    .expect_problem(404, "account_not_found");
}

async fn links_expire_after_30_minutes_and_one_use_kills_the_others(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    let fred_id = create_staff(&app, &owner, "fred", json!({})).await;
    let first = forgot_staff(&app, "fred").await;
    let second = forgot_staff(&app, "fred").await;
    // An office-sent link joins them.
    app.post(
        &app.at(&format!("office/staff/{fred_id}/password-reset")),
        Some(&owner),
        json!({"channel": "email"}),
    )
    .await
    .expect(202);
    let third = token_in(outbox(&app).await.last().unwrap());
    // A new link does not kill older ones.
    for t in [&first, &second, &third] {
        app.get(&app.at(&format!("password/reset/{t}")), None)
            .await
            .expect(200);
    }

    // At 29 minutes a link still works; using it kills the others.
    app.advance_clock(29 * 60).await;
    reset(&app, &second, NEW_PASSWORD).await.expect(204);
    for t in [&first, &third] {
        app.get(&app.at(&format!("password/reset/{t}")), None)
            .await
            .expect_problem(400, "invalid_token");
        reset(&app, t, "An0ther-Secret!")
            .await
            .expect_problem(400, "invalid_token");
    }

    // At 31 minutes a link is expired, by the clock, whatever the store still holds.
    let late = forgot_staff(&app, "fred").await;
    app.advance_clock(31 * 60).await;
    app.get(&app.at(&format!("password/reset/{late}")), None)
        .await
        .expect_problem(410, "token_expired");
    reset(&app, &late, "An0ther-Secret!")
        .await
        .expect_problem(410, "token_expired");
    app.staff_login("fred", NEW_PASSWORD).await.expect(200);
}

async fn office_staff_resets_follow_the_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    let fred_id = create_staff(&app, &owner, "fred", json!({})).await;
    let nomail = create_staff(&app, &owner, "nomail", json!({"email": null})).await;
    let viewer = create_staff(
        &app,
        &owner,
        "viewer",
        json!({"advanced_permissions": {"staff": "view"}}),
    )
    .await;
    let owner_id = app.get(&app.at("session"), Some(&owner)).await.body["subject_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fred = app.staff_token("fred", FRED_PASSWORD).await;
    let viewer_token = app.staff_token("viewer", FRED_PASSWORD).await;
    let path = |id: &str| app.at(&format!("office/staff/{id}/password-reset"));

    // staff: full is needed.
    app.post(
        &path(&fred_id),
        Some(&viewer_token),
        json!({"channel": "email"}),
    )
    .await
    .expect_problem(403, "forbidden");
    // The owner as target: only the owner.
    app.post(&path(&owner_id), Some(&fred), json!({"channel": "email"}))
        .await
        .expect_problem(403, "owner_only");
    app.post(&path(&owner_id), Some(&owner), json!({"channel": "email"}))
        .await
        .expect(202);
    let r = app
        .post(&path(&viewer), Some(&fred), json!({"channel": "email"}))
        .await;
    assert_eq!(r.expect(202), &json!({"status": "accepted"}));
    let messages = outbox(&app).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["to"], "owner@swim.test");
    assert_eq!(messages[1]["to"], "viewer@swim.test");
    token_in(&messages[1]);

    // Nothing on file, bad channels, unknown targets.
    let r = app
        .post(&path(&nomail), Some(&owner), json!({"channel": "email"}))
        .await;
    r.expect_problem(422, "no_email_on_file");
    assert_eq!(
        r.field_errors(),
        vec![("channel".to_owned(), "no_email_on_file".to_owned())]
    );
    let r = app
        .post(&path(&fred_id), Some(&owner), json!({"channel": "fax"}))
        .await;
    r.expect_problem(422, "validation_failed");
    assert_eq!(
        r.field_errors(),
        vec![("channel".to_owned(), "invalid".to_owned())]
    );
    app.post(&path("nobody"), Some(&owner), json!({"channel": "email"}))
        .await
        .expect_problem(404, "not_found");

    // SMS: disabled, then no phone, then no credits; refusals cost nothing.
    app.post(&path(&fred_id), Some(&owner), json!({"channel": "sms"}))
        .await
        .expect_problem(409, "sms_disabled");
    patch_tenant(&app, json!({"sms_enabled": true, "sms_credits": 0})).await;
    let r = app
        .post(&path(&fred_id), Some(&owner), json!({"channel": "sms"}))
        .await;
    r.expect_problem(422, "no_phone_on_file");
    assert_eq!(
        r.field_errors(),
        vec![("channel".to_owned(), "no_phone_on_file".to_owned())]
    );
    let phoned = create_staff(&app, &owner, "phoned", json!({"phone": "+15551230001"})).await;
    app.post(&path(&phoned), Some(&owner), json!({"channel": "sms"}))
        .await
        .expect_problem(402, "insufficient_sms_credits");
    assert_eq!(outbox(&app).await.len(), 2);

    // The sending limit: 5 links an hour to one address, then 429.
    for _ in 0..5 {
        app.post(&path(&fred_id), Some(&owner), json!({"channel": "email"}))
            .await
            .expect(202);
    }
    let r = app
        .post(&path(&fred_id), Some(&owner), json!({"channel": "email"}))
        .await;
    r.expect_problem(429, "too_many_requests");
    assert!(r.headers.contains_key("retry-after"));

    let sent = audit_entries(&app, &owner, "password.reset_sent").await;
    assert_eq!(sent.len(), 7);
    let by_fred = sent
        .iter()
        .find(|e| e["target"] == viewer.as_str())
        .unwrap();
    assert_eq!(by_fred["actor"], json!({"kind": "staff", "id": fred_id}));
    assert_eq!(
        by_fred["details"],
        json!({"kind": "staff", "channel": "email"})
    );
}

async fn sms_resets_cost_one_credit_each_and_never_overdraw(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    patch_tenant(&app, json!({"sms_enabled": true, "sms_credits": 3})).await;
    // Two staff members with phones, so the per-number sending limit is not what stops them.
    let a = create_staff(&app, &owner, "ann", json!({"phone": "(555) 123-0001"})).await;
    let b = create_staff(&app, &owner, "bob", json!({"phone": "+15551230002"})).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let target = if i % 2 == 0 { &a } else { &b };
        let url = app.url(&app.at(&format!("office/staff/{target}/password-reset")));
        let client = app.client.clone();
        let owner = owner.clone();
        tasks.spawn(async move {
            client
                .post(url)
                .bearer_auth(owner)
                .json(&json!({"channel": "sms"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = tasks.join_next().await {
        statuses.push(s.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        3,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [202, 402].contains(s)),
        "{statuses:?}"
    );
    let messages = outbox(&app).await;
    assert_eq!(messages.len(), 3);
    assert_eq!(sms_credits(&app, &owner).await, 0);
    for m in &messages {
        assert_eq!(m["channel"], "sms");
        assert!(["+15551230001", "+15551230002"].contains(&m["to"].as_str().unwrap()));
        let body = m["body"].as_str().unwrap();
        assert!(body.chars().count() <= 160, "{body}");
        assert!(body.starts_with("swim swim school"), "{body}");
        token_in(m);
    }
    // The SMS link works like any other.
    let token = token_in(&messages[0]);
    let info = app
        .get(&app.at(&format!("password/reset/{token}")), None)
        .await;
    assert_eq!(info.expect(200)["kind"], "staff");
    let sent = audit_entries(&app, &owner, "password.reset_sent").await;
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0]["details"]["channel"], "sms");
    // At zero credits: 402 and nothing sent.
    app.post(
        &app.at(&format!("office/staff/{a}/password-reset")),
        Some(&owner),
        json!({"channel": "sms"}),
    )
    .await
    .expect_problem(402, "insufficient_sms_credits");
    assert_eq!(outbox(&app).await.len(), 3);
}

async fn a_failed_sms_send_refunds_the_credit(backend: Backend) {
    let sns = Arc::new(FailingSms::default());
    let app = TestApp::spawn_with_messaging(backend, None, Some(sns.clone())).await;
    let owner = app.owner_token().await;
    patch_tenant(&app, json!({"sms_enabled": true, "sms_credits": 2})).await;
    let a = create_staff(&app, &owner, "ann", json!({"phone": "+15551230001"})).await;
    for _ in 0..6 {
        app.post(
            &app.at(&format!("office/staff/{a}/password-reset")),
            Some(&owner),
            json!({"channel": "sms"}),
        )
        .await
        .expect_problem(503, "service_unavailable");
    }
    // Six attempts reached SNS: neither the credits nor the sending limit were used up.
    assert_eq!(sns.attempts.load(Ordering::SeqCst), 6);
    assert_eq!(sms_credits(&app, &owner).await, 2);
    assert!(outbox(&app).await.is_empty());
    assert!(
        audit_entries(&app, &owner, "password.reset_sent")
            .await
            .is_empty()
    );
}

async fn a_failed_email_send_is_503_for_the_office_and_202_for_forgot(backend: Backend) {
    let mailer = Arc::new(FailingMailer::default());
    let app = TestApp::spawn_with_messaging(backend, Some(mailer.clone()), None).await;
    let owner = app.owner_token().await;
    let fred_id = create_staff(&app, &owner, "fred", json!({})).await;
    app.post(
        &app.at(&format!("office/staff/{fred_id}/password-reset")),
        Some(&owner),
        json!({"channel": "email"}),
    )
    .await
    .expect_problem(503, "service_unavailable");
    for _ in 0..6 {
        let r = app
            .post(
                &app.at("staff/password/forgot"),
                None,
                json!({"username": "fred"}),
            )
            .await;
        assert_eq!(r.expect(202), &json!({"status": "accepted"}));
    }
    // Every attempt reached the mailer: failed sends give their allowance back.
    assert_eq!(mailer.attempts.load(Ordering::SeqCst), 7);
    assert!(
        audit_entries(&app, &owner, "password.reset_sent")
            .await
            .is_empty()
    );
}

async fn office_set_and_self_change_end_sessions_and_notify(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    let owner_id = app.get(&app.at("session"), Some(&owner)).await.body["subject_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fred_id = create_staff(&app, &owner, "fred", json!({})).await;
    let fred = app.staff_token("fred", FRED_PASSWORD).await;
    let set = |id: &str| app.at(&format!("office/staff/{id}/password"));

    // Only the owner sets the owner's password.
    app.put(
        &set(&owner_id),
        Some(&fred),
        json!({"new_password": NEW_PASSWORD}),
    )
    .await
    .expect_problem(403, "owner_only");
    let weak = app
        .put(
            &set(&fred_id),
            Some(&owner),
            json!({"new_password": "password"}),
        )
        .await;
    weak.expect_problem(422, "validation_failed");
    assert_eq!(weak.field_errors()[0].0, "new_password");
    app.put(
        &set("nobody"),
        Some(&owner),
        json!({"new_password": NEW_PASSWORD}),
    )
    .await
    .expect_problem(404, "not_found");

    app.put(
        &set(&fred_id),
        Some(&owner),
        json!({"new_password": NEW_PASSWORD}),
    )
    .await
    .expect(204);
    app.get(&app.at("session"), Some(&fred))
        .await
        .expect_problem(401, "unauthenticated");
    app.get(&app.at("session"), Some(&owner)).await.expect(200);
    app.staff_login("fred", NEW_PASSWORD).await.expect(200);
    let messages = outbox(&app).await;
    assert_eq!(messages.len(), 1);
    assert_notice(&messages[0], "fred@swim.test", NEW_PASSWORD);
    let changed = audit_entries(&app, &owner, "password.changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["details"], json!({"by": "staff"}));
    assert_eq!(
        changed[0]["actor"],
        json!({"kind": "staff", "id": owner_id})
    );
    assert_eq!(changed[0]["target"], fred_id.as_str());

    // Self change: terms need not be accepted; wrong current password is 403.
    let fresh = app.staff_login("fred", NEW_PASSWORD).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = app.staff_token("fred", NEW_PASSWORD).await;
    let me = app.at("staff/me/password");
    app.put(
        &me,
        Some(&fresh),
        json!({"current_password": "Wr0ng-Pass!x", "new_password": "Th1rd-Secret!"}),
    )
    .await
    .expect_problem(403, "invalid_credentials");
    let weak = app
        .put(
            &me,
            Some(&fresh),
            json!({"current_password": NEW_PASSWORD, "new_password": "abc"}),
        )
        .await;
    weak.expect_problem(422, "validation_failed");
    assert_eq!(weak.field_errors()[0].0, "new_password");
    app.put(
        &me,
        Some(&fresh),
        json!({"current_password": NEW_PASSWORD, "new_password": "Th1rd-Secret!"}),
    )
    .await
    .expect(204);
    for t in [&fresh, &other] {
        app.get(&app.at("session"), Some(t))
            .await
            .expect_problem(401, "unauthenticated");
    }
    app.staff_login("fred", "Th1rd-Secret!").await.expect(200);
    let messages = outbox(&app).await;
    assert_eq!(messages.len(), 2);
    assert_notice(&messages[1], "fred@swim.test", "Th1rd-Secret!");
    let changed = audit_entries(&app, &owner, "password.changed").await;
    assert_eq!(changed.len(), 2);
    assert_eq!(changed[0]["details"], json!({"by": "self"}));
    assert_eq!(changed[0]["actor"], json!({"kind": "staff", "id": fred_id}));

    // The owner may set their own password through the office route.
    app.put(
        &set(&owner_id),
        Some(&owner),
        json!({"new_password": NEW_PASSWORD}),
    )
    .await
    .expect(204);
    app.get(&app.at("session"), Some(&owner))
        .await
        .expect_problem(401, "unauthenticated");
    app.staff_login("owner", OWNER_PASSWORD)
        .await
        .expect_problem(401, "invalid_credentials");
    app.staff_login("owner", NEW_PASSWORD).await.expect(200);
}

/// Signs a family up (web client, with a mobile phone); returns (guardian id, token).
async fn sign_up_guardian(app: &TestApp, email: &str) -> (String, String) {
    patch_tenant(app, json!({"email_validation_required": false})).await;
    let body = app
        .post(
            &app.at("portal/signup"),
            None,
            json!({
                "client": "web", "age_confirmed": true,
                "guardian": {"first_name": "Gwen", "last_name": "Guard", "relationship": "parent"},
                "email": {"address": email, "type": "home", "opt_in": true},
                "phones": [{"number": "(555) 123-9999", "type": "mobile", "sms_opt_in": true}],
                "password": GUARDIAN_PASSWORD, "password_confirmation": GUARDIAN_PASSWORD,
                "address": {"line1": "1 Pool Lane", "city": "Springfield", "region": "IL",
                            "postal_code": "62701", "country": "US"}
            }),
        )
        .await;
    let body = body.expect(201);
    (
        body["guardian_id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

async fn guardian_resets_and_staff_cannot_set_guardian_passwords(backend: Backend) {
    let store = crate::support::app::store_for(backend).await;
    let app = TestApp::spawn_on(store.clone()).await;
    let owner = app.owner_token().await;
    let (gid, gtoken) = sign_up_guardian(&app, "Gwen@Swim.test").await;
    clear_outbox(&app).await;

    // Staff can never set a guardian's password; nothing changes.
    let r = app
        .put(
            &app.at(&format!("office/guardians/{gid}/password")),
            Some(&owner),
            json!({"new_password": NEW_PASSWORD}),
        )
        .await;
    r.expect_problem(403, "staff_cannot_set_guardian_password");
    app.get(&app.at("session"), Some(&gtoken)).await.expect(200);
    // A guardian token is not a staff token.
    app.put(
        &app.at("staff/me/password"),
        Some(&gtoken),
        json!({"current_password": GUARDIAN_PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await
    .expect_problem(403, "forbidden");

    // Forgot by login email, in any letter case.
    app.post(
        &app.at("portal/password/forgot"),
        None,
        json!({"email": "GWEN@swim.TEST"}),
    )
    .await
    .expect(202);
    let messages = outbox(&app).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["to"], "Gwen@Swim.test");
    let token = token_in(&messages[0]);
    let info = app
        .get(&app.at(&format!("password/reset/{token}")), None)
        .await;
    assert_eq!(info.expect(200)["kind"], "guardian");

    // Office resets: families: full; by email and by SMS.
    let fred_id = create_staff(
        &app,
        &owner,
        "fred",
        json!({"advanced_permissions": {"families": "view"}}),
    )
    .await;
    let _ = fred_id;
    let fred = app.staff_token("fred", FRED_PASSWORD).await;
    let path = app.at(&format!("office/guardians/{gid}/password-reset"));
    app.post(&path, Some(&fred), json!({"channel": "email"}))
        .await
        .expect_problem(403, "forbidden");
    app.put(
        &app.at(&format!("office/guardians/{gid}/password")),
        Some(&fred),
        json!({}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.post(&path, Some(&owner), json!({"channel": "email"}))
        .await
        .expect(202);
    app.post(&path, Some(&owner), json!({"channel": "sms"}))
        .await
        .expect_problem(409, "sms_disabled");
    patch_tenant(&app, json!({"sms_enabled": true, "sms_credits": 1})).await;
    app.post(&path, Some(&owner), json!({"channel": "sms"}))
        .await
        .expect(202);
    let messages = outbox(&app).await;
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[2]["channel"], "sms");
    assert_eq!(messages[2]["to"], "+15551239999");
    assert_eq!(sms_credits(&app, &owner).await, 0);
    app.post(
        &app.at("office/guardians/nobody/password-reset"),
        Some(&owner),
        json!({"channel": "email"}),
    )
    .await
    .expect_problem(404, "not_found");

    // Completing a reset ends the guardian's sessions and kills the other links.
    let sms_token = token_in(&messages[2]);
    reset(&app, &sms_token, NEW_PASSWORD).await.expect(204);
    app.get(&app.at("session"), Some(&gtoken))
        .await
        .expect_problem(401, "unauthenticated");
    reset(&app, &token, "An0ther-Secret!")
        .await
        .expect_problem(400, "invalid_token");
    app.post(
        &app.at("portal/login"),
        None,
        json!({"email": "gwen@swim.test", "password": NEW_PASSWORD}),
    )
    .await
    .expect(200);
    let messages = outbox(&app).await;
    assert_eq!(messages.len(), 4);
    assert_notice(&messages[3], "Gwen@Swim.test", NEW_PASSWORD);
    let done = audit_entries(&app, &owner, "password.reset_completed").await;
    assert_eq!(done[0]["actor"], json!({"kind": "guardian", "id": gid}));
    let sent = audit_entries(&app, &owner, "password.reset_sent").await;
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|e| e["details"]["kind"] == "guardian"));

    // A guardian without a portal login gets no link: not found for the office, silence for
    // forgot.
    let account = AccountName::parse("swim").unwrap();
    let mut record = store
        .get(&keys::guardian(&account, &gid))
        .await
        .unwrap()
        .unwrap();
    record.key = keys::guardian(&account, "nologin");
    record.data.insert("id".into(), json!("nologin"));
    record.data.insert("password_hash".into(), Value::Null);
    record
        .data
        .insert("email".into(), json!("nologin@swim.test"));
    store
        .put(record.with_version(1), Condition::Absent)
        .await
        .unwrap();
    store
        .put(
            Item::from_record(
                keys::login_email(&account, "nologin@swim.test"),
                &json!({"guardian_id": "nologin"}),
            )
            .unwrap(),
            Condition::Absent,
        )
        .await
        .unwrap();
    app.post(
        &app.at("office/guardians/nologin/password-reset"),
        Some(&owner),
        json!({"channel": "email"}),
    )
    .await
    .expect_problem(404, "not_found");
    app.post(
        &app.at("portal/password/forgot"),
        None,
        json!({"email": "nologin@swim.test"}),
    )
    .await
    .expect(202);
    assert_eq!(outbox(&app).await.len(), 4);
}

async fn purge_removes_expired_sessions_and_links_and_counts_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    create_staff(&app, &owner, "fred", json!({})).await;
    // Expiring: two idle sessions of fred and two reset links. Lasting: a persistent session.
    app.staff_login("fred", FRED_PASSWORD).await.expect(200);
    app.staff_login("fred", FRED_PASSWORD).await.expect(200);
    let persistent = app.persistent_staff_token("fred", FRED_PASSWORD).await;
    forgot_staff(&app, "fred").await;
    forgot_staff(&app, "fred").await;
    // Nothing has expired yet.
    assert_eq!(
        app.post("/_dev/purge", None, json!({})).await.expect(200),
        &json!({"deleted": 0})
    );

    // Two hours on, the owner's session (kept alive) and a fresh link must stay.
    app.advance_clock(2 * 3600).await;
    let owner = app.owner_token().await;
    let live = forgot_staff(&app, "fred").await;
    let r = app.post("/_dev/purge", None, json!({})).await;
    // fred's 2 idle sessions, the owner's first session and the 2 old links.
    assert_eq!(r.expect(200), &json!({"deleted": 5}));
    assert_eq!(
        app.post("/_dev/purge", None, json!({})).await.expect(200),
        &json!({"deleted": 0})
    );
    app.get(&app.at("session"), Some(&owner)).await.expect(200);
    app.get(&app.at("session"), Some(&persistent))
        .await
        .expect(200);
    app.get(&app.at(&format!("password/reset/{live}")), None)
        .await
        .expect(200);
}
