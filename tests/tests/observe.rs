//! Operating the deployed stack: `trace` (the causal tree of one order) and replaying the
//! bus's archive.

use e2e::Harness;
use orderflow::ops::trace::{TraceNode, render, trace};

/// The tree as `type(children...)`, children in time order.
fn shape(node: &TraceNode) -> String {
    match node.caused.as_slice() {
        [] => node.event_type.clone(),
        children => format!("{}({})", node.event_type, children.iter().map(shape).collect::<Vec<_>>().join(", ")),
    }
}

fn every_gap_is_positive(node: &TraceNode) -> bool {
    node.gap_ms.is_none_or(|ms| ms >= 0) && node.caused.iter().all(every_gap_is_positive)
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn the_trace_of_a_happy_order_is_exactly_its_chain_of_causes() {
    let harness = Harness::connect().await;
    let (_, views) = harness.replay_scenario("happy-path").await;
    let order_id = views[0].order_id.to_string();
    // The shipment commits the stock a hop after the order completes: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let trace = loop {
        let trace = trace(&harness.clients, &harness.stack, &order_id).await.expect("a trace");
        if trace.events >= 8 || std::time::Instant::now() > deadline {
            break trace;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_eq!(trace.roots.len(), 1, "{}", render(&trace));
    assert_eq!(
        shape(&trace.roots[0]),
        "OrderPlaced(OrderValidated(FraudCleared(StockAllocated, StockReserved(PaymentAuthorized(ShipmentScheduled(StockCommitted))))))"
    );
    assert_eq!(trace.events, 8);
    assert!(every_gap_is_positive(&trace.roots[0]));
    let text = render(&trace);
    e2e::report("trace-example", &text);
    assert!(text.contains("by payment") && text.contains("[sku-TEA-"), "{text}");
    let json = serde_json::to_value(&trace).unwrap();
    assert_eq!(json["roots"][0]["caused"][0]["producer"], "order-validator");

    // One X-Ray trace spans the saga: every event carries the placing request's header.
    let events = harness.stored_events(&trace.correlation_id).await;
    let root = |e: &toolkit::envelope::EventEnvelope| {
        e.trace_id.as_deref().and_then(|t| t.split(';').next()).map(str::to_string)
    };
    let first = root(&events[0]).expect("the order was placed under an X-Ray trace (Tracing: Active)");
    assert!(first.starts_with("Root=1-"), "{first}");
    assert!(events.iter().all(|e| root(e).as_deref() == Some(first.as_str())), "{events:#?}");
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn an_archive_replay_redelivers_past_events_and_changes_nothing() {
    let harness = Harness::connect().await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(2);
    let (run_id, views) = harness.replay_scenario("happy-path").await;
    let order_id = views[0].order_id.to_string();
    let stream = harness.stream_of(&order_id).await;
    let notifications = harness.wait_for_notifications(&order_id, 3).await;
    let stock = harness.stock_of(&format!("TEA-{run_id}")).await;

    let outcome = orderflow::ops::archive::replay_since(&harness.clients, &harness.stack, since).await.expect("replay");
    assert!(outcome.ends_with("completed"), "{outcome}");
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;

    assert_eq!(harness.stream_of(&order_id).await, stream, "no event appended twice");
    assert_eq!(harness.wait_for_notifications(&order_id, 3).await, notifications, "nobody told twice");
    assert_eq!(harness.stock_of(&format!("TEA-{run_id}")).await, stock, "stock taken once");
    let correlation = format!("happy-path-{run_id}");
    if let Some(redelivered) = harness.log_lines_with(&[correlation.as_str(), "nothing to do in this status"]) {
        assert!(redelivered >= 1, "the saga's steps saw the replayed events and did nothing");
    }
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn status_reads_the_time_index_and_the_backfill_indexes_what_an_older_build_stored() {
    use orderflow::ops::figures::{events_since, latest_events};
    let harness = Harness::connect().await;
    let table = harness.stack.output("EventStoreTableName").expect("event store output").to_string();
    let since = chrono::Utc::now() - chrono::Duration::minutes(10);
    let (_, views) = harness.replay_scenario("happy-path").await;
    let order_stream = format!("order-{}", views[0].order_id);
    let stored = harness.stream(&order_stream).await;
    let indexed: Vec<u64> = events_since(&harness.clients, &table, since)
        .await
        .expect("the time index")
        .iter()
        .filter(|e| e.stream_id == order_stream)
        .map(|e| e.version)
        .rev()
        .collect();
    assert_eq!(indexed, stored.iter().map(|e| e.version).collect::<Vec<_>>(), "every event of the order, in time");
    let latest = latest_events(&harness.clients, &table, 1_000, chrono::Duration::hours(1)).await.expect("latest");
    assert!(latest.iter().any(|e| e.stream_id == order_stream), "the order is among the latest events");

    // An order placed as an older build stored it: no time bucket, so not in the index
    // until backfilled. (Nobody stocks its SKU: the saga cancels it like any other.)
    let (mut envelope, order_id) = (stored[0].clone(), uuid::Uuid::new_v4());
    envelope.event_id = toolkit::envelope::EventId::generate();
    envelope.stream_id = toolkit::envelope::StreamId::new(format!("order-{order_id}"));
    envelope.correlation_id = toolkit::envelope::CorrelationId::new(Harness::correlation_id("unindexed"));
    envelope.occurred_at = chrono::Utc::now() - chrono::Duration::minutes(2);
    envelope.payload["orderId"] = serde_json::json!(order_id);
    envelope.payload["lines"][0]["sku"] = serde_json::json!(format!("NOSTOCK-{}", order_id.simple()));
    harness.store_event(&envelope).await;
    let found = |events: &[orderflow::ops::figures::EventHead]| {
        events.iter().any(|e| e.stream_id == envelope.stream_id.as_str())
    };
    assert!(!found(&events_since(&harness.clients, &table, since).await.unwrap()), "not indexed yet");
    let client = harness.clients.dynamodb();
    let backfilled = orderflow::ops::time_backfill::backfill(&client, &table, None).await.expect("the backfill");
    assert!(backfilled.complete && backfilled.indexed >= 1, "{backfilled:?}");
    assert!(found(&events_since(&harness.clients, &table, since).await.unwrap()), "indexed in its own minute");
    let first = harness.stream(envelope.stream_id.as_str()).await.into_iter().next();
    assert_eq!(first, Some(envelope), "the event itself is unchanged");
}
