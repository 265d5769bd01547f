//! Consumers' waits in a DynamoDB table keyed by a string `id` with a TTL on `expiresAt`
//! (a rate-limit table fits): one item per 15-second window, `id` = `#wait#<window>`,
//! holding the longest wait reported in it (`waitedMs`) and who reported it (`consumer`).
//! A report is one conditional UpdateItem that only ever raises the figure; a reading is
//! one BatchGetItem of the current and the previous window, so a wait is seen for 15 to
//! 30 s after its last report and forgotten once consumers stop reporting.
//!
//! Admissions are counted one item per second, `id` = `#admitted#<epoch second>`, `n`
//! incremented by each instance as it admits; a count of the last W seconds is one
//! BatchGetItem of W + 1 items (the current second's too). DynamoDB takes about 1,000
//! writes a second on one item, so past about 1,000 admissions a second the count's writes
//! are throttled: each admission whose count failed is then counted by its own instance.

use super::waits::{AdmittedCount, Wait, WaitGauge, WaitReport};
use crate::error::Outage;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use std::collections::HashMap;
use std::time::Duration;

/// The length of a window, in seconds.
const WINDOW_SECONDS: i64 = 15;

/// The waits reported to, and read from, one table.
#[derive(Clone, Debug)]
pub struct DynamoAdmissionTable {
    client: Client,
    table: String,
}

impl DynamoAdmissionTable {
    /// Waits kept in `table` (key `id`, a string; TTL attribute `expiresAt`).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

fn window_now() -> i64 {
    crate::clock::now().timestamp().div_euclid(WINDOW_SECONDS)
}

fn key_of(window: i64) -> AttributeValue {
    // Callers' rate-limit items start with their name, which never starts with '#'.
    AttributeValue::S(format!("#wait#{window}"))
}

fn millis(duration: Duration) -> String {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).to_string()
}

impl WaitReport for DynamoAdmissionTable {
    async fn report(&self, consumer: &str, waited: Duration) -> Result<(), Outage> {
        let window = window_now();
        let expires = (window + 2) * WINDOW_SECONDS + 60;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", key_of(window))
            .update_expression("SET waitedMs = :waited, consumer = :consumer, expiresAt = :expires")
            .condition_expression("attribute_not_exists(waitedMs) OR waitedMs < :waited")
            .expression_attribute_values(":waited", AttributeValue::N(millis(waited)))
            .expression_attribute_values(":consumer", AttributeValue::S(consumer.to_string()))
            .expression_attribute_values(":expires", AttributeValue::N(expires.to_string()))
            .send()
            .await;
        match result {
            // A longer wait is already on record for this window.
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(()),
            Err(e) => Err(Outage::new(e)),
            Ok(_) => Ok(()),
        }
    }
}

impl WaitGauge for DynamoAdmissionTable {
    async fn longest_wait(&self) -> Result<Option<Wait>, Outage> {
        let window = window_now();
        let keys = KeysAndAttributes::builder()
            .keys(HashMap::from([("id".to_string(), key_of(window))]))
            .keys(HashMap::from([("id".to_string(), key_of(window - 1))]))
            .build()
            .map_err(Outage::new)?;
        let answer = self.client.batch_get_item().request_items(&self.table, keys).send().await.map_err(Outage::new)?;
        if answer.unprocessed_keys.as_ref().is_some_and(|unprocessed| !unprocessed.is_empty()) {
            return Err(Outage::from("DynamoDB left some of the consumers' waits unread"));
        }
        let items = answer.responses.and_then(|mut tables| tables.remove(&self.table)).unwrap_or_default();
        Ok(items.iter().filter_map(wait_of).max_by_key(|w| w.waited))
    }
}

fn admitted_key(second: i64) -> AttributeValue {
    AttributeValue::S(format!("#admitted#{second}"))
}

impl AdmittedCount for DynamoAdmissionTable {
    async fn note_admitted(&self) -> Result<(), Outage> {
        let second = crate::clock::now().timestamp();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("id", admitted_key(second))
            .update_expression("ADD n :one SET expiresAt = :expires")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":expires", AttributeValue::N((second + 120).to_string()))
            .send()
            .await
            .map_err(Outage::new)?;
        Ok(())
    }

    async fn admitted_within(&self, window: Duration) -> Result<Option<u64>, Outage> {
        let now = crate::clock::now().timestamp();
        // BatchGetItem reads at most 100 keys.
        let seconds = i64::try_from(window.as_secs()).unwrap_or(i64::MAX).min(99);
        let mut keys = KeysAndAttributes::builder();
        for second in now - seconds..=now {
            keys = keys.keys(HashMap::from([("id".to_string(), admitted_key(second))]));
        }
        let answer = self
            .client
            .batch_get_item()
            .request_items(&self.table, keys.build().map_err(Outage::new)?)
            .send()
            .await
            .map_err(Outage::new)?;
        if answer.unprocessed_keys.as_ref().is_some_and(|unprocessed| !unprocessed.is_empty()) {
            return Err(Outage::from("DynamoDB left some of the admission counts unread"));
        }
        let items = answer.responses.and_then(|mut tables| tables.remove(&self.table)).unwrap_or_default();
        let count = |item: &HashMap<String, AttributeValue>| -> u64 {
            item.get("n").and_then(|n| n.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
        };
        Ok(Some(items.iter().map(count).sum()))
    }
}

/// The wait an item holds; `None` for an item that holds none (or not as written).
fn wait_of(item: &HashMap<String, AttributeValue>) -> Option<Wait> {
    let waited_ms: u64 = item.get("waitedMs")?.as_n().ok()?.parse().ok()?;
    let consumer = item.get("consumer")?.as_s().ok()?.clone();
    Some(Wait { consumer, waited: Duration::from_millis(waited_ms) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_is_read_back_as_written_and_anything_else_is_no_wait() {
        let item = HashMap::from([
            ("waitedMs".to_string(), AttributeValue::N(millis(Duration::from_millis(41_250)))),
            ("consumer".to_string(), AttributeValue::S("outbox-relay".into())),
        ]);
        let wait = wait_of(&item).expect("a wait");
        assert_eq!((wait.consumer.as_str(), wait.waited), ("outbox-relay", Duration::from_millis(41_250)));
        let garbled = HashMap::from([("waitedMs".to_string(), AttributeValue::S("soon".into()))]);
        assert_eq!(wait_of(&garbled), None);
        assert_eq!(wait_of(&HashMap::new()), None);
    }
}
