//! Rotating the token-signing key signs nobody out: the rotation function's four steps against
//! Secrets Manager (moto on loopback), and portal-local servers reading the same secret as the
//! Lambda functions do (at start, every 5 minutes on their clock, and at once for an unknown key
//! id). Two servers over one store stand for two Lambda environments.
//!
//! The store plays no part in signing, so these run on the embedded store only.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_secretsmanager::Client;
use portal_aws::SecretsKeySource;
use portal_aws::secrets::{AWSCURRENT, AWSPENDING, RingVersion, read_ring};
use portal_core::clock::Clock;
use portal_core::signer::{KeyRing, key_id, new_key};
use portal_core::token_signer::REFRESH_SECONDS;
use rotate_key::{RotationError, RotationEvent, Step, handle};
use serde_json::{Value, json};

use crate::support::app::{Backend, OWNER_PASSWORD, TestApp, store_for};
use crate::support::aws::{sdk_config, unique};

const DAY: i64 = 86_400;
const RETENTION: i64 = 400 * DAY;

async fn client() -> Client {
    Client::new(&sdk_config().await)
}

/// A secret as the stack creates it: one plain random key. Its ARN and the key.
async fn bootstrap_secret(client: &Client) -> (String, String) {
    let key = new_key().unwrap();
    let created = client
        .create_secret()
        .name(unique("signing-key"))
        .secret_string(&key)
        .send()
        .await
        .expect("CreateSecret");
    (created.arn().unwrap().to_owned(), key)
}

async fn step(
    client: &Client,
    arn: &str,
    token: &str,
    step: Step,
    now: i64,
) -> Result<(), RotationError> {
    let event = RotationEvent {
        secret_id: arn.to_owned(),
        client_request_token: token.to_owned(),
        step,
    };
    handle(client, &event, now, RETENTION).await
}

/// A whole rotation at `now`, as Secrets Manager runs it; the new version's token.
async fn rotate(client: &Client, arn: &str, now: i64) -> String {
    let token = new_key().unwrap()[..40].to_owned();
    for s in [
        Step::CreateSecret,
        Step::SetSecret,
        Step::TestSecret,
        Step::FinishSecret,
    ] {
        step(client, arn, &token, s, now)
            .await
            .unwrap_or_else(|e| panic!("{s:?}: {e}"));
    }
    token
}

async fn current_ring(client: &Client, arn: &str) -> KeyRing {
    read_ring(client, arn, RingVersion::Current)
        .await
        .unwrap()
        .expect("a current version")
        .ring
}

fn kid_of(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).unwrap().kid
}

/// The same token signed without a `kid`, as before keys had ids.
fn without_kid(token: &str, key: &str) -> String {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(key.as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    let legacy = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap();
    assert_eq!(kid_of(&legacy), None);
    legacy
}

/// Asks until `done` (the server reads the ring in the background).
macro_rules! eventually {
    ($what:expr, $done:expr) => {{
        let mut done = false;
        for _ in 0..200 {
            if $done {
                done = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(done, "never happened: {}", $what);
    }};
}

async fn status(app: &TestApp, token: &str) -> u16 {
    app.get(&app.at("session"), Some(token))
        .await
        .status
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_signs_nobody_out_and_the_retention_ends_the_retired_key() {
    let client = client().await;
    let (arn, bootstrap_key) = bootstrap_secret(&client).await;
    let source = || Arc::new(SecretsKeySource::new(client.clone(), arn.clone()));
    let store = store_for(Backend::Embedded).await;
    let app = TestApp::spawn_with_keys(store.clone(), source()).await;
    app.create_tenant("swim", "owner").await;
    // Another Lambda environment (another function, say) on the same secret and table.
    let other = TestApp::spawn_with_keys(store, source()).await;

    let before = app.persistent_staff_token("owner", OWNER_PASSWORD).await;
    let k0 = key_id(bootstrap_key.as_bytes());
    assert_eq!(
        kid_of(&before).as_deref(),
        Some(k0.as_str()),
        "the plain key's kid"
    );
    // A token issued before this change carries no kid: the deploy signs nobody out either.
    let legacy = without_kid(&before, &bootstrap_key);
    assert_eq!(status(&app, &legacy).await, 200);

    rotate(&client, &arn, app.running.clock.epoch()).await;
    let ring = current_ring(&client, &arn).await;
    let k1 = ring.current().kid().to_owned();
    assert_ne!(k1, k0);
    assert_eq!(ring.keys().len(), 2);
    assert_eq!(
        ring.keys()[1].kid(),
        k0,
        "the bootstrap key stays, with its kid"
    );

    // Five minutes on, the server reads the ring again (in the background)...
    app.advance_clock(REFRESH_SECONDS).await;
    assert_eq!(status(&app, &before).await, 200);
    // ... (b) and signs new sessions with the new key ...
    let mut after = String::new();
    eventually!("new tokens carry the new kid", {
        after = app.persistent_staff_token("owner", OWNER_PASSWORD).await;
        kid_of(&after).as_deref() == Some(k1.as_str())
    });
    // ... (a) while the sessions from before the rotation go on.
    assert_eq!(status(&app, &before).await, 200);
    assert_eq!(status(&app, &legacy).await, 200);
    assert_eq!(status(&app, &after).await, 200);
    // The other environment has not read the ring since (its clock did not move): the new kid
    // makes it read at once, and the request goes through.
    assert_eq!(status(&other, &after).await, 200);
    assert_eq!(status(&other, &before).await, 200);

    // (c) Past the retention, the next rotation drops the key retired by the first.
    app.advance_clock(RETENTION + DAY).await;
    assert_eq!(
        status(&app, &before).await,
        200,
        "the session itself is alive"
    );
    rotate(&client, &arn, app.running.clock.epoch()).await;
    let ring = current_ring(&client, &arn).await;
    let kids: Vec<&str> = ring.keys().iter().map(|k| k.kid()).collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[1], k1);
    assert!(!ring.holds(&k0));
    app.advance_clock(REFRESH_SECONDS).await;
    eventually!(
        "the retired key's tokens are refused",
        status(&app, &before).await == 401
    );
    let refused = app.get(&app.at("session"), Some(&before)).await;
    refused.expect_problem(401, "unauthenticated");
    assert_eq!(status(&app, &legacy).await, 401);
    assert_eq!(
        status(&app, &after).await,
        200,
        "the key retired now is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rotation_steps_are_idempotent_and_refuse_a_ring_that_drops_the_signing_key() {
    let client = client().await;
    let (arn, key) = bootstrap_secret(&client).await;
    let now = 1_800_000_000;
    let token = new_key().unwrap()[..40].to_owned();
    let pending = |token: String| {
        let client = client.clone();
        let arn = arn.clone();
        async move {
            client
                .get_secret_value()
                .secret_id(arn)
                .version_id(token)
                .version_stage(AWSPENDING)
                .send()
                .await
                .unwrap()
                .secret_string()
                .unwrap()
                .to_owned()
        }
    };

    step(&client, &arn, &token, Step::CreateSecret, now)
        .await
        .unwrap();
    let first = pending(token.clone()).await;
    step(&client, &arn, &token, Step::CreateSecret, now + 60)
        .await
        .unwrap();
    assert_eq!(
        pending(token.clone()).await,
        first,
        "a retried createSecret changes nothing"
    );
    let stored: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(stored["keys"].as_array().unwrap().len(), 2);
    assert_eq!(stored["keys"][0]["created_at"], now);
    assert_eq!(stored["keys"][0]["key"].as_str().unwrap().len(), 64);
    assert_eq!(stored["keys"][1]["key"], json!(key));
    // Not current before finishSecret.
    assert_eq!(
        current_ring(&client, &arn).await.current().kid(),
        key_id(key.as_bytes())
    );

    step(&client, &arn, &token, Step::SetSecret, now)
        .await
        .unwrap();
    step(&client, &arn, &token, Step::TestSecret, now)
        .await
        .unwrap();
    step(&client, &arn, &token, Step::FinishSecret, now)
        .await
        .unwrap();
    let current = client
        .get_secret_value()
        .secret_id(&arn)
        .version_stage(AWSCURRENT)
        .send()
        .await
        .unwrap();
    assert_eq!(current.version_id(), Some(token.as_str()));
    assert_eq!(current.secret_string(), Some(first.as_str()));
    // Every step of a finished rotation does nothing.
    for s in [Step::CreateSecret, Step::TestSecret, Step::FinishSecret] {
        step(&client, &arn, &token, s, now).await.unwrap();
    }
    assert_eq!(current_ring(&client, &arn).await.to_stored(), first);

    // A pending ring without the key signing now would sign everyone out: testSecret refuses
    // it and finishSecret is never reached.
    let bad = new_key().unwrap()[..40].to_owned();
    let stranger = KeyRing::single(new_key().unwrap().as_bytes(), now).unwrap();
    client
        .put_secret_value()
        .secret_id(&arn)
        .client_request_token(&bad)
        .secret_string(stranger.to_stored())
        .version_stages(AWSPENDING)
        .send()
        .await
        .unwrap();
    let refused = step(&client, &arn, &bad, Step::TestSecret, now).await;
    assert!(
        matches!(refused, Err(RotationError::Test(_))),
        "{refused:?}"
    );
    // Nor does a pending value that is no ring pass.
    let broken = new_key().unwrap()[..40].to_owned();
    client
        .put_secret_value()
        .secret_id(&arn)
        .client_request_token(&broken)
        .secret_string(r#"{"keys":[{"key":"short","created_at":1}]}"#)
        .version_stages(AWSPENDING)
        .send()
        .await
        .unwrap();
    let refused = step(&client, &arn, &broken, Step::TestSecret, now).await;
    assert!(
        matches!(refused, Err(RotationError::Test(_))),
        "{refused:?}"
    );
    // finishSecret only moves AWSCURRENT to a pending version.
    let unknown = new_key().unwrap()[..40].to_owned();
    let refused = step(&client, &arn, &unknown, Step::FinishSecret, now).await;
    assert!(
        matches!(refused, Err(RotationError::NotPending(_))),
        "{refused:?}"
    );
    assert_eq!(current_ring(&client, &arn).await.to_stored(), first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_that_cannot_be_read_keeps_the_ring_held() {
    let client = client().await;
    let (arn, _) = bootstrap_secret(&client).await;
    let app = TestApp::spawn_with_keys(
        store_for(Backend::Embedded).await,
        Arc::new(SecretsKeySource::new(client.clone(), arn.clone())),
    )
    .await;
    app.create_tenant("swim", "owner").await;
    let token = app.persistent_staff_token("owner", OWNER_PASSWORD).await;
    client
        .delete_secret()
        .secret_id(&arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("DeleteSecret");
    // Due reads fail (in the background, and for an unknown kid): nobody is signed out, and
    // the server goes on signing in with the key it holds.
    for _ in 0..3 {
        app.advance_clock(REFRESH_SECONDS).await;
        assert_eq!(status(&app, &token).await, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stranger = TestApp::spawn_empty(Backend::Embedded).await;
    stranger.create_tenant("swim", "owner").await;
    let unknown = stranger
        .persistent_staff_token("owner", OWNER_PASSWORD)
        .await;
    assert_eq!(status(&app, &unknown).await, 401);
    assert_eq!(status(&app, &token).await, 200);
    let fresh = app.persistent_staff_token("owner", OWNER_PASSWORD).await;
    assert_eq!(kid_of(&fresh), kid_of(&token));
    assert_eq!(status(&app, &fresh).await, 200);
}
