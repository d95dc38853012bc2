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
        .env("PORTAL_OPERATOR", "test-operator")
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
async fn set_daily_mail_limit_then_show_tenant() {
    let store = new_table().await;
    create_tenant(store.table(), "splash").await;
    assert_eq!(
        show_tenant(store.table(), "splash").await["settings"]["daily_mail_limit"],
        1000,
        "the default"
    );
    let set = admin(
        Some(store.table()),
        &[
            "set-daily-mail-limit",
            "--account",
            "splash",
            "--limit",
            "3000",
        ],
        None,
    )
    .await
    .expect_success();
    assert_eq!(set, json!({"account": "splash", "daily_mail_limit": 3000}));
    assert_eq!(
        show_tenant(store.table(), "splash").await["settings"]["daily_mail_limit"],
        3000
    );
    // Out of range: refused before any AWS call, nothing changes.
    admin(
        Some(store.table()),
        &[
            "set-daily-mail-limit",
            "--account",
            "splash",
            "--limit",
            "0",
        ],
        None,
    )
    .await
    .expect_failure(3, "--limit");
    admin(
        Some(store.table()),
        &[
            "set-daily-mail-limit",
            "--account",
            "nowhere",
            "--limit",
            "5",
        ],
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
        "set-daily-mail-limit",
        "show-tenant",
        "list-tenants",
        "suspend-tenant",
        "resume-tenant",
        "unlock-login",
        "end-sessions",
        "owner-reset-link",
        "export-audit",
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
        metrics: None,
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

// ------------------------------------------------------------------ incident commands

/// portal-local serving the same table: what the API answers after an operator's command.
struct Api {
    running: portal_local::Running,
    http: reqwest::Client,
}

impl Api {
    async fn start(store: DynamoStore) -> Api {
        let running = portal_local::spawn(portal_local::Options {
            store: Arc::new(store),
            mailer: None,
            sms: None,
            port: 0,
            portal_url: None,
            metrics: None,
            keys: None,
        })
        .await
        .expect("start portal-local on DynamoDB");
        Api {
            running,
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.running.url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, None, Some(body))
            .await
    }

    async fn session(&self, token: &str) -> u16 {
        self.call(reqwest::Method::GET, "/a/splash/session", Some(token), None)
            .await
            .0
    }

    async fn login(&self, password: &str) -> (u16, Value) {
        self.post(
            "/a/splash/staff/login",
            json!({"username": "olive", "password": password}),
        )
        .await
    }

    async fn token(&self) -> String {
        let (status, body) = self.login(PASSWORD).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// `n` sessions of the owner, five logins at a time (the lockout's parallel limit).
    async fn tokens(self: &Arc<Self>, n: usize) -> Vec<String> {
        let mut tasks = tokio::task::JoinSet::new();
        for lane in 0..5 {
            let api = self.clone();
            let count = n / 5 + usize::from(lane < n % 5);
            tasks.spawn(async move {
                let mut tokens = Vec::new();
                for _ in 0..count {
                    tokens.push(api.token().await);
                }
                tokens
            });
        }
        let mut all = Vec::new();
        while let Some(done) = tasks.join_next().await {
            all.extend(done.expect("login lane"));
        }
        assert_eq!(all.len(), n);
        all
    }

    /// The status of `GET session` for every token, twenty at a time.
    async fn statuses(self: &Arc<Self>, tokens: &[String]) -> Vec<u16> {
        let mut statuses = Vec::new();
        for chunk in tokens.chunks(20) {
            let mut tasks = tokio::task::JoinSet::new();
            for token in chunk {
                let (api, token) = (self.clone(), token.clone());
                tasks.spawn(async move { api.session(&token).await });
            }
            while let Some(done) = tasks.join_next().await {
                statuses.push(done.expect("session check"));
            }
        }
        statuses
    }
}

/// The JSON lines a command printed.
fn lines(run: &Run) -> Vec<Value> {
    assert_eq!(run.code, Some(0), "expected success: {run:#?}");
    run.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test]
async fn suspension_is_seen_by_the_api_and_resume_restores_it() {
    let store = new_table().await;
    let table = store.table().to_owned();
    create_tenant(&table, "splash").await;
    let api = Api::start(store).await;
    let token = api.token().await;
    assert_eq!(api.session(&token).await, 200);

    let suspended = admin(
        Some(&table),
        &[
            "suspend-tenant",
            "--account",
            "splash",
            "--reason",
            "chargeback",
        ],
        None,
    )
    .await
    .expect_success();
    assert_eq!(
        suspended,
        json!({"account": "splash", "suspended": true, "change": "changed"})
    );
    // The session ended with the suspension.
    assert_eq!(api.session(&token).await, 401);
    // Every way in says why, before any password or token is looked at.
    for (path, body) in [
        (
            "/a/splash/staff/login",
            json!({"username": "olive", "password": PASSWORD}),
        ),
        (
            "/a/splash/portal/login",
            json!({"email": "pat@splash.test", "password": PASSWORD}),
        ),
        (
            "/a/splash/portal/signup/email",
            json!({"email": "pat@splash.test"}),
        ),
        (
            "/a/splash/portal/signup/email/verify",
            json!({"email": "pat@splash.test", "code": "123456"}),
        ),
        ("/a/splash/portal/signup", json!({})),
        (
            "/a/splash/portal/invitations/accept",
            json!({"token": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "password": PASSWORD}),
        ),
        (
            "/a/splash/staff/password/forgot",
            json!({"username": "olive"}),
        ),
        (
            "/a/splash/portal/password/forgot",
            json!({"email": "pat@splash.test"}),
        ),
    ] {
        let (status, problem) = api.post(path, body).await;
        assert_eq!(status, 403, "{path}: {problem}");
        assert_eq!(problem["code"], "account_suspended", "{path}: {problem}");
    }
    let listed = lines(&admin(Some(&table), &["list-tenants"], None).await);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["suspended"], true);
    assert_eq!(listed[0]["suspension_reason"], "chargeback");
    assert_eq!(show_tenant(&table, "splash").await["suspended"], true);

    // Twice changes nothing.
    let again = admin(
        Some(&table),
        &["suspend-tenant", "--account", "splash"],
        None,
    )
    .await;
    assert_eq!(again.expect_success()["change"], "unchanged");
    assert!(again.stderr.contains("already suspended"), "{again:#?}");

    let resumed = admin(
        Some(&table),
        &["resume-tenant", "--account", "splash"],
        None,
    )
    .await
    .expect_success();
    assert_eq!(
        resumed,
        json!({"account": "splash", "suspended": false, "change": "changed"})
    );
    let fresh = api.token().await;
    assert_eq!(api.session(&fresh).await, 200);
    // Sessions the suspension ended stay ended.
    assert_eq!(api.session(&token).await, 401);
    let (status, _) = api
        .post(
            "/a/splash/portal/signup/email",
            json!({"email": "pat@splash.test"}),
        )
        .await;
    assert_eq!(status, 202);
    admin(
        Some(&table),
        &["resume-tenant", "--account", "nowhere"],
        None,
    )
    .await
    .expect_failure(5, "tenant nowhere does not exist");
    api.running.task.abort();
}

#[tokio::test]
async fn end_sessions_ends_250_sessions_of_a_tenant_then_one_users() {
    let store = new_table().await;
    let table = store.table().to_owned();
    create_tenant(&table, "splash").await;
    let api = Arc::new(Api::start(store).await);
    let tokens = api.tokens(250).await;
    assert!(api.statuses(&tokens).await.iter().all(|s| *s == 200));

    let ended = admin(Some(&table), &["end-sessions", "--account", "splash"], None)
        .await
        .expect_success();
    assert_eq!(ended, json!({"account": "splash", "scope": "tenant"}));
    let after = api.statuses(&tokens).await;
    assert_eq!(after.len(), 250);
    assert!(after.iter().all(|s| *s == 401), "{after:?}");

    // New sessions work; one user's end ends theirs.
    let (first, second) = (api.token().await, api.token().await);
    assert_eq!(api.session(&first).await, 200);
    let user = admin(
        Some(&table),
        &[
            "end-sessions",
            "--account",
            "splash",
            "--staff-username",
            "Olive",
        ],
        None,
    )
    .await
    .expect_success();
    assert_eq!(user["scope"], "user");
    assert_eq!(api.session(&first).await, 401);
    assert_eq!(api.session(&second).await, 401);
    assert_eq!(api.session(&api.token().await).await, 200);
    admin(
        Some(&table),
        &[
            "end-sessions",
            "--account",
            "splash",
            "--guardian-email",
            "nobody@splash.test",
        ],
        None,
    )
    .await
    .expect_failure(5, "no such login");
    api.running.task.abort();
}

#[tokio::test]
async fn unlock_login_lets_the_right_password_in_at_once() {
    let store = new_table().await;
    let table = store.table().to_owned();
    create_tenant(&table, "splash").await;
    let api = Api::start(store).await;
    for _ in 0..5 {
        assert_eq!(api.login("Wr0ng-Passw0rd!").await.0, 401);
    }
    let (status, problem) = api.login(PASSWORD).await;
    assert_eq!(status, 429, "{problem}");
    assert_eq!(problem["code"], "too_many_attempts");

    let unlocked = admin(
        Some(&table),
        &[
            "unlock-login",
            "--account",
            "splash",
            "--staff-username",
            "OLIVE",
        ],
        None,
    )
    .await
    .expect_success();
    assert_eq!(unlocked["unlocked"], true);
    assert_eq!(api.login(PASSWORD).await.0, 200);
    admin(
        Some(&table),
        &[
            "unlock-login",
            "--account",
            "splash",
            "--staff-username",
            "ghost",
        ],
        None,
    )
    .await
    .expect_failure(5, "no such login");
    admin(
        Some(&table),
        &[
            "unlock-login",
            "--account",
            "splash",
            "--guardian-email",
            "not-an-email",
        ],
        None,
    )
    .await
    .expect_failure(3, "--guardian-email");
    api.running.task.abort();
}

#[tokio::test]
async fn an_owner_reset_link_works_once_through_the_api() {
    let store = new_table().await;
    let table = store.table().to_owned();
    let created = create_tenant(&table, "splash").await;
    let api = Api::start(store).await;
    admin(
        Some(&table),
        &["owner-reset-link", "--account", "splash"],
        None,
    )
    .await
    .expect_failure(2, "no portal URL");
    let link = admin(
        Some(&table),
        &[
            "owner-reset-link",
            "--account",
            "splash",
            "--portal-url",
            "https://portal.test/",
        ],
        None,
    )
    .await
    .expect_success();
    assert_eq!(link["owner_staff_id"], created["owner_staff_id"]);
    let url = link["url"].as_str().expect("url");
    let token = url
        .strip_prefix("https://portal.test/a/splash/reset-password?token=")
        .unwrap_or_else(|| panic!("{url}"));
    let (status, info) = api
        .call(
            reqwest::Method::GET,
            &format!("/a/splash/password/reset/{token}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["kind"], "staff");

    let new_password = "N3w-Passw0rd!x";
    let reset = json!({"token": token, "new_password": new_password});
    assert_eq!(
        api.post("/a/splash/password/reset", reset.clone()).await.0,
        204
    );
    let (status, problem) = api.post("/a/splash/password/reset", reset).await;
    assert_eq!((status, &problem["code"]), (400, &json!("invalid_token")));
    assert_eq!(api.login(PASSWORD).await.0, 401);
    assert_eq!(api.login(new_password).await.0, 200);

    let audit = lines(&admin(Some(&table), &["export-audit", "--account", "splash"], None).await);
    let sent = audit
        .iter()
        .find(|e| e["action"] == "password.reset_sent")
        .expect("the link is audited");
    assert_eq!(
        sent["actor"],
        json!({"kind": "operator", "id": "test-operator"})
    );
    assert_eq!(sent["details"]["channel"], "operator");
    api.running.task.abort();
}

#[tokio::test]
async fn export_audit_prints_every_entry_in_time_order_within_a_range() {
    let store = new_table().await;
    let table = store.table().to_owned();
    let mut args = vec!["--operator", "alice"];
    args.extend(create_args("splash", "olive"));
    admin(Some(&table), &args, Some(&format!("{PASSWORD}\n")))
        .await
        .expect_success();
    let api = Arc::new(Api::start(store).await);
    api.tokens(110).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let boundary = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for command in ["suspend-tenant", "resume-tenant"] {
        admin(
            Some(&table),
            &["--operator", "bob", command, "--account", "splash"],
            None,
        )
        .await
        .expect_success();
    }

    let all = lines(&admin(Some(&table), &["export-audit", "--account", "splash"], None).await);
    assert_eq!(all.len(), 113, "created, 110 logins, suspended, resumed");
    assert!(
        all.windows(2)
            .all(|w| w[0]["at"].as_str() <= w[1]["at"].as_str())
    );
    assert_eq!(all[0]["action"], "tenant.created");
    assert_eq!(all[0]["actor"], json!({"kind": "operator", "id": "alice"}));
    assert_eq!(
        all.iter().filter(|e| e["action"] == "staff.login").count(),
        110
    );

    let from = portal_core::clock::rfc3339_epoch(boundary);
    let to = portal_core::clock::rfc3339_epoch(boundary - 1);
    let late = lines(
        &admin(
            Some(&table),
            &["export-audit", "--account", "splash", "--from", &from],
            None,
        )
        .await,
    );
    let actions: Vec<_> = late.iter().map(|e| e["action"].clone()).collect();
    assert_eq!(
        actions,
        [json!("tenant.suspended"), json!("tenant.resumed")]
    );
    assert!(
        late.iter()
            .all(|e| e["actor"] == json!({"kind": "operator", "id": "bob"}))
    );
    let early = lines(
        &admin(
            Some(&table),
            &["export-audit", "--account", "splash", "--to", &to],
            None,
        )
        .await,
    );
    assert_eq!(early.len(), 111, "created and the logins");
    let none = lines(
        &admin(
            Some(&table),
            &[
                "export-audit",
                "--account",
                "splash",
                "--from",
                &from,
                "--to",
                &to,
            ],
            None,
        )
        .await,
    );
    assert!(none.is_empty());
    admin(
        Some(&table),
        &["export-audit", "--account", "splash", "--from", "yesterday"],
        None,
    )
    .await
    .expect_failure(3, "--from");
    admin(
        Some(&table),
        &["export-audit", "--account", "nowhere"],
        None,
    )
    .await
    .expect_failure(5, "tenant nowhere does not exist");
    api.running.task.abort();
}

#[tokio::test]
async fn changes_need_an_operator_name() {
    let store = new_table().await;
    let run = Command::new(env!("CARGO_BIN_EXE_portal-admin"))
        .args(["suspend-tenant", "--account", "splash"])
        .env("TABLE_NAME", store.table())
        .env_remove("PORTAL_OPERATOR")
        .env_remove("USER")
        .output()
        .expect("run portal-admin");
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--operator NAME"));
}
