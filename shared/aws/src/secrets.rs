//! The signing key ring in Secrets Manager: the [`KeySource`] of the HTTP functions (the
//! secret's `AWSCURRENT` version) and the reads the rotation function makes.

use aws_sdk_secretsmanager::Client;
use portal_core::signer::{KeyRing, KeyRingError};
use portal_core::token_signer::{KeySource, KeySourceError};

use crate::sdk_error::sdk_error_reason;

/// The stage every reader reads.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The stage of a rotation's new version until it is finished.
pub const AWSPENDING: &str = "AWSPENDING";

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secrets manager {operation}: {reason}")]
    Sdk {
        operation: &'static str,
        reason: String,
    },
    #[error("the secret version has no string value")]
    NoString,
    #[error(transparent)]
    Ring(#[from] KeyRingError),
}

impl SecretsError {
    pub fn sdk<E, R>(
        operation: &'static str,
        e: &aws_sdk_secretsmanager::error::SdkError<E, R>,
    ) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
    {
        SecretsError::Sdk {
            operation,
            reason: sdk_error_reason(e),
        }
    }
}

/// A plain string secret's current value (the front door's origin-verify value), read once at
/// init: wrapped so that it is never printed.
pub async fn read_plain(
    client: &Client,
    secret_id: &str,
) -> Result<secrecy::SecretString, SecretsError> {
    let secret = client
        .get_secret_value()
        .secret_id(secret_id)
        .version_stage(AWSCURRENT)
        .send()
        .await
        .map_err(|e| SecretsError::sdk("GetSecretValue", &e))?;
    let text = secret.secret_string().ok_or(SecretsError::NoString)?;
    Ok(secrecy::SecretString::from(text.to_owned()))
}

/// Which version of the secret to read.
#[derive(Debug, Clone, Copy)]
pub enum RingVersion<'a> {
    Current,
    /// A rotation's pending version (its `ClientRequestToken`).
    Pending(&'a str),
}

/// One version of the secret, parsed.
pub struct StoredRing {
    pub ring: KeyRing,
    pub version_id: String,
}

/// The ring in a version of the secret, or `None` when that version does not exist. A plain
/// (pre-ring) value is dated by its version's creation.
pub async fn read_ring(
    client: &Client,
    secret_id: &str,
    version: RingVersion<'_>,
) -> Result<Option<StoredRing>, SecretsError> {
    let request = client.get_secret_value().secret_id(secret_id);
    let request = match version {
        RingVersion::Current => request.version_stage(AWSCURRENT),
        RingVersion::Pending(token) => request.version_id(token).version_stage(AWSPENDING),
    };
    let secret = match request.send().await {
        Ok(secret) => secret,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(SecretsError::sdk("GetSecretValue", &e)),
    };
    let text = secret.secret_string().ok_or(SecretsError::NoString)?;
    let created_at = secret.created_date().map_or(0, |d| d.secs());
    Ok(Some(StoredRing {
        ring: KeyRing::parse(text, created_at)?,
        version_id: secret.version_id().unwrap_or_default().to_owned(),
    }))
}

/// The HTTP functions' source of the ring: the secret's current version.
pub struct SecretsKeySource {
    client: Client,
    secret_id: String,
}

impl SecretsKeySource {
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }
}

#[async_trait::async_trait]
impl KeySource for SecretsKeySource {
    async fn load(&self) -> Result<KeyRing, KeySourceError> {
        match read_ring(&self.client, &self.secret_id, RingVersion::Current).await {
            Ok(Some(stored)) => Ok(stored.ring),
            Ok(None) => Err(KeySourceError("the secret has no current version".into())),
            Err(e) => Err(KeySourceError(e.to_string())),
        }
    }
}
