//! `timeout-sweeper`: on a schedule, finds orders stuck in a status that is not final for
//! longer than the timeout and appends `OrderTimedOut`; inventory and payment then undo
//! what the order took (stock, authorization).

use crate::views::{OrderViews, ViewError};
use domain::{EventCodec, Order, OrderEvent, OrderId, OrderStatus};
use serde::Serialize;
use std::convert::Infallible;
use toolkit::envelope::{Causality, CausationId, EventEnvelope};
use toolkit::store::{DecideError, Decision, EventStore, StoreError, decide_and_append, load_stream};

/// The statuses an order can be stuck in.
const NOT_FINAL: [OrderStatus; 6] = [
    OrderStatus::Placed,
    OrderStatus::Validated,
    OrderStatus::Cleared,
    OrderStatus::Reserved,
    OrderStatus::Paid,
    OrderStatus::PaymentDeclined,
];

pub struct TimeoutSweeper<S, V> {
    store: S,
    views: V,
    timeout: chrono::Duration,
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sweep {
    pub candidates: usize,
    pub timed_out: Vec<OrderId>,
}

/// Why a sweep stopped: the read model or the store did not answer.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("sweep failed: {0}")]
    Views(#[from] ViewError),
    #[error("sweep failed: {0}")]
    Store(#[from] StoreError),
}

impl<S: EventStore, V: OrderViews> TimeoutSweeper<S, V> {
    pub fn new(store: S, views: V, timeout: chrono::Duration) -> Self {
        Self { store, views, timeout }
    }

    pub async fn sweep(&self, now: chrono::DateTime<chrono::Utc>) -> Result<Sweep, SweepError> {
        let mut sweep = Sweep::default();
        for status in NOT_FINAL {
            let stuck = self.views.in_status_since_before(status, now - self.timeout).await?;
            sweep.candidates += stuck.len();
            for order_id in stuck {
                if self.time_out(order_id, now).await? {
                    sweep.timed_out.push(order_id);
                }
            }
        }
        tracing::info!(candidates = sweep.candidates, timed_out = sweep.timed_out.len(), "sweep done");
        Ok(sweep)
    }

    /// Times one order out if the store (the truth, not the read model) agrees it is stuck.
    async fn time_out(&self, order_id: OrderId, now: chrono::DateTime<chrono::Utc>) -> Result<bool, SweepError> {
        let stream_id = order_id.stream_id();
        let load = || load_stream(&self.store, &stream_id);
        let decide =
            |history: Vec<EventEnvelope>| async move { Ok::<_, Infallible>(self.decide(order_id, &history, now)) };
        // One attempt: an order whose stream moved on meanwhile is not stuck.
        match decide_and_append(&self.store, &stream_id, 1, load, decide).await {
            Ok(Some(stuck_in)) => {
                tracing::info!(%order_id, ?stuck_in, "order timed out");
                Ok(true)
            }
            Ok(None) | Err(DecideError::KeptChanging { .. }) => Ok(false),
            Err(DecideError::Store(error)) => Err(error.into()),
            Err(DecideError::Decide(never)) => match never {},
        }
    }

    /// `OrderTimedOut` if the order is still stuck; answers the status it was stuck in.
    fn decide(
        &self,
        order_id: OrderId,
        history: &[EventEnvelope],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Decision<Option<OrderStatus>> {
        let Some(last) = history.last() else {
            return Decision::nothing(None);
        };
        let events: Vec<OrderEvent> = match history.iter().map(OrderEvent::from_envelope).collect() {
            Ok(events) => events,
            Err(error) => {
                tracing::error!(%order_id, %error, "cannot read the order, leaving it");
                return Decision::nothing(None);
            }
        };
        let Ok(Some(order)) = Order::replay(&events) else {
            return Decision::nothing(None);
        };
        let Some(timed_out) = order.time_out(last.occurred_at, now, self.timeout) else {
            return Decision::nothing(None);
        };
        let causality = Causality {
            correlation_id: last.correlation_id.clone(),
            causation_id: CausationId::new(format!("timeout-sweep-{}", now.format("%Y%m%dT%H%M%S"))),
            // The timeout belongs to the order's own trace.
            trace_id: last.trace_id.clone(),
        };
        Decision::append(vec![timed_out.into_new_event(causality, now)], Some(order.status))
    }
}
