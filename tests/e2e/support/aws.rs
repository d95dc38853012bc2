//! The AWS adapters under test run against moto's server on loopback (`scripts/moto start`,
//! called by `scripts/test`), whose address is in `PORTAL_TEST_AWS_ENDPOINT`. Without it these
//! tests fail: they never skip silently.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use portal_aws::{DynamoStore, SdkPolicy};
use serde::Deserialize;
use serde_json::Value;

pub const ENDPOINT_VARIABLE: &str = "PORTAL_TEST_AWS_ENDPOINT";
pub const REGION: &str = "us-east-1";

/// The moto server's base URL, e.g. `http://127.0.0.1:5000`.
pub fn endpoint() -> String {
    match std::env::var(ENDPOINT_VARIABLE) {
        Ok(url) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
        _ => panic!(
            "{ENDPOINT_VARIABLE} is not set: the AWS adapter tests need a moto server. \
             Run the tests with `scripts/test`, or start one with `eval \"$(scripts/moto start)\"` \
             and stop it afterwards with `scripts/moto stop \"$MOTO_PID\"`."
        ),
    }
}

/// The moto server for the SES/SNS adapter tests: its own (`PORTAL_TEST_MESSAGING_ENDPOINT`,
/// started by `scripts/test`) when there is one, because reading sent messages back means
/// downloading moto's whole state, which every DynamoDB test of the run makes larger.
pub fn messaging_endpoint() -> String {
    match std::env::var("PORTAL_TEST_MESSAGING_ENDPOINT") {
        Ok(url) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
        _ => endpoint(),
    }
}

/// SDK configuration for the messaging moto server.
pub async fn messaging_sdk_config() -> SdkConfig {
    sdk_config_for(&messaging_endpoint()).await
}

/// A name no other test (or test run against the same server) uses.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The production policy with longer timeouts: moto on a busy test machine (every test in
/// parallel, two cores) answers in hundreds of milliseconds, not the few milliseconds of
/// DynamoDB, and a timed-out-then-retried conditional write would turn into a spurious
/// `ConditionFailed` in the race tests. moto applies one request at a time, so at the suite's
/// busiest moment (the volume tests beside the race tests) a request may queue for tens of
/// seconds: that is the test server, not the code under test.
pub fn test_policy() -> SdkPolicy {
    SdkPolicy {
        attempt_timeout: Duration::from_secs(60),
        operation_timeout: Duration::from_secs(120),
        ..SdkPolicy::DEFAULT
    }
}

/// SDK configuration for moto: dummy credentials and a fixed region (so the SDK never probes
/// instance metadata), the moto endpoint for every service.
pub async fn sdk_config() -> SdkConfig {
    sdk_config_for(&endpoint()).await
}

pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    test_policy()
        .apply(aws_config::defaults(BehaviorVersion::latest()))
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "portal-tests",
        ))
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// A DynamoDB store on a fresh table of its own (tests run in parallel).
pub async fn dynamo_store() -> DynamoStore {
    let config = sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), unique("portal"));
    store.ensure_table().await.expect("create the test table");
    store
}

/// Makes `domain` a verified SES sender identity (moto verifies at once).
pub async fn create_email_identity(config: &SdkConfig, domain: &str) {
    let client = aws_sdk_sesv2::Client::new(config);
    match client
        .create_email_identity()
        .email_identity(domain)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) => {}
        Err(e) => panic!("CreateEmailIdentity {domain}: {e:?}"),
    }
}

/// An email as moto records it (`ses` → `Message` in `/moto-api/data.json`). moto keeps one body:
/// the HTML part when there is one, else the text part.
#[derive(Debug, Clone, Deserialize)]
pub struct SentEmail {
    pub id: String,
    pub source: String,
    pub destinations: Destinations,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Destinations {
    #[serde(rename = "ToAddresses", default)]
    pub to_addresses: Vec<String>,
}

/// An SMS as moto records it (`sns` → `SMS` in `/moto-api/data.json`).
#[derive(Debug, Clone, Deserialize)]
pub struct SentSms {
    pub message_id: String,
    pub phone_number: String,
    pub message: String,
}

/// The messaging moto server's whole state (`GET /moto-api/data.json`).
pub async fn moto_data() -> Value {
    let url = format!("{}/moto-api/data.json", messaging_endpoint());
    let response = reqwest::get(&url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(
        response.status().is_success(),
        "GET {url}: {}",
        response.status()
    );
    response
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: body is not JSON: {e}"))
}

fn records<T: for<'de> Deserialize<'de>>(data: &Value, service: &str, kind: &str) -> Vec<T> {
    match data.get(service).and_then(|s| s.get(kind)) {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => serde_json::from_value(list.clone())
            .unwrap_or_else(|e| panic!("moto {service}.{kind} has an unexpected shape: {e}")),
    }
}

/// Every email moto's SES accepted since it started (or was reset).
pub async fn sent_emails() -> Vec<SentEmail> {
    records(&moto_data().await, "ses", "Message")
}

/// Every SMS moto's SNS accepted since it started (or was reset).
pub async fn sent_sms() -> Vec<SentSms> {
    records(&moto_data().await, "sns", "SMS")
}
