//! Partial batch failures for SQS and DynamoDB Streams, in one place.
//!
//! A handler returns, per record, `Ok`, [`RecordError::Retryable`] (try again later) or
//! [`RecordError::Poison`] (will never succeed). Poison records are parked in a
//! dead-letter queue with their reason and count as done, so they neither block a
//! stream's shard nor cause a retry storm.

use crate::deadletter::{DeadLetter, DeadLetters};
use crate::faults::{self, Fault};
use crate::metrics::BatchFigures;
use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde::Serialize;
use std::future::Future;
use thiserror::Error;

/// Why a record failed, which decides what happens to it: another try, or the dead-letter
/// queue.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    /// The record may succeed later (an outage, a conflict): it goes back to its queue or
    /// stream. On an SQS queue's last receive (see [`crate::config::max_receive_count`]) it is
    /// parked with its reason instead.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The record will never succeed (a malformed body, a corrupt event): it is parked in the
    /// dead-letter queue with its reason and counts as done.
    #[error("poison: {0}")]
    Poison(String),
}

impl RecordError {
    /// A record that will never succeed, because of `error` (its chain of sources kept
    /// in the reason).
    pub fn poison(error: impl std::error::Error) -> Self {
        Self::Poison(crate::error::error_text(&error))
    }

    /// A record worth another try later, because of `error`.
    pub fn retryable(error: impl std::error::Error) -> Self {
        Self::Retryable(crate::error::error_text(&error))
    }

    /// The reason alone, without the retryable/poison prefix.
    pub fn reason(&self) -> &str {
        match self {
            RecordError::Retryable(reason) | RecordError::Poison(reason) => reason,
        }
    }
}

/// A stream that cannot be read or kept changing is worth a retry; a corrupt event is not.
impl From<crate::store::DecideError<RecordError>> for RecordError {
    fn from(error: crate::store::DecideError<RecordError>) -> Self {
        use crate::store::DecideError;
        match error {
            DecideError::Decide(error) => error,
            DecideError::Store(error) => RecordError::from(error),
            kept_changing @ DecideError::KeptChanging { .. } => RecordError::retryable(kept_changing),
        }
    }
}

/// A corrupt stored event never gets better; anything else the store says may.
impl From<crate::store::StoreError> for RecordError {
    fn from(error: crate::store::StoreError) -> Self {
        match error {
            never @ (crate::store::StoreError::Corrupt { .. }
            | crate::store::StoreError::Rejected(_)
            | crate::store::StoreError::TooLarge(_)) => RecordError::poison(never),
            other => RecordError::retryable(other),
        }
    }
}

/// A refused or failed idempotent effect as a batch record's outcome: a claim in progress
/// or an unreachable store is worth a retry, a key reused with another payload is not.
impl From<crate::idempotency::Idempotent<RecordError>> for RecordError {
    fn from(error: crate::idempotency::Idempotent<RecordError>) -> Self {
        use crate::idempotency::{IdempotencyError, Idempotent};
        match error {
            Idempotent::Failed(error) => error,
            Idempotent::Refused(refused @ (IdempotencyError::InProgress { .. } | IdempotencyError::Store(_))) => {
                RecordError::retryable(refused)
            }
            Idempotent::Refused(refused) => RecordError::poison(refused),
        }
    }
}

/// Handles each SQS message; failed ones are reported by message id so only they return
/// to the queue (and reach its DLQ after `maxReceiveCount`). On a FIFO queue, the messages
/// after a failure in the same message group are returned unprocessed, keeping the order.
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
    crate::metrics::batch_started(consumer, event.records.len());
    let mut response = SqsBatchResponse::default();
    let started = std::time::Instant::now();
    let mut figures = BatchFigures { oldest_age_ms: oldest_sqs_age_ms(&event.records), ..Default::default() };
    // FIFO: once a message of a group fails, the later ones of that group must not run
    // ahead of it; they go back to the queue with it, in order.
    let mut blocked_groups: Vec<String> = Vec::new();
    for message in event.records {
        let message_id = message.message_id.clone().unwrap_or_default();
        let group = message.attributes.get("MessageGroupId").cloned();
        if group.as_ref().is_some_and(|g| blocked_groups.contains(g)) {
            response.add_failure(message_id);
            figures.retried += 1;
            continue;
        }
        // Kept for the dead-letter queue; turned into JSON only if it goes there.
        let snapshot = message.clone();
        let receives = receive_count(&message);
        let attempt = async {
            match injected_fault(consumer, &message, receives) {
                Some(outcome) => outcome,
                None => handle(message).await,
            }
        };
        let outcome = give_up_after_last_receive(unless_it_panics(attempt).await, receives);
        let kind = kind_of(&outcome);
        if settle(consumer, dead_letters, &snapshot, outcome).await {
            count(&mut figures, kind);
        } else {
            response.add_failure(message_id);
            blocked_groups.extend(group);
            figures.retried += 1;
        }
    }
    figures.duration_ms = started.elapsed().as_secs_f64() * 1_000.0;
    figures.emit(consumer);
    response
}

/// The record's outcome, a panic while handling it included: a retryable failure of that
/// record alone, so its batch-mates are settled instead of all coming back after the
/// visibility timeout (as they would if the panic ended the invocation).
async fn unless_it_panics(attempt: impl Future<Output = Result<(), RecordError>>) -> Result<(), RecordError> {
    use futures_util::FutureExt;
    let _guard = crate::metrics::RecordGuard::enter();
    // Boxed: the caller's future nested in this one would push main's future past rustc's
    // default query depth ("queries overflow the depth limit") in a plain `main`.
    std::panic::AssertUnwindSafe(Box::pin(attempt)).catch_unwind().await.unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        tracing::error!(panic = %text, "handling the record panicked; it will be retried");
        Err(RecordError::Retryable(format!("panicked: {text}")))
    })
}

#[derive(Clone, Copy)]
enum Kind {
    Done,
    Retry,
    Park,
}

fn kind_of(outcome: &Result<(), RecordError>) -> Kind {
    match outcome {
        Ok(()) => Kind::Done,
        Err(RecordError::Retryable(_)) => Kind::Retry,
        Err(RecordError::Poison(_)) => Kind::Park,
    }
}

/// Counts a settled record (a retryable one is never settled).
fn count(figures: &mut BatchFigures, kind: Kind) {
    match kind {
        Kind::Done => figures.processed += 1,
        Kind::Park => figures.parked += 1,
        Kind::Retry => figures.retried += 1,
    }
}

fn oldest_sqs_age_ms(messages: &[SqsMessage]) -> Option<f64> {
    oldest_message_age(messages).map(|age| age.as_secs_f64() * 1_000.0)
}

/// How long the oldest of `messages` has waited since it was sent (its `SentTimestamp`);
/// `None` for a batch without one.
pub fn oldest_message_age(messages: &[SqsMessage]) -> Option<std::time::Duration> {
    age_since_sent(messages.iter())
}

/// How long the oldest of `messages` delivered for the first time waited in its queue:
/// the wait the queue's backlog causes. Redelivered messages are left out: a failed or
/// crashed batch comes back after the visibility timeout, whatever the load.
pub fn oldest_first_delivery_age(messages: &[SqsMessage]) -> Option<std::time::Duration> {
    age_since_sent(messages.iter().filter(|m| receive_count(m) == 1))
}

fn age_since_sent<'a>(messages: impl Iterator<Item = &'a SqsMessage>) -> Option<std::time::Duration> {
    let now = crate::clock::now().timestamp_millis();
    let sent = messages.filter_map(|m| m.attributes.get("SentTimestamp")?.parse::<i64>().ok()).min()?;
    Some(std::time::Duration::from_millis(u64::try_from(now - sent).unwrap_or(0)))
}

/// How long the oldest of `records` has waited since it was written to the stream. `None`
/// past the stream's 24 hours, which no record outlives there: a record handed over again
/// (a redrive) or without a time (read as 1970).
pub fn oldest_record_age(records: &[EventRecord]) -> Option<std::time::Duration> {
    let written = records.iter().map(|r| r.change.approximate_creation_date_time).min()?;
    let age = (crate::clock::now() - written).to_std().unwrap_or_default();
    (age <= STREAM_RETENTION).then_some(age)
}

/// How long DynamoDB Streams keeps a record.
const STREAM_RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 3_600);

fn receive_count(message: &SqsMessage) -> u32 {
    message.attributes.get("ApproximateReceiveCount").and_then(|count| count.parse().ok()).unwrap_or(1)
}

/// On its last receive a retryable failure is parked with its reason rather than left for
/// SQS to move to the DLQ without one.
fn give_up_after_last_receive(outcome: Result<(), RecordError>, receives: u32) -> Result<(), RecordError> {
    match (outcome, crate::config::max_receive_count()) {
        (Err(RecordError::Retryable(reason)), Some(max)) if receives >= max => {
            Err(RecordError::Poison(format!("gave up after {receives} attempts: {reason}")))
        }
        (outcome, _) => outcome,
    }
}

/// The outcome a configured fault imposes on this message (see [`crate::faults`]); a
/// panic or a process exit happens on the first delivery only, so the redelivery succeeds.
fn injected_fault(consumer: &str, message: &SqsMessage, receives: u32) -> Option<Result<(), RecordError>> {
    if !faults::enabled() {
        return None; // and no parse of the body: this runs for every message
    }
    let body: serde_json::Value = serde_json::from_str(message.body.as_deref()?).ok()?;
    let correlation_id = faults::correlation_id_in(&body)?;
    match faults::for_consumer(consumer, &correlation_id)? {
        Fault::Fail => {
            Some(Err(RecordError::Retryable(format!("injected failure for correlation id {correlation_id}"))))
        }
        Fault::Panic if receives == 1 => panic!("injected panic for correlation id {correlation_id}"),
        Fault::Exit if receives == 1 => {
            tracing::error!(%correlation_id, "injected process exit");
            std::process::exit(70)
        }
        Fault::Panic | Fault::Exit => None,
    }
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
    crate::metrics::batch_started(consumer, event.records.len());
    let started = std::time::Instant::now();
    let oldest = oldest_record_age(&event.records);
    let mut figures =
        BatchFigures { oldest_age_ms: oldest.map(|age| age.as_secs_f64() * 1_000.0), ..Default::default() };
    let mut response = DynamoDbEventResponse::default();
    let total = event.records.len();
    for record in event.records {
        let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
        let snapshot = record.clone();
        let outcome = unless_it_panics(async { handle(record).await }).await;
        let kind = kind_of(&outcome);
        if !settle(consumer, dead_letters, &snapshot, outcome).await {
            figures.retried =
                u32::try_from(total).unwrap_or(u32::MAX).saturating_sub(figures.processed + figures.parked);
            response = stream_checkpoint(sequence_number);
            break;
        }
        count(&mut figures, kind);
    }
    figures.duration_ms = started.elapsed().as_secs_f64() * 1_000.0;
    figures.emit(consumer);
    response
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
    record: &impl Serialize,
    outcome: Result<(), RecordError>,
) -> bool {
    match outcome {
        Ok(()) => true,
        Err(RecordError::Retryable(reason)) => {
            tracing::warn!(%reason, "record failed, it will be retried");
            false
        }
        Err(RecordError::Poison(reason)) => park_poison(consumer, dead_letters, to_json(record), reason).await,
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
    let Some(letter) = DeadLetter::new(consumer, reason, record).to_fit_a_message() else {
        tracing::error!("the poison record is too large to park and names no stored event; it will be retried");
        return false;
    };
    match dead_letters.park(letter).await {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, "could not park the poison record, it will be retried");
            false
        }
    }
}

/// A record as JSON, for its dead letter. A record that cannot be serialized becomes
/// `{"unserializable": "<error>"}`, so it can still be parked.
///
/// ```
/// use orderflow_toolkit::batch::to_json;
/// assert_eq!(to_json(&[1, 2]), serde_json::json!([1, 2]));
/// // JSON keys are strings, so this map has no JSON form; it still becomes a value.
/// let by_pair = std::collections::BTreeMap::from([((1, 2), "x")]);
/// assert!(to_json(&by_pair).get("unserializable").is_some());
/// ```
pub fn to_json(record: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(record).unwrap_or_else(|e| serde_json::json!({ "unserializable": e.to_string() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadletter::InMemoryDeadLetters;
    use std::sync::Mutex;

    fn message(id: &str, group: Option<&str>) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_id = Some(id.to_string());
        if let Some(group) = group {
            message.attributes.insert("MessageGroupId".into(), group.into());
        }
        message
    }

    fn batch(messages: Vec<SqsMessage>) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = messages;
        event
    }

    async fn failures_when_failing(failing: &str, messages: Vec<SqsMessage>) -> (Vec<String>, Vec<String>) {
        let handled = Mutex::new(Vec::new());
        let response = process_sqs_batch("test", &InMemoryDeadLetters::default(), batch(messages), |m| {
            let id = m.message_id.clone().unwrap_or_default();
            handled.lock().unwrap().push(id.clone());
            let fails = id == failing;
            async move { if fails { Err(RecordError::Retryable("down".into())) } else { Ok(()) } }
        })
        .await;
        let failed = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
        (failed, handled.into_inner().unwrap())
    }

    #[tokio::test]
    async fn a_standard_queue_retries_only_the_failed_message() {
        let (failed, handled) =
            failures_when_failing("b", vec![message("a", None), message("b", None), message("c", None)]).await;
        assert_eq!(failed, vec!["b"]);
        assert_eq!(handled, vec!["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_record_that_panics_fails_alone_and_its_batch_mates_are_settled() {
        let handled = Mutex::new(Vec::new());
        let messages = vec![message("a", None), message("b", None), message("c", None)];
        let response = process_sqs_batch("test", &InMemoryDeadLetters::default(), batch(messages), |m| {
            let id = m.message_id.clone().unwrap_or_default();
            handled.lock().unwrap().push(id.clone());
            async move {
                assert_ne!(id, "b", "a bug on record b");
                Ok(())
            }
        })
        .await;
        let failed: Vec<_> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
        assert_eq!(failed, vec!["b"]);
        assert_eq!(handled.into_inner().unwrap(), vec!["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_stream_record_that_panics_is_the_checkpoint_and_those_before_it_are_done() {
        let records: Vec<EventRecord> = ["1", "2", "3"]
            .iter()
            .map(|n| {
                let mut record = EventRecord::default();
                record.change.sequence_number = Some((*n).to_string());
                record
            })
            .collect();
        let mut event = StreamEvent::default();
        event.records = records;
        let handled = Mutex::new(Vec::new());
        let response = process_stream_batch("test", &InMemoryDeadLetters::default(), event, |r| {
            let n = r.change.sequence_number.clone().unwrap_or_default();
            handled.lock().unwrap().push(n.clone());
            async move {
                assert_ne!(n, "2", "a bug on record 2");
                Ok(())
            }
        })
        .await;
        let checkpoint: Vec<_> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
        assert_eq!(checkpoint, vec![Some("2".to_string())], "the stream resumes at the record that panicked");
        assert_eq!(handled.into_inner().unwrap(), vec!["1", "2"], "in order: nothing after it runs ahead");
    }

    #[tokio::test]
    async fn a_fifo_queue_keeps_a_failed_group_in_order() {
        let messages = vec![
            message("a", Some("g1")),
            message("b", Some("g1")),
            message("c", Some("g2")),
            message("d", Some("g1")),
        ];
        let (failed, handled) = failures_when_failing("b", messages).await;
        assert_eq!(failed, vec!["b", "d"], "d waits behind b");
        assert_eq!(handled, vec!["a", "b", "c"], "other groups go on");
    }
}
