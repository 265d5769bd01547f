//! The events and decisions of the order saga after validation: fraud screening, stock
//! reservation, payment, shipping, and the compensations that undo them.
//!
//! ```text
//! Placed ─OrderValidated→ Validated ─FraudCleared→ Cleared ─StockReserved→ Reserved ─PaymentAuthorized→ Paid ─ShipmentScheduled→ Completed
//!    └─OrderRejected→ Rejected   └─FraudSuspected→ OnHold   └─OutOfStock→ Cancelled   └─PaymentDeclined→ PaymentDeclined ─StockReleased→ Cancelled
//! any status not final ─OrderTimedOut→ TimedOut, then StockReleased and PaymentVoided as needed
//! ```

use super::money::Money;
use super::notifications::Channel;
use super::order::{Order, OrderId, OrderStatus};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FraudCleared {
    pub order_id: OrderId,
    pub score: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FraudSuspected {
    pub order_id: OrderId,
    pub score: u32,
    pub reasons: Vec<String>,
    /// The channels the customer wants to hear this on (since v2).
    #[serde(default)]
    pub notify: Vec<Channel>,
}

/// Units of one SKU held for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReservedLine {
    pub sku: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StockReserved {
    pub order_id: OrderId,
    pub lines: Vec<ReservedLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutOfStock {
    pub order_id: OrderId,
    pub sku: String,
    pub requested: u32,
    pub available: u32,
    /// The channels the customer wants to hear this on (since v2).
    #[serde(default)]
    pub notify: Vec<Channel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentAuthorized {
    pub order_id: OrderId,
    pub authorization_id: String,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentDeclined {
    pub order_id: OrderId,
    pub reason: String,
    /// The channels the customer wants to hear this on (since v2).
    #[serde(default)]
    pub notify: Vec<Channel>,
}

/// Compensation: the stock an order held went back to the shelf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StockReleased {
    pub order_id: OrderId,
    pub lines: Vec<ReservedLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShipmentScheduled {
    pub order_id: OrderId,
    pub shipment_id: String,
    pub carrier: String,
    /// The channels the customer wants to hear this on (since v2).
    #[serde(default)]
    pub notify: Vec<Channel>,
}

/// Nothing decided the order in time: the sweeper ends it, and what it took is undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderTimedOut {
    pub order_id: OrderId,
    /// The status the order was stuck in.
    pub stuck_in: String,
    /// The channels the customer wants to hear this on (since v2).
    #[serde(default)]
    pub notify: Vec<Channel>,
}

/// Compensation: an authorized payment of an order that will not ship is voided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentVoided {
    pub order_id: OrderId,
    pub authorization_id: String,
}

/// The body of the payment provider's callback (`POST /webhooks/payments`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaymentCallback {
    pub order_id: OrderId,
    pub outcome: CallbackOutcome,
    #[serde(default)]
    pub authorization_id: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The longest `reason` a callback may carry, and the longest authorization id.
pub const MAX_CALLBACK_REASON_CHARS: usize = 500;
pub const MAX_AUTHORIZATION_ID_CHARS: usize = 128;

impl PaymentCallback {
    /// Bounds the free-text fields, so a callback cannot grow the events it causes past
    /// what the bus accepts.
    pub fn check(&self) -> Result<(), super::InvalidCommand> {
        let too_long = |field: &str, max: usize| super::InvalidCommand {
            field: field.to_string(),
            message: format!("at most {max} characters"),
        };
        if self.reason.as_ref().is_some_and(|r| r.chars().count() > MAX_CALLBACK_REASON_CHARS) {
            return Err(too_long("reason", MAX_CALLBACK_REASON_CHARS));
        }
        if self.authorization_id.as_ref().is_some_and(|a| a.chars().count() > MAX_AUTHORIZATION_ID_CHARS) {
            return Err(too_long("authorizationId", MAX_AUTHORIZATION_ID_CHARS));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallbackOutcome {
    Authorized,
    Declined,
}

/// What fraud screening weighs; configured per deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudPolicy {
    /// Orders above this total (minor units) score `large_order_score`.
    pub large_order_minor: i64,
    pub large_order_score: u32,
    /// More than this many orders of one customer in the window score `velocity_score`.
    pub max_recent_orders: u32,
    pub velocity_score: u32,
    /// Shipping and billing countries that differ score this.
    pub country_mismatch_score: u32,
    /// Orders scoring this or more are held.
    pub hold_at: u32,
}

impl Default for FraudPolicy {
    fn default() -> Self {
        Self {
            large_order_minor: 500_000,
            large_order_score: 60,
            max_recent_orders: 5,
            velocity_score: 60,
            country_mismatch_score: 50,
            hold_at: 50,
        }
    }
}

/// The simulated payment provider's rules, deterministic so tests choose the outcome, as
/// card networks' test numbers do: a total whose cents are `.13` is declined, one whose
/// cents are `.42` never gets an answer (the order waits until it times out).
pub const DECLINED_CENTS: i64 = 13;
pub const UNANSWERED_CENTS: i64 = 42;

/// The provider's answer to a charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentOutcome {
    Authorized(String),
    Declined(String),
    NoAnswer,
    /// Never charged: the order ended first. Recorded under the charge's key so that a
    /// charge still on its way cannot happen after the order's compensation.
    Withheld,
}

pub fn payment_outcome(order: &Order) -> PaymentOutcome {
    match order.total.amount_minor.rem_euclid(100) {
        DECLINED_CENTS => PaymentOutcome::Declined(format!("card declined by the issuer for {}", order.total)),
        UNANSWERED_CENTS => PaymentOutcome::NoAnswer,
        _ => PaymentOutcome::Authorized(format!("auth-{}", order.id)),
    }
}

impl Order {
    /// Fraud screening of a validated order; `recent_orders` counts the customer's orders
    /// in the velocity window (this one included). `None` unless the order awaits it.
    pub fn screen(&self, recent_orders: u32, policy: &FraudPolicy) -> Option<super::OrderEvent> {
        if self.status != OrderStatus::Validated {
            return None;
        }
        let mut score = 0;
        let mut reasons = Vec::new();
        if self.total.amount_minor > policy.large_order_minor {
            score += policy.large_order_score;
            reasons.push(format!("large order: {}", self.total));
        }
        if let (Some(shipping), Some(billing)) = (&self.shipping_country, &self.billing_country)
            && shipping != billing
        {
            score += policy.country_mismatch_score;
            reasons.push(format!("ships to {shipping}, card from {billing}"));
        }
        if recent_orders > policy.max_recent_orders {
            score += policy.velocity_score;
            reasons.push(format!("{recent_orders} orders from {} in the velocity window", self.customer_id));
        }
        Some(if score >= policy.hold_at {
            super::OrderEvent::FraudSuspected(FraudSuspected {
                order_id: self.id,
                score,
                reasons,
                notify: self.notify.clone(),
            })
        } else {
            super::OrderEvent::FraudCleared(FraudCleared { order_id: self.id, score })
        })
    }

    /// Payment of an order whose stock is reserved, given the provider's answer.
    pub fn pay(&self, outcome: PaymentOutcome) -> Option<super::OrderEvent> {
        if self.status != OrderStatus::Reserved {
            return None;
        }
        match outcome {
            PaymentOutcome::Authorized(authorization_id) => {
                Some(super::OrderEvent::PaymentAuthorized(PaymentAuthorized {
                    order_id: self.id,
                    authorization_id,
                    amount: self.total.clone(),
                }))
            }
            PaymentOutcome::Declined(reason) => Some(super::OrderEvent::PaymentDeclined(PaymentDeclined {
                order_id: self.id,
                reason,
                notify: self.notify.clone(),
            })),
            PaymentOutcome::NoAnswer | PaymentOutcome::Withheld => None,
        }
    }

    /// The provider's late answer (its webhook) for an order still waiting for payment.
    pub fn settle_payment(&self, callback: &PaymentCallback) -> Option<super::OrderEvent> {
        if self.status != OrderStatus::Reserved {
            return None;
        }
        Some(match callback.outcome {
            CallbackOutcome::Authorized => super::OrderEvent::PaymentAuthorized(PaymentAuthorized {
                order_id: self.id,
                authorization_id: callback.authorization_id.clone().unwrap_or_else(|| format!("auth-{}", self.id)),
                amount: self.total.clone(),
            }),
            CallbackOutcome::Declined => super::OrderEvent::PaymentDeclined(PaymentDeclined {
                order_id: self.id,
                reason: callback.reason.clone().unwrap_or_else(|| "declined by the provider".into()),
                notify: self.notify.clone(),
            }),
        })
    }

    /// The sweeper's decision for an order last changed at `updated_at`: time it out when
    /// it is not final and older than `timeout`.
    pub fn time_out(
        &self,
        updated_at: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
        timeout: chrono::Duration,
    ) -> Option<super::OrderEvent> {
        if self.status.is_terminal() || now - updated_at < timeout {
            return None;
        }
        Some(super::OrderEvent::OrderTimedOut(OrderTimedOut {
            order_id: self.id,
            stuck_in: format!("{:?}", self.status),
            notify: self.notify.clone(),
        }))
    }

    /// Compensation after a timeout: void the authorization the provider gave, whether or
    /// not it reached the order's stream (`charged` is the provider's answer as recorded),
    /// once.
    pub fn void_payment(&self, charged: Option<&PaymentOutcome>) -> Option<super::OrderEvent> {
        if self.status != OrderStatus::TimedOut || self.payment_voided {
            return None;
        }
        let authorization_id = match (&self.authorization, charged) {
            (Some(authorization_id), _) | (None, Some(PaymentOutcome::Authorized(authorization_id))) => {
                authorization_id.clone()
            }
            _ => return None,
        };
        Some(super::OrderEvent::PaymentVoided(PaymentVoided { order_id: self.id, authorization_id }))
    }

    /// Shipment of a paid order.
    pub fn ship(&self) -> Option<super::OrderEvent> {
        if self.status != OrderStatus::Paid {
            return None;
        }
        Some(super::OrderEvent::ShipmentScheduled(ShipmentScheduled {
            order_id: self.id,
            shipment_id: format!("ship-{}", self.id),
            carrier: "standard".into(),
            notify: self.notify.clone(),
        }))
    }

    /// The lines stock must be reserved for, one per SKU, in SKU order (so concurrent
    /// reservations take SKUs in the same order).
    pub fn stock_needed(&self) -> Vec<ReservedLine> {
        let mut needed: std::collections::BTreeMap<&str, u32> = std::collections::BTreeMap::new();
        for line in &self.lines {
            *needed.entry(line.sku.as_str()).or_default() += line.quantity;
        }
        needed.into_iter().map(|(sku, quantity)| ReservedLine { sku: sku.to_string(), quantity }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{OrderLine, OrderPlaced};
    use crate::{Currency, OrderEvent};

    fn eur(amount_minor: i64) -> Money {
        Money { amount_minor, currency: Currency::try_from("EUR".to_string()).unwrap() }
    }

    fn placed(id: OrderId, lines: &[(&str, u32, i64)]) -> OrderEvent {
        let lines: Vec<OrderLine> = lines
            .iter()
            .map(|(sku, quantity, price)| OrderLine {
                sku: sku.to_string(),
                quantity: *quantity,
                unit_price: eur(*price),
            })
            .collect();
        let total = eur(lines.iter().map(|l| l.unit_price.amount_minor * i64::from(l.quantity)).sum());
        OrderEvent::OrderPlaced(OrderPlaced {
            order_id: id,
            customer_id: "c".into(),
            placed_by: None,
            lines,
            total,
            item_count: None,
            shipping_country: None,
            billing_country: None,
            notify: None,
        })
    }

    /// given(history) → the order it folds to.
    fn given(history: &[OrderEvent]) -> Order {
        Order::replay(history).unwrap().expect("an order")
    }

    fn validated(id: OrderId) -> OrderEvent {
        OrderEvent::OrderValidated(crate::OrderValidated { order_id: id })
    }

    fn reserved(id: OrderId, sku: &str, quantity: u32) -> OrderEvent {
        OrderEvent::StockReserved(StockReserved {
            order_id: id,
            lines: vec![ReservedLine { sku: sku.into(), quantity }],
        })
    }

    #[test]
    fn it_clears_an_ordinary_order() {
        let id = OrderId::generate();
        let decision = given(&[placed(id, &[("A", 1, 1_999)]), validated(id)]).screen(1, &FraudPolicy::default());
        assert_eq!(decision, Some(OrderEvent::FraudCleared(FraudCleared { order_id: id, score: 0 })));
    }

    #[test]
    fn it_holds_a_large_order() {
        let id = OrderId::generate();
        let decision = given(&[placed(id, &[("A", 1, 600_000)]), validated(id)]).screen(1, &FraudPolicy::default());
        let Some(OrderEvent::FraudSuspected(suspected)) = decision else { panic!("expected a hold: {decision:?}") };
        assert_eq!(suspected.reasons, vec!["large order: 6000.00 EUR"]);
    }

    #[test]
    fn it_holds_a_customer_ordering_too_often() {
        let id = OrderId::generate();
        let decision = given(&[placed(id, &[("A", 1, 100)]), validated(id)]).screen(6, &FraudPolicy::default());
        assert!(
            matches!(decision, Some(OrderEvent::FraudSuspected(ref s)) if s.reasons == ["6 orders from c in the velocity window"])
        );
    }

    #[test]
    fn it_holds_an_order_shipping_elsewhere_than_its_card_comes_from() {
        let id = OrderId::generate();
        let OrderEvent::OrderPlaced(mut placed) = placed(id, &[("A", 1, 100)]) else { unreachable!() };
        placed.shipping_country = Some(crate::country::Country::try_from("DE".to_string()).unwrap());
        placed.billing_country = Some(crate::country::Country::try_from("BR".to_string()).unwrap());
        let decision = given(&[OrderEvent::OrderPlaced(placed), validated(id)]).screen(1, &FraudPolicy::default());
        assert!(
            matches!(decision, Some(OrderEvent::FraudSuspected(ref s)) if s.reasons == ["ships to DE, card from BR"]),
            "{decision:?}"
        );
    }

    #[test]
    fn it_screens_only_validated_orders() {
        let id = OrderId::generate();
        assert_eq!(given(&[placed(id, &[("A", 1, 100)])]).screen(1, &FraudPolicy::default()), None);
    }

    #[test]
    fn it_authorizes_payment_of_a_reserved_order() {
        let id = OrderId::generate();
        let cleared = OrderEvent::FraudCleared(FraudCleared { order_id: id, score: 0 });
        let order = given(&[placed(id, &[("A", 2, 500)]), validated(id), cleared, reserved(id, "A", 2)]);
        let Some(OrderEvent::PaymentAuthorized(authorized)) = order.pay(payment_outcome(&order)) else {
            panic!("expected an authorization")
        };
        assert_eq!(authorized.amount, eur(1_000));
    }

    #[test]
    fn it_declines_amounts_ending_in_13_cents() {
        let id = OrderId::generate();
        let cleared = OrderEvent::FraudCleared(FraudCleared { order_id: id, score: 0 });
        let order = given(&[placed(id, &[("A", 1, 1_013)]), validated(id), cleared, reserved(id, "A", 1)]);
        assert_eq!(
            order.pay(payment_outcome(&order)),
            Some(OrderEvent::PaymentDeclined(PaymentDeclined {
                order_id: id,
                reason: "card declined by the issuer for 10.13 EUR".into(),
                notify: Channel::ALL.to_vec(),
            }))
        );
    }

    #[test]
    fn it_neither_pays_nor_ships_out_of_turn() {
        let id = OrderId::generate();
        let order = given(&[placed(id, &[("A", 1, 100)]), validated(id)]);
        assert_eq!(order.pay(payment_outcome(&order)), None);
        assert_eq!(order.ship(), None);
    }

    #[test]
    fn it_ships_a_paid_order_and_completes_it() {
        let id = OrderId::generate();
        let cleared = OrderEvent::FraudCleared(FraudCleared { order_id: id, score: 0 });
        let paid = OrderEvent::PaymentAuthorized(PaymentAuthorized {
            order_id: id,
            authorization_id: "a".into(),
            amount: eur(100),
        });
        let order = given(&[placed(id, &[("A", 1, 100)]), validated(id), cleared, reserved(id, "A", 1), paid]);
        let shipment = order.ship().expect("a shipment");
        assert_eq!(Order::apply(Some(order), &shipment).unwrap().status, OrderStatus::Completed);
    }

    #[test]
    fn a_declined_payment_is_compensated_by_releasing_the_stock() {
        let id = OrderId::generate();
        let cleared = OrderEvent::FraudCleared(FraudCleared { order_id: id, score: 0 });
        let declined =
            OrderEvent::PaymentDeclined(PaymentDeclined { order_id: id, reason: "no".into(), notify: vec![] });
        let order = given(&[placed(id, &[("A", 1, 1_013)]), validated(id), cleared, reserved(id, "A", 1), declined]);
        assert_eq!(order.status, OrderStatus::PaymentDeclined);
        assert_eq!(order.reserved, vec![ReservedLine { sku: "A".into(), quantity: 1 }]);
        let released = OrderEvent::StockReleased(StockReleased { order_id: id, lines: order.reserved.clone() });
        let order = Order::apply(Some(order), &released).unwrap();
        assert_eq!((order.status, order.reserved), (OrderStatus::Cancelled, vec![]));
    }

    #[test]
    fn stock_can_only_be_released_after_a_declined_payment() {
        let id = OrderId::generate();
        let released = OrderEvent::StockReleased(StockReleased { order_id: id, lines: vec![] });
        let error = Order::replay(&[placed(id, &[("A", 1, 100)]), validated(id), released]).unwrap_err();
        assert_eq!(error.to_string(), format!("order {id} is Validated: StockReleased cannot happen now"));
    }

    #[test]
    fn it_needs_stock_per_sku_in_sku_order() {
        let id = OrderId::generate();
        let order = given(&[placed(id, &[("B", 1, 1), ("A", 2, 1), ("B", 3, 1)])]);
        let needed: Vec<(String, u32)> = order.stock_needed().into_iter().map(|l| (l.sku, l.quantity)).collect();
        assert_eq!(needed, vec![("A".to_string(), 2), ("B".to_string(), 4)]);
    }
}
