//! The [`Mailer`] port on Amazon SES v2 (`SendEmail` with simple content: a text and an HTML part).

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use portal_core::messaging::{DeliveryError, Email, Mailer};

use crate::sdk_error::sdk_error_reason;

const CHARSET: &str = "UTF-8";

pub struct SesMailer {
    client: Client,
    from: String,
}

impl SesMailer {
    /// `from` is the sender address; its domain (or itself) must be a verified SES identity.
    pub fn new(client: Client, from: impl Into<String>) -> Self {
        Self {
            client,
            from: from.into(),
        }
    }
}

fn content(data: String) -> Result<Content, DeliveryError> {
    Content::builder()
        .data(data)
        .charset(CHARSET)
        .build()
        .map_err(|e| DeliveryError::Failed(format!("invalid email content: {e}")))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send_email(&self, email: Email) -> Result<(), DeliveryError> {
        let message = Message::builder()
            .subject(content(email.subject)?)
            .body(
                Body::builder()
                    .text(content(email.text)?)
                    .html(content(email.html)?)
                    .build(),
            )
            .build();
        let result = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        match result {
            Ok(out) => {
                tracing::debug!(message_id = out.message_id(), "email sent");
                Ok(())
            }
            Err(err) => {
                // The error names the failure kind only: never the recipient or the content
                // (which carries tokens).
                let reason = sdk_error_reason(&err);
                tracing::warn!(reason, "SES SendEmail failed");
                Err(DeliveryError::Failed(format!("SES SendEmail: {reason}")))
            }
        }
    }
}
