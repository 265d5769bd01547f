//! `analytics`: every order event (from the bus, through its queue) → order counts per
//! status and sales per product per minute. Each event is applied once, whatever the
//! number of deliveries.

use super::{envelope_in, order_id_of};
use crate::analytics::AnalyticsStore;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use domain::analytics::{Tally, tally};
use domain::{EventCodec, Order, OrderEvent};
use std::collections::{HashMap, HashSet};
use toolkit::batch::{RecordError, process_sqs_batch};
use toolkit::deadletter::DeadLetters;
use toolkit::envelope::{EventEnvelope, EventId, StreamId};
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
    ///
    /// The batch's events are first counted together, in one transaction; when that cannot
    /// be (an event counted before, one that fails, more than one transaction holds), each
    /// event not counted is handled alone, with its own outcome.
    pub async fn handle(&self, event: SqsEvent, _invocation: &Invocation) -> SqsBatchResponse {
        let counted = &self.count_together(&event.records).await;
        process_sqs_batch(CONSUMER, &self.dead_letters, event, |message| async move {
            let envelope = envelope_in(&message)?;
            let span = toolkit::observability::event_span(&envelope);
            if counted.contains(&envelope.event_id) {
                span.in_scope(|| tracing::info!(applied = true, "counted with its batch"));
                return Ok(());
            }
            self.count(&envelope).instrument(span).await
        })
        .await
    }

    /// The events of `messages` counted in one transaction: all those whose tally could be
    /// worked out, or none. The others are left to be handled alone (and fail there).
    async fn count_together(&self, messages: &[SqsMessage]) -> HashSet<EventId> {
        if messages.len() < 2 {
            return HashSet::new();
        }
        let mut tallies = Vec::with_capacity(messages.len());
        let mut histories = HashMap::new();
        for message in messages {
            let Ok(envelope) = envelope_in(message) else { continue };
            if let Ok(tally) = self.tally_of(&envelope, &mut histories).await {
                tallies.push((envelope.event_id, tally));
            }
        }
        if tallies.len() < 2 {
            return HashSet::new();
        }
        match self.analytics.record_together(&tallies).await {
            Ok(true) => tallies.into_iter().map(|(event_id, _)| event_id).collect(),
            Ok(false) => HashSet::new(),
            Err(error) => {
                tracing::warn!(%error, "could not count the batch together, counting each event alone");
                HashSet::new()
            }
        }
    }

    async fn count(&self, envelope: &EventEnvelope) -> Result<(), RecordError> {
        let counted = self.tally_of(envelope, &mut HashMap::new()).await?;
        let applied = self.analytics.record(envelope.event_id, &counted).await?;
        tracing::info!(applied, "counted");
        Ok(())
    }

    /// What `envelope` changes in the counts, from the order's history up to it (so a
    /// redelivered or reordered event counts the same). `histories` holds the streams
    /// already read for this batch; one that does not reach the event is read again.
    async fn tally_of(
        &self,
        envelope: &EventEnvelope,
        histories: &mut HashMap<StreamId, Vec<EventEnvelope>>,
    ) -> Result<Tally, RecordError> {
        let order_id = order_id_of(envelope)?;
        let event = OrderEvent::from_envelope(envelope).map_err(RecordError::poison)?;
        if envelope.version == 0 {
            return Err(RecordError::Poison(format!("{} v0: stream versions start at 1", envelope.stream_id)));
        }
        let stream = order_id.stream_id();
        let covered = histories.get(&stream).and_then(|h| h.last()).is_some_and(|e| e.version >= envelope.version);
        if !covered {
            histories.insert(stream.clone(), self.store.load(&stream, 0).await?);
        }
        let events = histories[&stream]
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
        Ok(tally(before.as_ref(), &after, &event, envelope.occurred_at))
    }
}
