//! Every scenario of `events/scenarios/` replayed on the emulator: the final state of
//! each order, the exact events of its stream, the stock afterwards, and no dead letter.

use domain::OrderStatus;
use e2e::Harness;

fn types(names: &[&str]) -> Vec<String> {
    names.iter().map(std::string::ToString::to_string).collect()
}

/// Replays one single-order scenario and checks it end to end; `told` is the event the
/// customer hears about and the channels they hear it on.
async fn single_order_scenario(
    name: &str,
    status: OrderStatus,
    stream: &[&str],
    stock_after: (u64, u64),
    told: (&str, &[&str]),
) {
    let harness = Harness::connect().await;
    let (run_id, views) = harness.replay_scenario(name).await;
    assert_eq!(views.len(), 1, "{name} places one order");
    let view = &views[0];
    assert_eq!(view.status, status, "{name}: {view:?}");
    assert_eq!(harness.stream_of(&view.order_id.to_string()).await, types(stream), "{name}");
    assert_eq!(harness.stock_of(&format!("TEA-{run_id}")).await, stock_after, "{name}: (on hand, taken)");
    assert_eq!(harness.dead_letters_mentioning(&run_id).await, Vec::<String>::new(), "{name}");
    let order_id = view.order_id.to_string();
    let (outcome, channels) = told;
    let expected: Vec<(String, String)> = channels.iter().map(|c| (c.to_string(), outcome.to_string())).collect();
    assert_eq!(harness.wait_for_notifications(&order_id, channels.len()).await, expected, "{name}: notifications");
    if channels.contains(&"webhook") {
        assert_eq!(
            harness.webhooks_received(&order_id),
            vec![(outcome.to_string(), true)],
            "{name}: one signed webhook"
        );
    }
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn the_happy_path_ships_the_order_and_its_stock() {
    let stream =
        ["OrderPlaced", "OrderValidated", "FraudCleared", "StockReserved", "PaymentAuthorized", "ShipmentScheduled"];
    single_order_scenario(
        "happy-path",
        OrderStatus::Completed,
        &stream,
        (8, 2),
        ("ShipmentScheduled", &["email", "sms", "webhook"]),
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn a_declined_payment_cancels_the_order_and_gives_the_stock_back() {
    let stream = ["OrderPlaced", "OrderValidated", "FraudCleared", "StockReserved", "PaymentDeclined", "StockReleased"];
    single_order_scenario(
        "payment-declined",
        OrderStatus::Cancelled,
        &stream,
        (10, 0),
        ("PaymentDeclined", &["email", "sms", "webhook"]),
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn an_order_for_more_than_the_stock_is_cancelled_and_takes_nothing() {
    let stream = ["OrderPlaced", "OrderValidated", "FraudCleared", "OutOfStock"];
    single_order_scenario(
        "out-of-stock",
        OrderStatus::Cancelled,
        &stream,
        (1, 0),
        ("OutOfStock", &["email", "webhook"]),
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn a_suspicious_order_is_held_and_neither_reserved_nor_paid() {
    let stream = ["OrderPlaced", "OrderValidated", "FraudSuspected"];
    single_order_scenario("fraud-hold", OrderStatus::OnHold, &stream, (10, 0), ("FraudSuspected", &["email"])).await;
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn a_mixed_burst_ends_every_order_where_its_kind_says() {
    let harness = Harness::connect().await;
    let (run_id, views) = harness.replay_scenario("mixed-burst").await;
    assert_eq!(views.len(), 250);
    let count = |status| views.iter().filter(|v| v.status == status).count();
    assert_eq!(count(OrderStatus::Completed), 150 + 10, "150 plain orders and the 10 that got scarce stock");
    assert_eq!(count(OrderStatus::Cancelled), 40 + 20, "40 declined payments and 20 orders that found no stock");
    assert_eq!(count(OrderStatus::OnHold), 30, "30 large orders");
    assert_eq!(harness.stock_of(&format!("TEA-{run_id}")).await, (1000 - 150, 150));
    assert_eq!(harness.stock_of(&format!("MUG-{run_id}")).await, (0, 10));
    // Sales count authorized payments only: 150 + 10 units, each once.
    let sold = harness.wait_for_units_sold(&[format!("TEA-{run_id}"), format!("MUG-{run_id}")], &[150, 10]).await;
    assert_eq!(sold, vec![150, 10]);
    assert_eq!(harness.dead_letters_mentioning(&run_id).await, Vec::<String>::new());
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn concurrent_orders_for_the_last_units_never_oversell() {
    let harness = Harness::connect().await;
    let sku = format!("LAST-{}", orderflow::ops::replay::new_run_id());
    let stock = harness
        .send_as_admin("POST", &format!("/inventory/{sku}/stock"), "e2e-last-units", Some(r#"{"quantity":3}"#.into()))
        .await;
    assert_eq!(stock.status, 200, "{:?}", stock.body);
    let placing = (0..12).map(|i| {
        let body = serde_json::json!({
            "customerId": format!("last-units-{sku}-{i}"),
            "currency": "EUR",
            "lines": [{ "sku": sku, "quantity": 1, "unitPriceMinor": 500 }]
        });
        let (harness, correlation_id) = (&harness, format!("e2e-{sku}-{i}"));
        async move { harness.place_order(&body, &correlation_id).await }
    });
    let answers = futures::future::join_all(placing).await;
    let order_ids: Vec<String> =
        answers.iter().map(|a| a.body["orderId"].as_str().expect("an order id").to_string()).collect();
    let views = harness.wait_for_final_states(&order_ids, std::time::Duration::ZERO).await;
    assert_eq!(views.len(), 12);
    let completed = views.iter().filter(|v| v.status == OrderStatus::Completed).count();
    let cancelled = views.iter().filter(|v| v.status == OrderStatus::Cancelled).count();
    assert_eq!((completed, cancelled), (3, 9), "exactly the available quantity is reserved");
    assert_eq!(harness.stock_of(&sku).await, (0, 3));
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn an_order_nobody_decides_times_out_and_gives_its_stock_back() {
    use orderflow::stacks::deploy::TEST_ORDER_TIMEOUT_SECONDS;
    let harness = Harness::connect().await;
    // The timeout, then a sweep every 5 s (the schedule's own minute is checked below).
    let timeout = std::time::Duration::from_secs(u64::from(TEST_ORDER_TIMEOUT_SECONDS));
    let extra = timeout + std::time::Duration::from_secs(70);
    let (run_id, views) = harness.sweeping_while(timeout, harness.replay_scenario_waiting("timeout", extra)).await;
    let view = &views[0];
    assert_eq!(view.status, OrderStatus::TimedOut, "{view:?}");
    assert_eq!(view.status_reason.as_deref(), Some("timed out while Reserved"));
    let stream = ["OrderPlaced", "OrderValidated", "FraudCleared", "StockReserved", "OrderTimedOut", "StockReleased"];
    let order_id = view.order_id.to_string();
    assert_eq!(
        harness.wait_for_stream_ending(&order_id, "StockReleased").await,
        types(&stream),
        "the stock is given back"
    );
    assert_eq!(harness.stock_of(&format!("TEA-{run_id}")).await, (5, 0));
    assert_eq!(harness.dead_letters_mentioning(&run_id).await, Vec::<String>::new());
    // The stack has been up for minutes (the burst ran before): its schedule has fired.
    assert_ne!(harness.the_schedule_invoked_the_sweeper(), Some(false), "the sweeper's schedule never invoked it");
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn the_providers_signed_callback_settles_a_waiting_payment_and_a_forged_one_is_refused() {
    let harness = Harness::connect().await;
    let secret = std::env::var("ORDERFLOW_PAYMENT_WEBHOOK_SECRET").expect("set by `orderflow test`");
    let sku = format!("WAIT-{}", orderflow::ops::replay::new_run_id());
    harness
        .send_as_admin("POST", &format!("/inventory/{sku}/stock"), "e2e-callback", Some(r#"{"quantity":5}"#.into()))
        .await;
    // .42: the simulated provider answers later, by its webhook.
    let body = serde_json::json!({
        "customerId": format!("callback-{sku}"),
        "currency": "EUR",
        "lines": [{ "sku": sku, "quantity": 1, "unitPriceMinor": 1042 }]
    });
    let placed = harness.place_order(&body, &format!("e2e-{sku}")).await;
    let order_id = placed.body["orderId"].as_str().expect("an order id").to_string();
    harness.wait_for_status(&order_id, OrderStatus::Reserved).await;

    let callback =
        serde_json::json!({ "orderId": order_id, "outcome": "authorized", "authorizationId": "provider-42" })
            .to_string();
    let forged =
        harness.signed_post("/webhooks/payments", &callback, b"not-the-secret", chrono::Utc::now().timestamp()).await;
    assert_eq!(forged.status, 401, "{:?}", forged.body);
    let stale = harness
        .signed_post("/webhooks/payments", &callback, secret.as_bytes(), chrono::Utc::now().timestamp() - 3_600)
        .await;
    assert_eq!(stale.status, 401, "{:?}", stale.body);
    assert_eq!(harness.stream_of(&order_id).await.last().map(String::as_str), Some("StockReserved"), "nothing stored");

    let accepted =
        harness.signed_post("/webhooks/payments", &callback, secret.as_bytes(), chrono::Utc::now().timestamp()).await;
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    let view = harness.wait_for_final_state(&order_id).await;
    assert_eq!(view.status, OrderStatus::Completed);
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn a_customer_who_chose_email_only_is_told_by_email_only() {
    let harness = Harness::connect().await;
    let sku = format!("QUIET-{}", orderflow::ops::replay::new_run_id());
    harness
        .send_as_admin("POST", &format!("/inventory/{sku}/stock"), "e2e-quiet", Some(r#"{"quantity":5}"#.into()))
        .await;
    let body = serde_json::json!({
        "customerId": format!("quiet-{sku}"),
        "currency": "EUR",
        "lines": [{ "sku": sku, "quantity": 1, "unitPriceMinor": 700 }],
        "notify": ["email"]
    });
    let placed = harness.place_order(&body, &format!("e2e-{sku}")).await;
    assert_eq!(placed.status, 202, "{:?}", placed.body);
    let order_id = placed.body["orderId"].as_str().expect("an order id").to_string();
    assert_eq!(harness.wait_for_final_state(&order_id).await.status, OrderStatus::Completed);
    let told = harness.wait_for_notifications(&order_id, 1).await;
    // Give a wrongly routed SMS or webhook time to show up before concluding there is none.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(harness.wait_for_notifications(&order_id, 1).await, told);
    assert_eq!(told, vec![("email".to_string(), "ShipmentScheduled".to_string())]);
    assert!(harness.webhooks_received(&order_id).is_empty());
}
