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
    /// The record exactly as received.
    pub record: serde_json::Value,
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
