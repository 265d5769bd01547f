use super::{DeadLetter, DeadLetterError, DeadLetters};
use crate::error::Outage;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;

/// Sends each dead letter to an SQS queue; the reason is also a message attribute so
/// tools can list failures without parsing bodies.
#[derive(Clone)]
pub struct SqsDeadLetters {
    client: Client,
    queue_url: String,
}

impl SqsDeadLetters {
    /// Sends to the queue at `queue_url`. A URL ending in `.fifo` gets one message group per
    /// consumer and a deduplication id from the letter's content.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, DeadLetterError> {
    // SQS refuses an empty attribute value: a letter must be parkable whatever its reason.
    let value = if value.trim().is_empty() { "(not given)" } else { value };
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| DeadLetterError(Outage::new(e)))
}

impl DeadLetters for SqsDeadLetters {
    async fn park(&self, letter: DeadLetter) -> Result<(), DeadLetterError> {
        let body = serde_json::to_string(&letter).map_err(|e| DeadLetterError(Outage::new(e)))?;
        let mut request = self.client.send_message().queue_url(&self.queue_url);
        if self.queue_url.ends_with(".fifo") {
            // A FIFO dead-letter queue needs a group; each consumer keeps its own order.
            let digest = format!("{:x}", digest_of(&body));
            request = request.message_group_id(&letter.consumer).message_deduplication_id(digest);
        }
        request
            .message_body(body)
            .message_attributes("consumer", string_attribute(&letter.consumer)?)
            .message_attributes("reason", string_attribute(&letter.reason)?)
            .send()
            .await
            .map_err(|e| DeadLetterError(Outage::new(e)))?;
        Ok(())
    }
}

/// A stable 64-bit digest of a dead letter, for FIFO deduplication (same letter, same id).
fn digest_of(body: &str) -> u64 {
    // FNV-1a: the same body gives the same id on every build (std's hasher may change).
    body.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}
