//! The operating figures of a stack, computed locally (what the template's CloudWatch
//! dashboard shows on AWS): events per minute per type from the store, queue and DLQ
//! depths, and the latest dead letters with their reasons. Used by `status` and by the
//! live `dashboard` page.

use crate::dlq::{self, Letter};
use crate::stack::StackInfo;
use crate::target::Clients;
use crate::{CliError, Result};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;
use std::collections::BTreeMap;
use toolkit::envelope::EventEnvelope;

/// Items read from the store at most (it is keyed by stream, not time: a scan).
pub const MAX_SCANNED_EVENTS: usize = 5_000;
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
    pub generated_at: chrono::DateTime<chrono::Utc>,
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
    let now = chrono::Utc::now();
    let events = scan_events(clients, stack.output("EventStoreTableName")?).await?;
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
    events: &[EventEnvelope],
    now: chrono::DateTime<chrono::Utc>,
    window: u32,
) -> (Vec<String>, BTreeMap<String, Vec<usize>>) {
    let window = window.max(1) as usize;
    let this_minute = now.timestamp() / 60;
    let minutes = (0..window)
        .rev()
        .filter_map(|ago| chrono::DateTime::from_timestamp((this_minute - ago as i64) * 60, 0))
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

/// The newest events of the store (up to [`MAX_SCANNED_EVENTS`] read), newest first.
pub async fn scan_events(clients: &Clients, table: &str) -> Result<Vec<EventEnvelope>> {
    let mut pages = clients.dynamodb().scan().table_name(table).into_paginator().items().send();
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
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_in_their_minute_and_older_ones_are_left_out() {
        let sample: EventEnvelope = serde_json::from_str(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../events/domain/order-placed.json"))
                .unwrap(),
        )
        .unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:02:30Z").unwrap().to_utc();
        let at = |text: &str| EventEnvelope {
            occurred_at: chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc(),
            ..sample.clone()
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
