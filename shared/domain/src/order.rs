//! The order aggregate: `PlaceOrder` is checked at the edge, the validator decides
//! `OrderValidated` or `OrderRejected`, and state is rebuilt by folding events.

use super::country::Country;
use super::money::{Currency, Money};
use super::notifications::Channel;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;
use uuid::Uuid;

use super::codec::EventCodec;
use super::saga::{
    FraudCleared, FraudSuspected, OrderTimedOut, OutOfStock, PaymentAuthorized, PaymentDeclined, PaymentVoided,
    ReservedLine, ShipmentScheduled, StockReleased, StockReserved,
};
use toolkit::envelope::StreamId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct OrderId(pub Uuid);

impl OrderId {
    pub fn generate() -> Self {
        Self(toolkit::clock::new_uuid())
    }

    pub fn parse(text: &str) -> Option<Self> {
        Uuid::parse_str(text).ok().map(Self)
    }

    /// The id of the order a caller's idempotency key stands for: the same key always
    /// names the same order (a UUIDv8 from the key's SHA-256).
    pub fn for_idempotency_key(scoped_key: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(scoped_key.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// The event-store stream that holds this order's events.
    pub fn stream_id(&self) -> StreamId {
        StreamId::new(format!("{}{}", Self::STREAM_PREFIX, self.0))
    }

    pub const STREAM_PREFIX: &'static str = "order-";

    /// The order whose stream `stream` names (`None` for any other stream).
    pub fn of_stream(stream: &str) -> Option<Self> {
        stream.strip_prefix(Self::STREAM_PREFIX).and_then(Self::parse)
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderLine {
    pub sku: String,
    pub quantity: u32,
    pub unit_price: Money,
}

/// The command behind `POST /orders`, already checked: build it with [`PlaceOrder::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    pub customer_id: String,
    /// The API caller (key name) placing it: it owns the order. Set by the API, not the body.
    pub placed_by: Option<String>,
    pub lines: Vec<OrderLine>,
    pub total: Money,
    pub shipping_country: Option<Country>,
    pub billing_country: Option<Country>,
    pub notify: Option<Vec<Channel>>,
}

/// Why a command was refused at the edge; `field` is a JSON path into the request body.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct InvalidCommand {
    pub field: String,
    pub message: String,
}

impl InvalidCommand {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// The body of `POST /orders`, as the API contract (`PlaceOrder` in the schema registry).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "PlaceOrder")]
pub struct PlaceOrderRequest {
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    customer_id: String,
    currency: Currency,
    #[schemars(length(min = 1, max = 100))]
    lines: Vec<OrderLineRequest>,
    /// Where the order ships to (since v2).
    #[serde(default)]
    shipping_country: Option<Country>,
    /// Where the card was issued (since v2).
    #[serde(default)]
    billing_country: Option<Country>,
    /// The channels to be told about the outcome on, each at most once (since v3; default:
    /// all; at most the three channels since v4).
    #[serde(default)]
    #[schemars(length(max = 3), extend("uniqueItems" = true))]
    notify: Option<Vec<Channel>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderLineRequest {
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    sku: String,
    #[schemars(range(min = 1))]
    quantity: u32,
    /// Price of one unit in the currency's minor unit.
    #[schemars(range(min = 0))]
    unit_price_minor: i64,
}

const MAX_ID_LEN: usize = 64;
const MAX_LINES: usize = 100;
/// Each distinct SKU is a shelf the inventory step loads and appends to (two to three
/// DynamoDB calls): 25 keeps a batch of ten such orders near 750 calls, inside the
/// function's 10 s even at 10 ms a call.
pub const MAX_DISTINCT_SKUS: usize = 25;

impl PlaceOrder {
    /// Parses and checks a request body; the error names the first bad field.
    pub fn parse(body: &[u8]) -> Result<Self, InvalidCommand> {
        let deserializer = &mut serde_json::Deserializer::from_slice(body);
        let parsed: PlaceOrderRequest = serde_path_to_error::deserialize(deserializer).map_err(body_error)?;
        check_identifier("customerId", &parsed.customer_id)?;
        if parsed.lines.is_empty() {
            return Err(InvalidCommand::new("lines", "an order needs at least one line"));
        }
        if parsed.lines.len() > MAX_LINES {
            return Err(InvalidCommand::new("lines", format!("at most {MAX_LINES} lines")));
        }
        let lines = parsed
            .lines
            .into_iter()
            .enumerate()
            .map(|(i, line)| line.check(i, &parsed.currency))
            .collect::<Result<Vec<_>, _>>()?;
        let skus: std::collections::BTreeSet<&str> = lines.iter().map(|line| line.sku.as_str()).collect();
        if skus.len() > MAX_DISTINCT_SKUS {
            let why = format!("{} distinct SKUs; an order may name at most {MAX_DISTINCT_SKUS}", skus.len());
            return Err(InvalidCommand::new("lines", why));
        }
        if let Some(channels) = &parsed.notify {
            check_channels(channels)?;
        }
        let command = PlaceOrder::new(parsed.customer_id, parsed.currency, lines)?;
        if command.total.amount_minor <= 0 {
            // Nothing to charge: the payment rule ships only positive amounts, so such an
            // order could never complete.
            return Err(InvalidCommand::new("lines", "the order total must be greater than 0"));
        }
        Ok(PlaceOrder {
            shipping_country: parsed.shipping_country,
            billing_country: parsed.billing_country,
            notify: parsed.notify,
            ..command
        })
    }

    /// A command with its total; fails when the total does not fit in 64 bits.
    pub fn new(customer_id: String, currency: Currency, lines: Vec<OrderLine>) -> Result<Self, InvalidCommand> {
        let total =
            order_total(&lines, &currency).ok_or_else(|| InvalidCommand::new("lines", "the order total overflows"))?;
        Ok(PlaceOrder {
            customer_id,
            placed_by: None,
            lines,
            total,
            shipping_country: None,
            billing_country: None,
            notify: None,
        })
    }
}

impl OrderLineRequest {
    fn check(self, index: usize, currency: &Currency) -> Result<OrderLine, InvalidCommand> {
        let at = |field: &str| format!("lines[{index}].{field}");
        check_identifier(&at("sku"), &self.sku)?;
        if self.quantity == 0 {
            return Err(InvalidCommand::new(at("quantity"), "must be at least 1"));
        }
        if self.unit_price_minor < 0 {
            return Err(InvalidCommand::new(at("unitPriceMinor"), "must not be negative"));
        }
        Ok(OrderLine {
            sku: self.sku,
            quantity: self.quantity,
            unit_price: Money { amount_minor: self.unit_price_minor, currency: currency.clone() },
        })
    }
}

/// Names the field a JSON error is about: the whole body for broken JSON, the missing
/// field itself for "missing field", else the path where reading stopped.
fn body_error(error: serde_path_to_error::Error<serde_json::Error>) -> InvalidCommand {
    let path = error.path().to_string();
    let inner = error.into_inner();
    let message = inner.to_string();
    if matches!(inner.classify(), serde_json::error::Category::Syntax | serde_json::error::Category::Eof) {
        return InvalidCommand::new("body", format!("not valid JSON: {message}"));
    }
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    let field = match (missing, path.as_str()) {
        (Some(name), ".") => name.to_string(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, ".") => "body".to_string(),
        (None, _) => path,
    };
    InvalidCommand::new(field, message)
}

/// A channel preference names each channel at most once: every event that copies it (and
/// every message it travels in) stays bounded, whatever the caller sends.
fn check_channels(channels: &[Channel]) -> Result<(), InvalidCommand> {
    for (index, channel) in channels.iter().enumerate() {
        if channels[..index].contains(channel) {
            let name = match channel {
                Channel::Email => "email",
                Channel::Sms => "sms",
                Channel::Webhook => "webhook",
            };
            let message = format!("{name} is named twice; name each channel (email, sms, webhook) at most once");
            return Err(InvalidCommand::new(format!("notify[{index}]"), message));
        }
    }
    Ok(())
}

/// An id of the API's kind: 1 to 64 characters of A-Z, a-z, 0-9, '-' or '_'.
pub fn check_identifier(field: &str, value: &str) -> Result<(), InvalidCommand> {
    let valid_chars = value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if value.is_empty() || value.len() > MAX_ID_LEN || !valid_chars {
        return Err(InvalidCommand::new(
            field,
            format!("must be 1 to {MAX_ID_LEN} characters of A-Z, a-z, 0-9, '-' or '_'"),
        ));
    }
    Ok(())
}

fn order_total(lines: &[OrderLine], currency: &Currency) -> Option<Money> {
    let amount_minor = lines.iter().try_fold(0i64, |sum, line| {
        line.unit_price.amount_minor.checked_mul(i64::from(line.quantity))?.checked_add(sum)
    })?;
    Some(Money { amount_minor, currency: currency.clone() })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderPlaced {
    pub order_id: OrderId,
    pub customer_id: String,
    /// The API key (by name) that placed the order and may read it (since v5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_by: Option<String>,
    pub lines: Vec<OrderLine>,
    pub total: Money,
    /// Units over all lines (since v2; v1 events get it from their upcaster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_count: Option<u32>,
    /// Since v3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_country: Option<Country>,
    /// Since v3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_country: Option<Country>,
    /// The channels the customer wants to be told on (since v4; none given: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<Vec<Channel>>,
}

/// OrderPlaced v1 → v2: v1 had no `itemCount`; it is the sum of the lines' quantities.
pub fn upcast_order_placed_v1(mut payload: serde_json::Value) -> serde_json::Value {
    let item_count: u64 = payload["lines"]
        .as_array()
        .map(|lines| lines.iter().filter_map(|line| line["quantity"].as_u64()).sum())
        .unwrap_or(0);
    payload["itemCount"] = serde_json::json!(item_count);
    payload
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderValidated {
    pub order_id: OrderId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderRejected {
    pub order_id: OrderId,
    pub reasons: Vec<String>,
    /// The channels the customer wants to hear this on (since v2).
    #[serde(default)]
    pub notify: Vec<Channel>,
}

/// Every event of the order stream; the variant name is the event type on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "eventType", content = "payload")]
pub enum OrderEvent {
    OrderPlaced(OrderPlaced),
    OrderValidated(OrderValidated),
    OrderRejected(OrderRejected),
    FraudCleared(FraudCleared),
    FraudSuspected(FraudSuspected),
    StockReserved(StockReserved),
    OutOfStock(OutOfStock),
    PaymentAuthorized(PaymentAuthorized),
    PaymentDeclined(PaymentDeclined),
    StockReleased(StockReleased),
    ShipmentScheduled(ShipmentScheduled),
    OrderTimedOut(OrderTimedOut),
    PaymentVoided(PaymentVoided),
}

impl EventCodec for OrderEvent {
    const VERSIONS: &'static [(&'static str, u32)] = &[
        ("OrderPlaced", 5),
        ("OrderValidated", 1),
        ("OrderRejected", 2),
        ("FraudCleared", 1),
        ("FraudSuspected", 2),
        ("StockReserved", 1),
        ("OutOfStock", 2),
        ("PaymentAuthorized", 1),
        ("PaymentDeclined", 2),
        ("StockReleased", 1),
        ("ShipmentScheduled", 2),
        ("OrderTimedOut", 2),
        ("PaymentVoided", 1),
    ];

    fn event_type(&self) -> &'static str {
        match self {
            OrderEvent::OrderPlaced(_) => "OrderPlaced",
            OrderEvent::OrderValidated(_) => "OrderValidated",
            OrderEvent::OrderRejected(_) => "OrderRejected",
            OrderEvent::FraudCleared(_) => "FraudCleared",
            OrderEvent::FraudSuspected(_) => "FraudSuspected",
            OrderEvent::StockReserved(_) => "StockReserved",
            OrderEvent::OutOfStock(_) => "OutOfStock",
            OrderEvent::PaymentAuthorized(_) => "PaymentAuthorized",
            OrderEvent::PaymentDeclined(_) => "PaymentDeclined",
            OrderEvent::StockReleased(_) => "StockReleased",
            OrderEvent::ShipmentScheduled(_) => "ShipmentScheduled",
            OrderEvent::OrderTimedOut(_) => "OrderTimedOut",
            OrderEvent::PaymentVoided(_) => "PaymentVoided",
        }
    }
}

impl OrderEvent {
    pub fn order_id(&self) -> OrderId {
        match self {
            OrderEvent::OrderPlaced(e) => e.order_id,
            OrderEvent::OrderValidated(e) => e.order_id,
            OrderEvent::OrderRejected(e) => e.order_id,
            OrderEvent::FraudCleared(e) => e.order_id,
            OrderEvent::FraudSuspected(e) => e.order_id,
            OrderEvent::StockReserved(e) => e.order_id,
            OrderEvent::OutOfStock(e) => e.order_id,
            OrderEvent::PaymentAuthorized(e) => e.order_id,
            OrderEvent::PaymentDeclined(e) => e.order_id,
            OrderEvent::StockReleased(e) => e.order_id,
            OrderEvent::ShipmentScheduled(e) => e.order_id,
            OrderEvent::OrderTimedOut(e) => e.order_id,
            OrderEvent::PaymentVoided(e) => e.order_id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    Placed,
    Validated,
    Rejected,
    /// Fraud screening passed.
    Cleared,
    /// Held for fraud review.
    OnHold,
    Reserved,
    Cancelled,
    Paid,
    /// Payment failed; the stock is being released.
    PaymentDeclined,
    Completed,
    /// Nothing decided the order in time; what it took is given back.
    TimedOut,
}

impl OrderStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Rejected
                | OrderStatus::OnHold
                | OrderStatus::Cancelled
                | OrderStatus::Completed
                | OrderStatus::TimedOut
        )
    }

    /// The status an event leads to from this one; `None` when the saga does not allow it.
    pub fn after(self, event: &OrderEvent) -> Option<OrderStatus> {
        use OrderStatus::*;
        Some(match (self, event) {
            (Placed, OrderEvent::OrderValidated(_)) => Validated,
            (Placed, OrderEvent::OrderRejected(_)) => Rejected,
            (Validated, OrderEvent::FraudCleared(_)) => Cleared,
            (Validated, OrderEvent::FraudSuspected(_)) => OnHold,
            (Cleared, OrderEvent::StockReserved(_)) => Reserved,
            (Cleared, OrderEvent::OutOfStock(_)) => Cancelled,
            (Reserved, OrderEvent::PaymentAuthorized(_)) => Paid,
            (Reserved, OrderEvent::PaymentDeclined(_)) => PaymentDeclined,
            (PaymentDeclined, OrderEvent::StockReleased(_)) => Cancelled,
            (Paid, OrderEvent::ShipmentScheduled(_)) => Completed,
            (status, OrderEvent::OrderTimedOut(_)) if !status.is_terminal() => TimedOut,
            (TimedOut, OrderEvent::StockReleased(_) | OrderEvent::PaymentVoided(_)) => TimedOut,
            _ => return None,
        })
    }
}

/// Errors of the order's own rules; `PartialEq` so tests can compare them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OrderError {
    #[error("order history must start with OrderPlaced, found {0}")]
    HistoryWithoutPlacement(&'static str),
    #[error("order {0} was placed twice")]
    PlacedTwice(OrderId),
    #[error("order {order_id} is {status:?}: {event} cannot happen now")]
    NotNow { order_id: OrderId, status: OrderStatus, event: &'static str },
}

/// Limits the validator enforces; configured per deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationPolicy {
    pub max_order_total_minor: i64,
    pub max_line_quantity: u32,
    pub accepted_currencies: Vec<Currency>,
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        Self {
            max_order_total_minor: 1_000_000,
            max_line_quantity: 100,
            accepted_currencies: ["EUR", "USD", "GBP"]
                .into_iter()
                .map(|c| Currency::try_from(c.to_string()).expect("valid literal"))
                .collect(),
        }
    }
}

/// Order state, rebuilt from its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: OrderId,
    pub customer_id: String,
    /// The API key (by name) that placed it; its customer ids are its own.
    pub placed_by: Option<String>,
    pub lines: Vec<OrderLine>,
    pub total: Money,
    pub status: OrderStatus,
    /// Stock this order holds (from StockReserved until StockReleased).
    pub reserved: Vec<ReservedLine>,
    /// The payment authorization, until it is voided.
    pub authorization: Option<String>,
    /// Whether an authorization of this order was voided (compensation happens once).
    pub payment_voided: bool,
    /// Whether it was ever cleared for stock (before that, no shelf can hold any for it).
    pub stock_requested: bool,
    /// Whether its stock was ever reserved (before that, no charge can have been made).
    pub payment_requested: bool,
    pub shipping_country: Option<Country>,
    pub billing_country: Option<Country>,
    /// The channels the customer is told on.
    pub notify: Vec<Channel>,
}

impl Order {
    /// Decides the event for a new order.
    pub fn place(id: OrderId, command: PlaceOrder) -> OrderEvent {
        OrderEvent::OrderPlaced(OrderPlaced {
            order_id: id,
            customer_id: command.customer_id,
            placed_by: command.placed_by,
            item_count: Some(command.lines.iter().map(|line| line.quantity).fold(0u32, u32::saturating_add)),
            lines: command.lines,
            total: command.total,
            shipping_country: command.shipping_country,
            billing_country: command.billing_country,
            notify: command.notify,
        })
    }

    /// Folds a history, oldest first, into the current state (`None` for no events).
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a OrderEvent>) -> Result<Option<Order>, OrderError> {
        events.into_iter().try_fold(None, |state, event| Order::apply(state, event).map(Some))
    }

    pub fn apply(state: Option<Order>, event: &OrderEvent) -> Result<Order, OrderError> {
        let order = match (state, event) {
            (None, OrderEvent::OrderPlaced(placed)) => {
                return Ok(Order {
                    id: placed.order_id,
                    customer_id: placed.customer_id.clone(),
                    placed_by: placed.placed_by.clone(),
                    lines: placed.lines.clone(),
                    total: placed.total.clone(),
                    status: OrderStatus::Placed,
                    reserved: Vec::new(),
                    authorization: None,
                    payment_voided: false,
                    stock_requested: false,
                    payment_requested: false,
                    shipping_country: placed.shipping_country.clone(),
                    billing_country: placed.billing_country.clone(),
                    notify: placed.notify.clone().unwrap_or_else(|| Channel::ALL.to_vec()),
                });
            }
            (None, other) => return Err(OrderError::HistoryWithoutPlacement(other.event_type())),
            (Some(order), OrderEvent::OrderPlaced(_)) => {
                return Err(OrderError::PlacedTwice(order.id));
            }
            (Some(order), _) => order,
        };
        let Some(status) = order.status.after(event) else {
            return Err(OrderError::NotNow { order_id: order.id, status: order.status, event: event.event_type() });
        };
        let reserved = match event {
            OrderEvent::StockReserved(e) => e.lines.clone(),
            OrderEvent::StockReleased(_) => Vec::new(),
            _ => order.reserved,
        };
        let authorization = match event {
            OrderEvent::PaymentAuthorized(e) => Some(e.authorization_id.clone()),
            OrderEvent::PaymentVoided(_) => None,
            _ => order.authorization,
        };
        let payment_voided = order.payment_voided || matches!(event, OrderEvent::PaymentVoided(_));
        let stock_requested = order.stock_requested || matches!(event, OrderEvent::FraudCleared(_));
        let payment_requested = order.payment_requested || matches!(event, OrderEvent::StockReserved(_));
        Ok(Order { status, reserved, authorization, payment_voided, stock_requested, payment_requested, ..order })
    }

    /// Checks a placed order against the policy. `None` when it was already decided,
    /// so a redelivered `OrderPlaced` changes nothing.
    pub fn validate(&self, policy: &ValidationPolicy) -> Option<OrderEvent> {
        if self.status != OrderStatus::Placed {
            return None;
        }
        let reasons = self.policy_violations(policy);
        Some(if reasons.is_empty() {
            OrderEvent::OrderValidated(OrderValidated { order_id: self.id })
        } else {
            OrderEvent::OrderRejected(OrderRejected { order_id: self.id, reasons, notify: self.notify.clone() })
        })
    }

    fn policy_violations(&self, policy: &ValidationPolicy) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.total.amount_minor <= 0 {
            reasons.push(format!("order total {} is not greater than 0", self.total));
        }
        if !policy.accepted_currencies.contains(&self.total.currency) {
            reasons.push(format!("currency {} is not accepted", self.total.currency));
        }
        if self.total.amount_minor > policy.max_order_total_minor {
            let limit = Money { amount_minor: policy.max_order_total_minor, currency: self.total.currency.clone() };
            reasons.push(format!("order total {} exceeds the limit of {limit}", self.total));
        }
        for line in self.lines.iter().filter(|l| l.quantity > policy.max_line_quantity) {
            reasons.push(format!(
                "quantity {} of {} exceeds the limit of {} per line",
                line.quantity, line.sku, policy.max_line_quantity
            ));
        }
        reasons
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeError;
    use toolkit::envelope::Causality;

    fn eur(amount_minor: i64) -> Money {
        Money { amount_minor, currency: Currency::try_from("EUR".to_string()).unwrap() }
    }

    fn placed(id: OrderId, quantity: u32, unit_price_minor: i64) -> OrderEvent {
        let line = OrderLine { sku: "SKU-1".into(), quantity, unit_price: eur(unit_price_minor) };
        let total = eur(unit_price_minor * i64::from(quantity));
        OrderEvent::OrderPlaced(OrderPlaced {
            order_id: id,
            customer_id: "c-1".into(),
            placed_by: None,
            lines: vec![line],
            total,
            item_count: Some(quantity),
            shipping_country: None,
            billing_country: None,
            notify: None,
        })
    }

    /// given(events).when(validate).then(expected decision)
    fn given_when_validated(events: &[OrderEvent]) -> Option<OrderEvent> {
        let order = Order::replay(events).unwrap().expect("an order");
        order.validate(&ValidationPolicy::default())
    }

    #[test]
    fn a_channel_named_twice_is_refused_naming_where() {
        let channels: Vec<&str> = std::iter::repeat_n("sms", 40_000).collect();
        let body = serde_json::json!({
            "customerId": "c-1", "currency": "EUR",
            "lines": [{ "sku": "A", "quantity": 1, "unitPriceMinor": 100 }],
            "notify": channels,
        });
        let refused = PlaceOrder::parse(body.to_string().as_bytes()).expect_err("refused");
        assert_eq!(refused.field, "notify[1]");
        assert!(refused.message.contains("sms is named twice"), "{}", refused.message);
        let body = serde_json::json!({
            "customerId": "c-1", "currency": "EUR",
            "lines": [{ "sku": "A", "quantity": 1, "unitPriceMinor": 100 }],
            "notify": ["webhook", "email", "sms"],
        });
        assert!(PlaceOrder::parse(body.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn an_order_naming_more_distinct_skus_than_the_inventory_step_is_sized_for_is_refused() {
        let body = |skus: usize| {
            let lines: Vec<serde_json::Value> = (0..MAX_LINES)
                .map(|i| serde_json::json!({ "sku": format!("S{}", i % skus), "quantity": 1, "unitPriceMinor": 1 }))
                .collect();
            serde_json::json!({ "customerId": "c", "currency": "EUR", "lines": lines }).to_string()
        };
        assert!(PlaceOrder::parse(body(MAX_DISTINCT_SKUS).as_bytes()).is_ok());
        let refused = PlaceOrder::parse(body(MAX_DISTINCT_SKUS + 1).as_bytes()).expect_err("refused");
        assert_eq!(refused.field, "lines");
        assert!(refused.message.contains("26 distinct SKUs"), "{}", refused.message);
    }

    #[test]
    fn the_largest_order_the_api_accepts_fits_the_event_budget() {
        let sku = "S".repeat(MAX_ID_LEN);
        let lines: Vec<serde_json::Value> = (0..MAX_LINES)
            .map(|_| serde_json::json!({ "sku": sku, "quantity": u32::MAX, "unitPriceMinor": 1 }))
            .collect();
        let body = serde_json::json!({
            "customerId": "C".repeat(MAX_ID_LEN), "currency": "EUR", "lines": lines,
            "shippingCountry": "DE", "billingCountry": "DE", "notify": ["email", "sms", "webhook"],
        });
        let command = PlaceOrder {
            placed_by: Some("K".repeat(MAX_ID_LEN)),
            ..PlaceOrder::parse(body.to_string().as_bytes()).expect("valid")
        };
        let placed = Order::place(OrderId::generate(), command)
            .into_new_event(
                Causality::of_request(
                    toolkit::envelope::CorrelationId::new("c".repeat(64)),
                    toolkit::envelope::CausationId::new("r".repeat(64)),
                    Some("t".repeat(64)),
                ),
                chrono::Utc::now(),
            )
            .into_envelope(OrderId::generate().stream_id(), 1);
        let bytes = toolkit::limits::json_len(&placed);
        assert!(bytes * 2 < toolkit::limits::EVENT_BUDGET_BYTES, "{bytes} bytes");
    }

    #[test]
    fn it_validates_an_order_within_the_limits() {
        let id = OrderId::generate();
        let decision = given_when_validated(&[placed(id, 2, 1_999)]);
        assert_eq!(decision, Some(OrderEvent::OrderValidated(OrderValidated { order_id: id })));
    }

    #[test]
    fn it_rejects_an_order_whose_line_quantity_exceeds_the_limit() {
        let id = OrderId::generate();
        let decision = given_when_validated(&[placed(id, 500, 10)]);
        assert_eq!(
            decision,
            Some(OrderEvent::OrderRejected(OrderRejected {
                order_id: id,
                reasons: vec!["quantity 500 of SKU-1 exceeds the limit of 100 per line".into()],
                notify: Channel::ALL.to_vec(),
            }))
        );
    }

    #[test]
    fn it_rejects_an_order_whose_total_exceeds_the_limit() {
        let id = OrderId::generate();
        let Some(OrderEvent::OrderRejected(rejected)) = given_when_validated(&[placed(id, 1, 2_000_000)]) else {
            panic!("expected a rejection");
        };
        assert_eq!(rejected.reasons, vec!["order total 20000.00 EUR exceeds the limit of 10000.00 EUR"]);
    }

    #[test]
    fn it_decides_nothing_for_an_order_already_validated() {
        let id = OrderId::generate();
        let validated = OrderEvent::OrderValidated(OrderValidated { order_id: id });
        assert_eq!(given_when_validated(&[placed(id, 1, 100), validated]), None);
    }

    #[test]
    fn it_refuses_a_history_that_does_not_start_with_placement() {
        let validated = OrderEvent::OrderValidated(OrderValidated { order_id: OrderId::generate() });
        assert_eq!(Order::replay(&[validated]), Err(OrderError::HistoryWithoutPlacement("OrderValidated")));
    }

    #[test]
    fn it_refuses_a_second_decision() {
        let id = OrderId::generate();
        let history = [
            placed(id, 1, 100),
            OrderEvent::OrderValidated(OrderValidated { order_id: id }),
            OrderEvent::OrderRejected(OrderRejected { order_id: id, reasons: vec![], notify: vec![] }),
        ];
        assert_eq!(
            Order::replay(&history),
            Err(OrderError::NotNow { order_id: id, status: OrderStatus::Validated, event: "OrderRejected" })
        );
    }

    #[test]
    fn it_parses_a_valid_request_body_and_computes_the_total() {
        let body = br#"{"customerId":"c-1","currency":"EUR","lines":[{"sku":"A","quantity":2,"unitPriceMinor":150},{"sku":"B","quantity":1,"unitPriceMinor":5}]}"#;
        let command = PlaceOrder::parse(body).unwrap();
        assert_eq!(command.total, eur(305));
        assert_eq!(command.lines.len(), 2);
    }

    fn field_of(body: &str) -> String {
        PlaceOrder::parse(body.as_bytes()).unwrap_err().field
    }

    #[test]
    fn it_names_the_bad_field_of_a_request_body() {
        assert_eq!(
            field_of(r#"{"customerId":"c","currency":"EUR","lines":[{"sku":"A","quantity":"2","unitPriceMinor":1}]}"#),
            "lines[0].quantity"
        );
        assert_eq!(
            field_of(r#"{"customerId":"c","currency":"EUR","lines":[{"sku":"A","quantity":0,"unitPriceMinor":1}]}"#),
            "lines[0].quantity"
        );
        assert_eq!(field_of(r#"{"customerId":"c","currency":"eur","lines":[]}"#), "currency");
        assert_eq!(field_of(r#"{"customerId":"","currency":"EUR","lines":[]}"#), "customerId");
        assert_eq!(field_of(r#"{"customerId":"c","currency":"EUR","lines":[]}"#), "lines");
        assert_eq!(
            field_of(r#"{"customerId":"c","currency":"EUR","lines":[{"sku":"A","quantity":1,"unitPriceMinor":-1}]}"#),
            "lines[0].unitPriceMinor"
        );
        assert_eq!(
            field_of(
                r#"{"customerId":"c","currency":"EUR","lines":[{"sku":"A","quantity":1,"unitPriceMinor":1}],"x":1}"#
            ),
            "x"
        );
        assert_eq!(field_of("not json"), "body");
    }

    #[test]
    fn it_says_which_field_is_missing() {
        let error = PlaceOrder::parse(br#"{"currency":"EUR","lines":[]}"#).unwrap_err();
        assert_eq!(error.field, "customerId");
        assert_eq!(
            field_of(r#"{"customerId":"c","currency":"EUR","lines":[{"sku":"A","quantity":1}]}"#),
            "lines[0].unitPriceMinor"
        );
    }

    #[test]
    fn it_blames_the_body_for_broken_json() {
        let error = PlaceOrder::parse(br#"{"customerId": "c", "currency": "#).unwrap_err();
        assert_eq!(error.field, "body");
        assert!(error.message.starts_with("not valid JSON: EOF while parsing"), "{error}");
    }

    #[test]
    fn it_refuses_an_order_total_that_overflows() {
        let body = format!(
            r#"{{"customerId":"c","currency":"EUR","lines":[{{"sku":"A","quantity":4000000000,"unitPriceMinor":{}}}]}}"#,
            i64::MAX / 2
        );
        assert_eq!(PlaceOrder::parse(body.as_bytes()).unwrap_err().field, "lines");
    }

    #[test]
    fn it_round_trips_every_event_through_the_envelope() {
        use toolkit::envelope::{CausationId, CorrelationId};
        let id = OrderId::generate();
        let causality =
            Causality { correlation_id: CorrelationId::new("c"), causation_id: CausationId::new("r"), trace_id: None };
        for event in [
            placed(id, 1, 100),
            OrderEvent::OrderValidated(OrderValidated { order_id: id }),
            OrderEvent::OrderRejected(OrderRejected { order_id: id, reasons: vec!["x".into()], notify: vec![] }),
        ] {
            let envelope =
                event.clone().into_new_event(causality.clone(), chrono::Utc::now()).into_envelope(id.stream_id(), 1);
            assert_eq!(OrderEvent::from_envelope(&envelope), Ok(event));
        }
    }

    #[test]
    fn it_refuses_unknown_types_and_versions_when_decoding() {
        use toolkit::envelope::{CausationId, CorrelationId};
        let causality =
            Causality { correlation_id: CorrelationId::new("c"), causation_id: CausationId::new("r"), trace_id: None };
        let mut envelope = placed(OrderId::generate(), 1, 1)
            .into_new_event(causality, chrono::Utc::now())
            .into_envelope(StreamId::new("s"), 1);
        envelope.schema_version = 9;
        assert!(matches!(OrderEvent::from_envelope(&envelope), Err(DecodeError::UnsupportedVersion { found: 9, .. })));
        envelope.event_type = "Nope".into();
        assert_eq!(OrderEvent::from_envelope(&envelope), Err(DecodeError::UnknownType("Nope".into())));
    }
}
