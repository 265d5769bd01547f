//! The event store port: append-only streams with optimistic concurrency.

mod decide;
#[cfg(feature = "dynamodb")]
mod dynamo;
mod memory;
pub mod time_index;

pub use decide::{DecideError, Decision, decide_and_append, load_stream};
#[cfg(feature = "dynamodb")]
pub use dynamo::DynamoEventStore;
pub use memory::InMemoryEventStore;

use crate::envelope::{EventEnvelope, NewEvent, StreamId};
use crate::error::Outage;
use std::future::Future;
use thiserror::Error;

/// Why an append or a load failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Someone appended to the stream since it was read: reload, decide again, retry.
    #[error("stream {stream_id} is no longer at version {expected_version}: another writer appended first")]
    Conflict {
        /// The stream.
        stream_id: StreamId,
        /// The version the writer expected the stream to be at.
        expected_version: u64,
    },
    /// A stored item does not decode as an envelope. It will not get better: do not retry.
    #[error("stored event in {stream_id} cannot be read: {reason}")]
    Corrupt {
        /// The stream.
        stream_id: StreamId,
        /// The decoder's message.
        reason: String,
    },
    /// The store refused the write itself (over 100 events in one append, an event it
    /// cannot encode, an item over DynamoDB's 400 KB): the same write will never pass, so
    /// do not retry it.
    #[error("event store refused the write: {0}")]
    Rejected(#[source] Outage),
    /// [`EventStore::append_once`] found its key recorded: an earlier write with it was
    /// applied, and this one appended nothing.
    #[error("a write with key {once_key} was already applied")]
    AlreadyApplied {
        /// The key.
        once_key: String,
    },
    /// An event of the append is over [`crate::limits::EVENT_BUDGET_BYTES`]: some hop it
    /// travels through would refuse it, so nothing was stored. Never worth a retry.
    #[error("event store refused the write: {0}")]
    TooLarge(#[from] crate::limits::OverBudget),
    /// The store did not answer as asked (an outage, throttling, a transaction that lost a
    /// race on another item): worth a retry later.
    #[error("event store unavailable: {0}")]
    Unavailable(#[source] Outage),
}

/// The event store port: append-only streams, each append expecting the stream's version.
/// The DynamoDB adapter (feature `dynamodb`) and [`InMemoryEventStore`] implement it.
pub trait EventStore: Send + Sync {
    /// Appends `events` after `expected_version` (0 for a new stream) atomically and
    /// returns them as stored. Fails with [`StoreError::Conflict`] when the stream has moved on.
    fn append(
        &self,
        stream_id: &StreamId,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<Vec<EventEnvelope>, StoreError>> + Send;

    /// Appends like [`EventStore::append`], at most once per `once_key`: the key is recorded
    /// in the same atomic write, and when it was recorded before nothing is appended and the
    /// answer is [`StoreError::AlreadyApplied`]. A write whose answer was lost, retried by
    /// the SDK or by the caller, cannot append twice.
    fn append_once(
        &self,
        stream_id: &StreamId,
        expected_version: u64,
        events: Vec<NewEvent>,
        once_key: &str,
    ) -> impl Future<Output = Result<Vec<EventEnvelope>, StoreError>> + Send;

    /// Events of the stream after `after_version`, oldest first.
    fn load(
        &self,
        stream_id: &StreamId,
        after_version: u64,
    ) -> impl Future<Output = Result<Vec<EventEnvelope>, StoreError>> + Send;

    /// The stream's last `count` events, oldest first (all of them when it holds fewer):
    /// what a reader starting from a recent snapshot needs.
    fn load_last(
        &self,
        stream_id: &StreamId,
        count: usize,
    ) -> impl Future<Output = Result<Vec<EventEnvelope>, StoreError>> + Send {
        async move {
            let mut events = self.load(stream_id, 0).await?;
            let skip = events.len().saturating_sub(count);
            events.drain(..skip);
            Ok(events)
        }
    }
}

/// A shared store (one client for the saga and the step that also writes SKU streams).
impl<T: EventStore> EventStore for std::sync::Arc<T> {
    fn append(
        &self,
        stream_id: &StreamId,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> impl Future<Output = Result<Vec<EventEnvelope>, StoreError>> + Send {
        (**self).append(stream_id, expected_version, events)
    }

    fn append_once(
        &self,
        stream_id: &StreamId,
        expected_version: u64,
        events: Vec<NewEvent>,
        once_key: &str,
    ) -> impl Future<Output = Result<Vec<EventEnvelope>, StoreError>> + Send {
        (**self).append_once(stream_id, expected_version, events, once_key)
    }

    fn load(
        &self,
        stream_id: &StreamId,
        after_version: u64,
    ) -> impl Future<Output = Result<Vec<EventEnvelope>, StoreError>> + Send {
        (**self).load(stream_id, after_version)
    }

    fn load_last(
        &self,
        stream_id: &StreamId,
        count: usize,
    ) -> impl Future<Output = Result<Vec<EventEnvelope>, StoreError>> + Send {
        (**self).load_last(stream_id, count)
    }
}

/// What every adapter checks before it writes: at most [`crate::limits::TRANSACTION_ITEMS`]
/// events, each within [`crate::limits::EVENT_BUDGET_BYTES`]. On a refusal nothing is stored.
pub fn check_append(events: &[EventEnvelope]) -> Result<(), StoreError> {
    use crate::limits::{OverBudget, TRANSACTION_ITEMS, json_len};
    if events.len() > TRANSACTION_ITEMS {
        return Err(StoreError::Rejected(Outage::from(format!(
            "{} events in one append; at most {TRANSACTION_ITEMS} can be appended atomically",
            events.len()
        ))));
    }
    for event in events {
        let bytes = json_len(event);
        if bytes > crate::limits::EVENT_BUDGET_BYTES {
            return Err(OverBudget { event_type: event.event_type.clone(), bytes }.into());
        }
    }
    Ok(())
}

/// Versions the store gives to `events` appended after `expected_version`.
fn envelopes(stream_id: &StreamId, expected_version: u64, events: Vec<NewEvent>) -> Vec<EventEnvelope> {
    events
        .into_iter()
        .zip(expected_version + 1..)
        .map(|(event, version)| event.into_envelope(stream_id.clone(), version))
        .collect()
}
