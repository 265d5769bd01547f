//! DynamoDB adapter: one table, `pk` + `sk`. Counters are `ADD` updates in one transaction
//! with a conditional put of `applied#<eventId>`, so a redelivered event counts once.

use super::{AnalyticsError, AnalyticsStore, MAX_SALES_DAYS, applied_marker, chunks, combined, minute_of};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use domain::analytics::{Sale, Tally};
use std::collections::{BTreeMap, HashMap};
use toolkit::aws::error_text;
use toolkit::envelope::EventId;
use toolkit::error::Outage;

const STATUS_PK: &str = "status";
use super::APPLIED_TTL_DAYS;
/// The widest sales query, in days.

#[derive(Clone)]
pub struct DynamoAnalytics {
    client: Client,
    table: String,
}

impl DynamoAnalytics {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn key(pk: String, sk: String) -> HashMap<String, AttributeValue> {
        HashMap::from([("pk".to_string(), AttributeValue::S(pk)), ("sk".to_string(), AttributeValue::S(sk))])
    }

    fn add(
        &self,
        key: HashMap<String, AttributeValue>,
        expression: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<TransactWriteItem, AnalyticsError> {
        let mut update = Update::builder().table_name(&self.table).set_key(Some(key)).update_expression(expression);
        // Attribute names go through placeholders: `minute` and others are reserved words.
        for placeholder in expression.split(|c: char| !(c.is_alphanumeric() || c == '#')).filter(|w| w.starts_with('#'))
        {
            update = update.expression_attribute_names(placeholder, &placeholder[1..]);
        }
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        let update = update.build().map_err(|e| AnalyticsError::Unavailable(Outage::new(e)))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

impl DynamoAnalytics {
    /// One transaction: the markers (each conditional: absent) and the counters. False when
    /// a marker was there: the transaction wrote nothing.
    async fn write_applied(
        &self,
        markers: &[String],
        statuses: &[(String, i64)],
        sales: &[Sale],
    ) -> Result<bool, AnalyticsError> {
        let expires = chrono::Utc::now().timestamp() + APPLIED_TTL_DAYS * 86_400;
        let mut items = Vec::with_capacity(markers.len() + statuses.len() + sales.len());
        for marker in markers {
            let mut applied = Self::key(marker.clone(), "-".into());
            applied.insert("expiresAt".into(), number(expires));
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(applied))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| AnalyticsError::Unavailable(Outage::new(e)))?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        for (status, delta) in statuses {
            let key = Self::key(STATUS_PK.into(), status.clone());
            items.push(self.add(key, "ADD #orders :d", vec![(":d", number(delta))])?);
        }
        for sale in sales {
            let sort_key = format!("{}#{}#{}", sale.minute, sale.sku, sale.currency);
            let key = Self::key(format!("sales#{}", sale.minute.get(..10).unwrap_or(&sale.minute)), sort_key);
            let values = vec![
                (":u", number(sale.units)),
                (":r", number(sale.revenue_minor)),
                (":c", AttributeValue::S(sale.currency.clone())),
                (":m", AttributeValue::S(sale.minute.clone())),
                (":s", AttributeValue::S(sale.sku.clone())),
            ];
            items.push(self.add(
                key,
                "ADD #units :u, #revenueMinor :r SET #currency = :c, #minute = :m, #sku = :s",
                values,
            )?);
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_transaction_canceled_exception() => {
                let reasons = match e.err() {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                        c.cancellation_reasons()
                    }
                    _ => &[],
                };
                // Only the markers carry a condition.
                if reasons.iter().any(|r| r.code() == Some("ConditionalCheckFailed")) {
                    Ok(false)
                } else {
                    Err(AnalyticsError::Unavailable(Outage::from(format!(
                        "transaction cancelled: {}",
                        error_text(e.err())
                    ))))
                }
            }
            Err(e) => Err(AnalyticsError::Unavailable(Outage::new(e))),
        }
    }
}

fn number(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl AnalyticsStore for DynamoAnalytics {
    async fn record(&self, event_id: EventId, tally: &Tally) -> Result<bool, AnalyticsError> {
        let mut applied = false;
        for (index, (statuses, sales)) in chunks(tally).into_iter().enumerate() {
            applied |= self.write_applied(&[applied_marker(event_id, index)], &statuses, &sales).await?;
        }
        Ok(applied)
    }

    async fn record_together(&self, tallies: &[(EventId, Tally)]) -> Result<bool, AnalyticsError> {
        match combined(tallies) {
            Some(writes) => self.write_applied(&writes.markers, &writes.statuses, &writes.sales).await,
            None => Ok(false),
        }
    }

    async fn sales(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Sale>, AnalyticsError> {
        if (to - from).num_days() > MAX_SALES_DAYS {
            return Err(AnalyticsError::RangeTooLong);
        }
        let (first, last) = (minute_of(from), format!("{}~", minute_of(to)));
        let mut sales = Vec::new();
        let mut day = from.date_naive();
        while day <= to.date_naive() {
            let items: Vec<HashMap<String, AttributeValue>> = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", AttributeValue::S(format!("sales#{day}")))
                .expression_attribute_values(":from", AttributeValue::S(first.clone()))
                .expression_attribute_values(":to", AttributeValue::S(last.clone()))
                .into_paginator()
                .items()
                .send()
                .collect::<Result<_, _>>()
                .await
                .map_err(|e| AnalyticsError::Unavailable(Outage::new(e)))?;
            for item in items {
                sales.push(
                    serde_dynamo::from_item(item)
                        .map_err(|e| AnalyticsError::Corrupt(format!("stored sale cannot be read: {e}")))?,
                );
            }
            day = day.succ_opt().unwrap_or(day);
            if day == to.date_naive().succ_opt().unwrap_or(day) {
                break;
            }
        }
        Ok(sales)
    }

    async fn status_counts(&self) -> Result<BTreeMap<String, i64>, AnalyticsError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(STATUS_PK.into()))
            .send()
            .await
            .map_err(|e| AnalyticsError::Unavailable(Outage::new(e)))?;
        Ok(output
            .items()
            .iter()
            .filter_map(|item| {
                let status = item.get("sk")?.as_s().ok()?.clone();
                let count = item.get("orders")?.as_n().ok()?.parse().ok()?;
                Some((status, count))
            })
            .collect())
    }
}
