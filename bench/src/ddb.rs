//! Helpers for the parts that run against moto (a store whose SDK client counts its requests at
//! the SDK boundary, [`portal_aws::CallCounter`]), and the purge on a new table (its first run), then of 10,000 live and 1,000 expired
//! items.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use portal_aws::{CallCounter, DynamoStore, SdkPolicy};
use portal_core::account::AccountName;
use portal_core::keys;
use portal_core::store::{Condition, Item, Store};
use serde_json::{Value, json};

use crate::common::{BenchResult, portal_over, r3, write_fragment};

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

/// The signing key as the stack keeps it, in a secret on moto (the functions refuse
/// `SIGNING_KEY` under Lambda, and read the secret at init as they do when deployed); its ARN.
pub(crate) async fn signing_key_secret() -> BenchResult<String> {
    let config = sdk_config().await?;
    let created = aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(unique("bench-signing-key"))
        .secret_string("bench-signing-key-0123456789abcdef")
        .send()
        .await?;
    Ok(created.arn().unwrap_or_default().to_owned())
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

/// The purge on a new table: its first run (empty), then 10,000 live and 1,000 expiring
/// sessions, and one run two days later when the 1,000 have expired: items read vs deleted, and
/// the requests of each run.
pub async fn purge(live: usize, expired: usize) -> BenchResult<()> {
    let (store, counter) = counted_store("bench-purge").await?;
    let store = Arc::new(store);
    let (portal, _) = portal_over(store.clone())?;
    let account = AccountName::parse("purge").ok_or("account")?;
    let now = portal.clock.epoch();
    // The first scheduled run on the new table: it starts at the table's creation, not 60 days
    // back.
    counter.reset();
    let first = portal.purge(now).await?;
    let first_run_requests = counter.total();
    let first_ops = counter.snapshot();
    eprintln!("  first run on the new table: {first_run_requests} requests");
    // The items are written as flows write them, expiring after the write: the 1,000 within the
    // next two days, the live ones after `later`.
    let later = now + 2 * 86_400;
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
                // Expiring before `later`: spread over the two days. Live: from a minute after
                // `later` to two days beyond (some share the current expiry bucket with expired
                // ones).
                let spread = (i as i64 * 7919) % 172_800;
                let expires_at = if i < expired {
                    later - 1 - spread
                } else {
                    later + 60 + spread
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
    let report = portal.purge(later).await?;
    let purge_s = t.elapsed().as_secs_f64();
    let ops = counter.snapshot();
    let total_calls = counter.total();
    // A second run right after: nothing left to do.
    counter.reset();
    let again = portal.purge(later).await?;
    let ops_again = counter.snapshot();
    write_fragment(
        "purge",
        &json!({"purge": {
            "first_run_requests": first_run_requests,
            "first_run": {"items_read": first.items_read, "ddb_operations": first_ops},
            "live_items": live,
            "expired_items": expired,
            "hours_since_previous_run": (later - now) / 3600,
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
