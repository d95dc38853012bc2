//! Cold start to first response of `login`: the release binary is spawned under a Lambda
//! Runtime API emulation on loopback and given one real invocation (API Gateway v2's
//! `POST /a/{account}/staff/login`); the time from spawn to the function's
//! `POST /2018-06-01/runtime/invocation/{id}/response` is what the first caller of a new
//! environment waits (plus Lambda's own environment creation, which no local bench sees).
//!
//! DynamoDB is moto behind a loopback proxy that adds what a region adds: a new connection
//! waits `3 × DELAY` before its first byte goes through (TCP and TLS handshakes: about three
//! round trips), and every request waits `DELAY` once for its response (one round trip). The
//! binary is measured with its init-time warm-up call on and off (`PORTAL_WARM_UP=off`),
//! alternately, so noise hits both alike.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use portal_aws::DynamoStore;
use serde_json::{Value, json};

use crate::common::{
    BenchResult, OWNER, OWNER_PASSWORD, Stats, create_tenant, portal_over, r3, write_fragment,
};
use crate::ddb::{sdk_config, unique};

const ACCOUNT: &str = "swim";

/// The sample event of the route, as API Gateway sends it (events/ is generated from the
/// route table), with the bench tenant's owner as the caller.
fn login_event() -> BenchResult<String> {
    let mut event: Value =
        serde_json::from_str(include_str!("../../events/login/post-staff-login.json"))?;
    event["body"] = json!(
        json!({"username": OWNER, "password": OWNER_PASSWORD, "stay_logged_in": false}).to_string()
    );
    event["rawPath"] = json!(format!("/a/{ACCOUNT}/staff/login"));
    event["requestContext"]["http"]["path"] = event["rawPath"].clone();
    event["pathParameters"]["account"] = json!(ACCOUNT);
    Ok(event.to_string())
}

// ------------------------------------------------------------------ the latency proxy

/// Connections the proxy accepted (each one paid the handshake delay).
#[derive(Clone, Default)]
struct Connections(Arc<AtomicUsize>);

/// Serves 127.0.0.1:<port> in front of moto with the delays of the module documentation.
///
/// HTTP-aware because moto closes its connection after every response (`Connection: close`):
/// a byte-level proxy would make the SDK open, and pay the handshake for, a connection per
/// request, which is not what DynamoDB does. So the client's connection (the emulated TLS
/// connection to DynamoDB) is kept alive, and each request goes to moto on a connection of its
/// own behind it, whose set-up on loopback is not counted as a handshake.
async fn proxy(
    listener: tokio::net::TcpListener,
    upstream: SocketAddr,
    delay: Duration,
    connections: Connections,
) {
    while let Ok((client, _)) = listener.accept().await {
        connections.0.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(serve_client(client, upstream, delay));
    }
}

async fn serve_client(client: tokio::net::TcpStream, upstream: SocketAddr, delay: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The client's first bytes wait in the socket until the "handshake" is over.
    tokio::time::sleep(delay * 3).await;
    let _ = client.set_nodelay(true);
    let mut client = tokio::io::BufReader::new(client);
    while let Some(request) = read_message(&mut client).await {
        let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
            return;
        };
        let mut response = Vec::new();
        if server
            .write_all(&with_headers(&request, &["connection: close"]))
            .await
            .is_err()
            || server.read_to_end(&mut response).await.is_err()
        {
            return;
        }
        // One round trip per request/response exchange.
        tokio::time::sleep(delay).await;
        if client
            .get_mut()
            .write_all(&with_headers(&response, &[]))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// One HTTP/1.1 message as raw bytes (head and a content-length or chunked body); `None` at
/// the end of the stream.
async fn read_message(reader: &mut tokio::io::BufReader<tokio::net::TcpStream>) -> Option<Vec<u8>> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut raw = Vec::new();
    let mut length = None;
    let mut chunked = false;
    loop {
        let start = raw.len();
        if reader.read_until(b'\n', &mut raw).await.ok()? == 0 {
            return None;
        }
        let line = String::from_utf8_lossy(&raw[start..]).to_ascii_lowercase();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().ok();
        }
        if line.starts_with("transfer-encoding:") && line.contains("chunked") {
            chunked = true;
        }
    }
    if let Some(n) = length {
        let start = raw.len();
        raw.resize(start + n, 0);
        reader.read_exact(&mut raw[start..]).await.ok()?;
    } else if chunked {
        loop {
            let start = raw.len();
            reader.read_until(b'\n', &mut raw).await.ok()?;
            let size = String::from_utf8_lossy(&raw[start..]);
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let start = raw.len();
            raw.resize(start + size + 2, 0);
            reader.read_exact(&mut raw[start..]).await.ok()?;
            if size == 0 {
                break;
            }
        }
    }
    Some(raw)
}

/// `message` without its `Connection` headers, plus `extra`; a body without framing (moto's
/// responses end with the connection) gets a `Content-Length`, so the client's connection can
/// stay open.
fn with_headers(message: &[u8], extra: &[&str]) -> Vec<u8> {
    let split = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |p| p + 4);
    let (head, body) = message.split_at(split);
    let head = String::from_utf8_lossy(head);
    let mut lines: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    let framed = lines.iter().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("content-length:") || l.starts_with("transfer-encoding:")
    });
    let length = format!("content-length: {}", body.len());
    let is_response = lines.first().is_some_and(|l| l.starts_with("HTTP/"));
    if is_response && !framed {
        lines.push(&length);
    }
    lines.extend_from_slice(extra);
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out
}

// ------------------------------------------------------------------ the runtime API

/// What the runtime emulation saw, with the time it arrived.
enum Seen {
    Next(Instant),
    Response(Instant, String),
    Error(String),
}

struct HttpRequest {
    line: String,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (content-length or chunked body); `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if let Some(len) = headers.get("content-length") {
        body.resize(len.parse().ok()?, 0);
        reader.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(HttpRequest {
        line: line.trim_end().to_owned(),
        body,
    })
}

/// Serves one connection of the function's runtime client: the event on the first `/next`,
/// 202 for a response or an error; a second `/next` is left unanswered (the harness ends the
/// process once it has the response).
fn serve(stream: TcpStream, event: &str, handed_out: &AtomicBool, tx: &mpsc::Sender<Seen>) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut out = write_half;
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        let at = Instant::now();
        let path = req.line.split_whitespace().nth(1).unwrap_or_default();
        let body = String::from_utf8_lossy(&req.body).into_owned();
        if path == "/2018-06-01/runtime/invocation/next" {
            let _ = tx.send(Seen::Next(at));
            if handed_out.swap(true, Ordering::SeqCst) {
                return;
            }
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() + 25_000)
                .unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 lambda-runtime-aws-request-id: bench-request-1\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:login\r\n\
                 content-length: {}\r\n\r\n",
                event.len()
            );
            if out.write_all(head.as_bytes()).is_err() || out.write_all(event.as_bytes()).is_err() {
                return;
            }
        } else {
            let _ = tx.send(if path.ends_with("/response") {
                Seen::Response(at, body)
            } else {
                Seen::Error(format!("{}: {body}", req.line))
            });
            let _ = out.write_all(
                b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
            );
        }
    }
}

/// One start: (ms to the first `/next`, ms to the response, the response's status code,
/// connections opened to DynamoDB).
/// The signing key secret: its ARN and moto's own address (the secret is read beside the proxy,
/// so that the proxy sees DynamoDB's connections only).
struct SigningSecret {
    arn: String,
    endpoint: String,
}

fn one_start(
    binary: &Path,
    endpoint: &str,
    secret: &SigningSecret,
    table: &str,
    event: &str,
    warm_up: bool,
    connections: &Connections,
) -> BenchResult<(f64, f64, u64, usize)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let (tx, rx) = mpsc::channel();
    let event = Arc::new(event.to_owned());
    let handed_out = Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (event, handed_out, tx) = (event.clone(), handed_out.clone(), tx.clone());
            std::thread::spawn(move || serve(stream, &event, &handed_out, &tx));
        }
    });
    let opened_before = connections.0.load(Ordering::SeqCst);
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "portal-bench-login")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/login")
        .env("TABLE_NAME", table)
        .env("PORTAL_URL", "https://portal.test")
        .env("MAIL_FROM", "no-reply@portal.test")
        .env("SIGNING_KEY_SECRET_ARN", &secret.arn)
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &secret.endpoint)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs((!warm_up).then_some(("PORTAL_WARM_UP", "off")))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = started + Duration::from_secs(20);
    let mut next = None;
    let outcome = loop {
        match rx.recv_timeout(Duration::from_millis(5)) {
            Ok(Seen::Next(at)) => {
                next.get_or_insert(at);
            }
            Ok(Seen::Response(at, body)) => break Ok((at, body)),
            Ok(Seen::Error(what)) => break Err(format!("login reported an error: {what}")),
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                if let Ok(Some(status)) = child.try_wait() {
                    break Err(format!("login exited ({status}) before responding"));
                }
            }
            Err(_) => break Err("login: no response within 20 s".into()),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let (at, body) = outcome?;
    let next = next.ok_or("a response without a /next")?;
    let response: Value = serde_json::from_str(&body)?;
    let status = response["statusCode"].as_u64().unwrap_or_default();
    let ms = |t: Instant| t.duration_since(started).as_secs_f64() * 1e3;
    let opened = connections.0.load(Ordering::SeqCst) - opened_before;
    Ok((ms(next), ms(at), status, opened))
}

/// `portal-bench first-response DIR [DELAY_MS] [RUNS]`: writes `first_response.json`.
pub fn run(bin_dir: &Path, delay_ms: u64, runs: usize) -> BenchResult<()> {
    let binary = bin_dir.join("login");
    if !binary.exists() {
        return Err(format!("no login binary at {}", binary.display()).into());
    }
    let rt = crate::runtime()?;
    let moto = std::env::var("PORTAL_TEST_AWS_ENDPOINT")
        .map_err(|_| "PORTAL_TEST_AWS_ENDPOINT is not set (start moto: scripts/moto start)")?;
    let upstream: SocketAddr = moto
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .map_err(|e| format!("moto endpoint {moto}: {e}"))?;

    // The tenant, written straight to moto (set-up is not measured).
    let table = unique("bench-first");
    rt.block_on(async {
        let config = sdk_config().await?;
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table.clone());
        store.ensure_table().await?;
        let (portal, _) = portal_over(Arc::new(store))?;
        create_tenant(&portal, ACCOUNT, json!({})).await
    })?;

    let secret = SigningSecret {
        arn: rt.block_on(crate::ddb::signing_key_secret())?,
        endpoint: moto.clone(),
    };
    let delay = Duration::from_millis(delay_ms);
    let connections = Connections::default();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    rt.spawn(proxy(listener, upstream, delay, connections.clone()));

    let event = login_event()?;
    // One unmeasured start of each kind: page cache, moto's first use of the table.
    for warm in [true, false] {
        one_start(
            &binary,
            &endpoint,
            &secret,
            &table,
            &event,
            warm,
            &connections,
        )?;
    }
    let mut results = serde_json::Map::new();
    let mut samples: HashMap<bool, Vec<(f64, f64, usize)>> = HashMap::new();
    for _ in 0..runs {
        for warm in [true, false] {
            let (init, response, status, opened) = one_start(
                &binary,
                &endpoint,
                &secret,
                &table,
                &event,
                warm,
                &connections,
            )?;
            if status != 200 {
                return Err(format!("login answered {status} (warm-up {warm})").into());
            }
            samples
                .entry(warm)
                .or_default()
                .push((init, response, opened));
        }
    }
    for warm in [true, false] {
        let s = samples.remove(&warm).unwrap_or_default();
        let init = Stats::new(s.iter().map(|x| x.0).collect());
        let total = Stats::new(s.iter().map(|x| x.1).collect());
        let invoke = Stats::new(s.iter().map(|x| x.1 - x.0).collect());
        let opened = s.iter().map(|x| x.2).max().unwrap_or_default();
        let name = if warm { "warm_up_on" } else { "warm_up_off" };
        eprintln!(
            "  login, {name}: spawn to first response median {:.2} ms (min {:.2}, max {:.2}); \
             init {:.2} ms, invocation {:.2} ms; {opened} connection(s)",
            total.median(),
            total.min(),
            total.max(),
            init.median(),
            invoke.median()
        );
        results.insert(
            name.into(),
            json!({
                "spawn_to_first_response_ms": r3(total.median()),
                "min_ms": r3(total.min()),
                "max_ms": r3(total.max()),
                "spawn_to_next_ms": r3(init.median()),
                "next_to_response_ms": r3(invoke.median()),
                "connections_opened": opened,
                "runs": total.len(),
            }),
        );
    }
    write_fragment(
        "first_response",
        &json!({"first_response": {
            "function": "login",
            "request": "POST /a/{account}/staff/login (API Gateway v2 event), 200",
            "delay_ms_per_round_trip": delay_ms,
            "delay_ms_per_new_connection": delay_ms * 3,
            "login": Value::Object(results),
        }}),
    )
}
