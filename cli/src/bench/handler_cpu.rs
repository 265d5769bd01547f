//! P2: handler CPU per event. The order-validator's handler (SQS batch → EventBridge event →
//! envelope → schema validation → upcast → rebuild the order → decide → append) runs on a
//! batch of 10 realistic `OrderPlaced` messages against in-memory fakes, in process; the
//! same bodies are parsed with bare `serde_json` in the same run for the ratio.

use crate::project::Project;
use crate::{CliError, Result};
use shared::deadletter::InMemoryDeadLetters;
use shared::domain::ValidationPolicy;
use shared::envelope::EventEnvelope;
use shared::events::SqsEvent;
use shared::handlers::validator::{OrderValidator, Validation};
use shared::store::InMemoryEventStore;
use std::time::Instant;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandlerCpu {
    pub batches: usize,
    pub handler_us_per_event: f64,
    pub bare_parse_us_per_event: f64,
    pub ratio: f64,
}

const BATCH: usize = 10;

pub async fn measure(project: &Project, batches: usize) -> Result<HandlerCpu> {
    shared::metrics::disable();
    let sample = |name: &str| -> Result<String> {
        let path = project.events_dir().join(name);
        std::fs::read_to_string(&path).map_err(|e| CliError::io(path, e))
    };
    let placed: EventEnvelope = serde_json::from_str(&sample("domain/order-placed.json")?)
        .map_err(|e| CliError::Failed(format!("events/domain/order-placed.json: {e}")))?;
    let template: serde_json::Value = serde_json::from_str(&sample("aws/sqs-order-placed.json")?)
        .map_err(|e| CliError::Failed(format!("events/aws/sqs-order-placed.json: {e}")))?;

    // Each batch gets its own orders and its own store, built before the clock starts.
    let mut runs = Vec::with_capacity(batches);
    let mut bodies = Vec::new();
    for _ in 0..batches.max(1) {
        let (events, batch, batch_bodies) = batch_of_new_orders(&placed, &template)?;
        let validator = OrderValidator::new(
            InMemoryEventStore::with_events(events),
            InMemoryDeadLetters::default(),
            Validation(ValidationPolicy::default()),
        );
        runs.push((validator, batch));
        bodies.extend(batch_bodies);
    }

    let started = Instant::now();
    for (validator, batch) in &runs {
        let response = validator.handle(batch.clone()).await;
        if !response.batch_item_failures.is_empty() {
            return Err(CliError::Failed("the benchmark batch failed in the validator".into()));
        }
    }
    let handler = started.elapsed().as_secs_f64();
    // The batches were cloned for the handler; the parse loop pays for nothing but parsing.
    let started = Instant::now();
    let mut parsed = 0usize;
    for body in &bodies {
        let value: serde_json::Value = serde_json::from_str(body).map_err(|e| CliError::Failed(e.to_string()))?;
        parsed += usize::from(value.is_object());
    }
    let bare = started.elapsed().as_secs_f64();
    let events = (runs.len() * BATCH) as f64;
    let handler_us = handler * 1e6 / events;
    let bare_us = bare * 1e6 / parsed.max(1) as f64;
    Ok(HandlerCpu {
        batches: runs.len(),
        handler_us_per_event: handler_us,
        bare_parse_us_per_event: bare_us,
        ratio: handler_us / bare_us,
    })
}

/// Ten new orders: their stored `OrderPlaced` events and the SQS batch that announces them.
fn batch_of_new_orders(
    placed: &EventEnvelope,
    template: &serde_json::Value,
) -> Result<(Vec<EventEnvelope>, SqsEvent, Vec<String>)> {
    let mut events = Vec::with_capacity(BATCH);
    let mut records = Vec::with_capacity(BATCH);
    let mut bodies = Vec::with_capacity(BATCH);
    for _ in 0..BATCH {
        let order_id = shared::domain::OrderId::generate();
        let mut event = placed.clone();
        event.event_id = shared::envelope::EventId::generate();
        event.stream_id = order_id.stream_id();
        event.payload["orderId"] = serde_json::json!(order_id);
        let mut record = template["Records"][0].clone();
        let mut body: serde_json::Value = serde_json::from_str(record["body"].as_str().unwrap_or_default())
            .map_err(|e| CliError::Failed(e.to_string()))?;
        body["detail"] = serde_json::to_value(&event).map_err(|e| CliError::Failed(e.to_string()))?;
        record["body"] = serde_json::json!(body.to_string());
        record["messageId"] = serde_json::json!(uuid::Uuid::new_v4().to_string());
        bodies.push(body.to_string());
        records.push(record);
        events.push(event);
    }
    let batch = serde_json::from_value(serde_json::json!({ "Records": records }))
        .map_err(|e| CliError::Failed(e.to_string()))?;
    Ok((events, batch, bodies))
}
