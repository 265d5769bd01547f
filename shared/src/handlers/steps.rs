//! The saga's services after validation, each a [`Step`] of [`super::saga::OrderSaga`].

use super::saga::Step;
use crate::batch::RecordError;
use crate::domain::inventory::sku_stream;
use crate::domain::saga::{OutOfStock, PaymentOutcome, StockReleased, StockReserved};
use crate::domain::{EventCodec, FraudPolicy, InventoryEvent, Order, OrderEvent, OrderStatus, ReservedLine, Shelf};
use crate::envelope::{Causality, EventEnvelope};
use crate::idempotency::{IdempotencyError, IdempotencyStore, Idempotent, run_once};
use crate::payment::{PaymentProvider, ProviderError};
use crate::store::{EventStore, StoreError};
use crate::views::OrderViews;

/// `fraud-detector`: `OrderValidated` → `FraudCleared` or `FraudSuspected`.
pub struct FraudScreening<V> {
    pub views: V,
    pub policy: FraudPolicy,
    /// How far back the customer's orders count for velocity.
    pub window: chrono::Duration,
}

impl<V: OrderViews> Step for FraudScreening<V> {
    const CONSUMER: &'static str = "fraud-detector";
    const TRIGGERS: &'static [&'static str] = &["OrderValidated"];

    async fn decide(&self, order: &Order, trigger: &EventEnvelope) -> Result<Option<OrderEvent>, RecordError> {
        if order.status != OrderStatus::Validated {
            return Ok(None);
        }
        let since = trigger.occurred_at - self.window;
        let recent = self
            .views
            .count_by_customer_since(&order.customer_id, since)
            .await
            .map_err(|e| RecordError::Retryable(e.to_string()))?;
        Ok(order.screen(recent, &self.policy))
    }
}

/// `payment`: `StockReserved` → `PaymentAuthorized` or `PaymentDeclined`; `OrderTimedOut` of
/// an authorized order → the authorization voided, then `PaymentVoided`.
///
/// Each call to the provider (a charge, a void) runs once per order under an idempotency
/// key, and the provider gets the same key: a trigger redelivered after the provider
/// answered but before the outcome was appended gets the stored answer, and the customer
/// is not charged twice.
pub struct Payment<I, P> {
    pub idempotency: I,
    pub provider: P,
}

impl<I: IdempotencyStore, P: PaymentProvider> Step for Payment<I, P> {
    const CONSUMER: &'static str = "payment";
    const TRIGGERS: &'static [&'static str] = &["StockReserved", "OrderTimedOut"];

    /// Charges a reserved order; voids the authorization of one that timed out, found in
    /// the record of the charge (the provider's answer), not only in the order's events:
    /// the timeout may have won the race against `PaymentAuthorized`.
    async fn decide(&self, order: &Order, _trigger: &EventEnvelope) -> Result<Option<OrderEvent>, RecordError> {
        let request = serde_json::json!({ "orderId": order.id, "total": order.total });
        let charge_key = format!("payment#charge#{}", order.id);
        let charged = match order.status {
            OrderStatus::Reserved => {
                let charge = || async { self.provider.charge(&charge_key, order).await.map_err(provider_error) };
                let outcome = run_once(&self.idempotency, &charge_key, &request, charge).await.map_err(record_error)?;
                return Ok(order.pay(outcome));
            }
            // A charge in progress makes this retry (InProgress); with no charge recorded,
            // the provider's own books decide, and the record then fences off a late charge.
            OrderStatus::TimedOut if !order.payment_voided && order.payment_requested => {
                let withhold = || async {
                    let made = self.provider.charged(&charge_key).await.map_err(provider_error)?;
                    Ok::<_, RecordError>(made.unwrap_or(PaymentOutcome::Withheld))
                };
                run_once(&self.idempotency, &charge_key, &request, withhold).await.map_err(record_error)?
            }
            _ => return Ok(None),
        };
        let Some(void) = order.void_payment(Some(&charged)) else { return Ok(None) };
        void_once(&self.idempotency, &self.provider, order, &void).await?;
        Ok(Some(void))
    }
}

/// Voids the authorization `void` names at the provider, once per order whoever asks
/// (the payment step after a timeout, or the API for a callback that came too late).
pub async fn void_once<I: IdempotencyStore, P: PaymentProvider>(
    idempotency: &I,
    provider: &P,
    order: &Order,
    void: &OrderEvent,
) -> Result<(), RecordError> {
    let OrderEvent::PaymentVoided(voided) = void else { return Ok(()) };
    let key = format!("payment#void#{}", order.id);
    let request = serde_json::json!({ "orderId": order.id, "total": order.total });
    let cancel = || async { provider.void(&key, order.id, &voided.authorization_id).await.map_err(provider_error) };
    run_once(idempotency, &key, &request, cancel).await.map_err(record_error)
}

fn provider_error(error: ProviderError) -> RecordError {
    RecordError::Retryable(error.to_string())
}

/// A refused or failed idempotent effect as a batch record's outcome.
pub(crate) fn record_error(error: Idempotent<RecordError>) -> RecordError {
    match error {
        Idempotent::Failed(error) => error,
        Idempotent::Refused(refused @ (IdempotencyError::InProgress { .. } | IdempotencyError::Store(_))) => {
            RecordError::Retryable(refused.to_string())
        }
        Idempotent::Refused(refused) => RecordError::Poison(refused.to_string()),
    }
}

/// `shipping`: `PaymentAuthorized` → `ShipmentScheduled`.
pub struct Shipping;

impl Step for Shipping {
    const CONSUMER: &'static str = "shipping";
    const TRIGGERS: &'static [&'static str] = &["PaymentAuthorized"];

    async fn decide(&self, order: &Order, _trigger: &EventEnvelope) -> Result<Option<OrderEvent>, RecordError> {
        Ok(order.ship())
    }
}

/// `inventory`: `FraudCleared` → stock held on every SKU stream, then `StockReserved` (or
/// `OutOfStock`, having given back what it took); an order that ended without shipping →
/// whatever the shelves hold for it given back, then `StockReleased`.
///
/// What is given back is read from the shelves, not from the order's `StockReserved`: a
/// timeout can win the race against `StockReserved` after the shelves were changed, and the
/// order's own events then show nothing to release.
pub struct StockKeeping<S> {
    pub store: S,
}

/// Attempts per SKU when another order changed the same shelf first.
const SHELF_ATTEMPTS: u32 = 5;

impl<S: EventStore> Step for StockKeeping<S> {
    const CONSUMER: &'static str = "inventory";
    const TRIGGERS: &'static [&'static str] = &["FraudCleared", "PaymentDeclined", "OrderTimedOut"];

    async fn decide(&self, order: &Order, trigger: &EventEnvelope) -> Result<Option<OrderEvent>, RecordError> {
        let causality = Causality::caused_by(trigger);
        if order.status == OrderStatus::Cleared {
            return self.reserve(order, &causality).await.map(Some);
        }
        let ended_unshipped = order.status.is_terminal() && order.status != OrderStatus::Completed;
        // Shelves are read only for an order that ever reached inventory: most timeouts
        // under load happen before that, and a shelf's history is long.
        if !(ended_unshipped || order.status == OrderStatus::PaymentDeclined) || !order.stock_requested {
            return Ok(None);
        }
        let released = self.release(order, &order.stock_needed(), &causality).await?;
        let lines = if released.is_empty() { order.reserved.clone() } else { released };
        let record = match order.status {
            OrderStatus::PaymentDeclined => true,
            OrderStatus::TimedOut => !lines.is_empty(),
            _ => false, // nothing in its history to record a release against
        };
        Ok(record.then_some(OrderEvent::StockReleased(StockReleased { order_id: order.id, lines })))
    }
}

impl<S: EventStore> StockKeeping<S> {
    async fn reserve(&self, order: &Order, causality: &Causality) -> Result<OrderEvent, RecordError> {
        let needed = order.stock_needed();
        for (taken, line) in needed.iter().enumerate() {
            if let Err(available) =
                self.on_shelf(&line.sku, causality, |shelf| shelf.allocate(&line.sku, order.id, line.quantity)).await?
            {
                self.release(order, &needed[..taken], causality).await?;
                return Ok(OrderEvent::OutOfStock(OutOfStock {
                    order_id: order.id,
                    sku: line.sku.clone(),
                    requested: line.quantity,
                    available,
                    notify: order.notify.clone(),
                }));
            }
        }
        Ok(OrderEvent::StockReserved(StockReserved { order_id: order.id, lines: needed }))
    }

    /// Gives back what the shelves of `lines`' SKUs hold for the order; returns what it gave.
    async fn release(
        &self,
        order: &Order,
        lines: &[ReservedLine],
        causality: &Causality,
    ) -> Result<Vec<ReservedLine>, RecordError> {
        let mut released = Vec::new();
        for line in lines {
            let given = std::sync::Mutex::new(None);
            self.on_shelf(&line.sku, causality, |shelf| {
                let event = shelf.deallocate(&line.sku, order.id);
                *given.lock().unwrap_or_else(|e| e.into_inner()) = shelf.held.get(&order.id).copied();
                Ok::<_, u32>(event)
            })
            .await?
            .ok();
            if let Some(quantity) = given.into_inner().unwrap_or_else(|e| e.into_inner()) {
                released.push(ReservedLine { sku: line.sku.clone(), quantity });
            }
        }
        Ok(released)
    }

    /// Loads one SKU's shelf, asks `change` what to append, appends it with the shelf's
    /// version; on a conflict it starts over. `Err(available)` passes a refusal through.
    async fn on_shelf(
        &self,
        sku: &str,
        causality: &Causality,
        change: impl Fn(&Shelf) -> Result<Option<InventoryEvent>, u32>,
    ) -> Result<Result<(), u32>, RecordError> {
        let stream = sku_stream(sku);
        for _ in 0..SHELF_ATTEMPTS {
            let history = self.store.load(&stream, 0).await.map_err(|e| RecordError::Retryable(e.to_string()))?;
            let version = history.last().map_or(0, |e| e.version);
            let events = history
                .iter()
                .map(|e| InventoryEvent::from_envelope(e).map_err(|e| RecordError::Poison(e.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            let event = match change(&Shelf::replay(&events)) {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(Ok(())),
                Err(available) => return Ok(Err(available)),
            };
            match self
                .store
                .append(&stream, version, vec![event.into_new_event(causality.clone(), crate::clock::now())])
                .await
            {
                Ok(_) => return Ok(Ok(())),
                Err(StoreError::Conflict { .. }) => continue,
                Err(other) => return Err(RecordError::Retryable(other.to_string())),
            }
        }
        Err(RecordError::Retryable(format!("shelf {sku} kept changing under {SHELF_ATTEMPTS} attempts")))
    }
}
