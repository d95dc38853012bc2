//! In-process figures on the embedded store: argon2 verify, staff login, the session GET,
//! login and forgot-password timing for known vs unknown users, and the peak RSS of logins.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Method;
use portal_core::passwords::{Password, PasswordAttempt, PasswordHasherConfig, Verified};
use portal_core::store::EmbeddedStore;
use portal_http::App;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::common::{
    BenchResult, OWNER, OWNER_PASSWORD, STAFF_PASSWORD, Stats, call, create_staff, create_tenant,
    owner_with_terms, portal_over, r3, rss_mb, staff_login, write_fragment,
};

const ACCOUNT: &str = "bench";

fn samples(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn embedded_app() -> BenchResult<(App, Arc<portal_local::Outbox>)> {
    let (portal, outbox) = portal_over(Arc::new(EmbeddedStore::new()))?;
    create_tenant(&portal, ACCOUNT, json!({})).await?;
    Ok((App::new(portal, None), outbox))
}

/// Median of `PasswordHasherConfig::default().verify(...)` of a correct password.
async fn argon2_verify(n: usize) -> BenchResult<Stats> {
    let cfg = PasswordHasherConfig::default();
    let pw = Password::parse(SecretString::from(OWNER_PASSWORD.to_owned()), "password")
        .map_err(|e| format!("{e:?}"))?;
    let hash = cfg.hash(&pw).await?;
    let mut times = Vec::with_capacity(n);
    for i in 0..=n {
        let attempt = PasswordAttempt(SecretString::from(OWNER_PASSWORD.to_owned()));
        let t = Instant::now();
        let v = cfg.verify(&attempt, Some(&hash)).await?;
        let e = t.elapsed();
        if v != Verified::Yes {
            return Err("verify failed".into());
        }
        if i > 0 {
            times.push(e);
        }
    }
    Ok(Stats::from_durations(&times, 1e3))
}

pub async fn run() -> BenchResult<()> {
    let n_argon = samples("BENCH_ARGON_SAMPLES", 41);
    let n_get = samples("BENCH_GET_SAMPLES", 50_000);
    let n_enum = samples("BENCH_ENUM_SAMPLES", 25);

    // A verify alone first (no app yet), for the record.
    let alone = argon2_verify(9).await?;

    let (app, _outbox) = embedded_app().await?;
    // The headline pair is measured interleaved (verify, then a login, n times), so a noisy
    // neighbour on the machine affects both alike.
    eprintln!("argon2 verify and staff login, interleaved x{n_argon} ...");
    let cfg = PasswordHasherConfig::default();
    let pw = Password::parse(SecretString::from(OWNER_PASSWORD.to_owned()), "password")
        .map_err(|e| format!("{e:?}"))?;
    let hash = cfg.hash(&pw).await?;
    staff_login(&app, ACCOUNT, OWNER, OWNER_PASSWORD).await?; // warm-up
    let mut verify_times = Vec::new();
    let mut login_times = Vec::new();
    let mut token = String::new();
    for _ in 0..n_argon {
        let attempt = PasswordAttempt(SecretString::from(OWNER_PASSWORD.to_owned()));
        let t = Instant::now();
        if cfg.verify(&attempt, Some(&hash)).await? != Verified::Yes {
            return Err("verify failed".into());
        }
        verify_times.push(t.elapsed());
        let t = Instant::now();
        let body = staff_login(&app, ACCOUNT, OWNER, OWNER_PASSWORD).await?;
        login_times.push(t.elapsed());
        token = body["token"].as_str().ok_or("no token")?.to_owned();
    }
    let argon = Stats::from_durations(&verify_times, 1e3);
    let login = Stats::from_durations(&login_times, 1e3);
    let diffs = Stats::new(
        verify_times
            .iter()
            .zip(&login_times)
            .map(|(v, l)| (l.as_secs_f64() - v.as_secs_f64()) * 1e3)
            .collect(),
    );

    eprintln!("GET session x{n_get} ...");
    let path = format!("/a/{ACCOUNT}/session");
    for _ in 0..2_000 {
        let (s, _) = call(&app, Method::GET, &path, Some(&token), None).await;
        if s != 200 {
            return Err(format!("GET session: {s}").into());
        }
    }
    let mut get_times = Vec::with_capacity(n_get);
    let all = Instant::now();
    for _ in 0..n_get {
        let t = Instant::now();
        let (s, _) = call(&app, Method::GET, &path, Some(&token), None).await;
        get_times.push(t.elapsed());
        if s != 200 {
            return Err(format!("GET session: {s}").into());
        }
    }
    let get_wall = all.elapsed();
    let get = Stats::from_durations(&get_times, 1e6);

    eprintln!("enumeration x{n_enum} ...");
    let enumeration = enumeration(&app, n_enum).await?;

    let ratio = login.median() / argon.median();
    let value = json!({
        "argon2_verify_ms": r3(argon.median()),
        "staff_login_ms": r3(login.median()),
        "login_overhead_ratio": r3(ratio),
        "get_session_p50_us": r3(get.median()),
        "get_session_p99_us": r3(get.percentile(99.0)),
        "details": {
            "argon2_verify_ms": {"samples": argon.len(), "min": r3(argon.min()), "p90": r3(argon.percentile(90.0)), "max": r3(argon.max())},
            "staff_login_ms": {"samples": login.len(), "min": r3(login.min()), "p90": r3(login.percentile(90.0)), "max": r3(login.max())},
            "login_minus_verify_ms": {"median": r3(diffs.median()), "p90": r3(diffs.percentile(90.0))},
            "argon2_verify_alone_ms": {"samples": alone.len(), "median": r3(alone.median())},
            "get_session_us": {
                "samples": get.len(), "min": r3(get.min()), "mean": r3(get.mean()),
                "p90": r3(get.percentile(90.0)), "p99.9": r3(get.percentile(99.9)), "max": r3(get.max()),
                "requests_per_s_one_task": r3(n_get as f64 / get_wall.as_secs_f64()),
            },
        },
        "enumeration": enumeration,
    });
    write_fragment("inproc", &value)
}

/// Known user + wrong password vs unknown user, for login and for forgot-password; each
/// attempt uses its own username (never 5 failures on one name, so no lockout).
async fn enumeration(app: &App, n: usize) -> BenchResult<Value> {
    let owner = owner_with_terms(app, ACCOUNT).await?;
    for i in 0..n {
        create_staff(app, ACCOUNT, &owner, &format!("known{i}"), json!({})).await?;
    }
    let login_path = format!("/a/{ACCOUNT}/staff/login");
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    let mut statuses = std::collections::BTreeMap::new();
    // Warm-up of both paths (one name each, spare).
    call(
        app,
        Method::POST,
        &login_path,
        None,
        Some(&json!({"username": "ghost-warm", "password": "Wr0ng-Pass!x"})),
    )
    .await;
    for i in 0..n {
        for (user, into) in [
            (format!("known{i}"), &mut known),
            (format!("ghost{i}"), &mut unknown),
        ] {
            let body = json!({"username": user, "password": "Wr0ng-Pass!x"});
            let t = Instant::now();
            let (s, _) = call(app, Method::POST, &login_path, None, Some(&body)).await;
            into.push(t.elapsed());
            *statuses.entry(format!("login {s}")).or_insert(0) += 1;
        }
    }
    let known_login = Stats::from_durations(&known, 1e3);
    let unknown_login = Stats::from_durations(&unknown, 1e3);
    // Sanity: a correct login still works for a known user (no lockout interfered).
    staff_login(app, ACCOUNT, "known0", STAFF_PASSWORD).await?;

    let forgot_path = format!("/a/{ACCOUNT}/staff/password/forgot");
    let (s, _) = call(
        app,
        Method::POST,
        &forgot_path,
        None,
        Some(&json!({"username": "ghost-warm"})),
    )
    .await;
    let forgot = if s == 404 || s == 405 {
        json!({"status": "missing", "detail": format!("POST {forgot_path} answered {s}")})
    } else {
        let mut known: Vec<Duration> = Vec::new();
        let mut unknown: Vec<Duration> = Vec::new();
        // Many rounds (the embedded store answers in microseconds, so noise matters), each on a
        // staff member of its own: one link each, never the sending limit.
        let rounds = (n * 4).max(100);
        for round in 0..rounds {
            create_staff(app, ACCOUNT, &owner, &format!("fk{round}"), json!({})).await?;
        }
        for round in 0..rounds {
            for (user, into) in [
                (format!("fk{round}"), &mut known),
                (format!("ghost-f{round}"), &mut unknown),
            ] {
                let body = json!({"username": user});
                let t = Instant::now();
                let (s, _) = call(app, Method::POST, &forgot_path, None, Some(&body)).await;
                into.push(t.elapsed());
                *statuses.entry(format!("forgot {s}")).or_insert(0) += 1;
            }
        }
        let k = Stats::from_durations(&known, 1e6);
        let u = Stats::from_durations(&unknown, 1e6);
        json!({
            "unknown_median_us": r3(u.median()),
            "known_median_us": r3(k.median()),
            "ratio": r3(u.median() / k.median()),
            "samples": k.len(),
            "note": "known: a staff member with an email (link stored and mailed to the outbox); unknown: no such username",
        })
    };
    Ok(json!({
        "login": {
            "unknown_median_ms": r3(unknown_login.median()),
            "known_wrong_password_median_ms": r3(known_login.median()),
            "ratio": r3(unknown_login.median() / known_login.median()),
            "samples": known_login.len(),
        },
        "forgot_password": forgot,
        "statuses": statuses,
    }))
}

/// Peak RSS of a process doing 1,000 staff logins through the handler (as the login
/// function would, one request at a time).
pub async fn rss(n: usize) -> BenchResult<()> {
    let (before_hwm, before_rss) = rss_mb();
    let (app, _outbox) = embedded_app().await?;
    let (setup_hwm, _) = rss_mb();
    let t = Instant::now();
    for i in 0..n {
        staff_login(&app, ACCOUNT, OWNER, OWNER_PASSWORD).await?;
        if i == 9 {
            let (h, _) = rss_mb();
            eprintln!("after 10 logins: VmHWM {h:.1} MiB");
        }
    }
    let elapsed = t.elapsed();
    let (hwm, now) = rss_mb();
    let value = json!({
        "peak_rss_mb": r3(hwm),
        "details": {
            "logins": n,
            "rss_after_mb": r3(now),
            "peak_before_setup_mb": r3(before_hwm),
            "rss_before_setup_mb": r3(before_rss),
            "peak_after_tenant_setup_mb": r3(setup_hwm),
            "seconds": r3(elapsed.as_secs_f64()),
            "store": "embedded (every session stays in memory)",
        }
    });
    write_fragment("rss", &value)
}
