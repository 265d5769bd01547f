//! `orderflow trace`: the causal tree of one order on the deployed stack.

use e2e::Harness;
use orderflow::trace::{TraceNode, render, trace};

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
    let trace = trace(&harness.clients, &harness.stack, &order_id).await.expect("a trace");
    assert_eq!(trace.roots.len(), 1, "{}", render(&trace));
    assert_eq!(
        shape(&trace.roots[0]),
        "OrderPlaced(OrderValidated(FraudCleared(StockAllocated, StockReserved(PaymentAuthorized(ShipmentScheduled)))))"
    );
    assert_eq!(trace.events, 7);
    assert!(every_gap_is_positive(&trace.roots[0]));
    let text = render(&trace);
    assert!(text.contains("by payment") && text.contains("[sku-TEA-"), "{text}");
    let json = serde_json::to_value(&trace).unwrap();
    assert_eq!(json["roots"][0]["caused"][0]["producer"], "order-validator");
}
