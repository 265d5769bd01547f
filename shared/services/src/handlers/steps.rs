//! The saga's services after validation, each a [`Step`] of [`super::step_runner::OrderSaga`].

use super::step_runner::Step;
use crate::views::OrderViews;
use domain::inventory::{SNAPSHOT_EVENT, sku_stream};
use domain::payment::PaymentProvider;
use domain::saga::{OutOfStock, PaymentOutcome, StockReleased, StockReserved};
use domain::{EventCodec, FraudPolicy, InventoryEvent, Order, OrderEvent, OrderStatus, ReservedLine, Shelf};
use toolkit::batch::RecordError;
use toolkit::envelope::{Causality, EventEnvelope};
use toolkit::idempotency::{IdempotencyStore, run_once};
use toolkit::invocation::Invocation;
use toolkit::store::{DecideError, Decision, EventStore, StoreError, decide_and_append};

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

    async fn decide(
        &self,
        order: &Order,
        trigger: &EventEnvelope,
        _invocation: &Invocation,
    ) -> Result<Option<OrderEvent>, RecordError> {
        if order.status != OrderStatus::Validated {
            return Ok(None);
        }
        let since = trigger.occurred_at - self.window;
        let owner = order.placed_by.as_deref().unwrap_or_default();
        let recent = self.views.count_by_customer_since(owner, &order.customer_id, since).await?;
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
    async fn decide(
        &self,
        order: &Order,
        _trigger: &EventEnvelope,
        invocation: &Invocation,
    ) -> Result<Option<OrderEvent>, RecordError> {
        let request = serde_json::json!({ "orderId": order.id, "total": order.total });
        let charge_key = format!("payment#charge#{}", order.id);
        let charged = match order.status {
            OrderStatus::Reserved => {
                let charge =
                    || async { self.provider.charge(&charge_key, order).await.map_err(RecordError::retryable) };
                let outcome = run_once(&self.idempotency, invocation, &charge_key, &request, charge).await?;
                return Ok(order.pay(outcome));
            }
            // A charge in progress makes this retry (InProgress); with no charge recorded,
            // the provider's own books decide, and the record then fences off a late charge.
            OrderStatus::TimedOut if !order.payment_voided && order.payment_requested => {
                let withhold = || async {
                    let made = self.provider.charged(&charge_key).await.map_err(RecordError::retryable)?;
                    Ok::<_, RecordError>(made.unwrap_or(PaymentOutcome::Withheld))
                };
                run_once(&self.idempotency, invocation, &charge_key, &request, withhold).await?
            }
            _ => return Ok(None),
        };
        let Some(void) = order.void_payment(Some(&charged)) else { return Ok(None) };
        void_once(&self.idempotency, &self.provider, invocation, order, &void).await?;
        Ok(Some(void))
    }
}

/// Voids the authorization `void` names at the provider, once per order whoever asks
/// (the payment step after a timeout, or the API for a callback that came too late).
pub async fn void_once<I: IdempotencyStore, P: PaymentProvider>(
    idempotency: &I,
    provider: &P,
    invocation: &Invocation,
    order: &Order,
    void: &OrderEvent,
) -> Result<(), RecordError> {
    let OrderEvent::PaymentVoided(voided) = void else { return Ok(()) };
    let key = format!("payment#void#{}", order.id);
    let request = serde_json::json!({ "orderId": order.id, "total": order.total });
    let cancel =
        || async { provider.void(&key, order.id, &voided.authorization_id).await.map_err(RecordError::retryable) };
    run_once(idempotency, invocation, &key, &request, cancel).await.map_err(RecordError::from)
}

/// `shipping`: `PaymentAuthorized` → `ShipmentScheduled`.
pub struct Shipping;

impl Step for Shipping {
    const CONSUMER: &'static str = "shipping";
    const TRIGGERS: &'static [&'static str] = &["PaymentAuthorized"];

    async fn decide(
        &self,
        order: &Order,
        _trigger: &EventEnvelope,
        _invocation: &Invocation,
    ) -> Result<Option<OrderEvent>, RecordError> {
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
    const TRIGGERS: &'static [&'static str] =
        &["FraudCleared", "PaymentDeclined", "OrderTimedOut", "ShipmentScheduled"];

    async fn decide(
        &self,
        order: &Order,
        trigger: &EventEnvelope,
        _invocation: &Invocation,
    ) -> Result<Option<OrderEvent>, RecordError> {
        let causality = Causality::caused_by(trigger);
        if order.status == OrderStatus::Cleared {
            return self.reserve(order, &causality).await.map(Some);
        }
        if order.status == OrderStatus::Completed {
            // Shipped: its units leave the shelves, which then hold only for open orders.
            for line in order.stock_needed() {
                self.on_shelf(&line.sku, &causality, |shelf| Ok::<_, u32>(shelf.commit(&line.sku, order.id)))
                    .await?
                    .ok();
            }
            return Ok(None);
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
        for line in &needed {
            if let Err(available) =
                self.on_shelf(&line.sku, causality, |shelf| shelf.allocate(&line.sku, order.id, line.quantity)).await?
            {
                // Every line, not only those taken here: an earlier attempt that crashed
                // before `OutOfStock` may hold units on a later line's shelf.
                self.release(order, &needed, causality).await?;
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
            let given =
                self.on_shelf(&line.sku, causality, |shelf| Ok::<_, u32>(shelf.deallocate(&line.sku, order.id)));
            if let Ok(Some(InventoryEvent::StockDeallocated(given))) = given.await? {
                released.push(ReservedLine { sku: line.sku.clone(), quantity: given.quantity });
            }
        }
        Ok(released)
    }

    /// Loads one SKU's shelf, asks `change` what to append, appends it with the shelf's
    /// version (with a snapshot of the shelf after it, every SNAPSHOT_AFTER events); on a
    /// conflict it starts over. Returns what it appended (`None`: nothing to do);
    /// `Err(available)` passes a refusal through.
    async fn on_shelf(
        &self,
        sku: &str,
        causality: &Causality,
        change: impl Fn(&Shelf) -> Result<Option<InventoryEvent>, u32>,
    ) -> Result<Result<Option<InventoryEvent>, u32>, RecordError> {
        let load = || async {
            let loaded = load_shelf(&self.store, sku).await.map_err(|e| match e {
                ShelfError::Store(store) => DecideError::Store(store),
                ShelfError::Decode(_) => DecideError::Decide(RecordError::poison(e)),
            })?;
            let version = loaded.version;
            Ok((loaded, version))
        };
        let change = &change;
        let decide = |loaded: LoadedShelf| async move {
            let event = match change(&loaded.shelf) {
                Ok(Some(event)) => event,
                Ok(None) => return Ok(Decision::nothing(Ok(None))),
                Err(available) => return Ok(Decision::nothing(Err(available))),
            };
            let now = toolkit::clock::now();
            let mut events = vec![event.clone().into_new_event(causality.clone(), now)];
            if loaded.since_snapshot + 1 >= SNAPSHOT_AFTER {
                let after = loaded.shelf.apply(&event);
                let snapshot = after.snapshot(sku).into_new_event(causality.clone(), now);
                // A shelf with more open holds than one event carries is loaded from an
                // older snapshot (or its whole stream) instead: slower, never stuck.
                if fits_in_a_snapshot(&snapshot) {
                    events.push(snapshot);
                } else {
                    tracing::warn!(sku, holds = after.held.len(), "too many open holds for one snapshot; none written");
                }
            }
            Ok(Decision::append(events, Ok(Some(event))))
        };
        Ok(decide_and_append(&self.store, &sku_stream(sku), SHELF_ATTEMPTS, load, decide).await?)
    }
}

/// Whether a snapshot stays within the event budget once the store gives it its stream id
/// and version (a shelf holds for about 800 orders at most before it no longer does).
fn fits_in_a_snapshot(snapshot: &toolkit::envelope::NewEvent) -> bool {
    let stored = snapshot.clone().into_envelope(sku_stream(&"S".repeat(64)), u64::MAX);
    toolkit::limits::json_len(&stored) <= toolkit::limits::EVENT_BUDGET_BYTES
}

/// At most this many events are read to load a shelf (one query).
pub const SHELF_TAIL: usize = 64;
/// A snapshot is written with the event that makes this many since the last one, so one
/// always lies within the tail unless others appended many events meanwhile.
pub const SNAPSHOT_AFTER: usize = SHELF_TAIL / 2;

/// A shelf as loaded: its state, its stream's version, and the events since its last snapshot.
pub struct LoadedShelf {
    pub shelf: Shelf,
    pub version: u64,
    pub since_snapshot: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ShelfError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stock event cannot be read: {0}")]
    Decode(#[from] domain::DecodeError),
}

/// Loads a SKU's shelf from its last snapshot on: one query for the stream's last
/// SHELF_TAIL events, whatever the length of its history (the whole stream only when the
/// tail holds no snapshot and does not reach the stream's start).
pub async fn load_shelf<S: EventStore>(store: &S, sku: &str) -> Result<LoadedShelf, ShelfError> {
    let stream = sku_stream(sku);
    let mut tail = store.load_last(&stream, SHELF_TAIL).await?;
    let snapshot_at = tail.iter().rposition(|e| e.event_type == SNAPSHOT_EVENT);
    if snapshot_at.is_none() && tail.first().is_some_and(|e| e.version > 1) {
        tail = store.load(&stream, 0).await?;
    }
    let version = tail.last().map_or(0, |e| e.version);
    let start = snapshot_at.unwrap_or(0);
    let events = tail[start.min(tail.len())..]
        .iter()
        .map(|e| InventoryEvent::from_envelope(e).map_err(ShelfError::from))
        .collect::<Result<Vec<_>, _>>()?;
    let since_snapshot = if snapshot_at.is_some() { events.len().saturating_sub(1) } else { events.len() };
    Ok(LoadedShelf { shelf: Shelf::replay(&events), version, since_snapshot })
}
