//! The analytics read model: order counts per status and sales per product per minute,
//! kept with atomic counters, each event applied once.

mod dynamo;
mod memory;

pub use dynamo::DynamoAnalytics;

/// How long the record of an applied event is kept (DynamoDB TTL on `expiresAt`): past
/// every window that can bring the event back.
pub const APPLIED_TTL_DAYS: i64 = crate::config::DEDUP_RETENTION_DAYS;
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

    /// Applies every tally in one transaction with each event's marker, or none of them:
    /// `Ok(false)` when they do not fit one transaction or one was applied before (then
    /// each is recorded alone). An adapter without transactions keeps this default.
    fn record_together(
        &self,
        _tallies: &[(EventId, Tally)],
    ) -> impl Future<Output = Result<bool, AnalyticsError>> + Send {
        std::future::ready(Ok(false))
    }

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

/// The writes of several events' tallies as one transaction: each event's marker (that of
/// its only chunk, so a redelivery finds it) and the counters summed per item, since a
/// transaction cannot write one item twice.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Combined {
    pub markers: Vec<String>,
    pub statuses: Vec<(OrderStatusName, i64)>,
    pub sales: Vec<Sale>,
}

/// The tallies' writes in one transaction; `None` when they do not fit one (over 100
/// items, a tally that needs chunks of its own, an event twice) or there is nothing to write.
pub fn combined(tallies: &[(EventId, Tally)]) -> Option<Combined> {
    let mut statuses: BTreeMap<OrderStatusName, i64> = BTreeMap::new();
    let mut sales: BTreeMap<SaleKey, Sale> = BTreeMap::new();
    let mut markers = Vec::with_capacity(tallies.len());
    for (event_id, tally) in tallies {
        let [(event_statuses, event_sales)] = <[Chunk; 1]>::try_from(chunks(tally)).ok()?;
        markers.push(applied_marker(*event_id, 0));
        for (status, delta) in event_statuses {
            *statuses.entry(status).or_default() += delta;
        }
        for sale in event_sales {
            add_sale(&mut sales, sale);
        }
    }
    let distinct: std::collections::BTreeSet<&String> = markers.iter().collect();
    let items = markers.len() + statuses.len() + sales.len();
    (!markers.is_empty() && distinct.len() == markers.len() && items <= MAX_TRANSACTION_ITEMS).then(|| Combined {
        markers,
        statuses: statuses.into_iter().collect(),
        sales: sales.into_values().collect(),
    })
}

/// One sales counter: (minute, SKU, currency).
pub type SaleKey = (String, String, String);

/// Adds `sale` to the counter of its minute, SKU and currency.
pub fn add_sale(totals: &mut BTreeMap<SaleKey, Sale>, sale: Sale) {
    let key = (sale.minute.clone(), sale.sku.clone(), sale.currency.clone());
    let total = totals.entry(key).or_insert_with(|| Sale { units: 0, revenue_minor: 0, ..sale.clone() });
    total.units += sale.units;
    total.revenue_minor += sale.revenue_minor;
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

#[cfg(test)]
mod tests {
    use super::{MAX_TRANSACTION_ITEMS, applied_marker, combined};
    use domain::OrderStatus;
    use domain::analytics::{Sale, Tally};
    use toolkit::envelope::EventId;

    fn sale(sku: &str, units: u32) -> Sale {
        let minute = "2026-12-01T14:00".to_string();
        let (units, revenue_minor) = (i64::from(units), 100 * i64::from(units));
        Sale { minute, sku: sku.into(), units, revenue_minor, currency: "EUR".into() }
    }

    fn moved(from: OrderStatus, to: OrderStatus, sales: Vec<Sale>) -> Tally {
        Tally { status_deltas: vec![(from, -1), (to, 1)], sales }
    }

    #[test]
    fn several_tallies_become_one_write_per_counter_with_every_marker() {
        let (a, b) = (EventId::generate(), EventId::generate());
        let tallies = [
            (a, moved(OrderStatus::Validated, OrderStatus::Reserved, vec![sale("TEA", 2)])),
            (b, moved(OrderStatus::Reserved, OrderStatus::Paid, vec![sale("TEA", 1), sale("MUG", 1)])),
        ];
        let writes = combined(&tallies).unwrap();
        assert_eq!(writes.markers, [applied_marker(a, 0), applied_marker(b, 0)]);
        let statuses: Vec<(&str, i64)> = writes.statuses.iter().map(|(s, d)| (s.as_str(), *d)).collect();
        assert_eq!(statuses, [("Paid", 1), ("Reserved", 0), ("Validated", -1)]);
        assert_eq!(writes.sales, [sale("MUG", 1), sale("TEA", 3)]);
    }

    #[test]
    fn tallies_that_do_not_fit_one_transaction_are_not_combined() {
        let id = |i: usize| EventId(uuid::Uuid::from_u128(i as u128));
        let one =
            |i: usize| (id(i), moved(OrderStatus::Validated, OrderStatus::Reserved, vec![sale(&format!("S{i}"), 1)]));
        assert!(combined(&[]).is_none(), "nothing to write");
        assert!(combined(&[one(1), one(1)]).is_none(), "an event twice: one marker written twice");
        let many: Vec<_> = (0..MAX_TRANSACTION_ITEMS / 2).map(one).collect();
        assert!(combined(&many).is_none(), "{} markers and as many sales", many.len());
        let big = Tally {
            status_deltas: vec![],
            sales: (0..MAX_TRANSACTION_ITEMS).map(|i| sale(&format!("S{i}"), 1)).collect(),
        };
        assert!(combined(&[one(1), (id(2), big)]).is_none(), "a tally that needs chunks of its own");
        assert!(combined(&[one(1), one(2)]).is_some());
    }
}
