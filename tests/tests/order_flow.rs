//! The skeleton flow on the emulator: HTTP API → event store → stream → outbox relay →
//! EventBridge rule → SQS → validator → event store → stream → projector → read model.
//!
//! Ignored by a plain `cargo test` (they need a deployed stack); `orderflow test` runs them.

use domain::OrderStatus;
use e2e::Harness;
use serde_json::json;

/// An order of a customer of its own (fraud velocity never counts other tests' orders)
/// for a SKU of its own that nobody stocked.
fn order(quantity: u32) -> serde_json::Value {
    let id = uuid::Uuid::new_v4().simple().to_string();
    json!({
        "customerId": format!("customer-{id}"),
        "currency": "EUR",
        "lines": [{ "sku": format!("NOSTOCK-{id}"), "quantity": quantity, "unitPriceMinor": 1999 }]
    })
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn a_valid_order_for_a_sku_without_stock_is_validated_then_cancelled() {
    let harness = Harness::connect().await;
    let correlation_id = Harness::correlation_id("valid");
    let answer = harness.place_order(&order(2), &correlation_id).await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    let order_id = answer.body["orderId"].as_str().expect("an order id").to_string();

    let view = harness.wait_for_final_state(&order_id).await;
    assert_eq!(view.status, OrderStatus::Cancelled);
    let timeline: Vec<_> = view.timeline.iter().map(|t| (t.version, t.event_type.as_str())).collect();
    assert_eq!(timeline, vec![(1, "OrderPlaced"), (2, "OrderValidated"), (3, "FraudCleared"), (4, "OutOfStock")]);
    assert_eq!(view.total.amount_minor, 3998);

    let events = harness.stored_events(&correlation_id).await;
    assert_eq!(events.len(), 4, "{events:#?}");
    for pair in events.windows(2) {
        assert_eq!(
            pair[1].causation_id.as_str(),
            pair[0].event_id.to_string(),
            "each event is caused by the one before"
        );
    }
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn a_rejected_order_reaches_rejected_with_its_reasons() {
    let harness = Harness::connect().await;
    let correlation_id = Harness::correlation_id("rejected");
    let body = order(500);
    let sku = body["lines"][0]["sku"].as_str().unwrap_or_default().to_string();
    let answer = harness.place_order(&body, &correlation_id).await;
    assert_eq!(answer.status, 202, "{:?}", answer.body);
    let order_id = answer.body["orderId"].as_str().expect("an order id").to_string();

    let view = harness.wait_for_final_state(&order_id).await;
    assert_eq!(view.status, OrderStatus::Rejected);
    assert_eq!(view.rejection_reasons, vec![format!("quantity 500 of {sku} exceeds the limit of 100 per line")]);
    let types: Vec<_> = harness.stored_events(&correlation_id).await.into_iter().map(|e| e.event_type).collect();
    assert_eq!(types, vec!["OrderPlaced", "OrderRejected"]);
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn an_invalid_body_gets_400_naming_the_field_and_stores_nothing() {
    let harness = Harness::connect().await;
    let correlation_id = Harness::correlation_id("invalid");
    let mut body = order(1);
    body["lines"][0]["quantity"] = json!("two");
    let answer = harness.place_order(&body, &correlation_id).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["field"], "lines[0].quantity");
    assert!(harness.stored_events(&correlation_id).await.is_empty());
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn an_unknown_order_is_404() {
    let harness = Harness::connect().await;
    let answer = harness.send("GET", &format!("/orders/{}", uuid::Uuid::new_v4()), "e2e-unknown", None).await;
    assert_eq!(answer.status, 404, "{:?}", answer.body);
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn every_api_sample_gets_the_answer_its_name_promises() {
    let harness = Harness::connect().await;
    let samples_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/api");
    let samples = orderflow::ops::replay::load_samples(&samples_dir, "e2e").expect("the API samples load");
    assert!(samples.len() >= 5, "{} samples", samples.len());
    for (file, sample) in samples {
        let orderflow::ops::replay::Sample::Api(request) = sample else {
            panic!("{} is not an API sample", file.display())
        };
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let expected = match name.as_str() {
            n if n.starts_with("place-order-valid") || n.starts_with("place-order-rejected") => 202,
            n if n.starts_with("place-order-") => 400,
            n if n.ends_with("-unknown.json") => 404,
            other => panic!("{other}: name the expected answer in the sample's file name"),
        };
        let body = request.body.map(|b| match b {
            serde_json::Value::String(raw) => raw,
            json => json.to_string(),
        });
        let answer = harness.send(&request.method, &request.path, &Harness::correlation_id("sample"), body).await;
        assert_eq!(answer.status, expected, "{name}: {:?}", answer.body);
    }
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn an_event_that_breaks_its_schema_goes_to_the_dlq_with_the_reason_and_decides_nothing() {
    let harness = Harness::connect().await;
    let correlation_id = Harness::correlation_id("bad-schema");
    let order_id = uuid::Uuid::new_v4();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/domain/order-placed.json");
    let mut envelope: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    envelope["eventId"] = json!(uuid::Uuid::new_v4());
    envelope["streamId"] = json!(format!("order-{order_id}"));
    envelope["correlationId"] = json!(correlation_id);
    envelope["payload"]["orderId"] = json!(order_id);
    envelope["payload"]["lines"][0]["quantity"] = json!("two");

    harness.put_on_bus("OrderPlaced", &envelope).await;
    let letter = harness.wait_for_dead_letter("OrderValidationDeadLetterQueueUrl", &correlation_id).await;
    assert_eq!(letter.consumer, "order-validator");
    assert!(letter.reason.contains("/lines/0/quantity"), "{}", letter.reason);
    assert!(harness.stored_events(&correlation_id).await.is_empty(), "nothing was stored");
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn a_v1_order_placed_in_the_store_still_goes_through_the_saga_and_is_projected() {
    // No key placed it (an older build stored it): only an admin key reads it.
    let harness = Harness::connect_as_admin().await;
    let owner_only = Harness::connect().await;
    let correlation_id = Harness::correlation_id("v1-in-store");
    let order_id = uuid::Uuid::new_v4();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/domain/order-placed.json");
    let mut envelope: toolkit::envelope::EventEnvelope =
        serde_json::from_str(&std::fs::read_to_string(sample).unwrap()).unwrap();
    assert_eq!(envelope.schema_version, 1, "the sample is a v1 event, as an older build stored it");
    envelope.event_id = toolkit::envelope::EventId::generate();
    envelope.stream_id = toolkit::envelope::StreamId::new(format!("order-{order_id}"));
    envelope.correlation_id = toolkit::envelope::CorrelationId::new(&correlation_id);
    envelope.payload["orderId"] = json!(order_id);
    envelope.payload["customerId"] = json!(format!("customer-{}", order_id.simple()));
    envelope.payload["lines"][0]["sku"] = json!(format!("NOSTOCK-{}", order_id.simple()));

    harness.store_event(&envelope).await;
    let view = harness.wait_for_final_state(&order_id.to_string()).await;
    assert_eq!(view.status, OrderStatus::Cancelled, "nobody stocked its SKU");
    let as_a_caller = owner_only.send("GET", &format!("/orders/{order_id}"), &correlation_id, None).await;
    assert_eq!(as_a_caller.status, 404, "an order with no recorded owner is for admin keys only");
    let events = harness.stored_events(&correlation_id).await;
    let versions: Vec<_> = events.iter().map(|e| (e.event_type.as_str(), e.schema_version)).collect();
    assert_eq!(versions, vec![("OrderPlaced", 1), ("OrderValidated", 1), ("FraudCleared", 1), ("OutOfStock", 2)]);
}
