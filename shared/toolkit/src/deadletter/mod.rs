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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// The consumer that gave up, e.g. `outbox-relay`.
    pub consumer: String,
    pub reason: String,
    /// The record exactly as received.
    pub record: serde_json::Value,
}

#[derive(Debug, Error)]
#[error("dead-letter queue unavailable: {0}")]
pub struct DeadLetterError(#[source] pub Outage);

pub trait DeadLetters: Send + Sync {
    fn park(&self, letter: DeadLetter) -> impl Future<Output = Result<(), DeadLetterError>> + Send;
}
