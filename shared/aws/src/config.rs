//! The SDK configuration every adapter shares: the standard AWS environment plus explicit
//! timeouts and retries.
//!
//! Why explicit: the SDK's defaults have no operation timeout at all (only a 3.1 s connect
//! timeout), so a stalled connection to DynamoDB/SES/SNS would hold a Lambda invocation until the
//! function's own timeout kills it, and the caller gets a 502 from API Gateway instead of our 503 +
//! `Retry-After`. A request from Lambda to a regional AWS endpoint normally completes in a few
//! milliseconds to tens of milliseconds, so:
//!
//! * connect: 1 s (a TCP+TLS handshake inside the region takes well under 100 ms);
//! * one attempt: 2 s (a slow attempt is more likely stuck than busy: retry it on a new connection);
//! * whole operation, all attempts and back-off included: 5 s, which stays well below API
//!   Gateway's 29 s integration timeout and a typical 10 s function timeout;
//! * retries: standard mode (exponential back-off with jitter, retry quota against retry storms),
//!   3 attempts in total. Throttling and transient errors are retried; a conditional-check failure
//!   is never retried (it is an answer, not a fault).
//!
//! `aws_config::defaults` reads region, credentials (the Lambda role's environment variables),
//! and `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` (a local DynamoDB-compatible server).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};

/// Timeouts and retries applied to every AWS call of the adapters.
#[derive(Debug, Clone, Copy)]
pub struct SdkPolicy {
    pub connect_timeout: Duration,
    pub attempt_timeout: Duration,
    pub operation_timeout: Duration,
    pub max_attempts: u32,
}

impl SdkPolicy {
    /// The production policy (see the module documentation for the reasoning).
    pub const DEFAULT: SdkPolicy = SdkPolicy {
        connect_timeout: Duration::from_secs(1),
        attempt_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(5),
        max_attempts: 3,
    };

    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }

    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts)
    }

    /// Applies the policy to a config loader (tests use this with their own credentials and
    /// endpoint).
    pub fn apply(&self, loader: ConfigLoader) -> ConfigLoader {
        loader
            .timeout_config(self.timeout_config())
            .retry_config(self.retry_config())
    }
}

impl Default for SdkPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Loads the standard AWS environment (region, credentials, `AWS_ENDPOINT_URL`) with
/// [`SdkPolicy::DEFAULT`]. Call once at cold start.
pub async fn sdk_config() -> SdkConfig {
    SdkPolicy::DEFAULT
        .apply(aws_config::defaults(BehaviorVersion::latest()))
        .load()
        .await
}
