//! What customers are told, and on which channel. Pure: sending is an adapter's job.

use super::{OrderEvent, OrderId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
    Webhook,
}

impl Channel {
    /// Every channel: what a customer who stated no preference is told on.
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Sms, Channel::Webhook];

    /// The channel a queue serves, from the queue's name (`…-email`, `…-sms`, `…-webhook`).
    pub fn of_queue(queue_arn_or_name: &str) -> Option<Channel> {
        let name = queue_arn_or_name.rsplit([':', '/']).next().unwrap_or_default();
        [("-email", Channel::Email), ("-sms", Channel::Sms), ("-webhook", Channel::Webhook)]
            .into_iter()
            .find(|(suffix, _)| name.ends_with(suffix))
            .map(|(_, channel)| channel)
    }
}

/// One notification sent (or handed to a provider) for one event on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub order_id: OrderId,
    pub channel: Channel,
    pub event_id: String,
    pub event_type: String,
    pub message: String,
    pub sent_at: chrono::DateTime<chrono::Utc>,
    /// How it left: the simulated provider, or the webhook's HTTP status.
    pub delivery: String,
}

/// The customer-facing message of an event, or `None` when customers are not told.
pub fn message_for(event: &OrderEvent) -> Option<String> {
    let id = event.order_id();
    Some(match event {
        OrderEvent::OrderRejected(e) => format!("Order {id} could not be accepted: {}", e.reasons.join("; ")),
        OrderEvent::FraudSuspected(_) => format!("Order {id} is being reviewed; we will be in touch."),
        OrderEvent::OutOfStock(e) => format!("Order {id} was cancelled: {} is out of stock.", e.sku),
        OrderEvent::PaymentDeclined(e) => format!("Order {id} was cancelled: {}.", e.reason),
        OrderEvent::ShipmentScheduled(e) => {
            format!("Order {id} is on its way with {} (shipment {}).", e.carrier, e.shipment_id)
        }
        OrderEvent::OrderTimedOut(_) => format!("Order {id} was cancelled: it could not be completed in time."),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_finds_the_channel_in_the_queue_name() {
        assert_eq!(Channel::of_queue("arn:aws:sqs:us-east-1:000000000000:orderflow-notify-sms"), Some(Channel::Sms));
        assert_eq!(
            Channel::of_queue("http://localhost:4566/000000000000/orderflow-notify-webhook"),
            Some(Channel::Webhook)
        );
        assert_eq!(Channel::of_queue("orderflow-payment"), None);
    }

    #[test]
    fn it_tells_customers_about_outcomes_not_about_internal_steps() {
        let id = OrderId::generate();
        assert!(message_for(&OrderEvent::OrderValidated(crate::OrderValidated { order_id: id })).is_none());
        let declined = OrderEvent::PaymentDeclined(crate::saga::PaymentDeclined {
            order_id: id,
            reason: "card declined".into(),
            notify: vec![],
        });
        assert_eq!(message_for(&declined), Some(format!("Order {id} was cancelled: card declined.")));
    }
}
