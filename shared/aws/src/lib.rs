//! AWS adapters of the domain ports: [`DynamoStore`] (the `Store` port on one DynamoDB table),
//! [`SesMailer`] (SES v2), [`SnsSender`] (SNS SMS), [`EmfMetrics`] (CloudWatch metrics as log
//! lines) and [`SecretsKeySource`] (the signing key ring in Secrets Manager), plus the shared SDK
//! configuration.
//!
//! Build the SDK config and the clients once per Lambda cold start (see [`sdk_config`]) and
//! share them across invocations.

mod config;
mod counting;
mod dynamo;
mod emf;
mod sdk_error;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "ses")]
mod ses;
#[cfg(feature = "sns")]
mod sns;

pub use config::{SdkPolicy, sdk_config};
pub use counting::CallCounter;
pub use dynamo::{DynamoStore, EXPIRY_INDEX};
pub use emf::{EmfMetrics, NAMESPACE, STAGE_VARIABLE, emf_line};
#[cfg(feature = "secrets")]
pub use secrets::SecretsKeySource;
#[cfg(feature = "ses")]
pub use ses::SesMailer;
#[cfg(feature = "sns")]
pub use sns::SnsSender;
