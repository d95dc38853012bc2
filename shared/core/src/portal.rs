//! The domain services' shared dependencies: the ports and the configuration. Each concept's
//! module adds its flows as methods on [`Portal`].

use std::sync::Arc;

use crate::clock::Clock;
use crate::messaging::{DeliveryError, Email, Mailer, Sms, SmsSender};
use crate::metrics::{Metric, Metrics};
use crate::passwords::PasswordHasherConfig;
use crate::security::SecurityPolicy;
use crate::store::Store;
use crate::token_signer::TokenSigner;

#[derive(Clone)]
pub struct Portal {
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub sms: Arc<dyn SmsSender>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<dyn Metrics>,
    pub hasher: PasswordHasherConfig,
    /// Every numbered rule (lockout, idle timeout, link and code lifetimes, sending limits).
    pub security: SecurityPolicy,
    pub signer: TokenSigner,
    /// Base URL of the portal front end, for links in messages (configuration, never a
    /// request's `Host`).
    pub portal_url: String,
}

impl Portal {
    /// Sends an email through the mailer, counted (`MailSent`/`MailFailed`): every flow's mail
    /// goes through here, whatever the adapter.
    pub async fn send_email(&self, email: Email) -> Result<(), DeliveryError> {
        let sent = self.mailer.send_email(email).await;
        self.metrics.record(if sent.is_ok() {
            Metric::MailSent
        } else {
            Metric::MailFailed
        });
        sent
    }

    /// Sends a text message, counted (`SmsSent`/`SmsFailed`).
    pub async fn send_sms(&self, sms: Sms) -> Result<(), DeliveryError> {
        let sent = self.sms.send_sms(sms).await;
        self.metrics.record(if sent.is_ok() {
            Metric::SmsSent
        } else {
            Metric::SmsFailed
        });
        sent
    }
}
