//! Lambda wiring: each function's `main` is `portal_lambda::run(Function::X)`. Clients, the
//! signing key and the app are built once per cold start and shared by every invocation.
//!
//! Environment: `TABLE_NAME`, `PORTAL_URL`, `MAIL_FROM`, and the token-signing key either as
//! `SIGNING_KEY_SECRET_ARN` (Secrets Manager, read once per cold start) or `SIGNING_KEY`
//! (tests, local invokes). Logs are JSON lines through `tracing`.
//!
//! Measurement switch: `PORTAL_WARM_UP=off` skips the init-time warm-up call (see [`warm_up`]),
//! only so that `portal-bench first-response` can show what it saves. Leave it unset.

use std::sync::Arc;

use bytes::Bytes;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use portal_core::Portal;
use portal_core::clock::SystemClock;
use portal_core::passwords::PasswordHasherConfig;
use portal_core::signer::TokenSigner;
use portal_core::store::Store;
use portal_http::{App, Function};
use secrecy::SecretSlice;

pub type Error = lambda_http::Error;

fn env(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("environment variable {name} is not set").into())
}

/// JSON logs with the level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .without_time()
        .try_init();
}

#[cfg(feature = "secret")]
async fn signing_key(config: &aws_config::SdkConfig) -> Result<SecretSlice<u8>, Error> {
    if let Ok(arn) = std::env::var("SIGNING_KEY_SECRET_ARN") {
        let client = aws_sdk_secretsmanager::Client::new(config);
        let secret = client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading the signing key: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })?;
        let text = secret
            .secret_string()
            .ok_or("the signing key secret has no string value")?;
        return Ok(text.as_bytes().to_vec().into());
    }
    Ok(env("SIGNING_KEY")?.into_bytes().into())
}

/// Without the `secret` feature (tests, local invokes) the key comes from `SIGNING_KEY` only.
#[cfg(not(feature = "secret"))]
async fn signing_key(_: &aws_config::SdkConfig) -> Result<SecretSlice<u8>, Error> {
    if std::env::var("SIGNING_KEY_SECRET_ARN").is_ok() {
        return Err("SIGNING_KEY_SECRET_ARN is set but this build cannot read secrets".into());
    }
    Ok(env("SIGNING_KEY")?.into_bytes().into())
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

/// Builds the function's app from the environment (the AWS adapters).
pub async fn app_from_env(function: Function) -> Result<App, Error> {
    Ok(App::new(portal_from_env(true).await?, Some(function)))
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
    let (key, prepared, ()) =
        tokio::join!(key_and_url(issues_tokens, &config), hasher.prepare(), warm);
    let (key, portal_url) = key?;
    prepared?;
    Ok(Portal {
        store,
        mailer: mailer(&config),
        sms: sms_sender(&config),
        clock: Arc::new(SystemClock),
        hasher,
        security: portal_core::security::SecurityPolicy::default(),
        signer: TokenSigner::new(&key)?,
        portal_url,
    })
}

/// The token-signing key and `PORTAL_URL` of a function that issues tokens; a throwaway key
/// and no URL for the scheduled job (see [`portal_from_env`]).
async fn key_and_url(
    issues_tokens: bool,
    config: &aws_config::SdkConfig,
) -> Result<(SecretSlice<u8>, String), Error> {
    if issues_tokens {
        Ok((signing_key(config).await?, env("PORTAL_URL")?))
    } else {
        let throwaway = portal_core::tokens::new_token()?.0.into_bytes();
        Ok((throwaway.into(), String::new()))
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

/// One invocation: API Gateway's request in, the app's response out.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let request_id = req.lambda_context_ref().map(|c| c.request_id.clone());
    let (parts, body) = req.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    let response = app
        .handle(
            http::Request::from_parts(parts, bytes),
            request_id.as_deref(),
        )
        .await;
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
