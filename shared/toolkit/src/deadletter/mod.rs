//! Where consumers park records they can never process (poison), with the reason, so
//! the rest of the batch and the stream's shard keep moving.
//!
//! DynamoDB Streams consumers need this because an emulator may ignore
//! `BisectBatchOnFunctionError` and on-failure destinations: one failing record would
//! otherwise block its shard.

mod memory;
#[cfg(feature = "sqs")]
mod sqs;

pub use memory::InMemoryDeadLetters;
#[cfg(feature = "sqs")]
pub use sqs::SqsDeadLetters;

use crate::envelope::{EventId, StreamId};
use crate::error::Outage;
use serde::{Deserialize, Serialize};
use std::future::Future;
use thiserror::Error;

/// A record a consumer gave up on, with the reason: the body of a dead-letter message, in
/// camelCase JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The consumer that gave up, e.g. `outbox-relay`.
    pub consumer: String,
    /// Why the record can never be processed, with the error's chain of sources.
    pub reason: String,
    /// The record exactly as received, or `null` when it was too large to send: then
    /// `stored` names the event in the store it carried.
    pub record: serde_json::Value,
    /// The stored event the record carried, when it names one: a redrive of a letter
    /// parked by reference reads the event from the store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored: Option<StoredEvent>,
}

/// Where an event lies in the event store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredEvent {
    /// Its stream.
    pub stream_id: StreamId,
    /// Its version in the stream.
    pub version: u64,
    /// Its id.
    pub event_id: EventId,
}

/// The most a reason may take in a letter parked by reference.
const REASON_BYTES: usize = 2_048;

impl DeadLetter {
    /// A letter for `record`, noting the stored event it carries when it is a DynamoDB
    /// stream record of the event store. (An SQS message too large to park is left to its
    /// queue's redrive policy, which moves the original message whole.)
    pub fn new(consumer: &str, reason: String, record: serde_json::Value) -> Self {
        let stored = stored_event_in(&record);
        Self { consumer: consumer.to_string(), reason, record, stored }
    }

    /// The letter as one SQS message can carry it: whole when it fits
    /// [`crate::limits::MESSAGE_BYTES`]; else by reference (the record left out, the reason
    /// cut short), so a poison record too large to park still leaves its shard. `None`
    /// when it is too large and names no stored event.
    pub fn to_fit_a_message(self) -> Option<Self> {
        let limit = crate::limits::MESSAGE_BYTES - crate::limits::WRAPPERS_BYTES;
        if crate::limits::json_len(&self) <= limit {
            return Some(self);
        }
        self.stored.as_ref()?;
        let mut reason = self.reason;
        if reason.len() > REASON_BYTES {
            let cut = (0..=REASON_BYTES).rev().find(|&i| reason.is_char_boundary(i)).unwrap_or(0);
            reason.truncate(cut);
            reason.push_str(" (cut)");
        }
        let reason = format!("{reason} [record too large to park: parked by reference to the stored event]");
        Some(Self { reason, record: serde_json::Value::Null, ..self })
    }
}

/// The stored event a stream record carries, read from the event store's item layout.
fn stored_event_in(record: &serde_json::Value) -> Option<StoredEvent> {
    let image = record.pointer("/dynamodb/NewImage")?;
    let text = |key: &str| image.pointer(&format!("/{key}/S")).and_then(|v| v.as_str());
    let version = image.pointer("/version/N").and_then(|v| v.as_str()).and_then(|v| v.parse().ok())?;
    Some(StoredEvent {
        stream_id: StreamId::new(text("streamId")?),
        version,
        event_id: EventId(text("eventId")?.parse().ok()?),
    })
}

/// The dead-letter queue did not take the letter: the record must not count as done, so it
/// is retried later.
#[derive(Debug, Error)]
#[error("dead-letter queue unavailable: {0}")]
pub struct DeadLetterError(#[source] pub Outage);

/// The dead-letter port: where poison records are parked. [`InMemoryDeadLetters`] and the
/// SQS adapter (feature `sqs`) implement it.
pub trait DeadLetters: Send + Sync {
    /// Stores `letter`; on an error it was not stored.
    fn park(&self, letter: DeadLetter) -> impl Future<Output = Result<(), DeadLetterError>> + Send;
}
