//! F5: the emulator restarted in the middle of a run. On its own emulator (state kept
//! across a clean stop), so the other tests' stack is not disturbed.
//!
//! What MiniStack 1.5.33 does, measured: tables, queues, functions and SQS mappings come
//! back, but its DynamoDB Streams mappings never deliver again, so every event appended
//! after the restart stays in the store unpublished and the read model freezes. Nothing
//! stored is lost; `orderflow republish` hands the stored events to the stream consumers.

use orderflow::local::emulator::{ManagedEmulator, StopOnDrop};
use orderflow::project::Project;
use orderflow::stacks::deploy::{DeployRequest, deploy};
use orderflow::stacks::stack::StackInfo;
use orderflow::stacks::target::{Clients, Target};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const ORDERS: usize = 40;
/// Longer than the stack's visibility timeout (30 s): in-flight messages reappear by then.
const QUIET_FOR: Duration = Duration::from_secs(45);

#[tokio::test]
#[ignore = "needs the emulator tools and debug zips: run `cargo run -p orderflow -- test`"]
async fn f5_an_emulator_restart_loses_no_stored_event_and_republish_finishes_every_order() {
    let project = Project::locate().expect("the checkout");
    let port = orderflow::local::emulator::free_port().expect("a free port");
    let state_dir = project.state_dir().join(format!("f5-state-{port}"));
    let emulator = StopOnDrop(ManagedEmulator::new(&project, port).with_persistence(state_dir.clone()));
    emulator.0.start().await.expect("the emulator starts");
    let target = Target::external(&emulator.0.endpoint());
    let clients = Clients::new(target.clone()).await;
    let key = format!("ofk_f5_{port}");
    let template = std::fs::read_to_string(project.template()).unwrap();
    let zips = orderflow::stacks::build::debug_zips(&project).expect("debug zips (the test command builds them)");
    let parameters = BTreeMap::from([
        ("EmulatorEndpoint".to_string(), emulator.0.endpoint()),
        ("ApiKeys".to_string(), orderflow::stacks::api_key::admin_parameter_entry("f5", &key, Some(1_000))),
        // Messages in flight at the restart come back after this.
        ("QueueVisibilityTimeout".to_string(), "30".to_string()),
    ]);
    let request = DeployRequest {
        stack: "orderflow",
        template: &template,
        zips: &zips,
        parameters,
        first_deploy: Default::default(),
    };
    let stack = deploy(&clients, request).await.expect("the stack deploys");
    let (api_url, http) = (stack.api_url(&target).unwrap(), orderflow::stacks::api_key::http_client(&key).unwrap());
    let started = chrono::Utc::now() - chrono::Duration::seconds(5);

    let sku = format!("F5-{port}");
    let stocked = http.post(format!("{api_url}/inventory/{sku}/stock")).json(&json!({ "quantity": 100 })).send().await;
    assert_eq!(stocked.unwrap().status().as_u16(), 200);
    let mut order_ids = Vec::new();
    for i in 0..ORDERS {
        let body = json!({ "customerId": format!("f5-{i}"), "currency": "EUR",
            "lines": [{ "sku": sku, "quantity": 1, "unitPriceMinor": 700 }] });
        let answer: serde_json::Value =
            http.post(format!("{api_url}/orders")).json(&body).send().await.unwrap().json().await.unwrap();
        order_ids.push(answer["orderId"].as_str().expect("an order id").to_string());
    }

    // Mid-run: a clean stop (the state is saved) and a start (it is loaded).
    emulator.0.stop().expect("the emulator stops");
    emulator.0.start().await.expect("the emulator starts again");
    let stack = StackInfo::require(&clients, "orderflow").await.expect("the stack survived the restart");
    let before = last_events(&clients, &stack, &order_ids).await;
    assert_eq!(before.len(), ORDERS, "every placed order is still in the store");

    let (republished, passes) = orderflow::ops::republish::republish_until_quiet(
        &clients,
        &stack,
        started,
        QUIET_FOR,
        Duration::from_secs(300),
    )
    .await
    .expect("republish");
    let views = orderflow::ops::replay::wait_for_final_states(&api_url, &http, &order_ids, Duration::ZERO).await;
    let after = last_events(&clients, &stack, &order_ids).await;
    let mut ended = BTreeMap::<String, usize>::new();
    views.iter().for_each(|v| *ended.entry(format!("{:?}", v.status)).or_default() += 1);
    let summary = format!(
        "emulator restart: {ORDERS} orders placed, restarted at once; after the restart their last stored events \
         were {:?}; republish sent {} events in {passes} passes; the orders ended {ended:?}",
        counts(before.values()),
        republished.events
    );
    eprintln!("{summary}");
    e2e::report("emulator-restart", &summary);

    assert_eq!(views.len(), ORDERS, "every order has a view");
    assert!(views.iter().all(|v| v.status.is_terminal()), "{ended:?}");
    for (order, types) in &after {
        let unique: std::collections::BTreeSet<_> = types.iter().collect();
        assert_eq!(unique.len(), types.len(), "order {order} has an event twice: {types:?}");
    }
    drop(emulator);
    let _ = std::fs::remove_dir_all(state_dir);
}

fn counts<'a>(last: impl Iterator<Item = &'a Vec<String>>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    last.filter_map(|types| types.last()).for_each(|t| *counts.entry(t.clone()).or_default() += 1);
    counts
}

/// Each order's event types in version order, read from the store.
async fn last_events(clients: &Clients, stack: &StackInfo, order_ids: &[String]) -> BTreeMap<String, Vec<String>> {
    let table = stack.output("EventStoreTableName").unwrap();
    let mut streams = BTreeMap::new();
    for id in order_ids {
        let output = clients
            .dynamodb()
            .query()
            .table_name(table)
            .key_condition_expression("streamId = :s")
            .expression_attribute_values(":s", aws_sdk_dynamodb::types::AttributeValue::S(format!("order-{id}")))
            .consistent_read(true)
            .send()
            .await
            .expect("query the store");
        let types: Vec<String> = output
            .items()
            .iter()
            .filter_map(|item| item.get("eventType").and_then(|v| v.as_s().ok()).cloned())
            .collect();
        if !types.is_empty() {
            streams.insert(id.clone(), types);
        }
    }
    streams
}
