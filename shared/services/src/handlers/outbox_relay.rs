//! `outbox-relay`: the event store's stream → the EventBridge bus.
//!
//! The store is the outbox: an event is published only after it was stored, by this
//! function alone. Records go out in order, in PutEvents calls of up to 10. Entries the
//! bus refuses for now (throttling, an internal failure) are retried, and if they still
//! fail the batch is checkpointed at the first unpublished record: the stream mapping
//! retries it (without limit, per the template) so nothing is skipped. Entries the bus
//! refuses for good (a validation error; a request it refuses whole is split to find
//! them), records that are not events, and events whose payload breaks the committed
//! schema of their type and version are parked with the whole stream record and the
//! reason, so `orderflow dlq redrive` can hand them back once the cause is fixed.
//! Each batch reports how long its oldest record waited (admission control reads it: a
//! relay that falls behind holds up every order, though no queue shows it).

use super::{envelope_of, is_insert};
use aws_lambda_events::event::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use domain::inventory::SNAPSHOT_EVENT;
use std::time::Duration;
use toolkit::admission::{Unreported, WaitReport, report_wait};
use toolkit::batch::{oldest_record_age, park_poison, stream_checkpoint, to_json};
use toolkit::bus::{EventBus, MAX_EVENTS_PER_PUBLISH};
use toolkit::deadletter::DeadLetters;
use toolkit::envelope::EventEnvelope;
use toolkit::faults;

pub const CONSUMER: &str = "outbox-relay";
const PUBLISH_ATTEMPTS: u32 = 3;

pub struct OutboxRelay<B, D, W = Unreported> {
    bus: B,
    dead_letters: D,
    waits: W,
    retry_delay: Duration,
}

/// A stored event waiting to be published, with its stream record (parked whole if the
/// bus refuses it for good).
struct Pending {
    sequence_number: String,
    envelope: EventEnvelope,
    record: std::sync::Arc<EventRecord>,
}

/// Only events that match the committed schema of their type and version leave the store.
fn conforming(envelope: EventEnvelope) -> Result<EventEnvelope, toolkit::batch::RecordError> {
    domain::schemas::validate(&envelope.event_type, envelope.schema_version, &envelope.payload).map_err(|e| {
        toolkit::batch::RecordError::Poison(format!("{} v{}: {e}", envelope.event_type, envelope.schema_version))
    })?;
    Ok(envelope)
}

impl<B, D> OutboxRelay<B, D> {
    pub fn new(bus: B, dead_letters: D) -> Self {
        Self { bus, dead_letters, waits: Unreported, retry_delay: Duration::from_millis(100) }
    }
}

impl<B, D, W> OutboxRelay<B, D, W> {
    /// The ports it was built with (tests inspect the fakes).
    pub fn ports(&self) -> (&B, &D, &W) {
        (&self.bus, &self.dead_letters, &self.waits)
    }

    /// Shortens the pause between publish attempts (tests).
    pub fn with_retry_delay(self, retry_delay: Duration) -> Self {
        Self { retry_delay, ..self }
    }

    /// Reports each batch's wait to `waits`.
    pub fn with_wait_report<R: WaitReport>(self, waits: R) -> OutboxRelay<B, D, R> {
        let Self { bus, dead_letters, retry_delay, .. } = self;
        OutboxRelay { bus, dead_letters, waits, retry_delay }
    }
}

impl<B: EventBus, D: DeadLetters, W: WaitReport> OutboxRelay<B, D, W> {
    /// Reports the batch's wait, publishes it, then reports its figures (EMF).
    pub async fn handle(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let started = std::time::Instant::now();
        let sequence: Vec<String> =
            event.records.iter().map(|r| r.change.sequence_number.clone().unwrap_or_default()).collect();
        let oldest = oldest_record_age(&event.records);
        report_wait(&self.waits, CONSUMER, oldest).await;
        let response = self.publish_batch(event).await;
        // Records before the checkpoint are done; the checkpoint and after come back.
        let done = response
            .batch_item_failures
            .first()
            .and_then(|f| f.item_identifier.as_ref())
            .and_then(|at| sequence.iter().position(|s| s == at))
            .unwrap_or(sequence.len());
        let figures = toolkit::metrics::BatchFigures {
            processed: u32::try_from(done).unwrap_or(u32::MAX),
            retried: u32::try_from(sequence.len() - done).unwrap_or(u32::MAX),
            parked: 0,
            duration_ms: started.elapsed().as_secs_f64() * 1_000.0,
            oldest_age_ms: oldest.map(|age| age.as_secs_f64() * 1_000.0),
        };
        figures.emit(CONSUMER);
        response
    }

    async fn publish_batch(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let mut pending: Vec<Pending> = Vec::new();
        for record in event.records.into_iter().filter(is_insert) {
            let sequence_number = record.change.sequence_number.clone().unwrap_or_default();
            match envelope_of(&record).and_then(conforming) {
                // A shelf's snapshot is the store's own shortcut, not a fact anyone reacts to.
                Ok(envelope) if envelope.event_type == SNAPSHOT_EVENT => {}
                Ok(envelope) => {
                    let record = std::sync::Arc::new(record);
                    if faults::duplicates(envelope.correlation_id.as_str()) {
                        let (sequence_number, envelope, record) =
                            (sequence_number.clone(), envelope.clone(), record.clone());
                        pending.push(Pending { sequence_number, envelope, record });
                    }
                    pending.push(Pending { sequence_number, envelope, record });
                }
                Err(poison) => {
                    // Publish what came before, then park: stream order is kept.
                    if let Some(checkpoint) = self.publish_all(std::mem::take(&mut pending)).await {
                        return stream_checkpoint(checkpoint);
                    }
                    if !park_poison(CONSUMER, &self.dead_letters, to_json(&record), poison.reason().to_string()).await {
                        return stream_checkpoint(sequence_number);
                    }
                }
            }
        }
        match self.publish_all(pending).await {
            Some(checkpoint) => stream_checkpoint(checkpoint),
            None => DynamoDbEventResponse::default(),
        }
    }

    /// Publishes in order; returns the sequence number to resume from when a chunk failed.
    async fn publish_all(&self, pending: Vec<Pending>) -> Option<String> {
        for chunk in pending.chunks(MAX_EVENTS_PER_PUBLISH) {
            if let Some(index) = self.publish_chunk(chunk).await {
                return Some(chunk[index].sequence_number.clone());
            }
        }
        None
    }

    /// Publishes one chunk, retrying what the bus refuses for now and parking what it
    /// refuses for good; returns the index of the first entry still unpublished.
    async fn publish_chunk(&self, chunk: &[Pending]) -> Option<usize> {
        let mut unpublished: Vec<usize> = (0..chunk.len()).collect();
        for attempt in 1..=PUBLISH_ATTEMPTS {
            unpublished = self.try_publish(chunk, unpublished, attempt).await;
            if unpublished.is_empty() {
                return None;
            }
            if attempt < PUBLISH_ATTEMPTS && !self.retry_delay.is_zero() {
                tokio::time::sleep(self.retry_delay * attempt).await;
            }
        }
        unpublished.into_iter().min()
    }

    /// One PutEvents call for the entries at `indices`; returns those still to publish. A
    /// call refused whole is split into one call per entry to find the one at fault.
    async fn try_publish(&self, chunk: &[Pending], indices: Vec<usize>, attempt: u32) -> Vec<usize> {
        let events: Vec<EventEnvelope> = indices.iter().map(|&i| chunk[i].envelope.clone()).collect();
        let rejected = match self.bus.publish(&events).await {
            Ok(rejected) => rejected,
            Err(error) if error.permanent && indices.len() > 1 => {
                tracing::warn!(attempt, %error, "the bus refused the whole call; publishing one event at a time");
                let mut left = Vec::new();
                for index in indices {
                    left.extend(Box::pin(self.try_publish(chunk, vec![index], attempt)).await);
                }
                return left;
            }
            Err(error) if error.permanent => {
                let reason = error.to_string();
                return self.park_refused(&chunk[indices[0]], reason).await.then_some(vec![]).unwrap_or(indices);
            }
            Err(error) => {
                tracing::warn!(attempt, %error, "publishing failed");
                return indices;
            }
        };
        let mut left = Vec::new();
        for entry in &rejected {
            let pending = &chunk[indices[entry.index]];
            tracing::warn!(attempt, event_id = %pending.envelope.event_id, reason = %entry.reason, retryable = entry.retryable, "bus refused an event");
            if entry.retryable || !self.park_refused(pending, format!("the bus refused it: {}", entry.reason)).await {
                left.push(indices[entry.index]);
            }
        }
        for (position, &index) in indices.iter().enumerate() {
            if !rejected.iter().any(|entry| entry.index == position) {
                let _span = toolkit::observability::event_span(&chunk[index].envelope).entered();
                tracing::info!("published to the bus");
            }
        }
        left.sort_unstable();
        left
    }

    /// Parks an event the bus will never take, with its whole stream record.
    async fn park_refused(&self, pending: &Pending, reason: String) -> bool {
        park_poison(CONSUMER, &self.dead_letters, to_json(pending.record.as_ref()), reason).await
    }
}
