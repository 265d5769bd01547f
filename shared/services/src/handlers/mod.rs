//! One handler per Lambda function. Each is generic over the ports it uses, so tests run
//! it on the sample events in `events/` against in-memory fakes.

pub mod analytics;
pub mod api;
pub mod notifier;
pub mod outbox_relay;
pub mod projector;
pub mod saga;
pub mod steps;
pub mod sweeper;
pub mod validator;

use aws_lambda_events::event::dynamodb::EventRecord;
use toolkit::batch::RecordError;
use toolkit::envelope::EventEnvelope;

/// Reads the event envelope out of a stream record's new image.
pub fn envelope_of(record: &EventRecord) -> Result<EventEnvelope, RecordError> {
    serde_dynamo::from_item(record.change.new_image.clone())
        .map_err(|e| RecordError::Poison(format!("stream record is not an event envelope: {e}")))
}

/// Only inserts carry new events: the store is append-only.
pub fn is_insert(record: &EventRecord) -> bool {
    record.event_name == "INSERT"
}
