use super::{EventStore, StoreError, check_append, envelopes};
use crate::envelope::{EventEnvelope, NewEvent, StreamId};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The event store in memory, with the same conflict rules and limits as DynamoDB (see
/// [`check_append`]): for tests.
#[derive(Default)]
pub struct InMemoryEventStore {
    streams: Mutex<BTreeMap<StreamId, Vec<EventEnvelope>>>,
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

impl EventStore for InMemoryEventStore {
    async fn append(
        &self,
        stream_id: &StreamId,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Vec<EventEnvelope>, StoreError> {
        let mut streams = self.streams.lock().expect("store lock");
        let stream = streams.entry(stream_id.clone()).or_default();
        if stream.len() as u64 != expected_version {
            return Err(StoreError::Conflict { stream_id: stream_id.clone(), expected_version });
        }
        let stored = envelopes(stream_id, expected_version, events);
        check_append(&stored)?;
        stream.extend(stored.iter().cloned());
        Ok(stored)
    }

    async fn load(&self, stream_id: &StreamId, after_version: u64) -> Result<Vec<EventEnvelope>, StoreError> {
        let streams = self.streams.lock().expect("store lock");
        let stream = streams.get(stream_id).map(Vec::as_slice).unwrap_or_default();
        Ok(stream.iter().filter(|e| e.version > after_version).cloned().collect())
    }
}
