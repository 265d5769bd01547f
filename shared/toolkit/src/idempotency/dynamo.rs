//! One item per key, in the attribute layout of Powertools for AWS Lambda (Python,
//! TypeScript, Java, .NET): `id`, `status` (`INPROGRESS` | `COMPLETED`), `validation` (the
//! payload's hash), `in_progress_expiration` (ms), `data` (the result as JSON text) and
//! `expiration` (the table's TTL, seconds). A table made for Powertools serves this store
//! too, and its tools read these records; the keys differ (Powertools derives its own from
//! the function name and a hash of the event), so functions in both languages can share a
//! table but not a key.

use super::{Claim, IdempotencyError, IdempotencyRecord, IdempotencyStore};
use crate::error::Outage;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

const IN_PROGRESS: &str = "INPROGRESS";
const COMPLETED: &str = "COMPLETED";

/// Idempotency records in a DynamoDB table with the string key `id` and TTL on `expiration`
/// (see the module's documentation). Completed records are kept 24 hours.
#[derive(Clone)]
pub struct DynamoIdempotencyStore {
    client: Client,
    table: String,
    /// How long a completed record is kept (repeats after that run the effect again).
    retention: chrono::Duration,
}

impl DynamoIdempotencyStore {
    /// A store on `table`, keeping completed records for 24 hours.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), retention: chrono::Duration::hours(24) }
    }

    /// Keeps completed records for `retention`: choose it longer than the longest window
    /// in which a message can come back (a dead-letter queue's retention, an archive's
    /// replay), or a redrive then runs the effect again.
    pub fn with_retention(self, retention: chrono::Duration) -> Self {
        Self { retention, ..self }
    }

    async fn read(&self, key: &str) -> Result<Option<IdempotencyRecord>, IdempotencyError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(key.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| IdempotencyError::Store(Outage::new(e)))?;
        output.item.map(|item| record_of(key, &item)).transpose()
    }

    fn expires_at(&self) -> AttributeValue {
        number((crate::clock::now() + self.retention).timestamp())
    }
}

impl IdempotencyStore for DynamoIdempotencyStore {
    async fn claim(
        &self,
        key: &str,
        payload_hash: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> Result<Claim, IdempotencyError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(key.to_string()))
            .item("status", AttributeValue::S(IN_PROGRESS.into()))
            .item("validation", AttributeValue::S(payload_hash.to_string()))
            .item("in_progress_expiration", number(until_ms))
            .item("expiration", self.expires_at())
            // Free, or held by an invocation that ended without completing or releasing it.
            .condition_expression("attribute_not_exists(id) OR (#s = :inprogress AND in_progress_expiration < :now)")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":inprogress", AttributeValue::S(IN_PROGRESS.into()))
            .expression_attribute_values(":now", number(now_ms))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                match self.read(key).await? {
                    Some(held) => Ok(Claim::Held(held)),
                    // Released between our put and our read: the caller's retry will claim it.
                    None => Err(IdempotencyError::InProgress { key: key.to_string() }),
                }
            }
            Err(e) => Err(IdempotencyError::Store(Outage::new(e))),
        }
    }

    async fn complete(
        &self,
        key: &str,
        payload_hash: &str,
        result: &serde_json::Value,
    ) -> Result<(), IdempotencyError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("id", AttributeValue::S(key.to_string()))
            .item("status", AttributeValue::S(COMPLETED.into()))
            .item("validation", AttributeValue::S(payload_hash.to_string()))
            .item("data", AttributeValue::S(result.to_string()))
            .item("expiration", self.expires_at())
            .send()
            .await
            .map_err(|e| IdempotencyError::Store(Outage::new(e)))?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), IdempotencyError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(key.to_string()))
            .condition_expression("#s = :inprogress")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":inprogress", AttributeValue::S(IN_PROGRESS.into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(()),
            Err(e) => Err(IdempotencyError::Store(Outage::new(e))),
        }
    }
}

fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn record_of(key: &str, item: &HashMap<String, AttributeValue>) -> Result<IdempotencyRecord, IdempotencyError> {
    let corrupt = |reason: &str| IdempotencyError::Corrupt { key: key.to_string(), reason: reason.to_string() };
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let payload_hash = text("validation").ok_or_else(|| corrupt("no validation (payload hash)"))?;
    match text("status").as_deref() {
        Some(COMPLETED) => {
            let result = text("data").ok_or_else(|| corrupt("no result"))?;
            let result = serde_json::from_str(&result).map_err(|e| corrupt(&e.to_string()))?;
            Ok(IdempotencyRecord::Completed { payload_hash, result })
        }
        Some(IN_PROGRESS) => {
            let until_ms = item
                .get("in_progress_expiration")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| corrupt("no in_progress_expiration"))?;
            Ok(IdempotencyRecord::InProgress { payload_hash, until_ms })
        }
        other => Err(corrupt(&format!("unknown status {other:?}"))),
    }
}
