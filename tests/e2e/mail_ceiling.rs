//! The per-tenant daily ceiling on validation-code and invitation mails, on both stores: of
//! many parallel sends exactly the ceiling goes out, the rest answer `429 too_many_requests`
//! until the next UTC midnight and mail nothing; invitations and their resends count against
//! the same ceiling; a mail that fails gives its count back; the office cannot raise it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use portal_core::messaging::{DeliveryError, Email, Mailer};
use serde_json::json;

use crate::both_stores;
use crate::office_staff::futures_join_all;
use crate::secondary::{family_ready, invite, relogin};
use crate::support::app::{Backend, Reply, TestApp};

both_stores!(
    exactly_the_ceiling_of_parallel_codes_is_mailed,
    invitations_and_resends_count_against_the_same_ceiling,
    a_mail_that_fails_gives_its_count_back,
);

/// The `Retry-After` of a refusal past the ceiling: until the next UTC midnight.
fn until_midnight(reply: &Reply) -> i64 {
    reply.expect_problem(429, "too_many_requests");
    let seconds: i64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&seconds), "{seconds}");
    seconds
}

async fn request_code(app: &TestApp, email: &str) -> Reply {
    app.post(
        &app.at("portal/signup/email"),
        None,
        json!({"email": email}),
    )
    .await
}

async fn exactly_the_ceiling_of_parallel_codes_is_mailed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.patch_tenant(json!({"daily_mail_limit": 4})).await;
    let owner = app.owner_token().await;
    let settings = app.get(&app.at("office/settings"), Some(&owner)).await;
    assert_eq!(settings.expect(200)["daily_mail_limit"], 4);
    // The office cannot raise its own ceiling: the field is not one of its settings.
    app.patch(
        &app.at("office/settings"),
        Some(&owner),
        json!({"daily_mail_limit": 100000}),
    )
    .await;
    let settings = app.get(&app.at("office/settings"), Some(&owner)).await;
    assert_eq!(settings.expect(200)["daily_mail_limit"], 4);

    // Distinct addresses, so that only the tenant's ceiling can refuse.
    let emails: Vec<String> = (0..12).map(|i| format!("parent{i}@home.test")).collect();
    let replies = futures_join_all(emails.iter().map(|e| request_code(&app, e))).await;
    let sent = replies.iter().filter(|r| r.status == 202).count();
    assert_eq!(sent, 4, "exactly the ceiling passes");
    let mut waits = Vec::new();
    for reply in replies.iter().filter(|r| r.status != 202) {
        waits.push(until_midnight(reply));
    }
    assert_eq!(waits.len(), 8);
    assert_eq!(
        app.outbox().await.len(),
        4,
        "nothing mailed past the ceiling"
    );

    // The next UTC day starts a new count.
    let wait = *waits.iter().max().unwrap();
    request_code(&app, "late@home.test")
        .await
        .expect_problem(429, "too_many_requests");
    app.advance_clock(wait).await;
    request_code(&app, "late@home.test").await.expect(202);
    assert_eq!(app.outbox().await.len(), 5);
}

async fn invitations_and_resends_count_against_the_same_ceiling(backend: Backend) {
    let (app, primary, _, _) = family_ready(backend).await;
    app.patch_tenant(json!({"daily_mail_limit": 2})).await;
    let (invitation_id, _) = invite(&app, &primary, "first@guest.test").await;
    let resend = format!("portal/invitations/{invitation_id}/resend");
    app.post(&app.at(&resend), Some(&primary), json!({}))
        .await
        .expect(202);
    let before = app.outbox().await.len();

    let refused = app
        .post(
            &app.at("portal/invitations"),
            Some(&primary),
            json!({"email": "second@guest.test"}),
        )
        .await;
    let wait = until_midnight(&refused);
    until_midnight(&app.post(&app.at(&resend), Some(&primary), json!({})).await);
    assert_eq!(app.outbox().await.len(), before, "nothing mailed");
    // Nothing was kept of the refused invitation.
    let list = app.get(&app.at("portal/invitations"), Some(&primary)).await;
    let pending = list.expect(200)["invitations"].as_array().unwrap().clone();
    assert!(
        pending.iter().all(|i| i["email"] != "second@guest.test"),
        "{pending:?}"
    );

    app.advance_clock(wait).await;
    // A new day, and a new session (the old one went idle meanwhile).
    let primary = relogin(&app, "prime@guard.test").await;
    app.post(&app.at(&resend), Some(&primary), json!({}))
        .await
        .expect(202);
    invite(&app, &primary, "second@guest.test").await;
}

/// A mailer that fails while `down`.
#[derive(Default)]
struct Switchable {
    down: AtomicBool,
}

#[async_trait]
impl Mailer for Switchable {
    async fn send_email(&self, _: Email) -> Result<(), DeliveryError> {
        if self.down.load(Ordering::SeqCst) {
            Err(DeliveryError::Failed("simulated SES outage".into()))
        } else {
            Ok(())
        }
    }
}

async fn a_mail_that_fails_gives_its_count_back(backend: Backend) {
    let mailer = Arc::new(Switchable::default());
    let app = TestApp::spawn_with_messaging(backend, Some(mailer.clone()), None).await;
    app.patch_tenant(json!({"daily_mail_limit": 1})).await;
    mailer.down.store(true, Ordering::SeqCst);
    request_code(&app, "one@home.test")
        .await
        .expect_problem(503, "service_unavailable");
    mailer.down.store(false, Ordering::SeqCst);
    request_code(&app, "two@home.test").await.expect(202);
    until_midnight(&request_code(&app, "three@home.test").await);
}
