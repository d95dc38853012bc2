//! `portal-local [--port N] [--store embedded|dynamodb] [--messaging outbox|aws] [--print-routes]`

use std::process::ExitCode;
use std::sync::Arc;

use portal_core::store::{EmbeddedStore, Store};
use portal_local::Options;

const USAGE: &str = "usage: portal-local [--port N] [--store embedded|dynamodb] [--messaging outbox|aws] [--print-routes]

Serves every route of the portal identity API on 127.0.0.1 (default port 3000, or $PORT),
plus the /_dev routes. --store dynamodb uses the standard AWS environment (AWS_ENDPOINT_URL,
AWS_REGION, credentials) and the table $TABLE_NAME (default portal-local), created if missing.
Messages go to the outbox (GET /_dev/outbox) unless --messaging aws (SES v2 from $MAIL_FROM, SNS).
PORTAL_URL (default: the server's own address) is the base of links in messages.
With PORTAL_STAGE set, metrics are written as CloudWatch EMF lines on stdout (stage = its value).
--print-routes prints the route table as JSON (infra/routes.json) and exits.";

struct Args {
    port: u16,
    dynamodb: bool,
    aws_messaging: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args {
        port: match std::env::var("PORT") {
            Ok(p) => p
                .parse()
                .map_err(|_| format!("PORT is not a port number: {p}"))?,
            Err(_) => 3000,
        },
        dynamodb: false,
        aws_messaging: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                let v = value("--port")?;
                args.port = v.parse().map_err(|_| format!("not a port number: {v}"))?;
            }
            "--store" => match value("--store")?.as_str() {
                "embedded" => args.dynamodb = false,
                "dynamodb" => args.dynamodb = true,
                other => return Err(format!("unknown store {other}")),
            },
            "--messaging" => match value("--messaging")?.as_str() {
                "outbox" => args.aws_messaging = false,
                "aws" => args.aws_messaging = true,
                other => return Err(format!("unknown messaging {other}")),
            },
            "--print-routes" => {
                let json = serde_json::to_string_pretty(&portal_http::routes::routes_json())
                    .map_err(|e| e.to_string())?;
                println!("{json}");
                return Ok(None);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Some(args))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = match parse_args() {
        Ok(Some(args)) => args,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portal-local: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portal-local: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut options = Options {
        store: Arc::new(EmbeddedStore::new()),
        mailer: None,
        sms: None,
        // Metrics only when a stage is named: a developer's terminal stays readable.
        metrics: std::env::var_os(portal_aws::STAGE_VARIABLE).map(|_| {
            Arc::new(portal_aws::EmfMetrics::from_env()) as Arc<dyn portal_core::metrics::Metrics>
        }),
        port: args.port,
        portal_url: std::env::var("PORTAL_URL").ok(),
        keys: None,
    };
    if args.dynamodb || args.aws_messaging {
        let config = portal_aws::sdk_config().await;
        if args.dynamodb {
            let table = std::env::var("TABLE_NAME").unwrap_or_else(|_| "portal-local".into());
            let store = portal_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
            store
                .ensure_table()
                .await
                .map_err(|e| format!("DynamoDB table: {e}"))?;
            options.store = Arc::new(store) as Arc<dyn Store>;
        }
        if args.aws_messaging {
            let from = std::env::var("MAIL_FROM")
                .map_err(|_| "--messaging aws needs MAIL_FROM".to_owned())?;
            options.mailer = Some(Arc::new(portal_aws::SesMailer::new(
                aws_sdk_sesv2::Client::new(&config),
                from,
            )));
            options.sms = Some(Arc::new(portal_aws::SnsSender::new(
                aws_sdk_sns::Client::new(&config),
            )));
        }
    }
    let running = portal_local::spawn(options)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(url = %running.url(), "portal-local listening");
    println!("portal-local listening on {}", running.url());
    tokio::select! {
        _ = running.task => Err("server stopped".into()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
