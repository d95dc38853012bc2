//! Office staff, user groups and permissions over HTTP, on both stores.

use portal_core::permissions::Level;
use portal_http::ROUTES;
use portal_http::routes::Guard;
use serde_json::{Value, json};

use crate::both_stores;
use crate::support::app::{Backend, TestApp};

both_stores!(
    a_front_desk_user_can_do_exactly_what_the_group_and_advanced_levels_allow,
    escalation_is_refused_and_nothing_is_written,
    usernames_are_unique_in_any_letter_case,
    concurrent_creations_of_one_username_have_one_winner,
    a_demoted_user_is_refused_on_the_next_request,
    every_office_route_refuses_a_staff_member_with_no_level,
    staff_changes_are_audited_and_validated,
);

const FRED_PASSWORD: &str = "Fr0nt-Desk!x";

async fn create_group(app: &TestApp, token: &str, name: &str, permissions: Value) -> String {
    let r = app
        .post(
            &app.at("office/user-groups"),
            Some(token),
            json!({"name": name, "permissions": permissions}),
        )
        .await;
    let body = r.expect(201);
    assert_eq!(body["name"], name);
    body["id"].as_str().unwrap().to_owned()
}

async fn create_staff(app: &TestApp, token: &str, username: &str, extra: Value) -> Value {
    let mut body = json!({
        "username": username, "first_name": "Fred", "last_name": "Desk",
        "email": format!("{}@swim.test", username.to_lowercase()), "password": FRED_PASSWORD
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    app.post(&app.at("office/staff"), Some(token), body)
        .await
        .expect(201)
        .clone()
}

async fn a_front_desk_user_can_do_exactly_what_the_group_and_advanced_levels_allow(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    let group = create_group(
        &app,
        &owner,
        "Front desk",
        json!({"staff": "none", "families": "view", "settings": "view"}),
    )
    .await;
    let fred = create_staff(
        &app,
        &owner,
        "Fred",
        json!({"user_group_id": group, "advanced_permissions": {"staff": "view"}}),
    )
    .await;
    assert_eq!(fred["user_group_id"], group.as_str());
    assert_eq!(
        fred["advanced_permissions"],
        json!({"staff": "view", "families": "none", "settings": "none"})
    );
    assert_eq!(
        fred["permissions"],
        json!({"staff": "view", "families": "view", "settings": "view"})
    );
    assert_eq!(fred["is_owner"], false);
    assert!(fred.get("password_hash").is_none());

    // New staff accept the terms at their first login like anyone else.
    let login = app.staff_login("fred", FRED_PASSWORD).await;
    assert_eq!(login.expect(200)["terms"]["accepted"], false);
    assert_eq!(login.body["staff"]["permissions"], fred["permissions"]);
    let t = login.body["token"].as_str().unwrap().to_owned();
    app.get(&app.at("office/staff"), Some(&t))
        .await
        .expect_problem(403, "terms_not_accepted");
    let t = app.staff_token("fred", FRED_PASSWORD).await;

    let fred_id = fred["id"].as_str().unwrap();
    app.get(&app.at("office/staff"), Some(&t)).await.expect(200);
    app.get(&app.at(&format!("office/staff/{fred_id}")), Some(&t))
        .await
        .expect(200);
    app.get(&app.at("office/settings"), Some(&t))
        .await
        .expect(200);
    app.get(&app.at("office/user-groups"), Some(&t))
        .await
        .expect(200);
    app.get(&app.at("office/audit"), Some(&t)).await.expect(200);
    app.post(
        &app.at("office/staff"),
        Some(&t),
        json!({"username": "x", "first_name": "a", "last_name": "b", "password": FRED_PASSWORD}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.put(
        &app.at(&format!("office/staff/{fred_id}/permissions")),
        Some(&t),
        json!({"advanced_permissions": {}}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.patch(
        &app.at("office/settings"),
        Some(&t),
        json!({"business_name": "Mine"}),
    )
    .await
    .expect_problem(403, "forbidden");
    app.post(
        &app.at("office/user-groups"),
        Some(&t),
        json!({"name": "g", "permissions": {}}),
    )
    .await
    .expect_problem(403, "forbidden");
    let list = app.get(&app.at("office/staff"), Some(&t)).await;
    let staff = list.body["staff"].as_array().unwrap();
    assert_eq!(staff.len(), 2);
    assert!(!list.body.to_string().contains("argon2"));
    let owner_entry = staff.iter().find(|s| s["is_owner"] == true).unwrap();
    assert_eq!(
        owner_entry["permissions"],
        json!({"staff": "full", "families": "full", "settings": "full"})
    );
}

async fn escalation_is_refused_and_nothing_is_written(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    let admin_group = create_group(
        &app,
        &owner,
        "Admins",
        json!({"staff": "full", "families": "full", "settings": "full"}),
    )
    .await;
    let manager = create_staff(
        &app,
        &owner,
        "manager",
        json!({"advanced_permissions": {"staff": "full", "settings": "full", "families": "view"}}),
    )
    .await;
    let victim = create_staff(&app, &owner, "victim", json!({})).await;
    let m = app.staff_token("manager", FRED_PASSWORD).await;
    let groups_before = app
        .get(&app.at("office/user-groups"), Some(&owner))
        .await
        .body
        .clone();

    // A group above one's own level.
    app.post(
        &app.at("office/user-groups"),
        Some(&m),
        json!({"name": "Sneaky", "permissions": {"families": "full"}}),
    )
    .await
    .expect_problem(403, "forbidden");
    assert_eq!(
        app.get(&app.at("office/user-groups"), Some(&owner))
            .await
            .body,
        groups_before
    );

    // A new staff member above one's own level, directly or through a group.
    for extra in [
        json!({"advanced_permissions": {"families": "full"}}),
        json!({"user_group_id": admin_group}),
    ] {
        let mut body = json!({"username": "sneaky", "first_name": "S", "last_name": "N", "password": FRED_PASSWORD});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        app.post(&app.at("office/staff"), Some(&m), body)
            .await
            .expect_problem(403, "forbidden");
    }
    // Nothing was written: the username is still free.
    create_staff(
        &app,
        &m,
        "sneaky",
        json!({"advanced_permissions": {"families": "view"}}),
    )
    .await;

    // Raising someone (or oneself) above one's own level.
    let victim_id = victim["id"].as_str().unwrap();
    let manager_id = manager["id"].as_str().unwrap();
    for (id, body) in [
        (
            victim_id,
            json!({"advanced_permissions": {"families": "full"}}),
        ),
        (victim_id, json!({"user_group_id": admin_group})),
        (
            manager_id,
            json!({"advanced_permissions": {"staff": "full", "settings": "full", "families": "full"}}),
        ),
    ] {
        app.put(
            &app.at(&format!("office/staff/{id}/permissions")),
            Some(&m),
            body,
        )
        .await
        .expect_problem(403, "forbidden");
    }
    let v = app
        .get(&app.at(&format!("office/staff/{victim_id}")), Some(&owner))
        .await;
    assert_eq!(
        v.body["permissions"],
        json!({"staff": "none", "families": "none", "settings": "none"})
    );
    assert_eq!(v.body["user_group_id"], Value::Null);
    // Within one's own level is fine.
    let ok = app
        .put(
            &app.at(&format!("office/staff/{victim_id}/permissions")),
            Some(&m),
            json!({"advanced_permissions": {"families": "view"}}),
        )
        .await;
    assert_eq!(ok.expect(200)["permissions"]["families"], "view");

    // The owner cannot be demoted, not even by someone with full levels.
    let owner_id = app
        .staff_login("owner", crate::support::app::OWNER_PASSWORD)
        .await
        .body["staff"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.put(
        &app.at(&format!("office/staff/{owner_id}/permissions")),
        Some(&owner),
        json!({"advanced_permissions": {}}),
    )
    .await
    .expect_problem(403, "forbidden");
    let o = app
        .get(&app.at(&format!("office/staff/{owner_id}")), Some(&owner))
        .await;
    assert_eq!(
        o.body["permissions"],
        json!({"staff": "full", "families": "full", "settings": "full"})
    );
}

async fn usernames_are_unique_in_any_letter_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    create_staff(&app, &owner, "Coach.Kim", json!({})).await;
    let again = app
        .post(&app.at("office/staff"), Some(&owner), json!({"username": " coach.KIM ", "first_name": "a", "last_name": "b", "password": FRED_PASSWORD}))
        .await;
    again.expect_problem(409, "username_taken");
    app.post(&app.at("office/staff"), Some(&owner), json!({"username": "OWNER", "first_name": "a", "last_name": "b", "password": FRED_PASSWORD}))
        .await
        .expect_problem(409, "username_taken");
    // Logins find the member in any case too.
    app.staff_login("COACH.kim", FRED_PASSWORD)
        .await
        .expect(200);
    let list = app.get(&app.at("office/staff"), Some(&owner)).await;
    assert_eq!(list.body["staff"].as_array().unwrap().len(), 2);
}

async fn concurrent_creations_of_one_username_have_one_winner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    let url = app.at("office/staff");
    let attempts = (0..6).map(|i| {
        let username = if i % 2 == 0 { "Racer" } else { "racer" };
        app.post(&url, Some(&owner), json!({"username": username, "first_name": "R", "last_name": "C", "password": FRED_PASSWORD}))
    });
    let replies = futures_join_all(attempts).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let taken = replies
        .iter()
        .filter(|r| r.status == 409 && r.code() == "username_taken")
        .count();
    assert_eq!(
        (created, taken),
        (1, 5),
        "statuses: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let list = app.get(&app.at("office/staff"), Some(&owner)).await;
    assert_eq!(list.body["staff"].as_array().unwrap().len(), 2);
}

/// Polls every future concurrently on this task (all requests are in flight at once).
pub async fn futures_join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let handles: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    let mut handles: Vec<Option<_>> = handles.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, slot) in handles.iter_mut().enumerate() {
            if let Some(fut) = slot {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(out) => {
                        outputs[i] = Some(out);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

async fn a_demoted_user_is_refused_on_the_next_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    let group = create_group(&app, &owner, "Staff admins", json!({"staff": "full"})).await;
    let fred = create_staff(&app, &owner, "fred", json!({"user_group_id": group})).await;
    let t = app.staff_token("fred", FRED_PASSWORD).await;
    app.get(&app.at("office/staff"), Some(&t)).await.expect(200);
    let fred_id = fred["id"].as_str().unwrap();
    app.put(
        &app.at(&format!("office/staff/{fred_id}/permissions")),
        Some(&owner),
        json!({"user_group_id": null}),
    )
    .await
    .expect(200);
    // Same session, next request.
    app.get(&app.at("office/staff"), Some(&t))
        .await
        .expect_problem(403, "forbidden");
    // And promoted again, at once too.
    app.put(
        &app.at(&format!("office/staff/{fred_id}/permissions")),
        Some(&owner),
        json!({"advanced_permissions": {"staff": "view"}}),
    )
    .await
    .expect(200);
    app.get(&app.at("office/staff"), Some(&t)).await.expect(200);
}

async fn every_office_route_refuses_a_staff_member_with_no_level(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    let nobody = create_staff(&app, &owner, "nobody", json!({})).await;
    let t = app.staff_token("nobody", FRED_PASSWORD).await;
    let id = nobody["id"].as_str().unwrap();
    let mut checked = 0;
    for route in ROUTES {
        let Guard::Office(_, level) = route.guard else {
            continue;
        };
        assert!(
            level >= Level::View,
            "{} {} declares no level",
            route.method,
            route.path
        );
        let path = route
            .path
            .replace("{account}", "swim")
            .replace(['{', '}'], "")
            .replace("staff_id", id);
        let method = reqwest::Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let body = (method != reqwest::Method::GET).then(|| json!({}));
        let r = app.request(method, &path, Some(&t), body).await;
        r.expect_problem(403, "forbidden");
        checked += 1;
    }
    assert!(checked >= 9, "office routes checked: {checked}");
}

async fn staff_changes_are_audited_and_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let owner = app.owner_token().await;
    let bad = app
        .post(
            &app.at("office/staff"),
            Some(&owner),
            json!({"password": "short", "email": "nope", "phone": "12"}),
        )
        .await;
    bad.expect_problem(422, "validation_failed");
    let fields = bad.field_errors();
    for (f, c) in [
        ("username", "required"),
        ("first_name", "required"),
        ("last_name", "required"),
        ("email", "invalid_email"),
        ("phone", "invalid_phone"),
        ("password", "password_policy"),
    ] {
        assert!(
            fields.contains(&(f.to_owned(), c.to_owned())),
            "{f}/{c} in {fields:?}"
        );
    }
    let rules = bad.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["field"] == "password")
        .unwrap()["rules"]
        .clone();
    assert_eq!(
        rules,
        json!(["min_length", "uppercase", "digit", "special"])
    );
    let common = app
        .post(
            &app.at("office/staff"),
            Some(&owner),
            json!({"username": "c", "first_name": "a", "last_name": "b", "password": "Password1!"}),
        )
        .await;
    assert_eq!(
        common.field_errors(),
        vec![("password".to_owned(), "password_too_common".to_owned())]
    );
    let unknown_group = app
        .post(&app.at("office/staff"), Some(&owner), json!({"username": "c", "first_name": "a", "last_name": "b", "password": FRED_PASSWORD, "user_group_id": "nope"}))
        .await;
    assert_eq!(
        unknown_group.field_errors(),
        vec![("user_group_id".to_owned(), "not_found".to_owned())]
    );
    app.post(
        &app.at("office/user-groups"),
        Some(&owner),
        json!({"name": "x", "permissions": {"staff": "admin"}}),
    )
    .await
    .expect_problem(400, "malformed_request");
    app.get(&app.at("office/staff/no-such-id"), Some(&owner))
        .await
        .expect_problem(404, "not_found");

    let group = create_group(&app, &owner, "Coaches", json!({"families": "view"})).await;
    let fred = create_staff(&app, &owner, "fred", json!({"user_group_id": group})).await;
    let fred_id = fred["id"].as_str().unwrap();
    app.put(
        &app.at(&format!("office/staff/{fred_id}/permissions")),
        Some(&owner),
        json!({"advanced_permissions": {"families": "full"}}),
    )
    .await
    .expect(200);
    let audit = app
        .get(
            &format!("{}?limit=100", app.at("office/audit")),
            Some(&owner),
        )
        .await;
    let entries = audit.body["entries"].as_array().unwrap();
    let find = |action: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("{action}"))
            .clone()
    };
    let created_group = find("user_group.created");
    assert_eq!(created_group["target"], group.as_str());
    assert_eq!(created_group["actor"]["kind"], "staff");
    let created = find("staff.created");
    assert_eq!(created["target"], fred_id);
    let changed = find("staff.permissions_changed");
    assert_eq!(changed["target"], fred_id);
    assert_eq!(
        changed["details"]["old"]["advanced_permissions"]["families"],
        "none"
    );
    assert_eq!(
        changed["details"]["new"]["advanced_permissions"]["families"],
        "full"
    );
    assert_eq!(changed["details"]["new"]["user_group_id"], group.as_str());
}
