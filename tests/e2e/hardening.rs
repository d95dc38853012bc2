//! The identity guarantees where attackers and real traffic test them: sessions kept alive for
//! days, parallel guesses, counts far above any transaction limit, and writes whose answer was
//! lost. Each test names the rule it proves; every one runs on both stores.

use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::both_stores;
use crate::passwords::{
    FRED_PASSWORD, NEW_PASSWORD, create_staff, forgot_staff, reset, sms_credits, token_in,
};
use crate::secondary::{SECONDARY_PASSWORD, accept, family_ready, invite, secondary};
use crate::signup::{GUARDIAN_PASSWORD, signup_body};
use crate::support::app::{Backend, OWNER_PASSWORD, TestApp, store_for};
use crate::support::faults::{FaultStore, RecordingStore, StoreFault};

both_stores!(
    a_session_kept_alive_for_days_ends_with_a_reset,
    a_password_change_ends_two_hundred_sessions,
    fifty_parallel_wrong_passwords_check_at_most_five,
    a_hundred_parallel_right_passwords_all_sign_in,
    sign_up_with_an_existing_login_shares_its_lockout,
    current_password_guesses_share_the_login_lockout,
    nobody_sets_the_password_of_a_more_privileged_member,
    a_reset_completes_with_a_hundred_and_fifty_links_outstanding,
    writes_whose_answer_was_lost_are_answered_as_applied,
    parallel_writes_on_one_session_all_commit_and_move_its_idle_deadline,
    a_primary_change_revokes_forty_guardians_and_sixty_invitations,
);

/// Sends `n` copies of one request at once; returns the statuses.
async fn parallel(app: &TestApp, n: usize, path: &str, body: Value) -> Vec<u16> {
    let mut tasks = JoinSet::new();
    for _ in 0..n {
        let client = app.client.clone();
        let url = app.url(path);
        let body = body.clone();
        tasks.spawn(async move {
            client
                .post(url)
                .json(&body)
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
    statuses
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn session_status(app: &TestApp, token: &str) -> u16 {
    app.get(&app.at("session"), Some(token))
        .await
        .status
        .as_u16()
}

async fn a_session_kept_alive_for_days_ends_with_a_reset(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    create_staff(&app, &owner, "fred", json!({})).await;
    let busy = app.staff_token("fred", FRED_PASSWORD).await;
    let persistent = app.persistent_staff_token("fred", FRED_PASSWORD).await;
    // Three days of activity every 50 minutes: the idle deadline keeps moving.
    for _ in 0..(3 * 24 * 60 / 50) {
        app.advance_clock(50 * 60).await;
        app.post(
            &app.at("staff/terms/accept"),
            Some(&busy),
            json!({"version": "x"}),
        )
        .await
        .expect_problem(409, "terms_version_mismatch");
    }
    assert_eq!(session_status(&app, &busy).await, 200);
    assert_eq!(session_status(&app, &persistent).await, 200);
    let token = forgot_staff(&app, "fred").await;
    reset(&app, &token, NEW_PASSWORD).await.expect(204);
    assert_eq!(session_status(&app, &busy).await, 401);
    assert_eq!(session_status(&app, &persistent).await, 401);
    app.staff_login("fred", NEW_PASSWORD).await.expect(200);
}

async fn a_password_change_ends_two_hundred_sessions(backend: Backend) {
    let store = RecordingStore::new(store_for(backend).await);
    let app = TestApp::spawn_on(store.clone()).await;
    let owner = app.owner_token().await;
    create_staff(&app, &owner, "fred", json!({})).await;
    let mut sessions = Vec::new();
    for i in 0..200 {
        let r = app
            .post(
                &app.at("staff/login"),
                None,
                json!({"username": "fred", "password": FRED_PASSWORD, "stay_logged_in": i % 2 == 0}),
            )
            .await;
        sessions.push(r.expect(200)["token"].as_str().unwrap().to_owned());
    }
    let caller = sessions[0].clone();
    store.take();
    let started = std::time::Instant::now();
    app.put(
        &app.at("staff/me/password"),
        Some(&caller),
        json!({"current_password": FRED_PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await
    .expect(204);
    let elapsed = started.elapsed();
    let requests = store.take();
    println!(
        "password change with 200 sessions ({backend:?}): {requests} store requests, {} ms",
        elapsed.as_millis()
    );
    // What one session costs: the count does not grow with the sessions it ends.
    assert!(requests <= 10, "{requests} store requests");
    for token in &sessions {
        assert_eq!(session_status(&app, token).await, 401);
    }
    app.staff_login("fred", NEW_PASSWORD).await.expect(200);
}

async fn fifty_parallel_wrong_passwords_check_at_most_five(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    create_staff(&app, &owner, "fred", json!({})).await;
    let statuses = parallel(
        &app,
        50,
        &app.at("staff/login"),
        json!({"username": "fred", "password": "Wrong-Guess!1"}),
    )
    .await;
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 45, "{statuses:?}");
    // Locked now, even for the right password; an unknown name locks the same way.
    app.staff_login("fred", FRED_PASSWORD)
        .await
        .expect_problem(429, "too_many_attempts");
    let unknown = parallel(
        &app,
        30,
        &app.at("staff/login"),
        json!({"username": "nobody", "password": "Wrong-Guess!1"}),
    )
    .await;
    assert_eq!(count(&unknown, 401), 5, "{unknown:?}");
    assert_eq!(count(&unknown, 429), 25, "{unknown:?}");
    // Guardians too.
    let statuses = parallel(
        &app,
        20,
        &app.at("portal/login"),
        json!({"email": "nobody@guard.test", "password": "Wrong-Guess!1"}),
    )
    .await;
    assert_eq!(count(&statuses, 401), 5, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 15, "{statuses:?}");
}

async fn a_hundred_parallel_right_passwords_all_sign_in(backend: Backend) {
    // moto applies one request at a time (scripts/moto), so it signs in only a few logins a
    // second; 40 at once still keep all five slots busy and dozens waiting.
    let n = match backend {
        Backend::Embedded => 100,
        Backend::Dynamo => 40,
    };
    let app = TestApp::spawn(backend).await;
    let statuses = parallel(
        &app,
        n,
        &app.at("staff/login"),
        json!({"username": "owner", "password": OWNER_PASSWORD}),
    )
    .await;
    assert_eq!(count(&statuses, 200), n, "{statuses:?}");
}

async fn sign_up_with_an_existing_login_shares_its_lockout(backend: Backend) {
    let (app, primary, _, _) = family_ready(backend).await;
    secondary(&app, &primary, "sam@guard.test").await;
    let mut body = signup_body("sam@guard.test", None);
    body["password"] = json!("Wrong-Guess!1");
    body["password_confirmation"] = json!("Wrong-Guess!1");
    for _ in 0..5 {
        app.post(&app.at("portal/signup"), None, body.clone())
            .await
            .expect_problem(409, "email_in_use");
    }
    // The login is locked everywhere, and sign-up with the right password creates nothing.
    app.post(
        &app.at("portal/login"),
        None,
        json!({"email": "sam@guard.test", "password": SECONDARY_PASSWORD}),
    )
    .await
    .expect_problem(429, "too_many_attempts");
    let mut right = signup_body("sam@guard.test", None);
    right["password"] = json!(SECONDARY_PASSWORD);
    right["password_confirmation"] = json!(SECONDARY_PASSWORD);
    app.post(&app.at("portal/signup"), None, right.clone())
        .await
        .expect_problem(429, "too_many_attempts");
    // Parallel guesses through sign-up are held to the same five.
    app.advance_clock(15 * 60 + 1).await;
    let statuses = parallel(&app, 20, &app.at("portal/signup"), body).await;
    assert_eq!(count(&statuses, 409), 5, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 15, "{statuses:?}");
    app.advance_clock(15 * 60 + 1).await;
    app.post(&app.at("portal/signup"), None, right)
        .await
        .expect(201);
}

async fn current_password_guesses_share_the_login_lockout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    create_staff(&app, &owner, "fred", json!({})).await;
    let fred = app.staff_token("fred", FRED_PASSWORD).await;
    for _ in 0..5 {
        app.put(
            &app.at("staff/me/password"),
            Some(&fred),
            json!({"current_password": "Wrong-Guess!1", "new_password": NEW_PASSWORD}),
        )
        .await
        .expect_problem(403, "invalid_credentials");
    }
    app.put(
        &app.at("staff/me/password"),
        Some(&fred),
        json!({"current_password": FRED_PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await
    .expect_problem(429, "too_many_attempts");
    app.staff_login("fred", FRED_PASSWORD)
        .await
        .expect_problem(429, "too_many_attempts");
}

async fn nobody_sets_the_password_of_a_more_privileged_member(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    create_staff(
        &app,
        &owner,
        "hr",
        json!({"advanced_permissions": {"staff": "full"}}),
    )
    .await;
    let boss = create_staff(
        &app,
        &owner,
        "boss",
        json!({"advanced_permissions": {"settings": "full"}}),
    )
    .await;
    let peer = create_staff(
        &app,
        &owner,
        "peer",
        json!({"advanced_permissions": {"staff": "view"}}),
    )
    .await;
    let hr = app.staff_token("hr", FRED_PASSWORD).await;
    let terms = app.staff_login("hr", FRED_PASSWORD).await.body["terms"]["current_version"].clone();
    app.post(
        &app.at("staff/terms/accept"),
        Some(&hr),
        json!({"version": terms}),
    )
    .await
    .expect(204);
    app.put(
        &app.at(&format!("office/staff/{boss}/password")),
        Some(&hr),
        json!({"new_password": NEW_PASSWORD}),
    )
    .await
    .expect_problem(403, "forbidden");
    // Nothing changed: the member still signs in with the old password.
    app.staff_login("boss", FRED_PASSWORD).await.expect(200);
    // A member whose levels are covered can be set.
    app.put(
        &app.at(&format!("office/staff/{peer}/password")),
        Some(&hr),
        json!({"new_password": NEW_PASSWORD}),
    )
    .await
    .expect(204);
}

async fn a_reset_completes_with_a_hundred_and_fifty_links_outstanding(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut owner = app.owner_token().await;
    let fred = create_staff(&app, &owner, "fred", json!({})).await;
    let session = app.staff_token("fred", FRED_PASSWORD).await;
    // Five links an hour (the sending limit), for thirty hours: most expire unpurged.
    let path = app.at(&format!("office/staff/{fred}/password-reset"));
    for hour in 0..30 {
        for _ in 0..5 {
            app.post(&path, Some(&owner), json!({"channel": "email"}))
                .await
                .expect(202);
        }
        if hour < 29 {
            app.advance_clock(3601).await;
            owner = app.owner_token().await;
        }
    }
    let links: Vec<String> = app
        .messages_to("fred@swim.test")
        .await
        .iter()
        .map(token_in)
        .collect();
    assert_eq!(links.len(), 150);
    let (used, others) = links.split_last().unwrap();
    reset(&app, used, NEW_PASSWORD).await.expect(204);
    for token in others.iter().rev().take(4) {
        reset(&app, token, "An0ther-Secret!x")
            .await
            .expect_problem(400, "invalid_token");
    }
    assert_eq!(session_status(&app, &session).await, 401);
    app.staff_login("fred", NEW_PASSWORD).await.expect(200);
}

async fn writes_whose_answer_was_lost_are_answered_as_applied(backend: Backend) {
    let store = FaultStore::new(store_for(backend).await, StoreFault::None);
    let app = TestApp::spawn_on(store.clone()).await;
    app.patch_tenant(
        json!({"email_validation_required": false, "sms_enabled": true, "sms_credits": 3}),
    )
    .await;
    let owner = app.owner_token().await;

    // Sign-up: the family was created; the retry must not answer email_in_use.
    store.set(StoreFault::AppliedThenTimeout(1));
    let family = app
        .post(
            &app.at("portal/signup"),
            None,
            signup_body("lost@guard.test", None),
        )
        .await;
    let family = family.expect(201).clone();
    assert_eq!(
        store.lost_answers.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    let primary = family["token"].as_str().unwrap().to_owned();
    app.post(
        &app.at("portal/login"),
        None,
        json!({"email": "lost@guard.test", "password": GUARDIAN_PASSWORD}),
    )
    .await
    .expect(200);

    // Invitation accept: the secondary user was added; the retry must not answer invalid_token.
    let policies = app.get(&app.at("portal/policies"), Some(&primary)).await;
    let accepted: Vec<Value> = policies.expect(200)["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| json!({"id": p["id"], "version": p["version"]}))
        .collect();
    app.post(
        &app.at("portal/policies/accept"),
        Some(&primary),
        json!({"policies": accepted}),
    )
    .await
    .expect(200);
    let (_, token) = invite(&app, &primary, "late@guard.test").await;
    store.set(StoreFault::AppliedThenTimeout(1));
    accept(&app, &token, json!({"age_confirmed": true}))
        .await
        .expect(200);

    // Reset completion: the password changed and the sessions ended.
    let fred = create_staff(&app, &owner, "fred", json!({"phone": "+15551230001"})).await;
    let session = app.staff_token("fred", FRED_PASSWORD).await;
    let link = forgot_staff(&app, "fred").await;
    store.set(StoreFault::AppliedThenTimeout(1));
    reset(&app, &link, NEW_PASSWORD).await.expect(204);
    assert_eq!(session_status(&app, &session).await, 401);
    app.staff_login("fred", NEW_PASSWORD).await.expect(200);

    // An SMS credit: charged once, however often the request was retried underneath.
    let before = sms_credits(&app, &owner).await;
    store.set(StoreFault::AppliedThenTimeout(1));
    app.post(
        &app.at(&format!("office/staff/{fred}/password-reset")),
        Some(&owner),
        json!({"channel": "sms"}),
    )
    .await
    .expect(202);
    assert_eq!(sms_credits(&app, &owner).await, before - 1);
    store.set(StoreFault::None);
}

async fn a_primary_change_revokes_forty_guardians_and_sixty_invitations(backend: Backend) {
    let (app, primary, family_id, _) = family_ready(backend).await;
    let mut secondaries = Vec::new();
    for i in 0..40 {
        secondaries.push(secondary(&app, &primary, &format!("s{i}@guard.test")).await);
    }
    let mut pending = Vec::new();
    for i in 0..60 {
        pending.push(invite(&app, &primary, &format!("p{i}@guard.test")).await.1);
    }
    let owner = app.owner_token().await;
    let (new_primary, new_token) = secondaries[0].clone();
    let changed = app
        .put(
            &app.at(&format!("office/families/{family_id}/primary-guardian")),
            Some(&owner),
            json!({"guardian_id": new_primary}),
        )
        .await;
    let cards = changed.expect(200)["guardians"].as_array().unwrap().clone();
    assert_eq!(cards.len(), 1, "{cards:?}");
    // Every other guardian lost access, the old primary included; every invitation is dead.
    for (_, token) in secondaries
        .iter()
        .skip(1)
        .chain([&(String::new(), primary)])
    {
        app.get(&app.at("portal/family"), Some(token))
            .await
            .expect_problem(403, "access_revoked");
    }
    for token in &pending {
        accept(&app, token, json!({}))
            .await
            .expect_problem(400, "invalid_token");
    }
    let fam = app.get(&app.at("portal/family"), Some(&new_token)).await;
    assert_eq!(fam.expect(200)["access"], "full");
    let listed = app
        .get(&app.at("portal/invitations"), Some(&new_token))
        .await;
    assert_eq!(listed.expect(200)["invitations"], json!([]));
    assert_eq!(listed.body["secondary_users"], json!([]));
    // Each revoked guardian was told.
    for i in 1..40 {
        let told = app.messages_to(&format!("s{i}@guard.test")).await;
        assert!(
            told.iter().any(|m| m["subject"]
                .as_str()
                .unwrap()
                .contains("family account ended")),
            "s{i}: {told:?}"
        );
    }
}

/// The idle-deadline move rides in each write route's own transaction (conditioned on the
/// session existing, not on its version): parallel writes on one session all commit, a
/// commit whose answer was lost is answered as applied, the deadline moves with the last write,
/// and a logout still ends the session at once.
async fn parallel_writes_on_one_session_all_commit_and_move_its_idle_deadline(backend: Backend) {
    let store = FaultStore::new(store_for(backend).await, StoreFault::None);
    let app = TestApp::spawn_on(store.clone()).await;
    let owner = app.owner_token().await;
    // Writes that share nothing but the session (each makes its own user group).
    let mut tasks = JoinSet::new();
    for i in 0..20 {
        let client = app.client.clone();
        let url = app.url(&app.at("office/user-groups"));
        let token = owner.clone();
        tasks.spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"name": format!("Group {i}"),
                              "permissions": {"staff": "view", "families": "view", "settings": "none"}}))
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
    assert_eq!(count(&statuses, 201), 20, "{statuses:?}");
    let groups = app.get(&app.at("office/user-groups"), Some(&owner)).await;
    assert_eq!(
        groups.expect(200)["user_groups"].as_array().unwrap().len(),
        20
    );
    // A write whose commit (route change and deadline move together) lost its answer.
    store.set(StoreFault::AppliedThenTimeout(1));
    app.patch(
        &app.at("office/settings"),
        Some(&owner),
        json!({"business_name": "After a timeout"}),
    )
    .await
    .expect(200);
    store.set(StoreFault::None);
    let settings = app.get(&app.at("office/settings"), Some(&owner)).await;
    assert_eq!(settings.expect(200)["business_name"], "After a timeout");
    // 50 minutes, a write, 50 minutes: alive only because the write moved the deadline.
    app.advance_clock(3000).await;
    app.post(
        &app.at("office/policies"),
        Some(&owner),
        json!({"title": "Waiver", "body": "Text", "required": false}),
    )
    .await
    .expect(201);
    app.advance_clock(3000).await;
    app.get(&app.at("session"), Some(&owner)).await.expect(200);
    // A GET does not move it: 61 more minutes end the session.
    app.advance_clock(3660).await;
    app.get(&app.at("session"), Some(&owner))
        .await
        .expect_problem(401, "unauthenticated");
    // Logout during a burst of writes: afterwards the session is dead, whatever the writes did.
    let token = app.owner_token().await;
    let mut tasks = JoinSet::new();
    for i in 0..10 {
        let client = app.client.clone();
        let url = app.url(&app.at("office/user-groups"));
        let token = token.clone();
        tasks.spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"name": format!("Burst {i}"),
                              "permissions": {"staff": "none", "families": "view", "settings": "none"}}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    app.post(&app.at("logout"), Some(&token), json!({}))
        .await
        .expect(204);
    while let Some(s) = tasks.join_next().await {
        let status = s.unwrap();
        assert!(status == 201 || status == 401, "{status}");
    }
    app.get(&app.at("session"), Some(&token))
        .await
        .expect_problem(401, "unauthenticated");
}
