//! One item per key: `id`, `status` (`INPROGRESS` | `COMPLETED`), `payloadHash`,
//! `inProgressUntil` (ms), `result` (JSON text) and `expiresAt` (the table's TTL, seconds).

use super::{Claim, IdempotencyError, IdempotencyRecord, IdempotencyStore};
use crate::error::Outage;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

const IN_PROGRESS: &str = "INPROGRESS";
const COMPLETED: &str = "COMPLETED";

#[derive(Clone)]
pub struct DynamoIdempotencyStore {
    client: Client,
    table: String,
    /// How long a completed record is kept (repeats after that run the effect again).
    retention: chrono::Duration,
}

impl DynamoIdempotencyStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), retention: chrono::Duration::hours(24) }
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
        number((chrono::Utc::now() + self.retention).timestamp())
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
            .item("payloadHash", AttributeValue::S(payload_hash.to_string()))
            .item("inProgressUntil", number(until_ms))
            .item("expiresAt", self.expires_at())
            // Free, or held by an invocation that ended without completing or releasing it.
            .condition_expression("attribute_not_exists(id) OR (#s = :inprogress AND inProgressUntil < :now)")
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
            .item("payloadHash", AttributeValue::S(payload_hash.to_string()))
            .item("result", AttributeValue::S(result.to_string()))
            .item("expiresAt", self.expires_at())
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
    let payload_hash = text("payloadHash").ok_or_else(|| corrupt("no payloadHash"))?;
    match text("status").as_deref() {
        Some(COMPLETED) => {
            let result = text("result").ok_or_else(|| corrupt("no result"))?;
            let result = serde_json::from_str(&result).map_err(|e| corrupt(&e.to_string()))?;
            Ok(IdempotencyRecord::Completed { payload_hash, result })
        }
        Some(IN_PROGRESS) => {
            let until_ms = item
                .get("inProgressUntil")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| corrupt("no inProgressUntil"))?;
            Ok(IdempotencyRecord::InProgress { payload_hash, until_ms })
        }
        other => Err(corrupt(&format!("unknown status {other:?}"))),
    }
}
