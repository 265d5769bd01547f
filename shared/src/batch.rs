//! Partial batch failures for SQS and DynamoDB Streams, in one place.
//!
//! A handler returns, per record, `Ok`, [`RecordError::Retryable`] (try again later) or
//! [`RecordError::Poison`] (will never succeed). Poison records are parked in a
//! dead-letter queue with their reason and count as done, so they neither block a
//! stream's shard nor cause a retry storm.

use crate::deadletter::{DeadLetter, DeadLetters};
use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::Serialize;
use std::future::Future;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("retryable: {0}")]
    Retryable(String),
    #[error("poison: {0}")]
    Poison(String),
}

impl RecordError {
    /// The reason alone, without the retryable/poison prefix.
    pub fn reason(&self) -> &str {
        match self {
            RecordError::Retryable(reason) | RecordError::Poison(reason) => reason,
        }
    }
}

/// Handles each SQS message; failed ones are reported by message id so only they return
/// to the queue (and reach its DLQ after `maxReceiveCount`).
pub async fn process_sqs_batch<D, F, Fut>(
    consumer: &str,
    dead_letters: &D,
    event: SqsEvent,
    handle: F,
) -> SqsBatchResponse
where
    D: DeadLetters,
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), RecordError>>,
{
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let message_id = message.message_id.clone().unwrap_or_default();
        let snapshot = to_json(&message);
        let outcome = handle(message).await;
        if !settle(consumer, dead_letters, snapshot, outcome).await {
            response.add_failure(message_id);
        }
    }
    response
}

/// Handles stream records in order and stops at the first retryable failure: its
/// sequence number is the checkpoint Lambda resumes from, so order is kept.
pub async fn process_stream_batch<D, F, Fut>(
    consumer: &str,
    dead_letters: &D,
    event: StreamEvent,
    handle: F,
) -> DynamoDbEventResponse
where
    D: DeadLetters,
    F: Fn(EventRecord) -> Fut,
    Fut: Future<Output = Result<(), RecordError>>,
{
    for record in event.records {
        let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
        let snapshot = to_json(&record);
        let outcome = handle(record).await;
        if !settle(consumer, dead_letters, snapshot, outcome).await {
            return stream_checkpoint(sequence_number);
        }
    }
    DynamoDbEventResponse::default()
}

/// A stream response that makes Lambda resume from `sequence_number`.
pub fn stream_checkpoint(sequence_number: String) -> DynamoDbEventResponse {
    let mut failure = DynamoDbBatchItemFailure::default();
    failure.item_identifier = Some(sequence_number);
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures.push(failure);
    response
}

/// Returns whether the record is done with (processed, or parked as poison).
async fn settle<D: DeadLetters>(
    consumer: &str,
    dead_letters: &D,
    record: serde_json::Value,
    outcome: Result<(), RecordError>,
) -> bool {
    match outcome {
        Ok(()) => true,
        Err(RecordError::Retryable(reason)) => {
            tracing::warn!(%reason, "record failed, it will be retried");
            false
        }
        Err(RecordError::Poison(reason)) => park_poison(consumer, dead_letters, record, reason).await,
    }
}

/// Parks a poison record with its reason; returns false when even that failed.
pub async fn park_poison<D: DeadLetters>(
    consumer: &str,
    dead_letters: &D,
    record: serde_json::Value,
    reason: String,
) -> bool {
    tracing::error!(%reason, "poison record, parking it in the dead-letter queue");
    let letter = DeadLetter { consumer: consumer.to_string(), reason, record };
    match dead_letters.park(letter).await {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, "could not park the poison record, it will be retried");
            false
        }
    }
}

pub fn to_json(record: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(record).unwrap_or_else(|e| serde_json::json!({ "unserializable": e.to_string() }))
}
