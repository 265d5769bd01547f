//! `projector`: the event store's stream → the order read model.
//!
//! Each view remembers the version of the last event applied. A redelivered event is
//! skipped; a gap (an event the view has not seen) is filled from the store first, so
//! the view always reflects a prefix of the stream, in version order.

use super::{envelope_of, is_insert};
use crate::views::{OrderView, OrderViews, ViewError};
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use domain::{EventCodec, OrderEvent, OrderId};
use std::collections::HashMap;
use std::sync::Mutex;
use toolkit::batch::{RecordError, process_stream_batch};
use toolkit::deadletter::DeadLetters;
use toolkit::envelope::EventEnvelope;
use toolkit::store::EventStore;
use tracing::Instrument;

pub const CONSUMER: &str = "projector";
/// Attempts when another projector instance saved the same view concurrently.
const SAVE_ATTEMPTS: u32 = 3;

pub struct Projector<S, V, D> {
    store: S,
    views: V,
    dead_letters: D,
}

impl<S: EventStore, V: OrderViews, D: DeadLetters> Projector<S, V, D> {
    /// The ports it was built with (tests inspect the fakes).
    pub fn ports(&self) -> (&S, &V, &D) {
        (&self.store, &self.views, &self.dead_letters)
    }

    pub fn new(store: S, views: V, dead_letters: D) -> Self {
        Self { store, views, dead_letters }
    }

    pub async fn handle(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let known = Mutex::new(self.views_of_batch(&event).await);
        let known = &known;
        process_stream_batch(CONSUMER, &self.dead_letters, event, |record| async move {
            if !is_insert(&record) {
                return Ok(());
            }
            let envelope = envelope_of(&record)?;
            let Some(order_id) = order_id_of(&envelope) else {
                return Ok(()); // not an order stream: no view of ours depends on it
            };
            let span = toolkit::observability::event_span(&envelope);
            self.project(order_id, &envelope, known).instrument(span).await
        })
        .await
    }

    /// Every view the batch's order events touch, in one read (absent ones as `None`); an
    /// empty map when that read fails, so each record reads its view itself.
    async fn views_of_batch(&self, event: &StreamEvent) -> KnownViews {
        let mut order_ids: Vec<OrderId> = event
            .records
            .iter()
            .filter(|record| is_insert(record))
            .filter_map(|record| match record.change.new_image.get("streamId")? {
                serde_dynamo::AttributeValue::S(stream) => OrderId::of_stream(stream),
                _ => None,
            })
            .collect();
        order_ids.sort();
        order_ids.dedup();
        if order_ids.len() < 2 {
            return KnownViews::new();
        }
        match self.views.get_many(&order_ids).await {
            Ok(mut stored) => order_ids.into_iter().map(|id| (id, stored.remove(&id))).collect(),
            Err(error) => {
                tracing::warn!(%error, "could not read the batch's views together, reading them one by one");
                KnownViews::new()
            }
        }
    }

    /// `known` holds views read with the batch and kept up to date by this batch's saves; a
    /// view read there may still have changed since, which the conditional save detects.
    async fn project(
        &self,
        order_id: OrderId,
        envelope: &EventEnvelope,
        known: &Mutex<KnownViews>,
    ) -> Result<(), RecordError> {
        for _ in 0..SAVE_ATTEMPTS {
            let cached = known.lock().expect("known views lock").get(&order_id).cloned();
            let current = match cached {
                Some(view) => view,
                None => self.views.get(order_id).await.map_err(RecordError::from)?,
            };
            let seen = current.as_ref().map_or(0, |view| view.version);
            if envelope.version <= seen {
                tracing::info!(seen, "already projected, skipping");
                return Ok(());
            }
            let missing = self.events_between(envelope, seen).await?;
            let view = missing.iter().try_fold(current, |view, event| apply(view, event).map(Some))?;
            let Some(view) = view else { return Ok(()) };
            match self.views.save(&view, seen).await {
                Ok(()) => {
                    tracing::info!(status = ?view.status, "order view updated");
                    known.lock().expect("known views lock").insert(order_id, Some(view));
                    return Ok(());
                }
                Err(ViewError::Stale { .. }) => {
                    known.lock().expect("known views lock").remove(&order_id);
                    continue;
                }
                Err(other) => {
                    known.lock().expect("known views lock").remove(&order_id);
                    return Err(other.into());
                }
            }
        }
        Err(RecordError::Retryable(format!("order view {order_id} kept changing under {SAVE_ATTEMPTS} attempts")))
    }

    /// The events after `seen` up to `envelope`: just `envelope` unless the view lags behind.
    async fn events_between(&self, envelope: &EventEnvelope, seen: u64) -> Result<Vec<EventEnvelope>, RecordError> {
        if envelope.version == seen + 1 {
            return Ok(vec![envelope.clone()]);
        }
        tracing::warn!(seen, "view lags behind the stream, filling the gap from the store");
        let loaded = self.store.load(&envelope.stream_id, seen).await?;
        let missing: Vec<EventEnvelope> = loaded.into_iter().filter(|e| e.version <= envelope.version).collect();
        if missing.last().map(|e| e.version) != Some(envelope.version) {
            return Err(RecordError::Retryable(format!(
                "the store does not hold {} v{} yet",
                envelope.stream_id, envelope.version
            )));
        }
        Ok(missing)
    }
}

/// Views by order as this batch last read or wrote them (`None`: the order has none yet).
type KnownViews = HashMap<OrderId, Option<OrderView>>;

fn order_id_of(envelope: &EventEnvelope) -> Option<OrderId> {
    OrderId::of_stream(envelope.stream_id.as_str())
}

fn apply(view: Option<OrderView>, envelope: &EventEnvelope) -> Result<OrderView, RecordError> {
    let event = OrderEvent::from_envelope(envelope).map_err(RecordError::poison)?;
    OrderView::apply(view, &event, envelope).map_err(RecordError::poison)
}
