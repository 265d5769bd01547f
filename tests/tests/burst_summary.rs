//! The reliability summary: a bounded burst of orders with faults switched on, sent
//! faster than the local stack moves them. Admission control must refuse the excess at
//! the door (503 with Retry-After) so that every accepted order completes: none timed out
//! (except those whose fault marker fails a step for good), each in a terminal state or in
//! a DLQ with a reason, and no effect may happen twice. Prints the counts the README reports.
//!
//! In its own test binary so that it runs alone (test binaries run one after another).

use e2e::Harness;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Orders in the burst, each from its own customer (fraud velocity would hold repeat buyers) (`ORDERFLOW_BURST_ORDERS` to change it).
const DEFAULT_ORDERS: usize = 2_000;
const IN_FLIGHT: usize = 16;

/// The fault (correlation id marker) of the i-th order: one in 50 each.
fn correlation(run: &str, i: usize) -> String {
    match i % 50 {
        0 => format!("fault-fail-shipping-{run}-{i}"),
        1 => format!("fault-dup-{run}-{i}"),
        2 => format!("fault-exit-payment-{run}-{i}"),
        3 => format!("fault-panic-fraud-detector-{run}-{i}"),
        _ => format!("burst-{run}-{i}"),
    }
}

#[tokio::test]
#[ignore = "needs the emulator: run `cargo run -p orderflow -- test`"]
async fn a_burst_with_faults_loses_nothing_and_duplicates_nothing() {
    let harness = Harness::connect().await;
    let orders: usize =
        std::env::var("ORDERFLOW_BURST_ORDERS").ok().and_then(|n| n.parse().ok()).unwrap_or(DEFAULT_ORDERS);
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let skus: Vec<String> = (0..4).map(|k| format!("BURST-{run}-{k}")).collect();
    for sku in &skus {
        let body = json!({ "quantity": orders }).to_string();
        assert_eq!(
            harness.send_as_admin("POST", &format!("/inventory/{sku}/stock"), "e2e-burst", Some(body)).await.status,
            200
        );
    }
    let started = Instant::now();
    let mut accepted: Vec<(String, String)> = Vec::new();
    let mut refused: BTreeMap<u16, usize> = BTreeMap::new();
    let mut refused_without_retry_after = Vec::new();
    let indices: Vec<usize> = (0..orders).collect();
    for chunk in indices.chunks(IN_FLIGHT) {
        let sending = chunk.iter().map(|&i| {
            let body = json!({
                "customerId": format!("burst-{run}-{i}"),
                "currency": "EUR",
                "notify": ["webhook"],
                // Prices ending in .13 are declined by the simulated provider.
                "lines": [{ "sku": skus[i % skus.len()], "quantity": 1, "unitPriceMinor": if i % 50 == 4 { 1013 } else { 1000 } }]
            });
            let (harness, correlation) = (&harness, correlation(&run, i));
            async move { (correlation.clone(), harness.place_order_once(&body, &correlation).await) }
        });
        for (correlation, answer) in futures::future::join_all(sending).await {
            match answer.body["orderId"].as_str() {
                Some(id) if answer.status == 202 => accepted.push((id.to_string(), correlation)),
                _ => {
                    *refused.entry(answer.status).or_default() += 1;
                    if answer.status != 503
                        || answer.retry_after.as_deref().and_then(|s| s.parse::<u64>().ok()).is_none()
                    {
                        refused_without_retry_after
                            .push(format!("{} {} {:?}", answer.status, answer.body, answer.retry_after));
                    }
                }
            }
        }
    }
    let sent_in = started.elapsed();
    let ids: Vec<String> = accepted.iter().map(|(id, _)| id.clone()).collect();
    let views =
        harness.sweeping_while(Duration::ZERO, harness.wait_for_final_states(&ids, Duration::from_secs(240))).await;
    let settled_in = started.elapsed();
    let terminal: BTreeMap<String, String> = views
        .iter()
        .filter(|v| v.status.is_terminal())
        .map(|v| (v.order_id.to_string(), format!("{:?}", v.status)))
        .collect();

    // Not terminal: it must sit in a DLQ with a reason.
    let mut letters = Vec::new();
    for dlq in orderflow::ops::dlq::queues(&harness.stack) {
        letters.extend(orderflow::ops::dlq::show(&harness.clients, &dlq).await.expect("the DLQ can be read"));
    }
    let mut parked = 0;
    for (id, correlation) in accepted.iter().filter(|(id, _)| !terminal.contains_key(id)) {
        let letter = letters.iter().find(|l| l.correlation_id.as_deref() == Some(correlation.as_str()));
        assert!(
            letter.is_some_and(|l| !l.reason.is_empty()),
            "order {id} ({correlation}) is neither final nor in a DLQ"
        );
        parked += 1;
    }
    let burst_letters =
        letters.iter().filter(|l| l.correlation_id.as_deref().is_some_and(|c| c.contains(&run))).count();

    // No effect twice: each event type once per order, each allocation once per order and
    // SKU, each webhook once per event.
    let streams = harness.all_streams().await;
    let mut duplicates = Vec::new();
    for id in &ids {
        let types: Vec<&str> = streams[&format!("order-{id}")].iter().map(|e| e.event_type.as_str()).collect();
        let unique: BTreeSet<&&str> = types.iter().collect();
        if unique.len() != types.len() {
            duplicates.push(format!("order {id}: {types:?}"));
        }
    }
    for sku in &skus {
        let mut seen = BTreeSet::new();
        for event in &streams[&format!("sku-{sku}")] {
            let key = (event.event_type.clone(), event.payload["orderId"].to_string());
            if !["StockAdded", "ShelfSnapshot"].contains(&event.event_type.as_str()) && !seen.insert(key.clone()) {
                duplicates.push(format!("{sku}: {key:?} twice"));
            }
        }
    }
    let webhooks =
        std::fs::read_to_string(std::env::var("ORDERFLOW_WEBHOOK_LOG").unwrap_or_default()).unwrap_or_default();
    let mut webhook_events = BTreeMap::<String, usize>::new();
    for line in webhooks.lines().filter(|l| l.contains(&format!("burst-{run}")) || l.contains(&run)) {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        let event_id = entry["body"]["event"]["eventId"].as_str().unwrap_or_default().to_string();
        // Receivers drop repeats by the delivery id: the same on every attempt.
        if entry["deliveryId"].as_str() != Some(format!("webhook#{event_id}").as_str()) {
            duplicates.push(format!("webhook for {event_id} with delivery id {}", entry["deliveryId"]));
        }
        *webhook_events.entry(event_id).or_default() += 1;
    }
    duplicates.extend(webhook_events.iter().filter(|(_, n)| **n > 1).map(|(id, n)| format!("webhook {id} x{n}")));
    // Compensation (stock given back, authorizations voided) follows a timeout by a hop
    // or two: wait until it has happened, or report what has not.
    let (mut stock, mut voids) = (Vec::new(), Ok(0));
    let deadline = Instant::now() + Duration::from_secs(180);
    while Instant::now() < deadline {
        let streams = harness.all_streams().await;
        stock = stock_conserved(&skus, &streams, &terminal);
        voids = authorizations_of_ended_orders_voided(&harness, &ids, &streams, &terminal).await;
        if stock.is_empty() && voids.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let unvoided = voids.as_ref().err().cloned().unwrap_or_default();
    let voids = voids.unwrap_or(0);

    // Accepted means it completes: only a step that fails for good (the fail marker) may
    // leave an order to the timeout.
    let timed_out: Vec<&String> = accepted
        .iter()
        .filter(|(id, correlation)| {
            terminal.get(id).is_some_and(|s| s == "TimedOut") && !correlation.starts_with("fault-fail-")
        })
        .map(|(id, _)| id)
        .collect();
    let mut by_status = BTreeMap::<&str, usize>::new();
    terminal.values().for_each(|s| *by_status.entry(s.as_str()).or_default() += 1);
    // Where the orders that timed out were stuck: the step that was behind.
    let mut timed_out_while = BTreeMap::<&str, usize>::new();
    for view in views.iter().filter(|v| timed_out.contains(&&v.order_id.to_string())) {
        *timed_out_while.entry(view.status_reason.as_deref().unwrap_or("?")).or_default() += 1;
    }
    let summary = format!(
        "burst summary: {orders} orders sent in {:.1} s, {} accepted, refused {refused:?}; {} terminal {by_status:?}, \
         {} accepted orders timed out {timed_out_while:?}; {parked} not terminal but in a DLQ with a reason ({burst_letters} dead letters for the run); all settled \
         {:.1} s after the first; {} webhooks; duplicates: {}; stock conserved on {} SKUs; {} authorizations of \
         timed-out orders, each voided once",
        sent_in.as_secs_f64(),
        accepted.len(),
        terminal.len(),
        timed_out.len(),
        settled_in.as_secs_f64(),
        webhook_events.len(),
        duplicates.len(),
        skus.len(),
        voids,
    );
    eprintln!("{summary}");
    e2e::report("burst-summary", &summary);
    assert!(duplicates.is_empty(), "duplicates: {duplicates:?}");
    assert!(stock.is_empty(), "stock not conserved: {stock:?}");
    assert!(unvoided.is_empty(), "authorizations of timed-out orders not voided once: {unvoided:?}");
    rebuild_equals_the_live_read_model(&harness).await;
    assert_eq!(terminal.len() + parked, accepted.len());
    assert!(
        timed_out.is_empty(),
        "{} accepted orders timed out: {:?}",
        timed_out.len(),
        &timed_out[..timed_out.len().min(10)]
    );
    assert!(
        refused_without_retry_after.is_empty(),
        "refusals other than 503 with Retry-After: {:?}",
        &refused_without_retry_after[..refused_without_retry_after.len().min(10)]
    );
    assert!(!accepted.is_empty(), "the API accepted no order at all: {refused:?}");
}

/// Per SKU, on hand + held + shipped = added, and no order that ended still holds stock
/// (a shipment commits it, anything else gives it back). Returns what is wrong.
fn stock_conserved(
    skus: &[String],
    streams: &BTreeMap<String, Vec<toolkit::envelope::EventEnvelope>>,
    terminal: &BTreeMap<String, String>,
) -> Vec<String> {
    use domain::{EventCodec, InventoryEvent, Shelf};
    let mut wrong = Vec::new();
    for sku in skus {
        let events: Vec<InventoryEvent> = streams[&format!("sku-{sku}")]
            .iter()
            .map(|e| InventoryEvent::from_envelope(e).expect("a stock event"))
            .collect();
        let added: u64 = events
            .iter()
            .map(|e| match e {
                InventoryEvent::StockAdded(added) => u64::from(added.quantity),
                _ => 0,
            })
            .sum();
        let shelf = Shelf::replay(&events);
        let held: u64 = shelf.held.values().map(|&units| u64::from(units)).sum();
        if u64::from(shelf.on_hand) + held + shelf.shipped != added {
            wrong.push(format!(
                "{sku}: {} on hand + {held} held + {} shipped != {added} added",
                shelf.on_hand, shelf.shipped
            ));
        }
        for order in shelf.held.keys() {
            if let Some(status) = terminal.get(&order.to_string()) {
                wrong.push(format!("{sku}: order {order} ended {status} and still holds stock"));
            }
        }
    }
    wrong
}

/// Every charge the provider authorized for an order that timed out was voided, once: the
/// authorizations come from the payment records (a timeout can win the race against
/// `PaymentAuthorized`, so the order's own events may not show it). Returns how many, or
/// the orders whose authorization was not voided exactly once.
async fn authorizations_of_ended_orders_voided(
    harness: &Harness,
    ids: &[String],
    streams: &BTreeMap<String, Vec<toolkit::envelope::EventEnvelope>>,
    terminal: &BTreeMap<String, String>,
) -> Result<usize, Vec<String>> {
    let mut wrong = Vec::new();
    let table = harness.stack.output("IdempotencyTableName").expect("the idempotency table output");
    let mut authorized = 0;
    for id in ids.iter().filter(|id| terminal.get(*id).map(String::as_str) == Some("TimedOut")) {
        let types: Vec<&str> = streams[&format!("order-{id}")].iter().map(|e| e.event_type.as_str()).collect();
        let record = harness
            .clients
            .dynamodb()
            .get_item()
            .table_name(table)
            .key("id", aws_sdk_dynamodb::types::AttributeValue::S(format!("payment#charge#{id}")))
            .consistent_read(true)
            .send()
            .await
            .expect("the payment record can be read");
        let charged = record
            .item()
            .and_then(|item| item.get("data"))
            .and_then(|result| result.as_s().ok())
            .is_some_and(|result| result.contains("Authorized"));
        if charged || types.contains(&"PaymentAuthorized") {
            authorized += 1;
            if types.iter().filter(|t| **t == "PaymentVoided").count() != 1 {
                wrong.push(format!("order {id} timed out after its payment was authorized: {types:?}"));
            }
        }
    }
    if wrong.is_empty() { Ok(authorized) } else { Err(wrong) }
}

/// After the burst, with every order settled: the read model rebuilt from the store equals
/// the live one, before and after a rebuild interrupted halfway and resumed.
async fn rebuild_equals_the_live_read_model(harness: &Harness) {
    let project = orderflow::project::Project::locate().expect("the checkout");
    let (checked, differences) =
        orderflow::ops::rebuild::verify(&harness.clients, &harness.stack).await.expect("verify");
    assert!(
        differences.is_empty(),
        "{} of {checked} views differ: {:?}",
        differences.len(),
        &differences[..differences.len().min(5)]
    );
    let half = checked / 2;
    let first = orderflow::ops::rebuild::rebuild(&project, &harness.clients, &harness.stack, Some(half))
        .await
        .expect("rebuild");
    assert!(!first.complete && first.streams == half);
    let rest =
        orderflow::ops::rebuild::rebuild(&project, &harness.clients, &harness.stack, None).await.expect("resume");
    assert!(rest.complete);
    assert_eq!(first.streams + rest.streams, checked, "the resumed rebuild did the other half");
    let (_, after) = orderflow::ops::rebuild::verify(&harness.clients, &harness.stack).await.expect("verify");
    assert!(after.is_empty(), "{after:?}");
    let events = first.events + rest.events;
    let seconds = first.elapsed.as_secs_f64() + rest.elapsed.as_secs_f64();
    e2e::report(
        "rebuild",
        &format!(
            "rebuild orders: {checked} orders from {events} events in {seconds:.2} s ({:.0} events/s, debug build of the CLI), interrupted at {half} and resumed; equal to the live read model",
            events as f64 / seconds
        ),
    );
}
