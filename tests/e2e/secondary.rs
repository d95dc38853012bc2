//! Secondary guardians over HTTP, on both stores: invitations, view-only access, the 18+ and
//! primary-policies gates, the family switcher, expiry/cancel/resend/reuse, concurrent accepts,
//! and revocation by the primary, by staff and by a change of primary guardian.

use serde_json::{Value, json};

use crate::both_stores;
use crate::office_staff::futures_join_all;
use crate::signup::{GUARDIAN_PASSWORD, sign_up};
use crate::support::app::{Backend, Reply, TestApp};

both_stores!(
    invitations_wait_for_a_complete_setup,
    a_new_login_accepts_an_invitation,
    an_existing_login_accepts_with_its_password_and_switches_families,
    secondary_access_is_view_only,
    secondary_users_confirm_their_age_and_wait_for_the_primary_policies,
    invitations_expire_and_can_be_cancelled_resent_but_not_reused,
    concurrent_accepts_have_one_winner,
    primary_and_staff_revocations_end_access_at_once_and_tell_both,
    a_new_primary_guardian_revokes_everything,
);

pub const SECONDARY_PASSWORD: &str = "S3cond-Guard!x";

/// A tenant without email validation, one required policy, and a family whose setup is
/// complete; returns (app, primary token, family id, policy id).
pub async fn family_ready(backend: Backend) -> (TestApp, String, String, String) {
    let app = TestApp::spawn(backend).await;
    app.patch_tenant(json!({"email_validation_required": false}))
        .await;
    let owner = app.owner_token().await;
    let policy = app.create_policy(&owner, "Waiver", true).await;
    let family = sign_up(&app, "prime@guard.test").await;
    let token = family["token"].as_str().unwrap().to_owned();
    app.post(
        &app.at("portal/policies/accept"),
        Some(&token),
        json!({"policies": [{"id": policy, "version": 1}]}),
    )
    .await
    .expect(200);
    let family_id = family["family_id"].as_str().unwrap().to_owned();
    (app, token, family_id, policy)
}

/// Invites `email`; returns (invitation id, token from the email).
pub async fn invite(app: &TestApp, primary: &str, email: &str) -> (String, String) {
    let r = app
        .post(
            &app.at("portal/invitations"),
            Some(primary),
            json!({"email": email}),
        )
        .await;
    let id = r.expect(201)["invitation_id"].as_str().unwrap().to_owned();
    (id, last_token_to(app, email).await)
}

pub async fn last_token_to(app: &TestApp, email: &str) -> String {
    let messages = app.messages_to(email).await;
    let body = messages.last().expect("an invitation email")["body"]
        .as_str()
        .unwrap()
        .to_owned();
    let at =
        body.find("/invitation?token=").expect("an invitation link") + "/invitation?token=".len();
    body[at..].split_whitespace().next().unwrap().to_owned()
}

pub async fn relogin(app: &TestApp, email: &str) -> String {
    app.post(
        &app.at("portal/login"),
        None,
        json!({"email": email, "password": GUARDIAN_PASSWORD}),
    )
    .await
    .expect(200)["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn accept(app: &TestApp, token: &str, extra: Value) -> Reply {
    let mut body = json!({"token": token, "first_name": "Sam", "last_name": "Second", "password": SECONDARY_PASSWORD});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.post(&app.at("portal/invitations/accept"), None, body)
        .await
}

/// A secondary user who accepted with the 18+ confirmation; returns (guardian id, token).
pub async fn secondary(app: &TestApp, primary: &str, email: &str) -> (String, String) {
    let (_, token) = invite(app, primary, email).await;
    let r = accept(app, &token, json!({"age_confirmed": true})).await;
    let body = r.expect(200);
    (
        body["guardian"]["id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    )
}

async fn invitations_wait_for_a_complete_setup(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.patch_tenant(json!({"email_validation_required": false}))
        .await;
    let owner = app.owner_token().await;
    let family = sign_up(&app, "p@guard.test").await;
    let t = family["token"].as_str().unwrap();
    // No required policy: the setup is complete at sign-up, and the primary invites at once.
    assert_eq!(family["setup_complete"], true);
    invite(&app, t, "s@guard.test").await;
    // A new required policy blocks invitations again.
    app.post(
        &app.at("office/policies"),
        Some(&owner),
        json!({"title": "New", "body": "x", "required": true}),
    )
    .await
    .expect(201);
    app.post(
        &app.at("portal/invitations"),
        Some(t),
        json!({"email": "s2@guard.test"}),
    )
    .await
    .expect_problem(409, "policies_pending");
    app.post(
        &app.at("portal/invitations"),
        Some(t),
        json!({"email": "p@guard.test"}),
    )
    .await
    .expect_problem(409, "policies_pending");
}

async fn a_new_login_accepts_an_invitation(backend: Backend) {
    let (app, primary, family_id, _) = family_ready(backend).await;
    let (id, token) = invite(&app, &primary, "Sam@Guard.test").await;
    let mail = app.messages_to("Sam@Guard.test").await.pop().unwrap();
    let text = mail["body"].as_str().unwrap();
    assert!(
        text.contains("swim swim school")
            && text.contains("Guard Family")
            && text.contains("Gwen Guard"),
        "{text}"
    );
    assert!(text.contains("https://portal.test/a/swim/invitation?token="));
    assert!(mail["html"].as_str().unwrap().contains("<a href="));
    // Opening the link never uses it up.
    for _ in 0..2 {
        let info = app
            .get(&app.at(&format!("portal/invitation-links/{token}")), None)
            .await;
        let body = info.expect(200);
        assert_eq!(body["family_name"], "Guard Family");
        assert_eq!(body["email"], "Sam@Guard.test");
        assert_eq!(body["inviter"], "Gwen Guard");
    }
    // The link's old path (beside DELETE portal/invitations/{invitation_id}) is not served.
    app.get(&app.at(&format!("portal/invitations/{token}")), None)
        .await
        .expect_problem(405, "method_not_allowed");
    // Refused accepts do not use it up either.
    let weak = accept(&app, &token, json!({"password": "weak"})).await;
    weak.expect_problem(422, "validation_failed");
    let nameless = accept(&app, &token, json!({"first_name": ""})).await;
    assert_eq!(
        nameless.field_errors(),
        vec![("first_name".to_owned(), "required".to_owned())]
    );
    let listed = app.get(&app.at("portal/invitations"), Some(&primary)).await;
    assert_eq!(
        listed.expect(200)["invitations"][0]["invitation_id"],
        id.as_str()
    );
    let r = accept(&app, &token, json!({"age_confirmed": true})).await;
    let body = r.expect(200).clone();
    assert_eq!(body["active_family_id"], family_id.as_str());
    assert_eq!(body["requires_age_confirmation"], false);
    assert_eq!(
        body["families"],
        json!([{"family_id": family_id, "name": "Guard Family", "role": "secondary", "access": "view"}])
    );
    assert_eq!(body["guardian"]["email"], "Sam@Guard.test");
    let listed = app.get(&app.at("portal/invitations"), Some(&primary)).await;
    assert_eq!(listed.body["invitations"], json!([]));
    assert_eq!(listed.body["secondary_users"][0]["first_name"], "Sam");
    // The new login signs in like any guardian.
    app.post(
        &app.at("portal/login"),
        None,
        json!({"email": "sam@guard.test", "password": SECONDARY_PASSWORD}),
    )
    .await
    .expect(200);
    // An already linked address cannot be invited again.
    app.post(
        &app.at("portal/invitations"),
        Some(&primary),
        json!({"email": "SAM@guard.test"}),
    )
    .await
    .expect_problem(409, "already_member");
    let owner = app.owner_token().await;
    let cards = app
        .get(
            &app.at(&format!("office/families/{family_id}")),
            Some(&owner),
        )
        .await;
    let card = cards.body["guardians"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["first_name"] == "Sam")
        .unwrap()
        .clone();
    assert_eq!(
        (
            card["primary"].clone(),
            card["access"].clone(),
            card["can_log_in"].clone()
        ),
        (json!(false), json!("view"), json!(true))
    );
    let actions = app.audit_actions(&owner).await;
    assert!(
        actions.contains(&"secondary.invited".to_owned())
            && actions.contains(&"secondary.accepted".to_owned())
    );
}

async fn an_existing_login_accepts_with_its_password_and_switches_families(backend: Backend) {
    let (app, primary, family_id, _) = family_ready(backend).await;
    // Olga is the primary of her own family and becomes secondary in Gwen's.
    let mut body = crate::signup::signup_body("olga@guard.test", None);
    body["guardian"]["last_name"] = json!("Other");
    let own = app
        .post(&app.at("portal/signup"), None, body)
        .await
        .expect(201)
        .clone();
    let (_, token) = invite(&app, &primary, "olga@guard.test").await;
    accept(&app, &token, json!({"password": "Wrong-Pw-123!"}))
        .await
        .expect_problem(401, "invalid_credentials");
    let r = accept(&app, &token, json!({"password": GUARDIAN_PASSWORD})).await;
    let body = r.expect(200).clone();
    assert_eq!(body["active_family_id"], family_id.as_str());
    assert_eq!(
        body["requires_age_confirmation"], false,
        "confirmed at her own sign-up"
    );
    let families = body["families"].as_array().unwrap();
    assert_eq!(families.len(), 2);
    let t = body["token"].as_str().unwrap();
    let switcher = app.get(&app.at("portal/families"), Some(t)).await;
    let list = switcher.expect(200)["families"].as_array().unwrap().clone();
    let roles: Vec<(Value, Value)> = list
        .iter()
        .map(|f| (f["role"].clone(), f["access"].clone()))
        .collect();
    assert!(
        roles.contains(&(json!("primary"), json!("full")))
            && roles.contains(&(json!("secondary"), json!("view")))
    );
    // On Gwen's family she only views; switching to her own gives full access.
    assert_eq!(
        app.get(&app.at("portal/family"), Some(t)).await.body["access"],
        "view"
    );
    let own_id = own["family_id"].as_str().unwrap();
    let switched = app
        .post(
            &app.at("portal/session/family"),
            Some(t),
            json!({"family_id": own_id}),
        )
        .await;
    assert_eq!(switched.expect(200)["active_family_id"], own_id);
    let t2 = switched.body["token"].as_str().unwrap();
    let fam = app.get(&app.at("portal/family"), Some(t2)).await;
    assert_eq!(
        (fam.body["family_id"].clone(), fam.body["access"].clone()),
        (json!(own_id), json!("full"))
    );
    // A login starts on the primary family.
    let login = app
        .post(
            &app.at("portal/login"),
            None,
            json!({"email": "olga@guard.test", "password": GUARDIAN_PASSWORD}),
        )
        .await;
    assert_eq!(login.expect(200)["active_family_id"], own_id);
}

async fn secondary_access_is_view_only(backend: Backend) {
    let (app, primary, _, policy) = family_ready(backend).await;
    let (_, t) = secondary(&app, &primary, "v@guard.test").await;
    let fam = app.get(&app.at("portal/family"), Some(&t)).await;
    assert_eq!(fam.expect(200)["access"], "view");
    assert_eq!(fam.body["can_add_students"], false);
    app.get(&app.at("portal/policies"), Some(&t))
        .await
        .expect(200);
    let (other, _) = secondary(&app, &primary, "w@guard.test").await;
    let (pending, _) = invite(&app, &primary, "x@guard.test").await;
    for r in [
        app.post(
            &app.at("portal/policies/accept"),
            Some(&t),
            json!({"policies": [{"id": policy, "version": 1}]}),
        )
        .await,
        app.post(
            &app.at("portal/invitations"),
            Some(&t),
            json!({"email": "y@guard.test"}),
        )
        .await,
        app.get(&app.at("portal/invitations"), Some(&t)).await,
        app.request(
            reqwest::Method::DELETE,
            &app.at(&format!("portal/invitations/{pending}")),
            Some(&t),
            None,
        )
        .await,
        app.post(
            &app.at(&format!("portal/invitations/{pending}/resend")),
            Some(&t),
            json!({}),
        )
        .await,
        app.request(
            reqwest::Method::DELETE,
            &app.at(&format!("portal/secondary-users/{other}")),
            Some(&t),
            None,
        )
        .await,
    ] {
        r.expect_problem(403, "view_only");
    }
}

async fn secondary_users_confirm_their_age_and_wait_for_the_primary_policies(backend: Backend) {
    let (app, primary, _, policy) = family_ready(backend).await;
    let (_, token) = invite(&app, &primary, "young@guard.test").await;
    let r = accept(&app, &token, json!({})).await;
    assert_eq!(r.expect(200)["requires_age_confirmation"], true);
    let t = r.body["token"].as_str().unwrap().to_owned();
    app.get(&app.at("portal/family"), Some(&t))
        .await
        .expect_problem(403, "age_confirmation_required");
    app.get(&app.at("portal/policies"), Some(&t))
        .await
        .expect_problem(403, "age_confirmation_required");
    app.post(
        &app.at("portal/age-confirmation"),
        Some(&t),
        json!({"confirmed": false}),
    )
    .await
    .expect_problem(422, "validation_failed");
    app.post(
        &app.at("portal/age-confirmation"),
        Some(&t),
        json!({"confirmed": true}),
    )
    .await
    .expect(204);
    app.get(&app.at("portal/family"), Some(&t))
        .await
        .expect(200);
    let login = app
        .post(
            &app.at("portal/login"),
            None,
            json!({"email": "young@guard.test", "password": SECONDARY_PASSWORD}),
        )
        .await;
    assert_eq!(login.expect(200)["requires_age_confirmation"], false);

    // A new version of a required policy blocks secondary users until the primary accepts it.
    let owner = app.owner_token().await;
    app.put(
        &app.at(&format!("office/policies/{policy}")),
        Some(&owner),
        json!({"title": "Waiver", "body": "v2", "required": true}),
    )
    .await
    .expect(200);
    app.get(&app.at("portal/family"), Some(&t))
        .await
        .expect_problem(403, "primary_policies_pending");
    assert_eq!(
        app.get(&app.at("portal/family"), Some(&primary))
            .await
            .expect(200)["setup_complete"],
        false
    );
    app.post(
        &app.at("portal/policies/accept"),
        Some(&primary),
        json!({"policies": [{"id": policy, "version": 2}]}),
    )
    .await
    .expect(200);
    app.get(&app.at("portal/family"), Some(&t))
        .await
        .expect(200);
}

async fn invitations_expire_and_can_be_cancelled_resent_but_not_reused(backend: Backend) {
    let (app, primary, _, _) = family_ready(backend).await;
    let (id, old) = invite(&app, &primary, "late@guard.test").await;
    app.advance_clock(7 * 24 * 3600 + 1).await;
    app.get(&app.at(&format!("portal/invitation-links/{old}")), None)
        .await
        .expect_problem(410, "token_expired");
    accept(&app, &old, json!({}))
        .await
        .expect_problem(410, "token_expired");
    // A week later the primary signs in again (the old session idled out).
    let primary = relogin(&app, "prime@guard.test").await;
    // Resent after expiry: a fresh link and 7 more days; the old link is dead.
    let resent = app
        .post(
            &app.at(&format!("portal/invitations/{id}/resend")),
            Some(&primary),
            json!({}),
        )
        .await;
    resent.expect(202);
    let fresh = last_token_to(&app, "late@guard.test").await;
    assert_ne!(fresh, old);
    app.get(&app.at(&format!("portal/invitation-links/{old}")), None)
        .await
        .expect_problem(400, "invalid_token");
    app.advance_clock(6 * 24 * 3600).await;
    let primary = relogin(&app, "prime@guard.test").await;
    accept(&app, &fresh, json!({"age_confirmed": true}))
        .await
        .expect(200);
    // Used: refused from now on, and no longer listed.
    accept(&app, &fresh, json!({}))
        .await
        .expect_problem(400, "invalid_token");
    app.get(&app.at(&format!("portal/invitation-links/{fresh}")), None)
        .await
        .expect_problem(400, "invalid_token");
    app.post(
        &app.at(&format!("portal/invitations/{id}/resend")),
        Some(&primary),
        json!({}),
    )
    .await
    .expect_problem(404, "not_found");
    // Cancelled: the link stops working.
    let (id, token) = invite(&app, &primary, "gone@guard.test").await;
    app.request(
        reqwest::Method::DELETE,
        &app.at(&format!("portal/invitations/{id}")),
        Some(&primary),
        None,
    )
    .await
    .expect(204);
    accept(&app, &token, json!({}))
        .await
        .expect_problem(400, "invalid_token");
    app.request(
        reqwest::Method::DELETE,
        &app.at(&format!("portal/invitations/{id}")),
        Some(&primary),
        None,
    )
    .await
    .expect_problem(404, "not_found");
    accept(&app, "made-up-token", json!({}))
        .await
        .expect_problem(400, "invalid_token");
}

async fn concurrent_accepts_have_one_winner(backend: Backend) {
    let (app, primary, _, _) = family_ready(backend).await;
    let (_, token) = invite(&app, &primary, "race@guard.test").await;
    let url = app.at("portal/invitations/accept");
    let body = json!({"token": token, "first_name": "R", "last_name": "Ace", "password": SECONDARY_PASSWORD, "age_confirmed": true});
    let replies = futures_join_all((0..5).map(|_| app.post(&url, None, body.clone()))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        replies
            .iter()
            .filter(|r| r.status != 200)
            .all(|r| r.code() == "invalid_token"),
        "{statuses:?}"
    );
    let listed = app.get(&app.at("portal/invitations"), Some(&primary)).await;
    assert_eq!(listed.body["secondary_users"].as_array().unwrap().len(), 1);
}

async fn primary_and_staff_revocations_end_access_at_once_and_tell_both(backend: Backend) {
    let (app, primary, family_id, _) = family_ready(backend).await;
    let (a, ta) = secondary(&app, &primary, "a@guard.test").await;
    let (b, tb) = secondary(&app, &primary, "b@guard.test").await;
    app.get(&app.at("portal/family"), Some(&ta))
        .await
        .expect(200);
    app.request(
        reqwest::Method::DELETE,
        &app.at(&format!("portal/secondary-users/{a}")),
        Some(&primary),
        None,
    )
    .await
    .expect(204);
    app.get(&app.at("portal/family"), Some(&ta))
        .await
        .expect_problem(403, "access_revoked");
    assert!(
        app.messages_to("a@guard.test").await.last().unwrap()["subject"]
            .as_str()
            .unwrap()
            .contains("access to a family account ended")
    );
    let to_primary = app.messages_to("prime@guard.test").await;
    assert!(
        to_primary.last().unwrap()["body"]
            .as_str()
            .unwrap()
            .contains("Sam Second")
    );
    // The family is no longer in the revoked user's switcher.
    let switcher = app.get(&app.at("portal/families"), Some(&ta)).await;
    assert_eq!(switcher.expect(200)["families"], json!([]));

    let owner = app.owner_token().await;
    let url = app.at(&format!("office/families/{family_id}/secondary-users/{b}"));
    let before = app.messages_to("prime@guard.test").await.len();
    app.request(reqwest::Method::DELETE, &url, Some(&owner), None)
        .await
        .expect(204);
    app.get(&app.at("portal/family"), Some(&tb))
        .await
        .expect_problem(403, "access_revoked");
    assert_eq!(app.messages_to("prime@guard.test").await.len(), before + 1);
    assert!(!app.messages_to("b@guard.test").await.is_empty());
    app.request(reqwest::Method::DELETE, &url, Some(&owner), None)
        .await
        .expect_problem(404, "not_found");
    // Staff cannot "revoke" the primary guardian.
    let primary_id = app.get(&app.at("session"), Some(&primary)).await.body["subject_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.request(
        reqwest::Method::DELETE,
        &app.at(&format!(
            "office/families/{family_id}/secondary-users/{primary_id}"
        )),
        Some(&owner),
        None,
    )
    .await
    .expect_problem(404, "not_found");
    let actions = app.audit_actions(&owner).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "secondary.revoked").count(),
        2
    );
}

async fn a_new_primary_guardian_revokes_everything(backend: Backend) {
    let (app, primary, family_id, _) = family_ready(backend).await;
    let (a, ta) = secondary(&app, &primary, "a@guard.test").await;
    let (_, tb) = secondary(&app, &primary, "b@guard.test").await;
    let (_, pending) = invite(&app, &primary, "c@guard.test").await;
    let owner = app.owner_token().await;
    let url = app.at(&format!("office/families/{family_id}/primary-guardian"));
    app.put(&url, Some(&owner), json!({"guardian_id": "nobody"}))
        .await
        .expect_problem(422, "validation_failed");
    let changed = app.put(&url, Some(&owner), json!({"guardian_id": a})).await;
    let cards = changed.expect(200)["guardians"].as_array().unwrap().clone();
    assert_eq!(cards.len(), 1);
    assert_eq!(
        (cards[0]["guardian_id"].clone(), cards[0]["primary"].clone()),
        (json!(a), json!(true))
    );
    // Everyone else lost access at once; the pending invitation is dead.
    app.get(&app.at("portal/family"), Some(&tb))
        .await
        .expect_problem(403, "access_revoked");
    app.get(&app.at("portal/family"), Some(&primary))
        .await
        .expect_problem(403, "access_revoked");
    accept(&app, &pending, json!({}))
        .await
        .expect_problem(400, "invalid_token");
    // The new primary has full access (after a new login or on the same token) and must invite again.
    let fam = app.get(&app.at("portal/family"), Some(&ta)).await;
    assert_eq!(fam.expect(200)["access"], "full");
    let listed = app.get(&app.at("portal/invitations"), Some(&ta)).await;
    assert_eq!(listed.expect(200)["invitations"], json!([]));
    assert_eq!(listed.body["secondary_users"], json!([]));
    assert!(
        !app.messages_to("b@guard.test").await.last().unwrap()["subject"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let actions = app.audit_actions(&owner).await;
    assert!(actions.contains(&"family.primary_changed".to_owned()));
    // The new primary's email is now the family's primary email.
    app.post(
        &app.at("portal/signup"),
        None,
        crate::signup::signup_body("a@guard.test", None),
    )
    .await
    .expect_problem(409, "email_in_use");
}

/// A mailer that fails while `failing` is set and otherwise keeps what it sends.
#[derive(Default)]
struct FlakyMailer {
    failing: std::sync::atomic::AtomicBool,
    sent: std::sync::Mutex<Vec<portal_core::messaging::Email>>,
}

#[async_trait::async_trait]
impl portal_core::messaging::Mailer for FlakyMailer {
    async fn send_email(
        &self,
        email: portal_core::messaging::Email,
    ) -> Result<(), portal_core::messaging::DeliveryError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(portal_core::messaging::DeliveryError::Failed(
                "injected".into(),
            ));
        }
        self.sent.lock().unwrap().push(email);
        Ok(())
    }
}

#[tokio::test]
async fn a_revocation_stands_when_its_emails_fail_and_they_are_sent_later() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    let mailer = Arc::new(FlakyMailer::default());
    let app = TestApp::spawn_custom(
        Arc::new(portal_core::store::EmbeddedStore::new()),
        Some(mailer.clone()),
    )
    .await;
    app.create_tenant("swim", "owner").await;
    app.patch_tenant(json!({"email_validation_required": false}))
        .await;
    let family = sign_up(&app, "prime@guard.test").await;
    let primary = family["token"].as_str().unwrap().to_owned();
    app.post(
        &app.at("portal/policies/accept"),
        Some(&primary),
        json!({"policies": []}),
    )
    .await
    .expect(200);
    app.post(
        &app.at("portal/invitations"),
        Some(&primary),
        json!({"email": "s@guard.test"}),
    )
    .await
    .expect(201);
    let link = mailer.sent.lock().unwrap().last().unwrap().text.clone();
    let at = link.find("token=").unwrap() + "token=".len();
    let token = link[at..].split_whitespace().next().unwrap().to_owned();
    let r = accept(&app, &token, json!({"age_confirmed": true})).await;
    let (secondary_id, secondary_token) = (
        r.expect(200)["guardian"]["id"].as_str().unwrap().to_owned(),
        r.body["token"].as_str().unwrap().to_owned(),
    );

    mailer.failing.store(true, Ordering::SeqCst);
    let sent_before = mailer.sent.lock().unwrap().len();
    app.request(
        reqwest::Method::DELETE,
        &app.at(&format!("portal/secondary-users/{secondary_id}")),
        Some(&primary),
        None,
    )
    .await
    .expect(204);
    // The revocation stands although nobody could be told yet.
    app.get(&app.at("portal/family"), Some(&secondary_token))
        .await
        .expect_problem(403, "access_revoked");
    assert_eq!(mailer.sent.lock().unwrap().len(), sent_before);
    // A retry (once the backoff has passed) while the mail service is still down keeps the
    // notices queued.
    app.advance_clock(3600).await;
    app.post("/_dev/purge", None, json!({})).await.expect(200);
    assert_eq!(mailer.sent.lock().unwrap().len(), sent_before);
    // Once it is back, the scheduled job delivers both notices, exactly once.
    mailer.failing.store(false, Ordering::SeqCst);
    app.advance_clock(3600).await;
    app.post("/_dev/purge", None, json!({})).await.expect(200);
    app.post("/_dev/purge", None, json!({})).await.expect(200);
    let sent = mailer.sent.lock().unwrap();
    let recipients: Vec<&str> = sent[sent_before..].iter().map(|m| m.to.as_str()).collect();
    assert_eq!(recipients.len(), 2, "{recipients:?}");
    assert!(recipients.contains(&"s@guard.test") && recipients.contains(&"prime@guard.test"));
}
