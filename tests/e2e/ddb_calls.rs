//! DynamoDB requests per route, counted at the SDK boundary (an interceptor on the client)
//! against moto: every route of the contract on its main (successful) path, plus the flows the
//! performance table names apart (a staff login of a user-group member, the SMS reset).
//!
//! Each count is asserted against its bound in [`BUDGET`], so a regression fails the test
//! command; the bound is today's count, the floor the least a flow can do and `why` what the
//! requests are. Written to `target/ddb-calls.json` (count, operations, floor and reason per
//! route), which `scripts/bench` reports.

use std::collections::BTreeMap;
use std::sync::Arc;

use portal_aws::{CallCounter, DynamoStore};
use serde_json::{Value, json};

use crate::secondary::{SECONDARY_PASSWORD, last_token_to};
use crate::signup::{GUARDIAN_PASSWORD, signup_body};
use crate::support::app::{OWNER_PASSWORD, Reply, TestApp, six_digit_code};
use crate::support::aws::{sdk_config, unique};

/// (route or flow, bound = today's count, floor, what the requests are).
const BUDGET: &[(&str, usize, usize, &str)] = &[
    ("GET /a/{account}", 1, 1, "GetItem tenant"),
    (
        "POST /a/{account}/staff/login",
        3,
        3,
        "BatchGet(tenant, terms, lock, username copy of the record); reserve the lockout slot (the contract's parallel limit needs a conditional write before argon2); one transaction (session, audit, the slot's settlement)",
    ),
    (
        "POST /a/{account}/staff/login (user-group member)",
        3,
        3,
        "as the owner: the group's levels are copied onto the staff record (groups never change)",
    ),
    (
        "POST /a/{account}/staff/terms/accept",
        2,
        2,
        "BatchGet(session, staff, terms, tenant); one transaction (staff + login copy, audit, idle deadline)",
    ),
    (
        "POST /a/{account}/logout",
        2,
        2,
        "BatchGet(session, subject, tenant); DeleteItem session",
    ),
    (
        "GET /a/{account}/session",
        1,
        1,
        "BatchGet(session, subject, tenant)",
    ),
    (
        "GET /a/{account}/office/user-groups",
        2,
        2,
        "BatchGet(session, staff, terms, tenant); Query groups",
    ),
    (
        "POST /a/{account}/office/user-groups",
        2,
        2,
        "BatchGet(session, staff, terms, tenant); one transaction (group, audit, idle deadline)",
    ),
    (
        "GET /a/{account}/office/staff",
        3,
        2,
        "BatchGet(session, staff, terms, tenant); Query staff; Query groups (for records without copied levels)",
    ),
    (
        "POST /a/{account}/office/staff",
        3,
        3,
        "BatchGet(session, staff, terms, tenant); GetItem group (its levels, copied onto the record); one transaction",
    ),
    (
        "GET /a/{account}/office/staff/{staff_id}",
        1,
        1,
        "BatchGet(session, staff, terms, tenant, target)",
    ),
    (
        "PUT /a/{account}/office/staff/{staff_id}/permissions",
        3,
        3,
        "BatchGet(session, staff, terms, tenant, target); GetItem group; one transaction",
    ),
    (
        "GET /a/{account}/office/settings",
        1,
        1,
        "BatchGet(session, staff, terms, tenant, credits)",
    ),
    (
        "PATCH /a/{account}/office/settings",
        2,
        2,
        "BatchGet(session, staff, terms, tenant, credits); one transaction (tenant, audit, idle deadline)",
    ),
    (
        "GET /a/{account}/office/audit",
        2,
        2,
        "BatchGet(session, staff, terms, tenant); Query audit",
    ),
    (
        "POST /a/{account}/portal/login",
        4,
        4,
        "BatchGet(tenant, policy catalog, lock, login guard); reserve the slot while the guardian partition is queried (record, links: the primary's link carries the family's accepted versions); one transaction (session, audit, settlement)",
    ),
    (
        "POST /a/{account}/portal/session/family",
        3,
        2,
        "BatchGet(session, guardian, tenant, membership, family, catalog); GetItem link of the new family; idle deadline",
    ),
    (
        "GET /a/{account}/portal/families",
        2,
        2,
        "BatchGet(session, guardian, tenant, ...); Query family links",
    ),
    (
        "GET /a/{account}/portal/family",
        4,
        3,
        "BatchGet(session, guardian, tenant, membership, family, catalog); Query acceptances; Query links; BatchGet guardians",
    ),
    (
        "POST /a/{account}/portal/age-confirmation",
        2,
        2,
        "BatchGet(session, guardian, tenant); one transaction (guardian, audit, idle deadline)",
    ),
    (
        "POST /a/{account}/portal/signup/email",
        2,
        2,
        "BatchGet(tenant, primary guard, send log); one transaction (allowance, code)",
    ),
    (
        "POST /a/{account}/portal/signup/email/verify",
        2,
        2,
        "BatchGet(tenant, code); one transaction (code used, proof stored)",
    ),
    (
        "POST /a/{account}/portal/signup",
        2,
        2,
        "BatchGet(tenant, catalog, proof, primary guard, login guard, lock); one transaction",
    ),
    (
        "GET /a/{account}/portal/policies",
        2,
        2,
        "BatchGet(session, guardian, tenant, membership, family, catalog); Query acceptances",
    ),
    (
        "POST /a/{account}/portal/policies/accept",
        4,
        3,
        "BatchGet(session, ..., tenant, catalog); Query acceptances; one transaction; PutItem setup mark (first completion only)",
    ),
    (
        "POST /a/{account}/office/policies",
        2,
        2,
        "BatchGet(session, staff, terms, tenant, catalog); one transaction (policy, catalog, audit, idle deadline)",
    ),
    (
        "PUT /a/{account}/office/policies/{policy_id}",
        2,
        2,
        "BatchGet(session, staff, terms, tenant, catalog, policy); one transaction",
    ),
    (
        "GET /a/{account}/office/families/{family_id}",
        4,
        3,
        "BatchGet(session, staff, terms, tenant, family, catalog); Query family links; BatchGet guardians; Query acceptances",
    ),
    (
        "POST /a/{account}/office/families/{family_id}/policies/{policy_id}/manual-accept",
        3,
        3,
        "BatchGet(session, staff, terms, tenant, family, policy, catalog); GetItem the primary's link (key from the family record); one transaction (acceptance, the link's accepted versions, audit, idle deadline)",
    ),
    (
        "POST /a/{account}/portal/invitations",
        4,
        3,
        "BatchGet(session, guardian, membership, family, catalog, tenant); Query acceptances; BatchGet(login guard, send log); one transaction (invitation, link, audit, allowance, idle deadline)",
    ),
    (
        "GET /a/{account}/portal/invitations",
        4,
        3,
        "BatchGet(session, ..., tenant); Query acceptances; Query family partition; BatchGet guardians",
    ),
    (
        "GET /a/{account}/portal/invitation-links/{token}",
        2,
        2,
        "BatchGet(tenant, token pointer, catalog); BatchGet(invitation, family, login guard, lock)",
    ),
    (
        "DELETE /a/{account}/portal/invitations/{invitation_id}",
        4,
        3,
        "BatchGet(session, ..., tenant); Query acceptances; GetItem invitation; one transaction",
    ),
    (
        "POST /a/{account}/portal/invitations/{invitation_id}/resend",
        6,
        4,
        "BatchGet(session, ..., tenant); Query acceptances; GetItem invitation; send log read and written before the mail (the limit must hold before sending); one transaction after the mail",
    ),
    (
        "POST /a/{account}/portal/invitations/accept",
        4,
        3,
        "BatchGet(tenant, pointer, catalog); BatchGet(invitation, family, login guard, lock); one transaction (accept, login, session, audit) ‖ Query acceptances",
    ),
    (
        "DELETE /a/{account}/portal/secondary-users/{user_id}",
        5,
        4,
        "BatchGet(session, guardian, tenant, membership, family, catalog); Query acceptances (family gate); BatchGet(link, both guardians, tenant); one transaction; the delivered notices removed",
    ),
    (
        "DELETE /a/{account}/office/families/{family_id}/secondary-users/{user_id}",
        4,
        3,
        "BatchGet(session, staff, terms, tenant, family); BatchGet(link, both guardians, tenant); one transaction (link deletes, audit, two queued notices, idle deadline); one transaction removing the delivered notices",
    ),
    (
        "PUT /a/{account}/office/families/{family_id}/primary-guardian",
        8,
        5,
        "BatchGet(session, staff, terms, tenant, family, catalog); Query links; BatchGet(guardians, tenant); one decision transaction; Query invitations; clean-up batches (at most 50 writes each); delivered notices removed; Query acceptances",
    ),
    (
        "POST /a/{account}/staff/password/forgot",
        3,
        3,
        "BatchGet(tenant, username copy); GetItem send log (keyed by the staff member's email); one transaction (send log, link, audit)",
    ),
    (
        "POST /a/{account}/portal/password/forgot",
        3,
        3,
        "BatchGet(tenant, login guard, send log); GetItem guardian; one transaction (send log, link, audit)",
    ),
    (
        "GET /a/{account}/password/reset/{token}",
        2,
        2,
        "BatchGet(tenant, link); GetItem the user's record (key from the link)",
    ),
    (
        "POST /a/{account}/password/reset",
        3,
        3,
        "BatchGet(tenant, link); GetItem user; one transaction (link, user with the bumped epoch, audit)",
    ),
    (
        "PUT /a/{account}/staff/me/password",
        4,
        4,
        "BatchGet(session, staff, terms, tenant); BatchGet(lock, tenant); reserve; one transaction (staff, audit, settlement, idle deadline)",
    ),
    (
        "PUT /a/{account}/office/staff/{staff_id}/password",
        2,
        2,
        "BatchGet(session, staff, terms, target, tenant, credits); one transaction",
    ),
    (
        "POST /a/{account}/office/staff/{staff_id}/password-reset",
        3,
        3,
        "BatchGet(session, staff, terms, target, tenant, credits); GetItem send log (keyed by the target's address); one transaction",
    ),
    (
        "POST /a/{account}/office/guardians/{guardian_id}/password-reset",
        3,
        3,
        "BatchGet(session, staff, terms, guardian, tenant, credits); GetItem send log (keyed by the phone); one transaction (send log, credit, link, audit, idle deadline)",
    ),
    (
        "PUT /a/{account}/office/guardians/{guardian_id}/password",
        2,
        1,
        "BatchGet(session, staff, terms, tenant); idle deadline (a refused write still counts as activity)",
    ),
];

/// Counts the DynamoDB requests of each measured step.
struct Meter {
    counter: CallCounter,
    measured: BTreeMap<String, (usize, BTreeMap<String, usize>)>,
}

impl Meter {
    async fn step(
        &mut self,
        route: &str,
        request: impl std::future::Future<Output = Reply>,
    ) -> Reply {
        self.counter.reset();
        let reply = request.await;
        let ops = self.counter.snapshot();
        self.measured
            .insert(route.to_owned(), (ops.values().sum(), ops));
        reply
    }
}

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_owned()
}

/// The token after `marker` in the newest message to `to`.
async fn token_after(app: &TestApp, to: &str, marker: &str) -> String {
    let messages = app.messages_to(to).await;
    let body = text(&messages.last().expect("a message")["body"]);
    let at = body.find(marker).expect("a link") + marker.len();
    body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_route() {
    let config = sdk_config().await;
    let counter = CallCounter::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(&config)
        .interceptor(counter.clone())
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), unique("calls"));
    store.ensure_table().await.unwrap();
    let app = TestApp::spawn_custom(Arc::new(store), None).await;
    app.create_tenant("swim", "owner").await;
    app.patch_tenant(json!({"sms_enabled": true, "sms_credits": 10}))
        .await;
    let mut m = Meter {
        counter,
        measured: BTreeMap::new(),
    };
    let a = |rest: &str| app.at(rest);

    // Tenant and staff.
    m.step("GET /a/{account}", app.get(&a(""), None))
        .await
        .expect(200);
    let login = m
        .step(
            "POST /a/{account}/staff/login",
            app.staff_login("owner", OWNER_PASSWORD),
        )
        .await;
    let owner = text(&login.expect(200)["token"]);
    let version = login.body["terms"]["current_version"].clone();
    let owner = &owner;
    m.step(
        "POST /a/{account}/staff/terms/accept",
        app.post(
            &a("staff/terms/accept"),
            Some(owner),
            json!({"version": version}),
        ),
    )
    .await
    .expect(204);
    m.step(
        "GET /a/{account}/session",
        app.get(&a("session"), Some(owner)),
    )
    .await
    .expect(200);
    let group = m
        .step(
            "POST /a/{account}/office/user-groups",
            app.post(
                &a("office/user-groups"),
                Some(owner),
                json!({"name": "Coaches", "permissions": {"staff": "view", "families": "full", "settings": "view"}}),
            ),
        )
        .await;
    let group_id = text(&group.expect(201)["id"]);
    m.step(
        "GET /a/{account}/office/user-groups",
        app.get(&a("office/user-groups"), Some(owner)),
    )
    .await
    .expect(200);
    let coach = m
        .step(
            "POST /a/{account}/office/staff",
            app.post(
                &a("office/staff"),
                Some(owner),
                json!({"username": "coach", "first_name": "Cora", "last_name": "Coach",
                       "email": "coach@swim.test", "phone": "+15550100", "password": OWNER_PASSWORD,
                       "user_group_id": group_id}),
            ),
        )
        .await;
    let coach_id = text(&coach.expect(201)["id"]);
    m.step(
        "GET /a/{account}/office/staff",
        app.get(&a("office/staff"), Some(owner)),
    )
    .await
    .expect(200);
    m.step(
        "GET /a/{account}/office/staff/{staff_id}",
        app.get(&a(&format!("office/staff/{coach_id}")), Some(owner)),
    )
    .await
    .expect(200);
    m.step(
        "PUT /a/{account}/office/staff/{staff_id}/permissions",
        app.put(
            &a(&format!("office/staff/{coach_id}/permissions")),
            Some(owner),
            json!({"advanced_permissions": {"staff": "view"}}),
        ),
    )
    .await
    .expect(200);
    let coach_login = m
        .step(
            "POST /a/{account}/staff/login (user-group member)",
            app.staff_login("coach", OWNER_PASSWORD),
        )
        .await;
    assert_eq!(
        coach_login.expect(200)["staff"]["permissions"]["families"],
        "full"
    );
    let coach_token = text(&coach_login.body["token"]);
    m.step(
        "GET /a/{account}/office/settings",
        app.get(&a("office/settings"), Some(owner)),
    )
    .await
    .expect(200);
    m.step(
        "PATCH /a/{account}/office/settings",
        app.patch(
            &a("office/settings"),
            Some(owner),
            json!({"business_email": "desk@swim.test"}),
        ),
    )
    .await
    .expect(200);
    m.step(
        "GET /a/{account}/office/audit",
        app.get(&a("office/audit?limit=20"), Some(owner)),
    )
    .await
    .expect(200);
    let policy = m
        .step(
            "POST /a/{account}/office/policies",
            app.post(
                &a("office/policies"),
                Some(owner),
                json!({"title": "Waiver", "body": "Text", "required": true}),
            ),
        )
        .await;
    let policy_id = text(&policy.expect(201)["id"]);
    m.step(
        "PUT /a/{account}/office/policies/{policy_id}",
        app.put(
            &a(&format!("office/policies/{policy_id}")),
            Some(owner),
            json!({"title": "Waiver", "body": "Text v2", "required": true}),
        ),
    )
    .await
    .expect(200);

    // Sign-up with email validation (the tenant default).
    let email = "prime@guard.test";
    m.step(
        "POST /a/{account}/portal/signup/email",
        app.post(&a("portal/signup/email"), None, json!({"email": email})),
    )
    .await
    .expect(202);
    let mail = app.messages_to(email).await;
    let code = six_digit_code(mail.last().unwrap()["body"].as_str().unwrap()).unwrap();
    let verified = m
        .step(
            "POST /a/{account}/portal/signup/email/verify",
            app.post(
                &a("portal/signup/email/verify"),
                None,
                json!({"email": email, "code": code}),
            ),
        )
        .await;
    let proof = text(&verified.expect(200)["email_verification_token"]);
    let family = m
        .step(
            "POST /a/{account}/portal/signup",
            app.post(&a("portal/signup"), None, signup_body(email, Some(&proof))),
        )
        .await;
    let primary = text(&family.expect(201)["token"]);
    let primary = &primary;
    let family_id = text(&family.body["family_id"]);
    let guardian_id = text(&family.body["guardian_id"]);
    m.step(
        "GET /a/{account}/portal/policies",
        app.get(&a("portal/policies"), Some(primary)),
    )
    .await
    .expect(200);
    m.step(
        "POST /a/{account}/portal/policies/accept",
        app.post(
            &a("portal/policies/accept"),
            Some(primary),
            json!({"policies": [{"id": policy_id, "version": 2}]}),
        ),
    )
    .await
    .expect(200);
    let relogin = m
        .step(
            "POST /a/{account}/portal/login",
            app.post(
                &a("portal/login"),
                None,
                json!({"email": email, "password": GUARDIAN_PASSWORD}),
            ),
        )
        .await;
    assert_eq!(relogin.expect(200)["setup_complete"], true);
    m.step(
        "GET /a/{account}/portal/families",
        app.get(&a("portal/families"), Some(primary)),
    )
    .await
    .expect(200);
    m.step(
        "GET /a/{account}/portal/family",
        app.get(&a("portal/family"), Some(primary)),
    )
    .await
    .expect(200);
    m.step(
        "POST /a/{account}/portal/session/family",
        app.post(
            &a("portal/session/family"),
            Some(primary),
            json!({"family_id": family_id}),
        ),
    )
    .await
    .expect(200);

    // Invitations.
    let invitations = a("portal/invitations");
    let invite = |to: &'static str| app.post(&invitations, Some(primary), json!({"email": to}));
    let invited = m
        .step(
            "POST /a/{account}/portal/invitations",
            invite("second@guard.test"),
        )
        .await;
    let invitation_id = text(&invited.expect(201)["invitation_id"]);
    m.step(
        "GET /a/{account}/portal/invitations",
        app.get(&a("portal/invitations"), Some(primary)),
    )
    .await
    .expect(200);
    m.step(
        "POST /a/{account}/portal/invitations/{invitation_id}/resend",
        app.post(
            &a(&format!("portal/invitations/{invitation_id}/resend")),
            Some(primary),
            json!({}),
        ),
    )
    .await
    .expect(202);
    let link = last_token_to(&app, "second@guard.test").await;
    m.step(
        "GET /a/{account}/portal/invitation-links/{token}",
        app.get(&a(&format!("portal/invitation-links/{link}")), None),
    )
    .await
    .expect(200);
    let accepted = m
        .step(
            "POST /a/{account}/portal/invitations/accept",
            crate::secondary::accept(&app, &link, json!({})),
        )
        .await;
    let second_id = text(&accepted.expect(200)["guardian"]["id"]);
    let second = text(&accepted.body["token"]);
    m.step(
        "POST /a/{account}/portal/age-confirmation",
        app.post(
            &a("portal/age-confirmation"),
            Some(&second),
            json!({"confirmed": true}),
        ),
    )
    .await
    .expect(204);
    let cancelled = invite("third@guard.test").await;
    let cancelled_id = text(&cancelled.expect(201)["invitation_id"]);
    m.step(
        "DELETE /a/{account}/portal/invitations/{invitation_id}",
        app.request(
            http::Method::DELETE,
            &a(&format!("portal/invitations/{cancelled_id}")),
            Some(primary),
            None,
        ),
    )
    .await
    .expect(204);

    // Office views of the family.
    m.step(
        "GET /a/{account}/office/families/{family_id}",
        app.get(&a(&format!("office/families/{family_id}")), Some(owner)),
    )
    .await
    .expect(200);
    m.step(
        "POST /a/{account}/office/families/{family_id}/policies/{policy_id}/manual-accept",
        app.post(
            &a(&format!(
                "office/families/{family_id}/policies/{policy_id}/manual-accept"
            )),
            Some(owner),
            json!({"note": "signed on paper"}),
        ),
    )
    .await
    .expect(200);

    // Revocations: by the primary, by staff, and a change of primary guardian.
    m.step(
        "DELETE /a/{account}/portal/secondary-users/{user_id}",
        app.request(
            http::Method::DELETE,
            &a(&format!("portal/secondary-users/{second_id}")),
            Some(primary),
            None,
        ),
    )
    .await
    .expect(204);
    let (fourth_id, _) = crate::secondary::secondary(&app, primary, "fourth@guard.test").await;
    m.step(
        "DELETE /a/{account}/office/families/{family_id}/secondary-users/{user_id}",
        app.request(
            http::Method::DELETE,
            &a(&format!(
                "office/families/{family_id}/secondary-users/{fourth_id}"
            )),
            Some(owner),
            None,
        ),
    )
    .await
    .expect(204);

    // Passwords.
    m.step(
        "POST /a/{account}/staff/password/forgot",
        app.post(
            &a("staff/password/forgot"),
            None,
            json!({"username": "coach"}),
        ),
    )
    .await
    .expect(202);
    m.step(
        "POST /a/{account}/portal/password/forgot",
        app.post(&a("portal/password/forgot"), None, json!({"email": email})),
    )
    .await
    .expect(202);
    let reset = token_after(&app, email, "reset-password?token=").await;
    m.step(
        "GET /a/{account}/password/reset/{token}",
        app.get(&a(&format!("password/reset/{reset}")), None),
    )
    .await
    .expect(200);
    m.step(
        "POST /a/{account}/password/reset",
        app.post(
            &a("password/reset"),
            None,
            json!({"token": reset, "new_password": GUARDIAN_PASSWORD}),
        ),
    )
    .await
    .expect(204);
    m.step(
        "POST /a/{account}/office/guardians/{guardian_id}/password-reset",
        app.post(
            &a(&format!("office/guardians/{guardian_id}/password-reset")),
            Some(owner),
            json!({"channel": "sms"}),
        ),
    )
    .await
    .expect(202);
    m.step(
        "PUT /a/{account}/office/guardians/{guardian_id}/password",
        app.put(
            &a(&format!("office/guardians/{guardian_id}/password")),
            Some(owner),
            json!({"new_password": SECONDARY_PASSWORD}),
        ),
    )
    .await
    .expect_problem(403, "staff_cannot_set_guardian_password");
    m.step(
        "POST /a/{account}/office/staff/{staff_id}/password-reset",
        app.post(
            &a(&format!("office/staff/{coach_id}/password-reset")),
            Some(owner),
            json!({"channel": "email"}),
        ),
    )
    .await
    .expect(202);
    m.step(
        "PUT /a/{account}/staff/me/password",
        app.put(
            &a("staff/me/password"),
            Some(&coach_token),
            json!({"current_password": OWNER_PASSWORD, "new_password": SECONDARY_PASSWORD}),
        ),
    )
    .await
    .expect(204);
    m.step(
        "PUT /a/{account}/office/staff/{staff_id}/password",
        app.put(
            &a(&format!("office/staff/{coach_id}/password")),
            Some(owner),
            json!({"new_password": OWNER_PASSWORD}),
        ),
    )
    .await
    .expect(204);

    // A change of primary guardian (the primary re-logs in after the reset above).
    let primary = crate::secondary::relogin(&app, email).await;
    let (fifth_id, _) = crate::secondary::secondary(&app, &primary, "fifth@guard.test").await;
    m.step(
        "PUT /a/{account}/office/families/{family_id}/primary-guardian",
        app.put(
            &a(&format!("office/families/{family_id}/primary-guardian")),
            Some(owner),
            json!({"guardian_id": fifth_id}),
        ),
    )
    .await
    .expect(200);
    m.step(
        "POST /a/{account}/logout",
        app.post(&a("logout"), Some(owner), json!({})),
    )
    .await
    .expect(204);

    report_and_check(&m.measured);
}

fn report_and_check(measured: &BTreeMap<String, (usize, BTreeMap<String, usize>)>) {
    let mut report = serde_json::Map::new();
    let mut over = Vec::new();
    for &(route, bound, floor, why) in BUDGET {
        let Some((count, ops)) = measured.get(route) else {
            over.push(format!("{route}: not measured"));
            continue;
        };
        if *count > bound {
            over.push(format!(
                "{route}: {count} requests (bound {bound}): {ops:?}"
            ));
        }
        report.insert(
            route.to_owned(),
            json!({"requests": count, "bound": bound, "floor": floor, "why": why, "operations": ops}),
        );
    }
    let text = serde_json::to_string_pretty(&report).unwrap();
    let out = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/ddb-calls.json");
    std::fs::write(out, &text).unwrap();
    for (route, (count, ops)) in measured {
        println!("{count:>3}  {route}  {ops:?}");
    }
    // Every route of the contract has a budget (and so a measurement).
    for route in portal_http::ROUTES {
        let name = format!("{} {}", route.method, route.path);
        if !BUDGET.iter().any(|(r, ..)| *r == name) {
            over.push(format!("{name}: no budget"));
        }
    }
    assert!(over.is_empty(), "DynamoDB request budgets: {over:#?}");
}
