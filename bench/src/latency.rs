//! The latency model: every flow of issue 12's table through `App::handle` over `DynamoStore` on
//! moto, with a fixed delay added to every DynamoDB request at the SDK boundary (the SDK's own
//! HTTP client wrapped by [`DelayedClient`]), so that a flow's request count shows up as
//! milliseconds the caller waits, as it does in a region where each round trip costs a few ms.
//!
//! moto answers far slower than DynamoDB (milliseconds of Python per request, more on a busy
//! machine), so the connector also measures the time spent waiting for moto; the flow's time
//! with moto's share replaced by nothing (`model_ms` = end to end − time in moto) is the
//! model: the app's own work plus DELAY per request, the in-region round trip including
//! DynamoDB's service time.
//!
//! Two passes with the same flows: one with the production argon2 parameters, one with minimal
//! ones (every hash of that pass, stored and checked, costs microseconds). The second is the
//! flow's time without argon2, measured rather than estimated by subtracting a verify.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use http::Method;
use portal_aws::DynamoStore;
use portal_core::Portal;
use portal_core::account::AccountName;
use portal_core::passwords::PasswordHasherConfig;
use portal_core::tenants::{SettingsChange, SettingsInput};
use portal_http::App;
use portal_local::Outbox;
use serde_json::{Value, json};

use crate::common::{
    BenchResult, OWNER, OWNER_PASSWORD, STAFF_PASSWORD, Stats, create_staff, create_tenant, expect,
    last_link_token, owner_with_terms, portal_over, r3, staff_login, write_fragment,
};
use crate::ddb::{Counter, sdk_config, signup_body, unique};

const GUARDIAN_PASSWORD: &str = "Gu4rdian-Pw!x";
const ACCOUNT: &str = "swim";

/// The flows, in the order of the table.
const FLOWS: &[&str] = &[
    "staff_login_owner",
    "staff_login_group_member",
    "get_session",
    "activity_patch_settings",
    "guardian_login",
    "signup",
    "invite_accept",
    "portal_forgot_password",
    "reset_complete",
    "office_sms_reset",
];

/// The SDK's HTTP client with `delay` slept before every request it sends (each attempt, so
/// a retry pays again, as a real round trip would). Adds the time each request then waited for
/// the server to `upstream`.
#[derive(Debug, Clone)]
pub struct DelayedClient {
    inner: SharedHttpClient,
    delay: Duration,
    upstream: Upstream,
}

/// Nanoseconds spent waiting for the server behind a [`DelayedClient`], shared by clones.
#[derive(Debug, Clone, Default)]
pub struct Upstream(Arc<AtomicU64>);

impl Upstream {
    fn take(&self) -> Duration {
        Duration::from_nanos(self.0.swap(0, Ordering::SeqCst))
    }
}

impl DelayedClient {
    /// Wraps the SDK's default HTTPS client (hyper 1 with rustls on aws-lc, what
    /// `aws-sdk-dynamodb` builds for itself with its `default-https-client` feature).
    pub fn around_default(delay: Duration, upstream: Upstream) -> SharedHttpClient {
        let inner = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https();
        SharedHttpClient::new(DelayedClient {
            inner,
            delay,
            upstream,
        })
    }
}

impl HttpClient for DelayedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(DelayedConnector {
            inner: self.inner.http_connector(settings, components),
            delay: self.delay,
            upstream: self.upstream.clone(),
        })
    }
}

#[derive(Debug)]
struct DelayedConnector {
    inner: SharedHttpConnector,
    delay: Duration,
    upstream: Upstream,
}

impl HttpConnector for DelayedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let inner = self.inner.clone();
        let delay = self.delay;
        let upstream = self.upstream.clone();
        HttpConnectorFuture::new(async move {
            tokio::time::sleep(delay).await;
            let started = Instant::now();
            let response = inner.call(request).await;
            let waited = started.elapsed().as_nanos() as u64;
            upstream.0.fetch_add(waited, Ordering::SeqCst);
            response
        })
    }
}

/// One pass: the app over a fresh table on moto, its portal, outbox and request counter.
struct Pass {
    app: App,
    portal: Portal,
    outbox: Arc<Outbox>,
    counter: Counter,
    upstream: Upstream,
    times: BTreeMap<&'static str, Vec<Duration>>,
    /// End to end less the time in moto, per run.
    model: BTreeMap<&'static str, Vec<Duration>>,
    requests: BTreeMap<&'static str, Vec<usize>>,
    operations: BTreeMap<&'static str, BTreeMap<String, usize>>,
}

impl Pass {
    async fn new(delay: Duration, hasher: PasswordHasherConfig) -> BenchResult<Self> {
        let config = sdk_config().await?;
        let counter = Counter::default();
        let upstream = Upstream::default();
        let conf = aws_sdk_dynamodb::config::Builder::from(&config)
            .http_client(DelayedClient::around_default(delay, upstream.clone()))
            .interceptor(counter.total.clone())
            .interceptor(counter.names.clone())
            .build();
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(conf),
            unique("bench-latency"),
        );
        store.ensure_table().await?;
        let (mut portal, outbox) = portal_over(Arc::new(store))?;
        portal.hasher = hasher;
        portal.hasher.prepare().await?;
        Ok(Self {
            app: App::new(portal.clone(), None),
            portal,
            outbox,
            counter,
            upstream,
            times: BTreeMap::new(),
            model: BTreeMap::new(),
            requests: BTreeMap::new(),
            operations: BTreeMap::new(),
        })
    }

    /// Runs `f` as flow `name`, timing it end to end and counting its requests. `record`:
    /// false for the warm-up round, whose first requests also open connections.
    async fn measure<T>(
        &mut self,
        name: &'static str,
        record: bool,
        f: impl AsyncFnOnce(&App) -> BenchResult<T>,
    ) -> BenchResult<T> {
        self.counter.reset();
        self.upstream.take();
        let started = Instant::now();
        let out = f(&self.app).await?;
        let elapsed = started.elapsed();
        let in_moto = self.upstream.take();
        if record {
            self.times.entry(name).or_default().push(elapsed);
            self.model
                .entry(name)
                .or_default()
                .push(elapsed.saturating_sub(in_moto));
            self.requests
                .entry(name)
                .or_default()
                .push(self.counter.total());
            self.operations.insert(name, self.counter.snapshot());
        }
        Ok(out)
    }

    fn at(p: &str) -> String {
        format!("/a/{ACCOUNT}/{p}")
    }

    /// The tenant (SMS enabled, credits for every SMS reset), its owner, and a staff member in
    /// a user group.
    async fn set_up(&self, runs: usize) -> BenchResult<String> {
        create_tenant(
            &self.portal,
            ACCOUNT,
            json!({"email_validation_required": false}),
        )
        .await?;
        let account = AccountName::parse(ACCOUNT).ok_or("account")?;
        let settings: SettingsInput = serde_json::from_value(json!({"sms_enabled": true}))?;
        self.portal
            .patch_tenant(
                &account,
                &SettingsChange::parse(&settings)?,
                Some(runs as i64 + 10),
            )
            .await?;
        let owner = owner_with_terms(&self.app, ACCOUNT).await?;
        let group = expect(
            &self.app,
            Method::POST,
            &Self::at("office/user-groups"),
            Some(&owner),
            Some(&json!({"name": "Front desk", "permissions": {"families": "full", "staff": "view"}})),
            201,
        )
        .await?;
        let group = group["id"].as_str().ok_or("no group id")?;
        create_staff(
            &self.app,
            ACCOUNT,
            &owner,
            "gina",
            json!({"user_group_id": group, "advanced_permissions": {}}),
        )
        .await?;
        Ok(owner)
    }

    /// One round of every flow; the guardian-side flows use a new family `i` each round (a
    /// sign-up, a link or an SMS can be used or sent only so often).
    async fn round(&mut self, i: usize, owner: &str, record: bool) -> BenchResult<()> {
        let at = Self::at;
        self.measure("staff_login_owner", record, async |app| {
            staff_login(app, ACCOUNT, OWNER, OWNER_PASSWORD).await
        })
        .await?;
        self.measure("staff_login_group_member", record, async |app| {
            staff_login(app, ACCOUNT, "gina", STAFF_PASSWORD).await
        })
        .await?;
        self.measure("get_session", record, async |app| {
            expect(app, Method::GET, &at("session"), Some(owner), None, 200).await
        })
        .await?;
        // A session-checked write: the idle deadline moves with the change.
        let name = format!("Bench Swim School {i}");
        self.measure("activity_patch_settings", record, async |app| {
            expect(
                app,
                Method::PATCH,
                &at("office/settings"),
                Some(owner),
                Some(&json!({"business_name": name})),
                200,
            )
            .await
        })
        .await?;

        let email = format!("g{i}@guard.test");
        let mut body = signup_body(&email);
        body["phones"][0]["number"] = json!(format!("+1555123{i:04}"));
        let family = self
            .measure("signup", record, async |app| {
                expect(
                    app,
                    Method::POST,
                    &at("portal/signup"),
                    None,
                    Some(&body),
                    201,
                )
                .await
            })
            .await?;
        let guardian_token = family["token"].as_str().ok_or("no guardian token")?;
        let guardian_id = family["guardian_id"].as_str().ok_or("no guardian id")?;
        self.measure("guardian_login", record, async |app| {
            expect(
                app,
                Method::POST,
                &at("portal/login"),
                None,
                Some(&json!({"email": email, "password": GUARDIAN_PASSWORD})),
                200,
            )
            .await
        })
        .await?;

        expect(
            &self.app,
            Method::POST,
            &at("portal/policies/accept"),
            Some(guardian_token),
            Some(&json!({"policies": []})),
            200,
        )
        .await?;
        let second = format!("s{i}@guard.test");
        expect(
            &self.app,
            Method::POST,
            &at("portal/invitations"),
            Some(guardian_token),
            Some(&json!({"email": second})),
            201,
        )
        .await?;
        let invitation = last_link_token(&self.outbox, &second)?;
        self.measure("invite_accept", record, async |app| {
            expect(
                app,
                Method::POST,
                &at("portal/invitations/accept"),
                None,
                Some(
                    &json!({"token": invitation, "age_confirmed": true, "first_name": "Sam",
                             "last_name": "Second", "password": "S3cond-Guard!x"}),
                ),
                200,
            )
            .await
        })
        .await?;

        self.measure("portal_forgot_password", record, async |app| {
            expect(
                app,
                Method::POST,
                &at("portal/password/forgot"),
                None,
                Some(&json!({"email": email})),
                202,
            )
            .await
        })
        .await?;
        let reset = last_link_token(&self.outbox, &email)?;
        self.measure("reset_complete", record, async |app| {
            expect(
                app,
                Method::POST,
                &at("password/reset"),
                None,
                Some(&json!({"token": reset, "new_password": "N3w-Guard!pw"})),
                204,
            )
            .await
        })
        .await?;

        self.measure("office_sms_reset", record, async |app| {
            expect(
                app,
                Method::POST,
                &at(&format!("office/guardians/{guardian_id}/password-reset")),
                Some(owner),
                Some(&json!({"channel": "sms"})),
                202,
            )
            .await
        })
        .await?;
        Ok(())
    }
}

/// The flows of one pass: `runs` measured rounds after one warm-up round.
async fn pass(delay: Duration, runs: usize, hasher: PasswordHasherConfig) -> BenchResult<Pass> {
    let mut p = Pass::new(delay, hasher).await?;
    let owner = p.set_up(runs + 1).await?;
    for i in 0..=runs {
        p.round(i, &owner, i > 0).await?;
    }
    Ok(p)
}

/// `portal-bench latency [DELAY_MS] [RUNS]`: writes `latency.json`.
pub async fn run(delay_ms: u64, runs: usize) -> BenchResult<()> {
    let delay = Duration::from_millis(delay_ms);
    let load_before = load_average();
    eprintln!("  {delay_ms} ms per DynamoDB request, {runs} runs per flow (production argon2)");
    let real = pass(delay, runs, PasswordHasherConfig::default()).await?;
    eprintln!("  again with minimal argon2 parameters (the flows without argon2)");
    let cheap = PasswordHasherConfig {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
    let light = pass(delay, runs, cheap).await?;

    let mut flows = serde_json::Map::new();
    eprintln!(
        "  {:<26} {:>8} {:>10} {:>10} {:>12} {:>16} {:>11}",
        "flow",
        "requests",
        "median ms",
        "model ms",
        "w/o argon2",
        "model w/o argon2",
        "injected ms"
    );
    for name in FLOWS {
        let times = Stats::from_durations(real.times.get(name).ok_or("flow not run")?, 1e3);
        let light_times = Stats::from_durations(light.times.get(name).ok_or("flow not run")?, 1e3);
        let model = Stats::from_durations(real.model.get(name).ok_or("flow not run")?, 1e3);
        let light_model = Stats::from_durations(light.model.get(name).ok_or("flow not run")?, 1e3);
        let counts = real.requests.get(name).ok_or("flow not run")?;
        let requests = counts.iter().copied().max().unwrap_or_default();
        let fewest = counts.iter().copied().min().unwrap_or_default();
        eprintln!(
            "  {name:<26} {requests:>8} {:>10.2} {:>10.2} {:>12.2} {:>16.2} {:>11}",
            times.median(),
            model.median(),
            light_times.median(),
            light_model.median(),
            requests as u64 * delay_ms
        );
        flows.insert(
            (*name).into(),
            json!({
                "requests": requests,
                "requests_fewest": fewest,
                "operations": real.operations.get(name),
                "median_ms": r3(times.median()),
                "min_ms": r3(times.min()),
                "max_ms": r3(times.max()),
                "median_ms_without_argon2": r3(light_times.median()),
                "model_ms": r3(model.median()),
                "model_ms_without_argon2": r3(light_model.median()),
                "injected_ms": requests as u64 * delay_ms,
            }),
        );
    }
    write_fragment(
        "latency",
        &json!({"latency": {
            "delay_ms_per_request": delay_ms,
            "runs": runs,
            "store": "DynamoStore on moto (loopback), delay added in the SDK's HTTP connector",
            "flows": Value::Object(flows),
            "load_average_1min": {"before": load_before, "after": load_average()},
            "notes": {
                "portal_forgot_password": "answers no sooner than 250 ms after the request \
                    (FORGOT_MIN_DURATION), so its time shows its requests only above that floor",
                "median_ms_without_argon2": "the same flows in a second pass whose argon2 \
                    parameters are minimal (m=8 KiB, t=1)",
                "model_ms": "end to end less the time spent waiting for moto: the app's own \
                    work plus the injected delay per request (median of the per-run values)",
            },
        }}),
    )
}

/// The machine's 1-minute load average (`/proc/loadavg`): timings from a busy machine are
/// not comparable with a quiet one's.
fn load_average() -> Value {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| {
            t.split_whitespace()
                .next()
                .and_then(|l| l.parse::<f64>().ok())
        })
        .map_or(Value::Null, |l| json!(l))
}
