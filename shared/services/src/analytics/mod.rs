//! The analytics read model: order counts per status and sales per product per minute,
//! kept with atomic counters, each event applied once.

mod dynamo;
mod memory;

pub use dynamo::DynamoAnalytics;
pub use memory::InMemoryAnalytics;

use domain::analytics::{Sale, Tally};
use std::collections::BTreeMap;
use std::future::Future;
use thiserror::Error;
use toolkit::envelope::EventId;
use toolkit::error::Outage;

/// The most days one sales query covers (one query per day).
pub const MAX_SALES_DAYS: i64 = 31;

#[derive(Debug, Error)]
pub enum AnalyticsError {
    /// The table did not answer (or refused a write): retry later.
    #[error("analytics unavailable: {0}")]
    Unavailable(#[source] Outage),
    /// The caller asked for more than [`MAX_SALES_DAYS`] of sales: a bad request.
    #[error("sales are read at most {MAX_SALES_DAYS} days at once")]
    RangeTooLong,
    /// A stored item is not what this build writes.
    #[error("stored analytics cannot be read: {0}")]
    Corrupt(String),
}

pub trait AnalyticsStore: Send + Sync {
    /// Applies `tally` unless `event_id` was applied before; returns whether it applied it.
    fn record(&self, event_id: EventId, tally: &Tally) -> impl Future<Output = Result<bool, AnalyticsError>> + Send;

    /// Sales per product per minute, for the minutes from `from` to `to` (both included).
    fn sales(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<Vec<Sale>, AnalyticsError>> + Send;

    /// How many orders are in each status now.
    fn status_counts(&self) -> impl Future<Output = Result<BTreeMap<String, i64>, AnalyticsError>> + Send;
}

/// DynamoDB takes at most 100 items in one transaction; each chunk of a tally's writes
/// holds its own "applied" marker, so every chunk still applies exactly once.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// The writes of one transaction: status counter deltas, then sales.
pub type Chunk = (Vec<(OrderStatusName, i64)>, Vec<Sale>);

/// The writes of one tally, in chunks that fit a transaction with their marker: status
/// counters first, then one counter per (minute, SKU, currency).
pub fn chunks(tally: &Tally) -> Vec<Chunk> {
    let statuses: Vec<(OrderStatusName, i64)> =
        tally.status_deltas.iter().map(|(status, delta)| (domain::analytics::status_name(*status), *delta)).collect();
    let room = MAX_TRANSACTION_ITEMS - 1;
    let mut chunks = vec![(statuses, Vec::new())];
    for sale in &tally.sales {
        let last = chunks.last_mut().expect("one chunk at least");
        if last.0.len() + last.1.len() >= room {
            chunks.push((Vec::new(), Vec::new()));
        }
        chunks.last_mut().expect("one chunk at least").1.push(sale.clone());
    }
    chunks
}

/// A status's name as stored.
pub type OrderStatusName = String;

/// The marker of chunk `index` of an event's tally (chunk 0 keeps the original name).
pub fn applied_marker(event_id: EventId, index: usize) -> String {
    match index {
        0 => format!("applied#{event_id}"),
        n => format!("applied#{event_id}#{n}"),
    }
}

/// `YYYY-MM-DDTHH:MM`, the key of a minute.
pub fn minute_of(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M").to_string()
}

/// Only an outage is worth a retry.
impl From<AnalyticsError> for toolkit::batch::RecordError {
    fn from(error: AnalyticsError) -> Self {
        match error {
            outage @ AnalyticsError::Unavailable(_) => Self::retryable(outage),
            other => Self::poison(other),
        }
    }
}
