//! Faults at the port boundary: with the store failing, every route answers
//! `503 service_unavailable` (problem+json with `Retry-After`), never a 500; with the mail
//! service failing, routes that send mail answer 503 and keep nothing of what they started.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use lambda_http::Body;
use portal_core::Portal;
use portal_core::messaging::{DeliveryError, Email, Mailer};
use portal_core::store::{
    Bound, Condition, ExpiredPage, Item, Key, Page, Query, Store, StoreError, Write,
};
use portal_http::App;

use crate::lambda_events::{EVENTS, expected, setup};

/// A store that answers every call with `Unavailable` while `down` is set (a DynamoDB outage
/// or timeout as the adapter reports it).
struct OutageStore {
    inner: Arc<dyn Store>,
    down: AtomicBool,
}

impl OutageStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("injected outage".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for OutageStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.check()?;
        self.inner.get_many(keys).await
    }
    async fn put(&self, item: Item, c: Condition) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put(item, c).await
    }
    async fn delete(&self, key: &Key, c: Condition) -> Result<(), StoreError> {
        self.check()?;
        self.inner.delete(key, c).await
    }
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.check()?;
        self.inner.transact(writes).await
    }
    async fn add(
        &self,
        key: &Key,
        field: &str,
        delta: i64,
        bound: Bound,
    ) -> Result<i64, StoreError> {
        self.check()?;
        self.inner.add(key, field, delta, bound).await
    }
    async fn query(&self, pk: &str, q: Query) -> Result<Page, StoreError> {
        self.check()?;
        self.inner.query(pk, q).await
    }
    async fn expired(
        &self,
        bucket: i64,
        now: i64,
        limit: usize,
        after: Option<String>,
    ) -> Result<ExpiredPage, StoreError> {
        self.check()?;
        self.inner.expired(bucket, now, limit, after).await
    }
}

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
        let fixture = setup().await;
        let text = fixture.fill(&std::fs::read_to_string(format!("{EVENTS}/{file}")).unwrap());
        let store = Arc::new(OutageStore {
            inner: fixture.portal.store.clone(),
            down: AtomicBool::new(true),
        });
        let portal = Portal {
            store: store.clone(),
            ..fixture.portal.clone()
        };
        let app = App::new(portal, None);
        let (status, body, retry) = status_and_body(&app, &text).await;
        assert_eq!(status, 503, "{file}: {body}");
        assert!(
            body.contains("\"code\":\"service_unavailable\""),
            "{file}: {body}"
        );
        assert!(retry.is_some(), "{file}: Retry-After");
        // Nothing half-done: once the store is back, the same request works as it would have.
        store.down.store(false, Ordering::SeqCst);
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
