//! Lambda wiring: each function's `main` is `portal_lambda::run(Function::X)`. Clients, the
//! signing key and the app are built once per cold start and shared by every invocation.
//!
//! Environment: `TABLE_NAME`, `PORTAL_URL`, `MAIL_FROM`, and the token-signing key ring either as
//! `SIGNING_KEY_SECRET_ARN` (Secrets Manager: read at init, then again every 5 minutes and when
//! a token names a key the ring lacks, see `portal_core::token_signer`) or `SIGNING_KEY` (tests
//! and local invokes only: refused on Lambda); `PORTAL_STAGE` names the stage of the metrics (see
//! `portal_aws::EmfMetrics`). Logs are JSON lines through `tracing`, each with the invocation's
//! `request_id` and X-Ray `trace_id` (see [`log_subscriber`] and [`handle`]).
//!
//! Measurement switch: `PORTAL_WARM_UP=off` skips the init-time warm-up call (see [`warm_up`]),
//! only so that `portal-bench first-response` can show what it saves. Leave it unset.

use std::sync::Arc;

use bytes::Bytes;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use portal_core::Portal;
use portal_core::clock::{Clock, SystemClock};
use portal_core::passwords::PasswordHasherConfig;
use portal_core::signer::KeyRing;
use portal_core::store::Store;
use portal_core::token_signer::TokenSigner;
use portal_http::origin::OriginGuard;
use portal_http::{App, Function};
use tracing::Instrument;

pub type Error = lambda_http::Error;

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set").into())
}

/// JSON logs on standard output (see [`log_subscriber`]).
pub fn init_tracing() {
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = log_subscriber(std::io::stdout).try_init();
}

/// JSON log lines to `writer`, with the level from `RUST_LOG` (default `info`). Every line
/// carries the fields of the span it was written in (`"span"`): within an invocation that is
/// [`handle`]'s, with the request id and the X-Ray trace id, so that one line leads to the
/// request's other lines and to its trace. No time: Lambda stamps each line.
pub fn log_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .without_time()
        .with_writer(writer)
        .finish()
}

/// Where the token-signing key ring comes from.
#[derive(Debug, PartialEq, Eq)]
enum KeySetting {
    /// `SIGNING_KEY_SECRET_ARN`: read at init and again while running (see
    /// `portal_core::token_signer`).
    Secret(String),
    /// `SIGNING_KEY` (a key, or a ring in the stored JSON form): fixed; tests and local invokes.
    Fixed(String),
}

/// The key setting of an environment: `secret_arn` and `signing_key` are the variables'
/// values, `lambda_function` is `AWS_LAMBDA_FUNCTION_NAME` (set by the Lambda runtime). On
/// Lambda, `SIGNING_KEY` is refused: a key in the function's configuration is readable by
/// whoever can read that configuration and is never rotated.
fn key_setting(
    secret_arn: Option<String>,
    signing_key: Option<String>,
    lambda_function: Option<String>,
) -> Result<KeySetting, String> {
    match (secret_arn, signing_key, lambda_function) {
        (Some(arn), _, _) => Ok(KeySetting::Secret(arn)),
        (None, Some(_), Some(function)) => Err(format!(
            "SIGNING_KEY is for tests and local invokes only: on Lambda (function {function}) \
             the key ring must come from Secrets Manager through SIGNING_KEY_SECRET_ARN"
        )),
        (None, Some(key), None) => Ok(KeySetting::Fixed(key)),
        (None, None, _) => Err(
            "environment variable SIGNING_KEY_SECRET_ARN (or SIGNING_KEY off Lambda) is not set"
                .into(),
        ),
    }
}

/// The token signer of a function that issues tokens, from the environment.
async fn signer(
    config: &aws_config::SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<TokenSigner, Error> {
    let var = |name: &str| std::env::var(name).ok();
    match key_setting(
        var("SIGNING_KEY_SECRET_ARN"),
        var("SIGNING_KEY"),
        var("AWS_LAMBDA_FUNCTION_NAME"),
    )? {
        KeySetting::Secret(arn) => secret_signer(config, arn, clock).await,
        KeySetting::Fixed(text) => Ok(TokenSigner::fixed(
            KeyRing::parse(&text, 0).map_err(|e| format!("SIGNING_KEY: {e}"))?,
        )),
    }
}

#[cfg(feature = "secret")]
async fn secret_signer(
    config: &aws_config::SdkConfig,
    arn: String,
    clock: Arc<dyn Clock>,
) -> Result<TokenSigner, Error> {
    use portal_core::token_signer::KeySource;
    let source =
        portal_aws::SecretsKeySource::new(aws_sdk_secretsmanager::Client::new(config), arn);
    let ring = source.load().await?;
    tracing::info!(
        kid = ring.current().kid(),
        keys = ring.keys().len(),
        "signing key ring read"
    );
    Ok(TokenSigner::refreshing(ring, Arc::new(source), clock))
}

/// Without the `secret` feature (tests, local invokes) the key comes from `SIGNING_KEY` only.
#[cfg(not(feature = "secret"))]
async fn secret_signer(
    _: &aws_config::SdkConfig,
    _: String,
    _: Arc<dyn Clock>,
) -> Result<TokenSigner, Error> {
    Err("SIGNING_KEY_SECRET_ARN is set but this build cannot read secrets".into())
}

#[cfg(feature = "mail")]
fn mailer(config: &aws_config::SdkConfig) -> Arc<dyn portal_core::messaging::Mailer> {
    Arc::new(portal_aws::SesMailer::new(
        aws_sdk_sesv2::Client::new(config),
        std::env::var("MAIL_FROM").unwrap_or_default(),
    ))
}

#[cfg(not(feature = "mail"))]
fn mailer(_: &aws_config::SdkConfig) -> Arc<dyn portal_core::messaging::Mailer> {
    Arc::new(portal_core::messaging::NoMessaging)
}

#[cfg(feature = "sms")]
fn sms_sender(config: &aws_config::SdkConfig) -> Arc<dyn portal_core::messaging::SmsSender> {
    Arc::new(portal_aws::SnsSender::new(aws_sdk_sns::Client::new(config)))
}

#[cfg(not(feature = "sms"))]
fn sms_sender(_: &aws_config::SdkConfig) -> Arc<dyn portal_core::messaging::SmsSender> {
    Arc::new(portal_core::messaging::NoMessaging)
}

/// Builds the function's app from the environment (the AWS adapters). Behind the front door
/// (`ORIGIN_VERIFY_SECRET_ARN`, set by the stack on every stage but dev) the app requires
/// CloudFront's origin-verify header, whose value it reads once, beside the rest of init.
pub async fn app_from_env(function: Function) -> Result<App, Error> {
    let origin = async {
        let arn = std::env::var(ORIGIN_VERIFY_SECRET_ARN).ok();
        origin_guard(&portal_aws::sdk_config().await, arn).await
    };
    let (portal, guard) = tokio::join!(portal_from_env(true), origin);
    let app = App::new(portal?, Some(function));
    Ok(match guard? {
        Some(guard) => app.with_origin_guard(guard),
        None => app,
    })
}

/// Where the front door's origin-verify value is kept (see [`origin_guard`]).
pub const ORIGIN_VERIFY_SECRET_ARN: &str = "ORIGIN_VERIFY_SECRET_ARN";

/// The origin check for a secret ARN (`None` without one: dev, local invokes). A secret that
/// cannot be read fails init: a function that let every request through would be a hole.
#[cfg(feature = "secret")]
pub async fn origin_guard(
    config: &aws_config::SdkConfig,
    arn: Option<String>,
) -> Result<Option<OriginGuard>, Error> {
    let Some(arn) = arn else { return Ok(None) };
    let client = aws_sdk_secretsmanager::Client::new(config);
    let value = portal_aws::secrets::read_plain(&client, &arn)
        .await
        .map_err(|e| format!("reading the origin-verify secret: {e}"))?;
    Ok(Some(
        OriginGuard::new(value).ok_or("the origin-verify secret is empty")?,
    ))
}

/// Without the `secret` feature nothing can read the value: refuse rather than run unguarded.
#[cfg(not(feature = "secret"))]
pub async fn origin_guard(
    _: &aws_config::SdkConfig,
    arn: Option<String>,
) -> Result<Option<OriginGuard>, Error> {
    match arn {
        None => Ok(None),
        Some(_) => Err("ORIGIN_VERIFY_SECRET_ARN is set but this build cannot read secrets".into()),
    }
}

/// Builds the domain over the AWS adapters from the environment (the HTTP functions and the
/// scheduled purge).
///
/// `issues_tokens`: HTTP functions sign and check bearer tokens and put links in messages, so
/// they need the signing key and `PORTAL_URL`. The scheduled job does neither (it only deletes
/// and re-sends already composed notices): it gets a throwaway key and no secret access.
pub async fn portal_from_env(issues_tokens: bool) -> Result<Portal, Error> {
    let config = portal_aws::sdk_config().await;
    let store: Arc<dyn Store> = Arc::new(portal_aws::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        env("TABLE_NAME")?,
    ));
    let hasher = PasswordHasherConfig::default();
    // Init's waits overlap: the dummy hash (CPU, on the blocking pool), the signing key (a
    // Secrets Manager round trip) and the store warm-up (DynamoDB's handshake and one read).
    // The first caller of a new environment waits for init, so a warm-up run after the rest
    // would only move the handshake from the request into init; run beside the hash, it is
    // hidden (docs/performance.md, "Warm first request").
    let warm = async {
        if warm_up_enabled() {
            warm_up(store.as_ref()).await;
        }
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (signer_and_url, prepared, ()) = tokio::join!(
        signer_and_url(issues_tokens, &config, clock.clone()),
        hasher.prepare(),
        warm
    );
    let (signer, portal_url) = signer_and_url?;
    prepared?;
    Ok(Portal {
        store,
        mailer: mailer(&config),
        sms: sms_sender(&config),
        clock,
        metrics: Arc::new(portal_aws::EmfMetrics::from_env()),
        hasher,
        security: portal_core::security::SecurityPolicy::default(),
        signer,
        portal_url,
    })
}

/// The token signer and `PORTAL_URL` of a function that issues tokens; a throwaway key and no
/// URL for the scheduled job (see [`portal_from_env`]).
async fn signer_and_url(
    issues_tokens: bool,
    config: &aws_config::SdkConfig,
    clock: Arc<dyn Clock>,
) -> Result<(TokenSigner, String), Error> {
    if issues_tokens {
        Ok((signer(config, clock).await?, env("PORTAL_URL")?))
    } else {
        let throwaway = portal_core::tokens::new_token()?.0.into_bytes();
        Ok((TokenSigner::new(&throwaway.into())?, String::new()))
    }
}

/// Whether init opens the store connection: always, unless `PORTAL_WARM_UP=off` (a
/// measurement switch for the benchmark, never set in the stack).
fn warm_up_enabled() -> bool {
    std::env::var("PORTAL_WARM_UP").map_or(true, |v| v != "off")
}

/// Opens the DynamoDB connection during init (one read of a key nobody writes), so that the
/// first request does not pay the TCP and TLS handshake. A failure is only logged: the request
/// path reports an unavailable store itself.
async fn warm_up(store: &dyn Store) {
    let started = std::time::Instant::now();
    match store
        .get(&portal_core::store::Key::new("P#WARMUP", "#"))
        .await
    {
        Ok(_) => tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "store connection warmed up"
        ),
        Err(e) => tracing::warn!(error = %e, "store warm-up failed"),
    }
}

/// Runs the function under the Lambda runtime.
pub async fn run(function: Function) -> Result<(), Error> {
    init_tracing();
    let app = app_from_env(function).await?;
    let app = &app;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}

/// One invocation: API Gateway's request in, the app's response out, within the invocation's
/// deadline (see [`time_left`]): when the app has not answered by then (a dependency that hangs
/// or keeps timing out), the caller gets the contract's 503 `service_unavailable` problem with
/// `Retry-After` (the one an unavailable store gets, from `portal_http::problem`) instead of
/// Lambda killing the invocation and API Gateway answering a bare 502/504.
///
/// Cutting the work off drops the flow at an await point, as a Lambda timeout would stop it,
/// but while the function can still answer. That is safe for the store: each write is a single
/// DynamoDB request (applied or not), a transaction is all-or-nothing, and a transaction whose
/// answer was lost is retried (by the SDK and by `Store::transact`, once) with the same
/// idempotency token, so it is never applied twice; a 503 tells the caller the outcome is unknown
/// and a retry is fine, exactly as for a store timeout. The SDK's own timeouts and standard
/// retries (`portal_aws::SdkPolicy`: 1 s connect, 2 s per attempt, 5 s per operation) usually end
/// a slow request first; the deadline bounds a flow of several slow requests.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let context = req.lambda_context_ref();
    let request_id = context.map(|c| c.request_id.clone());
    // The runtime also puts the trace id in `_X_AMZN_TRACE_ID` (not in its concurrent mode).
    let trace_id = context
        .and_then(|c| c.xray_trace_id.clone())
        .or_else(|| std::env::var("_X_AMZN_TRACE_ID").ok());
    let span = tracing::info_span!(
        "invocation",
        request_id = request_id.as_deref().unwrap_or("-"),
        trace_id = trace_id.as_deref().unwrap_or("-"),
    );
    invoke(app, req, request_id).instrument(span).await
}

async fn invoke(app: &App, req: Request, request_id: Option<String>) -> Response<Body> {
    let context = req.lambda_context_ref();
    let budget = context.and_then(|c| time_left(c.deadline, std::time::SystemTime::now()));
    let (parts, body) = req.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    let work = app.handle(
        http::Request::from_parts(parts, bytes),
        request_id.as_deref(),
    );
    let response = match budget {
        Some(budget) => match tokio::time::timeout(budget, work).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(
                    budget_ms = budget.as_millis() as u64,
                    "invocation deadline reached: answering 503"
                );
                let response = deadline_reached(request_id.as_deref());
                portal_http::problem::count_answer(app.portal().metrics.as_ref(), &response);
                response
            }
        },
        None => work.await,
    };
    let (parts, body) = response.into_parts();
    let body = if body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    Response::from_parts(parts, body)
}

/// The time the app may take: until the invocation's deadline (`deadline_ms`, milliseconds
/// since the epoch, from the runtime's `Lambda-Runtime-Deadline-Ms`) less a margin for
/// answering: a tenth of what is left, at most 1 s (24 s of a 25 s function; 450 ms of 500).
/// `None` without a deadline (0: no Lambda context, as in local invokes of the handler).
pub fn time_left(deadline_ms: u64, now: std::time::SystemTime) -> Option<std::time::Duration> {
    if deadline_ms == 0 {
        return None;
    }
    let deadline = std::time::UNIX_EPOCH + std::time::Duration::from_millis(deadline_ms);
    let left = deadline.duration_since(now).unwrap_or_default();
    let margin = (left / 10).min(std::time::Duration::from_secs(1));
    Some(left - margin)
}

/// The answer when the deadline cuts the work off: a dependency did not answer in time, which
/// the contract answers like an unavailable store.
fn deadline_reached(request_id: Option<&str>) -> http::Response<Bytes> {
    let err = portal_core::DomainError::Store(portal_core::store::StoreError::Unavailable(
        "the invocation deadline was reached".into(),
    ));
    portal_http::problem::from_domain(&err, request_id)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::{KeySetting, key_setting, time_left};

    #[test]
    fn signing_key_is_refused_on_lambda_and_the_secret_wins_everywhere() {
        let some = |s: &str| Some(s.to_owned());
        let refused = key_setting(None, some("k".repeat(32).as_str()), some("login")).unwrap_err();
        assert!(refused.contains("SIGNING_KEY_SECRET_ARN"), "{refused}");
        assert!(refused.contains("login"), "{refused}");
        assert_eq!(
            key_setting(None, some("local key"), None),
            Ok(KeySetting::Fixed("local key".into()))
        );
        for lambda in [None, some("login")] {
            assert_eq!(
                key_setting(some("arn:secret"), some("ignored"), lambda),
                Ok(KeySetting::Secret("arn:secret".into()))
            );
        }
        assert!(key_setting(None, None, None).is_err());
        assert!(key_setting(None, None, some("login")).is_err());
    }

    #[test]
    fn the_budget_keeps_a_margin_of_a_tenth_at_most_one_second() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        let at = |ms: u64| 1_000_000 + ms;
        assert_eq!(time_left(at(25_000), now), Some(Duration::from_secs(24)));
        assert_eq!(time_left(at(500), now), Some(Duration::from_millis(450)));
        assert_eq!(time_left(at(0), now), Some(Duration::ZERO));
        assert_eq!(
            time_left(999_000, now),
            Some(Duration::ZERO),
            "already past"
        );
        assert_eq!(time_left(0, now), None, "no deadline given");
    }
}
