//! The timeout sweeper on in-memory ports.

use domain::order::{OrderLine, OrderPlaced};
use domain::{Currency, EventCodec, Money, OrderEvent, OrderId, OrderRejected, OrderValidated};
use services::handlers::sweeper::TimeoutSweeper;
use services::views::{InMemoryOrderViews, OrderView, OrderViews};
use toolkit::envelope::{Causality, CausationId, CorrelationId, EventEnvelope};
use toolkit::store::{EventStore, InMemoryEventStore};

fn at(minutes_ago: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::minutes(minutes_ago)
}

fn stored(event: OrderEvent, id: OrderId, version: u64, when: chrono::DateTime<chrono::Utc>) -> EventEnvelope {
    let causality =
        Causality { correlation_id: CorrelationId::new("c"), causation_id: CausationId::new("c"), trace_id: None };
    event.into_new_event(causality, when).into_envelope(id.stream_id(), version)
}

fn history(id: OrderId, last: OrderEvent, when: chrono::DateTime<chrono::Utc>) -> Vec<EventEnvelope> {
    let money = Money { amount_minor: 100, currency: Currency::try_from("EUR".to_string()).unwrap() };
    let line = OrderLine { sku: "A".into(), quantity: 1, unit_price: money.clone() };
    let placed = OrderPlaced {
        order_id: id,
        customer_id: "c".into(),
        placed_by: None,
        lines: vec![line],
        total: money,
        item_count: Some(1),
        shipping_country: None,
        billing_country: None,
        notify: None,
    };
    vec![stored(OrderEvent::OrderPlaced(placed), id, 1, when), stored(last, id, 2, when)]
}

/// The store and the read model with each order projected.
async fn given(orders: &[Vec<EventEnvelope>]) -> (InMemoryEventStore, InMemoryOrderViews) {
    let store = InMemoryEventStore::with_events(orders.iter().flatten().cloned());
    let views = InMemoryOrderViews::default();
    for events in orders {
        let mut view: Option<OrderView> = None;
        for envelope in events {
            view = Some(OrderView::apply(view, &OrderEvent::from_envelope(envelope).unwrap(), envelope).unwrap());
        }
        views.save(view.as_ref().unwrap(), 0).await.unwrap();
    }
    (store, views)
}

#[tokio::test]
async fn it_times_out_only_orders_stuck_longer_than_the_timeout() {
    let (stuck, fresh, done) = (OrderId::generate(), OrderId::generate(), OrderId::generate());
    let orders = [
        history(stuck, OrderEvent::OrderValidated(OrderValidated { order_id: stuck }), at(20)),
        history(fresh, OrderEvent::OrderValidated(OrderValidated { order_id: fresh }), at(1)),
        history(
            done,
            OrderEvent::OrderRejected(OrderRejected { order_id: done, reasons: vec![], notify: vec![] }),
            at(20),
        ),
    ];
    let (store, views) = given(&orders).await;
    let sweeper = TimeoutSweeper::new(store, views, chrono::Duration::minutes(15));
    let sweep = sweeper.sweep(chrono::Utc::now()).await.unwrap();
    assert_eq!(sweep.timed_out, vec![stuck]);
}

#[tokio::test]
async fn a_second_sweep_finds_nothing_more_to_do() {
    let stuck = OrderId::generate();
    let (store, views) =
        given(&[history(stuck, OrderEvent::OrderValidated(OrderValidated { order_id: stuck }), at(20))]).await;
    let store = std::sync::Arc::new(store);
    let sweeper = TimeoutSweeper::new(store.clone(), views, chrono::Duration::minutes(15));
    sweeper.sweep(chrono::Utc::now()).await.unwrap();
    // The read model still says Validated (nothing projected it), but the store knows better.
    let again = sweeper.sweep(chrono::Utc::now()).await.unwrap();
    assert!(again.timed_out.is_empty());
    let events = store.load(&stuck.stream_id(), 0).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.event_type == "OrderTimedOut").count(), 1);
}
