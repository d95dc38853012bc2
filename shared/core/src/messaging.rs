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

/// The messaging of a function that sends nothing (its routes never mail or text): every send
/// fails, so a route that tried would answer `503` rather than pretend.
pub struct NoMessaging;

#[async_trait]
impl Mailer for NoMessaging {
    async fn send_email(&self, _: Email) -> Result<(), DeliveryError> {
        Err(DeliveryError::Failed("this function sends no email".into()))
    }
}

#[async_trait]
impl SmsSender for NoMessaging {
    async fn send_sms(&self, _: Sms) -> Result<(), DeliveryError> {
        Err(DeliveryError::Failed("this function sends no SMS".into()))
    }
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

/// Composes an email with a text and an HTML part from the same paragraphs. Every email names
/// the business it is sent for (subject and signature). `link` is shown as its own paragraph.
pub fn compose_email(
    to: &str,
    business_name: &str,
    subject: &str,
    paragraphs: &[String],
    link: Option<&str>,
) -> Email {
    let mut text = String::new();
    let mut html = String::from("<!doctype html><html><body style=\"font-family:sans-serif\">");
    for p in paragraphs {
        text.push_str(p);
        text.push_str("\n\n");
        html.push_str(&format!("<p>{}</p>", html_escape(p)));
    }
    if let Some(url) = link {
        text.push_str(url);
        text.push_str("\n\n");
        let url = html_escape(url);
        html.push_str(&format!("<p><a href=\"{url}\">{url}</a></p>"));
    }
    text.push_str(&format!("— {business_name}\n"));
    html.push_str(&format!(
        "<p>— {}</p></body></html>",
        html_escape(business_name)
    ));
    Email {
        to: to.to_owned(),
        subject: format!("{subject} — {business_name}"),
        text,
        html,
    }
}
