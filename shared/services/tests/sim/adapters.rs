//! The in-memory adapters, each wrapped so the simulation can interleave at every call
//! (a yield before it), fail it (per the run's fault rates), and watch what it changed
//! (appends enter the table's stream; publishes go through the bus's rules).

use super::net::{Callback, Faults, Net};
use domain::analytics::{Sale, Tally};
use domain::notifications::Notification;
use domain::payment::{PaymentProvider, ProviderError};
use domain::saga::{PaymentOutcome, payment_outcome};
use domain::{Order, OrderId, OrderStatus};
use services::analytics::{AnalyticsError, AnalyticsStore, InMemoryAnalytics};
use services::notify::{InMemoryNotificationLog, NotificationLog, NotificationLogError};
use services::views::{InMemoryOrderViews, OrderView, OrderViews, ViewError};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use toolkit::bus::{BusError, EventBus, RejectedEntry};
use toolkit::deadletter::{DeadLetter, DeadLetterError, DeadLetters, InMemoryDeadLetters};
use toolkit::envelope::{EventEnvelope, NewEvent, StreamId};
use toolkit::idempotency::{Claim, IdempotencyError, IdempotencyStore, InMemoryIdempotencyStore};
use toolkit::store::{EventStore, InMemoryEventStore, StoreError};

pub type SharedNet = Arc<Mutex<Net>>;

pub fn lock(net: &SharedNet) -> MutexGuard<'_, Net> {
    net.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Gives the scheduler a turn: the calling task is suspended once.
pub struct Yield(bool);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

pub fn turn() -> Yield {
    Yield(false)
}

fn faulty(net: &SharedNet, rate: fn(&Faults) -> u64) -> bool {
    lock(net).fault(rate)
}

#[derive(Clone)]
pub struct SimStore {
    pub inner: Arc<InMemoryEventStore>,
    pub net: SharedNet,
}

impl EventStore for SimStore {
    async fn append(
        &self,
        stream_id: &StreamId,
        expected_version: u64,
        events: Vec<NewEvent>,
    ) -> Result<Vec<EventEnvelope>, StoreError> {
        turn().await;
        if faulty(&self.net, |f| f.store_fails) {
            return Err(StoreError::Unavailable("simulated outage before the write".into()));
        }
        let stored = self.inner.append(stream_id, expected_version, events).await?;
        self.stored(stored)
    }

    async fn append_once(
        &self,
        stream_id: &StreamId,
        expected_version: u64,
        events: Vec<NewEvent>,
        once_key: &str,
    ) -> Result<Vec<EventEnvelope>, StoreError> {
        turn().await;
        if faulty(&self.net, |f| f.store_fails) {
            return Err(StoreError::Unavailable("simulated outage before the write".into()));
        }
        let stored = self.inner.append_once(stream_id, expected_version, events, once_key).await?;
        self.stored(stored)
    }

    async fn load(&self, stream_id: &StreamId, after_version: u64) -> Result<Vec<EventEnvelope>, StoreError> {
        turn().await;
        if faulty(&self.net, |f| f.store_fails) {
            return Err(StoreError::Unavailable("simulated outage".into()));
        }
        self.inner.load(stream_id, after_version).await
    }
}

impl SimStore {
    /// What a write that was applied does: its events enter the stream; its answer may be lost.
    fn stored(&self, stored: Vec<EventEnvelope>) -> Result<Vec<EventEnvelope>, StoreError> {
        let mut net = lock(&self.net);
        for event in &stored {
            net.log(format!("    stored {} v{} {}", event.stream_id, event.version, event.event_type));
            net.stream_append(event);
        }
        if net.fault(|f| f.append_lost_answer) {
            net.log("    (the write's answer is lost)".into());
            return Err(StoreError::Unavailable("simulated timeout after the write".into()));
        }
        Ok(stored)
    }
}

#[derive(Clone)]
pub struct SimViews {
    pub inner: Arc<InMemoryOrderViews>,
    pub net: SharedNet,
}

impl SimViews {
    async fn gate(&self) -> Result<(), ViewError> {
        turn().await;
        match faulty(&self.net, |f| f.store_fails) {
            true => Err(ViewError::Unavailable("simulated outage".into())),
            false => Ok(()),
        }
    }
}

impl OrderViews for SimViews {
    async fn get(&self, order_id: OrderId) -> Result<Option<OrderView>, ViewError> {
        self.gate().await?;
        self.inner.get(order_id).await
    }

    async fn get_many(
        &self,
        order_ids: &[OrderId],
    ) -> Result<std::collections::HashMap<OrderId, OrderView>, ViewError> {
        self.gate().await?;
        self.inner.get_many(order_ids).await
    }

    async fn count_by_customer_since(
        &self,
        owner: &str,
        customer_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u32, ViewError> {
        self.gate().await?;
        self.inner.count_by_customer_since(owner, customer_id, since).await
    }

    async fn by_customer(
        &self,
        owner: Option<&str>,
        customer_id: &str,
        limit: u32,
        cursor: Option<&services::views::Cursor>,
    ) -> Result<services::views::CustomerPage, ViewError> {
        self.gate().await?;
        self.inner.by_customer(owner, customer_id, limit, cursor).await
    }

    async fn in_status_since_before(
        &self,
        status: OrderStatus,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<OrderId>, ViewError> {
        self.gate().await?;
        self.inner.in_status_since_before(status, before).await
    }

    async fn save(&self, view: &OrderView, expected_version: u64) -> Result<(), ViewError> {
        self.gate().await?;
        self.inner.save(view, expected_version).await
    }
}

#[derive(Clone)]
pub struct SimIdempotency {
    pub inner: Arc<InMemoryIdempotencyStore>,
    pub net: SharedNet,
}

impl IdempotencyStore for SimIdempotency {
    async fn claim(
        &self,
        key: &str,
        payload_hash: &str,
        until_ms: i64,
        now_ms: i64,
    ) -> Result<Claim, IdempotencyError> {
        turn().await;
        self.inner.claim(key, payload_hash, until_ms, now_ms).await
    }

    async fn complete(
        &self,
        key: &str,
        payload_hash: &str,
        result: &serde_json::Value,
    ) -> Result<(), IdempotencyError> {
        turn().await;
        if faulty(&self.net, |f| f.idempotency_save_fails) {
            lock(&self.net).log(format!("    (saving the result of {key} fails)"));
            return Err(IdempotencyError::Store("simulated outage while saving the result".into()));
        }
        self.inner.complete(key, payload_hash, result).await
    }

    async fn release(&self, key: &str) -> Result<(), IdempotencyError> {
        turn().await;
        self.inner.release(key).await
    }
}

#[derive(Clone)]
pub struct SimDeadLetters {
    pub inner: Arc<InMemoryDeadLetters>,
    pub net: SharedNet,
}

impl DeadLetters for SimDeadLetters {
    async fn park(&self, letter: DeadLetter) -> Result<(), DeadLetterError> {
        turn().await;
        lock(&self.net).log(format!("    parked by {}: {}", letter.consumer, letter.reason));
        self.inner.park(letter).await
    }
}

/// The notification log: a notification recorded is one the customer received (the log's
/// conditional write is the email and SMS providers' idempotency). Counts every delivery.
#[derive(Clone)]
pub struct SimLog {
    pub inner: Arc<InMemoryNotificationLog>,
    pub net: SharedNet,
}

impl NotificationLog for SimLog {
    async fn record(&self, notification: &Notification) -> Result<bool, NotificationLogError> {
        turn().await;
        if faulty(&self.net, |f| f.store_fails) {
            return Err(NotificationLogError("simulated outage".into()));
        }
        let delivered = self.inner.record(notification).await?;
        if delivered {
            let key = (notification.order_id, format!("{:?}", notification.channel), notification.event_id.clone());
            *lock(&self.net).delivered.entry(key).or_default() += 1;
        }
        Ok(delivered)
    }

    async fn for_order(&self, order_id: OrderId) -> Result<Vec<Notification>, NotificationLogError> {
        self.inner.for_order(order_id).await
    }
}

/// The analytics counters, failing as the table may.
#[derive(Clone)]
pub struct SimAnalytics {
    pub inner: Arc<InMemoryAnalytics>,
    pub net: SharedNet,
}

impl AnalyticsStore for SimAnalytics {
    async fn record(&self, event_id: toolkit::envelope::EventId, tally: &Tally) -> Result<bool, AnalyticsError> {
        turn().await;
        if faulty(&self.net, |f| f.store_fails) {
            return Err(AnalyticsError::Unavailable("simulated outage".into()));
        }
        self.inner.record(event_id, tally).await
    }

    async fn record_together(&self, tallies: &[(toolkit::envelope::EventId, Tally)]) -> Result<bool, AnalyticsError> {
        turn().await;
        if faulty(&self.net, |f| f.store_fails) {
            return Err(AnalyticsError::Unavailable("simulated outage".into()));
        }
        self.inner.record_together(tallies).await
    }

    async fn sales(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Sale>, AnalyticsError> {
        self.inner.sales(from, to).await
    }

    async fn status_counts(&self) -> Result<std::collections::BTreeMap<String, i64>, AnalyticsError> {
        self.inner.status_counts().await
    }
}

/// EventBridge: at-least-once, through the template's rules to the queues.
#[derive(Clone)]
pub struct SimBus {
    pub net: SharedNet,
}

impl EventBus for SimBus {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<Vec<RejectedEntry>, BusError> {
        turn().await;
        // What EventBridge refuses whatever the dice say: too many or too large entries.
        toolkit::bus::check_put_events(events)?;
        let mut net = lock(&self.net);
        if net.fault(|f| f.bus_call_fails) {
            return Err(BusError::transient("simulated PutEvents failure"));
        }
        let carries_refused = events.iter().any(|e| net.refused_forever.contains(&e.event_id));
        if carries_refused && net.faults.bus_refuses_forever > 0 && net.dice.chance(500) {
            return Err(BusError::permanent("ValidationException: simulated request over 256 KB"));
        }
        let mut rejected = Vec::new();
        for (index, event) in events.iter().enumerate() {
            if !net.published.contains(&event.event_id) && net.fault(|f| f.bus_refuses_forever) {
                net.refused_forever.insert(event.event_id);
            }
            let forever = net.refused_forever.contains(&event.event_id) && net.faults.bus_refuses_forever > 0;
            if forever || net.fault(|f| f.bus_refuses_entry) {
                let reason =
                    if forever { "ValidationException: simulated permanent refusal" } else { "ThrottlingException" };
                rejected.push(RejectedEntry { index, reason: reason.into(), retryable: !forever });
                continue;
            }
            net.published.insert(event.event_id);
            net.route(event);
            if net.fault(|f| f.bus_duplicates) {
                net.route(event);
            }
        }
        Ok(rejected)
    }
}

/// The provider: answers by the test-card rules, dedupes on the idempotency key, and
/// answers `.42` totals later through a (signed) callback.
#[derive(Clone)]
pub struct SimProvider {
    pub net: SharedNet,
}

impl PaymentProvider for SimProvider {
    async fn charge(&self, key: &str, order: &Order) -> Result<PaymentOutcome, ProviderError> {
        turn().await;
        let mut net = lock(&self.net);
        if net.fault(|f| f.provider_fails) {
            return Err(ProviderError("simulated provider outage".into()));
        }
        if let Some(outcome) = net.ledger.charges.get(key) {
            return Ok(outcome.clone());
        }
        let outcome = payment_outcome(order);
        match &outcome {
            PaymentOutcome::Authorized(id) => {
                net.ledger.authorizations.entry(order.id).or_default().insert(id.clone());
            }
            PaymentOutcome::NoAnswer => {
                let authorized = net.dice.chance(700);
                let authorization_id = format!("cb-{}", order.id);
                if authorized {
                    net.ledger.authorizations.entry(order.id).or_default().insert(authorization_id.clone());
                }
                net.callbacks.push(Callback { order_id: order.id, authorized, authorization_id, forged: false });
            }
            PaymentOutcome::Declined(_) | PaymentOutcome::Withheld => {}
        }
        net.log(format!("    provider charged {}: {outcome:?}", order.id));
        net.ledger.charges.insert(key.to_string(), outcome.clone());
        Ok(outcome)
    }

    async fn charged(&self, key: &str) -> Result<Option<PaymentOutcome>, ProviderError> {
        turn().await;
        Ok(lock(&self.net).ledger.charges.get(key).cloned())
    }

    async fn void(&self, key: &str, order_id: OrderId, authorization_id: &str) -> Result<(), ProviderError> {
        turn().await;
        let mut net = lock(&self.net);
        if net.fault(|f| f.provider_fails) {
            return Err(ProviderError("simulated provider outage".into()));
        }
        net.log(format!("    provider voided {authorization_id} of {order_id}"));
        net.ledger.voids.entry(authorization_id.to_string()).or_default().insert(key.to_string());
        Ok(())
    }
}
