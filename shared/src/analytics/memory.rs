use super::{AnalyticsError, AnalyticsStore, minute_of};
use crate::domain::analytics::{Sale, Tally, status_name};
use crate::envelope::EventId;
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

/// Analytics in memory, applying each event once like the DynamoDB adapter: for tests.
#[derive(Default)]
pub struct InMemoryAnalytics {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    applied: HashSet<EventId>,
    statuses: BTreeMap<String, i64>,
    /// (minute, sku) → sale
    sales: BTreeMap<(String, String), Sale>,
}

impl AnalyticsStore for InMemoryAnalytics {
    async fn record(&self, event_id: EventId, tally: &Tally) -> Result<bool, AnalyticsError> {
        let mut state = self.state.lock().expect("analytics lock");
        if !state.applied.insert(event_id) {
            return Ok(false);
        }
        for (status, delta) in &tally.status_deltas {
            *state.statuses.entry(status_name(*status)).or_default() += delta;
        }
        for sale in &tally.sales {
            let entry = state.sales.entry((sale.minute.clone(), sale.sku.clone())).or_insert_with(|| Sale {
                units: 0,
                revenue_minor: 0,
                ..sale.clone()
            });
            entry.units += sale.units;
            entry.revenue_minor += sale.revenue_minor;
        }
        Ok(true)
    }

    async fn sales(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Sale>, AnalyticsError> {
        let (from, to) = (minute_of(from), minute_of(to));
        let state = self.state.lock().expect("analytics lock");
        Ok(state.sales.values().filter(|s| s.minute >= from && s.minute <= to).cloned().collect())
    }

    async fn status_counts(&self) -> Result<BTreeMap<String, i64>, AnalyticsError> {
        Ok(self.state.lock().expect("analytics lock").statuses.clone())
    }
}
