use super::{EventStore, StoreError, check_append, envelopes};
use crate::envelope::{EventEnvelope, NewEvent, StreamId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// The event store in memory, with the same conflict rules and limits as DynamoDB (see
/// [`check_append`]): for tests.
#[derive(Default)]
pub struct InMemoryEventStore {
    streams: Mutex<BTreeMap<StreamId, Vec<EventEnvelope>>>,
    /// The keys of [`EventStore::append_once`] writes applied (guarded by the streams' lock).
    once_keys: Mutex<BTreeSet<String>>,
}

impl InMemoryEventStore {
    /// A store already holding `events` (each stream's events in version order).
    pub fn with_events(events: impl IntoIterator<Item = EventEnvelope>) -> Self {
        let store = Self::default();
        {
            let mut streams = store.streams.lock().expect("store lock");
            for event in events {
                streams.entry(event.stream_id.clone()).or_default().push(event);
            }
        }
        store
    }

    /// Every stored event: stream after stream (by stream id), each in version order.
    pub fn all_events(&self) -> Vec<EventEnvelope> {
        let streams = self.streams.lock().expect("store lock");
        streams.values().flatten().cloned().collect()
    }
}

impl InMemoryEventStore {
    /// An append with the streams already locked (and a key to record once, if any).
    fn append_locked(
        &self,
        stream_id: &StreamId,
        expected_version: u64,
        events: Vec<NewEvent>,
        once_key: Option<&str>,
    ) -> Result<Vec<EventEnvelope>, StoreError> {
        let mut streams = self.streams.lock().expect("store lock");
        let mut once_keys = self.once_keys.lock().expect("store lock");
        if let Some(key) = once_key.filter(|key| once_keys.contains(*key)) {
            return Err(StoreError::AlreadyApplied { once_key: key.to_string() });
        }
        let stream = streams.entry(stream_id.clone()).or_default();
        if stream.len() as u64 != expected_version {
            return Err(StoreError::Conflict { stream_id: stream_id.clone(), expected_version });
        }
        let stored = envelopes(stream_id, expected_version, events);
        check_append(&stored)?;
        if once_key.is_some() && stored.len() >= crate::limits::TRANSACTION_ITEMS {
            let refusal =
                format!("{} events and a key in one append; at most 99 events fit beside the key", stored.len());
            return Err(StoreError::Rejected(crate::error::Outage::from(refusal)));
        }
        stream.extend(stored.iter().cloned());
        once_keys.extend(once_key.map(str::to_string));
        Ok(stored)
    }
}

impl EventStore for InMemoryEventStore {
    async fn append(
        &self,
        stream_id: &StreamId,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Vec<EventEnvelope>, StoreError> {
        self.append_locked(stream_id, expected_version, events, None)
    }

    async fn append_once(
        &self,
        stream_id: &StreamId,
        expected_version: u64,
        events: Vec<NewEvent>,
        once_key: &str,
    ) -> Result<Vec<EventEnvelope>, StoreError> {
        self.append_locked(stream_id, expected_version, events, Some(once_key))
    }

    async fn load(&self, stream_id: &StreamId, after_version: u64) -> Result<Vec<EventEnvelope>, StoreError> {
        let streams = self.streams.lock().expect("store lock");
        let stream = streams.get(stream_id).map(Vec::as_slice).unwrap_or_default();
        Ok(stream.iter().filter(|e| e.version > after_version).cloned().collect())
    }
}
