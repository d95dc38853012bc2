//! Faults at the port boundary: with the store failing, every route answers
//! `503 service_unavailable` (problem+json with `Retry-After`), never a 500; with the mail
//! service failing, routes that send mail answer 503 and keep nothing of what they started.

use std::sync::Arc;

use async_trait::async_trait;
use lambda_http::Body;
use portal_core::Portal;
use portal_core::messaging::{DeliveryError, Email, Mailer};
use portal_http::App;

use crate::lambda_events::{EVENTS, expected, setup};
use crate::support::faults::{FaultStore, StoreFault};

struct DownMailer;

#[async_trait]
impl Mailer for DownMailer {
    async fn send_email(&self, _: Email) -> Result<(), DeliveryError> {
        Err(DeliveryError::Failed("injected outage".into()))
    }
}

async fn status_and_body(app: &App, text: &str) -> (u16, String, Option<String>) {
    let request = lambda_http::request::from_str(text).unwrap();
    let response = portal_lambda::handle(app, request).await;
    let body = match response.body() {
        Body::Text(t) => t.clone(),
        _ => String::new(),
    };
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), body, retry)
}

#[tokio::test]
async fn every_route_answers_503_while_the_store_is_down() {
    for (file, _) in expected() {
        // The stylesheet is compiled in: it never reads the store.
        if file == "pages/get-assets-file.json" {
            continue;
        }
        let fixture = setup().await;
        let text = fixture.fill(&std::fs::read_to_string(format!("{EVENTS}/{file}")).unwrap());
        let store = FaultStore::new(fixture.portal.store.clone(), StoreFault::Down);
        let portal = Portal {
            store: store.clone(),
            ..fixture.portal.clone()
        };
        let app = App::new(portal, None);
        let (status, body, retry) = status_and_body(&app, &text).await;
        assert_eq!(status, 503, "{file}: {body}");
        if file.starts_with("pages/") {
            // A page says it in words ("try again"), as HTML.
            assert!(body.contains("Please try again"), "{file}: {body}");
        } else {
            assert!(
                body.contains("\"code\":\"service_unavailable\""),
                "{file}: {body}"
            );
        }
        assert!(retry.is_some(), "{file}: Retry-After");
        // Nothing half-done: once the store is back, the same request works as it would have.
        store.set(StoreFault::None);
        let (status, body, _) = status_and_body(&app, &text).await;
        assert_eq!(status, expected()[&file], "{file} after the outage: {body}");
    }
}

#[tokio::test]
async fn routes_that_send_mail_answer_503_and_keep_nothing_while_mail_is_down() {
    // (event, status while mail is down): forgot-password answers 202 whatever happened.
    let cases = [
        ("signup/post-portal-signup-email.json", 503),
        ("invite/post-portal-invitations.json", 503),
        (
            "invite/post-portal-invitations-invitation_id-resend.json",
            503,
        ),
        (
            "reset-password/post-office-staff-staff_id-password-reset.json",
            503,
        ),
        (
            "reset-password/post-office-guardians-guardian_id-password-reset.json",
            503,
        ),
        ("reset-password/post-staff-password-forgot.json", 202),
        ("reset-password/post-portal-password-forgot.json", 202),
    ];
    for (file, down_status) in cases {
        let fixture = setup().await;
        // The sign-up event needs email validation on to send a code.
        if file.contains("signup-email") {
            let account = portal_core::account::AccountName::parse("swim").unwrap();
            let change = portal_core::tenants::SettingsChange::parse(
                &serde_json::from_value(serde_json::json!({"email_validation_required": true}))
                    .unwrap(),
            )
            .unwrap();
            fixture
                .portal
                .patch_tenant(&account, &change, None)
                .await
                .unwrap();
        }
        let text = fixture.fill(&std::fs::read_to_string(format!("{EVENTS}/{file}")).unwrap());
        let portal = Portal {
            mailer: Arc::new(DownMailer),
            ..fixture.portal.clone()
        };
        let app = App::new(portal, None);
        let (status, body, _) = status_and_body(&app, &text).await;
        assert_eq!(status, down_status, "{file}: {body}");
        if status == 503 {
            assert!(body.contains("service_unavailable"), "{file}: {body}");
        }
        // Nothing was kept that a later request would trip over: with mail back, the same
        // request succeeds. (That a failed send gives its allowance back is pinned by
        // signup::a_code_that_cannot_be_mailed_leaves_nothing_behind.)
        let app = App::new(fixture.portal.clone(), None);
        let (status, body, _) = status_and_body(&app, &text).await;
        assert!(status < 300, "{file} with mail back: {status} {body}");
    }
}
