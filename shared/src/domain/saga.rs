//! The events and decisions of the order saga after validation: fraud screening, stock
//! reservation, payment, shipping, and the compensations that undo them.
//!
//! ```text
//! Placed ─OrderValidated→ Validated ─FraudCleared→ Cleared ─StockReserved→ Reserved ─PaymentAuthorized→ Paid ─ShipmentScheduled→ Completed
//!    └─OrderRejected→ Rejected   └─FraudSuspected→ OnHold   └─OutOfStock→ Cancelled   └─PaymentDeclined→ PaymentDeclined ─StockReleased→ Cancelled
//! ```

use super::money::Money;
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
            hold_at: 50,
        }
    }
}

/// The simulated payment provider's rule, deterministic so tests choose the outcome, as
/// card networks' test numbers do: a total whose cents are `.13` is declined.
pub const DECLINED_CENTS: i64 = 13;

pub fn payment_outcome(order: &Order) -> Result<String, String> {
    if order.total.amount_minor.rem_euclid(100) == DECLINED_CENTS {
        Err(format!("card declined by the issuer for {}", order.total))
    } else {
        Ok(format!("auth-{}", order.id))
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
        if recent_orders > policy.max_recent_orders {
            score += policy.velocity_score;
            reasons.push(format!(
                "{recent_orders} orders from {} in the velocity window",
                self.customer_id
            ));
        }
        Some(if score >= policy.hold_at {
            super::OrderEvent::FraudSuspected(FraudSuspected {
                order_id: self.id,
                score,
                reasons,
            })
        } else {
            super::OrderEvent::FraudCleared(FraudCleared {
                order_id: self.id,
                score,
            })
        })
    }

    /// Payment of an order whose stock is reserved.
    pub fn pay(&self) -> Option<super::OrderEvent> {
        if self.status != OrderStatus::Reserved {
            return None;
        }
        Some(match payment_outcome(self) {
            Ok(authorization_id) => super::OrderEvent::PaymentAuthorized(PaymentAuthorized {
                order_id: self.id,
                authorization_id,
                amount: self.total.clone(),
            }),
            Err(reason) => super::OrderEvent::PaymentDeclined(PaymentDeclined {
                order_id: self.id,
                reason,
            }),
        })
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
        }))
    }

    /// The lines stock must be reserved for, one per SKU, in SKU order (so concurrent
    /// reservations take SKUs in the same order).
    pub fn stock_needed(&self) -> Vec<ReservedLine> {
        let mut needed: std::collections::BTreeMap<&str, u32> = std::collections::BTreeMap::new();
        for line in &self.lines {
            *needed.entry(line.sku.as_str()).or_default() += line.quantity;
        }
        needed
            .into_iter()
            .map(|(sku, quantity)| ReservedLine {
                sku: sku.to_string(),
                quantity,
            })
            .collect()
    }
}
