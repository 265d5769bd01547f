//! The fault matrix (F1–F8): each fault injected by configuration (the test stack is
//! deployed with `FaultInjection=on`; a marker in an order's correlation id picks the
//! victim, see `toolkit::faults`) and each outcome asserted with counts.

use domain::OrderStatus;
use e2e::Harness;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// Long enough for maxReceiveCount (3) deliveries 30 s apart, plus the emulator's pace.
const PARKED_TIMEOUT: Duration = Duration::from_secs(180);

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// An order for a SKU with plenty of stock (added first), told to the customer by webhook.
async fn stocked_order(harness: &Harness, tag: &str) -> serde_json::Value {
    let sku = format!("F-{tag}");
    let added = harness
        .send_as_admin(
            "POST",
            &format!("/inventory/{sku}/stock"),
            "e2e-stock",
            Some(json!({ "quantity": 50 }).to_string()),
        )
        .await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    json!({
        "customerId": format!("fault-{tag}"),
        "currency": "EUR",
        "notify": ["email", "webhook"],
        "lines": [{ "sku": sku, "quantity": 1, "unitPriceMinor": 1500 }]
    })
}

fn counts(types: &[String]) -> BTreeMap<&str, usize> {
    let mut counts = BTreeMap::new();
    types.iter().for_each(|t| *counts.entry(t.as_str()).or_default() += 1);
    counts
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn f1_a_failing_message_is_retried_alone_then_parked_with_its_reason() {
    let harness = Harness::connect().await;
    let tag = unique();
    let (healthy, failing) = (format!("e2e-f1-{tag}"), format!("fault-fail-shipping-{tag}"));
    let order = stocked_order(&harness, &tag).await;
    let (a, b) = tokio::join!(harness.place_order(&order, &healthy), harness.place_order(&order, &failing));
    let (healthy_id, failing_id) = (a.body["orderId"].as_str().unwrap(), b.body["orderId"].as_str().unwrap());

    assert_eq!(
        harness.wait_for_final_state(healthy_id).await.status,
        OrderStatus::Completed,
        "its neighbour is not held up"
    );
    let letter = harness.wait_for_letter("ShippingDeadLetterQueue", &failing, PARKED_TIMEOUT).await;
    assert_eq!(letter.consumer.as_deref(), Some("shipping"));
    assert!(letter.reason.starts_with("gave up after 3 attempts: injected failure"), "{}", letter.reason);
    assert_eq!(letter.event_type.as_deref(), Some("PaymentAuthorized"));
    assert!(letter.source.as_deref().is_some_and(|s| s.ends_with("-shipping")), "{letter:?}");
    let stream = harness.stream_of(failing_id).await;
    assert_eq!(counts(&stream).get("PaymentAuthorized"), Some(&1));
    assert_eq!(counts(&stream).get("ShipmentScheduled"), None, "never shipped: {stream:?}");
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn f2_every_message_delivered_twice_causes_no_duplicate_effect() {
    let harness = Harness::connect().await;
    let tag = unique();
    let correlation = format!("fault-dup-{tag}");
    let placed = harness.place_order(&stocked_order(&harness, &tag).await, &correlation).await;
    let order_id = placed.body["orderId"].as_str().unwrap();
    assert_eq!(harness.wait_for_final_state(order_id).await.status, OrderStatus::Completed);

    let stream = harness.stream_of(order_id).await;
    assert!(counts(&stream).values().all(|n| *n == 1), "each event once: {stream:?}");
    let notifications = harness.wait_for_notifications(order_id, 2).await;
    assert_eq!(notifications.len(), 2, "one per channel for ShipmentScheduled: {notifications:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let webhooks = harness.webhooks_received(order_id);
    assert_eq!(webhooks.len(), 1, "one webhook call: {webhooks:?}");
    assert_eq!(harness.stock_of(&format!("F-{tag}")).await, (49, 1), "stock taken once");
    if let Some(repeats) = harness.log_lines_with(&[correlation.as_str(), "repeat of a completed effect"]) {
        assert!(repeats >= 1, "the notifier saw the duplicate and returned the stored result");
    }
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn f2_a_scenario_replayed_twice_places_and_stocks_once() {
    let harness = Harness::connect().await;
    let run_id = unique();
    let first = harness.replay_scenario_as("happy-path", &run_id).await;
    let second = harness.replay_scenario_as("happy-path", &run_id).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first, second, "the same Idempotency-Key answers with the same order");
    assert_eq!(harness.wait_for_final_state(&first[0]).await.status, OrderStatus::Completed);
    // Added, allocated, then committed by the shipment (a hop after the order completes).
    let sku_stream = format!("sku-TEA-{run_id}");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while harness.versions_of(&sku_stream).await.len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(harness.versions_of(&sku_stream).await.len(), 3, "stock added, allocated and committed once each");
    assert_eq!(harness.stock_of(&format!("TEA-{run_id}")).await, (8, 2));
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn f3_concurrent_writers_to_one_stream_lose_nothing_and_leave_no_gap() {
    let harness = Harness::connect().await;
    let sku = format!("F3-{}", unique());
    const WRITERS: u64 = 24;
    let writes = (1..=WRITERS).map(|quantity| {
        let (harness, sku) = (&harness, sku.clone());
        async move {
            // A writer that lost every race gets 409 and tries again, as a client should.
            for _ in 0..30 {
                let body = json!({ "quantity": quantity }).to_string();
                let answer =
                    harness.send_as_admin("POST", &format!("/inventory/{sku}/stock"), "e2e-f3", Some(body)).await;
                if answer.status != 409 {
                    return answer.status;
                }
                tokio::time::sleep(Duration::from_millis(50 * quantity)).await;
            }
            409
        }
    });
    let statuses = futures::future::join_all(writes).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let versions = harness.versions_of(&format!("sku-{sku}")).await;
    assert_eq!(versions, (1..=WRITERS).collect::<Vec<_>>(), "one event per write, versions without gaps");
    assert_eq!(harness.stock_of(&sku).await, (WRITERS * (WRITERS + 1) / 2, 0), "no write lost");
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn f4_a_function_that_crashes_mid_batch_loses_nothing() {
    let harness = Harness::connect().await;
    let tag = unique();
    let order = stocked_order(&harness, &tag).await;
    let (exit, panic, healthy) =
        (format!("fault-exit-payment-{tag}"), format!("fault-panic-inventory-{tag}"), format!("e2e-f4-{tag}"));
    let (a, b, c) = tokio::join!(
        harness.place_order(&order, &exit),
        harness.place_order(&order, &panic),
        harness.place_order(&order, &healthy)
    );
    for answer in [a, b, c] {
        let order_id = answer.body["orderId"].as_str().unwrap().to_string();
        let view = harness.wait_for_final_state(&order_id).await;
        assert_eq!(view.status, OrderStatus::Completed, "{order_id}: {:?}", view.timeline);
        let stream = harness.stream_of(&order_id).await;
        assert!(counts(&stream).values().all(|n| *n == 1), "redelivery duplicated nothing: {stream:?}");
    }
    assert_eq!(harness.stock_of(&format!("F-{tag}")).await, (47, 3));
    if let Some(exits) = harness.log_lines_with(&[exit.as_str(), "injected process exit"]) {
        assert!(exits >= 1, "the payment process did exit");
    }
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn f6_bad_input_at_the_api_gets_a_4xx_naming_the_problem_and_stores_nothing() {
    let harness = Harness::connect().await;
    let customer = format!("f6-{}", unique());
    let line = json!({ "sku": "TEA", "quantity": 1, "unitPriceMinor": 100 });
    let cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 400, "body"),
        (json!({ "customerId": customer, "currency": "EUR", "lines": [{ "sku": "TEA", "quantity": "two", "unitPriceMinor": 100 }] }).to_string(), 400, "lines[0].quantity"),
        (json!({ "customerId": customer, "currency": "EUR" }).to_string(), 400, "lines"),
        (json!({ "customerId": customer, "currency": "EUR", "lines": [line], "coupon": "FREE" }).to_string(), 400, "coupon"),
        (json!({ "customerId": customer, "currency": "EUR", "lines": [line], "padding": "x".repeat(300 * 1024) }).to_string(), 413, "body"),
    ];
    for (body, status, field) in cases {
        let answer = harness.send("POST", "/orders", "e2e-f6", Some(body.clone())).await;
        assert_eq!(answer.status, status, "{}: {:?}", &body[..body.len().min(80)], answer.body);
        let named = answer.body["field"].as_str().unwrap_or_default().to_string()
            + answer.body["error"].as_str().unwrap_or_default();
        assert!(named.contains(field), "the answer names {field}: {:?}", answer.body);
    }
    let orders = harness.send("GET", &format!("/customers/{customer}/orders"), "e2e-f6", None).await;
    assert_eq!(orders.body["orders"].as_array().map(Vec::len), Some(0), "nothing stored");
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn f6_garbage_on_every_queue_ends_in_its_dlq_with_the_reason() {
    let harness = Harness::connect().await;
    let queues = [
        ("OrderValidationQueueUrl", "OrderValidationDeadLetterQueue"),
        ("FraudScreeningQueueUrl", "FraudScreeningDeadLetterQueue"),
        ("InventoryQueueUrl", "InventoryDeadLetterQueue"),
        ("PaymentQueueUrl", "PaymentDeadLetterQueue"),
        ("ShippingQueueUrl", "ShippingDeadLetterQueue"),
        ("AnalyticsQueueUrl", "AnalyticsDeadLetterQueue"),
        ("EmailNotificationsQueueUrl", "NotificationsDeadLetterQueue"),
        ("SmsNotificationsQueueUrl", "NotificationsDeadLetterQueue"),
        ("WebhookNotificationsQueueUrl", "NotificationsDeadLetterQueue"),
    ];
    let mut sent = Vec::new();
    for (queue, dlq) in queues {
        let marker = format!("f6-{}", unique());
        let detail = |event_type: &str, version: u32, payload: serde_json::Value| {
            json!({ "detail-type": event_type, "source": "orderflow", "detail": {
                "eventId": uuid::Uuid::new_v4(), "eventType": event_type, "schemaVersion": version,
                "streamId": format!("order-{}", uuid::Uuid::new_v4()), "version": 2,
                "correlationId": marker, "causationId": marker, "occurredAt": "2026-01-01T00:00:00Z",
                "payload": payload } })
            .to_string()
        };
        let bodies = [
            format!("not json {marker}"),
            detail("NoSuchEvent", 1, json!({})),
            detail("OrderValidated", 99, json!({ "orderId": uuid::Uuid::new_v4() })),
            detail("PaymentAuthorized", 1, json!({ "orderId": "not-a-uuid", "amount": "lots" })),
        ];
        for body in &bodies {
            harness.send_to_queue(queue, body).await;
        }
        sent.push((dlq, marker, bodies.len()));
    }
    for (dlq, marker, expected) in sent {
        let letters = harness.wait_for_letters(dlq, &marker, expected, Duration::from_secs(120)).await;
        assert_eq!(letters.len(), expected, "{dlq}: every bad message of {marker} parked");
        for letter in letters {
            assert!(!letter.reason.is_empty() && letter.consumer.is_some(), "{letter:?}");
        }
    }
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn f6_a_poison_message_can_be_redriven_to_its_source_queue() {
    let harness = Harness::connect().await;
    let marker = format!("redrive-{}", unique());
    harness.send_to_queue("PaymentQueueUrl", &format!("not json {marker}")).await;
    let parked = harness.wait_for_letter("PaymentDeadLetterQueue", &marker, Duration::from_secs(60)).await;
    assert!(parked.reason.contains("not an EventBridge event"), "{}", parked.reason);
    assert!(parked.source.as_deref().is_some_and(|s| s.ends_with("-payment")), "from the payment queue: {parked:?}");

    let dlq = orderflow::ops::dlq::find(&harness.stack, "PaymentDeadLetterQueue").unwrap();
    let outcome = orderflow::ops::dlq::redrive(&harness.clients, &harness.stack, &dlq).await.expect("redrive");
    assert!(outcome.sent_back >= 1 && outcome.failed.is_empty(), "{outcome:?}");
    // Back in the payment queue, still poison: parked again, as a new message.
    let again = harness.wait_for_letter("PaymentDeadLetterQueue", &marker, Duration::from_secs(60)).await;
    assert_ne!(again.message_id, parked.message_id, "it went to the source queue and came back");
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn f7_missing_or_forged_credentials_get_401_or_403_store_nothing_and_are_logged() {
    let harness = Harness::connect().await;
    let customer = format!("f7-{}", unique());
    let body = json!({ "customerId": customer, "currency": "EUR", "lines": [{ "sku": "TEA", "quantity": 1, "unitPriceMinor": 100 }] }).to_string();
    let forged = harness.send_with("POST", "/orders", &[("x-api-key", "ofk_guessed")], Some(body.clone())).await;
    assert_eq!(forged.status, 403, "{:?}", forged.body);
    let bare = reqwest::Client::new().post(format!("{}/orders", harness.api_url)).body(body).send().await.unwrap();
    assert_eq!(bare.status().as_u16(), 401);
    let orders = harness.send("GET", &format!("/customers/{customer}/orders"), "e2e-f7", None).await;
    assert_eq!(orders.body["orders"].as_array().map(Vec::len), Some(0), "nothing stored");

    let secret = std::env::var("ORDERFLOW_PAYMENT_WEBHOOK_SECRET").expect("set by orderflow test");
    let callback = json!({ "orderId": uuid::Uuid::new_v4(), "outcome": "authorized" }).to_string();
    let now = chrono::Utc::now().timestamp();
    assert_eq!(harness.signed_post("/webhooks/payments", &callback, b"wrong-secret", now).await.status, 401);
    assert_eq!(harness.signed_post("/webhooks/payments", &callback, secret.as_bytes(), now - 3_600).await.status, 401);
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn f7_a_key_lists_only_its_own_orders_of_a_customer_and_the_operator_every_keys() {
    let tests_key = Harness::connect().await;
    let customer = format!("f7-tenant-{}", unique());
    let order = json!({ "customerId": customer, "currency": "EUR",
        "lines": [{ "sku": format!("F7-{}", unique()), "quantity": 1, "unitPriceMinor": 100 }] });
    let placed = tests_key.place_order(&order, "e2e-f7-tenant").await;
    let order_id = placed.body["orderId"].as_str().expect("an order id").to_string();
    tests_key.wait_for_final_state(&order_id).await;
    let path = format!("/customers/{customer}/orders");
    let listed = |answer: e2e::Answer| -> Vec<String> {
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        let orders = answer.body["orders"].as_array().cloned().unwrap_or_default();
        orders.iter().filter_map(|o| o["orderId"].as_str().map(String::from)).collect()
    };
    let only_this_order = vec![order_id];
    assert_eq!(listed(tests_key.send("GET", &path, "e2e-f7-tenant", None).await), only_this_order);
    // The operator reads every key's orders of a customer (the byCustomer index).
    assert_eq!(listed(tests_key.send_as_admin("GET", &path, "e2e-f7-tenant", None).await), only_this_order);
    // Another key naming the same customer id sees none of them (it is rate limited
    // to a few requests a second and f8 bursts it: wait out a 429).
    let other_key = Harness::connect_with("ORDERFLOW_THROTTLED_API_KEY").await;
    let mut answer = other_key.send("GET", &path, "e2e-f7-tenant", None).await;
    for _ in 0..20 {
        if answer.status != 429 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        answer = other_key.send("GET", &path, "e2e-f7-tenant", None).await;
    }
    assert_eq!(listed(answer), Vec::<String>::new(), "another key's orders are not this key's");
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn f8_a_burst_beyond_the_rate_limit_gets_429_and_the_service_stays_healthy() {
    let harness = Harness::connect().await;
    let key = std::env::var("ORDERFLOW_THROTTLED_API_KEY").expect("set by orderflow test");
    let rate: usize = std::env::var("ORDERFLOW_THROTTLED_RATE").expect("set by orderflow test").parse().unwrap();
    let headers = [("x-api-key", key.as_str())];
    let shelf = format!("/inventory/F8-{}", unique());
    let burst = (0..rate * 6).map(|_| harness.send_with("GET", &shelf, &headers, None));
    let answers = futures::future::join_all(burst).await;
    let limited = answers.iter().filter(|a| a.status == 429).count();
    let served = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(limited + served, answers.len(), "only 200 or 429");
    assert!(limited > 0, "the burst went over {rate}/s");
    assert!(
        answers.iter().any(|a| a.status == 429 && a.body["error"].as_str().unwrap_or_default().contains("rate limit"))
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let after = harness.send_with("GET", &shelf, &[("x-api-key", key.as_str())], None).await;
    assert_eq!(after.status, 200, "the key is served again in the next second");
    assert_eq!(harness.send("GET", &shelf, "e2e-f8", None).await.status, 200, "other callers were never limited");
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn an_order_too_large_for_the_bus_is_refused_at_the_door_and_the_next_one_completes() {
    let harness = Harness::connect().await;
    let tag = unique();
    let mut body = stocked_order(&harness, &format!("big-{tag}")).await;
    // 40,000 channels: about 240 KB, under the API's body limit; copied into every event of
    // the order, it would make bus entries and dead letters no AWS service takes.
    body["notify"] = json!(vec!["sms"; 40_000]);
    let correlation = format!("e2e-big-{tag}");
    let refused = harness.place_order_once(&body, &correlation).await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert_eq!(refused.body["field"], "notify[1]", "{:?}", refused.body);
    assert!(harness.stored_events(&correlation).await.is_empty(), "nothing stored");

    body["notify"] = json!(["webhook"]);
    let placed = harness.place_order(&body, &format!("e2e-after-big-{tag}")).await;
    assert_eq!(placed.status, 202, "{:?}", placed.body);
    let view = harness.wait_for_final_state(placed.body["orderId"].as_str().expect("an order id")).await;
    assert_eq!(view.status, OrderStatus::Completed, "{:?}", view.status_reason);
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn requests_aws_would_refuse_for_their_size_are_refused_on_the_emulator_too() {
    let harness = Harness::connect().await;
    // MiniStack takes both; AWS refuses both, so our clients refuse them before sending.
    let queue = harness.stack.output("PaymentDeadLetterQueueUrl").expect("queue output").to_string();
    let message = harness.clients.sqs().send_message().queue_url(&queue).message_body("x".repeat(300 * 1024));
    let refused = message.send().await.expect_err("a 300 KiB message is refused");
    let reason = toolkit::error::error_text(&refused);
    assert!(reason.contains("SendMessage refused before sending") && reason.contains("262144"), "{reason}");
    // No sort key: were it sent, the emulator would refuse it too, for that; nothing is stored.
    let table = harness.stack.output("EventStoreTableName").expect("table output").to_string();
    let item = [
        ("streamId", aws_sdk_dynamodb::types::AttributeValue::S(format!("e2e-limits-{}", unique()))),
        ("payloadJson", aws_sdk_dynamodb::types::AttributeValue::S("x".repeat(410 * 1024))),
    ];
    let item = item.into_iter().map(|(name, value)| (name.to_string(), value)).collect();
    let put = harness.clients.dynamodb().put_item().table_name(table).set_item(Some(item));
    let reason = toolkit::error::error_text(&put.send().await.expect_err("a 410 KiB item is refused"));
    assert!(reason.contains("PutItem refused before sending"), "{reason}");
}
