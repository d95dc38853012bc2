//! Messaging ports: email (text + HTML part) and SMS. Adapters: SES v2 and SNS in `portal-aws`,
//! the outbox of `portal-local`.

use async_trait::async_trait;

/// An email ready to send. `text` and `html` carry the same content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A text message ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    /// E.164 number, e.g. `+15551234567`.
    pub to: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The provider did not accept the message (temporary or not); nothing was sent.
    #[error("message not delivered: {0}")]
    Failed(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send_email(&self, email: Email) -> Result<(), DeliveryError>;
}

#[async_trait]
pub trait SmsSender: Send + Sync {
    async fn send_sms(&self, sms: Sms) -> Result<(), DeliveryError>;
}

/// Escapes text for the HTML part of an email.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
