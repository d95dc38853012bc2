//! The `rotate-key` Lambda function: Secrets Manager's rotation function for the token-signing
//! key ring (see the library docs). Environment: `KEY_RETENTION_DAYS` (default 400).

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use portal_core::clock::{Clock, SystemClock};
use rotate_key::{RotationError, RotationEvent, handle, retention_seconds};

/// A failed step is reported to Secrets Manager, which marks the rotation failed (the current
/// ring stays current) and retries it at the next schedule or `rotate-secret`.
#[derive(Debug)]
struct Failure(RotationError);

impl From<Failure> for Diagnostic {
    fn from(value: Failure) -> Diagnostic {
        Diagnostic {
            error_type: "RotationFailed".into(),
            error_message: value.0.to_string(),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    portal_lambda::init_tracing();
    let retention = retention_seconds(std::env::var("KEY_RETENTION_DAYS").ok().as_deref())?;
    let client = aws_sdk_secretsmanager::Client::new(&portal_aws::sdk_config().await);
    let client = &client;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<RotationEvent>| async move {
            let step = event.payload.step;
            tracing::info!(?step, "rotation step");
            handle(client, &event.payload, SystemClock.epoch(), retention)
                .await
                .map_err(|e| {
                    tracing::error!(?step, error = %e, "rotation step failed");
                    Failure(e)
                })
        },
    ))
    .await
}
