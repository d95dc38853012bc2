//! `portal-admin` as an operator runs it: the built binary, against moto's DynamoDB on loopback
//! (`PORTAL_TEST_AWS_ENDPOINT`, set by `scripts/test` or `eval "$(scripts/moto start)"`), each
//! test on a table of its own. The tests create their tables with `DynamoStore::ensure_table`:
//! portal-admin itself never creates one.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use portal_aws::{DynamoStore, SdkPolicy};
use serde_json::{Value, json};

const ENDPOINT_VARIABLE: &str = "PORTAL_TEST_AWS_ENDPOINT";
const PASSWORD: &str = "Sw1m-Sch00l!x";

fn endpoint() -> String {
    match std::env::var(ENDPOINT_VARIABLE) {
        Ok(url) if !url.is_empty() => url.trim_end_matches('/').to_owned(),
        _ => panic!(
            "{ENDPOINT_VARIABLE} is not set: the portal-admin tests need a moto server. Run them \
             with `scripts/test`, or start one with `eval \"$(scripts/moto start)\"` and stop it \
             afterwards with `scripts/moto stop \"$MOTO_PID\"`."
        ),
    }
}

/// A table name (or account) no other test or test run uses.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// moto on a busy test machine answers in hundreds of milliseconds: long timeouts.
async fn sdk_config() -> SdkConfig {
    SdkPolicy {
        attempt_timeout: Duration::from_secs(20),
        operation_timeout: Duration::from_secs(60),
        ..SdkPolicy::DEFAULT
    }
    .apply(aws_config::defaults(BehaviorVersion::latest()))
    .credentials_provider(Credentials::new(
        "testing",
        "testing",
        None,
        None,
        "portal-admin-tests",
    ))
    .region(Region::new("us-east-1"))
    .endpoint_url(endpoint())
    .load()
    .await
}

/// A store on a new table of its own, created as the stack would have.
async fn new_table() -> DynamoStore {
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk_config().await),
        unique("admin"),
    );
    store.ensure_table().await.expect("create the test table");
    store
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn expect_success(&self) -> Value {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    fn expect_failure(&self, code: i32, message: &str) {
        assert_eq!(self.code, Some(code), "expected exit {code}: {self:#?}");
        assert!(
            self.stderr.contains(message),
            "expected {message:?} on stderr: {self:#?}"
        );
        assert!(self.stdout.is_empty(), "nothing on stdout: {self:#?}");
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the built portal-admin with the AWS environment pointing at moto, `stdin` as its standard
/// input (none: /dev/null), and `TABLE_NAME` unset unless `table` is given.
async fn admin(table: Option<&str>, args: &[&str], stdin: Option<&str>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_portal-admin"));
    command
        .args(args)
        .env_remove("TABLE_NAME")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(table) = table {
        command.env("TABLE_NAME", table);
    }
    let stdin = stdin.map(str::to_owned);
    let output = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("start portal-admin");
        if let Some(text) = stdin {
            // The child may exit before reading (e.g. a missing table): ignore a broken pipe.
            let mut pipe = child.stdin.take().expect("piped stdin");
            let _ = pipe.write_all(text.as_bytes());
        }
        child.wait_with_output().expect("wait for portal-admin")
    })
    .await
    .expect("portal-admin runner");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn create_args<'a>(account: &'a str, username: &'a str) -> Vec<&'a str> {
    vec![
        "create-tenant",
        "--account",
        account,
        "--business-name",
        "Splash Swim School",
        "--owner-username",
        username,
        "--owner-first-name",
        "Olive",
        "--owner-last-name",
        "Owner",
        "--owner-email",
        "olive@splash.test",
        "--password-stdin",
    ]
}

async fn create_tenant(table: &str, account: &str) -> Value {
    admin(
        Some(table),
        &create_args(account, "olive"),
        Some(&format!("{PASSWORD}\n")),
    )
    .await
    .expect_success()
}

async fn show_tenant(table: &str, account: &str) -> Value {
    admin(Some(table), &["show-tenant", "--account", account], None)
        .await
        .expect_success()
}

#[tokio::test]
async fn create_tenant_reads_the_password_from_stdin_and_prints_the_owner() {
    let store = new_table().await;
    let run = admin(
        Some(store.table()),
        &create_args("splash", "olive"),
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    let created = run.expect_success();
    assert_eq!(created["account"], "splash");
    let owner = created["owner_staff_id"].as_str().expect("owner_staff_id");
    assert!(!owner.is_empty());
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));

    let shown = show_tenant(store.table(), "splash").await;
    assert_eq!(shown["account"], "splash");
    assert_eq!(shown["owner_staff_id"], owner);
    assert_eq!(shown["settings"]["business_name"], "Splash Swim School");
    assert_eq!(shown["settings"]["sms_credits"], 0);
    // Settings only: no hash, no password, no key material.
    let text = shown.to_string();
    for secret in ["password", "hash", "argon2", PASSWORD] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn a_tenant_that_exists_is_a_clear_error() {
    let store = new_table().await;
    create_tenant(store.table(), "splash").await;
    admin(
        Some(store.table()),
        &create_args("splash", "someone-else"),
        Some(&format!("{PASSWORD}\n")),
    )
    .await
    .expect_failure(4, "tenant splash already exists");
}

#[tokio::test]
async fn the_password_is_never_an_argument() {
    let store = new_table().await;
    let mut args = create_args("splash", "olive");
    args.pop(); // --password-stdin
    args.extend(["--password", PASSWORD]);
    let run = admin(Some(store.table()), &args, None).await;
    run.expect_failure(2, "unexpected argument '--password'");
    assert!(run.stderr.contains("Usage: portal-admin create-tenant"));

    // Without --password-stdin and without a terminal there is nothing to read it from.
    let mut args = create_args("splash", "olive");
    args.pop();
    admin(Some(store.table()), &args, Some(&format!("{PASSWORD}\n")))
        .await
        .expect_failure(2, "pass --password-stdin");
    admin(
        Some(store.table()),
        &["show-tenant", "--account", "splash"],
        None,
    )
    .await
    .expect_failure(5, "tenant splash does not exist");
}

#[tokio::test]
async fn a_weak_password_lists_the_rules_it_fails() {
    let store = new_table().await;
    let run = admin(
        Some(store.table()),
        &create_args("splash", "olive"),
        Some("short\n"),
    )
    .await;
    run.expect_failure(3, "invalid input");
    assert!(run.stderr.contains("owner password (stdin)"), "{run:#?}");
    for rule in ["min_length", "uppercase", "digit", "special"] {
        assert!(run.stderr.contains(rule), "{rule}: {run:#?}");
    }
    assert!(!run.stderr.contains("short"), "the password is not echoed");
    admin(
        Some(store.table()),
        &["show-tenant", "--account", "splash"],
        None,
    )
    .await
    .expect_failure(5, "tenant splash does not exist");
}

#[tokio::test]
async fn every_invalid_field_is_listed_by_its_flag() {
    let store = new_table().await;
    let run = admin(
        Some(store.table()),
        &[
            "create-tenant",
            "--account",
            "splash",
            "--business-name",
            " ",
            "--owner-username",
            "olive",
            "--owner-first-name",
            "Olive",
            "--owner-last-name",
            "Owner",
            "--owner-email",
            "not-an-email",
            "--owner-phone",
            "12",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    run.expect_failure(3, "invalid input");
    for flag in ["--business-name", "--owner-email", "--owner-phone"] {
        assert!(run.stderr.contains(flag), "{flag}: {run:#?}");
    }
    admin(
        Some(store.table()),
        &["show-tenant", "--account", "Not_Valid"],
        None,
    )
    .await
    .expect_failure(3, "--account");
}

#[tokio::test]
async fn a_missing_table_is_a_clear_error_and_is_not_created() {
    let table = unique("missing");
    admin(
        Some(&table),
        &create_args("splash", "olive"),
        Some(&format!("{PASSWORD}\n")),
    )
    .await
    .expect_failure(
        5,
        &format!("table {table} does not exist (deploy the stack first)"),
    );
    for args in [
        &["show-tenant", "--account", "splash"][..],
        &["publish-terms", "--version", "2026-07"],
        &["add-sms-credits", "--account", "splash", "--amount", "5"],
    ] {
        admin(Some(&table), args, None)
            .await
            .expect_failure(5, &format!("table {table} does not exist"));
    }
    let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let described = client.describe_table().table_name(&table).send().await;
    assert!(
        described.is_err_and(|e| e
            .as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception())),
        "portal-admin must not create tables"
    );

    // No table at all: a usage error naming both ways to give one.
    admin(None, &["show-tenant", "--account", "splash"], None)
        .await
        .expect_failure(2, "pass --table TABLE or set TABLE_NAME");
}

#[tokio::test]
async fn publish_terms_then_show_tenant() {
    let store = new_table().await;
    create_tenant(store.table(), "splash").await;
    assert_eq!(
        show_tenant(store.table(), "splash").await["terms_version"],
        "2026-01"
    );
    let published = admin(
        None,
        &[
            "--table",
            store.table(),
            "publish-terms",
            "--version",
            "2026-07",
        ],
        None,
    )
    .await
    .expect_success();
    assert_eq!(published, json!({"terms_version": "2026-07"}));
    assert_eq!(
        show_tenant(store.table(), "splash").await["terms_version"],
        "2026-07"
    );
    admin(
        Some(store.table()),
        &["publish-terms", "--version", " "],
        None,
    )
    .await
    .expect_failure(3, "--version");
}

#[tokio::test]
async fn add_sms_credits_then_show_tenant() {
    let store = new_table().await;
    create_tenant(store.table(), "splash").await;
    let added = admin(
        Some(store.table()),
        &["add-sms-credits", "--account", "splash", "--amount", "250"],
        None,
    )
    .await
    .expect_success();
    assert_eq!(added, json!({"account": "splash", "sms_credits": 250}));
    admin(
        Some(store.table()),
        &["add-sms-credits", "--account", "splash", "--amount", "-50"],
        None,
    )
    .await
    .expect_success();
    assert_eq!(
        show_tenant(store.table(), "splash").await["settings"]["sms_credits"],
        200
    );
    // Never below zero, and nothing changes.
    admin(
        Some(store.table()),
        &["add-sms-credits", "--account", "splash", "--amount", "-201"],
        None,
    )
    .await
    .expect_failure(3, "credits cannot go below zero");
    assert_eq!(
        show_tenant(store.table(), "splash").await["settings"]["sms_credits"],
        200
    );
    admin(
        Some(store.table()),
        &["add-sms-credits", "--account", "nowhere", "--amount", "5"],
        None,
    )
    .await
    .expect_failure(5, "tenant nowhere does not exist");
}

#[tokio::test]
async fn every_subcommand_has_help() {
    for sub in [
        "create-tenant",
        "publish-terms",
        "add-sms-credits",
        "show-tenant",
    ] {
        let run = admin(None, &[sub, "--help"], None).await;
        assert_eq!(run.code, Some(0), "{sub}: {run:#?}");
        assert!(
            run.stdout
                .contains(&format!("Usage: portal-admin {sub} [OPTIONS]")),
            "{sub}: {run:#?}"
        );
        assert!(run.stdout.contains("Exit codes:"), "{sub}: {run:#?}");
    }
    let run = admin(None, &["--help"], None).await;
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stdout.contains("create-tenant"));
    admin(None, &["frobnicate"], None)
        .await
        .expect_failure(2, "unrecognized subcommand");
}

/// The point of the command: a tenant it creates on a table can be signed into by the same
/// routes on that table (portal-local on DynamoDB, same endpoint and table).
#[tokio::test]
async fn a_tenant_created_by_portal_admin_can_sign_in_through_portal_local() {
    let store = new_table().await;
    let table = store.table().to_owned();
    let created = create_tenant(&table, "splash").await;

    let running = portal_local::spawn(portal_local::Options {
        store: Arc::new(store),
        mailer: None,
        sms: None,
        port: 0,
        portal_url: None,
        keys: None,
    })
    .await
    .expect("start portal-local on DynamoDB");
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/a/splash/staff/login", running.url()))
        .json(&json!({"username": "Olive", "password": PASSWORD}))
        .send()
        .await
        .expect("POST /a/splash/staff/login");
    let status = response.status();
    let body: Value = response.json().await.expect("login body");
    assert_eq!(status, 200, "{body}");
    assert!(
        body["token"].as_str().is_some_and(|t| t.len() > 40),
        "{body}"
    );

    // The signed-in owner is the one portal-admin printed.
    let token = body["token"].as_str().unwrap();
    let session: Value = http
        .get(format!("{}/a/splash/session", running.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /a/splash/session")
        .json()
        .await
        .expect("session body");
    assert!(
        session
            .to_string()
            .contains(created["owner_staff_id"].as_str().expect("owner_staff_id")),
        "{session}"
    );

    // A wrong password is still refused.
    let wrong = http
        .post(format!("{}/a/splash/staff/login", running.url()))
        .json(&json!({"username": "olive", "password": "Wr0ng-Passw0rd!"}))
        .send()
        .await
        .expect("POST /a/splash/staff/login");
    assert_eq!(wrong.status(), 401);
    running.task.abort();
}
