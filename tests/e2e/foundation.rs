//! Foundation over HTTP, on both stores: tenant, staff login and lockout, sessions (idle,
//! persistent, logout, cross-account, tampered tokens), terms, settings, audit, errors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::both_stores;
use crate::support::app::{Backend, OWNER_PASSWORD, TestApp};

both_stores!(
    tenant_info_and_unknown_accounts,
    staff_login_answers_the_contract,
    unknown_user_and_wrong_password_look_the_same,
    five_failures_lock_the_username_for_fifteen_minutes,
    a_success_resets_the_failure_count,
    idle_sessions_end_after_an_hour_and_gets_do_not_extend_them,
    persistent_sessions_never_idle_out,
    logout_ends_the_session_at_once,
    tokens_never_cross_accounts,
    tampered_tokens_are_refused,
    terms_gate_office_routes_until_accepted,
    settings_are_validated_and_update_the_login_warnings,
    branding_colours_are_refused_below_four_and_a_half_to_one,
    audit_lists_newest_first_with_a_cursor,
    bad_requests_get_problem_documents,
);

async fn tenant_info_and_unknown_accounts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let info = app.get("/a/swim", None).await;
    assert_eq!(
        info.expect(200),
        &json!({
            "account": "swim",
            "business_name": "swim swim school",
            "customer_signup_enabled": true,
            "email_validation_required": true,
            "sms_enabled": false
        })
    );
    app.get("/a/nowhere", None)
        .await
        .expect_problem(404, "account_not_found");
    app.get("/a/Not_Valid", None)
        .await
        .expect_problem(404, "account_not_found");
    app.post(
        "/a/nowhere/staff/login",
        None,
        json!({"username": "a", "password": "b"}),
    )
    .await
    .expect_problem(404, "account_not_found");
    app.get("/a/nowhere/session", None)
        .await
        .expect_problem(404, "account_not_found");
    // An existing account without a token is a token problem.
    app.get("/a/swim/session", None)
        .await
        .expect_problem(401, "unauthenticated");
    // A second tenant with the same account name is refused.
    let again = app
        .post(
            "/_dev/tenants",
            None,
            json!({"account": "swim", "business_name": "x", "owner": {
                "username": "o", "password": OWNER_PASSWORD, "first_name": "a", "last_name": "b"}}),
        )
        .await;
    again.expect_problem(409, "account_exists");
}

async fn staff_login_answers_the_contract(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let login = app.staff_login("  OWNER ", OWNER_PASSWORD).await;
    let body = login.expect(200);
    assert!(body["token"].as_str().unwrap().len() > 40);
    assert_eq!(body["session"]["persistent"], false);
    assert_eq!(body["session"]["idle_timeout_seconds"], 3600);
    assert!(body["session"]["id"].is_string());
    let staff = &body["staff"];
    assert_eq!(staff["username"], "owner");
    assert_eq!(staff["first_name"], "Olive");
    assert_eq!(staff["email"], "owner@swim.test");
    assert_eq!(staff["is_owner"], true);
    assert_eq!(
        staff["permissions"],
        json!({"staff": "full", "families": "full", "settings": "full"})
    );
    assert!(staff.get("password_hash").is_none());
    assert_eq!(body["terms"]["accepted"], false);
    assert!(body["terms"]["current_version"].is_string());
    assert_eq!(
        body["warnings"]["missing_settings"],
        json!(["business_email", "location_email", "location_phone"])
    );
    assert!(!login.body.to_string().contains("argon2"));
    let token = body["token"].as_str().unwrap();
    let session = app.get(&app.at("session"), Some(token)).await;
    let s = session.expect(200);
    assert_eq!(s["kind"], "staff");
    assert_eq!(s["subject_id"], staff["id"]);
    assert_eq!(s["persistent"], false);
    assert!(s["idle_expires_at"].as_str().unwrap().ends_with('Z'));
}

async fn unknown_user_and_wrong_password_look_the_same(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let wrong = app.staff_login("owner", "Wrong-Passw0rd!").await;
    let unknown = app.staff_login("nobody", "Wrong-Passw0rd!").await;
    wrong.expect_problem(401, "invalid_credentials");
    unknown.expect_problem(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body);
    app.staff_login("", "")
        .await
        .expect_problem(401, "invalid_credentials");
    let token = app.owner_token().await;
    // An empty username is no attempt on anyone and is not audited.
    let actions = app.audit_actions(&token).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "staff.login_failed")
            .count(),
        2
    );
}

async fn five_failures_lock_the_username_for_fifteen_minutes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..5 {
        app.staff_login("Owner", "Wrong-Passw0rd!")
            .await
            .expect_problem(401, "invalid_credentials");
    }
    let locked = app.staff_login("owner", OWNER_PASSWORD).await;
    locked.expect_problem(429, "too_many_attempts");
    let retry: i64 = locked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    // Unknown usernames lock the same way, so the lock reveals nothing.
    for _ in 0..5 {
        app.staff_login("ghost", "Wrong-Passw0rd!")
            .await
            .expect_problem(401, "invalid_credentials");
    }
    app.staff_login("ghost", "Wrong-Passw0rd!")
        .await
        .expect_problem(429, "too_many_attempts");
    app.advance_clock(14 * 60).await;
    app.staff_login("owner", OWNER_PASSWORD)
        .await
        .expect_problem(429, "too_many_attempts");
    app.advance_clock(61).await;
    app.staff_login("owner", OWNER_PASSWORD).await.expect(200);
}

async fn a_success_resets_the_failure_count(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..4 {
        app.staff_login("owner", "Wrong-Passw0rd!")
            .await
            .expect_problem(401, "invalid_credentials");
    }
    app.staff_login("owner", OWNER_PASSWORD).await.expect(200);
    for _ in 0..4 {
        app.staff_login("owner", "Wrong-Passw0rd!")
            .await
            .expect_problem(401, "invalid_credentials");
    }
    app.staff_login("owner", OWNER_PASSWORD).await.expect(200);
    // Failures older than 15 minutes do not count towards a lock.
    for _ in 0..4 {
        app.staff_login("owner", "Wrong-Passw0rd!")
            .await
            .expect_problem(401, "invalid_credentials");
    }
    app.advance_clock(16 * 60).await;
    app.staff_login("owner", "Wrong-Passw0rd!")
        .await
        .expect_problem(401, "invalid_credentials");
    app.staff_login("owner", OWNER_PASSWORD).await.expect(200);
}

async fn idle_sessions_end_after_an_hour_and_gets_do_not_extend_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.owner_token().await; // accepting the terms is the last activity
    app.advance_clock(3000).await;
    app.get(&app.at("session"), Some(&token)).await.expect(200);
    app.get(&app.at("office/settings"), Some(&token))
        .await
        .expect(200);
    // The clock is real time plus the offset: leave slack for a slow test machine.
    app.advance_clock(570).await;
    app.get(&app.at("session"), Some(&token)).await.expect(200);
    app.advance_clock(31).await;
    app.get(&app.at("session"), Some(&token))
        .await
        .expect_problem(401, "unauthenticated");

    // A data-submitting request moves the deadline.
    let token = app.owner_token().await;
    app.advance_clock(3000).await;
    app.patch(
        &app.at("office/settings"),
        Some(&token),
        json!({"business_name": "Swim Co"}),
    )
    .await
    .expect(200);
    app.advance_clock(3000).await;
    app.get(&app.at("session"), Some(&token)).await.expect(200);
    app.advance_clock(601).await;
    app.get(&app.at("session"), Some(&token))
        .await
        .expect_problem(401, "unauthenticated");
}

async fn persistent_sessions_never_idle_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let login = app
        .post(
            &app.at("staff/login"),
            None,
            json!({"username": "owner", "password": OWNER_PASSWORD, "stay_logged_in": true}),
        )
        .await;
    let body = login.expect(200);
    assert_eq!(body["session"]["persistent"], true);
    assert_eq!(body["session"]["idle_timeout_seconds"], Value::Null);
    let token = body["token"].as_str().unwrap().to_owned();
    app.advance_clock(30 * 24 * 3600).await;
    let s = app.get(&app.at("session"), Some(&token)).await;
    assert_eq!(s.expect(200)["idle_expires_at"], Value::Null);
    assert_eq!(s.body["persistent"], true);
    app.post(&app.at("logout"), Some(&token), json!({}))
        .await
        .expect(204);
    app.get(&app.at("session"), Some(&token))
        .await
        .expect_problem(401, "unauthenticated");
}

async fn logout_ends_the_session_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.owner_token().await;
    let b = app.owner_token().await;
    app.post(&app.at("logout"), Some(&a), json!({}))
        .await
        .expect(204);
    app.get(&app.at("session"), Some(&a))
        .await
        .expect_problem(401, "unauthenticated");
    app.post(&app.at("logout"), Some(&a), json!({}))
        .await
        .expect_problem(401, "unauthenticated");
    // Other sessions of the same user live on.
    app.get(&app.at("session"), Some(&b)).await.expect(200);
}

async fn tokens_never_cross_accounts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("gym", "owner").await;
    let swim = app.owner_token().await;
    app.get("/a/gym/session", Some(&swim))
        .await
        .expect_problem(401, "unauthenticated");
    app.get("/a/gym/office/settings", Some(&swim))
        .await
        .expect_problem(401, "unauthenticated");
    app.get("/a/swim/session", Some(&swim)).await.expect(200);
}

fn forge(token: &str, edit: impl Fn(&mut Value), header: Option<&str>) -> String {
    let mut parts = token.split('.');
    let (h, p, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    edit(&mut payload);
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap());
    match header {
        Some(new_header) => format!("{}.{p}.", URL_SAFE_NO_PAD.encode(new_header)),
        None => format!("{h}.{p}.{s}"),
    }
}

async fn tampered_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_tenant("gym", "owner").await;
    let token = app.owner_token().await;
    let url = app.at("session");
    let alg_none = forge(&token, |_| {}, Some(r#"{"alg":"none","typ":"JWT"}"#));
    app.get(&url, Some(&alg_none))
        .await
        .expect_problem(401, "unauthenticated");
    let other_subject = forge(&token, |p| p["sub"] = json!("someone-else"), None);
    app.get(&url, Some(&other_subject))
        .await
        .expect_problem(401, "unauthenticated");
    let other_account = forge(&token, |p| p["acct"] = json!("gym"), None);
    app.get("/a/gym/session", Some(&other_account))
        .await
        .expect_problem(401, "unauthenticated");
    let mut flipped = token.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    app.get(&url, Some(&flipped))
        .await
        .expect_problem(401, "unauthenticated");
    app.get(&url, Some("not-a-token"))
        .await
        .expect_problem(401, "unauthenticated");
    app.get(&url, Some(&token)).await.expect(200);
}

async fn terms_gate_office_routes_until_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let login = app.staff_login("owner", OWNER_PASSWORD).await;
    let token = login.body["token"].as_str().unwrap().to_owned();
    let version = login.body["terms"]["current_version"]
        .as_str()
        .unwrap()
        .to_owned();
    app.get(&app.at("office/settings"), Some(&token))
        .await
        .expect_problem(403, "terms_not_accepted");
    app.get(&app.at("office/audit"), Some(&token))
        .await
        .expect_problem(403, "terms_not_accepted");
    app.post(
        &app.at("staff/terms/accept"),
        Some(&token),
        json!({"version": "1999-01"}),
    )
    .await
    .expect_problem(409, "terms_version_mismatch");
    app.post(&app.at("staff/terms/accept"), Some(&token), json!({}))
        .await
        .expect_problem(422, "validation_failed");
    app.post(
        &app.at("staff/terms/accept"),
        Some(&token),
        json!({"version": version, "newsletter_opt_in": true}),
    )
    .await
    .expect(204);
    app.get(&app.at("office/settings"), Some(&token))
        .await
        .expect(200);
    let audit = app.get(&app.at("office/audit"), Some(&token)).await;
    let entry = audit.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "terms.accepted")
        .unwrap()
        .clone();
    assert_eq!(entry["details"]["newsletter_opt_in"], true);
    assert_eq!(entry["actor"]["kind"], "staff");
    // A new platform version must be accepted again, in sessions already open too.
    app.put("/_dev/terms", None, json!({"version": "2027-01"}))
        .await
        .expect(204);
    app.get(&app.at("office/settings"), Some(&token))
        .await
        .expect_problem(403, "terms_not_accepted");
    let again = app.staff_login("owner", OWNER_PASSWORD).await;
    assert_eq!(
        again.body["terms"],
        json!({"current_version": "2027-01", "accepted": false})
    );
    app.post(
        &app.at("staff/terms/accept"),
        Some(&token),
        json!({"version": "2027-01"}),
    )
    .await
    .expect(204);
    app.get(&app.at("office/settings"), Some(&token))
        .await
        .expect(200);
}

async fn settings_are_validated_and_update_the_login_warnings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.owner_token().await;
    let bad = app
        .patch(
            &app.at("office/settings"),
            Some(&token),
            json!({"business_email": "not-an-email", "location_phone": "12", "business_name": " ",
                   "custom_fields": [{"key": "", "label": "x"}]}),
        )
        .await;
    bad.expect_problem(422, "validation_failed");
    let fields: Vec<String> = bad.field_errors().into_iter().map(|(f, _)| f).collect();
    for f in [
        "business_email",
        "location_phone",
        "business_name",
        "custom_fields[0].key",
    ] {
        assert!(fields.contains(&f.to_owned()), "{f} in {fields:?}");
    }
    // Nothing changed.
    let before = app.get(&app.at("office/settings"), Some(&token)).await;
    assert_eq!(before.body["business_email"], Value::Null);
    let ok = app
        .patch(
            &app.at("office/settings"),
            Some(&token),
            json!({"business_email": "Desk@Swim.test", "location_email": "pool@swim.test",
                   "location_phone": "(555) 123-4567", "sms_enabled": true, "sms_credits": 999,
                   "custom_fields": [{"key": "medical", "label": "Medical notes", "required": true}]}),
        )
        .await;
    let s = ok.expect(200);
    assert_eq!(s["business_email"], "Desk@Swim.test");
    assert_eq!(s["location_phone"], "+15551234567");
    assert_eq!(s["sms_enabled"], true);
    assert_eq!(
        s["sms_credits"], 0,
        "credits are not writable through settings"
    );
    assert_eq!(s["custom_fields"][0]["key"], "medical");
    let login = app.staff_login("owner", OWNER_PASSWORD).await;
    assert_eq!(login.body["warnings"]["missing_settings"], json!([]));
    app.patch(
        &app.at("office/settings"),
        Some(&token),
        json!({"location_email": null}),
    )
    .await
    .expect(200);
    let login = app.staff_login("owner", OWNER_PASSWORD).await;
    assert_eq!(
        login.body["warnings"]["missing_settings"],
        json!(["location_email"])
    );
    let info = app.get("/a/swim", None).await;
    assert_eq!(info.body["sms_enabled"], true);
}

async fn audit_lists_newest_first_with_a_cursor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.owner_token().await;
    for i in 0..3 {
        app.patch(
            &app.at("office/settings"),
            Some(&token),
            json!({"business_name": format!("Swim {i}")}),
        )
        .await
        .expect(200);
    }
    let first = app
        .get(&format!("{}?limit=2", app.at("office/audit")), Some(&token))
        .await;
    let body = first.expect(200).clone();
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert!(entries[0]["at"].as_str().unwrap() >= entries[1]["at"].as_str().unwrap());
    assert_eq!(entries[0]["action"], "settings.updated");
    let cursor = body["next_cursor"].as_str().unwrap();
    let mut seen = entries.len();
    let mut cursor = Some(cursor.to_owned());
    while let Some(c) = cursor {
        let page = app
            .get(
                &format!("{}?limit=2&cursor={c}", app.at("office/audit")),
                Some(&token),
            )
            .await;
        let page = page.expect(200).clone();
        seen += page["entries"].as_array().unwrap().len();
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    let all = app.audit_actions(&token).await;
    assert_eq!(seen, all.len());
    for action in ["staff.login", "terms.accepted", "settings.updated"] {
        assert!(all.iter().any(|a| a == action), "{action} in {all:?}");
    }
    app.get(
        &format!("{}?cursor=%%%", app.at("office/audit")),
        Some(&token),
    )
    .await
    .expect_problem(400, "malformed_request");
    app.get(&format!("{}?limit=0", app.at("office/audit")), Some(&token))
        .await
        .expect_problem(400, "malformed_request");
    app.get(
        &format!("{}?limit=abc", app.at("office/audit")),
        Some(&token),
    )
    .await
    .expect_problem(400, "malformed_request");
}

async fn bad_requests_get_problem_documents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = app.url(&app.at("staff/login"));
    let raw = |body: &'static str| {
        app.client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = raw("{not json").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "malformed_request");
    assert_eq!(body["status"], 400);
    assert!(body["type"].is_string() && body["title"].is_string() && body["detail"].is_string());
    let r = raw(r#"{"username": 5, "password": "x"}"#).await.unwrap();
    assert_eq!(r.status(), 400);
    let big = "x".repeat(17 * 1024);
    app.post(
        &app.at("staff/login"),
        None,
        json!({"username": big, "password": "x"}),
    )
    .await
    .expect_problem(413, "payload_too_large");
    app.get("/a/swim/no-such-route", None)
        .await
        .expect_problem(404, "not_found");
    app.request(reqwest::Method::DELETE, &app.at("session"), None, None)
        .await
        .expect_problem(405, "method_not_allowed");
}

async fn branding_colours_are_refused_below_four_and_a_half_to_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.owner_token().await;
    let settings = app.at("office/settings");
    let shown = app.get(&settings, Some(&token)).await;
    assert_eq!(
        shown.expect(200)["branding"],
        json!({"logo_url": null, "primary_color": null, "accent_color": null})
    );
    let ok = app
        .patch(
            &settings,
            Some(&token),
            json!({"branding": {"primary_color": "#1A4D8F", "accent_color": "#FFFFFF",
                                "logo_url": "https://cdn.swim.test/logo.png"}}),
        )
        .await;
    assert_eq!(
        ok.expect(200)["branding"],
        json!({"logo_url": "https://cdn.swim.test/logo.png", "primary_color": "#1a4d8f",
               "accent_color": "#ffffff"})
    );
    // A pair below 4.5:1 (also with one colour already stored) is refused and changes nothing.
    let low = app
        .patch(
            &settings,
            Some(&token),
            json!({"branding": {"accent_color": "#3366aa"}, "business_name": "Renamed"}),
        )
        .await;
    low.expect_problem(422, "validation_failed");
    assert_eq!(
        low.field_errors(),
        vec![(
            "branding.accent_color".to_owned(),
            "insufficient_contrast".to_owned()
        )]
    );
    let bad = app
        .patch(
            &settings,
            Some(&token),
            json!({"branding": {"primary_color": "blue", "logo_url": "javascript:alert(1)"}}),
        )
        .await;
    bad.expect_problem(422, "validation_failed");
    let mut fields = bad.field_errors();
    fields.sort();
    assert_eq!(
        fields,
        vec![
            ("branding.logo_url".to_owned(), "invalid".to_owned()),
            ("branding.primary_color".to_owned(), "invalid".to_owned()),
        ]
    );
    let after = app.get(&settings, Some(&token)).await;
    assert_eq!(after.expect(200)["branding"]["accent_color"], "#ffffff");
    assert_ne!(after.body["business_name"], "Renamed");
    // null clears a field.
    let cleared = app
        .patch(
            &settings,
            Some(&token),
            json!({"branding": {"logo_url": null}}),
        )
        .await;
    assert_eq!(cleared.expect(200)["branding"]["logo_url"], Value::Null);
}
