//! The SES v2 mailer and the SNS SMS sender against moto, messages read back from its state.

use portal_aws::{SesMailer, SnsSender};
use portal_core::messaging::{DeliveryError, Email, Mailer, Sms, SmsSender};

use crate::support::aws;

/// A phone number no other test uses (E.164, fictional 555 range).
fn unique_phone_number() -> String {
    let digits: String = aws::unique("")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    format!("+1555{}", &digits[digits.len() - 7..])
}

#[tokio::test]
async fn ses_mailer_sends_a_text_and_html_email() {
    let config = aws::messaging_sdk_config().await;
    let domain = format!("{}.example.com", aws::unique("mail"));
    aws::create_email_identity(&config, &domain).await;
    let mailer = SesMailer::new(
        aws_sdk_sesv2::Client::new(&config),
        format!("no-reply@{domain}"),
    );
    let to = format!("{}@example.org", aws::unique("ada"));
    let email = Email {
        to: to.clone(),
        subject: "Réinitialisez votre mot de passe ✓".into(),
        text: "Bonjour Ada,\nvoici le lien : https://example.com/reset#token".into(),
        html: "<p>Bonjour Ada,</p><p><a href=\"https://example.com/reset#token\">lien</a> é</p>"
            .into(),
    };
    mailer.send_email(email.clone()).await.unwrap();

    let sent: Vec<_> = aws::sent_emails()
        .await
        .into_iter()
        .filter(|m| m.destinations.to_addresses.contains(&to))
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let sent = &sent[0];
    assert!(!sent.id.is_empty());
    assert_eq!(sent.source, format!("no-reply@{domain}"));
    assert_eq!(sent.destinations.to_addresses, vec![to]);
    assert_eq!(sent.subject, email.subject);
    // moto keeps only the HTML part when a message has both.
    assert_eq!(sent.body, email.html);
}

#[tokio::test]
async fn ses_mailer_reports_a_refused_sender() {
    let config = aws::messaging_sdk_config().await;
    // No identity was created for this domain: SES refuses the message.
    let domain = format!("{}.example.net", aws::unique("unverified"));
    let mailer = SesMailer::new(
        aws_sdk_sesv2::Client::new(&config),
        format!("no-reply@{domain}"),
    );
    let to = format!("{}@example.org", aws::unique("bob"));
    let result = mailer
        .send_email(Email {
            to: to.clone(),
            subject: "s".into(),
            text: "secret-token".into(),
            html: "<p>secret-token</p>".into(),
        })
        .await;
    let Err(DeliveryError::Failed(message)) = result else {
        panic!("expected a delivery failure, got {result:?}");
    };
    assert!(!message.contains(&to), "no recipient in errors: {message}");
    assert!(
        !message.contains("secret-token"),
        "no content in errors: {message}"
    );
    assert!(
        !aws::sent_emails()
            .await
            .iter()
            .any(|m| m.destinations.to_addresses.contains(&to))
    );
}

#[tokio::test]
async fn sns_sender_publishes_an_sms() {
    let config = aws::messaging_sdk_config().await;
    let sender = SnsSender::new(aws_sdk_sns::Client::new(&config));
    let to = unique_phone_number();
    let body = "Votre code : 123456 ✓".to_owned();
    sender
        .send_sms(Sms {
            to: to.clone(),
            body: body.clone(),
        })
        .await
        .unwrap();

    let sent: Vec<_> = aws::sent_sms()
        .await
        .into_iter()
        .filter(|m| m.phone_number == to)
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].message, body);
    assert!(!sent[0].message_id.is_empty());
}

#[tokio::test]
async fn sns_sender_reports_an_unreachable_service() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let config = aws::sdk_config_for(&format!("http://127.0.0.1:{port}")).await;
    let sender = SnsSender::new(aws_sdk_sns::Client::new(&config));
    let result = sender
        .send_sms(Sms {
            to: "+15550000000".into(),
            body: "code 1".into(),
        })
        .await;
    assert!(
        matches!(result, Err(DeliveryError::Failed(_))),
        "got {result:?}"
    );
}
