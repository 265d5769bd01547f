use super::{Claim, IdempotencyError, IdempotencyRecord, IdempotencyStore};
use std::collections::HashMap;
use std::sync::Mutex;

/// A record, with when it completed (`None` while in progress).
type Held = (IdempotencyRecord, Option<chrono::DateTime<chrono::Utc>>);

/// Keeps records in memory; for tests and tools. Completed records expire after their
/// retention as the clock ([`crate::clock`]) moves, as DynamoDB's TTL deletes them.
pub struct InMemoryIdempotencyStore {
    records: Mutex<HashMap<String, Held>>,
    retention: chrono::Duration,
}

impl Default for InMemoryIdempotencyStore {
    /// Completed records kept 24 hours, as [`super::DynamoIdempotencyStore::new`] keeps them.
    fn default() -> Self {
        Self { records: Mutex::default(), retention: chrono::Duration::hours(24) }
    }
}

impl InMemoryIdempotencyStore {
    /// Keeps completed records for `retention` instead.
    pub fn with_retention(retention: chrono::Duration) -> Self {
        Self { retention, ..Self::default() }
    }

    /// The record held under `key`, if any (and not expired).
    pub fn record(&self, key: &str) -> Option<IdempotencyRecord> {
        let records = self.records.lock().expect("records lock");
        records.get(key).filter(|held| !self.expired(held)).map(|(record, _)| record.clone())
    }

    fn expired(&self, (_, completed_at): &Held) -> bool {
        completed_at.is_some_and(|at| at + self.retention <= crate::clock::now())
    }
}

impl IdempotencyStore for InMemoryIdempotencyStore {
    async fn claim(
        &self,
        key: &str,
        payload_hash: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> Result<Claim, IdempotencyError> {
        let mut records = self.records.lock().expect("records lock");
        match records.get(key) {
            Some(held) if self.expired(held) => {}
            Some((IdempotencyRecord::InProgress { until_ms: held_until, .. }, _)) if *held_until < now_ms => {}
            Some((held, _)) => return Ok(Claim::Held(held.clone())),
            None => {}
        }
        let claim = IdempotencyRecord::InProgress { payload_hash: payload_hash.to_string(), until_ms };
        records.insert(key.to_string(), (claim, None));
        Ok(Claim::Claimed)
    }

    async fn complete(
        &self,
        key: &str,
        payload_hash: &str,
        result: &serde_json::Value,
    ) -> Result<(), IdempotencyError> {
        let completed = IdempotencyRecord::Completed { payload_hash: payload_hash.to_string(), result: result.clone() };
        let now = crate::clock::now();
        self.records.lock().expect("records lock").insert(key.to_string(), (completed, Some(now)));
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), IdempotencyError> {
        let mut records = self.records.lock().expect("records lock");
        if matches!(records.get(key), Some((IdempotencyRecord::InProgress { .. }, _))) {
            records.remove(key);
        }
        Ok(())
    }
}
