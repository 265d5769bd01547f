//! One handler per Lambda function. Each is generic over the ports it uses, so tests run
//! it on the sample events in `events/` against in-memory fakes.

pub mod analytics;
#[cfg(feature = "api")]
pub mod api;
#[cfg(feature = "notifier")]
pub mod notifier;
pub mod outbox_relay;
pub mod projector;
pub mod step_runner;
pub mod steps;
pub mod sweeper;
pub mod validator;

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsMessage;
use domain::OrderId;
use toolkit::batch::RecordError;
use toolkit::envelope::EventEnvelope;

/// Reads the event envelope out of a stream record's new image.
pub fn envelope_of(record: &EventRecord) -> Result<EventEnvelope, RecordError> {
    toolkit::store::time_index::envelope_from_item(record.change.new_image.clone())
        .map_err(|e| RecordError::Poison(format!("stream record is not an event envelope: {e}")))
}

/// Only inserts carry new events: the store is append-only.
pub fn is_insert(record: &EventRecord) -> bool {
    record.event_name == "INSERT"
}

pub fn order_id_of(trigger: &EventEnvelope) -> Result<OrderId, RecordError> {
    OrderId::of_stream(trigger.stream_id.as_str())
        .ok_or_else(|| RecordError::Poison(format!("{} is not an order stream", trigger.stream_id)))
}

/// The stored event inside the EventBridge event inside the SQS message.
pub fn envelope_in(message: &SqsMessage) -> Result<EventEnvelope, RecordError> {
    let body = message.body.as_deref().ok_or_else(|| RecordError::Poison("SQS message without a body".into()))?;
    let event: EventBridgeEvent<EventEnvelope> = serde_json::from_str(body).map_err(|e| {
        RecordError::Poison(format!("message body is not an EventBridge event with an event envelope: {e}"))
    })?;
    Ok(event.detail)
}
