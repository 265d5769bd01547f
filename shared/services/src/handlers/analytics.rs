//! `analytics`: every order event (from the bus, through its queue) → order counts per
//! status and sales per product per minute. Each event is applied once, whatever the
//! number of deliveries.

use super::{envelope_in, order_id_of};
use crate::analytics::AnalyticsStore;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::analytics::tally;
use domain::{EventCodec, Order, OrderEvent};
use toolkit::batch::{RecordError, process_sqs_batch};
use toolkit::deadletter::DeadLetters;
use toolkit::envelope::EventEnvelope;
use toolkit::invocation::Invocation;
use toolkit::store::EventStore;
use tracing::Instrument;

pub const CONSUMER: &str = "analytics";

pub struct AnalyticsConsumer<S, A, D> {
    store: S,
    analytics: A,
    dead_letters: D,
}

impl<S: EventStore, A: AnalyticsStore, D: DeadLetters> AnalyticsConsumer<S, A, D> {
    pub fn new(store: S, analytics: A, dead_letters: D) -> Self {
        Self { store, analytics, dead_letters }
    }

    /// The ports it was built with (tests inspect the fakes).
    pub fn ports(&self) -> (&S, &A, &D) {
        (&self.store, &self.analytics, &self.dead_letters)
    }

    /// Takes the invocation as every SQS consumer does, though counting needs nothing of it.
    pub async fn handle(&self, event: SqsEvent, _invocation: &Invocation) -> SqsBatchResponse {
        process_sqs_batch(CONSUMER, &self.dead_letters, event, |message| async move {
            let envelope = envelope_in(&message)?;
            let span = toolkit::observability::event_span(&envelope);
            self.count(&envelope).instrument(span).await
        })
        .await
    }

    async fn count(&self, envelope: &EventEnvelope) -> Result<(), RecordError> {
        let order_id = order_id_of(envelope)?;
        let event = OrderEvent::from_envelope(envelope).map_err(RecordError::poison)?;
        if envelope.version == 0 {
            return Err(RecordError::Poison(format!("{} v0: stream versions start at 1", envelope.stream_id)));
        }
        let history = self.store.load(&order_id.stream_id(), 0).await?;
        let events = history
            .iter()
            .take_while(|e| e.version <= envelope.version)
            .map(|e| OrderEvent::from_envelope(e).map_err(RecordError::poison))
            .collect::<Result<Vec<_>, _>>()?;
        if events.len() as u64 != envelope.version {
            return Err(RecordError::Poison(format!(
                "{} v{} is not in the store",
                envelope.stream_id, envelope.version
            )));
        }
        let (_, earlier) = events.split_last().ok_or_else(|| RecordError::Poison("an empty history".into()))?;
        let before = Order::replay(earlier).map_err(RecordError::poison)?;
        let after = Order::replay(&events)
            .map_err(RecordError::poison)?
            .ok_or_else(|| RecordError::Poison(format!("{} has no events", envelope.stream_id)))?;
        let counted = tally(before.as_ref(), &after, &event, envelope.occurred_at);
        let applied = self.analytics.record(envelope.event_id, &counted).await?;
        tracing::info!(applied, "counted");
        Ok(())
    }
}
