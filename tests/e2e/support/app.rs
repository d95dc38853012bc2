//! A portal-local server per test (its own clock, outbox and store), driven over HTTP.
//! `Backend::Embedded` uses the embedded store; `Backend::Dynamo` a fresh table on moto.

use std::sync::Arc;

use portal_core::store::{EmbeddedStore, Store};
use portal_core::token_signer::KeySource;
use portal_local::{Options, Running};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Dynamo,
}

pub const OWNER_PASSWORD: &str = "Sw1m-Sch00l!x";

pub struct TestApp {
    pub running: Running,
    pub client: reqwest::Client,
    pub account: String,
}

/// A response: status, headers and the JSON body (`Value::Null` when empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The problem `code`, if any.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// Asserts the status (and prints the body when it differs).
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        &self.body
    }

    /// Asserts a problem response with this status and code.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.code(), code, "body: {}", self.body);
        assert_eq!(
            self.headers["content-type"], "application/problem+json",
            "problem content type"
        );
    }

    /// The field error codes of a 422, as (field, code) pairs.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .map(|es| {
                es.iter()
                    .map(|e| {
                        (
                            e["field"].as_str().unwrap_or("").to_owned(),
                            e["code"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub async fn store_for(backend: Backend) -> Arc<dyn Store> {
    match backend {
        Backend::Embedded => Arc::new(EmbeddedStore::new()),
        Backend::Dynamo => Arc::new(super::aws::dynamo_store().await),
    }
}

impl TestApp {
    /// A server with one tenant (`swim`) whose owner is `owner` / [`OWNER_PASSWORD`].
    pub async fn spawn(backend: Backend) -> TestApp {
        let app = Self::spawn_empty(backend).await;
        app.create_tenant("swim", "owner").await;
        app
    }

    pub async fn spawn_empty(backend: Backend) -> TestApp {
        Self::spawn_custom(store_for(backend).await, None).await
    }

    /// A server on the given store, mailing through `mailer` instead of the outbox (fault tests).
    pub async fn spawn_custom(
        store: Arc<dyn Store>,
        mailer: Option<Arc<dyn portal_core::messaging::Mailer>>,
    ) -> TestApp {
        Self::spawn_options(store, mailer, None).await
    }

    /// A server on the given store whose signing key ring is kept in `keys` (read at start and
    /// again as on Lambda, on the server's own clock), without a tenant.
    pub async fn spawn_with_keys(store: Arc<dyn Store>, keys: Arc<dyn KeySource>) -> TestApp {
        Self::spawn_options(store, None, Some(keys)).await
    }

    async fn spawn_options(
        store: Arc<dyn Store>,
        mailer: Option<Arc<dyn portal_core::messaging::Mailer>>,
        keys: Option<Arc<dyn KeySource>>,
    ) -> TestApp {
        // Warnings and errors of the server (e.g. why a request answered 503) go to the test's
        // captured output, shown when it fails.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("warn")
            .try_init();
        let running = portal_local::spawn(Options {
            store,
            mailer,
            sms: None,
            metrics: None,
            port: 0,
            portal_url: Some("https://portal.test".into()),
            keys,
        })
        .await
        .expect("server starts");
        TestApp {
            running,
            client: reqwest::Client::new(),
            account: "swim".into(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.url())
    }

    /// `/a/{account}` + `rest`.
    pub fn at(&self, rest: &str) -> String {
        if rest.is_empty() {
            format!("/a/{}", self.account)
        } else {
            format!("/a/{}/{rest}", self.account)
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::PUT, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn create_tenant(&self, account: &str, owner: &str) -> Value {
        self.post(
            "/_dev/tenants",
            None,
            json!({
                "account": account,
                "business_name": format!("{account} swim school"),
                "owner": {
                    "username": owner,
                    "password": OWNER_PASSWORD,
                    "first_name": "Olive",
                    "last_name": "Owner",
                    "email": format!("{owner}@{account}.test"),
                }
            }),
        )
        .await
        .expect(201)
        .clone()
    }

    pub async fn staff_login(&self, username: &str, password: &str) -> Reply {
        self.post(
            &self.at("staff/login"),
            None,
            json!({"username": username, "password": password}),
        )
        .await
    }

    /// Logs in and accepts the current terms; returns the token.
    /// A persistent ("stay logged in") staff session's token (the terms left as they are).
    pub async fn persistent_staff_token(&self, username: &str, password: &str) -> String {
        self.post(
            &self.at("staff/login"),
            None,
            json!({"username": username, "password": password, "stay_logged_in": true}),
        )
        .await
        .expect(200)["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn staff_token(&self, username: &str, password: &str) -> String {
        let login = self.staff_login(username, password).await;
        let body = login.expect(200);
        let token = body["token"].as_str().expect("token").to_owned();
        if body["terms"]["accepted"] == false {
            let version = body["terms"]["current_version"].clone();
            self.post(
                &self.at("staff/terms/accept"),
                Some(&token),
                json!({"version": version}),
            )
            .await
            .expect(204);
        }
        token
    }

    pub async fn owner_token(&self) -> String {
        self.staff_token("owner", OWNER_PASSWORD).await
    }

    /// Creates a policy (body "Text") as `token`; returns its id.
    pub async fn create_policy(&self, token: &str, title: &str, required: bool) -> String {
        self.post(
            &self.at("office/policies"),
            Some(token),
            json!({"title": title, "body": "Text", "required": required}),
        )
        .await
        .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn advance_clock(&self, seconds: i64) {
        self.post("/_dev/clock", None, json!({"advance_seconds": seconds}))
            .await
            .expect(200);
    }

    pub async fn outbox(&self) -> Vec<Value> {
        self.get("/_dev/outbox", None).await.expect(200)["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The messages sent to `to`, oldest first.
    pub async fn messages_to(&self, to: &str) -> Vec<Value> {
        self.outbox()
            .await
            .into_iter()
            .filter(|m| m["to"] == to)
            .collect()
    }

    pub async fn patch_tenant(&self, settings: Value) {
        self.patch(&format!("/_dev/tenants/{}", self.account), None, settings)
            .await
            .expect(200);
    }

    pub async fn audit_actions(&self, token: &str) -> Vec<String> {
        let page = self
            .get(
                &format!("{}?limit=100", self.at("office/audit")),
                Some(token),
            )
            .await;
        page.expect(200)["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// The only 6-digit number of a message (validation codes).
pub fn six_digit_code(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut found = None;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 6 {
                if found.is_some() {
                    return None;
                }
                found = Some(text[start..i].to_owned());
            }
        } else {
            i += 1;
        }
    }
    found
}

/// Runs an async test case against both stores: `both_stores!(name, case_fn)` makes
/// `name::embedded` and `name::dynamodb`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    super::$name($crate::support::app::Backend::Embedded).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn dynamodb() {
                    super::$name($crate::support::app::Backend::Dynamo).await;
                }
            }
        )*
    };
}
