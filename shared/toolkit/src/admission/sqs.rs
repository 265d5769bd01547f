use super::BacklogGauge;
use crate::error::Outage;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;

/// The messages waiting or in flight (received, not yet deleted) on a set of SQS queues,
/// summed: one `GetQueueAttributes` per queue, concurrently. SQS's figures are approximate
/// (eventually consistent by a second or so), which is what admission needs.
#[derive(Clone, Debug)]
pub struct SqsBacklog {
    client: Client,
    queue_urls: Vec<String>,
}

impl SqsBacklog {
    /// The backlog of the queues at `queue_urls`.
    pub fn new(client: Client, queue_urls: Vec<String>) -> Self {
        Self { client, queue_urls }
    }

    async fn messages_on(&self, queue_url: &str) -> Result<u64, Outage> {
        let answer = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(Outage::new)?;
        let attributes = answer.attributes.unwrap_or_default();
        let count = |name: &QueueAttributeName| -> Result<u64, Outage> {
            let value = attributes.get(name).map_or("0", String::as_str);
            value.parse().map_err(|_| Outage::from(format!("{queue_url}: {name} is {value:?}, not a count")))
        };
        Ok(count(&QueueAttributeName::ApproximateNumberOfMessages)?
            .saturating_add(count(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?))
    }
}

impl BacklogGauge for SqsBacklog {
    async fn backlog(&self) -> Result<u64, Outage> {
        let reads = self.queue_urls.iter().map(|url| self.messages_on(url));
        let mut total = 0u64;
        for count in futures_util::future::join_all(reads).await {
            total = total.saturating_add(count?);
        }
        Ok(total)
    }
}
