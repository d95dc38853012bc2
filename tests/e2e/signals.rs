//! Operational signals: the metrics the alarms count (through a recording sink in place of the
//! EMF lines, on both stores) and the request and trace ids on every log line of a Lambda
//! invocation.

use std::sync::{Arc, Mutex};

use lambda_http::RequestExt;
use portal_core::Portal;
use portal_core::metrics::{Metric, Metrics};
use portal_http::App;
use serde_json::{Value, json};

use crate::both_stores;
use crate::lambda_events::{EVENTS, setup};
use crate::signup::{GUARDIAN_PASSWORD, sign_up};
use crate::support::app::{Backend, OWNER_PASSWORD, TestApp, store_for};
use crate::support::faults::{FaultStore, StoreFault};

both_stores!(sign_ins_reset_links_and_outages_are_counted);

/// The metrics sink of a test: what was recorded, in order.
#[derive(Default)]
pub struct Recorded(Mutex<Vec<Metric>>);

impl Metrics for Recorded {
    fn record(&self, metric: Metric) {
        self.0.lock().unwrap().push(metric);
    }
}

impl Recorded {
    /// What was recorded since the last call.
    pub fn take(&self) -> Vec<Metric> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

async fn sign_ins_reset_links_and_outages_are_counted(backend: Backend) {
    let recorded = Arc::new(Recorded::default());
    let store = FaultStore::new(store_for(backend).await, StoreFault::None);
    let app = TestApp::spawn_metered(store.clone(), recorded.clone()).await;
    recorded.take();

    app.staff_login("owner", OWNER_PASSWORD).await.expect(200);
    assert_eq!(recorded.take(), [Metric::LoginSucceeded]);

    for _ in 0..5 {
        app.staff_login("owner", "Wrong-Passw0rd!")
            .await
            .expect_problem(401, "invalid_credentials");
    }
    assert_eq!(recorded.take(), [Metric::LoginFailed; 5]);
    app.staff_login("owner", OWNER_PASSWORD)
        .await
        .expect_problem(429, "too_many_attempts");
    assert_eq!(recorded.take(), [Metric::LoginLocked]);

    // A guardian's sign-in counts the same way (an unknown email is a failed sign-in).
    app.post(
        &app.at("portal/login"),
        None,
        json!({"email": "nobody@swim.test", "password": "Wrong-Passw0rd!"}),
    )
    .await
    .expect_problem(401, "invalid_credentials");
    assert_eq!(recorded.take(), [Metric::LoginFailed]);

    // A reset link mailed: the mail and the link.
    app.patch_tenant(json!({"email_validation_required": false}))
        .await;
    sign_up(&app, "gwen@swim.test").await;
    recorded.take();
    app.post(
        &app.at("portal/password/forgot"),
        None,
        json!({"email": "gwen@swim.test"}),
    )
    .await
    .expect(202);
    assert_eq!(recorded.take(), [Metric::MailSent, Metric::ResetLinkSent]);
    app.post(
        &app.at("portal/login"),
        None,
        json!({"email": "gwen@swim.test", "password": GUARDIAN_PASSWORD}),
    )
    .await
    .expect(200);
    assert_eq!(recorded.take(), [Metric::LoginSucceeded]);

    // A client error is no server error.
    app.get("/a/nope", None)
        .await
        .expect_problem(404, "account_not_found");
    assert_eq!(recorded.take(), []);

    // DynamoDB down: the function answers 503 itself, and the alarms still see it, for the API
    // and for a hosted page.
    store.set(StoreFault::Down);
    let outage = [
        Metric::ServerError {
            code: "service_unavailable",
        },
        Metric::ServiceUnavailable,
    ];
    app.get(&app.at(""), None)
        .await
        .expect_problem(503, "service_unavailable");
    assert_eq!(recorded.take(), outage);
    let page = app.get(&app.at("sign-in"), None).await;
    assert_eq!(page.status, 503);
    assert_eq!(recorded.take(), outage);
    // A sign-in that could not be checked is no sign-in outcome: only the outage counts.
    app.staff_login("owner", OWNER_PASSWORD)
        .await
        .expect_problem(503, "service_unavailable");
    assert_eq!(recorded.take(), outage);
}

/// A log destination the test can read back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

#[tokio::test]
async fn every_log_line_of_an_invocation_carries_its_request_and_trace_ids() {
    let fixture = setup().await;
    // The store down: the invocation logs the failure and then its request line.
    let portal = Portal {
        store: FaultStore::new(fixture.portal.store.clone(), StoreFault::Down),
        ..fixture.portal.clone()
    };
    let app = App::new(portal, None);
    let text = std::fs::read_to_string(format!("{EVENTS}/login/post-staff-login.json")).unwrap();
    let mut context = lambda_http::Context::default();
    context.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd".into();
    context.xray_trace_id =
        Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into());
    let request = lambda_http::request::from_str(&fixture.fill(&text))
        .unwrap()
        .with_lambda_context(context);

    let captured = Captured::default();
    let writer = captured.clone();
    let response = {
        let _logs =
            tracing::subscriber::set_default(portal_lambda::log_subscriber(move || writer.clone()));
        let response = portal_lambda::handle(&app, request).await;
        tracing::info!("after the invocation");
        response
    };
    assert_eq!(response.status(), 503);

    let lines = captured.lines();
    let (during, after) = lines.split_at(lines.len() - 1);
    assert!(during.len() >= 2, "the failure and the request: {lines:#?}");
    for line in during {
        assert_eq!(
            line["span"]["request_id"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
            "{line}"
        );
        assert_eq!(
            line["span"]["trace_id"],
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
            "{line}"
        );
    }
    // The request line itself: route pattern, status, and the id in its own fields too.
    let request_line = during
        .iter()
        .find(|l| l["fields"]["message"] == "request")
        .unwrap_or_else(|| panic!("a request line: {lines:#?}"));
    assert_eq!(
        request_line["fields"]["request_id"],
        "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
    );
    assert_eq!(request_line["fields"]["route"], "/a/{account}/staff/login");
    assert_eq!(request_line["fields"]["status"], 503);
    // Outside an invocation there is no span to name.
    assert!(after[0].get("span").is_none(), "{}", after[0]);
}
