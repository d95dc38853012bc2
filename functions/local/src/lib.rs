//! `portal-local`: every route in one process on the embedded store (or DynamoDB), the `/_dev`
//! routes, an adjustable clock and an outbox. For development and tests; never deployed.

mod dev;
mod outbox;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use portal_core::clock::AdjustableClock;
use portal_core::messaging::{Mailer, SmsSender};
use portal_core::metrics::{Metrics, NoMetrics};
use portal_core::passwords::PasswordHasherConfig;
use portal_core::store::Store;
use portal_core::token_signer::{KeySource, TokenSigner};
use portal_core::{DomainError, Portal};
use portal_http::App;
use portal_http::problem::problem;
use tokio::net::TcpListener;

pub use dev::DEV_ROUTES;
pub use outbox::{Outbox, OutboxMessage};

/// Bodies larger than this are not even read (the routes' own limit is 16 KiB).
const READ_LIMIT: usize = 1024 * 1024;

/// How to run the local server.
pub struct Options {
    pub store: Arc<dyn Store>,
    /// Mail through this instead of the outbox (`--messaging aws`, fault tests).
    pub mailer: Option<Arc<dyn Mailer>>,
    pub sms: Option<Arc<dyn SmsSender>>,
    /// Where metrics go (`None`: nowhere; see `main` for `PORTAL_STAGE`).
    pub metrics: Option<Arc<dyn Metrics>>,
    pub port: u16,
    /// `None`: the server's own address.
    pub portal_url: Option<String>,
    /// Where the signing key ring is kept, read at start and again as on Lambda (on the
    /// server's adjustable clock); `None`: a fresh key of the process's own, so that tokens die
    /// with the server, as local sessions should.
    pub keys: Option<Arc<dyn KeySource>>,
}

/// A running server.
pub struct Running {
    pub addr: SocketAddr,
    pub clock: Arc<AdjustableClock>,
    pub outbox: Arc<Outbox>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Binds 127.0.0.1:`port` (0: any free port) and serves until the task is dropped or aborted.
pub async fn spawn(options: Options) -> Result<Running, DomainError> {
    let listener = TcpListener::bind(("127.0.0.1", options.port))
        .await
        .map_err(|e| {
            DomainError::Internal(format!("cannot listen on port {}: {e}", options.port))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| DomainError::Internal(e.to_string()))?;
    let clock = Arc::new(AdjustableClock::new());
    let outbox = Arc::new(Outbox::new(clock.clone()));
    let signer = match options.keys {
        Some(source) => {
            let ring = source
                .load()
                .await
                .map_err(|e| DomainError::Internal(e.to_string()))?;
            TokenSigner::refreshing(ring, source, clock.clone())
        }
        None => TokenSigner::new(&portal_core::tokens::new_token()?.0.into_bytes().into())?,
    };
    let portal = Portal {
        store: options.store,
        mailer: options.mailer.unwrap_or_else(|| outbox.clone()),
        sms: options.sms.unwrap_or_else(|| outbox.clone()),
        clock: clock.clone(),
        metrics: options.metrics.unwrap_or_else(|| Arc::new(NoMetrics)),
        hasher: PasswordHasherConfig::default(),
        security: portal_core::security::SecurityPolicy::default(),
        signer,
        portal_url: options
            .portal_url
            .unwrap_or_else(|| format!("http://{addr}")),
    };
    portal.hasher.prepare().await?;
    let app = App::new(portal, None);
    let server = Arc::new(Server {
        app,
        clock: clock.clone(),
        outbox: outbox.clone(),
        requests: AtomicU64::new(0),
    });
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let server = server.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let server = server.clone();
                    async move { Ok::<_, Infallible>(server.serve(req).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Running {
        addr,
        clock,
        outbox,
        task,
    })
}

struct Server {
    app: App,
    clock: Arc<AdjustableClock>,
    outbox: Arc<Outbox>,
    requests: AtomicU64,
}

impl Server {
    async fn serve(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let request_id = format!("local-{}", self.requests.fetch_add(1, Ordering::Relaxed));
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, READ_LIMIT).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                let r = problem(
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "the body is too large",
                    &[],
                    None,
                    None,
                );
                return r.map(Full::new);
            }
        };
        let req = Request::from_parts(parts, body);
        let response = if req.uri().path().starts_with("/_dev/") {
            dev::Dev {
                portal: self.app.portal(),
                clock: &self.clock,
                outbox: &self.outbox,
            }
            .handle(&req)
            .await
        } else {
            self.app.handle(req, Some(&request_id)).await
        };
        response.map(Full::new)
    }
}
