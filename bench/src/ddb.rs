//! DynamoDB requests per flow, counted at the SDK boundary ([`portal_aws::CallCounter`]) against
//! moto, and the purge on a table of 10,000 live and 1,000 expired items.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use http::Method;
use portal_aws::{CallCounter, DynamoStore, SdkPolicy};
use portal_core::account::AccountName;
use portal_core::keys;
use portal_core::store::{Condition, Item, Store};
use portal_core::tenants::{SettingsChange, SettingsInput};
use portal_http::App;
use serde_json::{Value, json};

use crate::common::{
    BenchResult, STAFF_PASSWORD, Stats, call, create_staff, create_tenant, expect, last_link_token,
    owner_with_terms, portal_over, r3, staff_login, write_fragment,
};

const GUARDIAN_PASSWORD: &str = "Gu4rdian-Pw!x";

/// The moto endpoint (`PORTAL_TEST_AWS_ENDPOINT`, as `scripts/moto start` prints it).
fn endpoint() -> BenchResult<String> {
    std::env::var("PORTAL_TEST_AWS_ENDPOINT")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .map_err(|_| "PORTAL_TEST_AWS_ENDPOINT is not set (start moto: scripts/moto start)".into())
}

pub(crate) async fn sdk_config() -> BenchResult<SdkConfig> {
    let policy = SdkPolicy {
        attempt_timeout: Duration::from_secs(20),
        operation_timeout: Duration::from_secs(60),
        ..SdkPolicy::DEFAULT
    };
    Ok(policy
        .apply(aws_config::defaults(BehaviorVersion::latest()))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bench"))
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint()?)
        .load()
        .await)
}

pub(crate) fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

async fn counted_store(prefix: &str) -> BenchResult<(DynamoStore, Counter)> {
    let config = sdk_config().await?;
    let counter = Counter::default();
    let conf = aws_sdk_dynamodb::config::Builder::from(&config)
        .interceptor(counter.total.clone())
        .interceptor(counter.names.clone())
        .build();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), unique(prefix));
    store.ensure_table().await?;
    Ok((store, counter))
}

pub(crate) fn signup_body(email: &str) -> Value {
    json!({
        "client": "web", "age_confirmed": true,
        "guardian": {"first_name": "Gwen", "last_name": "Guard", "relationship": "parent"},
        "email": {"address": email, "type": "home", "opt_in": true},
        "phones": [{"number": "(555) 123-9999", "type": "mobile", "sms_opt_in": true}],
        "password": GUARDIAN_PASSWORD, "password_confirmation": GUARDIAN_PASSWORD,
        "address": {"line1": "1 Pool Lane", "city": "Springfield", "region": "IL",
                    "postal_code": "62701", "country": "US"}
    })
}

/// Operations counted at the SDK boundary: totals (retries count once) and names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counter {
    pub(crate) total: CallCounter,
    pub(crate) names: OperationNames,
}

impl Counter {
    pub(crate) fn reset(&self) {
        self.total.reset();
        self.names.take();
    }

    pub(crate) fn snapshot(&self) -> BTreeMap<String, usize> {
        self.names.take()
    }

    pub(crate) fn total(&self) -> usize {
        self.total.total()
    }
}

/// One measured flow: its total and the operations it used.
struct Flows {
    counter: Counter,
    counts: BTreeMap<String, Value>,
}

impl Flows {
    fn start(&self) {
        self.counter.reset();
    }

    fn record(&mut self, name: &str) {
        let ops = self.counter.snapshot();
        let total = self.counter.total();
        eprintln!("  {name}: {total} {ops:?}");
        self.counts
            .insert(name.into(), json!({"calls": total, "operations": ops}));
    }
}

pub async fn calls() -> BenchResult<()> {
    let (store, counter) = counted_store("bench-calls").await?;
    let (portal, outbox) = portal_over(Arc::new(store))?;
    let a = "swim";
    create_tenant(&portal, a, json!({"email_validation_required": false})).await?;
    let app = App::new(portal.clone(), None);
    let owner = owner_with_terms(&app, a).await?;
    let fred_id = create_staff(&app, a, &owner, "fred", json!({})).await?;
    let mut f = Flows {
        counter,
        counts: BTreeMap::new(),
    };
    let at = |p: &str| format!("/a/{a}/{p}");

    // Warm the connection pool so no flow pays for it (counts are requests, not time).
    staff_login(&app, a, "fred", STAFF_PASSWORD).await?;

    f.start();
    let login = staff_login(&app, a, "fred", STAFF_PASSWORD).await?;
    f.record("staff_login");
    let fred = login["token"].as_str().ok_or("no token")?.to_owned();

    f.start();
    expect(&app, Method::GET, &at("session"), Some(&fred), None, 200).await?;
    f.record("get_session");

    // A session-checked POST that moves the idle deadline and is refused by the domain
    // (as in tests/e2e/ddb_calls.rs): the activity write and nothing else.
    f.start();
    let (s, _) = call(
        &app,
        Method::POST,
        &at("staff/terms/accept"),
        Some(&fred),
        Some(&json!({"version": "1999"})),
    )
    .await;
    f.record("activity_post");
    if s != 409 {
        eprintln!("  activity_post answered {s} (expected 409)");
    }

    f.start();
    expect(
        &app,
        Method::GET,
        &at("office/settings"),
        Some(&owner),
        None,
        200,
    )
    .await?;
    f.record("office_get_settings");

    f.start();
    let family = expect(
        &app,
        Method::POST,
        &at("portal/signup"),
        None,
        Some(&signup_body("calls@guard.test")),
        201,
    )
    .await?;
    f.record("signup");
    let gwen = family["token"]
        .as_str()
        .ok_or("no guardian token")?
        .to_owned();

    f.start();
    expect(
        &app,
        Method::POST,
        &at("portal/login"),
        None,
        Some(&json!({"email": "calls@guard.test", "password": GUARDIAN_PASSWORD})),
        200,
    )
    .await?;
    f.record("guardian_login");

    expect(
        &app,
        Method::POST,
        &at("portal/policies/accept"),
        Some(&gwen),
        Some(&json!({"policies": []})),
        200,
    )
    .await?;
    expect(
        &app,
        Method::POST,
        &at("portal/invitations"),
        Some(&gwen),
        Some(&json!({"email": "second@guard.test"})),
        201,
    )
    .await?;
    let invitation = last_link_token(&outbox, "second@guard.test")?;
    f.start();
    expect(
        &app,
        Method::POST,
        &at("portal/invitations/accept"),
        None,
        Some(
            &json!({"token": invitation, "age_confirmed": true, "first_name": "Sam",
                     "last_name": "Second", "password": "S3cond-Guard!x"}),
        ),
        200,
    )
    .await?;
    f.record("invite_accept");

    f.start();
    expect(
        &app,
        Method::POST,
        &at("staff/password/forgot"),
        None,
        Some(&json!({"username": "fred"})),
        202,
    )
    .await?;
    f.record("forgot_password");

    f.start();
    expect(
        &app,
        Method::POST,
        &at("staff/password/forgot"),
        None,
        Some(&json!({"username": "nobody"})),
        202,
    )
    .await?;
    f.record("forgot_password_unknown_user");

    let reset = last_link_token(&outbox, "fred@bench.test")?;
    f.start();
    expect(
        &app,
        Method::POST,
        &at("password/reset"),
        None,
        Some(&json!({"token": reset, "new_password": "N3w-Desk!pw"})),
        204,
    )
    .await?;
    f.record("reset_complete");
    let _ = fred_id;

    let account = AccountName::parse(a).ok_or("account")?;
    let settings: SettingsInput = serde_json::from_value(json!({"sms_enabled": true}))?;
    portal
        .patch_tenant(&account, &SettingsChange::parse(&settings)?, Some(10))
        .await?;
    let phoned = create_staff(&app, a, &owner, "phoned", json!({"phone": "+15551230001"})).await?;
    f.start();
    expect(
        &app,
        Method::POST,
        &at(&format!("office/staff/{phoned}/password-reset")),
        Some(&owner),
        Some(&json!({"channel": "sms"})),
        202,
    )
    .await?;
    f.record("sms_reset");

    // Forgot-password timing on DynamoDB (moto), known vs unknown user: round trips dominate
    // there, unlike on the embedded store.
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let n = 15;
    for i in 0..n {
        create_staff(&app, a, &owner, &format!("fk{i}"), json!({})).await?;
    }
    for i in 0..n {
        for (user, into) in [
            (format!("fk{i}"), &mut known),
            (format!("ghost{i}"), &mut unknown),
        ] {
            let t = Instant::now();
            expect(
                &app,
                Method::POST,
                &at("staff/password/forgot"),
                None,
                Some(&json!({"username": user})),
                202,
            )
            .await?;
            into.push(t.elapsed());
        }
    }
    let k = Stats::from_durations(&known, 1e3);
    let u = Stats::from_durations(&unknown, 1e3);

    write_fragment(
        "ddb_calls",
        &json!({
            "ddb_calls": f.counts,
            "forgot_password_on_moto": {
                "unknown_median_ms": r3(u.median()),
                "known_median_ms": r3(k.median()),
                "ratio": r3(u.median() / k.median()),
                "samples": n,
            }
        }),
    )
}

/// 10,000 live and 1,000 expired sessions, then one purge run: items read vs deleted.
pub async fn purge(live: usize, expired: usize) -> BenchResult<()> {
    let (store, counter) = counted_store("bench-purge").await?;
    let store = Arc::new(store);
    let (portal, _) = portal_over(store.clone())?;
    let account = AccountName::parse("purge").ok_or("account")?;
    let now = portal.clock.epoch();
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let total = live + expired;
    for _ in 0..32 {
        let store = store.clone();
        let account = account.clone();
        let next = next.clone();
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return Ok::<(), portal_core::store::StoreError>(());
                }
                // Expired: spread over the last two days. Live: from a minute from now to two
                // days ahead (some share the current expiry bucket with expired ones).
                let spread = (i as i64 * 7919) % 172_800;
                let expires_at = if i < expired {
                    now - 1 - spread
                } else {
                    now + 60 + spread
                };
                let key = keys::session(&account, &format!("s{i:06}"));
                let item = Item::from_record(key, &json!({"bench": true, "n": i}))?
                    .expiring_at(expires_at);
                store.put(item, Condition::Always).await?;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let load_s = t.elapsed().as_secs_f64();
    eprintln!("  wrote {total} items in {load_s:.1} s");
    counter.reset();
    let t = Instant::now();
    let report = portal.purge(now).await?;
    let purge_s = t.elapsed().as_secs_f64();
    let ops = counter.snapshot();
    let total_calls = counter.total();
    // A second run right after: nothing left to do.
    counter.reset();
    let again = portal.purge(now).await?;
    let ops_again = counter.snapshot();
    write_fragment(
        "purge",
        &json!({"purge": {
            "live_items": live,
            "expired_items": expired,
            "items_read": report.items_read,
            "items_deleted": report.deleted,
            "ddb_calls": total_calls,
            "ddb_operations": ops,
            "seconds_on_moto": r3(purge_s),
            "load_seconds_on_moto": r3(load_s),
            "second_run": {"items_read": again.items_read, "items_deleted": again.deleted, "ddb_calls": ops_again},
        }}),
    )
}

/// Names the DynamoDB operations sent (from the `x-amz-target` header of each attempt), beside
/// [`CallCounter`]'s totals.
#[derive(Debug, Clone, Default)]
pub(crate) struct OperationNames {
    seen: Arc<std::sync::Mutex<BTreeMap<String, usize>>>,
}

impl OperationNames {
    fn take(&self) -> BTreeMap<String, usize> {
        self.seen
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for OperationNames {
    fn name(&self) -> &'static str {
        "OperationNames"
    }

    fn read_before_transmit(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned())
            .unwrap_or_else(|| "unknown".into());
        if let Ok(mut s) = self.seen.lock() {
            *s.entry(target).or_default() += 1;
        }
        Ok(())
    }
}
