//! Read models (the query side of CQRS), projected from the event store's stream.

mod dynamo;
mod memory;
mod order_view;

pub use dynamo::DynamoOrderViews;
pub use memory::InMemoryOrderViews;
pub use order_view::{OrderView, TimelineEntry};

use domain::OrderId;
use std::collections::HashMap;
use std::future::Future;
use thiserror::Error;
use toolkit::error::Outage;

#[derive(Debug, Error)]
pub enum ViewError {
    /// The view changed since it was read (another projector instance wrote it).
    #[error("order view {order_id} is no longer at version {expected_version}")]
    Stale { order_id: OrderId, expected_version: u64 },
    #[error("stored order view {order_id} cannot be read: {reason}")]
    Corrupt { order_id: OrderId, reason: String },
    #[error("read model unavailable: {0}")]
    Unavailable(#[source] Outage),
}

pub trait OrderViews: Send + Sync {
    fn get(&self, order_id: OrderId) -> impl Future<Output = Result<Option<OrderView>, ViewError>> + Send;

    /// The stored views of `order_ids` (orders without one are left out), read together:
    /// the projector reads every view a stream batch touches at once.
    fn get_many(
        &self,
        order_ids: &[OrderId],
    ) -> impl Future<Output = Result<HashMap<OrderId, OrderView>, ViewError>> + Send;

    /// How many orders `customer_id` placed since `since` (from the orders-by-customer index).
    fn count_by_customer_since(
        &self,
        customer_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<u32, ViewError>> + Send;

    /// The customer's orders, newest first, at most `limit`.
    fn by_customer(
        &self,
        customer_id: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<OrderView>, ViewError>> + Send;

    /// Orders in `status` whose last change is older than `before` (from the by-status index).
    fn in_status_since_before(
        &self,
        status: domain::OrderStatus,
        before: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<Vec<OrderId>, ViewError>> + Send;

    /// Saves `view` only if the stored one is still at `expected_version` (0: none stored).
    fn save(&self, view: &OrderView, expected_version: u64) -> impl Future<Output = Result<(), ViewError>> + Send;
}

/// A corrupt view never gets better; a stale or unreachable one may.
impl From<ViewError> for toolkit::batch::RecordError {
    fn from(error: ViewError) -> Self {
        match error {
            corrupt @ ViewError::Corrupt { .. } => Self::poison(corrupt),
            other => Self::retryable(other),
        }
    }
}
