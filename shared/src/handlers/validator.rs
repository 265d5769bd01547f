//! `order-validator`: `OrderPlaced` (from the bus, through its SQS queue) → the order's
//! decision, appended to its stream.
//!
//! The order is rebuilt from its own events, so a redelivered message finds the order
//! already decided and appends nothing.

use crate::batch::{RecordError, process_sqs_batch};
use crate::deadletter::DeadLetters;
use crate::domain::{Order, OrderEvent, OrderId, ValidationPolicy};
use crate::envelope::{Causality, EventEnvelope};
use crate::store::{EventStore, StoreError};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::Instrument;

pub const CONSUMER: &str = "order-validator";
/// Attempts when another writer appended to the order's stream first.
const APPEND_ATTEMPTS: u32 = 3;

pub struct OrderValidator<S, D> {
    store: S,
    dead_letters: D,
    policy: ValidationPolicy,
}

impl<S: EventStore, D: DeadLetters> OrderValidator<S, D> {
    /// The ports it was built with (tests inspect the fakes).
    pub fn ports(&self) -> (&S, &D) {
        (&self.store, &self.dead_letters)
    }

    pub fn new(store: S, dead_letters: D, policy: ValidationPolicy) -> Self {
        Self {
            store,
            dead_letters,
            policy,
        }
    }

    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        process_sqs_batch(CONSUMER, &self.dead_letters, event, |message| async move {
            let placed = order_placed_in(&message)?;
            let span = crate::observability::event_span(&placed);
            self.validate(&placed).instrument(span).await
        })
        .await
    }

    async fn validate(&self, placed: &EventEnvelope) -> Result<(), RecordError> {
        let OrderEvent::OrderPlaced(payload) = decode(placed)? else {
            return Err(RecordError::Poison(format!(
                "expected OrderPlaced, got {}",
                placed.event_type
            )));
        };
        let stream_id = payload.order_id.stream_id();
        if stream_id != placed.stream_id {
            return Err(RecordError::Poison(format!(
                "order {} does not belong to stream {}",
                payload.order_id, placed.stream_id
            )));
        }
        for _ in 0..APPEND_ATTEMPTS {
            let (order, version) = self.load(payload.order_id, placed).await?;
            let Some(decision) = order.validate(&self.policy) else {
                tracing::info!(status = ?order.status, "order already decided, nothing to do");
                return Ok(());
            };
            let decided = decision.event_type();
            let new_event =
                decision.into_new_event(Causality::caused_by(placed), chrono::Utc::now());
            match self
                .store
                .append(&stream_id, version, vec![new_event])
                .await
            {
                Ok(_) => {
                    tracing::info!(decision = decided, "order decided");
                    return Ok(());
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(other) => return Err(RecordError::Retryable(other.to_string())),
            }
        }
        Err(RecordError::Retryable(format!(
            "order {} kept changing under {APPEND_ATTEMPTS} attempts",
            payload.order_id
        )))
    }

    /// Rebuilds the order from its stream; returns it with the stream's version.
    async fn load(
        &self,
        order_id: OrderId,
        placed: &EventEnvelope,
    ) -> Result<(Order, u64), RecordError> {
        let history = self
            .store
            .load(&placed.stream_id, 0)
            .await
            .map_err(|e| match e {
                StoreError::Corrupt { .. } => RecordError::Poison(e.to_string()),
                other => RecordError::Retryable(other.to_string()),
            })?;
        let version = history.last().map_or(0, |e| e.version);
        let events = history.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        match Order::replay(&events) {
            Ok(Some(order)) => Ok((order, version)),
            // The bus delivered an event the store does not hold: nothing to decide on.
            Ok(None) => Err(RecordError::Poison(format!(
                "order {order_id} has no events in the store"
            ))),
            Err(e) => Err(RecordError::Poison(e.to_string())),
        }
    }
}

/// The stored event inside the EventBridge event inside the SQS message.
fn order_placed_in(message: &SqsMessage) -> Result<EventEnvelope, RecordError> {
    let body = message
        .body
        .as_deref()
        .ok_or_else(|| RecordError::Poison("SQS message without a body".into()))?;
    let event: EventBridgeEvent<EventEnvelope> = serde_json::from_str(body).map_err(|e| {
        RecordError::Poison(format!(
            "message body is not an EventBridge event with an event envelope: {e}"
        ))
    })?;
    Ok(event.detail)
}

fn decode(envelope: &EventEnvelope) -> Result<OrderEvent, RecordError> {
    OrderEvent::from_envelope(envelope).map_err(|e| RecordError::Poison(e.to_string()))
}
