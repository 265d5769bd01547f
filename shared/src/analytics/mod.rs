//! The analytics read model: order counts per status and sales per product per minute,
//! kept with atomic counters, each event applied once.

mod dynamo;
mod memory;

pub use dynamo::DynamoAnalytics;
pub use memory::InMemoryAnalytics;

use crate::domain::analytics::{Sale, Tally};
use crate::envelope::EventId;
use std::collections::BTreeMap;
use std::future::Future;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("analytics unavailable: {0}")]
pub struct AnalyticsError(pub String);

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

/// `YYYY-MM-DDTHH:MM`, the key of a minute.
pub fn minute_of(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M").to_string()
}
