//! The rotation function of the token-signing key secret (`SIGNING_KEY_SECRET_ARN`): Secrets
//! Manager invokes it once per step of a rotation, with
//! `{"SecretId": ..., "ClientRequestToken": ..., "Step": ...}`.
//!
//! # Why a ring and not `AWSPREVIOUS`
//!
//! The usual two-version rotation (the new value `AWSCURRENT`, the old one `AWSPREVIOUS`, readers
//! accepting both) suits credentials whose users move to the new value within one rotation
//! period. Our tokens do not move: a "stay signed in" session has no expiry, and its browser
//! cookie holds the same token for up to 400 days, across any number of rotations. So the secret
//! holds a ring (see `portal_core::signer`): the new key in front signs from now on, and every
//! key retired less than the retention ago (`KEY_RETENTION_DAYS`, default 400: the longest a
//! cookie lives) still verifies. A rotation therefore signs nobody out. A key leaves the ring
//! once it has been retired for longer than the retention, and its tokens stop working then: no
//! browser holds one any more (the cookie was set at sign-in, before the key was retired, and
//! lasts at most 400 days); an API client that kept such a token that long signs in again.
//!
//! # The steps
//!
//! - `createSecret`: reads `AWSCURRENT` (a plain key, the value the stack generates, is a ring
//!   of one dated by its version), puts a new random 64-character key in front, drops the keys
//!   retired longer than the retention ago, and stores the ring as the `AWSPENDING` version of
//!   the request's token. Idempotent: a pending version of that token is left as it is.
//! - `setSecret`: nothing (no other system holds the key).
//! - `testSecret`: the pending ring parses (every key at least 32 bytes, none twice) and still
//!   holds the key signing now, so that no token in use is dropped by the rotation itself.
//! - `finishSecret`: moves `AWSCURRENT` to the token's version (Secrets Manager then marks the
//!   old one `AWSPREVIOUS`). The HTTP functions read the new ring within 5 minutes, or at once
//!   when a token of the new key reaches them first.
//!
//! A step for a token whose version is already `AWSCURRENT` does nothing (a retried step of a
//! finished rotation).

use aws_sdk_secretsmanager::Client;
use portal_aws::secrets::{AWSCURRENT, AWSPENDING, RingVersion, SecretsError, read_ring};
use serde::Deserialize;

/// The default retention: the longest a "stay signed in" browser cookie lives (Chromium caps
/// cookies at 400 days).
pub const DEFAULT_RETENTION_DAYS: i64 = 400;
/// The longest retention accepted (ten years): anything above is a typo.
const MAX_RETENTION_DAYS: i64 = 3650;

/// What Secrets Manager sends each step.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationEvent {
    pub secret_id: String,
    pub client_request_token: String,
    pub step: Step,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    CreateSecret,
    SetSecret,
    TestSecret,
    FinishSecret,
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("the secret has no current version")]
    NoCurrent,
    #[error("the secret has no version {0} staged AWSPENDING")]
    NotPending(String),
    #[error("the pending ring is unusable: {0}")]
    Test(String),
    #[error("no randomness for the new key: {0}")]
    Random(String),
    #[error(
        "KEY_RETENTION_DAYS must be a whole number of days from 1 to {MAX_RETENTION_DAYS}, not {0:?}"
    )]
    Retention(String),
}

/// The retention in seconds from `KEY_RETENTION_DAYS` (`None`: unset, the default).
pub fn retention_seconds(days: Option<&str>) -> Result<i64, RotationError> {
    let days = match days {
        None => DEFAULT_RETENTION_DAYS,
        Some(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=MAX_RETENTION_DAYS).contains(d))
            .ok_or_else(|| RotationError::Retention(text.to_owned()))?,
    };
    Ok(days * 86_400)
}

/// Runs one step at `now` (unix seconds).
pub async fn handle(
    client: &Client,
    event: &RotationEvent,
    now: i64,
    retention_seconds: i64,
) -> Result<(), RotationError> {
    let id = event.secret_id.as_str();
    let token = event.client_request_token.as_str();
    let stages = version_stages(client, id).await?;
    let token_stages = stages.iter().find(|(v, _)| v == token).map(|(_, s)| s);
    if token_stages.is_some_and(|s| s.iter().any(|s| s == AWSCURRENT)) {
        tracing::info!(step = ?event.step, "the version is already current: nothing to do");
        return Ok(());
    }
    match event.step {
        Step::CreateSecret => create(client, id, token, now, retention_seconds).await,
        Step::SetSecret => Ok(()),
        Step::TestSecret => test(client, id, token).await,
        Step::FinishSecret => {
            if !token_stages.is_some_and(|s| s.iter().any(|s| s == AWSPENDING)) {
                return Err(RotationError::NotPending(token.to_owned()));
            }
            let current = stages
                .iter()
                .find(|(_, s)| s.iter().any(|s| s == AWSCURRENT))
                .map(|(v, _)| v.clone())
                .ok_or(RotationError::NoCurrent)?;
            client
                .update_secret_version_stage()
                .secret_id(id)
                .version_stage(AWSCURRENT)
                .move_to_version_id(token)
                .remove_from_version_id(current)
                .send()
                .await
                .map_err(|e| SecretsError::sdk("UpdateSecretVersionStage", &e))?;
            tracing::info!("the new key ring is current");
            Ok(())
        }
    }
}

/// The secret's versions and their stages.
async fn version_stages(
    client: &Client,
    id: &str,
) -> Result<Vec<(String, Vec<String>)>, RotationError> {
    let described = client
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| SecretsError::sdk("DescribeSecret", &e))?;
    Ok(described
        .version_ids_to_stages()
        .map(|m| m.iter().map(|(v, s)| (v.clone(), s.clone())).collect())
        .unwrap_or_default())
}

async fn create(
    client: &Client,
    id: &str,
    token: &str,
    now: i64,
    retention_seconds: i64,
) -> Result<(), RotationError> {
    if read_ring(client, id, RingVersion::Pending(token))
        .await?
        .is_some()
    {
        tracing::info!("the pending version exists already");
        return Ok(());
    }
    let current = read_ring(client, id, RingVersion::Current)
        .await?
        .ok_or(RotationError::NoCurrent)?;
    let key = portal_core::signer::new_key().map_err(|e| RotationError::Random(e.to_string()))?;
    let ring = current
        .ring
        .rotated(key.as_bytes(), now, retention_seconds)
        .map_err(SecretsError::from)?;
    client
        .put_secret_value()
        .secret_id(id)
        .client_request_token(token)
        .secret_string(ring.to_stored())
        .version_stages(AWSPENDING)
        .send()
        .await
        .map_err(|e| SecretsError::sdk("PutSecretValue", &e))?;
    tracing::info!(
        kid = ring.current().kid(),
        keys = ring.keys().len(),
        dropped = current.ring.keys().len() + 1 - ring.keys().len(),
        "pending key ring stored"
    );
    Ok(())
}

async fn test(client: &Client, id: &str, token: &str) -> Result<(), RotationError> {
    let pending = match read_ring(client, id, RingVersion::Pending(token)).await {
        Ok(Some(pending)) => pending.ring,
        Ok(None) => return Err(RotationError::NotPending(token.to_owned())),
        Err(SecretsError::Ring(e)) => return Err(RotationError::Test(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    let current = read_ring(client, id, RingVersion::Current)
        .await?
        .ok_or(RotationError::NoCurrent)?;
    let signing = current.ring.current().kid();
    if !pending.holds(signing) {
        return Err(RotationError::Test(format!(
            "it lacks key {signing}, which signs now"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_event_parses_and_every_step_has_its_name() {
        let text = include_str!("../../../events/rotate-key/create-secret.json");
        let event: RotationEvent = serde_json::from_str(text).unwrap();
        assert_eq!(event.step, Step::CreateSecret);
        assert_eq!(
            event.client_request_token,
            "7f3c1a52-2b9e-4c1d-9a4e-5d2f8b6c0e11"
        );
        assert!(event.secret_id.starts_with("arn:aws:secretsmanager:"));
        for (name, step) in [
            ("createSecret", Step::CreateSecret),
            ("setSecret", Step::SetSecret),
            ("testSecret", Step::TestSecret),
            ("finishSecret", Step::FinishSecret),
        ] {
            let parsed: Step = serde_json::from_value(serde_json::json!(name)).unwrap();
            assert_eq!(parsed, step);
        }
        assert!(serde_json::from_value::<Step>(serde_json::json!("dropSecret")).is_err());
    }

    #[test]
    fn the_retention_is_400_days_unless_set_to_a_sane_number_of_days() {
        assert_eq!(retention_seconds(None).unwrap(), 400 * 86_400);
        assert_eq!(retention_seconds(Some("30")).unwrap(), 30 * 86_400);
        for bad in ["0", "-1", "400d", "", "3651"] {
            assert!(retention_seconds(Some(bad)).is_err(), "{bad}");
        }
    }
}
