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

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn every_consumer_admission_listens_to_reports_its_wait_where_the_api_reads_it() {
    use toolkit::admission::DynamoAdmissionTable;
    let harness = Harness::connect().await;
    let correlation_id = Harness::correlation_id("waits");
    let sku = format!("WAITS-{}", uuid::Uuid::new_v4().simple());
    let stocked = harness
        .send_as_admin(
            "POST",
            &format!("/inventory/{sku}/stock"),
            &correlation_id,
            Some(json!({ "quantity": 1 }).to_string()),
        )
        .await;
    assert_eq!(stocked.status, 200, "{:?}", stocked.body);
    let body = json!({
        "customerId": format!("customer-{correlation_id}"),
        "currency": "EUR",
        "lines": [{ "sku": sku, "quantity": 1, "unitPriceMinor": 1999 }]
    });
    let answer = harness.place_order(&body, &correlation_id).await;
    let order_id = answer.body["orderId"].as_str().expect("an order id").to_string();
    assert_eq!(harness.wait_for_final_state(&order_id).await.status, OrderStatus::Completed);
    let stream = harness.stream(&format!("order-{order_id}")).await;

    // Each consumer gets a batch later than the one before it (so the table's longest wait
    // is its own) and under the test stack's 10-s limit (so no other test is refused). The
    // relay first: the emulator's stream times are whole seconds. Each step gets its
    // trigger again and, the order having moved on, appends nothing.
    let table = harness.stack.output("RateLimitTableName").expect("the rate-limit table's output");
    let waits = DynamoAdmissionTable::new(harness.clients.dynamodb(), table);
    let failures = invoke(&harness, "outbox-relay", late_stream_batch(ago(3_000))).await;
    assert_eq!(failures, json!([]), "the relay failed a record it has nothing to publish for");
    assert_longest_wait(&waits, "outbox-relay", 3_000).await;
    for (late_ms, (function, trigger)) in (4_500..).step_by(1_000).zip([
        ("order-validator", "OrderPlaced"),
        ("fraud-detector", "OrderValidated"),
        ("inventory", "FraudCleared"),
        ("payment", "StockReserved"),
        ("shipping", "PaymentAuthorized"),
    ]) {
        let envelope = stream.iter().find(|e| e.event_type == trigger).expect("the completed order's event");
        let failures = invoke(&harness, function, late_sqs_batch(envelope, ago(late_ms))).await;
        assert_eq!(failures, json!([]), "{function} failed its late {trigger}");
        assert_longest_wait(&waits, function, late_ms).await;
    }
    assert_eq!(harness.stream(&format!("order-{order_id}")).await.len(), stream.len(), "a late trigger decided again");
}

fn ago(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::milliseconds(ms)
}

/// The longest wait the API would read is `consumer`'s, at least `ms` long.
async fn assert_longest_wait(waits: &toolkit::admission::DynamoAdmissionTable, consumer: &str, ms: i64) {
    use toolkit::admission::WaitGauge;
    let longest = waits.longest_wait().await.expect("the waits can be read");
    let longest = longest.unwrap_or_else(|| panic!("{consumer} reported no wait"));
    assert_eq!(longest.consumer, consumer, "{longest:?}");
    assert!(longest.waited.as_millis() >= u128::try_from(ms).unwrap_or(0), "{longest:?}");
}

/// Invokes `function` with `event`; returns its `batchItemFailures`.
async fn invoke(harness: &Harness, function: &str, event: serde_json::Value) -> serde_json::Value {
    let name = harness.stack.function_name(function);
    let answer = harness
        .clients
        .lambda()
        .invoke()
        .function_name(&name)
        .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("invoking {name}: {}", toolkit::error::error_text(&e)));
    let payload: serde_json::Value = serde_json::from_slice(
        answer.payload.as_ref().map(aws_sdk_lambda::primitives::Blob::as_ref).unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(answer.function_error, None, "{name}: {payload}");
    payload["batchItemFailures"].clone()
}

/// One SQS message carrying `envelope` as the bus delivers it, sent at `sent`.
fn late_sqs_batch(
    envelope: &toolkit::envelope::EventEnvelope,
    sent: chrono::DateTime<chrono::Utc>,
) -> serde_json::Value {
    let body = json!({
        "version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": envelope.event_type,
        "source": "orderflow.orders", "account": "000000000000", "time": sent.to_rfc3339(),
        "region": "us-east-1", "resources": [], "detail": envelope
    });
    let id = uuid::Uuid::new_v4().to_string();
    json!({ "Records": [{
        "messageId": id, "receiptHandle": id, "body": body.to_string(),
        "attributes": { "ApproximateReceiveCount": "1", "SentTimestamp": sent.timestamp_millis().to_string() },
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:late", "awsRegion": "us-east-1"
    }]})
}

/// One stream record written at `sent` that publishes nothing (a MODIFY: the store never
/// changes an event, and the relay publishes inserts only).
fn late_stream_batch(sent: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    json!({ "Records": [{
        "eventID": uuid::Uuid::new_v4().to_string(), "eventName": "MODIFY", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": sent.timestamp(),
            "Keys": { "streamId": { "S": "order-late" }, "version": { "N": "1" } },
            "SequenceNumber": "1", "SizeBytes": 1, "StreamViewType": "NEW_IMAGE"
        }
    }]})
}
