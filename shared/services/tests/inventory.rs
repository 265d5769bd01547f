//! The inventory step on in-memory ports: reservations, compensation, and many orders
//! racing for the last units.

use aws_lambda_events::event::sqs::SqsEvent;
use domain::inventory::{StockAdded, sku_stream};
use domain::order::{OrderLine, OrderPlaced};
use domain::saga::{FraudCleared, PaymentDeclined, ReservedLine, StockReserved};
use domain::{Currency, EventCodec, InventoryEvent, Money, OrderEvent, OrderId, OrderValidated, Shelf};
use services::handlers::step_runner::OrderSaga;
use services::handlers::steps::StockKeeping;
use std::sync::Arc;
use toolkit::deadletter::InMemoryDeadLetters;
use toolkit::envelope::{Causality, CausationId, CorrelationId, EventEnvelope};
use toolkit::invocation::Invocation;
use toolkit::store::{EventStore, InMemoryEventStore};

type Inventory = OrderSaga<Arc<InMemoryEventStore>, InMemoryDeadLetters, StockKeeping<Arc<InMemoryEventStore>>>;

fn inventory(store: &Arc<InMemoryEventStore>) -> Inventory {
    OrderSaga::new(store.clone(), InMemoryDeadLetters::default(), StockKeeping { store: store.clone() })
}

fn causality() -> Causality {
    Causality { correlation_id: CorrelationId::new("test"), causation_id: CausationId::new("test"), trace_id: None }
}

fn stored<E: EventCodec>(event: E, stream: &toolkit::envelope::StreamId, version: u64) -> EventEnvelope {
    event.into_new_event(causality(), chrono::Utc::now()).into_envelope(stream.clone(), version)
}

fn shelf(sku: &str, quantity: u32) -> EventEnvelope {
    stored(InventoryEvent::StockAdded(StockAdded { sku: sku.into(), quantity }), &sku_stream(sku), 1)
}

/// An order placed, validated and cleared: the history inventory reacts to.
fn cleared_order(id: OrderId, lines: &[(&str, u32)]) -> Vec<EventEnvelope> {
    let eur = |amount_minor| Money { amount_minor, currency: Currency::try_from("EUR".to_string()).unwrap() };
    let lines: Vec<OrderLine> =
        lines.iter().map(|(sku, q)| OrderLine { sku: sku.to_string(), quantity: *q, unit_price: eur(100) }).collect();
    let total = eur(100 * lines.iter().map(|l| i64::from(l.quantity)).sum::<i64>());
    let stream = id.stream_id();
    vec![
        stored(
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
            }),
            &stream,
            1,
        ),
        stored(OrderEvent::OrderValidated(OrderValidated { order_id: id }), &stream, 2),
        stored(OrderEvent::FraudCleared(FraudCleared { order_id: id, score: 0 }), &stream, 3),
    ]
}

/// The SQS message that carries `trigger` from the bus to the inventory queue.
fn delivered(trigger: &EventEnvelope) -> SqsEvent {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/aws/sqs-order-placed.json");
    let mut event: SqsEvent = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut body: serde_json::Value = serde_json::from_str(event.records[0].body.as_deref().unwrap()).unwrap();
    body["detail-type"] = serde_json::json!(trigger.event_type);
    body["detail"] = serde_json::to_value(trigger).unwrap();
    event.records[0].body = Some(body.to_string());
    event.records[0].message_id = Some(trigger.event_id.to_string());
    event
}

async fn on_shelf(store: &InMemoryEventStore, sku: &str) -> Shelf {
    let history = store.load(&sku_stream(sku), 0).await.unwrap();
    let events: Vec<InventoryEvent> = history.iter().map(|e| InventoryEvent::from_envelope(e).unwrap()).collect();
    Shelf::replay(&events)
}

async fn order_events(store: &InMemoryEventStore, id: OrderId) -> Vec<OrderEvent> {
    store.load(&id.stream_id(), 0).await.unwrap().iter().map(|e| OrderEvent::from_envelope(e).unwrap()).collect()
}

#[tokio::test]
async fn it_reserves_every_sku_of_a_cleared_order() {
    let id = OrderId::generate();
    let history = cleared_order(id, &[("A", 2), ("B", 1)]);
    let store =
        Arc::new(InMemoryEventStore::with_events([shelf("A", 5), shelf("B", 1)].into_iter().chain(history.clone())));
    let response = inventory(&store).handle(delivered(&history[2]), &Invocation::local()).await;
    assert!(response.batch_item_failures.is_empty());
    let lines = vec![ReservedLine { sku: "A".into(), quantity: 2 }, ReservedLine { sku: "B".into(), quantity: 1 }];
    assert_eq!(
        order_events(&store, id).await.last(),
        Some(&OrderEvent::StockReserved(StockReserved { order_id: id, lines }))
    );
    assert_eq!((on_shelf(&store, "A").await.on_hand, on_shelf(&store, "B").await.on_hand), (3, 0));
}

#[tokio::test]
async fn it_gives_back_what_it_took_when_a_later_sku_is_short() {
    let id = OrderId::generate();
    let history = cleared_order(id, &[("A", 2), ("B", 3)]);
    let store =
        Arc::new(InMemoryEventStore::with_events([shelf("A", 5), shelf("B", 1)].into_iter().chain(history.clone())));
    inventory(&store).handle(delivered(&history[2]), &Invocation::local()).await;
    let Some(OrderEvent::OutOfStock(out)) = order_events(&store, id).await.last().cloned() else {
        panic!("expected OutOfStock")
    };
    assert_eq!((out.sku.as_str(), out.requested, out.available), ("B", 3, 1));
    let a = on_shelf(&store, "A").await;
    assert_eq!((a.on_hand, a.held.len()), (5, 0), "A was taken, then given back");
}

/// Found by the simulation (seed 104): a first attempt took A and B, found C short, gave A
/// back and crashed before giving B back; meanwhile another order took A's last units. The
/// redelivery then finds A short first and must still give back what B holds for the order.
#[tokio::test]
async fn a_retry_that_finds_the_first_sku_short_gives_back_what_an_earlier_attempt_left() {
    use domain::inventory::{StockAllocated, StockDeallocated};
    let (id, other) = (OrderId::generate(), OrderId::generate());
    let history = cleared_order(id, &[("A", 1), ("B", 3), ("C", 9)]);
    let allocated =
        |order_id, quantity| InventoryEvent::StockAllocated(StockAllocated { sku: "A".into(), order_id, quantity });
    let a = sku_stream("A");
    let shelf_a = vec![
        shelf("A", 1),
        stored(allocated(id, 1), &a, 2),
        stored(
            InventoryEvent::StockDeallocated(StockDeallocated { sku: "A".into(), order_id: id, quantity: 1 }),
            &a,
            3,
        ),
        stored(allocated(other, 1), &a, 4),
    ];
    let b_held = InventoryEvent::StockAllocated(StockAllocated { sku: "B".into(), order_id: id, quantity: 3 });
    let shelf_b = vec![shelf("B", 3), stored(b_held, &sku_stream("B"), 2)];
    let events = shelf_a.into_iter().chain(shelf_b).chain([shelf("C", 1)]).chain(history.clone());
    let store = Arc::new(InMemoryEventStore::with_events(events));
    inventory(&store).handle(delivered(&history[2]), &Invocation::local()).await;
    let Some(OrderEvent::OutOfStock(out)) = order_events(&store, id).await.last().cloned() else {
        panic!("expected OutOfStock")
    };
    assert_eq!(out.sku, "A");
    let b = on_shelf(&store, "B").await;
    assert_eq!((b.on_hand, b.held.len()), (3, 0), "what the crashed attempt held on B is given back");
}

#[tokio::test]
async fn a_declined_payment_releases_the_stock_once() {
    let id = OrderId::generate();
    let mut history = cleared_order(id, &[("A", 2)]);
    let store = Arc::new(InMemoryEventStore::with_events([shelf("A", 5)].into_iter().chain(history.clone())));
    let inventory = inventory(&store);
    inventory.handle(delivered(&history[2]), &Invocation::local()).await;
    let declined = stored(
        OrderEvent::PaymentDeclined(PaymentDeclined { order_id: id, reason: "no".into(), notify: vec![] }),
        &id.stream_id(),
        5,
    );
    store
        .append(
            &id.stream_id(),
            4,
            vec![
                OrderEvent::PaymentDeclined(PaymentDeclined { order_id: id, reason: "no".into(), notify: vec![] })
                    .into_new_event(causality(), chrono::Utc::now()),
            ],
        )
        .await
        .unwrap();
    history.push(declined.clone());

    inventory.handle(delivered(&declined), &Invocation::local()).await;
    inventory.handle(delivered(&declined), &Invocation::local()).await; // redelivered
    let events = order_events(&store, id).await;
    assert!(matches!(events.last(), Some(OrderEvent::StockReleased(_))));
    assert_eq!(events.iter().filter(|e| matches!(e, OrderEvent::StockReleased(_))).count(), 1);
    assert_eq!(on_shelf(&store, "A").await.on_hand, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_orders_racing_for_the_last_units_never_oversell() {
    let orders: Vec<OrderId> = (0..20).map(|_| OrderId::generate()).collect();
    let histories: Vec<Vec<EventEnvelope>> = orders.iter().map(|id| cleared_order(*id, &[("LAST", 1)])).collect();
    let store = Arc::new(InMemoryEventStore::with_events(
        [shelf("LAST", 5)].into_iter().chain(histories.iter().flatten().cloned()),
    ));
    let inventory = Arc::new(inventory(&store));
    let mut racing = tokio::task::JoinSet::new();
    for history in &histories {
        let (inventory, trigger) = (inventory.clone(), history[2].clone());
        racing.spawn(async move { inventory.handle(delivered(&trigger), &Invocation::local()).await });
    }
    while let Some(done) = racing.join_next().await {
        done.unwrap();
    }
    // What lost too many races went back to the queue: SQS delivers it again.
    for (id, history) in orders.iter().zip(&histories) {
        if matches!(order_events(&store, *id).await.last(), Some(OrderEvent::FraudCleared(_))) {
            assert!(
                inventory.handle(delivered(&history[2]), &Invocation::local()).await.batch_item_failures.is_empty()
            );
        }
    }
    let mut reserved = 0;
    for id in &orders {
        match order_events(&store, *id).await.last() {
            Some(OrderEvent::StockReserved(_)) => reserved += 1,
            Some(OrderEvent::OutOfStock(_)) => {}
            other => panic!("order {id} ended with {other:?}"),
        }
    }
    assert_eq!(reserved, 5);
    assert_eq!(on_shelf(&store, "LAST").await.on_hand, 0);
}

#[tokio::test]
async fn a_shelf_loads_from_its_last_snapshot_however_long_its_history() {
    use services::handlers::steps::{SHELF_TAIL, load_shelf};
    let orders: Vec<Vec<EventEnvelope>> =
        (0..150).map(|_| cleared_order(OrderId::generate(), &[("LONG", 1)])).collect();
    let triggers: Vec<EventEnvelope> = orders.iter().map(|history| history.last().unwrap().clone()).collect();
    let everything = std::iter::once(shelf("LONG", 1_000)).chain(orders.into_iter().flatten());
    let store = Arc::new(InMemoryEventStore::with_events(everything));
    let inventory = inventory(&store);
    for trigger in &triggers {
        inventory.handle(delivered(trigger), &Invocation::local()).await;
    }
    let stream = store.load(&sku_stream("LONG"), 0).await.unwrap();
    assert!(stream.len() > 2 * SHELF_TAIL, "a long history: {}", stream.len());
    assert!(stream.iter().filter(|e| e.event_type == "ShelfSnapshot").count() >= 4, "snapshots along the way");
    let loaded = load_shelf(store.as_ref(), "LONG").await.unwrap();
    assert_eq!(loaded.shelf, on_shelf(&store, "LONG").await, "the snapshot and the tail make the whole shelf");
    assert_eq!((loaded.shelf.on_hand, loaded.shelf.held.len()), (850, 150));
    assert!(loaded.since_snapshot < SHELF_TAIL, "at most one query's worth of events was folded");
}

#[tokio::test]
async fn a_shelf_with_more_open_holds_than_a_snapshot_carries_keeps_every_step_moving() {
    use services::handlers::steps::load_shelf;
    // 900 open holds: a snapshot of them (about 75 bytes each) is over the event budget.
    let orders: Vec<OrderId> = (0..900).map(|_| OrderId::generate()).collect();
    let histories: Vec<Vec<EventEnvelope>> = orders.iter().map(|id| cleared_order(*id, &[("HOT", 1)])).collect();
    let triggers: Vec<EventEnvelope> = histories.iter().map(|history| history.last().unwrap().clone()).collect();
    let everything = std::iter::once(shelf("HOT", 5_000)).chain(histories.into_iter().flatten());
    let store = Arc::new(InMemoryEventStore::with_events(everything));
    let inventory = inventory(&store);
    for trigger in &triggers {
        let response = inventory.handle(delivered(trigger), &Invocation::local()).await;
        assert!(response.batch_item_failures.is_empty(), "a reservation was refused or failed");
    }
    let parked = inventory.ports().1.letters();
    assert!(parked.is_empty(), "nothing parked: {:?}", parked.first().map(|l| &l.reason));
    for id in &orders {
        assert!(matches!(order_events(&store, *id).await.last(), Some(OrderEvent::StockReserved(_))), "order {id}");
    }
    let loaded = load_shelf(store.as_ref(), "HOT").await.unwrap();
    assert_eq!(loaded.shelf, on_shelf(&store, "HOT").await, "loading gives the shelf of the whole stream");
    assert_eq!((loaded.shelf.on_hand, loaded.shelf.held.len()), (4_100, 900));
}
