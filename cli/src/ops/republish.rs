//! Hands stored events to the stream consumers again, as the table's stream would.
//!
//! The event store is the outbox: whatever the pipeline lost (an emulator restart stops
//! its DynamoDB Streams pollers; a consumer was disabled; a bug was fixed), the events are
//! still in the table. `republish` reads them (by time, in each stream's version order) and
//! invokes `outbox-relay` and `projector` with the same stream records they would have
//! received. Every consumer downstream is idempotent, so events already handled change
//! nothing.

use crate::stacks::stack::StackInfo;
use crate::stacks::target::Clients;
use crate::{CliError, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, HashMap, HashSet};
use toolkit::events::{StreamEventRecord, StreamViewType};

/// The stream consumers, as the template names them.
pub const CONSUMERS: [&str; 2] = ["outbox-relay", "projector"];
/// Records per invocation (the template's stream batch size is 100).
const BATCH: usize = 50;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Republished {
    pub events: usize,
    pub streams: usize,
}

/// Every stored event that occurred at or after `since`, handed to each stream consumer.
pub async fn republish(
    clients: &Clients,
    stack: &StackInfo,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Republished> {
    republish_new(clients, stack, since, &mut HashSet::new()).await
}

/// As [`republish`], then again with the events those caused, pass after pass, until no
/// new event has appeared for `quiet_for` (or `give_up_after` has passed): for a pipeline
/// whose stream pollers stay stopped (an emulator restarted with saved state), each pass
/// moves every order one hop. `quiet_for` must exceed the queues' visibility timeout:
/// messages in flight at a restart reappear only then.
pub async fn republish_until_quiet(
    clients: &Clients,
    stack: &StackInfo,
    since: chrono::DateTime<chrono::Utc>,
    quiet_for: std::time::Duration,
    give_up_after: std::time::Duration,
) -> Result<(Republished, u32)> {
    let started = std::time::Instant::now();
    let mut last_new = started;
    let mut sent = HashSet::new();
    let (mut total, mut passes) = (Republished::default(), 0);
    while last_new.elapsed() < quiet_for && started.elapsed() < give_up_after {
        let done = republish_new(clients, stack, since, &mut sent).await?;
        if done.events > 0 {
            last_new = std::time::Instant::now();
            passes += 1;
            total.events += done.events;
            total.streams = total.streams.max(done.streams);
        }
        tokio::time::sleep(PASS_PAUSE).await;
    }
    Ok((total, passes))
}

/// The pause between passes: time for a pass's effects to land.
const PASS_PAUSE: std::time::Duration = std::time::Duration::from_secs(3);

/// Republishes the events since `since` whose ids are not in `sent`, and adds them to it.
async fn republish_new(
    clients: &Clients,
    stack: &StackInfo,
    since: chrono::DateTime<chrono::Utc>,
    sent: &mut HashSet<String>,
) -> Result<Republished> {
    let streams = events_since(clients, stack, since).await?;
    let fresh: Vec<&HashMap<String, AttributeValue>> =
        streams.values().flatten().filter(|item| sent.insert(event_id_of(item))).collect();
    let records: Vec<serde_json::Value> = fresh.iter().map(|item| stream_record(item)).collect();
    for consumer in CONSUMERS {
        for batch in records.chunks(BATCH) {
            invoke(clients, &stack.function_name(consumer), batch).await?;
        }
    }
    let touched: HashSet<&str> =
        fresh.iter().filter_map(|item| item.get("streamId").and_then(|v| v.as_s().ok()).map(String::as_str)).collect();
    Ok(Republished { events: records.len(), streams: touched.len() })
}

fn event_id_of(item: &HashMap<String, AttributeValue>) -> String {
    item.get("eventId").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

/// Stored items since `since`, by stream, each stream in version order.
async fn events_since(
    clients: &Clients,
    stack: &StackInfo,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<BTreeMap<String, Vec<HashMap<String, AttributeValue>>>> {
    let table = stack.output("EventStoreTableName")?;
    let since = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut pages = clients
        .dynamodb()
        .scan()
        .table_name(table)
        .filter_expression("occurredAt >= :since")
        .expression_attribute_values(":since", AttributeValue::S(since))
        .into_paginator()
        .items()
        .send();
    let mut streams: BTreeMap<String, Vec<HashMap<String, AttributeValue>>> = BTreeMap::new();
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| CliError::aws("Scan", e))?;
        let stream = item.get("streamId").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        streams.entry(stream).or_default().push(item);
    }
    for items in streams.values_mut() {
        items.sort_by_key(version_of);
    }
    Ok(streams)
}

fn version_of(item: &HashMap<String, AttributeValue>) -> u64 {
    item.get("version").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// The DynamoDB Streams record of an INSERT of `item` (NEW_IMAGE view).
pub(crate) fn stream_record(item: &HashMap<String, AttributeValue>) -> serde_json::Value {
    let mut record = StreamEventRecord::default();
    record.event_id = uuid::Uuid::new_v4().simple().to_string();
    record.event_name = "INSERT".into();
    record.event_source = Some("aws:dynamodb".into());
    record.event_version = Some("1.1".into());
    let keys: HashMap<String, AttributeValue> =
        item.iter().filter(|(k, _)| *k == "streamId" || *k == "version").map(|(k, v)| (k.clone(), v.clone())).collect();
    record.change.keys = serde_dynamo::Item::from(keys);
    record.change.new_image = serde_dynamo::Item::from(item.clone());
    record.change.sequence_number = Some(format!("republish-{}", version_of(item)));
    record.change.stream_view_type = Some(StreamViewType::NewImage);
    record.change.approximate_creation_date_time = chrono::Utc::now();
    serde_json::to_value(record).unwrap_or_default()
}

async fn invoke(clients: &Clients, function: &str, records: &[serde_json::Value]) -> Result<()> {
    match invoke_with_records(clients, function, records).await? {
        Some(failure) => Err(CliError::Failed(format!(
            "{function} stopped at a republished event it could not handle ({failure}); run republish again"
        ))),
        None => Ok(()),
    }
}

/// Invokes a consumer with `records` as its event (`{"Records": [...]}`), as its event
/// source would; returns the first batch item failure it reported, if any.
pub(crate) async fn invoke_with_records(
    clients: &Clients,
    function: &str,
    records: &[serde_json::Value],
) -> Result<Option<serde_json::Value>> {
    let payload = serde_json::json!({ "Records": records }).to_string();
    let output = clients
        .lambda()
        .invoke()
        .function_name(function)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload))
        .send()
        .await
        .map_err(|e| CliError::aws("Invoke", e))?;
    if let Some(error) = output.function_error() {
        return Err(CliError::Failed(format!("{function} failed: {error}")));
    }
    let answer: serde_json::Value =
        output.payload().and_then(|p| serde_json::from_slice(p.as_ref()).ok()).unwrap_or_default();
    let failures = answer.get("batchItemFailures").and_then(|f| f.as_array());
    Ok(failures.and_then(|f| f.first()).cloned())
}
