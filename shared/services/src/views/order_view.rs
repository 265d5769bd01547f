use chrono::{DateTime, Utc};
use domain::{EventCodec, Money, OrderEvent, OrderId, OrderLine, OrderStatus};
use serde::{Deserialize, Serialize};
use toolkit::envelope::EventEnvelope;

/// What `GET /orders/{id}` answers: the order's state and the timeline of its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub order_id: OrderId,
    pub customer_id: String,
    /// The API key (by name) that placed it; only that key (or an admin key) reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_by: Option<String>,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub total: Money,
    #[serde(default)]
    pub rejection_reasons: Vec<String>,
    /// Why the order is on hold or cancelled, or why its payment failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub timeline: Vec<TimelineEntry>,
    /// The version of the last event applied: the projector's checkpoint for this order.
    pub version: u64,
    /// When the order was placed (the sort key of the orders-by-customer index).
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub version: u64,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
}

/// Why an event could not be applied to a view.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot apply {event_type} v{version} to the view of order {order_id}: {reason}")]
pub struct ProjectionError {
    pub order_id: OrderId,
    pub event_type: String,
    pub version: u64,
    pub reason: &'static str,
}

impl OrderView {
    /// The view of an order rebuilt from its whole stream (in version order), as the
    /// projector builds it event by event: what `orderflow rebuild` writes.
    pub fn replay(stream: &[EventEnvelope]) -> Result<Option<OrderView>, String> {
        stream.iter().try_fold(None, |view, envelope| {
            let event = OrderEvent::from_envelope(envelope).map_err(|e| e.to_string())?;
            OrderView::apply(view, &event, envelope).map(Some).map_err(|e| e.to_string())
        })
    }

    /// Applies the next event of the order's stream. The caller guarantees order:
    /// `envelope.version` is exactly one past `view.version`.
    pub fn apply(
        view: Option<OrderView>,
        event: &OrderEvent,
        envelope: &EventEnvelope,
    ) -> Result<OrderView, ProjectionError> {
        let fail = |reason| ProjectionError {
            order_id: event.order_id(),
            event_type: envelope.event_type.clone(),
            version: envelope.version,
            reason,
        };
        let mut view = match (view, event) {
            (None, OrderEvent::OrderPlaced(placed)) => OrderView {
                order_id: placed.order_id,
                customer_id: placed.customer_id.clone(),
                placed_by: placed.placed_by.clone(),
                status: OrderStatus::Placed,
                lines: placed.lines.clone(),
                total: placed.total.clone(),
                rejection_reasons: Vec::new(),
                status_reason: None,
                timeline: Vec::new(),
                version: 0,
                placed_at: envelope.occurred_at,
                updated_at: envelope.occurred_at,
            },
            (None, _) => return Err(fail("the order was never placed")),
            (Some(_), OrderEvent::OrderPlaced(_)) => {
                return Err(fail("the order was already placed"));
            }
            (Some(view), event) => {
                let status =
                    view.status.after(event).ok_or_else(|| fail("the saga does not allow it in this status"))?;
                OrderView { status, ..view }
            }
        };
        match event {
            OrderEvent::OrderRejected(e) => view.rejection_reasons = e.reasons.clone(),
            OrderEvent::FraudSuspected(e) => view.status_reason = Some(e.reasons.join("; ")),
            OrderEvent::OutOfStock(e) => {
                view.status_reason =
                    Some(format!("out of stock: {} ({} requested, {} available)", e.sku, e.requested, e.available));
            }
            OrderEvent::PaymentDeclined(e) => view.status_reason = Some(e.reason.clone()),
            OrderEvent::OrderTimedOut(e) => view.status_reason = Some(format!("timed out while {}", e.stuck_in)),
            _ => {}
        }
        view.timeline.push(TimelineEntry {
            version: envelope.version,
            event_type: envelope.event_type.clone(),
            occurred_at: envelope.occurred_at,
        });
        view.version = envelope.version;
        view.updated_at = envelope.occurred_at;
        Ok(view)
    }
}
