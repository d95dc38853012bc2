//! Cold start of each Lambda function under a Lambda Runtime API emulation on loopback: the
//! time from spawning the release binary to its first `GET /2018-06-01/runtime/invocation/next`
//! (the runtime asks for an event only once `main` has built the SDK clients and the app), and
//! each binary's size.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::common::{BenchResult, Stats, r3, write_fragment};

pub const FUNCTIONS: &[&str] = &[
    "login",
    "signup",
    "invite",
    "reset-password",
    "revoke",
    "office",
    "pages",
    "purge",
];

/// One start: milliseconds from spawn to the first `/next` request.
fn one_start(binary: &Path, name: &str, endpoint: &str, secret: &str) -> BenchResult<f64> {
    one_start_with(binary, name, endpoint, Some(secret))
}

/// `secret`: the signing key secret's ARN, as `SIGNING_KEY_SECRET_ARN` (the stack gives `purge`
/// none).
fn one_start_with(
    binary: &Path,
    name: &str,
    endpoint: &str,
    secret: Option<&str>,
) -> BenchResult<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let at = Instant::now();
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let _ = tx.send((at, line));
        }
    });
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", format!("portal-bench-{name}"))
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("TABLE_NAME", "portal-bench")
        .env("PORTAL_URL", "https://portal.test")
        .env("MAIL_FROM", "no-reply@portal.test")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(secret.map(|arn| ("SIGNING_KEY_SECRET_ARN", arn)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = started + Duration::from_secs(10);
    let got = loop {
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(got) => break Ok(got),
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                if let Ok(Some(status)) = child.try_wait() {
                    break Err(format!(
                        "{name}: exited ({status}) before asking for an event"
                    ));
                }
            }
            Err(_) => break Err(format!("{name}: no /next request within 10 s")),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let (at, line) = got?;
    if !line.starts_with("GET /2018-06-01/runtime/invocation/next") {
        return Err(format!("{name}: unexpected first request {line:?}").into());
    }
    Ok(at.duration_since(started).as_secs_f64() * 1e3)
}

pub fn run(bin_dir: &Path, runs: usize) -> BenchResult<()> {
    let endpoint = std::env::var("PORTAL_TEST_AWS_ENDPOINT")
        .map_err(|_| "PORTAL_TEST_AWS_ENDPOINT is not set (start moto: scripts/moto start)")?;
    let secret = crate::runtime()?.block_on(crate::ddb::signing_key_secret())?;
    let mut cold = Map::new();
    let mut sizes = Map::new();
    let mut details = Map::new();
    for name in FUNCTIONS {
        let binary = bin_dir.join(name);
        let Ok(meta) = std::fs::metadata(&binary) else {
            eprintln!("  {name}: no binary at {}", binary.display());
            continue;
        };
        sizes.insert((*name).into(), json!(meta.len()));
        // One unmeasured start warms the page cache, as a provisioned-concurrency-free
        // environment with the code already unpacked would be.
        one_start(&binary, name, &endpoint, &secret)?;
        let mut times = Vec::new();
        for _ in 0..runs {
            times.push(one_start(&binary, name, &endpoint, &secret)?);
        }
        let s = Stats::new(times);
        eprintln!(
            "  {name}: median {:.2} ms (min {:.2}, max {:.2}), {} bytes",
            s.median(),
            s.min(),
            s.max(),
            meta.len()
        );
        cold.insert((*name).into(), json!(r3(s.median())));
        details.insert(
            (*name).into(),
            json!({"runs": s.len(), "min": r3(s.min()), "max": r3(s.max())}),
        );
    }
    // The stack deploys `purge` without SIGNING_KEY / SIGNING_KEY_SECRET_ARN
    // (infra/lib/portal-stack.ts): does it still start?
    let purge_as_deployed = match std::fs::metadata(bin_dir.join("purge")) {
        Ok(_) => match one_start_with(&bin_dir.join("purge"), "purge", &endpoint, None) {
            Ok(ms) => json!({"starts": true, "ms": r3(ms)}),
            Err(e) => json!({"starts": false, "error": e.to_string()}),
        },
        Err(_) => Value::Null,
    };
    // For scale: spawning a trivial process to its exit on this machine.
    let mut trivial = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        Command::new("/bin/true").status()?;
        trivial.push(t.elapsed().as_secs_f64() * 1e3);
    }
    write_fragment(
        "coldstart",
        &json!({
            "cold_start_ms": Value::Object(cold),
            "binary_bytes": Value::Object(sizes),
            "details": {
                "cold_start_ms": Value::Object(details),
                "spawn_bin_true_ms": r3(Stats::new(trivial).median()),
                "purge_without_signing_key": purge_as_deployed,
            }
        }),
    )
}
