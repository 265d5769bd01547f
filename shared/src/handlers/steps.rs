//! The saga's services after validation, each a [`Step`] of [`super::saga::OrderSaga`].

use super::saga::Step;
use crate::batch::RecordError;
use crate::domain::inventory::sku_stream;
use crate::domain::saga::{OutOfStock, StockReleased, StockReserved};
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

    /// Charges a reserved order; voids the authorization of one that timed out.
    async fn decide(&self, order: &Order, _trigger: &EventEnvelope) -> Result<Option<OrderEvent>, RecordError> {
        let request = serde_json::json!({ "orderId": order.id, "total": order.total });
        if order.status == OrderStatus::Reserved {
            let key = format!("payment#charge#{}", order.id);
            let charge = || async { self.provider.charge(&key, order).await.map_err(provider_error) };
            let outcome = run_once(&self.idempotency, &key, &request, charge).await.map_err(record_error)?;
            return Ok(order.pay(outcome));
        }
        let Some(void) = order.void_payment() else { return Ok(None) };
        let OrderEvent::PaymentVoided(voided) = &void else { return Ok(None) };
        let key = format!("payment#void#{}", order.id);
        let cancel =
            || async { self.provider.void(&key, order.id, &voided.authorization_id).await.map_err(provider_error) };
        run_once(&self.idempotency, &key, &request, cancel).await.map_err(record_error)?;
        Ok(Some(void))
    }
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
/// `OutOfStock`, having given back what it took); `PaymentDeclined` or `OrderTimedOut` of
/// an order holding stock → stock given back, then `StockReleased`.
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
        match order.status {
            OrderStatus::Cleared => self.reserve(order, &causality).await.map(Some),
            OrderStatus::PaymentDeclined | OrderStatus::TimedOut if !order.reserved.is_empty() => {
                self.release(order, &order.reserved, &causality).await?;
                Ok(Some(OrderEvent::StockReleased(StockReleased { order_id: order.id, lines: order.reserved.clone() })))
            }
            _ => Ok(None),
        }
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

    async fn release(&self, order: &Order, lines: &[ReservedLine], causality: &Causality) -> Result<(), RecordError> {
        for line in lines {
            self.on_shelf(&line.sku, causality, |shelf| Ok::<_, u32>(shelf.deallocate(&line.sku, order.id)))
                .await?
                .ok();
        }
        Ok(())
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
