//! `orderflow status`: the stack, its queues and dead-letter queues, the latest events.

use super::Context;
use crate::stack::StackInfo;
use crate::{CliError, Result};
use aws_sdk_sqs::types::QueueAttributeName;
use shared::envelope::EventEnvelope;

/// Items scanned for "latest events": the store is keyed by stream, not by time.
const MAX_SCANNED_EVENTS: usize = 5_000;
const LATEST_EVENTS: usize = 10;

pub async fn run(context: &Context) -> Result<()> {
    context.require_reachable().await?;
    let stack = StackInfo::require(&context.clients, &context.global.stack).await?;
    super::deploy::print_endpoints(context, &stack)?;
    println!("\nqueues (visible / in flight)");
    for (name, url) in stack.queues() {
        let (visible, in_flight) = queue_depth(context, url).await?;
        let warn = if name.contains("DeadLetter") && visible > 0 { "  <- failed messages, see the DLQ" } else { "" };
        println!("  {name:<36} {visible:>6} / {in_flight:<6}{warn}");
    }
    let events = latest_events(context, stack.output("EventStoreTableName")?).await?;
    println!("\nlatest events");
    if events.is_empty() {
        println!("  (none yet)");
    }
    for event in events {
        println!(
            "  {}  {:<16} {} v{}  correlation {}",
            event.occurred_at.format("%H:%M:%S%.3f"),
            event.event_type,
            event.stream_id,
            event.version,
            event.correlation_id
        );
    }
    Ok(())
}

pub async fn queue_depth(context: &Context, url: &str) -> Result<(u64, u64)> {
    let output = context
        .clients
        .sqs()
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| CliError::aws("GetQueueAttributes", e))?;
    let read = |name: QueueAttributeName| {
        output.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    Ok((
        read(QueueAttributeName::ApproximateNumberOfMessages),
        read(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

/// The newest events of the store, newest first.
pub async fn latest_events(context: &Context, table: &str) -> Result<Vec<EventEnvelope>> {
    let mut pages = context.clients.dynamodb().scan().table_name(table).into_paginator().items().send();
    let mut events = Vec::new();
    while let Some(item) = pages.next().await {
        let item = item.map_err(|e| CliError::aws("Scan", e))?;
        if let Ok(event) = serde_dynamo::from_item::<_, EventEnvelope>(item) {
            events.push(event);
        }
        if events.len() >= MAX_SCANNED_EVENTS {
            break;
        }
    }
    events.sort_by_key(|event| std::cmp::Reverse(event.occurred_at));
    events.truncate(LATEST_EVENTS);
    Ok(events)
}
