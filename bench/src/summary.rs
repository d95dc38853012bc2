//! Merges the fragments of every benchmark into `summary.json` and prints the table.

use serde_json::{Map, Value, json};

use crate::common::{BenchResult, out_dir, r3};

fn read(name: &str) -> Value {
    let path = out_dir().join(format!("{name}.json"));
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn fmt(v: &Value) -> String {
    match v {
        Value::Null => "n/a".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() != 0.0 => format!("{f:.3}"),
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn status(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "n/a",
    }
}

pub fn run() -> BenchResult<()> {
    let inproc = read("inproc");
    let rss = read("rss");
    let calls = read("ddb_calls");
    let purge = read("purge");
    let cold = read("coldstart");
    let load = read("load");
    let latency = read("latency");
    let first = read("first_response");

    // Written by tests/e2e/ddb_calls.rs (one definition of the routes, their budgets, floors
    // and reasons): route -> {requests, bound, floor, why, operations}.
    let mut ddb = Map::new();
    if let Some(measured) = calls.as_object() {
        for (route, v) in measured {
            ddb.insert(
                route.clone(),
                json!({"calls": v["requests"], "floor": v["floor"], "why": v["why"],
                       "operations": v["operations"]}),
            );
        }
    }

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);

    let mut summary = json!({
        "argon2_verify_ms": inproc["argon2_verify_ms"],
        "staff_login_ms": inproc["staff_login_ms"],
        "login_overhead_ratio": inproc["login_overhead_ratio"],
        "get_session_p50_us": inproc["get_session_p50_us"],
        "get_session_p99_us": inproc["get_session_p99_us"],
        "ddb_calls": Value::Object(ddb),
        "cold_start_ms": cold["cold_start_ms"],
        "binary_bytes": cold["binary_bytes"],
        "peak_rss_mb": rss["peak_rss_mb"],
        "load": load,
        "purge": purge["purge"],
        "latency_model": latency["latency"],
        "first_response": first["first_response"],
        "enumeration": inproc["enumeration"],
        "machine": {"cores": cores, "cpu": cpu},
        "details": {
            "inproc": inproc["details"],
            "rss": rss["details"],
            "cold_start": cold["details"],
            "forgot_password_on_moto": calls["forgot_password_on_moto"],
        },
    });
    if let (Some(argon), Some(obj)) = (
        num(&inproc["argon2_verify_ms"]),
        summary["load"].as_object_mut(),
    ) {
        obj.insert(
            "argon2_bound_rps".into(),
            json!(r3(cores as f64 * 1000.0 / argon)),
        );
    }
    let path = out_dir().join("summary.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary)?)?;

    // The table.
    let mut rows: Vec<(String, String, String, &str)> = Vec::new();
    let mut row = |name: String, v: &Value, goal: &str, ok: Option<bool>| {
        rows.push((name, fmt(v), goal.to_owned(), status(ok)));
    };
    let s = &summary;
    row("argon2_verify_ms".into(), &s["argon2_verify_ms"], "", None);
    row("staff_login_ms".into(), &s["staff_login_ms"], "", None);
    row(
        "login_overhead_ratio".into(),
        &s["login_overhead_ratio"],
        "<= 1.05",
        num(&s["login_overhead_ratio"]).map(|r| r <= 1.05),
    );
    row(
        "get_session_p50_us".into(),
        &s["get_session_p50_us"],
        "",
        None,
    );
    row(
        "get_session_p99_us".into(),
        &s["get_session_p99_us"],
        "< 1000",
        num(&s["get_session_p99_us"]).map(|r| r < 1000.0),
    );
    if let Some(routes) = s["ddb_calls"].as_object() {
        for (route, v) in routes {
            let floor = num(&v["floor"]);
            row(
                format!("ddb_calls {route}"),
                &v["calls"],
                &floor.map(|f| format!("floor {f}")).unwrap_or_default(),
                floor.and_then(|f| num(&v["calls"]).map(|c| c <= f)),
            );
        }
    }
    if let Some(fns) = s["cold_start_ms"].as_object() {
        for (f, v) in fns {
            row(
                format!("cold_start_ms.{f}"),
                v,
                "< 25",
                num(v).map(|x| x < 25.0),
            );
        }
    }
    if let Some(fns) = s["binary_bytes"].as_object() {
        for (f, v) in fns {
            row(
                format!("binary_bytes.{f}"),
                v,
                "< 10 MB",
                num(v).map(|x| x < 10_000_000.0),
            );
        }
    }
    row(
        "peak_rss_mb (1,000 logins)".into(),
        &s["peak_rss_mb"],
        "< 64",
        num(&s["peak_rss_mb"]).map(|x| x < 64.0),
    );
    for flow in ["login", "forgot_password"] {
        let v = &s["enumeration"][flow]["ratio"];
        let missing = s["enumeration"][flow]["status"].as_str() == Some("missing");
        row(
            format!("enumeration.{flow} (unknown/known)"),
            if missing {
                &s["enumeration"][flow]["status"]
            } else {
                v
            },
            "0.9 – 1.1",
            num(v).map(|x| (0.9..=1.1).contains(&x)),
        );
    }
    row(
        "purge.first_run_requests".into(),
        &s["purge"]["first_run_requests"],
        "",
        None,
    );
    row(
        "purge.items_read".into(),
        &s["purge"]["items_read"],
        "",
        None,
    );
    row(
        "purge.items_deleted".into(),
        &s["purge"]["items_deleted"],
        "",
        None,
    );
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(10);
    let vw = rows.iter().map(|r| r.1.len()).max().unwrap_or(8);
    let gw = rows.iter().map(|r| r.2.len()).max().unwrap_or(8);
    println!();
    println!(
        "{:<w$}  {:>vw$}  {:<gw$}  status",
        "metric", "value", "goal"
    );
    println!("{}", "-".repeat(w + vw + gw + 12));
    for (n, v, g, st) in &rows {
        println!("{n:<w$}  {v:>vw$}  {g:<gw$}  {st}");
    }
    if let Some(routes) = s["load"].as_object() {
        println!();
        println!(
            "load (portal-local on loopback, wrk on the same {cores} cores; argon2 bound {} req/s)",
            fmt(&s["load"]["argon2_bound_rps"])
        );
        println!(
            "{:<14} {:>5} {:>10} {:>10} {:>10} {:>8}",
            "route", "conns", "req/s", "p50 ms", "p99 ms", "errors"
        );
        for (route, runs) in routes {
            let Some(runs) = runs.as_object() else {
                continue;
            };
            for (conns, r) in runs {
                println!(
                    "{:<14} {:>5} {:>10} {:>10} {:>10} {:>8}",
                    route,
                    conns,
                    fmt(&r["rps"]),
                    fmt(&r["p50_ms"]),
                    fmt(&r["p99_ms"]),
                    fmt(&r["errors"])
                );
            }
        }
    }
    print_latency(&s["latency_model"]);
    print_first_response(&s["first_response"]);
    println!();
    println!("written: {}", path.display());
    Ok(())
}

/// The latency model's table: per flow, requests and end-to-end time at the injected delay.
fn print_latency(latency: &Value) {
    let Some(flows) = latency["flows"].as_object() else {
        return;
    };
    println!();
    println!(
        "latency model (DynamoStore on moto, +{} ms per DynamoDB request; median of {} runs)",
        fmt(&latency["delay_ms_per_request"]),
        fmt(&latency["runs"])
    );
    println!("model ms: end to end less the time waiting for moto (the app plus the delay)");
    println!(
        "{:<26} {:>8} {:>10} {:>10} {:>14} {:>12}",
        "flow", "requests", "median ms", "model ms", "model w/o a2", "injected ms"
    );
    for (flow, v) in flows {
        println!(
            "{:<26} {:>8} {:>10} {:>10} {:>14} {:>12}",
            flow,
            fmt(&v["requests"]),
            fmt(&v["median_ms"]),
            fmt(&v["model_ms"]),
            fmt(&v["model_ms_without_argon2"]),
            fmt(&v["injected_ms"])
        );
    }
}

/// `login` from spawn to its first response, warm-up on and off.
fn print_first_response(first: &Value) {
    let Some(login) = first["login"].as_object() else {
        return;
    };
    println!();
    println!(
        "login, spawn to first response (moto behind a proxy: +{} ms per round trip, +{} ms per new connection)",
        fmt(&first["delay_ms_per_round_trip"]),
        fmt(&first["delay_ms_per_new_connection"])
    );
    println!(
        "{:<12} {:>12} {:>10} {:>14} {:>12}",
        "warm-up", "total ms", "init ms", "invocation ms", "connections"
    );
    for (name, v) in login {
        println!(
            "{:<12} {:>12} {:>10} {:>14} {:>12}",
            name.trim_start_matches("warm_up_"),
            fmt(&v["spawn_to_first_response_ms"]),
            fmt(&v["spawn_to_next_ms"]),
            fmt(&v["next_to_response_ms"]),
            fmt(&v["connections_opened"])
        );
    }
}
