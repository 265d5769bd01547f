//! The operating figures of a stack, computed locally (what the template's CloudWatch
//! dashboard shows on AWS): events per minute per type from the store, queue and DLQ
//! depths, and the latest dead letters with their reasons. Used by `status` and by the
//! live `dashboard` page.

use crate::ops::dlq::{self, Letter};
use crate::stacks::stack::StackInfo;
use crate::stacks::target::Clients;
use crate::{CliError, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde::Serialize;
use std::collections::BTreeMap;
use toolkit::store::time_index;

/// Dead letters listed at most.
const LATEST_FAILURES: usize = 20;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueFigure {
    pub name: String,
    pub visible: u64,
    pub in_flight: u64,
    pub dead_letter: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub generated_at: DateTime<Utc>,
    /// The minutes covered, oldest first (`HH:MM`, UTC).
    pub minutes: Vec<String>,
    /// Events per event type, one count per minute of `minutes`.
    pub events_per_minute: BTreeMap<String, Vec<usize>>,
    pub events_in_window: usize,
    pub queues: Vec<QueueFigure>,
    pub dead_letters: usize,
    pub latest_failures: Vec<Letter>,
}

/// Figures for the last `window_minutes` minutes.
pub async fn collect(clients: &Clients, stack: &StackInfo, window_minutes: u32) -> Result<Figures> {
    let now = Utc::now();
    let since = now - Duration::minutes(i64::from(window_minutes));
    let events = events_since(clients, stack.output("EventStoreTableName")?, since).await?;
    let (minutes, events_per_minute) = per_minute(&events, now, window_minutes);
    let events_in_window = events_per_minute.values().flatten().sum();
    let mut queues = Vec::new();
    for (name, url) in stack.queues() {
        let (visible, in_flight) = queue_depth(clients, url).await?;
        queues.push(QueueFigure {
            name: name.to_string(),
            visible,
            in_flight,
            dead_letter: name.contains("DeadLetter"),
        });
    }
    let mut latest_failures = Vec::new();
    for queue in dlq::queues(stack).into_iter().filter(|q| queues.iter().any(|f| f.name == q.name && f.visible > 0)) {
        latest_failures.extend(dlq::show_at_most(clients, &queue, LATEST_FAILURES).await?);
    }
    latest_failures.sort_by(|a, b| b.sent_at.cmp(&a.sent_at));
    let dead_letters = queues.iter().filter(|q| q.dead_letter).map(|q| q.visible).sum::<u64>() as usize;
    latest_failures.truncate(LATEST_FAILURES);
    Ok(Figures {
        generated_at: now,
        minutes,
        events_per_minute,
        events_in_window,
        queues,
        dead_letters,
        latest_failures,
    })
}

/// Counts per event type for each of the last `window` minutes (the current one last).
pub fn per_minute(
    events: &[EventHead],
    now: DateTime<Utc>,
    window: u32,
) -> (Vec<String>, BTreeMap<String, Vec<usize>>) {
    let window = window.max(1) as usize;
    let this_minute = now.timestamp() / 60;
    let minutes = (0..window)
        .rev()
        .filter_map(|ago| DateTime::from_timestamp((this_minute - ago as i64) * 60, 0))
        .map(|t| t.format("%H:%M").to_string())
        .collect();
    let mut counts: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for event in events {
        let ago = this_minute - event.occurred_at.timestamp() / 60;
        if (0..window as i64).contains(&ago) {
            counts.entry(event.event_type.clone()).or_insert_with(|| vec![0; window])[window - 1 - ago as usize] += 1;
        }
    }
    (minutes, counts)
}

pub async fn queue_depth(clients: &Clients, url: &str) -> Result<(u64, u64)> {
    let output = clients
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

/// What the store's time index holds of an event: enough to count it and to name it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventHead {
    pub stream_id: String,
    pub version: u64,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub correlation_id: String,
}

/// Every event that occurred from `since` on, newest first, read through the store's time
/// index: one query (paged) per shard of each hour the window touches, so the cost follows
/// the window's events, not the store's size. At most [`MAX_WINDOW_EVENTS`] are read.
pub async fn events_since(clients: &Clients, table: &str, since: DateTime<Utc>) -> Result<Vec<EventHead>> {
    let mut events = Vec::new();
    for hour in time_index::buckets_between(since, Utc::now()) {
        events.extend(read_hour(clients, table, hour, Some(since), MAX_WINDOW_EVENTS - events.len()).await?);
        if events.len() >= MAX_WINDOW_EVENTS {
            break;
        }
    }
    events.sort_by_key(|event| std::cmp::Reverse(event.occurred_at));
    Ok(events)
}

/// The newest `count` events of the last `within`, newest first: hour by hour back from
/// now, each hour's shards read newest first and at most `count` from each, stopping at
/// the first hour that completes the count.
pub async fn latest_events(clients: &Clients, table: &str, count: usize, within: Duration) -> Result<Vec<EventHead>> {
    let now = Utc::now();
    let mut events = Vec::new();
    for hour in time_index::buckets_between(now - within, now) {
        events.extend(read_hour(clients, table, hour, None, count).await?);
        if events.len() >= count {
            break;
        }
    }
    events.sort_by_key(|event| std::cmp::Reverse(event.occurred_at));
    events.truncate(count);
    Ok(events)
}

/// Events read at most by one window: a bound on memory and time for a very busy stack
/// (on AWS at that rate, the CloudWatch dashboard is the view).
pub const MAX_WINDOW_EVENTS: usize = 200_000;

/// One hour's shards, queried at once, newest first: every event from `since` on, or at
/// most `limit` from each shard.
async fn read_hour(
    clients: &Clients,
    table: &str,
    shards: Vec<String>,
    since: Option<DateTime<Utc>>,
    limit: usize,
) -> Result<Vec<EventHead>> {
    let mut reads = tokio::task::JoinSet::new();
    for bucket in shards {
        let (client, table) = (clients.dynamodb(), table.to_string());
        reads.spawn(async move { read_shard(client, table, bucket, since, limit).await });
    }
    let mut events = Vec::new();
    while let Some(read) = reads.join_next().await {
        events.extend(read.map_err(|e| CliError::Failed(e.to_string()))??);
    }
    Ok(events)
}

async fn read_shard(
    client: aws_sdk_dynamodb::Client,
    table: String,
    bucket: String,
    since: Option<DateTime<Utc>>,
    limit: usize,
) -> Result<Vec<EventHead>> {
    let mut query = client
        .query()
        .table_name(table)
        .index_name(time_index::TIME_INDEX)
        .scan_index_forward(false)
        .expression_attribute_names("#b", time_index::TIME_BUCKET)
        .expression_attribute_values(":b", AttributeValue::S(bucket));
    query = match since {
        Some(since) => query
            .key_condition_expression("#b = :b AND occurredAt >= :since")
            .expression_attribute_values(":since", AttributeValue::S(time_index::occurred_since(since))),
        None => query.key_condition_expression("#b = :b"),
    };
    let mut pages = query.into_paginator().items().send();
    let mut events = Vec::new();
    while events.len() < limit
        && let Some(item) = pages.next().await
    {
        let item =
            item.map_err(|e| CliError::aws("Query (index byTime; redeploy a stack made before it existed)", e))?;
        events.push(serde_dynamo::from_item(item).map_err(|e| CliError::Failed(format!("the time index: {e}")))?);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_in_their_minute_and_older_ones_are_left_out() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T10:02:30Z").unwrap().to_utc();
        let at = |text: &str| EventHead {
            stream_id: "order-1".into(),
            version: 1,
            event_type: "OrderPlaced".into(),
            occurred_at: DateTime::parse_from_rfc3339(text).unwrap().to_utc(),
            correlation_id: "c".into(),
        };
        let events = [
            at("2026-11-22T10:02:01Z"),
            at("2026-11-22T10:00:59Z"),
            at("2026-11-22T10:00:00Z"),
            at("2026-11-22T09:59:59Z"),
        ];
        let (minutes, counts) = per_minute(&events, now, 3);
        assert_eq!(minutes, ["10:00", "10:01", "10:02"]);
        assert_eq!(counts["OrderPlaced"], vec![2, 0, 1]);
    }
}
