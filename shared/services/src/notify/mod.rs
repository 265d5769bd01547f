//! Notifications: the record of what each customer was told (ports and adapters), and the
//! signed outbound webhook.

mod dynamo;
mod memory;
pub mod webhook;

pub use dynamo::DynamoNotificationLog;
pub use memory::InMemoryNotificationLog;

use domain::OrderId;
use domain::notifications::Notification;
use std::future::Future;
use toolkit::error::Outage;

#[derive(Debug, thiserror::Error)]
#[error("notification log unavailable: {0}")]
pub struct NotificationLogError(#[source] pub Outage);

pub trait NotificationLog: Send + Sync {
    /// Records a notification once per (order, channel, event); false when already recorded.
    fn record(&self, notification: &Notification) -> impl Future<Output = Result<bool, NotificationLogError>> + Send;

    /// Everything an order's customer was told, oldest first.
    fn for_order(
        &self,
        order_id: OrderId,
    ) -> impl Future<Output = Result<Vec<Notification>, NotificationLogError>> + Send;
}

impl From<NotificationLogError> for toolkit::batch::RecordError {
    fn from(error: NotificationLogError) -> Self {
        Self::retryable(error)
    }
}
