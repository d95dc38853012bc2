//! Rules of the contract at the edges (issue 15), one test per rule, named by the rule it
//! proves, on both stores wherever a store is involved.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::support::app::{Backend, OWNER_PASSWORD, TestApp};

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
