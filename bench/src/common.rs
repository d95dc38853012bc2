//! What every benchmark shares: a portal over a store with the local outbox, tenant set-up
//! through the domain, and requests through the in-process HTTP handler.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use portal_core::Portal;
use portal_core::account::AccountName;
use portal_core::clock::SystemClock;
use portal_core::onboarding::NewTenant;
use portal_core::passwords::PasswordHasherConfig;
use portal_core::staff::{NewStaff, StaffInput};
use portal_core::store::Store;
use portal_core::tenants::{SettingsChange, SettingsInput};
use portal_core::token_signer::TokenSigner;
use portal_http::App;
use portal_local::Outbox;
use secrecy::SecretString;
use serde_json::{Value, json};

pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

pub const OWNER: &str = "olive";
pub const OWNER_PASSWORD: &str = "Sw1m-Sch00l!x";
pub const STAFF_PASSWORD: &str = "Fr0nt-Desk!x";

/// Where the fragments and the summary go (`BENCH_OUT`, default `target/bench`).
pub fn out_dir() -> PathBuf {
    let dir = std::env::var("BENCH_OUT").unwrap_or_else(|_| "target/bench".into());
    let dir = PathBuf::from(dir);
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Writes one benchmark's fragment (`<name>.json`) for the summary.
pub fn write_fragment(name: &str, value: &Value) -> BenchResult<()> {
    let path = out_dir().join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(value)?)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// A portal over `store` that keeps mail and SMS in an outbox.
pub fn portal_over(store: Arc<dyn Store>) -> BenchResult<(Portal, Arc<Outbox>)> {
    let clock = Arc::new(SystemClock);
    let outbox = Arc::new(Outbox::new(clock.clone()));
    let portal = Portal {
        store,
        mailer: outbox.clone(),
        sms: outbox.clone(),
        clock,
        metrics: Arc::new(portal_core::metrics::NoMetrics),
        hasher: PasswordHasherConfig::default(),
        security: portal_core::security::SecurityPolicy::default(),
        signer: TokenSigner::new(&b"bench-signing-key-0123456789abcdef".to_vec().into())?,
        portal_url: "https://portal.test".into(),
    };
    Ok((portal, outbox))
}

/// Creates tenant `account` with owner [`OWNER`] and the given settings.
pub async fn create_tenant(portal: &Portal, account: &str, settings: Value) -> BenchResult<()> {
    let account = AccountName::parse(account).ok_or("bad account name")?;
    let settings: SettingsInput = serde_json::from_value(settings)?;
    portal
        .create_tenant(NewTenant {
            account,
            business_name: "Bench Swim School".into(),
            owner: NewStaff::parse(
                StaffInput {
                    username: Some(OWNER.into()),
                    first_name: Some("Olive".into()),
                    last_name: Some("Owner".into()),
                    email: Some("olive@bench.test".into()),
                    password: Some(SecretString::from(OWNER_PASSWORD.to_owned())),
                    ..Default::default()
                },
                "",
            )?,
            settings: SettingsChange::parse(&settings)?,
            sms_credits: 0,
            actor: portal_core::audit::Actor::system(),
        })
        .await?;
    Ok(())
}

/// One request through the handler: (status, JSON body or `Null`).
pub async fn call(
    app: &App,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = http::Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let bytes = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Bytes::from(serde_json::to_vec(b).unwrap_or_default())
        }
        None => Bytes::new(),
    };
    let Ok(req) = req.body(bytes) else {
        return (0, Value::Null);
    };
    let resp = app.handle(req, None).await;
    let status = resp.status().as_u16();
    let value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
    (status, value)
}

/// Like [`call`], but fails unless the status is `want`.
pub async fn expect(
    app: &App,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    want: u16,
) -> BenchResult<Value> {
    let (status, value) = call(app, method.clone(), path, token, body).await;
    if status != want {
        return Err(format!("{method} {path}: {status} (wanted {want}): {value}").into());
    }
    Ok(value)
}

/// Logs staff member `username` in; returns the login body.
pub async fn staff_login(
    app: &App,
    account: &str,
    username: &str,
    password: &str,
) -> BenchResult<Value> {
    expect(
        app,
        Method::POST,
        &format!("/a/{account}/staff/login"),
        None,
        Some(&json!({"username": username, "password": password})),
        200,
    )
    .await
}

/// The owner's token with the current terms accepted (needed for office routes).
pub async fn owner_with_terms(app: &App, account: &str) -> BenchResult<String> {
    let login = staff_login(app, account, OWNER, OWNER_PASSWORD).await?;
    let token = login["token"].as_str().ok_or("no token")?.to_owned();
    let version = login["terms"]["current_version"].clone();
    expect(
        app,
        Method::POST,
        &format!("/a/{account}/staff/terms/accept"),
        Some(&token),
        Some(&json!({"version": version, "newsletter_opt_in": false})),
        204,
    )
    .await?;
    Ok(token)
}

/// Creates a staff member with full staff/families permissions; returns the id.
pub async fn create_staff(
    app: &App,
    account: &str,
    owner: &str,
    username: &str,
    extra: Value,
) -> BenchResult<String> {
    let mut body = json!({
        "username": username, "first_name": "Fred", "last_name": "Desk",
        "email": format!("{username}@bench.test"), "password": STAFF_PASSWORD,
        "advanced_permissions": {"staff": "full", "families": "full"}
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let r = expect(
        app,
        Method::POST,
        &format!("/a/{account}/office/staff"),
        Some(owner),
        Some(&body),
        201,
    )
    .await?;
    Ok(r["id"].as_str().ok_or("no staff id")?.to_owned())
}

/// The token of a link (`?token=...`) in the newest outbox message to `to`.
pub fn last_link_token(outbox: &Outbox, to: &str) -> BenchResult<String> {
    let messages = outbox.messages();
    let message = messages
        .iter()
        .rev()
        .find(|m| m.to == to)
        .ok_or_else(|| format!("no message to {to}"))?;
    let at = message.body.find("token=").ok_or("no link in message")? + "token=".len();
    Ok(message.body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect())
}

/// Statistics over durations.
pub struct Stats {
    sorted: Vec<f64>,
}

impl Stats {
    /// From samples in any unit.
    pub fn new(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Self { sorted: samples }
    }

    pub fn from_durations(samples: &[Duration], unit: f64) -> Self {
        Self::new(samples.iter().map(|d| d.as_secs_f64() * unit).collect())
    }

    /// Nearest-rank percentile, `p` in 0..=100.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.clamp(1, self.sorted.len()) - 1]
    }

    pub fn median(&self) -> f64 {
        self.percentile(50.0)
    }

    pub fn mean(&self) -> f64 {
        self.sorted.iter().sum::<f64>() / self.sorted.len().max(1) as f64
    }

    pub fn min(&self) -> f64 {
        self.sorted.first().copied().unwrap_or(f64::NAN)
    }

    pub fn max(&self) -> f64 {
        self.sorted.last().copied().unwrap_or(f64::NAN)
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }
}

/// Rounds for the summary (3 decimals).
pub fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The process's peak and current resident set, in MiB (`VmHWM`, `VmRSS`).
pub fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmHWM:"), field("VmRSS:"))
}
