//! Rebuilds a read model from scratch by replaying the event store: the list of order
//! streams, each stream read in version order (several at once), its view folded as the
//! projector folds it, views written in batches of 25, and a checkpoint (the last stream
//! done, in sorted order) saved after every batch so an interrupted rebuild resumes.
//!
//! Run it while the projector is idle (or accept that an order changing during the rebuild
//! is caught up by the projector's next event for it): the batch writes are unconditional.

use crate::project::Project;
use crate::stacks::stack::StackInfo;
use crate::stacks::target::Clients;
use crate::{CliError, Result};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use domain::OrderEvent;
use domain::codec::EventCodec;
use services::views::{DynamoOrderViews, OrderView, OrderViews};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use toolkit::envelope::EventEnvelope;

/// What `rebuild` knows: the order read model, and the store's time index.
pub const PROJECTIONS: [&str; 2] = ["orders", "time-index"];
/// DynamoDB's BatchWriteItem limit.
const WRITE_BATCH: usize = 25;
/// Streams read at once.
const READERS: usize = 8;
const BATCH_ATTEMPTS: u32 = 8;

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// Streams up to this one (in sorted order) are rebuilt.
    pub after: Option<String>,
    pub streams: usize,
    pub events: usize,
}

#[derive(Debug, Clone)]
pub struct Rebuilt {
    pub streams: usize,
    pub events: usize,
    pub elapsed: Duration,
    /// False when `limit` stopped it before the end (the checkpoint is kept).
    pub complete: bool,
}

impl Rebuilt {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn checkpoint_path(project: &Project, stack: &StackInfo, projection: &str) -> std::path::PathBuf {
    project.state_dir().join(format!("rebuild-{}-{projection}.json", stack.name))
}

/// Drops a saved checkpoint, so the next rebuild starts from the first stream.
pub fn forget_checkpoint(project: &Project, stack: &StackInfo) {
    let _ = std::fs::remove_file(checkpoint_path(project, stack, "orders"));
}

pub fn check_projection(projection: &str) -> Result<()> {
    match PROJECTIONS.contains(&projection) {
        true => Ok(()),
        false => Err(CliError::Usage(format!("no projection `{projection}`; known: {}", PROJECTIONS.join(", ")))),
    }
}

/// Rebuilds `orders` (resuming from a checkpoint if one exists); stops after `limit`
/// streams when given, keeping the checkpoint.
pub async fn rebuild(project: &Project, clients: &Clients, stack: &StackInfo, limit: Option<usize>) -> Result<Rebuilt> {
    let path = checkpoint_path(project, stack, "orders");
    let mut checkpoint: Checkpoint =
        std::fs::read(&path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default();
    let started = Instant::now();
    let mut streams = order_streams(clients, stack).await?;
    streams.retain(|s| checkpoint.after.as_ref().is_none_or(|after| s > after));
    let todo = limit.map_or(streams.len(), |l| l.min(streams.len()));
    let (mut done_streams, mut done_events) = (0, 0);
    for chunk in streams[..todo].chunks(WRITE_BATCH) {
        let views = read_and_fold(clients, stack, chunk).await?;
        let batch_events: usize = views.iter().map(|(_, events)| events).sum();
        write_batch(clients, stack, views.into_iter().map(|(view, _)| view).collect()).await?;
        (done_streams, done_events) = (done_streams + chunk.len(), done_events + batch_events);
        checkpoint = Checkpoint {
            after: chunk.last().cloned(),
            streams: checkpoint.streams + chunk.len(),
            events: checkpoint.events + batch_events,
        };
        save(&path, &checkpoint)?;
    }
    let complete = todo == streams.len();
    if complete {
        let _ = std::fs::remove_file(&path);
    }
    Ok(Rebuilt { streams: done_streams, events: done_events, elapsed: started.elapsed(), complete })
}

fn save(path: &std::path::Path, checkpoint: &Checkpoint) -> Result<()> {
    let text = serde_json::to_string(checkpoint).unwrap_or_default();
    std::fs::write(path, text).map_err(|e| CliError::io(path, e))
}

/// The naive way, as a yardstick for `orderflow bench` (P5): one event per Query, the
/// view written after every event with its own PutItem, one stream after another. Stops
/// at the first stream that starts after `budget`: the rate is the figure.
pub async fn rebuild_naively(clients: &Clients, stack: &StackInfo, budget: Duration) -> Result<Rebuilt> {
    let started = Instant::now();
    let streams = order_streams(clients, stack).await?;
    let (store, views) = (stack.output("EventStoreTableName")?, stack.output("OrderViewTableName")?);
    let (mut done_streams, mut done_events) = (0, 0);
    for stream in streams.iter().take_while(|_| started.elapsed() < budget) {
        let (mut view, mut start_key) = (None, None);
        loop {
            let page = clients
                .dynamodb()
                .query()
                .table_name(store)
                .key_condition_expression("streamId = :s")
                .expression_attribute_values(":s", AttributeValue::S(stream.clone()))
                .consistent_read(true)
                .limit(1)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| CliError::aws("Query", e))?;
            let Some(item) = page.items.unwrap_or_default().into_iter().next() else { break };
            let envelope: EventEnvelope = toolkit::store::time_index::envelope_from_item(item)
                .map_err(|e| CliError::Failed(format!("{stream}: {e}")))?;
            let event = OrderEvent::from_envelope(&envelope).map_err(|e| CliError::Failed(format!("{stream}: {e}")))?;
            let next = OrderView::apply(view, &event, &envelope).map_err(|e| CliError::Failed(e.to_string()))?;
            let item = services::views::view_item(&next).map_err(|e| CliError::Failed(e.to_string()))?;
            clients
                .dynamodb()
                .put_item()
                .table_name(views)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| CliError::aws("PutItem", e))?;
            (view, done_events) = (Some(next), done_events + 1);
            start_key = page.last_evaluated_key;
            if start_key.is_none() {
                break;
            }
        }
        done_streams += 1;
    }
    let complete = done_streams == streams.len();
    Ok(Rebuilt { streams: done_streams, events: done_events, elapsed: started.elapsed(), complete })
}

/// Compares the view rebuilt from the store with the live one for every order; returns
/// the orders that differ (with why), after `checked` orders.
pub async fn verify(clients: &Clients, stack: &StackInfo) -> Result<(usize, Vec<String>)> {
    let streams = order_streams(clients, stack).await?;
    let live = DynamoOrderViews::new(clients.dynamodb(), stack.output("OrderViewTableName")?);
    let mut differences = Vec::new();
    for chunk in streams.chunks(WRITE_BATCH) {
        for (rebuilt, _) in read_and_fold(clients, stack, chunk).await? {
            match live.get(rebuilt.order_id).await {
                Ok(Some(view)) if view == rebuilt => {}
                Ok(Some(view)) => differences.push(format!(
                    "order {}: live v{} {:?}, rebuilt v{} {:?}",
                    rebuilt.order_id, view.version, view.status, rebuilt.version, rebuilt.status
                )),
                Ok(None) => differences.push(format!("order {}: no live view", rebuilt.order_id)),
                Err(e) => return Err(CliError::Failed(format!("reading the live view: {e}"))),
            }
        }
    }
    Ok((streams.len(), differences))
}

/// Every order stream id, sorted (the checkpoint order).
async fn order_streams(clients: &Clients, stack: &StackInfo) -> Result<Vec<String>> {
    let mut pages = clients
        .dynamodb()
        .scan()
        .table_name(stack.output("EventStoreTableName")?)
        .filter_expression("version = :one AND begins_with(streamId, :order)")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .expression_attribute_values(":order", AttributeValue::S("order-".into()))
        .projection_expression("streamId")
        .into_paginator()
        .items()
        .send();
    let mut streams = Vec::new();
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| CliError::aws("Scan", e))?;
        streams.extend(item.get("streamId").and_then(|v| v.as_s().ok()).cloned());
    }
    streams.sort();
    Ok(streams)
}

/// Each stream's view and its number of events, reading up to [`READERS`] streams at once.
async fn read_and_fold(clients: &Clients, stack: &StackInfo, streams: &[String]) -> Result<Vec<(OrderView, usize)>> {
    let table = stack.output("EventStoreTableName")?.to_string();
    let mut views = Vec::with_capacity(streams.len());
    for group in streams.chunks(READERS) {
        let mut reading = tokio::task::JoinSet::new();
        for stream in group {
            let (client, table, stream) = (clients.dynamodb(), table.clone(), stream.clone());
            reading.spawn(async move { (stream.clone(), read_stream(&client, &table, &stream).await) });
        }
        while let Some(joined) = reading.join_next().await {
            let (stream, events) = joined.map_err(|e| CliError::Failed(e.to_string()))?;
            let events = events?;
            let view = OrderView::replay(&events)
                .map_err(|e| CliError::Failed(format!("{stream} cannot be replayed: {e}")))?
                .ok_or_else(|| CliError::Failed(format!("{stream} has no events")))?;
            views.push((view, events.len()));
        }
    }
    Ok(views)
}

async fn read_stream(client: &aws_sdk_dynamodb::Client, table: &str, stream: &str) -> Result<Vec<EventEnvelope>> {
    stream_items(client, table, stream)
        .await?
        .into_iter()
        .map(|item| {
            toolkit::store::time_index::envelope_from_item(item).map_err(|e| CliError::Failed(format!("{stream}: {e}")))
        })
        .collect()
}

/// Every stored item of one stream, in version order (a consistent, paginated query).
pub(crate) async fn stream_items(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    stream: &str,
) -> Result<Vec<HashMap<String, AttributeValue>>> {
    client
        .query()
        .table_name(table)
        .key_condition_expression("streamId = :s")
        .expression_attribute_values(":s", AttributeValue::S(stream.to_string()))
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<std::result::Result<_, _>>()
        .await
        .map_err(|e| CliError::aws("Query", e))
}

/// One BatchWriteItem of up to 25 views, retrying what DynamoDB leaves unprocessed.
async fn write_batch(clients: &Clients, stack: &StackInfo, views: Vec<OrderView>) -> Result<()> {
    let table = stack.output("OrderViewTableName")?;
    let mut requests: Vec<WriteRequest> = views
        .iter()
        .map(|view| {
            let item = services::views::view_item(view).map_err(|e| CliError::Failed(e.to_string()))?;
            let put =
                PutRequest::builder().set_item(Some(item)).build().map_err(|e| CliError::Failed(e.to_string()))?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<Result<_>>()?;
    for attempt in 0..BATCH_ATTEMPTS {
        if requests.is_empty() {
            return Ok(());
        }
        let output = clients
            .dynamodb()
            .batch_write_item()
            .request_items(table, requests)
            .send()
            .await
            .map_err(|e| CliError::aws("BatchWriteItem", e))?;
        requests = output.unprocessed_items.and_then(|mut left| left.remove(table)).unwrap_or_default();
        if !requests.is_empty() {
            tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
        }
    }
    Err(CliError::Failed(format!("{} views stayed unprocessed after {BATCH_ATTEMPTS} attempts", requests.len())))
}
