//! The [`Metrics`] port as CloudWatch Embedded Metric Format (EMF) log lines: one JSON object
//! per line on standard output, which CloudWatch Logs turns into metrics of namespace `Portal`
//! (no SDK call, no added latency). Every metric is a count with the dimension `Stage`
//! (`PORTAL_STAGE`, default `local`); `ServerError` is also counted per problem `Code`.

use std::io::Write as _;

use portal_core::metrics::{Metric, Metrics};
use serde_json::{Value, json};

/// The CloudWatch namespace of every metric (the alarms are written against it).
pub const NAMESPACE: &str = "Portal";

/// The environment variable naming the deployment stage (the `Stage` dimension).
pub const STAGE_VARIABLE: &str = "PORTAL_STAGE";

const DEFAULT_STAGE: &str = "local";

/// Writes EMF lines to standard output, beside the JSON log lines of `tracing`.
pub struct EmfMetrics {
    stage: String,
}

impl EmfMetrics {
    pub fn new(stage: impl Into<String>) -> Self {
        Self {
            stage: stage.into(),
        }
    }

    /// The stage from `PORTAL_STAGE` (unset or empty: `local`).
    pub fn from_env() -> Self {
        let stage = std::env::var(STAGE_VARIABLE)
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_STAGE.to_owned());
        Self::new(stage)
    }
}

impl Metrics for EmfMetrics {
    fn record(&self, metric: Metric) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let line = emf_line(metric, &self.stage, now);
        // One write of the whole line under the lock, as the log lines are written, so that
        // lines never interleave. A closed stdout only loses the metric.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }
}

/// One metric as an EMF document: the `_aws` metadata (timestamp in epoch milliseconds, one
/// directive), the dimension values and the count (1) as top-level members.
pub fn emf_line(metric: Metric, stage: &str, timestamp_ms: u64) -> String {
    let name = metric.name();
    let dimensions = match metric.code() {
        Some(_) => json!([["Stage"], ["Stage", "Code"]]),
        None => json!([["Stage"]]),
    };
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        "Stage": stage,
        name: 1,
    });
    if let (Some(code), Value::Object(members)) = (metric.code(), &mut doc) {
        members.insert("Code".into(), Value::from(code));
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(metric: Metric) -> Value {
        serde_json::from_str(&emf_line(metric, "prod", 1_700_000_000_123)).unwrap()
    }

    #[test]
    fn a_count_is_one_document_with_the_stage_dimension() {
        let doc = parsed(Metric::LoginFailed);
        assert_eq!(
            doc,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_123u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "Portal",
                        "Dimensions": [["Stage"]],
                        "Metrics": [{"Name": "LoginFailed", "Unit": "Count"}],
                    }],
                },
                "Stage": "prod",
                "LoginFailed": 1,
            })
        );
        assert!(!emf_line(Metric::LoginFailed, "prod", 1).contains('\n'));
    }

    #[test]
    fn a_server_error_is_also_counted_per_code() {
        let doc = parsed(Metric::ServerError {
            code: "service_unavailable",
        });
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            directive["Dimensions"],
            json!([["Stage"], ["Stage", "Code"]])
        );
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "ServerError", "Unit": "Count"}])
        );
        assert_eq!(doc["Code"], "service_unavailable");
        assert_eq!(doc["Stage"], "prod");
        assert_eq!(doc["ServerError"], 1);
    }

    #[test]
    fn every_metric_has_its_alarm_name_and_a_value_member() {
        let all = [
            (Metric::LoginSucceeded, "LoginSucceeded"),
            (Metric::LoginFailed, "LoginFailed"),
            (Metric::LoginLocked, "LoginLocked"),
            (Metric::ResetLinkSent, "ResetLinkSent"),
            (Metric::MailSent, "MailSent"),
            (Metric::MailFailed, "MailFailed"),
            (Metric::SmsSent, "SmsSent"),
            (Metric::SmsFailed, "SmsFailed"),
            (
                Metric::ServerError {
                    code: "internal_error",
                },
                "ServerError",
            ),
            (Metric::ServiceUnavailable, "ServiceUnavailable"),
        ];
        for (metric, name) in all {
            let doc = parsed(metric);
            assert_eq!(
                doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
                name
            );
            assert_eq!(doc[name], 1, "{name}: the value is a top-level member");
            // Every dimension a directive names is a top-level string member.
            for set in doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
                .as_array()
                .unwrap()
            {
                for dimension in set.as_array().unwrap() {
                    assert!(doc[dimension.as_str().unwrap()].is_string(), "{name}");
                }
            }
        }
    }
}
