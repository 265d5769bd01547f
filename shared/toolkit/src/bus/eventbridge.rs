use super::{BusError, EVENT_SOURCE, EventBus, MAX_EVENTS_PER_PUBLISH, RejectedEntry, is_retryable_code};
use crate::envelope::EventEnvelope;
use crate::error::Outage;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::ProvideErrorMetadata;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

/// Publishes each envelope as the `detail` of an event whose `detail-type` is the event type.
#[derive(Clone)]
pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
}

impl EventBridgeBus {
    /// Publishes to the bus `bus_name` (its name or ARN) with `client`.
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self { client, bus_name: bus_name.into() }
    }

    fn entry(&self, event: &EventEnvelope) -> Result<PutEventsRequestEntry, BusError> {
        let detail =
            serde_json::to_string(event).map_err(|e| BusError::permanent(format!("cannot encode event: {e}")))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(EVENT_SOURCE)
            .detail_type(&event.event_type)
            .detail(detail)
            .time(aws_sdk_eventbridge::primitives::DateTime::from_millis(event.occurred_at.timestamp_millis()))
            // EventBridge hands it on to SQS (AWSTraceHeader) so X-Ray joins the hops.
            .set_trace_header(event.trace_id.clone())
            .build())
    }
}

impl EventBus for EventBridgeBus {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<Vec<RejectedEntry>, BusError> {
        if events.len() > MAX_EVENTS_PER_PUBLISH {
            return Err(BusError::permanent(format!(
                "{} events in one PutEvents call; at most {MAX_EVENTS_PER_PUBLISH}",
                events.len()
            )));
        }
        let entries = events.iter().map(|e| self.entry(e)).collect::<Result<Vec<_>, _>>()?;
        let output = self.client.put_events().set_entries(Some(entries)).send().await.map_err(|e| {
            // A service error other than throttling or an internal one refuses the request
            // itself; no answer at all (a timeout, a refused connection) is worth retrying.
            let refused = e.as_service_error().and_then(|s| s.code()).is_some_and(|code| !is_retryable_code(code));
            if refused { BusError::permanent(Outage::new(e)) } else { BusError::transient(Outage::new(e)) }
        })?;
        let rejected = output
            .entries()
            .iter()
            .enumerate()
            .filter(|(_, result)| result.error_code().is_some())
            .map(|(index, result)| RejectedEntry {
                index,
                retryable: is_retryable_code(result.error_code().unwrap_or_default()),
                reason: format!(
                    "{}: {}",
                    result.error_code().unwrap_or_default(),
                    result.error_message().unwrap_or_default()
                ),
            })
            .collect();
        Ok(rejected)
    }
}
