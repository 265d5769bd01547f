//! Read models (the query side of CQRS), projected from the event store's stream.

mod dynamo;
mod memory;
mod order_view;

pub use dynamo::{DynamoOrderViews, view_item};
pub use memory::InMemoryOrderViews;
pub use order_view::{OrderView, TimelineEntry};

use domain::OrderId;
use std::collections::HashMap;
use std::future::Future;
use thiserror::Error;
use toolkit::error::Outage;

/// One page of a customer's orders, and where the next begins (none: the last page).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerPage {
    pub orders: Vec<OrderView>,
    pub next: Option<Cursor>,
}

/// Where a page of a customer's orders ends: the last order's placing time and id (the
/// index's sort key and the table's key). As text, `<unix nanoseconds>.<order id>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub placed_at: chrono::DateTime<chrono::Utc>,
    pub order_id: OrderId,
}

impl Cursor {
    pub fn after(view: &OrderView) -> Self {
        Self { placed_at: view.placed_at, order_id: view.order_id }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let (nanos, id) = text.split_once('.')?;
        let placed_at = chrono::DateTime::from_timestamp_nanos(nanos.parse().ok()?);
        Some(Self { placed_at, order_id: OrderId::parse(id)? })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nanos = self.placed_at.timestamp_nanos_opt().unwrap_or_default();
        write!(f, "{nanos}.{}", self.order_id)
    }
}

/// The key of the orders-by-owner-and-customer index: an API key's name and a customer id
/// (neither holds a `#`). Orders with no recorded owner have the empty owner.
pub fn owner_customer(owner: Option<&str>, customer_id: &str) -> String {
    format!("{}#{customer_id}", owner.unwrap_or_default())
}

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

    /// How many orders the API key `owner` placed for `customer_id` since `since` that
    /// passed validation: a customer id is the caller's own, so another key's orders under
    /// the same id never count.
    fn count_by_customer_since(
        &self,
        owner: &str,
        customer_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<u32, ViewError>> + Send;

    /// The customer's orders placed by `owner` (every key's, for `None`), newest first, at
    /// most `limit`, after `cursor` (a page's `next`).
    fn by_customer(
        &self,
        owner: Option<&str>,
        customer_id: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> impl Future<Output = Result<CustomerPage, ViewError>> + Send;

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
