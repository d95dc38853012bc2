//! The `purge` Lambda function, invoked by an EventBridge schedule: one run of
//! [`portal_core::Portal::scheduled_run`]: the purge (expired reset links, validation codes,
//! invitations and sessions across every account, read through the expiry-bucket index), then
//! another try at every queued notice (revocation emails the mail service refused before). A store outage is
//! reported as retryable; the run resumes from its checkpoint next time either way.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use portal_core::purge::ScheduledReport;
use portal_core::{DomainError, Portal};

#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// The store was unavailable or busy: worth retrying.
    #[error("transient store error: {0}")]
    Transient(String),
    /// Anything else (corrupt data, a bug): retrying will not help.
    #[error("unexpected error: {0}")]
    Unexpected(String),
}

impl From<DomainError> for PurgeError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Store(ref s) if s.is_transient() => PurgeError::Transient(e.to_string()),
            other => PurgeError::Unexpected(other.to_string()),
        }
    }
}

impl From<PurgeError> for Diagnostic {
    fn from(value: PurgeError) -> Diagnostic {
        let error_type = match value {
            PurgeError::Transient(_) => "Retryable",
            PurgeError::Unexpected(_) => "NonRetryable",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: value.to_string(),
        }
    }
}

async fn handler(
    portal: &Portal,
    event: LambdaEvent<EventBridgeEvent>,
) -> Result<ScheduledReport, PurgeError> {
    tracing::info!(
        source = %event.payload.source,
        detail_type = %event.payload.detail_type,
        "purge started"
    );
    Ok(portal.scheduled_run(portal.clock.epoch()).await?)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    portal_lambda::init_tracing();
    let portal = portal_lambda::portal_from_env(false).await?;
    let portal = &portal;
    lambda_runtime::run(service_fn(move |event| async move {
        handler(portal, event).await
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_core::store::StoreError;

    #[test]
    fn the_sample_scheduled_event_parses() {
        let text = include_str!("../../../events/purge/scheduled.json");
        let event: EventBridgeEvent = serde_json::from_str(text).unwrap();
        assert_eq!(event.source, "aws.events");
        assert_eq!(event.detail_type, "Scheduled Event");
    }

    #[test]
    fn store_outages_are_retryable() {
        let d: Diagnostic =
            PurgeError::from(DomainError::Store(StoreError::Unavailable("x".into()))).into();
        assert_eq!(d.error_type, "Retryable");
        let d: Diagnostic = PurgeError::from(DomainError::Internal("x".into())).into();
        assert_eq!(d.error_type, "NonRetryable");
    }
}
