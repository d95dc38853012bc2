//! The [`SmsSender`] port on Amazon SNS (`Publish` to a phone number, transactional SMS).

use async_trait::async_trait;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
use portal_core::messaging::{DeliveryError, Sms, SmsSender};

use crate::sdk_error::sdk_error_reason;

/// Transactional SMS get the higher-reliability route (codes, not marketing).
const SMS_TYPE_ATTRIBUTE: &str = "AWS.SNS.SMS.SMSType";
const SMS_TYPE: &str = "Transactional";

pub struct SnsSender {
    client: Client,
}

impl SnsSender {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SmsSender for SnsSender {
    async fn send_sms(&self, sms: Sms) -> Result<(), DeliveryError> {
        let sms_type = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(SMS_TYPE)
            .build()
            .map_err(|e| DeliveryError::Failed(format!("invalid SMS attribute: {e}")))?;
        let result = self
            .client
            .publish()
            .phone_number(sms.to)
            .message(sms.body)
            .message_attributes(SMS_TYPE_ATTRIBUTE, sms_type)
            .send()
            .await;
        match result {
            Ok(out) => {
                tracing::debug!(message_id = out.message_id(), "SMS sent");
                Ok(())
            }
            Err(err) => {
                let reason = sdk_error_reason(&err);
                tracing::warn!(reason, "SNS Publish failed");
                Err(DeliveryError::Failed(format!("SNS Publish: {reason}")))
            }
        }
    }
}
