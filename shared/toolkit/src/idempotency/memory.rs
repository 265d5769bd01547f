use super::{Claim, IdempotencyError, IdempotencyRecord, IdempotencyStore};
use std::collections::HashMap;
use std::sync::Mutex;

/// Keeps records in memory; for tests and tools.
#[derive(Default)]
pub struct InMemoryIdempotencyStore {
    records: Mutex<HashMap<String, IdempotencyRecord>>,
}

impl InMemoryIdempotencyStore {
    /// The record held under `key`, if any.
    pub fn record(&self, key: &str) -> Option<IdempotencyRecord> {
        self.records.lock().expect("records lock").get(key).cloned()
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
            Some(IdempotencyRecord::InProgress { until_ms: held_until, .. }) if *held_until < now_ms => {}
            Some(held) => return Ok(Claim::Held(held.clone())),
            None => {}
        }
        let claim = IdempotencyRecord::InProgress { payload_hash: payload_hash.to_string(), until_ms };
        records.insert(key.to_string(), claim);
        Ok(Claim::Claimed)
    }

    async fn complete(
        &self,
        key: &str,
        payload_hash: &str,
        result: &serde_json::Value,
    ) -> Result<(), IdempotencyError> {
        let completed = IdempotencyRecord::Completed { payload_hash: payload_hash.to_string(), result: result.clone() };
        self.records.lock().expect("records lock").insert(key.to_string(), completed);
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), IdempotencyError> {
        let mut records = self.records.lock().expect("records lock");
        if matches!(records.get(key), Some(IdempotencyRecord::InProgress { .. })) {
            records.remove(key);
        }
        Ok(())
    }
}
