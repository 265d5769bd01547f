//! The order saga's services as one mechanism: each service is a [`Step`] that, given the
//! order rebuilt from its stream and the event that triggered it, decides the order's next
//! event. [`OrderSaga`] does the rest for every step: it reads the triggering event from
//! the SQS message (an EventBridge event), validates it, rebuilds the order, asks the step,
//! and appends the decision with the stream's expected version (retrying on conflict).
//!
//! Each batch reports how long its oldest message waited in the queue on its first
//! delivery (admission control reads it).
//!
//! Steps act only in the status they own, so a redelivered trigger finds the order moved
//! on and appends nothing: every step is idempotent by construction.

use super::{envelope_in, order_id_of};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::{EventCodec, Order, OrderEvent, OrderId};
use std::future::Future;
use toolkit::admission::{Unreported, WaitReport, report_wait};
use toolkit::batch::{RecordError, oldest_first_delivery_age, process_sqs_batch};
use toolkit::deadletter::DeadLetters;
use toolkit::envelope::{Causality, EventEnvelope};
use toolkit::invocation::Invocation;
use toolkit::store::{DecideError, Decision, EventStore, decide_and_append, load_stream};
use tracing::Instrument;

/// Attempts when another writer appended to the order's stream first.
const APPEND_ATTEMPTS: u32 = 3;

pub trait Step: Send + Sync {
    /// The consumer's name in logs and dead letters, e.g. `fraud-detector`.
    const CONSUMER: &'static str;
    /// The event types this step reacts to (its queue's rule routes only these).
    const TRIGGERS: &'static [&'static str];

    /// The order's next event, or `None` when the order is not in a status this step
    /// acts on. May perform its own idempotent side effects first (e.g. reserve stock).
    fn decide(
        &self,
        order: &Order,
        trigger: &EventEnvelope,
        invocation: &Invocation,
    ) -> impl Future<Output = Result<Option<OrderEvent>, RecordError>> + Send;
}

pub struct OrderSaga<S, D, P, W = Unreported> {
    store: S,
    dead_letters: D,
    step: P,
    waits: W,
}

impl<S, D, P> OrderSaga<S, D, P> {
    pub fn new(store: S, dead_letters: D, step: P) -> Self {
        Self { store, dead_letters, step, waits: Unreported }
    }
}

impl<S, D, P, W> OrderSaga<S, D, P, W> {
    /// The ports it was built with (tests inspect the fakes).
    pub fn ports(&self) -> (&S, &D) {
        (&self.store, &self.dead_letters)
    }

    /// Reports each batch's wait to `waits`.
    pub fn with_wait_report<R: WaitReport>(self, waits: R) -> OrderSaga<S, D, P, R> {
        let Self { store, dead_letters, step, .. } = self;
        OrderSaga { store, dead_letters, step, waits }
    }
}

impl<S: EventStore, D: DeadLetters, P: Step, W: WaitReport> OrderSaga<S, D, P, W> {
    pub async fn handle(&self, event: SqsEvent, invocation: &Invocation) -> SqsBatchResponse {
        report_wait(&self.waits, P::CONSUMER, oldest_first_delivery_age(&event.records)).await;
        process_sqs_batch(P::CONSUMER, &self.dead_letters, event, |message| async move {
            let trigger = envelope_in(&message)?;
            let span = toolkit::observability::event_span(&trigger);
            self.advance(&trigger, invocation).instrument(span).await
        })
        .await
    }

    async fn advance(&self, trigger: &EventEnvelope, invocation: &Invocation) -> Result<(), RecordError> {
        if !P::TRIGGERS.contains(&trigger.event_type.as_str()) {
            return Err(RecordError::Poison(format!("{} does not handle {}", P::CONSUMER, trigger.event_type)));
        }
        let order_id = order_id_of(trigger)?;
        let decoded = OrderEvent::from_envelope(trigger).map_err(RecordError::poison)?;
        let stream_id = order_id.stream_id();
        let load = || self.load(order_id, (trigger, &decoded));
        let decide = |order: Order| async move {
            let Some(decision) = self.step.decide(&order, trigger, invocation).await? else {
                tracing::info!(status = ?order.status, "nothing to do in this status");
                return Ok(Decision::nothing(None));
            };
            let decided = decision.event_type();
            let event = decision.into_new_event(Causality::caused_by(trigger), toolkit::clock::now());
            Ok(Decision::append(vec![event], Some(decided)))
        };
        if let Some(decided) = decide_and_append(&self.store, &stream_id, APPEND_ATTEMPTS, load, decide).await? {
            tracing::info!(decision = decided, "order advanced");
        }
        Ok(())
    }

    /// Rebuilds the order from its stream; returns it with the stream's version. The
    /// trigger, already decoded, is not decoded again when the stream holds it.
    async fn load(
        &self,
        order_id: OrderId,
        trigger: (&EventEnvelope, &OrderEvent),
    ) -> Result<(Order, u64), DecideError<RecordError>> {
        let (history, version) = load_stream(&self.store, &order_id.stream_id()).await?;
        let events = history
            .iter()
            .map(|e| match e.event_id == trigger.0.event_id {
                true => Ok(trigger.1.clone()),
                false => OrderEvent::from_envelope(e).map_err(RecordError::poison),
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(DecideError::Decide)?;
        let poison = |reason: String| DecideError::Decide(RecordError::Poison(reason));
        match Order::replay(&events) {
            Ok(Some(order)) => Ok((order, version)),
            // The bus delivered an event the store does not hold: nothing to decide on.
            Ok(None) => Err(poison(format!("order {order_id} has no events in the store"))),
            Err(e) => Err(poison(e.to_string())),
        }
    }
}
