//! The metrics port: outcomes worth a dashboard or an alarm, named and counted. The domain and
//! the HTTP layer only say what happened; the adapter (CloudWatch Embedded Metric Format lines,
//! `portal_aws::EmfMetrics`) decides how it is written.

/// One occurrence of a counted outcome. The names are the CloudWatch metric names that alarms
/// are written against: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A staff or guardian sign-in that started a session (API or hosted page).
    LoginSucceeded,
    /// A sign-in refused for wrong credentials.
    LoginFailed,
    /// A sign-in refused by the lockout (`429 too_many_attempts`).
    LoginLocked,
    /// A password-reset link mailed or texted (forgot-password or office-initiated).
    ResetLinkSent,
    MailSent,
    MailFailed,
    SmsSent,
    SmsFailed,
    /// Any `5xx` answer, with its problem code (`service_unavailable`, `internal_error`).
    ServerError {
        code: &'static str,
    },
    /// A `503`: a dependency was unavailable, even though the function itself answered.
    ServiceUnavailable,
}

impl Metric {
    /// The metric's CloudWatch name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::LoginSucceeded => "LoginSucceeded",
            Metric::LoginFailed => "LoginFailed",
            Metric::LoginLocked => "LoginLocked",
            Metric::ResetLinkSent => "ResetLinkSent",
            Metric::MailSent => "MailSent",
            Metric::MailFailed => "MailFailed",
            Metric::SmsSent => "SmsSent",
            Metric::SmsFailed => "SmsFailed",
            Metric::ServerError { .. } => "ServerError",
            Metric::ServiceUnavailable => "ServiceUnavailable",
        }
    }

    /// The problem code a server error is also counted under.
    pub fn code(self) -> Option<&'static str> {
        match self {
            Metric::ServerError { code } => Some(code),
            _ => None,
        }
    }
}

/// Where metrics go. Recording never fails and never waits on the network.
pub trait Metrics: Send + Sync {
    fn record(&self, metric: Metric);
}

/// Metrics of a process that reports none (local development, tests that do not look).
pub struct NoMetrics;

impl Metrics for NoMetrics {
    fn record(&self, _: Metric) {}
}
