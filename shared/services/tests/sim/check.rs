//! The invariants every run must end in, whatever the schedule and the faults.

use super::adapters::SimStore;
use super::world::{SKUS, World, run_to_end};
use domain::inventory::sku_stream;
use domain::{EventCodec, InventoryEvent, Order, OrderEvent, OrderId, OrderStatus, Shelf};
use services::analytics::AnalyticsStore;
use services::views::{OrderView, OrderViews};
use std::collections::BTreeMap;
use toolkit::envelope::EventEnvelope;

/// Every order stream with the order it folds to (None when it does not fold).
pub fn order_streams(store: &SimStore) -> Vec<(Vec<EventEnvelope>, Option<Order>)> {
    let mut streams: BTreeMap<String, Vec<EventEnvelope>> = BTreeMap::new();
    for event in store.inner.all_events() {
        if event.stream_id.as_str().starts_with(OrderId::STREAM_PREFIX) {
            streams.entry(event.stream_id.as_str().to_string()).or_default().push(event);
        }
    }
    streams
        .into_values()
        .map(|mut events| {
            events.sort_by_key(|e| e.version);
            let decoded: Result<Vec<OrderEvent>, _> = events.iter().map(OrderEvent::from_envelope).collect();
            let order = decoded.ok().and_then(|d| Order::replay(&d).ok().flatten());
            (events, order)
        })
        .collect()
}

/// Every broken invariant, described.
pub fn violations(world: &World) -> Vec<String> {
    let mut found = Vec::new();
    let orders = order_streams(&world.store);
    let net = super::adapters::lock(&world.net);
    let mut per_intent: BTreeMap<String, Vec<OrderId>> = BTreeMap::new();
    for (events, order) in &orders {
        let stream = events[0].stream_id.as_str();
        if events.iter().zip(1..).any(|(e, v)| e.version != v) {
            found.push(format!("{stream}: versions have a gap"));
        }
        let Some(order) = order else {
            found.push(format!("{stream}: its events do not fold into an order"));
            continue;
        };
        per_intent.entry(events[0].correlation_id.as_str().to_string()).or_default().push(order.id);
        if !order.status.is_terminal() {
            found.push(format!("order {} ended in {:?}, not a final status", order.id, order.status));
        }
        // Payment: each authorization is shipped or voided, exactly once.
        let authorizations = net.ledger.authorizations.get(&order.id).cloned().unwrap_or_default();
        let voids = |a: &String| net.ledger.voids.get(a).map_or(0, std::collections::BTreeSet::len);
        if order.status == OrderStatus::Completed {
            if authorizations.len() != 1 || authorizations.iter().any(|a| voids(a) != 0) {
                found
                    .push(format!("order {} shipped with authorizations {authorizations:?} (voids counted)", order.id));
            }
        } else {
            for authorization in &authorizations {
                if voids(authorization) != 1 {
                    found.push(format!(
                        "order {} ended {:?} with authorization {authorization} voided {} times",
                        order.id,
                        order.status,
                        voids(authorization)
                    ));
                }
            }
        }
        // The read model equals the fold of the store.
        let view = run_to_end(world.views.inner.get(order.id)).ok().flatten();
        if view != OrderView::replay(events).ok().flatten() {
            found.push(format!("order {}: the read model differs from the fold of its stream", order.id));
        }
    }
    // A request that must be refused was answered 4xx every time (or died with its
    // invocation: 502) and left nothing stored.
    for intent in world.intents.iter().filter(|i| i.must_refuse) {
        if let Some(status) = intent.answers.iter().find(|s| !(400..500).contains(*s) && **s != 502) {
            found.push(format!("client request {} must be refused but was answered {status}", intent.key));
        }
        if let Some(event) = world.store.inner.all_events().iter().find(|e| e.correlation_id.as_str() == intent.key) {
            found.push(format!(
                "client request {} was refused but stored {} v{}",
                intent.key, event.stream_id, event.version
            ));
        }
    }
    // A customer id is its caller's own: an order held for velocity counted only orders
    // its own key placed for that customer (and that passed validation).
    for (events, order) in &orders {
        let Some(order) = order else { continue };
        let held = events.iter().find(|e| e.event_type == "FraudSuspected");
        let counted = held
            .and_then(|e| e.payload["reasons"].as_array())
            .into_iter()
            .flatten()
            .find_map(|reason| reason.as_str()?.split_once(" orders from ")?.0.parse::<usize>().ok());
        let Some(counted) = counted else { continue };
        let own = orders
            .iter()
            .filter_map(|(_, o)| o.as_ref())
            .filter(|o| o.customer_id == order.customer_id && o.placed_by == order.placed_by)
            .filter(|o| !matches!(o.status, OrderStatus::Rejected))
            .count();
        if counted > own {
            found.push(format!(
                "order {} was held for {counted} orders of {} when its key placed {own}",
                order.id, order.customer_id
            ));
        }
    }
    for (intent, ids) in per_intent {
        if ids.len() > 1 {
            found.push(format!("client request {intent} (one Idempotency-Key) placed {} orders: {ids:?}", ids.len()));
        }
    }
    // Stock: on hand + held + shipped = added; no order that ended holds stock.
    let status: BTreeMap<OrderId, OrderStatus> =
        orders.iter().filter_map(|(_, o)| o.as_ref().map(|o| (o.id, o.status))).collect();
    for sku in SKUS {
        let events: Vec<InventoryEvent> = world
            .store
            .inner
            .all_events()
            .iter()
            .filter(|e| e.stream_id == sku_stream(sku))
            .filter_map(|e| InventoryEvent::from_envelope(e).ok())
            .collect();
        let shelf = Shelf::replay(&events);
        let held: u32 = shelf.held.values().sum();
        // Added at set-up, and by each restock answered 200 (once, whatever its retries);
        // a restock never answered 200 may or may not have been applied.
        let restocks = world.intents.iter().filter_map(|i| i.stock.map(|(s, q)| (i, s, u64::from(q))));
        let (mut added, mut unsure) = (u64::from(world.stock_added[sku]), 0);
        for (intent, _, quantity) in restocks.filter(|(_, s, _)| *s == sku) {
            if intent.answers.contains(&200) { added += quantity } else { unsure += quantity }
        }
        let counted = u64::from(shelf.on_hand) + u64::from(held) + shelf.shipped;
        if counted < added || counted > added + unsure {
            found.push(format!(
                "sku {sku}: {} on hand + {held} held + {} shipped != {added} added (and {unsure} perhaps)",
                shelf.on_hand, shelf.shipped
            ));
        }
        for (order_id, units) in &shelf.held {
            found.push(format!(
                "sku {sku}: order {order_id} ({:?}) ended and still holds {units}",
                status.get(order_id)
            ));
        }
        // A shelf loaded from its snapshot is the shelf of its whole history.
        let loaded = run_to_end(services::handlers::steps::load_shelf(&world.store.inner, sku));
        if loaded.as_ref().ok().map(|l| &l.shelf) != Some(&shelf) {
            found.push(format!("sku {sku}: loading from the last snapshot gives another shelf than the whole stream"));
        }
    }
    // Each customer notification, once per channel and event the channel's filter takes.
    for (events, order) in &orders {
        let Some(order) = order else { continue };
        for event in events {
            for (queue, channel) in [("notify-email", "Email"), ("notify-sms", "Sms")] {
                let routed = super::net::ROUTES.iter().any(|(q, _, types)| {
                    *q == queue && types.contains(&event.event_type.as_str()) && super::net::accepts(q, event)
                });
                let key = (order.id, channel.to_string(), event.event_id.to_string());
                let delivered = net.delivered.get(&key).copied().unwrap_or(0);
                if delivered != u32::from(routed) {
                    found.push(format!(
                        "order {}: {} v{} told by {channel} {delivered} times",
                        order.id, event.event_type, event.version
                    ));
                }
            }
        }
    }
    // Customers hear only of stored events: a forged bus event tells no one.
    let stored: std::collections::BTreeSet<String> =
        world.store.inner.all_events().iter().map(|e| e.event_id.to_string()).collect();
    for ((order_id, channel, event_id), count) in &net.delivered {
        if !stored.contains(event_id) {
            found.push(format!(
                "order {order_id}: told by {channel} {count} times of event {event_id}, which the store does not hold"
            ));
        }
    }
    // The analytics counters: one order in the status each order ended in, every event
    // counted once whatever its deliveries.
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for (_, order) in &orders {
        if let Some(order) = order {
            *expected.entry(format!("{:?}", order.status)).or_default() += 1;
        }
    }
    let counted = run_to_end(world.counters.inner.status_counts()).unwrap_or_default();
    let counted: BTreeMap<String, i64> = counted.into_iter().filter(|(_, n)| *n != 0).collect();
    if counted != expected {
        found.push(format!("analytics counts {counted:?}, the store says {expected:?}"));
    }
    // Sales: the lines of every order whose authorization stands (authorized, not voided),
    // per SKU and currency, whatever the minutes they were counted in.
    let mut authorized: BTreeMap<(String, String), (i128, i128)> = BTreeMap::new();
    for order in orders.iter().filter_map(|(_, order)| order.as_ref()).filter(|o| o.authorization.is_some()) {
        for line in &order.lines {
            let entry = authorized.entry((line.sku.clone(), line.unit_price.currency.to_string())).or_default();
            entry.0 += i128::from(line.quantity);
            entry.1 += i128::from(line.unit_price.amount_minor) * i128::from(line.quantity);
        }
    }
    let mut sold: BTreeMap<(String, String), (i128, i128)> = BTreeMap::new();
    for sale in world.counters.inner.all_sales() {
        let entry = sold.entry((sale.sku, sale.currency)).or_default();
        entry.0 += i128::from(sale.units);
        entry.1 += i128::from(sale.revenue_minor);
    }
    sold.retain(|_, (units, revenue)| *units != 0 || *revenue != 0);
    if sold != authorized {
        found.push(format!("sales (units, revenue) {sold:?}, the standing authorizations {authorized:?}"));
    }
    // Every stored event reached the bus.
    for event in world.store.inner.all_events() {
        if !net.published.contains(&event.event_id) && event.event_type != domain::inventory::SNAPSHOT_EVENT {
            found.push(format!(
                "{} v{} {} was stored but never published",
                event.stream_id, event.version, event.event_type
            ));
        }
    }
    for letter in &net.unredrivable {
        found.push(format!("a dead letter of {} cannot be redriven: {}", letter.consumer, letter.reason));
    }
    found
}
