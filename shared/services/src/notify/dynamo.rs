//! One item per notification: `orderId` + `sk` = `<sentAt>#<channel>#<eventId>`, written
//! once (a redelivered event finds its record and sends nothing twice).

use super::{NotificationLog, NotificationLogError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::AttributeValue;
use domain::OrderId;
use domain::notifications::Notification;
use toolkit::error::Outage;

#[derive(Clone)]
pub struct DynamoNotificationLog {
    client: Client,
    table: String,
}

impl DynamoNotificationLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// The record's id: unique per (channel, event), so a second send is refused.
    fn sort_key(notification: &Notification) -> String {
        let channel = serde_json::to_value(notification.channel)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        format!("{channel}#{}", notification.event_id)
    }
}

impl NotificationLog for DynamoNotificationLog {
    async fn record(&self, notification: &Notification) -> Result<bool, NotificationLogError> {
        let mut item = serde_dynamo::to_item(notification).map_err(|e| NotificationLogError(Outage::new(e)))?;
        let mut item_map: std::collections::HashMap<String, AttributeValue> = std::mem::take(&mut item);
        item_map.insert("sk".into(), AttributeValue::S(Self::sort_key(notification)));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_map))
            .condition_expression("attribute_not_exists(sk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(NotificationLogError(Outage::new(e))),
        }
    }

    async fn for_order(&self, order_id: OrderId) -> Result<Vec<Notification>, NotificationLogError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("orderId = :o")
            .expression_attribute_values(":o", AttributeValue::S(order_id.to_string()))
            .send()
            .await
            .map_err(|e| NotificationLogError(Outage::new(e)))?;
        let mut notifications: Vec<Notification> = output
            .items()
            .iter()
            .map(|item| {
                let mut item = item.clone();
                item.remove("sk");
                serde_dynamo::from_item(item).map_err(|e| NotificationLogError(Outage::new(e)))
            })
            .collect::<Result<_, _>>()?;
        notifications.sort_by_key(|n| n.sent_at);
        Ok(notifications)
    }
}
