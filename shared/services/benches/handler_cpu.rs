//! P2, handler CPU per event: the order-validator's whole handler (SQS batch → EventBridge
//! event → envelope → schema validation → upcast → rebuild the order → decide → append to
//! an in-memory store) on batches of 10 realistic `OrderPlaced` messages (of the schema
//! version this build writes), against a bare
//! `serde_json` parse of the same 10 message bodies, in the same run.
//!
//! `cargo bench -p orderflow-services --bench handler_cpu` (the release profile's settings);
//! `orderflow bench` runs it and reads criterion's estimates for its table.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use domain::{EventCodec, OrderEvent, OrderId, ValidationPolicy};
use services::handlers::validator::{OrderValidator, Validation};
use std::hint::black_box;
use std::path::PathBuf;
use toolkit::deadletter::InMemoryDeadLetters;
use toolkit::envelope::{Causality, EventEnvelope, EventId};
use toolkit::events::SqsEvent;
use toolkit::invocation::Invocation;
use toolkit::store::InMemoryEventStore;

const BATCH: usize = 10;

fn sample(name: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Ten new orders: their stored `OrderPlaced` events, the SQS batch that announces them,
/// and the batch's message bodies.
fn batch_of_new_orders(
    placed: &EventEnvelope,
    sqs_sample: &serde_json::Value,
) -> (Vec<EventEnvelope>, SqsEvent, Vec<String>) {
    let mut events = Vec::with_capacity(BATCH);
    let mut records = Vec::with_capacity(BATCH);
    let mut bodies = Vec::with_capacity(BATCH);
    for _ in 0..BATCH {
        let order_id = OrderId::generate();
        let mut event = placed.clone();
        event.event_id = EventId::generate();
        event.stream_id = order_id.stream_id();
        event.payload["orderId"] = serde_json::json!(order_id);
        let mut record = sqs_sample["Records"][0].clone();
        let mut body: serde_json::Value =
            serde_json::from_str(record["body"].as_str().expect("the SQS sample has a body")).expect("body is JSON");
        body["detail"] = serde_json::to_value(&event).expect("an envelope serializes");
        record["body"] = serde_json::json!(body.to_string());
        record["messageId"] = serde_json::json!(EventId::generate().to_string());
        bodies.push(body.to_string());
        records.push(record);
        events.push(event);
    }
    let batch = serde_json::from_value(serde_json::json!({ "Records": records })).expect("an SQS event");
    (events, batch, bodies)
}

/// The sample is an old version (it tests upcasting); live traffic carries the version this
/// build writes, so the benchmark does too.
fn as_this_build_writes_it(sample: EventEnvelope) -> EventEnvelope {
    let event = OrderEvent::from_envelope(&sample).expect("the sample decodes");
    let written = event.into_new_event(Causality::caused_by(&sample), sample.occurred_at);
    EventEnvelope {
        event_type: written.event_type,
        schema_version: written.schema_version,
        payload: written.payload,
        ..sample
    }
}

fn handler_cpu(c: &mut Criterion) {
    toolkit::metrics::disable();
    let placed =
        as_this_build_writes_it(serde_json::from_value(sample("domain/order-placed.json")).expect("an envelope"));
    let sqs_sample = sample("aws/sqs-order-placed.json");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let mut group = c.benchmark_group("handler_cpu");

    // A new store and new orders per batch (built outside the timing): the orders must be
    // new for the validator to do its full work.
    group.bench_function("validator_batch_of_10", |b| {
        b.iter_batched(
            || {
                let (events, batch, _) = batch_of_new_orders(&placed, &sqs_sample);
                let validator = OrderValidator::new(
                    InMemoryEventStore::with_events(events),
                    InMemoryDeadLetters::default(),
                    Validation(ValidationPolicy::default()),
                );
                (validator, batch)
            },
            |(validator, batch)| {
                let response = runtime.block_on(validator.handle(batch, &Invocation::local()));
                assert!(response.batch_item_failures.is_empty(), "the benchmark batch failed in the validator");
                black_box(response)
            },
            BatchSize::SmallInput,
        );
    });

    let (_, _, bodies) = batch_of_new_orders(&placed, &sqs_sample);
    group.bench_function("serde_json_parse_of_the_10_bodies", |b| {
        b.iter(|| {
            for body in &bodies {
                black_box(serde_json::from_str::<serde_json::Value>(black_box(body)).expect("JSON"));
            }
        });
    });

    // What the handler's time goes to, stage by stage on the same ten messages (P2's bound,
    // docs/performance.md): reading the envelope out of each SQS message, then the schema
    // validation alone, then validation, upcast and typed decode together.
    let (_, batch, _) = batch_of_new_orders(&placed, &sqs_sample);
    group.bench_function("stage_envelope_in_of_the_10_messages", |b| {
        b.iter(|| {
            for message in &batch.records {
                black_box(services::handlers::envelope_in(black_box(message)).expect("an envelope"));
            }
        });
    });
    let envelopes: Vec<EventEnvelope> =
        batch.records.iter().map(|m| services::handlers::envelope_in(m).expect("an envelope")).collect();
    group.bench_function("stage_schema_validation_of_the_10_payloads", |b| {
        b.iter(|| {
            for envelope in &envelopes {
                let checked =
                    domain::schemas::validate(&envelope.event_type, envelope.schema_version, &envelope.payload);
                black_box(checked).expect("valid");
            }
        });
    });
    group.bench_function("stage_typed_decode_of_the_10_events", |b| {
        b.iter(|| {
            for envelope in &envelopes {
                black_box(OrderEvent::from_envelope(black_box(envelope)).expect("an order event"));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, handler_cpu);
criterion_main!(benches);
