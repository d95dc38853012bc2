//! `portal-bench <part>`: one part of `scripts/bench` (which runs them all and then `summary`).
//!
//! * `inproc`: argon2 verify, staff login, GET session and enumeration timing, in-process on
//!   the embedded store;
//! * `rss [N]`: peak RSS after N (1,000) staff logins through the handler;
//! * `purge`: against moto (`PORTAL_TEST_AWS_ENDPOINT`); the DynamoDB requests per route come
//!   from `tests/e2e/ddb_calls.rs`, which `scripts/bench` runs;
//! * `latency [DELAY_MS] [RUNS]`: each flow's end-to-end time on moto with DELAY_MS (4) added
//!   to every DynamoDB request at the SDK boundary, median of RUNS (9);
//! * `coldstart DIR [RUNS]`: the Lambda functions in DIR under a runtime API emulation;
//! * `first-response DIR [DELAY_MS] [RUNS]`: `login` from spawn to its first response, with
//!   moto behind a proxy adding DELAY_MS (4) per round trip, warm-up on and off, RUNS (9) each;
//! * `summary`: merges the parts into `summary.json` and prints the table.
//!
//! Fragments go to `$BENCH_OUT` (default `target/bench`).

mod coldstart;
mod common;
mod ddb;
mod first_response;
mod inproc;
mod latency;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use common::BenchResult;

const USAGE: &str = "usage: portal-bench inproc | rss [N] | latency [DELAY_MS RUNS] | purge [LIVE EXPIRED] | coldstart DIR [RUNS] | first-response DIR [DELAY_MS RUNS] | summary";

fn runtime() -> BenchResult<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn run(args: &[String]) -> BenchResult<()> {
    match args.first().map(String::as_str) {
        Some("inproc") => runtime()?.block_on(inproc::run()),
        Some("rss") => runtime()?.block_on(inproc::rss(arg(args, 1, 1000))),
        Some("latency") => runtime()?.block_on(latency::run(arg(args, 1, 4), arg(args, 2, 9))),
        Some("purge") => runtime()?.block_on(ddb::purge(arg(args, 1, 10_000), arg(args, 2, 1_000))),
        Some("coldstart") => {
            let dir: PathBuf = args.get(1).ok_or(USAGE)?.into();
            coldstart::run(&dir, arg(args, 2, 9))
        }
        Some("first-response") => {
            let dir: PathBuf = args.get(1).ok_or(USAGE)?.into();
            first_response::run(&dir, arg(args, 2, 4), arg(args, 3, 9))
        }
        Some("summary") => summary::run(),
        _ => Err(USAGE.into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portal-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
