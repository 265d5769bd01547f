use super::{Cursor, CustomerPage, OrderView, OrderViews, ViewError, owner_customer};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use domain::OrderId;
use std::collections::HashMap;
use toolkit::error::Outage;

/// BatchGetItem takes at most 100 keys.
const MAX_KEYS_PER_BATCH_GET: usize = 100;
/// Rounds for keys DynamoDB left unprocessed (it throttles part of a batch) before giving up.
const BATCH_GET_ROUNDS: u32 = 4;

/// The global secondary index by `customerId` (hash) and `placedAt` (range).
pub const BY_CUSTOMER_INDEX: &str = "byCustomer";
/// The global secondary index by `ownerCustomer` (hash: the placing key's name and the
/// customer id, see [`super::owner_customer`]) and `placedAt` (range): what one caller sees.
pub const BY_OWNER_CUSTOMER_INDEX: &str = "byOwnerCustomer";
/// The global secondary index by `status` (hash) and `updatedAt` (range).
pub const BY_STATUS_INDEX: &str = "byStatus";

/// One item per order, keyed by `orderId`; `version` is the optimistic-lock attribute.
#[derive(Clone)]
pub struct DynamoOrderViews {
    client: Client,
    table: String,
}

impl DynamoOrderViews {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

impl DynamoOrderViews {
    /// The items of up to 100 distinct keys, asking again for the ones left unprocessed.
    async fn batch_get(&self, order_ids: &[OrderId]) -> Result<Vec<HashMap<String, AttributeValue>>, ViewError> {
        let mut distinct: Vec<OrderId> = order_ids.to_vec();
        distinct.sort();
        distinct.dedup();
        let keys = distinct
            .iter()
            .map(|id| HashMap::from([("orderId".to_string(), AttributeValue::S(id.to_string()))]))
            .collect();
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| ViewError::Unavailable(Outage::new(e)))?,
        );
        let mut items = Vec::new();
        for round in 0..BATCH_GET_ROUNDS {
            let Some(request) = pending.take() else { break };
            if round > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << round)).await;
            }
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| ViewError::Unavailable(Outage::new(e)))?;
            items.extend(output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default());
            pending = output.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).filter(|k| !k.keys.is_empty());
        }
        match pending {
            None => Ok(items),
            Some(left) => Err(ViewError::Unavailable(Outage::from(format!(
                "{} order views still unread after {BATCH_GET_ROUNDS} rounds of BatchGetItem",
                left.keys.len()
            )))),
        }
    }
}

impl OrderViews for DynamoOrderViews {
    async fn get(&self, order_id: OrderId) -> Result<Option<OrderView>, ViewError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("orderId", AttributeValue::S(order_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| ViewError::Unavailable(Outage::new(e)))?;
        output
            .item
            .map(|item| {
                serde_dynamo::from_item(item).map_err(|e| ViewError::Corrupt { order_id, reason: e.to_string() })
            })
            .transpose()
    }

    async fn get_many(&self, order_ids: &[OrderId]) -> Result<HashMap<OrderId, OrderView>, ViewError> {
        let mut views = HashMap::new();
        for chunk in order_ids.chunks(MAX_KEYS_PER_BATCH_GET) {
            for item in self.batch_get(chunk).await? {
                let stored_id = item.get("orderId").and_then(|v| v.as_s().ok()).and_then(|id| OrderId::parse(id));
                let view: OrderView = serde_dynamo::from_item(item).map_err(|e| ViewError::Corrupt {
                    order_id: stored_id.unwrap_or(chunk[0]),
                    reason: e.to_string(),
                })?;
                views.insert(view.order_id, view);
            }
        }
        Ok(views)
    }

    async fn count_by_customer_since(
        &self,
        owner: &str,
        customer_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u32, ViewError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_OWNER_CUSTOMER_INDEX)
            .key_condition_expression("ownerCustomer = :c AND placedAt >= :t")
            // Only orders that passed validation: rejected ones cost nothing to place.
            .filter_expression("#status <> :placed AND #status <> :rejected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":c", AttributeValue::S(owner_customer(Some(owner), customer_id)))
            .expression_attribute_values(":t", AttributeValue::S(timestamp(since)))
            .expression_attribute_values(":placed", AttributeValue::S("Placed".into()))
            .expression_attribute_values(":rejected", AttributeValue::S("Rejected".into()))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .map_err(|e| ViewError::Unavailable(Outage::new(e)))?;
        Ok(u32::try_from(output.count()).unwrap_or(0))
    }

    async fn by_customer(
        &self,
        owner: Option<&str>,
        customer_id: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<CustomerPage, ViewError> {
        // The caller's own orders come from the index keyed by owner and customer, so a
        // page is full however many orders other keys placed under the same customer id.
        let (index, hash, value) = match owner {
            Some(owner) => (BY_OWNER_CUSTOMER_INDEX, "ownerCustomer", owner_customer(Some(owner), customer_id)),
            None => (BY_CUSTOMER_INDEX, "customerId", customer_id.to_string()),
        };
        let start = cursor.map(|c| {
            HashMap::from([
                ("orderId".to_string(), AttributeValue::S(c.order_id.to_string())),
                ("placedAt".to_string(), AttributeValue::S(timestamp(c.placed_at))),
                (hash.to_string(), AttributeValue::S(value.clone())),
            ])
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#hash = :c")
            .expression_attribute_names("#hash", hash)
            .expression_attribute_values(":c", AttributeValue::S(value.clone()))
            .set_exclusive_start_key(start)
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| ViewError::Unavailable(Outage::new(e)))?;
        let orders = output
            .items()
            .iter()
            .map(|item| {
                serde_dynamo::from_item(item.clone())
                    .map_err(|e| ViewError::Unavailable(Outage::from(format!("stored order view cannot be read: {e}"))))
            })
            .collect::<Result<Vec<OrderView>, _>>()?;
        let next = output.last_evaluated_key().and(orders.last()).map(Cursor::after);
        Ok(CustomerPage { orders, next })
    }

    async fn in_status_since_before(
        &self,
        status: domain::OrderStatus,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<OrderId>, ViewError> {
        let status = serde_json::to_value(status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let items: Vec<std::collections::HashMap<String, AttributeValue>> = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_STATUS_INDEX)
            .key_condition_expression("#status = :s AND updatedAt < :t")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":s", AttributeValue::S(status))
            .expression_attribute_values(
                ":t",
                AttributeValue::S(before.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
            )
            .projection_expression("orderId")
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| ViewError::Unavailable(Outage::new(e)))?;
        Ok(items
            .iter()
            .filter_map(|item| item.get("orderId").and_then(|v| v.as_s().ok()).and_then(|id| OrderId::parse(id)))
            .collect())
    }

    async fn save(&self, view: &OrderView, expected_version: u64) -> Result<(), ViewError> {
        let item = view_item(view)?;
        let request = self.client.put_item().table_name(&self.table).set_item(Some(item));
        let request = if expected_version == 0 {
            request.condition_expression("attribute_not_exists(orderId)")
        } else {
            request
                .condition_expression("version = :expected")
                .expression_attribute_values(":expected", AttributeValue::N(expected_version.to_string()))
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(ViewError::Stale { order_id: view.order_id, expected_version })
            }
            Err(e) => Err(ViewError::Unavailable(Outage::new(e))),
        }
    }
}

/// A view as its table's item: the view's fields and the key of the index by owner and
/// customer (every writer of the table, `orderflow rebuild` too, writes it this way).
pub fn view_item(view: &OrderView) -> Result<HashMap<String, AttributeValue>, ViewError> {
    let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(view)
        .map_err(|e| ViewError::Unavailable(Outage::from(format!("cannot encode view: {e}"))))?;
    let key = owner_customer(view.placed_by.as_deref(), &view.customer_id);
    item.insert("ownerCustomer".to_string(), AttributeValue::S(key));
    Ok(item)
}

/// A time as the table stores it (chrono's RFC 3339 form, as serde writes it).
fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
