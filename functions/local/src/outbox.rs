//! The local outbox: mail and SMS are kept in memory for `GET /_dev/outbox` instead of being
//! sent. The console never shows message text.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use portal_core::clock::{Clock, rfc3339};
use portal_core::messaging::{DeliveryError, Email, Mailer, Sms, SmsSender};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct OutboxMessage {
    pub channel: &'static str,
    pub to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub body: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    pub sent_at: String,
}

pub struct Outbox {
    messages: Mutex<Vec<OutboxMessage>>,
    clock: Arc<dyn Clock>,
}

impl Outbox {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            messages: Mutex::new(Vec::new()),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<OutboxMessage>> {
        self.messages.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn messages(&self) -> Vec<OutboxMessage> {
        self.lock().clone()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    fn push(&self, message: OutboxMessage) {
        tracing::info!(channel = message.channel, "message added to the outbox");
        self.lock().push(message);
    }
}

#[async_trait]
impl Mailer for Outbox {
    async fn send_email(&self, email: Email) -> Result<(), DeliveryError> {
        self.push(OutboxMessage {
            channel: "email",
            to: email.to,
            subject: Some(email.subject),
            body: email.text,
            html: Some(email.html),
            sent_at: rfc3339(self.clock.now()),
        });
        Ok(())
    }
}

#[async_trait]
impl SmsSender for Outbox {
    async fn send_sms(&self, sms: Sms) -> Result<(), DeliveryError> {
        self.push(OutboxMessage {
            channel: "sms",
            to: sms.to,
            subject: None,
            body: sms.body,
            html: None,
            sent_at: rfc3339(self.clock.now()),
        });
        Ok(())
    }
}
