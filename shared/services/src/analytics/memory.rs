use super::{
    AnalyticsError, AnalyticsStore, MAX_SALES_DAYS, MAX_TRANSACTION_ITEMS, SaleKey, add_sale, applied_marker, chunks,
    combined, minute_of,
};
use domain::analytics::{Sale, Tally};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use toolkit::envelope::EventId;

/// Analytics in memory, applying each event once like the DynamoDB adapter, and refusing
/// what DynamoDB refuses (a transaction over 100 items, or writing one item twice): for tests.
/// An applied marker expires after [`super::APPLIED_TTL_DAYS`] as the clock moves, as
/// DynamoDB's TTL deletes it.
#[derive(Default)]
pub struct InMemoryAnalytics {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Transactions that wrote something.
    transactions: usize,
    /// Applied markers, each with when it expires.
    applied: HashMap<String, chrono::DateTime<chrono::Utc>>,
    statuses: BTreeMap<String, i64>,
    sales: BTreeMap<SaleKey, Sale>,
}

impl State {
    /// Whether `marker` is held (and not expired).
    fn holds(&self, marker: &str) -> bool {
        self.applied.get(marker).is_some_and(|expires| *expires > toolkit::clock::now())
    }

    /// Records `marker`; false when it was held already.
    fn mark(&mut self, marker: String) -> bool {
        if self.holds(&marker) {
            return false;
        }
        let expires = toolkit::clock::now() + chrono::Duration::days(super::APPLIED_TTL_DAYS);
        self.applied.insert(marker, expires);
        true
    }

    fn add(&mut self, statuses: Vec<(String, i64)>, sales: Vec<Sale>) {
        for (status, delta) in statuses {
            *self.statuses.entry(status).or_default() += delta;
        }
        for sale in sales {
            add_sale(&mut self.sales, sale);
        }
    }
}

/// DynamoDB's ValidationExceptions for a transaction: too many items, one item twice.
fn check_transaction(statuses: &[(String, i64)], sales: &[Sale]) -> Result<(), AnalyticsError> {
    if 1 + statuses.len() + sales.len() > MAX_TRANSACTION_ITEMS {
        return Err(AnalyticsError::Unavailable("ValidationException: more than 100 items in one transaction".into()));
    }
    let keys: HashSet<(&str, &str, &str)> =
        sales.iter().map(|s| (s.minute.as_str(), s.sku.as_str(), s.currency.as_str())).collect();
    let statuses_unique = statuses.iter().map(|(s, _)| s).collect::<HashSet<_>>().len() == statuses.len();
    if keys.len() != sales.len() || !statuses_unique {
        return Err(AnalyticsError::Unavailable(
            "ValidationException: a transaction cannot write one item twice".into(),
        ));
    }
    Ok(())
}

impl InMemoryAnalytics {
    /// Every sales counter, of every minute (tests inspect them).
    pub fn all_sales(&self) -> Vec<Sale> {
        self.state.lock().expect("analytics lock").sales.values().cloned().collect()
    }

    /// How many transactions wrote counts so far (tests check what was written together).
    pub fn transactions(&self) -> usize {
        self.state.lock().expect("analytics lock").transactions
    }
}

impl AnalyticsStore for InMemoryAnalytics {
    async fn record(&self, event_id: EventId, tally: &Tally) -> Result<bool, AnalyticsError> {
        let mut state = self.state.lock().expect("analytics lock");
        let mut applied = false;
        for (index, (statuses, sales)) in chunks(tally).into_iter().enumerate() {
            check_transaction(&statuses, &sales)?;
            if !state.mark(applied_marker(event_id, index)) {
                continue;
            }
            applied = true;
            state.transactions += 1;
            state.add(statuses, sales);
        }
        Ok(applied)
    }

    async fn record_together(&self, tallies: &[(EventId, Tally)]) -> Result<bool, AnalyticsError> {
        let Some(writes) = combined(tallies) else { return Ok(false) };
        let mut state = self.state.lock().expect("analytics lock");
        if writes.markers.iter().any(|marker| state.holds(marker)) {
            return Ok(false);
        }
        for marker in writes.markers {
            state.mark(marker);
        }
        state.transactions += 1;
        state.add(writes.statuses, writes.sales);
        Ok(true)
    }

    async fn sales(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Sale>, AnalyticsError> {
        if (to - from).num_days() > MAX_SALES_DAYS {
            return Err(AnalyticsError::RangeTooLong);
        }
        let (from, to) = (minute_of(from), minute_of(to));
        let state = self.state.lock().expect("analytics lock");
        Ok(state.sales.values().filter(|s| s.minute >= from && s.minute <= to).cloned().collect())
    }

    async fn status_counts(&self) -> Result<BTreeMap<String, i64>, AnalyticsError> {
        Ok(self.state.lock().expect("analytics lock").statuses.clone())
    }
}
