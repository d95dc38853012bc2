//! Rules of the contract at the edges (issue 15), one test per rule, named by the rule it
//! proves, on both stores wherever a store is involved.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portal_core::messaging::{DeliveryError, Email, Mailer};
use portal_core::store::{Query, Store};
use portal_http::routes::{ROUTES, RouteId};
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::both_stores;
use crate::secondary::{SECONDARY_PASSWORD, accept};
use crate::signup::{GUARDIAN_PASSWORD, sign_up, signup_body};
use crate::support::app::{Backend, OWNER_PASSWORD, TestApp, store_for};
use crate::support::faults::RecordingStore;

both_stores!(
    over_long_ids_in_paths_and_bodies_are_answered_as_unknown_ids_without_reaching_the_store,
    over_long_tokens_are_invalid_tokens_before_any_store_call,
    audit_cursors_not_issued_by_the_endpoint_are_malformed_before_reaching_the_store,
    setup_is_complete_at_signup_when_no_policy_is_required,
    policies_pending_is_never_answered_with_nothing_pending,
    a_failed_invitation_resend_keeps_the_old_link_working,
    a_queued_notice_is_given_up_after_a_bounded_number_of_attempts_with_an_audit_entry,
    a_queued_notice_is_retried_with_backoff_and_delivered_once_when_mail_returns,
);

// ------------------------------------------------------------------ 1. /_dev/clock

fn parse_now(body: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(body["now"].as_str().expect("now"), &Rfc3339).expect("RFC 3339")
}

async fn clock_now(app: &TestApp) -> OffsetDateTime {
    parse_now(
        app.post("/_dev/clock", None, json!({"advance_seconds": 0}))
            .await
            .expect(200),
    )
}

const TEN_YEARS: i64 = 10 * 365 * 86_400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_clock_moves_zero_to_ten_years_in_all_and_refuses_anything_else_unchanged() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let start = clock_now(&app).await;
    let unchanged = |at: OffsetDateTime| {
        let drift = (at - start).whole_seconds();
        assert!((0..60).contains(&drift), "clock moved by {drift} s");
    };
    for bad in [
        json!(-1),
        json!(i64::MIN),
        json!(i64::MAX),
        json!(9_223_372_036_854_775_807_u64),
        json!(u64::MAX),
        json!(TEN_YEARS + 1),
        json!(1.5),
        json!("60"),
        json!(null),
    ] {
        app.post("/_dev/clock", None, json!({"advance_seconds": bad}))
            .await
            .expect_problem(400, "malformed_request");
        unchanged(clock_now(&app).await);
    }
    app.post("/_dev/clock", None, json!({}))
        .await
        .expect_problem(400, "malformed_request");
    unchanged(clock_now(&app).await);

    // Ten years in all, in steps: the step that would pass the bound is refused whole.
    let r = app
        .post(
            "/_dev/clock",
            None,
            json!({"advance_seconds": TEN_YEARS - 86_400}),
        )
        .await;
    let moved = parse_now(r.expect(200));
    assert!(((moved - start).whole_seconds() - (TEN_YEARS - 86_400)).abs() < 60);
    app.post("/_dev/clock", None, json!({"advance_seconds": 86_401}))
        .await
        .expect_problem(400, "malformed_request");
    let still = clock_now(&app).await;
    assert!(
        (still - moved).whole_seconds() < 60,
        "a refused step moved the clock"
    );
    app.post("/_dev/clock", None, json!({"advance_seconds": 86_400}))
        .await
        .expect(200);
    app.post("/_dev/clock", None, json!({"advance_seconds": 1}))
        .await
        .expect_problem(400, "malformed_request");
    let end = clock_now(&app).await;
    assert!(((end - start).whole_seconds() - TEN_YEARS).abs() < 60);

    // The server still works at the far end of its range.
    let login = app.staff_login("owner", OWNER_PASSWORD).await;
    let token = login.expect(200)["token"].as_str().unwrap().to_owned();
    app.get(&app.at("session"), Some(&token)).await.expect(200);
    app.post("/_dev/purge", None, json!({})).await.expect(200);
}

// ------------------------------------------------------------------ 2. lengths at the edge

/// A server with tenant `swim` (sign-up without email validation) on a recorded store.
async fn spawn_recorded(backend: Backend) -> (TestApp, Arc<RecordingStore>) {
    let store = RecordingStore::new(store_for(backend).await);
    let app = TestApp::spawn_on(store.clone()).await;
    app.patch_tenant(json!({"email_validation_required": false}))
        .await;
    (app, store)
}

/// The path of a route of the table with `{account}` filled in and `{param}` replaced by
/// `value` (so the test follows the table if a path is renamed).
fn route_path(app: &TestApp, id: RouteId, param: &str, value: &str) -> String {
    let route = ROUTES.iter().find(|r| r.id == id).expect("a route");
    route
        .path
        .replace("{account}", &app.account)
        .replace(&format!("{{{param}}}"), value)
}

const MARKER: &str = "ZZZZZZZZZZZZZZZZ";

/// Values for one id or token: unknown but plausible, just over the 128-character bound, and
/// far over it (beyond DynamoDB's 1,024-byte sort key).
fn unknown_values(plausible_len: usize) -> [String; 3] {
    [
        "A".repeat(plausible_len),
        "Z".repeat(129),
        "Z".repeat(1_500),
    ]
}

async fn over_long_ids_in_paths_and_bodies_are_answered_as_unknown_ids_without_reaching_the_store(
    backend: Backend,
) {
    let (app, store) = spawn_recorded(backend).await;
    let owner = app.owner_token().await;
    let policy = app.create_policy(&owner, "Photos", false).await;
    let family = sign_up(&app, "p@edges.test").await;
    let primary = family["token"].as_str().unwrap().to_owned();
    let family_id = family["family_id"].as_str().unwrap().to_owned();
    let guardian_id = family["guardian_id"].as_str().unwrap().to_owned();

    // (method, path with `{}` for the id, whose token, body)
    let cases: Vec<(Method, String, &str, Value)> = vec![
        (Method::GET, "office/staff/{}".into(), &owner, Value::Null),
        (
            Method::PUT,
            "office/staff/{}/permissions".into(),
            &owner,
            json!({}),
        ),
        (
            Method::PUT,
            "office/staff/{}/password".into(),
            &owner,
            json!({"new_password": "N3w-Desk!pw"}),
        ),
        (
            Method::POST,
            "office/staff/{}/password-reset".into(),
            &owner,
            json!({"channel": "email"}),
        ),
        (
            Method::POST,
            "office/guardians/{}/password-reset".into(),
            &owner,
            json!({"channel": "email"}),
        ),
        (
            Method::PUT,
            "office/policies/{}".into(),
            &owner,
            json!({"title": "T", "body": "B", "required": false}),
        ),
        (
            Method::GET,
            "office/families/{}".into(),
            &owner,
            Value::Null,
        ),
        (
            Method::POST,
            format!("office/families/{{}}/policies/{policy}/manual-accept"),
            &owner,
            json!({}),
        ),
        (
            Method::POST,
            format!("office/families/{family_id}/policies/{{}}/manual-accept"),
            &owner,
            json!({}),
        ),
        (
            Method::DELETE,
            format!("office/families/{{}}/secondary-users/{guardian_id}"),
            &owner,
            Value::Null,
        ),
        (
            Method::DELETE,
            format!("office/families/{family_id}/secondary-users/{{}}"),
            &owner,
            Value::Null,
        ),
        (
            Method::PUT,
            "office/families/{}/primary-guardian".into(),
            &owner,
            json!({"guardian_id": guardian_id}),
        ),
        (
            Method::DELETE,
            "portal/invitations/{}".into(),
            &primary,
            Value::Null,
        ),
        (
            Method::POST,
            "portal/invitations/{}/resend".into(),
            &primary,
            json!({}),
        ),
        (
            Method::DELETE,
            "portal/secondary-users/{}".into(),
            &primary,
            Value::Null,
        ),
    ];
    for (method, path, token, body) in &cases {
        for value in unknown_values(22) {
            let body = (!body.is_null()).then(|| body.clone());
            let r = app
                .request(
                    method.clone(),
                    &app.at(&path.replace("{}", &value)),
                    Some(token),
                    body,
                )
                .await;
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (404, "not_found"),
                "{method} {path} with a {}-character id: {}",
                value.len(),
                r.body
            );
        }
    }
    // Ids in bodies: a family to switch to, the user group of a new staff member.
    for value in unknown_values(22) {
        app.post(
            &app.at("portal/session/family"),
            Some(&primary),
            json!({"family_id": value}),
        )
        .await
        .expect_problem(403, "forbidden");
        let r = app
            .post(
                &app.at("office/staff"),
                Some(&owner),
                json!({"username": "fred", "first_name": "Fred", "last_name": "Desk",
                       "password": "Fr0nt-Desk!x", "user_group_id": value}),
            )
            .await;
        assert_eq!(
            r.field_errors(),
            [("user_group_id".to_owned(), "not_found".to_owned())],
            "{}",
            r.body
        );
    }
    // The guard still comes first: no token is 401, a guardian on an office route 403.
    let long = "Z".repeat(1_500);
    app.get(&app.at(&format!("office/staff/{long}")), None)
        .await
        .expect_problem(401, "unauthenticated");
    app.get(&app.at(&format!("office/staff/{long}")), Some(&primary))
        .await
        .expect_problem(403, "forbidden");
    // A route that answers the same for any id still does.
    app.put(
        &app.at(&format!("office/guardians/{long}/password")),
        Some(&owner),
        json!({"new_password": "N3w-Desk!pw"}),
    )
    .await
    .expect_problem(403, "staff_cannot_set_guardian_password");

    let leaked = store.seen_containing(MARKER);
    assert!(
        leaked.is_empty(),
        "over-long ids reached the store: {leaked:?}"
    );
}

async fn over_long_tokens_are_invalid_tokens_before_any_store_call(backend: Backend) {
    let (app, store) = spawn_recorded(backend).await;
    let check_reset = |t: &str| route_path(&app, RouteId::CheckResetToken, "token", t);
    let invitation_info = |t: &str| route_path(&app, RouteId::InvitationInfo, "token", t);
    for value in unknown_values(43) {
        let over_long = value.len() > 128;
        let requests = [
            (Method::GET, check_reset(&value), None),
            (Method::GET, invitation_info(&value), None),
            (
                Method::POST,
                app.at("password/reset"),
                Some(json!({"token": value, "new_password": "N3w-Reset!pw"})),
            ),
            (
                Method::POST,
                app.at("portal/invitations/accept"),
                Some(
                    json!({"token": value, "first_name": "Sam", "last_name": "Second",
                            "password": SECONDARY_PASSWORD, "age_confirmed": true}),
                ),
            ),
        ];
        for (method, path, body) in requests {
            let before = store.calls();
            let r = app.request(method.clone(), &path, None, body).await;
            assert_eq!(
                (r.status.as_u16(), r.code()),
                (400, "invalid_token"),
                "{method} {} with a {}-character token: {}",
                path.chars().take(60).collect::<String>(),
                value.len(),
                r.body
            );
            if over_long {
                assert_eq!(
                    store.calls(),
                    before,
                    "{method} {} read the store for a {}-character token",
                    path.chars().take(60).collect::<String>(),
                    value.len()
                );
            }
        }
    }
    // An email verification token is answered like a wrong one.
    app.patch_tenant(json!({"email_validation_required": true}))
        .await;
    for value in unknown_values(43) {
        app.post(
            &app.at("portal/signup"),
            None,
            signup_body("v@edges.test", Some(&value)),
        )
        .await
        .expect_problem(400, "email_not_verified");
    }
    let leaked = store.seen_containing(MARKER);
    assert!(leaked.is_empty(), "tokens reached the store: {leaked:?}");
}

async fn audit_cursors_not_issued_by_the_endpoint_are_malformed_before_reaching_the_store(
    backend: Backend,
) {
    let (app, store) = spawn_recorded(backend).await;
    let owner = app.owner_token().await;
    let audit = |cursor: &str| format!("{}?limit=1&cursor={cursor}", app.at("office/audit"));
    // A cursor the endpoint issued works.
    let issued = app
        .get(&format!("{}?limit=1", app.at("office/audit")), Some(&owner))
        .await
        .expect(200)["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    assert!(
        issued.len() <= 128,
        "issued cursor of {} chars",
        issued.len()
    );
    app.get(&audit(&issued), Some(&owner)).await.expect(200);
    for cursor in [
        // Base64url of text that is no audit position, short and long.
        URL_SAFE_NO_PAD.encode(MARKER),
        URL_SAFE_NO_PAD.encode("Z".repeat(96)),
        URL_SAFE_NO_PAD.encode("Z".repeat(1_125)),
        "Z".repeat(129),
        "Z".repeat(1_500),
    ] {
        app.get(&audit(&cursor), Some(&owner))
            .await
            .expect_problem(400, "malformed_request");
    }
    let leaked = store.seen_containing(MARKER);
    assert!(leaked.is_empty(), "cursors reached the store: {leaked:?}");
}

// ------------------------------------------------------------------ 3. setup with no policy

async fn setup_is_complete_at_signup_when_no_policy_is_required(backend: Backend) {
    let (app, _) = spawn_recorded(backend).await;
    let owner = app.owner_token().await;
    // An optional policy does not hold up the setup.
    app.post(
        &app.at("office/policies"),
        Some(&owner),
        json!({"title": "Photos", "body": "Text", "required": false}),
    )
    .await
    .expect(201);
    let family = sign_up(&app, "p@edges.test").await;
    assert_eq!(family["setup_complete"], true, "{family}");
    assert_eq!(family["pending_policies"], json!([]));
    let primary = family["token"].as_str().unwrap().to_owned();
    let family_id = family["family_id"].as_str().unwrap().to_owned();

    let view = app.get(&app.at("portal/family"), Some(&primary)).await;
    assert_eq!(view.expect(200)["setup_complete"], true);
    assert_eq!(view.body["can_add_students"], true);
    let login = app
        .post(
            &app.at("portal/login"),
            None,
            json!({"email": "p@edges.test", "password": GUARDIAN_PASSWORD}),
        )
        .await;
    assert_eq!(login.expect(200)["setup_complete"], true);
    assert_eq!(login.body["pending_policies"], json!([]));
    let office = app
        .get(
            &app.at(&format!("office/families/{family_id}")),
            Some(&owner),
        )
        .await;
    assert_eq!(office.expect(200)["setup_complete"], true);
    // No policies step: the primary can invite at once.
    app.post(
        &app.at("portal/invitations"),
        Some(&primary),
        json!({"email": "s@edges.test"}),
    )
    .await
    .expect(201);
    // Accepting an empty list still answers the same state.
    let r = app
        .post(
            &app.at("portal/policies/accept"),
            Some(&primary),
            json!({"policies": []}),
        )
        .await;
    assert_eq!(r.expect(200)["setup_complete"], true);
    assert_eq!(r.body["pending_policies"], json!([]));
}

async fn policies_pending_is_never_answered_with_nothing_pending(backend: Backend) {
    let (app, _) = spawn_recorded(backend).await;
    let owner = app.owner_token().await;
    let waiver = app.create_policy(&owner, "Waiver", true).await;
    // With a required policy, the existing behaviour: pending until accepted.
    let family = sign_up(&app, "p@edges.test").await;
    assert_eq!(family["setup_complete"], false);
    assert_eq!(
        family["pending_policies"],
        json!([{"id": waiver, "title": "Waiver", "version": 1}])
    );
    let primary = family["token"].as_str().unwrap().to_owned();
    app.post(
        &app.at("portal/invitations"),
        Some(&primary),
        json!({"email": "s@edges.test"}),
    )
    .await
    .expect_problem(409, "policies_pending");
    let view = app.get(&app.at("portal/family"), Some(&primary)).await;
    assert_eq!(view.expect(200)["setup_complete"], false);

    // The office makes the policy optional: nothing is pending, so the setup is complete.
    app.put(
        &app.at(&format!("office/policies/{waiver}")),
        Some(&owner),
        json!({"title": "Waiver", "body": "Text", "required": false}),
    )
    .await
    .expect(200);
    let view = app.get(&app.at("portal/family"), Some(&primary)).await;
    assert_eq!(view.expect(200)["setup_complete"], true);
    assert_eq!(view.body["can_add_students"], true);
    let login = app
        .post(
            &app.at("portal/login"),
            None,
            json!({"email": "p@edges.test", "password": GUARDIAN_PASSWORD}),
        )
        .await;
    assert_eq!(login.expect(200)["setup_complete"], true);
    assert_eq!(login.body["pending_policies"], json!([]));
    app.post(
        &app.at("portal/invitations"),
        Some(&primary),
        json!({"email": "s@edges.test"}),
    )
    .await
    .expect(201);
}

// ------------------------------------------------------------------ 4. invitation resend

/// A mailer that fails while `down` is set and otherwise keeps what it sends; counts every
/// attempt per recipient.
#[derive(Default)]
struct SwitchableMailer {
    down: AtomicBool,
    sent: Mutex<Vec<Email>>,
    attempts: Mutex<Vec<String>>,
}

impl SwitchableMailer {
    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn sent_to(&self, to: &str) -> Vec<Email> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to == to)
            .cloned()
            .collect()
    }

    /// The token of the last link mailed to `to`.
    fn last_token_to(&self, to: &str) -> String {
        let mail = self.sent_to(to).pop().expect("a mail with a link");
        let at = mail.text.find("token=").expect("a link") + "token=".len();
        mail.text[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    }
}

#[async_trait]
impl Mailer for SwitchableMailer {
    async fn send_email(&self, email: Email) -> Result<(), DeliveryError> {
        self.attempts.lock().unwrap().push(email.to.clone());
        if self.down.load(Ordering::SeqCst) {
            return Err(DeliveryError::Failed("injected mail outage".into()));
        }
        self.sent.lock().unwrap().push(email);
        Ok(())
    }
}

/// A server with tenant `swim` (sign-up without email validation) mailing through `mailer`,
/// on a store the test keeps.
async fn spawn_with_mailer(
    backend: Backend,
    mailer: Arc<SwitchableMailer>,
) -> (TestApp, Arc<dyn Store>) {
    let store = store_for(backend).await;
    let app = TestApp::spawn_custom(store.clone(), Some(mailer)).await;
    app.create_tenant("swim", "owner").await;
    app.patch_tenant(json!({"email_validation_required": false}))
        .await;
    (app, store)
}

/// Signs up a primary guardian and goes through the policies step (with nothing to accept), so
/// the resend and notice tests hold whatever the rule for setup without policies; returns the
/// primary's token.
async fn primary_ready(app: &TestApp, email: &str) -> String {
    let family = sign_up(app, email).await;
    let primary = family["token"].as_str().unwrap().to_owned();
    app.post(
        &app.at("portal/policies/accept"),
        Some(&primary),
        json!({"policies": []}),
    )
    .await
    .expect(200);
    primary
}

async fn a_failed_invitation_resend_keeps_the_old_link_working(backend: Backend) {
    let mailer = Arc::new(SwitchableMailer::default());
    let (app, _) = spawn_with_mailer(backend, mailer.clone()).await;
    let primary = primary_ready(&app, "p@edges.test").await;
    let invited = app
        .post(
            &app.at("portal/invitations"),
            Some(&primary),
            json!({"email": "s@edges.test"}),
        )
        .await;
    let body = invited.expect(201).clone();
    let id = body["invitation_id"].as_str().unwrap().to_owned();
    let old = mailer.last_token_to("s@edges.test");

    mailer.set_down(true);
    app.advance_clock(3600 * 24).await;
    let primary = crate::secondary::relogin(&app, "p@edges.test").await;
    let r = app
        .post(
            &app.at(&format!("portal/invitations/{id}/resend")),
            Some(&primary),
            json!({}),
        )
        .await;
    r.expect_problem(503, "service_unavailable");
    assert!(r.headers.contains_key("retry-after"));
    // Nothing changed: same expiry, and the old link still opens and accepts.
    let listed = app.get(&app.at("portal/invitations"), Some(&primary)).await;
    assert_eq!(
        listed.expect(200)["invitations"][0]["expires_at"],
        body["expires_at"]
    );
    app.get(
        &route_path(&app, RouteId::InvitationInfo, "token", &old),
        None,
    )
    .await
    .expect(200);
    mailer.set_down(false);
    accept(&app, &old, json!({"age_confirmed": true}))
        .await
        .expect(200);

    // A resend that goes out replaces the link.
    let invited = app
        .post(
            &app.at("portal/invitations"),
            Some(&primary),
            json!({"email": "t@edges.test"}),
        )
        .await;
    let id = invited.expect(201)["invitation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = mailer.last_token_to("t@edges.test");
    app.post(
        &app.at(&format!("portal/invitations/{id}/resend")),
        Some(&primary),
        json!({}),
    )
    .await
    .expect(202);
    let fresh = mailer.last_token_to("t@edges.test");
    assert_ne!(fresh, first);
    accept(&app, &first, json!({}))
        .await
        .expect_problem(400, "invalid_token");
    accept(&app, &fresh, json!({"age_confirmed": true}))
        .await
        .expect(200);
}

// ------------------------------------------------------------------ 5. queued notices

/// A family with one secondary user (mail up); returns (primary token, secondary id).
async fn family_with_secondary(app: &TestApp, mailer: &SwitchableMailer) -> (String, String) {
    let primary = primary_ready(app, "p@edges.test").await;
    app.post(
        &app.at("portal/invitations"),
        Some(&primary),
        json!({"email": "s@edges.test"}),
    )
    .await
    .expect(201);
    let token = mailer.last_token_to("s@edges.test");
    let r = accept(app, &token, json!({"age_confirmed": true})).await;
    let secondary = r.expect(200)["guardian"]["id"].as_str().unwrap().to_owned();
    (primary, secondary)
}

impl SwitchableMailer {
    /// How many sends to `to` were tried, failed or not.
    fn attempts_to(&self, to: &str) -> usize {
        self.attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|t| *t == to)
            .count()
    }
}

async fn revoke(app: &TestApp, primary: &str, secondary: &str) {
    app.request(
        Method::DELETE,
        &app.at(&format!("portal/secondary-users/{secondary}")),
        Some(primary),
        None,
    )
    .await
    .expect(204);
}

async fn queued_notices(store: &Arc<dyn Store>) -> usize {
    store
        .query("P#NOTICES", Query::default())
        .await
        .unwrap()
        .items
        .len()
}

async fn purge(app: &TestApp) {
    app.post("/_dev/purge", None, json!({})).await.expect(200);
}

/// Audit entries of `action`, read with a fresh owner login (the clock may have moved).
async fn audit_entries(app: &TestApp, action: &str) -> Vec<Value> {
    let owner = app.owner_token().await;
    let page = app
        .get(
            &format!("{}?limit=100", app.at("office/audit")),
            Some(&owner),
        )
        .await;
    page.expect(200)["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

const NOTICE_ATTEMPTS: usize = 8;

async fn a_queued_notice_is_given_up_after_a_bounded_number_of_attempts_with_an_audit_entry(
    backend: Backend,
) {
    let mailer = Arc::new(SwitchableMailer::default());
    let (app, store) = spawn_with_mailer(backend, mailer.clone()).await;
    let (primary, secondary) = family_with_secondary(&app, &mailer).await;
    mailer.set_down(true);
    let before = mailer.attempts_to("s@edges.test");
    revoke(&app, &primary, &secondary).await;
    assert_eq!(queued_notices(&store).await, 2);
    // The scheduled job runs every two hours for two days; the mail service stays down.
    for _ in 0..24 {
        app.advance_clock(2 * 3600).await;
        purge(&app).await;
    }
    // Each notice was tried a bounded number of times (the first at the revocation).
    assert_eq!(
        mailer.attempts_to("s@edges.test") - before,
        NOTICE_ATTEMPTS,
        "attempts to the revoked user"
    );
    assert_eq!(
        queued_notices(&store).await,
        0,
        "given-up notices stay queued"
    );
    let abandoned = audit_entries(&app, "notice.abandoned").await;
    assert_eq!(abandoned.len(), 2, "{abandoned:?}");
    for entry in &abandoned {
        assert_eq!(entry["actor"]["kind"], "system");
        assert_eq!(entry["details"]["attempts"], NOTICE_ATTEMPTS);
        let text = entry.to_string();
        assert!(
            !text.contains("access"),
            "message text in the audit: {text}"
        );
    }
    let mut to: Vec<&str> = abandoned
        .iter()
        .map(|e| e["details"]["to"].as_str().unwrap())
        .collect();
    to.sort();
    assert_eq!(to, ["p@edges.test", "s@edges.test"]);
    // Later runs find nothing to send.
    mailer.set_down(false);
    app.advance_clock(86_400).await;
    purge(&app).await;
    assert!(
        mailer.sent_to("s@edges.test").len() == 1,
        "only the invitation"
    );
}

async fn a_queued_notice_is_retried_with_backoff_and_delivered_once_when_mail_returns(
    backend: Backend,
) {
    let mailer = Arc::new(SwitchableMailer::default());
    let (app, store) = spawn_with_mailer(backend, mailer.clone()).await;
    let (primary, secondary) = family_with_secondary(&app, &mailer).await;
    mailer.set_down(true);
    let before = mailer.attempts_to("s@edges.test");
    revoke(&app, &primary, &secondary).await;
    assert_eq!(mailer.attempts_to("s@edges.test") - before, 1);
    // Backoff: runs right after a failed attempt do not try again.
    purge(&app).await;
    purge(&app).await;
    assert_eq!(mailer.attempts_to("s@edges.test") - before, 1);
    app.advance_clock(3600).await;
    purge(&app).await;
    assert_eq!(mailer.attempts_to("s@edges.test") - before, 2);
    purge(&app).await;
    assert_eq!(mailer.attempts_to("s@edges.test") - before, 2);
    // The mail service is back: the next due run delivers each notice once.
    mailer.set_down(false);
    for _ in 0..6 {
        app.advance_clock(3600).await;
        purge(&app).await;
    }
    assert_eq!(queued_notices(&store).await, 0);
    let to_secondary = mailer.sent_to("s@edges.test");
    assert_eq!(to_secondary.len(), 2, "the invitation and one notice");
    assert_eq!(mailer.sent_to("p@edges.test").len(), 1, "one notice");
    assert!(audit_entries(&app, "notice.abandoned").await.is_empty());
}
