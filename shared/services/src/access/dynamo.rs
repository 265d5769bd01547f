//! One item per caller and second: `id` = `<caller>#<epoch second>`, `hits`, and
//! `expiresAt` (the table's TTL) a minute later.

use super::{RateLimitError, RateLimiter};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use toolkit::error::Outage;

#[derive(Clone)]
pub struct DynamoRateLimiter {
    client: Client,
    table: String,
}

impl DynamoRateLimiter {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

impl RateLimiter for DynamoRateLimiter {
    async fn admit(&self, caller: &str, per_second: u32) -> Result<bool, RateLimitError> {
        let second = chrono::Utc::now().timestamp();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(format!("{caller}#{second}")))
            .update_expression("ADD hits :one SET expiresAt = :expires")
            .condition_expression("attribute_not_exists(hits) OR hits < :limit")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(per_second.to_string()))
            .expression_attribute_values(":expires", AttributeValue::N((second + 60).to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(RateLimitError(Outage::new(e))),
        }
    }
}
